/* JWK (RFC 7517/7518) for the KBS tee-pubkey: strict parsing of EC (P-256, P-521) and RSA public keys, export of
 * an OpenSSL key's public half, the TeePubKey-shaped JSON and the RFC 7638 thumbprint. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>

#include "jose_internal.h"

struct ccg_jwk {
    ccg_jwk_kind kind;
    EVP_PKEY *pkey; /* public only */
    char alg[24];
    int alg_explicit;
    char *a_b64; /* EC: x, RSA: n */
    char *b_b64; /* EC: y, RSA: e */
};

/* Members that would carry private key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
static const char *const private_members[] = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"};

void ccg_jwk_free(ccg_jwk *jwk)
{
    if (jwk == NULL) {
        return;
    }
    EVP_PKEY_free(jwk->pkey);
    free(jwk->a_b64);
    free(jwk->b_b64);
    free(jwk);
}

ccg_result ccg_jwk_dup(const ccg_jwk *jwk, ccg_jwk **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_jwk *copy = NULL;
    *out = NULL;
    CCG_ENSURE(jwk != NULL && jwk->pkey != NULL, CCG_R_USAGE_INVALID);
    copy = calloc(1, sizeof(*copy));
    CCG_ENSURE_ALLOC(copy);
    *copy = *jwk;
    copy->pkey = NULL;
    copy->a_b64 = jwk->a_b64 == NULL ? NULL : strdup(jwk->a_b64);
    copy->b_b64 = jwk->b_b64 == NULL ? NULL : strdup(jwk->b_b64);
    CCG_ENSURE((jwk->a_b64 == NULL) == (copy->a_b64 == NULL) && (jwk->b_b64 == NULL) == (copy->b_b64 == NULL),
               CCG_R_INTERNAL_OUT_OF_MEMORY);
    /* The key itself is shared: OpenSSL keys are reference-counted and safe to read from many threads. */
    CCG_ENSURE_OSSL(EVP_PKEY_up_ref(jwk->pkey) == 1, CCG_R_INTERNAL_CRYPTO);
    copy->pkey = jwk->pkey;
    *out = copy;
    copy = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_jwk_free(copy);
    return result;
}

ccg_jwk_kind ccg_jwk_type(const ccg_jwk *jwk)
{
    return jwk->kind;
}

const char *ccg_jwk_alg(const ccg_jwk *jwk)
{
    return jwk->alg;
}

EVP_PKEY *ccg_jwk_pkey(const ccg_jwk *jwk)
{
    return jwk->pkey;
}

