#!/usr/bin/env bash
# The `ccgate verify gpu` command over NVIDIA's real H100 vectors: exit codes 0 allow / 1 deny / 2 bad
# usage or input, the nonce check reported as not done without --nonce, JSON claims, the JSON evidence
# form, RIMs given with --rim or found in --rim-dir, and the GPU policy (docs/gpu-policy.md).
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/nvgpu
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -d "$vec" ] || { echo "FAIL: vectors missing at $vec (they are in the tree, tests/vectors)"; exit 1; }

# expect NAME WANT_RC [grep pattern on stdout+stderr] -- command...
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

now=2025-06-01T00:00:00Z
nv=$vec/nvtrust
sdk=$vec/attestation-sdk
nonce=931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb
# The vectors come with no OCSP responses and (for most reports) no RIMs: this policy checks evidence only.
printf '{"policy_id":"evidence-only","version":1,"require_rim":false,"require_ocsp":false}' > "$tmp/ev.json"
printf '{"policy_id":"rims","version":2,"require_ocsp":false}' > "$tmp/rims.json"

expect "nvtrust h100 allowed" 0 'driver 550\.90\.07 vbios 96\.00\.9F\.00\.01' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json"
expect "without --nonce the nonce check is not done" 0 'nonce: not done' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json"
expect "json says not_done, never passed" 0 '"nonce": "not_done"' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json" --json
expect "the right nonce passes" 0 'nonce: passed' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json" \
  --nonce $nonce
expect "a wrong nonce is gpu.nonce_mismatch" 1 'reason: gpu\.nonce_mismatch' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json" \
  --nonce 00${nonce:2}
expect "attestation-sdk 535.86.09 allowed" 0 'driver 535\.86\.09 vbios 96\.00\.5E\.00\.01' -- \
  "$cli" verify gpu --report "$sdk/hopperAttestationReport.txt" --certs "$sdk/hopperCertChain.txt" --now $now --policy "$tmp/ev.json"
expect "tampered report is gpu.signature_invalid" 1 'reason: gpu\.signature_invalid' -- \
  "$cli" verify gpu --report "$sdk/hopperAttestationReportInvalidSignature.txt" \
  --certs "$sdk/hopperCertChainExpired.txt" --now $now
expect "before the chain is valid" 1 'reason: cert\.not_yet_valid' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" \
  --now 2021-01-01T00:00:00Z
expect "json evidence form allowed" 0 '"decision": "allow"' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --policy "$tmp/ev.json" --json
expect "json evidence claims" 0 '"driver_version": "590\.12"' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --policy "$tmp/ev.json" --json
expect "json evidence with a wrong --nonce" 1 'gpu\.nonce_mismatch' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --policy "$tmp/ev.json" --nonce $nonce

# The appraisal: the RIMs, the default policy and a policy file.
r535=(--report "$sdk/hopperAttestationReport.txt" --certs "$sdk/hopperCertChain.txt" --now 2025-01-01T00:00:00Z)
expect "535.86.09 VBIOS matches its RIM on all 12 indexes" 1 'measurements: not_done \(12 of 12 golden matched, mismatched \[\]\)' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" --rim "$nv/1010_0200_882_96005E0001_PROD.swidtag"
expect "the missing driver RIM is named" 1 'gpu\.rim_unavailable.*NV_GPU_DRIVER_GH100_535\.86\.09' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" --rim "$nv/1010_0200_882_96005E0001_PROD.swidtag"
expect "the mismatch RIM names index 9" 1 'gpu\.measurement_mismatch.*"mismatched_indexes":\[9\]' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" \
  --rim "$sdk/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml"
expect "a RIM with a bad signature" 1 'reason: gpu\.rim_signature_invalid' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" --rim "$sdk/incorrect_signature_driver_rim.xml"
expect "a RIM with a bad chain" 1 'reason: gpu\.rim_chain_invalid' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" --rim "$sdk/incorrect_cert_chain_driver_rim.xml"
mkdir -p "$tmp/rims"
cp "$nv/1010_0200_882_96005E0001_PROD.swidtag" "$tmp/rims/NV_GPU_VBIOS_1010_0200_882_96005E0001.swidtag"
expect "the RIM store serves the VBIOS RIM by its ID" 1 '12 of 12 golden matched' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" --rim-dir "$tmp/rims"
expect "--json carries the RIM IDs and the match" 1 '"vbios_id": "NV_GPU_VBIOS_1010_0200_882_96005E0001"' -- \
  "$cli" verify gpu "${r535[@]}" --policy "$tmp/rims.json" --rim-dir "$tmp/rims" --json
expect "the default policy requires OCSP" 1 'reason: gpu\.ocsp_unavailable' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now
expect "the default policy names itself" 1 'policy: ccgate-default-gpu version 1' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now
printf '{"policy_id":"old","version":1,"require_rim":false,"require_ocsp":false,"minimum_driver_version":"550.90.8"}' \
  > "$tmp/min.json"
expect "a policy's minimum driver version" 1 'reason: gpu\.driver_version_too_old' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
  --policy "$tmp/min.json"
printf '{"policy_id":"two","version":1,"require_rim":false,"require_ocsp":false,"count":2}' > "$tmp/two.json"
expect "a policy's GPU count" 1 'reason: gpu\.count_mismatch' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --policy "$tmp/two.json"
printf '{"policy_id":"x","version":1,"devtools_allowed":true}' > "$tmp/devtools.json"
expect "DevTools is not a policy option" 2 'policy\.unknown_key' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
  --policy "$tmp/devtools.json"
expect "a missing policy file is bad input" 2 '' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
  --policy "$tmp/none.json"

# Binary input works as hex text does.
python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read()))" "$nv/hopperAttestationReport.txt" > "$tmp/report.bin"
expect "binary report allowed" 0 '^decision: allow' -- \
  "$cli" verify gpu --report "$tmp/report.bin" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json"
head -c 1000 "$tmp/report.bin" > "$tmp/short.bin"
expect "truncated report is bad input" 2 'input\.truncated' -- \
  "$cli" verify gpu --report "$tmp/short.bin" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json"
{ cat "$tmp/report.bin"; printf 'x'; } > "$tmp/long.bin"
expect "trailing bytes are bad input" 2 'input\.trailing_bytes' -- \
  "$cli" verify gpu --report "$tmp/long.bin" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json"
printf '[{"arch":"HOPPER"}]' > "$tmp/bad.json"
expect "malformed json evidence is bad input" 2 'gpu\.evidence_malformed' -- \
  "$cli" verify gpu --evidence "$tmp/bad.json" --now $now --policy "$tmp/ev.json"
expect "a nonce that is not 32 bytes is a usage error" 2 'usage\.invalid' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --policy "$tmp/ev.json" \
  --nonce abcd

# Usage.
expect "--now defaults to the current time, printed" 1 '--now=[0-9]+ \(the current time\)' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt"
expect "--report and --evidence are exclusive" 2 'required' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" \
  --evidence "$sdk/evidence_hopper_590_12.json" --now $now
expect "help" 0 'Usage: ccgate verify gpu' -- "$cli" verify gpu --help
expect "an unknown verify command is named" 2 "ccgate verify: unknown command 'sev'" -- "$cli" verify sev

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
