/* Versioned documents in SQLite: policies, reference-value sets and collateral. Each kind has its
 * own table and its own static SQL; the logic is shared. A write is one BEGIN IMMEDIATE transaction:
 * an identical (id, version) is an idempotent success, a different one or a stale version conflicts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"
#include "sqlite_store.h"

typedef struct {
    const char *existing;   /* ?1 id, ?2 version -> digest */
    const char *newest;     /* ?1 id -> max(version) or 0 */
    const char *parent;     /* ?1 id, ?2 now; NULL when the kind has no parent table */
    const char *insert;     /* ?1 id, ?2 version, ?3 body, ?4 digest, ?5 now */
    const char *get;        /* ?1 id, ?2 version -> version, body, digest, created_at */
    const char *get_newest; /* ?1 id -> version, body, digest, created_at */
    const char *versions;   /* ?1 id -> version ascending */
} doc_sql;

static const char POLICY_EXISTING[] = "SELECT digest FROM policy_versions WHERE policy_id = ?1 AND version = ?2";
static const char POLICY_NEWEST[] = "SELECT coalesce(max(version), 0) FROM policy_versions WHERE policy_id = ?1";
static const char POLICY_PARENT[] =
    "INSERT INTO policies(policy_id, created_at) VALUES (?1, ?2) ON CONFLICT(policy_id) DO NOTHING";
static const char POLICY_INSERT[] = "INSERT INTO policy_versions(policy_id, version, document, digest, created_at)"
                                    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char POLICY_GET[] =
    "SELECT version, document, digest, created_at FROM policy_versions WHERE policy_id = ?1 AND version = ?2";
static const char POLICY_GET_NEWEST[] = "SELECT version, document, digest, created_at FROM policy_versions"
                                        " WHERE policy_id = ?1 ORDER BY version DESC LIMIT 1";
static const char POLICY_VERSIONS[] = "SELECT version FROM policy_versions WHERE policy_id = ?1 ORDER BY version";

static const char REFVAL_EXISTING[] = "SELECT digest FROM refval_sets WHERE set_id = ?1 AND version = ?2";
static const char REFVAL_NEWEST[] = "SELECT coalesce(max(version), 0) FROM refval_sets WHERE set_id = ?1";
static const char REFVAL_INSERT[] =
    "INSERT INTO refval_sets(set_id, version, document, digest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char REFVAL_GET[] =
    "SELECT version, document, digest, created_at FROM refval_sets WHERE set_id = ?1 AND version = ?2";
static const char REFVAL_GET_NEWEST[] = "SELECT version, document, digest, created_at FROM refval_sets"
                                        " WHERE set_id = ?1 ORDER BY version DESC LIMIT 1";
static const char REFVAL_VERSIONS[] = "SELECT version FROM refval_sets WHERE set_id = ?1 ORDER BY version";

static const char COLL_EXISTING[] = "SELECT digest FROM collateral WHERE collateral_id = ?1 AND version = ?2";
static const char COLL_NEWEST[] = "SELECT coalesce(max(version), 0) FROM collateral WHERE collateral_id = ?1";
static const char COLL_INSERT[] =
    "INSERT INTO collateral(collateral_id, version, content, digest, created_at) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char COLL_GET[] =
    "SELECT version, content, digest, created_at FROM collateral WHERE collateral_id = ?1 AND version = ?2";
static const char COLL_GET_NEWEST[] = "SELECT version, content, digest, created_at FROM collateral"
                                      " WHERE collateral_id = ?1 ORDER BY version DESC LIMIT 1";
static const char COLL_VERSIONS[] = "SELECT version FROM collateral WHERE collateral_id = ?1 ORDER BY version";

static const doc_sql POLICY_SQL = {POLICY_EXISTING, POLICY_NEWEST,     POLICY_PARENT,    POLICY_INSERT,
                                   POLICY_GET,      POLICY_GET_NEWEST, POLICY_VERSIONS};
