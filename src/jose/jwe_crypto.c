/* The cryptographic steps of the resource JWE, each one OpenSSL 3 EVP call sequence: ECDH on P-256,
 * the JOSE Concat KDF (OpenSSL's SSKDF), AES-256 key wrap, RSA-OAEP-256 and AES-256-GCM. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "jose_internal.h"

#define KDF_MAX_INFO 1024

ccg_result jose_ecdh_p256(EVP_PKEY *priv, EVP_PKEY *peer, ccg_reason reason, uint8_t z[32])
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *ctx = NULL;
    size_t z_len = 32;
    CCG_ENSURE_MSG(jose_is_p256(priv) && jose_is_p256(peer), reason, "ECDH-ES needs two P-256 keys");
    /* The peer is validated here with the quick check (jose_p256_check_public), then handed over
     * unvalidated: OpenSSL's own validation is the full check, whose n*Q multiplication costs as much as
     * the ECDH itself and proves nothing more on a curve of cofactor 1. */
    CCG_TRY(jose_p256_check_public(peer, reason));
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_derive_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_derive_set_peer_ex(ctx, peer, 0) == 1, reason);
    CCG_ENSURE_OSSL(EVP_PKEY_derive(ctx, z, &z_len) == 1 && z_len == 32, reason);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    return result;
}

/* P-256 takes the fast path above; P-521 (issue 15) the full OpenSSL validation of the peer. */
ccg_result jose_ecdh(const jose_curve *c, EVP_PKEY *priv, EVP_PKEY *peer, ccg_reason reason, uint8_t *z)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *ctx = NULL;
    size_t z_len = 0;
    CCG_ENSURE(c != NULL, CCG_R_INTERNAL_ERROR);
    if (c->kind == CCG_JWK_EC_P256) {
        return jose_ecdh_p256(priv, peer, reason, z);
    }
    CCG_ENSURE_MSG(jose_curve_of(priv) == c && jose_curve_of(peer) == c, reason, "ECDH-ES needs two keys on one curve");
    z_len = c->len;
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_derive_init(ctx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_derive_set_peer_ex(ctx, peer, 1) == 1, reason);
    CCG_ENSURE_OSSL(EVP_PKEY_derive(ctx, z, &z_len) == 1 && z_len == c->len, reason);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    return result;
}

static void put_u32be(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

ccg_result jose_concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu, size_t apu_len,
                           const uint8_t *apv, size_t apv_len, uint8_t *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t info[KDF_MAX_INFO];
    size_t alg_len = strlen(alg);
    size_t n = 0;
    EVP_KDF *kdf = NULL;
    EVP_KDF_CTX *kctx = NULL;
    OSSL_PARAM params[4];
    char digest[] = "SHA256";
    CCG_ENSURE(alg_len + apu_len + apv_len + 16 <= sizeof(info) && out_len <= UINT32_MAX / 8, CCG_R_INTERNAL_ERROR);
    put_u32be(info + n, (uint32_t)alg_len);
    n += 4;
    memcpy(info + n, alg, alg_len);
    n += alg_len;
    put_u32be(info + n, (uint32_t)apu_len);
    n += 4;
    if (apu_len > 0) {
        memcpy(info + n, apu, apu_len);
        n += apu_len;
    }
    put_u32be(info + n, (uint32_t)apv_len);
    n += 4;
    if (apv_len > 0) {
        memcpy(info + n, apv, apv_len);
        n += apv_len;
    }
    put_u32be(info + n, (uint32_t)(out_len * 8));
    n += 4;
    kdf = EVP_KDF_fetch(NULL, OSSL_KDF_NAME_SSKDF, NULL);
    CCG_ENSURE_OSSL(kdf != NULL, CCG_R_INTERNAL_CRYPTO);
    kctx = EVP_KDF_CTX_new(kdf);
    CCG_ENSURE_OSSL(kctx != NULL, CCG_R_INTERNAL_CRYPTO);
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0);
    params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SECRET, (void *)z, z_len);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
    params[3] = OSSL_PARAM_construct_end();
    CCG_ENSURE_OSSL(EVP_KDF_derive(kctx, out, out_len, params) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_KDF_CTX_free(kctx);
    EVP_KDF_free(kdf);
    return result;
}

