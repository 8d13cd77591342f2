#!/usr/bin/env bash
# Benchmark of `ccgate measure snp`:
#   1. wall clock of ccgate against virtee/sev-snp-measure on the same inputs (an OVMF with 64 vCPUs,
#      EPYC-v4), BENCH_RUNS invocations of each in one run, their digests compared, and the ratio
#      (target >= 20x);
#   2. the page-hashing throughput (bench_snp_measure) against `openssl speed -evp sha384 -bytes 4096`.
# sev-snp-measure is optional (CI machines lack it) and this script never downloads anything: set
# SEV_SNP_MEASURE to a command, e.g. "/usr/bin/python3 -m sevsnpmeasure.cli" with PYTHONPATH pointing at a
# local clone, or put sev-snp-measure on PATH. Call the interpreter itself, not a shim (a pyenv shim alone
# adds ~100 ms per run). Low ratios are reported, not failed; only errors and digest disagreements fail.
#
# usage: scripts/bench-measure.sh [BUILD_DIR]   (default build/release; BENCH_RUNS=20, BENCH_SECONDS=2,
#                                                BENCH_OVMF=FILE overrides the firmware)
set -euo pipefail
build=${1:-build/release}
runs=${BENCH_RUNS:-20}
seconds=${BENCH_SECONDS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in
  /*) ;;
  *) build=$root/$build ;;
esac
cli=$build/ccgate
bench=$build/bench_snp_measure
vectors=${CCG_VECTORS:-$root/tests/vectors}

for f in "$cli" "$bench"; do
  if [ ! -x "$f" ]; then
    echo "bench-measure: $f is missing; build $build first" >&2
    exit 2
  fi
done

# The firmware: Debian's OVMF.fd (apt-get install ovmf), else the full OVMF among the vectors.
ovmf=${BENCH_OVMF:-}
for candidate in /usr/share/ovmf/OVMF.fd "$vectors/snp-measure/svsm_ovmf.fd"; do
  if [ -z "$ovmf" ] && [ -f "$candidate" ]; then ovmf=$candidate; fi
done
if [ -z "$ovmf" ]; then
  echo "bench-measure: no OVMF found (apt-get install ovmf, or set BENCH_OVMF)" >&2
  exit 2
fi
args=(measure snp --ovmf "$ovmf" --vcpus 64 --vcpu-type EPYC-v4)
echo "bench-measure: $ovmf ($(stat -c %s "$ovmf") bytes), 64 vCPUs, EPYC-v4, $runs runs each"

now_ns() { date +%s%N; }

# time_runs VAR -- command...: total wall nanoseconds of $runs invocations; the digest lands in $digest.
time_runs() {
  local var=$1
  shift 2
  local t0 t1
  digest=$("$@" | tail -n 1)
  t0=$(now_ns)
  for _ in $(seq "$runs"); do "$@" >/dev/null; done
  t1=$(now_ns)
  printf -v "$var" '%s' $((t1 - t0))
}

time_runs ccg_ns -- "$cli" "${args[@]}"
ccg_digest=$digest
awk -v t="$ccg_ns" -v n="$runs" 'BEGIN { printf "ccgate measure snp:  %.2f ms per run\n", t / n / 1e6 }'

py=()
if [ -n "${SEV_SNP_MEASURE:-}" ]; then
  read -r -a py <<<"$SEV_SNP_MEASURE"
elif command -v sev-snp-measure >/dev/null 2>&1; then
  py=(sev-snp-measure)
fi
if [ ${#py[@]} -gt 0 ] && ! "${py[@]}" --help >/dev/null 2>&1; then
  py=()
fi
if [ ${#py[@]} -eq 0 ]; then
  echo "sev-snp-measure: skipped: sev-snp-measure not available"
else
  time_runs py_ns -- "${py[@]}" --mode snp --ovmf "$ovmf" --vcpus 64 --vcpu-type EPYC-v4
  if [ "$digest" != "$ccg_digest" ]; then
    echo "bench-measure: digests differ: ccgate $ccg_digest, sev-snp-measure $digest" >&2
    exit 1
  fi
  awk -v p="$py_ns" -v c="$ccg_ns" -v n="$runs" 'BEGIN {
    r = p / c
    printf "sev-snp-measure:     %.2f ms per run (same digest)\n", p / n / 1e6
    printf "wall-clock ratio: ccgate is %.1fx faster (target >= 20x)\n", r
    if (r < 20) print "bench-measure: ratio below target (not an error; see docs/measurement.md, Performance)"
  }'
fi

# Throughput: OpenSSL's own SHA-384 rate on 4 KiB blocks (in 1000s of bytes/s) against the page chain.
if command -v openssl >/dev/null 2>&1; then
  ossl_k=$(openssl speed -evp sha384 -bytes 4096 -seconds "$seconds" 2>/dev/null |
    awk '$1 == "sha384" { v = $NF } END { if (v == "") exit 1; sub(/k$/, "", v); print v }') || ossl_k=
else
  ossl_k=
fi
bench_out=$("$bench" "$ovmf" "$seconds")
printf '%s\n' "$bench_out" | grep -vE '^[a-z0-9_]+=' || true
chain=$(printf '%s\n' "$bench_out" | sed -n 's/^sha384_chain_mb_s=//p')
if [ -z "$ossl_k" ]; then
  echo "openssl speed: skipped: the openssl command is not available"
else
  awk -v c="$chain" -v o="$ossl_k" 'BEGIN {
    o = o / 1000
    printf "page chain %.1f MB/s per CPU second | openssl speed -evp sha384 -bytes 4096: %.1f MB/s | ratio %.2f\n", c, o, c / o
  }'
fi
