#!/usr/bin/env bash
# The CLI walk (docs/cli.md): every command and subcommand of ccgate, ccgate-kbs, ccgate-agent and
# ccgate-runner, from the one list src/cli/commands.list, follows the convention of
# include/ccgate/cli_args.h:
#   - `NAME --help` exits 0 and prints "Usage: NAME ..." on standard output;
#   - `NAME --version` exits 0 and prints "NAME VERSION (git ...)" and the OpenSSL version;
#   - `NAME --bogus-option` exits 2 and names the full command: "NAME: unknown option '--bogus-option'";
#   - a group command lists its subcommands under "Commands:", and that list equals the file's, both
#     ways; an unknown subcommand word exits 2 and is named: "NAME: unknown command 'WORD'";
#   - `NAME --opt=value --help` (an option of the command, from the list) parses the option and then
#     prints the usage: `--opt=value` is an option everywhere;
#   - the man page of NAME (when help2man built them, $CCG_MAN_DIR) contains every option --help lists.
# Then a few commands show `--opt=value` equals `--opt value`, `-` for standard input and output, the
# CCGATE_KBS_* defaults and that a token is never printed.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
list="$src/src/cli/commands.list"
man_dir=${CCG_MAN_DIR:-}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
passed=0 failed=0 pending=0

ok() { echo "ok   $*"; passed=$((passed + 1)); }
bad() { echo "FAIL $*"; failed=$((failed + 1)); }

# run NAME ARGS...: runs the command NAME ("ccgate kbs key import") with ARGS; stdout in $tmp/out,
# stderr in $tmp/err, the exit status in $rc.
run() {
  local name=$1
  shift
  local -a words
  read -r -a words <<<"$name"
  local prog=${words[0]}
  local exe="$bin/$prog"
  [ "$prog" = ccgate ] && exe=$cli
  timeout 30 "$exe" "${words[@]:1}" "$@" >"$tmp/out" 2>"$tmp/err" </dev/null
  rc=$?
}

# The entries: name, x=y, pending flag.
names=() xys=() pend=()
while IFS= read -r line; do
  case $line in '#'* | '') continue ;; esac
  name=$(sed 's/ *|.*//' <<<"$line")
  xy=$(awk -F' [|] ' '{print $2}' <<<"$line")
  p=0
  if [ "${name:0:1}" = "?" ]; then
    p=1
    name=${name:1}
  fi
  names+=("$name") xys+=("$xy") pend+=("$p")
done <"$list"
[ "${#names[@]}" -gt 50 ] || { bad "the list $list holds only ${#names[@]} commands"; exit 1; }

in_list() {
  local n
  for n in "${names[@]}"; do [ "$n" = "$1" ] && return 0; done
  return 1
}

# The "Commands:" (or "Subcommands:") section of a group's --help in $tmp/out: the first word of each
# indented line ("  key import  ..." names the group "key").
group_words() {
  awk '/^(Sub)?[Cc]ommands:/ {on = 1; next} on && /^[^ ]/ {on = 0} on && /^  [a-z]/ {print $1}' "$tmp/out" | sort -u
}

man_text() { # the page with roff escapes removed, so options read as typed
  sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\,//g' -e 's/\\\/\?//g' "$1"
}

