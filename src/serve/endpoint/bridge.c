/* The TLS side of the endpoint. One acceptor thread; one thread per accepted connection (bounded by
 * max_connections and max_per_address, both checked before any TLS byte is read). That thread:
 *
 *   1. runs the TLS 1.3 handshake within handshake_timeout_ms (a TLS 1.2 client, a stalled client or a
 *      failed handshake is endpoint.handshake_failed, logged and counted);
 *   2. records the connection's facts: the RFC 9266 exporter, the client certificate's verification
 *      and name, the peer address;
 *   3. creates a socketpair and hands one end to libmicrohttpd with MHD_add_connection; MHD's
 *      connection finds these facts by that descriptor (server.c, notify_connection);
 *   4. pumps bytes between TLS and the socketpair, and enforces the deadlines: a request must arrive
 *      whole within request_timeout_ms of its first byte (else a 408 endpoint.request_timeout is written
 *      and the connection cut: slow-drip clients hold nothing for long), and an idle kept-alive
 *      connection is closed after idle_timeout_ms. Other connections are served meanwhile. */
#include "ep_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/error.h"

#define PUMP_BUF 16384
#define TICK_MS 100

static void set_nonblock(int fd) { (void)fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

ccg_result ep_bridge_listen(struct ccg_endpoint *ep)
{
    ccg_result result = CCG_FAILURE;
    char host[256];
    const char *colon = strrchr(ep->cfg->listen, ':');
    const char *port;
    struct addrinfo hints, *ai = NULL;
    struct sockaddr_storage sa;
    socklen_t sl = sizeof(sa);
    int one = 1, rc;
    size_t hl;
    CCG_ENSURE_MSG(colon != NULL && colon != ep->cfg->listen && (size_t)(colon - ep->cfg->listen) < sizeof(host),
                   CCG_R_ENDPOINT_TLS_SETUP_FAILED, "\"endpoint.listen\" must be HOST:PORT");
    hl = (size_t)(colon - ep->cfg->listen);
    memcpy(host, ep->cfg->listen, hl);
    host[hl] = 0;
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        memmove(host, host + 1, hl - 2);
        host[hl - 2] = 0;
    }
    port = colon + 1;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &ai);
    CCG_ENSURE_MSG(rc == 0 && ai != NULL, CCG_R_ENDPOINT_TLS_SETUP_FAILED,
                   "\"endpoint.listen\": %.64s is not a numeric HOST:PORT", ep->cfg->listen);
    ep->listen_fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    CCG_ENSURE_MSG(ep->listen_fd >= 0, CCG_R_ENDPOINT_TLS_SETUP_FAILED, "socket: %s", strerror(errno));
    (void)setsockopt(ep->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    CCG_ENSURE_MSG(bind(ep->listen_fd, ai->ai_addr, ai->ai_addrlen) == 0, CCG_R_ENDPOINT_TLS_SETUP_FAILED,
                   "bind(%.64s): %s", ep->cfg->listen, strerror(errno));
    CCG_ENSURE_MSG(listen(ep->listen_fd, 128) == 0, CCG_R_ENDPOINT_TLS_SETUP_FAILED, "listen: %s", strerror(errno));
    CCG_ENSURE_MSG(getsockname(ep->listen_fd, (struct sockaddr *)&sa, &sl) == 0, CCG_R_ENDPOINT_TLS_SETUP_FAILED,
                   "getsockname: %s", strerror(errno));
    ep->port = ntohs(sa.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&sa)->sin6_port
                                              : ((struct sockaddr_in *)&sa)->sin_port);
    result = CCG_SUCCESS;
cleanup:
    if (ai != NULL) {
        freeaddrinfo(ai);
    }
    return result;
}

static void peer_text(const struct sockaddr_storage *sa, char *out, size_t len)
{
    out[0] = 0;
    if (sa->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)len);
    } else if (sa->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)len);
    }
}

void ep_conn_set_phase(ep_conn *c, ep_phase ph)
{
    pthread_mutex_lock(&c->lock);
    if (c->phase != EP_REAPED) {
        c->phase = ph;
        c->phase_ms = ep_now_ms();
    }
    pthread_mutex_unlock(&c->lock);
}

