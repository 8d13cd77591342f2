#!/usr/bin/env bash
# Tenancy and the audit boundary from outside (issue 10, items 4-6): the real ccgate-kbs daemon, curl
# and the `ccgate kbs` CLI, as a second tenant's identity provider, a provider, the operator and the
# host's service user would drive them.
#   - a second issuer minting {role: provider, sub: "acme"} cannot disable, rotate, read or re-publish
#     acme's key and policy (admin.forbidden);
#   - tokens are bound to their issuer's roles and subjects, the broker's audience and a lifetime
#     (admin.role_not_permitted, admin.subject_not_permitted, admin.audience_mismatch,
#     admin.token_lifetime_exceeded);
#   - the broker-wide attestation policy is the operator's (admin.policy_reserved);
#   - with the audit log refusing writes, a disable answers 503 audit.write_failed and the key stays
#     enabled, through the admin API and through `ccgate-kbs key-state` (the kill switch);
#   - the host commands are recorded as host-operator, and `ccgate audit verify` passes.
# The audit log is made unwritable by a trigger that refuses every INSERT into audit_log (python3's
# sqlite3 on the daemon's database), the failure a full disk gives the append, without a privilege.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
py=${CCG_PYTHON:-python3}
tmp=$(mktemp -d)
daemon=
fail=0
cleanup() {
  if [ -n "$daemon" ]; then kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null; fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if ! command -v curl >/dev/null || ! "$py" -c 'import sqlite3' 2>/dev/null || [ ! -x "$kbs" ]; then
  if [ "${CI:-}" = true ]; then echo "curl, python3 (sqlite3) or ccgate-kbs missing (CI=true: failing)"; exit 1; fi
  echo "SKIP: curl, python3 (sqlite3) or $kbs missing"; exit 0
fi

bad() { echo "FAIL: $*"; fail=1; }
aud=https://kbs.cli-tenancy.test/admin
for who in acme rogue ops; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$who.key" 2>/dev/null
  openssl pkey -in "$tmp/$who.key" -pubout -out "$tmp/$who.pub.pem"
done
cat >"$tmp/kbs.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"attestation_policy":"broker-attest","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "admin":{"audience":"$aud","issuers":[
   {"name":"acme-idp","key":"$tmp/acme.pub.pem","roles":["provider"],"subjects":["acme"]},
   {"name":"rogue-idp","key":"$tmp/rogue.pub.pem","roles":["provider"],"subjects":["acme","rogue"]},
   {"name":"ops","key":"$tmp/ops.pub.pem","roles":["operator"],"subjects":["ops-1"]}]}}
EOF
m=$(printf 'ab%.0s' $(seq 48))
policy() { # id version
  echo "{\"policy_id\":\"$1\",\"version\":$2,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"$1-snp\",\"version\":1,\"allowed_measurements\":[\"$m\"]}}" >"$tmp/$1.v$2.json"
}
mint() { # idp role sub [extra args]
  local idp=$1 role=$2 sub=$3
  shift 3
  "$cli" kbs token mint --key "$tmp/$idp.key" --role "$role" --sub "$sub" --aud "$aud" --ttl 600 "$@"
}
db() { "$py" -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1], timeout=10); c.execute(sys.argv[2]); c.commit()' "$tmp/kbs.db" "$1"; }
unwritable() { db "CREATE TRIGGER cli_audit_refused BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'refused'); END"; }
writable() { db "DROP TRIGGER IF EXISTS cli_audit_refused"; }

"$kbs" create-kek --config "$tmp/kbs.json" || { echo "FAIL create-kek"; exit 1; }
"$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log" &
daemon=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { echo "FAIL daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
url=http://127.0.0.1:$(cat "$tmp/port")

mint acme provider acme >"$tmp/acme.jwt"
mint rogue provider acme >"$tmp/rogue.jwt"
mint ops operator ops-1 >"$tmp/ops.jwt"
head -c 32 /dev/urandom >"$tmp/k1"
head -c 32 /dev/urandom >"$tmp/k2"
policy broker-attest 1
policy broker-attest 2
policy acme-policy 1
policy acme-policy 2

# kbs CLI call: expect exit status and (for a denial) the reason code on stderr.
k() { # token expected-exit expected-code args...
  local tok=$1 want=$2 code=$3
  shift 3
  "$cli" kbs "$@" --url "$url" --insecure-http --token "$tmp/$tok.jwt" >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  [ "$rc" = "$want" ] || bad "ccgate kbs $* ($tok): exit $rc, expected $want: $(cat "$tmp/err")"
  if [ -n "$code" ] && ! grep -q ": $code:" "$tmp/err"; then bad "ccgate kbs $* ($tok): no $code in $(cat "$tmp/err")"; fi
}
# curl call: expect HTTP status and first reason.
c() { # method path token expected-status expected-code [body]
  local st
  st=$(curl -s -o "$tmp/body" -w '%{http_code}' -X "$1" -H "Authorization: Bearer $(cat "$tmp/$3.jwt")" \
    -H 'Content-Type: application/json' ${6:+--data "$6"} "$url$2")
  [ "$st" = "$4" ] || bad "curl $1 $2 ($3): HTTP $st, expected $4: $(cat "$tmp/body")"
  if [ -n "$5" ]; then
    local got
    got=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["reasons"][0])' "$tmp/body" 2>/dev/null)
    [ "$got" = "$5" ] || bad "curl $1 $2 ($3): reason $got, expected $5"
  fi
}

