#!/usr/bin/env bash
# `ccgate refval`: create from `measure snp --json`, sign, bundle, verify; exit codes 0/1/2 and codes.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
fixtures=${CCG_VECTORS:-$(dirname "$0")/../vectors}/snp-measure
[ -d "$fixtures" ] || { echo "FAIL: vectors missing at $fixtures (they are in the tree, tests/vectors)"; exit 1; }
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
passed=0
failed=0
expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ] || { [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; }; then
    echo "FAIL $name: exit $rc (wanted $want), output:"; echo "$out" | head -10; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p.key" 2>/dev/null
openssl pkey -in "$tmp/p.key" -pubout -out "$tmp/p.pub"
openssl genpkey -algorithm ED25519 -out "$tmp/e.key" 2>/dev/null
openssl pkey -in "$tmp/e.key" -pubout -out "$tmp/e.pub"
head -c 3000 /dev/urandom > "$tmp/kernel"
"$cli" measure snp --ovmf "$fixtures/ovmf_AmdSev_suffix.bin" --vcpus 2 --vcpu-type EPYC-v4 \
  --kernel "$tmp/kernel" --append "console=ttyS0" --json > "$tmp/launch.json"
m=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["measurement"])' "$tmp/launch.json")

expect "create from measure --json" 0 '' -- "$cli" refval create --id cvm-1 --build-id b42 --from-measure "$tmp/launch.json" \
  --not-before 2026-01-01T00:00:00Z --not-after 2027-01-01T00:00:00Z --out "$tmp/r.json"
grep -q '"kernel_hash"' "$tmp/r.json" && { echo "ok   launch inputs kept"; passed=$((passed + 1)); } || { echo "FAIL launch inputs"; failed=$((failed + 1)); }
expect "sign ES384" 0 '' -- "$cli" refval sign --in "$tmp/r.json" --key "$tmp/p.key" --issuer acme --out "$tmp/s.json"
expect "sign Ed25519" 0 '' -- "$cli" refval sign --in "$tmp/r.json" --key "$tmp/e.key" --issuer ed --out "$tmp/se.json"
expect "bundle a set" 0 '' -- "$cli" refval set --set-id acme-prod --version 2 --out "$tmp/set.json" "$tmp/s.json" "$tmp/se.json"
expect "set verifies" 0 'decision: valid' -- "$cli" refval verify --in "$tmp/set.json" --issuer-key acme="$tmp/p.pub" \
  --issuer-key ed="$tmp/e.pub" --now 2026-06-01T00:00:00Z
expect "measurement approved" 0 '' -- "$cli" refval verify --in "$tmp/set.json" --issuer-key acme="$tmp/p.pub" \
  --issuer-key ed="$tmp/e.pub" --now 2026-06-01T00:00:00Z --measurement "$m"
# Another measurement: the last hex digit changed, always (a fixed digit equals m's one time in 16).
case ${m: -1} in 0) other=${m%?}1 ;; *) other=${m%?}0 ;; esac
[ "$other" != "$m" ] || { echo "FAIL the other measurement equals m"; failed=$((failed + 1)); }
expect "other measurement" 1 'refval.measurement_mismatch' -- "$cli" refval verify --in "$tmp/set.json" \
  --issuer-key acme="$tmp/p.pub" --issuer-key ed="$tmp/e.pub" --now 2026-06-01T00:00:00Z --measurement "$other"
expect "expired" 1 'refval.expired' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key acme="$tmp/p.pub" --now 2027-06-01T00:00:00Z
expect "not yet valid" 1 'refval.not_yet_valid' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key acme="$tmp/p.pub" --now 2025-06-01T00:00:00Z
expect "unsigned" 1 'refval.unsigned' -- "$cli" refval verify --in "$tmp/r.json" --issuer-key acme="$tmp/p.pub" --now 2026-06-01T00:00:00Z
expect "unknown issuer" 1 'refval.issuer_unknown' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key other="$tmp/p.pub" --now 2026-06-01T00:00:00Z
expect "wrong key" 1 'refval.signature_invalid' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key acme="$tmp/e.pub" --now 2026-06-01T00:00:00Z
sed 's/"build_id": "b42"/"build_id": "b43"/' "$tmp/s.json" > "$tmp/t.json"
expect "tampered" 1 'refval.signature_invalid' -- "$cli" refval verify --in "$tmp/t.json" --issuer-key acme="$tmp/p.pub" --now 2026-06-01T00:00:00Z
echo '{"id":"x"}' > "$tmp/bad.json"
expect "malformed" 2 'refval.malformed' -- "$cli" refval verify --in "$tmp/bad.json" --now 2026-06-01T00:00:00Z
expect "help" 0 'Usage: ccgate refval' -- "$cli" refval --help
for sub in create sign set verify; do
  expect "$sub --help" 0 'Usage: ccgate refval' -- "$cli" refval "$sub" --help
done
expect "other TEE" 1 'refval.tee_mismatch' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key acme="$tmp/p.pub" \
  --now 2026-06-01T00:00:00Z --tee tdx
expect "same TEE" 0 'decision: valid' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key acme="$tmp/p.pub" \
  --now 2026-06-01T00:00:00Z --tee snp
expect "json output" 1 '"refval.expired"' -- "$cli" refval verify --in "$tmp/s.json" --issuer-key acme="$tmp/p.pub" \
  --now 2027-06-01T00:00:00Z --json
expect "measurement and from-measure" 2 'not both' -- "$cli" refval create --id c --build-id b --measurement "$m" \
  --from-measure "$tmp/launch.json" --not-before 2026-01-01T00:00:00Z --not-after 2027-01-01T00:00:00Z
expect "one record of one issuer twice" 2 'refval.malformed' -- "$cli" refval set --set-id s --version 1 "$tmp/s.json" "$tmp/s.json"
expect "short SNP measurement" 2 'refval.malformed' -- "$cli" refval create --id c --build-id b --measurement "${m:0:64}" \
  --not-before 2026-01-01T00:00:00Z --not-after 2027-01-01T00:00:00Z
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
