/* The software GPU's SPDM 1.1 GET_MEASUREMENTS request ‖ MEASUREMENTS response, laid out as
 * docs/gpu-evidence.md describes (DSP0274 1.1: request 37 bytes; response header, measurement record of
 * DMTF blocks, responder nonce, opaque data, 96-byte ECDSA P-384 signature). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/ecdsa_raw.h"
#include "ccgate/gpu_emulator.h"

#define SPDM_GET_MEASUREMENTS 0xE0
#define SPDM_MEASUREMENTS 0x60
#define REQ_SIGNATURE_REQUESTED 0x01
#define REQ_ALL_MEASUREMENTS 0xFF
#define DMTF_MEASUREMENT_SPEC 0x01
#define DMTF_TYPE_FIRMWARE 0x01 /* DMTFSpecMeasurementValueType: immutable ROM / firmware digest */
#define HEADER_LEN 45           /* request (37) + response header (4) + record length (3) + block count */
#define BLOCK_HEADER 7          /* index, spec, size(2), DMTF type, value size(2) */

ccg_result ccg_gpu_emu_opaque_add(ccg_gpu_emu_spdm *s, uint16_t type, const void *value, uint16_t len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *p = s->opaque + s->opaque_len;
    CCG_ENSURE_MSG(s->opaque_len + 4u + len <= sizeof(s->opaque), CCG_R_INTERNAL_ERROR,
                   "opaque type %u does not fit the emulator's opaque buffer", type);
    p[0] = (uint8_t)(type & 0xff);
    p[1] = (uint8_t)(type >> 8);
    p[2] = (uint8_t)(len & 0xff);
    p[3] = (uint8_t)(len >> 8);
    if (len > 0) {
        memcpy(p + 4, value, len);
    }
    s->opaque_len += 4u + len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

size_t ccg_gpu_emu_spdm_opaque_len_offset(const ccg_gpu_emu_spdm *s)
{
    return HEADER_LEN + (size_t)s->n_blocks * (BLOCK_HEADER + (size_t)s->value_len) + CCG_GPU_NONCE_SIZE;
}

static uint8_t *put_block(uint8_t *p, int k, const ccg_gpu_emu_spdm *s)
{
    *p++ = (uint8_t)(k + 1);
    *p++ = DMTF_MEASUREMENT_SPEC;
    *p++ = (uint8_t)((3 + s->value_len) & 0xff);
    *p++ = (uint8_t)((3 + s->value_len) >> 8);
    *p++ = DMTF_TYPE_FIRMWARE;
    *p++ = (uint8_t)(s->value_len & 0xff);
    *p++ = (uint8_t)(s->value_len >> 8);
    memcpy(p, s->values[k], (size_t)s->value_len);
    return p + s->value_len;
}

ccg_result ccg_gpu_emu_spdm_build(const ccg_gpu_emu_spdm *s, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(s->n_blocks >= 0 && s->n_blocks <= CCG_GPU_MAX_MEASUREMENTS && s->value_len >= 0 &&
                       s->value_len <= CCG_GPU_EMU_VALUE_MAX && s->opaque_len <= 0xffff,
                   CCG_R_INTERNAL_ERROR, "the emulator's report spec is out of range");
    size_t record = (size_t)s->n_blocks * (BLOCK_HEADER + (size_t)s->value_len);
    size_t total = ccg_gpu_emu_spdm_opaque_len_offset(s) + 2 + s->opaque_len + CCG_GPU_SIGNATURE_SIZE;
    uint8_t *b = calloc(1, total), *p = b;
    CCG_ENSURE_ALLOC(b);
    *p++ = CCG_GPU_SPDM_VERSION_11;
    *p++ = SPDM_GET_MEASUREMENTS;
    *p++ = REQ_SIGNATURE_REQUESTED;
    *p++ = REQ_ALL_MEASUREMENTS;
    memcpy(p, s->nonce, CCG_GPU_NONCE_SIZE);
    p += CCG_GPU_NONCE_SIZE;
    *p++ = 0x00; /* slot 0 */
    *p++ = CCG_GPU_SPDM_VERSION_11;
    *p++ = SPDM_MEASUREMENTS;
    *p++ = 0x00;
    *p++ = 0x00; /* param2: slot 0 */
    *p++ = (uint8_t)s->n_blocks;
    *p++ = (uint8_t)(record & 0xff);
    *p++ = (uint8_t)((record >> 8) & 0xff);
    *p++ = (uint8_t)((record >> 16) & 0xff);
    for (int k = 0; k < s->n_blocks; k++) {
        p = put_block(p, k, s);
    }
    memcpy(p, s->response_nonce, CCG_GPU_NONCE_SIZE);
    p += CCG_GPU_NONCE_SIZE;
    *p++ = (uint8_t)(s->opaque_len & 0xff);
    *p++ = (uint8_t)(s->opaque_len >> 8);
    memcpy(p, s->opaque, s->opaque_len);
    *out = b;
    *len = total;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_emu_spdm_sign(EVP_PKEY *key, uint8_t *report, size_t len)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t der[128];
    size_t der_len = sizeof(der);
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_MSG(len > CCG_GPU_SIGNATURE_SIZE, CCG_R_INTERNAL_ERROR, "a report shorter than its signature");
    CCG_ENSURE_OSSL(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) == 1 &&
                        EVP_DigestSign(md, der, &der_len, report, len - CCG_GPU_SIGNATURE_SIZE) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_ecdsa_der_to_raw(der, der_len, CCG_GPU_SIGNATURE_SIZE / 2, report + len - CCG_GPU_SIGNATURE_SIZE));
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}
