/* Parsers of the small things the kernel interfaces return: configfs-tsm's provider and generation,
 * the evidence itself (sizes, versions, REPORT_DATA), and /dev/sev-guest's response and error words.
 * All input is untrusted: a compromised or buggy host, or a stand-in, can return anything. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "attest_internal.h"
#include "ccgate/reader.h"
#include "ccgate/snp_report.h"

/* The attribute text without one trailing newline; refuses empty, oversized or NUL-carrying text. */
static ccg_result attr_text(const uint8_t *buf, size_t len, size_t *text_len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(len <= CCG_ATTESTER_SMALL_ATTR_MAX, CCG_R_ATTEST_OUTPUT_MALFORMED,
                   "a configfs-tsm attribute of %zu bytes", len);
    if (len > 0 && buf[len - 1] == '\n') {
        len--;
    }
    CCG_ENSURE_MSG(len > 0, CCG_R_ATTEST_OUTPUT_MALFORMED, "an empty configfs-tsm attribute");
    CCG_ENSURE_MSG(memchr(buf, '\0', len) == NULL && memchr(buf, '\n', len) == NULL, CCG_R_ATTEST_OUTPUT_MALFORMED,
                   "a configfs-tsm attribute with a NUL or an inner newline");
    *text_len = len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_attest_parse_provider(const uint8_t *buf, size_t len, ccg_tee_type *out)
{
    ccg_result result = CCG_FAILURE;
    static const struct {
        const char *name;
        ccg_tee_type tee;
    } known[] = {{"sev_guest", CCG_TEE_SNP}, {"tdx_guest", CCG_TEE_TDX}};
    size_t n = 0;
    *out = CCG_TEE_NONE;
    CCG_TRY_AS(attr_text(buf, len, &n), CCG_R_ATTEST_PROVIDER_UNKNOWN, "the configfs-tsm provider is not a known name");
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (n == strlen(known[i].name) && memcmp(buf, known[i].name, n) == 0) {
            *out = known[i].tee;
            return CCG_SUCCESS;
        }
    }
    CCG_BAIL(CCG_R_ATTEST_PROVIDER_UNKNOWN, "unknown configfs-tsm provider (%zu bytes); known: sev_guest, tdx_guest", n);
cleanup:
    return result;
}

ccg_result ccg_attest_parse_generation(const uint8_t *buf, size_t len, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    uint64_t v = 0;
    CCG_TRY(attr_text(buf, len, &n));
    CCG_ENSURE_MSG(n <= 19, CCG_R_ATTEST_OUTPUT_MALFORMED, "a generation of %zu digits", n);
    for (size_t i = 0; i < n; i++) {
        CCG_ENSURE_MSG(buf[i] >= '0' && buf[i] <= '9', CCG_R_ATTEST_OUTPUT_MALFORMED,
                       "the configfs-tsm generation is not a decimal number");
        v = v * 10 + (uint64_t)(buf[i] - '0');
    }
    *out = v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* An SNP report: exactly 1184 bytes, a version the parser knows, REPORT_DATA at 0x50. */
static ccg_result check_snp(const uint8_t *buf, size_t len, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN])
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_report r;
    CCG_ENSURE_MSG(buf != NULL && len == CCG_SNP_REPORT_SIZE, CCG_R_ATTEST_OUTPUT_MALFORMED,
                   "an SNP report of %zu bytes (expected %u)", len, CCG_SNP_REPORT_SIZE);
    if (ccg_failed(ccg_snp_report_parse(buf, len, &r))) {
        char why[160];
        snprintf(why, sizeof(why), "%.150s", ccg_error_last()->message); /* gcc: bounded, not truncated */
        ccg_error_clear();
        CCG_BAIL(CCG_R_ATTEST_OUTPUT_MALFORMED, "the SNP report does not parse: %s", why);
    }
    CCG_ENSURE_MSG(memcmp(r.report_data, report_data, CCG_ATTESTER_REPORT_DATA_LEN) == 0,
                   CCG_R_ATTEST_REPORT_DATA_MISMATCH, "the SNP report's REPORT_DATA is not what was asked for");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A TDX quote: a 48-byte header (u16 version), then for v4 the TD report body (REPORTDATA at +520),
 * for v5 a u16 body type and u32 body size before it. The quote's signature is the verifier's job. */
