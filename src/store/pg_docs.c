/* Versioned documents in PostgreSQL: policies, reference-value sets and collateral. Each kind has its
 * own table, its own static SQL and its own advisory-lock class; the logic is shared. A write is one
 * transaction holding the document's lock (writers of one document queue): an identical (id, version)
 * is an idempotent success, a different one or a stale version conflicts. A writer that bypasses the
 * lock still meets the primary key (store.conflict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"
#include "pg_store.h"

typedef struct {
    const char *lock;       /* $1 id */
    const char *existing;   /* $1 id, $2 version -> digest */
    const char *newest;     /* $1 id -> max(version) or 0 */
    const char *parent;     /* $1 id, $2 now; NULL when the kind has no parent table */
    const char *insert;     /* $1 id, $2 version, $3 body, $4 digest, $5 now */
    const char *get;        /* $1 id, $2 version -> version, body, digest, created_at */
    const char *get_newest; /* $1 id -> version, body, digest, created_at */
    const char *versions;   /* $1 id -> version ascending */
} doc_sql;

static const char POLICY_LOCK[] = "SELECT pg_advisory_xact_lock(1128482640, hashtext($1))"; /* 'CCGP' */
static const char POLICY_EXISTING[] = "SELECT digest FROM policy_versions WHERE policy_id = $1 AND version = $2";
static const char POLICY_NEWEST[] = "SELECT coalesce(max(version), 0)::int8 FROM policy_versions WHERE policy_id = $1";
static const char POLICY_PARENT[] =
    "INSERT INTO policies(policy_id, created_at) VALUES ($1, $2) ON CONFLICT (policy_id) DO NOTHING";
static const char POLICY_INSERT[] = "INSERT INTO policy_versions(policy_id, version, document, digest, created_at)"
                                    " VALUES ($1, $2, $3, $4, $5)";
static const char POLICY_GET[] =
    "SELECT version, document, digest, created_at FROM policy_versions WHERE policy_id = $1 AND version = $2";
static const char POLICY_GET_NEWEST[] = "SELECT version, document, digest, created_at FROM policy_versions"
                                        " WHERE policy_id = $1 ORDER BY version DESC LIMIT 1";
static const char POLICY_VERSIONS[] = "SELECT version FROM policy_versions WHERE policy_id = $1 ORDER BY version";

static const char REFVAL_LOCK[] = "SELECT pg_advisory_xact_lock(1128482642, hashtext($1))"; /* 'CCGR' */
static const char REFVAL_EXISTING[] = "SELECT digest FROM refval_sets WHERE set_id = $1 AND version = $2";
static const char REFVAL_NEWEST[] = "SELECT coalesce(max(version), 0)::int8 FROM refval_sets WHERE set_id = $1";
static const char REFVAL_INSERT[] =
    "INSERT INTO refval_sets(set_id, version, document, digest, created_at) VALUES ($1, $2, $3, $4, $5)";
static const char REFVAL_GET[] =
    "SELECT version, document, digest, created_at FROM refval_sets WHERE set_id = $1 AND version = $2";
static const char REFVAL_GET_NEWEST[] = "SELECT version, document, digest, created_at FROM refval_sets"
                                        " WHERE set_id = $1 ORDER BY version DESC LIMIT 1";
static const char REFVAL_VERSIONS[] = "SELECT version FROM refval_sets WHERE set_id = $1 ORDER BY version";

static const char COLL_LOCK[] = "SELECT pg_advisory_xact_lock(1128482627, hashtext($1))"; /* 'CCGC' */
static const char COLL_EXISTING[] = "SELECT digest FROM collateral WHERE collateral_id = $1 AND version = $2";
static const char COLL_NEWEST[] = "SELECT coalesce(max(version), 0)::int8 FROM collateral WHERE collateral_id = $1";
static const char COLL_INSERT[] =
    "INSERT INTO collateral(collateral_id, version, content, digest, created_at) VALUES ($1, $2, $3, $4, $5)";
static const char COLL_GET[] =
    "SELECT version, content, digest, created_at FROM collateral WHERE collateral_id = $1 AND version = $2";
static const char COLL_GET_NEWEST[] = "SELECT version, content, digest, created_at FROM collateral"
                                      " WHERE collateral_id = $1 ORDER BY version DESC LIMIT 1";
