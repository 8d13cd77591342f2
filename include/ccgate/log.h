/* One JSON log schema for every ccgate program (docs/logging.md). Each line is one JSON object:
 *   {"ts":"2026-12-07T14:55:03.123Z","level":"info","component":"kbs","event":"listening",
 *    "request_id":null, ...the event's own fields}
 * ts is UTC with milliseconds; level is debug, info, warn or error; component names the program
 * (kbs, agent, endpoint, runner, ...); request_id is null outside a request. Libraries' messages
 * (libmicrohttpd, OpenSSL, libcurl) are routed through the same schema with event "library".
 * Never pass a secret, a prompt, a completion or a token in a field. Lines are written with one
 * write(2) each, so lines from several threads never interleave. */
#ifndef CCGATE_LOG_H
#define CCGATE_LOG_H

#include <jansson.h>
#include <stdarg.h>

typedef enum { CCG_LOG_DEBUG = 0, CCG_LOG_INFO, CCG_LOG_WARN, CCG_LOG_ERROR } ccg_log_level;

/* Sets the program's component name (a static string) and the descriptor lines go to (default: 2).
 * The minimum level comes from $CCGATE_LOG_LEVEL (debug|info|warn|error; default info). */
void ccg_log_init(const char *component, int fd);
void ccg_log_set_level(ccg_log_level min);
ccg_log_level ccg_log_get_level(void);
const char *ccg_log_level_name(ccg_log_level level);

/* One line. fields (may be NULL) is an object whose members are added after the schema's; it is
 * borrowed, not stolen. request_id may be NULL. */
void ccg_log_event(ccg_log_level level, const char *event, const char *request_id, const json_t *fields);
/* The same line to another descriptor with another component (an embedder's own log, e.g. a test's). */
void ccg_log_event_to(int fd, const char *component, ccg_log_level level, const char *event, const char *request_id,
                      const json_t *fields);
/* The same, with fields given as a jansson json_pack format ("{s:s,s:i}") and its arguments. */
void ccg_log_eventf(ccg_log_level level, const char *event, const char *request_id, const char *fmt, ...);
/* The last error (include/ccgate/error.h): {"reason":CODE,"detail":MESSAGE} plus fields. */
void ccg_log_error_last(ccg_log_level level, const char *event, const char *request_id, const json_t *fields);
/* A library's printf-style message as {"event":"library","library":LIB,"message":TEXT} at level. */
void ccg_log_library(ccg_log_level level, const char *library, const char *fmt, va_list ap);
/* libmicrohttpd's external logger (MHD_OPTION_EXTERNAL_LOGGER, cls unused): warn level. */
void ccg_log_mhd(void *cls, const char *fmt, va_list ap);
/* Drains OpenSSL's error queue into one "library" line (library "openssl") at level, if not empty. */
void ccg_log_openssl_errors(ccg_log_level level, const char *request_id);

#endif
