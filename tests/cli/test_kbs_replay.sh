#!/usr/bin/env bash
# Replays across instances (session 8, "attack" (4)): two ccgate-kbs instances on one store, a guest
# (tests/support/kbs_flow.py, `ccgate emulate snp` evidence), and an attacker who captured its requests:
#   1  an Attestation accepted on instance 0, replayed with the same cookie on instance 1: 401
#      kbs.nonce_reused (and again on instance 0);
#   2  the same Attestation under a fresh session of the attacker's on instance 1 (another nonce): 401
#      kbs.nonce_mismatch, and the fresh session's own nonce is not spent by it;
#   3  the guest's attestation token replayed on instance 1 after the host disabled the key through
#      instance 0's store: 403 key.disabled, not a release from a decision cached on instance 1; and once
#      re-enabled, released again;
#   4  a session cookie or a token changed by one character: 401, never a release.
# None of these found a defect; they stay as regression checks.
# Runs on SQLite (two processes on one WAL file) and, when PostgreSQL's server binaries are installed, on a
# scratch PostgreSQL. No check is on time.
set -uo pipefail
. "$(dirname "$0")/../support/testlib.sh"
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
kbs=${CCG_KBS:-$(dirname "$cli")/ccgate-kbs}
src=${CCG_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
[ -x "$kbs" ] || skip_or_fail "$kbs is missing"
command -v python3 >/dev/null || skip_or_fail "python3 is missing"
command -v openssl >/dev/null || skip_or_fail "openssl is missing"
tmp=$(mktemp -d)
chmod 0755 "$tmp"
trap 'tl_kill_children; [ -d "$tmp/pg" ] && bash "$src/tests/support/pg_scratch.sh" stop "$tmp/pg" >/dev/null 2>&1; rm -rf "$tmp"' EXIT
fails=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fails=$((fails + 1)); }
die() { echo "FAIL $*"; exit 1; }

meas=$(printf 'cd%.0s' $(seq 48))
"$cli" emulate snp --out-dir "$tmp/emu" --save-state --measurement "$meas" >/dev/null || die "emulate"
tl_emulator_tcb_baseline "$tmp" || die "tcb-baseline"
python3 - "$tmp" "$meas" <<'PY'
import json, sys
tmp, meas = sys.argv[1], sys.argv[2]
json.dump({"policy_id": "replay-p", "version": 1, "allowed_tees": ["snp"],
           "trusted_roots": [{"product": "milan", "pem": open(tmp + "/emu/ark.pem").read()}],
           "snp_policy": {"policy_id": "replay-p-snp", "version": 1, "allowed_measurements": [meas]}},
          open(tmp + "/policy.json", "w"))
PY
openssl ecparam -name prime256v1 -genkey -noout -out "$tmp/tee.key" 2>/dev/null || die "tee key"
head -c 32 /dev/urandom >"$tmp/model.key"
key_id=replay/model/k

