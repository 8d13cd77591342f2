/* ECDSA P-384 verification of the report. AMD stores R and S as 72-byte little-endian integers;
 * they are converted to an ECDSA_SIG and DER-encoded for OpenSSL. */
#include "snp_signature.h"

#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>

int snp_signature_verify(EVP_PKEY *key, const uint8_t report[CCG_SNP_REPORT_SIZE], const ccg_snp_report *parsed)
{
    int verdict = -1;
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_lebin2bn(parsed->sig_r, CCG_SNP_SIG_COMPONENT_SIZE, NULL);
    BIGNUM *s = BN_lebin2bn(parsed->sig_s, CCG_SNP_SIG_COMPONENT_SIZE, NULL);
    unsigned char *der = NULL;
    unsigned char digest[48];
    unsigned int digest_len = 0;
    EVP_PKEY_CTX *ctx = NULL;
    int der_len;

    if (sig == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(sig, r, s) != 1) {
        goto cleanup;
    }
    r = s = NULL; /* owned by sig now */
    der_len = i2d_ECDSA_SIG(sig, &der);
    if (der_len <= 0 || EVP_Digest(report, CCG_SNP_SIGNED_SIZE, digest, &digest_len, EVP_sha384(), NULL) != 1) {
        goto cleanup;
    }
    ctx = EVP_PKEY_CTX_new(key, NULL);
    if (ctx == NULL || EVP_PKEY_verify_init(ctx) != 1) {
        goto cleanup;
    }
    /* 1 valid, 0 invalid, negative malformed: a malformed signature is an invalid one. */
    verdict = EVP_PKEY_verify(ctx, der, (size_t)der_len, digest, digest_len) == 1 ? 1 : 0;
cleanup:
    ERR_clear_error();
    EVP_PKEY_CTX_free(ctx);
    OPENSSL_free(der);
    BN_free(r);
    BN_free(s);
    ECDSA_SIG_free(sig);
    return verdict;
}
