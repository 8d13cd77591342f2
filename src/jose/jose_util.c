/* Shared JOSE helpers: JSON member access and P-256 key plumbing. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>

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

/* P-256's domain parameters, made once: OpenSSL 3.0 builds an EC group from the curve's constants for
 * every key made by name (EC_GROUP_new_by_curve_name: ~2.5% of the broker's CPU per flow), while a key
 * copying the parameters of this one copies the group. NULL when it could not be made: then keys are
 * made by name, as before. */
static EVP_PKEY *g_p256_params;
static pthread_once_t g_p256_once = PTHREAD_ONCE_INIT;

static void p256_params_make(void)
{
    char group[] = "prime256v1";
    OSSL_PARAM params[2];
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_end();
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &g_p256_params, EVP_PKEY_KEY_PARAMETERS, params) != 1) {
        EVP_PKEY_free(g_p256_params);
        g_p256_params = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
}

static EVP_PKEY *p256_params(void)
{
    return pthread_once(&g_p256_once, p256_params_make) == 0 ? g_p256_params : NULL;
}

ccg_result jose_p256_check_public(EVP_PKEY *pkey, ccg_reason reason)
{
    ccg_result result = CCG_FAILURE;
    /* The quick check (coordinates in range, on the curve, not infinity), not the full one: P-256 has
     * cofactor 1, so every other point on the curve has order n, and the full check's n*Q = O
     * multiplication (as costly as an ECDH) proves nothing more. */
    EVP_PKEY_CTX *check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    CCG_ENSURE_OSSL(check != NULL, CCG_R_INTERNAL_CRYPTO);
    if (!jose_is_p256(pkey) || EVP_PKEY_public_check_quick(check) != 1) {
        ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not a valid P-256 public key");
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(check);
    return result;
}

ccg_result jose_p256_keygen(EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *params = p256_params();
    EVP_PKEY_CTX *ctx = NULL;
    *out = NULL;
    if (params == NULL) {
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    } else {
        ctx = EVP_PKEY_CTX_new_from_pkey(NULL, params, NULL);
        CCG_ENSURE_OSSL(ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
        CCG_ENSURE_OSSL(EVP_PKEY_keygen(ctx, out) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(*out != NULL, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    return result;
}

/* The point by name (the way without the parameters made once). */
static EVP_PKEY *p256_by_name(uint8_t point[65])
{
    OSSL_PARAM params[3];
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pkey = NULL;
    char group[] = "prime256v1";
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point, 65);
    params[2] = OSSL_PARAM_construct_end();
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

ccg_result jose_p256_from_xy(const uint8_t x[32], const uint8_t y[32], ccg_reason reason, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t point[65];
    EVP_PKEY *params = p256_params();
    EVP_PKEY *pkey = NULL;
    *out = NULL;
    point[0] = 0x04;
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    if (params != NULL) {
        /* The parameters copied, then the point set: OpenSSL refuses a point off the curve here too. */
        pkey = EVP_PKEY_new();
        CCG_ENSURE_ALLOC(pkey);
        CCG_ENSURE_OSSL(EVP_PKEY_copy_parameters(pkey, params) == 1, CCG_R_INTERNAL_CRYPTO);
        if (EVP_PKEY_set1_encoded_public_key(pkey, point, sizeof(point)) != 1) {
            ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not on P-256");
            goto cleanup;
        }
    } else if ((pkey = p256_by_name(point)) == NULL) {
        ccg_error_set_openssl(reason, __FILE__, __LINE__, "the EC point is not on P-256");
        goto cleanup;
    }
    CCG_TRY(jose_p256_check_public(pkey, reason));
    *out = pkey;
    pkey = NULL;
    result = CCG_SUCCESS;
cleanup:
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

/* ---- P-256 and P-521 by curve (issue 15): P-256 keeps the fast paths above. */

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
    if (c->kind == CCG_JWK_EC_P256) {
        return jose_p256_from_xy(x, y, reason, out);
    }
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
    /* fromdata already refuses points off the curve; the full check also refuses infinity and
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

ccg_result jose_ec_xy(const jose_curve *c, const EVP_PKEY *pkey, uint8_t *x, uint8_t *y)
{
    ccg_result result = CCG_FAILURE;
    BIGNUM *bx = NULL;
    BIGNUM *by = NULL;
    CCG_ENSURE(c != NULL, CCG_R_INTERNAL_ERROR);
    if (c->kind == CCG_JWK_EC_P256) {
        return jose_p256_xy(pkey, x, y);
    }
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
