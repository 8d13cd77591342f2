#!/usr/bin/env bash
# Dependency health of the keystore, end to end against the real ccgate-kbs daemon (one process, its PID
# checked unchanged at the end of each half):
#   PKCS#11 (SoftHSM2): the token's directory is moved out of the token directory while the broker
#     runs: /readyz answers 503 kms.unavailable, a release is refused with kms.unavailable; the token is
#     moved back: /readyz is ready again and a release succeeds (the keystore re-initialises the module
#     by itself; SoftHSM2 reads its token directory only in C_Initialize).
#   file: the KEK file is moved away: /readyz 503 kms.kek_missing, a release refused with it; another
#     KEK in its place: kms.kek_changed; the original back: ready, and a release succeeds.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
module=${CCG_SOFTHSM2_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v python3 >/dev/null || skip_or_fail "python3 is missing (the guest is written in Python)"
command -v softhsm2-util >/dev/null && [ -r "$module" ] || skip_or_fail "SoftHSM2 is missing (apt-get install softhsm2)"
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
rc=0

meas=$(printf 'ce%.0s' $(seq 48))
"$cli" emulate snp --out-dir "$tmp/emu" --save-state --measurement "$meas" >/dev/null || { echo "FAIL emulate"; exit 1; }
tl_emulator_tcb_baseline "$tmp" || { echo "FAIL tcb-baseline"; exit 1; }
python3 - "$tmp" "$meas" <<'PY'
import json, sys
tmp, meas = sys.argv[1], sys.argv[2]
policy = {"policy_id": "model-h", "version": 1, "allowed_tees": ["snp"],
          "trusted_roots": [{"product": "milan", "pem": open(tmp + "/emu/ark.pem").read()}],
          "snp_policy": {"policy_id": "model-h-snp", "version": 1, "allowed_measurements": [meas]}}
json.dump(policy, open(tmp + "/policy.json", "w"))
PY
head -c 32 /dev/urandom >"$tmp/model.key"
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tee.key" 2>/dev/null
openssl ec -in "$tmp/tee.key" -pubout -outform DER -out "$tmp/tee.pub.der" 2>/dev/null

guest=$(dirname "$0")/../support/kbs_guest_release.py

ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; rc=1; }
expect() { # name want got
  if [ "$3" = "$2" ]; then ok "$1 ($3)"; else bad "$1: expected '$2', got '$3'"; tail -5 "$tmp/daemon.log"; fi
}
probe() { CCG_CLI=$cli TMP=$tmp PORT=$port MEAS=$meas python3 "$guest" probe; }
release() { CCG_CLI=$cli TMP=$tmp PORT=$port MEAS=$meas python3 "$guest" release "$1"; }
# Polls /readyz until it answers $1 (the keystore re-initialises a module at most once a second).
wait_probe() {
  local got
  for _ in $(seq 50); do got=$(probe); [ "$got" = "$1" ] && break; sleep 0.2; done
  echo "$got"
}
start() { # config
  rm -f "$tmp/port"
  tl_spawn "$kbs" serve --config "$1" --insecure-http --port-file "$tmp/port" 2>"$tmp/daemon.log"
  pid=$!
  for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { echo "FAIL the daemon did not start"; cat "$tmp/daemon.log"; exit 1; }
  port=$(cat "$tmp/port")
}
stop() { kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; }
same_pid() { if kill -0 "$pid" 2>/dev/null; then ok "$1: the same daemon (PID $pid) served throughout"; else bad "$1: the daemon is gone"; fi; }

