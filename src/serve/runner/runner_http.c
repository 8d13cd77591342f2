/* The runner's HTTP server (docs/runner.md, "API"): libmicrohttpd on a bound AF_UNIX socket, one thread per
 * connection (bounded), the routes, the body limit, bounded generations and the server-sent-event stream. */
#include <errno.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/buf.h"
#include "ccgate/error.h"
#include "ccgate/log.h"
#include "ccgate/runner.h"
#include "runner_api.h"

struct ccg_runner {
    struct MHD_Daemon *daemon;
    int fd;
    char *socket_path, *served;
    const ccg_model *model;
    size_t max_body;
    uint32_t cap;
    unsigned max_concurrency;
    atomic_uint active;
    int quiet;
};

typedef enum { ROUTE_NONE, ROUTE_HEALTHZ, ROUTE_MODELS, ROUTE_COMPLETIONS, ROUTE_CHAT } route;

static const struct {
    const char *path, *method;
    route route;
    const char *name; /* logged instead of the request's bytes */
} ROUTES[] = {
    {"/healthz", "GET", ROUTE_HEALTHZ, "healthz"},
    {"/v1/models", "GET", ROUTE_MODELS, "models"},
    {"/v1/completions", "POST", ROUTE_COMPLETIONS, "completions"},
    {"/v1/chat/completions", "POST", ROUTE_CHAT, "chat"},
};

typedef struct {
    route route;
    const char *name;
    ccg_buf body; /* bounded by the runner's max_body */
    int too_large, answered;
} conn_ctx;

typedef struct {
    ccg_runner *runner;
    ccg_model_gen gen;
    runner_answer answer;
    char id[RUNNER_ID_LEN];
    char *pending;
    size_t pending_len, pending_pos;
    int phase; /* 0 role chunk (chat), 1 tokens, 2 ended */
} stream_ctx;

static void log_request(const ccg_runner *r, const char *name, unsigned status, ccg_reason reason)
{
    if (!r->quiet) {
        /* The route's name and the outcome only: never a prompt or a completion. */
        ccg_log_eventf(status >= 500 ? CCG_LOG_ERROR : CCG_LOG_INFO, "request", NULL, "{s:s,s:i,s:s?}", "route",
                       name, "status", (int)status, "reason", reason != CCG_R_OK ? ccg_reason_code(reason) : NULL);
    }
}

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status, char *body, const char *type)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    if (body == NULL) {
        return MHD_NO;
    }
    resp = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static unsigned status_for(ccg_reason reason)
{
    switch (reason) {
    case CCG_R_RUNNER_NOT_FOUND:
    case CCG_R_RUNNER_MODEL_NOT_FOUND: return MHD_HTTP_NOT_FOUND;
    case CCG_R_RUNNER_METHOD_NOT_ALLOWED: return MHD_HTTP_METHOD_NOT_ALLOWED;
    case CCG_R_RUNNER_BODY_TOO_LARGE: return MHD_HTTP_CONTENT_TOO_LARGE;
    case CCG_R_RUNNER_BUSY: return MHD_HTTP_SERVICE_UNAVAILABLE;
    default: return ccg_reason_kind_of(reason) == CCG_KIND_INPUT ? MHD_HTTP_BAD_REQUEST
                                                                 : MHD_HTTP_INTERNAL_SERVER_ERROR;
    }
}

/* An error answer; message NULL uses the registry's message. Messages never hold request bytes. */
static enum MHD_Result queue_error(ccg_runner *r, conn_ctx *ctx, struct MHD_Connection *c, ccg_reason reason,
                                   const char *message)
{
    unsigned status = status_for(reason);
    ctx->answered = 1;
    log_request(r, ctx->name, status, reason);
    return queue_text(c, status, runner_error_json(reason, message), "application/json");
}

/* The last failure as an error answer. */
static enum MHD_Result queue_last_error(ccg_runner *r, conn_ctx *ctx, struct MHD_Connection *c)
{
    ccg_reason reason = ccg_error_reason();
    return queue_error(r, ctx, c, reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : reason, ccg_error_last()->message);
}

static int take_slot(ccg_runner *r)
{
    unsigned now = atomic_fetch_add(&r->active, 1);
    if (now >= r->max_concurrency) {
        atomic_fetch_sub(&r->active, 1);
        return 0;
    }
    return 1;
}

static void release_slot(ccg_runner *r) { atomic_fetch_sub(&r->active, 1); }

