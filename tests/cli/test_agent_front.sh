#!/usr/bin/env bash
# The agent's privilege separation (issue 14; docs/agent.md, "Privilege separation"): ccgate-agent keeps the
# key, the model and the attester; ccgate-endpoint, a separate process, serves /status and the HTTPS
# endpoint and can only ask for evidence over the control channel.
#
#   ccgate-endpoint alone (driven by python as the agent would): ready, the snapshot served, EOF -> exit 0;
#   a first message that is not the configuration, an unknown op, a bad configuration -> exit 1;
#   the front is a separate process (ccgate-endpoint, the agent's child) that serves /status from step 2;
#   the agent killed -> the front exits (control channel EOF) and /status stops answering;
#   the front killed while the agent lingers -> the agent logs endpoint.exited and exits at once;
#   fake fronts ("endpoint_program"): a malformed line, an over-long line, an out-of-turn message, a
#   front that exits -> agent.control_invalid / agent.endpoint_failed, exit 18; a front's evidence request
#   outside serving is refused (no report); a front that floods requests and reads nothing cannot hold
#   the agent; a relative endpoint_program is agent.config_invalid;
#   serving (real broker, software TD): the front killed -> the agent stops the runner, exit 18
#   agent.endpoint_failed; the agent killed -> the front exits;
#   ccgate-endpoint and ccgate-agent follow the command-line convention (--help, --version, --x=y, exit 2).
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
. "$(dirname "$0")/../support/tdx_broker.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
kbs=${CCG_KBS:-$bin/ccgate-kbs}
agent=${CCG_AGENT:-$bin/ccgate-agent}
front=$(dirname "$agent")/ccgate-endpoint
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
py=${CCG_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

[ -x "$agent" ] || skip_or_fail "$agent is missing"
[ -x "$front" ] || { echo "FAIL $front is missing"; exit 1; }
command -v curl >/dev/null || skip_or_fail "curl is missing"
[ -x "$py" ] || skip_or_fail "$py is missing"
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
jget() { "$py" -c 'import json,sys; o=json.loads(sys.argv[1])
for k in sys.argv[2].split("."): o=o.get(k) if isinstance(o,dict) else None
print("" if o is None else o)' "$1" "$2" 2>/dev/null; }
# gone PID: waits up to 10 s for PID to disappear
gone() { for _ in $(seq 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done; return 1; }
# the failure line's reason in an agent log
failed_reason() { grep '"event":"failed"' "$1" | tail -1 | "$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["reason"])' 2>/dev/null; }

failed_status() { grep '"event":"failed"' "$1" | head -1 | "$py" -c 'import json,sys; print(json.loads(sys.stdin.read())["exit_status"])' 2>/dev/null; }

# ---------------------------------------------------------------- the command-line convention
"$front" --help | grep -q '^Usage: ccgate-endpoint' && ok "ccgate-endpoint --help" || bad "ccgate-endpoint --help"
"$front" --version | grep -q ccgate-endpoint && ok "ccgate-endpoint --version" || bad "ccgate-endpoint --version"
"$front" --bogus=1 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "ccgate-endpoint: unknown option '--bogus=1'" "$tmp/e" && ok "ccgate-endpoint: unknown option, exit 2" ||
  bad "ccgate-endpoint --bogus: exit $rc $(cat "$tmp/e")"
env -u CCGATE_CONTROL_FD "$front" 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q 'no control channel' "$tmp/e" && ok "ccgate-endpoint by hand (no control channel): exit 2" ||
  bad "ccgate-endpoint without a channel: exit $rc $(cat "$tmp/e")"
CCGATE_CONTROL_FD=0 "$front" </dev/null 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && ok "ccgate-endpoint refuses a control descriptor below 3 or not a socket" || bad "fd 0: exit $rc"
"$agent" --help | grep -q '^Usage: ccgate-agent' && ok "ccgate-agent --help" || bad "ccgate-agent --help"
"$agent" --version | grep -q ccgate-agent && ok "ccgate-agent --version" || bad "ccgate-agent --version"
"$agent" --x=y 2>"$tmp/e"; rc=$?
[ $rc -eq 2 ] && grep -q "ccgate-agent: unknown option '--x=y'" "$tmp/e" && grep -q "Try 'ccgate-agent --help'" "$tmp/e" &&
  ok "ccgate-agent --x=y: exit 2 with the full name" || bad "ccgate-agent --x=y: exit $rc $(cat "$tmp/e")"

# ---------------------------------------------------------------- ccgate-endpoint alone, driven as the agent would
# (python holds the agent's end of the socketpair): config -> ready, a status snapshot served as sent,
# EOF -> exit 0; a first message that is not the configuration, an unknown op -> exit 1 (control.refused)
cat >"$tmp/drive.py" <<'PY'
import json, os, socket, subprocess, sys, time
front, tmp, case = sys.argv[1], sys.argv[2], sys.argv[3]
sock = tmp + "/drive-" + case + ".sock"
cfg = {"attester": {"kind": "configfs-tsm"}, "broker": {"url": "http://127.0.0.1:9", "insecure_http": True},
       "key": {"resource": "a/b/c"}, "artifact": {"location": "/x", "provider_key": "/y"},
       "server": {"argv": ["/bin/true"]}, "status": {"listen": "unix:" + sock}}
a, b = socket.socketpair()
env = dict(os.environ, CCGATE_CONTROL_FD=str(b.fileno()))
err = open(tmp + "/drive-" + case + ".err", "w")
p = subprocess.Popen([front], pass_fds=[b.fileno()], env=env, stderr=err)
b.close()
f = a.makefile("rwb")
def send(o):
    f.write(json.dumps(o).encode() + b"\n"); f.flush()
def status():
    c = socket.socket(socket.AF_UNIX); c.connect(sock)
    c.sendall(b"GET /status HTTP/1.0\r\n\r\n"); data = b""
    while True:
        d = c.recv(65536)
        if not d: break
        data += d
    return json.loads(data.split(b"\r\n\r\n", 1)[1])
if case == "ok":
    send({"op": "config", "text": json.dumps(cfg)})
    ready = json.loads(f.readline())
    assert ready["op"] == "ready", ready
    send({"op": "status", "status": {"state": "attesting", "key_id": "a/b/c"}})
    for _ in range(100):  # the snapshot is taken by the front's main thread: wait for it, up to 10 s
        st = status()
        if st == {"state": "attesting", "key_id": "a/b/c"}:
            break
        time.sleep(0.1)
    assert st == {"state": "attesting", "key_id": "a/b/c"}, st
    a.close(); f.close()
elif case == "first":
    send({"op": "status", "status": {}})
elif case == "unknown":
    send({"op": "config", "text": json.dumps(cfg)})
    json.loads(f.readline())
    send({"op": "give_me_the_key"})
elif case == "badconfig":
    send({"op": "config", "text": "{\"attester\":1}"})
rc = p.wait(timeout=20)
print(rc)
PY
drive() { timeout 60 "$py" "$tmp/drive.py" "$front" "$tmp" "$1" 2>"$tmp/drive-$1.py.err"; }
[ "$(drive ok)" = 0 ] && ! [ -e "$tmp/drive-ok.sock" ] &&
  ok "ccgate-endpoint alone: config -> ready, /status serves the agent's snapshot as sent, EOF -> exit 0 (socket removed)" ||
  bad "drive ok: $(tail -2 "$tmp/drive-ok.py.err") $(tail -2 "$tmp/drive-ok.err")"
[ "$(drive first)" = 1 ] && grep -q '"event":"start_failed"' "$tmp/drive-first.err" && grep -q agent.control_invalid "$tmp/drive-first.err" &&
  ok "ccgate-endpoint: a first message that is not the configuration is refused (exit 1, agent.control_invalid)" ||
  bad "drive first: $(tail -2 "$tmp/drive-first.err")"
[ "$(drive unknown)" = 1 ] && grep -q '"event":"control.refused"' "$tmp/drive-unknown.err" &&
  ok "ccgate-endpoint: an unknown op from the agent is refused (exit 1, control.refused)" ||
  bad "drive unknown: $(tail -2 "$tmp/drive-unknown.err")"
[ "$(drive badconfig)" = 1 ] && grep agent.config_invalid "$tmp/drive-badconfig.err" | grep -q "\"level\":\"error\"" &&
  ok "ccgate-endpoint: a configuration the strict parser refuses ends it (agent.config_invalid, level error)" ||
  bad "drive badconfig: $(tail -2 "$tmp/drive-badconfig.err")"

# ---------------------------------------------------------------- no broker: the agent fails and lingers
n=0
# lingering_config [EXTRA JSON MEMBERS]: an agent whose artifact is missing (it fails before attesting,
# io.read_failed) and then keeps /status answering for 60 s
lingering_config() {
  n=$((n + 1))
  cat >"$tmp/l-$n.json" <<JSON
{"attester":{"kind":"configfs-tsm","tsm_root":"/nonexistent"},
 "broker":{"url":"http://127.0.0.1:9","insecure_http":true},
 "key":{"resource":"a/b/c"},
 "artifact":{"location":"$tmp/missing.ccgm","provider_key":"$tmp/missing.pub"},
 "server":{"argv":["/bin/true"]},
 "status":{"listen":"127.0.0.1:0","port_file":"$tmp/l-$n.port","linger":60}${1:+,$1}}
JSON
}
start_lingering() {
  "$agent" --config="$tmp/l-$n.json" >/dev/null 2>"$tmp/l-$n.err" &
  apid=$!
  for _ in $(seq 100); do grep -q '"event":"failed"' "$tmp/l-$n.err" && break; sleep 0.1; done
}

lingering_config
start_lingering
sp=$(curl -s --max-time 5 "http://127.0.0.1:$(cat "$tmp/l-$n.port" 2>/dev/null)/status")
fpid=$(jget "$sp" endpoint_pid)
if [ "$(jget "$sp" state)" = failed ] && [ -n "$fpid" ] && [ "$fpid" != "$apid" ] &&
  [ "$(cat /proc/"$fpid"/comm)" = ccgate-endpoint ] &&
  [ "$(awk '{print $4}' /proc/"$fpid"/stat)" = "$apid" ]; then
  ok "/status (failed, $(jget "$sp" reason)) is served by ccgate-endpoint (pid $fpid), the agent's child"
else
  bad "status: $sp (agent $apid, front $fpid)"
fi
grep -q '"component":"endpoint"' "$tmp/l-$n.err" && grep -q '"component":"agent"' "$tmp/l-$n.err" &&
  ok "both processes log in the one schema (component agent / endpoint)" || bad "log components: $(head -3 "$tmp/l-$n.err")"
kill -KILL "$apid"; wait "$apid" 2>/dev/null
if [ -n "$fpid" ] && gone "$fpid"; then ok "the agent killed: the front exits"; else bad "the front outlived the agent"; fi
curl -s --max-time 3 "http://127.0.0.1:$(cat "$tmp/l-$n.port")/status" >/dev/null &&
  bad "/status still answers after the agent died" || ok "/status is gone with the agent"

lingering_config
start_lingering
fpid=$(jget "$(curl -s --max-time 5 "http://127.0.0.1:$(cat "$tmp/l-$n.port" 2>/dev/null)/status")" endpoint_pid)
[ -n "$fpid" ] && kill -KILL "$fpid"
if gone "$apid"; then
  wait "$apid"; rc=$?
  [ $rc -eq "$(failed_status "$tmp/l-$n.err")" ] && grep '"event":"endpoint.exited"' "$tmp/l-$n.err" | grep -q agent.endpoint_failed &&
    ok "the front killed while the agent lingers: the agent logs endpoint.exited and exits ($rc, its failure's status)" ||
    bad "front killed: exit $rc $(tail -2 "$tmp/l-$n.err")"
else
  bad "the agent kept lingering without its front"
  kill -KILL "$apid"
fi

# ---------------------------------------------------------------- fake fronts: what the agent refuses
# fake_front NAME BODY: a script the agent starts as its front (fd 3 is the control socket)
fake_front() {
  printf '#!/bin/bash\n%s\n' "$2" >"$tmp/$1.sh"
  chmod +x "$tmp/$1.sh"
}
# run_fake NAME: the agent with that front; sets rc and the log path
run_fake() {
  lingering_config "\"endpoint_program\":\"$tmp/$1.sh\""
  timeout 30 "$agent" --config "$tmp/l-$n.json" >/dev/null 2>"$tmp/l-$n.err"
  rc=$?
  log=$tmp/l-$n.err
}
fake_front garbage 'read -r -t 10 _ <&3; printf "this is not json\n" >&3; sleep 5'
run_fake garbage
[ $rc -eq 18 ] && [ "$(failed_reason "$log")" = agent.control_invalid ] &&
  ok "a malformed control line is refused: agent.control_invalid, exit 18" || bad "garbage: exit $rc $(tail -1 "$log")"
fake_front long 'read -r -t 10 _ <&3; head -c 5000 /dev/zero | tr "\0" "a" >&3; sleep 5'
run_fake long
[ $rc -eq 18 ] && [ "$(failed_reason "$log")" = agent.control_invalid ] &&
  ok "an over-long control line (no newline within 1 KiB) is refused" || bad "long: exit $rc $(tail -1 "$log")"
fake_front turn 'read -r -t 10 _ <&3; printf "{\"op\":\"serving\",\"port\":443}\n" >&3; sleep 5'
run_fake turn
[ $rc -eq 18 ] && [ "$(failed_reason "$log")" = agent.control_invalid ] &&
  ok "an out-of-turn message (\"serving\" before \"ready\") is refused" || bad "turn: exit $rc $(tail -1 "$log")"
fake_front dies 'exit 0'
run_fake dies
[ $rc -eq 18 ] && [ "$(failed_reason "$log")" = agent.endpoint_failed ] &&
  ok "a front that exits at start: agent.endpoint_failed, exit 18" || bad "dies: exit $rc $(tail -1 "$log")"
fake_front listen 'read -r -t 10 _ <&3; printf "{\"op\":\"failed\",\"reason\":\"agent.server_failed\",\"message\":\"bind: in use\"}\n" >&3; sleep 5'
run_fake listen
[ $rc -eq 18 ] && [ "$(failed_reason "$log")" = agent.server_failed ] &&
  ok "a front that cannot open its listener reports its reason (agent.server_failed, exit 18)" ||
  bad "listen: exit $rc $(tail -1 "$log")"
# a front that asks for evidence while nothing is served: refused, and no report goes out
rd=$(printf '00%.0s' $(seq 64))
fake_front evid "read -r -t 10 _ <&3
printf '{\"op\":\"ready\",\"status_port\":0}\n' >&3
printf '{\"op\":\"evidence\",\"id\":7,\"report_data\":\"$rd\"}\n' >&3
while read -r -t 20 line <&3; do case \$line in *'\"op\":\"evidence\"'*) printf '%s\n' \"\$line\" >'$tmp/evid.reply'; break;; esac; done
printf '{\"op\":\"evidence\",\"id\":8,\"report_data\":\"zz\"}\n' >&3
sleep 5"
run_fake evid
reply=$(cat "$tmp/evid.reply" 2>/dev/null)
[ "$(jget "$reply" reason)" = endpoint.evidence_unavailable ] && [ -z "$(jget "$reply" report)" ] &&
  ok "evidence asked outside serving is refused (no report): $reply" || bad "evidence reply: $reply"
[ $rc -eq "$(failed_status "$log")" ] && grep '"event":"endpoint.exited"' "$log" | grep -q agent.control_invalid &&
  ok "a malformed evidence request ends the channel (endpoint.exited, agent.control_invalid)" ||
  bad "malformed evidence request: exit $rc $(tail -2 "$log")"
# a front that floods the agent with requests and reads nothing: the agent's answer blocks at most 5 s, then
# it closes the channel and ends (the stop signal is seen between batches of 16 messages)
fake_front flood "read -r -t 10 _ <&3
printf '{\"op\":\"ready\",\"status_port\":0}\n' >&3
yes '{\"op\":\"evidence\",\"id\":1,\"report_data\":\"$rd\"}' >&3 2>/dev/null
sleep 30"
lingering_config "\"endpoint_program\":\"$tmp/flood.sh\""
"$agent" --config "$tmp/l-$n.json" >/dev/null 2>"$tmp/l-$n.err" &
apid=$!
sleep 2
kill -TERM "$apid" 2>/dev/null
if gone "$apid"; then
  wait "$apid"; rc=$?
  [ $rc -eq "$(failed_status "$tmp/l-$n.err")" ] && grep -q '"event":"endpoint.exited"' "$tmp/l-$n.err" &&
    ok "a front that floods requests and reads no answer cannot hold the agent: the channel is closed, exit $rc" ||
    bad "flood: exit $rc $(tail -1 "$tmp/l-$n.err")"
else
  bad "a flooding front kept the agent from its stop signal"
  kill -KILL "$apid"
fi
lingering_config '"endpoint_program":"ccgate-endpoint"'
"$agent" --config "$tmp/l-$n.json" >/dev/null 2>"$tmp/l-$n.err"; rc=$?
[ $rc -eq 16 ] && ok "a relative endpoint_program is agent.config_invalid (never looked up on \$PATH)" || bad "relative: exit $rc"

# ---------------------------------------------------------------- serving: a real broker and a software TD
vec=$(cd "${CCG_VECTORS:-tests/vectors}/tdx" 2>/dev/null && pwd)
if [ ! -x "$kbs" ] || [ ! -f "$vec/gotdx-ccel-ccel_data.dat" ]; then
  tl_skip_check "the serving checks need ccgate-kbs and the TDX vectors" || fails=$((fails + 1))
  [ $fails -eq 0 ]
  exit
fi
"$cli" emulate tdx --out-dir "$tmp/td" --event-log "$vec/gotdx-ccel-ccel_data.dat" --save-state >/dev/null ||
  { echo "FAIL emulate tdx"; exit 1; }
tdx_broker_start "$tmp" "$cli" "$kbs" model-f 1 front/model/k 100000 "$tmp/td/collateral.json" || exit 1
key="front-test-key-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
hash=$(printf '%s\n' "$key" | "$agent" --hash-api-key) || { echo "FAIL --hash-api-key"; exit 1; }
run=0
start_serving() {
  run=$((run + 1))
  cat >"$tmp/s-$run.json" <<JSON
{"attester":{"kind":"emulator","emulator_dir":"$tmp/td","ccel_path":"$vec/gotdx-ccel-ccel_data.dat",
             "ccel_table_path":"$vec/gotdx-ccel-ccel_table.dat"},
 "broker":{"url":"http://127.0.0.1:$tdx_port","insecure_http":true,"timeout":60},
 "key":{"resource":"front/model/k","version":1},
 "artifact":{"location":"$tmp/model.ccgm","provider_key":"$tmp/provider.pub"},
 "server":{"argv":["$py","$src/tests/support/fake_runner.py"]},
 "status":{"listen":"unix:$tmp/s-$run.sock"},
 "endpoint":{"listen":"127.0.0.1:0","port_file":"$tmp/ep-$run.port","runner_socket":"$tmp/runner-$run.sock",
             "api_keys":[{"name":"app1","hash":"$hash"}]},
 "memlock":"best-effort"}
JSON
  "$agent" --config "$tmp/s-$run.json" >/dev/null 2>"$tmp/s-$run.err" &
  apid=$!
  for _ in $(seq 300); do [ -s "$tmp/ep-$run.port" ] && break; kill -0 $apid 2>/dev/null || break; sleep 0.1; done
  [ -s "$tmp/ep-$run.port" ] || { bad "run $run: the endpoint did not start: $(tail -3 "$tmp/s-$run.err")"; return 1; }
  sp=$(curl -s --max-time 5 --unix-socket "$tmp/s-$run.sock" http://x/status)
  fpid=$(jget "$sp" endpoint_pid) rpid=$(jget "$sp" server_pid)
}
if start_serving; then
  [ "$(jget "$sp" state)" = serving ] && [ -n "$fpid" ] && ok "serving over unix:/status, the front is pid $fpid" ||
    bad "serving status: $sp"
  # the front holds no model memory: the agent's memfd is not among its descriptors (the front is
  # non-dumpable: only root can list them)
  if ! fds=$(ls -l /proc/"$fpid"/fd 2>/dev/null); then
    echo "SKIP the front's descriptors: listing a non-dumpable process's needs root"
  elif grep -q memfd <<<"$fds"; then bad "the front has a memfd"; else
    ok "the front has no memfd (the model is not in its reach)"; fi
  kill -KILL "$fpid"
  if gone "$apid"; then
    wait "$apid"; rc=$?
    [ $rc -eq 18 ] && [ "$(failed_reason "$tmp/s-$run.err")" = agent.endpoint_failed ] &&
      ok "the front killed while serving: the agent fails with agent.endpoint_failed, exit 18" ||
      bad "front killed: exit $rc $(tail -2 "$tmp/s-$run.err")"
    gone "$rpid" && ok "and the runner is stopped" || bad "the runner $rpid outlived the agent"
  else
    bad "the agent kept serving without its front"
  fi
fi
if start_serving; then
  kill -KILL "$apid"; wait "$apid" 2>/dev/null
  gone "$fpid" && ok "the agent killed while serving: the front exits" || bad "the front outlived the agent"
  kill -KILL "$rpid" 2>/dev/null # the runner is the agent's child, not the front's
fi
[ $fails -eq 0 ]
