#!/usr/bin/env bash
# A TDX guest end to end (issue 12, must-show 3): the real ccgate-kbs daemon (file keystore, plain HTTP on
# loopback) and the real ccgate-agent binary on the software TD (`ccgate emulate tdx --save-state`, read
# by the emulator attester), a model sealed under the imported key, and the stub model server.
#
#   approved TD          tee "tdx", Trustee's TdxEvidence with the CCEL log (go-tdx-guest's COS log area
#                        and table, cut after its events) replayed by the broker: key released, model served
#   approved, no log     cc_eventlog null: released too
#   debug TD             tdx.debug
#   MRTD not allowed     tdx.mrtd_not_allowed
#   RTMR0 not the log's  tdx.rtmr0_log_mismatch (the agent sent the log and the broker replayed it)
#   OutOfDate TCB        tdx.tcb_status_not_allowed under the default statuses, naming OutOfDate and the advisory
#   expired collateral   collateral.expired (the broker's collateral file replaced while it runs)
#   PCK in the CRL       tdx.pck_revoked
#
# Each refusal: exit status 11, the failure line names the code, the key ID, the broker's request ID and
# the policy version, and the model server never starts.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
. "$(dirname "$0")/../support/tdx_broker.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
bin=$(cd "$(dirname "$cli")" && pwd)
kbs=${CCG_KBS:-$bin/ccgate-kbs}
agent=${CCG_AGENT:-$bin/ccgate-agent}
stub=${CCG_MODEL_SERVER_STUB:-$bin/ccg-model-server-stub}
py=${CCG_PYTHON:-/usr/bin/python3}
vec=$(cd "${CCG_VECTORS:-tests/vectors}/tdx" 2>/dev/null && pwd)
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT

[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
[ -x "$agent" ] || skip_or_fail "$agent is missing"
[ -x "$stub" ] || skip_or_fail "$stub is missing"
[ -f "$vec/gotdx-ccel-ccel_data.dat" ] || skip_or_fail "the TDX vectors are missing ($vec)"
log=$vec/gotdx-ccel-ccel_data.dat
table=$vec/gotdx-ccel-ccel_table.dat
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }

# The software TD whose RTMRs are the COS log's replay, saved; its variants share its test root.
"$cli" emulate tdx --out-dir "$tmp/td" --event-log "$log" --save-state >/dev/null || { echo "FAIL emulate tdx"; exit 1; }
variant() { # NAME OPTIONS...
  local name=$1; shift
  "$cli" emulate tdx --load-state "$tmp/td" --out-dir "$tmp/$name" "$@" --save-state >/dev/null ||
    { echo "FAIL emulate tdx $name"; exit 1; }
}
variant debug --debug
variant mrtd --mrtd "$(printf '11%.0s' $(seq 48))"
variant rtmr --rtmr 0="$(printf 'ee%.0s' $(seq 48))"
variant ood --tee-tcb-svn 04000200000000000000000000000000
variant expired --collateral-expired
variant revoked --revoke-pck
cp "$tmp/td/collateral.json" "$tmp/collateral.json"
tdx_broker_start "$tmp" "$cli" "$kbs" model-t 7 tdx/model/k 300000 "$tmp/collateral.json" || exit 1
port=$tdx_port model_sha=$tdx_model_sha

run=0
# A TD directory is read by the emulator attester; "tsm:MOUNT" is the configfs-tsm stand-in mounted there.
attester_of() {
  case $1 in
    tsm:*) printf '"kind":"configfs-tsm","tsm_root":"%s"' "${1#tsm:}" ;;
    *) printf '"kind":"emulator","emulator_dir":"%s"' "$1" ;;
  esac
}
# agent_config TD_DIR CCEL_PATH: the agent's configuration for one start (run N).
agent_config() {
  cat >"$tmp/agent-$run.json" <<EOF
{"attester":{$(attester_of "$1"),"ccel_path":"$2","ccel_table_path":"$table"},
 "broker":{"url":"http://127.0.0.1:$port","insecure_http":true,"timeout":60},
 "key":{"resource":"tdx/model/k","version":1},
 "artifact":{"location":"$tmp/model.ccgm","provider_key":"$tmp/provider.pub"},
 "server":{"argv":["$stub","$tmp/server-$run.report"]},
 "status":{"listen":"127.0.0.1:0","port_file":"$tmp/agent-$run.port"},
 "memlock":"best-effort"}
EOF
}

