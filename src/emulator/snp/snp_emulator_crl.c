/* The emulator's CRL: issued by the ARK and signed with RSA-PSS SHA-384, as AMD's KDS CRLs are. */
#include <openssl/x509.h>

#include "snp_emulator_internal.h"

static ccg_result add_revoked(X509_CRL *crl, const ASN1_INTEGER *serial, ASN1_TIME *when)
{
    ccg_result result = CCG_FAILURE;
    X509_REVOKED *entry = X509_REVOKED_new();
    ASN1_INTEGER *copy = ASN1_INTEGER_dup(serial);
    CCG_ENSURE_ALLOC(entry);
    CCG_ENSURE_ALLOC(copy);
    CCG_ENSURE_OSSL(X509_REVOKED_set_serialNumber(entry, copy) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_REVOKED_set_revocationDate(entry, when) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_CRL_add0_revoked(crl, entry) == 1, CCG_R_INTERNAL_CRYPTO);
    entry = NULL; /* owned by the CRL */
    result = CCG_SUCCESS;
cleanup:
    ASN1_INTEGER_free(copy);
    X509_REVOKED_free(entry);
    return result;
}

static ccg_result set_times(X509_CRL *crl, ccg_time this_update, ccg_time next_update, ASN1_TIME *scratch)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(snp_emu_set_time(scratch, this_update));
    CCG_ENSURE_OSSL(X509_CRL_set1_lastUpdate(crl, scratch) == 1, CCG_R_INTERNAL_CRYPTO);
    if (next_update != 0) {
        CCG_TRY(snp_emu_set_time(scratch, next_update));
        CCG_ENSURE_OSSL(X509_CRL_set1_nextUpdate(crl, scratch) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_TRY(snp_emu_set_time(scratch, this_update)); /* left as the revocation date */
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_emulator_crl(const ccg_snp_emulator *emu, const ASN1_INTEGER *const *revoked_serials, size_t n,
                                ccg_time this_update, ccg_time next_update, X509_CRL **out)
{
    ccg_result result = CCG_FAILURE;
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *when = ASN1_TIME_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    CCG_ENSURE_ALLOC(crl);
    CCG_ENSURE_ALLOC(when);
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(X509_CRL_set_version(crl, X509_CRL_VERSION_2) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_CRL_set_issuer_name(crl, X509_get_subject_name(emu->ark)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(set_times(crl, this_update, next_update, when));
    for (size_t i = 0; i < n; i++) {
        CCG_TRY(add_revoked(crl, revoked_serials[i], when));
    }
    CCG_ENSURE_OSSL(X509_CRL_sort(crl) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(snp_emu_pss_init(md, emu->ark_key));
    CCG_ENSURE_OSSL(X509_CRL_sign_ctx(crl, md) > 0, CCG_R_INTERNAL_CRYPTO);
    *out = crl;
    crl = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    ASN1_TIME_free(when);
    X509_CRL_free(crl);
    return result;
}
