/* Sessions and single-use nonces in SQLite. Consumption is one conditional UPDATE whose change count
 * decides: of any number of callers (threads, processes, broker replicas on one database) exactly
 * one sees a change of 1. A refusal is classified afterwards from the row, for the caller's reason. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_store.h"

static const char SQL_CREATE[] =
    "INSERT INTO sessions(session_id, nonce, tee, state, nonce_used, created_at, expires_at)"
    " VALUES (?1, ?2, ?3, 'challenged', 0, ?4, ?5)";
static const char SQL_GET[] = "SELECT session_id, nonce, tee, state, nonce_used, created_at, expires_at,"
                              " attested_at, claims FROM sessions WHERE session_id = ?1";
static const char SQL_CONSUME[] =
    "UPDATE sessions SET nonce_used = 1"
    " WHERE session_id = ?1 AND nonce = ?2 AND nonce_used = 0 AND state = 'challenged' AND expires_at > ?3";
static const char SQL_ATTEST[] =
    "UPDATE sessions SET state = 'attested', claims = ?2, attested_at = ?3, expires_at = ?4"
    " WHERE session_id = ?1 AND state = 'challenged' AND nonce_used = 1 AND expires_at > ?3";
static const char SQL_PURGE[] = "DELETE FROM sessions WHERE expires_at <= ?1";

ccg_result ccg_sqlite_session_create(void *impl, const char *session_id, const char *nonce, const char *tee,
                                     ccg_time now, ccg_time expires_at)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_CREATE, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, session_id));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, nonce));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 3, tee));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 4, now));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 5, expires_at));
    ccg_sqlite_gate_enter(h);
    result = ccg_sqlite_step_done(h, st, "create the session (duplicate session ID or nonce?)");
    ccg_sqlite_gate_leave(h);
    CCG_TRY(result);
    result = CCG_FAILURE;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

/* Reads the row of a session; *found 0 when absent. */
static ccg_result read_session(ccg_sqlite *h, const char *session_id, ccg_store_session *out, int *found)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    char state[16];
    int64_t used = 0;
    size_t claims_len = 0;
    uint8_t *claims = NULL;
    int row = 0;

    memset(out, 0, sizeof(*out));
    *found = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_GET, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, session_id));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the session"));
    if (!row) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_sqlite_col_text(st, 0, out->session_id, sizeof(out->session_id)));
    CCG_TRY(ccg_sqlite_col_text(st, 1, out->nonce, sizeof(out->nonce)));
    CCG_TRY(ccg_sqlite_col_text(st, 2, out->tee, sizeof(out->tee)));
    CCG_TRY(ccg_sqlite_col_text(st, 3, state, sizeof(state)));
    if (strcmp(state, "challenged") == 0) {
        out->state = CCG_SESSION_CHALLENGED;
    } else if (strcmp(state, "attested") == 0) {
        out->state = CCG_SESSION_ATTESTED;
    } else {
        CCG_BAIL(CCG_R_STORE_CORRUPT, "session '%s' has the unknown state '%s'", session_id, state);
    }
    CCG_TRY(ccg_sqlite_col_int(st, 4, &used));
    out->nonce_used = used != 0;
    CCG_TRY(ccg_sqlite_col_int(st, 5, &out->created_at));
    CCG_TRY(ccg_sqlite_col_int(st, 6, &out->expires_at));
    if (sqlite3_column_type(st, 7) != SQLITE_NULL) {
        CCG_TRY(ccg_sqlite_col_int(st, 7, &out->attested_at));
    }
    CCG_TRY(ccg_sqlite_col_bytes(st, 8, CCG_STORE_JSON_MAX, 1, &claims, &claims_len));
    out->claims_json = (char *)claims;
    claims = NULL;
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    free(claims);
    if (ccg_failed(result)) {
        ccg_store_session_free(out);
    }
    return result;
}

ccg_result ccg_sqlite_session_get(void *impl, const char *session_id, ccg_store_session *out, int *found)
{
    return read_session(impl, session_id, out, found);
}

ccg_result ccg_sqlite_session_consume_nonce(void *impl, const char *session_id, const char *nonce, ccg_time now,
                                            ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    ccg_store_session s;
    int found = 0;

    memset(&s, 0, sizeof(s));
    *status = CCG_SESSION_NOT_FOUND;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_CONSUME, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, session_id));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, nonce));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 3, now));
    ccg_sqlite_gate_enter(h);
    result = ccg_sqlite_step_done(h, st, "consume the nonce");
    ccg_sqlite_gate_leave(h);
    CCG_TRY(result);
    result = CCG_FAILURE;
    if (sqlite3_changes(h->db) == 1) {
        *status = CCG_SESSION_OK;
        result = CCG_SUCCESS;
        goto cleanup;
    }
    /* Refused: say why. The update already decided; this read only explains. */
    CCG_TRY(read_session(h, session_id, &s, &found));
    if (!found) {
        *status = CCG_SESSION_NOT_FOUND;
    } else if (strcmp(s.nonce, nonce) != 0) {
        *status = CCG_SESSION_NONCE_MISMATCH;
    } else if (s.nonce_used) {
        *status = CCG_SESSION_NONCE_USED;
    } else if (now >= s.expires_at) {
        *status = CCG_SESSION_EXPIRED;
    } else {
        *status = CCG_SESSION_BAD_STATE;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    ccg_store_session_free(&s);
    return result;
}

ccg_result ccg_sqlite_session_attest(void *impl, const char *session_id, const char *claims_json, ccg_time now,
                                     ccg_time expires_at, ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    ccg_store_session s;
    int found = 0;

    memset(&s, 0, sizeof(s));
    *status = CCG_SESSION_NOT_FOUND;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_ATTEST, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, session_id));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, claims_json));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 3, now));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 4, expires_at));
    ccg_sqlite_gate_enter(h);
    result = ccg_sqlite_step_done(h, st, "record the attestation");
    ccg_sqlite_gate_leave(h);
    CCG_TRY(result);
    result = CCG_FAILURE;
    if (sqlite3_changes(h->db) == 1) {
        *status = CCG_SESSION_OK;
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(read_session(h, session_id, &s, &found));
    if (!found) {
        *status = CCG_SESSION_NOT_FOUND;
    } else if (now >= s.expires_at) {
        *status = CCG_SESSION_EXPIRED;
    } else {
        *status = CCG_SESSION_BAD_STATE;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    ccg_store_session_free(&s);
    return result;
}

ccg_result ccg_sqlite_session_purge(void *impl, ccg_time before, int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_PURGE, &st));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 1, before));
    ccg_sqlite_gate_enter(h);
    result = ccg_sqlite_step_done(h, st, "purge expired sessions");
    ccg_sqlite_gate_leave(h);
    CCG_TRY(result);
    result = CCG_FAILURE;
    *removed = sqlite3_changes(h->db);
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}
