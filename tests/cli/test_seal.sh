#!/usr/bin/env bash
# `ccgate seal`, `unseal` and `artifact`: a round trip with both signature algorithms, and the refusals
# with their codes and exit statuses (docs/artifact-format.md).
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
check() {
  if eval "$2"; then echo "ok   $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p.key" 2>/dev/null
openssl pkey -in "$tmp/p.key" -pubout -out "$tmp/p.pub"
openssl genpkey -algorithm ED25519 -out "$tmp/e.key" 2>/dev/null
openssl pkey -in "$tmp/e.key" -pubout -out "$tmp/e.pub"
head -c 32 /dev/urandom > "$tmp/model.key"
head -c 32 /dev/urandom > "$tmp/other.key"
head -c 300000 /dev/urandom > "$tmp/model.bin"
size() { stat -c %s "$1"; }

expect "seal ES384" 0 'sealed' -- "$cli" seal --in "$tmp/model.bin" --out "$tmp/m.ccga" --key-file "$tmp/model.key" \
  --key-id acme/model/a --key-version 3 --signer "$tmp/p.key" --chunk-size 65536
expect "unseal" 0 'version 3, 300000 bytes' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/out.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
check "plaintext equal" 'cmp -s "$tmp/model.bin" "$tmp/out.bin"'
expect "unseal with --key-fd, 1 thread" 0 '' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/out1.bin" \
  --key-fd 3 --key-version 3 --provider-key "$tmp/p.pub" --threads 1 3<"$tmp/model.key"
check "plaintext equal (1 thread)" 'cmp -s "$tmp/model.bin" "$tmp/out1.bin"'
expect "seal Ed25519, default chunk, key on stdin" 0 '' -- "$cli" seal --in "$tmp/model.bin" --out "$tmp/e.ccga" \
  --key-file - --key-id=acme/model/a --key-version=1 --signer="$tmp/e.key" <"$tmp/model.key"
expect "unseal Ed25519" 0 '' -- "$cli" unseal --in "$tmp/e.ccga" --out "$tmp/oute.bin" --key-file "$tmp/model.key" \
  --key-version 1 --provider-key "$tmp/e.pub"
check "plaintext equal (Ed25519)" 'cmp -s "$tmp/model.bin" "$tmp/oute.bin"'

expect "inspect" 0 '"key_id": "acme/model/a"' -- "$cli" artifact inspect "$tmp/m.ccga"
expect "inspect verified" 0 '"signature": "verified"' -- "$cli" artifact inspect "$tmp/m.ccga" --provider-key "$tmp/p.pub"
d_inspect=$("$cli" artifact inspect "$tmp/m.ccga" | python3 -c 'import json,sys; print(json.load(sys.stdin)["plaintext_digest"])')
d_plain=$("$cli" artifact digest --in "$tmp/model.bin" --chunk-size 65536 | cut -d' ' -f1)
check "digest of the plain model = signed digest" '[ -n "$d_plain" ] && [ "$d_inspect" = "$d_plain" ]'

expect "wrong key version" 1 'artifact.key_version_mismatch' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 2 --provider-key "$tmp/p.pub"
check "no output left on failure" '[ ! -e "$tmp/x.bin" ]'
expect "wrong key" 1 'artifact.key_invalid' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/other.key" --key-version 3 --provider-key "$tmp/p.pub"
expect "wrong provider key" 1 'artifact.signature_invalid' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/e.pub"

# A byte flipped in the middle of chunk 2 (header 160 + 12 key ID + 96 signature; records 65536 + 48).
cp "$tmp/m.ccga" "$tmp/t.ccga"
tl_flip_byte "$tmp/t.ccga" $((268 + 2 * 65584 + 1000))
expect "flipped chunk" 1 'artifact.chunk_auth_failed' -- "$cli" unseal --in "$tmp/t.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
check "no plaintext left on failure" '[ ! -e "$tmp/x.bin" ]'
cp "$tmp/m.ccga" "$tmp/t.ccga"
tl_flip_byte "$tmp/t.ccga" 130
expect "flipped header" 1 'artifact.signature_invalid' -- "$cli" unseal --in "$tmp/t.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
head -c $((268 + 2 * 65584)) "$tmp/m.ccga" > "$tmp/t.ccga"
expect "truncated" 1 'artifact.truncated' -- "$cli" unseal --in "$tmp/t.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
{ cat "$tmp/m.ccga"; echo extra; } > "$tmp/t.ccga"
expect "trailing data" 1 'artifact.trailing_data' -- "$cli" unseal --in "$tmp/t.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
expect "not an artifact" 2 'artifact.magic_invalid' -- "$cli" artifact inspect "$tmp/model.bin"
head -c 31 /dev/urandom > "$tmp/short.key"
expect "short key file" 1 'artifact.key_invalid' -- "$cli" seal --in "$tmp/model.bin" --out "$tmp/y.ccga" \
  --key-file "$tmp/short.key" --key-id acme/model/a --key-version 1 --signer "$tmp/p.key"
expect "bad chunk size" 2 'usage.invalid' -- "$cli" seal --in "$tmp/model.bin" --out "$tmp/y.ccga" \
  --key-file "$tmp/model.key" --key-id acme/model/a --key-version 1 --signer "$tmp/p.key" --chunk-size 100
expect "missing options" 2 'required' -- "$cli" seal --in "$tmp/model.bin"
# Key IDs are the key broker's repo/type/tag (docs/kbs.md "Key lifecycle"), checked before anything is read.
for bad_id in a acme/model acme/model/a/b acme//a ../model/a acme/model/. 'acme/mo del/a' acme/model/a%2F; do
  expect "seal --key-id '$bad_id' refused" 2 'key.id_invalid' -- "$cli" seal --in "$tmp/model.bin" --out "$tmp/y.ccga" \
    --key-file "$tmp/model.key" --key-id "$bad_id" --key-version 1 --signer "$tmp/p.key"
done
check "no artifact written for a refused key ID" '[ ! -e "$tmp/y.ccga" ]'
expect "seal --help" 0 '^Usage: ccgate seal' -- "$cli" seal --help
expect "unseal --help says providers only" 0 'providers checking their own' -- "$cli" unseal --help
expect "artifact --help" 0 'artifact inspect' -- "$cli" artifact --help
expect "top-level usage" 0 'unseal' -- "$cli" --help

# The command-line convention (cli_args.h): keys never on the command line, '-' for the standard streams.
expect "--key-hex is gone" 2 "^ccgate seal: unknown option '--key-hex'" -- "$cli" seal --in "$tmp/model.bin" \
  --out "$tmp/y.ccga" --key-hex 00 --key-id acme/model/a --key-version 1 --signer "$tmp/p.key"
expect "unseal unknown option" 2 "^ccgate unseal: unknown option '--bogus'" -- "$cli" unseal --bogus
expect "unseal missing value" 2 "^ccgate unseal: option '--in' needs a value" -- "$cli" unseal --in
expect "bad key version" 2 "^ccgate unseal: --key-version" -- "$cli" unseal --key-version 0
expect "seal --version" 0 'ccgate' -- "$cli" seal --version
expect "unseal --help" 0 '^Usage: ccgate unseal' -- "$cli" unseal --help
expect "artifact inspect --help" 0 '^Usage: ccgate artifact inspect' -- "$cli" artifact inspect --help
expect "artifact digest --help" 0 '^Usage: ccgate artifact digest' -- "$cli" artifact digest --help
expect "artifact unknown command" 2 "^ccgate artifact: unknown command 'frob'" -- "$cli" artifact frob
expect "artifact inspect unknown option" 2 "^ccgate artifact inspect: unknown option" -- "$cli" artifact inspect --x=y
expect "artifact without a command" 2 "^ccgate artifact:" -- "$cli" artifact
expect "both key sources" 2 'exactly one of --key-file and --key-fd' -- "$cli" unseal --in "$tmp/m.ccga" \
  --out "$tmp/x.bin" --key-file "$tmp/model.key" --key-fd 0 --key-version 3 --provider-key "$tmp/p.pub"
expect "stdin twice" 2 'cannot both read standard input' -- "$cli" seal --in - --out "$tmp/y.ccga" --key-file - \
  --key-id acme/model/a --key-version 1 --signer "$tmp/p.key"
head -c 40 /dev/urandom > "$tmp/long.key"
expect "key fd too long" 1 'artifact.key_invalid' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/x.bin" \
  --key-fd 3 --key-version 3 --provider-key "$tmp/p.pub" 3<"$tmp/long.key"
expect "key fd not open" 2 'io.read_failed' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/x.bin" \
  --key-fd 9 --key-version 3 --provider-key "$tmp/p.pub"

cp "$tmp/model.bin" "$tmp/same.bin"
expect "seal --out the input itself" 2 'is the input itself' -- "$cli" seal --in "$tmp/same.bin" --out "$tmp/same.bin" \
  --key-file "$tmp/model.key" --key-id acme/model/a --key-version 1 --signer "$tmp/p.key"
check "the input is intact" 'cmp -s "$tmp/model.bin" "$tmp/same.bin"'
cp "$tmp/m.ccga" "$tmp/same.ccga"
expect "unseal --out the input itself" 2 'is the input itself' -- "$cli" unseal --in "$tmp/same.ccga" \
  --out "$tmp/same.ccga" --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
check "the artifact is intact" 'cmp -s "$tmp/m.ccga" "$tmp/same.ccga"'
expect "stdin twice (--key-fd 0)" 2 'cannot both read standard input' -- "$cli" unseal --in - --out "$tmp/x.bin" \
  --key-fd 0 --key-version 3 --provider-key "$tmp/p.pub"

# A pipeline: the model on standard input, the artifact through a pipe, the plaintext on standard output.
cd "$tmp" || exit 2
cat "$tmp/model.bin" | "$cli" seal --in - --out - --key-fd 3 --key-id acme/model/a --key-version 3 \
  --signer "$tmp/p.key" --chunk-size 65536 3<"$tmp/model.key" 2>"$tmp/seal.err" |
  "$cli" unseal --in - --out - --key-fd 3 --key-version 3 --provider-key "$tmp/p.pub" 3<"$tmp/model.key" \
  >"$tmp/piped.bin" 2>"$tmp/unseal.err"
check "seal -> pipe -> unseal: plaintext equal" 'cmp -s "$tmp/model.bin" "$tmp/piped.bin"'
check "unseal --out - wrote no file named '-'" '[ ! -e "$tmp/-" ]'
check "summaries on stderr with --out -" 'grep -q "sealed standard input -> standard output" "$tmp/seal.err" &&
  grep -q "unsealed standard input -> standard output" "$tmp/unseal.err"'
check "no progress without a terminal" '! grep -q $'"'"'\r'"'"' "$tmp/seal.err" "$tmp/unseal.err"'
"$cli" seal --in - --out "$tmp/s.ccga" --key-file "$tmp/model.key" --key-id acme/model/a --key-version 3 \
  --signer "$tmp/p.key" <"$tmp/model.bin" >/dev/null 2>&1
expect "seal from a redirected file" 0 '300000 bytes' -- "$cli" unseal --in "$tmp/s.ccga" --out "$tmp/s.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub"
check "plaintext equal (redirected stdin)" 'cmp -s "$tmp/model.bin" "$tmp/s.bin"'
d_stdin=$(cat "$tmp/model.bin" | "$cli" artifact digest --in - --chunk-size 65536 | cut -d' ' -f1)
check "digest of standard input = signed digest" '[ "$d_stdin" = "$d_inspect" ]'
# A tampered artifact on standard input: refused, and nothing at all reaches standard output.
cp "$tmp/m.ccga" "$tmp/t.ccga"
tl_flip_byte "$tmp/t.ccga" $((268 + 3 * 65584 + 1000))
"$cli" unseal --in - --out - --key-fd 3 --key-version 3 --provider-key "$tmp/p.pub" 3<"$tmp/model.key" \
  <"$tmp/t.ccga" >"$tmp/t.out" 2>"$tmp/t.err"
rc=$?
check "tampered on stdin: exit 1, chunk_auth_failed" '[ "$rc" -eq 1 ] && grep -q artifact.chunk_auth_failed "$tmp/t.err"'
check "tampered on stdin: no plaintext on stdout" '[ ! -s "$tmp/t.out" ]'
expect "--progress forces progress" 0 'unseal  .* 100%  .* total' -- "$cli" unseal --in "$tmp/m.ccga" --out "$tmp/x.bin" \
  --key-file "$tmp/model.key" --key-version 3 --provider-key "$tmp/p.pub" --progress
cd / || exit 2

echo "test_seal: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