# run BACKEND STORE: provisions the store, starts two instances, replays.
run() {
  local backend=$1 store=$2 cfg="$tmp/$1.json" i
  cat >"$cfg" <<EOF
{"store":"$store","port":0,"threads":2,"nonce_ttl":300,"decision_reuse_seconds":300,"attestation_policy":"replay-p",
 "allow_unlocked_memory":true,"keystore":{"backend":"file","kek_file":"$tmp/$backend.kek"},
 "attempt_limits":{"per_session":3,"per_address":1000000,"window_seconds":60},
 "tcb_baselines":["$tmp/milan-tcb.json"],"tcb_baseline_issuers":{"authority":"$tmp/authority.pub"}}
EOF
  "$kbs" create-kek --config "$cfg" >/dev/null || { bad "$backend: create-kek"; return; }
  "$kbs" set-policy --config "$cfg" --file "$tmp/policy.json" >/dev/null || { bad "$backend: set-policy"; return; }
  "$kbs" import-key --config "$cfg" --key-id "$key_id" --policy-id replay-p --file "$tmp/model.key" >/dev/null ||
    { bad "$backend: import-key"; return; }
  local bases=()
  for i in 0 1; do
    tl_spawn "$kbs" serve --config "$cfg" --insecure-http --port-file "$tmp/$backend-$i.port" 2>"$tmp/$backend-$i.log"
    for _ in $(seq 300); do [ -s "$tmp/$backend-$i.port" ] && break; sleep 0.1; done
    [ -s "$tmp/$backend-$i.port" ] || { bad "$backend: instance $i did not start"; return; }
    bases+=("http://127.0.0.1:$(cat "$tmp/$backend-$i.port")")
  done
  echo "# $backend: two instances (${bases[*]})"
  BACKEND=$backend CFG=$cfg KBS=$kbs CCG_CLI=$cli TMP=$tmp MEAS=$meas KEY_ID=$key_id FLOW_LIB="$src/tests/support" \
    BASES="${bases[*]}" python3 - <<'PY' || fails=$((fails + 1))
import json, os, subprocess, sys
sys.path.insert(0, os.environ["FLOW_LIB"])
from kbs_flow import Guest, reasons_of, request

backend, cfg, kbs = os.environ["BACKEND"], os.environ["CFG"], os.environ["KBS"]
b0, b1 = os.environ["BASES"].split()
key_id = os.environ["KEY_ID"]
failed = []
def check(name, cond, detail=""):
    print(("ok   " if cond else "FAIL ") + backend + ": " + name + ("" if cond else ": " + str(detail)[:400]), flush=True)
    if not cond:
        failed.append(name)

g = Guest(os.environ["CCG_CLI"], os.path.join(os.environ["TMP"], "emu"), os.environ["MEAS"],
          os.path.join(os.environ["TMP"], "tee.key"), os.path.join(os.environ["TMP"], "work-" + backend))
cookie, nonce, _ = g.auth(b0)
att = g.attestation(nonce)
st, body, _ = g.attest(b0, cookie, att)
check("the guest attests on instance 0", st == 200, (st, body[:300]))
token = json.loads(body).get("token") if st == 200 else None

# 1: the captured Attestation, same cookie, on the other instance and on the first again.
for name, base in (("instance 1", b1), ("instance 0", b0)):
    st, body, _ = g.attest(base, cookie, att)
    check("1: the Attestation replayed with its cookie on %s: 401 kbs.nonce_reused" % name,
          st == 401 and reasons_of(body) == ["kbs.nonce_reused"], (st, body[:300]))

# 2: the captured Attestation under the attacker's own fresh session (another nonce).
c2, n2, _ = g.auth(b1)
st, body, _ = g.attest(b1, c2, att)
codes = reasons_of(body)
check("2: the Attestation under a fresh session on instance 1: 401 kbs.nonce_mismatch",
      st == 401 and codes == ["kbs.nonce_mismatch"], (st, body[:300]))
st, body, _ = g.attest(b0, c2, g.attestation(n2))
check("2: that session's own nonce was not spent by the replay (its Attestation is accepted on instance 0)",
      st == 200, (st, body[:300]))

# 3: the token after the host disabled the key (through the store, as an operator on instance 0's host).
st, body, _ = g.resource(b1, key_id, token=token)
check("3: the token releases on instance 1", st == 200, (st, body[:200]))
subprocess.run([kbs, "key", "disable", "--config", cfg, "--key-id", key_id], check=True,
               stdout=subprocess.DEVNULL)
for name, base in (("instance 1", b1), ("instance 0", b0)):
    st, body, _ = g.resource(base, key_id, token=token)
    check("3: after the key is disabled, the same token on %s: 403 key.disabled" % name,
          st == 403 and reasons_of(body) == ["key.disabled"], (st, body[:300]))
    st, body, _ = g.resource(base, key_id, cookie=cookie)
    check("3: and the session cookie on %s: 403 key.disabled" % name,
          st == 403 and reasons_of(body) == ["key.disabled"], (st, body[:300]))
subprocess.run([kbs, "key", "enable", "--config", cfg, "--key-id", key_id], check=True,
               stdout=subprocess.DEVNULL)
st, body, _ = g.resource(b1, key_id, token=token)
check("3: re-enabled, the token releases again on instance 1", st == 200, (st, body[:200]))

# 4: a cookie changed by one character, and a token changed by one character.
name, value = cookie.split("=", 1)
flip = value[:-1] + ("A" if value[-1] != "A" else "B")
st, body, _ = request(b1, "GET", "/kbs/v0/resource/" + key_id, None, {"Cookie": name + "=" + flip})
check("4: a session cookie changed in its last character: 401", st == 401, (st, body[:200]))
t = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
st, body, _ = g.resource(b1, key_id, token=t)
check("4: a token changed in its signature: 401", st == 401, (st, body[:200]))
sys.exit(1 if failed else 0)
PY
}

run sqlite "$tmp/replay.db"
mkdir -p "$tmp/pg"
pgurl=$(bash "$src/tests/support/pg_scratch.sh" start "$tmp/pg" $$ 2>"$tmp/pg_start.err")
case $? in
  0) run postgresql "$pgurl" ;;
  77) tl_skip_check "PostgreSQL's server binaries are not installed: the replays ran on SQLite only" || fails=$((fails + 1)) ;;
  *) bad "pg_scratch start: $(cat "$tmp/pg_start.err")" ;;
esac
[ "$fails" -eq 0 ] || { echo "$fails failed"; exit 1; }
echo "all passed"
