/* Secret memory: its own mapping, locked and excluded from dumps, zeroed on release. */
#include "ccgate/secmem.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void ccg_secure_zero(void *p, size_t n)
{
    if (p != NULL && n > 0) {
        OPENSSL_cleanse(p, n);
    }
}

ccg_result ccg_secbuf_alloc(ccg_secbuf *b, size_t len, int allow_unlocked)
{
    ccg_result result = CCG_FAILURE;
    long page = sysconf(_SC_PAGESIZE);
    size_t mapped = 0;
    void *p = MAP_FAILED;
    memset(b, 0, sizeof(*b));
    CCG_ENSURE_MSG(len > 0 && page > 0 && len <= SIZE_MAX - (size_t)page, CCG_R_USAGE_INVALID,
                   "secret buffer of %zu bytes", len);
    mapped = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
    p = mmap(NULL, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CCG_ENSURE_MSG(p != MAP_FAILED, CCG_R_INTERNAL_OUT_OF_MEMORY, "mmap of %zu bytes: %s", mapped, strerror(errno));
    CCG_ENSURE_MSG(madvise(p, mapped, MADV_DONTDUMP) == 0, CCG_R_INTERNAL_ERROR, "madvise(MADV_DONTDUMP): %s",
                   strerror(errno));
    b->locked = mlock(p, mapped) == 0;
    CCG_ENSURE_MSG(b->locked || allow_unlocked, CCG_R_INTERNAL_OUT_OF_MEMORY,
                   "mlock of %zu bytes failed (raise RLIMIT_MEMLOCK): %s", mapped, strerror(errno));
    b->data = p;
    b->len = len;
    b->mapped = mapped;
    p = MAP_FAILED;
    result = CCG_SUCCESS;
cleanup:
    if (p != MAP_FAILED) {
        munmap(p, mapped);
    }
    return result;
}

void ccg_secbuf_free(ccg_secbuf *b)
{
    if (b->data != NULL) {
        ccg_secure_zero(b->data, b->mapped);
        if (b->locked) {
            munlock(b->data, b->mapped);
        }
        munmap(b->data, b->mapped);
    }
    memset(b, 0, sizeof(*b));
}
