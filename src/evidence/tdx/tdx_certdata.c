/* Certification data of an ECDSA quote (docs/tdx-quote.md):
 *   type 6 (QE report certification data): QE report (384) | QE report signature (64) |
 *     u16 QE authentication data size | data | inner certification data:
 *       type 5 (PCK certificate chain, PEM, leaf first): u16 type | u32 size | data
 * Each level is read strictly by its size field; nothing may follow the inner certification data. */
#include <string.h>

#include "ccgate/reader.h"
#include "ccgate/tdx_quote.h"

#define CERT_DATA_QE_REPORT 6u
#define CERT_DATA_PCK_CHAIN 5u

/* The SGX enclave report; reserved regions are skipped (the QE report signature covers them). */
static ccg_result parse_qe_report(const uint8_t *raw, ccg_tdx_qe_report *qe)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    ccg_reader_init(&r, raw, CCG_TDX_QE_REPORT_SIZE);
    CCG_TRY(ccg_reader_copy(&r, qe->cpusvn, 16));
    CCG_TRY(ccg_reader_u32le(&r, &qe->miscselect));
    CCG_TRY(ccg_reader_skip(&r, 28));
    CCG_TRY(ccg_reader_copy(&r, qe->attributes, 16));
    CCG_TRY(ccg_reader_copy(&r, qe->mrenclave, 32));
    CCG_TRY(ccg_reader_skip(&r, 32));
    CCG_TRY(ccg_reader_copy(&r, qe->mrsigner, 32));
    CCG_TRY(ccg_reader_skip(&r, 96));
    CCG_TRY(ccg_reader_u16le(&r, &qe->isvprodid));
    CCG_TRY(ccg_reader_u16le(&r, &qe->isvsvn));
    CCG_TRY(ccg_reader_skip(&r, 60));
    CCG_TRY(ccg_reader_copy(&r, qe->report_data, 64));
    CCG_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* u16 type | u32 size | data, with data exactly `size` bytes to the end of r. */
static ccg_result read_typed(ccg_reader *r, uint16_t want, const char *what, ccg_reader *data)
{
    ccg_result result = CCG_FAILURE;
    uint16_t type = 0;
    uint32_t size = 0;
    CCG_TRY(ccg_reader_u16le(r, &type));
    CCG_TRY(ccg_reader_u32le(r, &size));
    CCG_ENSURE_MSG(type == want, CCG_R_TDX_CERT_DATA_TYPE_UNSUPPORTED, "%s certification data type %u (want %u)",
                   what, type, want);
    CCG_ENSURE_MSG(size == ccg_reader_remaining(r), CCG_R_TDX_SIGNATURE_DATA_MALFORMED,
                   "%s certification data size %u, %zu bytes present", what, size, ccg_reader_remaining(r));
    CCG_TRY(ccg_reader_sub(r, data, size));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_cert_data_parse(const uint8_t *data, size_t len, ccg_tdx_quote *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r, outer, inner;
    uint16_t auth_len = 0;
    ccg_reader_init(&r, data, len);
    CCG_TRY(read_typed(&r, CERT_DATA_QE_REPORT, "outer", &outer));
    CCG_ENSURE_MSG(ccg_reader_remaining(&outer) >= CCG_TDX_QE_REPORT_SIZE + 64 + 2, CCG_R_TDX_SIGNATURE_DATA_MALFORMED,
                   "QE report certification data of %zu bytes", ccg_reader_remaining(&outer));
    CCG_TRY(ccg_reader_borrow(&outer, &out->qe_report_raw, CCG_TDX_QE_REPORT_SIZE));
    CCG_TRY(parse_qe_report(out->qe_report_raw, &out->qe_report));
    CCG_TRY(ccg_reader_borrow(&outer, &out->qe_report_sig, 64));
    CCG_TRY(ccg_reader_u16le(&outer, &auth_len));
    CCG_ENSURE_MSG(auth_len <= ccg_reader_remaining(&outer), CCG_R_TDX_SIGNATURE_DATA_MALFORMED,
                   "QE authentication data size %u, %zu bytes left", auth_len, ccg_reader_remaining(&outer));
    CCG_TRY(ccg_reader_borrow(&outer, &out->qe_auth_data, auth_len));
    out->qe_auth_len = auth_len;
    CCG_ENSURE_MSG(ccg_reader_remaining(&outer) >= 6, CCG_R_TDX_SIGNATURE_DATA_MALFORMED,
                   "no inner certification data");
    CCG_TRY(read_typed(&outer, CERT_DATA_PCK_CHAIN, "inner", &inner));
    out->pck_chain_len = ccg_reader_remaining(&inner);
    CCG_ENSURE_MSG(out->pck_chain_len > 0, CCG_R_TDX_SIGNATURE_DATA_MALFORMED, "empty PCK certificate chain");
    CCG_TRY(ccg_reader_borrow(&inner, &out->pck_chain, out->pck_chain_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
