/* The store's PostgreSQL schema and its migrations: ALL of the PostgreSQL DDL is in this file. The
 * versions are SQLite's (sqlite_schema.c): migration N here makes the same tables, rules and data moves
 * as SQLite's migration N, so CCG_STORE_SCHEMA_VERSION names one schema on both backends. A new SQLite
 * migration needs its PostgreSQL twin here (the _Static_assert below stops a build without it).
 *
 * Migrating runs in one transaction that first takes pg_advisory_xact_lock(SCHEMA_LOCK): instances
 * starting together queue on it, and the second finds the schema made. A crash leaves the old schema or
 * the new one (PostgreSQL's DDL is transactional). A version above CCG_STORE_SCHEMA_VERSION was written
 * by a newer ccgate: store.corrupt, never a downgrade.
 *
 * Types: TEXT for identifiers and JSON (as SQLite's TEXT), BIGINT for versions and times, BYTEA for
 * wrapped keys, documents, collateral and settings. The rules SQLite enforces with RAISE(ABORT) triggers
 * are plpgsql triggers raising SQLSTATE 23000 (integrity_constraint_violation): store.conflict, as
 * SQLite's constraint errors are. The tables live in the connection's search_path (the URL may choose
 * a schema: options=-csearch_path%3Dname). The audit log has its own tables (src/audit). */
#include <stdio.h>
#include <string.h>

#include "ccgate/error.h"

#include "pg_store.h"

/* pg_advisory_xact_lock(class, object) classes; the two-int key space never meets the one-bigint one. */
static const char SQL_SCHEMA_LOCK[] = "SELECT pg_advisory_xact_lock(1128482643, 1)"; /* 'CCGS', 1 */

/* Version 1: keys, policies, reference-value sets, collateral, sessions, settings. */
static const char MIGRATION_1[] =
    "CREATE FUNCTION ccg_refuse() RETURNS trigger LANGUAGE plpgsql AS $f$"
    " BEGIN RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'integrity_constraint_violation'; END $f$;"
    "CREATE TABLE policies ("
    "  policy_id  TEXT PRIMARY KEY NOT NULL,"
    "  created_at BIGINT NOT NULL"
    ");"
    "CREATE TABLE policy_versions ("
    "  policy_id  TEXT NOT NULL REFERENCES policies(policy_id),"
    "  version    BIGINT NOT NULL CHECK (version >= 1),"
    "  document   BYTEA NOT NULL,"
    "  digest     TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (policy_id, version)"
    ");"
    "CREATE TABLE refval_sets ("
    "  set_id     TEXT NOT NULL,"
    "  version    BIGINT NOT NULL CHECK (version >= 1),"
    "  document   BYTEA NOT NULL,"
    "  digest     TEXT NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  PRIMARY KEY (set_id, version)"
    ");"
    "CREATE TABLE collateral ("
    "  collateral_id TEXT NOT NULL,"
    "  version       BIGINT NOT NULL CHECK (version >= 1),"
    "  content       BYTEA NOT NULL,"
    "  digest        TEXT NOT NULL,"
    "  created_at    BIGINT NOT NULL,"
    "  PRIMARY KEY (collateral_id, version)"
    ");"
    "CREATE TRIGGER policy_versions_immutable BEFORE UPDATE ON policy_versions"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('policy versions are immutable');"
    "CREATE TRIGGER policy_versions_kept BEFORE DELETE ON policy_versions"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('policy versions are kept');"
    "CREATE TRIGGER refval_sets_immutable BEFORE UPDATE ON refval_sets"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('reference-value sets are immutable');"
    "CREATE TRIGGER collateral_immutable BEFORE UPDATE ON collateral"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('collateral versions are immutable');"
    "CREATE TABLE keys ("
    "  key_id     TEXT NOT NULL,"
    "  version    BIGINT NOT NULL CHECK (version >= 1),"
    "  state      TEXT NOT NULL CHECK (state IN ('active', 'disabled', 'retired')),"
    "  wrapped    BYTEA NOT NULL CHECK (substring(wrapped FROM 1 FOR 4) = decode('43434757', 'hex')),"
    "  kek_label  TEXT NOT NULL,"
    "  policy_id  TEXT NOT NULL REFERENCES policies(policy_id),"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (key_id, version)"
    ");"
    "CREATE UNIQUE INDEX keys_one_live ON keys(key_id) WHERE state <> 'retired';"
    "CREATE INDEX keys_by_policy ON keys(policy_id);"
    "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys FOR EACH ROW WHEN (OLD.state = 'retired')"
    "  EXECUTE FUNCTION ccg_refuse('a retired key version is final');"
    "CREATE TRIGGER keys_material_immutable BEFORE UPDATE ON keys FOR EACH ROW"
    "  WHEN (NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.version IS DISTINCT FROM OLD.version"
    "    OR NEW.wrapped IS DISTINCT FROM OLD.wrapped OR NEW.kek_label IS DISTINCT FROM OLD.kek_label"
    "    OR NEW.created_at IS DISTINCT FROM OLD.created_at)"
    "  EXECUTE FUNCTION ccg_refuse('a key version is immutable except for its state');"
    "CREATE TABLE sessions ("
    "  session_id  TEXT PRIMARY KEY NOT NULL,"
    "  nonce       TEXT NOT NULL UNIQUE,"
    "  tee         TEXT NOT NULL,"
    "  state       TEXT NOT NULL CHECK (state IN ('challenged', 'attested')),"
    "  nonce_used  BIGINT NOT NULL DEFAULT 0 CHECK (nonce_used IN (0, 1)),"
    "  created_at  BIGINT NOT NULL,"
    "  expires_at  BIGINT NOT NULL,"
    "  attested_at BIGINT,"
    "  claims      TEXT,"
    "  CHECK (expires_at > created_at),"
    "  CHECK (state = 'challenged' OR (nonce_used = 1 AND claims IS NOT NULL))"
    ");"
    "CREATE INDEX sessions_by_expiry ON sessions(expires_at);"
    "CREATE TRIGGER sessions_nonce_once BEFORE UPDATE OF nonce_used, nonce ON sessions FOR EACH ROW"
    "  WHEN (OLD.nonce_used = 1 OR NEW.nonce IS DISTINCT FROM OLD.nonce)"
    "  EXECUTE FUNCTION ccg_refuse('a nonce is consumed once');"
    "CREATE TABLE settings ("
    "  name       TEXT PRIMARY KEY NOT NULL,"
    "  value      BYTEA NOT NULL,"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL"
    ");";

