/* The TDX half of the broker (kbs_tdx.c): Trustee's TDX evidence appraised by the TDX verifier with the
 * broker's collateral and test roots, REPORT_DATA bound to the challenge exactly as for SNP, the event
 * log replayed when sent (docs/kbs.md, "TDX"). */
#ifndef CCGATE_KBS_TDX_H
#define CCGATE_KBS_TDX_H

#include "ccgate/kbs.h"
#include "ccgate/refvalue.h"
#include "ccgate/tdx_collateral_store.h"

/* The verifier (trusting Intel's root and the configured test roots), and where collateral comes from.
 * Thread-safe. */
typedef struct kbs_tdx kbs_tdx;

/* cfg NULL: no collateral, no test roots. A test root that cannot be read is kbs.config_invalid. */
CCG_MUST_CHECK ccg_result kbs_tdx_new(const ccg_kbs_tdx_config *cfg, kbs_tdx **out);
void kbs_tdx_free(kbs_tdx *t);
/* Collateral uploaded through the admin API (kbs_collateral_lookup): consulted before the configured
 * file and directory (ccg_tdx_collateral_from_lookup). */
void kbs_tdx_set_lookup(kbs_tdx *t, ccg_tdx_collateral_lookup lookup, void *ctx);

/* The CPU part of a decision for a "tdx" session under p, into d (initialised here): tdx allowed by p
 * (kbs.tee_not_allowed), the event log parsed (its tdx.* code), the collateral (collateral.missing,
 * collateral.expired naming the item), then ccg_tdx_verify with p's TDX policy, REPORT_DATA =
 * ccg_jose_kbs_report_data("sha384", nonce, tee_pubkey, additional_evidence) and the set p's TDX policy
 * names (refvals, may be NULL). d's claims gain "tcb_status" and "advisories" (the converged status and
 * advisory IDs, for tokens and audit records). Never fails: problems are reasons in d. */
void kbs_tdx_evaluate(kbs_tdx *t, const ccg_kbs_policy *p, const ccg_kbs_tdx_evidence *ev, const char *nonce,
                      const ccg_jwk *tee_pubkey, const char *additional_evidence, const ccg_refval_set *refvals,
                      const ccg_refval_issuers *issuers, ccg_time now, ccg_decision *d);

#endif
