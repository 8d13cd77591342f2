#!/usr/bin/env bash
# The key lifecycle end to end (issue 15, must-show 3) with the built programs: ccgate-kbs (daemon and
# host commands), ccgate-agent on the software SNP guest (emulator attester), `ccgate seal`, `ccgate kbs`
# and curl. docs/kbs.md "Key lifecycle".
#
#   rotation with a grace until cut-over: a v1 artifact keeps working after the rotation to v2, the v2
#   artifact works, and after `ccgate-kbs key cut-over` the v1 artifact is refused as key.retired (agent
#   exit 12, never artifact.key_invalid) while v2 still works; every step is in the audit log (rotate,
#   cut-over, the releases of v1 and v2, the refusal of v1), and the chain verifies;
#   a policy without "rotation" (and one with a grace of 0 s) refuses v1 at once after the rotation;
#   the request form: ?version=N only (anything else 400 kbs.path_invalid), an unknown version 404;
#   key IDs: repo/type/tag at host and admin import (key.id_invalid);
#   --owner on host imports: the provider's own token manages the key, another's does not; ownership
#   transfer (host verb) moves it, audited;
#   one size rule for resources: 1 MiB imports (host and admin), 1 MiB + 1 refused as key.resource_too_large.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
kbs=${CCG_KBS:-$bin/ccgate-kbs}
agent=${CCG_AGENT:-$bin/ccgate-agent}
py=${CCG_PYTHON:-python3}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
for p in "$kbs" "$agent"; do [ -x "$p" ] || skip_or_fail "$p is missing"; done
command -v curl >/dev/null || skip_or_fail "curl is missing"
command -v openssl >/dev/null || skip_or_fail "openssl is missing"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
die() { echo "FAIL $*"; exit 1; }
wait_file() { for _ in $(seq 600); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }
aud=https://kbs.lifecycle.test/admin

# ---- the provider: one model, sealed under v1 and under v2 of the same key
"$cli" model generate --seed 7 --out "$tmp/model.plain" >/dev/null 2>&1 || head -c 70000 /dev/urandom >"$tmp/model.plain"
head -c 32 /dev/urandom >"$tmp/v1.key"
head -c 32 /dev/urandom >"$tmp/v2.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/provider.pem" 2>/dev/null &&
  openssl pkey -in "$tmp/provider.pem" -pubout -out "$tmp/provider.pub" 2>/dev/null || die "provider key"
seal() { # key-id version keyfile out
  "$cli" seal --in "$tmp/model.plain" --out "$4" --key-file "$3" --key-id "$1" --key-version "$2" \
    --signer "$tmp/provider.pem" >/dev/null
}
for key in lc/model/llm lc/model/nograce lc/model/zero lc/model/hour; do
  n=${key##*/}
  seal "$key" 1 "$tmp/v1.key" "$tmp/$n.v1.ccgm" || die "seal $key v1"
  seal "$key" 2 "$tmp/v2.key" "$tmp/$n.v2.ccgm" || die "seal $key v2"
done
ok "sealed v1 and v2 artifacts of lc/model/{llm,nograce,zero}"

# ---- the authority's guest (software SNP firmware, test root) and TCB baseline
"$cli" emulate snp --out-dir "$tmp/guest" --save-state >/dev/null || die "emulate snp"
meas=$("$py" -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$tmp/guest/emulator.json")
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null &&
  openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null || die "authority key"
"$cli" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
  --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 \
  --out "$tmp/tcb.unsigned.json" >/dev/null &&
  "$cli" tcb-baseline sign --in "$tmp/tcb.unsigned.json" --key "$tmp/authority.key" --issuer authority \
    --out "$tmp/milan-tcb.json" >/dev/null || die "tcb baseline"

# ---- the broker: admin issuers for two providers; three policies (until cut-over, none, 0 s)
for who in acme other; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$tmp/$who.key" 2>/dev/null
  openssl pkey -in "$tmp/$who.key" -pubout -out "$tmp/$who.pub.pem"
done
cat >"$tmp/kbs.json" <<JSON
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"lc-attest","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"},
 "admin":{"audience":"$aud","issuers":[
   {"name":"acme-idp","key":"$tmp/acme.pub.pem","roles":["provider"],"subjects":["acme"]},
   {"name":"other-idp","key":"$tmp/other.pub.pem","roles":["provider"],"subjects":["other"]}]}}
