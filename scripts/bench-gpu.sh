#!/usr/bin/env bash
# `make bench`: NVIDIA GPU evidence verifications per second on one core with the chain cached (a real
# H100 report and its five-certificate chain), beside OpenSSL's ECDSA P-384 verify rate measured in the
# same run, and their ratio (aim >= 0.85: a verification should cost little more than its one signature
# check). The RIM comparison is not in this figure. A low ratio is reported, not failed: shared machines
# are noisy. Only errors fail.
#
# usage: scripts/bench-gpu.sh [BUILD_DIR]    (default build/release; BENCH_SECONDS=3 sets the run length)
set -euo pipefail
build=${1:-build/release}
seconds=${BENCH_SECONDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in
  /*) bin=$build/bench_gpu_verify ;;
  *) bin=$root/$build/bench_gpu_verify ;;
esac
export CCG_VECTORS=${CCG_VECTORS:-$root/tests/vectors} # the vectors are in the tree

if [ ! -x "$bin" ]; then
  echo "bench-gpu: $bin is missing; run 'make build' first" >&2
  exit 2
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "bench-gpu: the openssl command is needed for the reference rate" >&2
  exit 2
fi

pin=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true >/dev/null 2>&1; then
  pin=(taskset -c 0)
  echo "bench-gpu: pinned to core 0"
else
  echo "bench-gpu: taskset unavailable; not pinned"
fi

# The reference: OpenSSL's own ECDSA P-384 verify rate, the last column of its final table line.
ossl_out=$(${pin[@]+"${pin[@]}"} openssl speed -seconds "$seconds" ecdsap384 2>/dev/null)
ossl_rate=$(printf '%s\n' "$ossl_out" |
  awk '/^ *384 bits ecdsa \(nistp384\)/ { v = $NF } END { if (v == "") exit 1; print v }') || {
  echo "bench-gpu: could not read the verify/s column from 'openssl speed ecdsap384':" >&2
  printf '%s\n' "$ossl_out" >&2
  exit 1
}

bench_out=$(${pin[@]+"${pin[@]}"} "$bin" "$seconds")
printf '%s\n' "$bench_out" | grep -vE '^[a-z0-9_]+=' || true
gpu_rate=$(printf '%s\n' "$bench_out" | sed -n 's/^gpu_verify_cached_per_s=//p')
if [ -z "$gpu_rate" ]; then
  echo "bench-gpu: bench_gpu_verify printed no gpu_verify_cached_per_s" >&2
  exit 1
fi

awk -v g="$gpu_rate" -v o="$ossl_rate" 'BEGIN {
  if (o + 0 <= 0) { print "bench-gpu: openssl reported a zero verify rate" > "/dev/stderr"; exit 1 }
  r = g / o
  printf "gpu verify (chain cached): %.1f/s | openssl ecdsap384 verify: %.1f/s | ratio %.2f (aim >= 0.85)\n", g, o, r
  if (r < 0.85) print "bench-gpu: ratio below the aim (not an error; repeat on a quiet machine before concluding)"
}'
