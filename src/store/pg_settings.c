/* Settings in PostgreSQL. get_or_create reads first (no lock); when the setting is absent it opens a
 * transaction holding the setting's advisory lock (pg_advisory_xact_lock('CCGT', hashtext(name))),
 * reads again, and only then generates and inserts (INSERT ... ON CONFLICT DO NOTHING, then a read: the
 * first committed value wins even against a writer that bypasses the lock), so exactly one value is ever
 * stored however many threads, processes or instances race, and the generator runs only when needed. */
#include <stdlib.h>
#include <string.h>

#include "pg_store.h"

static const char SQL_LOCK[] = "SELECT pg_advisory_xact_lock(1128482644, hashtext($1))"; /* 'CCGT' */
static const char SQL_GET[] = "SELECT value FROM settings WHERE name = $1";
static const char SQL_PUT[] =
    "INSERT INTO settings(name, value, created_at, updated_at) VALUES ($1, $2, $3, $3)"
    " ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
static const char SQL_INSERT[] = "INSERT INTO settings(name, value, created_at, updated_at) VALUES ($1, $2, $3, $3)"
                                 " ON CONFLICT (name) DO NOTHING";

ccg_result ccg_pg_setting_get(void *impl, const char *name, uint8_t **value, size_t *len, int *found)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    *found = 0;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, name);
    CCG_TRY(ccg_pg_exec(impl, SQL_GET, &p, "read the setting", &r));
    if (PQntuples(r) == 1) {
        CCG_TRY(ccg_pg_col_bytes(r, 0, 0, CCG_STORE_SETTING_MAX, 0, value, len));
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

static ccg_result write_setting(ccg_pg *h, const char *sql, const char *name, const uint8_t *value, size_t len,
                                ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, name);
    ccg_pg_bytes(&p, value, len);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, sql, &p, "write the setting", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_setting_put(void *impl, const char *name, const uint8_t *value, size_t len, ccg_time now)
{
    return write_setting(impl, SQL_PUT, name, value, len, now);
}

ccg_result ccg_pg_setting_get_or_create(void *impl, const char *name, ccg_store_generator generate, void *ctx,
                                        ccg_time now, uint8_t **value, size_t *len, int *created)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    uint8_t *fresh = NULL;
    size_t fresh_len = 0;
    int found = 0;

    *created = 0;
    CCG_TRY(ccg_pg_setting_get(h, name, value, len, &found));
    if (found) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_pg_begin(h));
    CCG_TRY(ccg_pg_lock(h, SQL_LOCK, name));
    CCG_TRY(ccg_pg_setting_get(h, name, value, len, &found));
    if (!found) {
        CCG_TRY(ccg_store_setting_generate(name, generate, ctx, &fresh, &fresh_len));
        CCG_TRY(write_setting(h, SQL_INSERT, name, fresh, fresh_len, now));
        /* whatever is stored now is the value, ours or a lock-bypassing writer's */
        CCG_TRY(ccg_pg_setting_get(h, name, value, len, &found));
        CCG_ENSURE(found, CCG_R_STORE_CORRUPT);
        *created = *len == fresh_len && memcmp(*value, fresh, fresh_len) == 0;
    }
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    ccg_store_setting_drop(&fresh, &fresh_len);
    if (ccg_failed(result)) {
        *created = 0;
        ccg_store_setting_drop(value, len);
    }
    return result;
}
