/* Benchmark: Intel TDX quote verifications per second on one core (not a timed test; `make bench`).
 *
 * Verifies dcap-qvl's real v4 quote with its Intel collateral (tdx/dcapqvl under $CCG_VECTORS or
 * tests/vectors) at now = 2025-07-19T10:00:34Z under the default policy (UpToDate, no advisories): the
 * decision must be allow. The collateral is parsed once and one verifier is reused, so after the first
 * call the collateral's chains, CRLs, TCB info and QE identity (signatures and parsing) and the quote's
 * PCK chain come from the verifier's cache (docs/tdx-quote.md, "Verified-collateral cache"); each call
 * still parses the quote, checks every certificate and collateral window and the revocation of the PCK
 * and its CA at `now`, verifies the QE report signature and the quote signature (two ECDSA P-256
 * verifications), the QE binding and identity, evaluates the TCB levels, applies the policy and builds
 * the claims.
 *
 * The cached verifications and the bare pair below run in alternating slices of the run. For context
 * the same is measured with a fresh verifier per call (every signature of the chain and the
 * collateral checked again: fifteen ECDSA P-256 verifications), and the bare pair: the two signatures a
 * cached verification needs, checked with OpenSSL directly (EVP_PKEY_verify over a precomputed SHA-256,
 * the keys and contexts prepared once, as `openssl speed` measures).
 *
 * usage: bench_tdx_verify [SECONDS [UNCACHED_SECONDS]]   (defaults 3 and 1)
 *
 * Rates are per CPU second of this process (CLOCK_PROCESS_CPUTIME_ID), as `openssl speed` counts CPU
 * time; the run length is wall time. The last lines are key=value for scripts/bench-tdx.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ccgate/ecdsa_raw.h"
#include "ccgate/tdx_collateral.h"
#include "ccgate/tdx_quote.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/util.h"
#include "ccgate/x509util.h"

#define QUOTE_FILE "tdx/dcapqvl/tdx_quote"
#define COLLATERAL_FILE "tdx/dcapqvl/tdx_quote_collateral.json"
#define BENCH_NOW "2025-07-19T10:00:34Z"
#define WARMUP_SECONDS 0.3
#define MAX_FILE_BYTES (4u << 20)
#define SIGNATURES_PER_QUOTE 2 /* the quote's and the QE report's; the rest is cached */
#define INTERLEAVE_SLICES 10

typedef struct {
    uint8_t *quote;
    size_t quote_len;
    ccg_tdx_collateral col;
    ccg_time now;
    /* The bare pair: each key, the SHA-256 of what it signed, the DER signature, a prepared context. */
    EVP_PKEY *key[2];
    EVP_PKEY_CTX *ctx[2];
    uint8_t digest[2][32];
    uint8_t *sig[2];
    size_t sig_len[2];
} bench_input;

