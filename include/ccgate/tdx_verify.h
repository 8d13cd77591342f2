/* The Intel TDX quote verifier (docs/tdx-quote.md): Intel's QVL order, every check with its own
 * reason, and the TDX policy (docs/tdx-policy.md) applied to the verified TD.
 *
 * Every verification takes an explicit time. The Intel SGX Root CA is pinned by its key; a test root
 * is trusted only when it is added to the verifier by name (ccg_tdx_verifier_add_test_root). */
#ifndef CCGATE_TDX_VERIFY_H
#define CCGATE_TDX_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "ccgate/decision.h"
#include "ccgate/result.h"
#include "ccgate/tdx_collateral.h"
#include "ccgate/tdx_quote.h"
#include "ccgate/util.h"

/* Intel's TCB statuses (TCB info, TDX module and QE identity levels), and the converged status. */
typedef enum {
    CCG_TDX_STATUS_NONE = 0, /* not evaluated */
    CCG_TDX_STATUS_UP_TO_DATE,
    CCG_TDX_STATUS_SW_HARDENING_NEEDED,
    CCG_TDX_STATUS_CONFIGURATION_NEEDED,
    CCG_TDX_STATUS_CONFIGURATION_AND_SW_HARDENING_NEEDED,
    CCG_TDX_STATUS_OUT_OF_DATE,
    CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED,
    CCG_TDX_STATUS_TD_RELAUNCH_ADVISED,
    CCG_TDX_STATUS_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED,
    CCG_TDX_STATUS_REVOKED,
    CCG_TDX_STATUS_COUNT
} ccg_tdx_tcb_status;

/* "UpToDate", "OutOfDate", ..., "TDRelaunchAdvised"; "None" for NONE. */
const char *ccg_tdx_status_name(ccg_tdx_tcb_status s);
/* CCG_TDX_STATUS_NONE when the name is unknown. */
ccg_tdx_tcb_status ccg_tdx_status_from_name(const char *name);

typedef struct ccg_tdx_verifier ccg_tdx_verifier;
CCG_MUST_CHECK ccg_result ccg_tdx_verifier_new(ccg_tdx_verifier **out);
/* Trusts a self-signed test root (a software TD's) by its key, in addition to Intel's. */
CCG_MUST_CHECK ccg_result ccg_tdx_verifier_add_test_root(ccg_tdx_verifier *v, X509 *root);
void ccg_tdx_verifier_free(ccg_tdx_verifier *v);

/* A verifier remembers what it verified that does not depend on time (a PCK chain, a collateral
 * bundle; docs/tdx-quote.md, "Verified-collateral cache"). Verifications with collateral so far, by
 * path: fast (the cache held this PCK chain and collateral) or full. The decision is the same either way. */
typedef struct {
    uint64_t fast;
    uint64_t full;
} ccg_tdx_verifier_stats;
void ccg_tdx_verifier_stats_get(const ccg_tdx_verifier *v, ccg_tdx_verifier_stats *out);

struct ccg_tdx_policy;
struct ccg_tdx_eventlog;
struct ccg_refval_set;
struct ccg_refval_issuers;

typedef struct {
    const uint8_t *expected_report_data; /* 64 bytes, or NULL: not checked */
    const struct ccg_tdx_eventlog *event_log; /* the TD's event log (tdx_eventlog.h), or NULL */
    const struct ccg_refval_set *refvals;     /* the set a policy's "reference_values" names, or NULL */
    const struct ccg_refval_issuers *issuers; /* issuers trusted to sign reference values */
} ccg_tdx_verify_opts;

typedef struct {
    ccg_decision decision;     /* allow/deny, every reason, claims */
    int parsed;                /* 0: the quote could not be parsed (the decision's first reason says why) */
    ccg_tdx_tcb_status status;          /* converged, NONE when not reached */
    ccg_tdx_tcb_status platform_status; /* TDX TCB level */
    ccg_tdx_tcb_status sgx_status;      /* SGX TCB level */
    ccg_tdx_tcb_status module_status;
    ccg_tdx_tcb_status qe_status;
    char fmspc[13];
} ccg_tdx_result;

/* Verifies a quote (binary) with its collateral (NULL: collateral.missing) and applies the policy (NULL:
 * the default). Fails only on an internal error; every verification outcome is in out->decision, whose
 * claims hold the TD's fields, the FMSPC, the statuses and the advisories. */
CCG_MUST_CHECK ccg_result ccg_tdx_verify(const ccg_tdx_verifier *v, const uint8_t *quote, size_t quote_len,
                                         const ccg_tdx_collateral *col, const struct ccg_tdx_policy *policy,
                                         const ccg_tdx_verify_opts *opts, ccg_time now, ccg_tdx_result *out);
void ccg_tdx_result_free(ccg_tdx_result *r);

/* The FMSPC named by the quote's PCK certificate, read without trusting it (it keys the collateral
 * cache; the verifier then checks the chain and that the TCB info is for this FMSPC). */
CCG_MUST_CHECK ccg_result ccg_tdx_quote_fmspc(const uint8_t *quote, size_t quote_len, uint8_t fmspc[6]);
/* "platform" or "processor": which Intel PCK CA issued the quote's PCK (it picks the PCK CRL to fetch),
 * read without trusting the chain. Fails with tdx.cert_chain_invalid for any other issuer. */
CCG_MUST_CHECK ccg_result ccg_tdx_quote_pck_ca(const uint8_t *quote, size_t quote_len, char ca[16]);

#endif
