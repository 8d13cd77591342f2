#!/usr/bin/env bash
# Interop: an independent guest written in Python with Debian's python3-jwcrypto talks KBS 0.4.0 to
# the real ccgate-kbs daemon (plain HTTP on loopback, file keystore). The guest makes its own P-256
# JWK, computes REPORT_DATA = SHA-384 of the RFC 8785 JSON of {"additional-evidence","nonce",
# "tee-pubkey"} itself, gets a report signed by `ccgate emulate snp`, attests, and decrypts the
# flattened JWE with jwcrypto (cookie path and bearer-token path). A debug guest is refused with its
# code. The release policy names the emulator's root (a new policy version), else nothing verifies.
# Issue 15: a P-521 guest (its JWE decrypted by jwcrypto) and Confidential Containers init-data bound to
# HOST_DATA (the emulator's --host-data), required and pinned by the release policy's "init_data".
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
py=${CCG_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
daemon=
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

"$py" -c 'import jwcrypto' 2>/dev/null || skip_or_fail "python3 with jwcrypto ($py) is missing (apt-get install python3-jwcrypto)"
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"

# The authority's signed TCB baseline for the emulator's Milan TCB: the release policies say nothing about
# "tcb", so they accept UpToDate only and need it (docs/snp-tcb-baseline.md).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null
openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null
"$cli" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
  --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 --out "$tmp/b.json" \
  >/dev/null && "$cli" tcb-baseline sign --in "$tmp/b.json" --key "$tmp/authority.key" --issuer authority \
  --out "$tmp/milan-tcb.json" >/dev/null || { echo "FAIL tcb-baseline"; exit 1; }
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-i","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
m=$(printf 'ab%.0s' $(seq 48))
echo '{"policy_id":"model-i","version":1,"allowed_tees":["snp"]}' >"$tmp/unpinned.json"
cat >"$tmp/p1.json" <<EOF
{"policy_id":"model-i","version":1,"allowed_tees":["snp"],
 "snp_policy":{"policy_id":"model-i-snp","version":1,"allowed_measurements":["$m"]}}
EOF
head -c 32 /dev/urandom >"$tmp/model.key"
"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
# A release policy that pins no measurement is refused: exit 2 (bad input) with its reason code.
"$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/unpinned.json" 2>"$tmp/unpinned.err"
rc=$?
if [ "$rc" -ne 2 ] || ! grep -q '"reason":"kbs.policy_unpinned"' "$tmp/unpinned.err"; then
  echo "FAIL set-policy of an unpinned policy: exit $rc"; cat "$tmp/unpinned.err"; exit 1
fi
echo "ok   set-policy refuses an unpinned policy (kbs.policy_unpinned)"
"$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/p1.json" || { echo "FAIL set-policy"; exit 1; }
"$kbs" import-key --config "$tmp/kbs.json" --key-id interop/model/k --policy-id model-i --file "$tmp/model.key" \
  >/dev/null || { echo "FAIL import-key"; exit 1; }
tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
daemon=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL daemon did not start"; cat "$tmp/daemon.log"; exit 1; }

cat >"$tmp/guest.py" <<'PYEOF'
import base64, hashlib, json, os, subprocess, sys, urllib.request, urllib.error
from jwcrypto import jwk, jwe

cli, kbs, tmp, port = os.environ["CCG_CLI"], os.environ["CCG_KBS"], os.environ["TMP"], os.environ["PORT"]
base = "http://127.0.0.1:%s" % port
measurement = "ab" * 48
version = [int(os.environ.get("FIRST_VERSION", "1"))]  # the release policy's newest version so far
failed = []

def http(method, path, body=None, cookie=None, bearer=None):
    req = urllib.request.Request(base + path, method=method,
                                 data=None if body is None else json.dumps(body).encode())
    req.add_header("Content-Type", "application/json")
    if cookie:
        req.add_header("Cookie", cookie)
    if bearer:
        req.add_header("Authorization", "Bearer " + bearer)
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.read().decode(), r.headers.get("Set-Cookie")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), None

def canonical(v):  # RFC 8785 for ASCII strings and objects (what the runtime data holds)
    return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

