/* Owners in PostgreSQL: one row per owned key or policy, (issuer, subject). A claim is one transaction:
 * INSERT ... ON CONFLICT DO NOTHING (a racing claimant waits for the first and then does nothing), then
 * a read of the recorded owner, so concurrent claimants agree on one winner; the schema refuses a change
 * of hands (trigger owners_fixed) and any delete. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pg_store.h"

static const char SQL_GET[] = "SELECT issuer, subject FROM owners WHERE kind = $1 AND object_id = $2";
static const char SQL_CLAIM[] =
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
    " ON CONFLICT (kind, object_id) DO NOTHING";
/* Transfers of one object queue on its lock ('CCGO', hashtext(kind:id)); the schema backs them up (an
 * owner changes hands only with a matching owner_transfers row). */
static const char SQL_OWNER_LOCK[] = "SELECT pg_advisory_xact_lock(1128482639, hashtext($1))";
static const char SQL_TRANSFER_RECORD[] =
    "INSERT INTO owner_transfers(kind, object_id, from_issuer, from_subject, to_issuer, to_subject, at)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7)";
static const char SQL_TRANSFER[] =
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)"
    " ON CONFLICT (kind, object_id) DO UPDATE SET issuer = excluded.issuer, subject = excluded.subject,"
    " updated_at = excluded.updated_at";
static const char SQL_UNBOUND[] =
    "SELECT DISTINCT subject COLLATE \"C\" FROM owners WHERE issuer = '' ORDER BY subject COLLATE \"C\"";
static const char SQL_BIND[] = "UPDATE owners SET issuer = $2, updated_at = $3 WHERE issuer = '' AND subject = $1";

ccg_result ccg_pg_owner_get(void *impl, ccg_store_owned kind, const char *id, ccg_store_owner *out, int *found)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    memset(out, 0, sizeof(*out));
    *found = 0;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, ccg_store_owned_name(kind));
    ccg_pg_text(&p, id);
    CCG_TRY(ccg_pg_exec(impl, SQL_GET, &p, "read the owner", &r));
    if (PQntuples(r) == 1) {
        CCG_TRY(ccg_store_row_owner(ccg_pg_row(r, 0), out));
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_owner_claim(void *impl, ccg_store_owned kind, const char *id, const ccg_store_owner *owner,
                              ccg_time now, int *mine)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    ccg_pg_params p;
    ccg_store_owner recorded;
    int found = 0;
    *mine = 0;
    CCG_TRY(ccg_pg_begin(h));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, ccg_store_owned_name(kind));
    ccg_pg_text(&p, id);
    ccg_pg_text(&p, owner->issuer);
    ccg_pg_text(&p, owner->subject);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_CLAIM, &p, "claim the owner", NULL));
    CCG_TRY(ccg_pg_owner_get(h, kind, id, &recorded, &found));
    CCG_ENSURE(found, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_pg_commit(h));
    *mine = ccg_store_owner_same(&recorded, owner);
    result = CCG_SUCCESS;
cleanup:
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_owner_unbound(void *impl, ccg_store_owner **subjects, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_store_owner *items = NULL;
    int rows;
    *subjects = NULL;
    *count = 0;
    CCG_TRY(ccg_pg_exec(impl, SQL_UNBOUND, NULL, "list unbound owners", &r));
    rows = PQntuples(r);
    if (rows > 0) {
        items = calloc((size_t)rows, sizeof(*items));
        CCG_ENSURE_ALLOC(items);
    }
    for (int i = 0; i < rows; i++) {
        CCG_TRY(ccg_pg_col_text(r, i, 0, items[i].subject, sizeof(items[i].subject)));
    }
    *subjects = items;
    *count = (size_t)rows;
    items = NULL;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    free(items);
    return result;
}

ccg_result ccg_pg_owner_bind(void *impl, const char *subject, const char *issuer, ccg_time now, int64_t *bound)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    *bound = 0;
    /* One statement: its own transaction. */
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, subject);
    ccg_pg_text(&p, issuer);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(impl, SQL_BIND, &p, "bind unbound owners", &r));
    *bound = strtoll(PQcmdTuples(r), NULL, 10);
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

static ccg_result transfer_write(ccg_pg *h, ccg_store_owned kind, const char *id, const ccg_store_owner *from,
                                 const ccg_store_owner *to, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, ccg_store_owned_name(kind));
    ccg_pg_text(&p, id);
    ccg_pg_text(&p, from->issuer);
    ccg_pg_text(&p, from->subject);
    ccg_pg_text(&p, to->issuer);
    ccg_pg_text(&p, to->subject);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_TRANSFER_RECORD, &p, "record the owner transfer", NULL));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, ccg_store_owned_name(kind));
    ccg_pg_text(&p, id);
    ccg_pg_text(&p, to->issuer);
    ccg_pg_text(&p, to->subject);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_TRANSFER, &p, "transfer the owner", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_owner_transfer(void *impl, ccg_store_owned kind, const char *id, const ccg_store_owner *from,
                                 const ccg_store_owner *to, ccg_time now, int *done)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    ccg_store_owner recorded;
    char lock_name[CCG_STORE_ID_MAX + 16];
    int found = 0;
    *done = 0;
    snprintf(lock_name, sizeof(lock_name), "%s:%s", ccg_store_owned_name(kind), id);
    CCG_TRY(ccg_pg_begin(h));
    CCG_TRY(ccg_pg_lock(h, SQL_OWNER_LOCK, lock_name));
    CCG_TRY(ccg_pg_owner_get(h, kind, id, &recorded, &found));
    if (!ccg_store_owner_may_transfer(from, &recorded, found)) {
        result = CCG_SUCCESS; /* not the caller's to give: nothing changes */
        goto cleanup;
    }
    CCG_TRY(transfer_write(h, kind, id, &recorded, to, now));
    CCG_TRY(ccg_pg_commit(h));
    *done = 1;
    result = CCG_SUCCESS;
cleanup:
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}
