#!/usr/bin/env bash
# `ccgate verify tdx --event-log FILE [--ccel FILE] [--runtime-log FILE]` from outside, over Google's COS
# quote, CCEL log and ACPI table (tests/vectors/tdx, google/go-tdx-guest): the replay reproduces
# RTMR0-2 of the quote exactly (the only reason left is the missing collateral), every event is
# reported, required events by digest, and an attacker's edits to the log, table and runtime log each
# refused with its code.
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
# refute NAME PATTERN CMD...: the output must not match.
refute() {
  local name=$1 pattern=$2
  shift 3
  if "$@" 2>&1 | grep -qE -- "$pattern"; then
    echo "FAIL $name: output matches /$pattern/"; failed=$((failed + 1)); return
  fi
  echo "ok   $name"; passed=$((passed + 1))
}

q=$vec/gotdx-ccel-cos-113-tdx-quote.dat
log=$vec/gotdx-ccel-ccel_data.dat
table=$vec/gotdx-ccel-ccel_table.dat
now=2025-01-01T00:00:00Z
v=("$cli" verify tdx --quote "$q" --now $now)

expect "COS log replays RTMR0" 1 'event log: RTMR0 matches the quote \(16 events\)' -- "${v[@]}" --event-log "$log" --ccel "$table"
expect "COS log replays RTMR1" 1 'event log: RTMR1 matches the quote \(7 events\)' -- "${v[@]}" --event-log "$log" --ccel "$table"
expect "COS log replays RTMR2" 1 'event log: RTMR2 matches the quote \(20 events\)' -- "${v[@]}" --event-log "$log" --ccel "$table"
expect "RTMR3 not covered without RTMR3 events" 1 'event log: RTMR3 not covered' -- "${v[@]}" --event-log "$log"
expect "events reported" 1 'event 17: RTMR1 EV_EFI_BOOT_SERVICES_APPLICATION 5a10026c[0-9a-f]+ image of 924688 bytes .EFI.BOOT.BOOTX64.EFI' -- \
  "${v[@]}" --event-log "$log"
refute "no replay mismatch, only the missing collateral" 'rtmr[0-3]_log_mismatch' -- "${v[@]}" --event-log "$log" --ccel "$table"
"${v[@]}" --event-log "$log" --ccel "$table" --json > "$tmp/out.json"
if python3 - "$tmp/out.json" "$q" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
q = open(sys.argv[2], "rb").read()
assert [r["code"] for r in d["reasons"]] == ["collateral.missing"], d["reasons"]
el = d["claims"]["event_log"]
assert el["events"] == 43 and len(el["event_list"]) == 43 and el["ccel_log_area_bytes"] == 262144
for i in range(3):
    r = el["rtmrs"][i]
    assert r["match"] is True and r["replayed"] == q[48 + 328 + 48 * i: 48 + 376 + 48 * i].hex() == d["claims"]["td"]["rtmr%d" % i]
assert el["rtmrs"][3]["match"] is None and el["rtmrs"][3]["covered"] is False
e = el["event_list"][40]
assert e["rtmr"] == 2 and e["type_name"] == "EV_IPL" and e["description"].startswith("kernel_cmdline: /syslinux/vmlinuz.A")
PY
then echo "ok   json: the replayed RTMR0-2 are the quote's bytes; every event listed"; passed=$((passed + 1)); else echo "FAIL json event log"; failed=$((failed + 1)); fi

# Required events: the kernel command line (event 40, RTMR2) and the shim (event 17, RTMR1).
read -r cmdline shim < <(python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))["claims"]["event_log"]["event_list"]; print(e[40]["digest"], e[17]["digest"])' "$tmp/out.json")
printf '{"policy_id":"ev","version":1,"required_events":[{"name":"kernel cmdline","rtmr":2,"digest":"%s"},{"name":"shim","digest":"%s"}]}' "$cmdline" "$shim" > "$tmp/req.json"
refute "required events present" 'tdx\.event' -- "${v[@]}" --event-log "$log" --policy "$tmp/req.json"
expect "required events without a log" 1 'reason: tdx\.event_log_missing' -- "${v[@]}" --policy "$tmp/req.json"
printf '{"policy_id":"ev","version":1,"required_events":[{"name":"kernel cmdline","rtmr":1,"digest":"%s"}]}' "$cmdline" > "$tmp/wrong-rtmr.json"
expect "required event in another RTMR" 1 'reason: tdx\.event_missing.*"event":"kernel cmdline"' -- "${v[@]}" --event-log "$log" --policy "$tmp/wrong-rtmr.json"
printf '{"policy_id":"ev","version":1,"required_events":[{"name":"initrd","digest":"%s"}]}' "$(printf 'ab%.0s' $(seq 48))" > "$tmp/absent.json"
expect "required event absent" 1 'reason: tdx\.event_missing.*"event":"initrd"' -- "${v[@]}" --event-log "$log" --policy "$tmp/absent.json"

