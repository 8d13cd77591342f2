/* Verifying and listing the audit log. Verification walks every record in seq order inside one read
 * transaction (a consistent snapshot while appenders keep writing) and stops at the first record
 * that does not chain: its prev_hash is not the previous record's hash, its seq does not follow, or
 * its hash is not the hash of its own fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"


static void broken(ccg_audit_verify_report *r, int64_t seq, const char *problem, const char *expected,
                   const char *stored, const char *detail)
{
    r->intact = 0;
    r->broken_seq = seq;
    snprintf(r->problem, sizeof(r->problem), "%.47s", problem);
    snprintf(r->expected, sizeof(r->expected), "%.64s", expected ? expected : "");
    snprintf(r->stored, sizeof(r->stored), "%.64s", stored ? stored : "");
    snprintf(r->detail, sizeof(r->detail), "%.159s", detail ? detail : "");
}

/* Checks one record against the chain so far; fills the report and returns 0 when it breaks. */
static int check_record(ccg_audit_verify_report *r, const json_t *rec, int64_t seq, const char *prev_expected,
                        const char *recomputed)
{
    const char *prev = json_string_value(json_object_get(rec, "prev_hash"));
    const char *stored = json_string_value(json_object_get(rec, "hash"));
    json_int_t v = json_integer_value(json_object_get(rec, "v"));
    /* The record's members already match its format (ccg_audit_record_from_row); a format this
     * ccgate does not know is not verified as if it were one it knows. */
    if (v != CCG_AUDIT_FORMAT && v != CCG_AUDIT_FORMAT_COUNTED && v != CCG_AUDIT_FORMAT_TCB &&
        v != CCG_AUDIT_FORMAT_GPU && v != CCG_AUDIT_FORMAT_TDX && v != CCG_AUDIT_FORMAT_CLAIMS) {
        broken(r, seq, "unsupported_format", NULL, NULL, "the record's format version is not 1 to 6");
        return 0;
    }
    if (strcmp(prev, prev_expected) != 0) {
        broken(r, seq, "prev_hash_mismatch", prev_expected, prev,
               "prev_hash is not the hash of the record before it (a record was removed, inserted or moved)");
        return 0;
    }
    if (seq != r->head_seq + 1) {
        broken(r, seq, "seq_gap", prev_expected, prev, "seq does not follow the record before it");
        return 0;
    }
    if (strcmp(recomputed, stored) != 0) {
        broken(r, seq, "hash_mismatch", recomputed, stored, "the record's fields do not hash to its stored hash");
        return 0;
    }
    return 1;
}

static int member_is(const json_t *rec, const char *name, const char *want)
{
    const char *v = json_string_value(json_object_get(rec, name));
    return v != NULL && strcmp(v, want) == 0;
}

/* A checkpoint: the chain may start here once the records before it are pruned. */
static int is_checkpoint(const json_t *rec)
{
    return member_is(rec, "action", CCG_AUDIT_ACTION_CHECKPOINT) && member_is(rec, "decision", "allow") &&
           member_is(rec, "persona", "operator");
}

/* How many events a record stands for: its count (format 2), else one. */
static int64_t events_of(const json_t *rec)
{
    const json_t *count = json_object_get(rec, "count");
    return json_is_integer(count) ? (int64_t)json_integer_value(count) : 1;
}

/* The walk's state between rows. */
typedef struct {
    ccg_audit_verify_report *report;
    const ccg_audit_anchor *anchor;
    int64_t pruned; /* the count of the newest audit.prune record: every record removed so far */
    int anchor_seen;
    int stopped;    /* the chain broke: the remaining rows are skipped */
} verify_walk;

