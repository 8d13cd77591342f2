#!/usr/bin/env bash
# ccgate-kbs as a daemon (issue 14, must-show 5; docs/kbs.md "Addresses", "Reload", docs/logging.md):
#   - TLS on [::1] (port 0 + --port-file): curl -6 --cacert works; a second daemon on "127.0.0.1:0";
#   - SIGHUP after the certificate files are replaced: a new connection sees the new certificate
#     (SHA-256 fingerprint through openssl s_client), same PID, and a connection opened before the reload,
#     with a request half sent across it, is answered on the old certificate (not dropped);
#   - past limits.reload_drain a connection kept on the previous certificate is closed;
#   - ten SIGHUPs under a stream of requests: none fails, every old server drains;
#   - SIGHUP with a broken configuration (bad JSON; a missing key file; a key that is not the
#     certificate's; a member that needs a restart):
#     the daemon stays up, still serves the certificate it had, logs level error with the reason code, and
#     the reload outcomes are in the audit log (host.reload);
#   - garbage and plain HTTP on the TLS port; refused start-ups (a non-loopback --insecure-http, a name
#     that does not resolve, a missing certificate) log level error with their reason and exit 2 or 1;
#   - every line the daemons wrote on standard error parses as JSON with ts, level, component, event and
#     request_id, and so does every line of a short ccgate-runner run (a request, a 404, garbage, a
#     start-up failure); /metrics has ccgate_build_info; the CLI convention (--help, unknown option, aliases).
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
for tool in curl openssl python3; do
  command -v "$tool" >/dev/null 2>&1 || skip_or_fail "$tool missing"
done
[ -x "$kbs" ] || skip_or_fail "$kbs missing"
python3 -c 'import socket; s = socket.socket(socket.AF_INET6); s.bind(("::1", 0))' 2>/dev/null ||
  skip_or_fail "no IPv6 loopback here"

work=$(mktemp -d)
cleanup() { tl_kill_children; rm -rf "$work"; }
trap cleanup EXIT
failed=0
pass() { echo "ok: $*"; }
fail() { echo "FAIL: $*"; failed=$((failed + 1)); }

# cert NAME: a self-signed P-256 certificate for localhost, ::1 and 127.0.0.1.
cert() {
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=$1" \
    -addext "subjectAltName=DNS:localhost,IP:::1,IP:127.0.0.1" -keyout "$work/$1.key" -out "$work/$1.crt" 2>/dev/null
}
fingerprint_file() { openssl x509 -in "$1" -noout -fingerprint -sha256 | cut -d= -f2; }
# served HOST PORT: the fingerprint of the certificate a new connection gets.
served() {
  echo | timeout 10 openssl s_client -connect "$1:$2" 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null |
    cut -d= -f2
}
config() { # config FILE ADDRESS [EXTRA]
  cat >"$1" <<EOF
{"store":"${1%.json}.db","address":"$2","threads":2,"allow_unlocked_memory":true,
 "tls":{"cert_file":"$work/tls.crt","key_file":"$work/tls.key"},
 "keystore":{"backend":"file","kek_file":"$work/kek"}${3:-}}
EOF
}
# start NAME CONFIG [ARGS]: serve in the background; sets $port and $pid.
start() {
  local name=$1 cfg=$2
  shift 2
  rm -f "$work/$name.port"
  tl_spawn "$kbs" serve --config "$cfg" --port-file "$work/$name.port" "$@" 2>"$work/$name.log"
  pid=$!
  for _ in $(seq 150); do [ -s "$work/$name.port" ] && break; sleep 0.1; done
  [ -s "$work/$name.port" ] || { cat "$work/$name.log"; fail "$name did not start"; exit 1; }
  port=$(cat "$work/$name.port")
}
# logged FILE EVENT REASON: a line of that event at level error with that reason code.
logged() {
  python3 - "$@" <<'PY'
import json, sys
path, event, reason = sys.argv[1:4]
sys.exit(0 if any((lambda d: d.get("event") == event and d.get("level") == "error" and d.get("reason") == reason)(
    json.loads(l)) for l in open(path)) else 1)
PY
}

cert a && cert b && cp "$work/a.crt" "$work/tls.crt" && cp "$work/a.key" "$work/tls.key" || {
  fail "openssl req"; exit 1; }
