/* The ACPI CCEL table (ACPI 6.5, "Confidential Computing Event Log Table"): a standard 36-byte ACPI
 * header, then CC type, CC subtype, 2 reserved bytes, the log area's minimum length and its start
 * address. ccgate reads it to bound the log area; the addresses mean nothing outside the guest. */
#include <stdio.h>
#include <string.h>

#include "ccgate/reader.h"
#include "ccgate/tdx_eventlog.h"

#define CCEL_CC_TYPE_TDX 2

static void copy_text(char *out, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '.';
    }
    out[n] = '\0';
}

ccg_result ccg_tdx_ccel_table_parse(const uint8_t *data, size_t len, ccg_tdx_ccel_table *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    uint8_t sig[4], oem[6], table_id[8], checksum = 0, sum = 0;
    uint32_t length = 0;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(len == CCG_TDX_CCEL_TABLE_SIZE, CCG_R_TDX_CCEL_TABLE_INVALID,
                   "the CCEL table is %zu bytes, not %d", len, CCG_TDX_CCEL_TABLE_SIZE);
    for (size_t i = 0; i < len; i++) {
        sum = (uint8_t)(sum + data[i]);
    }
    ccg_reader_init(&r, data, len);
    CCG_TRY(ccg_reader_copy(&r, sig, 4));
    CCG_ENSURE_MSG(memcmp(sig, "CCEL", 4) == 0, CCG_R_TDX_CCEL_TABLE_INVALID, "the ACPI table's signature is not CCEL");
    CCG_TRY(ccg_reader_u32le(&r, &length));
    CCG_ENSURE_MSG(length == CCG_TDX_CCEL_TABLE_SIZE, CCG_R_TDX_CCEL_TABLE_INVALID,
                   "the CCEL table's length field says %u bytes, not %d", length, CCG_TDX_CCEL_TABLE_SIZE);
    CCG_TRY(ccg_reader_u8(&r, &out->revision));
    CCG_TRY(ccg_reader_u8(&r, &checksum));
    /* ACPI: every byte of the table, the checksum included, sums to zero. */
    CCG_ENSURE_MSG(sum == 0, CCG_R_TDX_CCEL_TABLE_INVALID, "the CCEL table's checksum is wrong");
    CCG_ENSURE_MSG(out->revision == 1, CCG_R_TDX_CCEL_TABLE_INVALID, "CCEL revision %u (ccgate reads 1)",
                   out->revision);
    CCG_TRY(ccg_reader_copy(&r, oem, 6));
    CCG_TRY(ccg_reader_copy(&r, table_id, 8));
    copy_text(out->oem_id, oem, 6);
    copy_text(out->oem_table_id, table_id, 8);
    CCG_TRY(ccg_reader_skip(&r, 12)); /* OEM revision, creator ID and revision: not judged */
    CCG_TRY(ccg_reader_u8(&r, &out->cc_type));
    CCG_TRY(ccg_reader_u8(&r, &out->cc_subtype));
    CCG_ENSURE_MSG(out->cc_type == CCEL_CC_TYPE_TDX, CCG_R_TDX_CCEL_TABLE_INVALID,
                   "CCEL CC type %u is not TDX (2)", out->cc_type);
    CCG_TRY(ccg_reader_reserved_zero(&r, 2, CCG_R_TDX_CCEL_TABLE_INVALID));
    CCG_TRY(ccg_reader_u64le(&r, &out->laml));
    CCG_TRY(ccg_reader_u64le(&r, &out->lasa));
    CCG_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_eventlog_check_ccel(ccg_tdx_eventlog *log, const ccg_tdx_ccel_table *table)
{
    ccg_result result = CCG_FAILURE;
    /* The kernel exposes exactly the log area; a longer file holds bytes the firmware never wrote. */
    CCG_ENSURE_MSG((uint64_t)log->len <= table->laml, CCG_R_TDX_CCEL_TABLE_INVALID,
                   "the event log is %zu bytes, longer than the CCEL log area (%llu bytes)", log->len,
                   (unsigned long long)table->laml);
    log->ccel = *table;
    log->have_ccel = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
