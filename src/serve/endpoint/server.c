/* The HTTP side of the endpoint: libmicrohttpd, one thread per bridged connection (a forwarded request
 * blocks its own thread only). Each request gets a correlation ID, returned in `ccgate-correlation-id`
 * and written in every log line about it. The decision (front.c) is taken when the headers are
 * complete, so a refused request is answered before its body is read; a body beyond body_max is 413
 * as soon as it passes the limit. Errors are JSON {"error":{"code","message","correlation_id"}} and
 * never echo a request byte. */
#include "ep_internal.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define CID_HEADER "ccgate-correlation-id"

typedef struct {
    ep_conn *conn;
    char cid[EP_CID_LEN + 1];
    ccg_endpoint_decision dec;
    uint8_t *body;
    size_t len, cap;
    int responded, too_large;
    uint64_t dropped;
    uint64_t start_ms;
    char method[16];
} ep_req;

/* The operator message of a reason, for the client: fixed text, no request bytes. */
struct MHD_Response *ep_error_response(ccg_reason reason, const char *cid)
{
    json_t *o = json_pack("{s{ssssss}}", "error", "code", ccg_reason_code(reason), "message",
                          ccg_reason_message(reason), "correlation_id", cid != NULL ? cid : "");
    char *text = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    struct MHD_Response *r;
    json_decref(o);
    if (text == NULL) {
        return NULL;
    }
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (cid != NULL) {
        MHD_add_response_header(r, CID_HEADER, cid);
    }
    return r;
}

char *ep_error_http(unsigned status, ccg_reason reason, const char *cid, size_t *len)
{
    json_t *o = json_pack("{s{ssssss}}", "error", "code", ccg_reason_code(reason), "message",
                          ccg_reason_message(reason), "correlation_id", cid);
    char *body = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    char *out = NULL;
    int n;
    json_decref(o);
    if (body == NULL) {
        return NULL;
    }
    n = asprintf(&out,
                 "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n" CID_HEADER
                 ": %s\r\nConnection: close\r\nContent-Length: %zu\r\n\r\n%s",
                 status, status == 408 ? "Request Timeout" : "Error", cid, strlen(body), body);
    free(body);
    if (n < 0) {
        return NULL;
    }
    *len = (size_t)n;
    return out;
}

static enum MHD_Result queue(struct MHD_Connection *mc, unsigned status, struct MHD_Response *r)
{
    enum MHD_Result ret;
    if (r == NULL) {
        return MHD_NO;
    }
    ret = MHD_queue_response(mc, status, r);
    MHD_destroy_response(r);
    return ret;
}

static void log_req(ep_req *rq, const char *level, ccg_reason reason, unsigned status, const char *detail)
{
    ep_logrec rec = {.level = level,
                     .event = "endpoint.request",
                     .cid = rq->cid,
                     .route = rq->dec.route != CCG_EP_ROUTE_NONE ? ccg_endpoint_route_name(rq->dec.route) : NULL,
                     .method = rq->dec.route != CCG_EP_ROUTE_NONE ? rq->method : NULL,
                     .caller = rq->dec.caller,
                     .peer = rq->conn != NULL ? rq->conn->peer : NULL,
                     .detail = detail,
                     .reason = reason,
                     .status = status,
                     .ms = (long)(ep_now_ms() - rq->start_ms)};
    if (rq->conn != NULL) {
        ep_log(rq->conn->ep, &rec);
    }
}

