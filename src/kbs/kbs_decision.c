/* The release decision: SNP evidence bound to its challenge, appraised under a release policy. */
#include "ccgate/kbs.h"

#include <stdio.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_verify.h"

ccg_result ccg_kbs_policy_evaluate(const ccg_kbs_policy *p, const char *tee, const ccg_kbs_snp_evidence *ev,
                                   const char *nonce, const ccg_jwk *tee_pubkey, const char *additional_evidence,
                                   const ccg_snp_verify_opts *opts, const ccg_snp_kds_config *kds, ccg_time now,
                                   ccg_decision *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_verifier *verifier = NULL;
    ccg_snp_collateral col;
    int col_init = 0;
    ccg_snp_policy bound;

    ccg_decision_init(out, "snp");
    snprintf(out->policy_id, sizeof(out->policy_id), "%s", p->policy_id);
    out->policy_version = p->version;
    if (strcmp(tee, "snp") != 0 || !p->allow_snp) {
        ccg_decision_deny(out, CCG_R_KBS_TEE_NOT_ALLOWED, json_pack("{s:s}", "tee", tee));
        return CCG_SUCCESS;
    }
    if (p->gpu_required) {
        /* GPU evidence cannot be verified yet: refuse rather than release without it. */
        ccg_decision_deny(out, CCG_R_KBS_GPU_REQUIRED, NULL);
        return CCG_SUCCESS;
    }
    /* The policy copy binds REPORT_DATA to this challenge; its arrays stay the policy's. */
    bound = *p->snp;
    CCG_TRY(ccg_jose_kbs_report_data("sha384", nonce, tee_pubkey, additional_evidence, bound.report_data));
    bound.has_report_data = 1;

    CCG_TRY(ccg_snp_verifier_new(&verifier));
    for (size_t i = 0; i < p->root_count; i++) {
        CCG_TRY(ccg_snp_verifier_add_root(verifier, p->roots[i].product, p->roots[i].root));
    }
    CCG_TRY(ccg_snp_collateral_init(&col));
    col_init = 1;
    for (size_t i = 0; i < ev->cert_count; i++) {
        CCG_TRY(ccg_snp_collateral_add_certs(&col, ev->certs[i], ev->cert_lens[i]));
    }
    if (kds != NULL && (ev->cert_count == 0 || p->snp->require_crl)) {
        /* The guest sent no certificates (or the policy wants a CRL): the collateral cache, or AMD
         * KDS when fetching is allowed. A miss fails closed with its collateral.* reason. */
        ccg_snp_collateral extra;
        CCG_TRY(ccg_snp_collateral_init(&extra));
        result = ccg_snp_collateral_for_report(kds, CCG_SNP_PRODUCT_UNKNOWN, ev->report, CCG_SNP_REPORT_SIZE,
                                               p->snp->require_crl, &extra);
        if (ccg_ok(result) && ev->cert_count == 0) {
            for (int i = 0; i < sk_X509_num(extra.certs); i++) {
                if (ccg_failed(ccg_snp_collateral_add_x509(&col, sk_X509_value(extra.certs, i)))) {
                    result = CCG_FAILURE;
                    break;
                }
            }
        }
        if (ccg_ok(result) && extra.crl != NULL) {
            X509_CRL_up_ref(extra.crl);
            col.crl = extra.crl;
        }
        ccg_snp_collateral_free(&extra);
        CCG_TRY(result);
        result = CCG_FAILURE;
    }
    /* A report that cannot be parsed is a denial with its reason in out, not an internal error. */
    if (ccg_failed(ccg_snp_verify_ex(verifier, ev->report, CCG_SNP_REPORT_SIZE, &col, &bound, opts, now, out))) {
        ccg_error_clear(); /* recorded in out->reasons */
    }
    /* The verifier names its own policy; the release policy is what was applied. */
    snprintf(out->policy_id, sizeof(out->policy_id), "%s", p->policy_id);
    out->policy_version = p->version;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        /* Unparseable collateral or an internal failure: a denial that names it. */
        ccg_decision_deny_last_error(out);
        result = CCG_SUCCESS;
    }
    if (col_init) {
        ccg_snp_collateral_free(&col);
    }
    ccg_snp_verifier_free(verifier);
    return result;
}