/* "data: JSON\n\n" appended to the stream's pending bytes; json is consumed. */
static int pend_event(stream_ctx *s, char *json)
{
    size_t n = json != NULL ? strlen(json) : 0;
    char *p = json != NULL ? realloc(s->pending, s->pending_len + n + 8) : NULL;
    if (p == NULL) {
        free(json);
        return -1;
    }
    s->pending = p;
    memcpy(p + s->pending_len, "data: ", 6);
    memcpy(p + s->pending_len + 6, json, n);
    memcpy(p + s->pending_len + 6 + n, "\n\n", 2);
    s->pending_len += n + 8;
    free(json);
    return 0;
}

/* Makes the next events: chat's role chunk, one token's delta (none while a UTF-8 sequence is open), or the
 * final chunk and [DONE]. */
static int produce(stream_ctx *s)
{
    char piece[32];
    size_t n = 0;
    int more;
    if (s->phase == 0) {
        s->phase = 1;
        return s->answer.kind == RUNNER_CHAT ? pend_event(s, runner_chunk_json(&s->answer, NULL, 0, 1, 0)) : 0;
    }
    more = ccg_model_gen_step(&s->gen, piece, &n);
    if (n > 0 && pend_event(s, runner_chunk_json(&s->answer, piece, n, 0, 0)) != 0) {
        return -1;
    }
    if (!more) {
        s->answer.finish = s->gen.finish;
        s->phase = 2;
        if (pend_event(s, runner_chunk_json(&s->answer, NULL, 0, 0, 1)) != 0) {
            return -1;
        }
        char *done = strdup("[DONE]");
        return pend_event(s, done);
    }
    return 0;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *s = cls;
    size_t n;
    (void)pos;
    while (s->pending_pos == s->pending_len) {
        free(s->pending);
        s->pending = NULL;
        s->pending_len = s->pending_pos = 0;
        if (s->phase == 2) {
            return MHD_CONTENT_READER_END_OF_STREAM;
        }
        if (produce(s) != 0) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
    n = s->pending_len - s->pending_pos < max ? s->pending_len - s->pending_pos : max;
    memcpy(buf, s->pending + s->pending_pos, n);
    s->pending_pos += n;
    return (ssize_t)n;
}

static void stream_free(void *cls)
{
    stream_ctx *s = cls;
    ccg_model_gen_free(&s->gen);
    free(s->pending);
    release_slot(s->runner);
    free(s);
}

/* Streams the generation g (started; its slot taken) as server-sent events. */
static enum MHD_Result queue_stream(ccg_runner *r, conn_ctx *ctx, struct MHD_Connection *c, runner_kind kind,
                                    ccg_model_gen *g)
{
    struct MHD_Response *resp;
    enum MHD_Result ret;
    stream_ctx *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        ccg_model_gen_free(g);
        release_slot(r);
        return MHD_NO;
    }
    s->runner = r;
    s->gen = *g;
    runner_new_id(kind, s->id);
    s->answer = (runner_answer){kind, s->id, r->served, NULL, (int64_t)time(NULL), CCG_FINISH_LENGTH, 0, 0};
    resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, s, stream_free);
    if (resp == NULL) {
        stream_free(s);
        return MHD_NO;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ctx->answered = 1;
    log_request(r, ctx->name, 200, CCG_R_OK);
    ret = MHD_queue_response(c, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result generate(ccg_runner *r, conn_ctx *ctx, struct MHD_Connection *c)
{
    runner_kind kind = ctx->route == ROUTE_CHAT ? RUNNER_CHAT : RUNNER_COMPLETION;
    runner_request req;
    ccg_model_gen g;
    char id[RUNNER_ID_LEN];
    enum MHD_Result ret;
    if (ccg_failed(runner_request_parse(kind, ctx->body.p ? (const char *)ctx->body.p : "", ctx->body.len, r->served, r->cap,
                                        &req))) {
        return queue_last_error(r, ctx, c);
    }
    if (!take_slot(r)) {
        runner_request_free(&req);
        return queue_error(r, ctx, c, CCG_R_RUNNER_BUSY, NULL);
    }
    if (ccg_failed(ccg_model_gen_start(&g, r->model, (const uint8_t *)req.prompt, req.prompt_len, req.max_tokens))) {
        release_slot(r);
        runner_request_free(&req);
        return queue_last_error(r, ctx, c);
    }
    runner_request_free(&req);
    if (req.stream) {
        return queue_stream(r, ctx, c, kind, &g);
    }
    /* Not streamed: the same steps, collected (ccg_model_complete's loop over a started generation). */
    {
        char piece[32], *text = malloc((size_t)g.max_tokens * 12 + 16);
        size_t n, len = 0;
        int more;
        runner_answer a;
        if (text == NULL) {
            ccg_model_gen_free(&g);
            release_slot(r);
            return MHD_NO;
        }
        do {
            more = ccg_model_gen_step(&g, piece, &n);
            memcpy(text + len, piece, n);
            len += n;
        } while (more);
        text[len] = 0;
        runner_new_id(kind, id);
        a = (runner_answer){kind, id, r->served, text, (int64_t)time(NULL), g.finish, g.prompt_tokens, g.generated};
        ccg_model_gen_free(&g);
        release_slot(r);
        ctx->answered = 1;
        log_request(r, ctx->name, 200, CCG_R_OK);
        ret = queue_text(c, MHD_HTTP_OK, runner_answer_json(&a), "application/json");
        free(text);
        return ret;
    }
}

/* The route of (url, method): exact paths only, nothing decoded or normalised. */
static ccg_reason route_of(const char *url, const char *method, conn_ctx *ctx)
{
    for (size_t i = 0; i < sizeof(ROUTES) / sizeof(ROUTES[0]); i++) {
        if (strcmp(url, ROUTES[i].path) == 0) {
            ctx->name = ROUTES[i].name;
            if (strcmp(method, ROUTES[i].method) != 0) {
                return CCG_R_RUNNER_METHOD_NOT_ALLOWED;
            }
            ctx->route = ROUTES[i].route;
            return CCG_R_OK;
        }
    }
    ctx->name = "unknown";
    return CCG_R_RUNNER_NOT_FOUND;
}

static enum MHD_Result first_call(ccg_runner *r, conn_ctx *ctx, struct MHD_Connection *c, const char *url,
                                  const char *method)
{
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    ccg_reason reason = route_of(url, method, ctx);
    if (reason != CCG_R_OK) {
        return queue_error(r, ctx, c, reason, NULL);
    }
    /* A declared length over the limit is refused before its body is read. */
    if (cl != NULL && (strlen(cl) > 18 || strtoull(cl, NULL, 10) > r->max_body)) {
        return queue_error(r, ctx, c, CCG_R_RUNNER_BODY_TOO_LARGE, NULL);
    }
    return MHD_YES;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    ccg_runner *r = cls;
    conn_ctx *ctx = *con_cls;
    (void)version;
    if (ctx == NULL) {
        ctx = calloc(1, sizeof(*ctx));
        if (ctx == NULL) {
            return MHD_NO;
        }
        ccg_buf_init(&ctx->body, r->max_body);
        *con_cls = ctx;
        return first_call(r, ctx, c, url, method);
    }
    if (*upload_len != 0) {
        if (!ctx->too_large && !ctx->answered) {
            if (ccg_failed(ccg_buf_append(&ctx->body, upload, *upload_len))) {
                ccg_error_clear(); /* answered below with runner.body_too_large, not this record */
                ctx->too_large = 1; /* over the limit (or no memory): the rest is read and dropped */
                ccg_buf_free(&ctx->body);
            }
        }
        *upload_len = 0;
        return MHD_YES;
    }
    if (ctx->answered) {
        return MHD_YES;
    }
    if (ctx->too_large) {
        return queue_error(r, ctx, c, CCG_R_RUNNER_BODY_TOO_LARGE, NULL);
    }
    switch (ctx->route) {
    case ROUTE_HEALTHZ:
        ctx->answered = 1;
        log_request(r, ctx->name, 200, CCG_R_OK);
        return queue_text(c, MHD_HTTP_OK, strdup("{\"status\":\"ok\"}"), "application/json");
    case ROUTE_MODELS:
        ctx->answered = 1;
        log_request(r, ctx->name, 200, CCG_R_OK);
        return queue_text(c, MHD_HTTP_OK, runner_models_json(r->served), "application/json");
    case ROUTE_COMPLETIONS:
    case ROUTE_CHAT: return generate(r, ctx, c);
    default: return queue_error(r, ctx, c, CCG_R_RUNNER_NOT_FOUND, NULL);
    }
}

/* URLs are matched as sent: nothing is percent-decoded, so "/v1%2Fmodels" is no route. */
static size_t no_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn_ctx *ctx = *con_cls;
    (void)cls;
    (void)c;
    (void)toe;
    if (ctx != NULL) {
        ccg_buf_free(&ctx->body);
        free(ctx);
        *con_cls = NULL;
    }
}

/* Binds path with mode 0600. An existing socket there (a previous run's) is replaced; anything else is not. */
static ccg_result bind_unix(const char *path, int *out)
{
    ccg_result result = CCG_FAILURE;
    struct sockaddr_un sa;
    struct stat st;
    mode_t old;
    int fd = -1, rc;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    CCG_ENSURE_MSG(path != NULL && path[0] != 0 && strlen(path) < sizeof(sa.sun_path), CCG_R_RUNNER_SOCKET_FAILED,
                   "the socket path is empty or longer than %zu bytes", sizeof(sa.sun_path) - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        CCG_ENSURE_MSG(S_ISSOCK(st.st_mode), CCG_R_RUNNER_SOCKET_FAILED, "%.200s exists and is not a socket", path);
        CCG_ENSURE_MSG(unlink(path) == 0, CCG_R_RUNNER_SOCKET_FAILED, "unlink(%.200s): %s", path, strerror(errno));
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_RUNNER_SOCKET_FAILED, "socket(AF_UNIX): %s", strerror(errno));
    old = umask(077);
    rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    CCG_ENSURE_MSG(rc == 0, CCG_R_RUNNER_SOCKET_FAILED, "bind(%.200s): %s", path, strerror(errno));
    /* The umask kept others out from the start; connecting needs only write permission. */
    CCG_ENSURE_MSG(chmod(path, 0600) == 0, CCG_R_RUNNER_SOCKET_FAILED, "chmod(%.200s): %s", path, strerror(errno));
    CCG_ENSURE_MSG(listen(fd, 64) == 0, CCG_R_RUNNER_SOCKET_FAILED, "listen: %s", strerror(errno));
    *out = fd;
    fd = -1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

ccg_result ccg_runner_start(const ccg_model *m, const ccg_runner_config *cfg, ccg_runner **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_runner *r = calloc(1, sizeof(*r));
    unsigned conns = cfg->max_connections != 0 ? cfg->max_connections : CCG_RUNNER_CONNECTIONS_DEFAULT;
    unsigned timeout = cfg->timeout_s != 0 ? cfg->timeout_s : CCG_RUNNER_TIMEOUT_DEFAULT;
    *out = NULL;
    CCG_ENSURE_ALLOC(r);
    r->fd = -1;
    r->model = m;
    r->quiet = cfg->quiet;
    r->max_body = cfg->max_body != 0 ? cfg->max_body : CCG_RUNNER_MAX_BODY_DEFAULT;
    r->cap = cfg->max_tokens_cap != 0 ? cfg->max_tokens_cap : CCG_RUNNER_MAX_TOKENS_CAP_DEFAULT;
    r->max_concurrency = cfg->max_concurrency != 0 ? cfg->max_concurrency : CCG_RUNNER_CONCURRENCY_DEFAULT;
    atomic_init(&r->active, 0);
    r->served = strdup(cfg->served_name != NULL ? cfg->served_name : CCG_RUNNER_SERVED_NAME_DEFAULT);
    CCG_ENSURE_ALLOC(r->served);
    CCG_TRY(bind_unix(cfg->socket_path, &r->fd));
    r->socket_path = strdup(cfg->socket_path);
    CCG_ENSURE_ALLOC(r->socket_path);
    r->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL |
                                     MHD_USE_ERROR_LOG, 0,
                                 NULL, NULL, answer, r, MHD_OPTION_EXTERNAL_LOGGER, ccg_log_mhd, NULL,
                                 MHD_OPTION_LISTEN_SOCKET, r->fd, MHD_OPTION_CONNECTION_LIMIT,
                                 conns, MHD_OPTION_CONNECTION_TIMEOUT, timeout, MHD_OPTION_NOTIFY_COMPLETED,
                                 completed, r, MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, r, MHD_OPTION_END);
    CCG_ENSURE_MSG(r->daemon != NULL, CCG_R_RUNNER_SOCKET_FAILED, "the HTTP server did not start");
    r->fd = -1; /* the daemon owns and closes it */
    *out = r;
    r = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_runner_stop(r);
    return result;
}

void ccg_runner_stop(ccg_runner *r)
{
    if (r == NULL) {
        return;
    }
    if (r->daemon != NULL) {
        MHD_stop_daemon(r->daemon);
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    if (r->socket_path != NULL) {
        (void)unlink(r->socket_path);
    }
    free(r->socket_path);
    free(r->served);
    free(r);
}