# The last JSON line of the agent's stderr whose event is $2, as one compact line.
event_line() {
  "$py" -c '
import json, sys
found = None
for line in open(sys.argv[1]):
    try:
        o = json.loads(line)
    except ValueError:
        continue
    if o.get("event") == sys.argv[2]:
        found = o
print(json.dumps(found) if found else "")' "$1" "$2"
}

attester_name() { case $1 in tsm:*) echo configfs-tsm ;; *) echo emulator ;; esac; }

# approved NAME TD_DIR CCEL_PATH: the key is released and the stub serves the model; SIGTERM stops it (exit 0).
approved() {
  run=$((run + 1))
  agent_config "$2" "$3"
  CCG_STUB_EXPECT_SHA384=$model_sha "$agent" --config "$tmp/agent-$run.json" >"$tmp/agent-$run.out" 2>"$tmp/agent-$run.err" &
  local pid=$!
  for _ in $(seq 300); do [ -s "$tmp/server-$run.report" ] && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done
  if [ ! -s "$tmp/server-$run.report" ]; then
    wait $pid; bad "$1: the model was not served (exit $?): $(tail -3 "$tmp/agent-$run.err")"; return
  fi
  sleep 0.3 # the report is written whole before the stub serves; let it finish
  if "$py" -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["match"] == 1 and r["dumpable"] == 0 else 1)' \
      "$tmp/server-$run.report"; then
    ok "$1: the model is served (the memfd's SHA-384 matches the model)"
  else
    bad "$1: the served model: $(cat "$tmp/server-$run.report")"
  fi
  local rel
  rel=$(event_line "$tmp/agent-$run.err" key.released)
  if "$py" -c '
import json, sys
o = json.loads(sys.argv[1])
sys.exit(0 if o["key_id"] == "tdx/model/k" and len(o.get("request_id", "")) == 32 and o.get("policy_version") == 7
         and o.get("attester") == sys.argv[2] else 1)' "$rel" "$(attester_name "$2")" 2>/dev/null; then
    ok "$1: key.released names the key ID, the request ID and policy version 7 (attester $(attester_name "$2"))"
  else
    bad "$1: the key.released line: $rel"
  fi
  kill -TERM $pid
  wait $pid
  local rc=$?
  [ $rc -eq 0 ] && ok "$1: SIGTERM stops the agent and its server (exit 0)" || bad "$1: exit $rc after SIGTERM"
}

# refused NAME TD_DIR CCEL_PATH CODE [WORD...]: exit 11, the failure line names CODE and the operator
# signal, the message names each WORD, and the server never starts.
refused() {
  local name=$1 dir=$2 ccel=$3 code=$4
  shift 4
  run=$((run + 1))
  agent_config "$dir" "$ccel"
  CCG_STUB_EXPECT_SHA384=$model_sha timeout 120 "$agent" --config "$tmp/agent-$run.json" \
    >"$tmp/agent-$run.out" 2>"$tmp/agent-$run.err"
  local rc=$? fl
  fl=$(event_line "$tmp/agent-$run.err" failed)
  printf '%s' "$fl" >"$tmp/failed-$name.json"
  if [ $rc -eq 11 ] && "$py" -c '
import json, sys
o = json.loads(sys.argv[1])
sys.exit(0 if o["reason"] == sys.argv[2] and o["exit_status"] == 11 and o["state"] == "failed"
         and o["key_id"] == "tdx/model/k" and len(o.get("request_id", "")) == 32 and o.get("policy_version") == 7
         and o.get("policy_id") == "model-t" else 1)' "$fl" "$code" 2>/dev/null; then
    ok "$name: refused with $code, exit 11, naming the key ID, the request ID and policy model-t v7"
  else
    bad "$name: exit $rc, failure line: $fl; stderr: $(tail -2 "$tmp/agent-$run.err")"
  fi
  for w in "$@"; do
    if grep -q -- "$w" <<<"$fl"; then ok "$name: the failure names $w"; else bad "$name: the failure does not name $w: $fl"; fi
  done
  [ ! -e "$tmp/server-$run.report" ] && ok "$name: the model server never started" || bad "$name: the server started"
  [ ! -s "$tmp/agent-$run.out" ] || bad "$name: the agent wrote to stdout"
}

