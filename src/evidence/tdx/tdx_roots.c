/* The Intel SGX Root CA, pinned by its public key (the self-signed certificate may be re-issued with the
 * same key, as Intel did; the key is what every chain must end at). Test roots are trusted only when a
 * caller names them. */
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

#include "tdx_internal.h"
#include "tdx_verifier.h"

/* SubjectPublicKeyInfo (DER) of "CN=Intel SGX Root CA, O=Intel Corporation": P-256 point 04 0ba9c4c0... */
static const uint8_t INTEL_SGX_ROOT_SPKI[] = {
    0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x86, 0x48,
    0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00, 0x04, 0x0b, 0xa9, 0xc4, 0xc0, 0xc0, 0xc8, 0x61, 0x93, 0xa3,
    0xfe, 0x23, 0xd6, 0xb0, 0x2c, 0xda, 0x10, 0xa8, 0xbb, 0xd4, 0xe8, 0x8e, 0x48, 0xb4, 0x45, 0x85, 0x61, 0xa3,
    0x6e, 0x70, 0x55, 0x25, 0xf5, 0x67, 0x91, 0x8e, 0x2e, 0xdc, 0x88, 0xe4, 0x0d, 0x86, 0x0b, 0xd0, 0xcc, 0x4e,
    0xe2, 0x6a, 0xac, 0xc9, 0x88, 0xe5, 0x05, 0xa9, 0x53, 0x55, 0x8c, 0x45, 0x3f, 0x6b, 0x09, 0x04, 0xae, 0x73,
    0x94};

ccg_result ccg_tdx_verifier_new(ccg_tdx_verifier **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_verifier *v = calloc(1, sizeof(*v));
    CCG_ENSURE_ALLOC(v);
    const unsigned char *p = INTEL_SGX_ROOT_SPKI;
    v->intel_root = d2i_PUBKEY(NULL, &p, (long)sizeof(INTEL_SGX_ROOT_SPKI));
    CCG_ENSURE_OSSL(v->intel_root != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(tdx_cache_new(&v->cache));
    *out = v;
    v = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_verifier_free(v);
    return result;
}

ccg_result ccg_tdx_verifier_add_test_root(ccg_tdx_verifier *v, X509 *root)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *key = X509_get0_pubkey(root);
    CCG_ENSURE_MSG(v->n_test_roots < TDX_MAX_TEST_ROOTS, CCG_R_USAGE_INVALID, "at most %d TDX test roots",
                   TDX_MAX_TEST_ROOTS);
    CCG_ENSURE_MSG(key != NULL && ccg_x509_is_self_issued(root) && X509_verify(root, key) == 1,
                   CCG_R_USAGE_INVALID, "a TDX test root must be a self-signed certificate");
    CCG_ENSURE_OSSL(EVP_PKEY_up_ref(key) == 1, CCG_R_INTERNAL_CRYPTO);
    v->test_roots[v->n_test_roots++] = key;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_tdx_verifier_free(ccg_tdx_verifier *v)
{
    if (v == NULL) {
        return;
    }
    EVP_PKEY_free(v->intel_root);
    for (size_t i = 0; i < v->n_test_roots; i++) {
        EVP_PKEY_free(v->test_roots[i]);
    }
    tdx_cache_free(v->cache);
    free(v);
}

int tdx_root_trusted(const ccg_tdx_verifier *v, EVP_PKEY *key)
{
    if (key == NULL) {
        return 0;
    }
    if (EVP_PKEY_eq(key, v->intel_root) == 1) {
        return 1;
    }
    for (size_t i = 0; i < v->n_test_roots; i++) {
        if (EVP_PKEY_eq(key, v->test_roots[i]) == 1) {
            return 1;
        }
    }
    return 0;
}

tdx_cache *tdx_verifier_cache(const ccg_tdx_verifier *v)
{
    return v->cache;
}