/* Counts a refusal under its reason. */
void ep_count_refusal(struct ccg_endpoint *ep, ccg_reason r)
{
    uint64_t *c = r == CCG_R_ENDPOINT_PATH_BLOCKED || r == CCG_R_ENDPOINT_GATEWAY_DISABLED ? &ep->counters.path_blocked
                  : r == CCG_R_ENDPOINT_BODY_TOO_LARGE                                       ? &ep->counters.body_too_large
                  : r == CCG_R_ENDPOINT_RATE_LIMITED                                         ? &ep->counters.rate_limited
                  : r == CCG_R_ENDPOINT_RUNNER_UNAVAILABLE ? &ep->counters.runner_unavailable
                  : r == CCG_R_ENDPOINT_RUNNER_TIMEOUT || r == CCG_R_ENDPOINT_RUNNER_ERROR ? &ep->counters.runner_errors
                  : r == CCG_R_ENDPOINT_EVIDENCE_UNAVAILABLE                               ? &ep->counters.evidence_failed
                  : r == CCG_R_ENDPOINT_CALLER_NOT_ALLOWED || r == CCG_R_ENDPOINT_CERT_UNTRUSTED ||
                          r == CCG_R_ENDPOINT_CERT_EXPIRED
                      ? &ep->counters.caller_denied
                      : &ep->counters.request_invalid;
    ep_count(ep, c);
}

static enum MHD_Result refuse(struct MHD_Connection *mc, ep_req *rq, ccg_reason reason, unsigned status,
                              const char *detail)
{
    rq->responded = 1;
    if (rq->conn != NULL) {
        ep_conn_set_phase(rq->conn, EP_PROCESSING);
        ep_count_refusal(rq->conn->ep, reason);
    }
    log_req(rq, "warning", reason, status, detail);
    return queue(mc, status, ep_error_response(reason, rq->cid));
}

static enum MHD_Result reply_json(struct MHD_Connection *mc, ep_req *rq, unsigned status, char *text)
{
    struct MHD_Response *r;
    if (text == NULL) {
        return MHD_NO;
    }
    r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, CID_HEADER, rq->cid);
    log_req(rq, "info", CCG_R_OK, status, NULL);
    return queue(mc, status, r);
}

/* Strict Content-Length: digits only, no overflow. */
static int content_length(struct MHD_Connection *mc, uint64_t *out)
{
    const char *v = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    uint64_t n = 0;
    if (v == NULL) {
        return 0;
    }
    for (; *v >= '0' && *v <= '9'; v++) {
        if (n > (UINT64_MAX - 9) / 10) {
            n = UINT64_MAX;
            break;
        }
        n = n * 10 + (uint64_t)(*v - '0');
    }
    *out = n;
    return 1;
}

static ep_conn *conn_of(struct MHD_Connection *mc)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? (ep_conn *)ci->socket_context : NULL;
}

static enum MHD_Result first_call(struct ccg_endpoint *ep, struct MHD_Connection *mc, ep_req *rq, const char *url,
                                  const char *method)
{
    ccg_endpoint_request in;
    uint64_t now = ep_now_ms();
    char who[CCG_EP_CALLER_NAME_MAX + 80];
    memset(&in, 0, sizeof(in));
    if (ep_value_count(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION) > 1 ||
        ep_value_count(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH) > 1) {
        return refuse(mc, rq, CCG_R_ENDPOINT_REQUEST_INVALID, 400, "a header given twice");
    }
    in.method = method;
    in.path = url;
    in.authorization = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    in.has_content_length = content_length(mc, &in.content_length);
    in.cert_present = rq->conn->cert_present;
    in.cert_error = rq->conn->cert_error;
    in.cert_name = rq->conn->cert_name;
    ccg_endpoint_decide(ep->cfg, &in, &rq->dec);
    if (rq->dec.reason != CCG_R_OK) {
        return refuse(mc, rq, rq->dec.reason, rq->dec.status, rq->dec.detail);
    }
    /* Rate limits: per caller on the forwarded routes, per address on the unauthenticated ones that cost. */
    who[0] = 0;
    if (rq->dec.caller[0] != 0) {
        snprintf(who, sizeof(who), "%s", rq->dec.caller);
        if (!ccg_endpoint_limiter_take(ep->callers, who, now)) {
            return refuse(mc, rq, CCG_R_ENDPOINT_RATE_LIMITED, 429, "caller");
        }
    } else if (rq->dec.route == CCG_EP_ROUTE_EVIDENCE || rq->dec.route == CCG_EP_ROUTE_OHTTP) {
        snprintf(who, sizeof(who), "addr:%s", rq->conn->peer);
        if (!ccg_endpoint_limiter_take(ep->addresses, who, now)) {
            return refuse(mc, rq, CCG_R_ENDPOINT_RATE_LIMITED, 429, "address");
        }
    }
    return MHD_YES;
}

