#!/usr/bin/env bash
# `ccgate emulate snp --save-state/--load-state`: a saved emulated firmware signs later reports under the
# same test root (the agent's emulator attester and the demo rely on it), with the launch it was given.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

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
check() { # check NAME CONDITION-COMMAND...
  if "${@:2}"; then echo "ok   $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}

meas=$(printf 'ab%.0s' $(seq 1 48))
expect "save a state" 0 "TEST ROOT ONLY" -- "$cli" emulate snp --out-dir "$tmp/a" --save-state
for f in ark.pem ask.pem vcek.pem ark.key.pem ask.key.pem vcek.key.pem emulator.json; do
  check "state has $f" test -s "$tmp/a/$f"
done
check "private keys are 0600" test "$(stat -c %a "$tmp/a/vcek.key.pem")" = 600
expect "load it with another launch" 0 "" -- "$cli" emulate snp --out-dir "$tmp/b" --load-state "$tmp/a" \
  --measurement "$meas" --debug --save-state
check "same test root" cmp -s "$tmp/a/ark.pem" "$tmp/b/ark.pem"
check "same VCEK" cmp -s "$tmp/a/vcek.pem" "$tmp/b/vcek.pem"
check "the saved launch has the new measurement" grep -q "\"measurement\": \"$meas\"" "$tmp/b/emulator.json"
check "the saved launch is a debug guest" grep -q '"debug": true' "$tmp/b/emulator.json"
expect "the loaded state's report verifies under the first root" 1 "snp.debug_enabled" -- \
  "$cli" verify snp --report "$tmp/b/report.bin" --certs "$tmp/b/certs.pem" --trust-root "$tmp/a/ark.pem" \
  --trust-root-product milan --now 2026-06-01T00:00:00Z
expect "a fresh emulator (no state)" 0 "" -- "$cli" emulate snp --out-dir "$tmp/c"
expect "... is another root, which the first root does not accept" 1 "cert\." -- "$cli" verify snp \
  --report "$tmp/c/report.bin" --certs "$tmp/c/certs.pem" --trust-root "$tmp/a/ark.pem" --trust-root-product milan \
  --now 2026-06-01T00:00:00Z
expect "--product with --load-state is refused" 2 "load-state" -- "$cli" emulate snp --out-dir "$tmp/d" \
  --load-state "$tmp/a" --product genoa
expect "a missing state directory" 2 "attest.emulator_state_invalid" -- "$cli" emulate snp --out-dir "$tmp/e" \
  --load-state "$tmp/nonexistent"

echo "emulate state: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
