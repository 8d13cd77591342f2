/* A stand-in model runner on a Unix socket (see fake_runner.h). */
#include "fake_runner.h"

#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

struct fake_runner {
    struct MHD_Daemon *d;
    int fd;
    char path[108];
    pthread_mutex_t lock;
    int requests, saw_auth, connections;
    char cid[64];
};

typedef struct {
    char *body;
    size_t len;
} req;

static ssize_t sse(void *cls, uint64_t pos, char *buf, size_t max)
{
    int *i = cls;
    int n;
    (void)pos;
    if (*i > 5) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    usleep(50 * 1000);
    if (*i == 5) {
        n = snprintf(buf, max, "data: [DONE]\n\n");
    } else {
        n = snprintf(buf, max, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"tok%d\"}}]}\n\n", *i);
    }
    (*i)++;
    return n;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *data, size_t *size, void **con_cls)
{
    fake_runner *fr = cls;
    req *rq = *con_cls;
    struct MHD_Response *r;
    enum MHD_Result ret;
    const char *text;
    (void)version;
    if (rq == NULL) {
        rq = calloc(1, sizeof(*rq));
        *con_cls = rq;
        return rq != NULL ? MHD_YES : MHD_NO;
    }
    if (*size > 0) {
        char *b = realloc(rq->body, rq->len + *size + 1);
        if (b == NULL) {
            return MHD_NO;
        }
        memcpy(b + rq->len, data, *size);
        rq->len += *size;
        b[rq->len] = 0;
        rq->body = b;
        *size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&fr->lock);
    fr->requests++;
    fr->saw_auth |= MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization") != NULL;
    text = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "ccgate-correlation-id");
    snprintf(fr->cid, sizeof(fr->cid), "%s", text != NULL ? text : "");
    pthread_mutex_unlock(&fr->lock);
    if (strcmp(method, "POST") == 0 && rq->body != NULL && strstr(rq->body, "\"stream\":true") != NULL) {
        int *i = calloc(1, sizeof(int));
        r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse, i, free);
        MHD_add_response_header(r, "Content-Type", "text/event-stream");
    } else {
        char buf[256];
        if (strcmp(url, "/healthz") == 0) {
            snprintf(buf, sizeof(buf), "{\"status\":\"ok\"}");
        } else if (strcmp(url, "/v1/models") == 0) {
            snprintf(buf, sizeof(buf), "{\"object\":\"list\",\"data\":[{\"id\":\"fake\",\"object\":\"model\"}]}");
        } else {
            snprintf(buf, sizeof(buf),
                     "{\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                     "\"content\":\"RESPONSE-MARKER-7f3a\"},\"finish_reason\":\"stop\"}],\"body_len\":%zu}",
                     rq->len);
        }
        r = MHD_create_response_from_buffer(strlen(buf), buf, MHD_RESPMEM_MUST_COPY);
        MHD_add_response_header(r, "Content-Type", "application/json");
    }
    ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void done(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode t)
{
    req *rq = *con_cls;
    (void)cls;
    (void)c;
    (void)t;
    if (rq != NULL) {
        free(rq->body);
        free(rq);
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    fake_runner *fr = cls;
    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        pthread_mutex_lock(&fr->lock);
        fr->connections++;
        pthread_mutex_unlock(&fr->lock);
    }
}

int fake_runner_connections(fake_runner *fr)
{
    int n;
    pthread_mutex_lock(&fr->lock);
    n = fr->connections;
    pthread_mutex_unlock(&fr->lock);
    return n;
}

fake_runner *fake_runner_start(const char *socket_path)
{
    fake_runner *fr = calloc(1, sizeof(*fr));
    struct sockaddr_un sa;
    if (fr == NULL || strlen(socket_path) >= sizeof(sa.sun_path)) {
        free(fr);
        return NULL;
    }
    pthread_mutex_init(&fr->lock, NULL);
    snprintf(fr->path, sizeof(fr->path), "%s", socket_path);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, socket_path, strlen(socket_path) + 1);
    (void)unlink(socket_path);
    fr->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fr->fd < 0 || bind(fr->fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fr->fd, 64) != 0) {
        if (fr->fd >= 0) {
            close(fr->fd);
        }
        free(fr);
        return NULL;
    }
    fr->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL, 0, NULL,
                             NULL, answer, fr, MHD_OPTION_LISTEN_SOCKET, fr->fd, MHD_OPTION_NOTIFY_COMPLETED, done,
                             NULL, MHD_OPTION_NOTIFY_CONNECTION, on_connection, fr, MHD_OPTION_END);
    if (fr->d == NULL) {
        close(fr->fd);
        free(fr);
        return NULL;
    }
    return fr;
}

void fake_runner_stop(fake_runner *fr)
{
    if (fr == NULL) {
        return;
    }
    MHD_stop_daemon(fr->d);
    close(fr->fd);
    (void)unlink(fr->path);
    pthread_mutex_destroy(&fr->lock);
    free(fr);
}

int fake_runner_requests(fake_runner *fr)
{
    int n;
    pthread_mutex_lock(&fr->lock);
    n = fr->requests;
    pthread_mutex_unlock(&fr->lock);
    return n;
}

int fake_runner_saw_authorization(fake_runner *fr)
{
    int n;
    pthread_mutex_lock(&fr->lock);
    n = fr->saw_auth;
    pthread_mutex_unlock(&fr->lock);
    return n;
}

void fake_runner_last_cid(fake_runner *fr, char out[64])
{
    pthread_mutex_lock(&fr->lock);
    snprintf(out, 64, "%s", fr->cid);
    pthread_mutex_unlock(&fr->lock);
}
