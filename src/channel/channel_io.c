/* Socket I/O for the channel: exact reads and full writes under a per-wait timeout, and the
 * handshake records. EOF or a reset before an authenticated close is truncation. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "channel_internal.h"

static ccg_result wait_fd(int fd, short events, int timeout_ms)
{
    ccg_result result = CCG_FAILURE;
    struct pollfd p = {.fd = fd, .events = events};
    int rc;
    do {
        rc = poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    CCG_ENSURE_MSG(rc >= 0, CCG_R_CHANNEL_IO, "poll: %s", strerror(errno));
    CCG_ENSURE_MSG(rc > 0, CCG_R_CHANNEL_TIMEOUT, "no progress within %d ms", timeout_ms);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One recv of at most n bytes (at least one): the syscall is tried first and poll() runs only when it
 * would block, so a busy stream costs one syscall per read. */
ccg_result ccg_ch_recv_some(int fd, uint8_t *buf, size_t n, int timeout_ms, size_t *got)
{
    ccg_result result = CCG_FAILURE;
    for (;;) {
        ssize_t k = recv(fd, buf, n, MSG_DONTWAIT);
        if (k > 0) {
            *got = (size_t)k;
            break;
        }
        if (k < 0 && (errno == EINTR)) {
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            CCG_TRY(wait_fd(fd, POLLIN, timeout_ms));
            continue;
        }
        CCG_ENSURE_MSG(k != 0, CCG_R_CHANNEL_TRUNCATED, "EOF without a close frame");
        CCG_ENSURE_MSG(errno != ECONNRESET, CCG_R_CHANNEL_TRUNCATED, "connection reset without a close frame");
        CCG_BAIL(CCG_R_CHANNEL_IO, "recv: %s", strerror(errno));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_read_exact(int fd, uint8_t *buf, size_t n, int timeout_ms, int eof_is_closed)
{
    ccg_result result = CCG_FAILURE;
    size_t got = 0;
    while (got < n) {
        CCG_TRY(wait_fd(fd, POLLIN, timeout_ms));
        ssize_t k = recv(fd, buf + got, n - got, 0);
        if (k < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) {
            continue;
        }
        if (k == 0 && got == 0 && eof_is_closed) {
            CCG_BAIL(CCG_R_CHANNEL_PEER_CLOSED, "the peer closed the connection");
        }
        CCG_ENSURE_MSG(k != 0, CCG_R_CHANNEL_TRUNCATED, "EOF after %zu of %zu bytes", got, n);
        CCG_ENSURE_MSG(!(k < 0 && errno == ECONNRESET), CCG_R_CHANNEL_TRUNCATED, "connection reset after %zu of %zu bytes",
                       got, n);
        CCG_ENSURE_MSG(k > 0, CCG_R_CHANNEL_IO, "recv: %s", strerror(errno));
        got += (size_t)k;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_write_all(int fd, const uint8_t *buf, size_t n, int timeout_ms)
{
    ccg_result result = CCG_FAILURE;
    size_t done = 0;
    while (done < n) {
        ssize_t k = send(fd, buf + done, n - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR) {
            continue;
        }
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            CCG_TRY(wait_fd(fd, POLLOUT, timeout_ms));
            continue;
        }
        CCG_ENSURE_MSG(!(k < 0 && (errno == EPIPE || errno == ECONNRESET)), CCG_R_CHANNEL_TRUNCATED,
                       "the peer is gone: %s", strerror(errno));
        CCG_ENSURE_MSG(k > 0, CCG_R_CHANNEL_IO, "send: %s", strerror(errno));
        done += (size_t)k;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ch_read_handshake(int fd, uint8_t type, int timeout_ms, uint8_t **rec, size_t *rec_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t header[CCG_CH_HEADER_LEN];
    ccg_ch_header h;
    uint8_t *buf = NULL;
    ccg_reason alert = CCG_R_OK;
    CCG_TRY(ccg_ch_read_exact(fd, header, sizeof(header), timeout_ms, 1));
    CCG_TRY(ccg_ch_header_parse(header, sizeof(header), CCG_CHANNEL_MAX_HANDSHAKE, &h));
    /* An ALERT is unauthenticated: it may only stand where the server refuses before M2. Once M2 is on the
     * wire, only records under the transcript keys (M3, SF, frames) decide, so a later ALERT is tampering,
     * whatever it claims (issue 10: a forged channel.rate_limited in place of SF). */
    CCG_ENSURE_MSG(h.type != CCG_CH_T_ALERT || type != CCG_CH_T_SF, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED,
                   "an unauthenticated ALERT in place of SF, after M2: not believed");
    CCG_ENSURE_MSG(h.type != CCG_CH_T_ALERT || type != CCG_CH_T_M3, CCG_R_CHANNEL_ALERT_UNAUTHENTICATED,
                   "an unauthenticated ALERT in place of M3, after M2: not believed");
    CCG_ENSURE_MSG(h.type == type || (h.type == CCG_CH_T_ALERT && type == CCG_CH_T_M2), CCG_R_CHANNEL_MESSAGE_MALFORMED,
                   "record type 0x%02x where 0x%02x was expected", h.type, type);
    CCG_ENSURE_MSG(h.seq == 0, CCG_R_CHANNEL_MESSAGE_MALFORMED, "handshake record with sequence %llu",
                   (unsigned long long)h.seq);
    buf = malloc(CCG_CH_HEADER_LEN + h.len + 1);
    CCG_ENSURE_ALLOC(buf);
    memcpy(buf, header, CCG_CH_HEADER_LEN);
    CCG_TRY(ccg_ch_read_exact(fd, buf + CCG_CH_HEADER_LEN, h.len, timeout_ms, 0));
    if (h.type == CCG_CH_T_ALERT) {
        CCG_TRY(ccg_ch_alert_parse(buf + CCG_CH_HEADER_LEN, h.len, &alert));
        CCG_CH_REPLACE_ERROR(alert, "the peer refused the handshake before M2 (an unauthenticated ALERT): %s",
                             ccg_reason_code(alert));
        goto cleanup;
    }
    *rec = buf;
    *rec_len = CCG_CH_HEADER_LEN + h.len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result ccg_ch_write_handshake(int fd, uint8_t type, const uint8_t *body, size_t len, int timeout_ms, uint8_t **rec,
                                  size_t *rec_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = malloc(CCG_CH_HEADER_LEN + len);
    CCG_ENSURE_ALLOC(buf);
    CCG_ENSURE_MSG(len <= CCG_CHANNEL_MAX_HANDSHAKE, CCG_R_CHANNEL_FRAME_TOO_LARGE, "handshake record of %zu bytes",
                   len);
    ccg_ch_header_write(buf, type, 0, (uint32_t)len);
    if (len > 0) {
        memcpy(buf + CCG_CH_HEADER_LEN, body, len);
    }
    CCG_TRY(ccg_ch_write_all(fd, buf, CCG_CH_HEADER_LEN + len, timeout_ms));
    if (rec != NULL) {
        *rec = buf;
        *rec_len = CCG_CH_HEADER_LEN + len;
        buf = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

void ccg_ch_send_alert(int fd, ccg_reason reason, int timeout_ms)
{
    const char *code = ccg_reason_code(reason);
    size_t n = strlen(code);
    uint8_t body[1 + CCG_CH_MAX_ALERT_CODE];
    if (n == 0 || n > CCG_CH_MAX_ALERT_CODE) {
        return;
    }
    body[0] = (uint8_t)n;
    memcpy(body + 1, code, n);
    /* Best effort: the handshake already failed for its own reason, which the caller keeps. */
    ccg_error saved = *ccg_error_last();
    ccg_result ignored = ccg_ch_write_handshake(fd, CCG_CH_T_ALERT, body, 1 + n, timeout_ms, NULL, NULL);
    (void)ignored; /* gcc does not take a (void) cast for warn_unused_result */
    ccg_error_clear();
    ccg_error_set(saved.reason, saved.file, saved.line, "%s", saved.message);
}
