/* The HTTP server: libmicrohttpd (Debian's libmicrohttpd12) with an internal thread pool, TLS by
 * default (MHD's HTTPS with the configured PEM certificate and key), plain HTTP only when asked for
 * explicitly and only on a loopback address. Routing and answers are ccg_kbs_handle's; this file
 * moves bytes, reads the cookie and the Authorization header, assigns request IDs and logs one JSON
 * line per request (never a cookie, token, key or evidence).
 *
 * What the front end guarantees (docs/kbs.md, "Limits" and "Paths"):
 *   - the path reaches ccg_kbs_handle exactly as sent: the library's percent-decoding is replaced by
 *     a callback that decodes nothing, and a NUL byte that cut the library's copy of the target short
 *     is detected and reported (kbs_path.c judges the path);
 *   - connections are limited in all and per client address (the library's limits), and a request
 *     must arrive whole within request_deadline seconds of its connection (or of the previous
 *     request's end), however busily the client trickles bytes: a watchdog thread shuts such a
 *     connection down. The library's own timeout only measures silence;
 *   - a body whose length is ambiguous (Transfer-Encoding beside Content-Length, two of either, a
 *     coding other than chunked) is refused before it is read and the connection closed, so no front
 *     end and this server disagree on where a request ends; a target with more query arguments than
 *     any route takes is cut as its request line arrives (the library would hold it unanswered);
 *   - request bodies are collected in buffers that are zeroed before they are freed or replaced, and
 *     the library's per-connection buffer is a mapping of its own, returned to the kernel on close;
 *   - the TLS private key's PEM lives in secret memory and is zeroed as soon as the library has
 *     parsed it.
 *
 * Reload (SIGHUP, docs/kbs.md "Reload"): the listening socket is the broker's own (kbs_listen.c). A
 * reload starts a second libmicrohttpd daemon with the new certificate and key on a duplicate of that
 * socket; only when it runs is the old daemon quiesced (it stops accepting, and keeps serving the
 * connections it has, keep-alive ones included, until they close or go idle). The watchdog stops a
 * quiesced daemon once it has no connection left. A certificate or key the TLS library refuses leaves
 * the old daemon as it was. Every line goes through the one log schema (log.h), the library's own
 * messages (GnuTLS handshake failures included) through its external logger. */
#include "kbs_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/rand.h>

#include "ccgate/error.h"
#include "ccgate/log.h"
#include "ccgate/secmem.h"

/* GnuTLS priorities: TLS 1.2 and 1.3 only. */
#define KBS_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
/* The longest request target kept for the log (longer ones are refused by the path grammar anyway). */
#define KBS_TARGET_MAX 4096u
#define KBS_TLS_KEY_MAX (64u * 1024u)
/* Query arguments a request target may carry (the resource path takes one, ?version=N). */
#define KBS_QUERY_ARGS_MAX 16u
/* Each connection's read buffer. Above 32 KiB the library maps it (mmap) and unmaps it when the
 * connection closes; a smaller one is malloc'd and freed unzeroed, leaving the raw request (a body can
 * carry a key) in the heap. */
#define KBS_CONN_MEMORY (64u * 1024u)

/* One TCP connection, from MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED, on the
 * watchdog's list. `since` is when the request being received began (the connection's start, or
 * the end of the previous request on it); `receiving` is 0 while a complete request is answered. */
typedef struct kbs_conn {
    struct kbs_conn *prev, *next;
    int fd;
    struct timespec since;
    int receiving;
    int cut;
    char address[INET6_ADDRSTRLEN];
} kbs_conn;

/* A quiesced daemon finishing its connections, and the listening descriptor it gave back. */
typedef struct kbs_retired {
    struct kbs_retired *next;
    struct MHD_Daemon *daemon;
    int fd;
    struct timespec since; /* when it was quiesced */
    unsigned left;         /* connections it still had when reaped */
} kbs_retired;

struct ccg_kbs_server {
    struct MHD_Daemon *daemon; /* the one accepting; replaced by a reload under reload_lock */
    kbs_retired *retired;      /* quiesced daemons still serving, under reload_lock */
    pthread_mutex_t reload_lock;
    int reload_lock_ok;
    int listen_fd;
    int insecure_http;
    unsigned threads, max_conns, per_address, idle;
    ccg_kbs *kbs;
    uint16_t port;
    char shown[INET6_ADDRSTRLEN + 16];
    unsigned deadline;
    unsigned drain; /* limits.reload_drain */
    pthread_mutex_t conns_lock; /* guards the list; held while a connection is shut down */
    kbs_conn *conns;
    int conns_lock_ok;
    pthread_t watchdog;
    int watchdog_running;
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    int stop_ok;
    int stopping;
};

