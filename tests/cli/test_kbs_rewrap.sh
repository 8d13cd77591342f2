#!/usr/bin/env bash
# KEK rotation with `ccgate-kbs kek rewrap` (docs/keystore.md "Rotating the KEK"), file keystores:
#   - a run killed midway (SIGKILL from the test-build hook CCG_TEST_REWRAP_CRASH_AFTER) leaves each key
#     version whole: under the old KEK or under the new one, never half;
#   - the rerun continues where it stopped (it re-wraps only the rest; nothing is wrapped twice); a third
#     run changes nothing;
#   - afterwards every stored version, retired ones too, and the token-signing key decrypt under the new
#     KEK only (checked independently in Python from the documented blob format), the audit chain
#     verifies with one host.kek.rewrap record per re-wrapped version, and the broker configured with the
#     new keystore releases a key with the old KEK file gone;
#   - refusals: the current label again (kms.config_invalid), an unreadable new keystore.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
python3 -c 'import cryptography' 2>/dev/null || skip_or_fail "python3-cryptography is missing (the independent check)"
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
guest=$(dirname "$0")/../support/kbs_guest_release.py
rc=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; rc=1; }

meas=$(printf 'cf%.0s' $(seq 48))
"$cli" emulate snp --out-dir "$tmp/emu" --save-state --measurement "$meas" >/dev/null || { echo "FAIL emulate"; exit 1; }
tl_emulator_tcb_baseline "$tmp" || { echo "FAIL tcb-baseline"; exit 1; }
python3 - "$tmp" "$meas" <<'PY'
import json, sys
tmp, meas = sys.argv[1], sys.argv[2]
policy = {"policy_id": "model-r", "version": 1, "allowed_tees": ["snp"],
          "trusted_roots": [{"product": "milan", "pem": open(tmp + "/emu/ark.pem").read()}],
          "snp_policy": {"policy_id": "model-r-snp", "version": 1, "allowed_measurements": [meas]}}
