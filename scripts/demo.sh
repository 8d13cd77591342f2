#!/usr/bin/env bash
# `make demo`: ccgate's main job end to end. First real AMD SEV-SNP hardware reports and emulated ones are
# verified, each decision printed with its reasons; then scripts/demo-flow.sh runs the whole flow.
set -euo pipefail
build=${1:-build/release}
root=$(cd "$(dirname "$0")/.." && pwd)
cli="$root/$build/ccgate"
vectors=${CCG_VECTORS:-$root/tests/vectors}
vec=$vectors/snp
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ ! -d "$vec" ]; then
  echo "demo: the real vectors are not at $vec (they are in the tree, tests/vectors; CCG_VECTORS overrides)" >&2
  exit 2
fi

step() { printf '\n== %s\n$ %s\n' "$1" "${*:2}"; }
run() {
  local title=$1
  shift
  step "$title" "ccgate ${*}"
  local rc=0
  "$cli" "$@" || rc=$?
  echo "(exit $rc)"
}

# The key-release authority's signed TCB baselines (docs/snp-tcb-baseline.md): which TCB counts as up to
# date per product. The default policy accepts the status UpToDate only, and needs a baseline to say so.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/authority.key" 2>/dev/null
openssl pkey -in "$work/authority.key" -pubout -out "$work/authority.pub" 2>/dev/null
baseline() { # baseline NAME PRODUCT LEVELS
  "$cli" tcb-baseline create --product "$2" --version 1 --not-before 2024-01-01T00:00:00Z \
    --not-after 2027-01-01T00:00:00Z --up-to-date "$3" --out "$work/$1.unsigned.json" >/dev/null
  "$cli" tcb-baseline sign --in "$work/$1.unsigned.json" --key "$work/authority.key" --issuer authority \
    --out "$work/$1.json" >/dev/null
}
baseline milan milan bootloader=4,tee=0,snp=24,microcode=219
baseline genoa genoa bootloader=10,tee=0,snp=23,microcode=84
run "The authority's signed TCB baseline for Milan" \
  tcb-baseline verify --in "$work/milan.json" --issuer-key authority="$work/authority.pub" --now 2026-06-01T00:00:00Z
tcb=(--tcb-baseline "$work/milan.json" --tcb-baseline "$work/genoa.json" --issuer-key "authority=$work/authority.pub")

run "A real Milan v3 report (Azure), chain to AMD's pinned ARK, TCB UpToDate" \
  verify snp --report "$vec/msft-milan-v3/attestation_report.bin" \
  --certs "$vec/msft-milan-v3/vcek.pem" --certs "$vec/msft-milan-v3/ask.pem" --now 2026-06-01T00:00:00Z "${tcb[@]}"
run "The same report with no TCB baseline: the default policy fails closed" \
  verify snp --report "$vec/msft-milan-v3/attestation_report.bin" \
  --certs "$vec/msft-milan-v3/vcek.pem" --certs "$vec/msft-milan-v3/ask.pem" --now 2026-06-01T00:00:00Z
run "A real Genoa v3 report with the same workload" \
  verify snp --report "$vec/msft-genoa-v3/attestation_report.bin" \
  --certs "$vec/msft-genoa-v3/vcek.pem" --certs "$vec/msft-genoa-v3/ask.pem" --now 2026-06-01T00:00:00Z "${tcb[@]}"
run "A real VLEK-signed AWS report: its host reports a TCB below the committed one (RolledBack)" \
  verify snp --report "$vec/trustee/test-vlek-report.bin" --certs "$vec/trustee/test-vlek.der" \
  --certs "$vec/trustee/milan_ask_ark_asvk.pem" --now 2025-06-01T00:00:00Z "${tcb[@]}"
run "The same VLEK report after its certificate expired: denied" \
  verify snp --report "$vec/trustee/test-vlek-report.bin" --certs "$vec/trustee/test-vlek.der" \
  --certs "$vec/trustee/milan_ask_ark_asvk.pem" --now 2026-01-01T00:00:00Z "${tcb[@]}"
run "A real debug guest (go-sev-guest): valid signature, refused for debug" \
  verify snp --report "$vec/gosevguest-milan-v2-debug/report.bin" \
  --certs "$vec/gosevguest-milan-v2-debug/vcek.der" --certs "$vec/gosevguest-milan-v2-debug/ask_ark.pem" \
  --now 2025-01-01T00:00:00Z

