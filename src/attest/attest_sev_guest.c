/* The /dev/sev-guest backend: SNP_GET_EXT_REPORT (report plus the host's certificate table) through
 * the uapi in <linux/sev-guest.h>. The kernel wants a page-multiple certificate buffer of at most
 * 16 KiB; when the host's table is larger than ours it fails with SNP_GUEST_VMM_ERR_INVALID_LEN and the
 * size it needs, and we retry once with that size (bounded by CCG_SEV_GUEST_CERTS_MAX). */
#include <errno.h>
#include <fcntl.h>
#include <linux/sev-guest.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "attest_internal.h"

#define PAGE 4096u
/* VCEK, ASK and ARK in DER take about 4.5 KiB: two pages serve the usual host in one call; a host
 * with more asks for up to CCG_SEV_GUEST_CERTS_MAX and gets a second call. */
#define CERTS_INITIAL (2u * PAGE)

int attest_sev_guest_present(const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    close(fd);
    return 1;
}

static size_t round_pages(size_t n) { return (n + PAGE - 1) / PAGE * PAGE; }

/* One SNP_GET_EXT_REPORT; *retry_len is the size the kernel asked for, when it asked. */
static ccg_result ext_report(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                             struct snp_report_resp *resp, uint8_t *certs, size_t certs_len, size_t *retry_len)
{
    struct snp_ext_report_req req;
    struct snp_guest_request_ioctl io;
    memset(&req, 0, sizeof(req));
    memset(&io, 0, sizeof(io));
    memset(resp, 0, sizeof(*resp));
    memcpy(req.data.user_data, report_data, CCG_ATTESTER_REPORT_DATA_LEN);
    req.data.vmpl = a->vmpl;
    req.certs_address = (uint64_t)(uintptr_t)certs;
    req.certs_len = (uint32_t)certs_len;
    io.msg_version = 1;
    io.req_data = (uint64_t)(uintptr_t)&req;
    io.resp_data = (uint64_t)(uintptr_t)resp;
    int rc;
    do {
        rc = ioctl(a->fd, SNP_GET_EXT_REPORT, &io);
    } while (rc < 0 && errno == EINTR);
    return ccg_attest_sev_guest_status(rc, rc < 0 ? errno : 0, io.fw_error, io.vmm_error, req.certs_len, retry_len);
}

static ccg_result certs_alloc(size_t len, uint8_t **out)
{
    ccg_result result = CCG_FAILURE;
    void *p = NULL;
    CCG_ENSURE_ALLOC(posix_memalign(&p, PAGE, len) == 0 ? p : NULL);
    memset(p, 0, len);
    *out = p;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result keep_certs(const uint8_t *certs, size_t len, ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_cert_entry entries[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    /* A host with no certificates leaves the buffer zeroed: an empty table. */
    CCG_TRY(ccg_snp_cert_table_parse(certs, len, entries, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used));
    if (n > 0) {
        CCG_TRY(attest_dup(certs, used, &out->certs));
        out->certs_len = used;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result sev_guest_get(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    struct snp_report_resp *resp = calloc(1, sizeof(*resp));
    uint8_t *certs = NULL;
    size_t certs_len = CERTS_INITIAL, retry = 0;
    const uint8_t *report = NULL;
    CCG_ENSURE_ALLOC(resp);
    CCG_TRY(certs_alloc(certs_len, &certs));
    CCG_TRY(ext_report(a, report_data, resp, certs, certs_len, &retry));
    if (retry != 0) {
        free(certs);
        certs = NULL;
        certs_len = round_pages(retry);
        CCG_ENSURE_MSG(certs_len <= CCG_SEV_GUEST_CERTS_MAX, CCG_R_ATTEST_CERTS_TOO_LARGE,
                       "the host's certificates need %zu bytes", certs_len);
        CCG_TRY(certs_alloc(certs_len, &certs));
        CCG_TRY(ext_report(a, report_data, resp, certs, certs_len, &retry));
        CCG_ENSURE_MSG(retry == 0, CCG_R_ATTEST_CERTS_TOO_LARGE, "the host's certificate table keeps growing");
    }
    CCG_TRY(ccg_attest_parse_sev_guest_resp(resp->data, sizeof(resp->data), &report));
    CCG_TRY(attest_dup(report, CCG_SNP_REPORT_SIZE, &out->report));
    out->report_len = CCG_SNP_REPORT_SIZE;
    out->tee = CCG_TEE_SNP;
    CCG_TRY(keep_certs(certs, certs_len, out));
    result = CCG_SUCCESS;
cleanup:
    free(certs);
    free(resp);
    return result;
}

ccg_result attest_sev_guest_open(ccg_attester *a)
{
    ccg_result result = CCG_FAILURE;
    a->fd = open(a->path, O_RDWR | O_CLOEXEC);
    CCG_ENSURE_MSG(a->fd >= 0, CCG_R_ATTEST_BACKEND_UNAVAILABLE, "cannot open %s: %s", a->path, strerror(errno));
    a->tee = CCG_TEE_SNP;
    a->get = sev_guest_get;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
