/* The local OpenAI-compatible proxy of `ccgate client proxy` (endpoint_client.h): libmicrohttpd on loopback,
 * one thread per local connection. Each attested upstream client has its own long-lived worker thread; a
 * complete local request is queued, the next free worker runs it, and the answer is handed back through a
 * bounded buffer that MHD's content reader drains (SSE passes straight through). No thread, pipe or
 * connection is made per request. A verification failure is a JSON error to the local caller, never a
 * fallback. */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/endpoint_client.h"
#include "ccgate/sse.h"
#include "client_internal.h"

#define DEFAULT_MAX_BODY (8u << 20)
#define MAX_POOL 64
#define OUT_HIGH (256u * 1024) /* the worker waits while the local caller is this far behind */
#define READER_BLOCK 16384

struct req;

typedef struct {
    const ccg_client_proxy_config *cfg;
    ccg_client *pool[MAX_POOL];
    pthread_t workers[MAX_POOL];
    unsigned n, started;
    pthread_mutex_t mu; /* the queue and stopping */
    pthread_cond_t cv;
    struct req *head, *tail; /* complete local requests waiting for a worker */
    volatile int stopping; /* the workers end once the queue is empty */
    volatile int closing;  /* the daemon stops: local connections stop waiting for answers */
} proxy;

/* One local request. */
typedef struct req {
    proxy *px;
    struct req *next; /* in the queue */
    cc_buf body;
    int too_large;
    char method[16];
    char path[64];
    char content_type[128];
    /* the worker's hand-over */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int head_ready; /* 1 head, -1 failed before a head */
    int status;
    char upstream_type[128];
    cc_buf out;      /* the answer's bytes not yet taken by the local connection */
    size_t out_off;
    int out_done;    /* the worker has written everything */
    int reader_gone; /* the local connection ended: the worker stops writing */
    ccg_reason reason;
    char message[320];
    json_t *reasons;
    ccg_sse_parser *sse; /* gateway mode: the stream body is re-framed event by event */
    int refs;            /* MHD's request, the worker's, the content reader's: the last one frees */
} req;

/* Waits on r->cv (r->mu held) for at most a tick: the daemon's stop is noticed. 0 once it stops. */
static int wait_tick(req *r)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_nsec += 100 * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    (void)pthread_cond_timedwait(&r->cv, &r->mu, &ts);
    return !r->px->closing;
}

static void req_release(req *r)
{
    pthread_mutex_lock(&r->mu);
    int last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) {
        json_decref(r->reasons);
        free(r->body.p);
        free(r->out.p);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
    }
}

