#!/usr/bin/env bash
# Several ccgate-kbs instances on one database (issue 15, must-show 1). Three real daemons share one store
# (and its audit log) and one KEK; a guest (tests/support/kbs_flow.py, `ccgate emulate snp` evidence)
# sends each step of its flow to an instance of its choosing, as a plain round-robin load balancer with no
# sticky sessions would:
#   a  flows whose auth, attest and resource requests land on three different instances succeed (with
#      the session cookie, and with the attestation token signed on another instance);
#   b  one nonce raced on two instances (the same /attest body sent to both at once) is consumed once:
#      one 200 and one 401 kbs.nonce_reused per round;
#   c  under load from several clients that retry on connection errors, one instance is SIGKILLed: the
#      others keep serving, every client finishes its flows, the audit chain verifies, and every release a
#      client saw has its allow record (matched by X-Request-Id);
#   (and, when HAProxy is installed, flows through it: round robin, /readyz checks, no stickiness;)
#   d  (PostgreSQL) the database stops: every instance refuses with 503 store.unavailable (the answer and
#      /readyz), then, once it is back, serves again without a restart, and a session begun before the
#      outage continues on another instance.
# The same script runs on SQLite (three processes on one WAL file: the cross-instance logic without a
# server) and on a scratch PostgreSQL (tests/support/pg_scratch.sh). d needs a server to stop, so it runs
# on PostgreSQL only. No check is on time: waits are bounded by counts.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
. "$(dirname "$0")/../support/kbs_guest_world.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v python3 >/dev/null || skip_or_fail "python3 is missing (the guest is written in Python)"
command -v openssl >/dev/null || skip_or_fail "openssl is missing"
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
failed=0
checks=0
ok() { checks=$((checks + 1)); echo "ok   $*"; }
bad() { checks=$((checks + 1)); failed=$((failed + 1)); echo "FAIL $*"; }

meas=$(printf 'ab%.0s' $(seq 48))
kgw_world "$tmp" "$cli" "$meas" model-m || exit 1
key_id=multi/model/m

# The flow driver: one phase per call (spread, race, load, outage_refused, outage_back). It prints ok/FAIL
# lines and exits with the number of failures (0: all passed).
cat >"$tmp/driver.py" <<'PY'
import json, os, signal, sys, threading, time
sys.path.insert(0, os.environ["FLOW_LIB"])
from kbs_flow import Guest, Down, reasons_of, request, HAVE_CRYPTO

cli, tmp, meas, key_id = os.environ["CCG_CLI"], os.environ["TMP"], os.environ["MEAS"], os.environ["KEY_ID"]
bases = os.environ["BASES"].split()
model_key = open(os.path.join(tmp, "model.key"), "rb").read()
phase = sys.argv[1]
work = os.path.join(tmp, "work-" + phase)
failures = []
lock = threading.Lock()

def check(name, cond, detail=""):
    with lock:
        print(("ok   " if cond else "FAIL ") + name + ("" if cond else ": " + str(detail)[:400]), flush=True)
        if not cond:
            failures.append(name)

def guest(tag):
    return Guest(cli, os.path.join(tmp, "emu"), meas, os.path.join(tmp, "tee.key"), os.path.join(work, tag))

def released(g, body):
    """The JWE opens with the tee key to the imported key (or is well formed, without python3-cryptography)."""
    try:
        plain = g.open_jwe(body)
    except Exception as e:  # a malformed JWE or one that does not open
        return False, e
    return plain is None or plain == model_key, plain

def flow(g, ia, ib, ic, use_token=False):
    """auth on ia, attest on ib, resource on ic: (ok, detail, resource request id)."""
    cookie, nonce, rid = g.auth(bases[ia])
    if cookie is None:
        return False, "auth: %r" % (rid,), None
    st, body, rid = g.attest(bases[ib], cookie, g.attestation(nonce))
    if st != 200:
        return False, "attest on %d: %d %s" % (ib, st, body[:300]), None
    token = json.loads(body).get("token")
    st, body, rid = g.resource(bases[ic], key_id, cookie=None if use_token else cookie, token=token)
    if st != 200:
        return False, "resource on %d: %d %s" % (ic, st, body[:300]), rid
    good, what = released(g, body)
    return good, "the JWE: %r" % (what,), rid

