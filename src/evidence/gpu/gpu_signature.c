/* The report signature: ECDSA P-384 with SHA-384 over request ‖ response up to the signature
 * (SPDM 1.1 signs the messages themselves, with no signing-context prefix). The 96 bytes are r||s,
 * converted to DER for OpenSSL by the project's one R||S conversion. */
#include <openssl/err.h>

#include "ccgate/ecdsa_raw.h"
#include "gpu_internal.h"

int gpu_signature_verify(EVP_PKEY *leaf_key, const uint8_t *report, const ccg_gpu_report *parsed)
{
    int verdict = -1;
    uint8_t *der = NULL;
    size_t der_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (md == NULL || ccg_failed(ccg_ecdsa_raw_to_der(parsed->signature, CCG_GPU_SIGNATURE_SIZE / 2, &der, &der_len)) ||
        EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, leaf_key) != 1) {
        goto cleanup;
    }
    verdict = EVP_DigestVerify(md, der, der_len, report, parsed->signed_len) == 1 ? 1 : 0;
cleanup:
    ERR_clear_error();
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    return verdict;
}
