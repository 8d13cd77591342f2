/* Owners in SQLite: one row per owned key or policy, (issuer, subject). A claim is one BEGIN
 * IMMEDIATE transaction (insert unless present, read back), so concurrent claimants agree on one
 * winner; the schema refuses a change of hands (trigger owners_fixed) and any delete. */
#include <stdlib.h>
#include <string.h>

#include "sqlite_store.h"

static const char SQL_GET[] = "SELECT issuer, subject FROM owners WHERE kind = ?1 AND object_id = ?2";
static const char SQL_CLAIM[] =
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
    " ON CONFLICT(kind, object_id) DO NOTHING";
static const char SQL_TRANSFER_RECORD[] =
    "INSERT INTO owner_transfers(kind, object_id, from_issuer, from_subject, to_issuer, to_subject, at)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
static const char SQL_TRANSFER[] =
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
    " ON CONFLICT(kind, object_id) DO UPDATE SET issuer = excluded.issuer, subject = excluded.subject,"
    " updated_at = excluded.updated_at";
static const char SQL_UNBOUND[] = "SELECT DISTINCT subject FROM owners WHERE issuer = '' ORDER BY subject";
static const char SQL_BIND[] = "UPDATE owners SET issuer = ?2, updated_at = ?3 WHERE issuer = '' AND subject = ?1";

ccg_result ccg_sqlite_owner_get(void *impl, ccg_store_owned kind, const char *id, ccg_store_owner *out, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int row = 0;
    memset(out, 0, sizeof(*out));
    *found = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_GET, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, ccg_store_owned_name(kind)));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, id));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the owner"));
    if (row) {
        CCG_TRY(ccg_store_row_owner(ccg_sqlite_row(st), out));
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_owner_claim(void *impl, ccg_store_owned kind, const char *id, const ccg_store_owner *owner,
                                  ccg_time now, int *mine)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    ccg_store_owner recorded;
    int found = 0, in_tx = 0;
    *mine = 0;
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_CLAIM, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, ccg_store_owned_name(kind)));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, id));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 3, owner->issuer));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 4, owner->subject));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 5, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "claim the owner"));
    CCG_TRY(ccg_sqlite_owner_get(h, kind, id, &recorded, &found));
    CCG_ENSURE(found, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_commit(h));
    in_tx = 0;
    *mine = ccg_store_owner_same(&recorded, owner);
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    return result;
}

static ccg_result transfer_step(ccg_sqlite *h, const char *sql, ccg_store_owned kind, const char *id,
                                const ccg_store_owner *from, const ccg_store_owner *to, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int record = sql == SQL_TRANSFER_RECORD;
    CCG_TRY(ccg_sqlite_stmt(h, sql, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, ccg_store_owned_name(kind)));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, id));
    if (record) {
        CCG_TRY(ccg_sqlite_bind_text(h, st, 3, from->issuer));
        CCG_TRY(ccg_sqlite_bind_text(h, st, 4, from->subject));
    }
    CCG_TRY(ccg_sqlite_bind_text(h, st, record ? 5 : 3, to->issuer));
    CCG_TRY(ccg_sqlite_bind_text(h, st, record ? 6 : 4, to->subject));
    CCG_TRY(ccg_sqlite_bind_int(h, st, record ? 7 : 5, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, record ? "record the owner transfer" : "transfer the owner"));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_owner_transfer(void *impl, ccg_store_owned kind, const char *id, const ccg_store_owner *from,
                                     const ccg_store_owner *to, ccg_time now, int *done)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    ccg_store_owner recorded;
    int found = 0, in_tx = 0;
    *done = 0;
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_owner_get(h, kind, id, &recorded, &found));
    if (!ccg_store_owner_may_transfer(from, &recorded, found)) {
        result = CCG_SUCCESS; /* not the caller's to give: nothing changes */
        goto cleanup;
    }
    CCG_TRY(transfer_step(h, SQL_TRANSFER_RECORD, kind, id, &recorded, to, now));
    CCG_TRY(transfer_step(h, SQL_TRANSFER, kind, id, NULL, to, now));
    CCG_TRY(ccg_sqlite_commit(h));
    in_tx = 0;
    *done = 1;
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    return result;
}

ccg_result ccg_sqlite_owner_unbound(void *impl, ccg_store_owner **subjects, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    ccg_store_owner *items = NULL;
    size_t n = 0, cap = 0;
    int row = 1;
    *subjects = NULL;
    *count = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_UNBOUND, &st));
    for (;;) {
        CCG_TRY(ccg_sqlite_step_row(h, st, &row, "list unbound owners"));
        if (!row) {
            break;
        }
        if (n == cap) {
            ccg_store_owner *grown;
            cap = cap == 0 ? 8 : cap * 2;
            grown = realloc(items, cap * sizeof(*items));
            CCG_ENSURE_ALLOC(grown);
            items = grown;
        }
        memset(&items[n], 0, sizeof(items[n]));
        CCG_TRY(ccg_sqlite_col_text(st, 0, items[n].subject, sizeof(items[n].subject)));
        n++;
    }
    *subjects = items;
    *count = n;
    items = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    free(items);
    return result;
}

ccg_result ccg_sqlite_owner_bind(void *impl, const char *subject, const char *issuer, ccg_time now, int64_t *bound)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int in_tx = 0;
    *bound = 0;
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_BIND, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, subject));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 2, issuer));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 3, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "bind unbound owners"));
    *bound = sqlite3_changes(h->db);
    CCG_TRY(ccg_sqlite_commit(h));
    in_tx = 0;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    return result;
}
