#!/usr/bin/env bash
# Outages of the embedded SQLite store under a running ccgate-kbs (docs/store.md, "Outages of the SQLite
# store"). One real daemon on a SQLite file (the audit log in the same file, the default); a guest
# (tests/support/kbs_flow.py, `ccgate emulate snp` evidence) runs flows while the test breaks the store
# from outside, the way it breaks in production:
#   a  another process holds the database's write lock past the busy timeout (an operator's `sqlite3`
#      shell left in a transaction): /readyz (asked first, so it must see it by itself) is 503
#      store.unavailable and says the database is locked; /auth and /attest are 503 store.unavailable,
#      /resource 503 audit.write_failed (never a token, never a JWE); once the lock is released the same
#      daemon serves again, the session begun before the outage included;
#   b  the database's directory is renamed away (with its -wal and -shm): /resource first (only the
#      release's own commit can see it), then every step is 503 and /readyz names the moved file; renamed
#      back, the same daemon serves again;
#   c  writes fail as on a full disk (the daemon's file-size limit lowered with prlimit(1), SIGXFSZ
#      ignored, so every write(2) past the limit fails): the same answers, /readyz fails once a write has
#      failed and is ready again when writes succeed;
#   e  the -wal file is deleted: the same, and /readyz asks for a restart; after it, nothing committed
#      before the deletion is lost (the last connection checkpoints the deleted WAL it still has open);
#   d  the database file is deleted: the same, /readyz says it was removed, and no fresh empty database
#      appears in its place while the daemon runs.
# After each outage every release a client saw has its allow record in the audit log, and the chain
# verifies. No check is on time: waits are bounded by counts; the daemon's busy timeout (5 s) makes the
# locked parts slow, not flaky.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
. "$(dirname "$0")/../support/kbs_guest_world.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v python3 >/dev/null || skip_or_fail "python3 is missing (the guest is written in Python)"
command -v openssl >/dev/null || skip_or_fail "openssl is missing"
python3 -c 'import sqlite3' 2>/dev/null || skip_or_fail "python3's sqlite3 module is missing"
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
failed=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failed=$((failed + 1)); echo "FAIL $*"; }

meas=$(printf 'cd%.0s' $(seq 48))
kgw_world "$tmp" "$cli" "$meas" model-o || exit 1
key_id=outage/model/o
mkdir -p "$tmp/state"
db="$tmp/state/kbs.db"
cfg="$tmp/kbs.json"
cat >"$cfg" <<EOF
{"store":"sqlite:$db","port":0,"threads":4,"nonce_ttl":300,"attestation_policy":"model-o","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "attempt_limits":{"per_session":3,"per_address":1000000,"window_seconds":60},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
"$kbs" create-kek --config "$cfg" || { echo "FAIL create-kek"; exit 1; }
"$kbs" set-policy --config "$cfg" --file "$tmp/policy.json" || { echo "FAIL set-policy"; exit 1; }
"$kbs" import-key --config "$cfg" --key-id "$key_id" --policy-id model-o --file "$tmp/model.key" >/dev/null ||
  { echo "FAIL import-key"; exit 1; }

# start_daemon: starts ccgate-kbs on the store; sets pid and base. It ignores SIGXFSZ (inherited), so a
# lowered file-size limit fails write(2) with EFBIG instead of killing it: what a full disk's ENOSPC looks
# like to SQLite (an I/O error on write). Its log goes through a pipe, which no file-size limit reaches.
start_daemon() {
  trap '' XFSZ
  rm -f "$tmp/port"
  tl_spawn "$kbs" serve --config "$cfg" --insecure-http --port-file "$tmp/port" 2> >(cat >>"$tmp/kbs.log")
  pid=$!
  trap - XFSZ
  for _ in $(seq 150); do [ -s "$tmp/port" ] && break; sleep 0.1; done
  [ -s "$tmp/port" ] || { cat "$tmp/kbs.log"; echo "FAIL the daemon did not start"; exit 1; }
  base="http://127.0.0.1:$(cat "$tmp/port")"
  ok "the daemon serves on $base (pid $pid, store $db)"
}
start_daemon

cat >"$tmp/driver.py" <<'PY'
import json, os, sqlite3, subprocess, sys, time
sys.path.insert(0, os.environ["FLOW_LIB"])
from kbs_flow import Guest, reasons_of, request, HAVE_CRYPTO

cli, tmp, meas, key_id = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["MEAS"], os.environ["KEY_ID"]
base, db, pid = os.environ["BASE"], os.environ["DB"], int(os.environ["PID"])
model_key = open(os.path.join(tmp, "model.key"), "rb").read()
failures = []
releases = []  # request IDs of every release a client saw

def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + str(detail)[:500]), flush=True)
    if not cond:
        failures.append(name)

g = Guest(cli, os.path.join(tmp, "emu"), meas, os.path.join(tmp, "tee.key"), os.path.join(tmp, "work"))

