/* The KBS resource response: a JWE in the flattened JSON serialisation (RFC 7516 §7.2.2), key management
 * ECDH-ES+A256KW (P-256 or P-521, as Trustee's KBS answers a P-521 tee key) or RSA-OAEP-256, content
 * encryption A256GCM.
 *
 * Guests rebuild the AAD by re-serialising the header they parsed (serde_json, compact, members of
 * "epk" sorted), so the header is written here as one fixed string in exactly that form rather than
 * through a JSON library's dump order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "jose_internal.h"

#define EC_HEADER_FMT                                                                                      \
    "{\"alg\":\"" CCG_JOSE_ALG_ECDH_ES_A256KW "\",\"enc\":\"" CCG_JOSE_ENC_A256GCM                          \
    "\",\"epk\":{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}}"
#define RSA_HEADER "{\"alg\":\"" CCG_JOSE_ALG_RSA_OAEP_256 "\",\"enc\":\"" CCG_JOSE_ENC_A256GCM "\"}"

/* Members a flattened JWE may have that this profile never uses; refusing them keeps one meaning. */
static const char *const refused_jwe_members[] = {"aad", "unprotected", "header", "recipients"};
/* Header parameters this profile does not implement (RFC 7516 §4.1.13 says crit must be understood). */
static const char *const refused_header_members[] = {"crit", "zip", "apu", "apv", "p2s", "p2c", "iv", "tag"};

