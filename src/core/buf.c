/* The bounded growable buffer (buf.h). */
#include "ccgate/buf.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/secmem.h"

#define FIRST_CAP 256u

void ccg_buf_init(ccg_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max < SIZE_MAX ? max : SIZE_MAX - 1; /* so max + 1 (room for the NUL) never wraps */
}

void ccg_buf_init_secret(ccg_buf *b, size_t max)
{
    ccg_buf_init(b, max);
    b->secret = 1;
}

/* The next capacity for need bytes: doubling from FIRST_CAP, never past max + 1. */
static size_t next_cap(size_t cap, size_t need, size_t limit)
{
    size_t c = cap ? cap : FIRST_CAP;
    while (c < need) {
        c = c > limit / 2 ? limit : c * 2;
    }
    return c < limit ? c : limit;
}

static ccg_result grow(ccg_buf *b, size_t need)
{
    ccg_result result = CCG_FAILURE;
    size_t cap = next_cap(b->cap, need, b->max + 1);
    uint8_t *p = NULL;
    if (b->secret) {
        p = malloc(cap);
        CCG_ENSURE_ALLOC(p);
        if (b->p != NULL) {
            memcpy(p, b->p, b->len + 1);
            ccg_secure_zero(b->p, b->cap);
            free(b->p);
        }
    } else {
        p = realloc(b->p, cap);
        CCG_ENSURE_ALLOC(p);
    }
    b->p = p;
    b->cap = cap;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_buf_append(ccg_buf *b, const void *data, size_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(b->len <= b->max && n <= b->max - b->len, CCG_R_INPUT_TOO_LARGE, "more than %zu bytes",
                   b->max);
    if (b->p == NULL || b->len + n + 1 > b->cap) {
        CCG_TRY(grow(b, b->len + n + 1));
    }
    if (n > 0) {
        memcpy(b->p + b->len, data, n);
    }
    b->len += n;
    b->p[b->len] = 0;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_buf_append_str(ccg_buf *b, const char *s)
{
    return ccg_buf_append(b, s, strlen(s));
}

ccg_result ccg_buf_take(ccg_buf *b, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_buf_append(b, "", 0)); /* an empty buffer still hands out a string */
    *out = b->p;
    if (out_len != NULL) {
        *out_len = b->len;
    }
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_buf_take_str(ccg_buf *b, char **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *p = NULL;
    CCG_TRY(ccg_buf_take(b, &p, out_len));
    *out = (char *)p;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_buf_free(ccg_buf *b)
{
    if (b->p != NULL && b->secret) {
        ccg_secure_zero(b->p, b->cap);
    }
    free(b->p);
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}
