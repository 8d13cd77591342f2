#!/usr/bin/env bash
# Benchmark of the inference endpoint (docs/endpoint.md, "Performance"), on the whole stack of
# tests/support/serve_stack.sh (ccgate-kbs, ccgate-agent on the software SNP guest, ccgate-runner):
#   1. requests per second and p50/p99 of chat completions through `ccgate client proxy` and the endpoint
#      (attested TLS, API key, forwarding to the runner), against the runner's Unix socket directly at the
#      same concurrency, in the same run, as a ratio (aim >= 0.8); and the CPU time per request of the
#      proxy, the endpoint and the runner, with the ratio it predicts (steadier on a shared machine);
#   2. attested connection set-up (new TLS connection, evidence, SNP verification, binding), p50/p99, against
#      a plain TLS connection to /healthz on the same endpoint in the same run.
# Low ratios are reported, not failed; only errors fail.
#
# usage: scripts/bench-endpoint.sh [BUILD_DIR]   (default build/release; BENCH_SECONDS=5,
#        BENCH_CONCURRENCY=4 (the runner's generation slots), BENCH_MAX_TOKENS=8, BENCH_ROUNDS=200)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build/release}
case $build in /*) ;; *) build=$root/$build ;; esac
seconds=${BENCH_SECONDS:-5}
conc=${BENCH_CONCURRENCY:-4}
max_tokens=${BENCH_MAX_TOKENS:-8}
rounds=${BENCH_ROUNDS:-200}
for p in ccgate ccgate-kbs ccgate-agent ccgate-runner bench_http_load bench_endpoint_attest; do
  [ -x "$build/$p" ] || { echo "bench-endpoint: $build/$p is missing; run 'make build' first" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "bench-endpoint: curl is needed" >&2; exit 2; }
work=$(mktemp -d)
tl_spawn() { "$@" & }
cleanup() {
  local pids
  pids=$(jobs -p)
  [ -z "$pids" ] || kill $pids 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
. "$root/tests/support/serve_stack.sh"
# The rate limits (per caller, and per address on the evidence route) would measure themselves, not the
# endpoint: lifted for the benchmark.
ss_endpoint_extra=',"limits":{"rate_per_s":1000000,"rate_burst":1000000,"evidence_rate_per_s":1000000,"evidence_rate_burst":1000000}'
ss_start "$work" "$build" || { echo "bench-endpoint: the stack did not start" >&2; exit 1; }
echo "bench-endpoint: the agent serves the endpoint on port $ss_ep_port (software SNP guest, TEST ROOT)"

tl_spawn "$build/ccgate" client proxy --listen 127.0.0.1:0 --port-file "$work/proxy.port" \
  --endpoint "https://127.0.0.1:$ss_ep_port" --policy "$work/client-policy.json" --connections "$conc" \
  --trust-root "$work/guest/ark.pem" --trust-root-product milan --tcb-baseline "$work/milan-tcb.json" \
  --issuer-key "authority=$work/authority.pub" --api-key-file "$work/api.key" 2>"$work/proxy.err"
proxy_pid=$!
ss_wait_file "$work/proxy.port" || { echo "bench-endpoint: the proxy did not start: $(tail -3 "$work/proxy.err")" >&2; exit 1; }
proxy="http://127.0.0.1:$(cat "$work/proxy.port")"
printf '{"model":"ccgate-model","max_tokens":%s,"messages":[{"role":"user","content":"Hello, gate"}]}' \
  "$max_tokens" >"$work/body.json"

load() { # NAME ARGS... -> prints the figures; sets rps_<NAME>
  local out
  shift
  out=$("$build/bench_http_load" --body "$work/body.json" --header 'content-type: application/json' \
    --concurrency "$conc" --seconds "$seconds" "$@") || { echo "bench-endpoint: load failed: $out" >&2; exit 1; }
  printf '%s\n' "$out" | sed -n 's/^rps=//p'
  printf '%s\n' "$out" | sed -n 's/^p50_ms=//p'
  printf '%s\n' "$out" | sed -n 's/^p99_ms=//p'
}
# A warm-up pass attests the proxy's upstream connections before the measurement.
load warm --url "$proxy/v1/chat/completions" >/dev/null
# CPU time (ticks) of the proxy, the agent (the endpoint) and the runner, around each measurement: on a
# shared machine the requests-per-second ratio depends on who else runs, the CPU per request does not.
runner_pid=$(pgrep -P "$ss_agent_pid" | head -1)
ticks() { for p in "$proxy_pid" "$ss_agent_pid" "$runner_pid"; do awk '{printf "%d ", $14 + $15}' "/proc/$p/stat"; done; }
t0=$(ticks)
mapfile -t via < <(load proxy --url "$proxy/v1/chat/completions")
t1=$(ticks)
mapfile -t direct < <(load direct --url http://runner/v1/chat/completions --unix-socket "$ss_runner_sock")
t2=$(ticks)
printf 'chat completions (%s tokens), concurrency %s, %s s each:\n' "$max_tokens" "$conc" "$seconds"
printf '  through proxy + endpoint: %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms\n' "${via[0]}" "${via[1]}" "${via[2]}"
printf '  runner socket directly:   %8.1f req/s  p50 %7.2f ms  p99 %7.2f ms\n' "${direct[0]}" "${direct[1]}" "${direct[2]}"
awk -v a="${via[0]}" -v b="${direct[0]}" 'BEGIN { printf "  ratio (proxy + endpoint / direct): %.2f (aim >= 0.8)\n", a / b }'
awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v a="${via[0]}" -v b="${direct[0]}" -v s="$seconds" -v hz="$(getconf CLK_TCK)" '
  BEGIN { split(t0, x); split(t1, y); split(t2, z); nv = a * s; nd = b * s; k = 1000 / hz
          px = (y[1] - x[1]) * k / nv; ag = (y[2] - x[2]) * k / nv; rv = (y[3] - x[3]) * k / nv; rd = (z[3] - y[3]) * k / nd
          printf "  CPU per request: proxy %.3f ms, endpoint %.3f ms, runner %.3f ms (direct: runner %.3f ms)\n", px, ag, rv, rd
          printf "  CPU ratio (direct runner / proxy + endpoint + runner): %.2f\n", rd / (px + ag + rv) }'

# The set-up benchmark's client policy: the approved measurement; the emulator's TCB taken as it is (the
# baseline compare is not what this measures).
cat >"$work/bench-policy.json" <<JSON
{"policy_id":"bench","version":1,"allowed_measurements":["$ss_meas"],"tcb":{"require_baseline":false}}
JSON
out=$("$build/bench_endpoint_attest" "https://127.0.0.1:$ss_ep_port" "$work/guest/ark.pem" "$work/bench-policy.json" "$rounds") ||
  { echo "bench-endpoint: set-up benchmark failed: $out" >&2; exit 1; }
val() { printf '%s\n' "$out" | sed -n "s/^$1=//p"; }
printf 'attested connection set-up, %s rounds: p50 %s ms, p99 %s ms\n' "$rounds" "$(val setup_p50_ms)" "$(val setup_p99_ms)"
printf 'plain TLS connection + GET /healthz:  p50 %s ms, p99 %s ms\n' "$(val plain_p50_ms)" "$(val plain_p99_ms)"
awk -v a="$(val setup_p50_ms)" -v b="$(val plain_p50_ms)" 'BEGIN { printf "  ratio (plain / attested, p50): %.2f\n", b / a }'