/* One request: made by the URI log callback, which sees the target before the library splits and
 * unescapes it, and freed (body zeroed) when the request completes. */
typedef struct {
    uintptr_t target_at;         /* where the library's copy of the target starts */
    size_t target_len;           /* its length up to the first NUL */
    char target[KBS_TARGET_MAX]; /* that much of it (with the query) */
    int headers_done;
    int too_large;
    int framing_ambiguous; /* the body's length is ambiguous (framing_ambiguous): refused at once */
    kbs_body body;
} conn_state;

static void mono_now(struct timespec *t) { clock_gettime(CLOCK_MONOTONIC, t); }

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    mono_now(&t1);
    return (double)(t1.tv_sec - t0->tv_sec) + (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void log_line(const char *request_id, const char *method, const char *path, size_t path_len,
                     const ccg_kbs_http_response *r)
{
    char sent[KBS_TARGET_MAX];
    json_t *fields, *reasons = NULL;
    /* The path as sent, escaped: never the library's cut-down or decoded form, and always valid JSON. */
    kbs_path_escape(path, path_len, sent, sizeof(sent));
    if (r->status != 200 && r->body != NULL) {
        /* Our own error body: reason codes only. */
        json_t *b = json_loadb(r->body, r->body_len, 0, NULL);
        reasons = json_incref(json_object_get(b, "reasons"));
        json_decref(b);
    }
    fields = json_pack("{s:s,s:s,s:i}", "method", method, "path", sent, "status", (int)r->status);
    if (fields != NULL && reasons != NULL) {
        json_object_set(fields, "reasons", reasons);
    }
    json_decref(reasons);
    ccg_log_event(r->status >= 500 ? CCG_LOG_ERROR : CCG_LOG_INFO, "request", request_id, fields);
    json_decref(fields);
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

static kbs_conn *conn_of(struct MHD_Connection *connection)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void set_receiving(ccg_kbs_server *srv, struct MHD_Connection *connection, int receiving)
{
    kbs_conn *c = conn_of(connection);
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_lock);
    c->receiving = receiving;
    if (receiving) {
        mono_now(&c->since);
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

static void notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
                              enum MHD_ConnectionNotificationCode toe)
{
    ccg_kbs_server *srv = cls;
    kbs_conn *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr =
            MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        c = calloc(1, sizeof(*c));
        if (c == NULL || fd == NULL) {
            /* Untracked, so not bounded by the deadline: refuse it instead. */
            free(c);
            if (fd != NULL) {
                (void)shutdown(fd->connect_fd, SHUT_RDWR);
            }
            return;
        }
        c->fd = fd->connect_fd;
        c->receiving = 1;
        mono_now(&c->since);
        if (addr != NULL && addr->client_addr != NULL && addr->client_addr->sa_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)addr->client_addr)->sin_addr, c->address,
                      sizeof(c->address));
        } else if (addr != NULL && addr->client_addr != NULL && addr->client_addr->sa_family == AF_INET6) {
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)addr->client_addr)->sin6_addr,
                      c->address, sizeof(c->address));
        }
        pthread_mutex_lock(&srv->conns_lock);
        c->next = srv->conns;
        if (srv->conns != NULL) {
            srv->conns->prev = c;
        }
        srv->conns = c;
        pthread_mutex_unlock(&srv->conns_lock);
        *socket_context = c;
        return;
    }
    /* MHD_CONNECTION_NOTIFY_CLOSED: the library closes the socket after this returns, so the watchdog,
     * which shuts sockets down under the same lock, never touches a descriptor that was reused. */
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_lock);
    if (c->prev != NULL) {
        c->prev->next = c->next;
    } else {
        srv->conns = c->next;
    }
    if (c->next != NULL) {
        c->next->prev = c->prev;
    }
    pthread_mutex_unlock(&srv->conns_lock);
    free(c);
    *socket_context = NULL;
}