static void conn_free(ep_conn *c)
{
    ep_runner_link_free(c->runner_link);
    SSL_free(c->ssl);
    if (c->tcp_fd >= 0) {
        close(c->tcp_fd);
    }
    if (c->pair_fd >= 0) {
        close(c->pair_fd);
    }
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Drops one reference; the last one frees. The list membership ends with the pump (unlink). */
void ep_conn_release(ep_conn *c)
{
    struct ccg_endpoint *ep = c->ep;
    int last;
    pthread_mutex_lock(&ep->lock);
    last = --c->refs == 0;
    pthread_mutex_unlock(&ep->lock);
    if (last) {
        conn_free(c);
    }
}

void ep_conn_retain(ep_conn *c)
{
    pthread_mutex_lock(&c->ep->lock);
    c->refs++;
    pthread_mutex_unlock(&c->ep->lock);
}

static void unlink_conn(ep_conn *c)
{
    struct ccg_endpoint *ep = c->ep;
    pthread_mutex_lock(&ep->lock);
    for (ep_conn **p = &ep->conns; *p != NULL; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            break;
        }
    }
    ep->n_conns--;
    pthread_cond_broadcast(&ep->drained);
    pthread_mutex_unlock(&ep->lock);
}

static void log_conn(ep_conn *c, const char *level, const char *event, ccg_reason r, const char *detail)
{
    char cid[EP_CID_LEN + 1];
    ep_logrec rec = {.level = level, .event = event, .peer = c->peer, .reason = r, .detail = detail, .cid = cid};
    ep_cid_new(cid);
    ep_log(c->ep, &rec);
}

/* Waits for fd to be ready for what SSL wants, until deadline; 0 on timeout or stop. */
static int wait_ssl(ep_conn *c, int ssl_err, uint64_t deadline)
{
    uint64_t now = ep_now_ms();
    struct pollfd p = {.fd = c->tcp_fd, .events = ssl_err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN};
    if (now >= deadline || c->ep->stopping) {
        return 0;
    }
    return poll(&p, 1, (int)(deadline - now < TICK_MS ? deadline - now : TICK_MS)) >= 0;
}

static int handshake(ep_conn *c)
{
    uint64_t deadline = ep_now_ms() + c->ep->cfg->handshake_timeout_ms;
    for (;;) {
        int rc = SSL_accept(c->ssl), err;
        if (rc == 1) {
            return 1;
        }
        err = SSL_get_error(c->ssl, rc);
        if ((err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) || !wait_ssl(c, err, deadline)) {
            char why[160];
            unsigned long e = ERR_peek_error();
            const char *what = e != 0 ? ERR_reason_error_string(e) : NULL;
            snprintf(why, sizeof(why), "%s", ep_now_ms() >= deadline ? "deadline"
                                             : what != NULL           ? what
                                             : e != 0                 ? "failed"
                                                                      : "closed");
            ERR_clear_error();
            ep_count(c->ep, &c->ep->counters.handshake_failed);
            log_conn(c, "warning", "endpoint.handshake", CCG_R_ENDPOINT_HANDSHAKE_FAILED, why);
            return 0;
        }
    }
}

static void conn_facts(ep_conn *c)
{
    X509 *peer = SSL_get0_peer_certificate(c->ssl);
    (void)SSL_export_keying_material(c->ssl, c->exporter, EP_EXPORTER_LEN, "EXPORTER-Channel-Binding",
                                     strlen("EXPORTER-Channel-Binding"), NULL, 0, 0);
    if (peer != NULL) {
        c->cert_present = 1;
        c->cert_error = ep_tls_cert_error(c->ssl);
        if (X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, c->cert_name,
                                      sizeof(c->cert_name)) < 0) {
            c->cert_name[0] = 0;
        }
        for (char *p = c->cert_name; *p != 0; p++) {
            if ((unsigned char)*p < 0x21 || (unsigned char)*p > 0x7e || *p == '"' || *p == '\\') {
                *p = '?'; /* a name goes into logs: printable, no quoting tricks */
            }
        }
    }
}

