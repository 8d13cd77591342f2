/* DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1 and 7.1: key pairs, DH, Encap and Decap on
 * OpenSSL's raw X25519 keys. Every DH output and intermediate is cleansed before return. */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ccgate/util.h"
#include "hpke_internal.h"

ccg_result ccg_hpke_x25519_public(const uint8_t sk[CCG_HPKE_X25519_LEN], uint8_t pk[CCG_HPKE_X25519_LEN])
{
    ccg_result result = CCG_FAILURE;
    size_t len = CCG_HPKE_X25519_LEN;
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, CCG_HPKE_X25519_LEN);
    CCG_ENSURE_OSSL(key != NULL, CCG_R_HPKE_KEY_INVALID);
    CCG_ENSURE_OSSL(EVP_PKEY_get_raw_public_key(key, pk, &len) == 1 && len == CCG_HPKE_X25519_LEN, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_free(key);
    return result;
}

ccg_result ccg_hpke_x25519_dh(const uint8_t sk[CCG_HPKE_X25519_LEN], const uint8_t pk[CCG_HPKE_X25519_LEN],
                              uint8_t out[CCG_HPKE_X25519_LEN])
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *priv = NULL;
    EVP_PKEY *peer = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    size_t len = CCG_HPKE_X25519_LEN;
    memset(out, 0, CCG_HPKE_X25519_LEN);
    priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, CCG_HPKE_X25519_LEN);
    CCG_ENSURE_OSSL(priv != NULL, CCG_R_HPKE_KEY_INVALID);
    /* Every 32-byte string is an X25519 public key (RFC 7748 masks the top bit), so this only fails
     * on allocation. */
    peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, CCG_HPKE_X25519_LEN);
    CCG_ENSURE_OSSL(peer != NULL, CCG_R_HPKE_KEY_INVALID);
    pctx = EVP_PKEY_CTX_new_from_pkey(NULL, priv, NULL);
    CCG_ENSURE_OSSL(pctx != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_derive_init(pctx) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_PKEY_derive_set_peer(pctx, peer) == 1, CCG_R_HPKE_KEY_INVALID);
    /* OpenSSL's X25519 refuses an all-zero result itself (a low-order peer point); that is the only
     * way this derive fails once both keys are loaded, so it maps to hpke.dh_zero. */
    CCG_ENSURE_OSSL(EVP_PKEY_derive(pctx, out, &len) == 1 && len == CCG_HPKE_X25519_LEN, CCG_R_HPKE_DH_ZERO);
    /* RFC 9180 section 7.1.4: check for the all-zero value ourselves too, whatever the provider does. */
    CCG_ENSURE_MSG(!ccg_is_all_zero(out, CCG_HPKE_X25519_LEN), CCG_R_HPKE_DH_ZERO,
                   "X25519 shared secret is all zero (low-order public key)");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        OPENSSL_cleanse(out, CCG_HPKE_X25519_LEN);
    }
    EVP_PKEY_CTX_free(pctx);
    EVP_PKEY_free(peer);
    EVP_PKEY_free(priv);
    return result;
}

ccg_result ccg_hpke_generate_keypair(ccg_hpke_keypair *kp)
{
    ccg_result result = CCG_FAILURE;
    memset(kp, 0, sizeof(*kp));
    CCG_ENSURE_OSSL(RAND_priv_bytes(kp->sk, CCG_HPKE_X25519_LEN) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_hpke_x25519_public(kp->sk, kp->pk));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_hpke_keypair_clear(kp);
    }
    return result;
}

