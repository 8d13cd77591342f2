#!/usr/bin/env bash
# The explain endpoint and `ccgate kbs policy explain` (issue 15): the real ccgate-kbs daemon with
# "explain": true; the plain attestation the help names (the /kbs/v0/attest body a guest sends) is
# explained under a release policy, nothing consumed.
#   - unauthenticated: 401 admin.unauthenticated (curl), and the CLI without --token is exit 2;
#   - an operator token: an approved report is exit 0 ("allow"), a report whose measurement the policy
#     does not allow is exit 1 with snp.measurement_not_allowed named on standard error;
#   - a provider token for a policy provisioned on the host (no owner): exit 1 admin.forbidden;
#   - an authority token: exit 1 admin.forbidden;
#   - usage: no --policy-id, a bad --tee, a file that is not JSON: exit 2; an unreachable broker: exit 2;
#   - the wrapped form {"policy_id","tee","attestation"} is accepted as it is.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
py=${CCG_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
fail=0
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
[ -x "$kbs" ] && command -v curl >/dev/null && "$py" -c 'import json' 2>/dev/null ||
  skip_or_fail "curl, python3 or $kbs is missing"
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok   $*"; }

aud=https://kbs.explain.test/admin
for who in ops acme auth; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$who.key" 2>/dev/null
  openssl pkey -in "$tmp/$who.key" -pubout -out "$tmp/$who.pub.pem"
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null
openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null
"$cli" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
  --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 --out "$tmp/b.json" \
  >/dev/null && "$cli" tcb-baseline sign --in "$tmp/b.json" --key "$tmp/authority.key" --issuer authority \
  --out "$tmp/milan-tcb.json" >/dev/null || { echo "FAIL tcb-baseline"; exit 1; }
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"attestation_policy":"model-e","allow_unlocked_memory":true,"explain":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"},
 "admin":{"audience":"$aud","issuers":[
   {"name":"ops","key":"$tmp/ops.pub.pem","roles":["operator"],"subjects":["ops-1"]},
   {"name":"acme","key":"$tmp/acme.pub.pem","roles":["provider"],"subjects":["acme"]},
   {"name":"auth","key":"$tmp/auth.pub.pem","roles":["authority"],"subjects":["auth-1"]}]}}
EOF
allowed=$(printf 'ab%.0s' $(seq 48))
other=$(printf 'cd%.0s' $(seq 48))
"$cli" emulate snp --out-dir "$tmp/emu0" --report-data "$(printf '00%.0s' $(seq 64))" --measurement "$allowed" \
  --save-state >/dev/null || { echo "FAIL emulate"; exit 1; }