/* Writes the 408 for a cut request (best effort: the client may not read it). */
static void write_timeout(ep_conn *c)
{
    char cid[EP_CID_LEN + 1];
    size_t len = 0, off = 0;
    char *resp;
    uint64_t deadline = ep_now_ms() + 1000;
    ep_logrec rec = {.level = "warning", .event = "endpoint.request", .peer = c->peer, .cid = cid,
                     .reason = CCG_R_ENDPOINT_REQUEST_TIMEOUT, .status = 408, .detail = "slow-request"};
    ep_cid_new(cid);
    ep_count(c->ep, &c->ep->counters.request_timeout);
    ep_log(c->ep, &rec);
    resp = ep_error_http(408, CCG_R_ENDPOINT_REQUEST_TIMEOUT, cid, &len);
    while (resp != NULL && off < len) {
        size_t w = 0;
        int rc = SSL_write_ex(c->ssl, resp + off, len - off, &w);
        if (rc == 1) {
            off += w;
            continue;
        }
        if (!wait_ssl(c, SSL_get_error(c->ssl, rc), deadline)) {
            break;
        }
    }
    free(resp);
    (void)SSL_shutdown(c->ssl);
}

typedef struct {
    uint8_t in[PUMP_BUF];  /* client -> MHD */
    size_t in_len;
    uint8_t out[PUMP_BUF]; /* MHD -> client */
    size_t out_len, out_off;
    int client_eof, mhd_eof;
    /* Whether a read may find something: set from poll's answer (or when poll was not asked), cleared by a
     * short read. Saves the read that would only say EAGAIN. */
    int try_tls, try_mhd;
} pump_state;

/* The deadline check: 1 when the connection must end now. */
static int deadline_passed(ep_conn *c, int *reaped)
{
    uint64_t now = ep_now_ms();
    int end = 0;
    pthread_mutex_lock(&c->lock);
    if (c->phase == EP_RECEIVING && now - c->phase_ms > c->ep->cfg->request_timeout_ms) {
        c->phase = EP_REAPED;
        *reaped = 1;
        end = 1;
    } else if (c->phase == EP_IDLE && now - c->phase_ms > c->ep->cfg->idle_timeout_ms) {
        end = 1;
    }
    pthread_mutex_unlock(&c->lock);
    return end;
}

/* Client bytes arrived (or MHD parsed a pipelined request's headers): an idle connection starts a
 * request, whose deadline starts now. */
void ep_conn_request_started(ep_conn *c)
{
    pthread_mutex_lock(&c->lock);
    if (c->phase == EP_IDLE) {
        c->phase = EP_RECEIVING;
        c->phase_ms = ep_now_ms();
    }
    pthread_mutex_unlock(&c->lock);
}

/* One round: move what can move without blocking. Returns 0 when the connection is over. */
static int pump_once(ep_conn *c, pump_state *s)
{
    int progress = 1;
    while (progress) {
        progress = 0;
        /* TLS -> buffer */
        if (!s->client_eof && s->in_len < sizeof(s->in) && (s->try_tls || SSL_pending(c->ssl) > 0)) {
            size_t n = 0, room = sizeof(s->in) - s->in_len;
            int rc = SSL_read_ex(c->ssl, s->in + s->in_len, room, &n);
            if (rc == 1) {
                s->in_len += n;
                s->try_tls = n == room; /* a short read took what there was */
                ep_conn_request_started(c);
                progress = 1;
            } else {
                int err = SSL_get_error(c->ssl, rc);
                s->try_tls = 0;
                if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                    s->client_eof = 1;
                    ERR_clear_error();
                }
            }
        }
        /* buffer -> MHD */
        if (s->in_len > 0) {
            ssize_t w = send(c->pair_fd, s->in, s->in_len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (w > 0) {
                memmove(s->in, s->in + w, s->in_len - (size_t)w);
                s->in_len -= (size_t)w;
                progress = 1;
            } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                return 0;
            }
        }
        /* MHD -> buffer */
        if (!s->mhd_eof && s->out_len == 0 && s->try_mhd) {
            ssize_t r = recv(c->pair_fd, s->out, sizeof(s->out), MSG_DONTWAIT);
            if (r > 0) {
                s->out_len = (size_t)r;
                s->out_off = 0;
                s->try_mhd = (size_t)r == sizeof(s->out);
                progress = 1;
            } else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
                s->mhd_eof = 1;
            } else {
                s->try_mhd = 0;
            }
        }
        /* buffer -> TLS */
        if (s->out_off < s->out_len) {
            size_t w = 0;
            int rc = SSL_write_ex(c->ssl, s->out + s->out_off, s->out_len - s->out_off, &w);
            if (rc == 1) {
                s->out_off += w;
                if (s->out_off == s->out_len) {
                    s->out_len = s->out_off = 0;
                }
                progress = 1;
            } else {
                int err = SSL_get_error(c->ssl, rc);
                if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
                    ERR_clear_error();
                    return 0;
                }
            }
        }
    }
    if (s->mhd_eof && s->out_len == 0) {
        return 0; /* MHD closed and everything it said was sent */
    }
    if (s->client_eof && s->in_len == 0) {
        (void)shutdown(c->pair_fd, SHUT_WR); /* MHD sees the end; it may still answer */
    }
    return 1;
}