for i in "${!names[@]}"; do
  name=${names[$i]} xy=${xys[$i]}
  prog=${name%% *}
  run "$name" --help
  help_rc=$rc
  cp "$tmp/out" "$tmp/help"
  usage_ok=0
  grep -qE "^Usage: $name( |\$)" "$tmp/help" && usage_ok=1
  if [ "${pend[$i]}" = 1 ] && { [ $help_rc -ne 0 ] || [ $usage_ok = 0 ]; }; then
    echo "pending $name: not on the convention yet (its --help has no 'Usage: $name' line)"
    pending=$((pending + 1))
    continue
  fi
  if [ "${pend[$i]}" = 1 ]; then
    echo "note: $name is on the convention now: remove its '?' in $list"
  fi
  if [ $help_rc -eq 0 ] && [ $usage_ok = 1 ] && [ ! -s "$tmp/err" ]; then ok "$name --help"; else bad "$name --help: exit $help_rc, $(head -c 300 "$tmp/help" "$tmp/err")"; fi

  run "$name" --version
  first=$(sed -n 1p "$tmp/out")
  if [ $rc -eq 0 ] && [[ $first == "$name "[0-9]* ]] && grep -q '^OpenSSL 3' "$tmp/out"; then
    ok "$name --version"
  else
    bad "$name --version: exit $rc, $(head -c 200 "$tmp/out" "$tmp/err")"
  fi

  run "$name" --bogus-option
  if [ $rc -eq 2 ] && grep -qF "$name: unknown option '--bogus-option'" "$tmp/err"; then
    ok "$name --bogus-option exits 2 naming the command"
  else
    bad "$name --bogus-option: exit $rc, $(head -c 200 "$tmp/err")"
  fi

  if [ "$xy" = group ]; then
    cp "$tmp/help" "$tmp/out"
    words=$(group_words)
    [ -n "$words" ] || bad "$name --help lists no Commands: (or Subcommands:)"
    for w in $words; do
      in_list "$name $w" || bad "$name lists '$w', which $list lacks"
    done
    for n in "${names[@]}"; do
      rest=${n#"$name "}
      [ "$rest" != "$n" ] && [[ $rest != *" "* ]] || continue
      grep -qx "$rest" <<<"$words" || bad "$list has '$n', which '$name --help' does not list"
    done
    ok "$name --help lists the same subcommands as the list"
    run "$name" no-such-command
    if [ $rc -eq 2 ] && grep -qF "$name: unknown command 'no-such-command'" "$tmp/err"; then
      ok "$name no-such-command exits 2 naming it"
    else
      bad "$name no-such-command: exit $rc, $(head -c 200 "$tmp/err")"
    fi
  elif [ "$xy" != - ]; then
    run "$name" "$xy" --help
    if [ $rc -eq 0 ] && grep -qE "^Usage: $name( |\$)" "$tmp/out"; then
      ok "$name $xy --help (--opt=value parsed)"
    else
      bad "$name $xy --help: exit $rc, $(head -c 200 "$tmp/err")"
    fi
    opt=${xy%%=*}
    grep -qF -- "$opt" "$tmp/help" || bad "$name --help does not document $opt"
  fi

  if [ -n "$man_dir" ]; then
    case $prog in ccgate) sec=1 ;; *) sec=8 ;; esac
    page="$man_dir/${name// /-}.$sec"
    if [ ! -s "$page" ]; then
      bad "$name: no man page $page"
    else
      man_text "$page" >"$tmp/man"
      missing=""
      for o in $(grep -oE -- '--[a-z][a-z0-9-]*' "$tmp/help" | sort -u); do
        grep -qF -- "$o" "$tmp/man" || missing="$missing $o"
      done
      if [ -z "$missing" ]; then ok "$name: the man page has every option of --help"; else bad "$name: the man page lacks$missing"; fi
    fi
  fi
done
[ -n "$man_dir" ] || tl_skip_check "man pages: help2man was not found at configure time (CCG_MAN_DIR unset)" || failed=$((failed + 1))

# ---- --opt=value equals --opt value, on commands with a deterministic result.
rv=(--id cvm-1 --measurement "$(printf 'ab%.0s' $(seq 48))" --build-id b1 --not-before 2026-01-01T00:00:00Z
  --not-after 2027-01-01T00:00:00Z)
rv_eq=(--id=cvm-1 --measurement="$(printf 'ab%.0s' $(seq 48))" --build-id=b1 --not-before=2026-01-01T00:00:00Z
  --not-after=2027-01-01T00:00:00Z)
run "ccgate refval create" "${rv[@]}"
cp "$tmp/out" "$tmp/rv1"
run "ccgate refval create" "${rv_eq[@]}"
if [ $rc -eq 0 ] && [ -s "$tmp/rv1" ] && cmp -s "$tmp/rv1" "$tmp/out"; then ok "refval create: --opt=value equals --opt value"; else bad "refval create: --opt=value differs"; fi

