#!/usr/bin/env bash
# `ccgate verify tdx` from outside, over the real quotes and Intel collateral in tests/vectors/tdx:
# exit codes 0 allow / 1 deny / 2 bad usage or input, the JSON claims (TCB status, advisories, platform,
# module and QE statuses, FMSPC, every TD field), hex and binary quotes, the policy, the collateral
# cache directory keyed by FMSPC, and an attacker's edits (a flipped signed byte, re-serialised signed
# JSON, a self-made root) each with its reason.
set -uo pipefail
cli=${CCG_CLI:?CCG_CLI must name the ccgate binary}
vec=${CCG_VECTORS:-$(dirname "$0")/../vectors}/tdx
# shellcheck source=../support/testlib.sh
. "$(dirname "$0")/../support/testlib.sh"
passed=0
failed=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v python3 >/dev/null || skip_or_fail "python3 is needed"

expect() {
  local name=$1 want=$2 pattern=$3
  shift 4
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  if [ "$rc" -ne "$want" ]; then
    echo "FAIL $name: exit $rc, wanted $want"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  if [ -n "$pattern" ] && ! grep -qE -- "$pattern" <<<"$out"; then
    echo "FAIL $name: output lacks /$pattern/"; echo "$out" | head -20; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

d=$vec/dcapqvl
now=2025-07-19T10:00:34Z
q="$d/tdx_quote"
col="$d/tdx_quote_collateral.json"

expect "dcap-qvl v4 quote is UpToDate" 0 'tcb: UpToDate \(platform UpToDate, module UpToDate, qe UpToDate\) advisories \[\]' -- \
  "$cli" verify tdx --quote "$q" --collateral "$col" --now $now
expect "json claims" 0 '"fmspc": "b0c06f000000"' -- "$cli" verify tdx --quote "$q" --collateral "$col" --now $now --json
"$cli" verify tdx --quote "$q" --collateral "$col" --now $now --json > "$tmp/out.json"
if python3 - "$tmp/out.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
c = d["claims"]
assert d["decision"] == "allow"
t = c["tcb"]
for k in ("status", "platform_status", "module_status", "qe_status", "advisory_ids", "tcb_date", "module_identity"):
    assert k in t, k
assert t["status"] == "UpToDate" and t["advisory_ids"] == []
for k in ("tee_tcb_svn", "mrseam", "mrsignerseam", "seam_attributes", "td_attributes", "xfam", "mrtd", "mrconfigid",
          "mrowner", "mrownerconfig", "rtmr0", "rtmr1", "rtmr2", "rtmr3", "report_data"):
    assert k in c["td"], k
assert c["platform"]["fmspc"] == "b0c06f000000"
PY
then echo "ok   json has every TD field and status"; passed=$((passed + 1)); else echo "FAIL json fields"; failed=$((failed + 1)); fi

expect "v5 TD 1.5 quote: no matching TCB level" 1 'reason: tdx\.tcb_level_not_found' -- \
  "$cli" verify tdx --quote "$d/tdx_quote_outdated" --collateral "$d/tdx_quote_outdated_collateral.json" --now 2026-03-01T00:00:00Z
expect "hex quote parses" 1 'reason: tdx\.tcb_level_not_found' -- \
  "$cli" verify tdx --quote "$d/tdx-quote.hex" --collateral "$col" --now $now
expect "trustee debug TD refused" 1 'reason: tdx\.debug' -- \
  "$cli" verify tdx --quote "$vec/trustee/tdx_quote_4.dat" --now 2025-06-01T00:00:00Z
expect "no collateral: collateral.missing" 1 'reason: collateral\.missing' -- \
  "$cli" verify tdx --quote "$vec/trustee/tdx_quote_6.dat" --now 2025-06-01T00:00:00Z
expect "expired collateral names the item" 1 'reason: collateral\.expired.*(tcb_info|qe_identity|crl)' -- \
  "$cli" verify tdx --quote "$q" --collateral "$col" --now 2025-09-01T00:00:00Z

# Policy: an allowlist that does not hold the MRTD; one that does.
mrtd=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["claims"]["td"]["mrtd"])' "$tmp/out.json")
printf '{"policy_id":"mrtd","version":1,"allowed_mrtd":["%s"]}' "$(printf '0%.0s' $(seq 96))" > "$tmp/other.json"
printf '{"policy_id":"mrtd","version":2,"allowed_mrtd":["%s"]}' "$mrtd" > "$tmp/this.json"
expect "mrtd not allowed" 1 'reason: tdx\.mrtd_not_allowed' -- "$cli" verify tdx --quote "$q" --collateral "$col" --now $now --policy "$tmp/other.json"
expect "mrtd allowed" 0 'decision: allow' -- "$cli" verify tdx --quote "$q" --collateral "$col" --now $now --policy "$tmp/this.json"
printf '{"policy_id":"bad","version":1,"allowed_mrtd":["zz"]}' > "$tmp/bad.json"
expect "bad policy is bad input" 2 'policy\.invalid_value' -- "$cli" verify tdx --quote "$q" --collateral "$col" --now $now --policy "$tmp/bad.json"

