#!/usr/bin/env bash
# Progress of `ccgate seal` and `unseal` (docs/progress.md): under a pseudo-terminal the line is drawn
# (bytes, total, percentage, rate, time) and redrawn in place with a carriage return; without a terminal
# nothing is drawn; --no-progress silences the terminal, --progress forces a pipe. No timing is asserted.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {
  if eval "$2"; then echo "ok   $1"; passed=$((passed + 1)); else echo "FAIL $1"; failed=$((failed + 1)); fi
}
command -v python3 >/dev/null || skip_or_fail "python3 is needed for the pseudo-terminal"

# in_pty OUT CMD...: runs CMD with standard input, output and error on a new pseudo-terminal; writes
# what the terminal received to OUT and returns CMD's exit status.
in_pty() {
  local out=$1
  shift
  python3 - "$out" "$@" <<'PY'
import os, pty, sys
out, argv = sys.argv[1], sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
data = b""
while True:
    try:
        chunk = os.read(fd, 65536)
    except OSError:
        break
    if not chunk:
        break
    data += chunk
_, status = os.waitpid(pid, 0)
open(out, "wb").write(data)
sys.exit(os.waitstatus_to_exitcode(status))
PY
}
python3 -c 'import pty, os; pty.openpty()' 2>/dev/null || skip_or_fail "no pseudo-terminals here"

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$tmp/p.key" 2>/dev/null
openssl pkey -in "$tmp/p.key" -pubout -out "$tmp/p.pub"
head -c 32 /dev/urandom > "$tmp/model.key"
head -c 3000000 /dev/urandom > "$tmp/model.bin"
seal=("$cli" seal --in "$tmp/model.bin" --key-file "$tmp/model.key" --key-id acme/model/m --key-version 1
  --signer "$tmp/p.key" --chunk-size 65536)
unseal=("$cli" unseal --in "$tmp/m.ccga" --key-file "$tmp/model.key" --key-version 1 --provider-key "$tmp/p.pub")

in_pty "$tmp/seal.tty" "${seal[@]}" --out "$tmp/m.ccga"
check "seal under a terminal: exit 0" '[ $? -eq 0 ]'
# seal reads the model twice (hash, then encrypt): the total is twice its size.
check "seal draws its line in place" 'grep -aq $'"'"'\rseal  .* / 5\.7 MiB .*/s .* left'"'"' "$tmp/seal.tty"'
check "seal ends with the total time" 'grep -aq "seal  5\.7 MiB / 5\.7 MiB  100%  .* total" "$tmp/seal.tty"'
check "seal's summary on its own line after it" 'grep -aq "^sealed .* -> " <(tr "\r" "\n" <"$tmp/seal.tty")'

in_pty "$tmp/unseal.tty" "${unseal[@]}" --out "$tmp/out.bin"
check "unseal under a terminal: exit 0" '[ $? -eq 0 ] && cmp -s "$tmp/model.bin" "$tmp/out.bin"'
check "unseal draws bytes, total, rate" 'grep -aq $'"'"'\runseal  .* / 2\.9 MiB .*%  .*/s'"'"' "$tmp/unseal.tty"'
check "unseal ends at 100%" 'grep -aq "unseal  2\.9 MiB / 2\.9 MiB  100%  .* total" "$tmp/unseal.tty"'

in_pty "$tmp/quiet.tty" "${unseal[@]}" --out "$tmp/out2.bin" --no-progress
check "--no-progress: nothing drawn on the terminal" '[ $? -eq 0 ] && ! grep -aq "unseal  " "$tmp/quiet.tty"'

# --out - refuses a terminal for binary data (exit 2, the command's name).
in_pty "$tmp/refuse.tty" "${unseal[@]}" --out -
rc=$?
check "unseal --out - on a terminal: exit 2" '[ "$rc" -eq 2 ] && grep -aq "^ccgate unseal: standard output is a terminal" "$tmp/refuse.tty"'

# A failure under a terminal: the progress line is ended before the error.
# (header 160 + 6 key ID + 96 signature; records 65536 + 48: a byte inside chunk 40 of 46.)
cp "$tmp/m.ccga" "$tmp/bad.ccga"
tl_flip_byte "$tmp/bad.ccga" $((262 + 40 * 65584 + 1000))
in_pty "$tmp/fail.tty" "$cli" unseal --in "$tmp/bad.ccga" --key-file "$tmp/model.key" --key-version 1 \
  --provider-key "$tmp/p.pub" --out "$tmp/x.bin" --threads 1
rc=$?
check "a failure: exit 1" '[ "$rc" -eq 1 ]'
# The line is ended (ESC[K then a newline, which the terminal shows as CR LF) before the error.
has() { python3 -c 'import sys; sys.exit(0 if sys.argv[2].encode().decode("unicode_escape").encode("latin-1") in open(sys.argv[1], "rb").read() else 1)' "$1" "$2"; }
check "a failure: the progress line, then the error on its own line" \
  'has "$tmp/fail.tty" "\\runseal  " && has "$tmp/fail.tty" "\\x1b[K\\r\\nccgate: unseal: artifact.chunk_auth_failed"'

# No terminal: standard error carries no progress at all.
"${seal[@]}" --out "$tmp/m2.ccga" >/dev/null 2>"$tmp/seal.err"
"${unseal[@]}" --out "$tmp/out3.bin" >/dev/null 2>"$tmp/unseal.err"
check "no terminal: no progress" '[ ! -s "$tmp/seal.err" ] && [ ! -s "$tmp/unseal.err" ]'

echo "test_seal_progress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
