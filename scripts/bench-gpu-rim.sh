#!/usr/bin/env bash
# The cost of the RIM signature check on its own: NVIDIA driver-RIM verifications per second (parse,
# chain to the pinned root, xmlsec C14N + digest + ECDSA P-384, SWID) beside OpenSSL's ECDSA P-384
# verify rate measured in the same run. A RIM verification is several signature checks (the XML
# signature and the chain's three links) plus canonicalising ~21 KB, so the ratio is well below 1;
# the GPU evidence benchmark keeps verified RIMs cached for that reason. Reported, never failed.
#
# usage: scripts/bench-gpu-rim.sh [BUILD_DIR]    (default build/release; BENCH_SECONDS=3)
set -euo pipefail
build=${1:-build/release}
seconds=${BENCH_SECONDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in
  /*) bin=$build/bench_gpu_rim ;;
  *) bin=$root/$build/bench_gpu_rim ;;
esac
export CCG_VECTORS=${CCG_VECTORS:-$root/tests/vectors} # the vectors are in the tree
if [ ! -x "$bin" ]; then
  echo "bench-gpu-rim: $bin is missing; run 'make build' first" >&2
  exit 2
fi
pin=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true >/dev/null 2>&1; then
  pin=(taskset -c 0)
fi
ossl_out=$(${pin[@]+"${pin[@]}"} openssl speed -seconds "$seconds" ecdsap384 2>/dev/null)
ossl_rate=$(printf '%s\n' "$ossl_out" |
  awk '/^ *384 bits ecdsa \(nistp384\)/ { v = $NF } END { if (v == "") exit 1; print v }') || {
  echo "bench-gpu-rim: could not read the verify/s column from 'openssl speed ecdsap384'" >&2
  exit 1
}
bench_out=$(${pin[@]+"${pin[@]}"} "$bin" "$seconds")
printf '%s\n' "$bench_out" | grep -vE '^[a-z0-9_]+=' || true
rim_rate=$(printf '%s\n' "$bench_out" | sed -n 's/^gpu_rim_verify_per_s=//p')
[ -n "$rim_rate" ] || { echo "bench-gpu-rim: no gpu_rim_verify_per_s" >&2; exit 1; }
awk -v s="$rim_rate" -v o="$ossl_rate" 'BEGIN {
  printf "RIM verify: %.1f/s | openssl ecdsap384 verify: %.1f/s | ratio %.3f (%.1f ECDSA verifies per RIM)\n", s, o, s / o, o / s
}'
