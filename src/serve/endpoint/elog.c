/* The endpoint's log lines and small shared helpers. A line carries the correlation ID, the route, the
 * caller's name, the peer address, the reason code and the status; never a path, a header value, a
 * body or a completion (the request bytes are the caller's, and prompts are secret). */
#include "ep_internal.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/util.h"

uint64_t ep_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void ep_cid_new(char out[EP_CID_LEN + 1])
{
    uint8_t r[EP_CID_LEN / 2];
    if (RAND_bytes(r, sizeof(r)) != 1) {
        memset(r, 0, sizeof(r)); /* never reached in practice; an all-zero ID is still an ID */
    }
    ccg_hex_encode(r, sizeof(r), out);
}

void ep_count(struct ccg_endpoint *ep, uint64_t *counter)
{
    pthread_mutex_lock(&ep->lock);
    (*counter)++;
    pthread_mutex_unlock(&ep->lock);
}

/* Appends ,"key":"value" (JSON-escaped; anything outside printable ASCII as \u00XX) when value is set. */
static void put_str(char *line, size_t cap, size_t *len, const char *key, const char *v)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = *len;
    if (v == NULL || v[0] == 0 || n + strlen(key) + 6 >= cap) {
        return;
    }
    n += (size_t)snprintf(line + n, cap - n, "%s\"%s\":\"", n > 1 ? "," : "", key);
    for (const unsigned char *p = (const unsigned char *)v; *p != 0 && n + 8 < cap; p++) {
        if (*p == '"' || *p == '\\') {
            line[n++] = '\\';
            line[n++] = (char)*p;
        } else if (*p < 0x20 || *p > 0x7e) {
            memcpy(line + n, "\\u00", 4);
            line[n + 4] = hex[*p >> 4];
            line[n + 5] = hex[*p & 15];
            n += 6;
        } else {
            line[n++] = (char)*p;
        }
    }
    if (n + 2 < cap) {
        line[n++] = '"';
        *len = n;
    }
}

static void put_num(char *line, size_t cap, size_t *len, const char *key, long v)
{
    int k = snprintf(line + *len, cap - *len, "%s\"%s\":%ld", *len > 1 ? "," : "", key, v);
    if (k > 0 && *len + (size_t)k < cap) {
        *len += (size_t)k;
    }
}

/* One JSON line, keys in sorted order, in a single write. Built by hand: it is on every request's path. */
void ep_log(struct ccg_endpoint *ep, const ep_logrec *r)
{
    char ts[32], line[2048];
    size_t len = 1;
    int fd = ep->deps.log_fd >= 0 ? ep->deps.log_fd : STDERR_FILENO;
    line[0] = '{';
    ccg_time_format_rfc3339(ccg_time_now(), ts, sizeof(ts));
    put_str(line, sizeof(line), &len, "caller", r->caller);
    put_str(line, sizeof(line), &len, "correlation_id", r->cid);
    put_str(line, sizeof(line), &len, "detail", r->detail);
    put_str(line, sizeof(line), &len, "event", r->event);
    put_str(line, sizeof(line), &len, "level", r->level);
    put_str(line, sizeof(line), &len, "method", r->method);
    if (r->ms > 0) {
        put_num(line, sizeof(line), &len, "ms", r->ms);
    }
    put_str(line, sizeof(line), &len, "peer", r->peer);
    if (r->reason != CCG_R_OK) {
        put_str(line, sizeof(line), &len, "reason", ccg_reason_code(r->reason));
    }
    put_str(line, sizeof(line), &len, "route", r->route);
    if (r->status != 0) {
        put_num(line, sizeof(line), &len, "status", (long)r->status);
    }
    put_str(line, sizeof(line), &len, "ts", ts);
    line[len++] = '}';
    line[len++] = '\n';
    pthread_mutex_lock(&ep->log_lock);
    (void)!write(fd, line, len);
    pthread_mutex_unlock(&ep->log_lock);
}

json_t *ccg_endpoint_counters_json(const ccg_endpoint_counters *c)
{
    return json_pack("{sI sI sI sI sI sI sI sI sI sI sI sI sI sI sI sI}", "connections", (json_int_t)c->connections,
                     "handshake_failed", (json_int_t)c->handshake_failed, "too_many_connections",
                     (json_int_t)c->too_many_connections, "requests", (json_int_t)c->requests, "allowed",
                     (json_int_t)c->allowed, "path_blocked", (json_int_t)c->path_blocked, "caller_denied",
                     (json_int_t)c->caller_denied, "rate_limited", (json_int_t)c->rate_limited, "body_too_large",
                     (json_int_t)c->body_too_large, "request_timeout", (json_int_t)c->request_timeout,
                     "runner_unavailable", (json_int_t)c->runner_unavailable, "runner_errors",
                     (json_int_t)c->runner_errors, "evidence_served", (json_int_t)c->evidence_served,
                     "evidence_failed", (json_int_t)c->evidence_failed, "gateway_requests",
                     (json_int_t)c->gateway_requests, "request_invalid", (json_int_t)c->request_invalid);
}
