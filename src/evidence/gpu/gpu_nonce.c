/* GPU nonce derivation from the KBS session (include/ccgate/gpu_nonce.h). */
#include "ccgate/gpu_nonce.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ccgate/error.h"

static const char NONCE_LABEL[] = "ccgate/gpu-nonce/v1"; /* hashed with its terminating NUL */

const char *ccg_gpu_nonce_binding_name(ccg_gpu_nonce_binding b)
{
    return b == CCG_GPU_NONCE_TRUSTEE ? "trustee" : "ccgate-v1";
}

static ccg_result md_for(const char *hash, const EVP_MD **md)
{
    ccg_result result = CCG_FAILURE;
    *md = NULL;
    CCG_ENSURE_MSG(hash != NULL, CCG_R_USAGE_INVALID, "no hash algorithm");
    if (strcmp(hash, "sha256") == 0) {
        *md = EVP_sha256();
    } else if (strcmp(hash, "sha384") == 0) {
        *md = EVP_sha384();
    } else if (strcmp(hash, "sha512") == 0) {
        *md = EVP_sha512();
    } else {
        CCG_BAIL(CCG_R_USAGE_INVALID, "hash algorithm \"%.16s\" is not sha256, sha384 or sha512", hash);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_device_digest(const char *hash, const char *kbs_nonce, const ccg_jwk *tee_pubkey,
                                 uint8_t digest[CCG_GPU_DEVICE_DIGEST_MAX], size_t *digest_len)
{
    ccg_result result = CCG_FAILURE;
    json_t *obj = NULL, *key = NULL;
    char *canon = NULL;
    size_t canon_len = 0;
    const EVP_MD *md = NULL;
    unsigned int len = 0;
    memset(digest, 0, CCG_GPU_DEVICE_DIGEST_MAX);
    *digest_len = 0;
    CCG_TRY(md_for(hash, &md));
    CCG_ENSURE_MSG(kbs_nonce != NULL && tee_pubkey != NULL, CCG_R_USAGE_INVALID,
                   "the device runtime data needs the KBS nonce and the tee-pubkey");
    obj = json_object();
    key = ccg_jwk_to_json(tee_pubkey);
    CCG_ENSURE_ALLOC(obj);
    CCG_ENSURE_ALLOC(key);
    CCG_ENSURE(json_object_set_new(obj, "tee-pubkey", key) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    key = NULL;
    CCG_ENSURE_MSG(json_object_set_new(obj, "nonce", json_string(kbs_nonce)) == 0, CCG_R_INPUT_MALFORMED,
                   "the nonce is not valid UTF-8");
    CCG_TRY(ccg_jcs_serialize(obj, &canon, &canon_len));
    CCG_ENSURE_OSSL(EVP_Digest(canon, canon_len, digest, &len, md, NULL) == 1 && len >= CCG_GPU_NONCE_SIZE &&
                        len <= CCG_GPU_DEVICE_DIGEST_MAX,
                    CCG_R_INTERNAL_CRYPTO);
    *digest_len = len;
    result = CCG_SUCCESS;
cleanup:
    free(canon);
    json_decref(key);
    json_decref(obj);
    return result;
}

ccg_result ccg_gpu_nonce_derive(ccg_gpu_nonce_binding b, const uint8_t *digest, size_t digest_len,
                                uint32_t gpu_index, uint8_t out[CCG_GPU_NONCE_SIZE])
{
    ccg_result result = CCG_FAILURE;
    uint8_t index_be[4] = {(uint8_t)(gpu_index >> 24), (uint8_t)(gpu_index >> 16), (uint8_t)(gpu_index >> 8),
                           (uint8_t)gpu_index};
    uint8_t len_byte = (uint8_t)digest_len;
    uint8_t full[32];
    unsigned int len = 0;
    EVP_MD_CTX *ctx = NULL;
    memset(out, 0, CCG_GPU_NONCE_SIZE);
    CCG_ENSURE_MSG(digest != NULL && digest_len >= CCG_GPU_NONCE_SIZE && digest_len <= CCG_GPU_DEVICE_DIGEST_MAX,
                   CCG_R_USAGE_INVALID, "the device runtime digest must be 32 to 64 bytes");
    if (b == CCG_GPU_NONCE_TRUSTEE) {
        memcpy(out, digest, CCG_GPU_NONCE_SIZE);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(b == CCG_GPU_NONCE_CCGATE_V1, CCG_R_USAGE_INVALID, "unknown GPU nonce binding");
    ctx = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(ctx, NONCE_LABEL, sizeof(NONCE_LABEL)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(ctx, &len_byte, 1) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(ctx, digest, digest_len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(ctx, index_be, sizeof(index_be)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(ctx, full, &len) == 1 && len == sizeof(full), CCG_R_INTERNAL_CRYPTO);
    memcpy(out, full, CCG_GPU_NONCE_SIZE);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(ctx);
    return result;
}
