/* Benchmark of the attested connection set-up (scripts/bench-endpoint.sh; not a timed test).
 *
 * Each round is what a client does before its first prompt: a new client, a new TLS 1.3 connection to the
 * endpoint, GET /.well-known/ccgate/evidence with a fresh nonce (the endpoint asks its attester for a report
 * bound to the nonce and this session's exporter), the SNP verification under the client's policy and the
 * binding check (ccg_client_attest). p50 and p99 over the rounds. The anchor, in the same run against the
 * same endpoint, is a plain connection: a new TLS 1.3 connection and GET /healthz, nothing verified. The
 * difference is the price of attestation (the endpoint's attester signing a report, its transfer, and the
 * client's verification).
 *
 * usage: bench_endpoint_attest URL ARK_PEM POLICY_JSON [ROUNDS]   (default 200)
 * The last lines are key=value: rounds, setup_p50_ms, setup_p99_ms, plain_p50_ms, plain_p99_ms. */
#include <curl/curl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/endpoint_client.h"
#include "ccgate/error.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_verify.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        goto done;
    }
    buf = malloc((size_t)n + 1);
    if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
        goto done;
    }
    if (buf != NULL) {
        buf[n] = 0;
        *len = (size_t)n;
    }
done:
    if (f != NULL) {
        fclose(f);
    }
    return buf;
}

static int load_trust(const char *ark_path, const char *policy_path, ccg_snp_verifier **v, ccg_snp_policy **p)
{
    FILE *f = fopen(ark_path, "r");
    X509 *ark = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    size_t len = 0;
    char *json = read_text(policy_path, &len);
    int rc = -1;
    if (f != NULL) {
        fclose(f);
    }
    if (ark != NULL && json != NULL && ccg_ok(ccg_snp_verifier_new(v)) &&
        ccg_ok(ccg_snp_verifier_add_root(*v, CCG_SNP_PRODUCT_MILAN, ark)) &&
        ccg_ok(ccg_snp_policy_parse(json, len, p))) {
        rc = 0;
    }
    X509_free(ark);
    free(json);
    return rc;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

/* The anchor: a new TLS connection and GET /healthz per round, nothing verified. */
static int plain_rounds(const char *url, int rounds, double *samples)
{
    char health[512];
    snprintf(health, sizeof(health), "%s/healthz", url);
    for (int i = 0; i < rounds; i++) {
        CURL *h = curl_easy_init();
        long status = 0;
        double t0 = now_s();
        CURLcode rc;
        if (h == NULL) {
            return -1;
        }
        curl_easy_setopt(h, CURLOPT_URL, health);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
        curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
        rc = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_cleanup(h);
        if (rc != CURLE_OK || status != 200) {
            fprintf(stderr, "bench_endpoint_attest: GET /healthz: curl %d, status %ld\n", (int)rc, status);
            return -1;
        }
        samples[i] = now_s() - t0;
    }
    qsort(samples, (size_t)rounds, sizeof(*samples), compare_double);
    return 0;
}

int main(int argc, char **argv)
{
    ccg_snp_verifier *verifier = NULL;
    ccg_snp_policy *policy = NULL;
    int rounds = argc > 4 ? atoi(argv[4]) : 200;
    double *samples;
    int done = 0;
    if (argc < 4 || rounds <= 0) {
        fprintf(stderr, "usage: bench_endpoint_attest URL ARK_PEM POLICY_JSON [ROUNDS]\n");
        return 2;
    }
    if (load_trust(argv[2], argv[3], &verifier, &policy) != 0) {
        fprintf(stderr, "bench_endpoint_attest: the trust root or the policy: %s\n", ccg_error_last()->message);
        return 2;
    }
    samples = calloc((size_t)rounds, sizeof(*samples));
    ccg_client_trust trust = {.snp = verifier, .snp_policy = policy};
    ccg_client_config cfg = {.endpoint = argv[1], .trust = &trust};
    for (int i = 0; samples != NULL && i < rounds; i++) {
        ccg_client *c = NULL;
        ccg_decision d;
        double t0 = now_s();
        ccg_decision_init(&d, "endpoint");
        if (ccg_failed(ccg_client_new(&cfg, &c)) || ccg_failed(ccg_client_attest(c, &d))) {
            fprintf(stderr, "bench_endpoint_attest: round %d: %s: %s\n", i, ccg_reason_code(ccg_error_last()->reason),
                    ccg_error_last()->message);
            ccg_decision_free(&d);
            ccg_client_free(c);
            break;
        }
        samples[done++] = now_s() - t0;
        ccg_decision_free(&d);
        ccg_client_free(c);
    }
    if (done == rounds) {
        qsort(samples, (size_t)done, sizeof(*samples), compare_double);
        printf("rounds=%d\nsetup_p50_ms=%.3f\nsetup_p99_ms=%.3f\n", done, samples[done / 2] * 1e3,
               samples[(size_t)((double)(done - 1) * 0.99)] * 1e3);
        if (plain_rounds(argv[1], rounds, samples) != 0) {
            done = 0;
        } else {
            printf("plain_p50_ms=%.3f\nplain_p99_ms=%.3f\n", samples[rounds / 2] * 1e3,
                   samples[(size_t)((double)(rounds - 1) * 0.99)] * 1e3);
        }
    }
    free(samples);
    ccg_snp_policy_free(policy);
    ccg_snp_verifier_free(verifier);
    return done == rounds ? 0 : 1;
}
