/* The provider's signature over the artifact header: ECDSA P-384 with SHA-384 (fixed-width R||S, 96
 * bytes) or Ed25519 (64 bytes), and loading the provider's PEM public key or certificate. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "artifact_internal.h"
#include "ccgate/ecdsa_raw.h"

#define ES384_HALF 48

uint16_t art_sig_alg_of(EVP_PKEY *key)
{
    char group[32] = "";
    size_t n = 0;
    if (key == NULL) {
        return 0;
    }
    if (EVP_PKEY_is_a(key, "ED25519")) {
        return CCG_ARTIFACT_SIG_ED25519;
    }
    if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_group_name(key, group, sizeof(group), &n) == 1 &&
        strcmp(group, "secp384r1") == 0) {
        return CCG_ARTIFACT_SIG_ES384;
    }
    return 0;
}

static const EVP_MD *md_for(uint16_t alg) { return alg == CCG_ARTIFACT_SIG_ES384 ? EVP_sha384() : NULL; }

ccg_result art_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, uint8_t *sig, size_t sig_len)
{
    ccg_result result = CCG_FAILURE;
    uint16_t alg = art_sig_alg_of(key);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t buf[160];
    size_t n = sizeof(buf);
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_MSG(alg != 0, CCG_R_USAGE_INVALID, "the provider's signing key must be ECDSA P-384 or Ed25519");
    CCG_ENSURE(sig_len == art_sig_len(alg), CCG_R_INTERNAL_ERROR);
    CCG_ENSURE_OSSL(EVP_DigestSignInit(md, NULL, md_for(alg), NULL, key) == 1 &&
                        EVP_DigestSign(md, buf, &n, msg, msg_len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    if (alg == CCG_ARTIFACT_SIG_ES384) {
        CCG_TRY(ccg_ecdsa_der_to_raw(buf, n, ES384_HALF, sig));
    } else {
        CCG_ENSURE(n == sig_len, CCG_R_INTERNAL_CRYPTO);
        memcpy(sig, buf, n);
    }
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

ccg_result art_verify(EVP_PKEY *key, uint16_t alg, const uint8_t *msg, size_t msg_len, const uint8_t *sig,
                      size_t sig_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t *der = NULL;
    size_t der_len = 0;
    const uint8_t *s = sig;
    size_t s_len = sig_len;
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_MSG(art_sig_alg_of(key) == alg, CCG_R_ARTIFACT_SIGNATURE_INVALID,
                   "the provider key's algorithm is not the header's signature algorithm (%u)", alg);
    CCG_ENSURE(sig_len == art_sig_len(alg), CCG_R_ARTIFACT_SIGNATURE_INVALID);
    if (alg == CCG_ARTIFACT_SIG_ES384) {
        CCG_TRY(ccg_ecdsa_raw_to_der(sig, ES384_HALF, &der, &der_len));
        s = der;
        s_len = der_len;
    }
    CCG_ENSURE_OSSL(EVP_DigestVerifyInit(md, NULL, md_for(alg), NULL, key) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_DigestVerify(md, s, s_len, msg, msg_len) != 1) {
        ERR_clear_error();
        CCG_BAIL(CCG_R_ARTIFACT_SIGNATURE_INVALID, "the header signature does not verify under the provider key");
    }
    result = CCG_SUCCESS;
cleanup:
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return result;
}

ccg_result art_load_public_key(const char *path, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = NULL;
    X509 *cert = NULL;
    EVP_PKEY *key = NULL;
    CCG_ENSURE_MSG(path != NULL, CCG_R_USAGE_INVALID, "a provider public key is required");
    bio = BIO_new_file(path, "r");
    CCG_ENSURE_MSG(bio != NULL, CCG_R_IO_READ_FAILED, "cannot read provider key %s", path);
    key = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    if (key == NULL) {
        ERR_clear_error();
        CCG_ENSURE_OSSL(BIO_seek(bio, 0) == 0, CCG_R_IO_READ_FAILED);
        cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        CCG_ENSURE_MSG(cert != NULL, CCG_R_INPUT_MALFORMED, "%s holds no PEM public key or certificate", path);
        key = X509_get_pubkey(cert);
        CCG_ENSURE_OSSL(key != NULL, CCG_R_INPUT_MALFORMED);
    }
    CCG_ENSURE_MSG(art_sig_alg_of(key) != 0, CCG_R_INPUT_MALFORMED, "%s: the provider key must be P-384 or Ed25519",
                   path);
    *out = key;
    key = NULL;
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(bio);
    return result;
}
