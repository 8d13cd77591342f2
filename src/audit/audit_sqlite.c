/* The audit log's SQLite backend. Appenders serialise on the database write lock (BEGIN IMMEDIATE);
 * with WAL and synchronous=FULL a COMMIT returns after the WAL is fsync'ed, so an acknowledged record
 * survives a crash of the process (and of the machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
#include "../store/sqlite_db.h"

struct ccg_audit_store {
    ccg_sqlite *h;
};

/* The audit tables. They are created IF NOT EXISTS so the log can share the store's database file
 * without sharing its migrations; audit_schema carries the audit table's own version. The triggers
 * refuse UPDATE and DELETE through SQLite; the hash chain detects changes made around them. */
static const char SQL_TRIGGERS[] =
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

static const char SQL_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS audit_schema ("
    "  version INTEGER PRIMARY KEY NOT NULL"
    ") STRICT;"
    "INSERT OR IGNORE INTO audit_schema(version) VALUES (5);"
    "CREATE TABLE IF NOT EXISTS audit_log ("
    "  seq             INTEGER PRIMARY KEY NOT NULL CHECK (seq >= 1),"
    "  v               INTEGER NOT NULL,"
    "  time            TEXT NOT NULL,"
    "  request_id      TEXT NOT NULL,"
    "  persona         TEXT NOT NULL,"
    "  action          TEXT NOT NULL,"
    "  key_id          TEXT,"
    "  key_version     INTEGER,"
    "  policy_id       TEXT,"
    "  policy_version  INTEGER,"
    "  evidence_digest TEXT,"
    "  decision        TEXT NOT NULL,"
    "  reasons         TEXT NOT NULL,"
    "  prev_hash       TEXT NOT NULL UNIQUE,"
    "  hash            TEXT NOT NULL UNIQUE,"
    "  count           INTEGER CHECK (count IS NULL OR count >= 1),"
    "  tcb             TEXT,"
    "  gpus            TEXT,"
    "  claims          TEXT"
    ") STRICT;"
    "CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log(request_id);";

/* Schema 2 added the count column (format-2 records), schema 3 the tcb column (format-3 records),
 * schema 4 the gpus column (format-4 records), schema 5 the claims column (format-6 records) and an
 * index by request ID. An older log gains the columns it lacks on open; adding a NULL column changes no
 * record, so its records verify unchanged. A log may lack any of them (schema 1, or a log of a ccgate
 * that had only some). */
static const struct {
    const char *has;
    const char *add;
} COLUMNS_ADDED[] = {
    {"SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'count'",
     "ALTER TABLE audit_log ADD COLUMN count INTEGER CHECK (count IS NULL OR count >= 1);"},
    {"SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'tcb'", "ALTER TABLE audit_log ADD COLUMN tcb TEXT;"},
    {"SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'gpus'",
     "ALTER TABLE audit_log ADD COLUMN gpus TEXT;"},
    {"SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'claims'",
     "ALTER TABLE audit_log ADD COLUMN claims TEXT;"},
};
static const char SQL_ADD_INDEX[] = "CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log(request_id);";
static const char SQL_SET_VERSION[] = "DELETE FROM audit_schema; INSERT INTO audit_schema(version) VALUES (5);";

static const char SQL_TABLES[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('audit_log', 'audit_schema')";
static const char SQL_VERSION[] = "SELECT coalesce(max(version), 0) FROM audit_schema";
static const char SQL_HEAD[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_log(" CCG_AUDIT_COLUMNS ")"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)";
static const char SQL_SINCE[] = "SELECT " CCG_AUDIT_COLUMNS " FROM audit_log WHERE seq > ?1 ORDER BY seq";
static const char SQL_REQUEST[] =
    "SELECT " CCG_AUDIT_COLUMNS " FROM audit_log WHERE seq > ?1 AND request_id = ?2 ORDER BY seq";
static const char SQL_CHECKPOINT_BEFORE[] =
    "SELECT seq FROM audit_log WHERE action = '" CCG_AUDIT_ACTION_CHECKPOINT "' AND decision = 'allow'"
    " AND persona = 'operator' AND time <= ?1 ORDER BY seq DESC LIMIT 1";
static const char SQL_COUNT_BEFORE[] = "SELECT count(*) FROM audit_log WHERE seq < ?1";
static const char SQL_DELETE_BEFORE[] = "DELETE FROM audit_log WHERE seq < ?1";
static const char SQL_DROP_DELETE_TRIGGER[] = "DROP TRIGGER IF EXISTS audit_log_no_delete;";

/* The single integer a SELECT returns (bound to ?1 = arg when arg_set). */
static ccg_result query_int(ccg_sqlite *h, const char *sql, int arg_set, int64_t arg, int64_t *n, const char *what)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, sql, &st));
    if (arg_set) {
        CCG_TRY(ccg_sqlite_bind_int(h, st, 1, arg));
    }
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, what));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, n));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

