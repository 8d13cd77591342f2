/* The SEV-SNP verifier: parse, chain, binding, signature, appraisal; every failure is a reason. */
#include "ccgate/snp_verify.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "snp_binding.h"
#include "snp_chain.h"
#include "snp_chain_cache.h"
#include "snp_signature.h"

struct ccg_snp_verifier {
    snp_root_set roots;
    snp_chain_cache cache;
};

ccg_result ccg_snp_verifier_new(ccg_snp_verifier **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_verifier *v = calloc(1, sizeof(*v));
    CCG_ENSURE_ALLOC(v);
    snp_chain_cache_init(&v->cache);
    CCG_TRY(snp_roots_load_pinned(&v->roots));
    *out = v;
    v = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_verifier_free(v);
    return result;
}

void ccg_snp_verifier_free(ccg_snp_verifier *v)
{
    if (v == NULL) {
        return;
    }
    snp_roots_free(&v->roots);
    snp_chain_cache_free(&v->cache);
    free(v);
}

ccg_result ccg_snp_verifier_add_root(ccg_snp_verifier *v, ccg_snp_product product, X509 *root)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "a root must name its product");
    CCG_ENSURE_MSG(ccg_x509_is_self_issued(root) && X509_verify(root, X509_get0_pubkey(root)) == 1,
                   CCG_R_CERT_UNTRUSTED_ROOT, "an added root must be self-signed");
    CCG_TRY(snp_roots_add(&v->roots, product, root));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void set_digest(ccg_decision *d, const uint8_t *report, size_t len)
{
    uint8_t digest[48];
    unsigned int n = 0;
    if (EVP_Digest(report, len, digest, &n, EVP_sha384(), NULL) == 1 && n == sizeof(digest)) {
        memcpy(d->evidence_digest, "sha384:", 7);
        ccg_hex_encode(digest, sizeof(digest), d->evidence_digest + 7);
    }
}