def released(body):
    try:
        plain = g.open_jwe(body)
    except Exception as e:
        return False
    return plain is None or plain == model_key

def flow():
    """A whole flow: (ok, detail)."""
    cookie, nonce, rid = g.auth(base)
    if cookie is None:
        return False, "auth: %r" % (rid,)
    st, body, _ = g.attest(base, cookie, g.attestation(nonce))
    if st != 200:
        return False, "attest: %d %s" % (st, body[:300])
    st, body, rid = g.resource(base, key_id, cookie=cookie)
    if st != 200 or not released(body):
        return False, "resource: %d %s" % (st, body[:300])
    releases.append(rid)
    return True, ""

def begin():
    """Before an outage: a challenged session (its attestation ready) and an attested one."""
    cookie, nonce, rid = g.auth(base)
    c2, n2, _ = g.auth(base)
    st, body, _ = g.attest(base, c2, g.attestation(n2))
    check("before the outage: sessions begin and attest", cookie is not None and st == 200, (rid, st, body[:200]))
    return {"cookie": cookie, "attestation": g.attestation(nonce), "attested": c2}

def readyz():
    st, body, _ = request(base, "GET", "/readyz")
    try:
        return st, json.loads(body)
    except ValueError:
        return st, {"raw": body}

def refused(tag, saved, detail_words, resource_code, ready_first=True):
    """Every step of a flow is 503: /auth and /attest with store.unavailable first, /resource with
    resource_code first; /readyz is 503 store.unavailable and its detail holds one of detail_words.
    ready_first: /readyz is asked first, so it must see the outage by itself. Otherwise /resource is
    asked first, so the release's own commit must see it (nothing else has looked yet), and /readyz last."""
    def ready_check():
        st, doc = readyz()
        check("%s: /readyz is 503 store.unavailable and says why" % tag,
              st == 503 and doc.get("reason") == "store.unavailable" and
              any(w in doc.get("detail", "") for w in detail_words), (st, doc))
    def resource_check():
        st, body, rid = g.resource(base, key_id, cookie=saved["attested"])
        check("%s: /resource of an attested session is 503 %s, no JWE" % (tag, resource_code),
              st == 503 and reasons_of(body)[:1] == [resource_code] and "ciphertext" not in body, (st, body))
    ready_check() if ready_first else resource_check()
    st, body, h = request(base, "POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
    check("%s: /auth is 503 store.unavailable, no cookie" % tag,
          st == 503 and reasons_of(body)[:1] == ["store.unavailable"] and "set-cookie" not in h, (st, body))
    st, body, _ = g.attest(base, saved["cookie"], saved["attestation"])
    check("%s: /attest is 503 store.unavailable, never a token" % tag,
          st == 503 and reasons_of(body)[:1] == ["store.unavailable"] and "token" not in body, (st, body))
    resource_check() if ready_first else ready_check()

def back(tag, saved, tries=30):
    """The same daemon serves again: /readyz, the session begun before the outage, and a new flow."""
    for n in range(tries):
        st, doc = readyz()
        if st == 200:
            break
        time.sleep(0.2)
    check("%s: /readyz is ready again without a restart (%d probes refused)" % (tag, n), st == 200, (st, doc))
    st, body, _ = g.attest(base, saved["cookie"], saved["attestation"])
    check("%s: the session begun before the outage attests" % tag, st == 200, (st, body[:300]))
    st, body, rid = g.resource(base, key_id, cookie=saved["cookie"])
    good = st == 200 and released(body)
    if good:
        releases.append(rid)
    check("%s: and its key is released" % tag, good, (st, body[:300]))
    good, detail = flow()
    check("%s: a new flow serves" % tag, good, detail)

def alive(tag):
    try:
        os.kill(pid, 0)
        check("%s: the daemon was never restarted (pid %d)" % (tag, pid), True)
    except OSError:
        check("%s: the daemon was never restarted (pid %d)" % (tag, pid), False, "it is gone")

def phase_warm():
    for i in range(2):
        good, detail = flow()
        check("a flow before any outage (%d)" % i, good, detail)

def phase_locked():
    saved = begin()
    holder = sqlite3.connect(db, timeout=0, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # an operator's shell left in a write transaction
    try:
        # The session reads work (WAL readers do not wait); the audit record of the release cannot be written.
        refused("a: write lock held", saved, ["locked"], "audit.write_failed")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    back("a: lock released", saved)
    alive("a")

def phase_moved():
    saved = begin()
    state = os.path.dirname(db)
    os.rename(state, state + ".away")
    try:
        refused("b: directory renamed away", saved, ["removed or renamed"], "audit.write_failed", ready_first=False)
        check("b: nothing was created at the old path", not os.path.exists(db), os.listdir(tmp))
    finally:
        os.rename(state + ".away", state)
    back("b: directory renamed back", saved)
    alive("b")

def set_fsize(limit):
    import resource
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (limit, resource.RLIM_INFINITY))

def phase_full():
    import resource
    saved = begin()
    set_fsize(1)
    try:
        # Nothing shows a full disk before a write meets it: /readyz fails from the first failed write on.
        refused("c: writes fail (file-size limit)", saved, ["I/O error", "disk is full"], "audit.write_failed",
                ready_first=False)
    finally:
        set_fsize(resource.RLIM_INFINITY)
    back("c: writes succeed again", saved)
    alive("c")

def phase_wal_removed():
    saved = begin()
    os.unlink(db + "-wal")
    refused("e: WAL file deleted", saved, ["-wal was removed or renamed"], "audit.write_failed", ready_first=False)
    st, doc = readyz()
    check("e: /readyz still refuses (a restart is needed)", st == 503 and "restart" in doc.get("detail", ""), (st, doc))
    check("e: no fresh WAL appeared while the daemon runs", not os.path.exists(db + "-wal"))
    alive("e")

def phase_deleted():
    saved = begin()
    os.unlink(db)
    refused("d: database file deleted", saved, ["removed or renamed"], "audit.write_failed")
    st, doc = readyz()
    check("d: /readyz still refuses (the operator must restore the file)", st == 503, (st, doc))
    check("d: no fresh empty database appeared at the path", not os.path.exists(db), os.listdir(os.path.dirname(db)))
    alive("d")

phase = sys.argv[1]
if os.path.exists(os.path.join(tmp, "releases.json")):
    releases = json.load(open(os.path.join(tmp, "releases.json")))
{"warm": phase_warm, "locked": phase_locked, "moved": phase_moved, "wal_removed": phase_wal_removed,
 "full": phase_full, "deleted": phase_deleted}[phase]()
json.dump(releases, open(os.path.join(tmp, "releases.json"), "w"))
sys.exit(min(len(failures), 100))
PY

# driver PHASE [VAR=VALUE...]: runs one phase of the driver, adding its ok/FAIL lines to the counts.
driver() {
  local phase=$1
  shift
  kgw_driver "$tmp/driver.py" "$phase" "$@" CCG_CLI="$cli" TMP="$tmp" MEAS="$meas" KEY_ID="$key_id" \
    FLOW_LIB="$src/tests/support" BASE="$base" DB="$db" PID="$pid"
}

# audit_checks WHEN: the chain verifies, and every release a client saw has its allow record.
audit_checks() {
  if "$cli" audit verify --db "$db" >"$tmp/verify.out" 2>&1; then ok "$1: the audit chain verifies"
  else bad "$1: audit verify: $(cat "$tmp/verify.out")"; fi
  if "$cli" audit list --db "$db" --limit 1000000 --json >"$tmp/audit.json" 2>"$tmp/audit.err"; then
    if python3 - "$tmp/audit.json" "$tmp/releases.json" "$key_id" <<'PY'; then ok "$1: every release a client saw has its allow record"; else bad "$1: releases without their record"; fi
import json, sys
records = json.load(open(sys.argv[1]))
records = records.get("records", records) if isinstance(records, dict) else records
seen = json.load(open(sys.argv[2]))
allow = {r.get("request_id") for r in records
         if r.get("action") == "resource.release" and r.get("decision") == "allow" and r.get("key_id") == sys.argv[3]}
missing = [s for s in seen if s not in allow]
print("%d releases seen, %d allow records" % (len(seen), len(allow)))
sys.exit(1 if not seen or missing else 0)
PY
  else bad "$1: audit list: $(cat "$tmp/audit.err")"; fi
}

echo "# warm-up"
driver warm
echo "# a: another process holds the write lock"
driver locked
echo "# b: the database's directory is renamed away and back"
driver moved
if command -v prlimit >/dev/null || python3 -c 'import resource; resource.prlimit' 2>/dev/null; then
  echo "# c: writes fail as on a full disk"
  driver full
else
  tl_skip_check "no prlimit: the write-failure part did not run" || bad "no prlimit"
fi
audit_checks "after a, b and c"
echo "# e: the WAL file is deleted; the operator restarts the daemon"
driver wal_removed
kill -TERM "$pid"
wait "$pid" 2>/dev/null
# Its last connection checkpointed the deleted WAL (still open) into the database as it closed: nothing
# committed before the deletion is lost, the audit chain included.
start_daemon
audit_checks "after e and a restart"
driver warm
echo "# d: the database file is deleted"
driver deleted

# The daemon stopped in e ran every outage above; a sanitizer build reports its errors and leaks in its log.
if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error:' "$tmp/kbs.log"; then
  bad "the daemon's log holds a sanitizer report: $(grep -m1 -A5 'Sanitizer\|runtime error:' "$tmp/kbs.log")"
else ok "no sanitizer report in the daemon's log"; fi

echo "$checks checks, $failed failed"
[ "$failed" -eq 0 ]