json.dump(policy, open(tmp + "/policy.json", "w"))
PY
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tee.key" 2>/dev/null
openssl ec -in "$tmp/tee.key" -pubout -outform DER -out "$tmp/tee.pub.der" 2>/dev/null
for n in old new; do
  label=$([ $n = old ] && echo ccgate-kek || echo ccgate-kek-2)
  cat >"$tmp/kbs-$n.json" <<EOF
{"store":"$tmp/kbs.db","port":0,"nonce_ttl":60,"attestation_policy":"model-r","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek-$n","kek_label":"$label"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
done
echo "{\"backend\":\"file\",\"kek_file\":\"$tmp/kek-new\",\"kek_label\":\"ccgate-kek-2\"}" >"$tmp/new-keystore.json"
echo "{\"backend\":\"file\",\"kek_file\":\"$tmp/kek-new\",\"kek_label\":\"ccgate-kek\"}" >"$tmp/same-label.json"
echo "{\"backend\":\"file\",\"kek_file\":\"$tmp/nothere\",\"kek_label\":\"ccgate-kek-3\"}" >"$tmp/missing.json"

"$kbs" kek create --config "$tmp/kbs-old.json" >/dev/null || { echo "FAIL kek create (old)"; exit 1; }
"$kbs" kek create --config "$tmp/kbs-new.json" >/dev/null || { echo "FAIL kek create (new)"; exit 1; }
"$kbs" policy set --config "$tmp/kbs-old.json" --file "$tmp/policy.json" >/dev/null || { echo "FAIL policy set"; exit 1; }
# Six keys, one rotated twice: eight key versions, two of them retired.
for i in 1 2 3 4 5 6; do
  head -c 32 /dev/urandom >"$tmp/k$i"
  "$kbs" key import --config "$tmp/kbs-old.json" --key-id rw/model/k$i --policy-id model-r --file "$tmp/k$i" \
    >/dev/null || { echo "FAIL import k$i"; exit 1; }
done
for v in 2 3; do
  head -c 32 /dev/urandom >"$tmp/k1.v$v"
  "$kbs" key rotate --config "$tmp/kbs-old.json" --key-id rw/model/k1 --file "$tmp/k1.v$v" >/dev/null ||
    { echo "FAIL rotate"; exit 1; }
done
cp "$tmp/k1" "$tmp/k1.v1"
# A release under the old KEK, which also makes the broker store its token-signing key.
start() { # config
  rm -f "$tmp/port"
  tl_spawn "$kbs" serve --config "$1" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { echo "FAIL the daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
  port=$(cat "$tmp/port")
}
release() { CCG_CLI=$cli TMP=$tmp PORT=$port MEAS=$meas python3 "$guest" release "$1"; }
start "$tmp/kbs-old.json"
got=$(release rw/model/k2)
[ "$got" = "200 released" ] && ok "a release under the old KEK" || bad "a release under the old KEK: $got"
kill "$pid"; wait "$pid" 2>/dev/null

# Which label each stored version carries: "key_id/version=label ..." sorted.
labels() { python3 - "$tmp/kbs.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
print(" ".join("%s/%d=%s" % r for r in db.execute("SELECT key_id, version, kek_label FROM keys ORDER BY key_id, version")))
PY
}
count() { labels | tr ' ' '\n' | grep -c "=$1\$"; }

# Refusals first: they change nothing.
"$kbs" kek rewrap --config "$tmp/kbs-old.json" --file "$tmp/same-label.json" >/dev/null 2>"$tmp/err"
st=$?
if [ $st -ne 0 ] && grep -q '"reason":"kms.config_invalid"' "$tmp/err" && [ "$(count ccgate-kek-2)" = 0 ]; then
  ok "the current label as the new one is refused (kms.config_invalid), nothing changed"
else bad "same-label rewrap: exit $st $(cat "$tmp/err")"; fi
"$kbs" kek rewrap --config "$tmp/kbs-old.json" --file "$tmp/missing.json" >/dev/null 2>"$tmp/err"
st=$?
if [ $st -ne 0 ] && grep -q '"reason":"kms.unavailable"' "$tmp/err" && [ "$(count ccgate-kek-3)" = 0 ]; then
  ok "a new keystore whose KEK cannot be read is refused (kms.unavailable), nothing changed"
else bad "missing-KEK rewrap: exit $st $(cat "$tmp/err")"; fi

# The crash: SIGKILL right after the third version is re-wrapped.
CCG_TEST_REWRAP_CRASH_AFTER=3 "$kbs" kek rewrap --config "$tmp/kbs-old.json" --file "$tmp/new-keystore.json" \
  >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 137 ] && [ "$(count ccgate-kek-2)" = 3 ] && [ "$(count ccgate-kek)" = 5 ]; then
  ok "killed midway: 3 versions under the new KEK, 5 under the old ($(labels))"
else bad "the crash run: exit $st, $(labels)"; fi
"$kbs" kek rewrap --config "$tmp/kbs-old.json" --file "$tmp/new-keystore.json" >"$tmp/out" 2>"$tmp/err"
st=$?
if [ $st -eq 0 ] && [ "$(cat "$tmp/out")" = '{"rewrapped":5,"already":3,"token_key":"rewrapped"}' ] &&
   [ "$(count ccgate-kek-2)" = 8 ]; then
  ok "the rerun continues: $(cat "$tmp/out")"
else bad "the rerun: exit $st $(cat "$tmp/out") $(cat "$tmp/err")"; fi
"$kbs" kek rewrap --config "$tmp/kbs-old.json" --file "$tmp/new-keystore.json" >"$tmp/out" 2>"$tmp/err"
if [ "$(cat "$tmp/out")" = '{"rewrapped":0,"already":8,"token_key":"already"}' ]; then
  ok "a third run changes nothing: $(cat "$tmp/out")"
else bad "the third run: $(cat "$tmp/out") $(cat "$tmp/err")"; fi

# Independently: every version (and the token-signing key) opens under the new KEK only, to its key.
if python3 - "$tmp" <<'PY'
import sqlite3, sys
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
tmp = sys.argv[1]
old, new = open(tmp + "/kek-old", "rb").read(), open(tmp + "/kek-new", "rb").read()
def opens(kek, blob, aad):
    hdr, nonce, n = blob[:56], blob[40:52], int.from_bytes(blob[52:56], "big")
    try:
        return AESGCM(kek).decrypt(nonce, blob[56:56 + n + 16], hdr + aad)
    except Exception:
        return None
db = sqlite3.connect(tmp + "/kbs.db")
bad = 0
for kid, ver, blob in db.execute("SELECT key_id, version, wrapped FROM keys"):
    aad = b"ccgate-kbs/key\0" + kid.encode() + b"\0" + str(ver).encode()
    want = open("%s/%s" % (tmp, kid.split("/")[-1] + (".v%d" % ver if kid.endswith("k1") else "")), "rb").read()
    if opens(new, blob, aad) != want or opens(old, blob, aad) is not None:
        print("  %s v%d does not open under the new KEK only" % (kid, ver)); bad += 1
(tok,) = db.execute("SELECT value FROM settings WHERE name = 'kbs.token-signing-key'").fetchone()
if opens(new, tok, b"ccgate-kbs/token-signing-key") is None or opens(old, tok, b"ccgate-kbs/token-signing-key"):
    print("  the token-signing key does not open under the new KEK only"); bad += 1
raise SystemExit(1 if bad else 0)
PY
then ok "all 8 versions and the token-signing key open under the new KEK only, to their keys"
else bad "the independent check"; fi

# The audit: the chain verifies; one host.kek.rewrap allow record per re-wrapped version (3 + 5).
if "$cli" audit verify --db "$tmp/kbs.db" >"$tmp/verify" 2>&1; then ok "the audit chain verifies"
else bad "audit verify: $(cat "$tmp/verify")"; fi
n=$("$cli" audit list --db "$tmp/kbs.db" --json 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
recs = doc if isinstance(doc, list) else doc.get("records", [])
print(sum(1 for r in recs if r.get("action") == "host.kek.rewrap" and r.get("decision") == "allow" and r.get("key_id")))')
[ "$n" = 8 ] && ok "8 host.kek.rewrap records, one per re-wrapped version" || bad "host.kek.rewrap records: $n"

# The broker on the new keystore, the old KEK file gone: releases (the token key unwraps too).
mv "$tmp/kek-old" "$tmp/kek-old.gone"
start "$tmp/kbs-new.json"
got=$(release rw/model/k1)
[ "$got" = "200 released" ] && ok "the broker on the new KEK alone releases the rotated key" ||
  bad "release on the new KEK: $got"
got=$(release rw/model/k6)
[ "$got" = "200 released" ] && ok "and another key" || bad "release k6 on the new KEK: $got"
kill "$pid"; wait "$pid" 2>/dev/null

# ---- file keystores without downtime: the broker runs on the new KEK with "previous" naming the old
# one while `kek rewrap` (no --file: into the configured KEK) moves the keys, interrupted once.
cat >"$tmp/cfg-a.json" <<EOF
{"store":"$tmp/z.db","port":0,"nonce_ttl":60,"attestation_policy":"model-r","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek-a","kek_label":"ka"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
sed "s|\"keystore\":{[^}]*}|\"keystore\":{\"backend\":\"file\",\"kek_file\":\"$tmp/kek-b\",\"kek_label\":\"kb\",\"previous\":{\"backend\":\"file\",\"kek_file\":\"$tmp/kek-a\",\"kek_label\":\"ka\"}}|" \
  "$tmp/cfg-a.json" >"$tmp/cfg-ab.json"
sed "s|\"keystore\":{[^}]*}|\"keystore\":{\"backend\":\"file\",\"kek_file\":\"$tmp/kek-b\",\"kek_label\":\"kb\"}|" \
  "$tmp/cfg-a.json" >"$tmp/cfg-b.json"
"$kbs" kek create --config "$tmp/cfg-a.json" >/dev/null && "$kbs" kek create --config "$tmp/cfg-b.json" >/dev/null &&
  "$kbs" policy set --config "$tmp/cfg-a.json" --file "$tmp/policy.json" >/dev/null || { echo "FAIL setup (previous)"; exit 1; }
for i in 1 2 3; do
  "$kbs" key import --config "$tmp/cfg-a.json" --key-id z/model/k$i --policy-id model-r --file "$tmp/k$i" >/dev/null ||
    { echo "FAIL import z$i"; exit 1; }
done
start "$tmp/cfg-ab.json"
got=$(release z/model/k1)
[ "$got" = "200 released" ] && ok "previous: the broker on the new KEK releases a key still under the old one" ||
  bad "previous: release before: $got"
CCG_TEST_REWRAP_CRASH_AFTER=1 "$kbs" kek rewrap --config "$tmp/cfg-ab.json" >"$tmp/out" 2>"$tmp/err"
st=$?
[ $st -eq 137 ] && ok "previous: a run into the configured KEK killed after one version" || bad "previous: crash run: exit $st"
got="$(release z/model/k1) / $(release z/model/k2) / $(release z/model/k3)"
[ "$got" = "200 released / 200 released / 200 released" ] &&
  ok "previous: the running broker releases every key, re-wrapped or not" || bad "previous: mid-run releases: $got"
"$kbs" kek rewrap --config "$tmp/cfg-ab.json" >"$tmp/out" 2>"$tmp/err"
[ "$(cat "$tmp/out")" = '{"rewrapped":2,"already":1,"token_key":"already"}' ] &&
  ok "previous: the rerun finishes: $(cat "$tmp/out")" || bad "previous: rerun: $(cat "$tmp/out") $(cat "$tmp/err")"
kill "$pid"; wait "$pid" 2>/dev/null
mv "$tmp/kek-a" "$tmp/kek-a.gone"
start "$tmp/cfg-b.json"
got="$(release z/model/k1) / $(release z/model/k3)"
[ "$got" = "200 released / 200 released" ] && ok "previous: dropped, the old KEK file gone: releases" ||
  bad "previous: after dropping it: $got"
kill "$pid"; wait "$pid" 2>/dev/null

# ---- PKCS#11: a new KEK label in the same token. Each version is unwrapped under the label stored
# beside it, so a broker still configured with the old label serves every key throughout the run, the
# interrupted one included.
module=${CCG_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
if ! command -v softhsm2-util >/dev/null || [ ! -r "$module" ]; then
  [ "${CI:-}" = true ] && bad "SoftHSM2 is missing (CI=true)" || echo "SKIP the PKCS#11 half: SoftHSM2 is missing"
  exit $rc
fi
mkdir -p "$tmp/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$tmp/tokens" >"$tmp/softhsm2.conf"
export SOFTHSM2_CONF=$tmp/softhsm2.conf
softhsm2-util --init-token --free --label ccgate --so-pin 5678 --pin 1234 >/dev/null || { echo "FAIL init-token"; exit 1; }
printf '1234' >"$tmp/pin"; chmod 600 "$tmp/pin"
for n in old new; do
  label=$([ $n = old ] && echo ccgate-kek || echo ccgate-kek-2)
  ks="{\"backend\":\"pkcs11\",\"module\":\"$module\",\"token_label\":\"ccgate\",\"pin_file\":\"$tmp/pin\",\"kek_label\":\"$label\"}"
  echo "$ks" >"$tmp/hsm-keystore-$n.json"
  cat >"$tmp/hsm-$n.json" <<EOF
{"store":"$tmp/hsm.db","port":0,"nonce_ttl":60,"attestation_policy":"model-r","allow_unlocked_memory":true,
 "keystore":$ks,
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
  "$kbs" kek create --config "$tmp/hsm-$n.json" >/dev/null || { echo "FAIL kek create (pkcs11 $n)"; exit 1; }
done
"$kbs" policy set --config "$tmp/hsm-old.json" --file "$tmp/policy.json" >/dev/null || { echo "FAIL policy set"; exit 1; }
for i in 1 2; do
  "$kbs" key import --config "$tmp/hsm-old.json" --key-id hsm/model/k$i --policy-id model-r --file "$tmp/k$i" \
    >/dev/null || { echo "FAIL import hsm k$i"; exit 1; }
done
start "$tmp/hsm-old.json"
got=$(release hsm/model/k1)
[ "$got" = "200 released" ] && ok "pkcs11: a release before the rotation" || bad "pkcs11 release before: $got"
CCG_TEST_REWRAP_CRASH_AFTER=1 "$kbs" kek rewrap --config "$tmp/hsm-old.json" --file "$tmp/hsm-keystore-new.json" \
  >"$tmp/out" 2>"$tmp/err"
st=$?
hsm_labels=$(python3 -c 'import sqlite3,sys; print(" ".join("%s=%s" % r for r in sqlite3.connect(sys.argv[1]).execute("SELECT key_id, kek_label FROM keys ORDER BY key_id")))' "$tmp/hsm.db")
[ $st -eq 137 ] && [ "$hsm_labels" = "hsm/model/k1=ccgate-kek-2 hsm/model/k2=ccgate-kek" ] &&
  ok "pkcs11: killed midway ($hsm_labels)" || bad "pkcs11 crash run: exit $st $hsm_labels"
got="$(release hsm/model/k1) / $(release hsm/model/k2)"
[ "$got" = "200 released / 200 released" ] && ok "pkcs11: the running broker serves both KEKs meanwhile" ||
  bad "pkcs11 mid-rotation releases: $got"
"$kbs" kek rewrap --config "$tmp/hsm-old.json" --file "$tmp/hsm-keystore-new.json" >"$tmp/out" 2>"$tmp/err"
[ "$(cat "$tmp/out")" = '{"rewrapped":1,"already":1,"token_key":"rewrapped"}' ] &&
  ok "pkcs11: the rerun continues: $(cat "$tmp/out")" || bad "pkcs11 rerun: $(cat "$tmp/out") $(cat "$tmp/err")"
kill "$pid"; wait "$pid" 2>/dev/null
start "$tmp/hsm-new.json"
got="$(release hsm/model/k1) / $(release hsm/model/k2)"
[ "$got" = "200 released / 200 released" ] && ok "pkcs11: the broker on the new label releases both" ||
  bad "pkcs11 releases on the new label: $got"
kill "$pid"; wait "$pid" 2>/dev/null
exit $rc