def phase_spread():
    g = guest("spread")
    n = len(bases)
    for ia in range(n):
        for ib in range(n):
            for ic in range(n):
                if len({ia, ib, ic}) < n:
                    continue
                good, detail, _ = flow(g, ia, ib, ic)
                check("auth on %d, attest on %d, resource on %d (cookie)" % (ia, ib, ic), good, detail)
    good, detail, _ = flow(g, 2, 0, 1, use_token=True)
    check("the token of instance 0 releases on instance 1 (one signing key, in the store)", good, detail)
    if not HAVE_CRYPTO:
        print("note: python3-cryptography is missing: JWEs were checked for shape, not opened")

def phase_race():
    rounds = int(os.environ.get("RACE_ROUNDS", "6"))
    g = guest("race")
    for r in range(rounds):
        cookie, nonce, _ = g.auth(bases[0])
        att = g.attestation(nonce)
        go = threading.Barrier(2)
        out = [None, None]
        def send(i):
            go.wait()
            out[i] = g.attest(bases[1 + i], cookie, att)
        ts = [threading.Thread(target=send, args=(i,)) for i in range(2)]
        for t in ts: t.start()
        for t in ts: t.join()
        wins = [o for o in out if o[0] == 200]
        losses = [o for o in out if o[0] != 200]
        codes = [reasons_of(o[1]) for o in losses]
        check("round %d: the raced nonce is consumed once (one 200, one 401 kbs.nonce_reused)" % r,
              len(wins) == 1 and len(losses) == 1 and losses[0][0] == 401 and codes[0][:1] == ["kbs.nonce_reused"],
              [(o[0], o[1][:200]) for o in out])

def phase_load():
    clients, per_client = int(os.environ.get("LOAD_CLIENTS", "4")), int(os.environ.get("LOAD_FLOWS", "6"))
    victim, victim_pid = int(os.environ["VICTIM"]), int(os.environ["VICTIM_PID"])
    state = {"killed": False, "done": 0, "after": 0}
    served_after = [0] * len(bases)
    releases, errors, retries = [], [], [0] * clients
    def kill_once():
        with lock:
            if not state["killed"]:
                os.kill(victim_pid, signal.SIGKILL)
                state["killed"] = True
                print("note: instance %d (pid %d) SIGKILLed under load" % (victim, victim_pid), flush=True)
    def client(c):
        g = guest("c%d" % c)
        live = list(range(len(bases)))
        done = 0
        while done < per_client:
            if retries[c] > 20 or not live:
                errors.append("client %d gave up (retries %d, live %r)" % (c, retries[c], live))
                return
            k = len(live)
            steps = [live[(c + done + s) % k] for s in range(3)]
            try:
                after = state["killed"]
                cookie, nonce, rid = g.auth(bases[steps[0]])
                if cookie is None:
                    errors.append("client %d auth on %d: %r" % (c, steps[0], rid)); return
                st, body, rid = g.attest(bases[steps[1]], cookie, g.attestation(nonce))
                if st != 200:
                    errors.append("client %d attest on %d: %d %s" % (c, steps[1], st, body[:200])); return
                st, body, rid = g.resource(bases[steps[2]], key_id, cookie=cookie)
                if st != 200:
                    errors.append("client %d resource on %d: %d %s" % (c, steps[2], st, body[:200])); return
            except Down as e:
                # Retry the whole flow elsewhere: a step cut off on the dying instance may have consumed
                # the nonce, and a load balancer would take the refusing instance out of the rotation.
                retries[c] += 1
                bad_base = str(e).split()[0]
                if bad_base in bases and bases.index(bad_base) in live:
                    live.remove(bases.index(bad_base))
                continue
            good, what = released(g, body)
            if not good:
                errors.append("client %d: a release that does not open: %r" % (c, what)); return
            with lock:
                releases.append({"request_id": rid, "instance": steps[2], "client": c})
                state["done"] += 1
                if after:
                    state["after"] += 1
                    for s in steps:
                        served_after[s] += 1
            done += 1
            if done == 2:
                kill_once()  # the first client to finish two flows kills the victim: all others are mid-flow
    ts = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()
    check("no client met anything but a connection error", not errors, errors)
    check("every client finished its %d flows (%d releases)" % (per_client, len(releases)),
          len(releases) == clients * per_client, len(releases))
    check("the victim was killed under load", state["killed"])
    check("flows completed after the kill (%d)" % state["after"], state["after"] > 0)
    for i in range(len(bases)):
        if i != victim:
            check("instance %d kept serving after the kill (%d flow steps)" % (i, served_after[i]), served_after[i] > 0)
    check("clients retried after connection errors (%d retries)" % sum(retries), sum(retries) >= 1, retries)
    json.dump(releases, open(os.path.join(tmp, "releases.json"), "w"))

