/* Memory for secrets and plaintext model bytes: page-aligned, locked (mlock) so it is never swapped,
 * excluded from core dumps (MADV_DONTDUMP), and zeroed before it is released. */
#ifndef CCGATE_SECMEM_H
#define CCGATE_SECMEM_H

#include <stddef.h>

#include "ccgate/result.h"

typedef struct {
    unsigned char *data; /* len usable bytes */
    size_t len;
    size_t mapped;      /* whole pages mapped */
    int locked;         /* 1 when mlock succeeded */
} ccg_secbuf;

/* Maps len bytes (len > 0). A failed mlock is an error unless allow_unlocked (RLIMIT_MEMLOCK can be
 * small in containers); the buffer is still kept out of core dumps. */
CCG_MUST_CHECK ccg_result ccg_secbuf_alloc(ccg_secbuf *b, size_t len, int allow_unlocked);
/* Zeroes, unlocks and unmaps; safe on a zeroed or already freed buffer. */
void ccg_secbuf_free(ccg_secbuf *b);
/* Zeroes memory in a way the compiler may not elide. */
void ccg_secure_zero(void *p, size_t n);

#endif
