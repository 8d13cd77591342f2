/* Collateral supplied with a report: certificates in any order and an optional CRL. */
#include <openssl/x509.h>

#include "ccgate/snp_verify.h"
#include "ccgate/x509util.h"

ccg_result ccg_snp_collateral_init(ccg_snp_collateral *c)
{
    ccg_result result = CCG_FAILURE;
    c->crl = NULL;
    c->certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(c->certs);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_snp_collateral_free(ccg_snp_collateral *c)
{
    sk_X509_pop_free(c->certs, X509_free);
    X509_CRL_free(c->crl);
    c->certs = NULL;
    c->crl = NULL;
}

ccg_result ccg_snp_collateral_add_certs(ccg_snp_collateral *c, const uint8_t *data, size_t len)
{
    return ccg_x509_load_bundle(data, len, c->certs);
}

ccg_result ccg_snp_collateral_add_x509(ccg_snp_collateral *c, X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_OSSL(X509_up_ref(cert) == 1, CCG_R_INTERNAL_CRYPTO);
    if (sk_X509_push(c->certs, cert) <= 0) {
        X509_free(cert);
        CCG_BAIL(CCG_R_INTERNAL_OUT_OF_MEMORY, "collateral stack push");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_collateral_set_crl(ccg_snp_collateral *c, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    X509_CRL *crl = NULL;
    CCG_TRY(ccg_x509_load_crl(data, len, &crl));
    X509_CRL_free(c->crl);
    c->crl = crl;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