/* Adds the columns an older log lacks and records schema 5, in the caller's transaction. */
static ccg_result upgrade(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < sizeof(COLUMNS_ADDED) / sizeof(COLUMNS_ADDED[0]); i++) {
        int64_t has = 0;
        CCG_TRY(query_int(h, COLUMNS_ADDED[i].has, 0, 0, &has, "read the schema"));
        if (!has) {
            CCG_TRY(ccg_sqlite_exec_script(h, COLUMNS_ADDED[i].add, "add an audit log column"));
        }
    }
    CCG_TRY(ccg_sqlite_exec_script(h, SQL_ADD_INDEX, "index the audit log by request"));
    CCG_TRY(ccg_sqlite_exec_script(h, SQL_SET_VERSION, "upgrade the audit log to schema 5"));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Schema 5 is required; an older log (schema 1 to 4) is upgraded in place, once, under the write lock
 * (another process may be upgrading it at the same moment). */
static ccg_result check_version(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    int64_t v = 0;
    int in_tx = 0;
    CCG_TRY(query_int(h, SQL_VERSION, 0, 0, &v, "read the audit schema version"));
    if (v >= 1 && v < CCG_AUDIT_SCHEMA_VERSION) {
        CCG_TRY(ccg_sqlite_begin(h));
        in_tx = 1;
        CCG_TRY(query_int(h, SQL_VERSION, 0, 0, &v, "read the audit schema version")); /* upgraded meanwhile? */
        if (v >= 1 && v < CCG_AUDIT_SCHEMA_VERSION) {
            CCG_TRY(upgrade(h));
            v = CCG_AUDIT_SCHEMA_VERSION;
        }
        CCG_TRY(ccg_sqlite_commit(h));
        in_tx = 0;
    }
    CCG_ENSURE_MSG(v == CCG_AUDIT_SCHEMA_VERSION, CCG_R_STORE_CORRUPT,
                   "the audit log's schema version %lld is not %d (written by another ccgate?)", (long long)v,
                   CCG_AUDIT_SCHEMA_VERSION);
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    return result;
}

static void sq_close(ccg_audit_store *s)
{
    if (s != NULL) {
        ccg_sqlite_close(s->h);
        free(s);
    }
}

static ccg_result sq_begin_write(ccg_audit_store *s) { return ccg_sqlite_begin(s->h); }
static ccg_result sq_begin_read(ccg_audit_store *s) { return ccg_sqlite_begin_read(s->h); }
static ccg_result sq_commit(ccg_audit_store *s) { return ccg_sqlite_commit(s->h); }
static ccg_result sq_commit_ordered(ccg_audit_store *s, uint64_t *ticket) { return ccg_sqlite_commit_ordered(s->h, ticket); }
static ccg_result sq_durable(ccg_audit_store *s, uint64_t ticket) { return ccg_sqlite_durable(s->h, ticket); }

static ccg_result sq_commit_unsynced(ccg_audit_store *s)
{
    uint64_t ticket = 0; /* not waited for: the next synced commit of the file covers it */
    return ccg_sqlite_commit_ordered(s->h, &ticket);
}
static void sq_rollback(ccg_audit_store *s) { ccg_sqlite_rollback(s->h); }