JSON
ark=$("$py" -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$tmp/guest/ark.pem")
policy() { # id rotation-member-or-empty
  cat >"$tmp/$1.json" <<JSON
{"policy_id":"$1","version":1,"allowed_tees":["snp"],"trusted_roots":[{"product":"milan","pem":$ark}],$2
 "snp_policy":{"policy_id":"$1-snp","version":1,"debug_allowed":false,"migration_agent_allowed":false,
               "allowed_measurements":["$meas"]}}
JSON
}
policy lc-attest ''
policy lc-cutover '"rotation":{"previous_until_cut_over":true},'
policy lc-none ''
policy lc-zero '"rotation":{"previous_grace_seconds":0},'
policy lc-hour '"rotation":{"previous_grace_seconds":3600},'
host() { "$kbs" "$@" --config "$tmp/kbs.json"; }
host kek create >/dev/null 2>&1 || die "kek create"
for p in lc-attest lc-cutover lc-none lc-zero lc-hour; do
  host policy set --file "$tmp/$p.json" >/dev/null 2>"$tmp/err" || die "policy set $p: $(cat "$tmp/err")"
done
host key import --key-id lc/model/llm --policy-id lc-cutover --file "$tmp/v1.key" >/dev/null 2>"$tmp/err" ||
  die "import llm: $(cat "$tmp/err")"
host key import --key-id lc/model/nograce --policy-id lc-none --file "$tmp/v1.key" >/dev/null 2>&1 || die "import nograce"
host key import --key-id lc/model/zero --policy-id lc-zero --file "$tmp/v1.key" >/dev/null 2>&1 || die "import zero"
host key import --key-id lc/model/hour --policy-id lc-hour --file "$tmp/v1.key" >/dev/null 2>&1 || die "import hour"
# a bad rotation member is the policy's own error
cat >"$tmp/badrot.json" <<JSON
{"policy_id":"bad-rot","version":1,"allowed_tees":["snp"],"rotation":{"previous_grace_seconds":-1},
 "snp_policy":{"policy_id":"b","version":1,"allowed_measurements":["$meas"]}}
JSON
host policy set --file "$tmp/badrot.json" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -ne 0 ] && grep -q kbs.policy_invalid "$tmp/err" && ok "rotation.previous_grace_seconds -1 refused (kbs.policy_invalid)" ||
  bad "a negative grace: exit $rc $(head -c 300 "$tmp/err")"

tl_spawn "$kbs" serve --config "$tmp/kbs.json" --insecure-http --port-file "$tmp/kbs.port" 2>"$tmp/kbs.log"
wait_file "$tmp/kbs.port" || die "the broker did not start: $(tail -3 "$tmp/kbs.log")"
url=http://127.0.0.1:$(cat "$tmp/kbs.port")

