/* The TDX quote: header, TD report body, and the ECDSA P-256 signature data (docs/tdx-quote.md).
 *
 * v4: header (48) | TD report 1.0 (584) | u32 signature data size | signature data.
 * v5: header (48) | u16 body type | u32 body size | body (584 or 648) | u32 size | signature data.
 * The quote signature covers everything before the signature data size. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/reader.h"
#include "ccgate/tdx_quote.h"
#include "ccgate/util.h"

/* Intel's quoting enclave (the only QE vendor ccgate knows). */
static const uint8_t INTEL_QE_VENDOR_ID[16] = {0x93, 0x9a, 0x72, 0x33, 0xf7, 0x9c, 0x4c, 0xa9,
                                               0x94, 0x0a, 0x0d, 0xb3, 0x95, 0x7f, 0x06, 0x07};

static ccg_result parse_header(ccg_reader *r, ccg_tdx_quote *q)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_u16le(r, &q->version));
    CCG_ENSURE_MSG(q->version == 4 || q->version == 5, CCG_R_TDX_QUOTE_VERSION_UNSUPPORTED,
                   "quote version %u (ccgate reads 4 and 5)", q->version);
    CCG_TRY(ccg_reader_u16le(r, &q->att_key_type));
    CCG_TRY(ccg_reader_u32le(r, &q->tee_type));
    CCG_ENSURE_MSG(q->tee_type == CCG_TDX_TEE_TYPE, CCG_R_TDX_TEE_TYPE_UNSUPPORTED,
                   "TEE type 0x%x is not TDX (0x81)", q->tee_type);
    CCG_ENSURE_MSG(q->att_key_type == CCG_TDX_ATT_KEY_ECDSA_P256, CCG_R_TDX_ATT_KEY_TYPE_UNSUPPORTED,
                   "attestation key type %u (only 2, ECDSA P-256)", q->att_key_type);
    /* Two reserved u16s (v3's QE and PCE SVN): not defined for v4/v5, so skipped, not judged. */
    CCG_TRY(ccg_reader_skip(r, 4));
    CCG_TRY(ccg_reader_copy(r, q->qe_vendor_id, sizeof(q->qe_vendor_id)));
    CCG_ENSURE_MSG(memcmp(q->qe_vendor_id, INTEL_QE_VENDOR_ID, 16) == 0, CCG_R_TDX_QE_VENDOR_UNKNOWN,
                   "QE vendor ID is not Intel's");
    CCG_TRY(ccg_reader_copy(r, q->user_data, sizeof(q->user_data)));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_td_body(ccg_reader *r, int td15, ccg_tdx_td_report *td)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_copy(r, td->tee_tcb_svn, 16));
    CCG_TRY(ccg_reader_copy(r, td->mrseam, 48));
    CCG_TRY(ccg_reader_copy(r, td->mrsignerseam, 48));
    CCG_TRY(ccg_reader_copy(r, td->seam_attributes, 8));
    CCG_TRY(ccg_reader_u64le(r, &td->td_attributes));
    CCG_TRY(ccg_reader_u64le(r, &td->xfam));
    CCG_TRY(ccg_reader_copy(r, td->mrtd, 48));
    CCG_TRY(ccg_reader_copy(r, td->mrconfigid, 48));
    CCG_TRY(ccg_reader_copy(r, td->mrowner, 48));
    CCG_TRY(ccg_reader_copy(r, td->mrownerconfig, 48));
    for (int i = 0; i < 4; i++) {
        CCG_TRY(ccg_reader_copy(r, td->rtmr[i], 48));
    }
    CCG_TRY(ccg_reader_copy(r, td->report_data, 64));
    if (td15) {
        CCG_TRY(ccg_reader_copy(r, td->tee_tcb_svn2, 16));
        CCG_TRY(ccg_reader_copy(r, td->mrservicetd, 48));
    }
    td->is_td15 = td15;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* v5: the body is framed by its type and size, which must agree. */
