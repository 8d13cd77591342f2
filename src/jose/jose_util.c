/* Shared JOSE helpers: JSON member access and P-256 key plumbing. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "jose_internal.h"

ccg_result jose_string_member(const json_t *obj, const char *name, ccg_reason reason, const char **value,
                              size_t *len)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    CCG_ENSURE_MSG(v != NULL, reason, "member \"%s\" is missing", name);
    CCG_ENSURE_MSG(json_is_string(v), reason, "member \"%s\" is not a string", name);
    *value = json_string_value(v);
    *len = json_string_length(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int jose_is_p256(const EVP_PKEY *pkey)
{
    char group[32];
    size_t group_len = 0;
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "EC")) {
        return 0;
    }
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &group_len) != 1) {
        return 0;
    }
    return strcmp(group, "prime256v1") == 0;
}

ccg_result jose_p256_from_xy(const uint8_t x[32], const uint8_t y[32], ccg_reason reason, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t point[65];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY_CTX *check = NULL;
    EVP_PKEY *pkey = NULL;
    char group[] = "prime256v1";
    *out = NULL;
    point[0] = 0x04;
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point));
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_fromdata_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 || pkey == NULL) {
        ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not on P-256");
        goto cleanup;
    }
    /* fromdata already refuses points off the curve; the explicit check also refuses infinity and
     * coordinates out of range. The quick check, not the full one: P-256 has cofactor 1, so every
     * other point on the curve has order n, and the full check's n*Q = O multiplication (as costly as
     * an ECDH; 40% of a JWK parse) proves nothing more. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    CCG_ENSURE_OSSL(check != NULL, CCG_R_INTERNAL_CRYPTO);
    if (EVP_PKEY_public_check_quick(check) != 1) {
        ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not a valid P-256 public key");
        goto cleanup;
    }
    *out = pkey;
    pkey = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    return result;
}

ccg_result jose_p256_xy(const EVP_PKEY *pkey, uint8_t x[32], uint8_t y[32])
{
    ccg_result result = CCG_FAILURE;
    BIGNUM *bx = NULL;
    BIGNUM *by = NULL;
    CCG_ENSURE_OSSL(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(BN_bn2binpad(bx, x, 32) == 32, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(BN_bn2binpad(by, y, 32) == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    BN_free(bx);
    BN_free(by);
    return result;
}
