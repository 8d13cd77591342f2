/* Internals shared by src/serve/client: a growable byte buffer. */
#ifndef CCGATE_CLIENT_INTERNAL_H
#define CCGATE_CLIENT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

typedef struct {
    uint8_t *p;
    size_t len, cap;
} cc_buf;

CCG_MUST_CHECK ccg_result cc_buf_put(cc_buf *b, const void *data, size_t n);

#endif
