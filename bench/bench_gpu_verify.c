/* Benchmark: NVIDIA GPU evidence verifications per second on one core (not a timed test; `make bench`).
 *
 * Verifies NVIDIA's real H100 report (nvgpu/nvtrust under $CCG_VECTORS or tests/vectors) against
 * its five-certificate chain at now = 2025-06-01T00:00:00Z, with the expected nonce. The inputs are
 * read once. The main figure reuses one verifier, so after the first call the chain comes from its
 * cache; each call still digests the report and the chain (the cache key), parses the whole SPDM
 * request and response with every opaque field, compares the FWID and the nonce, and checks one ECDSA
 * P-384 signature over the ~4 KB signed bytes. For context: a fresh verifier per call (pinned root
 * loaded and the chain verified every time), and the bare signature check alone, done here with
 * OpenSSL (EVP_DigestVerify of the same bytes under the leaf key). Every decision must be allow and the
 * bare check must verify; anything else exits non-zero. The RIM comparison is not part of this figure.
 *
 * usage: bench_gpu_verify [SECONDS [UNCACHED_SECONDS]]   (defaults 3 and 1)
 *
 * Rates are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), as `openssl speed` counts CPU
 * time; the run length is wall time. The last lines are key=value for scripts/bench-gpu.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/ecdsa_raw.h"
#include "ccgate/gpu_verify.h"
#include "ccgate/util.h"

#define VECTOR_DIR "nvgpu/nvtrust"
#define BENCH_NOW "2025-06-01T00:00:00Z"
#define WARMUP_SECONDS 0.3
#define MAX_FILE_BYTES (1u << 20)

typedef struct {
    uint8_t *report;
    size_t report_len;
    uint8_t *chain;
    size_t chain_len;
    ccg_time now;
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    EVP_PKEY *leaf_key;
    uint8_t *sig_der;
    size_t sig_der_len;
    size_t signed_len;
} bench_input;

typedef struct {
    uint64_t count;
    double wall_s;
    double cpu_s;
} bench_run;

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char *vectors_dir(void)
{
    const char *env = getenv("CCG_VECTORS");
    return env != NULL && *env != '\0' ? env : "tests/vectors";
}

static ccg_result read_vector(const char *name, uint8_t **out, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s/%s", vectors_dir(), VECTOR_DIR, name);
    return ccg_file_read(path, MAX_FILE_BYTES, out, len);
}

/* The leaf key (first PEM certificate) and the report's signature as DER, for the bare check. */
static ccg_result load_bare(bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = BIO_new_mem_buf(in->chain, (int)in->chain_len);
    X509 *leaf = NULL;
    ccg_gpu_report *r = calloc(1, sizeof(*r));
    CCG_ENSURE_ALLOC(bio);
    CCG_ENSURE_ALLOC(r);
    leaf = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CCG_ENSURE_OSSL(leaf != NULL, CCG_R_CERT_PARSE_FAILED);
    in->leaf_key = X509_get_pubkey(leaf);
    CCG_ENSURE_OSSL(in->leaf_key != NULL, CCG_R_CERT_PARSE_FAILED);
    CCG_TRY(ccg_gpu_report_parse(in->report, in->report_len, r));
    memcpy(in->nonce, r->nonce, sizeof(in->nonce));
    in->signed_len = r->signed_len;
    CCG_TRY(ccg_ecdsa_raw_to_der(r->signature, CCG_GPU_SIGNATURE_SIZE / 2, &in->sig_der, &in->sig_der_len));
    result = CCG_SUCCESS;
cleanup:
    free(r);
    X509_free(leaf);
    BIO_free(bio);
    return result;
}

static ccg_result load_input(bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *hex = NULL;
    size_t hex_len = 0;
    CCG_TRY(read_vector("hopperAttestationReport.txt", &hex, &hex_len));
    CCG_TRY(ccg_gpu_report_decode(hex, hex_len, &in->report, &in->report_len));
    CCG_TRY(read_vector("hopperCertChain.txt", &in->chain, &in->chain_len));
    CCG_TRY(ccg_time_parse_rfc3339(BENCH_NOW, &in->now));
    CCG_TRY(load_bare(in));
    result = CCG_SUCCESS;
cleanup:
    free(hex);
    return result;
}

static ccg_result verify_once(ccg_gpu_verifier *shared, const bench_input *in, ccg_gpu_result *res)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_verifier *fresh = NULL;
    ccg_gpu_verify_opts opts = {.expected_nonce = in->nonce};
    ccg_decision d;
    ccg_decision_init(&d, "gpu");
    if (shared == NULL) {
        CCG_TRY(ccg_gpu_verifier_new(&fresh));
    }
    ccg_decision_free(&d);
    CCG_TRY(ccg_gpu_verify(shared != NULL ? shared : fresh, in->report, in->report_len, in->chain, in->chain_len,
                           &opts, in->now, res, &d));
    CCG_ENSURE_MSG(d.allow && res->nonce == CCG_GPU_CHECK_PASSED, CCG_R_INTERNAL_ERROR,
                   "the benchmark's evidence was denied (%s)",
                   d.reasons.count ? ccg_reason_code(d.reasons.items[0].reason) : "?");
    result = CCG_SUCCESS;
