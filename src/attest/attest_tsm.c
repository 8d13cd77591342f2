/* The configfs-tsm backend (Linux Documentation/ABI/testing/configfs-tsm):
 *
 *   mkdir $tsm_root/<name>            a report entry of our own
 *   write privlevel                   only when a VMPL other than 0 is asked for (SNP)
 *   write inblob                      the 64 bytes of REPORT_DATA
 *   read generation, provider, outblob, auxblob, generation
 *   rmdir
 *
 * "generation" counts the writes to the entry; if it moves while we read, another writer raced us
 * and the outblob may not be ours, so the whole exchange is retried a few times and then refused
 * (attest.generation_changed). Every byte read is bounded and parsed before use. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attest_internal.h"

#define TSM_TRIES 3

typedef struct {
    char dir[4096];
    int made;
} tsm_entry;

int attest_tsm_present(const char *tsm_root)
{
    struct stat st;
    return stat(tsm_root, &st) == 0 && S_ISDIR(st.st_mode) && access(tsm_root, W_OK | X_OK) == 0;
}

static ccg_result entry_path(const tsm_entry *e, const char *attr, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    int n = snprintf(out, cap, "%s/%s", e->dir, attr);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < cap, CCG_R_USAGE_INVALID, "configfs-tsm path too long");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Reads a whole attribute of at most max bytes; *missing (when not NULL) reports ENOENT instead. */
static ccg_result read_attr(const tsm_entry *e, const char *attr, size_t max, ccg_reason too_big, uint8_t **out,
                            size_t *out_len, int *missing)
{
    ccg_result result = CCG_FAILURE;
    char path[4200];
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = -1;
    *out = NULL;
    *out_len = 0;
    CCG_TRY(entry_path(e, attr, path, sizeof(path)));
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && missing != NULL) {
        *missing = 1;
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(fd >= 0, CCG_R_ATTEST_KERNEL_ERROR, "cannot open %s: %s", path, strerror(errno));
    buf = malloc(max + 1);
    CCG_ENSURE_ALLOC(buf);
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(n >= 0, CCG_R_ATTEST_KERNEL_ERROR, "cannot read %s: %s", path, strerror(errno));
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        CCG_ENSURE_MSG(len <= max, too_big, "%s is larger than %zu bytes", path, max);
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return result;
}

static ccg_result write_attr(const tsm_entry *e, const char *attr, const void *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    char path[4200];
    int fd = -1;
    CCG_TRY(entry_path(e, attr, path, sizeof(path)));
    fd = open(path, O_WRONLY | O_CLOEXEC);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_ATTEST_KERNEL_ERROR, "cannot open %s: %s", path, strerror(errno));
    ssize_t n;
    do {
        n = write(fd, data, len);
    } while (n < 0 && errno == EINTR);
    CCG_ENSURE_MSG(n == (ssize_t)len, CCG_R_ATTEST_KERNEL_ERROR, "cannot write %s: %s", path,
                   n < 0 ? strerror(errno) : "short write");
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    return result;
}

static ccg_result read_generation(const tsm_entry *e, uint64_t *gen)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t len = 0;
    CCG_TRY(read_attr(e, "generation", CCG_ATTESTER_SMALL_ATTR_MAX, CCG_R_ATTEST_OUTPUT_MALFORMED, &buf, &len, NULL));
    CCG_TRY(ccg_attest_parse_generation(buf, len, gen));
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

static ccg_result read_provider(const tsm_entry *e, ccg_tee_type *tee)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t len = 0;
    CCG_TRY(read_attr(e, "provider", CCG_ATTESTER_SMALL_ATTR_MAX, CCG_R_ATTEST_PROVIDER_UNKNOWN, &buf, &len, NULL));
    CCG_TRY(ccg_attest_parse_provider(buf, len, tee));
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

