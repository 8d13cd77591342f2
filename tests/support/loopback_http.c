/* A loopback-only libmicrohttpd server with a body-collecting handler (see loopback_http.h). */
#include "loopback_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BODY_MAX (1u << 20)

struct lh_server {
    struct MHD_Daemon *daemon;
    lh_handler handler;
    void *ctx;
    pthread_mutex_t mu;
    int requests;
    int pass_query;
};

typedef struct {
    uint8_t *data;
    size_t len;
    int too_large;
} request_body;

/* The connection whose request the handler of this thread is answering (lh_request_header). */
static __thread struct MHD_Connection *current_connection;

const char *lh_request_header(const char *name)
{
    return current_connection != NULL ? MHD_lookup_connection_value(current_connection, MHD_HEADER_KIND, name)
                                      : NULL;
}

static void request_done(void *cls, struct MHD_Connection *con, void **req_cls, enum MHD_RequestTerminationCode t)
{
    request_body *b = *req_cls;
    if (b != NULL) {
        free(b->data);
        free(b);
        *req_cls = NULL;
    }
}

typedef struct {
    char *buf;
    size_t cap, len;
} query_ctx;

/* Appends "?k=v" or "&k=v" for each query argument, in the order the request sent them. */
static enum MHD_Result append_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    query_ctx *q = cls;
    int n = snprintf(q->buf + q->len, q->cap - q->len, "%c%s=%s", strchr(q->buf, '?') ? '&' : '?', key,
                     value != NULL ? value : "");
    if (n > 0 && (size_t)n < q->cap - q->len) {
        q->len += (size_t)n;
    }
    return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **req_cls)
{
    lh_server *s = cls;
    request_body *b = *req_cls;
    if (b == NULL) {
        b = calloc(1, sizeof(*b));
        *req_cls = b;
        return b != NULL ? MHD_YES : MHD_NO;
    }
    if (*upload_len > 0) {
        if (b->len + *upload_len > BODY_MAX) {
            b->too_large = 1;
        } else {
            uint8_t *grown = realloc(b->data, b->len + *upload_len);
            if (grown == NULL) {
                return MHD_NO;
            }
            memcpy(grown + b->len, upload, *upload_len);
            b->data = grown;
            b->len += *upload_len;
        }
        *upload_len = 0;
        return MHD_YES;
    }
    lh_answer a = {.status = 500};
    char full[2048];
    pthread_mutex_lock(&s->mu);
    int with_query = s->pass_query;
    pthread_mutex_unlock(&s->mu);
    if (with_query) {
        query_ctx q = {full, sizeof(full), 0};
        snprintf(full, sizeof(full), "%s", url);
        q.len = strlen(full);
        MHD_get_connection_values(con, MHD_GET_ARGUMENT_KIND, append_arg, &q);
        url = full;
    }
    if (!b->too_large) {
        current_connection = con;
        s->handler(s->ctx, method, url, b->data, b->len, &a);
        current_connection = NULL;
    }
    if (a.delay_ms > 0) {
        struct timespec ts = {a.delay_ms / 1000, (long)(a.delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    pthread_mutex_lock(&s->mu);
    s->requests++;
    pthread_mutex_unlock(&s->mu);
    struct MHD_Response *r = MHD_create_response_from_buffer(a.len, a.body != NULL ? a.body : (void *)"",
                                                             a.body != NULL ? MHD_RESPMEM_MUST_FREE
                                                                            : MHD_RESPMEM_PERSISTENT);
    if (r == NULL) {
        free(a.body);
        return MHD_NO;
    }
    if (a.content_type != NULL) {
        MHD_add_response_header(r, "Content-Type", a.content_type);
    }
    for (int i = 0; i < 4 && a.header_names[i] != NULL; i++) {
        MHD_add_response_header(r, a.header_names[i], a.header_values[i] != NULL ? a.header_values[i] : "");
    }
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)a.status, r);
    MHD_destroy_response(r);
    return ret;
}

lh_server *lh_start(lh_handler handler, void *ctx, char *base, size_t base_len)
{
    struct sockaddr_in sa;
    lh_server *s = calloc(1, sizeof(*s));
    if (s == NULL) {
        return NULL;
    }
    s->handler = handler;
    s->ctx = ctx;
    pthread_mutex_init(&s->mu, NULL);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL, NULL,
                                 handle, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_NOTIFY_COMPLETED, request_done, s,
                                 MHD_OPTION_END);
    const union MHD_DaemonInfo *info = s->daemon != NULL ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)
                                                         : NULL;
    if (info == NULL || info->port == 0) {
        lh_stop(s);
        return NULL;
    }
    snprintf(base, base_len, "http://127.0.0.1:%u", (unsigned)info->port);
    return s;
}

void lh_stop(lh_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void lh_pass_query(lh_server *s, int on)
{
    pthread_mutex_lock(&s->mu);
    s->pass_query = on;
    pthread_mutex_unlock(&s->mu);
}

int lh_requests(lh_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}