static void pump(ep_conn *c)
{
    pump_state *s = calloc(1, sizeof(*s));
    int reaped = 0;
    if (s == NULL) {
        return;
    }
    s->try_tls = s->try_mhd = 1;
    while (!c->ep->stopping) {
        struct pollfd p[2];
        if (!pump_once(c, s)) {
            break;
        }
        if (deadline_passed(c, &reaped)) {
            break;
        }
        p[0].fd = c->tcp_fd;
        p[0].events = (short)((!s->client_eof && s->in_len < sizeof(s->in) ? POLLIN : 0) |
                              (s->out_off < s->out_len ? POLLOUT : 0));
        p[1].fd = c->pair_fd;
        p[1].events = (short)((!s->mhd_eof && s->out_len == 0 ? POLLIN : 0) | (s->in_len > 0 ? POLLOUT : 0));
        if (s->client_eof && s->mhd_eof) {
            break;
        }
        if (SSL_pending(c->ssl) > 0 && s->in_len < sizeof(s->in)) {
            s->try_tls = 1;
            continue;
        }
        if (poll(p, 2, TICK_MS) < 0) {
            p[0].revents = p[1].revents = POLLIN; /* EINTR: try both */
        }
        /* A readable (or closed, or failed) side is read next round; so is one whose readiness poll was not
         * asked about, and the TLS side whenever it became writable (OpenSSL may have wanted to write). */
        s->try_tls = s->try_tls || p[0].revents != 0 || !(p[0].events & POLLIN);
        s->try_mhd = s->try_mhd || p[1].revents != 0 || !(p[1].events & POLLIN);
    }
    if (reaped) {
        write_timeout(c);
    } else {
        (void)SSL_shutdown(c->ssl); /* close_notify, best effort (non-blocking) */
        ERR_clear_error();
    }
    (void)shutdown(c->pair_fd, SHUT_RDWR); /* MHD's side sees the end and closes its connection */
    free(s);
}

/* Registers the connection with MHD through a socketpair. */
static int bridge_to_mhd(ep_conn *c)
{
    struct ccg_endpoint *ep = c->ep;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return 0;
    }
    c->pair_fd = sv[0];
    c->mhd_fd = sv[1];
    set_nonblock(c->pair_fd);
    if (MHD_add_connection(ep->mhd, sv[1], (const struct sockaddr *)&c->peer_addr, c->peer_addr_len) != MHD_YES) {
        return 0; /* MHD closed sv[1] */
    }
    return 1; /* MHD's connection claims this one when it starts (server.c, notify) */
}

static void *conn_thread(void *arg)
{
    ep_conn *c = arg;
    ep_count(c->ep, &c->ep->counters.connections);
    if (handshake(c)) {
        conn_facts(c);
        ep_conn_set_phase(c, EP_IDLE);
        if (bridge_to_mhd(c)) {
            pump(c);
        } else {
            log_conn(c, "error", "endpoint.bridge", CCG_R_ENDPOINT_TOO_MANY_CONNECTIONS, "mhd-refused");
        }
    }
    unlink_conn(c);
    ep_conn_release(c);
    return NULL;
}