/* Version 2: owners of keys and policies as (issuer, subject) rows; owners kept as settings by earlier
 * brokers move here unbound (issuer ''), as in SQLite's migration 2. */
static const char MIGRATION_2[] =
    "CREATE TABLE owners ("
    "  kind       TEXT NOT NULL CHECK (kind IN ('key', 'policy')),"
    "  object_id  TEXT NOT NULL,"
    "  issuer     TEXT NOT NULL,"
    "  subject    TEXT NOT NULL CHECK (length(subject) >= 1),"
    "  created_at BIGINT NOT NULL,"
    "  updated_at BIGINT NOT NULL,"
    "  PRIMARY KEY (kind, object_id)"
    ");"
    "CREATE INDEX owners_unbound ON owners(subject) WHERE issuer = '';"
    "CREATE TRIGGER owners_fixed BEFORE UPDATE ON owners FOR EACH ROW"
    "  WHEN (OLD.issuer <> '' OR NEW.issuer = '' OR NEW.subject IS DISTINCT FROM OLD.subject"
    "    OR NEW.kind IS DISTINCT FROM OLD.kind OR NEW.object_id IS DISTINCT FROM OLD.object_id)"
    "  EXECUTE FUNCTION ccg_refuse('an owner never changes hands');"
    "CREATE TRIGGER owners_kept BEFORE DELETE ON owners"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('owners are kept');"
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at)"
    "  SELECT 'policy', p.policy_id, '', convert_from(s.value, 'UTF8'), s.created_at, s.updated_at"
    "  FROM policies p JOIN settings s"
    "    ON s.name = 'kbs.owner.policy.' || encode(sha256(convert_to(p.policy_id, 'UTF8')), 'hex')"
    "  WHERE length(s.value) BETWEEN 1 AND 128;"
    "INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at)"
    "  SELECT 'key', k.key_id, '', convert_from(s.value, 'UTF8'), s.created_at, s.updated_at"
    "  FROM (SELECT DISTINCT key_id FROM keys) k JOIN settings s"
    "    ON s.name = 'kbs.owner.key.' || encode(sha256(convert_to(k.key_id, 'UTF8')), 'hex')"
    "  WHERE length(s.value) BETWEEN 1 AND 128;"
    "DELETE FROM settings WHERE name LIKE 'kbs.owner.%';";

