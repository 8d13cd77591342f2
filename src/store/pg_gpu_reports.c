/* The GPU reports the key broker has seen, in PostgreSQL. Recording is one INSERT ... ON CONFLICT DO
 * NOTHING (a racing inserter waits for the first and then does nothing), then every caller reads whose
 * the row is: the first session keeps it. */
#include <stdlib.h>
#include <string.h>

#include "pg_store.h"

static const char SQL_INSERT[] = "INSERT INTO gpu_reports(digest, session_id, first_seen) VALUES ($1, $2, $3)"
                                 " ON CONFLICT (digest) DO NOTHING";
static const char SQL_GET[] = "SELECT session_id, first_seen FROM gpu_reports WHERE digest = $1";
static const char SQL_PURGE[] = "DELETE FROM gpu_reports WHERE first_seen < $1";

ccg_result ccg_pg_gpu_report_seen(void *impl, const char *digest, const char *session_id, ccg_time now,
                                  char *first_session, size_t cap, ccg_time *first_seen, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    *found = 0;
    if (session_id != NULL) {
        ccg_pg_params_init(&p);
        ccg_pg_text(&p, digest);
        ccg_pg_text(&p, session_id);
        ccg_pg_int(&p, now);
        CCG_TRY(ccg_pg_exec(h, SQL_INSERT, &p, "record a seen GPU report", NULL));
    }
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, digest);
    CCG_TRY(ccg_pg_exec(h, SQL_GET, &p, "read a seen GPU report", &r));
    if (PQntuples(r) == 1) {
        CCG_TRY(ccg_store_row_gpu_report(ccg_pg_row(r, 0), first_session, cap, first_seen));
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_gpu_report_purge(void *impl, ccg_time before, int64_t *removed)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_int(&p, before);
    CCG_TRY(ccg_pg_exec(impl, SQL_PURGE, &p, "forget old GPU reports", &r));
    *removed = strtoll(PQcmdTuples(r), NULL, 10);
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}