fp_a=$(fingerprint_file "$work/a.crt")
fp_b=$(fingerprint_file "$work/b.crt")
config "$work/kbs.json" "[::1]:0"
"$kbs" kek create --config "$work/kbs.json" 2>"$work/kek.log" || { cat "$work/kek.log"; fail "kek create"; exit 1; }

# ---------------------------------------------------------------- IPv6, and a second daemon on IPv4
start v6 "$work/kbs.json"
v6_pid=$pid
v6_port=$port
out=$(curl -6 -s --max-time 10 --cacert "$work/a.crt" "https://[::1]:$port/healthz")
[ "$out" = '{"status":"ok"}' ] && pass "TLS over IPv6: curl -6 https://[::1]:$port/healthz" || fail "IPv6 healthz: '$out'"
grep -q "\"event\":\"listening\",\"request_id\":null,\"address\":\"\\[::1\\]:$port\"" "$work/v6.log" &&
  pass "the listening line names [::1]:$port" || fail "listening line: $(head -1 "$work/v6.log")"
metrics=$(curl -6 -s --max-time 10 --cacert "$work/a.crt" "https://[::1]:$port/metrics")
if printf '%s\n' "$metrics" | grep -Eq '^ccgate_build_info\{version="[0-9.]+",revision="[^"]+",openssl="OpenSSL [^"]+"\} 1$'; then
  pass "/metrics: $(printf '%s\n' "$metrics" | grep '^ccgate_build_info')"
else fail "/metrics has no ccgate_build_info"; fi

config "$work/kbs4.json" "127.0.0.1:0" ',"limits":{"reload_drain":2}'
start v4 "$work/kbs4.json"
v4_pid=$pid
v4_port=$port
out=$(curl -4 -s --max-time 10 --cacert "$work/a.crt" "https://127.0.0.1:$port/healthz")
[ "$out" = '{"status":"ok"}' ] && pass "TLS over IPv4 with the port in the address (127.0.0.1:0)" ||
  fail "IPv4 healthz: '$out'"

# ---------------------------------------------------------------- garbage and plain HTTP on the TLS port
python3 - "$v6_port" <<'PY' || fail "garbage on the TLS port"
import socket, sys
port = int(sys.argv[1])
for data in (b"garbage\r\n\r\n", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x03\xff\xff" + b"A" * 300):
    s = socket.create_connection(("::1", port), timeout=5)
    s.sendall(data)
    try:
        s.recv(100)
    except OSError:
        pass
    s.close()
PY
[ "$(served "[::1]" "$v6_port")" = "$fp_a" ] && pass "still serving after garbage and plain HTTP" || fail "not serving after garbage"

# ---------------------------------------------------------------- SIGHUP with a new certificate
# A client opens a connection and gets one answer, then sends half of a second request and waits; the
# reload happens; it sends the rest and must get its answer on the same connection (old certificate).
rm -f "$work/ready" "$work/go"
python3 - "$v6_port" "$work" >"$work/kept.out" 2>&1 <<'PY' &
import hashlib, os, socket, ssl, sys, time
port, work = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.load_verify_locations(work + "/a.crt")
s = ctx.wrap_socket(socket.create_connection(("::1", port), timeout=30), server_hostname="localhost")
fp = hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()
def answer():
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, _, body = data.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b"\r\n")[0].decode()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
first = answer()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # half a request, in flight across the reload
open(work + "/ready", "w").close()
for _ in range(300):
    if os.path.exists(work + "/go"):
        break
    time.sleep(0.1)
s.sendall(b"\r\n")
print(first, "|", answer(), "|", fp)
PY
kept=$!
for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
cp "$work/b.crt" "$work/tls.crt" && cp "$work/b.key" "$work/tls.key"
kill -HUP "$v6_pid"
for _ in $(seq 100); do grep -q '"event":"reloaded"' "$work/v6.log" && break; sleep 0.1; done
now=$(served "[::1]" "$v6_port")
[ "$now" = "$fp_b" ] && pass "after SIGHUP a new connection gets the new certificate" ||
  fail "after SIGHUP: served '$now', want the new '$fp_b'"
kill -0 "$v6_pid" 2>/dev/null && grep -q "\"pid\":$v6_pid" "$work/v6.log" && pass "without a restart (same PID $v6_pid)" ||
  fail "the daemon is not the same process"
