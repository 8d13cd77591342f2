/* Shared JOSE helpers: JSON member access and EC key plumbing (P-256, P-521). */
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

/* The curves a JWK may name: RFC 7518 §6.2.1.1 names and OpenSSL group names; coordinates are the field
 * size, left-padded (P-521: 66 bytes, RFC 7518 §6.2.1.2). */
static const jose_curve curves[] = {
    {CCG_JWK_EC_P256, "P-256", "prime256v1", 32},
    {CCG_JWK_EC_P521, "P-521", "secp521r1", 66},
};

const jose_curve *jose_curve_by_crv(const char *crv)
{
    for (size_t i = 0; crv != NULL && i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (strcmp(crv, curves[i].crv) == 0) {
            return &curves[i];
        }
    }
    return NULL;
}

const jose_curve *jose_curve_by_kind(ccg_jwk_kind kind)
{
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (curves[i].kind == kind) {
            return &curves[i];
        }
    }
    return NULL;
}

const jose_curve *jose_curve_of(const EVP_PKEY *pkey)
{
    char group[32];
    size_t group_len = 0;
    if (pkey == NULL || !EVP_PKEY_is_a(pkey, "EC")) {
        return NULL;
    }
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &group_len) != 1) {
        return NULL;
    }
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (strcmp(group, curves[i].group) == 0) {
            return &curves[i];
        }
    }
    return NULL;
}

int jose_is_p256(const EVP_PKEY *pkey)
{
    const jose_curve *c = jose_curve_of(pkey);
    return c != NULL && c->kind == CCG_JWK_EC_P256;
}

ccg_result jose_ec_from_xy(const jose_curve *c, const uint8_t *x, const uint8_t *y, ccg_reason reason,
                           EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t point[1 + 2 * JOSE_EC_MAX_COORD];
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY_CTX *check = NULL;
    EVP_PKEY *pkey = NULL;
    char group[16];
    *out = NULL;
    CCG_ENSURE(c != NULL && c->len <= JOSE_EC_MAX_COORD && strlen(c->group) < sizeof(group), CCG_R_INTERNAL_ERROR);
    memcpy(group, c->group, strlen(c->group) + 1);
    point[0] = 0x04; /* uncompressed: a compressed or hybrid form never reaches OpenSSL */
    memcpy(point + 1, x, c->len);
    memcpy(point + 1 + c->len, y, c->len);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 1 + 2 * c->len);
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_fromdata_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1 || pkey == NULL) {
        ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not on the JWK's curve");
        goto cleanup;
    }
    /* fromdata already refuses points off the curve; the explicit check also refuses infinity and
     * coordinates not below the field prime. */
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    CCG_ENSURE_OSSL(check != NULL, CCG_R_INTERNAL_CRYPTO);
    if (EVP_PKEY_public_check(check) != 1) {
        ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not a valid public key on its curve");
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

ccg_result jose_p256_from_xy(const uint8_t x[32], const uint8_t y[32], ccg_reason reason, EVP_PKEY **out)
{
    return jose_ec_from_xy(jose_curve_by_kind(CCG_JWK_EC_P256), x, y, reason, out);
}

ccg_result jose_ec_xy(const jose_curve *c, const EVP_PKEY *pkey, uint8_t *x, uint8_t *y)
{
    ccg_result result = CCG_FAILURE;
    BIGNUM *bx = NULL;
    BIGNUM *by = NULL;
    CCG_ENSURE(c != NULL, CCG_R_INTERNAL_ERROR);
    CCG_ENSURE_OSSL(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(BN_bn2binpad(bx, x, (int)c->len) == (int)c->len, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(BN_bn2binpad(by, y, (int)c->len) == (int)c->len, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    BN_free(bx);
    BN_free(by);
    return result;
}

ccg_result jose_p256_xy(const EVP_PKEY *pkey, uint8_t x[32], uint8_t y[32])
{
    return jose_ec_xy(jose_curve_by_kind(CCG_JWK_EC_P256), pkey, x, y);
}
