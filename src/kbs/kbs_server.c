/* The HTTP server: libmicrohttpd (Debian's libmicrohttpd12) with an internal thread pool, TLS by
 * default (MHD's HTTPS with the configured PEM certificate and key), plain HTTP only when asked for
 * explicitly and only on a loopback address. Routing and answers are ccg_kbs_handle's; this file
 * moves bytes, reads the cookie and the Authorization header, assigns request IDs and logs one JSON
 * line per request (never a cookie, token, key or evidence). */
#include "kbs_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "ccgate/error.h"

/* GnuTLS priorities: TLS 1.2 and 1.3 only. */
#define KBS_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct ccg_kbs_server {
    struct MHD_Daemon *daemon;
    ccg_kbs *kbs;
    uint16_t port;
    char *cert_pem;
    char *key_pem;
};

typedef struct {
    char *body;
    size_t len;
    int too_large;
} conn_state;

static void log_line(const char *request_id, const char *method, const char *path, const ccg_kbs_http_response *r)
{
    char ts[32];
    json_t *line, *reasons = NULL;
    char *text;
    ccg_time_format_rfc3339(ccg_time_now(), ts, sizeof(ts));
    if (r->status != 200 && r->body != NULL) {
        /* Our own error body: reason codes only. */
        json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
        reasons = json_incref(json_object_get(b, "reasons"));
        json_decref(b);
    }
    line = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:o?}", "time", ts, "level", r->status >= 500 ? "error" : "info",
                     "msg", "request", "request_id", request_id, "method", method, "path", path, "status",
                     (int)r->status, "reasons", reasons);
    text = line == NULL ? NULL : json_dumps(line, JSON_COMPACT);
    if (text != NULL) {
        fprintf(stderr, "%s\n", text);
    }
    free(text);
    json_decref(line);
}

/* The peer's IP address as text, for the per-address attempt limit; "" when unknown. */
static const char *client_address(struct MHD_Connection *connection, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    const struct sockaddr *sa = ci != NULL ? ci->client_addr : NULL;
    out[0] = 0;
    if (sa != NULL && sa->sa_family == AF_INET) {
        (void)inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        (void)inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out, (socklen_t)cap);
    }
    return out;
}

static void completed(void *cls, struct MHD_Connection *connection, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    conn_state *st = *con_cls;
    (void)cls;
    (void)connection;
    (void)toe;
    if (st != NULL) {
        free(st->body);
        free(st);
        *con_cls = NULL;
    }
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *connection, const char *url, const char *method,
                              const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    ccg_kbs_server *srv = cls;
    conn_state *st = *con_cls;
    ccg_kbs_http_request req;
    ccg_kbs_http_response resp;
    struct MHD_Response *r;
    enum MHD_Result ret;
    char request_id[40], peer[INET6_ADDRSTRLEN];
    uint8_t rid[16];
    (void)version;

    if (st == NULL) {
        st = calloc(1, sizeof(*st));
        if (st == NULL) {
            return MHD_NO;
        }
        *con_cls = st;
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (!st->too_large && st->len + *upload_data_size <= CCG_KBS_MAX_BODY) {
            char *grown = realloc(st->body, st->len + *upload_data_size + 1);
            if (grown == NULL) {
                return MHD_NO;
            }
            st->body = grown;
            memcpy(st->body + st->len, upload_data, *upload_data_size);
            st->len += *upload_data_size;
            st->body[st->len] = 0;
        } else {
            st->too_large = 1;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }

    if (RAND_bytes(rid, sizeof(rid)) != 1) {
        return MHD_NO;
    }
    ccg_hex_encode(rid, sizeof(rid), request_id);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    req.cookie_session = MHD_lookup_connection_value(connection, MHD_COOKIE_KIND, CCG_KBS_COOKIE);
    req.authorization = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    req.body = st->body != NULL ? st->body : "";
    req.body_len = st->len;
    req.request_id = request_id;
    req.client_address = client_address(connection, peer, sizeof(peer));
    if (st->too_large) {
        memset(&resp, 0, sizeof(resp));
        kbs_json_response(&resp, 413,
                          json_pack("{s:s,s:s,s:[s],s:s}", "type",
                                    "https://github.com/confidential-containers/kbs/errors/InvalidRequest", "detail",
                                    "the request body is too large", "reasons", "input.too_large", "request_id",
                                    request_id));
    } else {
        ccg_kbs_handle(srv->kbs, &req, &resp);
    }
    log_line(request_id, method, url, &resp);
    r = MHD_create_response_from_buffer(resp.body_len, resp.body, MHD_RESPMEM_MUST_COPY);
    /* The body may be a JWE of a key: not secret in transit, but do not keep copies around. */
    if (resp.body != NULL) {
        ccg_secure_zero(resp.body, resp.body_len);
    }
    if (r == NULL) {
        ccg_kbs_response_free(&resp);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
                            resp.content_type != NULL ? resp.content_type : "application/json");
    MHD_add_response_header(r, "X-Request-Id", request_id);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (resp.set_cookie[0] != 0) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_SET_COOKIE, resp.set_cookie);
    }
    ret = MHD_queue_response(connection, resp.status, r);
    MHD_destroy_response(r);
    ccg_kbs_response_free(&resp);
    return ret;
}

