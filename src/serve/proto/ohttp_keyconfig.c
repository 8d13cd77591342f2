/* RFC 9458 section 3: the OHTTP key configuration (ohttp.h). */
#include <stdlib.h>
#include <string.h>

#include "ccgate/ohttp.h"
#include "ccgate/reader.h"

#define BAD CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID

static int suite_supported(ccg_ohttp_sym s)
{
    return s.kdf_id == CCG_HPKE_KDF_HKDF_SHA256 &&
           (s.aead_id == CCG_HPKE_AEAD_AES128GCM || s.aead_id == CCG_HPKE_AEAD_CHACHA20POLY1305);
}

ccg_result ccg_ohttp_key_config_encode(const ccg_ohttp_key_config *kc, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    CCG_ENSURE_MSG(kc->kem_id == CCG_HPKE_KEM_X25519_SHA256 && kc->n_suites > 0 && kc->n_suites <= CCG_OHTTP_MAX_SUITES,
                   CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID, "key config: KEM or suite count");
    size_t len = 1 + 2 + CCG_HPKE_X25519_LEN + 2 + 4 * kc->n_suites;
    buf = malloc(len);
    CCG_ENSURE_ALLOC(buf);
    uint8_t *p = buf;
    *p++ = kc->key_id;
    *p++ = (uint8_t)(kc->kem_id >> 8);
    *p++ = (uint8_t)kc->kem_id;
    memcpy(p, kc->pk, CCG_HPKE_X25519_LEN);
    p += CCG_HPKE_X25519_LEN;
    *p++ = (uint8_t)((4 * kc->n_suites) >> 8);
    *p++ = (uint8_t)(4 * kc->n_suites);
    for (size_t i = 0; i < kc->n_suites; i++) {
        CCG_ENSURE_MSG(suite_supported(kc->suites[i]), CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID,
                       "key config: suite %zu is not one ccgate implements", i);
        *p++ = (uint8_t)(kc->suites[i].kdf_id >> 8);
        *p++ = (uint8_t)kc->suites[i].kdf_id;
        *p++ = (uint8_t)(kc->suites[i].aead_id >> 8);
        *p++ = (uint8_t)kc->suites[i].aead_id;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result ccg_ohttp_key_config_parse(const uint8_t *data, size_t len, ccg_ohttp_key_config *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    uint16_t sym_len = 0;
    memset(out, 0, sizeof(*out));
    ccg_reader_init(&r, data, len);
    CCG_TRY_AS(ccg_reader_u8(&r, &out->key_id), BAD, "key config: truncated header");
    CCG_TRY_AS(ccg_reader_u16be(&r, &out->kem_id), BAD, "key config: truncated header");
    CCG_ENSURE_MSG(out->kem_id == CCG_HPKE_KEM_X25519_SHA256, CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID,
                   "key config: KEM 0x%04x is not DHKEM(X25519, HKDF-SHA256)", out->kem_id);
    CCG_TRY_AS(ccg_reader_copy(&r, out->pk, CCG_HPKE_X25519_LEN), BAD, "key config: truncated public key");
    CCG_TRY_AS(ccg_reader_u16be(&r, &sym_len), BAD, "key config: truncated public key");
    CCG_ENSURE_MSG(sym_len >= 4 && sym_len % 4 == 0 && sym_len / 4 <= CCG_OHTTP_MAX_SUITES &&
                       ccg_reader_remaining(&r) == sym_len,
                   CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID, "key config: the suite list length %u is invalid", sym_len);
    for (size_t i = 0; i < sym_len / 4u; i++) {
        CCG_TRY_AS(ccg_reader_u16be(&r, &out->suites[i].kdf_id), BAD, "key config: truncated suite");
        CCG_TRY_AS(ccg_reader_u16be(&r, &out->suites[i].aead_id), BAD, "key config: truncated suite");
    }
    out->n_suites = sym_len / 4u;
    CCG_TRY_AS(ccg_reader_expect_end(&r), BAD, "key config: trailing bytes");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        memset(out, 0, sizeof(*out));
    }
    return result;
}

ccg_result ccg_ohttp_key_config_pick(const ccg_ohttp_key_config *kc, ccg_ohttp_sym *out)
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < kc->n_suites; i++) {
        if (suite_supported(kc->suites[i])) {
            *out = kc->suites[i];
            return CCG_SUCCESS;
        }
    }
    CCG_BAIL(CCG_R_CLIENT_OHTTP_KEY_CONFIG_INVALID, "key config: no suite ccgate implements");
cleanup:
    return result;
}
