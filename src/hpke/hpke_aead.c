/* The two HPKE AEADs (RFC 9180 section 7.3) on OpenSSL EVP: AES-128-GCM and ChaCha20-Poly1305, both
 * with a 12-byte nonce and a 16-byte tag. A context is keyed once and re-nonced per message, which
 * keeps the per-frame cost at the cipher itself. */
#include <limits.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "hpke_internal.h"

ccg_result ccg_hpke_aead_key_len(uint16_t aead_id, size_t *nk)
{
    ccg_result result = CCG_FAILURE;
    switch (aead_id) {
    case CCG_HPKE_AEAD_AES128GCM:
        *nk = 16;
        break;
    case CCG_HPKE_AEAD_CHACHA20POLY1305:
        *nk = 32;
        break;
    case CCG_HPKE_AEAD_EXPORT_ONLY:
        *nk = 0;
        break;
    default:
        CCG_BAIL(CCG_R_HPKE_SUITE_UNSUPPORTED, "AEAD 0x%04x", (unsigned)aead_id);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_aead_new(uint16_t aead_id, const uint8_t *key, size_t key_len, EVP_CIPHER_CTX **out)
{
    ccg_result result = CCG_FAILURE;
    EVP_CIPHER *cipher = NULL;
    EVP_CIPHER_CTX *c = NULL;
    size_t nk = 0;
    *out = NULL;
    CCG_TRY(ccg_hpke_aead_key_len(aead_id, &nk));
    CCG_ENSURE_MSG(nk > 0, CCG_R_HPKE_EXPORT_ONLY, "the export-only AEAD has no cipher");
    CCG_ENSURE_MSG(key != NULL && key_len == nk, CCG_R_HPKE_KEY_INVALID, "AEAD key of %zu bytes", key_len);
    cipher = EVP_CIPHER_fetch(NULL, aead_id == CCG_HPKE_AEAD_AES128GCM ? "AES-128-GCM" : "ChaCha20-Poly1305", NULL);
    CCG_ENSURE_OSSL(cipher != NULL, CCG_R_INTERNAL_CRYPTO);
    c = EVP_CIPHER_CTX_new();
    CCG_ENSURE_OSSL(c != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex2(c, cipher, key, NULL, 1, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    /* Both AEADs default to a 12-byte nonce; set it anyway so the length is ours, not a default. */
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, CCG_HPKE_NN, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(c);
    EVP_CIPHER_free(cipher);
    return result;
}

/* Lengths OpenSSL's int-sized interface can take; frames are far smaller. */
static ccg_result check_lengths(const uint8_t *nonce, size_t nonce_len, size_t aad_len, size_t data_len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(nonce != NULL && nonce_len == CCG_HPKE_NN, CCG_R_USAGE_INVALID, "AEAD nonce of %zu bytes", nonce_len);
    CCG_ENSURE_MSG(aad_len <= INT_MAX && data_len <= INT_MAX - CCG_HPKE_TAG_LEN, CCG_R_INPUT_TOO_LARGE,
                   "AEAD input of %zu + %zu bytes", aad_len, data_len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_aead_seal(EVP_CIPHER_CTX *c, const uint8_t *nonce, size_t nonce_len, const uint8_t *aad, size_t aad_len,
                              const uint8_t *pt, size_t pt_len, uint8_t *ct)
{
    ccg_result result = CCG_FAILURE;
    uint8_t tail[CCG_HPKE_TAG_LEN]; /* Final writes nothing for these AEADs; never write past ct */
    int n = 0;
    int fin = 0;
    CCG_TRY(check_lengths(nonce, nonce_len, aad_len, pt_len));
    CCG_ENSURE_OSSL(EVP_CipherInit_ex2(c, NULL, NULL, nonce, 1, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    if (aad_len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    n = 0;
    if (pt_len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(c, ct, &n, pt, (int)pt_len) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_CipherFinal_ex(c, tail, &fin) == 1 && fin == 0 && (size_t)n == pt_len, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, CCG_HPKE_TAG_LEN, ct + pt_len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_aead_open(EVP_CIPHER_CTX *c, const uint8_t *nonce, size_t nonce_len, const uint8_t *aad, size_t aad_len,
                              const uint8_t *ct, size_t ct_len, uint8_t *pt)
{
    ccg_result result = CCG_FAILURE;
    uint8_t tag[CCG_HPKE_TAG_LEN];
    uint8_t tail[CCG_HPKE_TAG_LEN];
    size_t body = 0;
    int wrote = 0;
    int n = 0;
    int fin = 0;
    CCG_TRY(check_lengths(nonce, nonce_len, aad_len, ct_len > CCG_HPKE_TAG_LEN ? ct_len - CCG_HPKE_TAG_LEN : 0));
    CCG_ENSURE_MSG(ct_len >= CCG_HPKE_TAG_LEN, CCG_R_HPKE_OPEN_FAILED, "ciphertext of %zu bytes is shorter than the tag",
                   ct_len);
    body = ct_len - CCG_HPKE_TAG_LEN;
    /* Copy the tag first: pt may be ct (in place) and the update overwrites it. */
    memcpy(tag, ct + body, CCG_HPKE_TAG_LEN);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex2(c, NULL, NULL, nonce, 0, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    if (aad_len > 0) {
        CCG_ENSURE_OSSL(EVP_CipherUpdate(c, NULL, &n, aad, (int)aad_len) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    n = 0;
    if (body > 0) {
        wrote = 1;
        CCG_ENSURE_OSSL(EVP_CipherUpdate(c, pt, &n, ct, (int)body) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, CCG_HPKE_TAG_LEN, tag) == 1, CCG_R_INTERNAL_CRYPTO);
    /* A bad tag fails here; OpenSSL queues no error for it, so the message is ours. */
    CCG_ENSURE_MSG(EVP_CipherFinal_ex(c, tail, &fin) == 1, CCG_R_HPKE_OPEN_FAILED, "AEAD tag does not verify");
    CCG_ENSURE(fin == 0 && (size_t)n == body, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ERR_clear_error(); /* a failed tag check may leave provider noise behind */
        if (wrote) {
            OPENSSL_cleanse(pt, body); /* unauthenticated plaintext never leaves */
        }
    }
    return result;
}
