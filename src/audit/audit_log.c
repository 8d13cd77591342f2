/* The audit log's table, opening, and appending. An append is one BEGIN IMMEDIATE transaction: read
 * the head, build the record at head + 1 chained to the head's hash, insert, COMMIT. With WAL and
 * synchronous=FULL the COMMIT returns after the WAL is fsync'ed, so a record that ccg_audit_append
 * acknowledged survives a crash of the process (and of the machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"

/* The audit tables. They are created IF NOT EXISTS so the log can share the store's database file
 * without sharing its migrations; audit_schema carries the audit table's own version. The triggers
 * refuse UPDATE and DELETE through SQLite; the hash chain detects changes made around them. */
const char CCG_AUDIT_SQL_TRIGGERS[] =
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

static const char SQL_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS audit_schema ("
    "  version INTEGER PRIMARY KEY NOT NULL"
    ") STRICT;"
    "INSERT OR IGNORE INTO audit_schema(version) VALUES (4);"
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
    "  gpus            TEXT"
    ") STRICT;";

/* Schema 2 added the count column (format-2 records), schema 3 the tcb column (format-3 records),
 * schema 4 the gpus column (format-4 records). An older log gains the columns it lacks on open; adding
 * a NULL column changes no record, so its records verify unchanged. A log may lack any of them (schema
 * 1, or a log of a ccgate that had only some). */
#define AUDIT_SCHEMA_VERSION 4
static const char SQL_HAS_COUNT[] = "SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'count'";
static const char SQL_HAS_TCB[] = "SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'tcb'";
static const char SQL_HAS_GPUS[] = "SELECT count(*) FROM pragma_table_info('audit_log') WHERE name = 'gpus'";
static const char SQL_ADD_COUNT[] =
    "ALTER TABLE audit_log ADD COLUMN count INTEGER CHECK (count IS NULL OR count >= 1);";
static const char SQL_ADD_TCB[] = "ALTER TABLE audit_log ADD COLUMN tcb TEXT;";
static const char SQL_ADD_GPUS[] = "ALTER TABLE audit_log ADD COLUMN gpus TEXT;";
static const char SQL_SET_VERSION[] = "DELETE FROM audit_schema; INSERT INTO audit_schema(version) VALUES (4);";

static const char SQL_TABLES[] =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('audit_log', 'audit_schema')";
static const char SQL_VERSION[] = "SELECT coalesce(max(version), 0) FROM audit_schema";
static const char SQL_HEAD[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_log(seq, v, time, request_id, persona, action, key_id, key_version, policy_id,"
    " policy_version, evidence_digest, decision, reasons, prev_hash, hash, count, tcb, gpus)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

/* The single integer that a SELECT of the schema returns. */
static ccg_result query_count(ccg_sqlite *h, const char *sql, int64_t *n)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, sql, &st));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the schema"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, n));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result read_version(ccg_sqlite *h, int64_t *v)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    CCG_TRY(ccg_sqlite_stmt(h, SQL_VERSION, &st));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the audit schema version"));
    CCG_ENSURE(row, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_sqlite_col_int(st, 0, v));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

/* Adds the count, tcb and gpus columns that an older log lacks and records schema 4, in one transaction. */
static ccg_result upgrade(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    int64_t has_count = 0, has_tcb = 0, has_gpus = 0;
    CCG_TRY(query_count(h, SQL_HAS_COUNT, &has_count));
    CCG_TRY(query_count(h, SQL_HAS_TCB, &has_tcb));
    CCG_TRY(query_count(h, SQL_HAS_GPUS, &has_gpus));
    if (!has_count) {
        CCG_TRY(ccg_sqlite_exec_script(h, SQL_ADD_COUNT, "add the audit log's count column"));
    }
    if (!has_tcb) {
        CCG_TRY(ccg_sqlite_exec_script(h, SQL_ADD_TCB, "add the audit log's tcb column"));
    }
    if (!has_gpus) {
        CCG_TRY(ccg_sqlite_exec_script(h, SQL_ADD_GPUS, "add the audit log's gpus column"));
    }
    CCG_TRY(ccg_sqlite_exec_script(h, SQL_SET_VERSION, "upgrade the audit log to schema 4"));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Schema 4 is required; an older log (schema 1 to 3) is upgraded in place, once, under the write lock
 * (another process may be upgrading it at the same moment). */
static ccg_result check_version(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    int64_t v = 0;
    int in_tx = 0;
    CCG_TRY(read_version(h, &v));
    if (v >= 1 && v < AUDIT_SCHEMA_VERSION) {
        CCG_TRY(ccg_sqlite_begin(h));
        in_tx = 1;
        CCG_TRY(read_version(h, &v)); /* another process may have upgraded it meanwhile */
        if (v >= 1 && v < AUDIT_SCHEMA_VERSION) {
            CCG_TRY(upgrade(h));
            v = AUDIT_SCHEMA_VERSION;
        }
        CCG_TRY(ccg_sqlite_commit(h));
        in_tx = 0;
    }
    CCG_ENSURE_MSG(v == AUDIT_SCHEMA_VERSION, CCG_R_STORE_CORRUPT,
                   "the audit log's schema version %lld is not %d (written by another ccgate?)", (long long)v,
                   AUDIT_SCHEMA_VERSION);
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(h);
    }
    return result;
}