def retrying(fn, what, tries=30):
    """fn() -> (status, body); retried while the answer is 503 store.unavailable (stale pooled connections
    are found one request at a time once the database is back). Returns the last answer and the count."""
    n = 0
    while True:
        st, body = fn()
        if st != 503 or "store.unavailable" not in reasons_of(body) or n >= tries:
            return st, body, n
        n += 1
        time.sleep(0.1)

def phase_outage_refused():
    g = guest("outage")
    saved = json.load(open(os.path.join(tmp, "outage-session.json")))
    for i, base in enumerate(bases):
        st, body, h = request(base, "POST", "/kbs/v0/auth", {"version": "0.4.0", "tee": "snp", "extra-params": {}})
        check("database down: /auth on instance %d is 503 store.unavailable" % i,
              st == 503 and reasons_of(body)[:1] == ["store.unavailable"] and "set-cookie" not in h, (st, body))
        st, body, _ = request(base, "GET", "/readyz")
        check("database down: /readyz on instance %d is 503 store.unavailable" % i,
              st == 503 and json.loads(body).get("reason") == "store.unavailable", (st, body))
    st, body, _ = g.attest(bases[1], saved["cookie"], saved["attestation"])
    check("database down: /attest of an open session is 503 store.unavailable, never a token",
          st == 503 and reasons_of(body)[:1] == ["store.unavailable"] and "token" not in body, (st, body))
    for i, how in ((2, "cookie"), (0, "token")):
        st, body, _ = g.resource(bases[i], key_id, cookie=saved["attested_cookie"] if how == "cookie" else None,
                                 token=saved["token"])
        check("database down: /resource of an attested session (%s, instance %d) is 503 store.unavailable, no JWE"
              % (how, i), st == 503 and reasons_of(body)[:1] == ["store.unavailable"] and "ciphertext" not in body,
              (st, body))

def phase_outage_back():
    g = guest("outage")
    saved = json.load(open(os.path.join(tmp, "outage-session.json")))
    for i, base in enumerate(bases):
        st, body, n = retrying(lambda: request(base, "GET", "/readyz")[:2], "readyz")
        check("database back: /readyz on instance %d is ready again without a restart (%d probes refused)" % (i, n),
              st == 200, (st, body))
    # The session begun on instance 0 before the outage goes on, on instances 1 and 2.
    st, body, n = retrying(lambda: g.attest(bases[1], saved["cookie"], saved["attestation"])[:2], "attest")
    check("the session begun before the outage attests on another instance (%d refused first)" % n, st == 200,
          (st, body[:300]))
    st, body, n = retrying(lambda: g.resource(bases[2], key_id, cookie=saved["cookie"])[:2], "resource")
    check("and its key is released on a third (%d refused first)" % n, st == 200 and released(g, body)[0],
          (st, body[:300]))
    for i in range(len(bases)):
        good, detail, _ = flow(g, i, (i + 1) % 3, (i + 2) % 3)
        if not good and "store.unavailable" in detail:
            good, detail, _ = flow(g, i, (i + 1) % 3, (i + 2) % 3)  # one stale pooled connection per instance
        check("database back: a flow from instance %d serves" % i, good, detail)

