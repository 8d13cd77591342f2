#!/usr/bin/env bash
# Benchmark of the attested channel (docs/channel.md, Performance), every ratio from the same run:
#   1. bulk throughput of 16 KiB ChaCha20-Poly1305 frames between two sessions over a socketpair
#      (bench_channel: seal, framing and send on one thread; recv, sequence check and open on the other),
#      against `openssl speed -evp chacha20-poly1305 -bytes 16384` (aim >= 0.8);
#   2. the parts: crypto only (the channel's frame seal and open, no socket) and the socketpair alone;
#   3. handshake latency with emulated SNP evidence, p50 and p99.
# `openssl speed` divides by its user CPU time, so the channel is compared per core: bytes over the
# busier side's CPU time (user + system: the kernel's socket copies count against the channel). The
# wall-clock ratio, against bench_channel's in-process EVP anchor in wall time, is printed as well; on a
# shared machine it moves with the other load. Low ratios are reported, not failed; only errors fail.
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

# OpenSSL's own rate on 16 KiB blocks, in 1000s of bytes per second of user CPU time.
if command -v openssl >/dev/null 2>&1; then
  ossl_k=$(openssl speed -evp chacha20-poly1305 -bytes 16384 -seconds "$seconds" 2>/dev/null |
    awk '/^[Cc]ha[Cc]ha20-[Pp]oly1305/ { v = $NF } END { if (v == "") exit 1; sub(/k$/, "", v); print v }') || ossl_k=
else
  ossl_k=
fi
out=$("$bench" "$seconds" "$handshakes")
printf '%s\n' "$out" | grep -vE '^[a-z0-9_]+=' || true
value() { printf '%s\n' "$out" | sed -n "s/^$1=//p"; }
if [ -z "$ossl_k" ]; then
  echo "openssl speed: skipped: the openssl command is not available"
else
  awk -v o="$ossl_k" -v core="$(value channel_core_mb_s)" -v big="$(value channel_big_core_mb_s)" \
    -v crypto="$(value crypto_core_mb_s)" -v io="$(value io_core_mb_s)" -v wall="$(value channel_mb_s)" \
    -v evp="$(value evp_mb_s)" -v evpc="$(value evp_cpu_mb_s)" 'BEGIN {
    o = o / 1000
    printf "anchor: openssl speed -evp chacha20-poly1305 -bytes 16384: %.1f MB/s (user CPU); in-process EVP seal %.1f MB/s CPU, %.1f MB/s wall\n", o, evpc, evp
    printf "ratio, channel per core, 16 KiB writes:   %.2f (%.1f MB/s; aim 0.8)\n", core / o, core
    printf "ratio, channel per core, 256 KiB writes:  %.2f (%.1f MB/s)\n", big / o, big
    printf "ratio, crypto only (frame seal/open):     %.2f (%.1f MB/s)\n", crypto / o, crypto
    printf "ratio, channel wall / in-process wall:    %.2f (%.1f / %.1f MB/s; moves with the machine'\''s other load)\n", wall / evp, wall, evp
    printf "socketpair alone, 16 KiB records, per core: %.1f MB/s (%.2f x the anchor)\n", io, io / o
    if (core / o < 0.8) print "bench-channel: the channel ratio is below the aim (not an error; see docs/channel.md, Performance)"
  }'
fi
