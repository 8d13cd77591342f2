/* libFuzzer target: the parsers of what the attester's kernel interfaces return. The first byte picks
 * the interface, the rest is what the (untrusted) kernel, host or stand-in handed back:
 *   0 configfs-tsm provider   1 configfs-tsm generation   2 auxblob / SNP_GET_EXT_REPORT certificate table
 *   3 /dev/sev-guest snp_report_resp   4 outblob as an SNP report   5 outblob as a TDX quote
 *   6 the sev-guest ioctl status words (rc, errno, fw_error, vmm_error, certs_len written back)
 * Any input must be accepted or refused with a reason, never crash or leak; a parsed certificate
 * table must lie inside the input and rebuild into a table that parses the same. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/attester.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_have_reason(ccg_result r)
{
    if (ccg_failed(r) && ccg_error_reason() == CCG_R_OK) {
        abort(); /* a refusal must always carry a reason */
    }
}

static void cert_table(const uint8_t *p, size_t n)
{
    ccg_snp_cert_entry e[CCG_SNP_CERT_TABLE_MAX_ENTRIES], again[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t count = 0, used = 0, count2 = 0, used2 = 0;
    uint8_t *rebuilt = NULL;
    size_t rebuilt_len = 0;
    ccg_result r = ccg_snp_cert_table_parse(p, n, e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &count, &used);
    must_have_reason(r);
    if (ccg_failed(r)) {
        return;
    }
    if (used > n) {
        abort();
    }
    for (size_t i = 0; i < count; i++) {
        if (e[i].der < p || e[i].der + e[i].der_len > p + n) {
            abort();
        }
    }
    ccg_error_clear();
    if (ccg_ok(ccg_snp_cert_table_build(e, count, &rebuilt, &rebuilt_len))) {
        if (ccg_failed(ccg_snp_cert_table_parse(rebuilt, rebuilt_len, again, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &count2,
                                                &used2)) ||
            count2 != count) {
            abort();
        }
        for (size_t i = 0; i < count; i++) {
            if (again[i].der_len != e[i].der_len || memcmp(again[i].der, e[i].der, e[i].der_len) != 0 ||
                memcmp(again[i].guid, e[i].guid, 16) != 0) {
                abort();
            }
        }
    }
    free(rebuilt);
}

static uint32_t u32_at(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t rd[CCG_ATTESTER_REPORT_DATA_LEN] = {0};
    ccg_tee_type tee;
    uint64_t gen;
    const uint8_t *report = NULL;
    size_t retry = 0;
    if (size < 1) {
        return 0;
    }
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    ccg_error_clear();
    switch (data[0] % 7) {
    case 0: must_have_reason(ccg_attest_parse_provider(p, n, &tee)); break;
    case 1: must_have_reason(ccg_attest_parse_generation(p, n, &gen)); break;
    case 2: cert_table(p, n); break;
    case 3: {
        ccg_result r = ccg_attest_parse_sev_guest_resp(p, n, &report);
        must_have_reason(r);
        if (ccg_ok(r) && (report < p || report + 1184 > p + n)) {
            abort();
        }
        break;
    }
    case 4:
        /* REPORT_DATA as the report itself claims it, so the comparison is reached too. */
        if (n >= 0x50 + sizeof(rd)) {
            memcpy(rd, p + 0x50, sizeof(rd));
        }
        must_have_reason(ccg_attest_check_report(CCG_TEE_SNP, p, n, rd));
        break;
    case 5: must_have_reason(ccg_attest_check_report(CCG_TEE_TDX, p, n, rd)); break;
    case 6:
        if (n >= 20) {
            ccg_result r = ccg_attest_sev_guest_status((int)u32_at(p), (int)(u32_at(p + 4) & 0xFFF), u32_at(p + 8),
                                                       u32_at(p + 12), u32_at(p + 16), &retry);
            must_have_reason(r);
            if (ccg_ok(r) && retry > CCG_SEV_GUEST_CERTS_MAX) {
                abort();
            }
        }
        break;
    }
    return 0;
}
