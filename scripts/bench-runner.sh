#!/usr/bin/env bash
# Benchmark of the model runner (docs/runner.md, "Benchmark"): its tokens per second next to a plain C loop
# over the same weights (one naive matvec per weight matrix per token), measured in the same run, as a ratio.
#   (a) in process: bench_runner (greedy generation against the plain loop, BENCH_SECONDS each, pinned);
#   (b) through the API: ccgate-runner on a Unix socket, BENCH_REQUESTS non-streamed completions with curl,
#       tokens (prompt + completion, as usage counts them) per second against the plain loop of (a).
# Low ratios are reported, not failed; only errors fail.
#
# usage: scripts/bench-runner.sh [BUILD_DIR]   (default build/release; BENCH_SECONDS=3, BENCH_REQUESTS=20)
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
build=${1:-build/release}
bench_setup bench-runner "$build" bench_runner
requests=${BENCH_REQUESTS:-20}
bench_run
plain=$(bench_value plain_tps)

# (b) through the runner's socket.
dir=$(dirname "$bin")
if [ ! -x "$dir/ccgate-runner" ] || [ ! -x "$dir/ccgate" ] || ! command -v curl >/dev/null 2>&1 ||
   ! command -v python3 >/dev/null 2>&1; then
  echo "runner over its socket: skipped (needs ccgate-runner and ccgate in $dir, curl and python3)"
  exit 0
fi
work=$(mktemp -d)
rpid=
cleanup() {
  if [ -n "$rpid" ]; then kill "$rpid" 2>/dev/null || true; wait "$rpid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
"$dir/ccgate" model generate --seed 42 --out "$work/m.ccgm" >/dev/null
${pin[@]+"${pin[@]}"} "$dir/ccgate-runner" --socket "$work/r.sock" --model "$work/m.ccgm" --quiet 2>"$work/log" &
rpid=$!
for _ in $(seq 100); do
  curl -sf --unix-socket "$work/r.sock" http://runner/healthz >/dev/null 2>&1 && break
  sleep 0.05
done
python3 - "$work/r.sock" "$requests" "$plain" <<'PY'
import json, subprocess, sys, time
sock, n, plain = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
body = json.dumps({"prompt": "Hello, world", "max_tokens": 243}).encode()
tokens = 0
t0 = time.monotonic()
for _ in range(n):
    out = subprocess.run(["curl", "-sS", "--unix-socket", sock, "--data-binary", "@-", "http://runner/v1/completions"],
                         input=body, capture_output=True, check=True).stdout
    u = json.loads(out)["usage"]
    tokens += u["prompt_tokens"] + u["completion_tokens"]
dt = time.monotonic() - t0
print(f"runner over its socket ({n} requests with curl): {tokens / dt:.0f} tokens/s | plain loop {plain:.0f} tokens/s"
      f" | ratio {tokens / dt / plain:.2f}")
PY