cleanup:
    ccg_decision_free(&d);
    ccg_gpu_verifier_free(fresh);
    return result;
}

static ccg_result bare_check_once(const bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, in->leaf_key) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestVerify(md, in->sig_der, in->sig_der_len, in->report, in->signed_len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

typedef enum { MODE_CACHED, MODE_UNCACHED, MODE_BARE } bench_mode;

static ccg_result run_for(bench_mode mode, ccg_gpu_verifier *shared, const bench_input *in, ccg_gpu_result *res,
                          double seconds, bench_run *out)
{
    ccg_result result = CCG_FAILURE;
    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    double wall = wall0;
    memset(out, 0, sizeof(*out));
    while (wall - wall0 < seconds || out->count == 0) {
        if (mode == MODE_BARE) {
            CCG_TRY(bare_check_once(in));
        } else {
            CCG_TRY(verify_once(mode == MODE_CACHED ? shared : NULL, in, res));
        }
        out->count++;
        wall = clock_s(CLOCK_MONOTONIC);
    }
    out->wall_s = wall - wall0;
    out->cpu_s = clock_s(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static double rate(const bench_run *r) { return r->cpu_s > 0 ? (double)r->count / r->cpu_s : 0.0; }

static void print_run(const char *label, const bench_run *r)
{
    double us = r->count ? 1e6 * r->cpu_s / (double)r->count : 0.0;
    printf("%-28s %8llu verifications in %.2f s wall, %.2f s cpu: %.1f/s (%.1f us each)\n", label,
           (unsigned long long)r->count, r->wall_s, r->cpu_s, rate(r), us);
}

static int parse_seconds(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0.0 && v <= 3600.0)) {
        fprintf(stderr, "bench_gpu_verify: '%s' is not a duration in seconds (0 < s <= 3600)\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    int rc = 1;
    double seconds = 3.0, uncached_seconds = 1.0;
    bench_input in;
    ccg_gpu_verifier *v = NULL;
    ccg_gpu_result *res = calloc(1, sizeof(*res));
    bench_run warm, cached, uncached, bare;
    memset(&in, 0, sizeof(in));

    if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(argc > 3 ? stderr : stdout, "usage: bench_gpu_verify [SECONDS [UNCACHED_SECONDS]]\n");
        free(res);
        return argc > 3 ? 2 : 0;
    }
    if (res == NULL || (argc > 1 && parse_seconds(argv[1], &seconds) != 0) ||
        (argc > 2 && parse_seconds(argv[2], &uncached_seconds) != 0)) {
        free(res);
        return 2;
    }
    ccg_error_clear();
    if (ccg_failed(load_input(&in))) {
        fprintf(stderr, "bench_gpu_verify: cannot load %s/%s: %s: %s\n", vectors_dir(), VECTOR_DIR,
                ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        fprintf(stderr, "bench_gpu_verify: run from the source tree, or set CCG_VECTORS to the vectors directory\n");
        goto cleanup;
    }
    if (ccg_failed(ccg_gpu_verifier_new(&v)) || ccg_failed(run_for(MODE_CACHED, v, &in, res, WARMUP_SECONDS, &warm)) ||
        ccg_failed(run_for(MODE_CACHED, v, &in, res, seconds, &cached)) ||
        ccg_failed(run_for(MODE_BARE, NULL, &in, res, seconds, &bare)) ||
        ccg_failed(run_for(MODE_UNCACHED, NULL, &in, res, uncached_seconds, &uncached))) {
        fprintf(stderr, "bench_gpu_verify: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        goto cleanup;
    }
    printf("bench_gpu_verify: %s (H100, %zu-byte report, 5-certificate chain), now %s, nonce checked, "
           "every decision allow\n",
           VECTOR_DIR, in.report_len, BENCH_NOW);
    print_run("chain cached (one verifier):", &cached);
    print_run("uncached (fresh verifier):", &uncached);
    print_run("bare ECDSA P-384 check:", &bare);
    printf("cached verification / bare signature check: %.2f\n", rate(&bare) > 0 ? rate(&cached) / rate(&bare) : 0.0);
    printf("gpu_verify_cached_per_s=%.1f\n", rate(&cached));
    printf("gpu_verify_uncached_per_s=%.1f\n", rate(&uncached));
    printf("ecdsa_p384_bare_verify_per_s=%.1f\n", rate(&bare));
    rc = 0;
cleanup:
    ccg_gpu_verifier_free(v);
    EVP_PKEY_free(in.leaf_key);
    OPENSSL_free(in.sig_der);
    free(in.report);
    free(in.chain);
    free(res);
    return rc;
}