/* RFC 9180 section 7.1.3 for X25519: sk = LabeledExpand(LabeledExtract("", "dkp_prk", ikm), "sk", "", Nsk). */
ccg_result ccg_hpke_derive_keypair(ccg_hpke_suite suite, const uint8_t *ikm, size_t ikm_len, ccg_hpke_keypair *kp)
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_suite_id sid;
    uint8_t prk[CCG_HPKE_NH];
    memset(kp, 0, sizeof(*kp));
    CCG_TRY(ccg_hpke_suite_check(suite));
    /* The RFC asks for at least Nsk bytes of entropy in ikm. */
    CCG_ENSURE_MSG(ikm != NULL && ikm_len >= CCG_HPKE_X25519_LEN, CCG_R_HPKE_KEY_INVALID, "ikm of %zu bytes", ikm_len);
    ccg_hpke_kem_suite_id(suite.kem_id, &sid);
    CCG_TRY(ccg_hpke_labeled_extract(&sid, NULL, 0, "dkp_prk", ikm, ikm_len, prk));
    CCG_TRY(ccg_hpke_labeled_expand(&sid, prk, "sk", NULL, 0, kp->sk, CCG_HPKE_X25519_LEN));
    CCG_TRY(ccg_hpke_x25519_public(kp->sk, kp->pk));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(prk, sizeof(prk));
    if (ccg_failed(result)) {
        ccg_hpke_keypair_clear(kp);
    }
    return result;
}

void ccg_hpke_keypair_clear(ccg_hpke_keypair *kp)
{
    if (kp != NULL) {
        OPENSSL_cleanse(kp, sizeof(*kp));
    }
}

/* ExtractAndExpand(dh, kem_context): dh is one DH output (Base, PSK) or two (Auth, AuthPSK);
 * kem_context is enc || pkRm, with || pkSm in the Auth modes. */
static ccg_result extract_and_expand(const uint8_t *dh, size_t dh_len, const uint8_t *kem_context, size_t kem_context_len,
                                     uint8_t shared_secret[CCG_HPKE_NH])
{
    ccg_result result = CCG_FAILURE;
    ccg_hpke_suite_id sid;
    uint8_t prk[CCG_HPKE_NH];
    ccg_hpke_kem_suite_id(CCG_HPKE_KEM_X25519_SHA256, &sid);
    CCG_TRY(ccg_hpke_labeled_extract(&sid, NULL, 0, "eae_prk", dh, dh_len, prk));
    CCG_TRY(ccg_hpke_labeled_expand(&sid, prk, "shared_secret", kem_context, kem_context_len, shared_secret, CCG_HPKE_NH));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(prk, sizeof(prk));
    return result;
}

