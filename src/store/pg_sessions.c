/* Sessions and single-use nonces in PostgreSQL. Consumption is ONE conditional UPDATE ... RETURNING in
 * its own (autocommit) transaction: under READ COMMITTED a second updater of the row waits for the
 * first, re-checks the WHERE clause on the committed row (nonce_used is 1 now) and updates nothing, so
 * of any number of callers (threads, processes, broker instances on one database) exactly one gets the
 * row back. A refusal is classified afterwards from the row, for the caller's reason. */
#include <stdlib.h>
#include <string.h>

#include "pg_store.h"

static const char SQL_CREATE[] =
    "INSERT INTO sessions(session_id, nonce, tee, state, nonce_used, created_at, expires_at)"
    " VALUES ($1, $2, $3, 'challenged', 0, $4, $5)";
static const char SQL_GET[] = "SELECT session_id, nonce, tee, state, nonce_used, created_at, expires_at,"
                              " attested_at, claims FROM sessions WHERE session_id = $1";
static const char SQL_CONSUME[] =
    "UPDATE sessions SET nonce_used = 1"
    " WHERE session_id = $1 AND nonce = $2 AND nonce_used = 0 AND state = 'challenged' AND expires_at > $3"
    " RETURNING session_id";
static const char SQL_ATTEST[] =
    "UPDATE sessions SET state = 'attested', claims = $2, attested_at = $3, expires_at = $4"
    " WHERE session_id = $1 AND state = 'challenged' AND nonce_used = 1 AND expires_at > $3"
    " RETURNING session_id";
static const char SQL_PURGE[] = "DELETE FROM sessions WHERE expires_at <= $1";

ccg_result ccg_pg_session_create(void *impl, const char *session_id, const char *nonce, const char *tee,
                                 ccg_time now, ccg_time expires_at)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, session_id);
    ccg_pg_text(&p, nonce);
    ccg_pg_text(&p, tee);
    ccg_pg_int(&p, now);
    ccg_pg_int(&p, expires_at);
    CCG_TRY(ccg_pg_exec(impl, SQL_CREATE, &p, "create the session (duplicate session ID or nonce?)", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Reads the row of a session; *found 0 when absent. */
static ccg_result read_session(ccg_pg *h, const char *session_id, ccg_store_session *out, int *found)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    char state[16];
    int64_t used = 0;
    size_t claims_len = 0;
    uint8_t *claims = NULL;

    memset(out, 0, sizeof(*out));
    *found = 0;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, session_id);
    CCG_TRY(ccg_pg_exec(h, SQL_GET, &p, "read the session", &r));
    if (PQntuples(r) == 0) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_pg_col_text(r, 0, 0, out->session_id, sizeof(out->session_id)));
    CCG_TRY(ccg_pg_col_text(r, 0, 1, out->nonce, sizeof(out->nonce)));
    CCG_TRY(ccg_pg_col_text(r, 0, 2, out->tee, sizeof(out->tee)));
    CCG_TRY(ccg_pg_col_text(r, 0, 3, state, sizeof(state)));
    if (strcmp(state, "challenged") == 0) {
        out->state = CCG_SESSION_CHALLENGED;
    } else if (strcmp(state, "attested") == 0) {
        out->state = CCG_SESSION_ATTESTED;
    } else {
        CCG_BAIL(CCG_R_STORE_CORRUPT, "session '%s' has the unknown state '%s'", session_id, state);
    }
    CCG_TRY(ccg_pg_col_int(r, 0, 4, &used));
    out->nonce_used = used != 0;
    CCG_TRY(ccg_pg_col_int(r, 0, 5, &out->created_at));
    CCG_TRY(ccg_pg_col_int(r, 0, 6, &out->expires_at));
    if (!ccg_pg_col_null(r, 0, 7)) {
        CCG_TRY(ccg_pg_col_int(r, 0, 7, &out->attested_at));
    }
    CCG_TRY(ccg_pg_col_bytes(r, 0, 8, CCG_STORE_JSON_MAX, 1, &claims, &claims_len));
    out->claims_json = (char *)claims;
    claims = NULL;
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    free(claims);
    if (ccg_failed(result)) {
        ccg_store_session_free(out);
    }
    return result;
}

ccg_result ccg_pg_session_get(void *impl, const char *session_id, ccg_store_session *out, int *found)
{
    return read_session(impl, session_id, out, found);
}

ccg_result ccg_pg_session_consume_nonce(void *impl, const char *session_id, const char *nonce, ccg_time now,
                                        ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_store_session s;
    int found = 0;

    memset(&s, 0, sizeof(s));
    *status = CCG_SESSION_NOT_FOUND;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, session_id);
    ccg_pg_text(&p, nonce);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_CONSUME, &p, "consume the nonce", &r));
    if (PQntuples(r) == 1) {
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
    PQclear(r);
    ccg_store_session_free(&s);
    return result;
}

ccg_result ccg_pg_session_attest(void *impl, const char *session_id, const char *claims_json, ccg_time now,
                                 ccg_time expires_at, ccg_session_status *status)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_store_session s;
    int found = 0;

    memset(&s, 0, sizeof(s));
    *status = CCG_SESSION_NOT_FOUND;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, session_id);
    ccg_pg_text(&p, claims_json);
    ccg_pg_int(&p, now);
    ccg_pg_int(&p, expires_at);
    CCG_TRY(ccg_pg_exec(h, SQL_ATTEST, &p, "record the attestation", &r));
    if (PQntuples(r) == 1) {
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
    PQclear(r);
    ccg_store_session_free(&s);
    return result;
}

ccg_result ccg_pg_session_purge(void *impl, ccg_time before, int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_int(&p, before);
    CCG_TRY(ccg_pg_exec(impl, SQL_PURGE, &p, "purge expired sessions", &r));
    *removed = strtoll(PQcmdTuples(r), NULL, 10);
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}
