/* A test gateway between a client and the inference endpoint that records every byte it can see, so a
 * test can show that no prompt or response crosses it in clear.
 *
 *   capture_gateway tcp --upstream HOST:PORT --capture FILE --port-file FILE
 *       a TCP relay (what a network tap sees): the TLS records both ways go to FILE.
 *   capture_gateway tls --upstream HOST:PORT --capture FILE --port-file FILE --cert PEM --key PEM
 *       a TLS-terminating gateway (a Kubernetes ingress): it accepts TLS with its own certificate,
 *       opens its own TLS connection to the endpoint (no certificate check: it is the adversary's
 *       position), and relays the plaintext, which goes to FILE.
 *
 * It listens on 127.0.0.1 with an ephemeral port written to --port-file, serves each connection on its own
 * thread and runs until killed. Test support only: never part of the product. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

typedef struct {
    int tls_mode;
    const char *upstream_host;
    const char *upstream_port;
    FILE *capture;
    SSL_CTX *server_ctx;
    SSL_CTX *client_ctx;
} gateway;

typedef struct {
    const gateway *gw;
    int fd;
} conn_job;

static pthread_mutex_t capture_lock = PTHREAD_MUTEX_INITIALIZER;

static void record(const gateway *gw, const char *dir, const unsigned char *buf, size_t n)
{
    pthread_mutex_lock(&capture_lock);
    fprintf(gw->capture, "\n--- %s %zu\n", dir, n);
    fwrite(buf, 1, n, gw->capture);
    fflush(gw->capture);
    pthread_mutex_unlock(&capture_lock);
}

static int connect_upstream(const gateway *gw)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    int fd = -1;
    if (getaddrinfo(gw->upstream_host, gw->upstream_port, &hints, &res) != 0) {
        return -1;
    }
    for (struct addrinfo *a = res; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    return fd;
}

/* One side of the relay: a plain socket or a TLS session over it. */
typedef struct {
    int fd;
    SSL *ssl;
} side;

static ssize_t side_read(side *s, unsigned char *buf, size_t n)
{
    if (s->ssl == NULL) {
        return read(s->fd, buf, n);
    }
    int r = SSL_read(s->ssl, buf, (int)n);
    return r > 0 ? r : -1;
}

static int side_write(side *s, const unsigned char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = s->ssl != NULL ? SSL_write(s->ssl, buf, (int)n) : write(s->fd, buf, n);
        if (w <= 0) {
            return -1;
        }
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

static int side_pending(const side *s)
{
    return s->ssl != NULL && SSL_pending(s->ssl) > 0;
}

/* Copies one chunk from -> to, recording it. Returns -1 when the source ended. */
static int pump(const gateway *gw, side *from, side *to, const char *dir)
{
    unsigned char buf[16384];
    ssize_t n = side_read(from, buf, sizeof buf);
    if (n <= 0) {
        return -1;
    }
    record(gw, dir, buf, (size_t)n);
    return side_write(to, buf, (size_t)n);
}

static void relay(const gateway *gw, side *down, side *up)
{
    for (;;) {
        struct pollfd p[2] = {{.fd = down->fd, .events = POLLIN}, {.fd = up->fd, .events = POLLIN}};
        if (!side_pending(down) && !side_pending(up) && poll(p, 2, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return;
        }
        if ((side_pending(down) || (p[0].revents & (POLLIN | POLLHUP | POLLERR))) &&
            pump(gw, down, up, "client->endpoint") != 0) {
            return;
        }
        if ((side_pending(up) || (p[1].revents & (POLLIN | POLLHUP | POLLERR))) &&
            pump(gw, up, down, "endpoint->client") != 0) {
            return;
        }
    }
}

static void *serve_connection(void *arg)
{
    conn_job *job = arg;
    const gateway *gw = job->gw;
    side down = {.fd = job->fd}, up = {.fd = -1};
    free(job);
    up.fd = connect_upstream(gw);
    if (up.fd < 0) {
        goto done;
    }
    if (gw->tls_mode) {
        down.ssl = SSL_new(gw->server_ctx);
        up.ssl = SSL_new(gw->client_ctx);
        if (down.ssl == NULL || up.ssl == NULL || SSL_set_fd(down.ssl, down.fd) != 1 ||
            SSL_set_fd(up.ssl, up.fd) != 1 || SSL_accept(down.ssl) != 1 || SSL_connect(up.ssl) != 1) {
            goto done;
        }
    }
    relay(gw, &down, &up);
done:
    SSL_free(down.ssl);
    SSL_free(up.ssl);
    close(down.fd);
    if (up.fd >= 0) {
        close(up.fd);
    }
    return NULL;
}

static int listen_loopback(const char *port_file)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    FILE *f;
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        return -1;
    }
    f = fopen(port_file, "w");
    if (f == NULL) {
        return -1;
    }
    fprintf(f, "%u\n", ntohs(a.sin_port));
    return fclose(f) == 0 ? fd : -1;
}

