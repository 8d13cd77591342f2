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
    char when[32];
    int locked = 0;
    ccg_error_clear();
    CCG_ENSURE(a != NULL && seq != NULL, CCG_R_INPUT_MALFORMED);
    *seq = 0;
    /* RFC 3339 UTC with seconds: text order is time order. */
    ccg_time_format_rfc3339(before, when, sizeof(when));
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(a->ops->checkpoint_before(a->s, when, seq));
    CCG_ENSURE_MSG(*seq >= 1, CCG_R_AUDIT_CHECKPOINT_INVALID, "no audit checkpoint was made at or before %s", when);
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    return result;
}

/* The record at one seq (the scan's first row after seq - 1, if it is that one). */
typedef struct {
    int64_t seq;
    char action[CCG_AUDIT_ACTION_MAX + 1];
    char decision[16];
    char persona[16];
    int found;
} record_at;

static void copy_col(const ccg_audit_col *c, char *out, size_t size)
{
    snprintf(out, size, "%s", c->type == CCG_AUDIT_COL_TEXT && c->text ? c->text : "");
}

static ccg_result record_at_row(void *ctx, const ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    record_at *r = ctx;
    if (cols[0].type == CCG_AUDIT_COL_INT && cols[0].i == r->seq) {
        r->found = 1;
        copy_col(&cols[5], r->action, sizeof(r->action));
        copy_col(&cols[11], r->decision, sizeof(r->decision));
        copy_col(&cols[4], r->persona, sizeof(r->persona));
    }
    return CCG_SUCCESS;
}

/* Inside the write transaction: the record at seq must be a checkpoint. */
static ccg_result require_checkpoint(ccg_audit *a, int64_t seq)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_scan q = {.since = seq - 1, .limit = 1, .request_id = NULL};
    record_at r;
    memset(&r, 0, sizeof(r));
    r.seq = seq;
    CCG_TRY(a->ops->scan(a->s, &q, record_at_row, &r));
    CCG_ENSURE_MSG(r.found, CCG_R_AUDIT_CHECKPOINT_INVALID, "there is no audit record %lld", (long long)seq);
    CCG_ENSURE_MSG(strcmp(r.action, CCG_AUDIT_ACTION_CHECKPOINT) == 0 && strcmp(r.decision, "allow") == 0 &&
                       strcmp(r.persona, "operator") == 0,
                   CCG_R_AUDIT_CHECKPOINT_INVALID, "audit record %lld is a %.64s record, not a checkpoint",
                   (long long)seq, r.action);
    result = CCG_SUCCESS;
cleanup:
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
    CCG_TRY(a->ops->begin_write(a->s));
    in_tx = 1;
    CCG_TRY(require_checkpoint(a, checkpoint_seq));
    CCG_TRY(a->ops->count_before(a->s, checkpoint_seq, &n));
    if (n > 0) {
        CCG_TRY(a->ops->delete_before(a->s, checkpoint_seq));
        CCG_TRY(ccg_audit_append_in_tx(a, &ev, NULL, NULL));
    }
    CCG_TRY(a->ops->commit(a->s));
    in_tx = 0;
    if (removed != NULL) {
        *removed = n;
    }
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
