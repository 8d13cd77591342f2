/* JWS with ES256 (RFC 7515, RFC 7518 §3.4) and the attestation token as a compact JWT (RFC 7519).
 * OpenSSL signs and verifies DER-encoded ECDSA signatures; JWS carries R || S, so the two forms are
 * converted with ECDSA_SIG. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "ccgate/ecdsa_raw.h"
#include "jose_internal.h"

#define JWT_HEADER "{\"alg\":\"ES256\",\"typ\":\"JWT\"}"
#define ES256_DER_MAX 80

ccg_result ccg_es256_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64])
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = NULL;
    uint8_t der[ES256_DER_MAX];
    size_t der_len = sizeof(der);
    CCG_ENSURE_MSG(jose_is_p256(key), CCG_R_USAGE_INVALID, "ES256 needs a P-256 key");
    md = EVP_MD_CTX_new();
    CCG_ENSURE_OSSL(md != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestSign(md, der, &der_len, msg, len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_ecdsa_der_to_raw(der, der_len, 32, sig));
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

ccg_result ccg_es256_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig, size_t sig_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = NULL;
    uint8_t *der = NULL;
    size_t der_len = 0;
    CCG_ENSURE_MSG(jose_is_p256(pub), CCG_R_USAGE_INVALID, "ES256 needs a P-256 key");
    CCG_ENSURE_MSG(sig_len == 64, CCG_R_JOSE_JWT_INVALID, "an ES256 signature is 64 bytes, not %zu", sig_len);
    CCG_TRY(ccg_ecdsa_raw_to_der(sig, 32, &der, &der_len));
    md = EVP_MD_CTX_new();
    CCG_ENSURE_OSSL(md != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestVerifyInit_ex(md, NULL, "SHA256", NULL, NULL, pub, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    /* OpenSSL refuses R or S outside [1, n-1] as well as a signature that does not match. */
    if (EVP_DigestVerify(md, der, der_len, msg, len) != 1) {
        ERR_clear_error();
        CCG_BAIL(CCG_R_JOSE_JWT_INVALID, "the ES256 signature does not verify");
    }
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return result;
}

ccg_result ccg_jwt_sign_es256(EVP_PKEY *key, const json_t *claims, char **out)
{
    ccg_result result = CCG_FAILURE;
    char *claims_text = NULL;
    char *claims_b64 = NULL;
    char *header_b64 = NULL;
    uint8_t sig[64];
    char sig_b64[96];
    ccg_buf buf;
    ccg_buf_init(&buf, CCG_JWT_MAX_TEXT);
    *out = NULL;
    CCG_ENSURE_MSG(json_is_object(claims), CCG_R_USAGE_INVALID, "JWT claims must be a JSON object");
    claims_text = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
    CCG_ENSURE_ALLOC(claims_text);
    header_b64 = ccg_b64url_encode((const uint8_t *)JWT_HEADER, strlen(JWT_HEADER));
    claims_b64 = ccg_b64url_encode((const uint8_t *)claims_text, strlen(claims_text));
    CCG_ENSURE_ALLOC(header_b64);
    CCG_ENSURE_ALLOC(claims_b64);
    CCG_TRY(ccg_buf_append_str(&buf, header_b64));
    CCG_TRY(ccg_buf_append(&buf, ".", 1));
    CCG_TRY(ccg_buf_append_str(&buf, claims_b64));
    CCG_TRY(ccg_es256_sign(key, buf.p, buf.len, sig));
    ccg_b64url_encode_into(sig, sizeof(sig), sig_b64);
    CCG_TRY(ccg_buf_append(&buf, ".", 1));
    CCG_TRY(ccg_buf_append_str(&buf, sig_b64));
    CCG_TRY(ccg_buf_take_str(&buf, out, NULL));
    result = CCG_SUCCESS;
cleanup:
    ccg_buf_free(&buf);
    free(claims_text);
    free(claims_b64);
    free(header_b64);
    return result;
}

/* A JSON object from one base64url segment of the token. */
static ccg_result segment_object(const char *seg, size_t len, const char *what, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *bytes = NULL;
    size_t n = 0;
    json_error_t jerr;
    *out = NULL;
    CCG_TRY(ccg_b64url_decode(seg, len, CCG_R_JOSE_JWT_INVALID, &bytes, &n));
    *out = json_loadb((const char *)bytes, n, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(json_is_object(*out), CCG_R_JOSE_JWT_INVALID, "the JWT %s is not a JSON object", what);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        json_decref(*out);
        *out = NULL;
    }
    free(bytes);
    return result;
}