/* Version 3: the GPU reports the key broker has appraised, by digest, with the first session. */
static const char MIGRATION_3[] =
    "CREATE TABLE gpu_reports ("
    "  digest     TEXT PRIMARY KEY NOT NULL CHECK (length(digest) BETWEEN 1 AND 128),"
    "  session_id TEXT NOT NULL CHECK (length(session_id) BETWEEN 1 AND 128),"
    "  first_seen BIGINT NOT NULL"
    ");"
    "CREATE INDEX gpu_reports_by_time ON gpu_reports(first_seen);"
    "CREATE TRIGGER gpu_reports_fixed BEFORE UPDATE ON gpu_reports"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('a seen GPU report keeps its first session');";

/* Version 4: KEK rotation (SQLite's MIGRATION_KEK_REWRAP). A retired version may still move to another
 * KEK (its state and policy unchanged); identity and creation time never change; wrapped bytes change
 * only together with the KEK label, and the label only together with them. */
static const char MIGRATION_4[] =
    "DROP TRIGGER IF EXISTS keys_retired_is_final ON keys;"
    "DROP TRIGGER IF EXISTS keys_material_immutable ON keys;"
    "DROP TRIGGER IF EXISTS keys_rewrap_moves_kek ON keys;"
    "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys FOR EACH ROW WHEN (OLD.state = 'retired'"
    "  AND NOT (NEW.kek_label IS DISTINCT FROM OLD.kek_label AND NEW.state IS NOT DISTINCT FROM OLD.state"
    "    AND NEW.policy_id IS NOT DISTINCT FROM OLD.policy_id))"
    "  EXECUTE FUNCTION ccg_refuse('a retired key version is final');"
    "CREATE TRIGGER keys_material_immutable BEFORE UPDATE ON keys FOR EACH ROW"
    "  WHEN (NEW.key_id IS DISTINCT FROM OLD.key_id OR NEW.version IS DISTINCT FROM OLD.version"
    "    OR NEW.created_at IS DISTINCT FROM OLD.created_at)"
    "  EXECUTE FUNCTION ccg_refuse('a key version is immutable except for its state');"
    "CREATE TRIGGER keys_rewrap_moves_kek BEFORE UPDATE ON keys FOR EACH ROW"
    "  WHEN ((NEW.wrapped IS DISTINCT FROM OLD.wrapped OR NEW.kek_label IS DISTINCT FROM OLD.kek_label)"
    "    AND (NEW.kek_label IS NOT DISTINCT FROM OLD.kek_label OR NEW.wrapped IS NOT DISTINCT FROM OLD.wrapped))"
    "  EXECUTE FUNCTION ccg_refuse('a key version is re-wrapped only under another KEK');";

/* Version 5: key lifecycle (SQLite's MIGRATION_5): a retired version's grace (releasable_until,
 * counted from retired_at) only ends; owners change hands only by a recorded transfer. PostgreSQL's
 * trigger conditions take no subquery, so the owner rule is a plpgsql function. */
static const char MIGRATION_5[] =
    "ALTER TABLE keys ADD COLUMN releasable_until BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE keys ADD COLUMN retired_at BIGINT NOT NULL DEFAULT 0;"
    "DROP TRIGGER IF EXISTS keys_retired_is_final ON keys;"
    "CREATE TRIGGER keys_retired_is_final BEFORE UPDATE ON keys FOR EACH ROW WHEN (OLD.state = 'retired'"
    "  AND (NEW.state IS DISTINCT FROM OLD.state OR NEW.policy_id IS DISTINCT FROM OLD.policy_id"
    "    OR NEW.retired_at IS DISTINCT FROM OLD.retired_at OR NEW.releasable_until > OLD.releasable_until"
    "    OR (NEW.kek_label IS NOT DISTINCT FROM OLD.kek_label"
    "      AND NEW.releasable_until IS NOT DISTINCT FROM OLD.releasable_until)))"
    "  EXECUTE FUNCTION ccg_refuse('a retired key version is final; its grace only ends');"
    "CREATE TABLE owner_transfers ("
    "  kind         TEXT NOT NULL CHECK (kind IN ('key', 'policy')),"
    "  object_id    TEXT NOT NULL,"
    "  from_issuer  TEXT NOT NULL,"
    "  from_subject TEXT NOT NULL,"
    "  to_issuer    TEXT NOT NULL CHECK (length(to_issuer) >= 1),"
    "  to_subject   TEXT NOT NULL CHECK (length(to_subject) >= 1),"
    "  at           BIGINT NOT NULL"
    ");"
    "CREATE INDEX owner_transfers_by_object ON owner_transfers(kind, object_id);"
    "CREATE TRIGGER owner_transfers_kept BEFORE UPDATE OR DELETE ON owner_transfers"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_refuse('owner transfers are kept');"
    "CREATE OR REPLACE FUNCTION ccg_owner_change() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN"
    " IF NEW.issuer = '' OR length(NEW.subject) < 1 OR NEW.kind IS DISTINCT FROM OLD.kind"
    "    OR NEW.object_id IS DISTINCT FROM OLD.object_id"
    "    OR ((OLD.issuer <> '' OR NEW.subject IS DISTINCT FROM OLD.subject) AND NOT EXISTS ("
    "      SELECT 1 FROM owner_transfers t WHERE t.kind = OLD.kind AND t.object_id = OLD.object_id"
    "        AND t.from_issuer = OLD.issuer AND t.from_subject = OLD.subject AND t.to_issuer = NEW.issuer"
    "        AND t.to_subject = NEW.subject AND t.at = NEW.updated_at)) THEN"
    "   RAISE EXCEPTION 'an owner changes hands only by a recorded transfer'"
    "     USING ERRCODE = 'integrity_constraint_violation';"
    " END IF; RETURN NEW; END $f$;"
    "DROP TRIGGER IF EXISTS owners_fixed ON owners;"
    "CREATE TRIGGER owners_fixed BEFORE UPDATE ON owners FOR EACH ROW EXECUTE FUNCTION ccg_owner_change();";

