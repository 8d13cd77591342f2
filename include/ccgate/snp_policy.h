/* The SEV-SNP appraisal policy: a JSON document with policy_id and version (docs/snp-policy.md).
 * Parsing is strict: unknown keys, wrong types and out-of-range values are refused. */
#ifndef CCGATE_SNP_POLICY_H
#define CCGATE_SNP_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/reasons.h"
#include "ccgate/result.h"
#include "ccgate/snp_report.h"

#define CCG_SNP_POLICY_MAX_DIGESTS 256
#define CCG_SNP_ADVISORY_ID_MAX 64 /* an advisory ID, with the NUL */
#define CCG_SNP_POLICY_MAX_ADVISORIES 256

typedef struct {
    uint8_t bytes[48];
} ccg_digest48;

/* A platform-info requirement: -1 don't care, 0 must be clear, 1 must be set. */
typedef struct {
    int smt_enabled;
    int tsme_enabled;
    int ecc_enabled;
    int rapl_disabled;
    int ciphertext_hiding_enabled;
    int alias_check_complete;
    int iommu_write_safe;
    int tio_enabled;
} ccg_snp_platform_req;

/* "tcb": which TCB statuses and advisories the policy accepts (docs/snp-policy.md). The default
 * accepts UpToDate only, allowlists no advisory and requires a baseline. */
typedef struct {
    int require_baseline;   /* 1: no usable baseline for the product is snp.tcb_baseline_missing */
    int accept_out_of_date; /* "OutOfDate" in accepted_statuses */
    int accept_rolled_back; /* "RolledBack" in accepted_statuses */
    char (*allowed_advisories)[CCG_SNP_ADVISORY_ID_MAX];
    size_t allowed_advisory_count;
} ccg_snp_tcb_req;

typedef struct {
    char policy_id[128];
    int64_t version;

    int debug_allowed;
    int migration_agent_allowed;
    int smt_allowed;
    int vmpl; /* -1: any */
    int allow_masked_chip_id;
    int require_crl;
    int allow_vcek;
    int allow_vlek;

    ccg_snp_tcb minimum_tcb; /* applied to REPORTED_TCB and LAUNCH_TCB */
    uint8_t minimum_build;
    uint8_t minimum_major, minimum_minor; /* firmware ABI version */
    uint32_t minimum_guest_svn;

    ccg_digest48 *measurements; /* NULL: any measurement */
    size_t measurement_count;
    ccg_digest48 *id_key_digests;
    size_t id_key_digest_count;
    ccg_digest48 *author_key_digests;
    size_t author_key_digest_count;

    int has_report_data;
    uint8_t report_data[64];
    int has_host_data;
    uint8_t host_data[32];

    ccg_snp_platform_req platform;
    ccg_snp_tcb_req tcb;

    /* "reference_values": the MEASUREMENT must match a signed, valid record of this set. */
    int has_refval_set;
    char refval_set_id[128];
    int64_t refval_min_version;
} ccg_snp_policy;

/* The documented default: signature, chain and collateral are checked; debug and migration agents
 * are refused; nothing else is constrained. */
CCG_MUST_CHECK ccg_result ccg_snp_policy_default(ccg_snp_policy **out);
CCG_MUST_CHECK ccg_result ccg_snp_policy_parse(const char *json, size_t len, ccg_snp_policy **out);
void ccg_snp_policy_free(ccg_snp_policy *p);

/* Appraises a parsed, signature-checked report. Appends one reason per failed check; checks every
 * rule, never stopping at the first failure. Returns -1 only when out of memory. */
int ccg_snp_appraise(const ccg_snp_policy *p, const ccg_snp_report *r, ccg_snp_product product,
                     ccg_reasons *out);

#endif
