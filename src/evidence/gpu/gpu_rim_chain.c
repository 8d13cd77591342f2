/* The RIM's signing chain: the certificates of KeyInfo/X509Data, verified with OpenSSL against one
 * trusted root (the pinned NVIDIA RIM root unless a test root is named) at an explicit time. */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <xmlsec/base64.h>

#include "ccgate/x509util.h"
#include "gpu_rim_internal.h"

#define CERT_DER_MAX (16u << 10)

static xmlNodePtr child_element(xmlNodePtr parent, const char *name, const char *ns)
{
    for (xmlNodePtr c = parent != NULL ? parent->children : NULL; c != NULL; c = c->next) {
        if (gpu_rim_is_element(c, name, ns)) {
            return c;
        }
    }
    return NULL;
}

static ccg_result decode_cert(xmlNodePtr node, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    xmlChar *text = xmlNodeGetContent(node);
    uint8_t *der = NULL;
    xmlSecSize der_len = 0;
    CCG_ENSURE_ALLOC(text);
    size_t text_len = strlen((const char *)text);
    CCG_ENSURE_MSG(text_len <= CERT_DER_MAX * 2, CCG_R_GPU_RIM_MALFORMED, "an X509Certificate is too large");
    der = malloc(text_len / 4 * 3 + 4);
    CCG_ENSURE_ALLOC(der);
    CCG_ENSURE_MSG(xmlSecBase64Decode_ex(text, der, (xmlSecSize)(text_len / 4 * 3 + 4), &der_len) == 0 && der_len > 0,
                   CCG_R_GPU_RIM_MALFORMED, "an X509Certificate is not base64");
    const unsigned char *p = der;
    *out = d2i_X509(NULL, &p, (long)der_len);
    CCG_ENSURE_MSG(*out != NULL && p == der + der_len, CCG_R_GPU_RIM_MALFORMED,
                   "an X509Certificate is not one DER certificate");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && *out != NULL) {
        X509_free(*out);
        *out = NULL;
    }
    ERR_clear_error();
    free(der);
    xmlFree(text);
    return result;
}

/* Signature/KeyInfo/X509Data/X509Certificate*, in document order (the signer first). */
static ccg_result collect_certs(xmlNodePtr signature, STACK_OF(X509) *out)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = NULL;
    xmlNodePtr key_info = child_element(signature, "KeyInfo", GPU_RIM_NS_DSIG);
    xmlNodePtr data = child_element(key_info, "X509Data", GPU_RIM_NS_DSIG);
    CCG_ENSURE_MSG(data != NULL, CCG_R_GPU_RIM_CHAIN_INVALID, "the RIM's signature has no KeyInfo/X509Data");
    for (xmlNodePtr c = data->children; c != NULL; c = c->next) {
        if (!gpu_rim_is_element(c, "X509Certificate", GPU_RIM_NS_DSIG)) {
            continue;
        }
        CCG_ENSURE_MSG(sk_X509_num(out) < CCG_GPU_RIM_MAX_CERTS, CCG_R_GPU_RIM_CHAIN_INVALID,
                       "the RIM carries more than %d certificates", CCG_GPU_RIM_MAX_CERTS);
        CCG_TRY(decode_cert(c, &cert));
        CCG_ENSURE(sk_X509_push(out, cert) > 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        cert = NULL;
    }
    CCG_ENSURE_MSG(sk_X509_num(out) > 0, CCG_R_GPU_RIM_CHAIN_INVALID, "the RIM's X509Data holds no certificate");
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    return result;
}

static int is_p384(EVP_PKEY *key)
{
    char group[32] = "";
    size_t len = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 && strcmp(group, "secp384r1") == 0;
}

/* The signer must be an end-entity certificate for signatures, with a P-384 key. */
static ccg_result check_signer(X509 *signer)
{
    ccg_result result = CCG_FAILURE;
    uint32_t ku = X509_get_key_usage(signer);
    CCG_ENSURE_MSG(X509_check_ca(signer) == 0, CCG_R_GPU_RIM_CHAIN_INVALID, "the RIM signer is a CA certificate");
    CCG_ENSURE_MSG(ku == UINT32_MAX || (ku & KU_DIGITAL_SIGNATURE) != 0, CCG_R_GPU_RIM_CHAIN_INVALID,
                   "the RIM signer's key usage does not allow digital signatures");
    CCG_ENSURE_MSG(is_p384(X509_get0_pubkey(signer)), CCG_R_GPU_RIM_CHAIN_INVALID,
                   "the RIM signer's key is not ECDSA P-384");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_reason reason_of(int err)
{
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
        return CCG_R_GPU_RIM_CERT_EXPIRED;
    case X509_V_ERR_CERT_NOT_YET_VALID:
        return CCG_R_GPU_RIM_CERT_NOT_YET_VALID;
    default:
        return CCG_R_GPU_RIM_CHAIN_INVALID;
    }
}

static ccg_result verify_with_openssl(X509 *signer, STACK_OF(X509) *others, X509 *root, ccg_time now,
                                      STACK_OF(X509) **chain)
{
    ccg_result result = CCG_FAILURE;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    CCG_ENSURE_ALLOC(store);
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(X509_STORE_add_cert(store, root) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(X509_STORE_CTX_init(ctx, store, signer, others) == 1, CCG_R_INTERNAL_CRYPTO);
    /* The explicit time replaces the wall clock; no partial chains: the root is the only anchor. */
    X509_VERIFY_PARAM *param = X509_STORE_CTX_get0_param(ctx);
    X509_VERIFY_PARAM_set_time(param, (time_t)now);
    X509_VERIFY_PARAM_set_depth(param, CCG_GPU_RIM_MAX_CERTS);
    if (X509_verify_cert(ctx) != 1) {
        int err = X509_STORE_CTX_get_error(ctx);
        X509 *at = X509_STORE_CTX_get_current_cert(ctx);
        char *subject = at != NULL ? ccg_x509_name_text(X509_get_subject_name(at)) : NULL;
        ccg_error_set(reason_of(err), __FILE__, __LINE__, "RIM signing chain: %s (at %s)",
                      X509_verify_cert_error_string(err), subject != NULL ? subject : "?");
        free(subject);
        ERR_clear_error();
        goto cleanup;
    }
    *chain = X509_STORE_CTX_get1_chain(ctx);
    CCG_ENSURE_ALLOC(*chain);
    CCG_ENSURE_MSG(X509_cmp(sk_X509_value(*chain, sk_X509_num(*chain) - 1), root) == 0, CCG_R_GPU_RIM_CHAIN_INVALID,
                   "the RIM signing chain does not end at the trusted root");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && *chain != NULL) {
        sk_X509_pop_free(*chain, X509_free);
        *chain = NULL;
    }
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return result;
}

ccg_result gpu_rim_chain_verify(xmlNodePtr signature, X509 *root, ccg_time now, STACK_OF(X509) **chain)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *signer = NULL;
    *chain = NULL;
    CCG_ENSURE_ALLOC(certs);
    CCG_TRY(collect_certs(signature, certs));
    /* The first certificate is the signer; the rest (the document's own root included) are only
     * candidates for intermediates: the trusted root comes from the caller. */
    signer = sk_X509_shift(certs);
    CCG_TRY(check_signer(signer));
    CCG_TRY(verify_with_openssl(signer, certs, root, now, chain));
    result = CCG_SUCCESS;
cleanup:
    X509_free(signer);
    sk_X509_pop_free(certs, X509_free);
    return result;
}