# ---- PKCS#11: SoftHSM2 in a private token directory ----
mkdir -p "$tmp/tokens" "$tmp/away"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$tmp/tokens" >"$tmp/softhsm2.conf"
export SOFTHSM2_CONF=$tmp/softhsm2.conf
softhsm2-util --init-token --free --label ccgate --so-pin 5678 --pin 1234 >/dev/null || { echo "FAIL init-token"; exit 1; }
printf '1234' >"$tmp/pin"; chmod 600 "$tmp/pin"
cat >"$tmp/hsm.json" <<EOF
{"store":"$tmp/hsm.db","port":0,"nonce_ttl":60,"attestation_policy":"model-h","allow_unlocked_memory":true,
 "keystore":{"backend":"pkcs11","module":"$module","token_label":"ccgate","pin_file":"$tmp/pin"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
"$kbs" create-kek --config "$tmp/hsm.json" >/dev/null || { echo "FAIL create-kek (pkcs11)"; exit 1; }
"$kbs" set-policy --config "$tmp/hsm.json" --file "$tmp/policy.json" >/dev/null || { echo "FAIL set-policy"; exit 1; }
"$kbs" import-key --config "$tmp/hsm.json" --key-id health/model/k --policy-id model-h --file "$tmp/model.key" \
  >/dev/null || { echo "FAIL import-key (pkcs11)"; exit 1; }
start "$tmp/hsm.json"
expect "pkcs11: ready at start" "200 ready" "$(probe)"
expect "pkcs11: a release before the outage" "200 released" "$(release health/model/k)"
token=$(ls "$tmp/tokens")
mv "$tmp/tokens/$token" "$tmp/away/"
expect "pkcs11: token gone: /readyz names the cause" "503 kms.unavailable" "$(wait_probe "503 kms.unavailable")"
if CCG_CLI=$cli TMP=$tmp PORT=$port python3 -c '
import json, os, urllib.request, urllib.error
try: urllib.request.urlopen("http://127.0.0.1:%s/readyz" % os.environ["PORT"])
except urllib.error.HTTPError as e: d = json.loads(e.read()); raise SystemExit(0 if "ccgate" in d["detail"] and "CKR_" in d["detail"] else 1)
raise SystemExit(1)'; then ok "pkcs11: the detail names the token and the CKR value"
else bad "pkcs11: the readiness detail names neither the token nor a CKR value"; fi
expect "pkcs11: token gone: a release is refused" "503 kms.unavailable" "$(release health/model/k)"
mv "$tmp/away/$token" "$tmp/tokens/"
expect "pkcs11: token back: ready again without a restart" "200 ready" "$(wait_probe "200 ready")"
expect "pkcs11: token back: a release succeeds" "200 released" "$(release health/model/k)"
# A second outage and return, this time noticed first by a release rather than a probe.
mv "$tmp/tokens/$token" "$tmp/away/"
expect "pkcs11: second outage: a release is refused" "503 kms.unavailable" "$(release health/model/k)"
mv "$tmp/away/$token" "$tmp/tokens/"
got=
for _ in $(seq 30); do got=$(release health/model/k); [ "$got" = "200 released" ] && break; sleep 0.3; done
expect "pkcs11: second return: a release succeeds" "200 released" "$got"
same_pid pkcs11
stop

# ---- file: the KEK file moved away, replaced, restored ----
cat >"$tmp/file.json" <<EOF
{"store":"$tmp/file.db","port":0,"nonce_ttl":60,"attestation_policy":"model-h","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
"$kbs" create-kek --config "$tmp/file.json" >/dev/null || { echo "FAIL create-kek (file)"; exit 1; }
"$kbs" set-policy --config "$tmp/file.json" --file "$tmp/policy.json" >/dev/null || { echo "FAIL set-policy"; exit 1; }
"$kbs" import-key --config "$tmp/file.json" --key-id health/model/f --policy-id model-h --file "$tmp/model.key" \
  >/dev/null || { echo "FAIL import-key (file)"; exit 1; }
start "$tmp/file.json"
expect "file: ready at start" "200 ready" "$(probe)"
expect "file: a release before" "200 released" "$(release health/model/f)"
mv "$tmp/kek" "$tmp/kek.away"
expect "file: KEK moved away: /readyz names the cause" "503 kms.kek_missing" "$(probe)"
expect "file: KEK moved away: a release is refused" "503 kms.kek_missing" "$(release health/model/f)"
head -c 32 /dev/urandom >"$tmp/kek"; chmod 600 "$tmp/kek"
expect "file: another KEK in its place: /readyz names the cause" "503 kms.kek_changed" "$(probe)"
expect "file: another KEK in its place: a release is refused" "503 kms.kek_changed" "$(release health/model/f)"
rm -f "$tmp/kek"; cp -p "$tmp/kek.away" "$tmp/kek"
expect "file: the original back (a copy): ready" "200 ready" "$(probe)"
expect "file: the original back: a release succeeds" "200 released" "$(release health/model/f)"
chmod 644 "$tmp/kek"
expect "file: the KEK made world-readable: not ready" "503 kms.config_invalid" "$(probe)"
chmod 600 "$tmp/kek"
expect "file: mode fixed: ready" "200 ready" "$(probe)"
same_pid file
stop
exit $rc
