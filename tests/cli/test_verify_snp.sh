#!/usr/bin/env bash
# The `ccgate verify snp` command: exit codes 0 allow / 1 deny / 2 bad usage or input, JSON output,
# and clear errors for bad input.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/snp
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

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

# The default policy accepts the TCB status UpToDate only, which takes a signed TCB baseline for the
# report's product (docs/snp-tcb-baseline.md). A test authority signs one per TCB used below.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null
openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null
baseline() { # baseline OUT PRODUCT LEVELS
  "$cli" tcb-baseline create --product "$2" --version 1 --not-before 2024-01-01T00:00:00Z \
    --not-after 2027-01-01T00:00:00Z --up-to-date "$3" --out "$tmp/unsigned.json" >/dev/null &&
    "$cli" tcb-baseline sign --in "$tmp/unsigned.json" --key "$tmp/authority.key" --issuer authority --out "$1" >/dev/null
}
baseline "$tmp/milan-v3.json" milan bootloader=4,tee=0,snp=24,microcode=219   # msft-milan-v3's TCB
baseline "$tmp/milan-v2.json" milan bootloader=3,tee=0,snp=8,microcode=115    # virtee-milan-v2's TCB
trusted=(--issuer-key "authority=$tmp/authority.pub")

m=$vec/msft-milan-v3
expect "milan v3 allowed" 0 '^decision: allow' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/vcek.pem" --certs "$m/ask.pem" --now 2026-06-01T00:00:00Z \
  --tcb-baseline "$tmp/milan-v3.json" "${trusted[@]}"
expect "certs in any order, json" 0 '"decision": "allow"' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/ask.pem" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z --json \
  --tcb-baseline "$tmp/milan-v3.json" "${trusted[@]}"
expect "json has claims and digest" 0 '"evidence_digest": "sha384:' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/ask.pem" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z --json \
  --tcb-baseline "$tmp/milan-v3.json" "${trusted[@]}"
expect "json claims the tcb status" 0 '"tcb_status": "UpToDate"' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/ask.pem" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z --json \
  --tcb-baseline "$tmp/milan-v3.json" "${trusted[@]}"
expect "no baseline: the default policy fails closed" 1 'snp.tcb_baseline_missing' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/vcek.pem" --certs "$m/ask.pem" --now 2026-06-01T00:00:00Z
expect "hex report" 0 '^decision: allow' -- \
  "$cli" verify snp --report "$vec/virtee-milan-v2/report.hex" --hex --certs "$vec/virtee-milan-v2/vcek.der" \
  --certs "$vec/roots/milan_ask_ark_chain.pem" --now 2025-01-01T00:00:00Z --tcb-baseline "$tmp/milan-v2.json" "${trusted[@]}"
g=$vec/gosevguest-milan-v2-debug
expect "debug guest denied" 1 'snp.debug_enabled' -- \
  "$cli" verify snp --report "$g/report.bin" --certs "$g/vcek.der" --certs "$g/ask_ark.pem" --now 2025-01-01T00:00:00Z
expect "vlek expired" 1 'cert.expired' -- \
  "$cli" verify snp --report "$vec/trustee/test-vlek-report.bin" --certs "$vec/trustee/test-vlek.der" \
  --certs "$vec/trustee/milan_ask_ark_asvk.pem" --now 2026-01-01T00:00:00Z

echo '{"policy_id":"p","version":4,"allowed_measurements":["00"]}' > "$tmp/bad-policy.json"
expect "bad policy is bad input" 2 'policy.invalid_value' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/vcek.pem" --certs "$m/ask.pem" --now 2026-06-01T00:00:00Z --policy "$tmp/bad-policy.json"
echo '{"policy_id":"p","version":4,"nonsense":1}' > "$tmp/unknown-policy.json"
expect "unknown policy key" 2 'policy.unknown_key' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z --policy "$tmp/unknown-policy.json"
head -c 1000 "$m/attestation_report.bin" > "$tmp/short.bin"
expect "truncated report" 2 'snp.report_size_invalid' -- \
  "$cli" verify snp --report "$tmp/short.bin" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z
expect "truncated report json" 2 '"code": "snp.report_size_invalid"' -- \
  "$cli" verify snp --report "$tmp/short.bin" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z --json
# Malformed input (a reserved byte of the report set): exit 2, an error naming the code, and no decision
# line, so the exit status and what is printed agree.
cp "$m/attestation_report.bin" "$tmp/reserved.bin"
printf '\001' | dd of="$tmp/reserved.bin" bs=1 seek=$((0x4C)) conv=notrunc 2>/dev/null
expect "reserved byte is bad input" 2 'snp.reserved_nonzero' -- \
  "$cli" verify snp --report "$tmp/reserved.bin" --certs "$m/vcek.pem" --certs "$m/ask.pem" --now 2026-06-01T00:00:00Z
out=$("$cli" verify snp --report "$tmp/reserved.bin" --certs "$m/vcek.pem" --certs "$m/ask.pem" \
  --now 2026-06-01T00:00:00Z 2>&1)
if grep -q 'decision:' <<<"$out"; then
  echo "FAIL malformed input prints no decision line"; echo "$out"; failed=$((failed + 1))
else
  echo "ok   malformed input prints no decision line"; passed=$((passed + 1))
fi
out=$("$cli" verify snp --report "$tmp/reserved.bin" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z --json 2>/dev/null)
if grep -q '"code": "snp.reserved_nonzero"' <<<"$out" && ! grep -q '"decision"' <<<"$out"; then
  echo "ok   malformed input json is an error, not a decision"; passed=$((passed + 1))
else
  echo "FAIL malformed input json is an error, not a decision"; echo "$out"; failed=$((failed + 1))
fi

# A Turin report whose PLATFORM_INFO is 0x65 (bit 6 set, as genuine Turin firmware reports it) verifies.
expect "emulated turin with platform info 0x65" 0 '' -- \
  "$cli" emulate snp --out-dir "$tmp/turin" --product turin --platform-info 0x65
baseline "$tmp/turin-emu.json" turin fmc=1,bootloader=1,tee=1,snp=4,microcode=76   # the emulator's Turin TCB
expect "turin platform info 0x65 is a claim, not malformed" 0 '"iommu_write_safe": true' -- \
  "$cli" verify snp --report "$tmp/turin/report.bin" --certs "$tmp/turin/certs.pem" --trust-root "$tmp/turin/ark.pem" \
  --trust-root-product turin --now 2026-06-01T00:00:00Z --json --tcb-baseline "$tmp/turin-emu.json" "${trusted[@]}"

head -c 300 /dev/urandom > "$tmp/garbage.pem"
expect "garbage certificate" 2 'cert.parse_failed' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$tmp/garbage.pem" --now 2026-06-01T00:00:00Z
expect "missing file" 2 'io.read_failed' -- \
  "$cli" verify snp --report "$tmp/nope.bin" --certs "$m/vcek.pem" --now 2026-06-01T00:00:00Z
expect "bad time" 2 'input.bad_time' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/vcek.pem" --now yesterday
expect "--now defaults to the current time, printed" 1 '--now=[0-9]+ \(the current time\)' -- \
  "$cli" verify snp --report "$m/attestation_report.bin" --certs "$m/vcek.pem"
expect "unknown option" 2 '' -- "$cli" verify snp --bogus
expect "help" 0 'Usage: ccgate verify snp' -- "$cli" verify snp --help
expect "top-level help" 0 'commands:' -- "$cli" --help
expect "reasons registry" 0 'snp.tcb_below_minimum' -- "$cli" reasons

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
