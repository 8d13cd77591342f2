/* Benchmark: SEV-SNP verifications per second on one core (not a timed test; `make bench`).
 *
 * Verifies a real Milan v3 report (snp/msft-milan-v3 under $CCG_VECTORS or tests/vectors) at
 * now = 2026-06-01T00:00:00Z with the default policy except that no TCB baseline is required (the
 * real report has no signed baseline to appraise against; a baseline check is a compare, not a
 * signature, once its signature is cached). The collateral is parsed once. The main
 * figure reuses one verifier, so after the first call the chain comes from its cache; each call still
 * parses the report, digests the collateral for the cache key, checks the binding and one ECDSA P-384
 * signature, appraises and builds the claims. For context the same is
 * measured with a fresh verifier per call (pinned roots loaded and the chain verified every time),
 * and the bare signature check alone: one EVP_PKEY_verify of the report's signature under the VCEK
 * key, done here with OpenSSL, so the cost of everything else in a verification is visible.
 * Every decision must be allow, and the bare check must verify; anything else exits non-zero.
 *
 * usage: bench_snp_verify [SECONDS [UNCACHED_SECONDS]]   (defaults 3 and 1)
 *
 * Rates are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), as `openssl speed` counts
 * CPU time; the run length is wall time (CLOCK_MONOTONIC). The last lines are key=value for
 * scripts/bench.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "ccgate/snp_policy.h"
#include "ccgate/snp_verify.h"
#include "ccgate/util.h"
#include "ccgate/x509util.h"

#define VECTOR_DIR "snp/msft-milan-v3"
#define BENCH_NOW "2026-06-01T00:00:00Z"
#define WARMUP_SECONDS 0.3
#define MAX_FILE_BYTES (1u << 20)
#define BENCH_POLICY "{\"policy_id\":\"bench-snp\",\"version\":1,\"tcb\":{\"require_baseline\":false}}"

typedef struct {
    uint8_t *report;
    size_t report_len;
    ccg_snp_collateral col;
    ccg_time now;
    /* The bare signature check: the VCEK key, the SHA-384 of bytes 0x000-0x29F, the DER signature. */
    EVP_PKEY *vcek_key; /* borrowed from the collateral */
    uint8_t digest[48];
    unsigned char *sig_der;
    int sig_der_len;
    ccg_snp_policy *policy; /* the default, without the TCB baseline requirement */
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

static ccg_result add_certs(ccg_snp_collateral *col, const char *name)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    CCG_TRY(read_vector(name, &data, &len));
    CCG_TRY(ccg_snp_collateral_add_certs(col, data, len));
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

/* The inputs of the bare signature check, prepared once: R and S are 72-byte little-endian values. */
static ccg_result prepare_bare_check(bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_report parsed;
    ECDSA_SIG *sig = NULL;
    BIGNUM *r = NULL, *s = NULL;
    unsigned int n = 0;
    for (int i = 0; i < sk_X509_num(in->col.certs) && in->vcek_key == NULL; i++) {
        char cn[64];
        ccg_x509_subject_cn(sk_X509_value(in->col.certs, i), cn, sizeof(cn));
        if (strcmp(cn, "SEV-VCEK") == 0) {
            in->vcek_key = X509_get0_pubkey(sk_X509_value(in->col.certs, i));
        }
    }
    CCG_ENSURE_MSG(in->vcek_key != NULL, CCG_R_COLLATERAL_MISSING, "no SEV-VCEK certificate in vcek.pem");
    CCG_TRY(ccg_snp_report_parse(in->report, in->report_len, &parsed));
    sig = ECDSA_SIG_new();
    r = BN_lebin2bn(parsed.sig_r, CCG_SNP_SIG_COMPONENT_SIZE, NULL);
    s = BN_lebin2bn(parsed.sig_s, CCG_SNP_SIG_COMPONENT_SIZE, NULL);
    CCG_ENSURE_OSSL(sig != NULL && r != NULL && s != NULL && ECDSA_SIG_set0(sig, r, s) == 1, CCG_R_INTERNAL_CRYPTO);
    r = s = NULL;
    in->sig_der_len = i2d_ECDSA_SIG(sig, &in->sig_der);
    CCG_ENSURE_OSSL(in->sig_der_len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_Digest(in->report, CCG_SNP_SIGNED_SIZE, in->digest, &n, EVP_sha384(), NULL) == 1 && n == 48,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return result;
}

static ccg_result load_input(bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_time_parse_rfc3339(BENCH_NOW, &in->now));
    CCG_TRY(read_vector("attestation_report.bin", &in->report, &in->report_len));
    CCG_TRY(ccg_snp_collateral_init(&in->col));
    CCG_TRY(add_certs(&in->col, "vcek.pem"));
    CCG_TRY(add_certs(&in->col, "ask.pem")); /* the ARK is pinned in the verifier */
    CCG_TRY(prepare_bare_check(in));
    CCG_TRY(ccg_snp_policy_parse(BENCH_POLICY, strlen(BENCH_POLICY), &in->policy));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One one-shot ECDSA P-384 verify, as a caller holding only the key would do it. */
static ccg_result bare_check_once(const bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(in->vcek_key, NULL);
    CCG_ENSURE_OSSL(ctx != NULL && EVP_PKEY_verify_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_verify(ctx, in->sig_der, (size_t)in->sig_der_len, in->digest, sizeof(in->digest)) == 1,
                    CCG_R_SNP_SIGNATURE_INVALID);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    return result;
}

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *details = json_dumps(d->reasons.items[i].details, JSON_COMPACT | JSON_SORT_KEYS);
        fprintf(stderr, "  reason %s %s\n", ccg_reason_code(d->reasons.items[i].reason), details ? details : "");
        free(details);
    }
}

