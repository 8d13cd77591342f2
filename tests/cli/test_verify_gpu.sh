#!/usr/bin/env bash
# The `ccgate verify gpu` command over NVIDIA's real H100 vectors: exit codes 0 allow / 1 deny / 2 bad
# usage or input, the nonce check reported as not done without --nonce, JSON claims, the JSON evidence
# form, and the RIM/OCSP/policy options refused until they are wired.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-../shared/vectors}/nvgpu
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -d "$vec" ]; then
  if [ "${CI:-}" = true ]; then echo "vectors missing at $vec (CI=true: failing)"; exit 1; fi
  echo "SKIP: vectors missing at $vec"; exit 0
fi

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

expect "nvtrust h100 allowed" 0 'driver 550\.90\.07 vbios 96\.00\.9F\.00\.01' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now
expect "without --nonce the nonce check is not done" 0 'nonce: not done' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now
expect "json says not_done, never passed" 0 '"nonce": "not_done"' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now --json
expect "the right nonce passes" 0 'nonce: passed' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
  --nonce $nonce
expect "a wrong nonce is gpu.nonce_mismatch" 1 'reason: gpu\.nonce_mismatch' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
  --nonce 00${nonce:2}
expect "attestation-sdk 535.86.09 allowed" 0 'driver 535\.86\.09 vbios 96\.00\.5E\.00\.01' -- \
  "$cli" verify gpu --report "$sdk/hopperAttestationReport.txt" --certs "$sdk/hopperCertChain.txt" --now $now
expect "tampered report is gpu.signature_invalid" 1 'reason: gpu\.signature_invalid' -- \
  "$cli" verify gpu --report "$sdk/hopperAttestationReportInvalidSignature.txt" \
  --certs "$sdk/hopperCertChainExpired.txt" --now $now
expect "before the chain is valid" 1 'reason: cert\.not_yet_valid' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" \
  --now 2021-01-01T00:00:00Z
expect "json evidence form allowed" 0 '"decision": "allow"' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --json
expect "json evidence claims" 0 '"driver_version": "590\.12"' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --json
expect "json evidence with a wrong --nonce" 1 'gpu\.nonce_mismatch' -- \
  "$cli" verify gpu --evidence "$sdk/evidence_hopper_590_12.json" --now $now --nonce $nonce

# Binary input works as hex text does.
python3 -c "import sys; sys.stdout.buffer.write(bytes.fromhex(open(sys.argv[1]).read()))" "$nv/hopperAttestationReport.txt" > "$tmp/report.bin"
expect "binary report allowed" 0 '^decision: allow' -- \
  "$cli" verify gpu --report "$tmp/report.bin" --certs "$nv/hopperCertChain.txt" --now $now
head -c 1000 "$tmp/report.bin" > "$tmp/short.bin"
expect "truncated report is bad input" 2 'input\.truncated' -- \
  "$cli" verify gpu --report "$tmp/short.bin" --certs "$nv/hopperCertChain.txt" --now $now
{ cat "$tmp/report.bin"; printf 'x'; } > "$tmp/long.bin"
expect "trailing bytes are bad input" 2 'input\.trailing_bytes' -- \
  "$cli" verify gpu --report "$tmp/long.bin" --certs "$nv/hopperCertChain.txt" --now $now
printf '[{"arch":"HOPPER"}]' > "$tmp/bad.json"
expect "malformed json evidence is bad input" 2 'gpu\.evidence_malformed' -- \
  "$cli" verify gpu --evidence "$tmp/bad.json" --now $now
expect "a nonce that is not 32 bytes is a usage error" 2 'usage\.invalid' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
  --nonce abcd

# Usage.
expect "--now is required" 2 'required' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt"
expect "--report and --evidence are exclusive" 2 'required' -- \
  "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" \
  --evidence "$sdk/evidence_hopper_590_12.json" --now $now
for opt in --rim --rim-dir --ocsp-dir --policy; do
  expect "$opt is refused until wired" 2 "$opt is not yet supported" -- \
    "$cli" verify gpu --report "$nv/hopperAttestationReport.txt" --certs "$nv/hopperCertChain.txt" --now $now \
    $opt "$tmp/x"
done
expect "help" 0 'usage: ccgate verify gpu' -- "$cli" verify gpu --help
expect "verify snp still dispatches" 2 'usage: ccgate verify snp' -- "$cli" verify tdx

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
