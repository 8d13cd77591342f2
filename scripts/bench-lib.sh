# Shared by the scripts/bench*.sh that compare a ccgate figure with OpenSSL's own ECDSA verify rate,
# measured in the same run on the same (pinned) core. Source it after `set -euo pipefail`.
#
#   bench_setup NAME BUILD_DIR BINARY   sets $bin (BUILD_DIR/BINARY), $seconds (BENCH_SECONDS, default 3),
#                                       $root, $pin (taskset -c 0 when it works here), exports
#                                       CCG_VECTORS (default: the vectors in the tree); exits 2 when
#                                       the binary or the openssl command is missing
#   bench_openssl_verify BITS           prints OpenSSL's ECDSA P-BITS (256 or 384) verify/s
#   bench_run                           runs $bin $seconds pinned; prints its lines without key=value
#                                       ones and leaves the whole output in $bench_out
#   bench_value KEY                     prints KEY's value from $bench_out (empty when absent)

bench_setup() {
  bench_name=$1
  local build=$2
  seconds=${BENCH_SECONDS:-3}
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  case $build in
    /*) bin=$build/$3 ;;
    *) bin=$root/$build/$3 ;;
  esac
  export CCG_VECTORS=${CCG_VECTORS:-$root/tests/vectors} # the vectors are in the tree
  if [ ! -x "$bin" ]; then
    echo "$bench_name: $bin is missing; run 'make build' first" >&2
    exit 2
  fi
  if ! command -v openssl >/dev/null 2>&1; then
    echo "$bench_name: the openssl command is needed for the reference rate" >&2
    exit 2
  fi
  # Pin both measurements to one core when taskset works here (it can be refused in containers).
  pin=()
  if command -v taskset >/dev/null 2>&1 && taskset -c 0 true >/dev/null 2>&1; then
    pin=(taskset -c 0)
    echo "$bench_name: pinned to core 0"
  else
    echo "$bench_name: taskset unavailable; not pinned"
  fi
}

# The last column (verify/s) of `openssl speed ecdsapBITS`'s final table line.
bench_openssl_verify() {
  local bits=$1 out rate
  out=$(${pin[@]+"${pin[@]}"} openssl speed -seconds "$seconds" "ecdsap$bits" 2>/dev/null)
  rate=$(printf '%s\n' "$out" |
    awk -v b="$bits" '$1 == b && $2 == "bits" && $3 == "ecdsa" { v = $NF } END { if (v == "") exit 1; print v }') || {
    echo "$bench_name: could not read the verify/s column from 'openssl speed ecdsap$bits':" >&2
    printf '%s\n' "$out" >&2
    exit 1
  }
  echo "$rate"
}

bench_run() {
  bench_out=$(${pin[@]+"${pin[@]}"} "$bin" "$seconds")
  printf '%s\n' "$bench_out" | grep -vE '^[a-z0-9_]+=' || true
}

bench_value() {
  printf '%s\n' "$bench_out" | sed -n "s/^$1=//p"
}
