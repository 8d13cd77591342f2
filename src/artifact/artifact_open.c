/* Opening a sealed artifact: read the header from a file, memory or an http(s) URL, parse it through the
 * bounded reader, verify the provider's signature, and check the artifact's size against the header.
 * Nothing is decrypted here. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "artifact_internal.h"

ccg_result art_pread_full(int fd, void *buf, size_t n, uint64_t off)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *p = buf;
    while (n > 0) {
        ssize_t got = pread(fd, p, n, (off_t)off);
        if (got < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(got >= 0, CCG_R_IO_READ_FAILED, "read at offset %llu: %s", (unsigned long long)off,
                       strerror(errno));
        CCG_ENSURE_MSG(got > 0, CCG_R_ARTIFACT_TRUNCATED, "the artifact ends at offset %llu", (unsigned long long)off);
        p += got;
        n -= (size_t)got;
        off += (uint64_t)got;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Parses and verifies the header in bytes[0..avail). */
static ccg_result verify_header(ccg_artifact *a, const uint8_t *bytes, size_t avail, const ccg_artifact_open_opts *opts)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *pub = NULL;
    if (ccg_failed(ccg_artifact_parse_header(bytes, avail, &a->h))) {
        if (ccg_error_reason() == CCG_R_INPUT_TRUNCATED) {
            ccg_error_clear(); /* the first error wins: replace the reader's generic code */
            CCG_BAIL(CCG_R_ARTIFACT_TRUNCATED, "the artifact ends inside its header (%zu bytes)", avail);
        }
        goto cleanup;
    }
    CCG_TRY(art_load_public_key(opts != NULL ? opts->provider_key_path : NULL, &pub));
    CCG_TRY(art_verify(pub, a->h.sig_alg, bytes, a->h.signed_len, bytes + a->h.signed_len, a->h.signature_len));
    a->header_bytes_len = a->h.signed_len + a->h.signature_len;
    memmove(a->header_bytes, bytes, a->header_bytes_len); /* bytes may be a->header_bytes (http) */
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_free(pub);
    return result;
}

static ccg_result check_size(const ccg_artifact *a, uint64_t size)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(size >= a->h.total_len, CCG_R_ARTIFACT_TRUNCATED, "the artifact is %llu bytes; the header needs %llu",
                   (unsigned long long)size, (unsigned long long)a->h.total_len);
    CCG_ENSURE_MSG(size == a->h.total_len, CCG_R_ARTIFACT_TRAILING_DATA,
                   "the artifact is %llu bytes; its final chunk ends at %llu", (unsigned long long)size,
                   (unsigned long long)a->h.total_len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_artifact *new_artifact(enum art_source kind)
{
    ccg_artifact *a = calloc(1, sizeof(*a));
    if (a != NULL) {
        a->kind = kind;
        a->fd = -1;
    }
    return a;
}

static int is_url(const char *location)
{
    return strncmp(location, "http://", 7) == 0 || strncmp(location, "https://", 8) == 0;
}

static ccg_result open_file(ccg_artifact *a, const char *path, const ccg_artifact_open_opts *opts)
{
    ccg_result result = CCG_FAILURE;
    struct stat st;
    uint8_t buf[CCG_ARTIFACT_HEADER_MAX];
    size_t avail = 0;
    a->fd = open(path, O_RDONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(a->fd >= 0, CCG_R_IO_READ_FAILED, "cannot open %s: %s", path, strerror(errno));
    CCG_ENSURE_MSG(fstat(a->fd, &st) == 0 && S_ISREG(st.st_mode), CCG_R_IO_READ_FAILED, "%s is not a regular file",
                   path);
    avail = (uint64_t)st.st_size < sizeof(buf) ? (size_t)st.st_size : sizeof(buf);
    CCG_TRY(art_pread_full(a->fd, buf, avail, 0));
    CCG_TRY(verify_header(a, buf, avail, opts));
    CCG_TRY(check_size(a, (uint64_t)st.st_size));
    (void)posix_fadvise(a->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result open_url(ccg_artifact *a, const char *url, const ccg_artifact_open_opts *opts)
{
    ccg_result result = CCG_FAILURE;
    a->url = strdup(url);
    CCG_ENSURE_ALLOC(a->url);
    if (opts != NULL && opts->ca_file != NULL) {
        a->ca_file = strdup(opts->ca_file);
        CCG_ENSURE_ALLOC(a->ca_file);
    }
    a->timeout = opts != NULL && opts->timeout_seconds > 0 ? opts->timeout_seconds : 0;
    CCG_TRY(art_http_fetch_header(a));
    CCG_TRY(verify_header(a, a->header_bytes, a->header_bytes_len, opts));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_artifact_open(const char *location, const ccg_artifact_open_opts *opts, ccg_artifact **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_artifact *a = NULL;
    CCG_ENSURE_MSG(location != NULL && out != NULL, CCG_R_USAGE_INVALID, "no artifact location");
    a = new_artifact(is_url(location) ? ART_SRC_HTTP : ART_SRC_FD);
    CCG_ENSURE_ALLOC(a);
    if (a->kind == ART_SRC_HTTP) {
        CCG_TRY(open_url(a, location, opts));
    } else {
        CCG_TRY(open_file(a, location, opts));
    }
    *out = a;
    a = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_artifact_close(a);
    return result;
}

ccg_result ccg_artifact_open_memory(const uint8_t *data, size_t len, const ccg_artifact_open_opts *opts,
                                    ccg_artifact **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_artifact *a = new_artifact(ART_SRC_MEM);
    CCG_ENSURE_ALLOC(a);
    CCG_ENSURE_MSG(data != NULL || len == 0, CCG_R_USAGE_INVALID, "no artifact bytes");
    a->mem = data;
    a->mem_len = len;
    CCG_TRY(verify_header(a, data, len < CCG_ARTIFACT_HEADER_MAX ? len : CCG_ARTIFACT_HEADER_MAX, opts));
    CCG_TRY(check_size(a, len));
    *out = a;
    a = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_artifact_close(a);
    return result;
}

const ccg_artifact_header *ccg_artifact_header_of(const ccg_artifact *a) { return a != NULL ? &a->h : NULL; }

void ccg_artifact_close(ccg_artifact *a)
{
    if (a == NULL) {
        return;
    }
    if (a->fd >= 0) {
        close(a->fd);
    }
    free(a->url);
    free(a->ca_file);
    free(a);
}