static ccg_result jwk_set_alg(ccg_jwk *jwk, const char *alg, int explicit_alg)
{
    ccg_result result = CCG_FAILURE;
    size_t n = strlen(alg);
    CCG_ENSURE(n < sizeof(jwk->alg), CCG_R_INTERNAL_ERROR);
    memcpy(jwk->alg, alg, n + 1);
    jwk->alg_explicit = explicit_alg;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* An EC JWK on curve c from its coordinates (c->len bytes each), checked to be on the curve. */
static ccg_result jwk_new_ec(const jose_curve *c, const uint8_t *x, const uint8_t *y, ccg_jwk **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_jwk *jwk = calloc(1, sizeof(*jwk));
    *out = NULL;
    CCG_ENSURE_ALLOC(jwk);
    jwk->kind = c->kind;
    CCG_TRY(jose_ec_from_xy(c, x, y, CCG_R_JOSE_JWK_INVALID, &jwk->pkey));
    jwk->a_b64 = ccg_b64url_encode(x, c->len);
    jwk->b_b64 = ccg_b64url_encode(y, c->len);
    CCG_ENSURE_ALLOC(jwk->a_b64);
    CCG_ENSURE_ALLOC(jwk->b_b64);
    *out = jwk;
    jwk = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_jwk_free(jwk);
    return result;
}

/* An RSA JWK from minimal big-endian n and e, with the size and OpenSSL public-key checks. */
static ccg_result jwk_new_rsa(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len, ccg_jwk **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_jwk *jwk = NULL;
    BIGNUM *bn_n = NULL;
    BIGNUM *bn_e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY_CTX *check = NULL;
    *out = NULL;
    CCG_ENSURE_MSG(n_len > 0 && n[0] != 0, CCG_R_JOSE_JWK_INVALID, "RSA modulus \"n\" is empty or has a leading zero");
    CCG_ENSURE_MSG(e_len > 0 && e[0] != 0, CCG_R_JOSE_JWK_INVALID, "RSA exponent \"e\" is empty or has a leading zero");
    CCG_ENSURE_MSG(e_len <= 8, CCG_R_JOSE_JWK_INVALID, "RSA exponent \"e\" is longer than 8 bytes");
    bn_n = BN_bin2bn(n, (int)n_len, NULL);
    bn_e = BN_bin2bn(e, (int)e_len, NULL);
    CCG_ENSURE_ALLOC(bn_n);
    CCG_ENSURE_ALLOC(bn_e);
    int bits = BN_num_bits(bn_n);
    CCG_ENSURE_MSG(bits >= CCG_JWK_RSA_MIN_BITS, CCG_R_JOSE_JWK_INVALID, "RSA modulus of %d bits is below %d", bits,
                   CCG_JWK_RSA_MIN_BITS);
    CCG_ENSURE_MSG(bits <= CCG_JWK_RSA_MAX_BITS, CCG_R_JOSE_JWK_TOO_LARGE, "RSA modulus of %d bits is above %d",
                   bits, CCG_JWK_RSA_MAX_BITS);
    CCG_ENSURE_MSG(BN_is_odd(bn_e) && !BN_is_one(bn_e), CCG_R_JOSE_JWK_INVALID,
                   "RSA exponent \"e\" must be odd and at least 3");
    CCG_ENSURE_MSG(BN_is_odd(bn_n), CCG_R_JOSE_JWK_INVALID, "RSA modulus \"n\" is even");

    bld = OSSL_PARAM_BLD_new();
    CCG_ENSURE_ALLOC(bld);
    CCG_ENSURE_OSSL(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) == 1, CCG_R_INTERNAL_CRYPTO);
    params = OSSL_PARAM_BLD_to_param(bld);
    CCG_ENSURE_OSSL(params != NULL, CCG_R_INTERNAL_CRYPTO);

    jwk = calloc(1, sizeof(*jwk));
    CCG_ENSURE_ALLOC(jwk);
    jwk->kind = CCG_JWK_RSA;
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_fromdata_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_fromdata(ctx, &jwk->pkey, EVP_PKEY_PUBLIC_KEY, params) == 1 && jwk->pkey != NULL,
                    CCG_R_JOSE_JWK_INVALID);
    check = EVP_PKEY_CTX_new_from_pkey(NULL, jwk->pkey, NULL);
    CCG_ENSURE_OSSL(check != NULL, CCG_R_INTERNAL_CRYPTO);
    if (EVP_PKEY_public_check(check) != 1) {
        ccg_error_set_openssl(CCG_R_JOSE_JWK_INVALID, __FILE__, __LINE__, "the RSA public key fails OpenSSL's check");
        goto cleanup;
    }
    jwk->a_b64 = ccg_b64url_encode(n, n_len);
    jwk->b_b64 = ccg_b64url_encode(e, e_len);
    CCG_ENSURE_ALLOC(jwk->a_b64);
    CCG_ENSURE_ALLOC(jwk->b_b64);
    *out = jwk;
    jwk = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn_n);
    BN_free(bn_e);
    ccg_jwk_free(jwk);
    return result;
}

/* An optional string member: *value NULL when absent; present but not a string (or with an embedded NUL,
 * which would make the comparisons below lie) is jwk_invalid. */
