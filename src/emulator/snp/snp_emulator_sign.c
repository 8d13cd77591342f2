/* The emulator's report signature: ECDSA P-384 over SHA-384 of bytes 0x000-0x29F, stored as AMD does,
 * R and S each a 72-byte little-endian integer at 0x2A0 and 0x2E8. */
#include <openssl/bn.h>
#include <openssl/ecdsa.h>

#include "ccgate/snp_report_write.h"
#include "snp_emulator_internal.h"

/* The DER signature OpenSSL produces, as AMD's two little-endian components. */
static ccg_result store_signature(const unsigned char *der, size_t der_len, uint8_t *report)
{
    ccg_result result = CCG_FAILURE;
    const unsigned char *p = der;
    const BIGNUM *r = NULL, *s = NULL;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    CCG_ENSURE_OSSL(sig != NULL, CCG_R_INTERNAL_CRYPTO);
    ECDSA_SIG_get0(sig, &r, &s);
    CCG_ENSURE_OSSL(BN_bn2lebinpad(r, report + CCG_SNP_SIGNED_SIZE, CCG_SNP_SIG_COMPONENT_SIZE) ==
                        (int)CCG_SNP_SIG_COMPONENT_SIZE,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(BN_bn2lebinpad(s, report + CCG_SNP_SIGNED_SIZE + CCG_SNP_SIG_COMPONENT_SIZE,
                                   CCG_SNP_SIG_COMPONENT_SIZE) == (int)CCG_SNP_SIG_COMPONENT_SIZE,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    ECDSA_SIG_free(sig);
    return result;
}

ccg_result ccg_snp_emulator_sign_bytes(const ccg_snp_emulator *emu, uint8_t report[CCG_SNP_REPORT_SIZE])
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[160]; /* a P-384 ECDSA-Sig-Value is at most 104 bytes */
    size_t der_len = sizeof(der);
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(EVP_DigestSignInit_ex(md, NULL, "SHA384", NULL, NULL, emu->leaf_key, NULL) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestSign(md, der, &der_len, report, CCG_SNP_SIGNED_SIZE) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(store_signature(der, der_len, report));
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

ccg_result ccg_snp_emulator_sign(const ccg_snp_emulator *emu, const ccg_snp_report *r,
                                 uint8_t out[CCG_SNP_REPORT_SIZE])
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_snp_report_serialize(r, out));
    CCG_TRY(ccg_snp_emulator_sign_bytes(emu, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
