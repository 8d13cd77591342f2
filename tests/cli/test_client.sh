#!/usr/bin/env bash
# `ccgate client ask` and `ccgate client proxy` against a stand-in endpoint (tests/support/ep_test_server.c:
# TLS 1.3, emulated SNP evidence bound per the endpoint formula, a fixed answer). Shows: an approved endpoint
# gets the request; a debug guest, an unapproved measurement, evidence replayed from another session,
# evidence bound to another exporter and a swapped connection are each refused with their own code and the
# endpoint receives no prompt (nor API key) byte; the gateway (OHTTP) mode, where the TLS-terminating side
# sees no prompt; and the proxy (forwarding, SSE, JSON refusals, paths it does not forward).
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
server=$(dirname "$cli")/ccg-ep-test-server
[ -x "$server" ] || skip_or_fail "the test endpoint $server is not built"
command -v curl >/dev/null || skip_or_fail "curl is missing"
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
MARK="PROMPT-MARKER-7f3a"
KEY="sk-test-KEYMARKER-91b2"
echo "$KEY" >"$tmp/key"

ok() { echo "ok   $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; shift; [ $# -gt 0 ] && echo "$@" | head -20; failed=$((failed + 1)); }

# expect NAME WANT_RC PATTERN -- command...
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then bad "$name: exit $rc, wanted $want" "$out"; return; fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then bad "$name: output lacks /$pattern/" "$out"; return; fi
  ok "$name"
}

# no_bytes NAME FILE: the endpoint received neither the prompt nor the API key.
no_bytes() {
  if [ -f "$2" ] && grep -qaE "$MARK|$KEY" "$2"; then bad "$1: the endpoint received prompt or key bytes"; else ok "$1"; fi
}

# start NAME ARGS...: a test endpoint; sets $port and $good (the emulator's measurement).
start() {
  local name=$1
  shift
  rm -f "$tmp/$name.cap" "$tmp/$name.inner"
  tl_spawn "$server" --dir "$tmp/$name" --capture "$tmp/$name.cap" --inner "$tmp/$name.inner" "$@" \
    >"$tmp/$name.out" 2>"$tmp/$name.err"
  port=
  for _ in $(seq 200); do
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$name.out" 2>/dev/null)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { bad "$name: the test endpoint did not start" "$(cat "$tmp/$name.err")"; return 1; }
  good=$(sed -n 's/^measurement \([0-9a-f]*\)$/\1/p' "$tmp/$name.out")
  cat >"$tmp/policy.json" <<JSON
{"policy_id": "client", "version": 1, "allowed_measurements": ["$good"], "tcb": {"require_baseline": false}}
JSON
}

wrong=$(printf 'cd%.0s' $(seq 48))
common() { echo --endpoint "https://127.0.0.1:$port" --policy "$tmp/policy.json" --trust-root "$tmp/$1/ark.pem" --api-key-file "$tmp/key"; }

expect "client --help" 0 "ask|proxy" -- "$cli" client --help
expect "ask without --policy" 2 "--policy are required" -- "$cli" client ask --endpoint https://127.0.0.1:1 "x"
expect "ask without a prompt" 2 "prompt" -- "$cli" client ask --endpoint https://127.0.0.1:1 --policy /dev/null

# --- direct mode -------------------------------------------------------------------------------------
start approved --api-key "$KEY" || exit 1
expect "proxy off loopback" 2 "loopback only" -- \
  "$cli" client proxy --listen 0.0.0.0:0 --endpoint https://127.0.0.1:1 --policy "$tmp/policy.json"
expect "approved: the request is answered" 0 "^pong [0-9]+" -- "$cli" client ask $(common approved) "hi $MARK"
if grep -qa "$MARK" "$tmp/approved.cap"; then ok "approved: the endpoint received the prompt"; else bad "approved: no prompt arrived"; fi
expect "approved: streamed (SSE framing parsed)" 0 "^pong$" -- "$cli" client ask --stream $(common approved) "hi"
expect "approved: a wrong API key is the endpoint's refusal" 1 "HTTP 401.*caller_not_allowed" -- \
  "$cli" client ask --endpoint "https://127.0.0.1:$port" --policy "$tmp/policy.json" --trust-root "$tmp/approved/ark.pem" "hi"
expect "approved, but the root is not trusted" 1 "client.evidence_denied" -- \
  "$cli" client ask --endpoint "https://127.0.0.1:$port" --policy "$tmp/policy.json" --api-key-file "$tmp/key" "hi $MARK"

start debug --debug || exit 1
expect "debug guest: refused" 1 "client.evidence_denied.*snp.debug_enabled" -- \
  "$cli" client ask $(common debug) "hi $MARK"
no_bytes "debug guest: no prompt or key byte reached the endpoint" "$tmp/debug.cap"

start unapproved --measurement "$wrong" || exit 1
expect "unapproved measurement: refused" 1 "reason: snp.measurement_not_allowed" -- \
  "$cli" client ask $(common unapproved) "hi $MARK"
