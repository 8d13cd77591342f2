/* GET /status: the agent's state as JSON (ccg_agent_status_json), on 127.0.0.1 or a unix socket only.
 * Served by ccgate-endpoint (src/endpoint_main.c), never in ccgate-agent itself: the handler reads the
 * snapshot the agent sent over the control channel, under a mutex; nothing secret is ever in it. */
#include "ccgate/agent.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "ccgate/log.h"

struct ccg_agent_status_server {
    struct MHD_Daemon *daemon;
    int fd;
    uint16_t port;
    char *unix_path;
    pthread_mutex_t lock;
    char *snapshot; /* the JSON text served */
    ccg_endpoint *endpoint; /* while it serves: its counters join /status (never public) */
};

/* The snapshot, with the endpoint's counters when it serves (under s->lock). */
static char *status_body(ccg_agent_status_server *s)
{
    json_t *o;
    char *text;
    ccg_endpoint_counters c;
    if (s->endpoint == NULL || s->snapshot == NULL) {
        return strdup(s->snapshot != NULL ? s->snapshot : "{\"state\":\"starting\"}");
    }
    o = json_loads(s->snapshot, 0, NULL);
    if (o == NULL) {
        return NULL;
    }
    ccg_endpoint_get_counters(s->endpoint, &c);
    json_object_set_new(o, "endpoint", ccg_endpoint_counters_json(&c));
    text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

void ccg_agent_status_set_endpoint(ccg_agent_status_server *s, ccg_endpoint *ep)
{
    if (s == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->endpoint = ep;
    pthread_mutex_unlock(&s->lock);
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_len, void **con_cls)
{
    ccg_agent_status_server *s = cls;
    struct MHD_Response *r;
    enum MHD_Result ret;
    unsigned code = 200;
    char *body = NULL;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) {
        *con_cls = s; /* first call: headers only */
        return MHD_YES;
    }
    if (*upload_len != 0) {
        *upload_len = 0; /* a body is ignored; GET only */
        return MHD_YES;
    }
    if (strcmp(method, "GET") != 0) {
        code = 405;
        body = strdup("{\"error\":\"method not allowed\"}");
    } else if (strcmp(url, "/status") != 0) {
        code = 404;
        body = strdup("{\"error\":\"not found\"}");
    } else {
        pthread_mutex_lock(&s->lock);
        body = status_body(s);
        pthread_mutex_unlock(&s->lock);
    }
    if (body == NULL) {
        return MHD_NO;
    }
    r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static ccg_result listen_socket(const char *listen_at, ccg_agent_status_server *s)
{
    ccg_result result = CCG_FAILURE;
    if (strncmp(listen_at, "unix:", 5) == 0) {
        struct sockaddr_un sa;
        const char *path = listen_at + 5;
        memset(&sa, 0, sizeof(sa));
        sa.sun_family = AF_UNIX;
        CCG_ENSURE_MSG(strlen(path) < sizeof(sa.sun_path), CCG_R_AGENT_CONFIG_INVALID,
                       "the status socket path is too long");
        memcpy(sa.sun_path, path, strlen(path) + 1);
        s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CCG_ENSURE_MSG(s->fd >= 0, CCG_R_AGENT_SERVER_FAILED, "socket(AF_UNIX): %s", strerror(errno));
        (void)unlink(path);
        CCG_ENSURE_MSG(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, CCG_R_AGENT_SERVER_FAILED,
                       "bind(%.200s): %s", path, strerror(errno));
        s->unix_path = strdup(path);
        CCG_ENSURE_ALLOC(s->unix_path);
    } else {
        struct sockaddr_in sa;
        socklen_t sl = sizeof(sa);
        char *end = NULL;
        unsigned long port = strtoul(listen_at + 10, &end, 10);
        CCG_ENSURE_MSG(strncmp(listen_at, "127.0.0.1:", 10) == 0 && end != listen_at + 10 && *end == 0 &&
                           port <= 65535,
                       CCG_R_AGENT_CONFIG_INVALID, "the status address must be 127.0.0.1:PORT or unix:/path");
        memset(&sa, 0, sizeof(sa));
        sa.sin_family = AF_INET;
        sa.sin_port = htons((uint16_t)port);
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        CCG_ENSURE_MSG(s->fd >= 0, CCG_R_AGENT_SERVER_FAILED, "socket: %s", strerror(errno));
        CCG_ENSURE_MSG(bind(s->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, CCG_R_AGENT_SERVER_FAILED,
                       "bind(%.64s): %s", listen_at, strerror(errno));
        CCG_ENSURE_MSG(getsockname(s->fd, (struct sockaddr *)&sa, &sl) == 0, CCG_R_AGENT_SERVER_FAILED,
                       "getsockname: %s", strerror(errno));
        s->port = ntohs(sa.sin_port);
    }
    CCG_ENSURE_MSG(listen(s->fd, 16) == 0, CCG_R_AGENT_SERVER_FAILED, "listen: %s", strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_agent_status_start(const char *listen_at, ccg_agent_status_server **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_agent_status_server *s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->fd = -1;
    pthread_mutex_init(&s->lock, NULL);
    CCG_TRY(listen_socket(listen_at, s));
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, s,
                                 MHD_OPTION_EXTERNAL_LOGGER, ccg_log_mhd, NULL, MHD_OPTION_LISTEN_SOCKET, s->fd,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    CCG_ENSURE_MSG(s->daemon != NULL, CCG_R_AGENT_SERVER_FAILED, "the status endpoint did not start");
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_agent_status_stop(s);
    return result;
}

uint16_t ccg_agent_status_port(const ccg_agent_status_server *s) { return s != NULL ? s->port : 0; }

void ccg_agent_status_publish(ccg_agent_status_server *s, const ccg_agent_status *st)
{
    json_t *o;
    if (s == NULL) {
        return;
    }
    o = ccg_agent_status_json(st);
    ccg_agent_status_publish_json(s, o);
    json_decref(o);
}

void ccg_agent_status_publish_json(ccg_agent_status_server *s, const json_t *status)
{
    char *text;
    if (s == NULL || !json_is_object(status)) {
        return;
    }
    text = json_dumps(status, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    free(s->snapshot);
    s->snapshot = text;
    pthread_mutex_unlock(&s->lock);
}

void ccg_agent_status_stop(ccg_agent_status_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
    }
    if (s->fd >= 0) {
        close(s->fd);
    }
    if (s->unix_path != NULL) {
        (void)unlink(s->unix_path);
        free(s->unix_path);
    }
    pthread_mutex_destroy(&s->lock);
    free(s->snapshot);
    free(s);
}
