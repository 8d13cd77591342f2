/* Decisions: a verdict with every reason. */
#include "ccgate/decision.h"

#include <stdio.h>
#include <string.h>

#include "ccgate/error.h"

void ccg_decision_init(ccg_decision *d, const char *evidence_type)
{
    memset(d, 0, sizeof(*d));
    ccg_reasons_init(&d->reasons);
    snprintf(d->evidence_type, sizeof(d->evidence_type), "%s", evidence_type);
}

void ccg_decision_free(ccg_decision *d)
{
    ccg_reasons_free(&d->reasons);
    json_decref(d->claims);
    d->claims = NULL;
}

void ccg_decision_deny(ccg_decision *d, ccg_reason reason, json_t *details)
{
    d->allow = 0;
    if (ccg_reasons_add(&d->reasons, reason, details) != 0) {
        /* Out of memory: the verdict stays deny; the reason list is best effort. */
        d->allow = 0;
    }
}

void ccg_decision_deny_last_error(ccg_decision *d)
{
    const ccg_error *e = ccg_error_last();
    ccg_reason reason = e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason;
    ccg_decision_deny(d, reason, json_pack("{s:s}", "detail", e->message));
}

json_t *ccg_decision_to_json(const ccg_decision *d)
{
    json_t *out = json_pack("{s:s, s:o, s:s, s:I, s:s, s:s}", "decision", d->allow ? "allow" : "deny", "reasons",
                            ccg_reasons_to_json(&d->reasons), "policy_id", d->policy_id, "policy_version",
                            (json_int_t)d->policy_version, "evidence_type", d->evidence_type, "evidence_digest",
                            d->evidence_digest);
    return out;
}
