/* Keys in PostgreSQL: import, rotation, state transitions, lookups. Every write is one transaction
 * that first takes the key's advisory lock (pg_advisory_xact_lock('CCGK', hashtext(key_id))), so
 * writers of one key_id queue as SQLite's BEGIN IMMEDIATE makes them, then reads the current state
 * (each READ COMMITTED statement sees what the previous holder committed), checks the rule, and
 * writes. The schema backs the rules up (one live version per key, retired is final, material
 * immutable): a writer that bypasses the lock still meets a constraint (store.conflict). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"
#include "pg_store.h"

static const char SQL_KEY_LOCK[] = "SELECT pg_advisory_xact_lock(1128482635, hashtext($1))"; /* 'CCGK' */
static const char SQL_KEY_ANY[] = "SELECT count(*)::int8, coalesce(max(version), 0)::int8 FROM keys WHERE key_id = $1";
static const char SQL_POLICY_EXISTS[] = "SELECT count(*)::int8 FROM policies WHERE policy_id = $1";
static const char SQL_KEY_INSERT[] =
    "INSERT INTO keys(key_id, version, state, wrapped, kek_label, policy_id, created_at, updated_at)"
    " VALUES ($1, $2, 'active', $3, $4, $5, $6, $6)";
static const char SQL_KEY_LIVE[] = "SELECT version, policy_id FROM keys WHERE key_id = $1 AND state <> 'retired'";
/* The versions a rotation retires keep an open grace (CCG_STORE_GRACE_OPEN) counted from retired_at:
 * their release policy bounds it, a cut-over ends it. */
static const char SQL_KEY_RETIRE_LIVE[] =
    "UPDATE keys SET state = 'retired', updated_at = $2, retired_at = $2, releasable_until = 9223372036854775807"
    " WHERE key_id = $1 AND state <> 'retired'";
static const char SQL_KEY_END_GRACE[] =
    "UPDATE keys SET releasable_until = $3 WHERE key_id = $1 AND ($2 = 0 OR version = $2)"
    " AND state = 'retired' AND releasable_until > $3";
static const char SQL_KEY_STATE[] = "SELECT state FROM keys WHERE key_id = $1 AND version = $2 FOR UPDATE";
static const char SQL_KEY_SET_STATE[] =
    "UPDATE keys SET state = $3, updated_at = $4 WHERE key_id = $1 AND version = $2 AND state = $5";
/* One statement is its own transaction: the row changes only while it is still under the old KEK. */
static const char SQL_KEY_REWRAP[] = "UPDATE keys SET wrapped = $3, kek_label = $4, updated_at = $5"
                                     " WHERE key_id = $1 AND version = $2 AND kek_label = $6";
static const char SQL_KEY_EXISTS[] = "SELECT kek_label FROM keys WHERE key_id = $1 AND version = $2";
#define KEY_COLUMNS CCG_STORE_KEY_COLUMNS
static const char SQL_KEY_GET[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = $1 AND version = $2";
/* The live version first; when every version is retired, the newest. */
static const char SQL_KEY_GET_CURRENT[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = $1"
                                          " ORDER BY (state = 'retired') ASC, version DESC LIMIT 1";
#define KEY_LIST_COLUMNS                                                                                       \
    "key_id, version, state, kek_label, policy_id, created_at, updated_at, NULL::bytea, releasable_until, retired_at"
static const char SQL_KEY_LIST_ONE[] = "SELECT " KEY_LIST_COLUMNS " FROM keys WHERE key_id = $1 ORDER BY version";
static const char SQL_KEY_LIST_ALL[] = "SELECT " KEY_LIST_COLUMNS " FROM keys ORDER BY key_id COLLATE \"C\", version";

static ccg_result require_policy(ccg_pg *h, const char *policy_id)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    int64_t n = 0;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, policy_id);
    CCG_TRY(ccg_pg_exec(h, SQL_POLICY_EXISTS, &p, "look the policy up", &r));
    CCG_TRY(ccg_pg_col_int(r, 0, 0, &n));
    CCG_TRY(ccg_store_rule_policy(policy_id, n));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

static ccg_result key_versions(ccg_pg *h, const char *key_id, int64_t *count, int64_t *max_version)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_ANY, &p, "look the key up", &r));
    CCG_TRY(ccg_pg_col_int(r, 0, 0, count));
    CCG_TRY(ccg_pg_col_int(r, 0, 1, max_version));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

static ccg_result insert_key(ccg_pg *h, const ccg_store_key_spec *spec, const char *policy_id, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, spec->key_id);
    ccg_pg_int(&p, spec->version);
    ccg_pg_bytes(&p, spec->wrapped, spec->wrapped_len);
    ccg_pg_text(&p, spec->kek_label);
    ccg_pg_text(&p, policy_id);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_INSERT, &p, "insert the key", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* BEGIN and the key's lock. */