/* Shuts down every connection whose request has not arrived whole within the deadline. */
static void enforce_deadline(ccg_kbs_server *srv)
{
    pthread_mutex_lock(&srv->conns_lock);
    for (kbs_conn *c = srv->conns; c != NULL; c = c->next) {
        if (c->receiving && !c->cut && seconds_since(&c->since) >= (double)srv->deadline) {
            c->cut = 1;
            (void)shutdown(c->fd, SHUT_RDWR);
            ccg_log_eventf(CCG_LOG_INFO, "connection_closed", NULL, "{s:[s],s:s,s:i}", "reasons",
                           ccg_reason_code(CCG_R_KBS_REQUEST_DEADLINE), "address", c->address, "deadline",
                           (int)srv->deadline);
        }
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

static unsigned daemon_connections(struct MHD_Daemon *d)
{
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
    return info != NULL ? info->num_connections : 0;
}

/* Stops the quiesced daemons that have no connection left or are past the drain limit (every one when
 * all). */
static void reap_retired(ccg_kbs_server *srv, int all)
{
    kbs_retired *done = NULL, **at;
    pthread_mutex_lock(&srv->reload_lock);
    at = &srv->retired;
    while (*at != NULL) {
        kbs_retired *r = *at;
        r->left = daemon_connections(r->daemon);
        /* A rotated certificate may be a compromised one: a client keeping a connection alive on it is
         * cut off after limits.reload_drain. */
        if (all || r->left == 0 || seconds_since(&r->since) >= (double)srv->drain) {
            *at = r->next;
            r->next = done;
            done = r;
        } else {
            at = &r->next;
        }
    }
    pthread_mutex_unlock(&srv->reload_lock);
    while (done != NULL) {
        kbs_retired *r = done;
        done = r->next;
        MHD_stop_daemon(r->daemon); /* a quiesced daemon does not close its listening descriptor */
        if (r->fd >= 0) {
            close(r->fd);
        }
        if (!all) {
            ccg_log_eventf(r->left == 0 ? CCG_LOG_INFO : CCG_LOG_WARN, "reload_drained", NULL, "{s:s,s:i}", "detail",
                           r->left == 0 ? "the previous TLS server finished its connections and stopped"
                                        : "the previous TLS server reached limits.reload_drain: its connections closed",
                           "connections_closed", (int)r->left);
        }
        free(r);
    }
}

/* Four times a second: the request deadline, the quiesced daemons that have drained, and the
 * anonymous-denial audit summaries whose window has ended (ccg_kbs_tick). */
static void *watchdog_main(void *arg)
{
    ccg_kbs_server *srv = arg;
    pthread_mutex_lock(&srv->stop_lock);
    while (!srv->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 250 * 1000 * 1000;
        if (until.tv_nsec >= 1000 * 1000 * 1000) {
            until.tv_sec++;
            until.tv_nsec -= 1000 * 1000 * 1000;
        }
        (void)pthread_cond_timedwait(&srv->stop_cond, &srv->stop_lock, &until);
        if (srv->stopping) {
            break;
        }
        pthread_mutex_unlock(&srv->stop_lock);
        enforce_deadline(srv);
        reap_retired(srv, 0);
        ccg_kbs_tick(srv->kbs);
        pthread_mutex_lock(&srv->stop_lock);
    }
    pthread_mutex_unlock(&srv->stop_lock);
    return NULL;
}

/* The library decodes %XX in the path in place by default, so "c%00" became a C string cut at the NUL
 * and "%2F" a separator. The path is kept exactly as sent; kbs_path.c judges it. */
static size_t no_unescape(void *cls, struct MHD_Connection *connection, char *s)
{
    (void)cls;
    (void)connection;
    return strlen(s);
}

/* The number of query arguments in a request target ('&'-separated fields after the first '?'). */
static size_t query_arguments(const char *uri)
{
    const char *q = strchr(uri, '?');
    size_t n = q != NULL ? 1 : 0;
    for (; q != NULL && *q != 0; q++) {
        n += *q == '&';
    }
    return n;
}

/* Shuts down a connection whose request the library cannot answer (see uri_seen). */
static void cut_now(ccg_kbs_server *srv, struct MHD_Connection *connection, ccg_reason why, const char *detail)
{
    kbs_conn *c = conn_of(connection);
    int fd;
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&srv->conns_lock);
    fd = c->fd;
    if (!c->cut) {
        c->cut = 1;
        (void)shutdown(fd, SHUT_RDWR); /* the library then reads the end and closes it */
        ccg_log_eventf(CCG_LOG_INFO, "connection_closed", NULL, "{s:[s],s:s,s:s}", "reasons", ccg_reason_code(why),
                       "address", c->address, "detail", detail);
    }
    pthread_mutex_unlock(&srv->conns_lock);
}

static void *uri_seen(void *cls, const char *uri, struct MHD_Connection *connection)
{
    ccg_kbs_server *srv = cls;
    conn_state *st = calloc(1, sizeof(*st));
    if (st != NULL && uri != NULL) {
        st->target_at = (uintptr_t)uri;
        st->target_len = strlen(uri);
        snprintf(st->target, sizeof(st->target), "%s", uri);
    }
    /* libmicrohttpd 0.9.75 keeps each query argument in the connection's 64 KiB pool: about a thousand
     * of them ("?a&a&..." in 2 KiB) exhaust it, and the library then neither answers (its 431 needs the
     * pool too) nor closes, so the connection stayed until the request deadline. No route takes more
     * than one argument: a target with more than KBS_QUERY_ARGS_MAX is cut at once. */
    if (uri != NULL && query_arguments(uri) > KBS_QUERY_ARGS_MAX) {
        cut_now(srv, connection, CCG_R_INPUT_TOO_LARGE, "too many query arguments");
    }
    return st;
}

/* The length of the path as sent when a NUL byte cut the library's copy short, else 0. libmicrohttpd
 * 0.9.75 accepts a NUL inside the request target; its request line is one buffer in which the
 * target starts at `url` and the HTTP version follows the target's last byte. The URI log callback
 * saw the target (query included) up to its first NUL, so a version that starts further on means
 * bytes were hidden behind one. */
static size_t hidden_path_len(const conn_state *st, const char *url, const char *version)
{
    uintptr_t u = (uintptr_t)url, v = (uintptr_t)version;
    if (st->target_at != u || v <= u || v - u > KBS_TARGET_MAX * 16u) {
        return 0; /* not the layout described above: nothing to compare */
    }
    return v - u - 1 > st->target_len ? v - u - 1 : 0;
}

static void completed(void *cls, struct MHD_Connection *connection, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    ccg_kbs_server *srv = cls;
    conn_state *st = *con_cls;
    (void)toe;
    if (st != NULL) {
        kbs_body_free(&st->body);
        free(st);
        *con_cls = NULL;
    }
    /* The next request on this connection has its own deadline, from now. */
    set_receiving(srv, connection, 1);
}

/* A header name and how many times it occurs (count_header's `cls`). */
typedef struct {
    const char *name;
    unsigned n;
} header_count;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    header_count *c = cls;
    (void)kind;
    (void)value;
    c->n += key != NULL && strcasecmp(key, c->name) == 0;
    return MHD_YES;
}

