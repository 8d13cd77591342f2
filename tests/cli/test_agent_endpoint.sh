#!/usr/bin/env bash
# The agent serves the inference endpoint (issue 13): the real ccgate-kbs (file keystore, loopback HTTP),
# the real ccgate-agent on a software TD (emulator attester), a model sealed under the imported key, and a
# stand-in runner (tests/support/fake_runner.py) that maps the memfd and listens on CCGATE_RUNNER_SOCKET.
#
#   released -> the runner is started with the socket path, the agent waits for it and serves HTTPS
#   curl (TLS 1.3) with an API key: /v1/models comes from the runner that mapped the unsealed model
#   (its SHA-384 equals the model's), a chat completion passes; TLS 1.2 is refused; no key, a wrong key
#   and an admin path are refused with their codes; the evidence route answers with a TDX quote bound
#   to the nonce; the key hash comes from `ccgate-agent --hash-api-key`
#   the real `ccgate client ask` (direct and --gateway) verifies the quote and is answered; a client policy
#   that does not approve the MRTD refuses before sending
#   SIGTERM -> the endpoint and the runner stop, exit 0
#   the runner killed -> the endpoint answers 503 endpoint.runner_unavailable (and /readyz 503) while
#   /status says failed (agent.server_failed); SIGTERM then ends the agent with exit 18
#   the agent's log has no prompt, completion or API key
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
. "$(dirname "$0")/../support/tdx_broker.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
kbs=${CCG_KBS:-$bin/ccgate-kbs}
agent=${CCG_AGENT:-$bin/ccgate-agent}
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${CCG_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
[ -x "$agent" ] || skip_or_fail "$agent is missing"
command -v curl >/dev/null || skip_or_fail "curl is missing"
[ -x "$py" ] || skip_or_fail "$py is missing"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

vec=$(cd "${CCG_VECTORS:-tests/vectors}/tdx" 2>/dev/null && pwd)
[ -f "$vec/gotdx-ccel-ccel_data.dat" ] || skip_or_fail "the TDX vectors are missing ($vec)"
ccel_log=$vec/gotdx-ccel-ccel_data.dat
ccel_table=$vec/gotdx-ccel-ccel_table.dat
"$cli" emulate tdx --out-dir "$tmp/td" --event-log "$ccel_log" --save-state >/dev/null || { echo "FAIL emulate tdx"; exit 1; }
tdx_broker_start "$tmp" "$cli" "$kbs" model-e 3 ep/model/k 200000 "$tmp/td/collateral.json" || exit 1
port=$tdx_port mrtd=$tdx_mrtd model_sha=$tdx_model_sha

key="ep-test-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash=$(printf '%s\n' "$key" | "$agent" --hash-api-key) || { echo "FAIL --hash-api-key"; exit 1; }
[ "$hash" = "sha256:$(printf '%s' "$key" | sha256sum | cut -d' ' -f1)" ] && ok "--hash-api-key prints sha256 of the key" ||
  bad "--hash-api-key: $hash"
printf 'short\n' | "$agent" --hash-api-key >/dev/null 2>&1 && bad "a short key was hashed" || ok "a short key is refused"

run=0
start_agent() {
  run=$((run + 1))
  cat >"$tmp/agent-$run.json" <<JSON
{"attester":{"kind":"emulator","emulator_dir":"$tmp/td","ccel_path":"$ccel_log","ccel_table_path":"$ccel_table"},
 "broker":{"url":"http://127.0.0.1:$port","insecure_http":true,"timeout":60},
 "key":{"resource":"ep/model/k","version":1},
 "artifact":{"location":"$tmp/model.ccgm","provider_key":"$tmp/provider.pub"},
 "server":{"argv":["$py","$src/tests/support/fake_runner.py"]},
 "status":{"listen":"127.0.0.1:0","port_file":"$tmp/status-$run.port"},
 "endpoint":{"listen":"127.0.0.1:0","port_file":"$tmp/ep-$run.port","runner_socket":"$tmp/runner-$run.sock",
             "gateway":true,"api_keys":[{"name":"app1","hash":"$hash"}]},
 "memlock":"best-effort"}
JSON
  "$agent" --config "$tmp/agent-$run.json" >"$tmp/agent-$run.out" 2>"$tmp/agent-$run.err" &
  apid=$!
  for _ in $(seq 300); do [ -s "$tmp/ep-$run.port" ] && break; kill -0 $apid 2>/dev/null || break; sleep 0.1; done
  [ -s "$tmp/ep-$run.port" ] || { bad "run $run: the endpoint did not start: $(tail -3 "$tmp/agent-$run.err")"; return 1; }
  ep="https://127.0.0.1:$(cat "$tmp/ep-$run.port")"
}
# code URL CURL-ARGS...: the HTTP status, the body in $tmp/body
code() { local u=$1; shift; curl -sk --tlsv1.3 --max-time 20 -o "$tmp/body" -w '%{http_code}' "$@" "$ep$u"; }
json_get() { "$py" -c 'import json,sys; o=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): o=o[k]
print(o)' "$tmp/body" "$1" 2>/dev/null; }

if start_agent; then
  [ "$(code /healthz)" = 200 ] && ok "GET /healthz over TLS 1.3" || bad "healthz: $(cat "$tmp/body")"
  if [ "$(code /v1/models -H "Authorization: Bearer $key")" = 200 ] && [ "$(json_get model_sha384)" = "$model_sha" ]; then
    ok "GET /v1/models reaches the runner, which mapped the unsealed model (SHA-384 matches)"
  else
    bad "models: $(cat "$tmp/body")"
  fi
  st=$(code /v1/chat/completions -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    -d '{"messages":[{"role":"user","content":"PROMPT-MARKER-9c1e"}]}')
  if [ "$st" = 200 ] && grep -q RESPONSE-MARKER-7f3a "$tmp/body" && [ "$(json_get authorization_seen)" = False ]; then
    ok "a chat completion passes; the API key does not reach the runner"
  else
    bad "chat: $st $(cat "$tmp/body")"
  fi
  curl -sk --tls-max 1.2 --max-time 10 -o /dev/null "$ep/healthz" && bad "TLS 1.2 was accepted" || ok "TLS 1.2 is refused"
  [ "$(code /v1/models)" = 401 ] && [ "$(json_get error.code)" = endpoint.caller_not_allowed ] &&
    ok "no key: 401 endpoint.caller_not_allowed" || bad "no key: $(cat "$tmp/body")"
  [ "$(code /v1/models -H 'Authorization: Bearer wrong-key-wrong-key-wrong')" = 401 ] &&
    [ "$(json_get error.code)" = endpoint.caller_not_allowed ] && ok "a wrong key: 401" || bad "wrong key: $(cat "$tmp/body")"
  [ "$(code /admin -H "Authorization: Bearer $key")" = 404 ] && [ "$(json_get error.code)" = endpoint.path_blocked ] &&
    ok "/admin: 404 endpoint.path_blocked" || bad "admin: $(cat "$tmp/body")"
  [ "$(code /v1/../admin --path-as-is)" = 404 ] && [ "$(json_get error.code)" = endpoint.path_blocked ] &&
    ok "traversal: endpoint.path_blocked" || bad "traversal: $(cat "$tmp/body")"
  nonce=$("$py" -c 'import base64,os; print(base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')
  if [ "$(code "/.well-known/ccgate/evidence?nonce=$nonce&binding=hpke")" = 200 ] &&
    [ "$(json_get tee)" = tdx ] && [ "$(json_get nonce)" = "$nonce" ] && [ -n "$(json_get report)" ] &&
    [ -n "$(json_get ccel)" ] && [ -n "$(json_get ccel_data)" ]; then
    ok "the evidence route answers with the guest attester's TDX quote for our nonce, with the CCEL table and log"
  else
    bad "evidence: $(head -c 300 "$tmp/body")"
  fi
  # the real client against the real endpoint: it verifies the TD's quote (and the CCEL) before it sends
  printf '%s' "$key" >"$tmp/key"
  printf '{"policy_id":"client","version":1,"tee":"tdx","allowed_mrtd":["%s"]}' "$mrtd" >"$tmp/client-policy.json"
  copts=(--endpoint "$ep" --policy "$tmp/client-policy.json" --tdx-trust-root "$tmp/td/root.pem"
    --tdx-collateral "$tmp/td/collateral.json" --api-key-file "$tmp/key")
  if out=$("$cli" client ask "${copts[@]}" "PROMPT-MARKER-9c1e" 2>"$tmp/client.err") && grep -q RESPONSE-MARKER-7f3a <<<"$out"; then
    ok "ccgate client ask (direct, tls-exporter binding) is answered through the agent's endpoint"
  else
    bad "client ask: $out $(tail -3 "$tmp/client.err")"
  fi
  if out=$("$cli" client ask --gateway --insecure-gateway-tls "${copts[@]}" "PROMPT-MARKER-9c1e" 2>"$tmp/client.err") &&
    grep -q RESPONSE-MARKER-7f3a <<<"$out"; then
    ok "ccgate client ask --gateway (OHTTP to the attested key) is answered"
  else
    bad "client ask --gateway: $out $(tail -3 "$tmp/client.err")"
  fi
  printf '{"policy_id":"client","version":1,"tee":"tdx","allowed_mrtd":["%s"]}' "$(printf '11%.0s' $(seq 48))" \
    >"$tmp/other-policy.json"
  "$cli" client ask --endpoint "$ep" --policy "$tmp/other-policy.json" --tdx-trust-root "$tmp/td/root.pem" \
    --tdx-collateral "$tmp/td/collateral.json" --api-key-file "$tmp/key" "PROMPT-MARKER-9c1e" >/dev/null 2>"$tmp/client.err"
  rc=$?
  [ $rc -eq 1 ] && grep -q tdx.mrtd_not_allowed "$tmp/client.err" &&
    ok "a client whose policy does not approve this MRTD refuses before sending (tdx.mrtd_not_allowed)" ||
    bad "unapproved MRTD: exit $rc $(tail -2 "$tmp/client.err")"
  sp=$(curl -s "http://127.0.0.1:$(cat "$tmp/status-$run.port")/status")
  "$py" -c 'import json,sys; o=json.loads(sys.argv[1]); e=o["endpoint"]
sys.exit(0 if o["state"]=="serving" and o["endpoint_port"]>0 and e["path_blocked"]==2 and e["caller_denied"]==2
         and e["handshake_failed"]==1 and e["evidence_served"]>=4 and e["gateway_requests"]==1 else 1)' \
    "$sp" && ok "/status (loopback): serving, the endpoint's port and its counters" || bad "status: $sp"
  kill -TERM $apid
  wait $apid
  rc=$?
  [ $rc -eq 0 ] && ok "SIGTERM stops the endpoint and the runner (exit 0)" || bad "exit $rc after SIGTERM"
  curl -sk --max-time 5 -o /dev/null "$ep/healthz" && bad "the endpoint still answers" || ok "the endpoint is gone"
fi

if start_agent; then
  rpid=$(curl -s "http://127.0.0.1:$(cat "$tmp/status-$run.port")/status" |
    "$py" -c 'import json,sys; print(json.load(sys.stdin)["server_pid"])')
  kill -KILL "$rpid"
  for _ in $(seq 100); do grep -q '"event":"runner.failed"' "$tmp/agent-$run.err" && break; sleep 0.1; done
  st=$(code /v1/chat/completions -H "Authorization: Bearer $key" -H 'Content-Type: application/json' -d '{"messages":[]}')
  [ "$st" = 503 ] && [ "$(json_get error.code)" = endpoint.runner_unavailable ] &&
    ok "the runner killed: 503 endpoint.runner_unavailable, the endpoint still answers" || bad "runner killed: $st $(cat "$tmp/body")"
  [ "$(code /readyz)" = 503 ] && [ "$(code /healthz)" = 200 ] && ok "the runner killed: /readyz 503, /healthz 200" ||
    bad "runner killed: readyz/healthz"
  sp=$(curl -s "http://127.0.0.1:$(cat "$tmp/status-$run.port")/status")
  "$py" -c 'import json,sys; o=json.loads(sys.argv[1]); sys.exit(0 if o["state"]=="failed" and o["reason"]=="agent.server_failed" else 1)' \
    "$sp" && ok "/status: failed, agent.server_failed" || bad "status after the runner died: $sp"
  kill -TERM $apid
  wait $apid
  rc=$?
  [ $rc -eq 18 ] && grep -q agent.server_failed "$tmp/agent-$run.err" &&
    ok "then SIGTERM: exit 18 agent.server_failed" || bad "runner killed: exit $rc"
fi

if cat "$tmp"/agent-*.err | grep -q -e PROMPT-MARKER -e RESPONSE-MARKER -e "$key"; then
  bad "the agent's log carries a prompt, a completion or the key"
else
  ok "no prompt, completion or API key in the agent's log"
fi
grep -q '"event":"endpoint.request"' "$tmp/agent-1.err" && grep -q '"correlation_id"' "$tmp/agent-1.err" &&
  ok "request log lines carry their correlation ID" || bad "no request log lines"
[ $fails -eq 0 ]