static const char *const MIGRATIONS[] = {
    MIGRATION_1,
    MIGRATION_2,
    MIGRATION_3,
    MIGRATION_4,
    MIGRATION_5,
};
_Static_assert(sizeof(MIGRATIONS) / sizeof(MIGRATIONS[0]) == CCG_STORE_SCHEMA_VERSION,
               "one PostgreSQL migration per schema version (port the SQLite migration here)");

static const char SQL_VERSION_TABLE[] =
    "CREATE TABLE IF NOT EXISTS schema_version ("
    "  version    BIGINT PRIMARY KEY NOT NULL,"
    "  applied_at BIGINT NOT NULL"
    ")";
static const char SQL_VERSION_TABLE_EXISTS[] =
    "SELECT CASE WHEN to_regclass('schema_version') IS NULL THEN 0 ELSE 1 END::int8";
static const char SQL_MAX_VERSION[] = "SELECT coalesce(max(version), 0)::int8 FROM schema_version";
static const char SQL_RECORD_VERSION[] =
    "INSERT INTO schema_version(version, applied_at) VALUES ($1, extract(epoch FROM now())::int8)";

static ccg_result read_version(ccg_pg *h, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    int64_t exists = 0;
    *version = 0;
    CCG_TRY(ccg_pg_exec(h, SQL_VERSION_TABLE_EXISTS, NULL, "read the schema", &r));
    CCG_TRY(ccg_pg_col_int(r, 0, 0, &exists));
    PQclear(r);
    r = NULL;
    if (!exists) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_pg_exec(h, SQL_MAX_VERSION, NULL, "read the schema version", &r));
    CCG_TRY(ccg_pg_col_int(r, 0, 0, version));
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
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

/* A migration that fails on a table of the same name was given a database where something else
 * (another application, or a half-copied ccgate schema without schema_version) owns those names. */
