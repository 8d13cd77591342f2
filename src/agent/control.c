/* The control channel between ccgate-agent and ccgate-endpoint (docs/agent.md, "Control channel"): one
 * JSON object per line on a stream socketpair, each direction with its own line bound. The reader keeps
 * partial lines; anything malformed is refused with agent.control_invalid and the caller closes. */
#include "ccgate/agent.h"

#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ccgate/error.h"

void ccg_ctl_reader_init(ccg_ctl_reader *r, int fd, size_t max)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max = max;
}

void ccg_ctl_reader_free(ccg_ctl_reader *r)
{
    free(r->buf);
    r->buf = NULL;
    r->len = r->cap = 0;
}

ccg_result ccg_ctl_parse(const char *line, size_t len, size_t max, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *o = NULL;
    const json_t *op;
    CCG_ENSURE_MSG(len <= max, CCG_R_AGENT_CONTROL_INVALID, "a control message of %zu bytes (at most %zu)", len, max);
    CCG_ENSURE_MSG(memchr(line, 0, len) == NULL, CCG_R_AGENT_CONTROL_INVALID, "a NUL byte in a control message");
    o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(json_is_object(o), CCG_R_AGENT_CONTROL_INVALID, "a control message that is not a JSON object");
    op = json_object_get(o, "op");
    CCG_ENSURE_MSG(json_is_string(op) && json_string_length(op) > 0 && json_string_length(op) <= 32,
                   CCG_R_AGENT_CONTROL_INVALID, "a control message without a string \"op\"");
    *out = o;
    o = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(o);
    return result;
}

/* A complete line in the buffer: parsed and removed. */
static ccg_result take_line(ccg_ctl_reader *r, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    char *nl = r->len > 0 ? memchr(r->buf, '\n', r->len) : NULL;
    size_t n;
    if (nl == NULL) {
        CCG_ENSURE_MSG(r->len <= r->max, CCG_R_AGENT_CONTROL_INVALID,
                       "a control message longer than %zu bytes", r->max);
        return CCG_SUCCESS;
    }
    n = (size_t)(nl - r->buf);
    CCG_TRY(ccg_ctl_parse(r->buf, n, r->max, out));
    memmove(r->buf, nl + 1, r->len - n - 1);
    r->len -= n + 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ctl_recv(ccg_ctl_reader *r, int timeout_ms, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    struct pollfd p = {.fd = r->fd, .events = POLLIN};
    ssize_t got;
    int ready;
    *out = NULL;
    CCG_TRY(take_line(r, out));
    if (*out != NULL) {
        return CCG_SUCCESS;
    }
    do {
        ready = poll(&p, 1, timeout_ms);
    } while (ready < 0 && errno == EINTR);
    CCG_ENSURE_MSG(ready >= 0, CCG_R_AGENT_ENDPOINT_FAILED, "poll(control): %s", strerror(errno));
    if (ready == 0) {
        return CCG_SUCCESS;
    }
    if (r->cap - r->len < 65536 && r->cap < r->max + 2) {
        size_t cap = r->cap == 0 ? 65536 : r->cap * 2;
        char *nb;
        if (cap > r->max + 2) {
            cap = r->max + 2; /* room for the longest line, its newline and one byte to see it is too long */
        }
        nb = realloc(r->buf, cap);
        CCG_ENSURE_ALLOC(nb);
        r->buf = nb;
        r->cap = cap;
    }
    got = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(got >= 0, CCG_R_AGENT_ENDPOINT_FAILED, "read(control): %s", strerror(errno));
    CCG_ENSURE_MSG(got > 0, CCG_R_AGENT_ENDPOINT_FAILED, "the control channel was closed by the other process");
    r->len += (size_t)got;
    CCG_TRY(take_line(r, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_ctl_send(int fd, const json_t *msg, int timeout_ms)
{
    ccg_result result = CCG_FAILURE;
    char *text = json_dumps(msg, JSON_COMPACT);
    size_t len, off = 0;
    CCG_ENSURE_ALLOC(text);
    len = strlen(text);
    text[len] = '\n'; /* json_dumps' NUL becomes the line's end: the buffer has len + 1 bytes */
    while (off < len + 1) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        ssize_t n;
        int ready = poll(&p, 1, timeout_ms);
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(ready > 0, CCG_R_AGENT_ENDPOINT_FAILED, "the control channel accepts no bytes (%s)",
                       ready == 0 ? "timeout" : strerror(errno));
        n = send(fd, text + off, len + 1 - off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
            continue;
        }
        CCG_ENSURE_MSG(n > 0, CCG_R_AGENT_ENDPOINT_FAILED, "write(control): %s", strerror(errno));
        off += (size_t)n;
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}
