/* The SEV-SNP endorsement chain: select the certificates from an unordered bundle, verify each link
 * and the CRL, and record what the chain establishes. Time is applied separately
 * (snp_chain_check_time) so that a cached chain is still checked against every `now`. */
#include "snp_chain.h"

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"

static json_t *cert_details(X509 *cert)
{
    char *subject = ccg_x509_name_text(X509_get_subject_name(cert));
    char *issuer = ccg_x509_name_text(X509_get_issuer_name(cert));
    json_t *d = json_pack("{s:s, s:s}", "subject", subject ? subject : "?", "issuer", issuer ? issuer : "?");
    free(subject);
    free(issuer);
    return d;
}

static int is_p384_key(EVP_PKEY *key)
{
    char group[32] = "";
    size_t len = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 && strcmp(group, "secp384r1") == 0;
}

static int has_ec_key(X509 *cert)
{
    EVP_PKEY *key = X509_get0_pubkey(cert);
    return key != NULL && EVP_PKEY_is_a(key, "EC");
}

/* The endorsement key: an EC certificate whose CN says VCEK or VLEK as the report asks. */
static X509 *select_leaf(const ccg_snp_collateral *col, ccg_snp_signer signer)
{
    const char *want = signer == CCG_SNP_SIGNER_VLEK ? "SEV-VLEK" : "SEV-VCEK";
    for (int i = 0; i < sk_X509_num(col->certs); i++) {
        X509 *c = sk_X509_value(col->certs, i);
        char cn[64];
        ccg_x509_subject_cn(c, cn, sizeof(cn));
        if (has_ec_key(c) && strcmp(cn, want) == 0) {
            return c;
        }
    }
    return NULL;
}

static X509 *select_issuer(const ccg_snp_collateral *col, X509 *child)
{
    for (int i = 0; i < sk_X509_num(col->certs); i++) {
        X509 *c = sk_X509_value(col->certs, i);
        if (c != child && !ccg_x509_is_self_issued(c) &&
            X509_NAME_cmp(X509_get_subject_name(c), X509_get_issuer_name(child)) == 0) {
            return c;
        }
    }
    return NULL;
}

/* AMD signs every link of the chain with RSASSA-PSS over SHA-384; anything else is not AMD's. */
static int amd_signature_algorithm(X509 *cert)
{
    int mdnid = NID_undef, pknid = NID_undef;
    return X509_get_signature_info(cert, &mdnid, &pknid, NULL, NULL) == 1 && pknid == NID_rsassaPss &&
           mdnid == NID_sha384;
}

static int signed_by(X509 *child, X509 *issuer)
{
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    int ok = key != NULL && amd_signature_algorithm(child) && X509_verify(child, key) == 1;
    ERR_clear_error();
    return ok;
}

/* The product named by the chain: productName, else the issuer's CN ("SEV-Milan", "SEV-VLEK-Genoa"). */
static ccg_snp_product product_from_chain(X509 *leaf, const ccg_snp_vcek_ext *ext)
{
    ccg_snp_product p = ccg_snp_product_from_name(ext->product_name);
    if (p == CCG_SNP_PRODUCT_UNKNOWN) {
        char cn[64] = "";
        X509_NAME_get_text_by_NID(X509_get_issuer_name(leaf), NID_commonName, cn, sizeof(cn));
        const char *name = strncmp(cn, "SEV-VLEK-", 9) == 0 ? cn + 9 : (strncmp(cn, "SEV-", 4) == 0 ? cn + 4 : "");
        p = ccg_snp_product_from_name(name);
    }
    return p;
}

