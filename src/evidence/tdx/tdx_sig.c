/* ECDSA P-256 with SHA-256, the only signature of a TDX quote and its collateral: R||S from the wire
 * converted to DER for OpenSSL. */
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <string.h>

#include "ccgate/ecdsa_raw.h"
#include "tdx_internal.h"

int tdx_key_is_p256(EVP_PKEY *key)
{
    char group[32] = "";
    size_t len = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 && strcmp(group, "prime256v1") == 0;
}

/* SHA-256 and SHA-384, fetched once: an implicit fetch per use costs as much as hashing a quote. */
static pthread_once_t digests_once = PTHREAD_ONCE_INIT;
static EVP_MD *sha256, *sha384;
static void fetch_digests(void)
{
    sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    sha384 = EVP_MD_fetch(NULL, "SHA384", NULL);
}

const EVP_MD *tdx_sha256(void)
{
    pthread_once(&digests_once, fetch_digests);
    return sha256;
}

const EVP_MD *tdx_sha384(void)
{
    pthread_once(&digests_once, fetch_digests);
    return sha384;
}

/* ECDSA-with-SHA256 as a digest and a verification of it (what EVP_DigestVerify does, without setting
 * up a digest context per signature). */
int tdx_ecdsa_p256_verify_key(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t raw_sig[64])
{
    uint8_t *der = NULL, digest[32];
    size_t der_len = 0;
    unsigned int n = 0;
    int ok = 0;
    EVP_PKEY_CTX *ctx = NULL;
    if (tdx_sha256() == NULL || ccg_failed(ccg_ecdsa_raw_to_der(raw_sig, 32, &der, &der_len)) ||
        EVP_Digest(msg, msg_len, digest, &n, tdx_sha256(), NULL) != 1 || n != sizeof(digest)) {
        goto cleanup;
    }
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 && EVP_PKEY_verify(ctx, der, der_len, digest, n) == 1;
cleanup:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    return ok;
}

int tdx_ecdsa_p256_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t raw_sig[64])
{
    return tdx_key_is_p256(key) && tdx_ecdsa_p256_verify_key(key, msg, msg_len, raw_sig);
}

EVP_PKEY *tdx_p256_key_from_xy(const uint8_t xy[64])
{
    uint8_t point[65];
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    point[0] = 0x04;
    memcpy(point + 1, xy, 64);
    if (bld == NULL || OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof(point)) != 1 ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL) {
        goto cleanup;
    }
    ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    /* fromdata checks the point is on the curve; a public-key check confirms it explicitly. */
    if (ctx == NULL || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, params) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
        goto cleanup;
    }
    EVP_PKEY_CTX_free(ctx);
    ctx = EVP_PKEY_CTX_new_from_pkey(NULL, key, NULL);
    /* On the curve and not the point at infinity. P-256 has cofactor 1, so every such point has the
     * group's prime order: the full check's extra scalar multiplication proves nothing more. */
    if (ctx == NULL || EVP_PKEY_public_check_quick(ctx) != 1) {
        EVP_PKEY_free(key);
        key = NULL;
    }
cleanup:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return key;
}
