/* The SPDM 1.1 GET_MEASUREMENTS request ‖ MEASUREMENTS response that NVML returns as a GPU's
 * attestation report (DMTF DSP0274 1.1, "GET_MEASUREMENTS" and "MEASUREMENTS"). Every field goes
 * through the bounded reader; a field that ends early is input.truncated, a field that disagrees
 * with the structure around it is gpu.evidence_malformed. */
#include <string.h>

#include "ccgate/gpu_evidence.h"
#include "ccgate/reader.h"

#define SPDM_GET_MEASUREMENTS 0xE0
#define SPDM_MEASUREMENTS 0x60
#define SPDM_SIGNATURE_REQUESTED 0x01 /* request Param1 bit 0; the other bits are reserved in 1.1 */
#define SPDM_ALL_MEASUREMENTS 0xFF    /* request Param2: every measurement block */
#define SPDM_MAX_SLOT 7
#define DMTF_MEASUREMENT_SPEC 0x01    /* MeasurementSpecification bit 0: DMTF */
#define DMTF_HEADER_SIZE 3            /* DMTFSpecMeasurementValueType (1), ValueSize (2) */

static ccg_result read_version(ccg_reader *r, const char *what, uint8_t *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_reader_u8(r, out));
    CCG_ENSURE_MSG(*out == CCG_GPU_SPDM_VERSION_11, CCG_R_GPU_SPDM_VERSION_UNSUPPORTED,
                   "%s SPDMVersion is 0x%02x, not 0x11", what, *out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_request(ccg_reader *r, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t code = 0;
    CCG_TRY(read_version(r, "request", &out->spdm_version));
    CCG_TRY(ccg_reader_u8(r, &code));
    CCG_ENSURE_MSG(code == SPDM_GET_MEASUREMENTS, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "request code is 0x%02x, not GET_MEASUREMENTS (0xE0)", code);
    CCG_TRY(ccg_reader_u8(r, &out->request_param1));
    /* Without the signature bit the response carries no signature: nothing would be attested. */
    CCG_ENSURE_MSG(out->request_param1 == SPDM_SIGNATURE_REQUESTED, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "request Param1 is 0x%02x, not 0x01 (signature requested)", out->request_param1);
    CCG_TRY(ccg_reader_u8(r, &out->request_param2));
    CCG_ENSURE_MSG(out->request_param2 == SPDM_ALL_MEASUREMENTS, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "request Param2 is 0x%02x, not 0xFF (all measurements)", out->request_param2);
    CCG_TRY(ccg_reader_copy(r, out->nonce, sizeof(out->nonce)));
    CCG_TRY(ccg_reader_u8(r, &out->slot_id));
    CCG_ENSURE_MSG(out->slot_id <= SPDM_MAX_SLOT, CCG_R_GPU_EVIDENCE_MALFORMED, "request SlotIDParam is 0x%02x",
                   out->slot_id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_u24le(ccg_reader *r, uint32_t *out)
{
    ccg_result result = CCG_FAILURE;
    uint16_t lo = 0;
    uint8_t hi = 0;
    CCG_TRY(ccg_reader_u16le(r, &lo));
    CCG_TRY(ccg_reader_u8(r, &hi));
    *out = (uint32_t)hi << 16 | lo;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A block's DMTF measurement: type, value size, value, filling the block exactly. */
static ccg_result parse_dmtf(ccg_reader *blk, ccg_gpu_measurement *m)
{
    ccg_result result = CCG_FAILURE;
    uint16_t value_size = 0;
    CCG_ENSURE_MSG(ccg_reader_remaining(blk) >= DMTF_HEADER_SIZE, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement block %u is too small for a DMTF measurement", m->index);
    CCG_TRY(ccg_reader_u8(blk, &m->dmtf_type));
    CCG_TRY(ccg_reader_u16le(blk, &value_size));
    CCG_ENSURE_MSG(value_size == ccg_reader_remaining(blk), CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement block %u: value size %u disagrees with the block size", m->index, value_size);
    CCG_ENSURE_MSG(value_size >= 1 && value_size <= CCG_GPU_MEASUREMENT_VALUE_MAX, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement block %u: value size %u is not 1..%d", m->index, value_size,
                   CCG_GPU_MEASUREMENT_VALUE_MAX);
    m->size = value_size;
    CCG_TRY(ccg_reader_copy(blk, m->value, value_size));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_block(ccg_reader *rec, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_measurement *m = &out->measurements[out->n_measurements];
    uint8_t spec = 0;
    uint16_t size = 0;
    ccg_reader blk;
    memset(m, 0, sizeof(*m));
    CCG_ENSURE_MSG(ccg_reader_remaining(rec) >= 4, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement record ends inside block %zu", out->n_measurements + 1);
    CCG_TRY(ccg_reader_u8(rec, &m->index));
    CCG_ENSURE_MSG(m->index != 0 && m->index != 0xFF, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement block index %u is reserved", m->index);
    /* Two blocks with one index would make "the value at index i" ambiguous for the RIM comparison. */
    CCG_ENSURE_MSG(ccg_gpu_report_measurement(out, m->index) == NULL, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement index %u appears twice", m->index);
    CCG_TRY(ccg_reader_u8(rec, &spec));
    CCG_ENSURE_MSG(spec == DMTF_MEASUREMENT_SPEC, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement block %u: MeasurementSpecification 0x%02x is not DMTF", m->index, spec);
    CCG_TRY(ccg_reader_u16le(rec, &size));
    CCG_ENSURE_MSG(size <= ccg_reader_remaining(rec), CCG_R_GPU_EVIDENCE_MALFORMED,
                   "measurement block %u: size %u overruns the measurement record", m->index, size);
    CCG_TRY(ccg_reader_sub(rec, &blk, size));
    CCG_TRY(parse_dmtf(&blk, m));
    out->n_measurements++;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_record(ccg_reader *rec, uint8_t blocks, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    /* Param2 0xFF asked for every block: a response with none attests nothing. */
    CCG_ENSURE_MSG(blocks >= 1, CCG_R_GPU_EVIDENCE_MALFORMED, "the response has no measurement blocks");
    for (unsigned i = 0; i < blocks; i++) {
        CCG_TRY(parse_block(rec, out));
    }
    CCG_ENSURE_MSG(ccg_reader_remaining(rec) == 0, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "%zu bytes of the measurement record follow its %u blocks", ccg_reader_remaining(rec), blocks);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_response(ccg_reader *r, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t version = 0, code = 0, blocks = 0;
    uint32_t record_len = 0;
    ccg_reader rec, opaque;
    CCG_TRY(read_version(r, "response", &version));
    CCG_TRY(ccg_reader_u8(r, &code));
    CCG_ENSURE_MSG(code == SPDM_MEASUREMENTS, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "response code is 0x%02x, not MEASUREMENTS (0x60)", code);
    CCG_TRY(ccg_reader_u8(r, &out->response_param1));
    /* Reserved when the request's Param2 is not 0 (SPDM 1.1). */
    CCG_ENSURE_MSG(out->response_param1 == 0, CCG_R_GPU_EVIDENCE_MALFORMED, "response Param1 is 0x%02x, not 0",
                   out->response_param1);
    CCG_TRY(ccg_reader_u8(r, &out->response_param2));
    /* Bits 0-3 the slot that signed, bits 4-7 reserved: the slot the request named. */
    CCG_ENSURE_MSG(out->response_param2 == out->slot_id, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "response Param2 0x%02x does not name the requested slot %u", out->response_param2, out->slot_id);
    CCG_TRY(ccg_reader_u8(r, &blocks));
    CCG_TRY(read_u24le(r, &record_len));
    CCG_TRY(ccg_reader_sub(r, &rec, record_len));
    CCG_TRY(parse_record(&rec, blocks, out));
    CCG_TRY(ccg_reader_copy(r, out->response_nonce, sizeof(out->response_nonce)));
    CCG_TRY(ccg_reader_u16le(r, &out->opaque_len));
    CCG_ENSURE_MSG(out->opaque_len <= CCG_GPU_OPAQUE_MAX, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "OpaqueLength %u exceeds SPDM's 1024", out->opaque_len);
    CCG_TRY(ccg_reader_sub(r, &opaque, out->opaque_len));
    CCG_TRY(ccg_gpu_opaque_parse(opaque.data, out->opaque_len, out));
    out->signed_len = ccg_reader_offset(r);
    CCG_TRY(ccg_reader_copy(r, out->signature, sizeof(out->signature)));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_report_parse(const uint8_t *data, size_t len, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(len <= CCG_GPU_MAX_REPORT_SIZE, CCG_R_INPUT_TOO_LARGE, "GPU report of %zu bytes", len);
    ccg_reader_init(&r, data, len);
    CCG_TRY(parse_request(&r, out));
    CCG_TRY(parse_response(&r, out));
    CCG_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

const ccg_gpu_measurement *ccg_gpu_report_measurement(const ccg_gpu_report *r, uint8_t index)
{
    for (size_t i = 0; i < r->n_measurements; i++) {
        if (r->measurements[i].index == index) {
            return &r->measurements[i];
        }
    }
    return NULL;
}
