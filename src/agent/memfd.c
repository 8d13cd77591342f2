/* The model in memory: an anonymous memfd that is filled once through a private writable mapping, then
 * sealed against writes, growth, shrinking and further seal changes. Its pages are locked when the
 * policy and RLIMIT_MEMLOCK allow, and marked MADV_DONTDUMP. The model server inherits the descriptor
 * and can only map it read-only (F_SEAL_WRITE refuses shared writable mappings). */
#include "ccgate/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "ccgate/error.h"

#define MEMFD_NAME "ccgate-model"
#define MEMFD_SEALS (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL)

/* The system calls themselves: AddressSanitizer's mlock interceptor does nothing and reports success,
 * which would make the "locked" signal a lie in a sanitizer build. */
static int lock_pages(void *p, size_t n) { return (int)syscall(SYS_mlock, p, n); }
static void unlock_pages(void *p, size_t n) { (void)syscall(SYS_munlock, p, n); }

ccg_result ccg_agent_memfd_create(size_t len, ccg_memlock_policy policy, ccg_agent_memfd *out)
{
    ccg_result result = CCG_FAILURE;
    long page = sysconf(_SC_PAGESIZE);
    void *p = MAP_FAILED;
    memset(out, 0, sizeof(*out));
    out->fd = -1;
    CCG_ENSURE_MSG(len > 0 && page > 0 && len <= SIZE_MAX - (size_t)page, CCG_R_AGENT_MEMORY_FAILED,
                   "a model of %zu bytes", len);
    out->mapped = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
    out->len = len;
    out->fd = memfd_create(MEMFD_NAME, MFD_ALLOW_SEALING | MFD_CLOEXEC);
    CCG_ENSURE_MSG(out->fd >= 0, CCG_R_AGENT_MEMORY_FAILED, "memfd_create: %s", strerror(errno));
    CCG_ENSURE_MSG(ftruncate(out->fd, (off_t)len) == 0, CCG_R_AGENT_MEMORY_FAILED, "ftruncate(%zu): %s", len,
                   strerror(errno));
    p = mmap(NULL, out->mapped, PROT_READ | PROT_WRITE, MAP_SHARED, out->fd, 0);
    CCG_ENSURE_MSG(p != MAP_FAILED, CCG_R_AGENT_MEMORY_FAILED, "mmap of the memfd (%zu bytes): %s", len,
                   strerror(errno));
    out->map = p;
    CCG_ENSURE_MSG(madvise(p, out->mapped, MADV_DONTDUMP) == 0, CCG_R_AGENT_MEMORY_FAILED,
                   "madvise(MADV_DONTDUMP): %s", strerror(errno));
    if (policy != CCG_MEMLOCK_OFF) {
        out->locked = lock_pages(p, out->mapped) == 0;
        CCG_ENSURE_MSG(out->locked || policy != CCG_MEMLOCK_REQUIRED, CCG_R_AGENT_MEMORY_FAILED,
                       "mlock of %zu bytes failed (memlock is \"required\"; raise RLIMIT_MEMLOCK): %s", out->mapped,
                       strerror(errno));
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_agent_memfd_close(out);
    }
    return result;
}

ccg_result ccg_agent_memfd_seal(ccg_agent_memfd *m)
{
    ccg_result result = CCG_FAILURE;
    int seals;
    /* F_SEAL_WRITE is refused while a writable shared mapping exists. The page cache keeps the
     * contents and the lock is taken again on a read-only mapping below. */
    if (m->map != NULL) {
        munmap(m->map, m->mapped);
        m->map = NULL;
    }
    CCG_ENSURE_MSG(fcntl(m->fd, F_ADD_SEALS, MEMFD_SEALS) == 0, CCG_R_AGENT_MEMORY_FAILED, "F_ADD_SEALS: %s",
                   strerror(errno));
    seals = fcntl(m->fd, F_GET_SEALS);
    CCG_ENSURE_MSG(seals >= 0 && (seals & MEMFD_SEALS) == MEMFD_SEALS, CCG_R_AGENT_MEMORY_FAILED,
                   "the memfd's seals are 0x%x", seals);
    m->sealed = 1;
    /* A read-only mapping the agent keeps for as long as it runs, so the pages stay locked. */
    if (m->locked) {
        void *p = mmap(NULL, m->mapped, PROT_READ, MAP_SHARED, m->fd, 0);
        CCG_ENSURE_MSG(p != MAP_FAILED, CCG_R_AGENT_MEMORY_FAILED, "read-only mmap of the sealed memfd: %s",
                       strerror(errno));
        m->map = p;
        (void)madvise(p, m->mapped, MADV_DONTDUMP);
        m->locked = lock_pages(p, m->mapped) == 0;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_agent_memfd_close(ccg_agent_memfd *m)
{
    if (m->map != NULL) {
        if (!m->sealed) {
            ccg_secure_zero(m->map, m->mapped);
        }
        if (m->locked) {
            unlock_pages(m->map, m->mapped);
        }
        munmap(m->map, m->mapped);
    }
    if (m->fd >= 0) {
        close(m->fd);
    }
    memset(m, 0, sizeof(*m));
    m->fd = -1;
}