/* An optional NumericDate claim: *present 0 when absent; a non-number (or NaN) is jwt_invalid. */
static ccg_result time_claim(const json_t *claims, const char *name, int *present, double *value)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(claims, name);
    *present = v != NULL;
    *value = 0;
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_number(v) && !isnan(json_number_value(v)), CCG_R_JOSE_JWT_INVALID,
                       "JWT claim \"%s\" is not a number", name);
        *value = json_number_value(v);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_jwt_verify_es256(EVP_PKEY *pub, const char *token, size_t len, ccg_time now, int64_t leeway,
                                json_t **claims)
{
    ccg_result result = CCG_FAILURE;
    const char *dot1 = NULL;
    const char *dot2 = NULL;
    json_t *hdr = NULL;
    json_t *body = NULL;
    uint8_t sig[64];
    const json_t *alg = NULL;
    const json_t *typ = NULL;
    int has_exp = 0;
    int has_nbf = 0;
    int has_iat = 0;
    double exp = 0;
    double nbf = 0;
    double iat = 0;
    *claims = NULL;
    CCG_ENSURE_MSG(pub != NULL, CCG_R_USAGE_INVALID, "no verification key");
    CCG_ENSURE_MSG(leeway >= 0 && leeway <= 86400, CCG_R_USAGE_INVALID, "leeway out of range");
    CCG_ENSURE_MSG(token != NULL && len > 0 && len <= CCG_JWT_MAX_TEXT, CCG_R_JOSE_JWT_INVALID,
                   "the JWT is empty or longer than %u bytes", CCG_JWT_MAX_TEXT);
    dot1 = memchr(token, '.', len);
    CCG_ENSURE_MSG(dot1 != NULL, CCG_R_JOSE_JWT_INVALID, "the JWT is not three dot-separated parts");
    dot2 = memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token));
    CCG_ENSURE_MSG(dot2 != NULL, CCG_R_JOSE_JWT_INVALID, "the JWT is not three dot-separated parts");
    CCG_ENSURE_MSG(memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) == NULL, CCG_R_JOSE_JWT_INVALID,
                   "the JWT has more than three parts (a JWE is not accepted)");

    /* The header decides nothing but must say ES256: the key and algorithm are fixed by the caller. */
    CCG_TRY(segment_object(token, (size_t)(dot1 - token), "header", &hdr));
    alg = json_object_get(hdr, "alg");
    CCG_ENSURE_MSG(json_is_string(alg) && json_string_length(alg) == 5 &&
                       strcmp(json_string_value(alg), CCG_JOSE_ALG_ES256) == 0,
                   CCG_R_JOSE_JWT_INVALID, "the JWT alg is not ES256");
    typ = json_object_get(hdr, "typ");
    CCG_ENSURE_MSG(typ == NULL || (json_is_string(typ) && json_string_length(typ) == 3 &&
                                   strcmp(json_string_value(typ), "JWT") == 0),
                   CCG_R_JOSE_JWT_INVALID, "the JWT typ is not \"JWT\"");
    CCG_ENSURE_MSG(json_object_get(hdr, "crit") == NULL, CCG_R_JOSE_JWT_INVALID,
                   "the JWT header has \"crit\" extensions, which are not supported");

    CCG_TRY(ccg_b64url_decode_exact(dot2 + 1, len - (size_t)(dot2 + 1 - token), CCG_R_JOSE_JWT_INVALID, sig,
                                    sizeof(sig)));
    CCG_TRY(ccg_es256_verify(pub, (const uint8_t *)token, (size_t)(dot2 - token), sig, sizeof(sig)));

    CCG_TRY(segment_object(dot1 + 1, (size_t)(dot2 - dot1 - 1), "claims", &body));
    CCG_TRY(time_claim(body, "exp", &has_exp, &exp));
    CCG_TRY(time_claim(body, "nbf", &has_nbf, &nbf));
    CCG_TRY(time_claim(body, "iat", &has_iat, &iat));
    CCG_ENSURE_MSG(has_exp, CCG_R_JOSE_JWT_INVALID, "the JWT has no \"exp\" claim");
    CCG_ENSURE_MSG((double)now < exp + (double)leeway, CCG_R_JOSE_JWT_EXPIRED, "the JWT expired at %.0f", exp);
    CCG_ENSURE_MSG(!has_nbf || nbf <= (double)now + (double)leeway, CCG_R_JOSE_JWT_EXPIRED,
                   "the JWT is not valid before %.0f", nbf);
    CCG_ENSURE_MSG(!has_iat || iat <= (double)now + (double)leeway, CCG_R_JOSE_JWT_EXPIRED,
                   "the JWT was issued in the future (%.0f)", iat);
    *claims = body;
    body = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(hdr);
    json_decref(body);
    return result;
}