static ccg_result set_b64(json_t *obj, const char *name, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    char *s = ccg_b64url_encode(data, len);
    CCG_ENSURE_ALLOC(s);
    CCG_ENSURE(json_object_set_new(obj, name, json_string(s)) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    free(s);
    return result;
}

ccg_result ccg_jwe_encrypt(const ccg_jwk *recipient, const uint8_t *plaintext, size_t len, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t cek[32];
    uint8_t kek[32];
    uint8_t z[JOSE_EC_MAX_COORD];
    uint8_t iv[12];
    uint8_t tag[16];
    uint8_t wrapped[40];
    uint8_t *encrypted_key = NULL; /* RSA: the modulus size */
    size_t encrypted_key_len = 0;
    uint8_t *ct = NULL;
    EVP_PKEY *eph = NULL;
    const jose_curve *curve = NULL;
    char header[512];
    char *protected_b64 = NULL;
    json_t *jwe = NULL;
    *out = NULL;
    CCG_ENSURE_MSG(recipient != NULL, CCG_R_USAGE_INVALID, "no recipient key");
    CCG_ENSURE_MSG(len <= CCG_JWE_MAX_PLAINTEXT, CCG_R_INPUT_TOO_LARGE, "plaintext of %zu bytes exceeds %u", len,
                   CCG_JWE_MAX_PLAINTEXT);
    CCG_ENSURE_MSG(plaintext != NULL || len == 0, CCG_R_USAGE_INVALID, "no plaintext");
    CCG_ENSURE_OSSL(RAND_priv_bytes(cek, sizeof(cek)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(RAND_bytes(iv, sizeof(iv)) == 1, CCG_R_INTERNAL_CRYPTO);

    curve = jose_curve_by_kind(ccg_jwk_type(recipient));
    if (curve != NULL) {
        uint8_t ex[JOSE_EC_MAX_COORD];
        uint8_t ey[JOSE_EC_MAX_COORD];
        char ex_b64[96];
        char ey_b64[96];
        CCG_ENSURE_MSG(strcmp(ccg_jwk_alg(recipient), CCG_JOSE_ALG_ECDH_ES_A256KW) == 0, CCG_R_JOSE_JWK_UNSUPPORTED,
                       "the recipient key's alg %.32s is not a key-encryption algorithm", ccg_jwk_alg(recipient));
        if (curve->kind == CCG_JWK_EC_P256) {
            CCG_TRY(jose_p256_keygen(&eph));
        } else {
            eph = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve->group);
            CCG_ENSURE_OSSL(eph != NULL, CCG_R_INTERNAL_CRYPTO);
        }
        CCG_TRY(jose_ecdh(curve, eph, ccg_jwk_pkey(recipient), CCG_R_JOSE_JWK_INVALID, z));
        /* The Concat KDF takes the whole secret (66 bytes on P-521) and gives the 256-bit KEK. */
        size_t z_len = curve->len;
        CCG_TRY(jose_concat_kdf(z, z_len, CCG_JOSE_ALG_ECDH_ES_A256KW, NULL, 0, NULL, 0, kek, sizeof(kek)));
        CCG_TRY(jose_a256kw_wrap(kek, cek, wrapped));
        CCG_TRY(jose_ec_xy(curve, eph, ex, ey));
        ccg_b64url_encode_into(ex, curve->len, ex_b64);
        ccg_b64url_encode_into(ey, curve->len, ey_b64);
        int w = snprintf(header, sizeof(header), EC_HEADER_FMT, curve->crv, ex_b64, ey_b64);
        CCG_ENSURE(w > 0 && (size_t)w < sizeof(header), CCG_R_INTERNAL_ERROR);
    } else {
        CCG_ENSURE_MSG(strcmp(ccg_jwk_alg(recipient), CCG_JOSE_ALG_RSA_OAEP_256) == 0, CCG_R_JOSE_JWK_UNSUPPORTED,
                       "the recipient key's alg %.32s is not a key-encryption algorithm", ccg_jwk_alg(recipient));
        CCG_TRY(jose_rsa_oaep256_encrypt(ccg_jwk_pkey(recipient), cek, sizeof(cek), &encrypted_key,
                                         &encrypted_key_len));
        int w = snprintf(header, sizeof(header), "%s", RSA_HEADER);
        CCG_ENSURE(w > 0 && (size_t)w < sizeof(header), CCG_R_INTERNAL_ERROR);
    }

    protected_b64 = ccg_b64url_encode((const uint8_t *)header, strlen(header));
    CCG_ENSURE_ALLOC(protected_b64);
    ct = malloc(len > 0 ? len : 1);
    CCG_ENSURE_ALLOC(ct);
    CCG_TRY(ccg_jose_a256gcm_seal(cek, iv, (const uint8_t *)protected_b64, strlen(protected_b64), plaintext, len, ct,
                                  tag));

    jwe = json_object();
    CCG_ENSURE_ALLOC(jwe);
    CCG_ENSURE(json_object_set_new(jwe, "protected", json_string(protected_b64)) == 0,
               CCG_R_INTERNAL_OUT_OF_MEMORY);
    if (encrypted_key != NULL) {
        CCG_TRY(set_b64(jwe, "encrypted_key", encrypted_key, encrypted_key_len));
    } else {
        CCG_TRY(set_b64(jwe, "encrypted_key", wrapped, sizeof(wrapped)));
    }
    CCG_TRY(set_b64(jwe, "iv", iv, sizeof(iv)));
    CCG_TRY(set_b64(jwe, "ciphertext", ct, len));
    CCG_TRY(set_b64(jwe, "tag", tag, sizeof(tag)));
    *out = jwe;
    jwe = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_secure_zero(cek, sizeof(cek));
    ccg_secure_zero(kek, sizeof(kek));
    ccg_secure_zero(z, sizeof(z));
    EVP_PKEY_free(eph);
    free(encrypted_key);
    free(ct);
    free(protected_b64);
    json_decref(jwe);
    return result;
}

ccg_result ccg_jwe_encrypt_text(const ccg_jwk *recipient, const uint8_t *plaintext, size_t len, char **out,
                                size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    json_t *jwe = NULL;
    *out = NULL;
    if (out_len != NULL) {
        *out_len = 0;
    }
    CCG_TRY(ccg_jwe_encrypt(recipient, plaintext, len, &jwe));
    *out = json_dumps(jwe, JSON_COMPACT);
    CCG_ENSURE_ALLOC(*out);
    if (out_len != NULL) {
        *out_len = strlen(*out);
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(jwe);
    return result;
}

/* A base64url member of the JWE decoded to exactly n bytes. */
static ccg_result member_exact(const json_t *obj, const char *name, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const char *s = NULL;
    size_t len = 0;
    CCG_TRY(jose_string_member(obj, name, CCG_R_JOSE_JWE_INVALID, &s, &len));
    CCG_TRY(ccg_b64url_decode_exact(s, len, CCG_R_JOSE_JWE_INVALID, out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A string header member equal to `want` (no embedded NUL). */
static ccg_result header_is(const json_t *hdr, const char *name, const char *want)
{
    ccg_result result = CCG_FAILURE;
    const char *s = NULL;
    size_t len = 0;
    CCG_TRY(jose_string_member(hdr, name, CCG_R_JOSE_JWE_INVALID, &s, &len));
    CCG_ENSURE_MSG(len == strlen(want) && memcmp(s, want, len) == 0, CCG_R_JOSE_JWE_INVALID,
                   "JWE header \"%s\" is not \"%s\"", name, want);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The CEK by ECDH-ES+A256KW: the header's epk with our private key. */
static ccg_result unwrap_ecdh(EVP_PKEY *priv, const json_t *hdr, const json_t *jwe, uint8_t cek[32])
{
    ccg_result result = CCG_FAILURE;
    const json_t *epk = json_object_get(hdr, "epk");
    const jose_curve *curve = jose_curve_of(priv);
    uint8_t x[JOSE_EC_MAX_COORD];
    uint8_t y[JOSE_EC_MAX_COORD];
    uint8_t z[JOSE_EC_MAX_COORD];
    uint8_t kek[32];
    uint8_t wrapped[40];
    EVP_PKEY *peer = NULL;
    CCG_ENSURE_MSG(curve != NULL, CCG_R_JOSE_JWE_INVALID, "the JWE is for an EC (P-256 or P-521) key");
    CCG_ENSURE_MSG(json_is_object(epk), CCG_R_JOSE_JWE_INVALID, "the JWE header has no \"epk\" object");
    CCG_ENSURE_MSG(json_object_get(epk, "d") == NULL, CCG_R_JOSE_JWE_INVALID, "the JWE's epk carries a private key");
    CCG_TRY(header_is(epk, "kty", "EC"));
    CCG_TRY(header_is(epk, "crv", curve->crv));
    CCG_TRY(member_exact(epk, "x", x, curve->len));
    CCG_TRY(member_exact(epk, "y", y, curve->len));
    CCG_TRY(jose_ec_from_xy(curve, x, y, CCG_R_JOSE_JWE_INVALID, &peer));
    CCG_TRY(member_exact(jwe, "encrypted_key", wrapped, sizeof(wrapped)));
    CCG_TRY(jose_ecdh(curve, priv, peer, CCG_R_JOSE_JWE_INVALID, z));
    CCG_TRY(jose_concat_kdf(z, curve->len, CCG_JOSE_ALG_ECDH_ES_A256KW, NULL, 0, NULL, 0, kek, sizeof(kek)));
    CCG_TRY(jose_a256kw_unwrap(kek, wrapped, cek));
    result = CCG_SUCCESS;
cleanup:
    ccg_secure_zero(z, sizeof(z));
    ccg_secure_zero(kek, sizeof(kek));
    EVP_PKEY_free(peer);
    return result;
}

/* The CEK by RSA-OAEP-256. */
static ccg_result unwrap_rsa(EVP_PKEY *priv, const json_t *jwe, uint8_t cek[32])
{
    ccg_result result = CCG_FAILURE;
    uint8_t *ek = NULL;
    size_t ek_len = 0;
    const char *s = NULL;
    size_t len = 0;
    CCG_ENSURE_MSG(EVP_PKEY_is_a(priv, "RSA"), CCG_R_JOSE_JWE_INVALID, "the JWE is for an RSA key");
    CCG_TRY(jose_string_member(jwe, "encrypted_key", CCG_R_JOSE_JWE_INVALID, &s, &len));
    CCG_ENSURE_MSG(len == ccg_b64url_len((size_t)EVP_PKEY_get_size(priv)), CCG_R_JOSE_JWE_INVALID,
                   "the JWE's encrypted_key does not match the RSA key size");
    CCG_TRY(ccg_b64url_decode(s, len, CCG_R_JOSE_JWE_INVALID, &ek, &ek_len));
    CCG_TRY(jose_rsa_oaep256_decrypt_cek(priv, ek, ek_len, cek));
    result = CCG_SUCCESS;
cleanup:
    free(ek);
    return result;
}

ccg_result ccg_jwe_decrypt(EVP_PKEY *priv, const json_t *jwe, int allow_unlocked, ccg_secbuf *plaintext)
{
    ccg_result result = CCG_FAILURE;
    const char *protected_b64 = NULL;
    size_t protected_len = 0;
    uint8_t *header_bytes = NULL;
    size_t header_len = 0;
    json_t *hdr = NULL;
    json_error_t jerr;
    const char *alg = NULL;
    size_t alg_len = 0;
    const char *ct_b64 = NULL;
    size_t ct_b64_len = 0;
    uint8_t *ct = NULL;
    size_t ct_len = 0;
    uint8_t cek[32];
    uint8_t iv[12];
    uint8_t tag[16];
    memset(plaintext, 0, sizeof(*plaintext));
    CCG_ENSURE_MSG(priv != NULL, CCG_R_USAGE_INVALID, "no private key");
    CCG_ENSURE_MSG(json_is_object(jwe), CCG_R_JOSE_JWE_INVALID, "the JWE is not a JSON object");
    for (size_t i = 0; i < sizeof(refused_jwe_members) / sizeof(refused_jwe_members[0]); i++) {
        CCG_ENSURE_MSG(json_object_get(jwe, refused_jwe_members[i]) == NULL, CCG_R_JOSE_JWE_INVALID,
                       "the JWE has member \"%s\", which this profile does not use", refused_jwe_members[i]);
    }
    CCG_TRY(jose_string_member(jwe, "protected", CCG_R_JOSE_JWE_INVALID, &protected_b64, &protected_len));
    CCG_TRY(ccg_b64url_decode(protected_b64, protected_len, CCG_R_JOSE_JWE_INVALID, &header_bytes, &header_len));
    hdr = json_loadb((const char *)header_bytes, header_len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(json_is_object(hdr), CCG_R_JOSE_JWE_INVALID, "the JWE protected header is not a JSON object");
    for (size_t i = 0; i < sizeof(refused_header_members) / sizeof(refused_header_members[0]); i++) {
        CCG_ENSURE_MSG(json_object_get(hdr, refused_header_members[i]) == NULL, CCG_R_JOSE_JWE_INVALID,
                       "the JWE header has \"%s\", which this profile does not support", refused_header_members[i]);
    }
    CCG_TRY(header_is(hdr, "enc", CCG_JOSE_ENC_A256GCM));
    CCG_TRY(jose_string_member(hdr, "alg", CCG_R_JOSE_JWE_INVALID, &alg, &alg_len));
    if (alg_len == strlen(CCG_JOSE_ALG_ECDH_ES_A256KW) && strcmp(alg, CCG_JOSE_ALG_ECDH_ES_A256KW) == 0) {
        CCG_TRY(unwrap_ecdh(priv, hdr, jwe, cek));
    } else if (alg_len == strlen(CCG_JOSE_ALG_RSA_OAEP_256) && strcmp(alg, CCG_JOSE_ALG_RSA_OAEP_256) == 0) {
        CCG_TRY(unwrap_rsa(priv, jwe, cek));
    } else {
        CCG_BAIL(CCG_R_JOSE_JWE_INVALID, "JWE alg \"%.32s\" is not supported", alg);
    }
    CCG_TRY(member_exact(jwe, "iv", iv, sizeof(iv)));
    CCG_TRY(member_exact(jwe, "tag", tag, sizeof(tag)));
    CCG_TRY(jose_string_member(jwe, "ciphertext", CCG_R_JOSE_JWE_INVALID, &ct_b64, &ct_b64_len));
    CCG_ENSURE_MSG(ct_b64_len <= ccg_b64url_len(CCG_JWE_MAX_PLAINTEXT), CCG_R_JOSE_JWE_INVALID,
                   "the JWE ciphertext exceeds %u bytes", CCG_JWE_MAX_PLAINTEXT);
    CCG_TRY(ccg_b64url_decode(ct_b64, ct_b64_len, CCG_R_JOSE_JWE_INVALID, &ct, &ct_len));
    CCG_TRY(ccg_secbuf_alloc(plaintext, ct_len > 0 ? ct_len : 1, allow_unlocked));
    plaintext->len = ct_len;
    /* AAD = ASCII(BASE64URL(UTF8(protected header))) exactly as received (RFC 7516 §5.2 step 14). */
    CCG_TRY(ccg_jose_a256gcm_open(cek, iv, (const uint8_t *)protected_b64, protected_len, ct, ct_len, tag,
                                  plaintext->data));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_secbuf_free(plaintext);
    }
    ccg_secure_zero(cek, sizeof(cek));
    free(header_bytes);
    free(ct);
    json_decref(hdr);
    return result;
}

ccg_result ccg_jwe_decrypt_text(EVP_PKEY *priv, const char *text, size_t len, int allow_unlocked,
                                ccg_secbuf *plaintext)
{
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;
    memset(plaintext, 0, sizeof(*plaintext));
    CCG_ENSURE_MSG(len <= CCG_JWE_MAX_TEXT, CCG_R_JOSE_JWE_INVALID, "JWE text of %zu bytes exceeds %u", len,
                   CCG_JWE_MAX_TEXT);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_JOSE_JWE_INVALID, "the JWE is not valid JSON (line %d: %.80s)", jerr.line,
                   jerr.text);
    CCG_TRY(ccg_jwe_decrypt(priv, root, allow_unlocked, plaintext));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    return result;
}
