/* A tiny HTTP server on 127.0.0.1 (libmicrohttpd, an ephemeral port) for tests that need a real
 * service: the RIM service, the OCSP responder front, and a TDX PCS/PCCS. The handler sees the method, the path and
 * the whole request body, and fills the answer. Stop it in teardown. */
#ifndef CCGATE_LOOPBACK_HTTP_H
#define CCGATE_LOOPBACK_HTTP_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int status;               /* HTTP status */
    const char *content_type; /* NULL: none */
    uint8_t *body;            /* malloc'd; the server frees it */
    size_t len;
    unsigned delay_ms;        /* wait this long before answering (timeout tests) */
    const char *header_names[4];  /* extra response headers, until the first NULL name; the server */
    const char *header_values[4]; /* copies them (the strings need only outlive the handler's answer) */
} lh_answer;

typedef void (*lh_handler)(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
                           lh_answer *out);

typedef struct lh_server lh_server;

/* Starts the server; NULL on failure. base gets "http://127.0.0.1:<port>". */
lh_server *lh_start(lh_handler handler, void *ctx, char *base, size_t base_len);
void lh_stop(lh_server *s);
/* Inside a handler: the value of the request's header name (e.g. "Cookie"), or NULL. */
const char *lh_request_header(const char *name);
/* Requests answered so far. */
int lh_requests(lh_server *s);
/* From now on the handler's path includes the query string ("/p?a=1&b=2", arguments in the order
 * sent, values as decoded by the server). Off by default. */
void lh_pass_query(lh_server *s, int on);

#endif