tb=(--product milan --baseline-version 3 --not-before 2026-01-01T00:00:00Z --not-after 2027-01-01T00:00:00Z
  --up-to-date bootloader=10,tee=0,snp=23,microcode=84)
run "ccgate tcb-baseline create" "${tb[@]}"
cp "$tmp/out" "$tmp/tb1"
run "ccgate tcb-baseline create" --product=milan --baseline-version=3 --not-before=2026-01-01T00:00:00Z \
  --not-after=2027-01-01T00:00:00Z --up-to-date=bootloader=10,tee=0,snp=23,microcode=84
if [ $rc -eq 0 ] && [ -s "$tmp/tb1" ] && cmp -s "$tmp/tb1" "$tmp/out"; then ok "tcb-baseline create: --opt=value equals --opt value"; else bad "tcb-baseline create: --opt=value differs"; fi
# The older spelling --version N (before --version meant the program's version) still works.
run "ccgate tcb-baseline create" --product milan --version 3 --not-before 2026-01-01T00:00:00Z \
  --not-after 2027-01-01T00:00:00Z --up-to-date bootloader=10,tee=0,snp=23,microcode=84
if [ $rc -eq 0 ] && cmp -s "$tmp/tb1" "$tmp/out"; then ok "tcb-baseline create: --version N is still the baseline's version"; else bad "tcb-baseline --version N alias"; fi

# A verification: the emulated SNP report verified with both spellings, at a pinned --now.
run "ccgate emulate snp" --out-dir="$tmp/emu"
if [ $rc -eq 0 ]; then
  v=(--report "$tmp/emu/report.bin" --certs "$tmp/emu/certs.pem" --trust-root "$tmp/emu/ark.pem" --trust-root-product milan --now 2026-06-01T00:00:00Z --json)
  run "ccgate verify snp" "${v[@]}"
  cp "$tmp/out" "$tmp/v1"
  rc1=$rc
  run "ccgate verify snp" --report="$tmp/emu/report.bin" --certs="$tmp/emu/certs.pem" --trust-root="$tmp/emu/ark.pem" \
    --trust-root-product=milan --now=2026-06-01T00:00:00Z --json
  if [ -s "$tmp/v1" ] && [ $rc -eq $rc1 ] && cmp -s "$tmp/v1" "$tmp/out"; then ok "verify snp: --opt=value equals --opt value (exit $rc)"; else bad "verify snp: --opt=value differs"; fi
  # `-` is standard input.
  timeout 30 "$cli" verify snp --report - --certs "$tmp/emu/certs.pem" --trust-root "$tmp/emu/ark.pem" \
    --trust-root-product milan --now 2026-06-01T00:00:00Z --json <"$tmp/emu/report.bin" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  if [ $rc -eq $rc1 ] && cmp -s "$tmp/v1" "$tmp/out"; then ok "verify snp --report - reads standard input"; else bad "verify snp --report -: exit $rc"; fi
  # --now defaults to the current time, printed so it can be pinned.
  run "ccgate verify snp" --report "$tmp/emu/report.bin" --certs "$tmp/emu/certs.pem" --trust-root "$tmp/emu/ark.pem" \
    --trust-root-product milan
  if grep -qE '^ccgate verify snp: --now=[0-9]+ \(the current time\)$' "$tmp/err"; then ok "verify snp: the default --now is printed"; else bad "verify snp: no --now printed: $(head -c 200 "$tmp/err")"; fi
else
  bad "emulate snp --out-dir=DIR: exit $rc"
fi

# `--out -` is standard output, `--in -` standard input.
run "ccgate refval create" "${rv[@]}" --out -
if [ $rc -eq 0 ] && cmp -s "$tmp/rv1" "$tmp/out" && [ ! -e ./- ]; then ok "refval create --out - writes standard output"; else bad "refval create --out -"; fi