static ccg_result optional_string(const json_t *obj, const char *name, const char **value)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    *value = NULL;
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v),
                       CCG_R_JOSE_JWK_INVALID, "JWK member \"%s\" is not a string", name);
        *value = json_string_value(v);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_jwk_parse(const json_t *obj, ccg_jwk **out)
{
    ccg_result result = CCG_FAILURE;
    const char *kty = NULL;
    const char *alg = NULL;
    const char *use = NULL;
    const char *s1 = NULL;
    const char *s2 = NULL;
    size_t l1 = 0;
    size_t l2 = 0;
    uint8_t *n = NULL;
    uint8_t *e = NULL;
    size_t n_len = 0;
    size_t e_len = 0;
    ccg_jwk *jwk = NULL;
    *out = NULL;
    CCG_ENSURE_MSG(json_is_object(obj), CCG_R_JOSE_JWK_INVALID, "the JWK is not a JSON object");
    for (size_t i = 0; i < sizeof(private_members) / sizeof(private_members[0]); i++) {
        CCG_ENSURE_MSG(json_object_get(obj, private_members[i]) == NULL, CCG_R_JOSE_JWK_INVALID,
                       "the JWK carries private member \"%s\"; only a public key may be sent", private_members[i]);
    }
    CCG_TRY(optional_string(obj, "kty", &kty));
    CCG_ENSURE_MSG(kty != NULL, CCG_R_JOSE_JWK_INVALID, "JWK member \"kty\" is missing");
    CCG_TRY(optional_string(obj, "alg", &alg));
    CCG_TRY(optional_string(obj, "use", &use));
    CCG_ENSURE_MSG(use == NULL || strcmp(use, "enc") == 0, CCG_R_JOSE_JWK_UNSUPPORTED,
                   "JWK \"use\" is not \"enc\"; the key must be for encryption");

    if (strcmp(kty, "EC") == 0) {
        uint8_t x[JOSE_EC_MAX_COORD];
        uint8_t y[JOSE_EC_MAX_COORD];
        const char *crv = NULL;
        const jose_curve *c = NULL;
        CCG_TRY(optional_string(obj, "crv", &crv));
        CCG_ENSURE_MSG(crv != NULL, CCG_R_JOSE_JWK_INVALID, "EC JWK has no \"crv\"");
        c = jose_curve_by_crv(crv);
        CCG_ENSURE_MSG(c != NULL, CCG_R_JOSE_JWK_UNSUPPORTED, "EC curve \"%.16s\" is not P-256 or P-521", crv);
        CCG_ENSURE_MSG(alg == NULL || strcmp(alg, CCG_JOSE_ALG_ECDH_ES_A256KW) == 0, CCG_R_JOSE_JWK_UNSUPPORTED,
                       "EC JWK \"alg\" \"%.32s\" is not " CCG_JOSE_ALG_ECDH_ES_A256KW, alg);
        CCG_TRY(jose_string_member(obj, "x", CCG_R_JOSE_JWK_INVALID, &s1, &l1));
        CCG_TRY(jose_string_member(obj, "y", CCG_R_JOSE_JWK_INVALID, &s2, &l2));
        /* Exactly the field size (RFC 7518 §6.2.1.2): a shorter or longer coordinate is refused, never padded. */
        CCG_TRY(ccg_b64url_decode_exact(s1, l1, CCG_R_JOSE_JWK_INVALID, x, c->len));
        CCG_TRY(ccg_b64url_decode_exact(s2, l2, CCG_R_JOSE_JWK_INVALID, y, c->len));
        CCG_TRY(jwk_new_ec(c, x, y, &jwk));
        CCG_TRY(jwk_set_alg(jwk, CCG_JOSE_ALG_ECDH_ES_A256KW, alg != NULL));
    } else if (strcmp(kty, "RSA") == 0) {
        CCG_ENSURE_MSG(alg == NULL || strcmp(alg, CCG_JOSE_ALG_RSA_OAEP_256) == 0, CCG_R_JOSE_JWK_UNSUPPORTED,
                       "RSA JWK \"alg\" \"%.32s\" is not " CCG_JOSE_ALG_RSA_OAEP_256, alg);
        CCG_TRY(jose_string_member(obj, "n", CCG_R_JOSE_JWK_INVALID, &s1, &l1));
        CCG_TRY(jose_string_member(obj, "e", CCG_R_JOSE_JWK_INVALID, &s2, &l2));
        /* By its encoded length, before any decoding or big-number work (a minimal modulus has no
         * leading zero byte, so more characters always mean more bits). */
        CCG_ENSURE_MSG(l1 <= ccg_b64url_len(CCG_JWK_RSA_MAX_BITS / 8), CCG_R_JOSE_JWK_TOO_LARGE,
                       "RSA modulus is longer than %d bits", CCG_JWK_RSA_MAX_BITS);
        CCG_TRY(ccg_b64url_decode(s1, l1, CCG_R_JOSE_JWK_INVALID, &n, &n_len));
        CCG_TRY(ccg_b64url_decode(s2, l2, CCG_R_JOSE_JWK_INVALID, &e, &e_len));
        CCG_TRY(jwk_new_rsa(n, n_len, e, e_len, &jwk));
        CCG_TRY(jwk_set_alg(jwk, CCG_JOSE_ALG_RSA_OAEP_256, alg != NULL));
    } else {
        CCG_BAIL(CCG_R_JOSE_JWK_UNSUPPORTED, "JWK key type \"%.16s\" is not supported (EC or RSA)", kty);
    }
    *out = jwk;
    jwk = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(n);
    free(e);
    ccg_jwk_free(jwk);
    return result;
}

