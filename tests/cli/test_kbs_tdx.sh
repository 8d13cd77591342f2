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
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
py=${CCG_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

"$py" -c 'import jwcrypto' 2>/dev/null || skip_or_fail "python3 with jwcrypto ($py) is missing (apt-get install python3-jwcrypto)"
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"

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
"$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/policy.json" || { echo "FAIL set-policy"; exit 1; }
"$kbs" import-key --config "$tmp/kbs.json" --key-id tdx/model/k --policy-id model-t --file "$tmp/model.key" \
  >/dev/null || { echo "FAIL import-key"; exit 1; }
tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL daemon did not start"; cat "$tmp/daemon.log"; exit 1; }

cat >"$tmp/guest.py" <<'PYEOF'
import base64, hashlib, json, os, subprocess, sys, urllib.request, urllib.error
from jwcrypto import jwk, jwe

cli, tmp, port, m = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["PORT"], os.environ["MRTD"]
base = "http://127.0.0.1:%s" % port
failed = []

def http(method, path, body=None, cookie=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode(), r.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None

def canonical(v):  # RFC 8785 for the ASCII strings and objects the runtime data holds
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
    if not cond:
        failed.append(name)

def attest(run, extra=(), bind=True):
    key = jwk.JWK.generate(kty="EC", crv="P-256")
    pub = json.loads(key.export_public())
    tee_pubkey = {"kty": "EC", "crv": "P-256", "x": pub["x"], "y": pub["y"]}
    st, body, setcookie = http("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "tdx", "extra-params": {}})
    assert st == 200, (st, body)
    cookie = setcookie.split(";")[0]
    nonce = json.loads(body)["nonce"]
    runtime = {"additional-evidence": "", "nonce": nonce if bind else "another", "tee-pubkey": tee_pubkey}
    report_data = hashlib.sha384(canonical(runtime).encode()).hexdigest()
    out = os.path.join(tmp, "q%d" % run)
    subprocess.run([cli, "emulate", "tdx", "--load-state", os.path.join(tmp, "td"), "--out-dir", out,
                    "--report-data", report_data, "--mrtd", m] + list(extra), check=True, stdout=subprocess.DEVNULL)
    evidence = {"cc_eventlog": None,
                "quote": base64.b64encode(open(os.path.join(out, "quote.bin"), "rb").read()).decode()}
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
st, body, _ = http("GET", "/kbs/v0/resource/tdx/model/k", cookie=cookie)
check("the key is released", st == 200, body)
if st == 200:
    obj = jwe.JWE()
    obj.deserialize(body, key=key)
    check("jwcrypto decrypts the key", obj.payload == want)

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
CCG_CLI=$cli TMP=$tmp PORT=$(cat "$tmp/port") MRTD=$m "$py" "$tmp/guest.py"
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