/* Hands answer bytes to the local connection (waits while it is far behind); -1 once it is gone. */
static int out_write(req *r, const void *data, size_t len)
{
    int rc = 0;
    pthread_mutex_lock(&r->mu);
    while (!r->reader_gone && r->out.len - r->out_off > OUT_HIGH) {
        pthread_cond_wait(&r->cv, &r->mu);
    }
    if (r->reader_gone) {
        rc = -1;
    } else {
        if (r->out_off > 0 && r->out_off == r->out.len) {
            r->out.len = r->out_off = 0;
        }
        rc = ccg_ok(cc_buf_put(&r->out, data, len)) ? 0 : -1;
        pthread_cond_broadcast(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static void on_head(void *arg, int status, const char *content_type)
{
    req *r = arg;
    pthread_mutex_lock(&r->mu);
    r->status = status;
    snprintf(r->upstream_type, sizeof(r->upstream_type), "%s", content_type ? content_type : "application/json");
    if (r->sse != NULL && strncmp(r->upstream_type, "text/event-stream", 17) != 0) {
        /* gateway mode: only an event stream is re-framed; any other answer passes as it is */
        ccg_sse_parser_free(r->sse);
        r->sse = NULL;
    }
    r->head_ready = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int on_sse_event(void *arg, const ccg_sse_event *ev)
{
    req *r = arg;
    char head[96];
    if (ev->event[0] != 0) {
        snprintf(head, sizeof(head), "event: %s\n", ev->event);
        if (out_write(r, head, strlen(head)) != 0) {
            return 1;
        }
    }
    /* one "data:" line per line of the event's data */
    const char *p = ev->data, *end = ev->data + ev->data_len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (out_write(r, "data: ", 6) != 0 || out_write(r, p, n) != 0 || out_write(r, "\n", 1) != 0) {
            return 1;
        }
        p = nl ? nl + 1 : end;
    } while (p < end);
    return out_write(r, "\n", 1) != 0;
}

static int on_body(void *arg, const uint8_t *data, size_t len)
{
    req *r = arg;
    if (r->sse != NULL) {
        return ccg_failed(ccg_sse_feed(r->sse, data, len)) ? 1 : 0;
    }
    return out_write(r, data, len);
}

/* Runs one local request on this worker's upstream client. */
static void serve(proxy *px, ccg_client *c, req *r)
{
    ccg_decision d;
    ccg_client_sink sink = {on_head, on_body, r};
    ccg_decision_init(&d, "endpoint");
    ccg_error_clear();
    if (px->cfg->client->gateway && ccg_failed(ccg_sse_parser_new(on_sse_event, r, &r->sse))) {
        r->sse = NULL;
    }
    ccg_result res = ccg_client_request(c, r->method, r->path, r->content_type[0] ? r->content_type : NULL,
                                        r->body.p, r->body.len, &sink, &d);
    pthread_mutex_lock(&r->mu);
    if (ccg_failed(res) && r->head_ready == 0) {
        r->reason = ccg_error_reason();
        snprintf(r->message, sizeof(r->message), "%s", ccg_error_last()->message);
        r->reasons = json_array();
        for (size_t i = 0; r->reasons != NULL && i < d.reasons.count; i++) {
            json_array_append_new(r->reasons, json_string(ccg_reason_code(d.reasons.items[i].reason)));
        }
        r->head_ready = -1;
    }
    r->out_done = 1; /* the local answer ends here */
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    ccg_decision_free(&d);
    ccg_sse_parser_free(r->sse);
    r->sse = NULL;
}

typedef struct {
    proxy *px;
    unsigned slot;
} worker_arg;

/* One per upstream client, for the proxy's lifetime: takes queued requests in order. */
static void *worker(void *arg)
{
    worker_arg *wa = arg;
    proxy *px = wa->px;
    ccg_client *c = px->pool[wa->slot];
    free(wa);
    for (;;) {
        req *r;
        pthread_mutex_lock(&px->mu);
        while (px->head == NULL && !px->stopping) {
            pthread_cond_wait(&px->cv, &px->mu);
        }
        r = px->head;
        if (r == NULL) {
            pthread_mutex_unlock(&px->mu);
            return NULL; /* stopping, and nothing left */
        }
        px->head = r->next;
        if (px->head == NULL) {
            px->tail = NULL;
        }
        pthread_mutex_unlock(&px->mu);
        serve(px, c, r);
        req_release(r);
    }
}

static void enqueue(proxy *px, req *r)
{
    pthread_mutex_lock(&px->mu);
    r->next = NULL;
    if (px->tail != NULL) {
        px->tail->next = r;
    } else {
        px->head = r;
    }
    px->tail = r;
    pthread_cond_signal(&px->cv);
    pthread_mutex_unlock(&px->mu);
}

/* MHD pulls the answer: what the worker handed over, waiting for more while it runs. */
static ssize_t read_out(void *cls, uint64_t pos, char *buf, size_t max)
{
    req *r = cls;
    ssize_t n;
    (void)pos;
    pthread_mutex_lock(&r->mu);
    while (r->out_off == r->out.len && !r->out_done && wait_tick(r)) {
    }
    if (r->out_off < r->out.len) {
        size_t k = r->out.len - r->out_off < max ? r->out.len - r->out_off : max;
        memcpy(buf, r->out.p + r->out_off, k);
        r->out_off += k;
        n = (ssize_t)k;
        pthread_cond_broadcast(&r->cv); /* room for a worker waiting on OUT_HIGH */
    } else {
        n = r->out_done ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
    }
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* The local connection is done with the answer (ended or gone): the worker stops writing. */
static void reader_free(void *cls)
{
    req *r = cls;
    pthread_mutex_lock(&r->mu);
    r->reader_gone = 1;
    pthread_cond_broadcast(&r->cv);
    pthread_mutex_unlock(&r->mu);
    req_release(r);
}

static enum MHD_Result queue_json_error(struct MHD_Connection *conn, unsigned status, ccg_reason reason,
                                        const char *message, json_t *reasons)
{
    json_t *err = json_pack("{s:{s:s,s:s,s:s,s:o}}", "error", "code", ccg_reason_code(reason), "message",
                            message ? message : "", "type", "ccgate_client", "reasons",
                            reasons != NULL ? json_incref(reasons) : json_array());
    char *text = err ? json_dumps(err, JSON_COMPACT) : NULL;
    json_decref(err);
    if (text == NULL) {
        return MHD_NO;
    }
    struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static int route_allowed(const char *method, const char *url)
{
    return (strcmp(method, "POST") == 0 && (strcmp(url, "/v1/chat/completions") == 0 || strcmp(url, "/v1/completions") == 0)) ||
           (strcmp(method, "GET") == 0 && strcmp(url, "/v1/models") == 0);
}

/* Forwards a complete local request: waits for the upstream head (or the refusal), then streams. */
static enum MHD_Result forward(struct MHD_Connection *conn, req *r)
{
    enum MHD_Result ret;
    struct MHD_Response *resp;
    pthread_mutex_lock(&r->mu);
    r->refs++; /* the worker's */
    pthread_mutex_unlock(&r->mu);
    enqueue(r->px, r);
    pthread_mutex_lock(&r->mu);
    while (r->head_ready == 0 && wait_tick(r)) {
    }
    pthread_mutex_unlock(&r->mu);
    if (r->head_ready == 0) {
        return MHD_NO; /* the proxy stops */
    }
    if (r->head_ready < 0) {
        return queue_json_error(conn, 502, r->reason, r->message, r->reasons);
    }
    pthread_mutex_lock(&r->mu);
    r->refs++; /* the content reader's, dropped by reader_free */
    pthread_mutex_unlock(&r->mu);
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, READER_BLOCK, read_out, r, reader_free);
    if (resp == NULL) {
        reader_free(r);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r->upstream_type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    ret = MHD_queue_response(conn, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    proxy *px = cls;
    req *r = *con_cls;
    (void)version;
    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL) {
            return MHD_NO;
        }
        r->px = px;
        r->refs = 1;
        pthread_mutex_init(&r->mu, NULL);
        pthread_cond_init(&r->cv, NULL);
        snprintf(r->method, sizeof(r->method), "%s", method);
        snprintf(r->path, sizeof(r->path), "%s", url);
        const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
        snprintf(r->content_type, sizeof(r->content_type), "%s", ct && strpbrk(ct, "\r\n") == NULL ? ct : "");
        *con_cls = r;
        return MHD_YES;
    }
    size_t max = px->cfg->max_body ? px->cfg->max_body : DEFAULT_MAX_BODY;
    if (*upload_data_size > 0) {
        if (r->body.len + *upload_data_size > max || ccg_failed(cc_buf_put(&r->body, upload_data, *upload_data_size))) {
            r->too_large = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (!route_allowed(method, url) || strlen(url) >= sizeof(r->path)) {
        return queue_json_error(conn, 404, CCG_R_CLIENT_PATH_NOT_FORWARDED, "only the OpenAI-compatible routes are forwarded",
                                NULL);
    }
    if (r->too_large) {
        return queue_json_error(conn, 413, CCG_R_INPUT_TOO_LARGE, "the request body is over the proxy's bound", NULL);
    }
    return forward(conn, r);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    req *r = *con_cls;
    (void)cls, (void)conn, (void)toe;
    if (r == NULL) {
        return;
    }
    req_release(r);
    *con_cls = NULL;
}

static ccg_result listen_socket(const ccg_client_proxy_config *cfg, int *fd_out, unsigned *port_out)
{
    ccg_result result = CCG_FAILURE;
    int fd = -1, one = 1;
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    const char *host = cfg->listen_host ? cfg->listen_host : "127.0.0.1";
    if (strcmp(host, "::1") == 0) {
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
        a6->sin6_family = AF_INET6;
        a6->sin6_addr = in6addr_loopback;
        a6->sin6_port = htons((uint16_t)cfg->port);
        sl = sizeof(*a6);
    } else {
        struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
        a4->sin_family = AF_INET;
        CCG_ENSURE_MSG(inet_pton(AF_INET, host, &a4->sin_addr) == 1 && (ntohl(a4->sin_addr.s_addr) >> 24) == 127,
                       CCG_R_USAGE_INVALID, "the proxy listens on loopback only (127.0.0.0/8 or ::1), not %s", host);
        a4->sin_port = htons((uint16_t)cfg->port);
        sl = sizeof(*a4);
    }
    fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_USAGE_INVALID, "socket: %s", strerror(errno));
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    CCG_ENSURE_MSG(bind(fd, (struct sockaddr *)&ss, sl) == 0 && listen(fd, 64) == 0, CCG_R_USAGE_INVALID,
                   "cannot listen on %s:%u: %s", host, cfg->port, strerror(errno));
    sl = sizeof(ss);
    CCG_ENSURE_MSG(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0, CCG_R_USAGE_INVALID, "getsockname");
    *port_out = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *fd_out = fd;
    fd = -1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

ccg_result ccg_client_proxy_run(const ccg_client_proxy_config *cfg, volatile int *stop)
{
    ccg_result result = CCG_FAILURE;
    proxy px;
    struct MHD_Daemon *d = NULL;
    int fd = -1;
    unsigned port = 0;
    memset(&px, 0, sizeof(px));
    pthread_mutex_init(&px.mu, NULL);
    pthread_cond_init(&px.cv, NULL);
    px.cfg = cfg;
    px.n = cfg->connections ? cfg->connections : 4;
    CCG_ENSURE_MSG(px.n <= MAX_POOL, CCG_R_USAGE_INVALID, "at most %d upstream connections", MAX_POOL);
    for (unsigned i = 0; i < px.n; i++) {
        CCG_TRY(ccg_client_new(cfg->client, &px.pool[i]));
    }
    for (; px.started < px.n; px.started++) {
        worker_arg *wa = malloc(sizeof(*wa));
        CCG_ENSURE_ALLOC(wa);
        *wa = (worker_arg){&px, px.started};
        if (pthread_create(&px.workers[px.started], NULL, worker, wa) != 0) {
            free(wa);
            CCG_BAIL(CCG_R_INTERNAL_ERROR, "the proxy's worker threads did not start");
        }
    }
    CCG_TRY(listen_socket(cfg, &fd, &port));
    d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL,
                         NULL, handler, &px, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)600,
                         /* a thread per local connection: bounded (local callers only, but still) */
                         MHD_OPTION_CONNECTION_LIMIT, (unsigned)256, MHD_OPTION_END);
    CCG_ENSURE_MSG(d != NULL, CCG_R_USAGE_INVALID, "libmicrohttpd did not start");
    fd = -1; /* the daemon owns it */
    if (cfg->port_file != NULL) {
        FILE *f = fopen(cfg->port_file, "w");
        CCG_ENSURE_MSG(f != NULL, CCG_R_USAGE_INVALID, "cannot write %s", cfg->port_file);
        fprintf(f, "%u\n", port);
        fclose(f);
    }
    fprintf(stderr, "ccgate client proxy: listening on %s:%u, forwarding to %s (%s mode)\n",
            cfg->listen_host ? cfg->listen_host : "127.0.0.1", port, cfg->client->endpoint,
            cfg->client->gateway ? "gateway" : "direct");
    while (!*stop) {
        usleep(100 * 1000);
    }
    result = CCG_SUCCESS;
cleanup:
    px.closing = 1;
    if (d != NULL) {
        MHD_stop_daemon(d);
    }
    if (fd >= 0) {
        close(fd);
    }
    pthread_mutex_lock(&px.mu);
    px.stopping = 1; /* the workers finish what is queued, then end */
    pthread_cond_broadcast(&px.cv);
    pthread_mutex_unlock(&px.mu);
    for (unsigned i = 0; i < px.started; i++) {
        pthread_join(px.workers[i], NULL);
    }
    for (unsigned i = 0; i < px.n; i++) {
        ccg_client_free(px.pool[i]);
    }
    pthread_mutex_destroy(&px.mu);
    pthread_cond_destroy(&px.cv);
    return result;
}