/* A caller-supplied key pair must be consistent: its pk is recomputed from sk and compared. */
static ccg_result check_keypair(const ccg_hpke_keypair *kp, const char *what)
{
    ccg_result result = CCG_FAILURE;
    uint8_t pk[CCG_HPKE_X25519_LEN];
    CCG_ENSURE_MSG(kp != NULL, CCG_R_HPKE_KEY_INVALID, "no %s key pair", what);
    CCG_TRY(ccg_hpke_x25519_public(kp->sk, pk));
    CCG_ENSURE_MSG(memcmp(pk, kp->pk, sizeof(pk)) == 0, CCG_R_HPKE_KEY_INVALID, "%s public key does not match its private key",
                   what);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Encap (kp_s == NULL) and AuthEncap: dh = DH(skE, pkR) [|| DH(skS, pkR)], enc = pkE. */
static ccg_result kem_encap(const uint8_t pk_r[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_s,
                            const ccg_hpke_keypair *eph, uint8_t shared_secret[CCG_HPKE_NH], uint8_t enc[CCG_HPKE_X25519_LEN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t dh[2 * CCG_HPKE_X25519_LEN];
    uint8_t kem_context[3 * CCG_HPKE_X25519_LEN];
    size_t n = 1;
    CCG_ENSURE_MSG(pk_r != NULL, CCG_R_HPKE_KEY_INVALID, "no recipient public key");
    CCG_TRY(check_keypair(eph, "ephemeral"));
    CCG_TRY(ccg_hpke_x25519_dh(eph->sk, pk_r, dh));
    memcpy(kem_context, eph->pk, CCG_HPKE_X25519_LEN);
    memcpy(kem_context + CCG_HPKE_X25519_LEN, pk_r, CCG_HPKE_X25519_LEN);
    if (kp_s != NULL) {
        CCG_TRY(check_keypair(kp_s, "sender"));
        CCG_TRY(ccg_hpke_x25519_dh(kp_s->sk, pk_r, dh + CCG_HPKE_X25519_LEN));
        memcpy(kem_context + 2 * CCG_HPKE_X25519_LEN, kp_s->pk, CCG_HPKE_X25519_LEN);
        n = 2;
    }
    CCG_TRY(extract_and_expand(dh, n * CCG_HPKE_X25519_LEN, kem_context, (n + 1) * CCG_HPKE_X25519_LEN, shared_secret));
    memcpy(enc, eph->pk, CCG_HPKE_X25519_LEN);
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(dh, sizeof(dh));
    return result;
}

/* Decap (pk_s == NULL) and AuthDecap: dh = DH(skR, pkE) [|| DH(skR, pkS)]. */
static ccg_result kem_decap(const uint8_t enc[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_r,
                            const uint8_t *pk_s, uint8_t shared_secret[CCG_HPKE_NH])
{
    ccg_result result = CCG_FAILURE;
    uint8_t dh[2 * CCG_HPKE_X25519_LEN];
    uint8_t kem_context[3 * CCG_HPKE_X25519_LEN];
    size_t n = 1;
    CCG_ENSURE_MSG(enc != NULL, CCG_R_HPKE_KEY_INVALID, "no enc");
    CCG_TRY(check_keypair(kp_r, "recipient"));
    CCG_TRY(ccg_hpke_x25519_dh(kp_r->sk, enc, dh));
    memcpy(kem_context, enc, CCG_HPKE_X25519_LEN);
    memcpy(kem_context + CCG_HPKE_X25519_LEN, kp_r->pk, CCG_HPKE_X25519_LEN);
    if (pk_s != NULL) {
        CCG_TRY(ccg_hpke_x25519_dh(kp_r->sk, pk_s, dh + CCG_HPKE_X25519_LEN));
        memcpy(kem_context + 2 * CCG_HPKE_X25519_LEN, pk_s, CCG_HPKE_X25519_LEN);
        n = 2;
    }
    CCG_TRY(extract_and_expand(dh, n * CCG_HPKE_X25519_LEN, kem_context, (n + 1) * CCG_HPKE_X25519_LEN, shared_secret));
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_cleanse(dh, sizeof(dh));
    return result;
}

ccg_result ccg_hpke_encap(const uint8_t pk_r[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *eph,
                          uint8_t shared_secret[CCG_HPKE_NH], uint8_t enc[CCG_HPKE_X25519_LEN])
{
    return kem_encap(pk_r, NULL, eph, shared_secret, enc);
}

ccg_result ccg_hpke_decap(const uint8_t enc[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_r,
                          uint8_t shared_secret[CCG_HPKE_NH])
{
    return kem_decap(enc, kp_r, NULL, shared_secret);
}

ccg_result ccg_hpke_auth_encap(const uint8_t pk_r[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_s,
                               const ccg_hpke_keypair *eph, uint8_t shared_secret[CCG_HPKE_NH],
                               uint8_t enc[CCG_HPKE_X25519_LEN])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(kp_s != NULL, CCG_R_HPKE_KEY_INVALID, "no sender key pair");
    CCG_TRY(kem_encap(pk_r, kp_s, eph, shared_secret, enc));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hpke_auth_decap(const uint8_t enc[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_r,
                               const uint8_t pk_s[CCG_HPKE_X25519_LEN], uint8_t shared_secret[CCG_HPKE_NH])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(pk_s != NULL, CCG_R_HPKE_KEY_INVALID, "no sender public key");
    CCG_TRY(kem_decap(enc, kp_r, pk_s, shared_secret));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
