/* The server's accept loop: one connection at a time, every socket wait bounded by the I/O timeout, with the
 * per-address token bucket asked before any evidence is generated. A failed connection is reported and
 * closed; it never ends the loop. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "channel_internal.h"

typedef struct {
    ccg_channel_ratelimit *rl;
    const char *peer;
} admit_ctx;

static uint64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int admit_by_address(void *arg)
{
    const admit_ctx *a = arg;
    return ccg_channel_ratelimit_take(a->rl, a->peer, monotonic_ms());
}

static void peer_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
    snprintf(out, len, "local");
    if (ss->ss_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, out, (socklen_t)len);
    } else if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, out, (socklen_t)len);
    }
}

static void serve_one(int fd, const char *peer, const ccg_channel_serve_config *cfg)
{
    ccg_channel_server_config server = cfg->server;
    admit_ctx admit = {cfg->ratelimit, peer};
    ccg_channel_session *s = NULL;
    ccg_reason reason = CCG_R_OK;
    if (cfg->ratelimit != NULL) {
        server.admit = admit_by_address;
        server.admit_arg = &admit;
    }
    ccg_error_clear();
    if (ccg_failed(ccg_channel_accept(fd, &server, &s)) ||
        (cfg->handler != NULL && ccg_failed(cfg->handler(cfg->arg, s, peer)))) {
        reason = ccg_error_reason() == CCG_R_OK ? CCG_R_INTERNAL_ERROR : ccg_error_reason();
    }
    if (cfg->outcome != NULL) {
        cfg->outcome(cfg->arg, peer, reason, reason == CCG_R_OK ? "" : ccg_error_last()->message);
    }
    ccg_channel_session_free(s);
}

ccg_result ccg_channel_serve(int listen_fd, const ccg_channel_serve_config *cfg)
{
    ccg_result result = CCG_FAILURE;
    long served = 0;
    while ((cfg->stop == NULL || !*cfg->stop) && (cfg->max_connections <= 0 || served < cfg->max_connections)) {
        struct pollfd p = {.fd = listen_fd, .events = POLLIN};
        int rc = poll(&p, 1, 200); /* wake up to look at *stop */
        if (rc < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(rc >= 0, CCG_R_CHANNEL_IO, "poll: %s", strerror(errno));
        if (rc == 0) {
            continue;
        }
        struct sockaddr_storage ss;
        socklen_t ss_len = sizeof(ss);
        memset(&ss, 0, sizeof(ss));
        int fd = accept4(listen_fd, (struct sockaddr *)&ss, &ss_len, SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED || errno == EAGAIN)) {
            continue;
        }
        CCG_ENSURE_MSG(fd >= 0, CCG_R_CHANNEL_IO, "accept: %s", strerror(errno));
        char peer[INET6_ADDRSTRLEN + 1];
        peer_name(&ss, peer, sizeof(peer));
        serve_one(fd, peer, cfg);
        close(fd);
        served++;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