/* One verification; fails unless the decision is allow. A NULL shared verifier means a fresh one. */
static ccg_result verify_once(ccg_snp_verifier *shared, const bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_verifier *fresh = NULL;
    ccg_snp_verifier *v = shared;
    ccg_decision d;
    ccg_decision_init(&d, "snp");
    if (v == NULL) {
        CCG_TRY(ccg_snp_verifier_new(&fresh));
        v = fresh;
    }
    CCG_TRY(ccg_snp_verify(v, in->report, in->report_len, &in->col, in->policy, in->now, &d));
    if (!d.allow) {
        print_reasons(&d);
        CCG_BAIL(CCG_R_INTERNAL_ERROR, "the benchmark report was denied");
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_decision_free(&d);
    ccg_snp_verifier_free(fresh);
    return result;
}

typedef enum { MODE_CACHED, MODE_UNCACHED, MODE_BARE } bench_mode;

static ccg_result run_for(bench_mode mode, ccg_snp_verifier *shared, const bench_input *in, double seconds,
                          bench_run *out)
{
    ccg_result result = CCG_FAILURE;
    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    double wall = wall0;
    memset(out, 0, sizeof(*out));
    while (wall - wall0 < seconds || out->count == 0) {
        if (mode == MODE_BARE) {
            CCG_TRY(bare_check_once(in));
        } else {
            CCG_TRY(verify_once(mode == MODE_CACHED ? shared : NULL, in));
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
        fprintf(stderr, "bench_snp_verify: '%s' is not a duration in seconds (0 < s <= 3600)\n", s);
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
    ccg_snp_verifier *v = NULL;
    bench_run warm, cached, uncached, bare;
    memset(&in, 0, sizeof(in));

    if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(argc > 3 ? stderr : stdout, "usage: bench_snp_verify [SECONDS [UNCACHED_SECONDS]]\n");
        return argc > 3 ? 2 : 0;
    }
    if ((argc > 1 && parse_seconds(argv[1], &seconds) != 0) ||
        (argc > 2 && parse_seconds(argv[2], &uncached_seconds) != 0)) {
        return 2;
    }
    ccg_error_clear();
    if (ccg_failed(load_input(&in))) {
        fprintf(stderr, "bench_snp_verify: cannot load %s/%s: %s: %s\n", vectors_dir(), VECTOR_DIR,
                ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        fprintf(stderr, "bench_snp_verify: run from the source tree, or set CCG_VECTORS to the vectors directory\n");
        goto cleanup;
    }
    if (ccg_failed(ccg_snp_verifier_new(&v)) || ccg_failed(run_for(MODE_CACHED, v, &in, WARMUP_SECONDS, &warm)) ||
        ccg_failed(run_for(MODE_CACHED, v, &in, seconds, &cached)) ||
        ccg_failed(run_for(MODE_BARE, NULL, &in, seconds, &bare)) ||
        ccg_failed(run_for(MODE_UNCACHED, NULL, &in, uncached_seconds, &uncached))) {
        fprintf(stderr, "bench_snp_verify: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        goto cleanup;
    }
    printf("bench_snp_verify: %s, now %s, default policy without a TCB baseline, collateral parsed once, every decision allow\n",
           VECTOR_DIR, BENCH_NOW);
    print_run("chain cached (one verifier):", &cached);
    print_run("uncached (fresh verifier):", &uncached);
    print_run("bare ECDSA P-384 check:", &bare);
    printf("cached verification / bare signature check: %.2f\n", rate(&bare) > 0 ? rate(&cached) / rate(&bare) : 0.0);
    printf("snp_verify_cached_per_s=%.1f\n", rate(&cached));
    printf("snp_verify_uncached_per_s=%.1f\n", rate(&uncached));
    printf("ecdsa_p384_bare_verify_per_s=%.1f\n", rate(&bare));
    rc = 0;
cleanup:
    ccg_snp_verifier_free(v);
    ccg_snp_collateral_free(&in.col);
    ccg_snp_policy_free(in.policy);
    OPENSSL_free(in.sig_der);
    free(in.report);
    return rc;
}