static const doc_sql REFVAL_SQL = {REFVAL_EXISTING, REFVAL_NEWEST,     NULL,            REFVAL_INSERT,
                                   REFVAL_GET,      REFVAL_GET_NEWEST, REFVAL_VERSIONS};
static const doc_sql COLL_SQL = {COLL_EXISTING, COLL_NEWEST,     NULL,          COLL_INSERT,
                                 COLL_GET,      COLL_GET_NEWEST, COLL_VERSIONS};

static const doc_sql *sql_for(ccg_store_doc_kind kind)
{
    switch (kind) {
    case CCG_DOC_POLICY: return &POLICY_SQL;
    case CCG_DOC_REFVAL_SET: return &REFVAL_SQL;
    case CCG_DOC_COLLATERAL: return &COLL_SQL;
    }
    return NULL;
}

ccg_result ccg_sqlite_doc_put(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version,
                              const uint8_t *body, size_t len, const char *digest, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    const doc_sql *q = sql_for(kind);
    sqlite3_stmt *st = NULL;
    char stored[72];
    int64_t newest = 0;
    int in_tx = 0, row = 0;

    CCG_ENSURE(q != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_stmt(h, q->existing, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "look the document up"));
    if (row) {
        CCG_TRY(ccg_sqlite_col_text(st, 0, stored, sizeof(stored)));
        CCG_TRY(ccg_store_rule_doc_same(kind, id, version, stored, digest));
        ccg_sqlite_done(st);
        st = NULL;
        CCG_TRY(ccg_sqlite_commit(h));
        in_tx = 0;
        result = CCG_SUCCESS;
        goto cleanup;
    }
    ccg_sqlite_done(st);
    st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, q->newest, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, id));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the newest version"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, &newest));
    ccg_sqlite_done(st);
    st = NULL;
    CCG_TRY(ccg_store_rule_doc_newer(kind, id, version, newest));
    if (q->parent != NULL) {
        CCG_TRY(ccg_sqlite_stmt(h, q->parent, &st));
        CCG_TRY(ccg_sqlite_bind_text(h, st, 1, id));
        CCG_TRY(ccg_sqlite_bind_int(h, st, 2, now));
        CCG_TRY(ccg_sqlite_step_done(h, st, "record the document"));
        ccg_sqlite_done(st);
        st = NULL;
    }
    CCG_TRY(ccg_sqlite_stmt(h, q->insert, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    CCG_TRY(ccg_sqlite_bind_blob(h, st, 3, body, len));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 4, digest));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 5, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "insert the document"));
    ccg_sqlite_done(st);
    st = NULL;
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

ccg_result ccg_sqlite_doc_get(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version,
                              ccg_store_doc *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    const doc_sql *q = sql_for(kind);
    sqlite3_stmt *st = NULL;
    int row = 0;

    CCG_ENSURE(q != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(ccg_sqlite_stmt(h, version == 0 ? q->get_newest : q->get, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, id));
    if (version != 0) {
        CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    }
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the document"));
    CCG_TRY(ccg_store_rule_doc_found(kind, id, version, row));
    CCG_TRY(ccg_store_row_doc(ccg_sqlite_row(st), kind, id, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_doc_versions(void *impl, ccg_store_doc_kind kind, const char *id, int64_t **versions,
                                   size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    const doc_sql *q = sql_for(kind);
    sqlite3_stmt *st = NULL;
    int64_t *list = NULL;
    size_t n = 0, cap = 0;
    int row = 0;

    CCG_ENSURE(q != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(ccg_sqlite_stmt(h, q->versions, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, id));
    for (;;) {
        CCG_TRY(ccg_sqlite_step_row(h, st, &row, "list document versions"));
        if (!row) {
            break;
        }
        int64_t *grown = ccg_array_grow(list, &cap, n, sizeof(*list));
        CCG_ENSURE_ALLOC(grown);
        list = grown;
        CCG_TRY(ccg_sqlite_col_int(st, 0, &list[n]));
        n++;
    }
    *versions = list;
    *count = n;
    list = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    free(list);
    return result;
}