static unsigned headers_named(struct MHD_Connection *connection, const char *name)
{
    header_count c = {name, 0};
    (void)MHD_get_connection_values(connection, MHD_HEADER_KIND, count_header, &c);
    return c.n;
}

/* Whether the body's length is ambiguous. libmicrohttpd 0.9.75 reads a body with both Transfer-Encoding
 * and Content-Length as chunked, one with two Content-Lengths by the first, and keeps the connection in
 * both cases, so a front end that went by the other length would take the bytes after the body as part
 * of it while the broker answered them as a second request (request smuggling); a Transfer-Encoding
 * other than "chunked" left the connection unanswered until the request deadline. Each is refused at
 * once (RFC 9112, 6.1 and 6.3). */
static int framing_ambiguous(struct MHD_Connection *connection)
{
    const char *te = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned te_n = headers_named(connection, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    unsigned cl_n = headers_named(connection, MHD_HTTP_HEADER_CONTENT_LENGTH);
    return cl_n > 1 || te_n > 1 || (te_n == 1 && (cl_n > 0 || te == NULL || strcasecmp(te, "chunked") != 0));
}

/* An Attestation may carry a whole TDX event log area; every other body is small. The URL here is as
 * sent: an encoded variant of the attest path gets the small limit, and the router refuses it anyway. */
static size_t body_limit(const char *method, const char *url)
{
    if (strcmp(method, "POST") == 0 && strncmp(url, "/admin/v0/keys", 14) == 0) {
        return CCG_KBS_MAX_ADMIN_KEY_BODY; /* a resource up to 1 MiB, base64url (lifecycle) */
    }
    return strcmp(method, "POST") == 0 && strcmp(url, "/kbs/v0/attest") == 0 ? CCG_KBS_MAX_ATTEST_BODY
                                                                                : CCG_KBS_MAX_BODY;
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

    if (st == NULL) {
        return MHD_NO; /* the URI log callback could not allocate: close */
    }
    if (!st->headers_done) {
        st->headers_done = 1;
        st->framing_ambiguous = framing_ambiguous(connection);
        if (!st->framing_ambiguous) {
            return MHD_YES;
        }
        /* answered now, before any of the body is read; the connection closes after the answer */
    } else if (*upload_data_size > 0) {
        if (!st->too_large) {
            int rc = kbs_body_append(&st->body, upload_data, *upload_data_size, body_limit(method, url));
            if (rc < 0) {
                return MHD_NO;
            }
            st->too_large = rc > 0;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    /* The whole request is here: the deadline stops while it is answered. */
    set_receiving(srv, connection, 0);

    if (RAND_bytes(rid, sizeof(rid)) != 1) {
        return MHD_NO;
    }
    ccg_hex_encode(rid, sizeof(rid), request_id);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = url;
    req.path_len = hidden_path_len(st, url, version);
    req.query = strchr(st->target, '?') != NULL ? strchr(st->target, '?') + 1 : NULL; /* as sent (lifecycle) */
    req.cookie_session = MHD_lookup_connection_value(connection, MHD_COOKIE_KIND, CCG_KBS_COOKIE);
    req.authorization = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    req.body = st->body.data != NULL ? st->body.data : "";
    req.body_len = st->body.len;
    req.request_id = request_id;
    req.client_address = client_address(connection, peer, sizeof(peer));
    if (st->framing_ambiguous) {
        memset(&resp, 0, sizeof(resp));
        kbs_json_response(&resp, 400,
                          json_pack("{s:s,s:s,s:[s],s:s}", "type",
                                    "https://github.com/confidential-containers/kbs/errors/InvalidRequest", "detail",
                                    "the body's length is ambiguous (Transfer-Encoding and Content-Length together, "
                                    "two of either, or a transfer coding other than chunked)",
                                    "reasons", "input.malformed",
                                    "request_id", request_id));
    } else if (st->too_large) {
        memset(&resp, 0, sizeof(resp));
        kbs_json_response(&resp, 413,
                          json_pack("{s:s,s:s,s:[s],s:s}", "type",
                                    "https://github.com/confidential-containers/kbs/errors/InvalidRequest", "detail",
                                    "the request body is too large", "reasons", "input.too_large", "request_id",
                                    request_id));
    } else {
        ccg_kbs_handle(srv->kbs, &req, &resp);
    }
    /* The body has been answered: no copy of it outlives this call. */
    kbs_body_free(&st->body);
    log_line(request_id, method, url, req.path_len, &resp);
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
    if (st->framing_ambiguous) {
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close"); /* nothing after it is read */
    }
    ret = MHD_queue_response(connection, resp.status, r);
    MHD_destroy_response(r);
    ccg_kbs_response_free(&resp);
    return ret;
}

/* The TLS private key, read straight into secret memory (no stdio buffer holds a copy). */
static ccg_result read_key_pem(const char *path, int allow_unlocked, ccg_secbuf *out)
{
    ccg_result result = CCG_FAILURE;
    struct stat sb;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_READ_FAILED, "cannot open %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
                       (uint64_t)sb.st_size <= KBS_TLS_KEY_MAX,
                   CCG_R_KBS_CONFIG_INVALID, "tls.key_file %s is not a regular file of 1..%u bytes", path,
                   KBS_TLS_KEY_MAX);
    CCG_TRY(ccg_secbuf_alloc(out, (size_t)sb.st_size + 1, allow_unlocked));
    while (len < (size_t)sb.st_size) {
        ssize_t n = read(fd, out->data + len, (size_t)sb.st_size - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(n > 0, CCG_R_IO_READ_FAILED, "cannot read %s", path);
        len += (size_t)n;
    }
    out->data[len] = 0;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (ccg_failed(result)) {
        ccg_secbuf_free(out);
    }
    return result;
}

static unsigned or_default(unsigned v, unsigned d) { return v != 0 ? v : d; }

/* Whether descriptor fd still names the socket described by sb. libmicrohttpd closes the listening
 * socket it was given when MHD_start_daemon fails after taking it (a refused certificate), but not on
 * every path; another thread may have reused the number since, for a socket with another inode. */
static int still_ours(int fd, const struct stat *sb)
{
    struct stat now;
    return fstat(fd, &now) == 0 && now.st_dev == sb->st_dev && now.st_ino == sb->st_ino;
}

/* A daemon on a duplicate of the listening socket: plain HTTP, or TLS with this certificate and key
 * (PEM; the key's text is zeroed by the caller once this returns). */
static ccg_result start_daemon(ccg_kbs_server *s, const char *cert_pem, const char *key_pem, struct MHD_Daemon **out)
{
    ccg_result result = CCG_FAILURE;
    /* MHD_USE_AUTO: epoll on Linux, so the pool is not bound by select's FD_SETSIZE. MHD_USE_ITC: a
     * reload can quiesce it. */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    int fd = fcntl(s->listen_fd, F_DUPFD_CLOEXEC, 3);
    struct stat listen_sb;
    struct MHD_OptionItem tls[] = {
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)cert_pem},
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)key_pem},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)KBS_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    *out = NULL;
    CCG_ENSURE_MSG(fd >= 0, CCG_R_INTERNAL_ERROR, "dup of the listening socket: %s", strerror(errno));
    if (fstat(fd, &listen_sb) != 0) {
        close(fd);
        CCG_BAIL(CCG_R_INTERNAL_ERROR, "fstat of the listening socket: %s", strerror(errno));
    }
    if (!s->insecure_http) {
        flags |= MHD_USE_TLS;
    }
    *out = MHD_start_daemon(
        flags, 0, NULL, NULL, answer, s, MHD_OPTION_EXTERNAL_LOGGER, ccg_log_mhd, NULL, /* first: all messages */
        MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_THREAD_POOL_SIZE, s->threads,
        MHD_OPTION_CONNECTION_LIMIT, s->max_conns,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, s->per_address, MHD_OPTION_CONNECTION_TIMEOUT, s->idle,
        MHD_OPTION_NOTIFY_CONNECTION, notify_connection, s, MHD_OPTION_URI_LOG_CALLBACK, uri_seen, s,
        MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, s, MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)KBS_CONN_MEMORY, MHD_OPTION_ARRAY,
        s->insecure_http ? &tls[3] : tls, MHD_OPTION_END);
    if (*out == NULL && still_ours(fd, &listen_sb)) {
        close(fd);
    }
    CCG_ENSURE_MSG(*out != NULL, CCG_R_KBS_CONFIG_INVALID,
                   "the HTTP server could not start on %s (for TLS: is the certificate and key a matching PEM pair?)",
                   s->shown);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The configured certificate and key: the certificate's PEM and the key's in secret memory. */