# The cache directory keyed by FMSPC.
mkdir -p "$tmp/cache"
expect "cache miss" 1 'collateral\.missing' -- "$cli" verify tdx --quote "$q" --collateral-dir "$tmp/cache" --now $now
cp "$col" "$tmp/cache/B0C06F000000.json"
expect "cache hit" 0 'decision: allow' -- "$cli" verify tdx --quote "$q" --collateral-dir "$tmp/cache" --now $now
expect "cache past nextUpdate" 1 'collateral\.expired.*refresh' -- "$cli" verify tdx --quote "$q" --collateral-dir "$tmp/cache" --now 2025-07-20T00:00:00Z

# An attacker's edits.
cp "$q" "$tmp/flipped"; tl_flip_byte "$tmp/flipped" 300
expect "flipped TD byte: quote signature" 1 'reason: tdx\.quote_signature_invalid' -- "$cli" verify tdx --quote "$tmp/flipped" --collateral "$col" --now $now
cp "$q" "$tmp/qe"; tl_flip_byte "$tmp/qe" 900
expect "flipped QE report byte" 1 'reason: tdx\.qe_report_signature_invalid' -- "$cli" verify tdx --quote "$tmp/qe" --collateral "$col" --now $now
cp "$q" "$tmp/ver"; tl_flip_byte "$tmp/ver" 0
expect "version 5 header on a v4 body" 2 'tdx\.' -- "$cli" verify tdx --quote "$tmp/ver" --collateral "$col" --now $now
head -c 1000 "$q" > "$tmp/short"
expect "truncated quote is bad input" 2 'input\.truncated|tdx\.signature_data_malformed' -- "$cli" verify tdx --quote "$tmp/short" --collateral "$col" --now $now
python3 - "$col" "$tmp/reser.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["tcb_info"] = json.dumps(json.loads(d["tcb_info"]), indent=1)  # the same JSON value, other bytes
json.dump(d, open(sys.argv[2], "w"))
PY
expect "re-serialised TCB info does not verify" 1 'reason: tdx\.tcb_info_signature_invalid' -- "$cli" verify tdx --quote "$q" --collateral "$tmp/reser.json" --now $now
python3 - "$col" "$tmp/extra.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["note"] = "x"; json.dump(d, open(sys.argv[2], "w"))
PY
expect "unknown bundle member" 2 'tdx\.collateral_malformed' -- "$cli" verify tdx --quote "$q" --collateral "$tmp/extra.json" --now $now
# A self-made root is not Intel's, and naming it does not make Intel's chain verify under it.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$tmp/k.pem" -out "$tmp/root.pem" \
  -subj "/CN=Intel SGX Root CA" -days 30 2>/dev/null
expect "a named test root adds, never replaces" 0 'decision: allow' -- "$cli" verify tdx --quote "$q" --collateral "$col" --now $now --trust-root "$tmp/root.pem"
expect "--now defaults to the current time, printed" 1 '--now=[0-9]+ \(the current time\)' -- "$cli" verify tdx --quote "$q"
expect "bad time" 2 'input\.bad_time' -- "$cli" verify tdx --quote "$q" --now yesterday
expect "help" 0 'Usage: ccgate verify tdx' -- "$cli" verify tdx --help

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