static enum MHD_Result upload(struct ccg_endpoint *ep, ep_req *rq, const char *data,
                              size_t *size)
{
    size_t n = *size;
    *size = 0;
    if (rq->responded) {
        return MHD_YES; /* the answer is queued; MHD discards the rest and closes */
    }
    if (rq->too_large || n > ep->cfg->body_max - rq->len) {
        /* MHD cannot answer in the middle of a body: the rest is read and dropped (the request deadline
         * still runs), and the 413 goes out when the body ends. A client that keeps sending far beyond
         * the limit is cut. */
        rq->too_large = 1;
        rq->dropped += n;
        return rq->dropped > 16 * (uint64_t)ep->cfg->body_max + (1u << 20) ? MHD_NO : MHD_YES;
    }
    if (rq->len + n > rq->cap) {
        size_t cap = rq->cap == 0 ? 4096 : rq->cap;
        uint8_t *b;
        while (cap < rq->len + n) {
            cap *= 2;
        }
        b = realloc(rq->body, cap);
        if (b == NULL) {
            return MHD_NO;
        }
        rq->body = b;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, n);
    rq->len += n;
    return MHD_YES;
}

static enum MHD_Result readyz(struct ccg_endpoint *ep, struct MHD_Connection *mc, ep_req *rq)
{
    ep_fwd_request f = {.method = "GET", .path = "/healthz", .cid = rq->cid, .conn = rq->conn};
    unsigned st = 0;
    uint8_t *body = NULL;
    size_t len = 0;
    char ctype[64];
    int ok = ccg_ok(ep_forward_buffered(ep, &f, 2000, &st, &body, &len, ctype, sizeof(ctype))) && st == 200;
    free(body);
    if (!ok) {
        ccg_error_clear();
        return refuse(mc, rq, CCG_R_ENDPOINT_RUNNER_UNAVAILABLE, 503, "readyz");
    }
    return reply_json(mc, rq, 200, strdup("{\"status\":\"ready\"}"));
}

static enum MHD_Result dispatch(struct ccg_endpoint *ep, struct MHD_Connection *mc, ep_req *rq)
{
    ccg_reason outcome = CCG_R_OK;
    unsigned status = 0;
    enum MHD_Result ret;
    const char *ct;
    ep_fwd_request f;
    rq->responded = 1;
    switch (rq->dec.route) {
    case CCG_EP_ROUTE_HEALTHZ:
        return reply_json(mc, rq, 200, strdup("{\"status\":\"ok\"}"));
    case CCG_EP_ROUTE_READYZ:
        return readyz(ep, mc, rq);
    case CCG_EP_ROUTE_EVIDENCE:
        ret = ep_evidence_route(ep, mc, rq->conn, rq->cid, &outcome, &status);
        break;
    case CCG_EP_ROUTE_OHTTP:
        ret = ep_gateway_route(ep, mc, rq->body, rq->len, rq->cid, &outcome, &status, rq->dec.caller,
                               sizeof(rq->dec.caller));
        break;
    default:
        ct = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
        memset(&f, 0, sizeof(f));
        f.method = rq->method;
        f.path = rq->dec.route == CCG_EP_ROUTE_CHAT          ? "/v1/chat/completions"
                 : rq->dec.route == CCG_EP_ROUTE_COMPLETIONS ? "/v1/completions"
                                                             : "/v1/models";
        f.content_type = ct != NULL && strncmp(ct, "application/json", 16) == 0 ? "application/json" : NULL;
        f.cid = rq->cid;
        f.body = rq->body;
        f.body_len = rq->len;
        f.conn = rq->conn;
        ret = ep_forward(ep, mc, &f, &outcome, &status);
        break;
    }
    if (outcome != CCG_R_OK) {
        ep_count_refusal(ep, outcome);
        log_req(rq, "warning", outcome, status, NULL);
    } else {
        ep_count(ep, rq->dec.route == CCG_EP_ROUTE_EVIDENCE ? &ep->counters.evidence_served : &ep->counters.allowed);
        log_req(rq, "info", CCG_R_OK, status, NULL);
    }
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url, const char *method,
                               const char *version, const char *data, size_t *size, void **con_cls)
{
    struct ccg_endpoint *ep = cls;
    ep_req *rq = *con_cls;
    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        if (rq == NULL) {
            return MHD_NO;
        }
        *con_cls = rq;
        rq->conn = conn_of(mc);
        rq->start_ms = ep_now_ms();
        ep_cid_new(rq->cid);
        snprintf(rq->method, sizeof(rq->method), "%s", strlen(method) < sizeof(rq->method) ? method : "?");
        ep_count(ep, &ep->counters.requests);
        if (rq->conn == NULL) {
            return MHD_NO; /* not a bridged connection: never happens */
        }
        ep_conn_request_started(rq->conn); /* a pipelined request arrived while the last was answered */
        return first_call(ep, mc, rq, url, method);
    }
    if (*size > 0) {
        return upload(ep, rq, data, size);
    }
    if (rq->responded) {
        return MHD_YES;
    }
    if (rq->too_large) {
        return refuse(mc, rq, CCG_R_ENDPOINT_BODY_TOO_LARGE, 413, "body");
    }
    ep_conn_set_phase(rq->conn, EP_PROCESSING);
    return dispatch(ep, mc, rq);
}

