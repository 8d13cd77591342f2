/* /metrics in Prometheus text format: requests per endpoint and status class, releases, denials by
 * reason code, and a latency histogram per endpoint. Lock-free counters (C11 atomics); labels are
 * fixed strings and registry codes only, never identifiers a client chose. */
#include "kbs_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ccgate/version.h"

static const char *const ENDPOINTS[KBS_EP_COUNT] = {"auth", "attest", "resource", "health", "metrics", "other"};
static const double BUCKETS[KBS_BUCKETS] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};

kbs_endpoint kbs_endpoint_of(const char *path)
{
    if (strcmp(path, "/kbs/v0/auth") == 0) {
        return KBS_EP_AUTH;
    }
    if (strcmp(path, "/kbs/v0/attest") == 0) {
        return KBS_EP_ATTEST;
    }
    if (strncmp(path, "/kbs/v0/resource/", 17) == 0) {
        return KBS_EP_RESOURCE;
    }
    if (strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0) {
        return KBS_EP_HEALTH;
    }
    if (strcmp(path, "/metrics") == 0) {
        return KBS_EP_METRICS;
    }
    return KBS_EP_OTHER;
}

void kbs_metrics_observe(kbs_metrics *m, kbs_endpoint ep, unsigned status, double seconds)
{
    unsigned cls = status / 100;
    if (cls < 1 || cls > 5) {
        cls = 5;
    }
    atomic_fetch_add(&m->requests[ep][cls - 1], 1);
    for (size_t i = 0; i < KBS_BUCKETS; i++) {
        if (seconds <= BUCKETS[i]) {
            atomic_fetch_add(&m->latency[ep][i], 1);
        }
    }
    atomic_fetch_add(&m->latency_count[ep], 1);
    atomic_fetch_add(&m->latency_sum_us[ep], (uint64_t)(seconds * 1e6));
}

void kbs_metrics_denial(kbs_metrics *m, const ccg_reasons *reasons)
{
    for (size_t i = 0; i < reasons->count; i++) {
        if ((size_t)reasons->items[i].reason < CCG_R__COUNT) {
            atomic_fetch_add(&m->denials[reasons->items[i].reason], 1);
        }
    }
}

typedef struct {
    char *p;
    size_t len, cap;
    int oom;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (t->oom) {
        return;
    }
    for (;;) {
        va_start(ap, fmt);
        n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->oom = 1;
            return;
        }
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n + 1;
        char *g = realloc(t->p, cap);
        if (g == NULL) {
            t->oom = 1;
            return;
        }
        t->p = g;
        t->cap = cap;
    }
}

/* A label value as Prometheus's text format wants it: backslash, quote and newline escaped. */
static void label_value(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in != 0 && o + 3 < cap; in++) {
        if (*in == '\\' || *in == '"') {
            out[o++] = '\\';
            out[o++] = *in;
        } else if (*in == '\n') {
            out[o++] = '\\';
            out[o++] = 'n';
        } else {
            out[o++] = *in;
        }
    }
    out[o] = 0;
}

char *kbs_metrics_render(kbs_metrics *m, size_t *len)
{
    char version[64], revision[96], openssl[160];
    static const char *const classes[5] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    text t = {malloc(4096), 0, 4096, 0};
    if (t.p == NULL) {
        return NULL;
    }
    t.p[0] = 0;
    label_value(ccg_version(), version, sizeof(version));
    label_value(ccg_git_revision(), revision, sizeof(revision));
    label_value(OpenSSL_version(OPENSSL_VERSION), openssl, sizeof(openssl));
    /* The Prometheus convention for what is running: constant 1, the facts in the labels. */
    put(&t, "# HELP ccgate_build_info The ccgate build serving: version, git revision and OpenSSL in use.\n"
            "# TYPE ccgate_build_info gauge\nccgate_build_info{version=\"%s\",revision=\"%s\",openssl=\"%s\"} 1\n",
        version, revision, openssl);
    put(&t, "# HELP ccgate_kbs_requests_total HTTP requests by endpoint and status class.\n"
            "# TYPE ccgate_kbs_requests_total counter\n");
    for (int e = 0; e < KBS_EP_COUNT; e++) {
        for (int c = 0; c < 5; c++) {
            uint64_t v = atomic_load(&m->requests[e][c]);
            if (v != 0) {
                put(&t, "ccgate_kbs_requests_total{endpoint=\"%s\",code=\"%s\"} %llu\n", ENDPOINTS[e], classes[c],
                    (unsigned long long)v);
            }
        }
    }
    put(&t, "# HELP ccgate_kbs_releases_total Keys released.\n# TYPE ccgate_kbs_releases_total counter\n"
            "ccgate_kbs_releases_total %llu\n",
        (unsigned long long)atomic_load(&m->releases));
    put(&t, "# HELP ccgate_kbs_tokens_issued_total Attestation tokens issued.\n"
            "# TYPE ccgate_kbs_tokens_issued_total counter\nccgate_kbs_tokens_issued_total %llu\n",
        (unsigned long long)atomic_load(&m->tokens));
    put(&t, "# HELP ccgate_kbs_session_records_reused_total Resource requests that used the session record this "
            "instance parsed at attestation, the store holding the same text.\n"
            "# TYPE ccgate_kbs_session_records_reused_total counter\nccgate_kbs_session_records_reused_total %llu\n",
        (unsigned long long)atomic_load(&m->records_reused));
    put(&t, "# HELP ccgate_kbs_denials_total Denials and failures by reason code.\n"
            "# TYPE ccgate_kbs_denials_total counter\n");
    for (size_t r = 0; r < CCG_R__COUNT; r++) {
        uint64_t v = atomic_load(&m->denials[r]);
        if (v != 0) {
            put(&t, "ccgate_kbs_denials_total{reason=\"%s\"} %llu\n", ccg_reason_code((ccg_reason)r),
                (unsigned long long)v);
        }
    }
    put(&t, "# HELP ccgate_kbs_request_duration_seconds Request latency by endpoint.\n"
            "# TYPE ccgate_kbs_request_duration_seconds histogram\n");
    for (int e = 0; e < KBS_EP_COUNT; e++) {
        uint64_t count = atomic_load(&m->latency_count[e]);
        if (count == 0) {
            continue;
        }
        for (size_t i = 0; i < KBS_BUCKETS; i++) {
            put(&t, "ccgate_kbs_request_duration_seconds_bucket{endpoint=\"%s\",le=\"%g\"} %llu\n", ENDPOINTS[e],
                BUCKETS[i], (unsigned long long)atomic_load(&m->latency[e][i]));
        }
        put(&t, "ccgate_kbs_request_duration_seconds_bucket{endpoint=\"%s\",le=\"+Inf\"} %llu\n", ENDPOINTS[e],
            (unsigned long long)count);
        put(&t, "ccgate_kbs_request_duration_seconds_sum{endpoint=\"%s\"} %.6f\n", ENDPOINTS[e],
            (double)atomic_load(&m->latency_sum_us[e]) / 1e6);
        put(&t, "ccgate_kbs_request_duration_seconds_count{endpoint=\"%s\"} %llu\n", ENDPOINTS[e],
            (unsigned long long)count);
    }
    if (t.oom) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