# Two plain attestations (the /attest body) binding one nonce and tee key, signed by the saved emulator.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/tee.key" 2>/dev/null
openssl pkey -in "$tmp/tee.key" -pubout -outform DER -out "$tmp/tee.der" 2>/dev/null
TMP=$tmp CLI=$cli GOOD=$allowed OTHER=$other "$py" - <<'PY' || { echo "FAIL attestations"; exit 1; }
import base64, hashlib, json, os, subprocess
tmp, cli = os.environ["TMP"], os.environ["CLI"]
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
point = open(os.path.join(tmp, "tee.der"), "rb").read()[-65:]
tee_pubkey = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": b64u(point[1:33]), "y": b64u(point[33:])}
nonce = b64u(os.urandom(32))
runtime = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": tee_pubkey}
rd = hashlib.sha384(json.dumps(runtime, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
for name, m in (("good", os.environ["GOOD"]), ("other", os.environ["OTHER"])):
    out = os.path.join(tmp, "emu-" + name)
    subprocess.run([cli, "emulate", "snp", "--out-dir", out, "--report-data", rd, "--measurement", m, "--load-state",
                    os.path.join(tmp, "emu0")], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pems = open(os.path.join(out, "certs.pem")).read().split("-----END CERTIFICATE-----")
    chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode()).decode()}
             for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
    ev = {"attestation_report": base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode(),
          "cert_chain": chain}
    att = {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
           "tee-evidence": {"primary_evidence": ev, "additional_evidence": ""}}
    json.dump(att, open(os.path.join(tmp, name + ".json"), "w"))
    json.dump({"policy_id": "model-e", "tee": "snp", "attestation": att}, open(os.path.join(tmp, name + "-wrapped.json"), "w"))
p = {"policy_id": "model-e", "version": 1, "allowed_tees": ["snp"],
     "trusted_roots": [{"product": "milan", "pem": open(os.path.join(tmp, "emu0", "ark.pem")).read()}],
     "snp_policy": {"policy_id": "model-e-snp", "version": 1, "allowed_measurements": [os.environ["GOOD"]]}}
json.dump(p, open(os.path.join(tmp, "policy.json"), "w"))
PY
"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
"$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/policy.json" || { echo "FAIL set-policy"; exit 1; }
tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
url=http://127.0.0.1:$(cat "$tmp/port")
for who in "ops operator ops-1" "acme provider acme" "auth authority auth-1"; do
  set -- $who
  "$cli" kbs token mint --key "$tmp/$1.key" --role "$2" --sub "$3" --aud "$aud" --ttl 600 >"$tmp/$1.tok"
done
x() { # token file [args]: the explain CLI; sets rc
  local tok=$1
  shift
  "$cli" kbs policy explain --url "$url" --insecure-http --token "$tmp/$tok.tok" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
}
expect() { # want-rc pattern-in-stdout-or-stderr name
  if [ "$rc" -eq "$1" ] && { [ -z "$2" ] || grep -q -- "$2" "$tmp/out" "$tmp/err"; }; then ok "$3 (exit $rc)"; else
    bad "$3: exit $rc, want $1 ($2): $(head -c 400 "$tmp/out") $(head -c 300 "$tmp/err")"; fi
}

code=$(curl -s -o "$tmp/o" -w '%{http_code}' -X POST -H 'Content-Type: application/json' \
  --data-binary @"$tmp/good-wrapped.json" "$url/kbs/v0/explain")
[ "$code" = 401 ] && grep -q admin.unauthenticated "$tmp/o" && ok "unauthenticated: 401 admin.unauthenticated" ||
  bad "unauthenticated: $code $(cat "$tmp/o")"
"$cli" kbs policy explain --url "$url" --insecure-http --policy-id model-e --file "$tmp/good.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect 2 "token" "the CLI without a token"
x ops --policy-id model-e --file "$tmp/good.json"
expect 0 '"decision": "allow"' "operator, approved report: allow"
x ops --policy-id model-e --tee snp --file "$tmp/other.json"
expect 1 "deny: snp.measurement_not_allowed" "operator, other measurement: deny names snp.measurement_not_allowed"
grep -q '"decision": "deny"' "$tmp/out" && ok "the deny's checks are printed" || bad "no checks printed"
x ops --file "$tmp/other-wrapped.json"
expect 1 "snp.measurement_not_allowed" "the wrapped form is accepted as it is"
x acme --policy-id model-e --file "$tmp/good.json"
expect 1 "admin.forbidden" "a provider on a policy it does not own: admin.forbidden"
x auth --policy-id model-e --file "$tmp/good.json"
expect 1 "admin.forbidden" "an authority: admin.forbidden"
x ops --file "$tmp/good.json"
expect 2 "--policy-id is required" "no --policy-id"
x ops --policy-id model-e --tee sgx --file "$tmp/good.json"
expect 2 "--tee is snp or tdx" "a bad --tee"
echo 'not json' >"$tmp/bad.json"
x ops --policy-id model-e --file "$tmp/bad.json"
expect 2 "not a JSON object" "a file that is not JSON"
x ops --policy-id no-such-policy --file "$tmp/good.json"
[ "$rc" -ne 0 ] && ok "an unknown policy is refused (exit $rc)" || bad "unknown policy: exit 0"
"$cli" kbs policy explain --url http://127.0.0.1:1 --insecure-http --token "$tmp/ops.tok" --policy-id model-e \
  --file "$tmp/good.json" >"$tmp/out" 2>"$tmp/err"
rc=$?
expect 2 "unreachable" "an unreachable broker"
"$cli" kbs policy explain --help | grep -q "runtime-data" && ok "--help names the plain attestation" || bad "--help"
"$cli" audit verify --db "$tmp/kbs.db" >/dev/null && ok "the chain verifies" || bad "audit verify"
exit $fail
