# Shared by the shell tests (tests/cli/test_*.sh), sourced first:
#   . "$(dirname "$0")/../support/testlib.sh"
# The same two rules as the C tests (tests/support/testutil.h, tu_proc.h):
#   - a test that cannot run here is SKIPPED (exit 77, which ctest shows as Skipped), except under
#     CI=true, where it FAILS;
#   - background children never outlive the script: tl_spawn gives each one PR_SET_PDEATHSIG (SIGKILL,
#     through setpriv), and the EXIT trap installed here stops every background job (SIGTERM, then
#     SIGKILL after 5 s). A script with its own EXIT trap calls tl_kill_children from it.

tl_in_ci() { [ "${CI:-}" = true ]; }

# skip_or_fail REASON: ends the whole script.
skip_or_fail() {
  if tl_in_ci; then
    echo "FAIL (CI=true, so this cannot be skipped): $*"
    exit 1
  fi
  echo "SKIP: $*"
  exit 77
}

# tl_skip_check REASON: one part of a script cannot run. Returns 0 after printing SKIP, or 1 under
# CI=true (the caller counts a failure): tl_skip_check "why" || failed=$((failed + 1))
tl_skip_check() {
  if tl_in_ci; then
    echo "FAIL (CI=true, so this cannot be skipped): $*"
    return 1
  fi
  echo "SKIP: $*"
  return 0
}

# tl_spawn CMD...: runs CMD in the background, killed by the kernel if this shell dies; $! is its pid.
if setpriv --pdeathsig KILL true 2>/dev/null; then
  tl_spawn() { setpriv --pdeathsig KILL -- "$@" & }
else
  tl_spawn() { "$@" & }
fi

# tl_kill_children: SIGTERM to every background job of this shell, SIGKILL to those still there after
# 5 s, and all of them reaped.
tl_kill_children() {
  local pids p i
  pids=$(jobs -p)
  [ -n "$pids" ] || return 0
  for p in $pids; do kill -TERM "$p" 2>/dev/null; done
  for i in $(seq 50); do
    local alive=0
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 0 ] && break
    sleep 0.1
  done
  for p in $pids; do kill -KILL "$p" 2>/dev/null; done
  wait 2>/dev/null
  return 0
}

trap tl_kill_children EXIT

# tl_kbs_guest_env: the start of a test that drives the real ccgate-kbs from a jwcrypto KBS guest
# (tests/support/kbs_guest_session.py). Sets cli, kbs, py, tmp (a fresh directory, removed on exit unless
# KEEP is set) and GUEST_LIB (exported: the support directory the guest imports from); skips when
# ccgate-kbs or python3's jwcrypto is missing.
tl_kbs_guest_env() {
  cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
  kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
  py=${CCG_PYTHON:-/usr/bin/python3}
  tmp=$(mktemp -d)
  trap 'tl_kill_children; [ -n "${KEEP:-}" ] || rm -rf "$tmp"' EXIT
  export GUEST_LIB
  GUEST_LIB=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  "$py" -c 'import jwcrypto' 2>/dev/null ||
    skip_or_fail "python3 with jwcrypto ($py) is missing (apt-get install python3-jwcrypto)"
  [ -x "$kbs" ] || skip_or_fail "$kbs is missing"
}

# tl_kbs_add_key KBS CONFIG POLICY_FILE POLICY_ID KEY_ID KEY_FILE: offline, as the host, stores the release
# policy, then imports KEY_FILE as KEY_ID under POLICY_ID. Prints FAIL naming the step and returns 1 on
# failure.
tl_kbs_add_key() {
  "$1" policy set --config "$2" --file "$3" >/dev/null || { echo "FAIL policy set $4"; return 1; }
  "$1" key import --config "$2" --key-id "$5" --policy-id "$4" --file "$6" >/dev/null ||
    { echo "FAIL key import $5"; return 1; }
}

# tl_kbs_serve KBS DIR: serves DIR/kbs.json with ccgate-kbs (plain HTTP on loopback, log in DIR/daemon.log)
# and waits for its port file DIR/port. Sets tl_port; $! is the daemon. Prints FAIL and the log and
# returns 1 when it does not start.
tl_kbs_serve() {
  tl_spawn "$1" serve --config "$2/kbs.json" --insecure-http --port-file "$2/port" 2>"$2/daemon.log"
  for _ in $(seq 100); do [ -s "$2/port" ] && break; sleep 0.1; done
  [ -s "$2/port" ] || { echo "FAIL the daemon did not start"; cat "$2/daemon.log"; return 1; }
  tl_port=$(cat "$2/port")
}

# tl_flip_byte FILE OFFSET: XORs one byte with 0x01 in place. Writing a fixed value instead leaves the
# byte unchanged when it already held that value (one run in 256 for random bytes).
tl_flip_byte() {
  python3 - "$1" "$2" <<'PYEOF'
import sys
with open(sys.argv[1], "r+b") as f:
    off = int(sys.argv[2])
    f.seek(off)
    b = f.read(1)
    if len(b) != 1:
        sys.exit("tl_flip_byte: offset past the end")
    f.seek(off)
    f.write(bytes([b[0] ^ 1]))
PYEOF
}

# tl_emulator_tcb_baseline DIR: a test authority (DIR/authority.key, .pub) and its signed TCB baseline
# for the SNP emulator's Milan TCB (DIR/milan-tcb.json). Policies that say nothing about "tcb" accept
# UpToDate only, which takes a baseline (docs/snp-tcb-baseline.md).
tl_emulator_tcb_baseline() {
  local cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$1/authority.key" 2>/dev/null &&
    openssl pkey -in "$1/authority.key" -pubout -out "$1/authority.pub" 2>/dev/null &&
    "$cli" tcb-baseline create --product milan --version 1 --not-before 2024-01-01T00:00:00Z \
      --not-after 2049-12-31T23:59:59Z --up-to-date bootloader=4,tee=0,snp=24,microcode=219 \
      --out "$1/milan-tcb-unsigned.json" >/dev/null &&
    "$cli" tcb-baseline sign --in "$1/milan-tcb-unsigned.json" --key "$1/authority.key" --issuer authority \
      --out "$1/milan-tcb.json" >/dev/null
}

# tl_log_schema COMPONENTS FILE...: every line of every FILE is one JSON object of the one log schema
# (docs/logging.md: ts, level, component, event, request_id) whose component is one of COMPONENTS
# (comma-separated). Prints each offending line; returns non-zero on any, or when no line was read.
tl_log_schema() {
  python3 - "$@" <<'PY'
import json, sys
allowed = set(sys.argv[1].split(","))
bad = lines = 0
for path in sys.argv[2:]:
    for line in open(path, encoding="utf-8", errors="replace"):
        lines += 1
        try:
            d = json.loads(line)
            assert isinstance(d, dict) and d["component"] in allowed
            assert all(k in d for k in ("ts", "level", "component", "event", "request_id"))
            assert d["level"] in ("debug", "info", "warn", "error")
        except Exception:
            bad += 1
            print("not the log schema (%s): %r" % (path, line[:200]))
print(lines, "log lines checked")
sys.exit(1 if bad or lines == 0 else 0)
PY
}
