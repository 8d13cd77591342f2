/* SEV-SNP TCB baselines (docs/snp-tcb-baseline.md): collateral the key-release authority maintains,
 * one per product (Milan, Genoa, Turin). A baseline holds the TCB that counts as up to date and the
 * security advisories that apply below given component levels. It is signed like a reference value:
 * ECDSA P-384 (ES384) or Ed25519 over the RFC 8785 JSON of the document without "signature", by an
 * issuer the verifier trusts by key ID, and valid from not_before to not_after at an explicit now.
 *
 * The TCB status of a report, against the baseline for its product:
 *   RolledBack  a component of REPORTED_TCB is below COMMITTED_TCB (needs no baseline)
 *   OutOfDate   a component of REPORTED_TCB or LAUNCH_TCB is below the baseline's up_to_date
 *   UpToDate    neither
 *   Unknown     no usable baseline for the product
 * A policy's "tcb" says which statuses and advisories it accepts (docs/snp-policy.md). */
#ifndef CCGATE_SNP_TCB_BASELINE_H
#define CCGATE_SNP_TCB_BASELINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/decision.h"
#include "ccgate/refvalue.h"
#include "ccgate/result.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_report.h"
#include "ccgate/util.h"

#define CCG_SNP_BASELINE_MAX_ADVISORIES 256

typedef enum {
    CCG_SNP_TCB_UNKNOWN = 0,
    CCG_SNP_TCB_UP_TO_DATE = 1,
    CCG_SNP_TCB_OUT_OF_DATE = 2,
    CCG_SNP_TCB_ROLLED_BACK = 3,
} ccg_snp_tcb_status;

/* "UpToDate", "OutOfDate", "RolledBack" or "Unknown". */
const char *ccg_snp_tcb_status_name(ccg_snp_tcb_status s);
/* The status named so, or CCG_SNP_TCB_UNKNOWN for any other name (including "Unknown"). */
ccg_snp_tcb_status ccg_snp_tcb_status_from_name(const char *name);

/* TCB components, as bits of a set. */
#define CCG_SNP_TCB_C_BOOTLOADER (1u << 0)
#define CCG_SNP_TCB_C_TEE (1u << 1)
#define CCG_SNP_TCB_C_SNP (1u << 2)
#define CCG_SNP_TCB_C_MICROCODE (1u << 3)
#define CCG_SNP_TCB_C_FMC (1u << 4) /* Turin only */

/* The components a product's TCB_VERSION has. */
unsigned ccg_snp_tcb_components(ccg_snp_product p);

typedef struct {
    char id[CCG_SNP_ADVISORY_ID_MAX]; /* e.g. "AMD-SB-3019" */
    ccg_snp_tcb below;                /* applies when a listed component is below its level */
    unsigned components;              /* which members of below are listed */
} ccg_snp_advisory;

typedef struct {
    ccg_snp_product product;
    int64_t version;
    char issuer[CCG_REFVAL_ID_MAX]; /* "" when unsigned */
    int has_signature;
    ccg_time not_before;
    ccg_time not_after;
    ccg_snp_tcb up_to_date; /* every component of the product */
    ccg_snp_advisory *advisories;
    size_t advisory_count;
    json_t *doc; /* the document as parsed (owned): its signing bytes are computed from it */
} ccg_snp_tcb_baseline;

/* Strict parse (snp.tcb_baseline_malformed on any unknown member, wrong type, unknown product, a level
 * outside 0-255, an fmc level on a product without FMC, a missing component in up_to_date, a bad time,
 * not_before after not_after, a duplicate advisory ID, or a document without canonical signing bytes).
 * Neither the signature nor the validity is checked here: ccg_snp_tcb_baseline_check does, at now. */
CCG_MUST_CHECK ccg_result ccg_snp_tcb_baseline_parse(const char *text, size_t len, ccg_snp_tcb_baseline **out);
void ccg_snp_tcb_baseline_free(ccg_snp_tcb_baseline *b);

/* Whether a baseline is usable at now: signed by an issuer of iss, signature valid, not_before <= now
 * <= not_after. Adds each failure to d (snp.tcb_baseline_unsigned, _issuer_unknown,
 * _signature_invalid, _not_yet_valid, _expired) with the product, version and issuer; 1 when usable. */
int ccg_snp_tcb_baseline_check(const ccg_snp_tcb_baseline *b, const ccg_refval_issuers *iss, ccg_time now,
                               ccg_decision *d);

/* The baselines a verifier is given: at most one per product. */
typedef struct {
    ccg_snp_tcb_baseline *by_product[4]; /* indexed by ccg_snp_product; owned */
} ccg_snp_tcb_baselines;

void ccg_snp_tcb_baselines_init(ccg_snp_tcb_baselines *set);
void ccg_snp_tcb_baselines_free(ccg_snp_tcb_baselines *set);
/* Takes ownership of b (also on failure). usage.invalid when the set has one for its product already. */
CCG_MUST_CHECK ccg_result ccg_snp_tcb_baselines_add(ccg_snp_tcb_baselines *set, ccg_snp_tcb_baseline *b);
/* Reads and parses a baseline file and adds it. */
CCG_MUST_CHECK ccg_result ccg_snp_tcb_baselines_load(ccg_snp_tcb_baselines *set, const char *path);
/* The earliest not_after of the set (INT64_MAX when empty): how long a decision resting on it holds. */
ccg_time ccg_snp_tcb_baselines_valid_until(const ccg_snp_tcb_baselines *set);

/* Appraises the report's TCB status under the policy's "tcb" rules (docs/snp-policy.md) against the
 * baseline of its product in set (NULL: none), checked with iss at now. Adds one reason per failed rule
 * to d: the baseline's own refusals (a supplied baseline that is not usable is always refused),
 * snp.tcb_baseline_missing, snp.tcb_rolled_back, snp.tcb_out_of_date, snp.advisory_not_allowed.
 * Returns the claims to merge into the decision's: {"tcb_status", "advisories": [IDs that apply],
 * "tcb_baseline": {"product", "version", "issuer"} | null}; NULL when out of memory. */
json_t *ccg_snp_tcb_appraise(const ccg_snp_policy *p, const ccg_snp_report *r, ccg_snp_product product,
                             const ccg_snp_tcb_baselines *set, const ccg_refval_issuers *iss, ccg_time now,
                             ccg_decision *d);

#endif
