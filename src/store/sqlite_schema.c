/* The store's SQLite schema and its migrations. Each migration is a static script applied inside one
 * BEGIN IMMEDIATE transaction together with its schema_version row, so a crash leaves either the
 * old schema or the new one, and concurrent openers apply it once. A schema version above
 * CCG_STORE_SCHEMA_VERSION was written by a newer ccgate: store.corrupt, never a downgrade. */
#include <string.h>

#include <openssl/evp.h>

#include "ccgate/util.h"
#include "sqlite_store.h"

/* Version 1: keys, policies, reference-value sets, collateral, sessions, settings. Tables are
 * STRICT (column types enforced); triggers make the immutable parts immutable even for a writer
 * that bypasses ccgate's API by mistake. The audit log has its own tables (src/audit). */
static const char MIGRATION_1[] =
    "CREATE TABLE policies ("
    "  policy_id  TEXT PRIMARY KEY NOT NULL,"
    "  created_at INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE policy_versions ("
    "  policy_id  TEXT NOT NULL REFERENCES policies(policy_id),"
    "  version    INTEGER NOT NULL CHECK (version >= 1),"
    "  document   BLOB NOT NULL,"
    "  digest     TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (policy_id, version)"
    ") STRICT;"
    "CREATE TABLE refval_sets ("
    "  set_id     TEXT NOT NULL,"
    "  version    INTEGER NOT NULL CHECK (version >= 1),"
    "  document   BLOB NOT NULL,"
    "  digest     TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  PRIMARY KEY (set_id, version)"
    ") STRICT;"
    "CREATE TABLE collateral ("
    "  collateral_id TEXT NOT NULL,"
    "  version       INTEGER NOT NULL CHECK (version >= 1),"
    "  content       BLOB NOT NULL,"
    "  digest        TEXT NOT NULL,"
    "  created_at    INTEGER NOT NULL,"
    "  PRIMARY KEY (collateral_id, version)"
    ") STRICT;"
    "CREATE TRIGGER policy_versions_immutable BEFORE UPDATE ON policy_versions"
    "  BEGIN SELECT RAISE(ABORT, 'policy versions are immutable'); END;"
    "CREATE TRIGGER policy_versions_kept BEFORE DELETE ON policy_versions"
    "  BEGIN SELECT RAISE(ABORT, 'policy versions are kept'); END;"
    "CREATE TRIGGER refval_sets_immutable BEFORE UPDATE ON refval_sets"
    "  BEGIN SELECT RAISE(ABORT, 'reference-value sets are immutable'); END;"
    "CREATE TRIGGER collateral_immutable BEFORE UPDATE ON collateral"
    "  BEGIN SELECT RAISE(ABORT, 'collateral versions are immutable'); END;"
    "CREATE TABLE keys ("
    "  key_id     TEXT NOT NULL,"
    "  version    INTEGER NOT NULL CHECK (version >= 1),"
    "  state      TEXT NOT NULL CHECK (state IN ('active', 'disabled', 'retired')),"
    "  wrapped    BLOB NOT NULL CHECK (substr(wrapped, 1, 4) = X'43434757'),"
    "  kek_label  TEXT NOT NULL,"
    "  policy_id  TEXT NOT NULL REFERENCES policies(policy_id),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (key_id, version)"
    ") STRICT;"
    "CREATE UNIQUE INDEX keys_one_live ON keys(key_id) WHERE state <> 'retired';"
    "CREATE INDEX keys_by_policy ON keys(policy_id);"
    "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys WHEN OLD.state = 'retired'"
    "  BEGIN SELECT RAISE(ABORT, 'a retired key version is final'); END;"
    "CREATE TRIGGER keys_material_immutable BEFORE UPDATE OF key_id, version, wrapped, kek_label, created_at ON keys"
    "  BEGIN SELECT RAISE(ABORT, 'a key version is immutable except for its state'); END;"
    "CREATE TABLE sessions ("
    "  session_id  TEXT PRIMARY KEY NOT NULL,"
    "  nonce       TEXT NOT NULL UNIQUE,"
    "  tee         TEXT NOT NULL,"
    "  state       TEXT NOT NULL CHECK (state IN ('challenged', 'attested')),"
    "  nonce_used  INTEGER NOT NULL DEFAULT 0 CHECK (nonce_used IN (0, 1)),"
    "  created_at  INTEGER NOT NULL,"
    "  expires_at  INTEGER NOT NULL,"
    "  attested_at INTEGER,"
    "  claims      TEXT,"
    "  CHECK (expires_at > created_at),"
    "  CHECK (state = 'challenged' OR (nonce_used = 1 AND claims IS NOT NULL))"
    ") STRICT;"
    "CREATE INDEX sessions_by_expiry ON sessions(expires_at);"
    "CREATE TRIGGER sessions_nonce_once BEFORE UPDATE OF nonce_used, nonce ON sessions"
    "  WHEN OLD.nonce_used = 1 OR NEW.nonce IS NOT OLD.nonce"
    "  BEGIN SELECT RAISE(ABORT, 'a nonce is consumed once'); END;"
    "CREATE TABLE settings ("
    "  name       TEXT PRIMARY KEY NOT NULL,"
    "  value      BLOB NOT NULL,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL"
    ") STRICT;";

