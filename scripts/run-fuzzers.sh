#!/usr/bin/env bash
# Gives every libFuzzer target a short, bounded run, seeded from fuzz/corpus/<target> when present.
set -euo pipefail
build=${1:?build dir}
seconds=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
vectors=${CCG_VECTORS:-$root/../shared/vectors}
shopt -s nullglob
targets=("$build"/fuzz_*)
if [ ${#targets[@]} -eq 0 ]; then
  echo "run-fuzzers: no fuzz targets in $build" >&2
  exit 1
fi
passed=0
failed=0
for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name=$(basename "$t")
  work=$(mktemp -d)
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds+=("$root/fuzz/corpus/$name")
  # Real reports seed the report parser at run time; vectors are read in place, never committed.
  if [ "$name" = fuzz_snp_report ] && [ -d "$vectors/snp" ]; then
    find "$vectors/snp" -name '*report*.bin' -exec cp {} "$work/" \;
  fi
  # sev-snp-measure's OVMF suffixes seed the OVMF parser the same way.
  if [ "$name" = fuzz_ovmf ] && [ -d "$vectors/snp-measure" ]; then
    cp "$vectors/snp-measure/"ovmf_*_suffix.bin "$work/" 2>/dev/null || true
  fi
  # NVIDIA's GPU reports (hex text, which the GPU front end reads) and JSON evidence, likewise.
  if [ "$name" = fuzz_gpu_spdm ] && [ -d "$vectors/nvgpu" ]; then
    i=0; for f in "$vectors"/nvgpu/*/*AttestationReport*.txt; do cp "$f" "$work/report$i.txt"; i=$((i + 1)); done
  fi
  if [ "$name" = fuzz_gpu_evidence_json ] && [ -d "$vectors/nvgpu" ]; then
    cp "$vectors"/nvgpu/*/evidence_*.json "$work/" 2>/dev/null || true
  fi
  # NVIDIA's RIMs (signed SWID XML) seed the RIM front end the same way.
  if [ "$name" = fuzz_gpu_rim ] && [ -d "$vectors/nvgpu" ]; then
    find "$vectors/nvgpu" \( -name '*.xml' -o -name '*.swidtag' \) -exec cp {} "$work/" \;
  fi
  echo "fuzz: $name for ${seconds}s"
  if "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work" "${seeds[@]}" >"$work/log" 2>&1; then
    grep -E '^stat::number_of_executed_units' "$work/log" || true
    passed=$((passed + 1))
  else
    tail -n 40 "$work/log"
    echo "fuzz: $name FAILED (artifacts in $work)"
    failed=$((failed + 1))
  fi
done
echo "fuzz: ${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