static ccg_result begin_key(ccg_pg *h, const char *key_id)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_pg_begin(h));
    CCG_TRY(ccg_pg_lock(h, SQL_KEY_LOCK, key_id));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_key_import(void *impl, const ccg_store_key_spec *spec, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    int64_t count = 0, max_version = 0;
    CCG_TRY(begin_key(h, spec->key_id));
    CCG_TRY(key_versions(h, spec->key_id, &count, &max_version));
    CCG_TRY(ccg_store_rule_key_import(spec->key_id, count, max_version));
    CCG_TRY(require_policy(h, spec->policy_id));
    CCG_TRY(insert_key(h, spec, spec->policy_id, now));
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_key_rotate(void *impl, const ccg_store_key_spec *spec, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    int64_t count = 0, max_version = 0, live_version = 0;
    char policy_id[CCG_STORE_ID_MAX + 1] = "";

    CCG_TRY(begin_key(h, spec->key_id));
    CCG_TRY(key_versions(h, spec->key_id, &count, &max_version));
    CCG_TRY(ccg_store_rule_key_rotate(spec, count, max_version));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, spec->key_id);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_LIVE, &p, "find the live key version", &r));
    CCG_TRY(ccg_store_rule_key_live(spec->key_id, PQntuples(r) >= 1));
    CCG_TRY(ccg_pg_col_int(r, 0, 0, &live_version));
    CCG_TRY(ccg_pg_col_text(r, 0, 1, policy_id, sizeof(policy_id)));
    PQclear(r);
    r = NULL;
    if (spec->policy_id != NULL) {
        CCG_TRY(require_policy(h, spec->policy_id));
        snprintf(policy_id, sizeof(policy_id), "%s", spec->policy_id);
    }
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, spec->key_id);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_RETIRE_LIVE, &p, "retire the old key versions", NULL));
    CCG_TRY(insert_key(h, spec, policy_id, now));
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_key_set_state(void *impl, const char *key_id, int64_t version, ccg_key_state to, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_key_state from = CCG_KEY_ACTIVE;

    CCG_TRY(begin_key(h, key_id));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    ccg_pg_int(&p, version);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_STATE, &p, "read the key state", &r));
    CCG_TRY(ccg_store_rule_key_found(key_id, version, PQntuples(r) == 1));
    CCG_TRY(ccg_store_row_state(ccg_pg_row(r, 0), 0, &from));
    PQclear(r);
    r = NULL;
    CCG_TRY(ccg_store_rule_key_transition(key_id, version, from, to));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    ccg_pg_int(&p, version);
    ccg_pg_text(&p, ccg_key_state_name(to));
    ccg_pg_int(&p, now);
    ccg_pg_text(&p, ccg_key_state_name(from));
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_SET_STATE, &p, "change the key state", &r));
    CCG_TRY(ccg_store_rule_key_changed(key_id, version, strcmp(PQcmdTuples(r), "1") == 0 ? 1 : 0));
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_key_rewrap(void *impl, const char *key_id, int64_t version, const char *old_label,
                             const char *new_label, const uint8_t *wrapped, size_t wrapped_len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    ccg_pg_int(&p, version);
    ccg_pg_bytes(&p, wrapped, wrapped_len);
    ccg_pg_text(&p, new_label);
    ccg_pg_int(&p, now);
    ccg_pg_text(&p, old_label);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_REWRAP, &p, "re-wrap the key version", &r));
    if (strcmp(PQcmdTuples(r), "1") != 0) {
        PQclear(r);
        r = NULL;
        ccg_pg_params_init(&p);
        ccg_pg_text(&p, key_id);
        ccg_pg_int(&p, version);
        CCG_TRY(ccg_pg_exec(h, SQL_KEY_EXISTS, &p, "read the key version", &r));
        CCG_TRY(ccg_store_rule_key_rewrap_missed(key_id, version, PQntuples(r) == 1, old_label));
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_key_end_grace(void *impl, const char *key_id, int64_t version, ccg_time now, int64_t *ended)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    int64_t count = 0, max_version = 0;
    *ended = 0;
    CCG_TRY(begin_key(h, key_id));
    CCG_TRY(key_versions(h, key_id, &count, &max_version));
    CCG_TRY(ccg_store_rule_key_end_grace(key_id, version, count, max_version));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    ccg_pg_int(&p, version);
    ccg_pg_int(&p, now);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_END_GRACE, &p, "end the grace of retired key versions", &r));
    *ended = strtoll(PQcmdTuples(r), NULL, 10);
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_key_get(void *impl, const char *key_id, int64_t version, ccg_store_key *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    if (version != 0) {
        ccg_pg_int(&p, version);
    }
    CCG_TRY(ccg_pg_exec(h, version == 0 ? SQL_KEY_GET_CURRENT : SQL_KEY_GET, &p, "read the key", &r));
    CCG_TRY(ccg_store_rule_key_found(key_id, version, PQntuples(r) == 1));
    CCG_TRY(ccg_store_row_key(ccg_pg_row(r, 0), 1, out));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_key_list(void *impl, const char *key_id, ccg_store_key **out, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = impl;
    PGresult *r = NULL;
    ccg_pg_params p;
    ccg_store_key *keys = NULL;
    size_t n = 0;
    int rows;
    ccg_pg_params_init(&p);
    if (key_id != NULL) {
        ccg_pg_text(&p, key_id);
    }
    CCG_TRY(ccg_pg_exec(h, key_id ? SQL_KEY_LIST_ONE : SQL_KEY_LIST_ALL, &p, "list keys", &r));
    rows = PQntuples(r);
    if (rows > 0) {
        keys = calloc((size_t)rows, sizeof(*keys));
        CCG_ENSURE_ALLOC(keys);
    }
    for (int i = 0; i < rows; i++) {
        CCG_TRY(ccg_store_row_key(ccg_pg_row(r, i), 0, &keys[n]));
        n++;
    }
    *out = keys;
    *count = n;
    keys = NULL;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    ccg_store_key_list_free(keys, n);
    return result;
}
