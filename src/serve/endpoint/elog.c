/* The endpoint's log lines (the schema of include/ccgate/log.h) and small shared helpers. A line carries
 * the correlation ID, the route, the caller's name, the peer address, the reason code and the status;
 * never a path, a header value, a body or a completion (the request bytes are the caller's, and prompts
 * are secret). */
#include "ep_internal.h"

#include <jansson.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/log.h"
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

static void set_str(json_t *o, const char *k, const char *v)
{
    if (v != NULL && v[0] != 0) {
        json_object_set_new(o, k, json_string(v));
    }
}

static ccg_log_level level_of(const char *level)
{
    if (level == NULL || strcmp(level, "info") == 0) {
        return CCG_LOG_INFO;
    }
    if (strcmp(level, "error") == 0) {
        return CCG_LOG_ERROR;
    }
    return strncmp(level, "warn", 4) == 0 ? CCG_LOG_WARN : CCG_LOG_DEBUG;
}

/* A line for a descriptor of the embedder's (tests): the same schema as ccg_log_event, written here
 * because the process-wide logger has one descriptor. */
static void log_to_fd(struct ccg_endpoint *ep, ccg_log_level level, const char *event, const char *cid,
                      const json_t *fields)
{
    pthread_mutex_lock(&ep->log_lock);
    ccg_log_event_to(ep->deps.log_fd, "endpoint", level, event, cid, fields);
    pthread_mutex_unlock(&ep->log_lock);
}

/* One line in the schema of include/ccgate/log.h (component "endpoint"): the correlation ID is the
 * request_id (and stays as correlation_id, the name the error bodies use); then route, method, caller,
 * peer, detail, reason, status and ms when set. Every value is escaped by jansson. */
void ep_log(struct ccg_endpoint *ep, const ep_logrec *r)
{
    json_t *o = json_object();
    if (o == NULL) {
        return;
    }
    set_str(o, "correlation_id", r->cid);
    set_str(o, "route", r->route);
    set_str(o, "method", r->method);
    set_str(o, "caller", r->caller);
    set_str(o, "peer", r->peer);
    set_str(o, "detail", r->detail);
    if (r->reason != CCG_R_OK) {
        set_str(o, "reason", ccg_reason_code(r->reason));
    }
    if (r->status != 0) {
        json_object_set_new(o, "status", json_integer(r->status));
    }
    if (r->ms > 0) {
        json_object_set_new(o, "ms", json_integer(r->ms));
    }
    if (ep->deps.log_fd >= 0) {
        log_to_fd(ep, level_of(r->level), r->event, r->cid, o);
    } else {
        ccg_log_event(level_of(r->level), r->event, r->cid, o); /* the program's logger (ccgate-endpoint) */
    }
    json_decref(o);
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