meas=$("$cli" verify snp --report "$vec/msft-milan-v3/attestation_report.bin" --certs "$vec/msft-milan-v3/vcek.pem" \
  --certs "$vec/msft-milan-v3/ask.pem" --now 2026-06-01T00:00:00Z --json "${tcb[@]}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["claims"]["measurement"])')
cat > "$work/policy.json" <<JSON
{
  "policy_id": "acme-llm-prod",
  "version": 3,
  "allowed_measurements": ["$meas"],
  "minimum_tcb": {"bootloader": 4, "tee": 0, "snp": 25, "microcode": 219},
  "require_crl": true
}
JSON
step "A policy: approved measurement, TCB floor above this machine's, CRL required" "cat policy.json"
cat "$work/policy.json"
run "The Milan report against that policy: every failed check is listed" \
  verify snp --report "$vec/msft-milan-v3/attestation_report.bin" \
  --certs "$vec/msft-milan-v3/vcek.pem" --certs "$vec/msft-milan-v3/ask.pem" --policy "$work/policy.json" \
  --now 2026-06-01T00:00:00Z "${tcb[@]}"

# Launch measurement and reference values: approve one build, then tamper with the launch.
fixtures=$vectors/snp-measure
if [ -f "$fixtures/ovmf_AmdSev_suffix.bin" ]; then
  head -c 65536 /dev/zero | tr '\0' 'k' > "$work/vmlinuz"
  run "Measure a CVM launch from its inputs (AmdSev OVMF, 4 vCPUs, a kernel and cmdline)" \
    measure snp --ovmf "$fixtures/ovmf_AmdSev_suffix.bin" --vcpus 4 --vcpu-type EPYC-v4 \
    --kernel "$work/vmlinuz" --append "console=ttyS0"
  "$cli" measure snp --ovmf "$fixtures/ovmf_AmdSev_suffix.bin" --vcpus 4 --vcpu-type EPYC-v4 \
    --kernel "$work/vmlinuz" --append "console=ttyS0" --json > "$work/launch.json"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$work/provider.key" 2>/dev/null
  openssl pkey -in "$work/provider.key" -pubout -out "$work/provider.pub"
  "$cli" refval create --id cvm-2026-06 --build-id build-42 --from-measure "$work/launch.json" \
    --not-before 2026-01-01T00:00:00Z --not-after 2027-01-01T00:00:00Z --out "$work/record.json"
  "$cli" refval sign --in "$work/record.json" --key "$work/provider.key" --issuer provider --out "$work/signed.json"
  "$cli" refval set --set-id acme-prod --version 1 --out "$work/set.json" "$work/signed.json"
  approved=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$work/launch.json")
  run "The provider's signed reference-value set approves that measurement" \
    refval verify --in "$work/set.json" --issuer-key provider="$work/provider.pub" --now 2026-06-01T00:00:00Z \
    --measurement "$approved"
  tampered=$("$cli" measure snp --ovmf "$fixtures/ovmf_AmdSev_suffix.bin" --vcpus 5 --vcpu-type EPYC-v4 \
    --kernel "$work/vmlinuz" --append "console=ttyS0" | tail -n 1)
  run "Launched with 5 vCPUs instead of 4: a different measurement, refused" \
    refval verify --in "$work/set.json" --issuer-key provider="$work/provider.pub" --now 2026-06-01T00:00:00Z \
    --measurement "$tampered"
fi

if "$cli" emulate snp --help >/dev/null 2>&1; then
  run "An emulated Genoa report from ccgate's software SNP firmware" emulate snp --product genoa --out-dir "$work/emu"
  run "The emulated report is refused without naming its test root (AMD's pinned roots only)" \
    verify snp --report "$work/emu/report.bin" --certs "$work/emu/certs.pem" --now 2026-06-01T00:00:00Z
  run "... and accepted when the test root is named explicitly" \
    verify snp --report "$work/emu/report.bin" --certs "$work/emu/certs.pem" --now 2026-06-01T00:00:00Z \
    --trust-root "$work/emu/ark.pem" --trust-root-product genoa "${tcb[@]}"
fi

# The main job end to end: provider, broker, confidential guest, enterprise client, operator.
printf '\n################ the whole flow: seal, attest, release, serve, talk\n'
bash "$root/scripts/demo-flow.sh" "$build"
echo
echo "demo: done"
