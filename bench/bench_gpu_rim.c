/* Benchmark: NVIDIA RIM verifications per second on one core (not a timed test; `make bench`).
 *
 * Verifies NVIDIA's driver RIM NV_GPU_DRIVER_GH100_550.144.03 (nvgpu/attestation-sdk under
 * $CCG_VECTORS or ../shared/vectors) at now = 2025-06-01T00:00:00Z, end to end as the verifier does it:
 * the bounded libxml2 parse, the four KeyInfo certificates chained by OpenSSL to the pinned root,
 * xmlsec's C14N 1.1 + SHA-384 digest and ECDSA P-384 signature check, and the SWID parse. Every
 * verification must succeed; anything else exits non-zero. scripts/bench-gpu-rim.sh prints the rate
 * beside `openssl speed ecdsap384` measured in the same run.
 *
 * usage: bench_gpu_rim [SECONDS]   (default 3)
 *
 * Rates are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), as `openssl speed` counts CPU
 * time. The last line is key=value for the script. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ccgate/error.h"
#include "ccgate/gpu_rim.h"
#include "ccgate/util.h"

#define VECTOR "nvgpu/attestation-sdk/NV_GPU_DRIVER_GH100_550.144.03.xml"
#define BENCH_NOW "2025-06-01T00:00:00Z"

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int verify_once(const uint8_t *xml, size_t len, ccg_time now)
{
    ccg_gpu_rim rim;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_rim_verify(xml, len, NULL, now, &rim))) {
        fprintf(stderr, "bench_gpu_rim: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        return -1;
    }
    ccg_gpu_rim_free(&rim);
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    const char *dir = getenv("CCG_VECTORS");
    char path[4096];
    uint8_t *xml = NULL;
    size_t len = 0;
    ccg_time now = 0;
    snprintf(path, sizeof(path), "%s/%s", dir != NULL && *dir ? dir : "../shared/vectors", VECTOR);
    if (ccg_failed(ccg_file_read(path, CCG_GPU_RIM_MAX_BYTES, &xml, &len)) ||
        ccg_failed(ccg_time_parse_rfc3339(BENCH_NOW, &now))) {
        fprintf(stderr, "bench_gpu_rim: cannot read %s\n", path);
        return 1;
    }
    if (seconds <= 0) {
        seconds = 3.0;
    }
    if (verify_once(xml, len, now) != 0) { /* warm-up: library set-up, first allocations */
        return 1;
    }
    uint64_t count = 0;
    double start = cpu_s(), elapsed = 0;
    do {
        if (verify_once(xml, len, now) != 0) {
            return 1;
        }
        count++;
        elapsed = cpu_s() - start;
    } while (elapsed < seconds);
    double rate = (double)count / elapsed;
    printf("RIM verify (%zu-byte driver RIM, chain of 4, xmlsec C14N 1.1 + SHA-384 + ECDSA P-384): %llu in %.2f CPU s"
           " = %.1f/s (%.3f ms each)\n",
           len, (unsigned long long)count, elapsed, rate, 1000.0 / rate);
    printf("gpu_rim_verify_per_s=%.1f\n", rate);
    free(xml);
    return 0;
}