no_bytes "unapproved measurement: no prompt or key byte reached the endpoint" "$tmp/unapproved.cap"

start replay --mode replay || exit 1
expect "evidence replayed from another session: refused" 1 "client.binding_mismatch" -- \
  "$cli" client ask $(common replay) "hi $MARK"
no_bytes "replayed evidence: no prompt or key byte reached the endpoint" "$tmp/replay.cap"

start relayed --mode other-exporter || exit 1
expect "evidence bound to another exporter: refused" 1 "client.exporter_mismatch" -- \
  "$cli" client ask $(common relayed) "hi $MARK"
no_bytes "another exporter: no prompt or key byte reached the endpoint" "$tmp/relayed.cap"

start swapped --mode close-after-evidence || exit 1
expect "the attested connection is gone (a new one would carry the prompt): refused" 1 "client.connection_not_attested" -- \
  "$cli" client ask $(common swapped) "hi $MARK"
no_bytes "new connection: no prompt or key byte reached the endpoint" "$tmp/swapped.cap"
n=$(grep -ac "GET /.well-known/ccgate/evidence" "$tmp/swapped.cap")
[ "$n" -eq 2 ] && ok "new connection: attested anew once, then refused" || bad "new connection: $n evidence fetches, wanted 2"

# --- TDX: the same client with `verify tdx`'s verifier, policy, test root and collateral -------------------
"$cli" emulate tdx --out-dir "$tmp/td" --save-state >/dev/null 2>&1 || bad "emulate tdx --save-state"
echo '{"policy_id": "client", "version": 1, "tee": "tdx"}' >"$tmp/tdx-policy.json"
tdx() { echo --endpoint "https://127.0.0.1:$port" --policy "$tmp/tdx-policy.json" --tdx-trust-root "$tmp/td/root.pem" \
  --tdx-collateral "$tmp/td/collateral.json" --api-key-file "$tmp/key"; }
start tdx_ok --tdx-state "$tmp/td" || exit 1
expect "TDX: the request is answered" 0 "^pong [0-9]+" -- "$cli" client ask $(tdx) "hi"
expect "TDX: without the TDX test root, refused" 1 "client.evidence_denied" -- \
  "$cli" client ask --endpoint "https://127.0.0.1:$port" --policy "$tmp/tdx-policy.json" \
  --tdx-collateral "$tmp/td/collateral.json" "hi $MARK"
start tdx_debug --tdx-state "$tmp/td" --debug || exit 1
expect "TDX: a debug TD is refused" 1 "reason: tdx.debug" -- "$cli" client ask $(tdx) "hi $MARK"
no_bytes "TDX debug: no prompt or key byte reached the endpoint" "$tmp/tdx_debug.cap"
start tdx_relay --tdx-state "$tmp/td" --mode other-exporter || exit 1
expect "TDX: evidence bound to another exporter is refused" 1 "client.exporter_mismatch" -- "$cli" client ask $(tdx) "hi $MARK"
no_bytes "TDX another exporter: no prompt or key byte reached the endpoint" "$tmp/tdx_relay.cap"
start tdx_snp_only || exit 1
expect "an SNP endpoint for a client that trusts only TDX is refused" 1 "client.evidence_denied" -- \
  "$cli" client ask $(tdx) "hi $MARK"

# --- gateway mode (OHTTP through a TLS-terminating front) -----------------------------------------------
port_of() { sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/$1.out"; }
port=$(port_of approved)
gw() { echo --gateway --cacert "$tmp/$1/server.pem"; }
expect "gateway: the request is answered" 0 "^pong [0-9]+" -- "$cli" client ask $(gw approved) $(common approved) "hi $MARK"
expect "gateway: streamed" 0 "^pong$" -- "$cli" client ask --stream $(gw approved) $(common approved) "hi $MARK"
rm -f "$tmp/approved.cap" "$tmp/approved.inner"
"$cli" client ask $(gw approved) $(common approved) "hi $MARK" >/dev/null 2>&1
no_bytes "gateway: the TLS-terminating side saw neither prompt nor key" "$tmp/approved.cap"
grep -qa "$MARK" "$tmp/approved.inner" && ok "gateway: the endpoint decapsulated the prompt" || bad "gateway: no inner prompt"
expect "gateway: an untrusted gateway certificate is refused" 2 "client.endpoint_unreachable" -- \
  "$cli" client ask --gateway $(common approved) "hi"
expect "gateway: a debug guest is refused" 1 "reason: snp.debug_enabled" -- \
  "$cli" client ask $(gw debug) --endpoint "https://127.0.0.1:$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/debug.out")" \
  --policy "$tmp/policy.json" --trust-root "$tmp/debug/ark.pem" "hi $MARK"

