/* RFC 9180 section 4: suite identifiers and the labeled HKDF-SHA256 steps, on OpenSSL's HKDF in its
 * extract-only and expand-only modes. The labeled input may hold secrets (a DH output, a PSK), so
 * the buffer that concatenates it is cleansed before it is freed. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/kdf.h>

#include "hpke_internal.h"

static const char version_label[] = "HPKE-v1";

void ccg_hpke_kem_suite_id(uint16_t kem_id, ccg_hpke_suite_id *sid)
{
    memcpy(sid->bytes, "KEM", 3);
    sid->bytes[3] = (uint8_t)(kem_id >> 8);
    sid->bytes[4] = (uint8_t)kem_id;
    sid->len = 5;
}

void ccg_hpke_full_suite_id(ccg_hpke_suite suite, ccg_hpke_suite_id *sid)
{
    const uint16_t ids[3] = {suite.kem_id, suite.kdf_id, suite.aead_id};
    memcpy(sid->bytes, "HPKE", 4);
    for (size_t i = 0; i < 3; i++) {
        sid->bytes[4 + 2 * i] = (uint8_t)(ids[i] >> 8);
        sid->bytes[5 + 2 * i] = (uint8_t)ids[i];
    }
    sid->len = 10;
}

/* One HKDF step: mode is EVP_KDF_HKDF_MODE_EXTRACT_ONLY (key = ikm, salt) or _EXPAND_ONLY (key = prk, info). */
static ccg_result hkdf_step(int mode, const uint8_t *key, size_t key_len, const uint8_t *salt, size_t salt_len,
                            const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[5];
    size_t n = 0;
    char digest[] = "SHA256";
    kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_HKDF, NULL);
    CCG_ENSURE_OSSL(kdf != NULL, CCG_R_INTERNAL_CRYPTO);
    kctx = EVP_KDF_CTX_new(kdf);
    CCG_ENSURE_OSSL(kctx != NULL, CCG_R_INTERNAL_CRYPTO);
    params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, key_len);
    if (mode == EVP_KDF_HKDF_MODE_EXTRACT_ONLY) {
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, salt_len);
    } else {
        params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, info_len);
    }
    params[n] = OSSL_PARAM_construct_end();
    CCG_ENSURE_OSSL(EVP_KDF_derive(kctx, out, out_len, params) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return result;
}

ccg_result ccg_hpke_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                                 uint8_t prk[CCG_HPKE_NH])
{
    static const uint8_t zero_salt[CCG_HPKE_NH] = {0};
    /* RFC 5869: an absent salt is HashLen zeros (HMAC pads either to the same block). */
    if (salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof(zero_salt);
    }
    return hkdf_step(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, ikm, ikm_len, salt, salt_len, NULL, 0, prk, CCG_HPKE_NH);
}

ccg_result ccg_hpke_hkdf_expand(const uint8_t prk[CCG_HPKE_NH], const uint8_t *info, size_t info_len, uint8_t *out,
                                size_t out_len)
{
    return hkdf_step(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, CCG_HPKE_NH, NULL, 0, info, info_len, out, out_len);
}

/* prefix || "HPKE-v1" || suite_id || label || tail, in a fresh buffer the caller cleanses. */
static ccg_result labeled_concat(const uint8_t *prefix, size_t prefix_len, const ccg_hpke_suite_id *sid, const char *label,
                                 const uint8_t *tail, size_t tail_len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    size_t label_len = strlen(label);
    size_t fixed = prefix_len + sizeof(version_label) - 1 + sid->len + label_len;
    uint8_t *buf = NULL;
    CCG_ENSURE(tail_len <= CCG_HPKE_MAX_INFO_LEN, CCG_R_INPUT_TOO_LARGE);
    buf = OPENSSL_malloc(fixed + tail_len + 1);
    CCG_ENSURE_ALLOC(buf);
    uint8_t *p = buf;
    if (prefix_len > 0) {
        memcpy(p, prefix, prefix_len);
        p += prefix_len;
    }
    memcpy(p, version_label, sizeof(version_label) - 1);
    p += sizeof(version_label) - 1;
    memcpy(p, sid->bytes, sid->len);
    p += sid->len;
    memcpy(p, label, label_len);
    p += label_len;
    if (tail_len > 0) {
        memcpy(p, tail, tail_len);
    }
    *out = buf;
    *out_len = fixed + tail_len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_labeled_extract(const ccg_hpke_suite_id *sid, const uint8_t *salt, size_t salt_len, const char *label,
                                    const uint8_t *ikm, size_t ikm_len, uint8_t prk[CCG_HPKE_NH])
{
    ccg_result result = CCG_FAILURE;
    uint8_t *labeled = NULL;
    size_t labeled_len = 0;
    CCG_TRY(labeled_concat(NULL, 0, sid, label, ikm, ikm_len, &labeled, &labeled_len));
    CCG_TRY(ccg_hpke_hkdf_extract(salt, salt_len, labeled, labeled_len, prk));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_clear_free(labeled, labeled_len);
    return result;
}

ccg_result ccg_hpke_labeled_expand(const ccg_hpke_suite_id *sid, const uint8_t prk[CCG_HPKE_NH], const char *label,
                                   const uint8_t *info, size_t info_len, uint8_t *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *labeled = NULL;
    size_t labeled_len = 0;
    uint8_t len_be[2] = {(uint8_t)(out_len >> 8), (uint8_t)out_len};
    CCG_ENSURE_MSG(out_len <= 255 * CCG_HPKE_NH, CCG_R_HPKE_EXPORT_TOO_LONG, "expand of %zu bytes", out_len);
    /* L = 0 derives nothing (Nk = Nn = 0 of the export-only AEAD). */
    if (out_len > 0) {
        CCG_TRY(labeled_concat(len_be, sizeof(len_be), sid, label, info, info_len, &labeled, &labeled_len));
        CCG_TRY(ccg_hpke_hkdf_expand(prk, labeled, labeled_len, out, out_len));
    }
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_clear_free(labeled, labeled_len);
    return result;
}