# An attacker's edits to the log: a digest in each RTMR, a shortened log.
offsets=$(python3 - "$log" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
off = 32 + struct.unpack_from("<I", d, 28)[0]
out = []
while d[off:off + 4] != b"\xff" * 4:
    out.append(off)
    cnt = struct.unpack_from("<I", d, off + 8)[0]
    o = off + 12 + cnt * 50
    off = o + 4 + struct.unpack_from("<I", d, o)[0]
print(" ".join(map(str, out + [off])))
PY
)
read -r -a off <<<"$offsets"
cp "$log" "$tmp/l0"; tl_flip_byte "$tmp/l0" $((off[2] + 20))
expect "RTMR0 event changed" 1 'reason: tdx\.rtmr0_log_mismatch' -- "${v[@]}" --event-log "$tmp/l0"
cp "$log" "$tmp/l1"; tl_flip_byte "$tmp/l1" $((off[17] + 20))
expect "RTMR1 event changed" 1 'reason: tdx\.rtmr1_log_mismatch' -- "${v[@]}" --event-log "$tmp/l1"
cp "$log" "$tmp/l2"; tl_flip_byte "$tmp/l2" $((off[40] + 20))
expect "RTMR2 event changed" 1 'reason: tdx\.rtmr2_log_mismatch' -- "${v[@]}" --event-log "$tmp/l2"
expect "a changed cmdline event no longer satisfies its requirement" 1 'reason: tdx\.event_missing' -- \
  "${v[@]}" --event-log "$tmp/l2" --policy "$tmp/req.json"
head -c "${off[42]}" "$log" > "$tmp/short"
expect "log without its last event" 1 'reason: tdx\.rtmr1_log_mismatch' -- "${v[@]}" --event-log "$tmp/short"
head -c $((off[30] + 7)) "$log" > "$tmp/cut"
expect "log cut inside an event" 2 'tdx\.event_log_malformed' -- "${v[@]}" --event-log "$tmp/cut"
cp "$log" "$tmp/junk"; tl_flip_byte "$tmp/junk" $((off[43] + 100))
expect "junk in the fill after the last event" 2 'tdx\.event_log_malformed' -- "${v[@]}" --event-log "$tmp/junk"
cp "$log" "$tmp/idx"; python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[int(sys.argv[2])]=9; open(sys.argv[1],"wb").write(b)' "$tmp/idx" "${off[5]}"
expect "MR index 9" 2 'tdx\.event_log_malformed' -- "${v[@]}" --event-log "$tmp/idx"
expect "the quote is not an event log" 2 'tdx\.event_log_malformed' -- "${v[@]}" --event-log "$q"

# The ACPI table.
cp "$table" "$tmp/t"; tl_flip_byte "$tmp/t" 20
expect "CCEL table checksum" 2 'tdx\.ccel_table_invalid' -- "${v[@]}" --event-log "$log" --ccel "$tmp/t"
head -c 300000 /dev/zero | tr '\0' '\377' > "$tmp/pad"; cat "$log" "$tmp/pad" > "$tmp/long"
expect "log longer than the CCEL log area" 2 'tdx\.ccel_table_invalid' -- "${v[@]}" --event-log "$tmp/long" --ccel "$table"
head -c 56 "$log" > "$tmp/t56"
expect "56 bytes of the log as the table" 2 'tdx\.ccel_table_invalid' -- "${v[@]}" --event-log "$log" --ccel "$tmp/t56"
expect "a huge table file" 2 'input\.too_large' -- "${v[@]}" --event-log "$log" --ccel "$log"

# Runtime RTMR3 events: the COS quote's RTMR3 is zero, so any runtime event is refused; none is fine.
python3 - "$tmp/rt" <<'PY'
import struct, sys
ev = struct.pack("<IIIH", 4, 0x0d, 1, 0x0c) + b"\x33" * 48 + struct.pack("<I", 5) + b"hello"
open(sys.argv[1], "wb").write(ev)
PY
expect "runtime RTMR3 event the quote does not hold" 1 'reason: tdx\.rtmr3_log_mismatch' -- "${v[@]}" --event-log "$log" --runtime-log "$tmp/rt"
: > "$tmp/empty"
expect "empty runtime log: RTMR3 covered and zero" 1 'event log: RTMR3 matches the quote \(0 events\)' -- "${v[@]}" --event-log "$log" --runtime-log "$tmp/empty"
python3 -c 'import sys; b=bytearray(open(sys.argv[1],"rb").read()); b[0]=3; open(sys.argv[2],"wb").write(b)' "$tmp/rt" "$tmp/rt2"
expect "runtime event for RTMR2" 2 'tdx\.event_log_malformed' -- "${v[@]}" --event-log "$log" --runtime-log "$tmp/rt2"

expect "--ccel needs --event-log" 2 'need --event-log' -- "${v[@]}" --ccel "$table"
expect "missing log file" 2 'io\.read_failed' -- "${v[@]}" --event-log "$tmp/nothing"

echo "passed $passed, failed $failed"
[ "$failed" -eq 0 ]
