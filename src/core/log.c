/* The one JSON log schema (include/ccgate/log.h, docs/logging.md). */
#include "ccgate/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#include "ccgate/error.h"
#include "ccgate/reasons.h"

static const char *g_component = "ccgate";
static int g_fd = 2;
static ccg_log_level g_min = CCG_LOG_INFO;

static const char *const LEVEL_NAMES[] = {"debug", "info", "warn", "error"};

const char *ccg_log_level_name(ccg_log_level level)
{
    return (level >= CCG_LOG_DEBUG && level <= CCG_LOG_ERROR) ? LEVEL_NAMES[level] : "error";
}

void ccg_log_init(const char *component, int fd)
{
    const char *env = getenv("CCGATE_LOG_LEVEL");
    g_component = component != NULL ? component : "ccgate";
    g_fd = fd >= 0 ? fd : 2;
    for (int l = CCG_LOG_DEBUG; env != NULL && l <= CCG_LOG_ERROR; l++) {
        if (strcmp(env, LEVEL_NAMES[l]) == 0) {
            g_min = (ccg_log_level)l;
        }
    }
}

void ccg_log_set_level(ccg_log_level min) { g_min = min; }

ccg_log_level ccg_log_get_level(void) { return g_min; }

static void timestamp(char out[32])
{
    struct timespec ts;
    struct tm tm;
    size_t n;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 32 - n, ".%03dZ", (int)(ts.tv_nsec / 1000000L) % 1000);
}

/* One write per line: concurrent lines never interleave on a pipe or an O_APPEND file. */
static void emit(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    char *line = malloc(len + 2);
    if (line == NULL) {
        return;
    }
    memcpy(line, text, len);
    line[len] = '\n';
    while (off < len + 1) {
        ssize_t n = write(fd, line + off, len + 1 - off);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        off += (size_t)n;
    }
    free(line);
}

void ccg_log_event_to(int fd, const char *component, ccg_log_level level, const char *event, const char *request_id,
                      const json_t *fields)
{
    char ts[32];
    json_t *line;
    char *text;
    if (level < g_min) {
        return;
    }
    timestamp(ts);
    line = json_pack("{s:s,s:s,s:s,s:s}", "ts", ts, "level", ccg_log_level_name(level), "component",
                     component != NULL ? component : g_component, "event", event != NULL ? event : "unknown");
    if (line == NULL) {
        return;
    }
    json_object_set_new(line, "request_id", request_id != NULL ? json_string(request_id) : json_null());
    if (json_is_object(fields)) {
        json_object_update_missing(line, (json_t *)fields); /* the schema's fields cannot be overridden */
    }
    text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text != NULL) {
        emit(fd, text);
    }
    free(text);
    json_decref(line);
}

void ccg_log_event(ccg_log_level level, const char *event, const char *request_id, const json_t *fields)
{
    ccg_log_event_to(g_fd, g_component, level, event, request_id, fields);
}

void ccg_log_eventf(ccg_log_level level, const char *event, const char *request_id, const char *fmt, ...)
{
    va_list ap;
    json_t *fields;
    if (level < g_min) {
        return;
    }
    va_start(ap, fmt);
    fields = json_vpack_ex(NULL, 0, fmt, ap);
    va_end(ap);
    ccg_log_event(level, event, request_id, fields);
    json_decref(fields);
}

void ccg_log_error_last(ccg_log_level level, const char *event, const char *request_id, const json_t *fields)
{
    const ccg_error *e = ccg_error_last();
    ccg_reason r = e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason;
    json_t *all = json_is_object(fields) ? json_deep_copy(fields) : json_object();
    if (all != NULL) {
        json_object_set_new(all, "reason", json_string(ccg_reason_code(r)));
        json_object_set_new(all, "detail", json_string(e->message));
    }
    ccg_log_event(level, event, request_id, all);
    json_decref(all);
}

/* fmt comes from the library (libmicrohttpd's own format strings), never from a peer. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
void ccg_log_library(ccg_log_level level, const char *library, const char *fmt, va_list ap)
{
    char msg[1024];
    size_t n;
    if (level < g_min) {
        return;
    }
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r')) {
        msg[--n] = '\0'; /* libraries end their messages with a newline; the line has its own */
    }
    for (size_t i = 0; i < n; i++) {
        /* a library may quote peer bytes: anything but printable ASCII becomes '?', so the message is
         * always valid UTF-8 (jansson refuses anything else) and a peer cannot forge line structure */
        if ((unsigned char)msg[i] < 0x20 || (unsigned char)msg[i] > 0x7e) {
            msg[i] = '?';
        }
    }
    ccg_log_eventf(level, "library", NULL, "{s:s,s:s}", "library", library, "message", msg);
}
#pragma GCC diagnostic pop

void ccg_log_mhd(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    ccg_log_library(CCG_LOG_WARN, "libmicrohttpd", fmt, ap);
}

void ccg_log_openssl_errors(ccg_log_level level, const char *request_id)
{
    char buf[256], all[1024] = "";
    unsigned long e;
    size_t used = 0;
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        int n = snprintf(all + used, sizeof(all) - used, "%s%s", used > 0 ? "; " : "", buf);
        if (n < 0 || (size_t)n >= sizeof(all) - used) {
            break;
        }
        used += (size_t)n;
    }
    if (used > 0) {
        ccg_log_eventf(level, "library", request_id, "{s:s,s:s}", "library", "openssl", "message", all);
    }
    ERR_clear_error();
}