# --- through the capture gateway (tests/support/capture_gateway.c) ---------------------------------------
capgw=$(dirname "$cli")/ccg-capture-gateway
if [ -x "$capgw" ] && command -v openssl >/dev/null; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/gw.key" -out "$tmp/gw.pem" >/dev/null 2>&1
  # gateway MODE NAME: a capture gateway in front of the approved endpoint; sets $gport
  gateway() {
    rm -f "$tmp/$2.gport" "$tmp/$2.gcap"
    tl_spawn "$capgw" "$1" --upstream "127.0.0.1:$(port_of approved)" --capture "$tmp/$2.gcap" \
      --port-file "$tmp/$2.gport" --cert "$tmp/gw.pem" --key "$tmp/gw.key" 2>"$tmp/$2.gerr"
    for _ in $(seq 200); do [ -s "$tmp/$2.gport" ] && break; sleep 0.05; done
    gport=$(cat "$tmp/$2.gport" 2>/dev/null)
  }
  gwc() { echo --endpoint "https://127.0.0.1:$gport" --policy "$tmp/policy.json" --trust-root "$tmp/approved/ark.pem" --api-key-file "$tmp/key"; }
  rm -f "$tmp/approved.cap"
  gateway tls mitm
  expect "a TLS-terminating relay in direct mode: its evidence is bound to its own session" 1 "client.exporter_mismatch" -- \
    "$cli" client ask $(gwc) "hi $MARK"
  no_bytes "relay in direct mode: the relay saw no prompt or key byte" "$tmp/mitm.gcap"
  no_bytes "relay in direct mode: the endpoint received no prompt or key byte" "$tmp/approved.cap"
  expect "through the same relay, gateway mode is answered" 0 "^pong [0-9]+" -- \
    "$cli" client ask --gateway --cacert "$tmp/gw.pem" $(gwc) "hi $MARK"
  no_bytes "gateway mode: the TLS-terminating relay saw no prompt or key byte" "$tmp/mitm.gcap"
  gateway tcp tap
  expect "direct mode through a TCP tap is answered" 0 "^pong [0-9]+" -- "$cli" client ask $(gwc) "hi $MARK"
  no_bytes "direct mode: the tap saw no prompt or key byte" "$tmp/tap.gcap"
else
  bad "the capture gateway or openssl is missing"
fi

# --- the proxy ------------------------------------------------------------------------------------------
# proxy NAME ARGS...: sets $pp to its port
proxy() {
  local name=$1
  shift
  rm -f "$tmp/$name.port"
  # The test endpoint serves one connection at a time: the previous proxy's keep-alive connection goes first.
  [ -n "${proxy_pid:-}" ] && { kill "$proxy_pid" 2>/dev/null; wait "$proxy_pid" 2>/dev/null; }
  tl_spawn "$cli" client proxy --listen 127.0.0.1:0 --port-file "$tmp/$name.port" --connections 1 "$@" 2>"$tmp/$name.perr"
  proxy_pid=$!
  for _ in $(seq 200); do
    [ -s "$tmp/$name.port" ] && break
    sleep 0.05
  done
  pp=$(cat "$tmp/$name.port" 2>/dev/null)
  [ -n "$pp" ] || bad "$name: the proxy did not start" "$(cat "$tmp/$name.perr")"
}
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/approved.out")
proxy p_ok $(common approved)
chat='{"model":"ccgate","messages":[{"role":"user","content":"hi '$MARK'"}]}'
expect "proxy: chat forwarded" 0 '"content":"pong' -- curl -sS -H 'Content-Type: application/json' -d "$chat" "http://127.0.0.1:$pp/v1/chat/completions"
expect "proxy: SSE passed through" 0 'data: \[DONE\]' -- curl -sS -N -H 'Content-Type: application/json' \
  -d '{"stream":true,"messages":[]}' "http://127.0.0.1:$pp/v1/chat/completions"
expect "proxy: models" 0 '"object":"list"' -- curl -sS "http://127.0.0.1:$pp/v1/models"
expect "proxy: other paths are not forwarded" 0 '404.*|client.path_not_forwarded' -- \
  curl -sS -w '%{http_code}' "http://127.0.0.1:$pp/admin/keys"
expect "proxy: DELETE is not forwarded" 0 'client.path_not_forwarded' -- \
  curl -sS -X DELETE "http://127.0.0.1:$pp/v1/models"
proxy p_gw $(gw approved) $(common approved)
expect "proxy (gateway): SSE replayed" 0 'data: \{"choices".*"ng"' -- curl -sS -N -H 'Content-Type: application/json' \
  -d '{"stream":true,"messages":[]}' "http://127.0.0.1:$pp/v1/chat/completions"
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$tmp/debug.out")
rm -f "$tmp/debug.cap"
proxy p_debug $(common debug)
out=$(curl -sS -w ' HTTP%{http_code}' -H 'Content-Type: application/json' -d "$chat" "http://127.0.0.1:$pp/v1/chat/completions")
if grep -qE '"code":"client.evidence_denied".*"snp.debug_enabled".* HTTP502' <<<"$out"; then
  ok "proxy: a debug endpoint is a JSON refusal to the local caller"
else
  bad "proxy: the refusal is not the expected JSON" "$out"
fi
no_bytes "proxy: nothing reached the debug endpoint" "$tmp/debug.cap"

echo "client: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