approved "approved TD with its CCEL log" "$tmp/td" "$log"
approved "approved TD without a log area" "$tmp/td" "$tmp/no-such-ccel"
refused "debug TD" "$tmp/debug" "$log" tdx.debug
refused "MRTD not allowed" "$tmp/mrtd" "$log" tdx.mrtd_not_allowed
refused "a log the TD did not measure" "$tmp/rtmr" "$log" tdx.rtmr0_log_mismatch
refused "OutOfDate TCB" "$tmp/ood" "$log" tdx.tcb_status_not_allowed tdx.advisory_not_allowed

# Through configfs-tsm: the FUSE stand-in (tests/support/tsm_fuse.c) hands out the saved TD's quotes
# with provider tdx_guest, as a TD's kernel does.
fuse=${CCG_TSM_FUSE:-$bin/ccg-tsm-fuse}
mkdir -p "$tmp/tsm" "$tmp/tsm-debug"
tsm_up() { # DIR MOUNT
  [ -x "$fuse" ] || return 1
  tl_spawn "$fuse" --tdx-state "$1" "$2" 2>>"$tmp/fuse.log"
  for _ in $(seq 100); do mountpoint -q "$2" && return 0; sleep 0.1; done
  return 1
}
if tsm_up "$tmp/td" "$tmp/tsm" && tsm_up "$tmp/debug" "$tmp/tsm-debug"; then
  approved "approved TD through configfs-tsm" "tsm:$tmp/tsm" "$log"
  refused "debug TD through configfs-tsm" "tsm:$tmp/tsm-debug" "$log" tdx.debug
  via_tsm=1
else
  tl_in_ci && bad "the configfs-tsm stand-in did not mount: $(cat "$tmp/fuse.log")"
  echo "skip the configfs-tsm runs: FUSE is unavailable ($(tail -1 "$tmp/fuse.log" 2>/dev/null))"
  via_tsm=0
fi
fusermount3 -u "$tmp/tsm" 2>/dev/null
fusermount3 -u "$tmp/tsm-debug" 2>/dev/null

cp "$tmp/expired/collateral.json" "$tmp/collateral.json"
refused "expired collateral" "$tmp/td" "$log" collateral.expired
cp "$tmp/revoked/collateral.json" "$tmp/collateral.json"
refused "PCK in the CRL" "$tmp/td" "$log" tdx.pck_revoked
cp "$tmp/td/collateral.json" "$tmp/collateral.json"

# What the broker recorded: the TDX session and the agent's REPORT_DATA binding (no mismatch anywhere).
"$cli" audit list --db "$tmp/kbs.db" --json >"$tmp/audit.json" 2>&1
if "$py" -c '
import json, sys
recs = [r for r in json.load(open(sys.argv[1])) if r["action"] == "kbs.attest"]
dec = [r["decision"] for r in recs]
tsm = ["allow", "deny"] if sys.argv[2] == "1" else []
ok = dec == ["allow", "allow", "deny", "deny", "deny", "deny"] + tsm + ["deny", "deny"]
ok = ok and not any("tdx.report_data_mismatch" in r["reasons"] for r in recs)
sys.exit(0 if ok else 1)' "$tmp/audit.json" "$via_tsm"; then
  ok "the audit records the TDX releases and denials, none a REPORT_DATA mismatch"
else
  bad "the audit records"; "$py" -c 'import json,sys; [print(r["action"], r["decision"], r["reasons"]) for r in json.load(open(sys.argv[1]))]' "$tmp/audit.json"
fi
# The OutOfDate refusal's request ID leads the operator to its audit record: the status and the advisory.
if "$py" -c '
import json, sys
rid = json.load(open(sys.argv[2]))["request_id"]
recs = [r for r in json.load(open(sys.argv[1])) if r["action"] == "kbs.attest" and r["request_id"] == rid]
ok = len(recs) == 1 and recs[0]["tcb"]["status"] == "OutOfDate" and "INTEL-SA-00837" in json.dumps(recs[0]["tcb"])
ok = ok and recs[0]["policy_version"] == 7 and "tdx.advisory_not_allowed" in recs[0]["reasons"]
sys.exit(0 if ok else 1)' "$tmp/audit.json" "$tmp/failed-OutOfDate TCB.json"; then
  ok "OutOfDate TCB: the refusal's request ID names an audit record with status OutOfDate and INTEL-SA-00837"
else
  bad "OutOfDate TCB: no audit record with the status and advisory for the agent's request ID"
fi
"$cli" audit verify --db "$tmp/kbs.db" >/dev/null && ok "ccgate audit verify: the chain is intact" || bad "audit verify"
[ $fails -eq 0 ]
