#!/usr/bin/env bash
# Issue 13 end to end (must-shows 1, 2 and 3 with the real programs): a prompt reaches the sealed model only
# over an attested, authorised connection, and is answered by that model and by nothing else.
#
#   the provider generates the reference model (`ccgate model generate`), seals it, and the broker
#   (ccgate-kbs) holds its key under a policy pinning the SNP guest's measurement;
#   ccgate-agent on the software SNP guest (emulator attester) attests, receives the key, unseals into the
#   sealed memfd, starts the real ccgate-runner on it, and serves HTTPS;
#   `ccgate client proxy` verifies the endpoint's evidence (SNP, the client's own policy) on every new
#   upstream connection; curl asks through it.
#
#   1. the completion through proxy and endpoint (chat and completions, streamed and not) equals
#      `ccgate model run` on the plaintext model with greedy decoding: the model served is the sealed one;
#   2. a client policy that does not approve the measurement: refused with snp.measurement_not_allowed
#      before the prompt leaves (the endpoint's log shows no forwarded request);
#      a caller without an API key: endpoint.caller_not_allowed; the endpoint keeps serving;
#      the runner killed: 503 endpoint.runner_unavailable with the reason;
#   3. capture: a TCP tap between proxy and endpoint, and a TLS-terminating gateway in gateway mode, see
#      neither the prompt nor the response in clear.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
kbs=${CCG_KBS:-$bin/ccgate-kbs}
agent=${CCG_AGENT:-$bin/ccgate-agent}
runner=${CCG_RUNNER:-$bin/ccgate-runner}
gw=${CCG_CAPTURE_GATEWAY:-$bin/ccg-capture-gateway}
py=${CCG_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

for p in "$kbs" "$agent" "$runner" "$gw"; do [ -x "$p" ] || skip_or_fail "$p is missing"; done
command -v curl >/dev/null || skip_or_fail "curl is missing"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
die() { echo "FAIL $*"; exit 1; }
wait_file() { ss_wait_file "$1"; }

# ---- provider, authority, broker and guest (tests/support/serve_stack.sh)
. "$(dirname "$0")/../support/serve_stack.sh"
ss_start "$tmp" "$bin" || die "the serving stack: $(tail -3 "$tmp/agent.err" 2>/dev/null)"
ep_port=$ss_ep_port
api_key=$ss_api_key
meas=$ss_meas
apid=$ss_agent_pid
ok "the agent attested, received the key, unsealed, started ccgate-runner and serves HTTPS on $ep_port"

# ---- the client: its own policy (the approved measurement) and the test root
cat >"$tmp/rogue-policy.json" <<JSON
{"policy_id":"client","version":2,"debug_allowed":false,"allowed_measurements":["$(printf 'ab%.0s' $(seq 48))"]}
JSON
trust=(--trust-root "$tmp/guest/ark.pem" --trust-root-product milan --tcb-baseline "$tmp/milan-tcb.json"
  --issuer-key "authority=$tmp/authority.pub" --api-key-file "$tmp/api.key")
# start_proxy NAME UPSTREAM POLICY [OPTIONS...]: sets proxy (the base URL)
start_proxy() {
  local name=$1 upstream=$2 policy=$3
  shift 3
  tl_spawn "$cli" client proxy --listen 127.0.0.1:0 --port-file "$tmp/proxy-$name.port" --endpoint "$upstream" \
    --policy "$policy" "${trust[@]}" "$@" 2>"$tmp/proxy-$name.err"
  wait_file "$tmp/proxy-$name.port" || { bad "proxy $name did not start: $(tail -3 "$tmp/proxy-$name.err")"; return 1; }
  proxy="http://127.0.0.1:$(cat "$tmp/proxy-$name.port")"
}
# ask URL PATH BODY -> HTTP status; the body in $tmp/resp
ask() { curl -s --max-time 60 -o "$tmp/resp" -w '%{http_code}' -H 'content-type: application/json' --data-binary "$3" "$1$2"; }
content() { "$py" -c '
import json, sys
o = json.load(open(sys.argv[1]))
c = o["choices"][0]
print(c["message"]["content"] if "message" in c else c["text"], end="")' "$tmp/resp"; }
# the text of an SSE stream: every data chunk's delta content (chat) or text (completions), in order
stream_text() { "$py" -c '
import json, sys
out = []
done = False
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if not line.startswith("data: "):
        continue
    d = line[6:]
    if d == "[DONE]":
        done = True
        continue
    c = json.loads(d)["choices"][0]
    out.append(c.get("delta", {}).get("content", "") if "delta" in c else c.get("text", ""))
sys.stdout.write("".join(out))
sys.exit(0 if done else 3)' "$tmp/resp"; }

prompt="PROMPT-MARKER-7f3a: which gate keeps the weights?"
messages='[{"role":"system","content":"You are terse."},{"role":"user","content":"'"$prompt"'"}]'
"$cli" model run --model "$tmp/model.plain" --max-tokens 24 --chat "$messages" >"$tmp/ref-chat" || die "model run --chat"
"$cli" model run --model "$tmp/model.plain" --max-tokens 24 "$prompt" >"$tmp/ref-completion" || die "model run"
ref_chat=$(cat "$tmp/ref-chat")
ref_completion=$(cat "$tmp/ref-completion")
[ -n "$ref_chat" ] || die "the reference chat completion is empty"

# ---- 1. through a TCP tap: proxy -> tap -> endpoint
tl_spawn "$gw" tcp --upstream "127.0.0.1:$ep_port" --capture "$tmp/tap.cap" --port-file "$tmp/tap.port"
wait_file "$tmp/tap.port" || die "the tap did not start"
if start_proxy direct "https://127.0.0.1:$(cat "$tmp/tap.port")" "$tmp/client-policy.json"; then
  body='{"model":"ccgate-model","max_tokens":24,"messages":'"$messages"'}'
  st=$(ask "$proxy" /v1/chat/completions "$body")
  got=$(content 2>/dev/null)
  [ "$st" = 200 ] && [ "$got" = "$ref_chat" ] &&
    ok "chat completion through proxy and endpoint equals ccgate model run on the plaintext model (${#got} chars)" ||
    bad "chat: status $st, got '$got', want '$ref_chat'"
  st=$(ask "$proxy" /v1/completions '{"model":"ccgate-model","max_tokens":24,"prompt":"'"$prompt"'"}')
  got=$(content 2>/dev/null)
  [ "$st" = 200 ] && [ "$got" = "$ref_completion" ] && ok "completion equals ccgate model run" ||
    bad "completion: status $st, got '$got', want '$ref_completion'"
  st=$(ask "$proxy" /v1/chat/completions '{"model":"ccgate-model","max_tokens":24,"stream":true,"messages":'"$messages"'}')
  got=$(stream_text)
  [ "$st" = 200 ] && [ "$got" = "$ref_chat" ] && ok "the streamed chat completion (SSE, ends with [DONE]) equals it too" ||
    bad "streamed chat: status $st, got '$got'"
  st=$(curl -s --max-time 30 -o "$tmp/resp" -w '%{http_code}' "$proxy/v1/models")
  grep -q '"object"' "$tmp/resp" && [ "$st" = 200 ] && ok "GET /v1/models through the proxy" || bad "models: $st $(head -c 200 "$tmp/resp")"
  # Several callers at once, each through its own attested upstream connection or a shared one.
  for i in 1 2 3 4 5 6; do
    (ask "$proxy" /v1/chat/completions "$body" >"$tmp/par-$i.status"; cp "$tmp/resp" "$tmp/par-$i.resp") &
  done
  wait_ok=0
  for i in 1 2 3 4 5 6; do
    for _ in $(seq 600); do [ -s "$tmp/par-$i.status" ] && break; sleep 0.1; done
    [ "$(cat "$tmp/par-$i.status" 2>/dev/null)" = 200 ] && wait_ok=$((wait_ok + 1))
  done
  [ $wait_ok -eq 6 ] && ok "6 concurrent requests through the proxy are all answered" || bad "concurrent: $wait_ok of 6"
fi
if [ -s "$tmp/tap.cap" ] && ! grep -aq "PROMPT-MARKER-7f3a" "$tmp/tap.cap" && ! grep -aqF "$ref_chat" "$tmp/tap.cap" &&
  ! grep -aqF "$api_key" "$tmp/tap.cap"; then
  ok "the TCP tap between proxy and endpoint saw $(wc -c <"$tmp/tap.cap") bytes: no prompt, response or API key in clear"
else
  bad "the tap saw the prompt, the response or the API key (or nothing at all)"
fi

# ---- 3. gateway mode through a TLS-terminating gateway
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=127.0.0.1 \
  -addext subjectAltName=IP:127.0.0.1 -keyout "$tmp/gw.key" -out "$tmp/gw.crt" 2>/dev/null || die "gateway cert"
tl_spawn "$gw" tls --upstream "127.0.0.1:$ep_port" --capture "$tmp/gw.cap" --port-file "$tmp/gw.port" \
  --cert "$tmp/gw.crt" --key "$tmp/gw.key"
wait_file "$tmp/gw.port" || die "the gateway did not start"
if start_proxy gateway "https://127.0.0.1:$(cat "$tmp/gw.port")" "$tmp/client-policy.json" --gateway \
  --cacert "$tmp/gw.crt"; then
  st=$(ask "$proxy" /v1/chat/completions '{"model":"ccgate-model","max_tokens":24,"messages":'"$messages"'}')
  got=$(content 2>/dev/null)
  [ "$st" = 200 ] && [ "$got" = "$ref_chat" ] && ok "gateway mode (OHTTP to the attested key): the same completion" ||
    bad "gateway chat: status $st, got '$got'"
  st=$(ask "$proxy" /v1/chat/completions '{"model":"ccgate-model","max_tokens":24,"stream":true,"messages":'"$messages"'}')
  got=$(stream_text)
  [ "$st" = 200 ] && [ "$got" = "$ref_chat" ] && ok "gateway mode, streamed: the same completion" ||
    bad "gateway stream: status $st, got '$got'"
fi
if grep -aq "message/ohttp-req" "$tmp/gw.cap" && ! grep -aq "PROMPT-MARKER-7f3a" "$tmp/gw.cap" &&
  ! grep -aqF "$ref_chat" "$tmp/gw.cap" && ! grep -aqF "$api_key" "$tmp/gw.cap"; then
  ok "the TLS-terminating gateway saw the requests in clear HTTP, but only OHTTP ciphertext in the bodies"
else
  bad "the gateway saw a prompt, a response or the API key (or no OHTTP at all)"
fi

# ---- 2. refusals
# An unapproved measurement under the client's policy: refused before the prompt leaves.
tl_spawn "$gw" tcp --upstream "127.0.0.1:$ep_port" --capture "$tmp/rogue.cap" --port-file "$tmp/rogue.port"
wait_file "$tmp/rogue.port" || die "the rogue tap did not start"
if start_proxy rogue "https://127.0.0.1:$(cat "$tmp/rogue.port")" "$tmp/rogue-policy.json"; then
  st=$(ask "$proxy" /v1/chat/completions '{"model":"ccgate-model","max_tokens":8,"messages":'"$messages"'}')
  if [ "$st" != 200 ] && grep -q "snp.measurement_not_allowed" "$tmp/resp" && grep -q "client.evidence_denied" "$tmp/resp"; then
    ok "an endpoint the client's policy does not approve: $st, client.evidence_denied, snp.measurement_not_allowed"
  else
    bad "rogue policy: status $st: $(head -c 300 "$tmp/resp")"
  fi
fi
"$cli" client ask --endpoint "https://127.0.0.1:$ep_port" --policy "$tmp/rogue-policy.json" "${trust[@]}" \
  --max-tokens 8 "$prompt" >"$tmp/ask.out" 2>"$tmp/ask.err"
rc=$?
[ $rc -eq 1 ] && grep -q "snp.measurement_not_allowed" "$tmp/ask.err" &&
  ok "ccgate client ask under that policy: exit 1, snp.measurement_not_allowed" || bad "ask rogue: exit $rc $(tail -2 "$tmp/ask.err")"
if ! grep -aq "PROMPT-MARKER-7f3a" "$tmp/rogue.cap"; then
  ok "no prompt byte crossed to the endpoint in the refused cases"
else
  bad "the prompt crossed in clear in a refused case"
fi

# No credential: the endpoint refuses, names the boundary, and keeps serving.
st=$(curl -sk --tlsv1.3 --max-time 20 -o "$tmp/resp" -w '%{http_code}' -H 'content-type: application/json' \
  --data-binary '{"model":"ccgate-model","messages":[{"role":"user","content":"x"}]}' "https://127.0.0.1:$ep_port/v1/chat/completions")
[ "$st" = 401 ] || [ "$st" = 403 ] && grep -q "endpoint.caller_not_allowed" "$tmp/resp" &&
  ok "no API key: $st endpoint.caller_not_allowed" || bad "no credential: $st $(head -c 200 "$tmp/resp")"
st=$(curl -sk --tlsv1.3 --max-time 20 -o "$tmp/resp" -w '%{http_code}' "https://127.0.0.1:$ep_port/admin/keys")
grep -q "endpoint.path_blocked" "$tmp/resp" && ok "an admin path: $st endpoint.path_blocked" || bad "admin path: $st"

# The runner killed: 503 with the reason, never a hang or a bare error.
rpid=$(pgrep -P "$apid" -f "$runner" | head -1) # this agent's runner, not another test's
if [ -n "$rpid" ]; then
  kill -KILL "$rpid"
  sleep 0.3
  st=$(curl -sk --tlsv1.3 --max-time 20 -o "$tmp/resp" -w '%{http_code}' -H "authorization: Bearer $api_key" \
    -H 'content-type: application/json' --data-binary '{"model":"ccgate-model","max_tokens":4,"prompt":"x"}' \
    "https://127.0.0.1:$ep_port/v1/completions")
  [ "$st" = 503 ] && grep -q "endpoint.runner_unavailable" "$tmp/resp" &&
    ok "the runner killed: 503 endpoint.runner_unavailable" || bad "runner killed: $st $(head -c 200 "$tmp/resp")"
else
  bad "the runner process was not found"
fi

# Nothing the callers sent or received is in any log.
if grep -aqF "PROMPT-MARKER-7f3a" "$tmp"/agent.err "$tmp"/agent.out "$tmp"/proxy-*.err "$tmp"/kbs.log ||
  grep -aqF "$api_key" "$tmp"/agent.err "$tmp"/agent.out "$tmp"/proxy-*.err ||
  grep -aqF "$ref_chat" "$tmp"/agent.err "$tmp"/agent.out "$tmp"/proxy-*.err; then
  bad "a prompt, response or API key is in a log"
else
  ok "no prompt, response or API key in the agent's, the proxy's or the broker's logs"
fi
kill -TERM $apid 2>/dev/null
wait $apid 2>/dev/null

# Every line the broker, the agent, its endpoint process and the runner wrote is in the one log schema.
if out=$(tl_log_schema kbs,agent,endpoint,runner "$tmp"/kbs.log "$tmp"/agent.err); then
  ok "every log line of ccgate-kbs, ccgate-agent, ccgate-endpoint and ccgate-runner: the schema ($out)"
else
  bad "log lines outside the schema: $(echo "$out" | head -5)"
fi

[ $fails -eq 0 ] && echo "all passed" || echo "$fails failed"
exit $((fails > 0))
