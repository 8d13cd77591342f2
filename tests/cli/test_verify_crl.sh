#!/usr/bin/env bash
# CRL revocation and the CRL signature end to end (issue 10: a second test for each): `ccgate emulate snp
# --crl` makes CRLs signed by the emulator's test ARK (one listing the ASK), and the built `ccgate verify
# snp --crl` must deny a revoked chain with cert.revoked and a CRL its root did not sign with
# crl.signature_invalid, exit status 1, in text and JSON.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
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
lacks() { # lacks NAME PATTERN -- command...: the output must not match
  local name=$1 pattern=$2
  shift 3
  if "$@" 2>&1 | grep -qE -- "$pattern"; then echo "FAIL $name: /$pattern/ found"; failed=$((failed + 1)); return; fi
  echo "ok   $name"; passed=$((passed + 1))
}

now=2026-06-01T00:00:00Z
a=$tmp/a
# Machine A (saved, so later runs sign with the same test root), its plain CRL and one revoking its ASK.
expect "emulate with a CRL" 0 '' -- "$cli" emulate snp --out-dir "$a" --save-state --crl "$a/crl.pem"
expect "a CRL revoking the ASK" 0 '' -- "$cli" emulate snp --out-dir "$tmp/a2" --load-state "$a" \
  --crl "$a/crl-revoked.pem" --revoke-ask
expect "--revoke-ask needs --crl" 2 'needs --crl' -- "$cli" emulate snp --out-dir "$tmp/x" --revoke-ask
# Machine B: another test root with the same names (ARK-Milan); its CRL is not signed by A's ARK.
expect "another root's CRL" 0 '' -- "$cli" emulate snp --out-dir "$tmp/b" --crl "$tmp/b/crl.pem" --revoke-ask
tl_emulator_tcb_baseline "$tmp" || { echo "FAIL tcb-baseline"; exit 1; }
verify() { # verify CRL [more args]: A's report and chain, A's root trusted, the emulator's TCB baseline
  local crl=$1
  shift
  "$cli" verify snp --report "$a/report.bin" --certs "$a/certs.pem" --trust-root "$a/ark.pem" \
    --trust-root-product milan --crl "$crl" --now "$now" --tcb-baseline "$tmp/milan-tcb.json" \
    --issuer-key "authority=$tmp/authority.pub" "$@"
}

expect "CRL listing nothing: allow" 0 '^decision: allow' -- verify "$a/crl.pem"
# ---- revocation
expect "ASK revoked: deny" 1 'reason: cert\.revoked' -- verify "$a/crl-revoked.pem"
expect "ASK revoked (JSON)" 1 '"cert\.revoked"' -- verify "$a/crl-revoked.pem" --json
openssl crl -in "$a/crl-revoked.pem" -outform DER -out "$a/crl-revoked.der"
expect "ASK revoked (DER CRL)" 1 'reason: cert\.revoked' -- verify "$a/crl-revoked.der"
# ---- the CRL signature
expect "CRL of another root: deny" 1 'reason: crl\.signature_invalid' -- verify "$tmp/b/crl.pem"
lacks "... and its revocations are not believed either" 'cert\.revoked' -- verify "$tmp/b/crl.pem"
# A's own CRL with one byte of its signature changed (the signature value ends the DER).
openssl crl -in "$a/crl.pem" -outform DER -out "$tmp/bad.der"
size=$(stat -c %s "$tmp/bad.der")
tl_flip_byte "$tmp/bad.der" $((size - 7))
check_parse=$(openssl crl -inform DER -in "$tmp/bad.der" -noout 2>&1 && echo parses)
if [ "${check_parse##*$'\n'}" = parses ]; then echo "ok   the altered CRL still parses"; passed=$((passed + 1)); else echo "FAIL the altered CRL does not parse"; failed=$((failed + 1)); fi
expect "CRL signature altered: deny" 1 'reason: crl\.signature_invalid' -- verify "$tmp/bad.der"
expect "CRL signature altered (JSON)" 1 '"crl\.signature_invalid"' -- verify "$tmp/bad.der" --json

echo "test_verify_crl: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