/* One pass of AES-256 key wrap or unwrap over n input bytes. */
static ccg_result a256kw(int enc, const uint8_t kek[32], const uint8_t *in, size_t n, uint8_t *out, size_t out_n,
                         ccg_reason fail)
{
    ccg_result result = CCG_FAILURE;
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int outl = 0;
    int finl = 0;
    uint8_t fin[48];
    cipher = EVP_CIPHER_fetch(NULL, "AES-256-WRAP", NULL);
    CCG_ENSURE_OSSL(cipher != NULL, CCG_R_INTERNAL_CRYPTO);
    ctx = EVP_CIPHER_CTX_new();
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex2(ctx, cipher, kek, NULL, enc, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_CipherUpdate(ctx, out, &outl, in, (int)n) != 1 || outl < 0 || (size_t)outl != out_n ||
        EVP_CipherFinal_ex(ctx, fin, &finl) != 1 || finl != 0) {
        ccg_error_set_openssl(fail, __FILE__, __LINE__, enc ? "AES key wrap failed" : "AES key unwrap failed");
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return result;
}

ccg_result jose_a256kw_wrap(const uint8_t kek[32], const uint8_t cek[32], uint8_t out[40])
{
    return a256kw(1, kek, cek, 32, out, 40, CCG_R_INTERNAL_CRYPTO);
}

ccg_result jose_a256kw_unwrap(const uint8_t kek[32], const uint8_t in[40], uint8_t cek[32])
{
    ccg_result result = CCG_FAILURE;
    uint8_t tmp[48]; /* the unwrap writes up to the input length */
    CCG_TRY(a256kw(0, kek, in, 40, tmp, 32, CCG_R_JOSE_JWE_INVALID));
    memcpy(cek, tmp, 32);
    result = CCG_SUCCESS;
cleanup:
    ccg_secure_zero(tmp, sizeof(tmp));
    return result;
}

static ccg_result oaep256_ctx(EVP_PKEY *key, int enc, EVP_PKEY_CTX **out)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    *out = NULL;
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL((enc ? EVP_PKEY_encrypt_init(ctx) : EVP_PKEY_decrypt_init(ctx)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_CTX_set_rsa_oaep_md_name(ctx, "SHA256", NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_CTX_set_rsa_mgf1_md_name(ctx, "SHA256", NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    *out = ctx;
    ctx = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_CTX_free(ctx);
    return result;
}

ccg_result jose_rsa_oaep256_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    CCG_TRY(oaep256_ctx(pub, 1, &ctx));
    CCG_ENSURE_OSSL(EVP_PKEY_encrypt(ctx, NULL, &n, in, len) == 1 && n > 0, CCG_R_INTERNAL_CRYPTO);
    buf = malloc(n);
    CCG_ENSURE_ALLOC(buf);
    CCG_ENSURE_OSSL(EVP_PKEY_encrypt(ctx, buf, &n, in, len) == 1, CCG_R_INTERNAL_CRYPTO);
    *out = buf;
    *out_len = n;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    EVP_PKEY_CTX_free(ctx);
    return result;
}

ccg_result jose_rsa_oaep256_decrypt_cek(EVP_PKEY *priv, const uint8_t *in, size_t len, uint8_t cek[32])
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY_CTX *ctx = NULL;
    uint8_t *buf = NULL;
    size_t cap = 0;
    size_t n = 0;
    uint8_t fallback[32];
    CCG_ENSURE_OSSL(RAND_priv_bytes(fallback, sizeof(fallback)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(oaep256_ctx(priv, 0, &ctx));
    cap = (size_t)EVP_PKEY_get_size(priv);
    CCG_ENSURE(cap >= 32, CCG_R_INTERNAL_CRYPTO);
    buf = malloc(cap);
    CCG_ENSURE_ALLOC(buf);
    n = cap;
    int ok = EVP_PKEY_decrypt(ctx, buf, &n, in, len) == 1 && n == 32;
    ERR_clear_error();
    memcpy(cek, ok ? buf : fallback, 32);
    result = CCG_SUCCESS;
cleanup:
    if (buf != NULL) {
        ccg_secure_zero(buf, cap);
        free(buf);
    }
    ccg_secure_zero(fallback, sizeof(fallback));
    EVP_PKEY_CTX_free(ctx);
    return result;
}

/* AES-256-GCM, 96-bit IV, 128-bit tag. */
static ccg_result a256gcm(int enc, const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                          const uint8_t *in, size_t len, uint8_t *out, uint8_t tag[16])
{
    ccg_result result = CCG_FAILURE;
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int outl = 0;
    uint8_t fin[16];
    CCG_ENSURE_MSG(len <= INT_MAX && aad_len <= INT_MAX, CCG_R_INPUT_TOO_LARGE, "AES-GCM input too large");
    cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    CCG_ENSURE_OSSL(cipher != NULL, CCG_R_INTERNAL_CRYPTO);
    ctx = EVP_CIPHER_CTX_new();
    CCG_ENSURE_OSSL(ctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex2(ctx, cipher, key, iv, enc, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    if (aad_len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(ctx, NULL, &outl, aad, (int)aad_len) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    if (len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(ctx, out, &outl, in, (int)len) == 1 && (size_t)outl == len,
                        CCG_R_INTERNAL_CRYPTO);
    }
    if (enc) {
        CCG_ENSURE_OSSL(EVP_CipherFinal_ex(ctx, fin, &outl) == 1 && outl == 0, CCG_R_INTERNAL_CRYPTO);
        CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1, CCG_R_INTERNAL_CRYPTO);
    } else {
        CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) == 1, CCG_R_INTERNAL_CRYPTO);
        if (EVP_CipherFinal_ex(ctx, fin, &outl) != 1 || outl != 0) {
            ERR_clear_error();
            CCG_BAIL(CCG_R_JOSE_JWE_INVALID, "the AES-GCM tag does not verify");
        }
    }
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    return result;
}

ccg_result ccg_jose_a256gcm_seal(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                                 const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
    return a256gcm(1, key, iv, aad, aad_len, pt, len, ct, tag);
}

ccg_result ccg_jose_a256gcm_open(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad, size_t aad_len,
                                 const uint8_t *ct, size_t len, const uint8_t tag[16], uint8_t *pt)
{
    ccg_result result = CCG_FAILURE;
    uint8_t t[16];
    memcpy(t, tag, sizeof(t));
    CCG_TRY(a256gcm(0, key, iv, aad, aad_len, ct, len, pt, t));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && len > 0) {
        ccg_secure_zero(pt, len); /* no unauthenticated plaintext escapes */
    }
    return result;
}