ccg_result ccg_jwk_parse_text(const char *text, size_t len, ccg_jwk **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;
    *out = NULL;
    CCG_ENSURE_MSG(len <= CCG_JWK_MAX_TEXT, CCG_R_JOSE_JWK_INVALID, "JWK text of %zu bytes exceeds %u", len,
                   CCG_JWK_MAX_TEXT);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_JOSE_JWK_INVALID, "JWK is not valid JSON (line %d: %.80s)", jerr.line,
                   jerr.text);
    CCG_TRY(ccg_jwk_parse(root, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    return result;
}

ccg_result ccg_jwk_from_pkey(EVP_PKEY *pkey, const char *alg, ccg_jwk **out)
{
    ccg_result result = CCG_FAILURE;
    BIGNUM *bn_n = NULL;
    BIGNUM *bn_e = NULL;
    uint8_t *n = NULL;
    uint8_t e[8];
    *out = NULL;
    CCG_ENSURE_MSG(pkey != NULL, CCG_R_USAGE_INVALID, "no key");
    if (jose_curve_of(pkey) != NULL) {
        const jose_curve *c = jose_curve_of(pkey);
        uint8_t x[JOSE_EC_MAX_COORD];
        uint8_t y[JOSE_EC_MAX_COORD];
        CCG_ENSURE_MSG(alg == NULL || strcmp(alg, CCG_JOSE_ALG_ECDH_ES_A256KW) == 0 ||
                           (c->kind == CCG_JWK_EC_P256 && strcmp(alg, CCG_JOSE_ALG_ES256) == 0),
                       CCG_R_JOSE_JWK_UNSUPPORTED, "algorithm %.32s does not fit a %s key", alg, c->crv);
        CCG_TRY(jose_ec_xy(c, pkey, x, y));
        CCG_TRY(jwk_new_ec(c, x, y, out));
        CCG_TRY(jwk_set_alg(*out, alg != NULL ? alg : CCG_JOSE_ALG_ECDH_ES_A256KW, 1));
    } else if (EVP_PKEY_is_a(pkey, "RSA")) {
        CCG_ENSURE_MSG(alg == NULL || strcmp(alg, CCG_JOSE_ALG_RSA_OAEP_256) == 0, CCG_R_JOSE_JWK_UNSUPPORTED,
                       "algorithm %.32s does not fit an RSA key", alg);
        CCG_ENSURE_OSSL(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &bn_n) == 1, CCG_R_INTERNAL_CRYPTO);
        CCG_ENSURE_OSSL(EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &bn_e) == 1, CCG_R_INTERNAL_CRYPTO);
        int n_len = BN_num_bytes(bn_n);
        int e_len = BN_num_bytes(bn_e);
        CCG_ENSURE_MSG(n_len > 0 && n_len <= CCG_JWK_RSA_MAX_BITS / 8, CCG_R_JOSE_JWK_TOO_LARGE,
                       "RSA modulus of %d bytes is out of range", n_len);
        CCG_ENSURE_MSG(e_len > 0 && e_len <= (int)sizeof(e), CCG_R_JOSE_JWK_INVALID, "RSA exponent is out of range");
        n = malloc((size_t)n_len);
        CCG_ENSURE_ALLOC(n);
        CCG_ENSURE_OSSL(BN_bn2bin(bn_n, n) == n_len, CCG_R_INTERNAL_CRYPTO);
        CCG_ENSURE_OSSL(BN_bn2bin(bn_e, e) == e_len, CCG_R_INTERNAL_CRYPTO);
        CCG_TRY(jwk_new_rsa(n, (size_t)n_len, e, (size_t)e_len, out));
        CCG_TRY(jwk_set_alg(*out, CCG_JOSE_ALG_RSA_OAEP_256, 1));
    } else {
        CCG_BAIL(CCG_R_JOSE_JWK_UNSUPPORTED, "key type %.32s is not EC (P-256, P-521) or RSA", EVP_PKEY_get0_type_name(pkey));
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_jwk_free(*out);
        *out = NULL;
    }
    BN_free(bn_n);
    BN_free(bn_e);
    free(n);
    return result;
}

