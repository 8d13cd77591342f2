/* The request body collector of the HTTP server. A body can hold a model key (the admin API's import
 * and rotate carry it base64url-encoded), so no copy of it is left in the heap: the buffer grows by
 * copying into a new one and zeroing the old before it is freed (never realloc, which may leave the
 * old block behind unzeroed), and is zeroed again when the request ends. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#define BODY_FIRST_CAP 4096u

static void release(kbs_body *b, char *buf, size_t cap)
{
    if (buf == NULL) {
        return;
    }
    ccg_secure_zero(buf, cap);
    if (b->released != NULL) {
        b->released(buf, cap, b->released_ctx);
    }
    free(buf);
}

int kbs_body_append(kbs_body *b, const char *data, size_t n, size_t max)
{
    size_t need, cap;
    char *grown;
    if (b->len > max || n > max - b->len) {
        return 1;
    }
    need = b->len + n + 1; /* NUL-terminated for the JSON parser's convenience */
    if (need > b->cap) {
        cap = b->cap != 0 ? b->cap : BODY_FIRST_CAP;
        while (cap < need) {
            cap *= 2;
        }
        if (cap > max + 1) {
            cap = max + 1;
        }
        grown = malloc(cap);
        if (grown == NULL) {
            return -1;
        }
        if (b->len > 0) {
            memcpy(grown, b->data, b->len);
        }
        release(b, b->data, b->cap);
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, data, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

void kbs_body_free(kbs_body *b)
{
    release(b, b->data, b->cap);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}