def phase_lb():
    """Flows through one address (HAProxy, round robin, no stickiness): every flow succeeds, and the
    instance logs show that the steps of each flow were served by more than one instance."""
    g = guest("lb")
    for _ in range(100):  # the balancer's first health checks (bounded by a count, not a time)
        try:
            if request(bases[0], "GET", "/readyz")[0] == 200:
                break
        except Down:
            pass
        time.sleep(0.1)
    flows = []
    for n in range(int(os.environ.get("LB_FLOWS", "6"))):
        cookie, nonce, rid_a = g.auth(bases[0])
        if cookie is None:
            check("flow %d through the balancer: auth" % n, False, rid_a)
            continue
        st, body, rid_b = g.attest(bases[0], cookie, g.attestation(nonce))
        st2, body2, rid_c = g.resource(bases[0], key_id, cookie=cookie) if st == 200 else (st, body, None)
        good = st == 200 and st2 == 200 and released(g, body2)[0]
        check("flow %d through the balancer" % n, good, (st, st2, body2[:200]))
        flows.append((rid_a, rid_b, rid_c))
    json.dump(flows, open(os.path.join(tmp, "lb-flows.json"), "w"))

def phase_lb_spread():
    logs = {}
    for i, path in enumerate(os.environ["LOGS"].split()):
        for line in open(path, errors="replace"):
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("event") == "request":
                logs[d.get("request_id")] = i
    flows = json.load(open(os.path.join(tmp, "lb-flows.json")))
    spread = [len({logs.get(r) for r in f}) for f in flows]
    check("every step was served by one of the instances (%d flows)" % len(flows),
          flows and all(logs.get(r) is not None for f in flows for r in f), flows)
    check("no stickiness: flows went through more than one instance (instances per flow: %r)" % spread,
          flows and all(n >= 2 for n in spread), spread)

def phase_outage_begin():
    g = guest("outage")
    cookie, nonce, rid = g.auth(bases[0])
    check("before the outage: a session begins on instance 0", cookie is not None, rid)
    c2, n2, _ = g.auth(bases[1])
    st, body, _ = g.attest(bases[2], c2, g.attestation(n2))
    check("before the outage: another session is attested", st == 200, (st, body[:300]))
    if cookie is not None and st == 200:
        json.dump({"cookie": cookie, "attestation": g.attestation(nonce), "attested_cookie": c2,
                   "token": json.loads(body)["token"]}, open(os.path.join(tmp, "outage-session.json"), "w"))

{"spread": phase_spread, "race": phase_race, "load": phase_load, "lb": phase_lb, "lb_spread": phase_lb_spread, "outage_begin": phase_outage_begin,
 "outage_refused": phase_outage_refused, "outage_back": phase_outage_back}[phase]()
sys.exit(min(len(failures), 100))
PY

# driver PHASE [VAR=VALUE...]: runs one phase of the driver, adding its ok/FAIL lines to the counts.
driver() {
  local phase=$1
  shift
  kgw_driver "$tmp/driver.py" "$phase" "$@" CCG_CLI="$cli" TMP="$tmp" MEAS="$meas" KEY_ID="$key_id" \
    FLOW_LIB="$src/tests/support" BASES="${bases[*]}"
}

# instance I CONFIG: starts instance I of the current backend; sets pids[I] and bases[I].
instance() {
  local i=$1 cfg=$2 name="$backend-$1"
  rm -f "$tmp/$name.port"
  tl_spawn "$kbs" serve --config "$cfg" --insecure-http --port-file "$tmp/$name.port" 2>>"$tmp/$name.log"
  pids[$i]=$!
  for _ in $(seq 150); do [ -s "$tmp/$name.port" ] && break; sleep 0.1; done
  [ -s "$tmp/$name.port" ] || { bad "$name did not start"; cat "$tmp/$name.log"; return 1; }
  bases[$i]="http://127.0.0.1:$(cat "$tmp/$name.port")"
}