touch "$work/go"
wait "$kept"
a_hex=$(printf '%s' "$fp_a" | tr -d : | tr 'A-F' 'a-f')
case "$(cat "$work/kept.out")" in
  "HTTP/1.1 200 OK | HTTP/1.1 200 OK | $a_hex")
    pass "a connection opened before the reload, with a request in flight, is answered (old certificate)" ;;
  *) fail "the kept connection: $(cat "$work/kept.out")" ;;
esac

# ---------------------------------------------------------------- reloads under load
# Ten reloads while a client keeps asking: no request fails, and every old server drains and stops.
(for _ in $(seq 60); do
  curl -6 -s --max-time 10 --cacert "$work/b.crt" -o /dev/null -w '%{http_code}\n' "https://[::1]:$v6_port/healthz"
done) >"$work/load.out" 2>&1 &
load=$!
for _ in $(seq 10); do kill -HUP "$v6_pid"; sleep 0.1; done
wait "$load"
sleep 1
codes=$(sort "$work/load.out" | uniq -c | tr -s ' ' | sed 's/^ //')
[ "$codes" = "60 200" ] && pass "ten reloads under load: 60 of 60 requests answered 200" || fail "reloads under load: $codes"
for _ in $(seq 50); do
  [ "$(grep -c '"event":"reload_drained"' "$work/v6.log")" -ge 11 ] && break
  sleep 0.1
done
[ "$(grep -c '"event":"reload_drained"' "$work/v6.log")" -ge 11 ] && pass "every previous server drained and stopped" ||
  fail "drained: $(grep -c '"event":"reload_drained"' "$work/v6.log") of 11"

# ---------------------------------------------------------------- SIGHUP with broken configurations
cp "$work/kbs.json" "$work/kbs.good"
# hup WHAT: SIGHUP and wait for the reload's log line.
hup() {
  local before
  before=$(grep -c '"event":"reload_failed"' "$work/v6.log")
  kill -HUP "$v6_pid"
  for _ in $(seq 100); do
    [ "$(grep -c '"event":"reload_failed"' "$work/v6.log")" -gt "$before" ] && return 0
    sleep 0.1
  done
  return 1
}
echo '{"store": "broken' >"$work/kbs.json"
hup
kill -0 "$v6_pid" 2>/dev/null && [ "$(served "[::1]" "$v6_port")" = "$fp_b" ] &&
  pass "bad JSON on SIGHUP: alive, the certificate it had still served" || fail "bad JSON on SIGHUP"
logged "$work/v6.log" reload_failed kbs.config_invalid && pass "bad JSON: level error, kbs.config_invalid" ||
  fail "bad JSON: no error line with kbs.config_invalid"

cp "$work/kbs.good" "$work/kbs.json"
mv "$work/tls.key" "$work/tls.key.away"
cp "$work/a.crt" "$work/tls.crt"
hup
kill -0 "$v6_pid" 2>/dev/null && [ "$(served "[::1]" "$v6_port")" = "$fp_b" ] &&
  pass "a missing key file on SIGHUP: the old certificate stays" || fail "missing key file on SIGHUP"
logged "$work/v6.log" reload_failed io.read_failed && pass "missing key file: level error, io.read_failed" ||
  fail "missing key file: $(tail -1 "$work/v6.log")"
mv "$work/tls.key.away" "$work/tls.key"
cp "$work/b.crt" "$work/tls.crt"

# A key that is not the certificate's: GnuTLS refuses the pair before anything changes.
cert c && cp "$work/c.key" "$work/tls.key"
hup
kill -0 "$v6_pid" 2>/dev/null && [ "$(served "[::1]" "$v6_port")" = "$fp_b" ] &&
  grep '"event":"reload_failed"' "$work/v6.log" | tail -1 | grep -q '"reason":"kbs.config_invalid"' &&
  pass "a key that does not match the certificate: refused (kbs.config_invalid), the old pair stays" ||
  fail "mismatched pair on SIGHUP: $(tail -1 "$work/v6.log")"
cp "$work/b.key" "$work/tls.key"

config "$work/kbs.json" "[::1]:0" ',"issuer":"another"'
hup
if logged "$work/v6.log" reload_failed kbs.reload_needs_restart &&
  grep '"reason":"kbs.reload_needs_restart"' "$work/v6.log" | grep -q 'issuer'; then
  pass "a member that needs a restart is refused by name (kbs.reload_needs_restart, issuer)"
