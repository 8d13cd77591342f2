/* A tiny HTTP server on 127.0.0.1 (libmicrohttpd, an ephemeral port) for tests that need a real
 * service: the RIM service and the OCSP responder front. The handler sees the method, the path and
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
} lh_answer;

typedef void (*lh_handler)(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
                           lh_answer *out);

typedef struct lh_server lh_server;

/* Starts the server; NULL on failure. base gets "http://127.0.0.1:<port>". */
lh_server *lh_start(lh_handler handler, void *ctx, char *base, size_t base_len);
void lh_stop(lh_server *s);
/* Requests answered so far. */
int lh_requests(lh_server *s);

#endif
