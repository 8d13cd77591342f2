/* Retention: checkpoints and pruning (docs/audit.md, "Retention").
 *
 * A checkpoint is an ordinary record (action audit.checkpoint, persona operator, allow). Pruning at a
 * checkpoint deletes every record before it and, in the same transaction, appends an audit.prune
 * record whose count is the checkpoint's seq - 1: every record removed so far. The verifier then
 * starts at the checkpoint, takes its prev_hash as given, checks everything after it as before, and
 * requires that prune record (else prune_unrecorded), so records deleted by hand before a checkpoint
 * do not pass for a prune. A chain that does not verify is never pruned: that would destroy the
 * evidence of the break. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"

static const char SQL_RECORD[] = "SELECT action, decision, persona FROM audit_log WHERE seq = ?1";
static const char SQL_CHECKPOINT_BEFORE[] =
    "SELECT seq FROM audit_log WHERE action = '" CCG_AUDIT_ACTION_CHECKPOINT "' AND decision = 'allow'"
    " AND persona = 'operator' AND time <= ?1 ORDER BY seq DESC LIMIT 1";
static const char SQL_COUNT_BEFORE[] = "SELECT count(*) FROM audit_log WHERE seq < ?1";
static const char SQL_DELETE_BEFORE[] = "DELETE FROM audit_log WHERE seq < ?1";
static const char SQL_DROP_DELETE_TRIGGER[] = "DROP TRIGGER IF EXISTS audit_log_no_delete;";

ccg_result ccg_audit_checkpoint(ccg_audit *a, ccg_time now, const char *request_id, int64_t *seq,
                                char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_audit_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.time = now;
    ev.request_id = request_id;
    ev.persona = CCG_PERSONA_OPERATOR;
    ev.action = CCG_AUDIT_ACTION_CHECKPOINT;
    ev.decision = CCG_AUDIT_ALLOW;
    return ccg_audit_append(a, &ev, seq, hash);
}

ccg_result ccg_audit_checkpoint_before(ccg_audit *a, ccg_time before, int64_t *seq)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    char when[32];
    int row = 0, locked = 0;
    ccg_error_clear();
    CCG_ENSURE(a != NULL && seq != NULL, CCG_R_INPUT_MALFORMED);
    *seq = 0;
    /* RFC 3339 UTC with seconds: text order is time order. */
    ccg_time_format_rfc3339(before, when, sizeof(when));
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(ccg_sqlite_stmt(a->h, SQL_CHECKPOINT_BEFORE, &st));
    CCG_TRY(ccg_sqlite_bind_text(a->h, st, 1, when));
    CCG_TRY(ccg_sqlite_step_row(a->h, st, &row, "find a checkpoint"));
    CCG_ENSURE_MSG(row, CCG_R_AUDIT_CHECKPOINT_INVALID, "no audit checkpoint was made at or before %s", when);
    CCG_TRY(ccg_sqlite_col_int(st, 0, seq));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    return result;
}

/* Inside the write transaction: the record at seq must be a checkpoint. */
static ccg_result require_checkpoint(ccg_audit *a, int64_t seq)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    char action[CCG_AUDIT_ACTION_MAX + 1], decision[16], persona[16];
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(a->h, SQL_RECORD, &st));
    CCG_TRY(ccg_sqlite_bind_int(a->h, st, 1, seq));
    CCG_TRY(ccg_sqlite_step_row(a->h, st, &row, "read the checkpoint"));
    CCG_ENSURE_MSG(row, CCG_R_AUDIT_CHECKPOINT_INVALID, "there is no audit record %lld", (long long)seq);
    CCG_TRY(ccg_sqlite_col_text(st, 0, action, sizeof(action)));
    CCG_TRY(ccg_sqlite_col_text(st, 1, decision, sizeof(decision)));
    CCG_TRY(ccg_sqlite_col_text(st, 2, persona, sizeof(persona)));
    CCG_ENSURE_MSG(strcmp(action, CCG_AUDIT_ACTION_CHECKPOINT) == 0 && strcmp(decision, "allow") == 0 &&
                       strcmp(persona, "operator") == 0,
                   CCG_R_AUDIT_CHECKPOINT_INVALID, "audit record %lld is a %.64s record, not a checkpoint",
                   (long long)seq, action);
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result count_before(ccg_audit *a, int64_t seq, int64_t *n)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(a->h, SQL_COUNT_BEFORE, &st));
    CCG_TRY(ccg_sqlite_bind_int(a->h, st, 1, seq));
    CCG_TRY(ccg_sqlite_step_row(a->h, st, &row, "count the records to prune"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, n));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result delete_before(ccg_audit *a, int64_t seq)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    /* The append-only trigger is lifted for this DELETE only, inside the transaction. */
    CCG_TRY(ccg_sqlite_exec_script(a->h, SQL_DROP_DELETE_TRIGGER, "lift the delete trigger"));
    CCG_TRY(ccg_sqlite_stmt(a->h, SQL_DELETE_BEFORE, &st));
    CCG_TRY(ccg_sqlite_bind_int(a->h, st, 1, seq));
    CCG_TRY(ccg_sqlite_step_done(a->h, st, "prune the audit log"));
    CCG_TRY(ccg_sqlite_exec_script(a->h, CCG_AUDIT_SQL_TRIGGERS, "restore the delete trigger"));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_audit_prune(ccg_audit *a, int64_t checkpoint_seq, ccg_time now, const char *request_id,
                           int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_verify_report report;
    ccg_audit_event ev;
    int64_t n = 0;
    int in_tx = 0, locked = 0;

    ccg_error_clear();
    CCG_ENSURE(a != NULL && checkpoint_seq >= 1, CCG_R_INPUT_MALFORMED);
    if (removed != NULL) {
        *removed = 0;
    }
    memset(&ev, 0, sizeof(ev));
    ev.time = now;
    ev.request_id = request_id;
    ev.persona = CCG_PERSONA_OPERATOR;
    ev.action = CCG_AUDIT_ACTION_PRUNE;
    ev.decision = CCG_AUDIT_ALLOW;
    ev.count = checkpoint_seq > 1 ? checkpoint_seq - 1 : 1;
    CCG_TRY(ccg_audit_event_check(&ev));
    /* Never prune a chain that does not verify (from a snapshot, without holding the write lock). */
    CCG_TRY(ccg_audit_verify(a, NULL, &report));
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(ccg_sqlite_begin(a->h));
    in_tx = 1;
    CCG_TRY(require_checkpoint(a, checkpoint_seq));
    CCG_TRY(count_before(a, checkpoint_seq, &n));
    if (n > 0) {
        CCG_TRY(delete_before(a, checkpoint_seq));
        CCG_TRY(ccg_audit_append_in_tx(a, &ev, NULL, NULL));
    }
    CCG_TRY(ccg_sqlite_commit(a->h));
    in_tx = 0;
    if (removed != NULL) {
        *removed = n;
    }
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(a->h);
    }
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    return result;
}