static int is_loopback(const struct in_addr *a) { return (ntohl(a->s_addr) >> 24) == 127; }

ccg_result ccg_kbs_server_start(ccg_kbs *k, const ccg_kbs_config *cfg, int insecure_http, ccg_kbs_server **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs_server *s = NULL;
    struct sockaddr_in sa;
    const union MHD_DaemonInfo *info;
    /* MHD_USE_AUTO: epoll on Linux, so the pool is not bound by select's FD_SETSIZE. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    size_t n = 0;

    *out = NULL;
    s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->kbs = k;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(cfg->port);
    CCG_ENSURE_MSG(inet_pton(AF_INET, cfg->bind_address, &sa.sin_addr) == 1, CCG_R_KBS_CONFIG_INVALID,
                   "address \"%.64s\" is not an IPv4 address", cfg->bind_address);
    if (insecure_http) {
        CCG_ENSURE_MSG(is_loopback(&sa.sin_addr), CCG_R_KBS_CONFIG_INVALID,
                       "--insecure-http serves plain HTTP on loopback addresses only, not %.64s", cfg->bind_address);
    } else {
        CCG_ENSURE_MSG(cfg->tls_cert != NULL && cfg->tls_key != NULL, CCG_R_KBS_CONFIG_INVALID,
                       "TLS is required: configure tls.cert_file and tls.key_file, or pass --insecure-http for a "
                       "loopback test server");
        CCG_TRY(ccg_file_read(cfg->tls_cert, 1u << 20, (uint8_t **)&s->cert_pem, &n));
        CCG_TRY(ccg_file_read(cfg->tls_key, 1u << 20, (uint8_t **)&s->key_pem, &n));
        flags |= MHD_USE_TLS;
    }
    if (insecure_http) {
        s->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR,
                                     (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
                                     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)30, MHD_OPTION_END);
    } else {
        s->daemon = MHD_start_daemon(flags, cfg->port, NULL, NULL, answer, s, MHD_OPTION_SOCK_ADDR,
                                     (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->threads,
                                     MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
                                     (unsigned)30, MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
                                     s->key_pem, MHD_OPTION_HTTPS_PRIORITIES, KBS_TLS_PRIORITIES, MHD_OPTION_END);
    }
    CCG_ENSURE_MSG(s->daemon != NULL, CCG_R_KBS_CONFIG_INVALID, "the HTTP server could not start on %.64s:%u",
                   cfg->bind_address, (unsigned)cfg->port);
    info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    s->port = info != NULL ? info->port : cfg->port;
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_kbs_server_stop(s);
    return result;
}

uint16_t ccg_kbs_server_port(const ccg_kbs_server *s) { return s->port; }

void ccg_kbs_server_stop(ccg_kbs_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->daemon != NULL) {
        MHD_stop_daemon(s->daemon);
    }
    if (s->key_pem != NULL) {
        ccg_secure_zero(s->key_pem, strlen(s->key_pem));
    }
    free(s->key_pem);
    free(s->cert_pem);
    free(s);
}