static ccg_result parse_v5_body(ccg_reader *r, ccg_tdx_quote *q)
{
    ccg_result result = CCG_FAILURE;
    uint32_t size = 0;
    ccg_reader body;
    CCG_TRY(ccg_reader_u16le(r, &q->body_type));
    CCG_TRY(ccg_reader_u32le(r, &size));
    CCG_ENSURE_MSG(q->body_type == CCG_TDX_BODY_TD10 || q->body_type == CCG_TDX_BODY_TD15,
                   CCG_R_TDX_BODY_TYPE_UNSUPPORTED, "body type %u (2: TD 1.0, 3: TD 1.5)", q->body_type);
    uint32_t want = q->body_type == CCG_TDX_BODY_TD15 ? CCG_TDX_TD15_SIZE : CCG_TDX_TD10_SIZE;
    CCG_ENSURE_MSG(size == want, CCG_R_TDX_BODY_SIZE_INVALID, "body size %u, body type %u needs %u", size,
                   q->body_type, want);
    CCG_TRY(ccg_reader_sub(r, &body, size));
    CCG_TRY(parse_td_body(&body, q->body_type == CCG_TDX_BODY_TD15, &q->td));
    CCG_TRY(ccg_reader_expect_end(&body));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Signature data: signature (64) | attestation key (64) | certification data. */
static ccg_result parse_signature_data(ccg_reader *r, ccg_tdx_quote *q)
{
    ccg_result result = CCG_FAILURE;
    uint32_t size = 0;
    ccg_reader sig;
    CCG_TRY(ccg_reader_u32le(r, &size));
    CCG_ENSURE_MSG(size <= ccg_reader_remaining(r), CCG_R_TDX_SIGNATURE_DATA_MALFORMED,
                   "signature data size %u, %zu bytes left", size, ccg_reader_remaining(r));
    CCG_TRY(ccg_reader_sub(r, &sig, size));
    CCG_ENSURE_MSG(size >= 128 + 6, CCG_R_TDX_SIGNATURE_DATA_MALFORMED, "signature data of %u bytes", size);
    CCG_TRY(ccg_reader_borrow(&sig, &q->signature, 64));
    CCG_TRY(ccg_reader_borrow(&sig, &q->att_key, 64));
    const uint8_t *rest = NULL;
    size_t rest_len = ccg_reader_remaining(&sig);
    CCG_TRY(ccg_reader_borrow(&sig, &rest, rest_len));
    CCG_TRY(ccg_tdx_cert_data_parse(rest, rest_len, q));
    q->trailing = ccg_reader_remaining(r);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_quote_parse(const uint8_t *data, size_t len, ccg_tdx_quote *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(len <= CCG_TDX_MAX_QUOTE, CCG_R_INPUT_TOO_LARGE, "quote of %zu bytes", len);
    ccg_reader_init(&r, data, len);
    CCG_TRY(parse_header(&r, out));
    if (out->version == 4) {
        out->body_type = CCG_TDX_BODY_TD10;
        CCG_TRY(parse_td_body(&r, 0, &out->td));
    } else {
        CCG_TRY(parse_v5_body(&r, out));
    }
    out->signed_data = data;
    out->signed_len = ccg_reader_offset(&r);
    CCG_TRY(parse_signature_data(&r, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int is_hex_text(const uint8_t *p, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (isxdigit(p[i])) {
            digits++;
        } else if (!isspace(p[i])) {
            return 0;
        }
    }
    return digits > 0;
}

ccg_result ccg_tdx_quote_decode(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    *out = NULL;
    *out_len = 0;
    size_t skip = 0;
    while (skip < len && isspace(data[skip])) {
        skip++;
    }
    if (len - skip >= 2 && data[skip] == '0' && (data[skip + 1] == 'x' || data[skip + 1] == 'X')) {
        skip += 2;
    }
    /* A binary quote starts 04 00 or 05 00: never all hex digits and spaces. */
    if (is_hex_text(data + skip, len - skip)) {
        CCG_TRY(ccg_hex_decode_text((const char *)data + skip, len - skip, out, out_len));
    } else {
        CCG_ENSURE_MSG(len <= CCG_TDX_MAX_QUOTE, CCG_R_INPUT_TOO_LARGE, "quote of %zu bytes", len);
        *out = malloc(len > 0 ? len : 1);
        CCG_ENSURE_ALLOC(*out);
        memcpy(*out, data, len);
        *out_len = len;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
