/* A verification decision: allow or deny, every reason, the policy identity and the evidence digest.
 * This is the record the key broker audits and the CLI prints. */
#ifndef CCGATE_DECISION_H
#define CCGATE_DECISION_H

#include <stdint.h>
#include <jansson.h>

#include "ccgate/reasons.h"

typedef struct {
    int allow;                   /* 1 only when every check passed */
    ccg_reasons reasons;         /* every failed check, in the order checked */
    char policy_id[128];
    int64_t policy_version;
    char evidence_type[16];      /* "snp", ... */
    char evidence_digest[104];   /* "sha384:<hex>" of the raw evidence bytes */
    json_t *claims;              /* owned; NULL when the evidence could not be parsed */
} ccg_decision;

void ccg_decision_init(ccg_decision *d, const char *evidence_type);
void ccg_decision_free(ccg_decision *d);
/* Records a failed check; the decision becomes deny. Takes ownership of details. */
void ccg_decision_deny(ccg_decision *d, ccg_reason reason, json_t *details);
/* Records the thread's last error (ccg_error_last) as a failed check. */
void ccg_decision_deny_last_error(ccg_decision *d);
/* {"decision":"allow"|"deny","reasons":[...],"policy_id","policy_version","evidence_type","evidence_digest"} */
json_t *ccg_decision_to_json(const ccg_decision *d);

#endif