else fail "restart-only change: $(tail -1 "$work/v6.log")"; fi
cp "$work/kbs.good" "$work/kbs.json"
out=$(curl -6 -s --max-time 10 --cacert "$work/b.crt" "https://[::1]:$v6_port/healthz")
[ "$out" = '{"status":"ok"}' ] && pass "still serving after four refused reloads" || fail "after refused reloads: '$out'"

python3 - "$work/kbs.db" <<'PY' && pass "the reloads are audited (host.reload: 11 allow, 4 error)" || fail "host.reload audit records"
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute(
    "SELECT decision, count(*) FROM audit_log WHERE action = 'host.reload' GROUP BY decision").fetchall()
print("host.reload:", dict(rows))
sys.exit(0 if dict(rows) == {"allow": 11, "error": 4} else 1)
PY

# ---------------------------------------------------------------- the drain limit
# On the IPv4 daemon (limits.reload_drain 2): a connection kept alive across a reload is closed once the
# previous server has served its 2 s, so an old (maybe compromised) certificate does not live on.
rm -f "$work/ready" "$work/go"
python3 - "$v4_port" "$work" >"$work/drain.out" 2>&1 <<'PY' &
import os, socket, ssl, sys, time
port, work = int(sys.argv[1]), sys.argv[2]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30))
def answer():
    data = b""
    while b"\r\n\r\n" not in data:
        more = s.recv(4096)
        if not more:
            return "closed"
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    n = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        body += s.recv(4096)
    return head.split(b"\r\n")[0].decode()
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
first = answer()
open(work + "/ready", "w").close()
for _ in range(300):
    if os.path.exists(work + "/go"):
        break
    time.sleep(0.1)
try:
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    second = answer()
except (OSError, ssl.SSLError):
    second = "closed"
print(first, "|", second)
PY
drain=$!
for _ in $(seq 100); do [ -e "$work/ready" ] && break; sleep 0.1; done
kill -HUP "$v4_pid"
for _ in $(seq 100); do grep -q '"event":"reload_drained"' "$work/v4.log" && break; sleep 0.1; done
touch "$work/go"
wait "$drain"
if [ "$(cat "$work/drain.out")" = "HTTP/1.1 200 OK | closed" ] &&
  grep '"event":"reload_drained"' "$work/v4.log" | grep -q '"level":"warn".*"connections_closed":1'; then
  pass "past limits.reload_drain the old server's kept connection is closed (warn, connections_closed 1)"
else fail "drain limit: $(cat "$work/drain.out"); $(grep reload_drained "$work/v4.log")"; fi
out=$(curl -4 -s --max-time 10 --cacert "$work/b.crt" "https://127.0.0.1:$v4_port/healthz")
[ "$out" = '{"status":"ok"}' ] && pass "new connections are served after the drain" || fail "after the drain: '$out'"

# ---------------------------------------------------------------- refused start-ups: level error, exit 2 (input) or 1
startup() { # startup NAME CONFIG REASON EXIT [ARGS]
  local name=$1 cfg=$2 reason=$3 want=$4 rc=0
  shift 4
  timeout 20 "$kbs" serve --config "$cfg" "$@" 2>"$work/$name.log" || rc=$?
  if [ "$rc" = "$want" ] && logged "$work/$name.log" start_failed "$reason"; then pass "$name: exit $rc, level error, $reason"
  else fail "$name: exit $rc, $(cat "$work/$name.log")"; fi
}
config "$work/open.json" "0.0.0.0:0"
startup "plain HTTP off loopback" "$work/open.json" kbs.config_invalid 2 --insecure-http
config "$work/nohost.json" "no-such-host.invalid:0"
startup "an address that does not resolve" "$work/nohost.json" kbs.config_invalid 2
sed "s|$work/tls.crt|$work/missing.crt|" "$work/kbs.good" >"$work/nocert.json"
startup "a missing certificate" "$work/nocert.json" io.read_failed 1
rc=0
"$kbs" serve --config "$work/kbs.good" --port-file "$work/x.port" --bogus 2>"$work/bogus.err" || rc=$?
[ "$rc" = 2 ] && grep -q "^ccgate-kbs serve: unknown option '--bogus'" "$work/bogus.err" &&
  pass "an unknown option: exit 2 naming 'ccgate-kbs serve'" || fail "unknown option: exit $rc $(cat "$work/bogus.err")"

