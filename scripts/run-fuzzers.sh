#!/usr/bin/env bash
# Gives every libFuzzer target a bounded run of SECONDS (make test: 20; make fuzz-long: 600), seeded from
# fuzz/corpus/<target> when present. FUZZ_ONLY=REGEX runs only the targets whose name matches.
# Usage: scripts/run-fuzzers.sh BUILD_DIR [SECONDS]
set -euo pipefail
build=${1:?build dir}
seconds=${2:-20}
only=${FUZZ_ONLY:-}
root=$(cd "$(dirname "$0")/.." && pwd)
# The real vectors are in the tree (tests/vectors/<set>/PROVENANCE.json); CCG_VECTORS overrides.
vectors=${CCG_VECTORS:-$root/tests/vectors}
nvgpu=$vectors/nvgpu
tdx=$vectors/tdx
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
  if [ -n "$only" ] && ! [[ $name =~ $only ]]; then
    continue
  fi
  work=$(mktemp -d)
  seeds=()
  [ -d "$root/fuzz/corpus/$name" ] && seeds+=("$root/fuzz/corpus/$name")
  # Real reports seed the report parser at run time, copied from the vectors into the run's work directory.
  if [ "$name" = fuzz_snp_report ] && [ -d "$vectors/snp" ]; then
    find "$vectors/snp" -name '*report*.bin' -exec cp {} "$work/" \;
  fi
  # The RFC 9458 / RFC 9292 examples (tests/vectors/ohttp) are already in fuzz/corpus/fuzz_ohttp as
  # selector-prefixed seeds; fuzz_sse and fuzz_endpoint_evidence seed from their corpus folders only.
  # sev-snp-measure's OVMF suffixes seed the OVMF parser the same way.
  if [ "$name" = fuzz_ovmf ] && [ -d "$vectors/snp-measure" ]; then
    cp "$vectors/snp-measure/"ovmf_*_suffix.bin "$work/" 2>/dev/null || true
  fi
  # NVIDIA's GPU reports (hex text, which the GPU front end reads) and JSON evidence, likewise.
  if [ "$name" = fuzz_gpu_spdm ] && [ -d "$nvgpu" ]; then
    i=0; for f in "$nvgpu"/*/*AttestationReport*.txt; do cp "$f" "$work/report$i.txt"; i=$((i + 1)); done
  fi
  if [ "$name" = fuzz_gpu_evidence_json ] && [ -d "$nvgpu" ]; then
    cp "$nvgpu"/*/evidence_*.json "$work/" 2>/dev/null || true
  fi
  # NVIDIA's RIMs (signed SWID XML) seed the RIM front end the same way.
  if [ "$name" = fuzz_gpu_rim ] && [ -d "$nvgpu" ]; then
    find "$nvgpu" \( -name '*.xml' -o -name '*.swidtag' \) -exec cp {} "$work/" \;
  fi
  # The TDX quotes and collateral (tests/vectors/tdx): whole quotes, their certification data, and the
  # signed JSON with the target's selector byte (0 TCB info, 1 QE identity, 3 bundle); the CCEL event
  # log with fuzz_tdx_ccel's selector (0 log area, cut a little past its last event so seeds stay
  # small; 1 ACPI table; 2 log area and a runtime RTMR3 log made of its last event relabelled).
  if [[ $name == fuzz_tdx_* || $name == fuzz_kbs_tdx_evidence ]] && [ -d "$tdx" ]; then
    python3 - "$name" "$tdx" "$work" <<'PY' || true
import binascii, glob, json, os, struct, sys
name, tdx, work = sys.argv[1:4]
quotes = [open(f, "rb").read() for f in glob.glob(tdx + "/*/*quote*") if not f.endswith(".json")]
quotes = [binascii.unhexlify(q.strip()[2:] if q.startswith(b"0x") else q.strip()) if q[:1] == b"0" and q[1:2] in b"0x" and b"\x00" not in q[:4] else q for q in quotes]
for i, q in enumerate(quotes):
    if name == "fuzz_tdx_quote":
        open(f"{work}/quote{i}", "wb").write(q)
    elif name == "fuzz_tdx_certdata" and len(q) > 1000:
        off = 48 + (584 if q[0] == 4 else 6 + struct.unpack_from("<I", q, 50)[0])
        size = struct.unpack_from("<I", q, off)[0]
        open(f"{work}/cert{i}", "wb").write(q[off + 4 + 128: off + 4 + size])