static ccg_result verify_row(void *ctx, const ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    verify_walk *w = ctx;
    ccg_audit_verify_report *report = w->report;
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL;
    char recomputed[CCG_AUDIT_HASH_HEX];
    int64_t seq = cols[0].type == CCG_AUDIT_COL_INT ? cols[0].i : 0;
    if (w->stopped) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (ccg_failed(ccg_audit_record_from_row(cols, &rec))) {
        /* A column of the wrong type or shape: this record is broken. */
        broken(report, seq, "malformed", NULL, NULL, ccg_error_last()->message);
        ccg_error_clear();
        w->stopped = 1;
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_audit_record_hash(rec, recomputed));
    if (report->records == 0) {
        report->start_seq = seq;
        /* After a prune the log starts at a checkpoint: its prev_hash names the record before it,
         * which is gone, and is taken as given. Any other first record must be the genesis. */
        if (seq > 1 && is_checkpoint(rec)) {
            report->head_seq = seq - 1;
            snprintf(report->head_hash, sizeof(report->head_hash), "%.64s",
                     json_string_value(json_object_get(rec, "prev_hash")));
        }
    }
    if (!check_record(report, rec, seq, report->head_hash, recomputed)) {
        w->stopped = 1;
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (member_is(rec, "action", CCG_AUDIT_ACTION_PRUNE)) {
        w->pruned = events_of(rec);
        report->events++; /* its count is of the records removed, not of events */
    } else {
        report->events += events_of(rec);
    }
    report->records++;
    report->head_seq = seq;
    snprintf(report->head_hash, sizeof(report->head_hash), "%.64s", recomputed);
    if (w->anchor != NULL && seq == w->anchor->seq) {
        w->anchor_seen = 1;
        if (strcmp(recomputed, w->anchor->hash) != 0) {
            broken(report, seq, "anchor_mismatch", w->anchor->hash, recomputed,
                   "the record's hash differs from the external anchor");
            w->stopped = 1;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(rec);
    return result;
}

ccg_result ccg_audit_verify(ccg_audit *a, const ccg_audit_anchor *anchor, ccg_audit_verify_report *report)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_scan all = {.since = 0, .limit = 0, .request_id = NULL};
    verify_walk w;
    char detail[160];
    int locked = 0, in_tx = 0;

    ccg_error_clear();
    CCG_ENSURE(a != NULL && report != NULL, CCG_R_INPUT_MALFORMED);
    memset(report, 0, sizeof(*report));
    memset(&w, 0, sizeof(w));
    w.report = report;
    w.anchor = anchor;
    report->intact = 1;
    snprintf(report->head_hash, sizeof(report->head_hash), "%s", CCG_AUDIT_GENESIS);
    if (anchor != NULL) {
        CCG_ENSURE_MSG(anchor->seq >= 1 && ccg_audit_hash_text_ok(anchor->hash), CCG_R_INPUT_MALFORMED,
                       "an anchor is a seq >= 1 and a hash of 64 lowercase hex digits");
    }
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(a->ops->begin_read(a->s));
    in_tx = 1;
    CCG_TRY(a->ops->scan(a->s, &all, verify_row, &w));
    /* Records deleted before a checkpoint without the prune that records it. */
    if (report->intact && report->start_seq > 1 && w.pruned != report->start_seq - 1) {
        snprintf(detail, sizeof(detail),
                 "the log starts at checkpoint %lld but no audit.prune record accounts for the %lld records before it",
                 (long long)report->start_seq, (long long)(report->start_seq - 1));
        broken(report, report->start_seq, "prune_unrecorded", NULL, NULL, detail);
    }
    if (report->intact && anchor != NULL && !w.anchor_seen) {
        if (anchor->seq < report->start_seq) {
            snprintf(detail, sizeof(detail),
                     "the anchored record was pruned: the log starts at checkpoint %lld (anchor it instead)",
                     (long long)report->start_seq);
        } else {
            snprintf(detail, sizeof(detail), "the anchored record is missing: the log ends at seq %lld",
                     (long long)report->head_seq);
        }
        broken(report, anchor->seq, "anchor_missing", anchor->hash, NULL, detail);
    }
    CCG_TRY(a->ops->commit(a->s));
    in_tx = 0;
    CCG_ENSURE_MSG(report->intact, CCG_R_AUDIT_CHAIN_BROKEN,
                   "the audit chain is broken at seq %lld: %s (expected %.16s..., stored %.16s...)",
                   (long long)report->broken_seq, report->problem, report->expected, report->stored);
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        a->ops->rollback(a->s);
    }
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    return result;
}

json_t *ccg_audit_verify_report_json(const ccg_audit_verify_report *r)
{
    json_t *out = NULL, *brk = NULL;
    if (r == NULL) {
        return NULL;
    }
    if (r->intact) {
        brk = json_null();
    } else {
        brk = json_pack("{s:I, s:s, s:s?, s:s?, s:s}", "seq", (json_int_t)r->broken_seq, "problem", r->problem,
                        "expected", r->expected[0] ? r->expected : NULL, "stored", r->stored[0] ? r->stored : NULL,
                        "detail", r->detail);
    }
    if (brk == NULL) {
        return NULL;
    }
    out = json_pack("{s:b, s:I, s:I, s:I, s:{s:I, s:s}, s:o}", "intact", r->intact, "records",
                    (json_int_t)r->records, "events", (json_int_t)r->events, "start_seq", (json_int_t)r->start_seq,
                    "head", "seq", (json_int_t)r->head_seq, "hash", r->head_hash, "broken", brk);
    return out;
}

static ccg_result list_row(void *ctx, const ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL;
    CCG_TRY(ccg_audit_record_from_row(cols, &rec));
    CCG_ENSURE(json_array_append_new((json_t *)ctx, rec) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Reads the records q selects, in one snapshot, into a new array. */
static ccg_result list_scan(ccg_audit *a, const ccg_audit_scan *q, json_t **records)
{
    ccg_result result = CCG_FAILURE;
    json_t *list = NULL;
    int locked = 0, in_tx = 0;
    list = json_array();
    CCG_ENSURE_ALLOC(list);
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(a->ops->begin_read(a->s));
    in_tx = 1;
    CCG_TRY(a->ops->scan(a->s, q, list_row, list));
    CCG_TRY(a->ops->commit(a->s));
    in_tx = 0;
    *records = list;
    list = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        a->ops->rollback(a->s);
    }
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    json_decref(list);
    return result;
}

ccg_result ccg_audit_list(ccg_audit *a, int64_t since, size_t limit, json_t **records)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_scan q = {.since = since, .limit = limit, .request_id = NULL};
    ccg_error_clear();
    CCG_ENSURE(a != NULL && records != NULL, CCG_R_INPUT_MALFORMED);
    *records = NULL;
    CCG_ENSURE_MSG(since >= 0, CCG_R_INPUT_MALFORMED, "since must be >= 0");
    CCG_TRY(list_scan(a, &q, records));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_audit_find(ccg_audit *a, const char *request_id, json_t **records)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_scan q = {.since = 0, .limit = CCG_AUDIT_SHOW_MAX, .request_id = request_id};
    size_t n = 0;
    ccg_error_clear();
    CCG_ENSURE(a != NULL && records != NULL, CCG_R_INPUT_MALFORMED);
    *records = NULL;
    n = request_id ? strnlen(request_id, CCG_AUDIT_REQUEST_ID_MAX + 1) : 0;
    CCG_ENSURE_MSG(n >= 1 && n <= CCG_AUDIT_REQUEST_ID_MAX, CCG_R_INPUT_MALFORMED,
                   "a request ID is 1..%u bytes", CCG_AUDIT_REQUEST_ID_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = request_id[i];
        CCG_ENSURE_MSG((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
                           c == '_' || c == ':' || c == '-',
                       CCG_R_INPUT_MALFORMED, "a request ID is of [A-Za-z0-9._:-]");
    }
    CCG_TRY(list_scan(a, &q, records));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
