/* The SEV-SNP evidence verifier: report bytes plus collateral in, a decision out.
 *
 *   parse -> product -> chain (VCEK->ASK->ARK or VLEK->ASVK->ARK, CRL) -> VCEK extensions vs the report
 *         -> report signature -> policy appraisal
 *
 * Each stage that fails adds its reason and, where later stages can still run meaningfully, the
 * verifier goes on, so the decision lists every failed check. Verified chains are cached inside the
 * verifier (keyed by the certificates' and CRL's digests); the validity window is still checked
 * against `now` on every call. */
#ifndef CCGATE_SNP_VERIFY_H
#define CCGATE_SNP_VERIFY_H

#include <openssl/x509.h>

#include "ccgate/decision.h"
#include "ccgate/refvalue.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_report.h"
#include "ccgate/snp_tcb_baseline.h"
#include "ccgate/util.h"

typedef struct {
    STACK_OF(X509) *certs; /* VCEK or VLEK, ASK or ASVK, optionally ARKs: any order */
    X509_CRL *crl;         /* optional */
} ccg_snp_collateral;

CCG_MUST_CHECK ccg_result ccg_snp_collateral_init(ccg_snp_collateral *c);
void ccg_snp_collateral_free(ccg_snp_collateral *c);
/* Adds every certificate of a PEM bundle, or one DER certificate. */
CCG_MUST_CHECK ccg_result ccg_snp_collateral_add_certs(ccg_snp_collateral *c, const uint8_t *data, size_t len);
/* Adds one certificate already parsed (takes a reference). */
CCG_MUST_CHECK ccg_result ccg_snp_collateral_add_x509(ccg_snp_collateral *c, X509 *cert);
/* Sets the CRL from PEM or DER. */
CCG_MUST_CHECK ccg_result ccg_snp_collateral_set_crl(ccg_snp_collateral *c, const uint8_t *data, size_t len);

typedef struct ccg_snp_verifier ccg_snp_verifier;

/* A verifier trusting only the pinned AMD ARKs for Milan, Genoa and Turin. */
CCG_MUST_CHECK ccg_result ccg_snp_verifier_new(ccg_snp_verifier **out);
void ccg_snp_verifier_free(ccg_snp_verifier *v);
/* Trusts an extra self-signed root for one product (the emulator's test ARK). Only an explicit call
 * adds one; the pinned AMD roots are never replaced. */
CCG_MUST_CHECK ccg_result ccg_snp_verifier_add_root(ccg_snp_verifier *v, ccg_snp_product product, X509 *root);

/* Verifies one report. Always fills *out (initialised by this call). The result fails only when the
 * report cannot be parsed or an internal error occurs; the reason is then also in out->reasons.
 * A policy of NULL means the default policy. */
CCG_MUST_CHECK ccg_result ccg_snp_verify(ccg_snp_verifier *v, const uint8_t *report, size_t report_len,
                                         const ccg_snp_collateral *collateral, const ccg_snp_policy *policy,
                                         ccg_time now, ccg_decision *out);

/* Inputs beyond the report and policy. */
typedef struct {
    const ccg_refval_set *refvals;          /* the set a policy's "reference_values" names, or NULL */
    const ccg_refval_issuers *issuers;      /* issuers trusted to sign reference values */
    const ccg_snp_tcb_baselines *tcb_baselines; /* TCB baselines by product, or NULL (none) */
    const ccg_refval_issuers *tcb_issuers;  /* issuers trusted to sign TCB baselines */
} ccg_snp_verify_opts;

/* As ccg_snp_verify, with reference values and TCB baselines. A policy naming a set that opts does not
 * supply (by ID, at the policy's minimum version) is denied with refval.set_missing. The TCB status is
 * appraised against the baseline for the report's product (ccg_snp_tcb_appraise): a policy that
 * requires a baseline (the default) is denied with snp.tcb_baseline_missing when opts has none, so
 * ccg_snp_verify, which passes no opts, allows only under a policy with "tcb.require_baseline": false.
 * The claims carry "tcb_status", "advisories" and "tcb_baseline". */
CCG_MUST_CHECK ccg_result ccg_snp_verify_ex(ccg_snp_verifier *v, const uint8_t *report, size_t report_len,
                                            const ccg_snp_collateral *collateral, const ccg_snp_policy *policy,
                                            const ccg_snp_verify_opts *opts, ccg_time now, ccg_decision *out);

/* Claims of a parsed report as JSON (every field; TCBs decoded for the product). */
json_t *ccg_snp_claims_json(const ccg_snp_report *r, ccg_snp_product product);

#endif