# run_backend NAME STORE_URL AUDIT: provisions the store once, starts three instances and runs a, b and c.
# AUDIT is the audit log's location, "" for the default (the store's database).
run_backend() {
  backend=$1
  local store=$2 audit=$3 cfg="$tmp/$1.json" i audit_member=
  [ -n "$audit" ] && audit_member="\"audit\":\"$audit\","
  # On PostgreSQL a pool smaller than the threads (the server's connection budget), as an operator would.
  [ "$backend" = postgresql ] && audit_member="$audit_member\"store_connections\":3,"
  [ -n "$audit" ] || audit=${store#sqlite:}
  cat >"$cfg" <<EOF
{"store":"$store",$audit_member"port":0,"threads":4,"nonce_ttl":300,"attestation_policy":"model-m","allow_unlocked_memory":true,
 "keystore":{"backend":"file","kek_file":"$tmp/kek"},
 "attempt_limits":{"per_session":3,"per_address":1000000,"window_seconds":60},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
  [ -f "$tmp/kek" ] || "$kbs" create-kek --config "$cfg" || { bad "$backend: create-kek"; return 1; }
  "$kbs" set-policy --config "$cfg" --file "$tmp/policy.json" || { bad "$backend: set-policy"; return 1; }
  "$kbs" import-key --config "$cfg" --key-id "$key_id" --policy-id model-m --file "$tmp/model.key" >/dev/null ||
    { bad "$backend: import-key"; return 1; }
  pids=() bases=()
  for i in 0 1 2; do instance "$i" "$cfg" || return 1; done
  ok "$backend: three instances on one store (${bases[*]})"

  echo "# $backend a: each step of a flow on another instance"
  driver spread
  echo "# $backend b: one nonce raced on two instances"
  driver race
  echo "# $backend c: SIGKILL one instance under load"
  driver load VICTIM=1 VICTIM_PID="${pids[1]}"
  wait "${pids[1]}" 2>/dev/null
  audit_checks "$audit"
  # The killed instance comes back on the same database, as a supervisor would restart it.
  instance 1 "$cfg" || return 1
  ok "$backend: the killed instance restarts on the same database"
  balanced
  return 0
}

# balanced: the same flows through HAProxy (docs/kbs.md's example, without TLS: the instances serve
# --insecure-http on loopback), when it is installed. An extra beyond the must-show: without HAProxy it is
# only noted.
balanced() {
  local hap i line
  hap=$(command -v haproxy || true)
  if [ -z "$hap" ]; then
    tl_skip_check "haproxy is not installed: the flows through a load balancer did not run" || bad "no haproxy"
    return 0
  fi
  echo "# $backend: flows through HAProxy (round robin, health check on /readyz, no stickiness)"
  local lbport
  lbport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  {
    printf 'defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 30s\n    timeout server 30s\n'
    printf 'frontend kbs\n    bind 127.0.0.1:%s\n    default_backend kbs_instances\n' "$lbport"
    printf 'backend kbs_instances\n    balance roundrobin\n    option httpchk GET /readyz\n'
    printf '    http-check expect status 200\n    default-server check inter 500ms fall 2 rise 1\n'
    for i in 0 1 2; do printf '    server kbs%s %s\n' "$i" "${bases[$i]#http://}"; done
  } >"$tmp/$backend-haproxy.cfg"
  "$hap" -c -q -f "$tmp/$backend-haproxy.cfg" || { bad "$backend: haproxy refuses the configuration"; return 0; }
  tl_spawn "$hap" -db -f "$tmp/$backend-haproxy.cfg" 2>"$tmp/$backend-haproxy.log"
  local hpid=$!
  local saved=("${bases[@]}")
  bases=("http://127.0.0.1:$lbport" "http://127.0.0.1:$lbport" "http://127.0.0.1:$lbport")
  driver lb
  bases=("${saved[@]}")
  driver lb_spread LOGS="$tmp/$backend-0.log $tmp/$backend-1.log $tmp/$backend-2.log"
  kill "$hpid" 2>/dev/null
  wait "$hpid" 2>/dev/null
  return 0
}

# audit_checks DB: the chain verifies, and every release a client saw has its allow record.
audit_checks() {
  local db=$1
  if "$cli" audit verify --db "$db" >"$tmp/verify.out" 2>&1; then ok "$backend: the audit chain verifies: $(head -c 200 "$tmp/verify.out")"
  else bad "$backend: audit verify: $(cat "$tmp/verify.out")"; fi
  if "$cli" audit list --db "$db" --limit 1000000 --json >"$tmp/audit.json" 2>"$tmp/audit.err"; then
    python3 - "$tmp/audit.json" "$tmp/releases.json" "$key_id" <<'PY' && ok "$backend: every release a client saw has its allow record" || bad "$backend: releases without their record"
import json, sys
records = json.load(open(sys.argv[1]))
records = records.get("records", records) if isinstance(records, dict) else records
seen = json.load(open(sys.argv[2]))
allow = {r.get("request_id") for r in records
         if r.get("action") == "resource.release" and r.get("decision") == "allow" and r.get("key_id") == sys.argv[3]}
missing = [s["request_id"] for s in seen if s["request_id"] not in allow]
print("%d releases seen, %d allow records for the key, %d records in all" % (len(seen), len(allow), len(records)))
if not seen or missing:
    print("missing:", missing[:10])
    sys.exit(1)
PY
  else bad "$backend: audit list: $(cat "$tmp/audit.err")"; fi
}

# ------------------------------------------------------------------ SQLite: three processes, one WAL file
run_backend sqlite "sqlite:$tmp/kbs.db" ""
tl_kill_children

# ------------------------------------------------------------------ PostgreSQL
# outage URL AUDIT: part d, on the instances run_backend left running.
outage() {
  local url=$1 audit=$2 i
  echo "# postgresql d: the database stops, then comes back"
  driver outage_begin
  bash "$src/tests/support/pg_scratch.sh" stop "$pgdir"
  driver outage_refused
  bash "$src/tests/support/pg_scratch.sh" restart "$pgdir" || bad "pg_scratch restart"
  driver outage_back
  for i in 0 1 2; do
    if kill -0 "${pids[$i]}" 2>/dev/null; then ok "postgresql: instance $i was never restarted (pid ${pids[$i]})"
    else bad "postgresql: instance $i is gone"; fi
  done
  if "$cli" audit verify --db "$audit" >"$tmp/verify.out" 2>&1; then ok "postgresql: the audit chain verifies after the outage"
  else bad "postgresql: audit verify after the outage: $(cat "$tmp/verify.out")"; fi
}

pgdir="$tmp/pg"
url=$(bash "$src/tests/support/pg_scratch.sh" start "$pgdir" $$ 2>"$tmp/pg_start.err")
pg_rc=$?
if [ "$pg_rc" -eq 77 ]; then
  tl_skip_check "PostgreSQL's server binaries are not installed: the PostgreSQL half did not run" || failed=$((failed + 1))
elif [ "$pg_rc" -ne 0 ]; then
  bad "pg_scratch start: $(cat "$tmp/pg_start.err")"
else
  # Does this build's store take the URL (the PostgreSQL backend built in)? The probe keeps its audit apart.
  cat >"$tmp/probe.json" <<EOF
{"store":"$url","audit":"$tmp/probe-audit.db","port":0,"keystore":{"backend":"file","kek_file":"$tmp/kek"}}
EOF
  if ! "$kbs" set-policy --config "$tmp/probe.json" --file "$tmp/policy.json" 2>"$tmp/probe.err"; then
    if grep -q 'not built into this release' "$tmp/probe.err"; then
      tl_skip_check "this build's store refuses PostgreSQL URLs: the PostgreSQL half did not run" || failed=$((failed + 1))
    else
      bad "postgresql: the store refuses $url: $(head -c 300 "$tmp/probe.err")"
    fi
  else
    # The audit log in the same database (one chain for every instance), when this build's audit library
    # takes the URL; otherwise, a SQLite file beside, said loudly (and a failure under CI=true).
    pg_audit=
    cat >"$tmp/probe2.json" <<EOF
{"store":"$url","port":0,"keystore":{"backend":"file","kek_file":"$tmp/kek"}}
EOF
    if ! "$kbs" set-policy --config "$tmp/probe2.json" --file "$tmp/policy.json" >"$tmp/probe-audit.out" 2>&1; then
      pg_audit="$tmp/pg-audit.db"
      tl_skip_check "this build's audit log refuses PostgreSQL URLs ($(head -c 160 "$tmp/probe-audit.out")): the audit log of the PostgreSQL run is the SQLite file $pg_audit" ||
        failed=$((failed + 1))
    fi
    if run_backend postgresql "$url" "$pg_audit"; then
      outage "$url" "${pg_audit:-$url}"
    else
      bad "postgresql: the three instances did not come up, so d (the outage) did not run"
    fi
  fi
fi

echo "$checks checks, $failed failed"
[ "$failed" -eq 0 ]
