/* Read-only mappings of a model: a file (`--model`), or the memfd the agent hands over (docs/agent.md, "The
 * model server contract"). The pages are kept out of core dumps. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccgate/model.h"

ccg_result ccg_model_map_fd(int fd, size_t len, ccg_model_mapping *map)
{
    ccg_result result = CCG_FAILURE;
    struct stat sb;
    void *p;
    memset(map, 0, sizeof(*map));
    CCG_ENSURE_MSG(fd >= 0 && fstat(fd, &sb) == 0, CCG_R_RUNNER_MODEL_UNAVAILABLE, "descriptor %d: %s", fd,
                   strerror(errno));
    CCG_ENSURE_MSG(S_ISREG(sb.st_mode) && sb.st_size > 0 && (uint64_t)sb.st_size == (uint64_t)len,
                   CCG_R_RUNNER_MODEL_UNAVAILABLE, "descriptor %d is not a regular file of %zu bytes", fd, len);
    p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    CCG_ENSURE_MSG(p != MAP_FAILED, CCG_R_RUNNER_MODEL_UNAVAILABLE, "mmap: %s", strerror(errno));
    (void)madvise(p, len, MADV_DONTDUMP);
    map->data = p;
    map->len = len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_model_map_file(const char *path, ccg_model_mapping *map)
{
    ccg_result result = CCG_FAILURE;
    struct stat sb;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    memset(map, 0, sizeof(*map));
    CCG_ENSURE_MSG(fd >= 0, CCG_R_RUNNER_MODEL_UNAVAILABLE, "%.200s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode), CCG_R_RUNNER_MODEL_UNAVAILABLE,
                   "%.200s is not a regular file", path);
    CCG_ENSURE_MSG(sb.st_size > 0, CCG_R_RUNNER_MODEL_MALFORMED, "%.200s is empty", path);
    CCG_TRY(ccg_model_map_fd(fd, (size_t)sb.st_size, map));
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

void ccg_model_unmap(ccg_model_mapping *map)
{
    if (map != NULL && map->data != NULL) {
        munmap(map->data, map->len);
    }
    if (map != NULL) {
        memset(map, 0, sizeof(*map));
    }
}
