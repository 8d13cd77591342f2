#!/usr/bin/env bash
# A lean guest agent (issue 14, must-show 6): ccgate-agent's DT_NEEDED list (readelf -d), printed, has no
# SQLite, libmicrohttpd or GnuTLS, and every library in it is one docs/dependencies.md explains. The
# network-facing ccgate-endpoint (which links libmicrohttpd, and GnuTLS only through it) is printed too.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
agent=${CCG_AGENT:-$bin/ccgate-agent}
front=$(dirname "$agent")/ccgate-endpoint
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
doc=$src/docs/dependencies.md
command -v readelf >/dev/null || skip_or_fail "readelf (binutils) is missing"
[ -x "$agent" ] || skip_or_fail "$agent is missing"
[ -x "$front" ] || { echo "FAIL ccgate-endpoint is not built beside $agent"; exit 1; }
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

echo "ccgate-agent DT_NEEDED:"
needed "$agent" | sed 's/^/  /'
echo "ccgate-endpoint DT_NEEDED:"
needed "$front" | sed 's/^/  /'

list=$(needed "$agent")
[ -n "$list" ] && ok "ccgate-agent has a DT_NEEDED list" || bad "no DT_NEEDED entries in $agent"
for lib in libsqlite3 libmicrohttpd libgnutls; do
  grep -q "^$lib" <<<"$list" && bad "ccgate-agent needs $lib" || ok "ccgate-agent does not need $lib"
done
# the libraries behind the ones above never sneak in either (the broker's and the server's)
for lib in libp11-kit libxmlsec1 libxml2 libldap liblber libgssapi_krb5; do
  grep -q "^$lib" <<<"$list" && bad "ccgate-agent needs $lib" || ok "ccgate-agent does not need $lib"
done

# every library it does need is explained in docs/dependencies.md (a table row starting "| `libNAME")
for lib in $list; do
  base=${lib%%.so*}
  grep -q "^| \`$base" "$doc" && ok "docs/dependencies.md explains $lib" || bad "docs/dependencies.md does not explain $lib"
done

# the front is the one that serves HTTP: it needs libmicrohttpd, and still no SQLite
flist=$(needed "$front")
grep -q '^libmicrohttpd' <<<"$flist" && ok "ccgate-endpoint needs libmicrohttpd (it serves /status and HTTPS)" ||
  bad "ccgate-endpoint does not need libmicrohttpd: is it serving anything?"
grep -q '^libsqlite3' <<<"$flist" && bad "ccgate-endpoint needs libsqlite3" || ok "ccgate-endpoint does not need libsqlite3"
for lib in $flist; do
  base=${lib%%.so*}
  grep -q "^| \`$base" "$doc" && ok "docs/dependencies.md explains $lib (ccgate-endpoint)" ||
    bad "docs/dependencies.md does not explain $lib (ccgate-endpoint)"
done
[ $fails -eq 0 ]
