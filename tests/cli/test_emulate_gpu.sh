#!/usr/bin/env bash
# `ccgate emulate gpu` then `ccgate verify gpu`: the software GPU's evidence verifies only with its TEST
# root named (report, hex report and JSON form), each tampered variant is refused with its reason, a
# saved software GPU signs again under the same root, and bad options exit 2.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect NAME WANT_RC [grep pattern on stdout+stderr] -- command...
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

now=2030-01-01T00:00:00Z
nonce=5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a
other=a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5
g=$tmp/gpu

expect "emulate writes every output" 0 'TEST ROOT ONLY' -- \
  "$cli" emulate gpu --out-dir "$g" --nonce $nonce --save-state
for f in report.bin report.hex certs.pem root.pem rim-root.pem evidence.json nonce.hex gpu-emulator.json \
  rims/NV_GPU_DRIVER_GH100_550.90.07.xml rims/NV_GPU_VBIOS_1010_0200_882_96009F0001.xml; do
  if [ -s "$g/$f" ]; then passed=$((passed + 1)); else echo "FAIL missing $f"; failed=$((failed + 1)); fi
done
expect "the state file is private" 0 '^600$' -- stat -c %a "$g/gpu-emulator.json"
expect "five certificates, leaf first" 0 '^5$' -- grep -c 'BEGIN CERTIFICATE' "$g/certs.pem"
expect "the root says TEST" 0 'ccgate TEST GPU Root' -- openssl x509 -in "$g/root.pem" -noout -subject
expect "the RIM root says TEST" 0 'ccgate TEST RIM Root' -- openssl x509 -in "$g/rim-root.pem" -noout -subject
expect "nonce.hex is the nonce asked for" 0 "^$nonce\$" -- cat "$g/nonce.hex"

expect "verifies with the test root named" 0 'nonce: passed' -- \
  "$cli" verify gpu --report "$g/report.bin" --certs "$g/certs.pem" --trust-root "$g/root.pem" --nonce $nonce --now $now
expect "the hex report verifies too" 0 'driver 550\.90\.07 vbios 96\.00\.9F\.00\.01' -- \
  "$cli" verify gpu --report "$g/report.hex" --certs "$g/certs.pem" --trust-root "$g/root.pem" --nonce $nonce --now $now
expect "the JSON form verifies" 0 'gpu 0: allow HOPPER' -- \
  "$cli" verify gpu --evidence "$g/evidence.json" --trust-root "$g/root.pem" --nonce $nonce --now $now
expect "refused without the test root" 1 'gpu\.untrusted_root' -- \
  "$cli" verify gpu --report "$g/report.bin" --certs "$g/certs.pem" --nonce $nonce --now $now
expect "the RIM root is not a device root" 1 'gpu\.untrusted_root' -- \
  "$cli" verify gpu --report "$g/report.bin" --certs "$g/certs.pem" --trust-root "$g/rim-root.pem" --nonce $nonce \
  --now $now
expect "another session's nonce is refused" 1 'gpu\.nonce_mismatch' -- \
  "$cli" verify gpu --report "$g/report.bin" --certs "$g/certs.pem" --trust-root "$g/root.pem" --nonce $other --now $now
expect "json claims name the test root" 0 '"root": "test"' -- \
  "$cli" verify gpu --report "$g/report.bin" --certs "$g/certs.pem" --trust-root "$g/root.pem" --nonce $nonce \
  --now $now --json

# Tampered variants from the same (saved) software GPU.
tamper() { # NAME KIND WANT_RC PATTERN
  local d=$tmp/t-$1
  expect "emulate --tamper $2" 0 "tampered: $2" -- \
    "$cli" emulate gpu --out-dir "$d" --load-state "$g" --nonce $nonce --tamper "$2"
  expect "tamper $2 verifies as expected" "$3" "$4" -- \
    "$cli" verify gpu --report "$d/report.bin" --certs "$d/certs.pem" --trust-root "$g/root.pem" --nonce $nonce \
    --now $now
}
tamper sig signature 1 'gpu\.signature_invalid'
tamper fwid fwid 1 'gpu\.fwid_mismatch'
tamper nonce nonce 1 'gpu\.nonce_mismatch'
# These pass the device checks; the RIM comparison (verify gpu --rim) refuses them.
tamper meas measurement=7 0 'signature: passed'
tamper drv driver=560.35.03 0 'driver 560\.35\.03'
tamper cc cc_off 0 'signature: passed'
expect "a loaded GPU keeps its RIM names" 0 'NV_GPU_DRIVER_GH100_550\.90\.07' -- ls "$tmp/t-drv/rims"
expect "a loaded GPU keeps its root" 0 '' -- cmp "$g/root.pem" "$tmp/t-sig/root.pem"

b=$tmp/bw
expect "blackwell" 0 'BLACKWELL' -- "$cli" emulate gpu --out-dir "$b" --arch blackwell --driver 570.124.03 --nonce $nonce
expect "blackwell verifies" 0 'allow BLACKWELL driver 570\.124\.03' -- \
  "$cli" verify gpu --report "$b/report.bin" --certs "$b/certs.pem" --trust-root "$b/root.pem" --nonce $nonce --now $now
expect "blackwell driver RIM name" 0 'NV_GPU_CC_DRIVER_GB100_570\.124\.03\.xml' -- ls "$b/rims"
expect "two software GPUs do not share a root" 1 'gpu\.untrusted_root' -- \
  "$cli" verify gpu --report "$b/report.bin" --certs "$b/certs.pem" --trust-root "$g/root.pem" --nonce $nonce --now $now

expect "no --out-dir" 2 'out-dir is required' -- "$cli" emulate gpu
expect "a bad nonce" 2 'usage\.invalid' -- "$cli" emulate gpu --out-dir "$tmp/x" --nonce 1234
expect "a bad arch" 2 'usage\.invalid' -- "$cli" emulate gpu --out-dir "$tmp/x" --arch ampere
expect "a bad VBIOS version" 2 'usage\.invalid' -- "$cli" emulate gpu --out-dir "$tmp/x" --vbios 96.00
expect "an unsafe driver version" 2 'gpu\.rim_id_invalid' -- "$cli" emulate gpu --out-dir "$tmp/x" --driver '../x'
expect "an unknown tamper" 2 'usage\.invalid' -- "$cli" emulate gpu --out-dir "$tmp/x" --tamper everything
expect "a measurement index out of range" 2 'usage\.invalid' -- \
  "$cli" emulate gpu --out-dir "$tmp/x" --tamper measurement=40
expect "--arch with --load-state" 2 'usage\.invalid' -- \
  "$cli" emulate gpu --out-dir "$tmp/x" --load-state "$g" --arch blackwell
expect "a missing state" 2 'attest\.emulator_state_invalid' -- \
  "$cli" emulate gpu --out-dir "$tmp/x" --load-state "$tmp/none"
expect "help" 0 'TEST roots' -- "$cli" emulate gpu --help

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
