#!/usr/bin/env bash
# Benchmark of unsealing model artifacts (docs/artifact-format.md, Performance):
#   (a) unseal throughput on every core against `openssl speed -evp aes-256-gcm -bytes 16384` x cores,
#       measured in the same run (aim 0.8), also against the AES-GCM + SHA-384 anchor (bench_unseal);
#   (b) `ccgate unseal` against `age -d` (Debian age) on the same plaintext size, both writing the
#       plaintext to a file in BENCH_DIR, best of BENCH_RUNS (aim 3x faster);
#   (c) loading a 1 GiB model into memory: unseal against a plain read, cold page cache (root only;
#       skipped otherwise) and warm (bench_unseal).
# Low ratios are reported, not failed; only errors fail. Every file is deleted afterwards.
#
# usage: scripts/bench-unseal.sh [BUILD_DIR]   (default build/release; BENCH_MIB=512 for (a) and (b),
#                                                BENCH_LOAD_MIB=1024 for (c), BENCH_RUNS=3, BENCH_DIR=/tmp)
set -euo pipefail
build=${1:-build/release}
mib=${BENCH_MIB:-512}
load_mib=${BENCH_LOAD_MIB:-1024}
runs=${BENCH_RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in
  /*) ;;
  *) build=$root/$build ;;
esac
cli=$build/ccgate
bench=$build/bench_unseal
for f in "$cli" "$bench"; do
  if [ ! -x "$f" ]; then
    echo "bench-unseal: $f is missing; build $build first" >&2
    exit 2
  fi
done
work=$(mktemp -d "${BENCH_DIR:-/tmp}/ccg-bench-unseal.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "bench-unseal: $(nproc) cores, $mib MiB for throughput and age, $load_mib MiB for the load test"

# (a) and (c)
"$bench" "$mib" "$load_mib" "$work" | grep -vE '^[a-z_]+='

# (b) against age -d
if ! command -v age >/dev/null 2>&1 || ! command -v age-keygen >/dev/null 2>&1; then
  echo "age: skipped: age is not installed (apt-get install age)"
  exit 0
fi
head -c $((mib << 20)) /dev/urandom > "$work/model.bin"
head -c 32 /dev/urandom > "$work/model.key"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/p.key" 2>/dev/null
openssl pkey -in "$work/p.key" -pubout -out "$work/p.pub"
age-keygen -o "$work/age.id" 2>/dev/null
age -r "$(age-keygen -y "$work/age.id")" -o "$work/model.age" "$work/model.bin"
"$cli" seal --in "$work/model.bin" --out "$work/model.ccga" --key-file "$work/model.key" --key-id bench/model/k \
  --key-version 1 --signer "$work/p.key" >/dev/null
rm -f "$work/model.bin"

now_ns() { date +%s%N; }
# best_of VAR -- command...: the best wall nanoseconds of $runs runs.
best_of() {
  local var=$1 best=0 t0 t1
  shift 2
  for _ in $(seq "$runs"); do
    t0=$(now_ns)
    "$@" >/dev/null
    t1=$(now_ns)
    if [ "$best" -eq 0 ] || [ $((t1 - t0)) -lt "$best" ]; then best=$((t1 - t0)); fi
    rm -f "$work/out.bin"
  done
  printf -v "$var" '%s' "$best"
}
best_of ccg_ns -- "$cli" unseal --in "$work/model.ccga" --out "$work/out.bin" --key-file "$work/model.key" \
  --key-version 1 --provider-key "$work/p.pub"
best_of age_ns -- age -d -i "$work/age.id" -o "$work/out.bin" "$work/model.age"
awk -v c="$ccg_ns" -v a="$age_ns" -v m="$mib" 'BEGIN {
  printf "ccgate unseal %d MiB to a file: %.3f s (%.0f MB/s) | age -d: %.3f s (%.0f MB/s) | ccgate is %.2fx faster (aim 3x)\n",
    m, c / 1e9, m * 1048576 / (c / 1e9) / 1e6, a / 1e9, m * 1048576 / (a / 1e9) / 1e6, a / c
}'
