/* Opening the audit log on its backend, and appending. An append is one write transaction of the
 * backend (which serialises every appender): read the head, build the record at head + 1 chained to
 * the head's hash, insert, COMMIT durably. The record is built and hashed here, once, for every backend. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"

static int has_prefix(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

ccg_result ccg_audit_open(const char *location, const ccg_audit_options *opts, ccg_audit **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit *a = NULL;
    ccg_audit_options defaults = {.busy_timeout_ms = 0, .create = 1};
    int mutex_ok = 0;

    ccg_error_clear();
    CCG_ENSURE(out != NULL, CCG_R_INPUT_MALFORMED);
    *out = NULL;
    CCG_ENSURE_MSG(location != NULL && *location != '\0', CCG_R_INPUT_MALFORMED, "no audit database path");
    if (opts == NULL) {
        opts = &defaults;
    }
    a = calloc(1, sizeof(*a));
    CCG_ENSURE_ALLOC(a);
    CCG_ENSURE(pthread_mutex_init(&a->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    mutex_ok = 1;
    if (has_prefix(location, "postgresql://") || has_prefix(location, "postgres://")) {
        CCG_TRY(ccg_audit_pg_open(location, opts, &a->ops, &a->s));
    } else {
        const char *path = has_prefix(location, "sqlite:") ? location + strlen("sqlite:") : location;
        CCG_ENSURE_MSG(*path != '\0', CCG_R_INPUT_MALFORMED, "no audit database path");
        CCG_TRY(ccg_audit_sqlite_open(path, opts, &a->ops, &a->s));
    }
    *out = a;
    a = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (a != NULL) {
        if (mutex_ok) {
            pthread_mutex_destroy(&a->lock);
        }
        free(a);
    }
    return result;
}

void ccg_audit_close(ccg_audit *a)
{
    if (a == NULL) {
        return;
    }
    a->ops->close(a->s);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* The head inside the caller's transaction (or snapshot): the genesis hash when the log is empty. */
static ccg_result read_head(ccg_audit *a, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    *seq = 0;
    snprintf(hash, CCG_AUDIT_HASH_HEX, "%s", CCG_AUDIT_GENESIS);
    CCG_TRY(a->ops->head(a->s, seq, hash));
    if (*seq == 0) {
        snprintf(hash, CCG_AUDIT_HASH_HEX, "%s", CCG_AUDIT_GENESIS);
    }
    CCG_ENSURE_MSG(*seq >= 0 && ccg_audit_hash_text_ok(hash), CCG_R_AUDIT_CHAIN_BROKEN,
                   "the newest audit record (seq %lld) is malformed", (long long)*seq);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_audit_append_in_tx(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL;
    char *reasons_text = NULL;
    char *texts[3] = {NULL, NULL, NULL};
    ccg_audit_col cols[CCG_AUDIT_NCOLS];
    char prev[CCG_AUDIT_HASH_HEX];
    char mine[CCG_AUDIT_HASH_HEX];
    int64_t head = 0;
    CCG_TRY(read_head(a, &head, prev));
    CCG_TRY(ccg_audit_record_from_event(ev, head + 1, prev, &rec, &reasons_text));
    CCG_TRY(ccg_audit_record_hash(rec, mine));
    CCG_TRY(ccg_audit_cols_from_record(rec, reasons_text, mine, cols, texts));
    CCG_TRY(a->ops->insert(a->s, cols));
    if (seq != NULL) {
        *seq = head + 1;
    }
    if (hash != NULL) {
        memcpy(hash, mine, CCG_AUDIT_HASH_HEX);
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_audit_cols_free(texts);
    json_decref(rec);
    free(reasons_text);
    return result;
}

/* One append: the write lock, the head, the insert and the COMMIT under the appender's mutex; the wait
 * for the disk (durable) after it, so appends of several threads share one WAL sync instead of queueing
 * behind each other's. The chain is decided at COMMIT: a later append chains to this record whether or
 * not it is durable yet, and its own sync covers this one (one ordered log). */
static ccg_result append(ccg_audit *a, const ccg_audit_event *ev, int durable, int64_t *seq,
                         char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    int in_tx = 0, locked = 0;
    uint64_t ticket = 0;

    ccg_error_clear();
    CCG_ENSURE(a != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(ccg_audit_event_check(ev));
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(a->ops->begin_write(a->s));
    in_tx = 1;
    CCG_TRY(ccg_audit_append_in_tx(a, ev, seq, hash));
    /* A failed COMMIT may leave the transaction open: rolled back below. */
    if (durable) {
        CCG_TRY(a->ops->commit_ordered(a->s, &ticket));
    } else {
        CCG_TRY(a->ops->commit_unsynced(a->s));
    }
    in_tx = 0;
    pthread_mutex_unlock(&a->lock);
    locked = 0;
    if (durable) {
        CCG_TRY(a->ops->durable(a->s, ticket));
    }
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        a->ops->rollback(a->s);
    }
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    if (ccg_failed(result)) {
        /* Whatever failed below (a lock timeout, I/O, a full disk, a lost database connection), the
         * caller's answer is the same: the record is not written, so nothing may be released. Input
         * errors keep their code. */
        const ccg_error *e = ccg_error_last();
        ccg_reason_kind kind = ccg_reason_kind_of(e->reason);
        if (kind != CCG_KIND_INPUT && e->reason != CCG_R_AUDIT_WRITE_FAILED) {
            char cause[sizeof(e->message) + 48];
            snprintf(cause, sizeof(cause), "%s: %s", ccg_reason_code(e->reason), e->message);
            ccg_error_clear();
            ccg_error_set(CCG_R_AUDIT_WRITE_FAILED, __FILE__, __LINE__, "the audit record was not written (%.280s)",
                          cause);
        }
    }
    return result;
}

ccg_result ccg_audit_append(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    return append(a, ev, 1, seq, hash);
}

ccg_result ccg_audit_append_ordered(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq,
                                    char hash[CCG_AUDIT_HASH_HEX])
{
    return append(a, ev, 0, seq, hash);
}

ccg_result ccg_audit_head(ccg_audit *a, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    int locked = 0;
    ccg_error_clear();
    CCG_ENSURE(a != NULL && seq != NULL && hash != NULL, CCG_R_INPUT_MALFORMED);
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(read_head(a, seq, hash));
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    return result;
}