ccg_result ccg_audit_open(const char *path, const ccg_audit_options *opts, ccg_audit **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit *a = NULL;
    ccg_audit_options defaults = {.busy_timeout_ms = 0, .create = 1};
    int64_t tables = 0;
    int in_tx = 0, mutex_ok = 0;

    ccg_error_clear();
    CCG_ENSURE(out != NULL, CCG_R_INPUT_MALFORMED);
    *out = NULL;
    CCG_ENSURE_MSG(path != NULL && *path != '\0', CCG_R_INPUT_MALFORMED, "no audit database path");
    if (opts == NULL) {
        opts = &defaults;
    }
    a = calloc(1, sizeof(*a));
    CCG_ENSURE_ALLOC(a);
    CCG_ENSURE(pthread_mutex_init(&a->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    mutex_ok = 1;
    CCG_TRY(ccg_sqlite_open(path, opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 10000, opts->create, &a->h));
    CCG_TRY(query_count(a->h, SQL_TABLES, &tables));
    if (tables != 2) {
        CCG_ENSURE_MSG(opts->create, CCG_R_STORE_UNAVAILABLE, "%s holds no audit log", path);
        CCG_TRY(ccg_sqlite_begin(a->h));
        in_tx = 1;
        CCG_TRY(ccg_sqlite_exec_script(a->h, SQL_SCHEMA, "create the audit log"));
        CCG_TRY(ccg_sqlite_exec_script(a->h, CCG_AUDIT_SQL_TRIGGERS, "create the audit log"));
        CCG_TRY(ccg_sqlite_commit(a->h));
        in_tx = 0;
    }
    CCG_TRY(check_version(a->h));
    *out = a;
    a = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(a->h);
    }
    if (a != NULL) {
        ccg_sqlite_close(a->h);
        if (mutex_ok) {
            pthread_mutex_destroy(&a->lock);
        }
        free(a);
    }
    return result;
}

void ccg_audit_close(ccg_audit *a)
{
    if (a == NULL) {
        return;
    }
    ccg_sqlite_close(a->h);
    pthread_mutex_destroy(&a->lock);
    free(a);
}

/* The head inside the caller's transaction (or snapshot). */
static ccg_result read_head(ccg_sqlite *h, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int row = 0;
    *seq = 0;
    snprintf(hash, CCG_AUDIT_HASH_HEX, "%s", CCG_AUDIT_GENESIS);
    CCG_TRY(ccg_sqlite_stmt(h, SQL_HEAD, &st));
    CCG_TRY(ccg_sqlite_step_row(h, st, &row, "read the audit head"));
    if (row) {
        CCG_TRY(ccg_sqlite_col_int(st, 0, seq));
        CCG_TRY(ccg_sqlite_col_text(st, 1, hash, CCG_AUDIT_HASH_HEX));
        CCG_ENSURE_MSG(*seq >= 1 && ccg_audit_hash_text_ok(hash), CCG_R_AUDIT_CHAIN_BROKEN,
                       "the newest audit record (seq %lld) is malformed", (long long)*seq);
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static ccg_result insert_record(ccg_sqlite *h, const json_t *rec, const char *reasons_text, const char *hash)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    static const char *const text_fields[] = {"time",      "request_id",      "persona",  "action",
                                              "key_id",    "policy_id",       "evidence_digest",
                                              "decision",  "prev_hash"};
    static const int text_index[] = {3, 4, 5, 6, 7, 9, 11, 12, 14};
    static const char *const int_fields[] = {"seq", "v", "key_version", "policy_version"};
    static const int int_index[] = {1, 2, 8, 10};
    const json_t *tcb, *gpus;
    char *tcb_text = NULL, *gpus_text = NULL;

    CCG_TRY(ccg_sqlite_stmt(h, SQL_INSERT, &st));
    for (size_t i = 0; i < sizeof(text_fields) / sizeof(text_fields[0]); i++) {
        CCG_TRY(ccg_sqlite_bind_text(h, st, text_index[i], json_string_value(json_object_get(rec, text_fields[i]))));
    }
    for (size_t i = 0; i < sizeof(int_fields) / sizeof(int_fields[0]); i++) {
        json_t *v = json_object_get(rec, int_fields[i]);
        if (json_is_integer(v)) {
            CCG_TRY(ccg_sqlite_bind_int(h, st, int_index[i], (int64_t)json_integer_value(v)));
        } else {
            CCG_TRY(ccg_sqlite_bind_null(h, st, int_index[i]));
        }
    }
    CCG_TRY(ccg_sqlite_bind_text(h, st, 13, reasons_text));
    CCG_TRY(ccg_sqlite_bind_text(h, st, 15, hash));
    if (json_is_integer(json_object_get(rec, "count"))) {
        CCG_TRY(ccg_sqlite_bind_int(h, st, 16, (int64_t)json_integer_value(json_object_get(rec, "count"))));
    } else {
        CCG_TRY(ccg_sqlite_bind_null(h, st, 16));
    }
    /* A format-4 record's null tcb is a NULL column, as is every absent member. */
    tcb = json_object_get(rec, "tcb");
    if (json_is_object(tcb)) {
        tcb_text = json_dumps(tcb, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        CCG_ENSURE_ALLOC(tcb_text);
        CCG_TRY(ccg_sqlite_bind_text(h, st, 17, tcb_text));
    } else {
        CCG_TRY(ccg_sqlite_bind_null(h, st, 17));
    }
    gpus = json_object_get(rec, "gpus");
    if (gpus != NULL) {
        gpus_text = json_dumps(gpus, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        CCG_ENSURE_ALLOC(gpus_text);
        CCG_TRY(ccg_sqlite_bind_text(h, st, 18, gpus_text));
    } else {
        CCG_TRY(ccg_sqlite_bind_null(h, st, 18));
    }
    CCG_TRY(ccg_sqlite_step_done(h, st, "insert the audit record"));
    result = CCG_SUCCESS;
cleanup:
    free(tcb_text);
    free(gpus_text);
    ccg_sqlite_done(st);
    return result;
}

ccg_result ccg_audit_append_in_tx(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL;
    char *reasons_text = NULL;
    char prev[CCG_AUDIT_HASH_HEX];
    char mine[CCG_AUDIT_HASH_HEX];
    int64_t head = 0;
    CCG_TRY(read_head(a->h, &head, prev));
    CCG_TRY(ccg_audit_record_from_event(ev, head + 1, prev, &rec, &reasons_text));
    CCG_TRY(ccg_audit_record_hash(rec, mine));
    CCG_TRY(insert_record(a->h, rec, reasons_text, mine));
    if (seq != NULL) {
        *seq = head + 1;
    }
    if (hash != NULL) {
        memcpy(hash, mine, CCG_AUDIT_HASH_HEX);
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(rec);
    free(reasons_text);
    return result;
}

ccg_result ccg_audit_append(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    int in_tx = 0, locked = 0;

    ccg_error_clear();
    CCG_ENSURE(a != NULL, CCG_R_INPUT_MALFORMED);
    CCG_TRY(ccg_audit_event_check(ev));
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(ccg_sqlite_begin(a->h));
    in_tx = 1;
    CCG_TRY(ccg_audit_append_in_tx(a, ev, seq, hash));
    CCG_TRY(ccg_sqlite_commit(a->h));
    in_tx = 0;
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(a->h);
    }
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    if (ccg_failed(result)) {
        /* Whatever failed below (a lock timeout, I/O, a full disk), the caller's answer is the same:
         * the record is not written, so nothing may be released. Input errors keep their code. */
        const ccg_error *e = ccg_error_last();
        ccg_reason_kind kind = ccg_reason_kind_of(e->reason);
        if (kind != CCG_KIND_INPUT && e->reason != CCG_R_AUDIT_WRITE_FAILED) {
            char cause[sizeof(e->message) + 48];
            snprintf(cause, sizeof(cause), "%s: %s", ccg_reason_code(e->reason), e->message);
            ccg_error_clear();
            ccg_error_set(CCG_R_AUDIT_WRITE_FAILED, __FILE__, __LINE__, "the audit record was not written (%.280s)",
                          cause);
        }
    }
    return result;
}

ccg_result ccg_audit_head(ccg_audit *a, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    int locked = 0;
    ccg_error_clear();
    CCG_ENSURE(a != NULL && seq != NULL && hash != NULL, CCG_R_INPUT_MALFORMED);
    pthread_mutex_lock(&a->lock);
    locked = 1;
    CCG_TRY(read_head(a->h, seq, hash));
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&a->lock);
    }
    return result;
}
