#!/usr/bin/env bash
# scripts/install-deps.sh (what `make` runs first): with every package present it prints nothing and calls
# neither apt-get nor sudo, so a second `make test` never touches the package manager; with one package
# missing it says which, and installs exactly that one. apt-get, sudo (and, for the missing case,
# dpkg-query) are PATH shims that record their arguments; nothing is installed.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
script=$src/scripts/install-deps.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

command -v dpkg-query >/dev/null || skip_or_fail "no dpkg-query: not a Debian system"
mkdir -p "$tmp/shim" "$tmp/shim-missing"
log=$tmp/calls.log
for cmd in apt-get sudo; do
  # sudo runs its command (the apt-get shim) so a non-root run records both.
  printf '#!/bin/sh\necho "%s $*" >>"%s"\n[ "%s" = sudo ] && exec "$@"\nexit 0\n' "$cmd" "$log" "$cmd" >"$tmp/shim/$cmd"
  chmod +x "$tmp/shim/$cmd"
done
cp "$tmp/shim/"* "$tmp/shim-missing/"
real_dq=$(command -v dpkg-query)
# dpkg-query answering "not installed" for help2man only (the output dpkg-query gives for a known,
# absent package), and the real answer for every other.
cat >"$tmp/shim-missing/dpkg-query" <<SHIM
#!/bin/sh
for a in "\$@"; do
  if [ "\$a" = help2man ]; then printf 'unknown ok not-installed'; exit 0; fi
done
exec "$real_dq" "\$@"
SHIM
chmod +x "$tmp/shim-missing/dpkg-query"

# 1. Everything present (make test ran this script before the suite): silent, and no package manager.
: >"$log"
out=$(PATH="$tmp/shim:$PATH" bash "$script" 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
  bad "all present: exit $rc, output '$out' (a package is missing here: run 'make deps' first)"
elif [ -s "$log" ]; then
  bad "all present: the package manager was called: $(cat "$log")"
else
  ok "all present: exit 0, no output, no apt-get or sudo call"
fi

# 2. The same through make's deps target (what build, build-test, build-gcc and test depend on).
: >"$log"
out=$(PATH="$tmp/shim:$PATH" make -s -C "$src" deps 2>&1)
rc=$?
if [ $rc -eq 0 ] && [ -z "$out" ] && [ ! -s "$log" ]; then
  ok "make deps, all present: silent, no apt-get call"
else
  bad "make deps: exit $rc, output '$out', calls '$(cat "$log")'"
fi

# 3. One package missing: named on the output, and apt-get installs that one and no other.
: >"$log"
out=$(PATH="$tmp/shim-missing:$PATH" bash "$script" 2>&1)
rc=$?
if [ $rc -ne 0 ]; then
  bad "one missing: exit $rc: $out"
elif ! grep -qx 'install-deps: installing help2man' <<<"$out"; then
  bad "one missing: the output does not name it: '$out'"
elif ! grep -qE '^apt-get install .* help2man$' "$log"; then
  bad "one missing: no 'apt-get install ... help2man': $(cat "$log")"
elif [ "$(grep -c '^apt-get install' "$log")" -ne 1 ] || grep '^apt-get install' "$log" | grep -qv ' -qq --no-install-recommends help2man$'; then
  bad "one missing: apt-get installs more than help2man: $(cat "$log")"
else
  ok "one missing: 'install-deps: installing help2man', then $(grep -c '^apt-get' "$log") apt-get calls (update, install help2man)"
fi

echo "passed: $passed, failed: $failed"
exit $((failed > 0))