static void completed(void *cls, struct MHD_Connection *mc, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    ep_req *rq = *con_cls;
    (void)cls;
    (void)mc;
    (void)toe;
    if (rq == NULL) {
        return;
    }
    if (rq->conn != NULL) {
        ep_conn_set_phase(rq->conn, EP_IDLE);
    }
    free(rq->body);
    free(rq);
    *con_cls = NULL;
}

/* MHD's connection finds the bridged connection by its descriptor and holds a reference until closed. */
static void notify(void *cls, struct MHD_Connection *mc, void **socket_context, enum MHD_ConnectionNotificationCode toe)
{
    struct ccg_endpoint *ep = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CONNECTION_FD);
        pthread_mutex_lock(&ep->lock);
        for (ep_conn *c = ep->conns; ci != NULL && c != NULL; c = c->next) {
            if (c->mhd_fd == ci->connect_fd && !c->claimed) {
                c->claimed = 1;
                c->refs++;
                *socket_context = c;
                break;
            }
        }
        pthread_mutex_unlock(&ep->lock);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context != NULL) {
        ep_conn_release(*socket_context);
        *socket_context = NULL;
    }
}

/* Nothing is decoded: the handler sees the request-target exactly as sent, and refuses '%'. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

ccg_result ep_mhd_start(struct ccg_endpoint *ep)
{
    ccg_result result = CCG_FAILURE;
    /* MHD's own inactivity timeout is only a backstop (the pump enforces the idle and request deadlines):
     * it must outlast a forwarded request that blocks this connection's thread for runner_timeout_s. */
    unsigned idle_s = ep->cfg->idle_timeout_ms / 1000 + ep->cfg->runner_timeout_s + 10;
    ep->mhd = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                                   MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ITC,
                               0, NULL, NULL, handler, ep, MHD_OPTION_NOTIFY_CONNECTION, notify, ep,
                               MHD_OPTION_NOTIFY_COMPLETED, completed, ep, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape,
                               NULL, MHD_OPTION_CONNECTION_LIMIT, ep->cfg->max_connections + 4,
                               MHD_OPTION_CONNECTION_TIMEOUT, idle_s, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
                               (size_t)(64 * 1024), MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
                               MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024), MHD_OPTION_END);
    CCG_ENSURE_MSG(ep->mhd != NULL, CCG_R_ENDPOINT_TLS_SETUP_FAILED, "libmicrohttpd did not start");
    result = CCG_SUCCESS;
cleanup:
    return result;
}
