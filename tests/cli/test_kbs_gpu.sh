#!/usr/bin/env bash
# GPU-gated release against the real ccgate-kbs daemon, driven from outside (plain HTTP on loopback,
# file keystore). The guest is Python: it derives the GPU nonce itself from the session (docs/gpu-evidence.md,
# "Nonce derivation": D = SHA-384 of the RFC 8785 {"nonce","tee-pubkey"}, ccgate-v1 nonce of GPU 0 =
# SHA-256("ccgate/gpu-nonce/v1" 0x00 len(D) D u32be(0))), has `ccgate emulate gpu` sign over it, puts the
# report in additional_evidence as Trustee's KBS 0.4.0 does, binds that string into REPORT_DATA, has
# `ccgate emulate snp` sign, attests, and decrypts the released key with jwcrypto. A GPU whose driver
# measurement differs is refused with gpu.measurement_mismatch and the operator signal; the audit records
# are format 4 with the GPU's claims.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
tl_kbs_guest_env # cli, kbs, py, tmp

# The authority's TCB baseline for the SNP emulator's Milan TCB (the release policy says nothing about "tcb").
tl_emulator_tcb_baseline "$tmp" || { echo "FAIL tcb-baseline"; exit 1; }
# A software GPU (saved, so every report is the same device) and a saved SNP emulator (one test root).
"$cli" emulate gpu --out-dir "$tmp/gpu" --save-state >/dev/null || { echo "FAIL emulate gpu"; exit 1; }
"$cli" emulate snp --out-dir "$tmp/snp" --save-state >/dev/null || { echo "FAIL emulate snp"; exit 1; }
m=$(printf 'ab%.0s' $(seq 48))
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-g","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"},
 "gpu":{"rim_dir":"$tmp/gpu/rims"}}
EOF
"$py" - "$tmp" "$m" <<'PYEOF' || { echo "FAIL policy"; exit 1; }
import json, sys
tmp, m = sys.argv[1], sys.argv[2]
policy = {"policy_id": "model-g", "version": 2, "allowed_tees": ["snp"],
          "trusted_roots": [{"product": "milan", "pem": open(tmp + "/snp/ark.pem").read()}],
          "snp_policy": {"policy_id": "model-g-snp", "version": 1, "allowed_measurements": [m]},
          "gpu": {"count": 1, "require_ocsp": False, "allowed_architectures": ["hopper"],
                  "trusted_roots": {"gpu": open(tmp + "/gpu/root.pem").read(),
                                    "rim": open(tmp + "/gpu/rim-root.pem").read()}}}
json.dump(policy, open(tmp + "/policy.json", "w"))
PYEOF
head -c 32 /dev/urandom >"$tmp/model.key"
"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
tl_kbs_add_key "$kbs" "$tmp/kbs.json" "$tmp/policy.json" model-g gpu/model/k "$tmp/model.key" || exit 1
tl_kbs_serve "$kbs" "$tmp" || exit 1

cat >"$tmp/guest.py" <<'PYEOF'
import base64, json, os, subprocess, sys
sys.path.insert(0, os.environ["GUEST_LIB"])
from kbs_guest_session import http, check, check_release, failed, open_session, report_data, gpu_evidence

cli, tmp = os.environ["CCG_CLI"], os.environ["TMP"]

def attest(tamper, run):
    key, tee_pubkey, cookie, nonce = open_session("snp")
    # The GPU's report over the GPU nonce the guest derives itself, bound into REPORT_DATA.
    additional = gpu_evidence(cli, os.path.join(tmp, "gpu"), os.path.join(tmp, "g%d" % run), nonce, tee_pubkey,
                              "GPU-%d" % run, tamper)
    snp = os.path.join(tmp, "s%d" % run)
    subprocess.run([cli, "emulate", "snp", "--load-state", os.path.join(tmp, "snp"), "--out-dir", snp,
                    "--report-data", report_data(nonce, tee_pubkey, additional), "--measurement", "ab" * 48],
                   check=True, stdout=subprocess.DEVNULL)
    pems = open(os.path.join(snp, "certs.pem")).read().split("-----END CERTIFICATE-----")
    chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode()).decode()}
             for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
    evidence = {"attestation_report": base64.b64encode(open(os.path.join(snp, "report.bin"), "rb").read()).decode(),
                "cert_chain": chain}
    attestation = {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
                   "tee-evidence": {"primary_evidence": evidence, "additional_evidence": additional}}
    st, body, _ = http("POST", "/kbs/v0/attest", attestation, cookie=cookie)
    return key, cookie, st, body

want = open(os.path.join(tmp, "model.key"), "rb").read()
key, cookie, st, body = attest(None, 1)
check("approved CPU and GPU get a token", st == 200 and "token" in json.loads(body), body)
if st == 200:
    claims = json.loads(base64.urlsafe_b64decode(json.loads(body)["token"].split(".")[1] + "=="))
    gpus = claims.get("tcb-status", {}).get("gpus", [])
    check("the token claims the GPU", len(gpus) == 1 and gpus[0].get("measurements") == "passed"
          and gpus[0].get("nonce_binding") == "ccgate-v1" and gpus[0].get("arch") == "HOPPER", json.dumps(gpus))
check_release("gpu/model/k", key, cookie, want)

key, cookie, st, body = attest("measurement=25", 2)
doc = json.loads(body)
check("a GPU with another driver measurement is refused", st == 401
      and "gpu.measurement_mismatch" in doc.get("reasons", []) and "kbs.gpu_required" not in doc.get("reasons", []),
      body)
check("the denial names the policy, its version and the request", doc.get("policy_id") == "model-g"
      and doc.get("policy_version") == 2 and len(doc.get("request_id", "")) == 32, body)
check("the denial carries no token or evidence", "token" not in doc and "device_evidence_list" not in body, body)
sys.exit(1 if failed else 0)
PYEOF
CCG_CLI=$cli TMP=$tmp PORT=$tl_port "$py" "$tmp/guest.py"
rc=$?
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" 2>&1
if "$py" -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["action"] in ("kbs.attest", "resource.release")]
ok = len(recs) == 3 and all(r["v"] == 6 and len(r["gpus"]) == 1 for r in recs)
ok = ok and [r["gpus"][0]["measurements"] for r in recs] == ["passed", "passed", "failed"]
ok = ok and recs[2]["gpus"][0]["mismatched_indexes"] == [25] and recs[2]["decision"] == "deny"
sys.exit(0 if ok else 1)' "$tmp/audit.json"; then
  echo "ok   the audit records (format 4) carry the GPU claims"
else
  echo "FAIL the audit records carry the GPU claims"; head -c 3000 "$tmp/audit.json"; rc=1
fi
# The text listing names the mismatching index next to the GPU's result.
if "$cli" audit list --db "$tmp/kbs.db" | grep 'gpu.measurement_mismatch' | grep -q 'gpus=HOPPER:[0-9]*:failed\[25\]'; then
  echo "ok   ccgate audit list names the mismatching index: failed[25]"
else
  echo "FAIL ccgate audit list names the mismatching index"; "$cli" audit list --db "$tmp/kbs.db" | tail -3; rc=1
fi
if "$cli" audit verify --db "$tmp/kbs.db" >/dev/null; then
  echo "ok   ccgate audit verify: the chain with format-4 records is intact"
else
  echo "FAIL ccgate audit verify"; rc=1
fi
exit $rc
