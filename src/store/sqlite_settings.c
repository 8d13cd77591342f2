/* Settings in SQLite. get_or_create reads first (no lock); when the setting is absent it takes the
 * write lock (BEGIN IMMEDIATE), reads again, and only then generates and inserts, so exactly one value
 * is ever stored however many threads or processes race, and the generator runs only when needed. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_store.h"

static const char SQL_GET[] = "SELECT value FROM settings WHERE name = ?1";
static const char SQL_PUT[] =
    "INSERT INTO settings(name, value, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)"
    " ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";
static const char SQL_INSERT[] = "INSERT INTO settings(name, value, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)";

ccg_result ccg_sqlite_setting_get(void *impl, const char *name, uint8_t **value, size_t *len, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int row = 0;
    *found = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_GET, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, name));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the setting"));
    if (row) {
        CCG_TRY(ccg_sqlite_col_bytes(st, 0, CCG_STORE_SETTING_MAX, 0, value, len));
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result write_setting(ccg_sqlite *h, const char *sql, const char *name, const uint8_t *value, size_t len,
                                ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, sql, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, name));
    CCG_TRY(ccg_sqlite_bind_blob(h, st, 2, value, len));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 3, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "write the setting"));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_setting_put(void *impl, const char *name, const uint8_t *value, size_t len, ccg_time now)
{
    return write_setting(impl, SQL_PUT, name, value, len, now);
}

ccg_result ccg_sqlite_setting_get_or_create(void *impl, const char *name, ccg_store_generator generate, void *ctx,
                                            ccg_time now, uint8_t **value, size_t *len, int *created)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    uint8_t *fresh = NULL;
    size_t fresh_len = 0;
    int found = 0, in_tx = 0;

    *created = 0;
    CCG_TRY(ccg_sqlite_setting_get(h, name, value, len, &found));
    if (found) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_setting_get(h, name, value, len, &found));
    if (!found) {
        CCG_TRY(ccg_store_setting_generate(name, generate, ctx, &fresh, &fresh_len));
        CCG_TRY(write_setting(h, SQL_INSERT, name, fresh, fresh_len, now));
    }
    CCG_TRY(ccg_sqlite_commit(h));
    in_tx = 0;
    if (!found) {
        *value = fresh;
        *len = fresh_len;
        fresh = NULL;
        *created = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    ccg_store_setting_drop(&fresh, &fresh_len);
    if (ccg_failed(result)) {
        ccg_store_setting_drop(value, len);
    }
    return result;
}
