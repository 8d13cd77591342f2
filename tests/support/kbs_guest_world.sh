# Sourced (after testlib.sh) by the broker's shell tests whose guest is tests/support/kbs_flow.py:
#   kgw_world DIR CLI MEAS POLICY_ID
#       the guest's world in DIR: the SNP emulator's saved state (DIR/emu) with launch measurement MEAS
#       and its TCB baseline (tl_emulator_tcb_baseline), DIR/policy.json (release policy POLICY_ID for
#       SNP, trusting the emulator's ARK and pinning MEAS), a guest tee key (DIR/tee.key, P-256) and a
#       model key (DIR/model.key, 32 random bytes). Prints FAIL and returns 1 on any error.
#   kgw_driver SCRIPT PHASE [VAR=VALUE...]
#       runs `python3 SCRIPT PHASE` with the variables in its environment, prints its ok/FAIL lines and
#       adds them to the caller's counters `checks` and `failed` (a driver that exits non-zero without a
#       FAIL line counts as one failure).

kgw_world() {
  local dir=$1 cli=$2 meas=$3 policy=$4
  "$cli" emulate snp --out-dir "$dir/emu" --save-state --measurement "$meas" >/dev/null || { echo "FAIL emulate"; return 1; }
  tl_emulator_tcb_baseline "$dir" || { echo "FAIL tcb-baseline"; return 1; }
  python3 - "$dir" "$meas" "$policy" <<'PY' || { echo "FAIL policy"; return 1; }
import json, sys
tmp, meas, pid = sys.argv[1], sys.argv[2], sys.argv[3]
policy = {"policy_id": pid, "version": 1, "allowed_tees": ["snp"],
          "trusted_roots": [{"product": "milan", "pem": open(tmp + "/emu/ark.pem").read()}],
          "snp_policy": {"policy_id": pid + "-snp", "version": 1, "allowed_measurements": [meas]}}
json.dump(policy, open(tmp + "/policy.json", "w"))
PY
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/tee.key" 2>/dev/null || { echo "FAIL tee key"; return 1; }
  head -c 32 /dev/urandom >"$dir/model.key"
}

kgw_driver() {
  local script=$1 phase=$2 out rc
  shift 2
  out=$(env "$@" python3 "$script" "$phase" 2>&1)
  rc=$?
  printf '%s\n' "$out"
  checks=$((checks + $(printf '%s\n' "$out" | grep -c '^\(ok\|FAIL\) ')))
  failed=$((failed + $(printf '%s\n' "$out" | grep -c '^FAIL ')))
  if [ "$rc" -ne 0 ] && ! printf '%s\n' "$out" | grep -q '^FAIL '; then
    checks=$((checks + 1))
    failed=$((failed + 1))
    echo "FAIL driver $phase exited $rc"
  fi
}
