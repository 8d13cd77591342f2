#!/usr/bin/env bash
# --version on every program: the project version from CMakeLists.txt, the git revision the build came from
# (12 hex digits, "-dirty" for a changed tree, or "unknown" outside a checkout; the build's, which may be
# older than HEAD), and the OpenSSL 3 in use; exit 0.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
want=$(sed -n 's/^project(ccgate VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")
[ -n "$want" ] || { echo "FAIL no project version in CMakeLists.txt"; exit 1; }
fails=0
for p in ccgate ccgate-kbs ccgate-agent ccgate-runner; do
  [ -x "$bin/$p" ] || skip_or_fail "$bin/$p is missing"
  out=$("$bin/$p" --version 2>&1)
  rc=$?
  first=$(printf '%s\n' "$out" | sed -n 1p)
  second=$(printf '%s\n' "$out" | sed -n 2p)
  if [ $rc -eq 0 ] && [[ $first =~ ^$p\ ${want//./\\.}\ \(git\ ([0-9a-f]{12}(-dirty)?|unknown)\)$ ]] && [[ $second == "OpenSSL 3."* ]]; then
    echo "ok   $p --version: $first | $second"
  else
    echo "FAIL $p --version (exit $rc): $out"
    fails=$((fails + 1))
  fi
done
exit $((fails > 0))
