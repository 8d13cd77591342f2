#!/usr/bin/env bash
# The sealed artifact's chunk checks end to end (issue 10: a second test for the final-chunk flag, the
# chunk-index binding and the plaintext digest). `ccgate seal` makes the artifact; the attacks are made on
# the file, as a storage attacker would (bytes moved or rewritten), or by a holder of the model key who is
# not the provider (ccg-artifact-forge: chunks decrypted and sealed again, so GCM accepts them); then the
# built `ccgate unseal` must refuse each with its own code (docs/artifact-format.md).
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
forge=${CCG_ARTIFACT_FORGE:-$(dirname "$cli")/ccg-artifact-forge}
[ -x "$forge" ] || skip_or_fail "ccg-artifact-forge is missing ($forge)"
command -v python3 >/dev/null || skip_or_fail "python3 is missing (it edits the artifact's bytes)"
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
check() {
  if eval "$2"; then echo "ok   $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p.key" 2>/dev/null
openssl pkey -in "$tmp/p.key" -pubout -out "$tmp/p.pub"
head -c 32 /dev/urandom > "$tmp/model.key"
# 4 chunks of 4096 bytes (the last one 1000): header 160 + 12 (key ID) + 96 (ES384), records 4096 + 48.
cs=4096
head -c $((3 * cs + 1000)) /dev/urandom > "$tmp/model.bin"
expect "seal" 0 'sealed' -- "$cli" seal --in "$tmp/model.bin" --out "$tmp/m.ccga" --key-file "$tmp/model.key" \
  --key-id acme/model/a --key-version 1 --signer "$tmp/p.key" --chunk-size $cs
expect "unseal as sealed" 0 '' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/out.bin" --key-file "$tmp/model.key" \
  --key-version 1 --provider-key "$tmp/p.pub"
check "plaintext equal" 'cmp -s "$tmp/model.bin" "$tmp/out.bin"'
rm -f "$tmp/out.bin"

# edit IN OUT OP...: byte-level edits of records (python3, stdlib only). Records start at 268.
edit() {
  python3 - "$@" <<'PY'
import sys
src, dst, op = sys.argv[1], sys.argv[2], sys.argv[3]
args = [int(a) for a in sys.argv[4:]]
d = bytearray(open(src, "rb").read())
base, cs, n = 268, 4096, 4
def off(i): return base + i * (cs + 48)
def rec(i): return d[off(i):off(i) + (cs if i < n - 1 else 1000) + 48]
if op == "flag":            # flag I VALUE: the clear final flag of record I
    d[off(args[0]) + 24] = args[1]
elif op == "swap":          # swap I J (records of equal size)
    i, j = args
    a, b = bytes(rec(i)), bytes(rec(j))
    d[off(i):off(i) + len(b)] = b
    d[off(j):off(j) + len(a)] = a
elif op == "dup":           # dup I J: record I copied over record J
    i, j = args
    d[off(j):off(j) + len(rec(i))] = bytes(rec(i))
elif op == "index":         # index I VALUE: the clear index of record I
    d[off(args[0]) + 16:off(args[0]) + 24] = args[1].to_bytes(8, "little")
open(dst, "wb").write(bytes(d))
PY
}
unseal() { # unseal FILE: the artifact as the guest would take it
  "$cli" unseal --in "$1" --out "$tmp/x.bin" --key-file "$tmp/model.key" --key-version 1 --provider-key "$tmp/p.pub"
}

# ---- the final-chunk flag
edit "$tmp/m.ccga" "$tmp/t.ccga" flag 3 0
expect "last record's final flag cleared" 1 'artifact.truncated' -- unseal "$tmp/t.ccga"
check "no plaintext left on failure" '[ ! -e "$tmp/x.bin" ]'
edit "$tmp/m.ccga" "$tmp/t.ccga" flag 0 1
expect "inner record marked final" 1 'artifact.trailing_data' -- unseal "$tmp/t.ccga"
# A key holder seals the last chunk as a non-final one: GCM accepts it, its framing says "not final".
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 3 --sealed-final 0
expect "last chunk sealed as non-final" 1 'artifact.truncated' -- unseal "$tmp/f.ccga"
# ... with the framing forged to "final": the flag is in the nonce and AAD, so GCM refuses it.
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 3 --sealed-final 0 --framing-final 1
expect "non-final chunk with forged final framing" 1 'artifact.chunk_auth_failed' -- unseal "$tmp/f.ccga"
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 1 --sealed-final 1
expect "inner chunk sealed as final" 1 'artifact.trailing_data' -- unseal "$tmp/f.ccga"
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 1 --sealed-final 1 --framing-final 0
expect "final chunk with forged inner framing" 1 'artifact.chunk_auth_failed' -- unseal "$tmp/f.ccga"

# ---- the chunk-index binding
edit "$tmp/m.ccga" "$tmp/t.ccga" swap 1 2
expect "records 1 and 2 swapped" 1 'artifact.chunk_reordered' -- unseal "$tmp/t.ccga"
edit "$tmp/m.ccga" "$tmp/t.ccga" dup 1 2
expect "record 1 duplicated over 2" 1 'artifact.chunk_reordered' -- unseal "$tmp/t.ccga"
# Swapped, with each clear index rewritten to its new position: the index is in the nonce and AAD.
edit "$tmp/m.ccga" "$tmp/t.ccga" swap 1 2
edit "$tmp/t.ccga" "$tmp/t.ccga" index 1 1
edit "$tmp/t.ccga" "$tmp/t.ccga" index 2 2
expect "swapped with forged indexes" 1 'artifact.chunk_auth_failed' -- unseal "$tmp/t.ccga"
# Each chunk has its own nonce: equal plaintext chunks give different ciphertexts.
head -c $((3 * cs)) /dev/zero > "$tmp/zeros.bin"
"$cli" seal --in "$tmp/zeros.bin" --out "$tmp/z.ccga" --key-file "$tmp/model.key" --key-id acme/model/a \
  --key-version 1 --signer "$tmp/p.key" --chunk-size $cs >/dev/null 2>&1
c0=$(tail -c +$((268 + 32 + 1)) "$tmp/z.ccga" | head -c $cs | sha256sum)
c1=$(tail -c +$((268 + cs + 48 + 32 + 1)) "$tmp/z.ccga" | head -c $cs | sha256sum)
check "equal chunks, different ciphertexts (nonce per index)" '[ -n "$c0" ] && [ "$c0" != "$c1" ]'

# ---- the plaintext digest
# Sanity first: the forger's output is accepted when it changes nothing.
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 1
expect "forged chunk, same plaintext: accepted" 0 '' -- unseal "$tmp/f.ccga"
check "and gives the model" 'cmp -s "$tmp/model.bin" "$tmp/x.bin"'
rm -f "$tmp/x.bin"
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 1 --xor 1
expect "a key holder's re-encrypted chunk" 1 'artifact.digest_mismatch' -- unseal "$tmp/f.ccga"
check "no plaintext left on failure" '[ ! -e "$tmp/x.bin" ]'
"$forge" --in "$tmp/m.ccga" --out "$tmp/f.ccga" --key-file "$tmp/model.key" --chunk 3 --xor 0x80
expect "a key holder's re-encrypted last chunk" 1 'artifact.digest_mismatch' -- unseal "$tmp/f.ccga"

echo "test_artifact_attacks: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
