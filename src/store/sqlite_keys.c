/* Keys in SQLite: import, rotation, state transitions, lookups. Every write is one BEGIN IMMEDIATE
 * transaction that reads the current state, checks the rule, and writes; the schema backs the rules
 * up (one live version per key, retired is final, material immutable). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"
#include "sqlite_store.h"

static const char SQL_KEY_ANY[] = "SELECT count(*), coalesce(max(version), 0) FROM keys WHERE key_id = ?1";
static const char SQL_POLICY_EXISTS[] = "SELECT count(*) FROM policies WHERE policy_id = ?1";
static const char SQL_KEY_INSERT[] =
    "INSERT INTO keys(key_id, version, state, wrapped, kek_label, policy_id, created_at, updated_at)"
    " VALUES (?1, ?2, 'active', ?3, ?4, ?5, ?6, ?6)";
static const char SQL_KEY_LIVE[] =
    "SELECT version, policy_id FROM keys WHERE key_id = ?1 AND state <> 'retired'";
/* The versions a rotation retires keep an open grace (CCG_STORE_GRACE_OPEN) counted from retired_at:
 * their release policy bounds it, a cut-over ends it. */
static const char SQL_KEY_RETIRE_LIVE[] =
    "UPDATE keys SET state = 'retired', updated_at = ?2, retired_at = ?2, releasable_until = 9223372036854775807"
    " WHERE key_id = ?1 AND state <> 'retired'";
static const char SQL_KEY_END_GRACE[] =
    "UPDATE keys SET releasable_until = ?3 WHERE key_id = ?1 AND (?2 = 0 OR version = ?2)"
    " AND state = 'retired' AND releasable_until > ?3";
static const char SQL_KEY_STATE[] = "SELECT state FROM keys WHERE key_id = ?1 AND version = ?2";
static const char SQL_KEY_SET_STATE[] =
    "UPDATE keys SET state = ?3, updated_at = ?4 WHERE key_id = ?1 AND version = ?2 AND state = ?5";
#define KEY_COLUMNS CCG_STORE_KEY_COLUMNS
static const char SQL_KEY_GET[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = ?1 AND version = ?2";
/* The live version first; when every version is retired, the newest. */
static const char SQL_KEY_GET_CURRENT[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = ?1"
                                          " ORDER BY (state = 'retired') ASC, version DESC LIMIT 1";
static const char SQL_KEY_LIST_ONE[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = ?1 ORDER BY version";
static const char SQL_KEY_LIST_ALL[] = "SELECT " KEY_COLUMNS " FROM keys ORDER BY key_id, version";

static ccg_result require_policy(ccg_sqlite *h, const char *policy_id)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    int64_t n = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_POLICY_EXISTS, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, policy_id));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "look the policy up"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, &n));
    CCG_TRY(ccg_store_rule_policy(policy_id, n));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result key_versions(ccg_sqlite *h, const char *key_id, int64_t *count, int64_t *max_version)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_ANY, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "look the key up"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, count));
    CCG_TRY(ccg_sqlite_col_int(st, 1, max_version));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result insert_key(ccg_sqlite *h, const ccg_store_key_spec *spec, const char *policy_id, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_INSERT, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, spec->key_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, spec->version));
    CCG_TRY(ccg_sqlite_bind_blob(h, st, 3, spec->wrapped, spec->wrapped_len));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 4, spec->kek_label));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 5, policy_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 6, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "insert the key"));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_key_import(void *impl, const ccg_store_key_spec *spec, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    int64_t count = 0, max_version = 0;
    int in_tx = 0;
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(key_versions(h, spec->key_id, &count, &max_version));
    CCG_TRY(ccg_store_rule_key_import(spec->key_id, count, max_version));
    CCG_TRY(require_policy(h, spec->policy_id));
    CCG_TRY(insert_key(h, spec, spec->policy_id, now));
    CCG_TRY(ccg_sqlite_commit(h));
    in_tx = 0;
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    return result;
}

ccg_result ccg_sqlite_key_rotate(void *impl, const ccg_store_key_spec *spec, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int64_t count = 0, max_version = 0, live_version = 0;
    char policy_id[CCG_STORE_ID_MAX + 1] = "";
    int in_tx = 0, row = 0;

    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(key_versions(h, spec->key_id, &count, &max_version));
    CCG_TRY(ccg_store_rule_key_rotate(spec, count, max_version));
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_LIVE, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, spec->key_id));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "find the live key version"));
    CCG_TRY(ccg_store_rule_key_live(spec->key_id, row));
    CCG_TRY(ccg_sqlite_col_int(st, 0, &live_version));
    CCG_TRY(ccg_sqlite_col_text(st, 1, policy_id, sizeof(policy_id)));
    ccg_sqlite_done(st);
    st = NULL;
    if (spec->policy_id != NULL) {
        CCG_TRY(require_policy(h, spec->policy_id));
        snprintf(policy_id, sizeof(policy_id), "%s", spec->policy_id);
    }
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_RETIRE_LIVE, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, spec->key_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "retire the old key versions"));
    ccg_sqlite_done(st);
    st = NULL;
    CCG_TRY(insert_key(h, spec, policy_id, now));
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

