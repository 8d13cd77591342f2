#!/usr/bin/env bash
# `ccgate channel serve` and `ccgate channel send`: help, usage errors (exit 2), a verified echo
# (exit 0), a refused server (exit 1: wrong measurement, debug guest, untrusted root) with the cause
# printed, stdin as the message, and a server that stops cleanly on SIGTERM leaving no listener.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
passed=0
failed=0
tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

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

good=$(printf 'ab%.0s' $(seq 48))
wrong=$(printf 'cd%.0s' $(seq 48))
cat >"$tmp/policy.json" <<JSON
{"policy_id": "client", "version": 1, "allowed_measurements": ["$good"]}
JSON
cat >"$tmp/unpinned.json" <<JSON
{"policy_id": "client", "version": 1, "debug_allowed": false}
JSON

# The client's policy accepts the TCB status UpToDate only: a test authority signs a baseline of the
# emulator's Milan TCB (docs/snp-tcb-baseline.md).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null
openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null
"$cli" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
  --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 --out "$tmp/b.json" >/dev/null
"$cli" tcb-baseline sign --in "$tmp/b.json" --key "$tmp/authority.key" --issuer authority --out "$tmp/milan.json" >/dev/null
tcb=(--tcb-baseline "$tmp/milan.json" --issuer-key "authority=$tmp/authority.pub")

# start_server NAME ARGS...: starts a server in the background, sets $port
start_server() {
  local name=$1
  shift
  "$cli" channel serve --emulate-dir "$tmp/$name" --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  pids+=($!)
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.out" 2>/dev/null)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "FAIL $name: the server did not start"; cat "$tmp/$name.err"; failed=$((failed + 1))
}

expect "channel --help" 0 "serve\|send" -- "$cli" channel --help
expect "serve --help" 0 "emulate-dir" -- "$cli" channel serve --help
expect "send --help" 0 "--connect" -- "$cli" channel send --help
expect "no subcommand" 2 "" -- "$cli" channel
expect "serve without --emulate-dir" 2 "emulate-dir" -- "$cli" channel serve
expect "send without --connect" 2 "connect" -- "$cli" channel send --policy "$tmp/policy.json" --message x
expect "send without --policy" 2 "--policy is required" -- "$cli" channel send --connect 127.0.0.1:1 --message x
expect "send with an unpinned policy" 2 "usage.invalid.*pins no measurement" -- \
  "$cli" channel send --connect 127.0.0.1:1 --policy "$tmp/unpinned.json" --message x
expect "send bad --connect" 2 "usage.invalid" -- "$cli" channel send --connect nowhere --policy "$tmp/policy.json" --message x
expect "send bad --aead" 2 "aead" -- "$cli" channel send --connect 127.0.0.1:1 --policy "$tmp/policy.json" --aead rot13 --message x
expect "send nobody listening" 2 "channel.io" -- "$cli" channel send --connect 127.0.0.1:1 --policy "$tmp/policy.json" --message x

start_server good --measurement "$good"
good_port=$port
common=(--policy "$tmp/policy.json" --trust-root "$tmp/good/ark.pem" --now 2026-06-01T00:00:00Z "${tcb[@]}")
expect "send: verified echo" 0 "^second prompt$" -- \
  "$cli" channel send --connect "127.0.0.1:$good_port" "${common[@]}" --message "first prompt" --message "second prompt"
expect "send: aes-128-gcm" 0 "^hello$" -- \
  "$cli" channel send --connect "127.0.0.1:$good_port" "${common[@]}" --aead aes-128-gcm --message hello
out=$(echo "from stdin" | "$cli" channel send --connect "127.0.0.1:$good_port" "${common[@]}" 2>/dev/null)
if [ "$out" = "from stdin" ]; then echo "ok   send: stdin"; passed=$((passed + 1)); else echo "FAIL send: stdin: '$out'"; failed=$((failed + 1)); fi
expect "send: untrusted root" 1 "channel.evidence_denied.*|cert\." -- \
  "$cli" channel send --connect "127.0.0.1:$good_port" --policy "$tmp/policy.json" --now 2026-06-01T00:00:00Z --message x

expect "send: no TCB baseline, refused" 1 "cause: snp.tcb_baseline_missing" -- \
  "$cli" channel send --connect "127.0.0.1:$good_port" --policy "$tmp/policy.json" --trust-root "$tmp/good/ark.pem" \
  --now 2026-06-01T00:00:00Z --message "must not leave"

start_server wrong --measurement "$wrong"
expect "send: wrong measurement" 1 "cause: snp.measurement_not_allowed" -- \
  "$cli" channel send --connect "127.0.0.1:$port" --policy "$tmp/policy.json" --trust-root "$tmp/wrong/ark.pem" \
  --now 2026-06-01T00:00:00Z "${tcb[@]}" --message "must not leave"
start_server debug --measurement "$good" --debug
expect "send: debug guest" 1 "cause: snp.debug_enabled" -- \
  "$cli" channel send --connect "127.0.0.1:$port" --policy "$tmp/policy.json" --trust-root "$tmp/debug/ark.pem" \
  --now 2026-06-01T00:00:00Z "${tcb[@]}" --message "must not leave"

# the server logged one line per connection; a refused client never reached the echo
if grep -q "must not leave" "$tmp"/*.out; then echo "FAIL: a refused client's message reached a server"; failed=$((failed + 1)); else echo "ok   no message after a refusal"; passed=$((passed + 1)); fi
if grep -q ": ok$" "$tmp/good.err"; then echo "ok   server log"; passed=$((passed + 1)); else echo "FAIL server log"; cat "$tmp/good.err"; failed=$((failed + 1)); fi

# SIGTERM: exit 0 and no listener left
for p in "${pids[@]}"; do
  kill -TERM "$p"
  wait "$p"
  rc=$?
  if [ "$rc" -eq 0 ]; then echo "ok   server $p stopped"; passed=$((passed + 1)); else echo "FAIL server $p exit $rc"; failed=$((failed + 1)); fi
done
pids=()
expect "no listener left" 2 "channel.io" -- "$cli" channel send --connect "127.0.0.1:$good_port" --policy "$tmp/policy.json" --message x

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
