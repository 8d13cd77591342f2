/* The broker's listening socket (docs/kbs.md, "Addresses"). The configured "address" is an IPv4 or
 * IPv6 literal, a host name, or either with a port: "127.0.0.1", "0.0.0.0", "::", "::1", "[::1]:8443",
 * "localhost", "kbs.example:8443". A bare IPv6 literal has no port (its colons are the address's); the
 * port then comes from "port" (default CCG_KBS_DEFAULT_PORT). getaddrinfo resolves the host and the
 * first address it returns that can be bound is used: one socket, so a name resolving to several
 * addresses serves on one of them (the one logged). "::" is dual-stack (IPv4 clients too).
 *
 * The socket is made here, not by libmicrohttpd, so that a reload can start a new server on the same
 * socket while the old one finishes its connections (kbs_server.c). */
#include "kbs_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ccgate/error.h"

#define KBS_LISTEN_BACKLOG 128

/* Splits "host", "[v6]:port", "host:port" or a bare IPv6 literal into host and port text. */
static ccg_result split_address(const char *address, uint16_t default_port, char *host, size_t host_cap,
                                char port[8])
{
    ccg_result result = CCG_FAILURE;
    const char *colon = strchr(address, ':');
    const char *port_text = NULL;
    size_t host_len;
    CCG_ENSURE_MSG(address[0] != 0, CCG_R_KBS_CONFIG_INVALID, "address is empty");
    if (address[0] == '[') {
        const char *close = strchr(address, ']');
        CCG_ENSURE_MSG(close != NULL && (close[1] == 0 || close[1] == ':'), CCG_R_KBS_CONFIG_INVALID,
                       "address \"%.64s\": a bracketed IPv6 address is [ADDRESS] or [ADDRESS]:PORT", address);
        host_len = (size_t)(close - address - 1);
        address++;
        port_text = close[1] == ':' ? close + 2 : NULL;
    } else if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        host_len = (size_t)(colon - address);
        port_text = colon + 1;
    } else {
        host_len = strlen(address); /* no colon, or a bare IPv6 literal */
    }
    CCG_ENSURE_MSG(host_len > 0 && host_len < host_cap, CCG_R_KBS_CONFIG_INVALID,
                   "address \"%.64s\" has no host, or too long a one", address);
    memcpy(host, address, host_len);
    host[host_len] = 0;
    if (port_text != NULL) {
        char *end = NULL;
        long p;
        errno = 0;
        p = strtol(port_text, &end, 10);
        CCG_ENSURE_MSG(port_text[0] >= '0' && port_text[0] <= '9' && *end == 0 && errno == 0 && p >= 0 &&
                           p <= 65535,
                       CCG_R_KBS_CONFIG_INVALID, "address \"%.64s\": the port is not 0..65535", address);
        default_port = (uint16_t)p;
    }
    snprintf(port, 8, "%u", (unsigned)default_port);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int is_loopback(const struct sockaddr *sa)
{
    if (sa->sa_family == AF_INET) {
        return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
    }
    return 0;
}

/* "127.0.0.1:8080" or "[::1]:8080", for the log. */
void kbs_sockaddr_text(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const void *)sa;
        (void)inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%u", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)sa;
        (void)inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%u", host, port);
    } else {
        snprintf(out, cap, "?");
    }
}

/* One bound, listening, non-blocking socket for `ai`, or -1 (errno set). */
static int bind_one(const struct addrinfo *ai)
{
    int one = 1, zero = 0;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) {
        return -1;
    }
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (ai->ai_family == AF_INET6) {
        /* "::" serves IPv4 clients too; a specific IPv6 address only IPv6 ones. */
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)ai->ai_addr)->sin6_addr;
        int v6only = IN6_IS_ADDR_UNSPECIFIED(a) ? zero : one;
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only));
    }
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, KBS_LISTEN_BACKLOG) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

ccg_result kbs_listen_open(const char *address, uint16_t default_port, int loopback_only, int *fd_out,
                           uint16_t *port_out, char *shown, size_t shown_cap)
{
    ccg_result result = CCG_FAILURE;
    struct addrinfo hints, *list = NULL;
    struct sockaddr_storage bound;
    socklen_t bound_len = sizeof(bound);
    char host[256], port[8];
    int fd = -1, gai, last_errno = 0;

    *fd_out = -1;
    CCG_TRY(split_address(address, default_port, host, sizeof(host), port));
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    gai = getaddrinfo(host, port, &hints, &list);
    CCG_ENSURE_MSG(gai == 0 && list != NULL, CCG_R_KBS_CONFIG_INVALID, "address \"%.64s\" does not resolve: %s",
                   host, gai_strerror(gai));
    for (const struct addrinfo *ai = list; ai != NULL && fd < 0; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6) {
            continue;
        }
        CCG_ENSURE_MSG(!loopback_only || is_loopback(ai->ai_addr), CCG_R_KBS_CONFIG_INVALID,
                       "--insecure-http serves plain HTTP on loopback addresses only, not %.64s", host);
        fd = bind_one(ai);
        last_errno = fd < 0 ? errno : 0;
    }
    CCG_ENSURE_MSG(fd >= 0, CCG_R_KBS_CONFIG_INVALID, "cannot listen on %.64s port %s: %s", host, port,
                   strerror(last_errno != 0 ? last_errno : EADDRNOTAVAIL));
    CCG_ENSURE_MSG(getsockname(fd, (struct sockaddr *)&bound, &bound_len) == 0, CCG_R_INTERNAL_ERROR,
                   "getsockname: %s", strerror(errno));
    kbs_sockaddr_text((const struct sockaddr *)&bound, shown, shown_cap);
    *port_out = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                  : ((struct sockaddr_in *)&bound)->sin_port);
    *fd_out = fd;
    fd = -1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (list != NULL) {
        freeaddrinfo(list);
    }
    return result;
}
