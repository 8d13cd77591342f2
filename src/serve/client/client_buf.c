/* A growable byte buffer for collected answers (client_internal.h); always NUL-terminated. */
#include <stdlib.h>
#include <string.h>

#include "client_internal.h"

ccg_result cc_buf_put(cc_buf *b, const void *data, size_t n)
{
    ccg_result result = CCG_FAILURE;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < b->len + n + 1) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        CCG_ENSURE_ALLOC(p);
        b->p = p;
        b->cap = cap;
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
