#!/usr/bin/env bash
# `make bench`: SEV-SNP verifications per second on one core with the chain cached, beside OpenSSL's
# ECDSA P-384 verify rate measured in the same run, and their ratio (target >= 0.90: a verification
# should cost little more than its one signature check). A low ratio is reported, not failed: shared
# machines are noisy. Only errors fail.
#
# usage: scripts/bench.sh [BUILD_DIR]    (default build/release; BENCH_SECONDS=3 sets the run length)
set -euo pipefail
build=${1:-build/release}
seconds=${BENCH_SECONDS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in
  /*) bin=$build/bench_snp_verify ;;
  *) bin=$root/$build/bench_snp_verify ;;
esac
export CCG_VECTORS=${CCG_VECTORS:-$root/tests/vectors} # the vectors are in the tree

if [ ! -x "$bin" ]; then
  echo "bench: $bin is missing; run 'make build' first" >&2
  exit 2
fi
if ! command -v openssl >/dev/null 2>&1; then
  echo "bench: the openssl command is needed for the reference rate" >&2
  exit 2
fi

# Pin both measurements to one core when taskset works here (it can be refused in containers).
pin=()
if command -v taskset >/dev/null 2>&1 && taskset -c 0 true >/dev/null 2>&1; then
  pin=(taskset -c 0)
  echo "bench: pinned to core 0"
else
  echo "bench: taskset unavailable; not pinned"
fi

# The reference: OpenSSL's own ECDSA P-384 verify rate, from the last column of its final table line.
ossl_out=$(${pin[@]+"${pin[@]}"} openssl speed -seconds "$seconds" ecdsap384 2>/dev/null)
ossl_rate=$(printf '%s\n' "$ossl_out" |
  awk '/^ *384 bits ecdsa \(nistp384\)/ { v = $NF } END { if (v == "") exit 1; print v }') || {
  echo "bench: could not read the verify/s column from 'openssl speed ecdsap384':" >&2
  printf '%s\n' "$ossl_out" >&2
  exit 1
}

bench_out=$(${pin[@]+"${pin[@]}"} "$bin" "$seconds")
printf '%s\n' "$bench_out" | grep -vE '^[a-z0-9_]+=' || true
snp_rate=$(printf '%s\n' "$bench_out" | sed -n 's/^snp_verify_cached_per_s=//p')
if [ -z "$snp_rate" ]; then
  echo "bench: bench_snp_verify printed no snp_verify_cached_per_s" >&2
  exit 1
fi

awk -v s="$snp_rate" -v o="$ossl_rate" 'BEGIN {
  if (o + 0 <= 0) { print "bench: openssl reported a zero verify rate" > "/dev/stderr"; exit 1 }
  r = s / o
  printf "snp verify (chain cached): %.1f/s | openssl ecdsap384 verify: %.1f/s | ratio %.2f (target >= 0.90)\n", s, o, r
  if (r < 0.90) print "bench: ratio below target (not an error; repeat on a quiet machine before concluding)"
}'
