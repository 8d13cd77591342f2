#!/usr/bin/env bash
# "Why was this request denied?" from the audit record alone (issue 15, must-show 5): the real
# ccgate-kbs daemon, a guest (Python, stdlib only) presenting an emulator report whose measurement the
# release policy does not allow; the attest is refused, then
#   - `ccgate audit show --db DB REQUEST_ID` (offline) and `ccgate kbs audit show REQUEST_ID` (operator,
#     GET /admin/v0/audit/<request-id>) name the failed check with its description, the measurement that
#     was presented, the decision and the policy version, in text and with --json (exit 0);
#   - an unknown request ID is exit 1 audit.record_not_found (offline and 404 from the broker);
#   - unauthenticated is 401 admin.unauthenticated, a provider token 401 admin.role_not_permitted, a
#     malformed ID 400 admin.request_malformed;
#   - the record holds no nonce, key, token or report (only its claims and digest).
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

aud=https://kbs.audit-show.test/admin
for who in ops acme; do
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
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-s","allow_unlocked_memory":true,
 "explain":true,"keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"},
 "admin":{"audience":"$aud","issuers":[
   {"name":"ops","key":"$tmp/ops.pub.pem","roles":["operator"],"subjects":["ops-1"]},
   {"name":"acme","key":"$tmp/acme.pub.pem","roles":["provider"],"subjects":["acme"]}]}}
EOF
allowed=$(printf 'ab%.0s' $(seq 48))
presented=$(printf 'cd%.0s' $(seq 48))
# The emulator's root, trusted by the release policy (a new version: the audit must name version 2).
"$cli" emulate snp --out-dir "$tmp/emu0" --report-data "$(printf '00%.0s' $(seq 64))" --measurement "$presented" \
  --save-state >/dev/null || { echo "FAIL emulate"; exit 1; }
"$py" - "$tmp" "$allowed" <<'PY' || { echo "FAIL policy"; exit 1; }
import json, os, sys
tmp, m = sys.argv[1], sys.argv[2]
for v in (1, 2):
    p = {"policy_id": "model-s", "version": v, "allowed_tees": ["snp"],
         "trusted_roots": [{"product": "milan", "pem": open(os.path.join(tmp, "emu0", "ark.pem")).read()}],
         "snp_policy": {"policy_id": "model-s-snp", "version": 1, "allowed_measurements": [m]}}
    json.dump(p, open(os.path.join(tmp, "p%d.json" % v), "w"))
PY
"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
for v in 1 2; do "$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/p$v.json" || { echo "FAIL set-policy"; exit 1; }; done
tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
url=http://127.0.0.1:$(cat "$tmp/port")