# ---- --json: a failure is the one error object (docs/cli.md) on standard output, with the exit status of
# its reason's kind. Each command below fails on a missing input file.
N=$tmp/no-such-file
json_fail=(
  "verify snp --report $N --certs $N --now 1"
  "verify gpu --report $N --certs $N --now 1"
  "verify tdx --quote $N --now 1"
  "measure snp --ovmf $N --vcpus 1 --vcpu-type EPYC"
  "refval verify --in $N --now 1"
  "refval sign --in $N --key $N --issuer x"
  "tcb-baseline verify --in $N --now 1"
  "kds show --cache-dir $tmp/cache --report $N"
  "audit verify --db $N"
  "model inspect --model $N"
  "client ask --endpoint https://127.0.0.1:1 --policy $N hello"
  "channel send --connect 127.0.0.1:1 --policy $N"
  "kbs health --url http://127.0.0.1:1 --insecure-http --token $N"
)
if command -v python3 >/dev/null; then
  for c in "${json_fail[@]}"; do
    read -r -a words <<<"$c"
    timeout 30 "$cli" "${words[@]}" --json >"$tmp/out" 2>"$tmp/err" </dev/null
    rc=$?
    shape=$(python3 -c 'import json,sys
d = json.load(open(sys.argv[1]))
r = d["reason"]
assert isinstance(d["error"], str) and set(r) >= {"code", "component", "kind", "message", "details"}
print(r["kind"])' "$tmp/out" 2>/dev/null)
    if [ $rc -eq 2 ] && [ -n "$shape" ]; then ok "ccgate ${words[0]} ${words[1]} --json: the error object ($shape), exit 2"; else bad "ccgate $c --json: exit $rc, $(head -c 200 "$tmp/out")"; fi
  done
else
  tl_skip_check "python3 is missing: the --json error objects are not checked" || failed=$((failed + 1))
fi

# ---- the broker's defaults from the environment, and a token that is never printed.
printf 'secret-token-%s\n' "$RANDOM$RANDOM" >"$tmp/token"
tok=$(cat "$tmp/token")
CCGATE_KBS_URL=http://127.0.0.1:1 CCGATE_KBS_TOKEN="$tmp/token" run "ccgate kbs health" --insecure-http
if [ $rc -eq 2 ] && grep -q 'unreachable' "$tmp/err" && ! grep -qF "$tok" "$tmp/out" "$tmp/err"; then
  ok "kbs: CCGATE_KBS_URL and CCGATE_KBS_TOKEN are the defaults; the token is not printed"
else
  bad "kbs env defaults: exit $rc, $(head -c 300 "$tmp/err")"
fi
CCGATE_KBS_URL=http://127.0.0.1:1 run "ccgate kbs health" --url=https://127.0.0.1:1 --token "$tmp/token" --cacert=/nonexistent
if [ $rc -eq 2 ] && ! grep -q 'http:// only' "$tmp/err" && ! grep -qF "$tok" "$tmp/out" "$tmp/err"; then
  ok "kbs: --url overrides CCGATE_KBS_URL"
else
  bad "kbs --url over the environment: exit $rc, $(head -c 300 "$tmp/err")"
fi
env -u CCGATE_KBS_URL bash -c '"$0" kbs key list --token "$1" >/dev/null 2>"$2"' "$cli" "$tmp/token" "$tmp/err"
if grep -q 'CCGATE_KBS_URL' "$tmp/err"; then ok "kbs: a missing URL names --url and CCGATE_KBS_URL"; else bad "kbs without a URL: $(cat "$tmp/err")"; fi

# A broker nobody answers for: a dependency failure (exit 2) with its own code, in the text and the --json object.
rc=0
out=$("$cli" kbs key list --url http://127.0.0.1:1 --insecure-http --token "$tmp/token" --json 2>"$tmp/err") || rc=$?
if [ "$rc" = 2 ] && echo "$out" | python3 -c 'import json,sys; assert json.load(sys.stdin)["reason"]["code"] == "admin.broker_unreachable"' &&
  grep -q "unreachable" "$tmp/err"; then
  ok "kbs: an unreachable broker is exit 2, admin.broker_unreachable"
else
  bad "kbs unreachable: rc $rc $out $(cat "$tmp/err")"
fi

echo "$passed passed, $failed failed, $pending pending (owned by changes not merged yet)"
[ "$failed" -eq 0 ]
