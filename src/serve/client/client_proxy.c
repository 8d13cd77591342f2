/* The local OpenAI-compatible proxy of `ccgate client proxy` (endpoint_client.h): libmicrohttpd on loopback,
 * one thread per local connection; each request takes an attested upstream client from a small pool, runs
 * on a worker thread, and streams the answer back through a pipe (SSE passes straight through). A
 * verification failure is a JSON error to the local caller, never a fallback. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/endpoint_client.h"
#include "ccgate/sse.h"
#include "client_internal.h"

#define DEFAULT_MAX_BODY (8u << 20)
#define MAX_POOL 64

typedef struct {
    const ccg_client_proxy_config *cfg;
    ccg_client *pool[MAX_POOL];
    int busy[MAX_POOL];
    unsigned n;
    pthread_mutex_t mu;
    pthread_cond_t cv;
} proxy;

/* One local request. */
typedef struct {
    proxy *px;
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
    int pipe_w;
    ccg_reason reason;
    char message[320];
    json_t *reasons;
    ccg_sse_parser *sse; /* gateway mode: the stream body is re-framed event by event */
    int refs;            /* MHD's and the worker's: the last one frees */
} req;

static void req_release(req *r)
{
    pthread_mutex_lock(&r->mu);
    int last = --r->refs == 0;
    pthread_mutex_unlock(&r->mu);
    if (last) {
        json_decref(r->reasons);
        free(r->body.p);
        pthread_mutex_destroy(&r->mu);
        pthread_cond_destroy(&r->cv);
        free(r);
    }
}

static ccg_client *pool_take(proxy *px, int *slot)
{
    pthread_mutex_lock(&px->mu);
    for (;;) {
        for (unsigned i = 0; i < px->n; i++) {
            if (!px->busy[i]) {
                px->busy[i] = 1;
                *slot = (int)i;
                pthread_mutex_unlock(&px->mu);
                return px->pool[i];
            }
        }
        pthread_cond_wait(&px->cv, &px->mu);
    }
}

static void pool_give(proxy *px, int slot)
{
    pthread_mutex_lock(&px->mu);
    px->busy[slot] = 0;
    pthread_cond_signal(&px->cv);
    pthread_mutex_unlock(&px->mu);
}

static int write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
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
    pthread_cond_signal(&r->cv);
    pthread_mutex_unlock(&r->mu);
}

static int on_sse_event(void *arg, const ccg_sse_event *ev)
{
    req *r = arg;
    char head[96];
    if (ev->event[0] != 0) {
        snprintf(head, sizeof(head), "event: %s\n", ev->event);
        if (write_all(r->pipe_w, head, strlen(head)) != 0) {
            return 1;
        }
    }
    /* one "data:" line per line of the event's data */
    const char *p = ev->data, *end = ev->data + ev->data_len;
    do {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (write_all(r->pipe_w, "data: ", 6) != 0 || write_all(r->pipe_w, p, n) != 0 || write_all(r->pipe_w, "\n", 1) != 0) {
            return 1;
        }
        p = nl ? nl + 1 : end;
    } while (p < end);
    return write_all(r->pipe_w, "\n", 1) != 0;
}

static int on_body(void *arg, const uint8_t *data, size_t len)
{
    req *r = arg;
    if (r->sse != NULL) {
        return ccg_failed(ccg_sse_feed(r->sse, data, len)) ? 1 : 0;
    }
    return write_all(r->pipe_w, data, len);
}

static void *worker(void *arg)
{
    req *r = arg;
    proxy *px = r->px;
    int slot = -1;
    ccg_decision d;
    ccg_client_sink sink = {on_head, on_body, r};
    ccg_decision_init(&d, "endpoint");
    ccg_client *c = pool_take(px, &slot);
    ccg_error_clear();
    if (px->cfg->client->gateway && ccg_failed(ccg_sse_parser_new(on_sse_event, r, &r->sse))) {
        r->sse = NULL;
    }
    ccg_result res = ccg_client_request(c, r->method, r->path, r->content_type[0] ? r->content_type : NULL,
                                        r->body.p, r->body.len, &sink, &d);
    pool_give(px, slot);
    pthread_mutex_lock(&r->mu);
    if (ccg_failed(res) && r->head_ready == 0) {
        r->reason = ccg_error_reason();
        snprintf(r->message, sizeof(r->message), "%s", ccg_error_last()->message);
        r->reasons = json_array();
        for (size_t i = 0; r->reasons != NULL && i < d.reasons.count; i++) {
            json_array_append_new(r->reasons, json_string(ccg_reason_code(d.reasons.items[i].reason)));
        }
        r->head_ready = -1;
        pthread_cond_signal(&r->cv);
    }
    pthread_mutex_unlock(&r->mu);
    ccg_decision_free(&d);
    ccg_sse_parser_free(r->sse);
    r->sse = NULL;
    close(r->pipe_w); /* the local answer ends here */
    req_release(r);
    return NULL;
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
    int fds[2];
    pthread_t th;
    if (pipe2(fds, O_CLOEXEC) != 0) {
        return queue_json_error(conn, 500, CCG_R_INTERNAL_ERROR, "pipe", NULL);
    }
    r->pipe_w = fds[1];
    r->refs++;
    if (pthread_create(&th, NULL, worker, r) != 0) {
        r->refs--;
        close(fds[0]);
        close(fds[1]);
        return queue_json_error(conn, 500, CCG_R_INTERNAL_ERROR, "thread", NULL);
    }
    pthread_mutex_lock(&r->mu);
    while (r->head_ready == 0) {
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    enum MHD_Result ret;
    if (r->head_ready < 0) {
        pthread_join(th, NULL);
        close(fds[0]);
        ret = queue_json_error(conn, 502, r->reason, r->message, r->reasons);
        return ret;
    }
    pthread_detach(th); /* it closes the write end when the upstream answer ends */
    struct MHD_Response *resp = MHD_create_response_from_pipe(fds[0]);
    if (resp == NULL) {
        close(fds[0]);
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
        r->pipe_w = -1;
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
    if (d != NULL) {
        MHD_stop_daemon(d);
    }
    if (fd >= 0) {
        close(fd);
    }
    for (unsigned i = 0; i < px.n; i++) {
        ccg_client_free(px.pool[i]);
    }
    pthread_mutex_destroy(&px.mu);
    pthread_cond_destroy(&px.cv);
    return result;
}
