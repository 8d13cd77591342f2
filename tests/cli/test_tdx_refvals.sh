#!/usr/bin/env bash
# Signed reference values for TDX from outside: `ccgate refval create --tee tdx --tdx REGISTER=HEX`,
# sign, set, `refval verify --tee tdx`, and `ccgate verify tdx --refvals --issuer-key` with a policy
# naming the set, over software-TD quotes: the approved build is allowed; another RTMR1 is refused naming
# the closest build and the register; a missing set, an unknown issuer and bad records have their codes.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
# shellcheck source=../support/testlib.sh
. "$(dirname "$0")/../support/testlib.sh"
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
command -v openssl >/dev/null || skip_or_fail "openssl is needed"

expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | tail -20; failed=$((failed + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | tail -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}
hex() { printf "$1%.0s" $(seq 48); }

now=2026-01-15T00:00:00Z
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/provider.key" 2>/dev/null
openssl pkey -in "$tmp/provider.key" -pubout -out "$tmp/provider.pub" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/other.key" 2>/dev/null

mrtd=$(hex 4d); r1=$(hex a1); r2=$(hex b2)
expect "create a tdx record" 0 '' -- "$cli" refval create --id td-42 --tee tdx --build-id build-42 \
  --measurement "$mrtd" --tdx "rtmr1=$r1" --tdx "rtmr2=$r2" --not-before 2026-01-01T00:00:00Z \
  --not-after 2026-06-01T00:00:00Z --out "$tmp/rec.json"
expect "the record pins RTMR1 and RTMR2" 0 '"rtmr1": "a1a1' -- cat "$tmp/rec.json"
expect "sign it" 0 '' -- "$cli" refval sign --in "$tmp/rec.json" --key "$tmp/provider.key" --issuer provider --out "$tmp/signed.json"
expect "bundle a set" 0 '' -- "$cli" refval set --set-id acme-td --version 3 --out "$tmp/set.json" "$tmp/signed.json"
"$cli" refval sign --in "$tmp/rec.json" --key "$tmp/other.key" --issuer provider --out "$tmp/forged.json" >/dev/null
"$cli" refval set --set-id acme-td --version 3 --out "$tmp/forged-set.json" "$tmp/forged.json" >/dev/null
expect "refval verify: the TD's registers" 0 'decision: valid' -- "$cli" refval verify --in "$tmp/set.json" \
  --issuer-key provider="$tmp/provider.pub" --now $now --tee tdx --measurement "$mrtd" --tdx "rtmr1=$r1" --tdx "rtmr2=$r2"
expect "refval verify: another RTMR2" 1 'refval\.measurement_mismatch.*"mismatched_fields":\["rtmr2"\]' -- \
  "$cli" refval verify --in "$tmp/set.json" --issuer-key provider="$tmp/provider.pub" --now $now --tee tdx \
  --measurement "$mrtd" --tdx "rtmr1=$r1" --tdx "rtmr2=$(hex b3)"
expect "a register record on snp" 2 'refval\.malformed' -- "$cli" refval create --id x --tee snp --build-id b \
  --measurement "$mrtd" --tdx "rtmr1=$r1" --not-before 2026-01-01T00:00:00Z --not-after 2026-06-01T00:00:00Z
expect "an unknown register" 2 'usage\.invalid' -- "$cli" refval create --id x --tee tdx --build-id b \
  --measurement "$mrtd" --tdx "rtmr9=$r1" --not-before 2026-01-01T00:00:00Z --not-after 2026-06-01T00:00:00Z
expect "a short MRTD" 2 'refval\.malformed' -- "$cli" refval create --id x --tee tdx --build-id b \
  --measurement 00112233 --not-before 2026-01-01T00:00:00Z --not-after 2026-06-01T00:00:00Z

# The verifier, with a policy naming the set.
printf '{"policy_id":"td-release","version":1,"reference_values":{"set_id":"acme-td","minimum_version":3}}' > "$tmp/policy.json"
"$cli" emulate tdx --out-dir "$tmp/good" --now $now --mrtd "$mrtd" --rtmr "1=$r1" --rtmr "2=$r2" >/dev/null
"$cli" emulate tdx --out-dir "$tmp/bad" --now $now --mrtd "$mrtd" --rtmr "1=$(hex a2)" --rtmr "2=$r2" >/dev/null
v() { local d=$1; shift; "$cli" verify tdx --quote "$d/quote.bin" --collateral "$d/collateral.json" --trust-root "$d/root.pem" --now $now --policy "$tmp/policy.json" "$@"; }
expect "the approved build" 0 'decision: allow' -- v "$tmp/good" --refvals "$tmp/set.json" --issuer-key provider="$tmp/provider.pub"
expect "another RTMR1 names the build and the register" 1 \
  'reason: refval\.measurement_mismatch.*"closest_build_id":"build-42".*"mismatched_fields":\["rtmr1"\]' -- \
  v "$tmp/bad" --refvals "$tmp/set.json" --issuer-key provider="$tmp/provider.pub"
expect "no set" 1 'reason: refval\.set_missing.*"set_id":"acme-td"' -- v "$tmp/good"
expect "issuer not trusted" 1 'reason: refval\.issuer_unknown' -- v "$tmp/good" --refvals "$tmp/set.json"
expect "a record signed by another key" 1 'reason: refval\.signature_invalid' -- \
  v "$tmp/good" --refvals "$tmp/forged-set.json" --issuer-key provider="$tmp/provider.pub"
expect "too late for the record" 1 'reason: refval\.expired' -- \
  "$cli" verify tdx --quote "$tmp/good/quote.bin" --collateral "$tmp/good/collateral.json" --trust-root "$tmp/good/root.pem" \
  --now 2026-06-02T00:00:00Z --policy "$tmp/policy.json" --refvals "$tmp/set.json" --issuer-key provider="$tmp/provider.pub"
expect "a bad issuer key spec" 2 'usage\.invalid' -- v "$tmp/good" --refvals "$tmp/set.json" --issuer-key provider

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