static ccg_result sq_head(ccg_audit_store *s, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    *seq = 0;
    CCG_TRY(ccg_sqlite_stmt(s->h, SQL_HEAD, &st));
    CCG_TRY(ccg_sqlite_step_row(s->h, st, &row, "read the audit head"));
    if (row) {
        CCG_TRY(ccg_sqlite_col_int(st, 0, seq));
        CCG_TRY(ccg_sqlite_col_text(st, 1, hash, CCG_AUDIT_HASH_HEX));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result sq_insert(ccg_audit_store *s, const ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(s->h, SQL_INSERT, &st));
    for (int i = 0; i < CCG_AUDIT_NCOLS; i++) {
        if (cols[i].type == CCG_AUDIT_COL_INT) {
            CCG_TRY(ccg_sqlite_bind_int(s->h, st, i + 1, cols[i].i));
        } else if (cols[i].type == CCG_AUDIT_COL_TEXT) {
            CCG_TRY(ccg_sqlite_bind_text(s->h, st, i + 1, cols[i].text));
        } else {
            CCG_TRY(ccg_sqlite_bind_null(s->h, st, i + 1));
        }
    }
    CCG_TRY(ccg_sqlite_step_done(s->h, st, "insert the audit record"));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

/* A row of CCG_AUDIT_COLUMNS as it is stored (the column text stays owned by the statement). */
static void row_cols(sqlite3_stmt *st, ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    for (int i = 0; i < CCG_AUDIT_NCOLS; i++) {
        int t = sqlite3_column_type(st, i);
        memset(&cols[i], 0, sizeof(cols[i]));
        if (t == SQLITE_INTEGER) {
            cols[i].type = CCG_AUDIT_COL_INT;
            cols[i].i = sqlite3_column_int64(st, i);
        } else if (t == SQLITE_TEXT) {
            cols[i].text = (const char *)sqlite3_column_text(st, i);
            cols[i].len = (size_t)sqlite3_column_bytes(st, i);
            cols[i].type = cols[i].text != NULL ? CCG_AUDIT_COL_TEXT : CCG_AUDIT_COL_NULL;
        } else if (t != SQLITE_NULL) {
            cols[i].type = CCG_AUDIT_COL_TEXT; /* a REAL or BLOB: "not text" to the codec */
            cols[i].text = NULL;
        }
    }
}

static ccg_result sq_scan(ccg_audit_store *s, const ccg_audit_scan *q, ccg_audit_row_fn fn, void *ctx)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    ccg_audit_col cols[CCG_AUDIT_NCOLS];
    size_t n = 0;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(s->h, q->request_id ? SQL_REQUEST : SQL_SINCE, &st));
    CCG_TRY(ccg_sqlite_bind_int(s->h, st, 1, q->since));
    if (q->request_id != NULL) {
        CCG_TRY(ccg_sqlite_bind_text(s->h, st, 2, q->request_id));
    }
    while (q->limit == 0 || n < q->limit) {
        CCG_TRY(ccg_sqlite_step_row(s->h, st, &row, "read the audit log"));
        if (!row) {
            break;
        }
        row_cols(st, cols);
        CCG_TRY(fn(ctx, cols));
        n++;
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result sq_checkpoint_before(ccg_audit_store *s, const char *when, int64_t *seq)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    *seq = 0;
    CCG_TRY(ccg_sqlite_stmt(s->h, SQL_CHECKPOINT_BEFORE, &st));
    CCG_TRY(ccg_sqlite_bind_text(s->h, st, 1, when));
    CCG_TRY(ccg_sqlite_step_row(s->h, st, &row, "find a checkpoint"));
    if (row) {
        CCG_TRY(ccg_sqlite_col_int(st, 0, seq));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result sq_count_before(ccg_audit_store *s, int64_t seq, int64_t *n)
{
    return query_int(s->h, SQL_COUNT_BEFORE, 1, seq, n, "count the records to prune");
}

static ccg_result sq_delete_before(ccg_audit_store *s, int64_t seq)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    /* The append-only trigger is lifted for this DELETE only, inside the transaction. */
    CCG_TRY(ccg_sqlite_exec_script(s->h, SQL_DROP_DELETE_TRIGGER, "lift the delete trigger"));
    CCG_TRY(ccg_sqlite_stmt(s->h, SQL_DELETE_BEFORE, &st));
    CCG_TRY(ccg_sqlite_bind_int(s->h, st, 1, seq));
    CCG_TRY(ccg_sqlite_step_done(s->h, st, "prune the audit log"));
    CCG_TRY(ccg_sqlite_exec_script(s->h, SQL_TRIGGERS, "restore the delete trigger"));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static const ccg_audit_ops SQLITE_OPS = {
    .name = "sqlite",
    .close = sq_close,
    .begin_write = sq_begin_write,
    .begin_read = sq_begin_read,
    .commit = sq_commit,
    .commit_ordered = sq_commit_ordered,
    .durable = sq_durable,
    .commit_unsynced = sq_commit_unsynced,
    .rollback = sq_rollback,
    .head = sq_head,
    .insert = sq_insert,
    .scan = sq_scan,
    .checkpoint_before = sq_checkpoint_before,
    .count_before = sq_count_before,
    .delete_before = sq_delete_before,
};

ccg_result ccg_audit_sqlite_open(const char *path, const ccg_audit_options *opts, const ccg_audit_ops **ops,
                                 ccg_audit_store **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_store *s = NULL;
    int64_t tables = 0;
    int in_tx = 0;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    CCG_TRY(ccg_sqlite_open(path, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 10000, opts->create, &s->h));
    CCG_TRY(query_int(s->h, SQL_TABLES, 0, 0, &tables, "read the schema"));
    if (tables != 2) {
        CCG_ENSURE_MSG(opts->create, CCG_R_STORE_UNAVAILABLE, "%s holds no audit log", path);
        CCG_TRY(ccg_sqlite_begin(s->h));
        in_tx = 1;
        CCG_TRY(ccg_sqlite_exec_script(s->h, SQL_SCHEMA, "create the audit log"));
        CCG_TRY(ccg_sqlite_exec_script(s->h, SQL_TRIGGERS, "create the audit log"));
        CCG_TRY(ccg_sqlite_commit(s->h));
        in_tx = 0;
    }
    CCG_TRY(check_version(s->h));
    *ops = &SQLITE_OPS;
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(s->h);
    }
    sq_close(s);
    return result;
}
