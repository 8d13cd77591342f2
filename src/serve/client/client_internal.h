/* Internals shared by src/serve/client: the buffer that collects answers and request bodies. */
#ifndef CCGATE_CLIENT_INTERNAL_H
#define CCGATE_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/buf.h"
#include "ccgate/result.h"

/* The core buffer (buf.h), zero-initialized by its users and freed with free(b.p). Its callers bound
 * what they collect themselves (an OHTTP message, the evidence document, the proxy's max_body); this
 * bound is the backstop above all of them. */
typedef ccg_buf cc_buf;

#define CC_BUF_MAX ((size_t)64 << 20)

CCG_MUST_CHECK static inline ccg_result cc_buf_put(cc_buf *b, const void *data, size_t n)
{
    if (b->max == 0) {
        ccg_buf_init(b, CC_BUF_MAX);
    }
    return ccg_buf_append(b, data, n);
}

#endif