static int make_contexts(gateway *gw, const char *cert, const char *key)
{
    gw->server_ctx = SSL_CTX_new(TLS_server_method());
    gw->client_ctx = SSL_CTX_new(TLS_client_method());
    if (gw->server_ctx == NULL || gw->client_ctx == NULL ||
        SSL_CTX_use_certificate_chain_file(gw->server_ctx, cert) != 1 ||
        SSL_CTX_use_PrivateKey_file(gw->server_ctx, key, SSL_FILETYPE_PEM) != 1) {
        return -1;
    }
    SSL_CTX_set_verify(gw->client_ctx, SSL_VERIFY_NONE, NULL);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: capture_gateway tcp|tls --upstream HOST:PORT --capture FILE --port-file FILE "
                    "[--cert PEM --key PEM]\n");
    return 2;
}

int main(int argc, char **argv)
{
    gateway gw = {0};
    const char *upstream = NULL, *capture = NULL, *port_file = NULL, *cert = NULL, *key = NULL;
    static char host[256];
    const char *colon;
    int lfd;
    if (argc < 2 || (strcmp(argv[1], "tcp") != 0 && strcmp(argv[1], "tls") != 0)) {
        return usage();
    }
    gw.tls_mode = strcmp(argv[1], "tls") == 0;
    for (int i = 2; i + 1 < argc; i += 2) {
        const char **slot = strcmp(argv[i], "--upstream") == 0    ? &upstream
                            : strcmp(argv[i], "--capture") == 0   ? &capture
                            : strcmp(argv[i], "--port-file") == 0 ? &port_file
                            : strcmp(argv[i], "--cert") == 0      ? &cert
                            : strcmp(argv[i], "--key") == 0       ? &key
                                                                  : NULL;
        if (slot == NULL) {
            return usage();
        }
        *slot = argv[i + 1];
    }
    colon = upstream != NULL ? strrchr(upstream, ':') : NULL;
    if (colon == NULL || capture == NULL || port_file == NULL || (gw.tls_mode && (cert == NULL || key == NULL)) ||
        (size_t)(colon - upstream) >= sizeof host) {
        return usage();
    }
    memcpy(host, upstream, (size_t)(colon - upstream));
    gw.upstream_host = host;
    gw.upstream_port = colon + 1;
    signal(SIGPIPE, SIG_IGN);
    gw.capture = fopen(capture, "ab");
    if (gw.capture == NULL || (gw.tls_mode && make_contexts(&gw, cert, key) != 0)) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    lfd = listen_loopback(port_file);
    if (lfd < 0) {
        perror("capture_gateway: listen");
        return 1;
    }
    for (;;) {
        int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        conn_job *job;
        pthread_t t;
        if (fd < 0) {
            continue;
        }
        job = malloc(sizeof *job);
        if (job == NULL) {
            close(fd);
            continue;
        }
        job->gw = &gw;
        job->fd = fd;
        if (pthread_create(&t, NULL, serve_connection, job) != 0) {
            close(fd);
            free(job);
            continue;
        }
        pthread_detach(t);
    }
}
