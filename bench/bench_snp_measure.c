/* Benchmark: the SEV-SNP launch-digest engine (not a timed test; scripts/bench-measure.sh runs it).
 *
 * Three figures over wall-clock runs (CLOCK_MONOTONIC):
 *   - the page-info chain over a 64 MiB synthetic image (ccg_snp_ovmf_hash), in MB/s of image per CPU
 *     second of this process (CLOCK_PROCESS_CPUTIME_ID, as `openssl speed` counts) and per wall second
 *     (the page hashes run on every core);
 *   - bare SHA-384 over the same image in 4 KiB calls through one EVP context on one core, the same work
 *     as `openssl speed -evp sha384 -bytes 4096`, so the chain's overhead is visible;
 *   - whole launch digests of a real OVMF with 64 vCPUs (set_ovmf + measure), in wall ms each.
 *
 * usage: bench_snp_measure [OVMF_FILE [SECONDS]]   (defaults /usr/share/ovmf/OVMF.fd and 2)
 * The last lines are key=value for scripts/bench-measure.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "ccgate/snp_measure.h"
#include "ccgate/util.h"

#define IMAGE_BYTES (64u << 20)
#define CHUNK 4096u

typedef struct {
    uint64_t count;
    double cpu_s, wall_s;
} run_stats;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*bench_fn)(void *ctx);

/* Calls fn until `seconds` of wall time have passed; returns the count and the CPU time used. */
static int run_for(double seconds, bench_fn fn, void *ctx, run_stats *out)
{
    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    out->count = 0;
    do {
        if (fn(ctx) != 0) {
            return -1;
        }
        out->count++;
    } while (clock_s(CLOCK_MONOTONIC) - wall0 < seconds);
    out->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    out->wall_s = clock_s(CLOCK_MONOTONIC) - wall0;
    return 0;
}

typedef struct {
    uint8_t *image;
    EVP_MD_CTX *ctx;
    EVP_MD *md;
    uint8_t *ovmf;
    size_t ovmf_len;
} bench_ctx;

static int chain_once(void *p)
{
    bench_ctx *b = p;
    uint8_t d[CCG_SNP_LD_SIZE];
    return ccg_ok(ccg_snp_ovmf_hash(b->image, IMAGE_BYTES, d)) ? 0 : -1;
}

static int bare_sha384_once(void *p)
{
    bench_ctx *b = p;
    uint8_t d[CCG_SNP_LD_SIZE];
    for (size_t off = 0; off < IMAGE_BYTES; off += CHUNK) {
        if (EVP_DigestInit_ex2(b->ctx, b->md, NULL) != 1 || EVP_DigestUpdate(b->ctx, b->image + off, CHUNK) != 1 ||
            EVP_DigestFinal_ex(b->ctx, d, NULL) != 1) {
            return -1;
        }
    }
    return 0;
}

static int launch_digest_once(void *p)
{
    bench_ctx *b = p;
    ccg_snp_launch_inputs in;
    uint8_t d[CCG_SNP_LD_SIZE];
    ccg_snp_launch_inputs_init(&in);
    in.vcpus = 64;
    int ok = ccg_ok(ccg_snp_launch_inputs_set_vcpu_type(&in, "EPYC-v4")) &&
             ccg_ok(ccg_snp_launch_inputs_set_ovmf(&in, b->ovmf, b->ovmf_len, NULL)) && ccg_ok(ccg_snp_measure(&in, d));
    ccg_snp_launch_inputs_free(&in);
    return ok ? 0 : -1;
}

static int setup(bench_ctx *b, const char *ovmf_path)
{
    b->image = malloc(IMAGE_BYTES);
    b->ctx = EVP_MD_CTX_new();
    b->md = EVP_MD_fetch(NULL, "SHA384", NULL);
    if (b->image == NULL || b->ctx == NULL || b->md == NULL) {
        return -1;
    }
    for (size_t i = 0; i < IMAGE_BYTES; i++) {
        b->image[i] = (uint8_t)(i * 131 + (i >> 12));
    }
    if (ccg_failed(ccg_file_read(ovmf_path, CCG_SNP_OVMF_MAX_BYTES, &b->ovmf, &b->ovmf_len))) {
        fprintf(stderr, "bench_snp_measure: cannot read %s: %s\n", ovmf_path, ccg_error_last()->message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *ovmf = argc > 1 ? argv[1] : "/usr/share/ovmf/OVMF.fd";
    double seconds = argc > 2 ? strtod(argv[2], NULL) : 2.0;
    bench_ctx b = {0};
    run_stats chain, bare, launch;
    int rc = 1;
    if (seconds <= 0 || setup(&b, ovmf) != 0) {
        goto done;
    }
    if (run_for(seconds, chain_once, &b, &chain) != 0 || run_for(seconds, bare_sha384_once, &b, &bare) != 0 ||
        run_for(seconds, launch_digest_once, &b, &launch) != 0) {
        fprintf(stderr, "bench_snp_measure: a run failed: %s\n", ccg_error_last()->message);
        goto done;
    }
    double chain_mb = (double)chain.count * IMAGE_BYTES / chain.cpu_s / 1e6;
    double chain_wall_mb = (double)chain.count * IMAGE_BYTES / chain.wall_s / 1e6;
    double bare_mb = (double)bare.count * IMAGE_BYTES / bare.cpu_s / 1e6;
    double launch_ms = launch.wall_s * 1e3 / (double)launch.count;
    printf("page-info chain over a 64 MiB image: %.1f MB/s per CPU second, %.1f MB/s wall (page hashes on "
           "all cores)\n", chain_mb, chain_wall_mb);
    printf("bare SHA-384, 4 KiB calls, one core: %.1f MB/s (chain/bare %.2f)\n", bare_mb, chain_mb / bare_mb);
    printf("launch digest of %s (%zu bytes), 64 vCPUs: %.3f ms wall, in process\n", ovmf, b.ovmf_len, launch_ms);
    printf("sha384_chain_mb_s=%.1f\nsha384_chain_wall_mb_s=%.1f\nsha384_bare_mb_s=%.1f\nlaunch_digest_ms=%.3f\n",
           chain_mb, chain_wall_mb, bare_mb, launch_ms);
    rc = 0;
done:
    free(b.image);
    free(b.ovmf);
    EVP_MD_CTX_free(b.ctx);
    EVP_MD_free(b.md);
    return rc;
}