k ops 0 "" policy set --file "$tmp/broker-attest.v1.json"
k acme 0 "" policy set --file "$tmp/acme-policy.v1.json"
k acme 0 "" key import --key-id acme/model/k1 --policy-id acme-policy --file "$tmp/k1"

# Item 4: the second issuer's "acme" is not acme.
k rogue 1 admin.forbidden key disable --key-id acme/model/k1
k rogue 1 admin.forbidden key rotate --key-id acme/model/k1 --file "$tmp/k2"
k rogue 1 admin.forbidden policy set --file "$tmp/acme-policy.v2.json"
k rogue 1 admin.forbidden policy get --policy-id acme-policy
c POST /admin/v0/keys/acme/model/k1/disable rogue 403 admin.forbidden
c GET /admin/v0/keys/acme/model/k1 rogue 403 admin.forbidden
k acme 0 "" key list --key-id acme/model/k1
grep -q '"state": "active"' "$tmp/out" || bad "acme's key is not active after the rogue issuer's calls"
grep -q '"version": 2' "$tmp/out" && bad "acme's key was rotated by the rogue issuer"
k acme 0 "" policy get --policy-id acme-policy
grep -q '"version": 1' "$tmp/out" || bad "acme-policy moved past version 1"

# Item 4: issuers' mandates, audience, lifetime.
mint acme operator acme >"$tmp/t1.jwt"
c GET /admin/v0/health t1 401 admin.role_not_permitted
mint acme provider globex >"$tmp/t2.jwt"
c GET /admin/v0/keys t2 401 admin.subject_not_permitted
"$cli" kbs token mint --key "$tmp/acme.key" --role provider --sub acme --aud https://other/admin --ttl 600 >"$tmp/t3.jwt"
c GET /admin/v0/keys t3 401 admin.audience_mismatch
mint acme provider acme --ttl 7200 >"$tmp/t4.jwt"
c GET /admin/v0/keys t4 401 admin.token_lifetime_exceeded
"$cli" kbs token mint --key "$tmp/acme.key" --role provider --sub acme --ttl 600 >/dev/null 2>&1 &&
  bad "token mint without --aud succeeded"

# Item 5: the broker-wide attestation policy.
k acme 1 admin.policy_reserved policy set --file "$tmp/broker-attest.v2.json"
c GET /admin/v0/policies/broker-attest acme 403 admin.policy_reserved
k ops 0 "" policy get --policy-id broker-attest
grep -q '"version": 1' "$tmp/out" || bad "the broker-wide policy moved past version 1"

# Item 6: the kill switch with the audit log refusing writes.
unwritable
c POST /admin/v0/keys/acme/model/k1/disable acme 503 audit.write_failed
k acme 2 audit.write_failed key disable --key-id acme/model/k1
k ops 2 audit.write_failed policy set --file "$tmp/broker-attest.v2.json"
writable
k acme 0 "" key list --key-id acme/model/k1
grep -q '"state": "active"' "$tmp/out" || bad "the key was disabled without its audit record"
k ops 0 "" policy get --policy-id broker-attest
grep -q '"version": 1' "$tmp/out" || bad "the broker-wide policy changed without its audit record"

# Item 6: the host commands, audited as the host operator.
policy host-policy 1
"$kbs" set-policy --config "$tmp/kbs.json" --file "$tmp/host-policy.v1.json" || bad "set-policy"
"$kbs" import-key --config "$tmp/kbs.json" --key-id host/model/k --policy-id host-policy --file "$tmp/k1" >/dev/null ||
  bad "import-key"
unwritable
"$kbs" key-state --config "$tmp/kbs.json" --key-id host/model/k --state disabled 2>"$tmp/err"
rc=$?
writable
[ "$rc" = 1 ] || bad "key-state with the audit log unwritable: exit $rc, expected 1"
grep -q audit.write_failed "$tmp/err" || bad "key-state did not name audit.write_failed: $(cat "$tmp/err")"
k ops 0 "" key list --key-id host/model/k
grep -q '"state": "active"' "$tmp/out" || bad "the host kill switch acted without its audit record"
"$kbs" key-state --config "$tmp/kbs.json" --key-id host/model/k --state disabled || bad "key-state disabled"
"$kbs" rotate-key --config "$tmp/kbs.json" --key-id host/model/k --file "$tmp/k2" >/dev/null || bad "rotate-key"
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" || bad "audit list"
"$py" - "$tmp/audit.json" <<'PYEOF' || fail=1
import json, sys
doc = json.load(open(sys.argv[1]))
recs = doc["records"] if isinstance(doc, dict) else doc
host = [(r["action"], r["decision"], r.get("key_id")) for r in recs if r["persona"] == "host-operator"]
want = [("host.kek.create", "allow", None), ("host.policy.set", "allow", None),
        ("host.key.import", "allow", "host/model/k"), ("host.key.disable", "allow", "host/model/k"),
        ("host.key.rotate", "allow", "host/model/k")]
if host != want:
    print("FAIL: host-operator records %s, expected %s" % (host, want))
    sys.exit(1)
PYEOF
"$cli" audit verify --db "$tmp/kbs.db" >/dev/null || bad "ccgate audit verify"

[ "$fail" = 0 ] && echo "PASS"
exit "$fail"
