#!/usr/bin/env bash
# `ccgate emulate tdx` then `ccgate verify tdx`, from outside: the software TD's quote verifies with its
# TEST root named (bundle, cache directory, v4, v5, TD 1.5) and is refused without it
# (tdx.untrusted_root); a debug TD, an OutOfDate TD (naming the status and advisories), expired
# collateral and a revoked PCK are each refused with their code; the chosen TD fields and REPORT_DATA
# reach the quote; RTMRs from an event log make the log verify and satisfy required events; a saved
# software TD signs fresh REPORT_DATA under the same root; bad options exit 2.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/tdx
# shellcheck source=../support/testlib.sh
. "$(dirname "$0")/../support/testlib.sh"
passed=0
failed=0
tmp=$(mktemp -d)
trap 'tl_kill_children; rm -rf "$tmp"' EXIT
command -v python3 >/dev/null || skip_or_fail "python3 is needed"
command -v openssl >/dev/null || skip_or_fail "openssl is needed"

expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | tail -20; failed=$((failed + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | tail -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

now=2026-01-15T00:00:00Z
# verify DIR [args...]: the emulated quote with its bundle and root.
verify() { local d=$1; shift; "$cli" verify tdx --quote "$d/quote.bin" --collateral "$d/collateral.json" --now $now "$@"; }

td=$tmp/td
expect "emulate writes every output" 0 'TEST ROOT ONLY' -- "$cli" emulate tdx --out-dir "$td" --now $now --save-state
for f in quote.bin root.pem pck-chain.pem collateral.json collateral/00906ED50000.json tdx-emulator.json \
  pcs/tcb-info.json pcs/qe-identity.json pcs/tcb-info-issuer-chain.pem pcs/pck-crl.der pcs/pck-crl-issuer-chain.pem \
  pcs/root-ca-crl.der; do
  if [ -s "$td/$f" ]; then passed=$((passed + 1)); else echo "FAIL missing $f"; failed=$((failed + 1)); fi
done
expect "the state file is private" 0 '^600$' -- stat -c %a "$td/tdx-emulator.json"
expect "the root says test" 0 'ccgate test SGX Root CA' -- openssl x509 -in "$td/root.pem" -noout -subject
expect "three certificates in the PCK chain" 0 '^3$' -- grep -c 'BEGIN CERTIFICATE' "$td/pck-chain.pem"

# Trusted only when named.
expect "verifies with its root named" 0 'tcb: UpToDate \(platform UpToDate, module UpToDate, qe UpToDate\) advisories \[\]' -- \
  verify "$td" --trust-root "$td/root.pem"
expect "refused without its root" 1 'reason: tdx\.untrusted_root' -- verify "$td"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/k.pem" -out "$tmp/other.pem" \
  -subj "/CN=ccgate test SGX Root CA/O=ccgate test" -days 30 2>/dev/null
expect "refused under another root of the same name" 1 'reason: tdx\.untrusted_root' -- verify "$td" --trust-root "$tmp/other.pem"
expect "the cache directory form" 0 'decision: allow' -- \
  "$cli" verify tdx --quote "$td/quote.bin" --collateral-dir "$td/collateral" --trust-root "$td/root.pem" --now $now
expect "v5 TD 1.0" 0 'decision: allow' -- sh -c "'$cli' emulate tdx --out-dir '$tmp/v5' --now $now --quote-version 5 >/dev/null && \
  '$cli' verify tdx --quote '$tmp/v5/quote.bin' --collateral '$tmp/v5/collateral.json' --trust-root '$tmp/v5/root.pem' --now $now"
expect "v5 TD 1.5, module version 1" 0 'td: td_report_1.5' -- sh -c "'$cli' emulate tdx --out-dir '$tmp/t15' --now $now --td15 \
  --tee-tcb-svn 05010200000000000000000000000000 >/dev/null && \
  '$cli' verify tdx --quote '$tmp/t15/quote.bin' --collateral '$tmp/t15/collateral.json' --trust-root '$tmp/t15/root.pem' --now $now"

# The refusals the issue names.
"$cli" emulate tdx --out-dir "$tmp/debug" --now $now --debug >/dev/null
expect "a debug TD is refused" 1 'reason: tdx\.debug' -- verify "$tmp/debug" --trust-root "$tmp/debug/root.pem"
"$cli" emulate tdx --out-dir "$tmp/old" --now $now --tee-tcb-svn 04000200000000000000000000000000 >/dev/null
expect "OutOfDate names its status and advisory" 1 \
  'reason: tdx\.tcb_status_not_allowed.*"advisory_ids":\["INTEL-SA-00837"\].*"status":"OutOfDate"' -- \
  verify "$tmp/old" --trust-root "$tmp/old/root.pem"
expect "OutOfDate: the advisory too" 1 'reason: tdx\.advisory_not_allowed.*INTEL-SA-00837' -- \
  verify "$tmp/old" --trust-root "$tmp/old/root.pem"
printf '{"policy_id":"lenient","version":1,"accepted_tcb_statuses":["UpToDate","OutOfDate"],"allowed_advisories":["INTEL-SA-00837"]}' > "$tmp/lenient.json"
expect "OutOfDate accepted by a policy that says so" 0 'decision: allow' -- \
  verify "$tmp/old" --trust-root "$tmp/old/root.pem" --policy "$tmp/lenient.json"
"$cli" emulate tdx --out-dir "$tmp/exp" --now $now --collateral-expired >/dev/null
expect "expired collateral" 1 'reason: collateral\.expired' -- verify "$tmp/exp" --trust-root "$tmp/exp/root.pem"
expect "expired collateral in the cache" 1 'collateral\.expired.*refresh the cache' -- \
  "$cli" verify tdx --quote "$tmp/exp/quote.bin" --collateral-dir "$tmp/exp/collateral" --trust-root "$tmp/exp/root.pem" --now $now
"$cli" emulate tdx --out-dir "$tmp/rev" --now $now --revoke-pck >/dev/null
expect "a PCK in the CRL is revoked" 1 'reason: tdx\.pck_revoked' -- verify "$tmp/rev" --trust-root "$tmp/rev/root.pem"
expect "collateral a year later" 1 'reason: (collateral\.expired|tdx\.cert_expired)' -- \
  "$cli" verify tdx --quote "$td/quote.bin" --collateral "$td/collateral.json" --trust-root "$td/root.pem" --now 2027-02-01T00:00:00Z

# Chosen TD fields reach the quote.
mrtd=$(printf '42%.0s' $(seq 48))
rtmr2=$(printf 'a7%.0s' $(seq 48))
rd=$(printf 'c0ffee%.0s' $(seq 4))
"$cli" emulate tdx --out-dir "$tmp/f" --now $now --mrtd "$mrtd" --rtmr "2=$rtmr2" --report-data "$rd" \
  --xfam 0x2e7 --attributes 0x10000000 >/dev/null
verify "$tmp/f" --trust-root "$tmp/f/root.pem" --json > "$tmp/f.json"
if python3 - "$tmp/f.json" "$mrtd" "$rtmr2" "$rd" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
td = d["claims"]["td"]
assert d["decision"] == "allow", d["reasons"]
assert td["mrtd"] == sys.argv[2] and td["rtmr2"] == sys.argv[3]
assert td["report_data"] == sys.argv[4] + "00" * (64 - len(sys.argv[4]) // 2)
assert td["xfam"] == "e702000000000000" and td["td_attributes"] == "0000001000000000"
PY
then echo "ok   chosen MRTD, RTMR2, REPORT_DATA, XFAM, attributes are in the quote"; passed=$((passed + 1)); else echo "FAIL chosen fields"; failed=$((failed + 1)); fi
printf '{"policy_id":"pin","version":1,"allowed_mrtd":["%s"]}' "$(printf '00%.0s' $(seq 48))" > "$tmp/pin.json"
expect "an MRTD not allowed" 1 'reason: tdx\.mrtd_not_allowed' -- verify "$tmp/f" --trust-root "$tmp/f/root.pem" --policy "$tmp/pin.json"
expect "the expected REPORT_DATA" 0 'decision: allow' -- verify "$tmp/f" --trust-root "$tmp/f/root.pem" --report-data "$rd$(printf '0%.0s' $(seq $((128 - ${#rd}))))"
expect "other REPORT_DATA" 1 'reason: tdx\.report_data_mismatch' -- verify "$tmp/f" --trust-root "$tmp/f/root.pem" --report-data "$(printf 'f%.0s' $(seq 128))"

# RTMRs from a real event log: the log then verifies against the emulated quote, with required events.
log=$vec/gotdx-ccel-ccel_data.dat
"$cli" emulate tdx --out-dir "$tmp/ev" --now $now --event-log "$log" >/dev/null
"$cli" verify tdx --quote "$tmp/ev/quote.bin" --now $now --event-log "$log" --json > "$tmp/ev.json"
cmdline=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["claims"]["event_log"]["event_list"][40]["digest"])' "$tmp/ev.json")
printf '{"policy_id":"boot","version":1,"required_events":[{"name":"kernel cmdline","rtmr":2,"digest":"%s"}]}' "$cmdline" > "$tmp/req.json"
expect "event log and required events: allow" 0 'event log: RTMR2 matches the quote' -- \
  verify "$tmp/ev" --trust-root "$tmp/ev/root.pem" --event-log "$log" --policy "$tmp/req.json"
expect "a quote from another log: mismatch" 1 'reason: tdx\.rtmr0_log_mismatch' -- \
  verify "$td" --trust-root "$td/root.pem" --event-log "$log"

# A saved software TD signs fresh REPORT_DATA under the same root, later.
later=2026-03-01T00:00:00Z
expect "load-state with fresh REPORT_DATA" 0 'TEST ROOT ONLY' -- \
  "$cli" emulate tdx --out-dir "$tmp/again" --load-state "$td" --report-data 0102030405 --now $later
expect "the same root" 0 '' -- cmp "$td/root.pem" "$tmp/again/root.pem"
expect "verifies under the saved root" 0 'decision: allow' -- \
  "$cli" verify tdx --quote "$tmp/again/quote.bin" --collateral "$tmp/again/collateral.json" --trust-root "$td/root.pem" \
  --now $later --report-data "0102030405$(printf '0%.0s' $(seq 118))"
python3 - "$td/tdx-emulator.json" "$tmp/broken/tdx-emulator.json" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
d["certs"]["pck"] = d["certs"]["ca"]  # a certificate that is not its key's
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
json.dump(d, open(sys.argv[2], "w"))
PY
expect "a broken state" 2 'attest\.emulator_state_invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --load-state "$tmp/broken"
expect "no state" 2 'attest\.emulator_state_invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --load-state "$tmp/nothing"

# Bad options.
expect "no out dir" 2 'ccgate emulate tdx: --out-dir is required' -- "$cli" emulate tdx
expect "bad rtmr index" 2 'usage\.invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --rtmr "4=$rtmr2"
expect "short mrtd" 2 'usage\.invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --mrtd 0011
expect "report data too long" 2 'usage\.invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --report-data "$(printf 'a%.0s' $(seq 130))"
expect "mrservicetd without td15" 2 'usage\.invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --mrservicetd "$mrtd"
expect "td15 with version 4" 2 'usage\.invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --td15 --quote-version 4
expect "bad attributes" 2 'usage\.invalid' -- "$cli" emulate tdx --out-dir "$tmp/x" --attributes 10000000
expect "help" 0 'Usage: ccgate emulate tdx' -- "$cli" emulate tdx --help

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
