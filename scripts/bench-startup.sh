#!/usr/bin/env bash
# Start-up of `ccgate measure snp` (docs/startup.md): the median wall time of one run, BENCH_RUNS runs of
# each program interleaved in one loop on the same (pinned) core, of
#   - /bin/true (what starting any process costs here),
#   - `ccgate measure snp` (the dispatcher, then ccgate-cmd-measure: libcrypto and jansson only),
#   - ccgate-cmd-measure alone (what the dispatcher's extra exec costs),
#   - the "before": the same command linked as the single ccgate program was, recording every library
#     of the ccgate library (bench_startup_before, --no-as-needed: libcurl and its tree, SQLite,
#     libmicrohttpd, xmlsec...),
# and the ratios: against true, and before against after; the same for the fastest run of each, which a
# busy machine disturbs least. The input is sev-snp-measure's fixture (the AmdSev OVMF footer, kernel,
# initrd and cmdline, a given OVMF digest), so the run is mostly start-up; with Debian's OVMF.fd present
# (apt-get install ovmf) a second table measures the whole firmware (64 vCPUs). Slow figures are
# reported, not failed: only errors and differing digests fail.
#
# usage: scripts/bench-startup.sh [BUILD_DIR]   (default build/release; BENCH_RUNS=200)
set -euo pipefail
. "$(dirname "$0")/bench-lib.sh"
bench_setup bench-startup "${1:-build/release}" ccgate
runs=${BENCH_RUNS:-200}
build=$(dirname "$bin")
cmd=$build/libexec/ccgate/ccgate-cmd-measure
before=$build/bench_startup_before
for f in "$cmd" "$before"; do
  if [ ! -x "$f" ]; then
    echo "bench-startup: $f is missing; build $build first (CCG_BENCH=ON)" >&2
    exit 2
  fi
done
true_bin=$(type -P true)
# Pin this shell itself, so every run is one fork and exec with no taskset in between.
if [ ${#pin[@]} -gt 0 ]; then
  taskset -cp 0 $$ >/dev/null
  pin=()
fi
vec=$CCG_VECTORS/snp-measure

objects() { ldd "$1" 2>/dev/null | grep -c '=>\|ld-linux' || true; }
echo "bench-startup: shared objects loaded (ldd): ccgate $(objects "$bin"), ccgate-cmd-measure $(objects "$cmd"), before $(objects "$before")"

# median FILE: the median of one number per line.
median() { sort -n "$1" | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# fastest FILE: the smallest number.
fastest() { sort -n "$1" | head -n 1; }

# us: the wall time of one run in microseconds ($EPOCHREALTIME: no process of its own).
us() {
  local t0=${EPOCHREALTIME/./} t1
  "$@" >/dev/null
  t1=${EPOCHREALTIME/./}
  echo $((t1 - t0))
}

# bench_table TITLE -- MEASURE_ARGS...: the four programs, interleaved, and their medians and ratios.
bench_table() {
  local title=$1 dt da dc db
  shift 2
  local after_digest before_digest
  after_digest=$("$bin" measure snp "$@" | tail -n 1)
  before_digest=$("$before" measure snp "$@" | tail -n 1)
  if [ "$after_digest" != "$before_digest" ] || [ "$(printf '%s' "$after_digest" | wc -c)" -ne 96 ]; then
    echo "bench-startup: digests differ: after '$after_digest', before '$before_digest'" >&2
    exit 1
  fi
  local d
  d=$(mktemp -d)
  for _ in $(seq "$runs"); do
    us "$true_bin" >>"$d/true"
    us "$bin" measure snp "$@" >>"$d/after"
    us "$cmd" measure snp "$@" >>"$d/cmd"
    us "$before" measure snp "$@" >>"$d/before"
  done
  dt=$(median "$d/true")
  da=$(median "$d/after")
  dc=$(median "$d/cmd")
  db=$(median "$d/before")
  local mt ma mc mb
  mt=$(fastest "$d/true")
  ma=$(fastest "$d/after")
  mc=$(fastest "$d/cmd")
  mb=$(fastest "$d/before")
  rm -rf "$d"
  echo "bench-startup: $title, $runs runs of each (median, and the fastest run, which a busy machine disturbs least):"
  awk -v t="$dt" -v a="$da" -v c="$dc" -v b="$db" -v mt="$mt" -v ma="$ma" -v mc="$mc" -v mb="$mb" 'BEGIN {
    printf "  %-44s %7.2f ms              | fastest %6.2f ms\n", "/bin/true", t / 1000, mt / 1000
    printf "  %-44s %7.2f ms  %5.1fx true | fastest %6.2f ms\n", "ccgate measure snp (after: dispatcher + exec)", a / 1000, a / t, ma / 1000
    printf "  %-44s %7.2f ms  %5.1fx true | fastest %6.2f ms\n", "ccgate-cmd-measure alone", c / 1000, c / t, mc / 1000
    printf "  %-44s %7.2f ms  %5.1fx true | fastest %6.2f ms\n", "before (one program, every library)", b / 1000, b / t, mb / 1000
    printf "  medians: before / after %.2fx; the dispatcher costs %.2f ms; above true: before %.2f ms, after %.2f ms\n",
      b / a, (a - c) / 1000, (b - t) / 1000, (a - t) / 1000
    printf "  fastest: before / after %.2fx; the dispatcher costs %.2f ms; above true: before %.2f ms, after %.2f ms\n",
      mb / ma, (ma - mc) / 1000, (mb - mt) / 1000, (ma - mt) / 1000
  }'
}

bench_table "sev-snp-measure's fixture (AmdSev OVMF footer, kernel, initrd, cmdline)" -- \
  --ovmf "$vec/ovmf_AmdSev_suffix.bin" --vcpus 1 --vcpu-type EPYC-v4 --kernel /dev/null --initrd /dev/null \
  --append "console=ttyS0 loglevel=7" \
  --snp-ovmf-hash 086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74
if [ -f /usr/share/ovmf/OVMF.fd ]; then
  bench_table "Debian's OVMF.fd ($(stat -c %s /usr/share/ovmf/OVMF.fd) bytes hashed), 64 vCPUs" -- \
    --ovmf /usr/share/ovmf/OVMF.fd --vcpus 64 --vcpu-type EPYC-v4
else
  echo "bench-startup: Debian's OVMF.fd: skipped (apt-get install ovmf)"
fi