static ccg_result check_tdx(const uint8_t *buf, size_t len, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN])
{
    ccg_result result = CCG_FAILURE;
    ccg_reader rd;
    uint16_t version = 0;
    const uint8_t *rdata = NULL;
    size_t body = 0;
    ccg_reader_init(&rd, buf, len);
    CCG_TRY_AS(ccg_reader_u16le(&rd, &version), CCG_R_ATTEST_OUTPUT_MALFORMED, "an empty TDX quote");
    CCG_ENSURE_MSG(version == 4 || version == 5, CCG_R_ATTEST_OUTPUT_MALFORMED, "TDX quote version %u", version);
    body = version == 4 ? 48 : 48 + 2 + 4;
    CCG_TRY_AS(ccg_reader_skip(&rd, body + 520 - 2), CCG_R_ATTEST_OUTPUT_MALFORMED, "a TDX quote of %zu bytes", len);
    CCG_TRY_AS(ccg_reader_borrow(&rd, &rdata, CCG_ATTESTER_REPORT_DATA_LEN), CCG_R_ATTEST_OUTPUT_MALFORMED,
                  "a TDX quote of %zu bytes", len);
    CCG_ENSURE_MSG(memcmp(rdata, report_data, CCG_ATTESTER_REPORT_DATA_LEN) == 0, CCG_R_ATTEST_REPORT_DATA_MISMATCH,
                   "the TDX quote's REPORTDATA is not what was asked for");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_attest_check_report(ccg_tee_type tee, const uint8_t *buf, size_t len,
                                   const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(len <= CCG_ATTESTER_OUTBLOB_MAX, CCG_R_ATTEST_OUTPUT_MALFORMED, "evidence of %zu bytes", len);
    switch (tee) {
    case CCG_TEE_SNP: CCG_TRY(check_snp(buf, len, report_data)); break;
    case CCG_TEE_TDX: CCG_TRY(check_tdx(buf, len, report_data)); break;
    default: CCG_BAIL(CCG_R_ATTEST_OUTPUT_MALFORMED, "evidence of no known TEE type");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* MSG_REPORT_RSP (SEV-SNP firmware ABI, table "MSG_REPORT_RSP"): status, report_size, reserved. */
#define SNP_RSP_HEADER 0x20u

ccg_result ccg_attest_parse_sev_guest_resp(const uint8_t *buf, size_t len, const uint8_t **report)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader rd;
    uint32_t status = 0, size = 0;
    ccg_reader_init(&rd, buf, len);
    CCG_TRY_AS(ccg_reader_u32le(&rd, &status), CCG_R_ATTEST_OUTPUT_MALFORMED, "a sev-guest response of %zu bytes", len);
    CCG_TRY_AS(ccg_reader_u32le(&rd, &size), CCG_R_ATTEST_OUTPUT_MALFORMED, "a sev-guest response of %zu bytes", len);
    CCG_ENSURE_MSG(status == 0, CCG_R_ATTEST_KERNEL_ERROR, "the SNP firmware answered MSG_REPORT_REQ with status 0x%x",
                   status);
    CCG_ENSURE_MSG(size == CCG_SNP_REPORT_SIZE, CCG_R_ATTEST_OUTPUT_MALFORMED,
                   "the sev-guest response announces a %u-byte report (expected %u)", size, CCG_SNP_REPORT_SIZE);
    if (ccg_failed(ccg_reader_reserved_zero(&rd, SNP_RSP_HEADER - 8, CCG_R_ATTEST_OUTPUT_MALFORMED))) {
        goto cleanup;
    }
    CCG_TRY_AS(ccg_reader_borrow(&rd, report, CCG_SNP_REPORT_SIZE), CCG_R_ATTEST_OUTPUT_MALFORMED,
                  "the sev-guest response is shorter than its report");
    /* The rest of the kernel's 4000-byte response buffer is unused. */
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* SNP_GUEST_VMM_ERR_* (uapi sev-guest.h). */
#define VMM_ERR_INVALID_LEN 1u
#define VMM_ERR_BUSY 2u

ccg_result ccg_attest_sev_guest_status(int rc, int err, uint32_t fw_error, uint32_t vmm_error, uint32_t certs_len_back,
                                       size_t *retry_len)
{
    ccg_result result = CCG_FAILURE;
    *retry_len = 0;
    if (rc == 0 && fw_error == 0 && vmm_error == 0) {
        return CCG_SUCCESS;
    }
    /* A certificate buffer too small: the kernel fails the call (-EIO, or -ENOSPC on some versions),
     * reports SNP_GUEST_VMM_ERR_INVALID_LEN and writes the size it needs back into certs_len. */
    if (vmm_error == VMM_ERR_INVALID_LEN) {
        CCG_ENSURE_MSG(certs_len_back > 0 && certs_len_back <= CCG_SEV_GUEST_CERTS_MAX, CCG_R_ATTEST_CERTS_TOO_LARGE,
                       "the host's certificates need %u bytes (the sev-guest driver accepts at most %u)",
                       certs_len_back, CCG_SEV_GUEST_CERTS_MAX);
        *retry_len = certs_len_back;
        return CCG_SUCCESS;
    }
    CCG_BAIL(CCG_R_ATTEST_KERNEL_ERROR, "sev-guest ioctl failed: %s (firmware error 0x%x, VMM error 0x%x%s)",
             rc == 0 ? "no errno" : strerror(err), fw_error, vmm_error,
             vmm_error == VMM_ERR_BUSY ? ": the host is busy" : "");
cleanup:
    return result;
}