ccg_result ccg_sqlite_key_set_state(void *impl, const char *key_id, int64_t version, ccg_key_state to, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    ccg_key_state from = CCG_KEY_ACTIVE;
    int in_tx = 0, row = 0;

    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_STATE, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the key state"));
    CCG_TRY(ccg_store_rule_key_found(key_id, version, row));
    CCG_TRY(ccg_store_row_state(ccg_sqlite_row(st), 0, &from));
    ccg_sqlite_done(st);
    st = NULL;
    CCG_TRY(ccg_store_rule_key_transition(key_id, version, from, to));
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_SET_STATE, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 3, ccg_key_state_name(to)));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 4, now));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 5, ccg_key_state_name(from)));
    CCG_TRY(ccg_sqlite_step_done(h, st, "change the key state"));
    CCG_TRY(ccg_store_rule_key_changed(key_id, version, sqlite3_changes(h->db)));
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

/* One statement is its own transaction: the row changes only while it is still under the old KEK. */
static const char SQL_KEY_REWRAP[] =
    "UPDATE keys SET wrapped = ?3, kek_label = ?4, updated_at = ?5 WHERE key_id = ?1 AND version = ?2 AND kek_label = ?6";
static const char SQL_KEY_EXISTS[] = "SELECT kek_label FROM keys WHERE key_id = ?1 AND version = ?2";

ccg_result ccg_sqlite_key_rewrap(void *impl, const char *key_id, int64_t version, const char *old_label,
                                 const char *new_label, const uint8_t *wrapped, size_t wrapped_len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_REWRAP, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    CCG_TRY(ccg_sqlite_bind_blob(h, st, 3, wrapped, wrapped_len));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 4, new_label));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 5, now));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 6, old_label));
    CCG_TRY(ccg_sqlite_step_done(h, st, "re-wrap the key version"));
    if (sqlite3_changes(h->db) != 1) {
        ccg_sqlite_done(st);
        st = NULL;
        CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_EXISTS, &st));
        CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
        CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
        CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the key version"));
        CCG_TRY(ccg_store_rule_key_rewrap_missed(key_id, version, row, old_label));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_key_end_grace(void *impl, const char *key_id, int64_t version, ccg_time now, int64_t *ended)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int64_t count = 0, max_version = 0;
    int in_tx = 0;
    *ended = 0;
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(key_versions(h, key_id, &count, &max_version));
    CCG_TRY(ccg_store_rule_key_end_grace(key_id, version, count, max_version));
    CCG_TRY(ccg_sqlite_stmt(h, SQL_KEY_END_GRACE, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    CCG_TRY(ccg_sqlite_bind_int(h, st, 3, now));
    CCG_TRY(ccg_sqlite_step_done(h, st, "end the grace of retired key versions"));
    *ended = sqlite3_changes(h->db);
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

ccg_result ccg_sqlite_key_get(void *impl, const char *key_id, int64_t version, ccg_store_key *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, version == 0 ? SQL_KEY_GET_CURRENT : SQL_KEY_GET, &st));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    if (version != 0) {
        CCG_TRY(ccg_sqlite_bind_int(h, st, 2, version));
    }
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the key"));
    CCG_TRY(ccg_store_rule_key_found(key_id, version, row));
    CCG_TRY(ccg_store_row_key(ccg_sqlite_row(st), 1, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_sqlite_key_list(void *impl, const char *key_id, ccg_store_key **out, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    sqlite3_stmt *st = NULL;
    ccg_store_key *keys = NULL;
    size_t n = 0, cap = 0;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, key_id ? SQL_KEY_LIST_ONE : SQL_KEY_LIST_ALL, &st));
    if (key_id != NULL) {
        CCG_TRY(ccg_sqlite_bind_text(h, st, 1, key_id));
    }
    for (;;) {
        CCG_TRY(ccg_sqlite_step_row(h, st, &row, "list keys"));
        if (!row) {
            break;
        }
        ccg_store_key *grown = ccg_array_grow(keys, &cap, n, sizeof(*keys));
        CCG_ENSURE_ALLOC(grown);
        keys = grown;
        CCG_TRY(ccg_store_row_key(ccg_sqlite_row(st), 0, &keys[n]));
        n++;
    }
    *out = keys;
    *count = n;
    keys = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    ccg_store_key_list_free(keys, n);
    return result;
}