# run_agent NAME KEY ARTIFACT: the agent attests, fetches the artifact's key version, unseals, runs
# /bin/true as its server and exits; its status in $agent_rc, its stderr in $tmp/NAME.err.
run_agent() {
  cat >"$tmp/$1.agent.json" <<JSON
{"attester":{"kind":"emulator","emulator_dir":"$tmp/guest"},
 "broker":{"url":"$url","insecure_http":true,"timeout":60},
 "key":{"resource":"$2"},
 "artifact":{"location":"$3","provider_key":"$tmp/provider.pub"},
 "server":{"argv":["/bin/true"]},
 "status":{"listen":"127.0.0.1:0"},
 "memlock":"best-effort"}
JSON
  timeout 120 "$agent" --config "$tmp/$1.agent.json" >"$tmp/$1.out" 2>"$tmp/$1.err"
  agent_rc=$?
}
unsealed() { grep -q '"unsealed"\|"model.unsealed"\|unseal' "$tmp/$1.err" && ! grep -q '"reason"' "$tmp/$1.err"; }
expect_key() { # name key artifact what
  run_agent "$1" "$2" "$3"
  if grep -q 'artifact.key_invalid\|artifact.integrity' "$tmp/$1.err" || grep -q '"reason":"key\.' "$tmp/$1.err"; then
    bad "$4: the agent was refused (exit $agent_rc): $(grep -o '"reason":"[^"]*"' "$tmp/$1.err" | head -2)"
  else
    ok "$4 (agent exit $agent_rc)"
  fi
}
expect_retired() { # name key artifact what
  run_agent "$1" "$2" "$3"
  if [ "$agent_rc" -eq 12 ] && grep -q 'key.retired' "$tmp/$1.err" && ! grep -q 'artifact.key_invalid' "$tmp/$1.err"; then
    ok "$4: agent exit 12 with key.retired"
  else
    bad "$4: agent exit $agent_rc, wanted 12 key.retired: $(grep -o '"reason":"[^"]*"' "$tmp/$1.err" | head -3)"
  fi
}

# ---- must-show 3: rotation, grace, cut-over
expect_key llm-v1-before lc/model/llm "$tmp/llm.v1.ccgm" "before the rotation the v1 artifact unseals"
host key rotate --key-id lc/model/llm --file "$tmp/v2.key" >"$tmp/rot.out" 2>"$tmp/err" || bad "rotate: $(cat "$tmp/err")"
grep -q '"version":2' "$tmp/rot.out" && ok "rotated lc/model/llm to version 2" || bad "rotate said $(cat "$tmp/rot.out")"
expect_key llm-v1-grace lc/model/llm "$tmp/llm.v1.ccgm" "during the grace (until cut-over) the v1 artifact still unseals"
expect_key llm-v2 lc/model/llm "$tmp/llm.v2.ccgm" "the v2 artifact unseals"
# the kill switch stops the version in its grace too, and enabling the key gives it back
host key disable --key-id lc/model/llm >/dev/null 2>"$tmp/err" || bad "disable: $(cat "$tmp/err")"
run_agent llm-v1-disabled lc/model/llm "$tmp/llm.v1.ccgm"
[ "$agent_rc" -eq 12 ] && grep -q 'key.disabled' "$tmp/llm-v1-disabled.err" &&
  ok "the kill switch (v2 disabled) refuses the v1 artifact in its grace too: exit 12 key.disabled" ||
  bad "v1 in grace with v2 disabled: exit $agent_rc $(grep -o '"reason":"[^"]*"' "$tmp/llm-v1-disabled.err" | head -2)"
host key enable --key-id lc/model/llm >/dev/null 2>"$tmp/err" || bad "enable: $(cat "$tmp/err")"
expect_key llm-v1-enabled lc/model/llm "$tmp/llm.v1.ccgm" "enabled again, the v1 artifact in its grace unseals"
host key cut-over --key-id lc/model/llm --key-version 1 >"$tmp/cut.out" 2>"$tmp/err" || bad "cut-over: $(cat "$tmp/err")"
grep -q '"ended":1' "$tmp/cut.out" && ok "cut-over ended the grace of v1" || bad "cut-over said $(cat "$tmp/cut.out")"
expect_retired llm-v1-after lc/model/llm "$tmp/llm.v1.ccgm" "after the cut-over the v1 artifact is refused"
expect_key llm-v2-after lc/model/llm "$tmp/llm.v2.ccgm" "after the cut-over the v2 artifact still unseals"
host key cut-over --key-id lc/model/llm --key-version 2 >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 1 ] && grep -q store.conflict "$tmp/err" && ok "cut-over of the live version refused (store.conflict, exit 1)" ||
  bad "cut-over v2: exit $rc $(head -c 200 "$tmp/err")"
host key cut-over --key-id lc/model/llm --key-version 9 >/dev/null 2>"$tmp/err"
grep -q key.not_found "$tmp/err" && ok "cut-over of an unknown version: key.not_found" || bad "cut-over v9: $(head -c 200 "$tmp/err")"

# without a rotation member, and with a grace of 0 s: v1 is refused at once; v2 works
host key rotate --key-id lc/model/nograce --file "$tmp/v2.key" >/dev/null 2>&1 || bad "rotate nograce"
host key rotate --key-id lc/model/zero --file "$tmp/v2.key" >/dev/null 2>&1 || bad "rotate zero"
expect_retired nograce-v1 lc/model/nograce "$tmp/nograce.v1.ccgm" "a policy without \"rotation\": v1 after the rotation"
expect_retired zero-v1 lc/model/zero "$tmp/zero.v1.ccgm" "\"previous_grace_seconds\": 0: v1 after the rotation"
expect_key zero-v2 lc/model/zero "$tmp/zero.v2.ccgm" "\"previous_grace_seconds\": 0: the v2 artifact unseals"
# a grace of an hour (far longer than this test): v1 is still released after the rotation
host key rotate --key-id lc/model/hour --file "$tmp/v2.key" >/dev/null 2>&1 || bad "rotate hour"
expect_key hour-v1 lc/model/hour "$tmp/hour.v1.ccgm" "\"previous_grace_seconds\": 3600: v1 still unseals after the rotation"

# ---- the audit records of each step
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" 2>"$tmp/err" || bad "audit list: $(cat "$tmp/err")"
audit_has() { # what python-condition-on-r
  if "$py" - "$tmp/audit.json" "$2" <<'PY'; then ok "audited: $1"; else bad "not audited: $1"; fi
import json, sys
doc = json.load(open(sys.argv[1]))
recs = doc["records"] if isinstance(doc, dict) else doc
cond = sys.argv[2]
sys.exit(0 if any(eval(cond, {}, {"r": r}) for r in recs) else 1)
PY
}
K='r.get("key_id")=="lc/model/llm"'
audit_has "the rotation (host.key.rotate, v2)" "$K and r.get('action')=='host.key.rotate' and r.get('key_version')==2 and r.get('decision')=='allow'"
audit_has "the cut-over (host.key.cut_over, v1)" "$K and r.get('action')=='host.key.cut_over' and r.get('key_version')==1 and r.get('decision')=='allow'"
audit_has "a release of v1 (resource.release allow, key_version 1, the version asked for among the claims)" "$K and r.get('action')=='resource.release' and r.get('key_version')==1 and r.get('decision')=='allow' and (r.get('claims') or {}).get('key_version_requested')==1"
audit_has "a release of v2 (resource.release allow, key_version 2)" "$K and r.get('action')=='resource.release' and r.get('key_version')==2 and r.get('decision')=='allow'"
audit_has "the refusal of v1 (resource.release deny key.retired, key_version 1)" "$K and r.get('action')=='resource.release' and r.get('key_version')==1 and r.get('decision')=='deny' and 'key.retired' in r.get('reasons',[])"
audit_has "the refused cut-over of the live version (deny store.conflict)" "$K and r.get('action')=='host.key.cut_over' and r.get('decision')=='deny'"
"$py" - "$tmp/audit.json" <<'PY' && ok "the audit order: release v1 < rotate < release v1 (grace) < cut-over < deny v1" || bad "the audit records are not in the lifecycle's order"
import json, sys
doc = json.load(open(sys.argv[1]))
recs = doc["records"] if isinstance(doc, dict) else doc
recs = [r for r in recs if r.get("key_id") == "lc/model/llm"]
def first(cond, after=-1):
    for i, r in enumerate(recs):
        if i > after and cond(r):
            return i
    raise SystemExit(1)
rel1 = lambda r: r.get("action") == "resource.release" and r.get("key_version") == 1 and r.get("decision") == "allow"
a = first(rel1)
b = first(lambda r: r.get("action") == "host.key.rotate" and r.get("decision") == "allow", a)
c = first(rel1, b)
d = first(lambda r: r.get("action") == "host.key.cut_over" and r.get("decision") == "allow", c)
first(lambda r: r.get("action") == "resource.release" and r.get("key_version") == 1 and r.get("decision") == "deny", d)
PY
"$cli" audit verify --db "$tmp/kbs.db" >/dev/null 2>&1 && ok "the audit chain verifies" || bad "audit verify"

# ---- the request form (checked before the session: no attestation needed to see the refusal)
req() { curl -s -o "$tmp/resp" -w '%{http_code}' "$url$1"; }
for q in 'versioN=1' 'xxxxxxxx2' 'version=abc' 'version=01' 'version=0' 'version=-1' 'version=1&x=2' 'foo=1' 'version=' 'version=99999999999999999'; do
  st=$(req "/kbs/v0/resource/lc/model/llm?$q")
  [ "$st" = 400 ] && grep -q kbs.path_invalid "$tmp/resp" && ok "?$q: 400 kbs.path_invalid" || bad "?$q: $st $(head -c 200 "$tmp/resp")"
done
st=$(req "/kbs/v0/resource/lc/model/llm?version=1")
[ "$st" = 401 ] && ok "?version=1 without a session: 401 (the form is accepted)" || bad "?version=1 without a session: $st"

# ---- key IDs: repo/type/tag at host import
for bad_id in a lc/model lc/model/x/y 'lc/mo del/x' lc/model/..; do
  host key import --key-id "$bad_id" --policy-id lc-none --file "$tmp/v1.key" >/dev/null 2>"$tmp/err"
  rc=$?
  [ $rc -eq 2 ] && grep -q key.id_invalid "$tmp/err" && ok "host import --key-id '$bad_id': exit 2 key.id_invalid" ||
    bad "host import '$bad_id': exit $rc $(head -c 200 "$tmp/err")"
done

# ---- owners: --owner on host import, the provider's token manages the key; transfer
mint() { "$cli" kbs token mint --key "$tmp/$1.key" --role provider --sub "$1" --aud "$aud" --ttl 600; }
mint acme >"$tmp/acme.jwt" && mint other >"$tmp/other.jwt" || die "token mint"
adm() { # token args... -> exit status; stderr in $tmp/adm.err
  "$cli" kbs "$@" --url "$url" --insecure-http --token "$tmp/$tok.jwt" >"$tmp/adm.out" 2>"$tmp/adm.err"
}
host key import --key-id lc/model/owned --policy-id lc-none --file "$tmp/v1.key" --owner acme >/dev/null 2>"$tmp/err" ||
  bad "host import --owner acme: $(cat "$tmp/err")"
tok=acme adm key disable --key-id lc/model/owned && ok "acme's token disables the key imported on the host for acme" ||
  bad "acme disable: $(head -c 300 "$tmp/adm.err")"
tok=other adm key enable --key-id lc/model/owned
grep -q admin.forbidden "$tmp/adm.err" && ok "another provider's token: admin.forbidden" || bad "other enable: $(head -c 300 "$tmp/adm.err")"
host key transfer --key-id lc/model/owned --owner other >/dev/null 2>"$tmp/err" ||
  bad "host transfer: $(cat "$tmp/err")"
tok=other adm key enable --key-id lc/model/owned && ok "after the transfer, the new owner's token enables it" ||
  bad "other enable after transfer: $(head -c 300 "$tmp/adm.err")"
tok=acme adm key disable --key-id lc/model/owned
grep -q admin.forbidden "$tmp/adm.err" && ok "after the transfer, the previous owner is admin.forbidden" ||
  bad "acme after transfer: $(head -c 300 "$tmp/adm.err")"
host key import --key-id lc/model/o2 --policy-id lc-none --file "$tmp/v1.key" --owner acme --issuer nobody-idp >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && ok "--issuer naming no configured admin issuer: exit 2" || bad "--issuer nobody-idp: exit $rc"
host key import --key-id lc/model/o3 --policy-id lc-none --file "$tmp/v1.key" --owner acme --issuer other-idp >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q "may assert" "$tmp/err" && ok "--owner acme --issuer other-idp (which cannot assert acme): exit 2" || bad "--issuer other-idp for acme: exit $rc"
host key transfer --key-id lc/model/missing --owner acme --issuer acme-idp >/dev/null 2>"$tmp/err"
grep -q key.not_found "$tmp/err" && ok "transfer of a missing key: key.not_found" || bad "transfer missing: $(head -c 200 "$tmp/err")"
# the admin API: the owner transfers its own key, and a provider cuts over its own key's rotation
tok=other adm key transfer --key-id lc/model/owned --owner acme --issuer other-idp
grep -q admin.subject_not_permitted "$tmp/adm.err" && ok "admin transfer to an owner no issuer asserts: admin.subject_not_permitted" ||
  bad "admin transfer to a bad owner: $(head -c 300 "$tmp/adm.err")"
tok=acme adm key transfer --key-id lc/model/owned --owner acme --issuer acme-idp
grep -q admin.forbidden "$tmp/adm.err" && ok "admin transfer by a non-owner: admin.forbidden" || bad "non-owner transfer: $(head -c 300 "$tmp/adm.err")"
tok=other adm key transfer --key-id lc/model/owned --owner acme --issuer acme-idp &&
  grep -q '"owner": *"acme"' "$tmp/adm.out" && ok "admin transfer by the owner (other -> acme)" ||
  bad "owner transfer: $(head -c 300 "$tmp/adm.err") $(head -c 300 "$tmp/adm.out")"
tok=acme adm key disable --key-id lc/model/owned && ok "after the admin transfer, acme manages the key again" ||
  bad "acme after admin transfer: $(head -c 300 "$tmp/adm.err")"
tok=acme adm key rotate --key-id lc/model/owned --file "$tmp/v2.key" || bad "acme rotate: $(head -c 300 "$tmp/adm.err")"
tok=other adm key cut-over --key-id lc/model/owned --key-version 1
grep -q admin.forbidden "$tmp/adm.err" && ok "admin cut-over by a non-owner: admin.forbidden" || bad "non-owner cut-over: $(head -c 300 "$tmp/adm.err")"
tok=acme adm key cut-over --key-id lc/model/owned --key-version 2
grep -q store.conflict "$tmp/adm.err" && ok "admin cut-over of the live version: store.conflict" || bad "admin cut-over v2: $(head -c 300 "$tmp/adm.err")"
tok=acme adm key cut-over --key-id lc/model/owned && grep -q '"ended": *1' "$tmp/adm.out" &&
  ok "admin cut-over by the owner ends the grace of v1" || bad "admin cut-over: $(head -c 300 "$tmp/adm.err") $(head -c 300 "$tmp/adm.out")"
tok=acme adm key cut-over --key-id lc/model/owned && grep -q '"ended": *0' "$tmp/adm.out" &&
  ok "a second cut-over ends nothing more" || bad "second cut-over: $(head -c 300 "$tmp/adm.out")"
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" 2>/dev/null
audit_has "the admin transfer (admin.key.transfer)" "r.get('key_id')=='lc/model/owned' and r.get('action')=='admin.key.transfer' and r.get('decision')=='allow'"
audit_has "the admin cut-over (admin.key.cut_over)" "r.get('key_id')=='lc/model/owned' and r.get('action')=='admin.key.cut_over' and r.get('decision')=='allow'"
audit_has "the transfer (host.key.transfer)" "r.get('key_id')=='lc/model/owned' and r.get('action')=='host.key.transfer' and r.get('decision')=='allow'"
audit_has "the import with an owner (host.key.import)" "r.get('key_id')=='lc/model/owned' and r.get('action')=='host.key.import' and r.get('decision')=='allow'"
# The transfer records name the new owner and its issuer (format-6 claims), as owner_transfers does.
audit_has "the admin transfer names the new owner (acme) and issuer (acme-idp)" "r.get('key_id')=='lc/model/owned' and r.get('action')=='admin.key.transfer' and r.get('decision')=='allow' and (r.get('claims') or {}).get('new_owner_subject')=='acme' and (r.get('claims') or {}).get('new_owner_issuer')=='acme-idp'"
audit_has "the host transfer names the new owner (other) and an issuer" "r.get('key_id')=='lc/model/owned' and r.get('action')=='host.key.transfer' and r.get('decision')=='allow' and (r.get('claims') or {}).get('new_owner_subject')=='other' and (r.get('claims') or {}).get('new_owner_issuer')"
audit_has "the import with --owner names its owner" "r.get('key_id')=='lc/model/owned' and r.get('action')=='host.key.import' and r.get('decision')=='allow' and (r.get('claims') or {}).get('new_owner_subject')=='acme'"
"$py" - "$tmp/audit.json" "$tmp/kbs.db" <<'PY' && ok "the transfer records and owner_transfers agree (same new owners, same order)" || bad "the transfer records and owner_transfers disagree"
import json, sqlite3, sys
doc = json.load(open(sys.argv[1]))
recs = doc["records"] if isinstance(doc, dict) else doc
audited = [((r.get("claims") or {}).get("new_owner_issuer"), (r.get("claims") or {}).get("new_owner_subject"))
           for r in sorted(recs, key=lambda r: r.get("seq", 0))
           if r.get("key_id") == "lc/model/owned" and r.get("decision") == "allow"
           and r.get("action") in ("host.key.transfer", "admin.key.transfer")]
db = sqlite3.connect(sys.argv[2])
rows = [tuple(x) for x in db.execute("SELECT to_issuer, to_subject FROM owner_transfers WHERE kind = 'key' AND "
                                      "object_id = 'lc/model/owned' AND from_subject <> '' ORDER BY rowid")]
print("audited:", audited, "owner_transfers:", rows)
sys.exit(0 if audited and audited == rows else 1)
PY

# ---- key IDs at admin import, and one size rule for resources (host and admin)
b64() { "$py" -c 'import base64,sys; print(base64.urlsafe_b64encode(open(sys.argv[1],"rb").read()).decode().rstrip("="))' "$1"; }
tok=acme adm policy set --file "$tmp/lc-none.json"
tok=acme adm key import --key-id acme/bad --policy-id lc-none --file "$tmp/v1.key"
grep -q key.id_invalid "$tmp/adm.err" && ok "admin import --key-id acme/bad: key.id_invalid" || bad "admin bad id: $(head -c 300 "$tmp/adm.err")"
head -c 1048576 /dev/urandom >"$tmp/mib"
head -c 1048577 /dev/urandom >"$tmp/mib1"
host key import --key-id lc/res/mib --policy-id lc-none --file "$tmp/mib" >/dev/null 2>"$tmp/err" &&
  ok "host import of a 1 MiB resource" || bad "host 1 MiB: $(head -c 300 "$tmp/err")"
host key import --key-id lc/res/mib1 --policy-id lc-none --file "$tmp/mib1" >/dev/null 2>"$tmp/err"
rc=$?
[ $rc -eq 2 ] && grep -q key.resource_too_large "$tmp/err" && ok "host import of 1 MiB + 1: exit 2 key.resource_too_large" ||
  bad "host 1 MiB + 1: exit $rc $(head -c 300 "$tmp/err")"
printf '{"key_id":"acme/res/mib","policy_id":"acme-none","key":"%s"}' "$(b64 "$tmp/mib")" >"$tmp/mib.json"
printf '{"key_id":"acme/res/mib1","policy_id":"acme-none","key":"%s"}' "$(b64 "$tmp/mib1")" >"$tmp/mib1.json"
sed 's/"lc-none"/"acme-none"/; s/"lc-none-snp"/"acme-none-snp"/' "$tmp/lc-none.json" >"$tmp/acme-none.json"
tok=acme adm policy set --file "$tmp/acme-none.json" || bad "acme policy: $(head -c 300 "$tmp/adm.err")"
st=$(curl -s -o "$tmp/resp" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/acme.jwt")" \
  -H 'content-type: application/json' --data-binary @"$tmp/mib.json" "$url/admin/v0/keys")
[ "$st" = 201 ] && ok "admin import of a 1 MiB resource: 201" || bad "admin 1 MiB: $st $(head -c 300 "$tmp/resp")"
st=$(curl -s -o "$tmp/resp" -w '%{http_code}' -H "Authorization: Bearer $(cat "$tmp/acme.jwt")" \
  -H 'content-type: application/json' --data-binary @"$tmp/mib1.json" "$url/admin/v0/keys")
[ "$st" = 400 ] && grep -q key.resource_too_large "$tmp/resp" && ok "admin import of 1 MiB + 1: 400 key.resource_too_large" ||
  bad "admin 1 MiB + 1: $st $(head -c 300 "$tmp/resp")"
: >"$tmp/empty"
host key import --key-id lc/res/empty --policy-id lc-none --file "$tmp/empty" >/dev/null 2>"$tmp/err"
grep -q key.resource_too_large "$tmp/err" && ok "an empty resource: key.resource_too_large" || bad "empty: $(head -c 200 "$tmp/err")"

echo "test_kbs_lifecycle: $fails failure(s)"
[ $fails -eq 0 ]
