/* Aggregated audit records for anonymous denials (docs/audit.md, "Anonymous denials").
 *
 * An unauthenticated client can make denials as fast as it can send requests, and each one used to
 * append a synced record that no one may delete. A denial that names nothing the broker resolved (no
 * key version, no policy, no evidence digest: no session, a bad token, a malformed request or path)
 * and no dependency or internal failure is therefore aggregated per (action, decision, reasons) and
 * window:
 *   - the first one in a window is appended on its own, with its request ID, before its answer, as
 *     every record is;
 *   - the others in that window are counted, and one summary record (format 2, "count": n, request
 *     ID "summary", the time of the last one) is appended when the window has ended: at the next
 *     such denial, at the server's tick (about once a second), or when the broker shuts down.
 * So each kind of anonymous denial costs at most two records per window, and every denial is still
 * accounted for: the records' counts add up to the denials (only a crash can lose a window's count,
 * never a first record). Releases, appraisals and anything with a key or policy are recorded one by
 * one as before. */
#include "kbs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define AGG_ENTRIES 32u
#define AGG_MAX_REASONS 8u
#define SUMMARY_REQUEST_ID "summary"

typedef struct {
    int used;
    char action[CCG_AUDIT_ACTION_MAX + 1];
    ccg_persona persona;
    ccg_audit_decision decision;
    ccg_reason reasons[AGG_MAX_REASONS];
    size_t nreasons;
    ccg_time window_start; /* the time of the window's own record */
    ccg_time last;         /* the newest counted denial */
    int64_t pending;       /* denials counted since that record */
} agg_entry;

struct kbs_audit_agg {
    pthread_mutex_t lock;
    ccg_time window;
    agg_entry e[AGG_ENTRIES];
};

