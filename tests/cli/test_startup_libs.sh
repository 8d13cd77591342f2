#!/usr/bin/env bash
# `ccgate` is a dispatcher that execs one executable per command (docs/startup.md); `ccgate measure snp`
# must not load libcurl or the other network and storage libraries the broker's code needs:
#   - the dispatcher's and the measure executable's DT_NEEDED lists, printed, with none of them;
#   - what the dynamic loader really maps (LD_DEBUG=files) for `ccgate measure snp --help` and for a real
#     measurement: the command executable behind it, and no libcurl, GnuTLS, SQLite, libmicrohttpd or xmlsec;
#   - the dispatch itself: the dispatcher's commands and the executables match both ways, argv reaches the
#     command unchanged (argv[0] its path), the build-tree and installed layouts, never $PATH, and a
#     missing executable or an unknown word exits 2;
#   - the command executable turns core dumps off itself (execve reset the dispatcher's hardening).
# Never on time: scripts/bench-startup.sh measures that.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:?CCG_VECTORS must name the vectors}/snp-measure
bin=$(cd "$(dirname "$cli")" && pwd)
libexec=$bin/libexec/ccgate
command -v readelf >/dev/null || skip_or_fail "readelf is missing (apt-get install binutils)"
[ -d "$libexec" ] || { echo "FAIL $libexec is missing"; exit 1; }
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
passed=0
failed=0
ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# Libraries `ccgate measure snp` has no use for (libcurl's tree, the broker's server and store, GPU RIMs,
# TLS, the agent's seccomp filter).
unwanted='lib(curl|gnutls|nghttp2|ssh|ldap|lber|gssapi|krb5|psl|rtmp|idn2|microhttpd|sqlite3|xmlsec1|xml2|xslt|ssl|seccomp)[.-]'

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'; }

# check_needed NAME FILE EXTRA_UNWANTED: prints FILE's DT_NEEDED and fails on an unwanted library.
check_needed() {
  local name=$1 file=$2 extra=$3 list hits
  list=$(needed "$file")
  echo "DT_NEEDED of $name ($file): $(echo $list)"
  hits=$(printf '%s\n' "$list" | grep -E "$unwanted" || true)
  [ -n "$extra" ] && hits+=$(printf '%s\n' "$list" | grep -E "$extra" || true)
  if [ -z "$hits" ]; then ok "$name records none of the unwanted libraries"; else bad "$name records: $(echo $hits)"; fi
}

# A control: the pattern does catch libcurl where it belongs (kds fetches collateral over HTTPS).
needed "$libexec/ccgate-cmd-kds" | grep -Eq "$unwanted" && ok "control: ccgate-cmd-kds records libcurl" ||
  bad "control: the pattern finds no libcurl in ccgate-cmd-kds: $(echo $(needed "$libexec/ccgate-cmd-kds"))"
# The dispatcher runs before every command: not even OpenSSL or jansson (--version is ccgate-cmd-version).
check_needed ccgate "$cli" 'lib(crypto|jansson)[.-]'
check_needed ccgate-cmd-measure "$libexec/ccgate-cmd-measure" ''

# loaded NAME -- CMD...: runs CMD under LD_DEBUG=files; $loaded_files lists every object the loader mapped
# (through the exec, and any dlopen), $loaded_exe the last program it started.
loaded() {
  local name=$1 rc
  shift 2
  LD_DEBUG=files "$@" >"$tmp/out" 2>"$tmp/ld"
  rc=$?
  loaded_files=$(sed -n 's/^ *[0-9]*:[[:space:]]*file=\([^ ]*\) .*/\1/p' "$tmp/ld" | sort -u)
  loaded_exe=$(sed -n 's/^ *[0-9]*:[[:space:]]*transferring control: //p' "$tmp/ld" | tail -n 1)
  if [ $rc -ne 0 ]; then
    bad "$name: exit $rc: $(head -c 300 "$tmp/out")"
    return 1
  fi
  # A positive control: without it, "no libcurl" could only mean LD_DEBUG printed nothing.
  if ! printf '%s\n' "$loaded_files" | grep -q '^libcrypto\.so'; then
    tl_skip_check "$name: LD_DEBUG=files reported no libcrypto here (secure mode or another loader)" ||
      failed=$((failed + 1))
    return 1
  fi
  echo "$name: ran $loaded_exe; loaded: $(echo $loaded_files)"
  case $loaded_exe in
    */ccgate-cmd-measure) ok "$name runs ccgate-cmd-measure" ;;
    *) bad "$name ran '$loaded_exe', not ccgate-cmd-measure" ;;
  esac
  local hits
  hits=$(printf '%s\n' "$loaded_files" | grep -E "$unwanted" || true)
  if [ -z "$hits" ]; then ok "$name loads none of the unwanted libraries"; else bad "$name loads: $(echo $hits)"; fi
}