/* Chain facts from the cache, or built and cached when every link verified. */
static ccg_result chain_facts(ccg_snp_verifier *v, const ccg_snp_collateral *col, ccg_snp_signer signer,
                              ccg_snp_product hint, snp_chain_facts *facts, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    uint8_t key[32];
    size_t before = d->reasons.count;
    CCG_TRY(snp_chain_cache_key(col, signer, hint, key));
    if (snp_chain_cache_get(&v->cache, key, facts)) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(snp_chain_build(&v->roots, col, signer, hint, facts, d));
    if (facts->chain_ok && facts->leaf_key != NULL && d->reasons.count == before) {
        snp_chain_cache_put(&v->cache, key, facts);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int signer_allowed(const ccg_snp_policy *p, ccg_snp_signer s)
{
    return (s == CCG_SNP_SIGNER_VCEK && p->allow_vcek) || (s == CCG_SNP_SIGNER_VLEK && p->allow_vlek);
}

/* The policy's reference-value set: supplied at the minimum version, and the MEASUREMENT in it. */
static void check_refvals(const ccg_snp_policy *p, const ccg_snp_verify_opts *opts, const ccg_snp_report *r,
                          ccg_time now, ccg_decision *d)
{
    const ccg_refval_set *set = opts != NULL ? opts->refvals : NULL;
    if (!p->has_refval_set) {
        return;
    }
    if (set == NULL || strcmp(set->set_id, p->refval_set_id) != 0 || set->version < p->refval_min_version) {
        json_t *det = json_pack("{s:s, s:I}", "set_id", p->refval_set_id, "minimum_version",
                                (json_int_t)p->refval_min_version);
        if (det != NULL && set != NULL) {
            json_object_set_new(det, "supplied_set_id", json_string(set->set_id));
            json_object_set_new(det, "supplied_version", json_integer(set->version));
        }
        ccg_decision_deny(d, CCG_R_REFVAL_SET_MISSING, det);
        return;
    }
    (void)ccg_refval_set_match(set, "snp", r->measurement, sizeof(r->measurement), opts->issuers, now, d);
}

static ccg_result verify_parsed(ccg_snp_verifier *v, const uint8_t *bytes, const ccg_snp_report *r,
                                const ccg_snp_collateral *col, const ccg_snp_policy *p,
                                const ccg_snp_verify_opts *opts, ccg_time now, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    snp_chain_facts facts;
    json_t *tcb = NULL;
    ccg_snp_signer signer = ccg_snp_report_signer(r);
    ccg_snp_product hint = ccg_snp_product_from_cpuid(r);
    memset(&facts, 0, sizeof(facts));

    if (signer != CCG_SNP_SIGNER_VCEK && signer != CCG_SNP_SIGNER_VLEK) {
        ccg_decision_deny(d, CCG_R_SNP_SIGNING_KEY_UNSUPPORTED, json_pack("{s:i}", "signing_key", (int)signer));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (r->vmpl == CCG_SNP_VMPL_HOST_REQUESTED) {
        /* The firmware zero-fills REPORT_DATA of a host-requested report: it answers no guest's
         * challenge, so no policy accepts it. */
        ccg_decision_deny(d, CCG_R_SNP_HOST_REQUESTED_REPORT, json_pack("{s:I}", "vmpl", (json_int_t)r->vmpl));
    }
    if (!signer_allowed(p, signer)) {
        ccg_decision_deny(d, CCG_R_SNP_SIGNER_NOT_ALLOWED,
                          json_pack("{s:s}", "signing_key", signer == CCG_SNP_SIGNER_VLEK ? "vlek" : "vcek"));
    }
    if (r->version >= 3 && hint == CCG_SNP_PRODUCT_UNKNOWN) {
        ccg_decision_deny(d, CCG_R_SNP_PRODUCT_UNKNOWN,
                          json_pack("{s:i, s:i}", "cpuid_family", r->cpuid_fam_id, "cpuid_model", r->cpuid_mod_id));
    }
    CCG_TRY(chain_facts(v, col, signer, hint, &facts, d));
    snp_chain_check_time(&facts, now, d);
    if (p->require_crl && col->crl == NULL) {
        ccg_decision_deny(d, CCG_R_SNP_CRL_REQUIRED, json_pack("{s:s}", "policy_id", p->policy_id));
    }
    snp_binding_check(&facts, r, p, d);
    if (facts.leaf_key != NULL) {
        int sig = snp_signature_verify(facts.leaf_key, bytes, r);
        CCG_ENSURE_MSG(sig >= 0, CCG_R_INTERNAL_CRYPTO, "report signature check failed to run");
        if (sig == 0) {
            /* With MASK_CHIP_KEY the firmware left the signature zero: nothing vouches for the report. */
            ccg_decision_deny(d, CCG_R_SNP_SIGNATURE_INVALID,
                              json_pack("{s:s, s:b}", "signing_key", signer == CCG_SNP_SIGNER_VLEK ? "vlek" : "vcek",
                                        "mask_chip_key", ccg_snp_report_mask_chip_key(r)));
        }
    }
    CCG_ENSURE(ccg_snp_appraise(p, r, facts.product, &d->reasons) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    check_refvals(p, opts, r, now, d);
    tcb = ccg_snp_tcb_appraise(p, r, facts.product, opts != NULL ? opts->tcb_baselines : NULL,
                               opts != NULL ? opts->tcb_issuers : NULL, now, d);
    json_decref(d->claims);
    d->claims = ccg_snp_claims_json(r, facts.product);
    CCG_ENSURE(tcb != NULL && d->claims != NULL && json_object_update(d->claims, tcb) == 0,
               CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    json_decref(tcb);
    snp_chain_facts_free(&facts);
    return result;
}

ccg_result ccg_snp_verify(ccg_snp_verifier *v, const uint8_t *report, size_t report_len,
                          const ccg_snp_collateral *collateral, const ccg_snp_policy *policy, ccg_time now,
                          ccg_decision *out)
{
    return ccg_snp_verify_ex(v, report, report_len, collateral, policy, NULL, now, out);
}

ccg_result ccg_snp_verify_ex(ccg_snp_verifier *v, const uint8_t *report, size_t report_len,
                             const ccg_snp_collateral *collateral, const ccg_snp_policy *policy,
                             const ccg_snp_verify_opts *opts, ccg_time now, ccg_decision *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_policy *fallback = NULL;
    ccg_snp_report parsed;
    ccg_decision_init(out, "snp");
    ccg_error_clear();
    CCG_ENSURE_MSG(v != NULL && collateral != NULL && collateral->certs != NULL && report != NULL,
                   CCG_R_USAGE_INVALID, "verifier, report and collateral are required");
    if (policy == NULL) {
        CCG_TRY(ccg_snp_policy_default(&fallback));
        policy = fallback;
    }
    snprintf(out->policy_id, sizeof(out->policy_id), "%s", policy->policy_id);
    out->policy_version = policy->version;
    set_digest(out, report, report_len);
    CCG_TRY(ccg_snp_report_parse(report, report_len, &parsed));
    CCG_TRY(verify_parsed(v, report, &parsed, collateral, policy, opts, now, out));
    out->allow = out->reasons.count == 0;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_decision_deny_last_error(out);
        out->allow = 0;
    }
    ccg_snp_policy_free(fallback);
    return result;
}