def attest(debug, crv="P-256", init_data=None, host_data=None, policy_extra=None):
    key = jwk.JWK.generate(kty="EC", crv=crv)
    pub = json.loads(key.export_public())
    tee_pubkey = {"kty": "EC", "crv": crv, "alg": "ECDH-ES+A256KW", "x": pub["x"], "y": pub["y"]}
    st, body, setcookie = http("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
    assert st == 200, (st, body)
    cookie = setcookie.split(";")[0]
    assert cookie.startswith("kbs-session-id=")
    nonce = json.loads(body)["nonce"]
    runtime = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": tee_pubkey}
    report_data = hashlib.sha384(canonical(runtime).encode()).hexdigest()
    out = os.path.join(tmp, "emu%d" % version[0])
    args = [cli, "emulate", "snp", "--out-dir", out, "--report-data", report_data, "--measurement", measurement]
    args += ["--host-data", host_data] if host_data else []
    subprocess.run(args + (["--debug"] if debug else []), check=True, stdout=subprocess.DEVNULL)
    # This run's emulator root goes into a new version of the release policy.
    version[0] += 1
    policy = {"policy_id": "model-i", "version": version[0], "allowed_tees": ["snp"],
              "trusted_roots": [{"product": "milan", "pem": open(os.path.join(out, "ark.pem")).read()}],
              "snp_policy": {"policy_id": "model-i-snp", "version": 1, "allowed_measurements": [measurement]}}
    policy.update(policy_extra or {})
    pfile = os.path.join(tmp, "p%d.json" % version[0])
    json.dump(policy, open(pfile, "w"))
    subprocess.run([kbs, "set-policy", "--config", os.path.join(tmp, "kbs.json"), "--file", pfile], check=True)
    pems = open(os.path.join(out, "certs.pem")).read().split("-----END CERTIFICATE-----")
    chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode()).decode()}
             for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
    evidence = {"attestation_report": base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode(),
                "cert_chain": chain}
    attestation = {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
                   "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}}
    if init_data is not None:
        attestation["init-data"] = {"format": "toml", "body": init_data}
    st, body, _ = http("POST", "/kbs/v0/attest", attestation, cookie=cookie)
    return key, cookie, st, body

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + detail))
    if not cond:
        failed.append(name)

if os.environ.get("MODE") == "no-baseline":
    # The same approved guest, against a broker configured without any TCB baseline: fail closed.
    key, cookie, st, body = attest(False)
    doc = json.loads(body)
    check("no TCB baseline: the approved guest is refused", st == 401 and "token" not in doc
          and "snp.tcb_baseline_missing" in doc.get("reasons", []) and "collateral.missing" in doc.get("reasons", []),
          body)
    sys.exit(1 if failed else 0)

want = open(os.path.join(tmp, "model.key"), "rb").read()
key, cookie, st, body = attest(False)
check("approved guest gets a token", st == 200 and "token" in json.loads(body), body)
token = json.loads(body).get("token", "") if st == 200 else ""
if token:
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    tcb = claims.get("tcb-status", {})
    check("the token claims the TCB status", tcb.get("tcb_status") == "UpToDate" and tcb.get("advisories") == []
          and tcb.get("tcb_baseline", {}).get("product") == "Milan", json.dumps(tcb))
st, body, _ = http("GET", "/kbs/v0/resource/interop/model/k", cookie=cookie)
check("resource with the cookie", st == 200, body)
if st == 200:
    obj = jwe.JWE()
    obj.deserialize(body, key=key)
    check("jwcrypto decrypts the key", obj.payload == want)
    hdr = base64.urlsafe_b64decode(json.loads(body)["protected"] + "==").decode()
    check("protected header order", hdr.startswith('{"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{'), hdr)
st, body, _ = http("GET", "/kbs/v0/resource/interop/model/k", bearer=token)
check("resource with the bearer token", st == 200, body)
if st == 200:
    obj = jwe.JWE()
    obj.deserialize(body, key=key)
    check("jwcrypto decrypts the bearer answer", obj.payload == want)

# P-521 tee keys (as Trustee's KBS accepts): the binding, and the JWE jwcrypto decrypts.
key, cookie, st, body = attest(False, crv="P-521")
check("P-521 guest gets a token", st == 200 and "token" in json.loads(body), body)
st, body, _ = http("GET", "/kbs/v0/resource/interop/model/k", cookie=cookie)
check("P-521 resource", st == 200, body)
if st == 200:
    hdr = json.loads(base64.urlsafe_b64decode(json.loads(body)["protected"] + "==").decode())
    check("P-521 JWE header", hdr["alg"] == "ECDH-ES+A256KW" and hdr["enc"] == "A256GCM"
          and hdr["epk"]["crv"] == "P-521" and len(hdr["epk"]["x"]) == 88, json.dumps(hdr))
    obj = jwe.JWE()
    obj.deserialize(body, key=key)
    check("jwcrypto decrypts the P-521 JWE", obj.payload == want)

