/* Bounded collection of HTTP response bodies. */
#include "ccgate/http_body.h"

#include <stdlib.h>
#include <string.h>


size_t ccg_http_body_collect(char *ptr, size_t size, size_t nmemb, void *body)
{
    ccg_http_body *b = body;
    size_t max = b->max ? b->max : CCG_HTTP_BODY_DEFAULT_MAX;
    size_t n = size * nmemb;
    if (n > max - b->len) {
        b->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1) {
            cap *= 2; /* doubling keeps large bodies linear; max bounds it */
        }
        char *grown = realloc(b->data, cap);
        if (grown == NULL) {
            b->out_of_memory = 1;
            return 0;
        }
        b->data = grown;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void ccg_http_body_reset(ccg_http_body *b)
{
    size_t max = b->max;
    free(b->data);
    memset(b, 0, sizeof(*b));
    b->max = max;
}
