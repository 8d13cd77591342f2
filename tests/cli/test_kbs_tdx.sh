#!/usr/bin/env bash
# TDX-gated release against the real ccgate-kbs daemon, driven from outside (plain HTTP on loopback, file
# keystore). The broker trusts the software TD's test root because its configuration names it
# (tdx.test_roots) and reads the TD's collateral bundle (tdx.collateral_file). The guest is Python: it
# opens a "tdx" session, computes the KBS REPORT_DATA itself (SHA-384 of the RFC 8785 runtime data,
# docs/kbs.md), has `ccgate emulate tdx` quote over it, sends Trustee's TdxEvidence
# ({"cc_eventlog": null, "quote": base64}), and decrypts the released key with jwcrypto. A debug TD is
# refused with tdx.debug and the operator signal; a quote bound to another challenge with
# tdx.report_data_mismatch; the audit chain verifies.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
tl_kbs_guest_env # cli, kbs, py, tmp

# The software TD, saved so every quote is under the same test root and PCK, with its collateral.
"$cli" emulate tdx --out-dir "$tmp/td" --save-state >/dev/null || { echo "FAIL emulate tdx"; exit 1; }
m=$(printf '5a%.0s' $(seq 48))
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-t","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tdx":{"collateral_file":"$tmp/td/collateral.json","test_roots":["$tmp/td/root.pem"]}}
EOF
cat >"$tmp/policy.json" <<EOF
{"policy_id":"model-t","version":3,"allowed_tees":["tdx"],"tdx":{"allowed_mrtd":["$m"]}}
EOF
cat >"$tmp/unpinned.json" <<EOF
{"policy_id":"model-u","version":1,"allowed_tees":["tdx"],"tdx":{"debug_allowed":false}}
EOF
head -c 32 /dev/urandom >"$tmp/model.key"
"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
if "$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/unpinned.json" 2>"$tmp/unpinned.err"; then
  echo "FAIL a TDX policy without allowed_mrtd or reference_values was stored"; exit 1
fi
grep -q "kbs.policy_unpinned" "$tmp/unpinned.err" || { echo "FAIL unpinned: $(cat "$tmp/unpinned.err")"; exit 1; }
echo "ok   an unpinned TDX release policy is refused (kbs.policy_unpinned)"
tl_kbs_add_key "$kbs" "$tmp/kbs.json" "$tmp/policy.json" model-t tdx/model/k "$tmp/model.key" || exit 1
tl_kbs_serve "$kbs" "$tmp" || exit 1

cat >"$tmp/guest.py" <<'PYEOF'
import base64, json, os, sys
sys.path.insert(0, os.environ["GUEST_LIB"])
from kbs_guest_session import http, check, check_release, failed, open_session, report_data, tdx_evidence

cli, tmp, m = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["MRTD"]

def attest(run, extra=(), bind=True):
    key, tee_pubkey, cookie, nonce = open_session("tdx")
    rd = report_data(nonce if bind else "another", tee_pubkey, "")
    evidence = tdx_evidence(cli, os.path.join(tmp, "td"), os.path.join(tmp, "q%d" % run), rd, m, extra)
    attestation = {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
                   "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}}
    st, body, _ = http("POST", "/kbs/v0/attest", attestation, cookie=cookie)
    return key, cookie, st, body

want = open(os.path.join(tmp, "model.key"), "rb").read()
key, cookie, st, body = attest(1)
check("an approved TD gets a token", st == 200 and "token" in json.loads(body), body)
if st == 200:
    claims = json.loads(base64.urlsafe_b64decode(json.loads(body)["token"].split(".")[1] + "=="))
    tcb = claims.get("tcb-status", {})
    check("the token says tdx, UpToDate, and the TD's MRTD", claims.get("tee") == "tdx"
          and tcb.get("tcb_status") == "UpToDate" and tcb.get("td", {}).get("mrtd") == m, json.dumps(claims)[:800])
check_release("tdx/model/k", key, cookie, want)

for run, extra, bind, code in ((2, ["--debug"], True, "tdx.debug"), (3, [], False, "tdx.report_data_mismatch")):
    key, cookie, st, body = attest(run, extra, bind)
    doc = json.loads(body)
    check("refused with " + code, st == 401 and code in doc.get("reasons", []), body)
    check("the denial names the policy, its version and the request", doc.get("policy_id") == "model-t"
          and doc.get("policy_version") == 3 and len(doc.get("request_id", "")) == 32, body)
    check("the denial carries no token", "token" not in doc, body)
    st, body, _ = http("GET", "/kbs/v0/resource/tdx/model/k", cookie=cookie)
    check("the refused session gets no key", st == 401, body)
sys.exit(1 if failed else 0)
PYEOF
CCG_CLI=$cli TMP=$tmp PORT=$tl_port MRTD=$m "$py" "$tmp/guest.py"
rc=$?
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" 2>&1
if "$py" -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["action"] in ("kbs.attest", "resource.release")]
ok = [(r["action"], r["decision"]) for r in recs] == [("kbs.attest", "allow"), ("resource.release", "allow"),
     ("kbs.attest", "deny"), ("resource.release", "deny"), ("kbs.attest", "deny")]
ok = ok and all(r["tcb"]["status"] == "UpToDate" and r["policy_version"] == 3 for r in recs[:3] + recs[4:])
ok = ok and "tdx.debug" in recs[2]["reasons"] and "kbs.not_attested" in recs[3]["reasons"]
ok = ok and "tdx.report_data_mismatch" in recs[4]["reasons"]
sys.exit(0 if ok else 1)' "$tmp/audit.json"; then
  echo "ok   the audit records carry the TDX decisions, their TCB status and codes"
else
  echo "FAIL the audit records"; "$py" -c 'import json,sys; [print(r["action"], r["decision"], r.get("tcb"), r.get("policy_version"), r["reasons"]) for r in json.load(open(sys.argv[1]))]' "$tmp/audit.json"; rc=1
fi
if "$cli" audit verify --db "$tmp/kbs.db" >/dev/null; then
  echo "ok   ccgate audit verify: the chain is intact"
else
  echo "FAIL ccgate audit verify"; rc=1
fi
exit $rc
