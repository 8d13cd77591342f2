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

/* What a set is matched against: whether a record holds the evidence, and how close one comes. */
typedef struct {
    int (*holds)(const ccg_refval_record *r, const void *arg);
    /* Closeness of a usable record; -1: not comparable. Higher is closer. */
    long (*closeness)(const ccg_refval_record *r, const void *arg);
    const void *arg;
} matcher;

/* The usable record that comes closest (the first on a tie): the likeliest build an operator meant to
 * launch. */
static const ccg_refval_record *closest(const ccg_refval_set *set, const char *tee, const matcher *m,
                                        const ccg_refval_issuers *iss, ccg_time now)
{
    const ccg_refval_record *best = NULL;
    long best_score = -1;
    for (size_t i = 0; i < set->count; i++) {
        const ccg_refval_record *r = &set->records[i];
        long score = m->closeness(r, m->arg);
        if (score < 0 || (best != NULL && score <= best_score)) {
            continue;
        }
        ccg_decision scratch;
        ccg_decision_init(&scratch, "refval");
        int usable = ccg_refval_record_check(r, tee, iss, now, &scratch);
        ccg_decision_free(&scratch);
        if (usable) {
            best = r;
            best_score = score;
        }
    }
    return best;
}

/* The records holding the evidence: 1 if one is usable. Otherwise each one's refusals go to d, so
 * a re-issued record can replace an expired one and still "expired" is said when nothing replaced it. */
static int match_listed(const ccg_refval_set *set, const char *tee, const matcher *m, const ccg_refval_issuers *iss,
                        ccg_time now, ccg_decision *d, int *listed)
{
    ccg_decision refusals;
    int usable = 0;
    ccg_decision_init(&refusals, "refval");
    *listed = 0;
    for (size_t i = 0; i < set->count && !usable; i++) {
        if (m->holds(&set->records[i], m->arg)) {
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

/* 1 on a usable match. Otherwise 0: when records hold the evidence (*listed) their refusals are in d;
 * when none does, *details is the refval.measurement_mismatch details and *near the closest record. */
static int match(const ccg_refval_set *set, const char *tee, const matcher *m, const uint8_t *measurement,
                 size_t len, const ccg_refval_issuers *iss, ccg_time now, ccg_decision *d, int *listed,
                 json_t **details, const ccg_refval_record **near)
{
    *details = NULL;
    *near = NULL;
    if (match_listed(set, tee, m, iss, now, d, listed)) {
        return 1;
    }
    if (*listed) {
        return 0;
    }
    *near = closest(set, tee, m, iss, now);
    *details = json_pack("{s:o, s:s, s:I}", "measurement", hex_json(measurement, len), "set_id", set->set_id,
                         "set_version", (json_int_t)set->version);
    if (*details != NULL && *near != NULL) {
        json_object_set_new(*details, "closest_build_id", json_string((*near)->build_id));
        json_object_set_new(*details, "closest_refval_id", json_string((*near)->id));
    }
    return 0;
}

typedef struct {
    const uint8_t *m;
    size_t len;
} plain_arg;

static int plain_holds(const ccg_refval_record *r, const void *arg)
{
    const plain_arg *a = arg;
    return r->measurement_len == a->len && memcmp(r->measurement, a->m, a->len) == 0;
}

static long plain_closeness(const ccg_refval_record *r, const void *arg)
{
    const plain_arg *a = arg;
    return r->measurement_len == a->len ? (long)common_prefix(r->measurement, a->m, a->len) : -1;
}

int ccg_refval_set_match(const ccg_refval_set *set, const char *tee, const uint8_t *measurement, size_t len,
                         const ccg_refval_issuers *iss, ccg_time now, ccg_decision *d)
{
    plain_arg a = {measurement, len};
    matcher m = {plain_holds, plain_closeness, &a};
    json_t *details = NULL;
    const ccg_refval_record *near = NULL;
    int listed = 0;
    if (match(set, tee, &m, measurement, len, iss, now, d, &listed, &details, &near)) {
        return 1;
    }
    if (!listed) {
        ccg_decision_deny(d, CCG_R_REFVAL_MEASUREMENT_MISMATCH, details);
    }
    return 0;
}

/* ---- TDX: MRTD and the registers a record pins ---- */

/* Bit 0: MRTD differs; bit 1 + i: pinned register i differs. */
static unsigned tdx_diff(const ccg_refval_record *r, const ccg_refval_td *td)
{
    unsigned diff = r->measurement_len == 48 && memcmp(r->measurement, td->mrtd, 48) == 0 ? 0 : 1;
    for (size_t i = 0; i < CCG_REFVAL_TDX_FIELDS; i++) {
        if ((r->tdx_mask & (1u << i)) && memcmp(r->tdx[i], td->fields[i], 48) != 0) {
            diff |= 1u << (i + 1);
        }
    }
    return diff;
}

static int tdx_holds(const ccg_refval_record *r, const void *arg)
{
    return strcmp(r->tee, "tdx") == 0 && tdx_diff(r, arg) == 0;
}

/* Fewer differing values is closer. */
static long tdx_closeness(const ccg_refval_record *r, const void *arg)
{
    if (strcmp(r->tee, "tdx") != 0) {
        return -1;
    }
    return (long)(CCG_REFVAL_TDX_FIELDS + 1) - (long)__builtin_popcount(tdx_diff(r, arg));
}

int ccg_refval_set_match_tdx(const ccg_refval_set *set, const ccg_refval_td *td, const ccg_refval_issuers *iss,
                             ccg_time now, ccg_decision *d)
{
    matcher m = {tdx_holds, tdx_closeness, td};
    json_t *details = NULL;
    const ccg_refval_record *near = NULL;
    int listed = 0;
    if (match(set, "tdx", &m, td->mrtd, 48, iss, now, d, &listed, &details, &near)) {
        return 1;
    }
    if (listed) {
        return 0; /* records hold the TD, but none is usable: their refusals say why */
    }
    if (details != NULL && near != NULL) {
        unsigned diff = tdx_diff(near, td);
        json_t *fields = json_array();
        if (diff & 1u) {
            json_array_append_new(fields, json_string("mrtd"));
        }
        for (size_t i = 0; i < CCG_REFVAL_TDX_FIELDS; i++) {
            if (diff & (1u << (i + 1))) {
                json_array_append_new(fields, json_string(ccg_refval_tdx_field_name(i)));
            }
        }
        json_object_set_new(details, "mismatched_fields", fields);
    }
    ccg_decision_deny(d, CCG_R_REFVAL_MEASUREMENT_MISMATCH, details);
    return 0;
}
