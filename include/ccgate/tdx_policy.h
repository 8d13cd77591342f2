/* The TDX appraisal policy (docs/tdx-policy.md): strict JSON with policy_id and version. Absent members
 * take the secure defaults of ccg_tdx_policy_default: TCB status UpToDate only, no advisories, no debug
 * TD, SEPT_VE_DISABLE required, reserved TDATTRIBUTES bits refused, any measurement. */
#ifndef CCGATE_TDX_POLICY_H
#define CCGATE_TDX_POLICY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/reasons.h"
#include "ccgate/result.h"
#include "ccgate/tdx_quote.h"
#include "ccgate/tdx_verify.h"

#define CCG_TDX_POLICY_MAX_VALUES 256
#define CCG_TDX_POLICY_MAX_ADVISORIES 256
#define CCG_TDX_POLICY_MAX_EVENTS 64

/* An event the event log must hold (docs/tdx-eventlog.md): its SHA-384 digest, in RTMR rtmr (-1: any). */
typedef struct {
    char name[64];
    int rtmr;
    uint8_t digest[48];
} ccg_tdx_required_event;

/* An allowlist of 48-byte measurements: set = 0 means any value. */
typedef struct {
    int set;
    size_t count;
    uint8_t (*values)[48];
} ccg_tdx_allowlist;

typedef struct ccg_tdx_policy {
    char policy_id[128];
    int64_t version;
    unsigned accepted_statuses; /* bit (1 << ccg_tdx_tcb_status); default UpToDate only */
    size_t n_advisories;
    char (*advisories)[64];     /* allowed_advisories */
    int debug_allowed;          /* default 0 */
    int require_sept_ve_disable;/* default 1 */
    int attributes_set;         /* allowed_attributes given */
    uint64_t allowed_attributes;/* defined bits the TD may set (DEBUG is governed by debug_allowed) */
    ccg_tdx_allowlist mrtd, rtmr[4], mrconfigid, mrowner, mrownerconfig, mrservicetd;
    int xfam_set;
    size_t n_xfam;
    uint64_t *xfam;
    int min_svn_set;
    uint8_t min_tee_tcb_svn[16];
    int report_data_set;
    uint8_t report_data[64];
    size_t n_required_events;   /* required_events: each must be in the replayed, confirmed log */
    ccg_tdx_required_event *required_events;
    /* "reference_values": MRTD and the registers a signed "tdx" record pins must match a usable
     * record of this set (docs/reference-values.md). */
    int has_refval_set;
    char refval_set_id[128];
    int64_t refval_min_version;
} ccg_tdx_policy;

/* "ccgate-default-tdx" version 1. */
CCG_MUST_CHECK ccg_result ccg_tdx_policy_default(ccg_tdx_policy **out);
/* Fails with policy.malformed, policy.unknown_key, policy.invalid_value or policy.version_invalid. */
CCG_MUST_CHECK ccg_result ccg_tdx_policy_parse(const char *json, size_t len, ccg_tdx_policy **out);
/* The "tdx" section of a key-broker release policy (docs/kbs.md): the same members, defaults, checks and
 * codes as ccg_tdx_policy_parse, except policy_id and version, which the section takes from the release
 * policy (the members themselves are policy.unknown_key there). section is borrowed. */
CCG_MUST_CHECK ccg_result ccg_tdx_policy_from_section(const json_t *section, const char *policy_id, int64_t version,
                                                      ccg_tdx_policy **out);
void ccg_tdx_policy_free(ccg_tdx_policy *p);

/* The TD checks (every failed one is recorded in d): debug, SEPT_VE_DISABLE, reserved and allowed
 * attributes, the allowlists, XFAM, the minimum TEE_TCB_SVN and REPORT_DATA. */
void ccg_tdx_policy_appraise_td(const ccg_tdx_policy *p, const ccg_tdx_td_report *td, ccg_decision *d);

/* The event log against the TD (every failure recorded in d, claims.event_log added): each RTMR the
 * log covers must equal its replay (tdx.rtmrN_log_mismatch), and every required event must be in an
 * RTMR whose replay matched (tdx.event_missing; tdx.event_log_missing without a log). log may be NULL. */
struct ccg_tdx_eventlog;
struct ccg_refval_set;
struct ccg_refval_issuers;
/* The policy's reference-value set: supplied with its ID at the minimum version (refval.set_missing
 * otherwise), and the TD held by a usable "tdx" record of it (refval.* reasons otherwise). */
void ccg_tdx_policy_appraise_refvals(const ccg_tdx_policy *p, const ccg_tdx_td_report *td,
                                     const struct ccg_refval_set *set, const struct ccg_refval_issuers *iss,
                                     ccg_time now, ccg_decision *d);
void ccg_tdx_policy_appraise_eventlog(const ccg_tdx_policy *p, const ccg_tdx_td_report *td,
                                      const struct ccg_tdx_eventlog *log, ccg_decision *d);

#endif