# The guest: a P-256 tee key (openssl), /auth, a report binding the nonce and key, /attest. Prints the
# denial body; also writes the plain /attest body for test_kbs_explain.sh-style use.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/tee.key" 2>/dev/null
openssl pkey -in "$tmp/tee.key" -pubout -outform DER -out "$tmp/tee.der" 2>/dev/null
TMP=$tmp URL=$url PORT=$(cat "$tmp/port") GUEST_LIB="$(dirname "$0")/../support" CLI=$cli M=$presented "$py" - >"$tmp/deny.json" <<'PY' || { echo "FAIL guest"; exit 1; }
import base64, hashlib, json, os, subprocess, sys
tmp, url, cli, m = os.environ["TMP"], os.environ["URL"], os.environ["CLI"], os.environ["M"]
b64u = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
der = open(os.path.join(tmp, "tee.der"), "rb").read()
point = der[-65:]
assert point[0] == 4
tee_pubkey = {"kty": "EC", "crv": "P-256", "alg": "ECDH-ES+A256KW", "x": b64u(point[1:33]), "y": b64u(point[33:])}
sys.path.insert(0, os.environ["GUEST_LIB"])
from kbs_guest_session import http  # plain HTTP to 127.0.0.1:$PORT
st, body, setcookie = http("POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
assert st == 200, body
cookie = setcookie.split(";")[0]
nonce = json.loads(body)["nonce"]
runtime = {"additional-evidence": "", "nonce": nonce, "tee-pubkey": tee_pubkey}
rd = hashlib.sha384(json.dumps(runtime, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
out = os.path.join(tmp, "emu1")
# signed with the saved emulator's keys: the root the policy trusts
subprocess.run([cli, "emulate", "snp", "--out-dir", out, "--report-data", rd, "--measurement", m, "--load-state",
                os.path.join(tmp, "emu0")], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
pems = open(os.path.join(out, "certs.pem")).read().split("-----END CERTIFICATE-----")
chain = [{"cert_type": t, "data": base64.b64encode((p.strip() + "\n-----END CERTIFICATE-----\n").encode()).decode()}
         for t, p in zip(["VCEK", "ASK"], pems) if p.strip()]
evidence = {"attestation_report": base64.b64encode(open(os.path.join(out, "report.bin"), "rb").read()).decode(),
            "cert_chain": chain}
att = {"runtime-data": {"nonce": nonce, "tee-pubkey": tee_pubkey},
       "tee-evidence": {"primary_evidence": evidence, "additional_evidence": ""}}
json.dump(att, open(os.path.join(tmp, "attestation.json"), "w"))
st, body, _ = http("POST", "/kbs/v0/attest", att, cookie=cookie)
print(json.dumps({"status": st, "body": json.loads(body), "nonce": nonce}))
PY
rid=$("$py" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["body"]["request_id"])' "$tmp/deny.json")
status=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["status"])' "$tmp/deny.json")
codes=$("$py" -c 'import json,sys; print(" ".join(json.load(open(sys.argv[1]))["body"]["reasons"]))' "$tmp/deny.json")
[ "$status" = 401 ] && [ -n "$rid" ] && ok "the attest is denied ($codes), request $rid" ||
  { bad "the attest was not denied: $(cat "$tmp/deny.json")"; exit 1; }
first=${codes%% *}
[ "$first" = snp.measurement_not_allowed ] && ok "the denial is the measurement" || bad "the first denial is $first"

# Offline, from the database alone.
"$cli" audit show --db "$tmp/kbs.db" "$rid" >"$tmp/show.txt" 2>"$tmp/show.err"
rc=$?
if [ $rc -eq 0 ] && grep -q "failed checks:" "$tmp/show.txt" && grep -q "$first: " "$tmp/show.txt" &&
  grep -q "measurement *$presented" "$tmp/show.txt" && grep -q "model-s (version 2)" "$tmp/show.txt" &&
  grep -q "kbs.attest  deny" "$tmp/show.txt"; then
  ok "audit show (offline) names $first with its description, the measurement presented and policy version 2"
else
  bad "audit show (offline): exit $rc"; cat "$tmp/show.txt" "$tmp/show.err"
fi
check_json() { # file what
  "$py" - "$1" "$presented" "$first" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r = [x for x in d["records"] if x["action"] == "kbs.attest"][0]
codes = [c["code"] for c in r["failed_checks"]]
assert r["decision"] == "deny" and sys.argv[3] in codes, r
assert all(c["description"] for c in r["failed_checks"]), r
assert r["presented"]["measurement"] == sys.argv[2] and r["presented"]["tee"] == "snp", r
assert r["policy"] == {"id": "model-s", "version": 2} and r["v"] == 6 and r["time"], r
text = json.dumps(d)
assert "nonce" not in text and "tee-pubkey" not in text and "attestation_report" not in text, text
PY
}
"$cli" audit show --db "$tmp/kbs.db" "$rid" --json >"$tmp/show.json" && check_json "$tmp/show.json" &&
  ok "audit show --json (offline): failed checks, presented claims, policy version; no nonce, key or report" ||
  { bad "audit show --json (offline)"; cat "$tmp/show.json"; }
"$cli" audit show --db "$tmp/kbs.db" no-such-request >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && grep -q "audit.record_not_found" "$tmp/e" && ok "audit show of an unknown request: exit 1 audit.record_not_found" ||
  bad "audit show unknown: exit $rc $(cat "$tmp/e")"
"$cli" audit show --db "$tmp/kbs.db" >/dev/null 2>&1
[ $? -eq 2 ] && ok "audit show without REQUEST_ID: exit 2" || bad "audit show without REQUEST_ID"

# Through the broker's admin API (operator).
"$cli" kbs token mint --key "$tmp/ops.key" --role operator --sub ops-1 --aud "$aud" --ttl 600 >"$tmp/ops.tok"
"$cli" kbs token mint --key "$tmp/acme.key" --role provider --sub acme --aud "$aud" --ttl 600 >"$tmp/acme.tok"
k() { "$cli" kbs audit show --url "$url" --insecure-http --token "$tmp/ops.tok" "$@"; }
k "$rid" >"$tmp/kshow.txt" 2>"$tmp/kshow.err"
rc=$?
[ $rc -eq 0 ] && grep -q "$first: " "$tmp/kshow.txt" && grep -q "measurement *$presented" "$tmp/kshow.txt" &&
  ok "kbs audit show names $first and the measurement presented" || { bad "kbs audit show: exit $rc"; cat "$tmp/kshow.txt" "$tmp/kshow.err"; }
k "$rid" --json >"$tmp/kshow.json" && check_json "$tmp/kshow.json" && ok "kbs audit show --json" ||
  { bad "kbs audit show --json"; cat "$tmp/kshow.json"; }
k no-such-request >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && grep -q "HTTP 404: audit.record_not_found" "$tmp/e" && ok "kbs audit show unknown: 404, exit 1" ||
  bad "kbs audit show unknown: exit $rc $(cat "$tmp/e")"
"$cli" kbs audit show --url "$url" --insecure-http --token "$tmp/acme.tok" "$rid" >"$tmp/o" 2>"$tmp/e"
rc=$?
[ $rc -eq 1 ] && grep -q "admin.role_not_permitted\|admin.forbidden" "$tmp/e" && ok "a provider token is refused (exit 1)" ||
  bad "provider token: exit $rc $(cat "$tmp/e")"
code=$(curl -s -o "$tmp/o" -w '%{http_code}' "$url/admin/v0/audit/$rid")
[ "$code" = 401 ] && grep -q admin.unauthenticated "$tmp/o" && ok "unauthenticated: 401 admin.unauthenticated" ||
  bad "unauthenticated: $code $(cat "$tmp/o")"
code=$(curl -s -o "$tmp/o" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/ops.tok")" "$url/admin/v0/audit/a!b")
[ "$code" = 400 ] && grep -q admin.request_malformed "$tmp/o" && ok "a malformed request ID: 400 admin.request_malformed" ||
  bad "malformed ID: $code $(cat "$tmp/o")"
"$cli" audit verify --db "$tmp/kbs.db" >/dev/null && ok "the chain verifies" || bad "audit verify"
exit $fail