/* Version 2: owners of keys and policies as (issuer, subject) rows. Earlier brokers kept a subject
 * alone in a setting named "kbs.owner.<kind>.<hex SHA-256 of the ID>"; each such owner of an existing
 * key or policy moves here with an empty issuer ("unbound": no provider may act on it until the broker
 * binds it to the one configured issuer allowed to assert that subject), and the settings go. A claim
 * for an ID that was never created is dropped. ccg_sha256_hex is registered by the migration. */
static const char MIGRATION_2[] =
    "CREATE TABLE owners ("
    "  kind       TEXT NOT NULL CHECK (kind IN ('key', 'policy')),"
    "  object_id  TEXT NOT NULL,"
    "  issuer     TEXT NOT NULL,"
    "  subject    TEXT NOT NULL CHECK (length(subject) >= 1),"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (kind, object_id)"
    ") STRICT;"
    "CREATE INDEX owners_unbound ON owners(subject) WHERE issuer = '';"
    "CREATE TRIGGER owners_fixed BEFORE UPDATE ON owners"
    "  WHEN OLD.issuer <> '' OR NEW.issuer = '' OR NEW.subject IS NOT OLD.subject OR NEW.kind IS NOT OLD.kind"
    "    OR NEW.object_id IS NOT OLD.object_id"
    "  BEGIN SELECT RAISE(ABORT, 'an owner never changes hands'); END;"
    "CREATE TRIGGER owners_kept BEFORE DELETE ON owners"
    "  BEGIN SELECT RAISE(ABORT, 'owners are kept'); END;"
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at)"
    "  SELECT 'policy', p.policy_id, '', CAST(s.value AS TEXT), s.created_at, s.updated_at"
    "  FROM policies p JOIN settings s ON s.name = 'kbs.owner.policy.' || ccg_sha256_hex(p.policy_id)"
    "  WHERE length(CAST(s.value AS TEXT)) BETWEEN 1 AND 128;"
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at)"
    "  SELECT 'key', k.key_id, '', CAST(s.value AS TEXT), s.created_at, s.updated_at"
    "  FROM (SELECT DISTINCT key_id FROM keys) k"
    "  JOIN settings s ON s.name = 'kbs.owner.key.' || ccg_sha256_hex(k.key_id)"
    "  WHERE length(CAST(s.value AS TEXT)) BETWEEN 1 AND 128;"
    "DELETE FROM settings WHERE name GLOB 'kbs.owner.*';";

/* Version 3: the GPU reports the key broker has appraised, by digest, with the session that presented
 * each first (gpu.report_replayed). Rows are pruned by first_seen after the broker's retention. */
static const char MIGRATION_3[] =
    "CREATE TABLE gpu_reports ("
    "  digest     TEXT PRIMARY KEY NOT NULL CHECK (length(digest) BETWEEN 1 AND 128),"
    "  session_id TEXT NOT NULL CHECK (length(session_id) BETWEEN 1 AND 128),"
    "  first_seen INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX gpu_reports_by_time ON gpu_reports(first_seen);"
    "CREATE TRIGGER gpu_reports_fixed BEFORE UPDATE ON gpu_reports"
    "  BEGIN SELECT RAISE(ABORT, 'a seen GPU report keeps its first session'); END;";

/* KEK rotation (`ccgate-kbs rewrap`, docs/keystore.md "Rotating the KEK"): a key version's wrapped
 * blob and kek_label may change together, and only to another KEK label, so a re-wrap is one
 * conditional UPDATE (WHERE kek_label = the old label) that never applies twice. A retired version is
 * re-wrapped too (its material stays readable under the new KEK only) but nothing else of it changes.
 * Everything else of a key version stays immutable, as before. */
static const char MIGRATION_KEK_REWRAP[] =
    "DROP TRIGGER IF EXISTS keys_retired_is_final;"
    "DROP TRIGGER IF EXISTS keys_material_immutable;"
    "DROP TRIGGER IF EXISTS keys_rewrap_moves_kek;"
    "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys WHEN OLD.state = 'retired'"
    "  AND NOT (NEW.kek_label IS NOT OLD.kek_label AND NEW.state IS OLD.state AND NEW.policy_id IS OLD.policy_id)"
    "  BEGIN SELECT RAISE(ABORT, 'a retired key version is final'); END;"
    "CREATE TRIGGER keys_material_immutable BEFORE UPDATE OF key_id, version, created_at ON keys"
    "  BEGIN SELECT RAISE(ABORT, 'a key version is immutable except for its state'); END;"
    "CREATE TRIGGER keys_rewrap_moves_kek BEFORE UPDATE OF wrapped, kek_label ON keys"
    "  WHEN NEW.kek_label IS OLD.kek_label"
    "  BEGIN SELECT RAISE(ABORT, 'a key version is re-wrapped only under another KEK'); END;";