typedef struct {
    uint64_t count;
    double wall_s, cpu_s;
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

static ccg_result read_vector(const char *rel, uint8_t **out, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", vectors_dir(), rel);
    return ccg_file_read(path, MAX_FILE_BYTES, out, len);
}

/* The attestation key (X||Y) as an EVP_PKEY. */
static EVP_PKEY *p256_from_xy(const uint8_t xy[64])
{
    uint8_t point[65];
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    OSSL_PARAM params[3];
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    params[0] = OSSL_PARAM_construct_utf8_string("group", (char *)"prime256v1", 0);
    params[1] = OSSL_PARAM_construct_octet_string("pub", point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 || EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

static ccg_result prepare_one(bench_input *in, int i, EVP_PKEY *key, const uint8_t *msg, size_t len,
                              const uint8_t raw[64])
{
    ccg_result result = CCG_FAILURE;
    unsigned int n = 0;
    in->key[i] = key;
    CCG_ENSURE_OSSL(key != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_Digest(msg, len, in->digest[i], &n, EVP_sha256(), NULL) == 1 && n == 32,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_ecdsa_raw_to_der(raw, 32, &in->sig[i], &in->sig_len[i]));
    in->ctx[i] = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    CCG_ENSURE_OSSL(in->ctx[i] != NULL && EVP_PKEY_verify_init(in->ctx[i]) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The bare pair's inputs, from the quote itself: the quote signature under the attestation key, the QE
 * report signature under the PCK key. */
static ccg_result prepare_bare(bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_quote q;
    STACK_OF(X509) *chain = sk_X509_new_null();
    CCG_ENSURE_ALLOC(chain);
    CCG_TRY(ccg_tdx_quote_parse(in->quote, in->quote_len, &q));
    CCG_TRY(prepare_one(in, 0, p256_from_xy(q.att_key), q.signed_data, q.signed_len, q.signature));
    CCG_TRY(ccg_x509_load_bundle(q.pck_chain, q.pck_chain_len, chain));
    EVP_PKEY *pck = X509_get_pubkey(sk_X509_value(chain, 0));
    CCG_TRY(prepare_one(in, 1, pck, q.qe_report_raw, CCG_TDX_QE_REPORT_SIZE, q.qe_report_sig));
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(chain, X509_free);
    return result;
}

static ccg_result load_input(bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    CCG_TRY(ccg_time_parse_rfc3339(BENCH_NOW, &in->now));
    CCG_TRY(read_vector(QUOTE_FILE, &in->quote, &in->quote_len));
    CCG_TRY(read_vector(COLLATERAL_FILE, &text, &len));
    CCG_TRY(ccg_tdx_collateral_parse((const char *)text, len, &in->col));
    CCG_TRY(prepare_bare(in));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static ccg_result bare_pair_once(const bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    for (int i = 0; i < 2; i++) {
        CCG_ENSURE_OSSL(EVP_PKEY_verify(in->ctx[i], in->sig[i], in->sig_len[i], in->digest[i], 32) == 1,
                        CCG_R_TDX_QUOTE_SIGNATURE_INVALID);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result verify_once(const ccg_tdx_verifier *shared, const bench_input *in)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_verifier *fresh = NULL;
    const ccg_tdx_verifier *v = shared;
    ccg_tdx_result r;
    memset(&r, 0, sizeof(r));
    if (v == NULL) {
        CCG_TRY(ccg_tdx_verifier_new(&fresh));
        v = fresh;
    }
    CCG_TRY(ccg_tdx_verify(v, in->quote, in->quote_len, &in->col, NULL, NULL, in->now, &r));
    if (!r.decision.allow) {
        for (size_t i = 0; i < r.decision.reasons.count; i++) {
            fprintf(stderr, "  reason %s\n", ccg_reason_code(r.decision.reasons.items[i].reason));
        }
        CCG_BAIL(CCG_R_INTERNAL_ERROR, "the benchmark quote was denied");
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_result_free(&r);
    ccg_tdx_verifier_free(fresh);
    return result;
}

typedef enum { MODE_CACHED, MODE_UNCACHED, MODE_BARE } bench_mode;

static ccg_result run_for(bench_mode mode, const ccg_tdx_verifier *shared, const bench_input *in, double seconds,
                          bench_run *out)
{
    ccg_result result = CCG_FAILURE;
    double wall0 = clock_s(CLOCK_MONOTONIC), cpu0 = clock_s(CLOCK_PROCESS_CPUTIME_ID), wall = wall0;
    memset(out, 0, sizeof(*out));
    while (wall - wall0 < seconds || out->count == 0) {
        if (mode == MODE_BARE) {
            CCG_TRY(bare_pair_once(in));
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

/* The cached verification and the bare pair in alternating slices, so that a change in the machine's
 * load during the run weighs on both alike. */
static ccg_result run_interleaved(const ccg_tdx_verifier *v, const bench_input *in, double seconds, bench_run *cached,
                                  bench_run *bare)
{
    ccg_result result = CCG_FAILURE;
    bench_run slice;
    memset(cached, 0, sizeof(*cached));
    memset(bare, 0, sizeof(*bare));
    for (int i = 0; i < INTERLEAVE_SLICES; i++) {
        CCG_TRY(run_for(MODE_CACHED, v, in, seconds / INTERLEAVE_SLICES, &slice));
        cached->count += slice.count;
        cached->wall_s += slice.wall_s;
        cached->cpu_s += slice.cpu_s;
        CCG_TRY(run_for(MODE_BARE, NULL, in, seconds / INTERLEAVE_SLICES, &slice));
        bare->count += slice.count;
        bare->wall_s += slice.wall_s;
        bare->cpu_s += slice.cpu_s;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static double rate(const bench_run *r) { return r->cpu_s > 0 ? (double)r->count / r->cpu_s : 0.0; }

static void print_run(const char *label, const char *what, const bench_run *r)
{
    double us = r->count ? 1e6 * r->cpu_s / (double)r->count : 0.0;
    printf("%-32s %8llu %s in %.2f s wall, %.2f s cpu: %.1f/s (%.1f us each)\n", label, (unsigned long long)r->count,
           what, r->wall_s, r->cpu_s, rate(r), us);
}

static int parse_seconds(const char *s, double *out)
{
    char *end = NULL;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || !(v > 0.0 && v <= 3600.0)) {
        fprintf(stderr, "bench_tdx_verify: '%s' is not a duration in seconds (0 < s <= 3600)\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static void input_free(bench_input *in)
{
    for (int i = 0; i < 2; i++) {
        EVP_PKEY_CTX_free(in->ctx[i]);
        EVP_PKEY_free(in->key[i]);
        OPENSSL_free(in->sig[i]);
    }
    ccg_tdx_collateral_free(&in->col);
    free(in->quote);
}

int main(int argc, char **argv)
{
    int rc = 1;
    double seconds = 3.0, uncached_seconds = 1.0;
    bench_input in;
    ccg_tdx_verifier *v = NULL;
    bench_run warm, cached, uncached, bare;
    memset(&in, 0, sizeof(in));
    if (argc > 3 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        fprintf(argc > 3 ? stderr : stdout, "usage: bench_tdx_verify [SECONDS [UNCACHED_SECONDS]]\n");
        return argc > 3 ? 2 : 0;
    }
    if ((argc > 1 && parse_seconds(argv[1], &seconds) != 0) ||
        (argc > 2 && parse_seconds(argv[2], &uncached_seconds) != 0)) {
        return 2;
    }
    ccg_error_clear();
    if (ccg_failed(load_input(&in))) {
        fprintf(stderr, "bench_tdx_verify: cannot load %s/%s: %s: %s\n", vectors_dir(), QUOTE_FILE,
                ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        fprintf(stderr, "bench_tdx_verify: run from the source tree, or set CCG_VECTORS to the vectors directory\n");
        goto cleanup;
    }
    if (ccg_failed(ccg_tdx_verifier_new(&v)) || ccg_failed(run_for(MODE_CACHED, v, &in, WARMUP_SECONDS, &warm)) ||
        ccg_failed(run_interleaved(v, &in, seconds, &cached, &bare)) ||
        ccg_failed(run_for(MODE_UNCACHED, NULL, &in, uncached_seconds, &uncached))) {
        fprintf(stderr, "bench_tdx_verify: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        goto cleanup;
    }
    ccg_tdx_verifier_stats st;
    ccg_tdx_verifier_stats_get(v, &st);
    if (st.full != 1 || st.fast != warm.count + cached.count - 1) {
        fprintf(stderr, "bench_tdx_verify: the shared verifier took the full path %llu times (expected once)\n",
                (unsigned long long)st.full);
        goto cleanup;
    }
    printf("bench_tdx_verify: %s, now %s, default policy, collateral parsed once, every decision allow\n",
           QUOTE_FILE, BENCH_NOW);
    printf("the shared verifier: %llu verifications from the cache after 1 full one\n", (unsigned long long)st.fast);
    print_run("collateral cached (one verifier):", "verifications", &cached);
    print_run("uncached (fresh verifier):", "verifications", &uncached);
    print_run("bare pair (2 x ECDSA P-256):", "pairs", &bare);
    printf("cached verification / bare pair: %.2f\n", rate(&bare) > 0 ? rate(&cached) / rate(&bare) : 0.0);
    printf("tdx_verify_cached_per_s=%.1f\n", rate(&cached));
    printf("tdx_verify_uncached_per_s=%.1f\n", rate(&uncached));
    printf("ecdsa_p256_bare_pair_per_s=%.1f\n", rate(&bare));
    printf("signatures_per_quote=%d\n", SIGNATURES_PER_QUOTE);
    rc = 0;
cleanup:
    ccg_tdx_verifier_free(v);
    input_free(&in);
    return rc;
}