ccg_result kbs_audit_agg_new(ccg_time window, kbs_audit_agg **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_audit_agg *g = NULL;
    *out = NULL;
    g = calloc(1, sizeof(*g));
    CCG_ENSURE_ALLOC(g);
    CCG_ENSURE(pthread_mutex_init(&g->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    g->window = window;
    *out = g;
    g = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(g);
    return result;
}

void kbs_audit_agg_free(kbs_audit_agg *g)
{
    if (g == NULL) {
        return;
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

int kbs_audit_is_anonymous(const ccg_audit_event *ev)
{
    size_t n = ev->reasons != NULL ? ev->reasons->count : 0;
    if (ev->decision == CCG_AUDIT_ALLOW || ev->key_version != 0 || ev->policy_id != NULL || ev->policy_version != 0 ||
        ev->evidence_digest != NULL || n == 0 || n > AGG_MAX_REASONS) {
        return 0;
    }
    if (ev->tcb_status != NULL || ev->gpu_count > 0 || ev->claims != NULL) { /* appraised evidence; a summary
                                                                                 carries none */
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        ccg_reason_kind kind = ccg_reason_kind_of(ev->reasons->items[i].reason);
        if (kind != CCG_KIND_INPUT && kind != CCG_KIND_DENY) {
            return 0;
        }
    }
    return 1;
}

static int entry_matches(const agg_entry *e, const ccg_audit_event *ev)
{
    if (!e->used || e->persona != ev->persona || e->decision != ev->decision ||
        strcmp(e->action, ev->action) != 0 || e->nreasons != ev->reasons->count) {
        return 0;
    }
    for (size_t i = 0; i < e->nreasons; i++) {
        if (e->reasons[i] != ev->reasons->items[i].reason) {
            return 0;
        }
    }
    return 1;
}

static void entry_init(agg_entry *e, const ccg_audit_event *ev, ccg_time start, int64_t pending)
{
    memset(e, 0, sizeof(*e));
    e->used = 1;
    snprintf(e->action, sizeof(e->action), "%s", ev->action);
    e->persona = ev->persona;
    e->decision = ev->decision;
    e->nreasons = ev->reasons->count;
    for (size_t i = 0; i < e->nreasons; i++) {
        e->reasons[i] = ev->reasons->items[i].reason;
    }
    e->window_start = start;
    e->last = start;
    e->pending = pending;
}

static agg_entry *find(kbs_audit_agg *g, const ccg_audit_event *ev)
{
    for (size_t i = 0; i < AGG_ENTRIES; i++) {
        if (entry_matches(&g->e[i], ev)) {
            return &g->e[i];
        }
    }
    return NULL;
}

static agg_entry *free_slot(kbs_audit_agg *g)
{
    for (size_t i = 0; i < AGG_ENTRIES; i++) {
        if (!g->e[i].used) {
            return &g->e[i];
        }
    }
    return NULL;
}

/* Appends the summary of an ended window (a copy taken out of the table). */
static ccg_result append_summary(ccg_kbs *k, const agg_entry *e)
{
    ccg_result result = CCG_FAILURE;
    ccg_reasons reasons;
    ccg_audit_event ev;
    ccg_reasons_init(&reasons);
    for (size_t i = 0; i < e->nreasons; i++) {
        CCG_ENSURE(ccg_reasons_add(&reasons, e->reasons[i], NULL) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    }
    memset(&ev, 0, sizeof(ev));
    ev.time = e->last;
    ev.request_id = SUMMARY_REQUEST_ID;
    ev.persona = e->persona;
    ev.action = e->action;
    ev.decision = e->decision;
    ev.reasons = &reasons;
    ev.count = e->pending;
    CCG_TRY(ccg_audit_append(k->audit, &ev, NULL, NULL));
    result = CCG_SUCCESS;
cleanup:
    ccg_reasons_free(&reasons);
    return result;
}

/* A summary that could not be written goes back into the table, to be tried again at the next tick. */
static void restore(kbs_audit_agg *g, const agg_entry *e)
{
    agg_entry *slot;
    pthread_mutex_lock(&g->lock);
    slot = NULL;
    for (size_t i = 0; i < AGG_ENTRIES && slot == NULL; i++) {
        if (g->e[i].used && g->e[i].persona == e->persona && g->e[i].decision == e->decision &&
            strcmp(g->e[i].action, e->action) == 0 && g->e[i].nreasons == e->nreasons &&
            memcmp(g->e[i].reasons, e->reasons, e->nreasons * sizeof(e->reasons[0])) == 0) {
            slot = &g->e[i];
        }
    }
    if (slot != NULL) {
        slot->pending += e->pending;
    } else if ((slot = free_slot(g)) != NULL) {
        *slot = *e;
        slot->window_start = e->last - g->window; /* already ended: the next tick writes it */
    }
    pthread_mutex_unlock(&g->lock);
}

ccg_result kbs_audit_anonymous(ccg_kbs *k, const ccg_audit_event *ev)
{
    ccg_result result = CCG_FAILURE;
    kbs_audit_agg *g = k->audit_agg;
    agg_entry ended, *e;
    int have_ended = 0;

    pthread_mutex_lock(&g->lock);
    e = find(g, ev);
    if (e != NULL && ev->time >= e->window_start && ev->time < e->window_start + g->window) {
        /* Counted: this window's own record already stands before it. */
        e->pending++;
        if (ev->time > e->last) {
            e->last = ev->time;
        }
        pthread_mutex_unlock(&g->lock);
        return CCG_SUCCESS;
    }
    if (e != NULL) {
        /* The window ended: its summary first, then this denial opens the next window. */
        ended = *e;
        have_ended = ended.pending > 0;
        e->used = 0;
    }
    pthread_mutex_unlock(&g->lock);

    if (have_ended && ccg_failed(append_summary(k, &ended))) {
        restore(g, &ended);
        goto cleanup;
    }
    CCG_TRY(ccg_audit_append(k->audit, ev, NULL, NULL));
    pthread_mutex_lock(&g->lock);
    if (find(g, ev) == NULL && (e = free_slot(g)) != NULL) {
        entry_init(e, ev, ev->time, 0);
    }
    pthread_mutex_unlock(&g->lock);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_audit_flush(ccg_kbs *k, ccg_time now, int force)
{
    ccg_result result = CCG_SUCCESS;
    kbs_audit_agg *g = k->audit_agg;
    agg_entry ended[AGG_ENTRIES];
    size_t n = 0;
    if (g == NULL) {
        return CCG_SUCCESS;
    }
    pthread_mutex_lock(&g->lock);
    for (size_t i = 0; i < AGG_ENTRIES; i++) {
        agg_entry *e = &g->e[i];
        if (e->used && (force || now >= e->window_start + g->window || now < e->window_start)) {
            if (e->pending > 0) {
                ended[n++] = *e;
            }
            e->used = 0;
        }
    }
    pthread_mutex_unlock(&g->lock);
    for (size_t i = 0; i < n; i++) {
        if (ccg_failed(append_summary(k, &ended[i]))) {
            restore(g, &ended[i]);
            result = CCG_FAILURE;
        }
    }
    return result;
}

void ccg_kbs_tick(ccg_kbs *k)
{
    if (k != NULL && ccg_failed(kbs_audit_flush(k, kbs_now(k), 0))) {
        ccg_error_clear(); /* kept and tried again at the next tick */
    }
}
