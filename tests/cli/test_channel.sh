#!/usr/bin/env bash
# `ccgate channel serve` and `ccgate channel send`: help, usage errors (exit 2), a verified echo
# (exit 0), a refused server (exit 1: wrong measurement, debug guest, untrusted root) with the cause
# printed, stdin as the message, a man in the middle (flipped transcript MACs, a forged ALERT after M2),
# and a server that stops cleanly on SIGTERM leaving no listener.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
passed=0
failed=0
tmp=$(mktemp -d)
pids=()
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
  tl_spawn "$cli" channel serve --emulate-dir "$tmp/$name" --port 0 "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
  pids+=($!)
  port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/$name.out" 2>/dev/null)
    [ -n "$port" ] && return 0
    sleep 0.1
  done
  echo "FAIL $name: the server did not start"; cat "$tmp/$name.err"; failed=$((failed + 1))
}

expect "channel --help" 0 "serve.*send|send" -- "$cli" channel --help
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

# ---- a man in the middle in front of the real server, the CLI as the client (issue 10: a second,
# end-to-end test of the transcript MACs and of the ALERT rule; test_channel_mitm is the first).
# proxy.py DIR INDEX ACTION [ARG]: forwards one connection, acting on record INDEX of DIR (c2s|s2c):
# "none", "flip OFFSET" XORs one byte, "alert CODE" replaces the record with an ALERT naming CODE.
cat >"$tmp/proxy.py" <<'PY'
import selectors, socket, sys
upstream, dirname, index, action, arg = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
ls.settimeout(30)
c, _ = ls.accept()
s = socket.create_connection(("127.0.0.1", upstream))
peer = {c: s, s: c}
name = {c: "c2s", s: "s2c"}
buf = {c: b"", s: b""}
count = {c: 0, s: 0}
sel = selectors.DefaultSelector()
for x in (c, s):
    sel.register(x, selectors.EVENT_READ)
open_socks = 2
while open_socks:
    events = sel.select(30)
    if not events:
        break
    for key, _ in events:
        x = key.fileobj
        try:
            data = x.recv(65536)
        except OSError:
            data = b""
        if not data:
            sel.unregister(x)
            open_socks -= 1
            try:
                peer[x].shutdown(socket.SHUT_WR)
            except OSError:
                pass
            continue
        buf[x] += data
        while len(buf[x]) >= 16 and len(buf[x]) >= 16 + int.from_bytes(buf[x][12:16], "big"):
            n = 16 + int.from_bytes(buf[x][12:16], "big")
            rec, buf[x] = bytearray(buf[x][:n]), buf[x][n:]
            if name[x] == dirname and count[x] == index:
                if action == "flip":
                    rec[int(arg)] ^= 0x01
                elif action == "alert":
                    code = arg.encode()
                    rec = bytearray(b"\x0f" + bytes(11) + (1 + len(code)).to_bytes(4, "big") + bytes([len(code)]) + code)
            count[x] += 1
            try:
                peer[x].sendall(bytes(rec))
            except OSError:
                pass
PY
# through_proxy DIR INDEX ACTION ARG: one `channel send` to the good server through the proxy; the
# client's output in $tmp/mitm.log, its exit status in $mitm_rc, the server's log line in $mitm_server.
through_proxy() {
  local lines
  lines=$(wc -l <"$tmp/good.err")
  coproc PROXY { python3 "$tmp/proxy.py" "$good_port" "$@"; }
  local pport ppid=$PROXY_PID
  read -r pport <&"${PROXY[0]}"
  "$cli" channel send --connect "127.0.0.1:$pport" "${common[@]}" --message "mitm probe" >"$tmp/mitm.log" 2>&1
  mitm_rc=$?
  wait "$ppid" 2>/dev/null
  for _ in $(seq 50); do [ "$(wc -l <"$tmp/good.err")" -gt "$lines" ] && break; sleep 0.1; done
  mitm_server=$(tail -n +$((lines + 1)) "$tmp/good.err" | head -n 1)
}
mitm_expect() { # mitm_expect NAME CLIENT_RC CLIENT_PATTERN SERVER_PATTERN
  if [ "$mitm_rc" -eq "$2" ] && grep -qE -- "$3" "$tmp/mitm.log" && grep -qE -- "$4" <<<"$mitm_server"; then
    echo "ok   $1"; passed=$((passed + 1))
  else
    echo "FAIL $1: client exit $mitm_rc (wanted $2), server '$mitm_server'"; head -5 "$tmp/mitm.log"; failed=$((failed + 1))
  fi
}
if command -v python3 >/dev/null; then
  through_proxy s2c 0 none 0        # nothing touched: the baseline
  mitm_expect "mitm: untouched" 0 "^mitm probe$" ": ok$"
  through_proxy s2c 1 flip 21       # SF: a byte of the server's transcript MAC
  mitm_expect "mitm: SF MAC flipped" 1 "channel.confirm_failed" "channel.truncated"
  through_proxy c2s 1 flip 60       # M3: a byte of the client's transcript MAC
  mitm_expect "mitm: M3 MAC flipped" 2 "channel.peer_closed" "channel.confirm_failed"
  through_proxy c2s 1 flip 30       # M3: a byte of enc (another HPKE context, so another MAC key)
  mitm_expect "mitm: M3 enc flipped" 2 "channel.peer_closed" "channel.confirm_failed"
  through_proxy s2c 1 alert channel.rate_limited   # SF replaced by a forged refusal
  mitm_expect "mitm: ALERT in place of SF" 1 "channel.alert_unauthenticated" "channel.truncated"
  through_proxy c2s 1 alert channel.rate_limited   # M3 replaced: the server does not believe it either
  mitm_expect "mitm: ALERT in place of M3" 2 "channel.peer_closed" "channel.alert_unauthenticated"
  through_proxy c2s 0 alert channel.rate_limited   # M1 replaced: an ALERT only ever comes from the server
  mitm_expect "mitm: ALERT in place of M1" 2 "channel.peer_closed" "channel.message_malformed"
  through_proxy s2c 1 alert channel.rate_limited
  if grep -q "channel.rate_limited" "$tmp/mitm.log"; then
    echo "FAIL mitm: the forged rate_limited was believed"; failed=$((failed + 1))
  else
    echo "ok   mitm: the forged rate_limited is not reported"; passed=$((passed + 1))
  fi
else
  tl_skip_check "the channel MITM checks need python3" || failed=$((failed + 1))
fi

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