static ccg_result apply(ccg_pg *h, int64_t v)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg_params p;
    char why[512];
    if (ccg_failed(ccg_pg_script(h, MIGRATIONS[v - 1], "apply a schema migration"))) {
        ccg_reason reason = ccg_error_reason();
        snprintf(why, sizeof(why), "%s", ccg_error_last()->message);
        ccg_error_clear(); /* the first error would win otherwise */
        /* a lost connection stays store.unavailable; a name taken by someone else's table is corrupt */
        CCG_BAIL(reason == CCG_R_STORE_UNAVAILABLE && h->broken ? reason : CCG_R_STORE_CORRUPT,
                 "schema migration %lld failed: %s", (long long)v, why);
    }
    ccg_pg_params_init(&p);
    ccg_pg_int(&p, v);
    CCG_TRY(ccg_pg_exec(h, SQL_RECORD_VERSION, &p, "record the schema version", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_store_migrate(ccg_pg *h)
{
    ccg_result result = CCG_FAILURE;
    int64_t version = 0;

    /* The common case takes no lock. */
    CCG_TRY(ccg_pg_ready(h));
    CCG_TRY(read_version(h, &version));
    CCG_TRY(check_not_future(version));
    if (version == CCG_STORE_SCHEMA_VERSION) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(ccg_pg_begin(h));
    CCG_TRY(ccg_pg_exec(h, SQL_SCHEMA_LOCK, NULL, "take the schema lock", NULL));
    CCG_TRY(ccg_pg_script(h, SQL_VERSION_TABLE, "create schema_version"));
    CCG_TRY(read_version(h, &version)); /* another instance may have migrated meanwhile */
    CCG_TRY(check_not_future(version));
    for (int64_t v = version + 1; v <= CCG_STORE_SCHEMA_VERSION; v++) {
        CCG_TRY(apply(h, v));
    }
    CCG_TRY(ccg_pg_commit(h));
    result = CCG_SUCCESS;
cleanup:
    if (h->in_tx) {
        ccg_pg_rollback(h);
    }
    return result;
}

ccg_result ccg_pg_store_schema_version(void *impl, int64_t *version)
{
    return read_version(impl, version);
}

/* What the current schema (version CCG_STORE_SCHEMA_VERSION) must have, resolved through the search_path
 * as the store's statements are: every table, the unique index that keeps one live key version, and every
 * rule trigger, enabled (a trigger disabled with ALTER TABLE, or set to fire only on replicas, enforces
 * nothing). The first thing missing, or nothing. Keep it in step with the migrations above. */
static const char SQL_SCHEMA_CHECK[] =
    "SELECT e.kind || ' ' || e.name FROM (VALUES"
    " ('table', 'schema_version', ''), ('table', 'policies', ''), ('table', 'policy_versions', ''),"
    " ('table', 'refval_sets', ''), ('table', 'collateral', ''), ('table', 'keys', ''),"
    " ('table', 'sessions', ''), ('table', 'settings', ''), ('table', 'owners', ''),"
    " ('table', 'owner_transfers', ''), ('table', 'gpu_reports', ''),"
    " ('unique index', 'keys_one_live', ''),"
    " ('trigger', 'policy_versions_immutable', 'policy_versions'),"
    " ('trigger', 'policy_versions_kept', 'policy_versions'),"
    " ('trigger', 'refval_sets_immutable', 'refval_sets'), ('trigger', 'collateral_immutable', 'collateral'),"
    " ('trigger', 'keys_retired_is_final', 'keys'), ('trigger', 'keys_material_immutable', 'keys'),"
    " ('trigger', 'keys_rewrap_moves_kek', 'keys'), ('trigger', 'sessions_nonce_once', 'sessions'),"
    " ('trigger', 'owners_fixed', 'owners'), ('trigger', 'owners_kept', 'owners'),"
    " ('trigger', 'owner_transfers_kept', 'owner_transfers'), ('trigger', 'gpu_reports_fixed', 'gpu_reports')"
    ") AS e(kind, name, tbl) WHERE CASE e.kind"
    " WHEN 'table' THEN coalesce((SELECT c.relkind NOT IN ('r', 'p') FROM pg_class c"
    "   WHERE c.oid = to_regclass(e.name)), true)"
    " WHEN 'unique index' THEN NOT coalesce((SELECT i.indisunique AND i.indisvalid FROM pg_index i"
    "   WHERE i.indexrelid = to_regclass(e.name)), false)"
    " ELSE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = to_regclass(e.tbl) AND t.tgname = e.name"
    "   AND t.tgenabled IN ('O', 'A')) END"
    " LIMIT 1";

/* store.corrupt naming the first table, index or rule trigger of the schema that is missing or disabled. */
static ccg_result check_schema_objects(ccg_pg *h)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    char missing[128] = "";
    CCG_TRY(ccg_pg_exec(h, SQL_SCHEMA_CHECK, NULL, "check the schema", &r));
    if (PQntuples(r) > 0) {
        CCG_TRY(ccg_pg_col_text(r, 0, 0, missing, sizeof(missing)));
        CCG_BAIL(CCG_R_STORE_CORRUPT,
                 "the store's schema is incomplete: %s is missing or disabled, so its rules are not all enforced",
                 missing);
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_store_integrity_check(void *impl)
{
    ccg_result result = CCG_FAILURE;
    int64_t version = 0;
    CCG_TRY(read_version(impl, &version));
    CCG_TRY(check_not_future(version));
    CCG_ENSURE_MSG(version == CCG_STORE_SCHEMA_VERSION, CCG_R_STORE_CORRUPT, "schema version %lld, expected %d",
                   (long long)version, CCG_STORE_SCHEMA_VERSION);
    /* PostgreSQL checks its own pages (and amcheck is an extension not every server has); what SQLite's
     * integrity check would catch that the server cannot is a schema someone changed around ccgate. */
    CCG_TRY(check_schema_objects(impl));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