static const char *const MIGRATIONS[] = {
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_KEK_REWRAP,
};
_Static_assert(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]) == CCG_STORE_SCHEMA_VERSION,
               "one migration per schema version");

static const char SQL_VERSION_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "  version    INTEGER PRIMARY KEY NOT NULL,"
    "  applied_at INTEGER NOT NULL"
    ") STRICT";
static const char SQL_VERSION_TABLE_EXISTS[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'";
static const char SQL_MAX_VERSION[] = "SELECT coalesce(max(version), 0) FROM schema_version";
static const char SQL_RECORD_VERSION[] =
    "INSERT INTO schema_version(version, applied_at) VALUES (?1, CAST(strftime('%s', 'now') AS INTEGER))";

static ccg_result read_version(ccg_sqlite *h, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    int64_t tables = 0;
    *version = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_VERSION_TABLE_EXISTS, &st));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the schema"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, &tables));
    ccg_sqlite_done(st);
    st = NULL;
    if (tables == 0) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_sqlite_stmt(h, SQL_MAX_VERSION, &st));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the schema version"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, version));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result check_not_future(int64_t version)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(version >= 0 && version <= CCG_STORE_SCHEMA_VERSION, CCG_R_STORE_CORRUPT,
                   "the store's schema version %lld is newer than this build's (%d); refusing to use it",
                   (long long)version, CCG_STORE_SCHEMA_VERSION);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ccg_sha256_hex(text): lowercase hex SHA-256 of its UTF-8 bytes (migration 2 matches the setting
 * names earlier brokers derived from IDs). NULL for anything but text. */
static void sql_sha256_hex(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    uint8_t md[32];
    unsigned int md_len = 0;
    char hex[65];
    const unsigned char *text;
    int n;
    if (argc != 1 || sqlite3_value_type(argv[0]) != SQLITE_TEXT) {
        sqlite3_result_null(ctx);
        return;
    }
    text = sqlite3_value_text(argv[0]);
    n = sqlite3_value_bytes(argv[0]);
    if (text == NULL || EVP_Digest(text, (size_t)n, md, &md_len, EVP_sha256(), NULL) != 1 || md_len != 32) {
        sqlite3_result_error(ctx, "sha256 failed", -1);
        return;
    }
    ccg_hex_encode(md, 32, hex);
    hex[64] = 0;
    sqlite3_result_text(ctx, hex, 64, SQLITE_TRANSIENT);
}

ccg_result ccg_sqlite_store_migrate(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int64_t version = 0;
    int in_tx = 0;

    /* The common case needs no write lock. */
    CCG_TRY(read_version(h, &version));
    CCG_TRY(check_not_future(version));
    if (version == CCG_STORE_SCHEMA_VERSION) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(sqlite3_create_function_v2(h->db, "ccg_sha256_hex", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                              sql_sha256_hex, NULL, NULL, NULL) == SQLITE_OK,
                   CCG_R_STORE_UNAVAILABLE, "cannot register the migration's SQL function");
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    CCG_TRY(ccg_sqlite_exec_script(h, SQL_VERSION_TABLE, "create schema_version"));
    CCG_TRY(read_version(h, &version)); /* another process may have migrated meanwhile */
    CCG_TRY(check_not_future(version));
    for (int64_t v = version + 1; v <= CCG_STORE_SCHEMA_VERSION; v++) {
        CCG_TRY(ccg_sqlite_exec_script(h, MIGRATIONS[v - 1], "apply a schema migration"));
        CCG_TRY(ccg_sqlite_stmt(h, SQL_RECORD_VERSION, &st));
        CCG_TRY(ccg_sqlite_bind_int(h, st, 1, v));
        CCG_TRY(ccg_sqlite_step_done(h, st, "record the schema version"));
        ccg_sqlite_done(st);
        st = NULL;
    }
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

ccg_result ccg_sqlite_store_schema_version(void *impl, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(read_version(impl, version));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_store_integrity_check(void *impl)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = impl;
    int64_t version = 0;
    CCG_TRY(ccg_sqlite_check(h, 1));
    CCG_TRY(read_version(h, &version));
    CCG_TRY(check_not_future(version));
    CCG_ENSURE_MSG(version == CCG_STORE_SCHEMA_VERSION, CCG_R_STORE_CORRUPT, "schema version %lld, expected %d",
                   (long long)version, CCG_STORE_SCHEMA_VERSION);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
