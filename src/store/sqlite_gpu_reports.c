/* The GPU reports the key broker has seen, in SQLite. Recording is one conditional INSERT (ON CONFLICT
 * DO NOTHING): of any number of callers (threads, processes, broker replicas on one database) the first
 * keeps the row, and every caller then reads whose it is. */
#include <string.h>

#include "sqlite_store.h"

static const char SQL_INSERT[] = "INSERT INTO gpu_reports(digest, session_id, first_seen) VALUES (?1, ?2, ?3)"
                                 " ON CONFLICT(digest) DO NOTHING";
static const char SQL_GET[] = "SELECT session_id, first_seen FROM gpu_reports WHERE digest = ?1";
static const char SQL_PURGE[] = "DELETE FROM gpu_reports WHERE first_seen < ?1";

static ccg_result read_row(ccg_sqlite *h, const char *digest, char *first_session, size_t cap, ccg_time *first_seen,
                           int *found)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    *found = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_GET, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, digest));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read a seen GPU report"));
    if (row) {
        CCG_TRY(ccg_store_row_gpu_report(ccg_sqlite_row(st), first_session, cap, first_seen));
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_gpu_report_seen(void *impl, const char *digest, const char *session_id, ccg_time now,
                                      char *first_session, size_t cap, ccg_time *first_seen, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    if (session_id != NULL) {
        CCG_TRY(ccg_sqlite_stmt(h, SQL_INSERT, &st));
        CCG_TRY(ccg_sqlite_bind_text(h, st, 1, digest));
        CCG_TRY(ccg_sqlite_bind_text(h, st, 2, session_id));
        CCG_TRY(ccg_sqlite_bind_int(h, st, 3, now));
        ccg_sqlite_gate_enter(h);
        result = ccg_sqlite_step_done(h, st, "record a seen GPU report");
        ccg_sqlite_gate_leave(h);
        CCG_TRY(result);
        result = CCG_FAILURE;
    }
    CCG_TRY(read_row(h, digest, first_session, cap, first_seen, found));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_gpu_report_purge(void *impl, ccg_time before, int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_PURGE, &st));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 1, before));
    ccg_sqlite_gate_enter(h);
    result = ccg_sqlite_step_done(h, st, "forget old GPU reports");
    ccg_sqlite_gate_leave(h);
    CCG_TRY(result);
    result = CCG_FAILURE;
    *removed = sqlite3_changes(h->db);
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}
