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
static const char SQL_KEY_RETIRE_LIVE[] =
    "UPDATE keys SET state = 'retired', updated_at = $2 WHERE key_id = $1 AND state <> 'retired'";
static const char SQL_KEY_STATE[] = "SELECT state FROM keys WHERE key_id = $1 AND version = $2 FOR UPDATE";
static const char SQL_KEY_SET_STATE[] =
    "UPDATE keys SET state = $3, updated_at = $4 WHERE key_id = $1 AND version = $2 AND state = $5";
/* One statement is its own transaction: the row changes only while it is still under the old KEK. */
static const char SQL_KEY_REWRAP[] = "UPDATE keys SET wrapped = $3, kek_label = $4, updated_at = $5"
                                     " WHERE key_id = $1 AND version = $2 AND kek_label = $6";
static const char SQL_KEY_EXISTS[] = "SELECT kek_label FROM keys WHERE key_id = $1 AND version = $2";
#define KEY_COLUMNS "key_id, version, state, kek_label, policy_id, created_at, updated_at, wrapped"
static const char SQL_KEY_GET[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = $1 AND version = $2";
/* The live version first; when every version is retired, the newest. */
static const char SQL_KEY_GET_CURRENT[] = "SELECT " KEY_COLUMNS " FROM keys WHERE key_id = $1"
                                          " ORDER BY (state = 'retired') ASC, version DESC LIMIT 1";
#define KEY_LIST_COLUMNS "key_id, version, state, kek_label, policy_id, created_at, updated_at"
static const char SQL_KEY_LIST_ONE[] = "SELECT " KEY_LIST_COLUMNS " FROM keys WHERE key_id = $1 ORDER BY version";
static const char SQL_KEY_LIST_ALL[] = "SELECT " KEY_LIST_COLUMNS " FROM keys ORDER BY key_id COLLATE \"C\", version";

static ccg_result parse_state(const char *text, ccg_key_state *state)
{
    ccg_result result = CCG_FAILURE;
    if (strcmp(text, "active") == 0) {
        *state = CCG_KEY_ACTIVE;
    } else if (strcmp(text, "disabled") == 0) {
        *state = CCG_KEY_DISABLED;
    } else if (strcmp(text, "retired") == 0) {
        *state = CCG_KEY_RETIRED;
    } else {
        CCG_BAIL(CCG_R_STORE_CORRUPT, "a key has the unknown state '%.16s'", text);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

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
    CCG_ENSURE_MSG(n == 1, CCG_R_KEY_NOT_FOUND, "policy '%s' does not exist; write it before the key", policy_id);
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
    CCG_ENSURE_MSG(count == 0, CCG_R_STORE_CONFLICT,
                   "key '%s' exists (%lld versions, newest %lld); rotate it instead of importing", spec->key_id,
                   (long long)count, (long long)max_version);
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
    CCG_ENSURE_MSG(count > 0, CCG_R_KEY_NOT_FOUND, "key '%s' does not exist; import it first", spec->key_id);
    CCG_ENSURE_MSG(spec->version > max_version, CCG_R_STORE_CONFLICT,
                   "key '%s': the new version %lld is not above the newest version %lld", spec->key_id,
                   (long long)spec->version, (long long)max_version);
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, spec->key_id);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_LIVE, &p, "find the live key version", &r));
    CCG_ENSURE_MSG(PQntuples(r) >= 1, CCG_R_STORE_CONFLICT, "key '%s' has no live version: every version is retired",
                   spec->key_id);
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
    char text[16];
    ccg_key_state from = CCG_KEY_ACTIVE;

    CCG_TRY(begin_key(h, key_id));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    ccg_pg_int(&p, version);
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_STATE, &p, "read the key state", &r));
    CCG_ENSURE_MSG(PQntuples(r) == 1, CCG_R_KEY_NOT_FOUND, "key '%s' version %lld does not exist", key_id,
                   (long long)version);
    CCG_TRY(ccg_pg_col_text(r, 0, 0, text, sizeof(text)));
    CCG_TRY(parse_state(text, &from));
    PQclear(r);
    r = NULL;
    CCG_ENSURE_MSG(ccg_key_transition_allowed(from, to), CCG_R_STORE_CONFLICT,
                   "key '%s' version %lld: %s -> %s is not allowed", key_id, (long long)version,
                   ccg_key_state_name(from), ccg_key_state_name(to));
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, key_id);
    ccg_pg_int(&p, version);
    ccg_pg_text(&p, ccg_key_state_name(to));
    ccg_pg_int(&p, now);
    ccg_pg_text(&p, ccg_key_state_name(from));
    CCG_TRY(ccg_pg_exec(h, SQL_KEY_SET_STATE, &p, "change the key state", &r));
    CCG_ENSURE_MSG(strcmp(PQcmdTuples(r), "1") == 0, CCG_R_STORE_CONFLICT, "key '%s' version %lld changed meanwhile",
                   key_id, (long long)version);
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
        CCG_ENSURE_MSG(PQntuples(r) == 1, CCG_R_KEY_NOT_FOUND, "key '%s' version %lld does not exist", key_id,
                       (long long)version);
        CCG_BAIL(CCG_R_STORE_CONFLICT, "key '%s' version %lld is no longer wrapped under KEK \"%s\"", key_id,
                 (long long)version, old_label);
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

/* Fills a key from row `row` of KEY_COLUMNS; the blob only when with_wrapped. */
static ccg_result read_key_row(const PGresult *r, int row, int with_wrapped, ccg_store_key *out)
{
    ccg_result result = CCG_FAILURE;
    char state[16];
    memset(out, 0, sizeof(*out));
    CCG_TRY(ccg_pg_col_text(r, row, 0, out->key_id, sizeof(out->key_id)));
    CCG_TRY(ccg_pg_col_int(r, row, 1, &out->version));
    CCG_TRY(ccg_pg_col_text(r, row, 2, state, sizeof(state)));
    CCG_TRY(parse_state(state, &out->state));
    CCG_TRY(ccg_pg_col_text(r, row, 3, out->kek_label, sizeof(out->kek_label)));
    CCG_TRY(ccg_pg_col_text(r, row, 4, out->policy_id, sizeof(out->policy_id)));
    CCG_TRY(ccg_pg_col_int(r, row, 5, &out->created_at));
    CCG_TRY(ccg_pg_col_int(r, row, 6, &out->updated_at));
    if (with_wrapped) {
        CCG_TRY(ccg_pg_col_bytes(r, row, 7, CCG_STORE_WRAPPED_MAX, 0, &out->wrapped, &out->wrapped_len));
        CCG_ENSURE_MSG(out->wrapped_len >= CCG_STORE_WRAPPED_MIN &&
                           memcmp(out->wrapped, CCG_STORE_WRAPPED_MAGIC, 4) == 0,
                       CCG_R_STORE_CORRUPT, "key '%s' version %lld holds no wrapped key", out->key_id,
                       (long long)out->version);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_store_key_free(out);
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
    if (version == 0) {
        CCG_ENSURE_MSG(PQntuples(r) == 1, CCG_R_KEY_NOT_FOUND, "key '%s' does not exist", key_id);
    } else {
        CCG_ENSURE_MSG(PQntuples(r) == 1, CCG_R_KEY_NOT_FOUND, "key '%s' version %lld does not exist", key_id,
                       (long long)version);
    }
    CCG_TRY(read_key_row(r, 0, 1, out));
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
        CCG_TRY(read_key_row(r, i, 0, &keys[n]));
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