/* The caps, checked before the handshake. */
static int admit(struct ccg_endpoint *ep, const char *peer)
{
    unsigned same = 0;
    int ok;
    pthread_mutex_lock(&ep->lock);
    for (ep_conn *c = ep->conns; c != NULL; c = c->next) {
        same += strcmp(c->peer, peer) == 0;
    }
    ok = ep->n_conns < ep->cfg->max_connections && same < ep->cfg->max_per_address;
    if (!ok) {
        ep->counters.too_many_connections++;
    }
    pthread_mutex_unlock(&ep->lock);
    return ok;
}

static void accept_one(struct ccg_endpoint *ep)
{
    int one = 1;
    ep_conn *c = calloc(1, sizeof(*c));
    pthread_t t;
    pthread_attr_t attr;
    if (c == NULL) {
        return;
    }
    c->ep = ep;
    c->pair_fd = c->mhd_fd = -1;
    c->peer_addr_len = sizeof(c->peer_addr);
    pthread_mutex_init(&c->lock, NULL);
    c->tcp_fd = accept4(ep->listen_fd, (struct sockaddr *)&c->peer_addr, &c->peer_addr_len, SOCK_CLOEXEC);
    if (c->tcp_fd < 0) {
        c->tcp_fd = -1;
        conn_free(c);
        return;
    }
    peer_text(&c->peer_addr, c->peer, sizeof(c->peer));
    if (!admit(ep, c->peer)) {
        log_conn(c, "warning", "endpoint.connection", CCG_R_ENDPOINT_TOO_MANY_CONNECTIONS, "cap");
        conn_free(c);
        return;
    }
    set_nonblock(c->tcp_fd);
    /* Each TLS record the pump writes is a whole answer (or a stream's chunk): send it now, not after the
     * peer's ACK of the last one. */
    (void)setsockopt(c->tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->ssl = SSL_new(ep->ctx);
    if (c->ssl == NULL || SSL_set_fd(c->ssl, c->tcp_fd) != 1) {
        conn_free(c);
        return;
    }
    pthread_mutex_lock(&ep->lock);
    c->refs = 1;
    c->next = ep->conns;
    ep->conns = c;
    ep->n_conns++;
    pthread_mutex_unlock(&ep->lock);
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    if (pthread_create(&t, &attr, conn_thread, c) != 0) {
        unlink_conn(c);
        ep_conn_release(c);
    }
    pthread_attr_destroy(&attr);
}

static void *acceptor(void *arg)
{
    struct ccg_endpoint *ep = arg;
    while (!ep->stopping) {
        struct pollfd p[2] = {{.fd = ep->listen_fd, .events = POLLIN}, {.fd = ep->stop_pipe[0], .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (p[1].revents != 0) {
            break;
        }
        if (p[0].revents & POLLIN) {
            accept_one(ep);
        }
    }
    return NULL;
}

ccg_result ep_bridge_start(struct ccg_endpoint *ep)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(pipe2(ep->stop_pipe, O_CLOEXEC) == 0, CCG_R_ENDPOINT_TLS_SETUP_FAILED, "pipe: %s",
                   strerror(errno));
    CCG_ENSURE_MSG(pthread_create(&ep->acceptor, NULL, acceptor, ep) == 0, CCG_R_ENDPOINT_TLS_SETUP_FAILED,
                   "the acceptor thread did not start");
    ep->acceptor_started = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Stops accepting, wakes every pump (they see `stopping`) and waits until every connection is gone. */
void ep_bridge_stop(struct ccg_endpoint *ep)
{
    ep->stopping = 1;
    if (ep->acceptor_started) {
        (void)!write(ep->stop_pipe[1], "x", 1);
        pthread_join(ep->acceptor, NULL);
        ep->acceptor_started = 0;
    }
    pthread_mutex_lock(&ep->lock);
    for (ep_conn *c = ep->conns; c != NULL; c = c->next) {
        (void)shutdown(c->tcp_fd, SHUT_RDWR);
    }
    while (ep->n_conns > 0) {
        pthread_cond_wait(&ep->drained, &ep->lock);
    }
    pthread_mutex_unlock(&ep->lock);
}