/* Adds a string member, failing on allocation. */
static ccg_result set_string(json_t *obj, const char *name, const char *value)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_ALLOC(obj);
    CCG_ENSURE(json_object_set_new(obj, name, json_string(value)) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

json_t *ccg_jwk_to_json(const ccg_jwk *jwk)
{
    json_t *obj = json_object();
    int ok = obj != NULL;
    const jose_curve *c = jose_curve_by_kind(jwk->kind);
    if (c != NULL) {
        ok = ok && ccg_ok(set_string(obj, "kty", "EC")) && ccg_ok(set_string(obj, "crv", c->crv)) &&
             (!jwk->alg_explicit || ccg_ok(set_string(obj, "alg", jwk->alg))) &&
             ccg_ok(set_string(obj, "x", jwk->a_b64)) && ccg_ok(set_string(obj, "y", jwk->b_b64));
    } else {
        ok = ok && ccg_ok(set_string(obj, "kty", "RSA")) &&
             (!jwk->alg_explicit || ccg_ok(set_string(obj, "alg", jwk->alg))) &&
             ccg_ok(set_string(obj, "n", jwk->a_b64)) && ccg_ok(set_string(obj, "e", jwk->b_b64));
    }
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

ccg_result ccg_jwk_thumbprint(const ccg_jwk *jwk, uint8_t out[32])
{
    ccg_result result = CCG_FAILURE;
    json_t *obj = json_object();
    char *canon = NULL;
    size_t canon_len = 0;
    /* RFC 7638 §3.2: only the required members, in lexicographic order, no whitespace: JCS gives that. */
    const jose_curve *c = jose_curve_by_kind(jwk->kind);
    if (c != NULL) {
        CCG_TRY(set_string(obj, "crv", c->crv));
        CCG_TRY(set_string(obj, "kty", "EC"));
        CCG_TRY(set_string(obj, "x", jwk->a_b64));
        CCG_TRY(set_string(obj, "y", jwk->b_b64));
    } else {
        CCG_TRY(set_string(obj, "e", jwk->b_b64));
        CCG_TRY(set_string(obj, "kty", "RSA"));
        CCG_TRY(set_string(obj, "n", jwk->a_b64));
    }
    CCG_TRY(ccg_jcs_serialize(obj, &canon, &canon_len));
    CCG_ENSURE_OSSL(EVP_Digest(canon, canon_len, out, NULL, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    free(canon);
    json_decref(obj);
    return result;
}