/* A fresh entry under the root, named after our pid and a counter. */
static ccg_result entry_make(ccg_attester *a, tsm_entry *e)
{
    ccg_result result = CCG_FAILURE;
    memset(e, 0, sizeof(*e));
    for (int tries = 0; tries < 16; tries++) {
        int n = snprintf(e->dir, sizeof(e->dir), "%s/ccgate-%ld-%u", a->path, (long)getpid(), a->seq++);
        CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(e->dir), CCG_R_USAGE_INVALID, "configfs-tsm path too long");
        if (mkdir(e->dir, 0700) == 0) {
            e->made = 1;
            return CCG_SUCCESS;
        }
        CCG_ENSURE_MSG(errno == EEXIST, errno == ENOENT || errno == EACCES || errno == EPERM || errno == EROFS
                                            ? CCG_R_ATTEST_BACKEND_UNAVAILABLE
                                            : CCG_R_ATTEST_KERNEL_ERROR,
                       "cannot create a configfs-tsm report entry under %s: %s", a->path, strerror(errno));
    }
    CCG_BAIL(CCG_R_ATTEST_KERNEL_ERROR, "no free configfs-tsm report entry name under %s", a->path);
cleanup:
    return result;
}

static void entry_remove(tsm_entry *e)
{
    if (e->made) {
        (void)rmdir(e->dir); /* best effort: a leftover entry holds no secret */
        e->made = 0;
    }
}

/* The SNP certificate table from auxblob, trimmed to what it spans; an empty table is no certs. */
static ccg_result take_certs(uint8_t *aux, size_t aux_len, ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_cert_entry entries[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    if (aux_len == 0) {
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_snp_cert_table_parse(aux, aux_len, entries, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used));
    if (n > 0) {
        CCG_TRY(attest_dup(aux, used, &out->certs));
        out->certs_len = used;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One exchange; *raced is set when the generation moved while we read. */
static ccg_result tsm_once(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                           ccg_evidence *out, int *raced)
{
    ccg_result result = CCG_FAILURE;
    tsm_entry e;
    uint64_t before = 0, after = 0;
    uint8_t *aux = NULL;
    size_t aux_len = 0;
    int no_aux = 0;
    *raced = 0;
    CCG_TRY(entry_make(a, &e));
    if (a->vmpl != 0) {
        char level[8];
        int n = snprintf(level, sizeof(level), "%u\n", a->vmpl);
        CCG_TRY(write_attr(&e, "privlevel", level, (size_t)n));
    }
    CCG_TRY(write_attr(&e, "inblob", report_data, CCG_ATTESTER_REPORT_DATA_LEN));
    CCG_TRY(read_generation(&e, &before));
    CCG_TRY(read_provider(&e, &out->tee));
    CCG_TRY(read_attr(&e, "outblob", CCG_ATTESTER_OUTBLOB_MAX, CCG_R_ATTEST_OUTPUT_MALFORMED, &out->report,
                      &out->report_len, NULL));
    CCG_TRY(read_attr(&e, "auxblob", CCG_ATTESTER_CERTS_MAX, CCG_R_ATTEST_CERTS_TOO_LARGE, &aux, &aux_len, &no_aux));
    CCG_TRY(read_generation(&e, &after));
    *raced = before != after;
    if (!*raced && out->tee == CCG_TEE_SNP) {
        CCG_TRY(take_certs(aux, aux_len, out));
    }
    result = CCG_SUCCESS;
cleanup:
    entry_remove(&e);
    free(aux);
    return result;
}

static ccg_result tsm_get(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN], ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    for (int attempt = 0; attempt < TSM_TRIES; attempt++) {
        int raced = 0;
        CCG_TRY(tsm_once(a, report_data, out, &raced));
        if (!raced) {
            return CCG_SUCCESS;
        }
        ccg_evidence_free(out);
    }
    CCG_BAIL(CCG_R_ATTEST_GENERATION_CHANGED,
             "the configfs-tsm report generation changed while it was read, %d times in a row", TSM_TRIES);
cleanup:
    return result;
}

ccg_result attest_tsm_open(ccg_attester *a)
{
    ccg_result result = CCG_FAILURE;
    tsm_entry e;
    memset(&e, 0, sizeof(e));
    CCG_ENSURE_MSG(attest_tsm_present(a->path), CCG_R_ATTEST_BACKEND_UNAVAILABLE,
                   "%s is not a writable configfs-tsm report directory", a->path);
    /* The provider names the TEE; it is only visible inside a report entry. */
    CCG_TRY(entry_make(a, &e));
    CCG_TRY(read_provider(&e, &a->tee));
    a->get = tsm_get;
    result = CCG_SUCCESS;
cleanup:
    entry_remove(&e);
    return result;
}
