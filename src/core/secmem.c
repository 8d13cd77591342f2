/* Secret memory: its own mapping, locked and excluded from dumps, zeroed on release. */
#include "ccgate/secmem.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Released one-page buffers that were locked are kept, zeroed, for the next allocation: a key release
 * took five system calls (mmap, madvise, mlock, munlock, munmap) and page faults for a few bytes. The
 * pages stay locked and excluded from dumps; a forked child never takes one (its memory locks are not
 * inherited), it starts with an empty pool. */
#define SECMEM_POOL_PAGES 32

static pthread_mutex_t g_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static void *g_pool[SECMEM_POOL_PAGES];
static size_t g_pool_count;
static pthread_once_t g_pool_once = PTHREAD_ONCE_INIT;

static void pool_forget_in_child(void)
{
    g_pool_count = 0; /* the child's copies are zero and unlocked: left mapped, never reused */
    pthread_mutex_init(&g_pool_lock, NULL);
}

static void pool_init(void) { (void)pthread_atfork(NULL, NULL, pool_forget_in_child); }

static void *pool_take(void)
{
    void *p = NULL;
    pthread_once(&g_pool_once, pool_init);
    pthread_mutex_lock(&g_pool_lock);
    if (g_pool_count > 0) {
        p = g_pool[--g_pool_count];
    }
    pthread_mutex_unlock(&g_pool_lock);
    return p;
}

/* Keeps a zeroed, locked page; 0 when the pool is full (the caller unmaps it). */
static int pool_keep(void *p)
{
    int kept = 0;
    pthread_once(&g_pool_once, pool_init);
    pthread_mutex_lock(&g_pool_lock);
    if (g_pool_count < SECMEM_POOL_PAGES) {
        g_pool[g_pool_count++] = p;
        kept = 1;
    }
    pthread_mutex_unlock(&g_pool_lock);
    return kept;
}

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
    if (mapped == (size_t)page && (b->data = pool_take()) != NULL) {
        b->locked = 1;
        b->len = len;
        b->mapped = mapped;
        return CCG_SUCCESS;
    }
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
        if (b->locked && b->mapped == (size_t)sysconf(_SC_PAGESIZE) && pool_keep(b->data)) {
            memset(b, 0, sizeof(*b));
            return;
        }
        if (b->locked) {
            munlock(b->data, b->mapped);
        }
        munmap(b->data, b->mapped);
    }
    memset(b, 0, sizeof(*b));
}
