#!/usr/bin/env bash
# Nonce single use end to end (issue 10: until now only a store unit test noticed when the store let a
# nonce be consumed twice). A guest written in Python (stdlib only) talks KBS 0.4.0 to the real
# ccgate-kbs daemon with `ccgate emulate snp` evidence bound to its nonce:
#   - a denied attempt consumes the nonce: the same Attestation again, or genuine evidence for the same
#     nonce, gets 401 kbs.nonce_reused (the session is still "challenged": only the store's single-use
#     rule refuses it);
#   - an accepted Attestation replayed gets 401 kbs.nonce_reused;
#   - another session's nonce gets 401 kbs.nonce_mismatch.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v python3 >/dev/null || skip_or_fail "python3 is missing (the guest is written in Python)"
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

meas=$(printf 'cd%.0s' $(seq 48))
"$cli" emulate snp --out-dir "$tmp/emu" --save-state --measurement "$meas" >/dev/null || { echo "FAIL emulate"; exit 1; }
tl_emulator_tcb_baseline "$tmp" || { echo "FAIL tcb-baseline"; exit 1; }
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-n","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
python3 - "$tmp" "$meas" <<'PY'
import json, sys
tmp, meas = sys.argv[1], sys.argv[2]
policy = {"policy_id": "model-n", "version": 1, "allowed_tees": ["snp"],
          "trusted_roots": [{"product": "milan", "pem": open(tmp + "/emu/ark.pem").read()}],
          "snp_policy": {"policy_id": "model-n-snp", "version": 1, "allowed_measurements": [meas]}}
json.dump(policy, open(tmp + "/policy.json", "w"))
PY
"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
"$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/policy.json" || { echo "FAIL set-policy"; exit 1; }
# The guest's P-256 key (its public point is the tee-pubkey; nothing is decrypted here).
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tee.key" 2>/dev/null
openssl ec -in "$tmp/tee.key" -pubout -outform DER -out "$tmp/tee.pub.der" 2>/dev/null
tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL the daemon did not start"; cat "$tmp/daemon.log"; exit 1; }

CCG_CLI=$cli TMP=$tmp PORT=$(cat "$tmp/port") GUEST_LIB="$(dirname "$0")/../support" MEAS=$meas python3 - <<'PY'
import base64, hashlib, json, os, subprocess, sys, urllib.error, urllib.request
cli, tmp, port, meas = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["PORT"], os.environ["MEAS"]
base = "http://127.0.0.1:%s" % port
failed = []
point = open(os.path.join(tmp, "tee.pub.der"), "rb").read()[-65:]  # 04 || X || Y
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
tee_pubkey = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": b64u(point[1:33]), "y": b64u(point[33:])}

sys.path.insert(0, os.environ["GUEST_LIB"])
from kbs_guest_session import http  # plain HTTP to 127.0.0.1:$PORT

def auth():
    st, body, setcookie = http("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
    assert st == 200, (st, body)
    return setcookie.split(";")[0], json.loads(body)["nonce"]

def attestation(nonce, debug=False):
    """Evidence from the saved emulator (the policy's root) bound to nonce and tee_pubkey."""
    runtime = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": tee_pubkey}
    rd = hashlib.sha384(json.dumps(runtime, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    out = os.path.join(tmp, "ev")
    args = [cli, "emulate", "snp", "--out-dir", out, "--load-state", os.path.join(tmp, "emu"), "--report-data", rd,
            "--measurement", meas] + (["--debug"] if debug else [])
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    pems = open(os.path.join(out, "certs.pem")).read().split("-----END CERTIFICATE-----")
    chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode()).decode()}
             for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
    report = base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode()
    return {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
            "tee-evidence": {"primary_evidence": {"attestation_report": report, "cert_chain": chain},
                             "additional_evidence": ""}}

def expect(name, st, body, want_status, want_reason=None):
    reasons = []
    try:
        reasons = json.loads(body).get("reasons", [])
    except ValueError:
        pass
    ok = st == want_status and (want_reason is None or want_reason in reasons)
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else ": %d %s" % (st, body[:300])))
    if not ok:
        failed.append(name)

# A denied attempt consumes its nonce.
cookie, nonce = auth()
debug = attestation(nonce, debug=True)
st, body, _ = http("POST", "/kbs/v0/attest", debug, cookie=cookie)
expect("a debug guest is denied", st, body, 401, "snp.debug_enabled")
st, body, _ = http("POST", "/kbs/v0/attest", debug, cookie=cookie)
expect("the denied Attestation again: nonce reused", st, body, 401, "kbs.nonce_reused")
st, body, _ = http("POST", "/kbs/v0/attest", attestation(nonce), cookie=cookie)
expect("genuine evidence for the consumed nonce: nonce reused", st, body, 401, "kbs.nonce_reused")
# An accepted one, replayed.
cookie, nonce = auth()
good = attestation(nonce)
st, body, _ = http("POST", "/kbs/v0/attest", good, cookie=cookie)
expect("an approved guest gets a token", st, body, 200)
st, body, _ = http("POST", "/kbs/v0/attest", good, cookie=cookie)
expect("the accepted Attestation replayed: nonce reused", st, body, 401, "kbs.nonce_reused")
# Another session's nonce.
cookie_a, nonce_a = auth()
cookie_b, nonce_b = auth()
st, body, _ = http("POST", "/kbs/v0/attest", attestation(nonce_a), cookie=cookie_b)
expect("session A's nonce in session B: mismatch", st, body, 401, "kbs.nonce_mismatch")
st, body, _ = http("POST", "/kbs/v0/attest", attestation(nonce_b), cookie=cookie_b)
expect("session B, after the mismatch, with its own nonce", st, body, 200)
sys.exit(1 if failed else 0)
PY