# Init-data (Confidential Containers): the TOML document the host hashed into HOST_DATA (sha384, its
# first 32 bytes, as Trustee's verifier truncates), presented at /attest.
toml = 'version = "0.1.0"\nalgorithm = "sha384"\n\n[data]\n"aa.toml" = \'\'\'\n[token_configs]\n\'\'\'\n'
host = hashlib.sha384(toml.encode()).digest()[:32].hex()
digest = hashlib.sha384(toml.encode()).hexdigest()
required = {"init_data": {"required": True, "digests": [digest]}}
key, cookie, st, body = attest(False, crv="P-521", init_data=toml, host_data=host, policy_extra=required)
check("init-data bound to HOST_DATA: token", st == 200 and "token" in json.loads(body), body)
if st == 200:
    claims = json.loads(base64.urlsafe_b64decode(json.loads(body)["token"].split(".")[1] + "=="))
    st, body, _ = http("GET", "/kbs/v0/resource/interop/model/k", cookie=cookie)
    check("init-data bound: the key is released", st == 200, body)
    if st == 200:
        obj = jwe.JWE()
        obj.deserialize(body, key=key)
        check("init-data bound: jwcrypto decrypts", obj.payload == want)
other = toml.replace("token_configs", "other")
key, cookie, st, body = attest(False, init_data=other, host_data=host, policy_extra=required)
check("init-data not the launched one: kbs.initdata_mismatch",
      st == 401 and "kbs.initdata_mismatch" in json.loads(body).get("reasons", []), body)
key, cookie, st, body = attest(False, host_data=host, policy_extra=required)
check("init-data required and absent: kbs.initdata_missing",
      st == 401 and "kbs.initdata_missing" in json.loads(body).get("reasons", []), body)
host_other = hashlib.sha384(other.encode()).digest()[:32].hex()
key, cookie, st, body = attest(False, init_data=other, host_data=host_other, policy_extra=required)
check("init-data bound but not listed: kbs.initdata_not_allowed",
      st == 401 and "kbs.initdata_not_allowed" in json.loads(body).get("reasons", []), body)
key, cookie, st, body = attest(False, init_data=toml.replace("sha384", "sha1"), host_data=host, policy_extra=required)
check("init-data of another algorithm: kbs.initdata_algorithm_unsupported",
      st == 400 and "kbs.initdata_algorithm_unsupported" in body, body)

key, cookie, st, body = attest(True)
doc = json.loads(body)
check("debug guest refused", st == 401 and "snp.debug_enabled" in doc.get("reasons", []), body)
check("denial names policy and request", doc.get("policy_id") == "model-i" and doc.get("policy_version") == version[0]
      and len(doc.get("request_id", "")) == 32 and doc.get("type", "").endswith("/Unauthorized"), body)
check("denial carries no token or evidence", "token" not in doc and "attestation_report" not in body, body)
sys.exit(1 if failed else 0)
PYEOF
CCG_CLI=$cli CCG_KBS=$kbs TMP=$tmp PORT=$(cat "$tmp/port") "$py" "$tmp/guest.py"
rc=$?
# The audit records of the attestations and the releases carry the TCB status (format 2).
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" 2>&1
if "$py" -c '
import json, sys
recs = json.load(open(sys.argv[1]))
# (a body refused at parse, like the init-data of an unsupported algorithm, was never appraised)
att = [r for r in recs if r["action"] == "kbs.attest" and "kbs.initdata_algorithm_unsupported" not in json.dumps(r)]
rel = [r for r in recs if r["action"] == "resource.release" and r["decision"] == "allow"]
ok = att and rel and all(r["v"] == 6 and r["tcb"]["status"] == "UpToDate" for r in att + rel)
sys.exit(0 if ok else 1)' "$tmp/audit.json"; then
  echo "ok   audit records carry the TCB status"
else
  echo "FAIL audit records carry the TCB status"; head -c 2000 "$tmp/audit.json"; rc=1
fi
# Restarted without the baseline (no "tcb_baselines"): the release policy that says nothing about "tcb"
# refuses the same guest with snp.tcb_baseline_missing and collateral.missing.
kill "$daemon"; wait "$daemon" 2>/dev/null; daemon=
cat >"$tmp/kbs-no-baseline.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-i","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"}}
EOF
rm -f "$tmp/port"
"$kbs" serve --config "$tmp/kbs-no-baseline.json" --insecure-http --port-file "$tmp/port" 2>>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
if [ -s "$tmp/port" ]; then
  MODE=no-baseline FIRST_VERSION=100 CCG_CLI=$cli CCG_KBS=$kbs TMP=$tmp PORT=$(cat "$tmp/port") "$py" "$tmp/guest.py" || rc=1
else
  echo "FAIL the daemon did not restart"; cat "$tmp/daemon.log"; rc=1
fi
if grep -qiE 'kbs-session-id=|Bearer |attestation_report' "$tmp/daemon.log"; then
  echo "FAIL the daemon log holds a cookie, token or evidence"; rc=1
else
  echo "ok   the daemon log holds no cookie, token or evidence"
fi
exit $rc