static const char COLL_VERSIONS[] = "SELECT version FROM collateral WHERE collateral_id = $1 ORDER BY version";

static const doc_sql POLICY_SQL = {POLICY_LOCK, POLICY_EXISTING, POLICY_NEWEST,     POLICY_PARENT,    POLICY_INSERT,
                                   POLICY_GET,      POLICY_GET_NEWEST, POLICY_VERSIONS};
static const doc_sql REFVAL_SQL = {REFVAL_LOCK, REFVAL_EXISTING, REFVAL_NEWEST,     NULL,            REFVAL_INSERT,
                                   REFVAL_GET,      REFVAL_GET_NEWEST, REFVAL_VERSIONS};
static const doc_sql COLL_SQL = {COLL_LOCK, COLL_EXISTING, COLL_NEWEST,     NULL,          COLL_INSERT,
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

ccg_result ccg_pg_doc_put(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version, const uint8_t *body,
                          size_t len, const char *digest, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    const doc_sql *q = sql_for(kind);
    PGresult *r = NULL;
    ccg_pg_params p;
    char stored[72];
    int64_t newest = 0;

    CCG_ENSURE(q != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(ccg_pg_begin(h));
    CCG_TRY(ccg_pg_lock(h, q->lock, id));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, id);
    ccg_pg_int(&p, version);
    CCG_TRY(ccg_pg_exec(h, q->existing, &p, "look the document up", &r));
    if (PQntuples(r) > 0) {
        CCG_TRY(ccg_pg_col_text(r, 0, 0, stored, sizeof(stored)));
        CCG_TRY(ccg_store_rule_doc_same(kind, id, version, stored, digest));
        CCG_TRY(ccg_pg_commit(h));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    PQclear(r);
    r = NULL;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, id);
    CCG_TRY(ccg_pg_exec(h, q->newest, &p, "read the newest version", &r));
    CCG_TRY(ccg_pg_col_int(r, 0, 0, &newest));
    PQclear(r);
    r = NULL;
    CCG_TRY(ccg_store_rule_doc_newer(kind, id, version, newest));
    if (q->parent != NULL) {
        ccg_pg_params_init(&p);
        ccg_pg_text(&p, id);
        ccg_pg_int(&p, now);
        CCG_TRY(ccg_pg_exec(h, q->parent, &p, "record the document", NULL));
    }
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, id);
    ccg_pg_int(&p, version);
    ccg_pg_bytes(&p, body, len);
    ccg_pg_text(&p, digest);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, q->insert, &p, "insert the document", NULL));
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_doc_get(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version, ccg_store_doc *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    const doc_sql *q = sql_for(kind);
    PGresult *r = NULL;
    ccg_pg_params p;

    CCG_ENSURE(q != NULL, CCG_R_INPUT_MALFORMED);
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, id);
    if (version != 0) {
        ccg_pg_int(&p, version);
    }
    CCG_TRY(ccg_pg_exec(h, version == 0 ? q->get_newest : q->get, &p, "read the document", &r));
    CCG_TRY(ccg_store_rule_doc_found(kind, id, version, PQntuples(r) == 1));
    CCG_TRY(ccg_store_row_doc(ccg_pg_row(r, 0), kind, id, out));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_doc_versions(void *impl, ccg_store_doc_kind kind, const char *id, int64_t **versions,
                               size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    const doc_sql *q = sql_for(kind);
    PGresult *r = NULL;
    ccg_pg_params p;
    int64_t *list = NULL;
    int rows;

    CCG_ENSURE(q != NULL, CCG_R_INPUT_MALFORMED);
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, id);
    CCG_TRY(ccg_pg_exec(h, q->versions, &p, "list document versions", &r));
    rows = PQntuples(r);
    if (rows > 0) {
        list = calloc((size_t)rows, sizeof(*list));
        CCG_ENSURE_ALLOC(list);
    }
    for (int i = 0; i < rows; i++) {
        CCG_TRY(ccg_pg_col_int(r, i, 0, &list[i]));
    }
    *versions = list;
    *count = (size_t)rows;
    list = NULL;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    free(list);
    return result;
}