static ccg_result record_window(snp_chain_facts *facts, X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    snp_cert_window *w = &facts->windows[facts->window_count];
    CCG_ENSURE(facts->window_count < SNP_CHAIN_MAX_CERTS, CCG_R_INTERNAL_ERROR);
    ccg_x509_subject_cn(cert, w->cn, sizeof(w->cn));
    CCG_TRY(ccg_x509_validity(cert, &w->not_before, &w->not_after));
    facts->window_count++;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Finds the trusted root that signed the intermediate, explaining precisely when none did. */
static X509 *find_root(const snp_root_set *roots, const ccg_snp_collateral *col, ccg_snp_product product,
                       X509 *intermediate, ccg_decision *d)
{
    int name_matched = 0;
    for (size_t i = 0; i < roots->count; i++) {
        X509 *root = roots->items[i].cert;
        if (roots->items[i].product != product ||
            X509_NAME_cmp(X509_get_subject_name(root), X509_get_issuer_name(intermediate)) != 0) {
            continue;
        }
        name_matched = 1;
        if (signed_by(intermediate, root)) {
            return root;
        }
    }
    for (size_t i = 0; i < roots->count; i++) {
        if (roots->items[i].product != product && signed_by(intermediate, roots->items[i].cert)) {
            json_t *det = cert_details(intermediate);
            json_object_set_new(det, "expected_product", json_string(ccg_snp_product_name(product)));
            json_object_set_new(det, "chain_product", json_string(ccg_snp_product_name(roots->items[i].product)));
            ccg_decision_deny(d, CCG_R_CERT_WRONG_PRODUCT, det);
            return NULL;
        }
    }
    /* Either way the chain does not end at a trusted root: a supplied self-signed root that verifies
     * the intermediate is foreign, and an intermediate that names a pinned root without being signed
     * by it (an emulator's, or a forged one) claims a root it does not have. */
    for (int i = 0; i < sk_X509_num(col->certs); i++) {
        X509 *c = sk_X509_value(col->certs, i);
        if (ccg_x509_is_self_issued(c) && signed_by(intermediate, c)) {
            json_t *det = cert_details(c);
            json_object_set_new(det, "product", json_string(ccg_snp_product_name(product)));
            ccg_decision_deny(d, CCG_R_CERT_UNTRUSTED_ROOT, det);
            return NULL;
        }
    }
    json_t *det = cert_details(intermediate);
    json_object_set_new(det, "product", json_string(ccg_snp_product_name(product)));
    json_object_set_new(det, "names_trusted_root_without_its_signature", json_boolean(name_matched));
    ccg_decision_deny(d, CCG_R_CERT_UNTRUSTED_ROOT, det);
    return NULL;
}

static ccg_result check_crl(X509_CRL *crl, X509 *root, X509 *intermediate, snp_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    X509_REVOKED *entry = NULL;
    EVP_PKEY *root_key = X509_get0_pubkey(root);
    int signed_ok = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(root)) == 0 && root_key != NULL &&
                    X509_CRL_verify(crl, root_key) == 1;
    ERR_clear_error();
    facts->has_crl = 1;
    CCG_TRY(ccg_x509_time(X509_CRL_get0_lastUpdate(crl), &facts->crl_last_update));
    if (X509_CRL_get0_nextUpdate(crl) != NULL) {
        CCG_TRY(ccg_x509_time(X509_CRL_get0_nextUpdate(crl), &facts->crl_next_update));
    }
    if (!signed_ok) {
        char *issuer = ccg_x509_name_text(X509_CRL_get_issuer(crl));
        ccg_decision_deny(d, CCG_R_CRL_SIGNATURE_INVALID, json_pack("{s:s}", "crl_issuer", issuer ? issuer : "?"));
        free(issuer);
        facts->chain_ok = 0;
    } else if (X509_CRL_get0_by_cert(crl, &entry, intermediate) == 1) {
        json_t *det = cert_details(intermediate);
        char *serial = NULL;
        BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(intermediate), NULL);
        if (bn != NULL && (serial = BN_bn2hex(bn)) != NULL) {
            json_object_set_new(det, "serial", json_string(serial));
        }
        OPENSSL_free(serial);
        BN_free(bn);
        ccg_decision_deny(d, CCG_R_CERT_REVOKED, det);
        facts->chain_ok = 0;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The product: the report's CPUID when present, checked against the chain's own product. */
static ccg_snp_product resolve_product(ccg_snp_product hint, X509 *leaf, const ccg_snp_vcek_ext *ext,
                                       ccg_decision *d)
{
    ccg_snp_product chain = product_from_chain(leaf, ext);
    if (hint != CCG_SNP_PRODUCT_UNKNOWN && chain != CCG_SNP_PRODUCT_UNKNOWN && hint != chain) {
        ccg_decision_deny(d, CCG_R_SNP_PRODUCT_MISMATCH,
                          json_pack("{s:s, s:s}", "report_product", ccg_snp_product_name(hint), "chain_product",
                                    ccg_snp_product_name(chain)));
        return CCG_SNP_PRODUCT_UNKNOWN;
    }
    ccg_snp_product p = hint != CCG_SNP_PRODUCT_UNKNOWN ? hint : chain;
    if (p == CCG_SNP_PRODUCT_UNKNOWN) {
        ccg_decision_deny(d, CCG_R_SNP_PRODUCT_UNKNOWN,
                          json_pack("{s:s}", "product_name", ext->product_name[0] ? ext->product_name : "(none)"));
    }
    return p;
}

static ccg_result check_links(const snp_root_set *roots, const ccg_snp_collateral *col, X509 *leaf,
                              snp_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    X509 *intermediate = select_issuer(col, leaf);
    X509 *root = NULL;
    if (intermediate == NULL) {
        json_t *det = cert_details(leaf);
        json_object_set_new(det, "missing", json_string(facts->signer == CCG_SNP_SIGNER_VLEK ? "ASVK" : "ASK"));
        ccg_decision_deny(d, CCG_R_CERT_CHAIN_INCOMPLETE, det);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(record_window(facts, intermediate));
    int leaf_ok = signed_by(leaf, intermediate);
    if (!leaf_ok) {
        ccg_decision_deny(d, CCG_R_CERT_SIGNATURE_INVALID, cert_details(leaf));
    }
    root = find_root(roots, col, facts->product, intermediate, d);
    if (root != NULL) {
        CCG_TRY(record_window(facts, root));
        facts->chain_ok = leaf_ok;
        if (col->crl != NULL) {
            CCG_TRY(check_crl(col->crl, root, intermediate, facts, d));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result snp_chain_build(const snp_root_set *roots, const ccg_snp_collateral *col, ccg_snp_signer signer,
                           ccg_snp_product product_hint, snp_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    X509 *leaf = NULL;
    memset(facts, 0, sizeof(*facts));
    facts->signer = signer;
    leaf = select_leaf(col, signer);
    if (leaf == NULL) {
        ccg_decision_deny(d, CCG_R_COLLATERAL_MISSING,
                          json_pack("{s:s}", "missing", signer == CCG_SNP_SIGNER_VLEK ? "VLEK" : "VCEK"));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (ccg_failed(ccg_snp_vcek_ext_parse(leaf, &facts->ext))) {
        ccg_decision_deny_last_error(d);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    facts->product = resolve_product(product_hint, leaf, &facts->ext, d);
    if (!is_p384_key(X509_get0_pubkey(leaf))) {
        ccg_decision_deny(d, CCG_R_SNP_VCEK_KEY_INVALID, cert_details(leaf));
    } else {
        facts->leaf_key = X509_get0_pubkey(leaf);
        CCG_ENSURE_OSSL(EVP_PKEY_up_ref(facts->leaf_key) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_TRY(record_window(facts, leaf));
    if (facts->product != CCG_SNP_PRODUCT_UNKNOWN) {
        CCG_TRY(check_links(roots, col, leaf, facts, d));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void snp_chain_check_time(const snp_chain_facts *facts, ccg_time now, ccg_decision *d)
{
    char nb[32], na[32], at[32];
    ccg_time_format_rfc3339(now, at, sizeof(at));
    for (size_t i = 0; i < facts->window_count; i++) {
        const snp_cert_window *w = &facts->windows[i];
        if (now < w->not_before || now > w->not_after) {
            ccg_time_format_rfc3339(w->not_before, nb, sizeof(nb));
            ccg_time_format_rfc3339(w->not_after, na, sizeof(na));
            ccg_decision_deny(d, now < w->not_before ? CCG_R_CERT_NOT_YET_VALID : CCG_R_CERT_EXPIRED,
                              json_pack("{s:s, s:s, s:s, s:s}", "certificate", w->cn, "not_before", nb, "not_after",
                                        na, "now", at));
        }
    }
    if (facts->has_crl) {
        ccg_time_format_rfc3339(facts->crl_last_update, nb, sizeof(nb));
        if (now < facts->crl_last_update) {
            ccg_decision_deny(d, CCG_R_CRL_NOT_YET_VALID, json_pack("{s:s, s:s}", "last_update", nb, "now", at));
        }
        if (facts->crl_next_update != 0 && now > facts->crl_next_update) {
            ccg_time_format_rfc3339(facts->crl_next_update, na, sizeof(na));
            ccg_decision_deny(d, CCG_R_CRL_EXPIRED, json_pack("{s:s, s:s}", "next_update", na, "now", at));
        }
    }
}

void snp_chain_facts_free(snp_chain_facts *facts)
{
    EVP_PKEY_free(facts->leaf_key);
    memset(facts, 0, sizeof(*facts));
}

void snp_chain_facts_copy(snp_chain_facts *dst, const snp_chain_facts *src)
{
    *dst = *src;
    if (dst->leaf_key != NULL && EVP_PKEY_up_ref(dst->leaf_key) != 1) {
        dst->leaf_key = NULL;
    }
}
