#!/usr/bin/env bash
# `ccgate tcb-baseline create|sign|verify` and `ccgate verify snp --tcb-baseline`: the TCB status
# (UpToDate, OutOfDate, RolledBack) and advisories of real SEV-SNP reports against signed baselines, each
# outcome by its reason code and exit status (0 allow, 1 deny, 2 bad input).
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/snp
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

[ -d "$vec" ] || { echo "FAIL: vectors missing at $vec (they are in the tree, tests/vectors)"; exit 1; }
if ! command -v openssl >/dev/null; then
  if [ "${CI:-}" = true ]; then echo "openssl missing (CI=true: failing)"; exit 1; fi
  echo "SKIP: openssl missing"; exit 0
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

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null
openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null
openssl genpkey -algorithm ED25519 -out "$tmp/ed.key" 2>/dev/null
openssl pkey -in "$tmp/ed.key" -pubout -out "$tmp/ed.pub" 2>/dev/null
trusted=(--issuer-key "authority=$tmp/authority.pub")
win=(--not-before 2024-01-01T00:00:00Z --not-after 2027-01-01T00:00:00Z)

# ---------------------------------------------------------------- create, sign, verify
expect "create a Milan baseline" 0 '' -- "$cli" tcb-baseline create --product milan --version 3 "${win[@]}" \
  --up-to-date bootloader=4,tee=0,snp=24,microcode=219 --advisory AMD-SB-3019:snp=25 --out "$tmp/milan.unsigned.json"
expect "sign it" 0 '' -- "$cli" tcb-baseline sign --in "$tmp/milan.unsigned.json" --key "$tmp/authority.key" \
  --issuer authority --out "$tmp/milan-adv.json"
expect "it is valid now" 0 '^decision: valid' -- "$cli" tcb-baseline verify --in "$tmp/milan-adv.json" \
  "${trusted[@]}" --now 2026-06-01T00:00:00Z
expect "json names product and version" 0 '"version": 3' -- "$cli" tcb-baseline verify --in "$tmp/milan-adv.json" \
  "${trusted[@]}" --now 2026-06-01T00:00:00Z --json
expect "an unsigned baseline is refused" 1 'snp.tcb_baseline_unsigned' -- "$cli" tcb-baseline verify \
  --in "$tmp/milan.unsigned.json" "${trusted[@]}" --now 2026-06-01T00:00:00Z
expect "an untrusted issuer is refused" 1 'snp.tcb_baseline_issuer_unknown' -- "$cli" tcb-baseline verify \
  --in "$tmp/milan-adv.json" --now 2026-06-01T00:00:00Z
expect "after not_after it is expired" 1 'snp.tcb_baseline_expired' -- "$cli" tcb-baseline verify \
  --in "$tmp/milan-adv.json" "${trusted[@]}" --now 2027-01-01T00:00:01Z
sed 's/"microcode": 219/"microcode": 218/' "$tmp/milan-adv.json" > "$tmp/milan-tampered.json"
expect "a changed level breaks the signature" 1 'snp.tcb_baseline_signature_invalid' -- "$cli" tcb-baseline verify \
  --in "$tmp/milan-tampered.json" "${trusted[@]}" --now 2026-06-01T00:00:00Z
expect "a Turin baseline needs fmc" 2 'snp.tcb_baseline_malformed' -- "$cli" tcb-baseline create --product turin \
  --version 1 "${win[@]}" --up-to-date bootloader=1,tee=1,snp=4,microcode=76
expect "a level above 255" 2 'usage.invalid' -- "$cli" tcb-baseline create --product genoa --version 1 "${win[@]}" \
  --up-to-date bootloader=256,tee=0,snp=23,microcode=84
expect "an unknown component" 2 'snp.tcb_baseline_malformed' -- "$cli" tcb-baseline create --product genoa \
  --version 1 "${win[@]}" --up-to-date bootloader=10,tee=0,snp=23,microcode=84,ucode=1
echo '{"product":"Milan"}' > "$tmp/bad.json"
expect "a malformed baseline is bad input" 2 'snp.tcb_baseline_malformed' -- "$cli" tcb-baseline verify \
  --in "$tmp/bad.json" "${trusted[@]}" --now 2026-06-01T00:00:00Z
expect "an Ed25519 authority" 0 '' -- "$cli" tcb-baseline sign --in "$tmp/milan.unsigned.json" --key "$tmp/ed.key" \
  --issuer ed-authority --out "$tmp/milan-ed.json"
expect "... verifies with its key" 0 '^decision: valid' -- "$cli" tcb-baseline verify --in "$tmp/milan-ed.json" \
  --issuer-key "ed-authority=$tmp/ed.pub" --now 2026-06-01T00:00:00Z