# ---------------------------------------------------------------- the CLI convention and the verbs
for words in "" "serve" "key" "key import" "key rotate" "key disable" "key enable" "key state" "policy set" \
  "kek create" "import-key" "rotate-key" "key-state" "set-policy" "create-kek"; do
  rc=0
  # shellcheck disable=SC2086
  out=$("$kbs" $words --help 2>&1) || rc=$?
  want="Usage: ccgate-kbs${words:+ $words}"
  case $out in "$want "*) ;; *) fail "'ccgate-kbs $words --help' (exit $rc): $(printf '%s' "$out" | head -1)"; continue ;; esac
  [ "$rc" = 0 ] || { fail "'ccgate-kbs $words --help' exit $rc"; continue; }
done
pass "--help on every verb and alias: exit 0, 'Usage: ccgate-kbs ...'"
rc=0
"$kbs" key import --config="$work/kbs.good" --key-id=a/b/c --policy-id=p --file="$work/none" --x=y 2>"$work/x.err" || rc=$?
[ "$rc" = 2 ] && grep -q "^ccgate-kbs key import: unknown option '--x=y'" "$work/x.err" &&
  pass "--x=y: exit 2 naming 'ccgate-kbs key import'" || fail "--x=y: exit $rc $(cat "$work/x.err")"
"$kbs" --version | head -1 | grep -q '^ccgate-kbs [0-9]' && pass "--version" || fail "--version"

# ---------------------------------------------------------------- ccgate-runner's lines, the same schema
runner=${CCG_RUNNER:-$(dirname "$kbs")/ccgate-runner}
if [ -x "$runner" ] && "$cli" model generate --seed 5 --out "$work/m.ccgm" >/dev/null 2>&1; then
  tl_spawn "$runner" --socket "$work/r.sock" --model "$work/m.ccgm" 2>"$work/runner-serve.log"
  rpid=$!
  for _ in $(seq 100); do curl -sf --unix-socket "$work/r.sock" http://r/healthz >/dev/null 2>&1 && break; sleep 0.1; done
  curl -s --unix-socket "$work/r.sock" http://r/nowhere >/dev/null
  printf 'garbage\r\n\r\n' | python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.stdin.buffer.read()); s.recv(10)' "$work/r.sock" 2>/dev/null
  kill -HUP "$rpid"
  sleep 0.3
  curl -sf --unix-socket "$work/r.sock" http://r/healthz >/dev/null && kill -0 "$rpid" 2>/dev/null &&
    pass "SIGHUP does not stop ccgate-runner" || fail "ccgate-runner stopped on SIGHUP"
  kill -TERM "$rpid"
  wait "$rpid" 2>/dev/null
  "$runner" --socket "$work/nodir/r.sock" --model "$work/m.ccgm" 2>"$work/runner-fail.log"
else
  tl_skip_check "no ccgate-runner or model generate" || failed=$((failed + 1))
fi

# ---------------------------------------------------------------- stop, then every line of every log
kill -TERM "$v6_pid" "$v4_pid"
wait "$v6_pid" "$v4_pid" 2>/dev/null
if python3 - "$work" <<'PY'; then
import glob, json, os, sys
bad = lines = 0
for path in sorted(glob.glob(sys.argv[1] + "/*.log")):
    for line in open(path, encoding="utf-8", errors="replace"):
        lines += 1
        try:
            d = json.loads(line)
            want = "runner" if os.path.basename(path).startswith("runner") else "kbs"
            assert isinstance(d, dict) and d["component"] == want
            assert all(k in d for k in ("ts", "level", "component", "event", "request_id"))
            assert d["level"] in ("debug", "info", "warn", "error")
        except Exception:
            bad += 1
            print("not the log schema (%s): %r" % (os.path.basename(path), line[:200]))
print(lines, "lines checked")
sys.exit(1 if bad or lines < 10 else 0)
PY
  pass "every line ccgate-kbs and ccgate-runner wrote on standard error is one JSON object of the schema"
else
  fail "log lines outside the schema"
fi

if [ "$failed" -ne 0 ]; then
  echo "$failed check(s) failed"
  exit 1
fi
echo "all daemon checks passed"
