/* The collateral cache directory: bounded reads, atomic writes, private (0700) directories. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ccgate/snp_kds.h"

/* Cached items are certificates and CRLs; anything larger is not ours. */
#define CACHE_MAX_FILE (4u << 20)

static ccg_result read_fd(int fd, const char *path, size_t size, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = malloc(size + 1);
    size_t len = 0;
    CCG_ENSURE_ALLOC(buf);
    while (len < size) {
        ssize_t n = read(fd, buf + len, size - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(n >= 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot read %s: %s", path, strerror(errno));
        CCG_ENSURE_MSG(n > 0, CCG_R_COLLATERAL_CACHE_ERROR, "%s shrank while being read", path);
        len += (size_t)n;
    }
    buf[len] = 0;
    *out = buf;
    *out_len = len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result ccg_snp_cache_read(const char *cache_dir, const ccg_snp_kds_item *item, uint8_t **out, size_t *out_len,
                              int *found)
{
    ccg_result result = CCG_FAILURE;
    char path[CCG_SNP_KDS_PATH_MAX];
    struct stat st;
    int fd = -1;
    *out = NULL;
    *out_len = 0;
    *found = 0;
    CCG_TRY(ccg_snp_cache_path(cache_dir, item, path, sizeof(path)));
    /* No symlinks at the leaf: the cache holds plain files this code wrote. */
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 && (errno == ENOENT || errno == ENOTDIR)) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(fd >= 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot open %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fstat(fd, &st) == 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot stat %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(S_ISREG(st.st_mode), CCG_R_COLLATERAL_CACHE_ERROR, "%s is not a regular file", path);
    CCG_ENSURE_MSG(st.st_size > 0, CCG_R_COLLATERAL_CACHE_ERROR, "%s is empty", path);
    CCG_ENSURE_MSG((uint64_t)st.st_size <= CACHE_MAX_FILE, CCG_R_COLLATERAL_CACHE_ERROR,
                   "%s is larger than %u bytes", path, CACHE_MAX_FILE);
    CCG_TRY(read_fd(fd, path, (size_t)st.st_size, out, out_len));
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

/* mkdir -p of the directory part of path; new directories are private to the user. */
static ccg_result make_parents(const char *path)
{
    ccg_result result = CCG_FAILURE;
    char dir[CCG_SNP_KDS_PATH_MAX];
    struct stat st;
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    CCG_ENSURE_MSG(slash != NULL && slash != dir, CCG_R_INTERNAL_ERROR, "cache path %s has no directory", path);
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        if (*p != '/' && *p != '\0') {
            continue;
        }
        char saved = *p;
        *p = '\0';
        if (mkdir(dir, 0700) != 0) {
            CCG_ENSURE_MSG(errno == EEXIST, CCG_R_COLLATERAL_CACHE_ERROR, "cannot create %s: %s", dir,
                           strerror(errno));
            CCG_ENSURE_MSG(stat(dir, &st) == 0 && S_ISDIR(st.st_mode), CCG_R_COLLATERAL_CACHE_ERROR,
                           "%s exists and is not a directory", dir);
        }
        *p = saved;
        if (saved == '\0') {
            break;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result write_all(int fd, const char *path, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(n > 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot write %s: %s", path, strerror(errno));
        done += (size_t)n;
    }
    CCG_ENSURE_MSG(fsync(fd) == 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot sync %s: %s", path, strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Makes the rename itself durable; failure here only weakens durability, so it is not an error. */
static void sync_parent(const char *path)
{
    char dir[CCG_SNP_KDS_PATH_MAX];
    snprintf(dir, sizeof(dir), "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        return;
    }
    *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

ccg_result ccg_snp_cache_write(const char *cache_dir, const ccg_snp_kds_item *item, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    char path[CCG_SNP_KDS_PATH_MAX], tmp[CCG_SNP_KDS_PATH_MAX + 16];
    int fd = -1, created = 0;
    CCG_ENSURE_MSG(len > 0 && len <= CACHE_MAX_FILE, CCG_R_INTERNAL_ERROR, "refusing to cache %zu bytes", len);
    CCG_TRY(ccg_snp_cache_path(cache_dir, item, path, sizeof(path)));
    CCG_TRY(make_parents(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
    fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    CCG_ENSURE_MSG(fd >= 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot create a file next to %s: %s", path,
                   strerror(errno));
    created = 1;
    CCG_TRY(write_all(fd, tmp, data, len));
    CCG_ENSURE_MSG(close(fd) == 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot close %s: %s", tmp, strerror(errno));
    fd = -1;
    CCG_ENSURE_MSG(rename(tmp, path) == 0, CCG_R_COLLATERAL_CACHE_ERROR, "cannot rename %s to %s: %s", tmp, path,
                   strerror(errno));
    created = 0;
    sync_parent(path);
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (created) {
        (void)unlink(tmp);
    }
    return result;
}