# ---------------------------------------------------------------- real reports against baselines
m=$vec/msft-milan-v3
milan=(--report "$m/attestation_report.bin" --certs "$m/vcek.pem" --certs "$m/ask.pem" --now 2026-06-01T00:00:00Z)
mk() { # mk OUT PRODUCT LEVELS [ADVISORY...]
  local out=$1 product=$2 levels=$3
  shift 3
  local adv=()
  for a in "$@"; do adv+=(--advisory "$a"); done
  "$cli" tcb-baseline create --product "$product" --version 1 "${win[@]}" --up-to-date "$levels" "${adv[@]}" \
    --out "$tmp/u.json" >/dev/null &&
    "$cli" tcb-baseline sign --in "$tmp/u.json" --key "$tmp/authority.key" --issuer authority --out "$out" >/dev/null
}
mk "$tmp/milan-uptodate.json" milan bootloader=4,tee=0,snp=24,microcode=219
mk "$tmp/milan-newer.json" milan bootloader=4,tee=0,snp=25,microcode=219
mk "$tmp/genoa.json" genoa bootloader=10,tee=0,snp=23,microcode=84

expect "milan v3 is UpToDate" 0 '"tcb_status": "UpToDate"' -- "$cli" verify snp "${milan[@]}" --json \
  --tcb-baseline "$tmp/milan-uptodate.json" "${trusted[@]}"
expect "a newer SNP firmware makes it OutOfDate" 1 'snp.tcb_out_of_date' -- "$cli" verify snp "${milan[@]}" \
  --tcb-baseline "$tmp/milan-newer.json" "${trusted[@]}"
echo '{"policy_id":"lab","version":1,"tcb":{"accepted_statuses":["UpToDate","OutOfDate"]}}' > "$tmp/lab.json"
expect "a policy may accept OutOfDate" 0 '"tcb_status": "OutOfDate"' -- "$cli" verify snp "${milan[@]}" --json \
  --tcb-baseline "$tmp/milan-newer.json" "${trusted[@]}" --policy "$tmp/lab.json"
expect "an applicable advisory is denied unless allowlisted" 1 'snp.advisory_not_allowed.*AMD-SB-3019' -- \
  "$cli" verify snp "${milan[@]}" --tcb-baseline "$tmp/milan-adv.json" "${trusted[@]}"
echo '{"policy_id":"adv","version":1,"tcb":{"allowed_advisories":["AMD-SB-3019"]}}' > "$tmp/adv.json"
expect "an allowlisted advisory passes and is claimed" 0 '"AMD-SB-3019"' -- "$cli" verify snp "${milan[@]}" --json \
  --tcb-baseline "$tmp/milan-adv.json" "${trusted[@]}" --policy "$tmp/adv.json"
expect "only another product's baseline" 1 'snp.tcb_baseline_missing' -- "$cli" verify snp "${milan[@]}" \
  --tcb-baseline "$tmp/genoa.json" "${trusted[@]}"
expect "a tampered baseline is refused" 1 'snp.tcb_baseline_signature_invalid' -- "$cli" verify snp "${milan[@]}" \
  --tcb-baseline "$tmp/milan-tampered.json" "${trusted[@]}"
expect "an untrusted baseline issuer is refused" 1 'snp.tcb_baseline_issuer_unknown' -- "$cli" verify snp \
  "${milan[@]}" --tcb-baseline "$tmp/milan-uptodate.json"
expect "two baselines for one product is bad usage" 2 'usage.invalid' -- "$cli" verify snp "${milan[@]}" \
  --tcb-baseline "$tmp/milan-uptodate.json" --tcb-baseline "$tmp/milan-newer.json" "${trusted[@]}"
expect "a malformed baseline is bad input" 2 'snp.tcb_baseline_malformed' -- "$cli" verify snp "${milan[@]}" \
  --tcb-baseline "$tmp/bad.json" "${trusted[@]}"
g=$vec/msft-genoa-v3
expect "genoa v3 against both baselines" 0 '"product": "Genoa"' -- "$cli" verify snp --report "$g/attestation_report.bin" \
  --certs "$g/vcek.pem" --certs "$g/ask.pem" --now 2026-06-01T00:00:00Z --json \
  --tcb-baseline "$tmp/milan-uptodate.json" --tcb-baseline "$tmp/genoa.json" "${trusted[@]}"

# The AWS VLEK report's host reports a TCB (microcode 0xd9) below the committed one (0xdb): RolledBack.
t=$vec/trustee
aws=(--report "$t/test-vlek-report.bin" --certs "$t/test-vlek.der" --certs "$t/milan_ask_ark_asvk.pem" --now 2025-06-01T00:00:00Z)
mk "$tmp/milan-aws.json" milan bootloader=4,tee=0,snp=24,microcode=217
expect "a reported TCB below the committed TCB is RolledBack" 1 'snp.tcb_rolled_back' -- "$cli" verify snp "${aws[@]}" \
  --tcb-baseline "$tmp/milan-aws.json" "${trusted[@]}"
echo '{"policy_id":"aws","version":1,"tcb":{"accepted_statuses":["UpToDate","RolledBack"]}}' > "$tmp/aws.json"
expect "... which a policy may accept explicitly" 0 '"tcb_status": "RolledBack"' -- "$cli" verify snp "${aws[@]}" --json \
  --tcb-baseline "$tmp/milan-aws.json" "${trusted[@]}" --policy "$tmp/aws.json"

echo "tcb baseline: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
