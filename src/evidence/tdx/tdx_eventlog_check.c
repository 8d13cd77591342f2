/* The event log against the quote: the replayed RTMRs must be the quote's, and the policy's required
 * events must sit in RTMRs whose replay the quote confirmed (docs/tdx-eventlog.md). An event in an
 * RTMR that did not match proves nothing, so it never satisfies a requirement. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/tdx_eventlog.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/util.h"

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *j = hex != NULL ? json_string(hex) : json_null();
    free(hex);
    return j;
}

/* Which RTMRs the log covers and whether each replay equals the quote's; mismatches are denied. */
static void compare_rtmrs(const ccg_tdx_td_report *td, const ccg_tdx_eventlog *log, int matched[4], json_t *claims,
                          ccg_decision *d)
{
    static const ccg_reason REASONS[4] = {CCG_R_TDX_RTMR0_LOG_MISMATCH, CCG_R_TDX_RTMR1_LOG_MISMATCH,
                                          CCG_R_TDX_RTMR2_LOG_MISMATCH, CCG_R_TDX_RTMR3_LOG_MISMATCH};
    json_t *rtmrs = json_array();
    for (int i = 0; i < 4; i++) {
        int covered = i < 3 || log->rtmr3_covered;
        matched[i] = covered && memcmp(log->rtmr[i], td->rtmr[i], 48) == 0;
        json_t *o = json_pack("{s:i, s:o, s:I, s:b}", "rtmr", i, "replayed", hex_json(log->rtmr[i], 48), "events",
                              (json_int_t)log->extends[i], "covered", covered);
        if (o != NULL) {
            json_object_set_new(o, "match", covered ? json_boolean(matched[i]) : json_null());
        }
        json_array_append_new(rtmrs, o);
        if (covered && !matched[i]) {
            ccg_decision_deny(d, REASONS[i],
                              json_pack("{s:i, s:o, s:o, s:I}", "rtmr", i, "replayed", hex_json(log->rtmr[i], 48),
                                        "quote", hex_json(td->rtmr[i], 48), "events", (json_int_t)log->extends[i]));
        }
    }
    json_object_set_new(claims, "rtmrs", rtmrs);
}

static int holds(const ccg_tdx_eventlog *log, const ccg_tdx_required_event *want, const int matched[4])
{
    for (size_t i = 0; i < log->count; i++) {
        const ccg_tdx_event *ev = &log->events[i];
        int rtmr = (int)ev->mr_index - 1;
        if (ev->mr_index == 0 || ev->type == CCG_TDX_EV_NO_ACTION || !matched[rtmr]) {
            continue; /* never extended, or not confirmed by the quote */
        }
        if ((want->rtmr < 0 || want->rtmr == rtmr) && memcmp(ev->digest, want->digest, 48) == 0) {
            return 1;
        }
    }
    return 0;
}

static json_t *events_json(const ccg_tdx_eventlog *log)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr != NULL && i < log->count; i++) {
        json_array_append_new(arr, ccg_tdx_event_json(&log->events[i], i));
    }
    return arr;
}

static void deny_missing(const ccg_tdx_required_event *e, ccg_decision *d)
{
    json_t *det = json_pack("{s:s, s:o}", "event", e->name, "digest", hex_json(e->digest, 48));
    if (det != NULL) {
        json_object_set_new(det, "rtmr", e->rtmr < 0 ? json_string("any") : json_integer(e->rtmr));
    }
    ccg_decision_deny(d, CCG_R_TDX_EVENT_MISSING, det);
}

void ccg_tdx_policy_appraise_eventlog(const ccg_tdx_policy *p, const ccg_tdx_td_report *td,
                                      const struct ccg_tdx_eventlog *log, ccg_decision *d)
{
    int matched[4] = {0, 0, 0, 0};
    if (log == NULL) {
        if (p->n_required_events > 0) {
            ccg_decision_deny(d, CCG_R_TDX_EVENT_LOG_MISSING,
                              json_pack("{s:I}", "required_events", (json_int_t)p->n_required_events));
        }
        return;
    }
    json_t *claims = json_pack("{s:I, s:I}", "events", (json_int_t)log->count, "bytes", (json_int_t)log->len);
    if (claims == NULL) {
        ccg_decision_deny(d, CCG_R_INTERNAL_OUT_OF_MEMORY, NULL);
        return;
    }
    if (log->have_ccel) {
        json_object_set_new(claims, "ccel_log_area_bytes", json_integer((json_int_t)log->ccel.laml));
    }
    json_object_set_new(claims, "runtime_bytes", json_integer((json_int_t)log->runtime_len));
    compare_rtmrs(td, log, matched, claims, d);
    json_object_set_new(claims, "event_list", events_json(log));
    if (d->claims != NULL) {
        json_object_set_new(d->claims, "event_log", claims);
    } else {
        json_decref(claims);
    }
    for (size_t i = 0; i < p->n_required_events; i++) {
        if (!holds(log, &p->required_events[i], matched)) {
            deny_missing(&p->required_events[i], d);
        }
    }
}
