/* Using reference values: a record is usable when signed by a trusted issuer and valid now; a launch
 * measurement is approved when it equals a usable record of the set. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/refvalue.h"
#include "refvalue_internal.h"

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *j = hex ? json_string(hex) : json_null();
    free(hex);
    return j;
}

static void deny_record(ccg_decision *d, ccg_reason reason, const ccg_refval_record *r)
{
    ccg_decision_deny(d, reason, json_pack("{s:s, s:s, s:s}", "refval_id", r->id, "build_id", r->build_id, "issuer",
                                           r->issuer[0] ? r->issuer : "(none)"));
}

int ccg_refval_record_check(const ccg_refval_record *r, const char *tee, const ccg_refval_issuers *iss, ccg_time now,
                            ccg_decision *d)
{
    EVP_PKEY *key = NULL;
    size_t before = d->reasons.count;
    if (!r->has_signature) {
        deny_record(d, CCG_R_REFVAL_UNSIGNED, r);
    } else if ((key = refval_issuer_key(iss, r->issuer)) == NULL) {
        deny_record(d, CCG_R_REFVAL_ISSUER_UNKNOWN, r);
    } else if (!refval_signature_valid(r->doc, key)) {
        deny_record(d, CCG_R_REFVAL_SIGNATURE_INVALID, r);
    }
    if (now < r->not_before) {
        deny_record(d, CCG_R_REFVAL_NOT_YET_VALID, r);
    }
    if (now > r->not_after) {
        deny_record(d, CCG_R_REFVAL_EXPIRED, r);
    }
    if (tee != NULL && strcmp(tee, r->tee) != 0) {
        deny_record(d, CCG_R_REFVAL_TEE_MISMATCH, r);
    }
    return d->reasons.count == before;
}

static size_t common_prefix(const uint8_t *a, const uint8_t *b, size_t n)
{
    size_t i = 0;
    while (i < n && a[i] == b[i]) {
        i++;
    }
    return i;
}

/* The usable record sharing the longest leading bytes with the measurement: the likeliest build an
 * operator meant to launch. */
static const ccg_refval_record *closest(const ccg_refval_set *set, const char *tee, const uint8_t *m, size_t len,
                                        const ccg_refval_issuers *iss, ccg_time now)
{
    const ccg_refval_record *best = NULL;
    size_t best_len = 0;
    for (size_t i = 0; i < set->count; i++) {
        const ccg_refval_record *r = &set->records[i];
        ccg_decision scratch;
        ccg_decision_init(&scratch, "refval");
        int usable = r->measurement_len == len && ccg_refval_record_check(r, tee, iss, now, &scratch);
        ccg_decision_free(&scratch);
        size_t p = usable ? common_prefix(r->measurement, m, len) : 0;
        if (usable && (best == NULL || p > best_len)) {
            best = r;
            best_len = p;
        }
    }
    return best;
}

static int holds(const ccg_refval_record *r, const uint8_t *m, size_t len)
{
    return r->measurement_len == len && memcmp(r->measurement, m, len) == 0;
}

/* The records holding the measurement: 1 if one is usable. Otherwise each one's refusals go to d, so
 * a re-issued record can replace an expired one and still "expired" is said when nothing replaced it. */
static int match_listed(const ccg_refval_set *set, const char *tee, const uint8_t *m, size_t len,
                        const ccg_refval_issuers *iss, ccg_time now, ccg_decision *d, int *listed)
{
    ccg_decision refusals;
    int usable = 0;
    ccg_decision_init(&refusals, "refval");
    *listed = 0;
    for (size_t i = 0; i < set->count && !usable; i++) {
        if (holds(&set->records[i], m, len)) {
            *listed = 1;
            usable = ccg_refval_record_check(&set->records[i], tee, iss, now, &refusals);
        }
    }
    for (size_t i = 0; !usable && i < refusals.reasons.count; i++) {
        ccg_decision_deny(d, refusals.reasons.items[i].reason, json_incref(refusals.reasons.items[i].details));
    }
    ccg_decision_free(&refusals);
    return usable;
}

int ccg_refval_set_match(const ccg_refval_set *set, const char *tee, const uint8_t *measurement, size_t len,
                         const ccg_refval_issuers *iss, ccg_time now, ccg_decision *d)
{
    int listed = 0;
    int usable = match_listed(set, tee, measurement, len, iss, now, d, &listed);
    if (listed) {
        return usable;
    }
    const ccg_refval_record *near = closest(set, tee, measurement, len, iss, now);
    json_t *details = json_pack("{s:o, s:s, s:I}", "measurement", hex_json(measurement, len), "set_id", set->set_id,
                                "set_version", (json_int_t)set->version);
    if (details != NULL && near != NULL) {
        json_object_set_new(details, "closest_build_id", json_string(near->build_id));
        json_object_set_new(details, "closest_refval_id", json_string(near->id));
    }
    ccg_decision_deny(d, CCG_R_REFVAL_MEASUREMENT_MISMATCH, details);
    return 0;
}