if name == "fuzz_tdx_ccel":
    for f in glob.glob(tdx + "/*ccel_data*"):
        log = open(f, "rb").read()
        end = log.find(b"\xff" * 16)
        log = log[: end + 16] if end > 0 else log[:32768]
        open(f"{work}/log", "wb").write(b"\x00" + log)
        open(f"{work}/log-zero-fill", "wb").write(b"\x00" + log[:-16] + b"\x00" * 16)
        body = log[:-16]
        off = 32 + struct.unpack_from("<I", body, 28)[0]
        last = off
        while off < len(body):
            last = off
            cnt = struct.unpack_from("<I", body, off + 8)[0]
            o = off + 12 + cnt * 50
            off = o + 4 + struct.unpack_from("<I", body, o)[0]
        rt = struct.pack("<I", 4) + body[last + 4:]
        open(f"{work}/runtime", "wb").write(b"\x02" + struct.pack("<H", min(len(body), 65535)) + body[:65535] + rt)
    for f in glob.glob(tdx + "/*ccel_table*"):
        open(f"{work}/table", "wb").write(b"\x01" + open(f, "rb").read())
# The broker's TDX evidence (Trustee's TdxEvidence JSON): each quote as base64, with the CCEL log area
# (cut past its last event) or null, and an Attestation Agent log line.
if name == "fuzz_kbs_tdx_evidence":
    import base64
    logs = [open(f, "rb").read() for f in glob.glob(tdx + "/*ccel_data*")]
    logs = [l[: l.find(b"\xff" * 16) + 16] if l.find(b"\xff" * 16) > 0 else l[:32768] for l in logs]
    for i, q in enumerate(quotes + [open(f, "rb").read() for f in glob.glob(tdx + "/*tdx-quote*.dat")]):
        b = base64.b64encode(q).decode()
        open(f"{work}/evidence{i}", "w").write(json.dumps({"cc_eventlog": None, "quote": b}))
        for j, l in enumerate(logs):
            open(f"{work}/evidence{i}-log{j}", "w").write(json.dumps(
                {"cc_eventlog": base64.b64encode(l).decode(), "quote": b, "aa_eventlog": "INIT sha384/" + "00" * 48 + "\n"}))
for i, f in enumerate(glob.glob(tdx + "/*/*collateral*.json")):
    if name == "fuzz_tdx_json":
        d = json.load(open(f))
        open(f"{work}/tcb{i}", "wb").write(b"\x00" + d["tcb_info"].encode())
        open(f"{work}/qe{i}", "wb").write(b"\x01" + d["qe_identity"].encode())
        open(f"{work}/bundle{i}", "wb").write(b"\x03" + open(f, "rb").read())
PY
  fi
  echo "fuzz: $name for ${seconds}s ($(date -u +%H:%M:%S))"
  if "$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
       -artifact_prefix="$work/" "$work" "${seeds[@]}" >"$work/log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|peak_rss_mb)|^#[0-9]+.*(DONE|cov:)' "$work/log" | tail -n 3 || true
    passed=$((passed + 1))
    rm -rf "$work"
  else
    tail -n 40 "$work/log"
    echo "fuzz: $name FAILED (artifacts in $work)"
    failed=$((failed + 1))
  fi
done
echo "fuzz: ${passed} passed, ${failed} failed"
if [ $((passed + failed)) -eq 0 ]; then
  echo "run-fuzzers: no target matches FUZZ_ONLY=$only" >&2
  exit 1
fi
[ "$failed" -eq 0 ]