static ccg_result read_tls(const ccg_kbs_config *cfg, char **cert, ccg_secbuf *key)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    *cert = NULL;
    CCG_ENSURE_MSG(cfg->tls_cert != NULL && cfg->tls_key != NULL, CCG_R_KBS_CONFIG_INVALID,
                   "TLS is required: configure tls.cert_file and tls.key_file, or pass --insecure-http for a "
                   "loopback test server");
    CCG_TRY(ccg_file_read(cfg->tls_cert, 1u << 20, (uint8_t **)cert, &n));
    CCG_TRY(read_key_pem(cfg->tls_key, cfg->allow_unlocked_memory, key));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        free(*cert);
        *cert = NULL;
    }
    return result;
}

ccg_result ccg_kbs_server_start(ccg_kbs *k, const ccg_kbs_config *cfg, int insecure_http, ccg_kbs_server **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs_server *s = NULL;
    char *cert = NULL;
    ccg_secbuf key = {0};

    *out = NULL;
    s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->listen_fd = -1;
    s->kbs = k;
    s->insecure_http = insecure_http;
    s->deadline = or_default(cfg->request_deadline, 20);
    s->drain = or_default(cfg->reload_drain, CCG_KBS_RELOAD_DRAIN_DEFAULT);
    s->threads = or_default(cfg->threads, 4);
    s->max_conns = or_default(cfg->max_connections, 256);
    s->per_address = or_default(cfg->max_per_address, 32);
    s->idle = or_default(cfg->idle_timeout, 15);
    CCG_ENSURE(pthread_mutex_init(&s->conns_lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    s->conns_lock_ok = 1;
    CCG_ENSURE(pthread_mutex_init(&s->reload_lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    s->reload_lock_ok = 1;
    {
        pthread_condattr_t ca;
        CCG_ENSURE(pthread_mutex_init(&s->stop_lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
        CCG_ENSURE(pthread_condattr_init(&ca) == 0, CCG_R_INTERNAL_ERROR);
        (void)pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        if (pthread_cond_init(&s->stop_cond, &ca) != 0) {
            pthread_condattr_destroy(&ca);
            pthread_mutex_destroy(&s->stop_lock);
            CCG_BAIL(CCG_R_INTERNAL_ERROR, "pthread_cond_init");
        }
        pthread_condattr_destroy(&ca);
        s->stop_ok = 1;
    }
    CCG_ENSURE_MSG(s->max_conns >= s->threads, CCG_R_KBS_CONFIG_INVALID,
                   "limits.connections (%u) is below threads (%u)", s->max_conns, s->threads);
    if (!insecure_http) {
        CCG_TRY(read_tls(cfg, &cert, &key)); /* before binding: a missing file is reported as such */
    }
    CCG_TRY(kbs_listen_open(cfg->bind_address, cfg->port, insecure_http, &s->listen_fd, &s->port, s->shown,
                            sizeof(s->shown)));
    CCG_TRY(start_daemon(s, cert, (const char *)key.data, &s->daemon));
    CCG_ENSURE(pthread_create(&s->watchdog, NULL, watchdog_main, s) == 0, CCG_R_INTERNAL_ERROR);
    s->watchdog_running = 1;
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    /* The library has parsed the key into its own credentials; the PEM text is not needed again. */
    ccg_secbuf_free(&key);
    free(cert);
    ccg_kbs_server_stop(s);
    return result;
}

ccg_result ccg_kbs_server_reload_tls(ccg_kbs_server *s, const ccg_kbs_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    struct MHD_Daemon *fresh = NULL;
    kbs_retired *r = NULL;
    char *cert = NULL;
    ccg_secbuf key = {0};
    if (s->insecure_http) {
        return CCG_SUCCESS; /* no certificate to replace */
    }
    CCG_TRY(read_tls(cfg, &cert, &key));
    r = calloc(1, sizeof(*r));
    CCG_ENSURE_ALLOC(r);
    /* The new daemon runs before the old one stops accepting: no moment without a listener. */
    CCG_TRY(start_daemon(s, cert, (const char *)key.data, &fresh));
    pthread_mutex_lock(&s->reload_lock);
    r->daemon = s->daemon;
    r->fd = MHD_quiesce_daemon(s->daemon);
    mono_now(&r->since);
    r->next = s->retired;
    s->retired = r;
    s->daemon = fresh;
    pthread_mutex_unlock(&s->reload_lock);
    r = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(r);
    ccg_secbuf_free(&key);
    free(cert);
    return result;
}

uint16_t ccg_kbs_server_port(const ccg_kbs_server *s) { return s->port; }

const char *ccg_kbs_server_address(const ccg_kbs_server *s) { return s->shown; }

void ccg_kbs_server_stop(ccg_kbs_server *s)
{
    if (s == NULL) {
        return;
    }
    if (s->watchdog_running) {
        pthread_mutex_lock(&s->stop_lock);
        s->stopping = 1;
        pthread_cond_signal(&s->stop_cond);
        pthread_mutex_unlock(&s->stop_lock);
        pthread_join(s->watchdog, NULL);
    }
    if (s->reload_lock_ok) {
        reap_retired(s, 1);
    }
    if (s->daemon != NULL) {
        MHD_stop_daemon(s->daemon); /* closes its duplicate of the listening socket */
    }
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
    }
    if (s->stop_ok) {
        pthread_cond_destroy(&s->stop_cond);
        pthread_mutex_destroy(&s->stop_lock);
    }
    if (s->reload_lock_ok) {
        pthread_mutex_destroy(&s->reload_lock);
    }
    if (s->conns_lock_ok) {
        pthread_mutex_destroy(&s->conns_lock);
    }
    free(s);
}
