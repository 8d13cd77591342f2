/* The key schedule: HKDF-SHA256 (RFC 5869) from the model key with the header's random salt. The info
 * string binds the suite, key version and key ID, so a key released for one key ID or version never
 * derives another's artifact key. 64 bytes out: the AES-256-GCM key, then the key check value that the
 * header carries (a wrong model key is caught before any chunk is touched, and the check also commits
 * the artifact to its key, which GCM alone does not). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "artifact_internal.h"
#include "ccgate/secmem.h"

#define INFO_LABEL "ccgate/artifact/v1 key schedule"

static size_t build_info(const ccg_artifact_header *h, uint8_t *info, size_t cap)
{
    size_t id_len = strnlen(h->key_id, sizeof(h->key_id));
    size_t label = sizeof(INFO_LABEL); /* with its NUL, a separator */
    size_t n = label + 2 + 4 + 2 + id_len;
    if (n > cap) {
        return 0;
    }
    memcpy(info, INFO_LABEL, label);
    info[label] = (uint8_t)h->suite;
    info[label + 1] = (uint8_t)(h->suite >> 8);
    for (int i = 0; i < 4; i++) {
        info[label + 2 + i] = (uint8_t)(h->key_version >> (8 * i));
    }
    info[label + 6] = (uint8_t)id_len;
    info[label + 7] = (uint8_t)(id_len >> 8);
    memcpy(info + label + 8, h->key_id, id_len);
    return n;
}

ccg_result art_derive_keys(const uint8_t *model_key, size_t model_key_len, const ccg_artifact_header *h, art_keys *out)
{
    ccg_result result = CCG_FAILURE;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *ctx = NULL;
    uint8_t info[sizeof(INFO_LABEL) + 8 + CCG_ARTIFACT_KEY_ID_MAX];
    uint8_t okm[ART_ENC_KEY_LEN + CCG_ARTIFACT_KEY_CHECK_LEN];
    size_t info_len = build_info(h, info, sizeof(info));
    OSSL_PARAM params[5];
    CCG_ENSURE_MSG(model_key != NULL && model_key_len == CCG_ARTIFACT_MODEL_KEY_LEN, CCG_R_ARTIFACT_KEY_INVALID,
                   "the model key must be %d bytes", CCG_ARTIFACT_MODEL_KEY_LEN);
    CCG_ENSURE(info_len != 0, CCG_R_INTERNAL_ERROR);
    kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    CCG_ENSURE_OSSL(kdf != NULL, CCG_R_INTERNAL_CRYPTO);
    ctx = EVP_KDF_CTX_new(kdf);
    CCG_ENSURE_ALLOC(ctx);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)model_key, model_key_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)h->salt, sizeof(h->salt));
    params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, info_len);
    params[4] = OSSL_PARAM_construct_end();
    CCG_ENSURE_OSSL(EVP_KDF_derive(ctx, okm, sizeof(okm), params) == 1, CCG_R_INTERNAL_CRYPTO);
    memcpy(out->enc_key, okm, ART_ENC_KEY_LEN);
    memcpy(out->key_check, okm + ART_ENC_KEY_LEN, CCG_ARTIFACT_KEY_CHECK_LEN);
    result = CCG_SUCCESS;
cleanup:
    ccg_secure_zero(okm, sizeof(okm));
    EVP_KDF_CTX_free(ctx);
    EVP_KDF_free(kdf);
    return result;
}