loaded "ccgate measure snp --help" -- "$cli" measure snp --help &&
  grep -q 'measure snp' "$tmp/out" && ok "measure snp --help prints its usage"
# sev-snp-measure's test_snp_ovmf_hash_gen_feature_snp_only fixture (tests/cli/test_measure_snp.sh).
want=ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5
if loaded "ccgate measure snp (a measurement)" -- "$cli" measure snp --ovmf "$vec/ovmf_AmdSev_suffix.bin" \
  --vcpus 1 --vcpu-type EPYC-v4 --kernel /dev/null --initrd /dev/null \
  --snp-ovmf-hash 086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74; then
  if [ "$(tail -n 1 "$tmp/out")" = "$want" ]; then ok "the measurement is right"; else bad "measurement: $(cat "$tmp/out")"; fi
fi

# The dispatcher's commands (its --help) and the executables, both ways.
words=$("$cli" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { exit }' | sort -u)
exes=$(cd "$libexec" && ls ccgate-cmd-* | sed 's/^ccgate-cmd-//' | grep -vx version | sort -u)
if [ -n "$words" ] && [ "$words" = "$exes" ]; then
  ok "every command in 'ccgate --help' has its executable, and no other: $(echo $words)"
else
  bad "commands in --help ($(echo $words)) and in $libexec ($(echo $exes)) differ"
fi
# ... and the dispatcher's own table knows every word its help lists.
missed=0
for w in $words; do
  out=$("$cli" "$w" --help 2>&1)
  if printf '%s\n' "$out" | grep -Eq "unknown command '$w'|is not installed|cannot run"; then
    bad "ccgate $w --help: $out"
    missed=1
  fi
done
[ $missed -eq 0 ] && ok "'ccgate WORD --help' reaches a command executable for every word"
[ -x "$libexec/ccgate-cmd-version" ] && ok "ccgate-cmd-version is there" || bad "ccgate-cmd-version is missing"

# expect NAME STATUS REGEX -- CMD...: exit status and a regex on stdout+stderr.
expect() {
  local name=$1 want_rc=$2 re=$3 out rc
  shift 4
  out=$("$@" 2>&1)
  rc=$?
  if [ $rc -eq "$want_rc" ] && printf '%s\n' "$out" | grep -Eq -- "$re"; then ok "$name"; else bad "$name (exit $rc): $out"; fi
}

expect "no command: usage, exit 2" 2 '^Usage: ccgate' -- "$cli"
expect "unknown command: exit 2" 2 "^ccgate: unknown command 'nosuch'" -- "$cli" nosuch
expect "unknown option: exit 2" 2 "^ccgate: unknown option '--nosuch'" -- "$cli" --nosuch
expect "a path is not a command" 2 "unknown command '../libexec/ccgate/ccgate-cmd-measure'" -- \
  "$cli" ../libexec/ccgate/ccgate-cmd-measure snp
expect "ccgate-cmd-version is not a command word" 2 "unknown command 'version'" -- "$cli" version
expect "--version through ccgate-cmd-version" 0 '^OpenSSL 3\.' -- "$cli" --version
expect "a command executable run alone: exit 2" 2 "run it as 'ccgate measure'" -- "$libexec/ccgate-cmd-measure" snp --help

# The command executable hardens itself (execve reset what the dispatcher set): started directly with core
# dumps allowed, it turns them off before it reads its input (a FIFO it blocks on). Not dumpable is not
# visible from here (as root, /proc shows no difference).
if [ "$(ulimit -H -c)" != 0 ]; then
  mkfifo "$tmp/fifo"
  (ulimit -S -c "$(ulimit -H -c)" && exec "$libexec/ccgate-cmd-measure" measure snp --from-json "$tmp/fifo") 2>/dev/null &
  hpid=$!
  core=
  for _ in $(seq 100); do
    core=$(awk '/^Max core file size/ { print $5 }' "/proc/$hpid/limits" 2>/dev/null)
    [ "$(readlink "/proc/$hpid/exe" 2>/dev/null)" = "$libexec/ccgate-cmd-measure" ] && [ "$core" = 0 ] && break
    sleep 0.1
  done
  if [ "$core" = 0 ]; then ok "ccgate-cmd-measure sets its core limit to 0"; else bad "core limit of ccgate-cmd-measure: '$core'"; fi
  exec 3<>"$tmp/fifo" # read-write: never blocks, even if the reader is gone
  exec 3>&-
  wait "$hpid" 2>/dev/null
else
  tl_skip_check "the core-limit check: the hard core limit here is already 0" || failed=$((failed + 1))
fi

# A fake command executable that prints its argv, planted beside a copy of the dispatcher.
fake() {
  mkdir -p "$(dirname "$1")"
  printf '#!/bin/sh\nprintf "[%%s]" "$0" "$@"; echo\n' >"$1"
  chmod +x "$1"
}
mkdir -p "$tmp/build" "$tmp/prefix/bin" "$tmp/path"
cp "$cli" "$tmp/build/ccgate"
cp "$cli" "$tmp/prefix/bin/ccgate"
fake "$tmp/path/ccgate-cmd-measure"
expect "missing executable: exit 2, never \$PATH" 2 "the 'measure' command is not installed" -- \
  env PATH="$tmp/path:$PATH" "$tmp/build/ccgate" measure snp
fake "$tmp/build/libexec/ccgate/ccgate-cmd-measure"
expect "build tree: <dir>/libexec/ccgate, argv unchanged" 0 \
  "^\[$tmp/build/libexec/ccgate/ccgate-cmd-measure\]\[measure\]\[snp\]\[--x=a b\]\[\]$" -- \
  "$tmp/build/ccgate" measure snp "--x=a b" ""
# Installed: <dir>/REL, REL being bin/ -> ${CMAKE_INSTALL_LIBEXECDIR}/ccgate (../libexec/ccgate by default),
# read from the dispatcher's own message.
rel=$("$tmp/prefix/bin/ccgate" kbs 2>&1 | sed -n "s|.* or $tmp/prefix/bin/\(.*\)\$|\1|p")
[ -n "$rel" ] && ok "installed layout: bin/$rel" || bad "no installed directory in the dispatcher's message"
fake "$tmp/prefix/bin/$rel/ccgate-cmd-kbs"
expect "installed: <dir>/$rel, argv unchanged" 0 "^\[$tmp/prefix/bin/$rel/ccgate-cmd-kbs\]\[kbs\]\[--help\]$" -- \
  "$tmp/prefix/bin/ccgate" kbs --help
ln -s "$tmp/prefix/bin/ccgate" "$tmp/path/ccgate-link"
expect "through a symbolic link: the real program's directory" 0 "^\[$tmp/prefix/bin/$rel/ccgate-cmd-kbs\]" -- \
  "$tmp/path/ccgate-link" kbs
chmod -x "$tmp/prefix/bin/$rel/ccgate-cmd-kbs"
expect "an executable that cannot run: exit 2" 2 "cannot run the 'kbs' command" -- "$tmp/prefix/bin/ccgate" kbs

echo "passed=$passed failed=$failed"
[ "$failed" -eq 0 ]
