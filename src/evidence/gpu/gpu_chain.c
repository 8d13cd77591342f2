/* The GPU device certificate chain, as NVML returns it: five PEM certificates, leaf first
 * (GSP FMC LF, GSP BROM, provisioner ICA, GHxxx/GBxxx Identity, NVIDIA Device Identity CA).
 *
 * The chain's own root is dropped. The other four are the leaf and untrusted intermediates for
 * OpenSSL's X509_verify_cert, with a store holding only the pinned NVIDIA root (and test roots added
 * explicitly) and the caller's `now` as the verification time. The path OpenSSL builds must be
 * exactly the supplied certificates, in order, ending at a trusted root. */
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/x509_vfy.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "gpu_internal.h"

void gpu_chain_facts_clear(gpu_chain_facts *f)
{
    EVP_PKEY_free(f->leaf_key);
    memset(f, 0, sizeof(*f));
}

static json_t *cert_details(X509 *cert, int depth)
{
    char *subject = cert != NULL ? ccg_x509_name_text(X509_get_subject_name(cert)) : NULL;
    json_t *d = json_pack("{s:s, s:i}", "subject", subject ? subject : "?", "depth", depth);
    free(subject);
    return d;
}

static int is_p384(EVP_PKEY *key)
{
    char group[32] = "";
    size_t len = 0;
    return key != NULL && EVP_PKEY_is_a(key, "EC") &&
           EVP_PKEY_get_group_name(key, group, sizeof(group), &len) == 1 && strcmp(group, "secp384r1") == 0;
}

/* Hopper and Blackwell identity CAs are named "NVIDIA GH100 Identity", "NVIDIA GB100 Identity". */
static ccg_gpu_arch arch_from_identity(X509 *identity)
{
    char cn[64] = "";
    ccg_x509_subject_cn(identity, cn, sizeof(cn));
    if (strncmp(cn, "NVIDIA GH", 9) == 0) {
        return CCG_GPU_ARCH_HOPPER;
    }
    if (strncmp(cn, "NVIDIA GB", 9) == 0) {
        return CCG_GPU_ARCH_BLACKWELL;
    }
    return CCG_GPU_ARCH_UNKNOWN;
}

static void serial_decimal(X509 *cert, char *out, size_t out_len)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *dec = bn != NULL ? BN_bn2dec(bn) : NULL;
    snprintf(out, out_len, "%s", dec != NULL && strlen(dec) < out_len ? dec : "");
    OPENSSL_free(dec);
    BN_free(bn);
}

/* Maps OpenSSL's verdict to the registry: time, trust anchor, or a broken link. */
static void deny_verify_error(X509_STORE_CTX *ctx, ccg_decision *d)
{
    int err = X509_STORE_CTX_get_error(ctx);
    int depth = X509_STORE_CTX_get_error_depth(ctx);
    X509 *cert = X509_STORE_CTX_get_current_cert(ctx);
    json_t *det = cert_details(cert, depth);
    ccg_reason reason = CCG_R_GPU_CERT_CHAIN_INVALID;
    json_object_set_new(det, "openssl", json_string(X509_verify_cert_error_string(err)));
    switch (err) {
    case X509_V_ERR_CERT_HAS_EXPIRED: reason = CCG_R_CERT_EXPIRED; break;
    case X509_V_ERR_CERT_NOT_YET_VALID: reason = CCG_R_CERT_NOT_YET_VALID; break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: reason = CCG_R_GPU_UNTRUSTED_ROOT; break;
    case X509_V_ERR_CERT_SIGNATURE_FAILURE:
        /* The top intermediate names a trusted root but is not signed by its key: a forged root. */
        if (depth == X509_STORE_CTX_get_num_untrusted(ctx) - 1) {
            reason = CCG_R_GPU_UNTRUSTED_ROOT;
        }
        break;
    default: break;
    }
    if (cert != NULL && (reason == CCG_R_CERT_EXPIRED || reason == CCG_R_CERT_NOT_YET_VALID)) {
        ccg_time nb = 0, na = 0;
        char b[32], a[32];
        if (ccg_ok(ccg_x509_validity(cert, &nb, &na))) {
            ccg_time_format_rfc3339(nb, b, sizeof(b));
            ccg_time_format_rfc3339(na, a, sizeof(a));
            json_object_set_new(det, "not_before", json_string(b));
            json_object_set_new(det, "not_after", json_string(a));
        }
    }
    ccg_error_clear();
    ccg_decision_deny(d, reason, det);
}

