/* A bounded, growable byte buffer: the one grow-and-append loop of ccgate (encoders, collected HTTP
 * answers, JOSE text). Every append checks the buffer's max and size_t overflow first, and the bytes
 * are always NUL-terminated past len, so text built in it is a C string. */
#ifndef CCGATE_BUF_H
#define CCGATE_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

typedef struct {
    uint8_t *p; /* malloc'd; p[len] == 0 once anything was appended; NULL while empty */
    size_t len;
    size_t cap; /* bytes allocated (len + 1 at least, once p is set) */
    size_t max; /* the most bytes it may hold; a zeroed buffer holds none */
    int secret; /* wiped before each move and before it is freed */
} ccg_buf;

/* An empty buffer that holds at most max bytes (max < SIZE_MAX). */
void ccg_buf_init(ccg_buf *b, size_t max);
/* The same for bytes that are secret: growth copies to a new block and wipes the old one (never
 * realloc, which may leave the old block behind), and ccg_buf_free wipes too. */
void ccg_buf_init_secret(ccg_buf *b, size_t max);
/* Appends n bytes; input.too_large past max (nothing is appended then). */
CCG_MUST_CHECK ccg_result ccg_buf_append(ccg_buf *b, const void *data, size_t n);
/* Appends a NUL-terminated string, without its NUL. */
CCG_MUST_CHECK ccg_result ccg_buf_append_str(ccg_buf *b, const char *s);
/* Hands the bytes (NUL-terminated, even when empty) to the caller, who frees them, and empties the
 * buffer, keeping its max. out_len may be NULL. */
CCG_MUST_CHECK ccg_result ccg_buf_take(ccg_buf *b, uint8_t **out, size_t *out_len);
/* The same for text. */
CCG_MUST_CHECK ccg_result ccg_buf_take_str(ccg_buf *b, char **out, size_t *out_len);
/* Frees the bytes (wiped first if secret) and empties the buffer, keeping its max. */
void ccg_buf_free(ccg_buf *b);

#endif
