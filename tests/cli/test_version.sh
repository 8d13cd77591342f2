#!/usr/bin/env bash
# --version on every program: the project version from CMakeLists.txt, the git revision the build came from
# (or "unknown" outside a checkout), and the OpenSSL 3 in use; exit 0.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
want=$(sed -n 's/^project(ccgate VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$want" ] || { echo "FAIL no project version in CMakeLists.txt"; exit 1; }
rev=$(git -C "$src" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
fails=0
for p in ccgate ccgate-kbs ccgate-agent ccgate-runner; do
  [ -x "$bin/$p" ] || skip_or_fail "$bin/$p is missing"
  out=$("$bin/$p" --version 2>&1)
  rc=$?
  first=$(printf '%s\n' "$out" | sed -n 1p)
  second=$(printf '%s\n' "$out" | sed -n 2p)
  if [ $rc -eq 0 ] && [[ $first == "$p $want (git $rev"* ]] && [[ $second == "OpenSSL 3."* ]]; then
    echo "ok   $p --version: $first | $second"
  else
    echo "FAIL $p --version (exit $rc): $out"
    fails=$((fails + 1))
  fi
done
exit $((fails > 0))
