/* Certificate chains of TDX attestation (PCK chain in the quote; TCB signing and CRL issuer chains in
 * the collateral) and their CRLs.
 *
 * Every chain must end at a self-signed root whose key is the pinned Intel SGX Root CA key (or a named
 * test root's). OpenSSL builds and checks the path (signatures, validity at `now`, CA constraints),
 * with that root alone trusted; the path must use exactly the supplied certificates. Revocation is
 * checked here against the two CRLs Intel publishes (root CA CRL, PCK CRL), with their own windows. */
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "tdx_internal.h"

static int cn_contains(X509 *cert, const char *phrase)
{
    char cn[128] = "";
    ccg_x509_subject_cn(cert, cn, sizeof(cn));
    return strstr(cn, phrase) != NULL;
}

/* The leaf's role: QVL requires "SGX PCK Certificate" in a PCK's CN, "SGX TCB Signing" in the TCB
 * signer's; a CRL issuer chain starts at the PCK Platform or Processor CA. */
static ccg_result check_roles(STACK_OF(X509) *chain, tdx_chain_role role, const char *what)
{
    ccg_result result = CCG_FAILURE;
    int n = sk_X509_num(chain);
    X509 *leaf = sk_X509_value(chain, 0);
    switch (role) {
    case TDX_CHAIN_PCK:
        CCG_ENSURE_MSG(n == 3 && cn_contains(leaf, "SGX PCK Certificate") && X509_check_ca(leaf) == 0 &&
                           (cn_contains(sk_X509_value(chain, 1), "SGX PCK Platform CA") ||
                            cn_contains(sk_X509_value(chain, 1), "SGX PCK Processor CA")),
                       CCG_R_TDX_CERT_CHAIN_INVALID,
                       "%s: not PCK certificate, PCK Platform/Processor CA, root (%d certificates)", what, n);
        break;
    case TDX_CHAIN_TCB_SIGNING:
        CCG_ENSURE_MSG(n == 2 && cn_contains(leaf, "SGX TCB Signing") && X509_check_ca(leaf) == 0,
                       CCG_R_TDX_CERT_CHAIN_INVALID, "%s: not TCB signing certificate, root (%d certificates)",
                       what, n);
        break;
    case TDX_CHAIN_CRL_ISSUER:
        CCG_ENSURE_MSG(n == 2 && X509_check_ca(leaf) != 0 &&
                           (cn_contains(leaf, "SGX PCK Platform CA") || cn_contains(leaf, "SGX PCK Processor CA")),
                       CCG_R_TDX_CERT_CHAIN_INVALID, "%s: not PCK Platform/Processor CA, root (%d certificates)",
                       what, n);
        break;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result verify_error(X509_STORE_CTX *ctx, const char *what)
{
    ccg_result result = CCG_FAILURE;
    int err = X509_STORE_CTX_get_error(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    char cn[128] = "?";
    if (cert != NULL) {
        ccg_x509_subject_cn(cert, cn, sizeof(cn));
    }
    ccg_reason reason = CCG_R_TDX_CERT_CHAIN_INVALID;
    if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
        reason = CCG_R_TDX_CERT_EXPIRED;
    } else if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
        reason = CCG_R_TDX_CERT_NOT_YET_VALID;
    }
    CCG_BAIL(reason, "%s chain: %s: %s", what, cn, X509_verify_cert_error_string(err));
cleanup:
    return result;
}

ccg_result tdx_chain_verify(const ccg_tdx_verifier *v, const uint8_t *pem, size_t len, tdx_chain_role role,
                            const char *what, ccg_time now, STACK_OF(X509) **out)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    *out = NULL;
    CCG_ENSURE_ALLOC(chain);
    if (ccg_failed(ccg_x509_load_bundle(pem, len, chain))) {
        CCG_BAIL(CCG_R_TDX_CERT_CHAIN_INVALID, "%s chain: %s", what, ccg_error_last()->message);
    }
    X509 *root = sk_X509_value(chain, sk_X509_num(chain) - 1);
    CCG_ENSURE_MSG(sk_X509_num(chain) >= 2 && ccg_x509_is_self_issued(root), CCG_R_TDX_CERT_CHAIN_INVALID,
                   "%s chain does not end at a self-signed root", what);
    CCG_ENSURE_MSG(tdx_root_trusted(v, X509_get0_pubkey(root)), CCG_R_TDX_UNTRUSTED_ROOT,
                   "%s chain ends at a root that is not the Intel SGX Root CA (nor a named test root)", what);
    CCG_TRY(check_roles(chain, role, what));
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    CCG_ENSURE_ALLOC(store);
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(X509_STORE_add_cert(store, root) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_STORE_CTX_init(ctx, store, sk_X509_value(chain, 0), chain) == 1, CCG_R_INTERNAL_CRYPTO);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT | X509_V_FLAG_CHECK_SS_SIGNATURE);
    if (X509_verify_cert(ctx) != 1) {
        CCG_TRY(verify_error(ctx, what));
    }
    STACK_OF(X509) *built = X509_STORE_CTX_get0_chain(ctx);
    CCG_ENSURE_MSG(built != NULL && sk_X509_num(built) == sk_X509_num(chain), CCG_R_TDX_CERT_CHAIN_INVALID,
                   "%s chain: the verified path is not the supplied chain", what);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        CCG_ENSURE_MSG(X509_cmp(sk_X509_value(built, i), sk_X509_value(chain, i)) == 0, CCG_R_TDX_CERT_CHAIN_INVALID,
                       "%s chain: certificate %d is out of order", what, i);
    }
    *out = chain;
    chain = NULL;
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_pop_free(chain, X509_free);
    return result;
}

ccg_result tdx_crl_check(X509_CRL *crl, X509 *issuer, const char *what, ccg_time now, X509 *cert,
                         ccg_reason revoked_reason)
{
    ccg_result result = CCG_FAILURE;
    ccg_time last = 0, next = 0;
    X509_REVOKED *entry = NULL;
    char cn[128] = "";
    CCG_ENSURE_MSG(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) == 0,
                   CCG_R_TDX_CRL_INVALID, "%s is not issued by the certificate it must come from", what);
    CCG_ENSURE_MSG(X509_CRL_verify(crl, X509_get0_pubkey(issuer)) == 1, CCG_R_TDX_CRL_INVALID,
                   "%s signature does not verify under its issuer's key", what);
    CCG_ENSURE_MSG(X509_CRL_get0_lastUpdate(crl) != NULL && X509_CRL_get0_nextUpdate(crl) != NULL,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "%s has no thisUpdate or nextUpdate", what);
    CCG_TRY(ccg_x509_time(X509_CRL_get0_lastUpdate(crl), &last));
    CCG_TRY(ccg_x509_time(X509_CRL_get0_nextUpdate(crl), &next));
    CCG_ENSURE_MSG(now >= last, CCG_R_COLLATERAL_NOT_YET_VALID, "%s is not valid before its thisUpdate", what);
    CCG_ENSURE_MSG(now <= next, CCG_R_COLLATERAL_EXPIRED, "%s expired at its nextUpdate", what);
    if (cert != NULL && X509_CRL_get0_by_cert(crl, &entry, cert) == 1) {
        ccg_x509_subject_cn(cert, cn, sizeof(cn));
        CCG_BAIL(revoked_reason, "%s lists %s", what, cn);
    }
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    return result;
}
