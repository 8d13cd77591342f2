#!/usr/bin/env bash
# Benchmark of the attested channel (docs/channel.md, Performance):
#   1. bulk throughput of 16 KiB ChaCha20-Poly1305 frames between two sessions over a socketpair
#      (bench_channel), as a ratio against `openssl speed -evp chacha20-poly1305 -bytes 16384` measured
#      in the same run (aim >= 0.8);
#   2. handshake latency with emulated SNP evidence, p50 and p99.
# Low ratios are reported, not failed; only errors fail.
#
# usage: scripts/bench-channel.sh [BUILD_DIR]   (default build/release; BENCH_SECONDS=3, BENCH_HANDSHAKES=200)
set -euo pipefail
build=${1:-build/release}
seconds=${BENCH_SECONDS:-3}
handshakes=${BENCH_HANDSHAKES:-200}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in
  /*) ;;
  *) build=$root/$build ;;
esac
bench=$build/bench_channel
if [ ! -x "$bench" ]; then
  echo "bench-channel: $bench is missing; build $build first" >&2
  exit 2
fi

# OpenSSL's own rate on 16 KiB blocks, in 1000s of bytes per second.
if command -v openssl >/dev/null 2>&1; then
  ossl_k=$(openssl speed -evp chacha20-poly1305 -bytes 16384 -seconds "$seconds" 2>/dev/null |
    awk '/^[Cc]ha[Cc]ha20-[Pp]oly1305/ { v = $NF } END { if (v == "") exit 1; sub(/k$/, "", v); print v }') || ossl_k=
else
  ossl_k=
fi
out=$("$bench" "$seconds" "$handshakes")
printf '%s\n' "$out" | grep -vE '^[a-z0-9_]+=' || true
mb=$(printf '%s\n' "$out" | sed -n 's/^channel_mb_s=//p')
if [ -z "$ossl_k" ]; then
  echo "openssl speed: skipped: the openssl command is not available"
else
  awk -v c="$mb" -v o="$ossl_k" 'BEGIN {
    o = o / 1000
    r = c / o
    printf "channel %.1f MB/s | openssl speed -evp chacha20-poly1305 -bytes 16384: %.1f MB/s | ratio %.2f (aim 0.8)\n", c, o, r
    if (r < 0.8) print "bench-channel: ratio below the aim (not an error; see docs/channel.md, Performance)"
  }'
fi