/* The verified path must be the supplied leaf and intermediates, in order, then a trusted root. */
static ccg_result check_path(ccg_gpu_verifier *v, X509_STORE_CTX *ctx, STACK_OF(X509) *certs,
                             gpu_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *path = X509_STORE_CTX_get0_chain(ctx);
    int path_len = path != NULL ? sk_X509_num(path) : 0;
    if (path_len != CCG_GPU_CHAIN_LENGTH) {
        ccg_decision_deny(d, CCG_R_GPU_CERT_CHAIN_INVALID, json_pack("{s:s, s:i}", "detail",
                                                                     "the verified path is not five certificates",
                                                                     "length", path_len));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    for (int i = 0; i < CCG_GPU_CHAIN_LENGTH - 1; i++) {
        if (X509_cmp(sk_X509_value(path, i), sk_X509_value(certs, i)) != 0) {
            json_t *det = cert_details(sk_X509_value(certs, i), i);
            json_object_set_new(det, "detail", json_string("the chain is not in leaf-to-root order"));
            ccg_decision_deny(d, CCG_R_GPU_CERT_CHAIN_INVALID, det);
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    for (int i = 0; i < path_len; i++) {
        ccg_time nb = 0, na = 0;
        CCG_TRY(ccg_x509_validity(sk_X509_value(path, i), &nb, &na));
        facts->not_before = i == 0 || nb > facts->not_before ? nb : facts->not_before;
        facts->not_after = i == 0 || na < facts->not_after ? na : facts->not_after;
    }
    snprintf(facts->root, sizeof(facts->root), "%s",
             X509_cmp(sk_X509_value(path, path_len - 1), v->pinned_root) == 0 ? "nvidia" : "test");
    facts->chain_ok = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result verify_links(ccg_gpu_verifier *v, STACK_OF(X509) *certs, ccg_time now, gpu_chain_facts *facts,
                               ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_ALLOC(untrusted);
    for (int i = 1; i < CCG_GPU_CHAIN_LENGTH - 1; i++) {
        CCG_ENSURE(sk_X509_push(untrusted, sk_X509_value(certs, i)) > 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    }
    CCG_ENSURE_OSSL(X509_STORE_CTX_init(ctx, v->store, sk_X509_value(certs, 0), untrusted) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
    if (X509_verify_cert(ctx) == 1) {
        CCG_TRY(check_path(v, ctx, certs, facts, d));
    } else {
        deny_verify_error(ctx, d);
    }
    ERR_clear_error();
    result = CCG_SUCCESS;
cleanup:
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    return result;
}

/* What the leaf and the identity CA say, whether or not the links verified. */
static ccg_result read_leaf(STACK_OF(X509) *certs, gpu_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    X509 *leaf = sk_X509_value(certs, 0);
    EVP_PKEY *key = X509_get0_pubkey(leaf);
    if (!is_p384(key)) {
        ccg_decision_deny(d, CCG_R_GPU_CERT_CHAIN_INVALID, cert_details(leaf, 0));
        facts->chain_ok = 0;
    } else {
        CCG_ENSURE_OSSL(EVP_PKEY_up_ref(key) == 1, CCG_R_INTERNAL_CRYPTO);
        facts->leaf_key = key;
    }
    facts->has_leaf_fwid = gpu_leaf_fwid(leaf, facts->leaf_fwid);
    serial_decimal(leaf, facts->ueid, sizeof(facts->ueid));
    if (sk_X509_num(certs) > 1) {
        ccg_x509_subject_cn(sk_X509_value(certs, 1), facts->hwmodel, sizeof(facts->hwmodel));
    }
    if (sk_X509_num(certs) >= CCG_GPU_CHAIN_LENGTH - 1) {
        facts->arch = arch_from_identity(sk_X509_value(certs, CCG_GPU_CHAIN_LENGTH - 2));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result gpu_chain_verify(ccg_gpu_verifier *v, const uint8_t *pem, size_t len, ccg_time now,
                            gpu_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *certs = sk_X509_new_null();
    memset(facts, 0, sizeof(*facts));
    CCG_ENSURE_ALLOC(certs);
    CCG_TRY(ccg_x509_load_bundle(pem, len, certs));
    int n = sk_X509_num(certs);
    if (n == 0) {
        ccg_decision_deny(d, CCG_R_GPU_CERT_CHAIN_INVALID, json_pack("{s:s}", "detail", "no certificates"));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(read_leaf(certs, facts, d));
    if (n != CCG_GPU_CHAIN_LENGTH) {
        ccg_decision_deny(d, CCG_R_GPU_CERT_CHAIN_INVALID,
                          json_pack("{s:s, s:i}", "detail", "the chain is not five certificates", "count", n));
    } else if (!ccg_x509_is_self_issued(sk_X509_value(certs, n - 1))) {
        ccg_decision_deny(d, CCG_R_GPU_CERT_CHAIN_INVALID,
                          json_pack("{s:s}", "detail", "the chain does not end in a self-issued root"));
    } else if (facts->leaf_key != NULL) {
        CCG_TRY(verify_links(v, certs, now, facts, d));
    }
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    return result;
}
