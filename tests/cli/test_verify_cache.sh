#!/usr/bin/env bash
# `ccgate verify snp --cache-dir`: a report verifies from collateral fetched once from a local
# KDS-shaped HTTP server, then offline from the cache with the server gone.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/snp/msft-milan-v3
[ -d "$vec" ] || { echo "FAIL: vectors missing at $vec (they are in the tree, tests/vectors)"; exit 1; }
command -v python3 >/dev/null || skip_or_fail "python3 is missing (the KDS stand-in is python3 -m http.server)"
tmp=$(mktemp -d)
server=""
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
passed=0
failed=0
check() { if [ "$1" -eq "$2" ]; then echo "ok   $3"; passed=$((passed + 1)); else echo "FAIL $3 (exit $1, wanted $2)"; failed=$((failed + 1)); fi; }

# A KDS-shaped tree: /vcek/v1/Milan/<hwid> (DER; the query string is ignored) and .../cert_chain.
hwid=$(xxd -p -s 0x1a0 -l 64 "$vec/attestation_report.bin" | tr -d '\n')
mkdir -p "$tmp/kds/vcek/v1/Milan"
openssl x509 -in "$vec/vcek.pem" -outform der -out "$tmp/kds/vcek/v1/Milan/$hwid"
cat "$vec/ask.pem" > "$tmp/kds/vcek/v1/Milan/cert_chain"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
tl_spawn python3 -m http.server "$port" --bind 127.0.0.1 --directory "$tmp/kds" >"$tmp/server.log" 2>&1
server=$!
for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done

# The default policy accepts the TCB status UpToDate only: a test authority signs a baseline of the
# report's TCB (docs/snp-tcb-baseline.md).
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/authority.key" 2>/dev/null
openssl pkey -in "$tmp/authority.key" -pubout -out "$tmp/authority.pub" 2>/dev/null
"$cli" tcb-baseline create --product milan --version 1 --not-before 2026-01-01T00:00:00Z \
  --not-after 2027-01-01T00:00:00Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 --out "$tmp/b.json" &&
  "$cli" tcb-baseline sign --in "$tmp/b.json" --key "$tmp/authority.key" --issuer authority --out "$tmp/milan.json"
check $? 0 "a signed Milan TCB baseline"
tcb=(--tcb-baseline "$tmp/milan.json" --issuer-key "authority=$tmp/authority.pub")

now=2026-06-01T00:00:00Z
"$cli" verify snp --report "$vec/attestation_report.bin" --cache-dir "$tmp/cache" --now $now "${tcb[@]}" >"$tmp/out" 2>&1
check $? 1 "empty cache without --fetch: denied for missing collateral"
grep -q collateral.missing "$tmp/out" || { echo "FAIL reason"; cat "$tmp/out"; failed=$((failed + 1)); }

"$cli" verify snp --report "$vec/attestation_report.bin" --cache-dir "$tmp/cache" --fetch \
  --kds-url "http://127.0.0.1:$port" --now $now "${tcb[@]}" >"$tmp/out" 2>&1
check $? 0 "fetched from the local KDS and allowed"
grep -q '/vcek/v1/Milan/'"$hwid"'?blSPL=' "$tmp/server.log" || { echo "FAIL: no VCEK request logged"; failed=$((failed + 1)); }

kill "$server"; wait "$server" 2>/dev/null; server=""
"$cli" verify snp --report "$vec/attestation_report.bin" --cache-dir "$tmp/cache" --fetch \
  --kds-url "http://127.0.0.1:$port" --now $now "${tcb[@]}" >"$tmp/out" 2>&1
check $? 0 "cached: allowed with the server gone, nothing fetched"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
