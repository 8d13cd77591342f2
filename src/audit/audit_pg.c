/* The audit log's PostgreSQL backend (libpq). One connection per handle (calls are serialised on the
 * handle's mutex). Appenders on every instance serialise on a transaction-scoped advisory lock taken
 * first in the write transaction, so each reads the head that the previous appender committed; seq is
 * the primary key and prev_hash unique, so even a writer that skipped the lock could not fork the chain.
 * Commits run with synchronous_commit on: COMMIT returns after the WAL is flushed.
 *
 * A lost connection fails the statement that meets it (store.unavailable; an append reports
 * audit.write_failed) and leaves the connection bad; the next call outside a transaction resets it
 * (PQreset), so the log serves again once the server is back, without reopening. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "audit_internal.h"

/* The advisory locks (the two-key form, a space apart from single-key locks): key 1 "cgat", key 2 the
 * lock's role. */
#define AUDIT_LOCK_KEY1 "1667719540"
#define AUDIT_LOCK_SCHEMA "1"
#define AUDIT_LOCK_APPEND "2"
#define SCAN_BATCH 512

struct ccg_audit_store {
    PGconn *conn;
    int lock_timeout_ms;
    int in_tx;
};

static const char SQL_SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS audit_schema ("
    "  version INTEGER PRIMARY KEY NOT NULL"
    ");"
    "INSERT INTO audit_schema(version) VALUES (5) ON CONFLICT DO NOTHING;"
    "CREATE TABLE IF NOT EXISTS audit_log ("
    "  seq             BIGINT PRIMARY KEY NOT NULL CHECK (seq >= 1),"
    "  v               BIGINT NOT NULL,"
    "  time            TEXT NOT NULL,"
    "  request_id      TEXT NOT NULL,"
    "  persona         TEXT NOT NULL,"
    "  action          TEXT NOT NULL,"
    "  key_id          TEXT,"
    "  key_version     BIGINT,"
    "  policy_id       TEXT,"
    "  policy_version  BIGINT,"
    "  evidence_digest TEXT,"
    "  decision        TEXT NOT NULL,"
    "  reasons         TEXT NOT NULL,"
    "  prev_hash       TEXT NOT NULL UNIQUE,"
    "  hash            TEXT NOT NULL UNIQUE,"
    "  count           BIGINT CHECK (count IS NULL OR count >= 1),"
    "  tcb             TEXT,"
    "  gpus            TEXT,"
    "  claims          TEXT"
    ");"
    "CREATE INDEX IF NOT EXISTS audit_log_request ON audit_log(request_id);"
    /* Append-only, as SQLite's triggers: UPDATE, DELETE and TRUNCATE are refused. The hash chain
     * detects what is done around them (by a superuser, or with the triggers disabled). */
    "CREATE OR REPLACE FUNCTION ccg_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS"
    "  $f$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $f$;"
    "CREATE OR REPLACE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_audit_append_only();"
    "CREATE OR REPLACE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log"
    "  FOR EACH ROW EXECUTE FUNCTION ccg_audit_append_only();"
    "CREATE OR REPLACE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log"
    "  FOR EACH STATEMENT EXECUTE FUNCTION ccg_audit_append_only();";

static const char SQL_TABLES[] =
    "SELECT (to_regclass('audit_log') IS NOT NULL AND to_regclass('audit_schema') IS NOT NULL)::int";
static const char SQL_VERSION[] = "SELECT coalesce(max(version), 0) FROM audit_schema";
static const char SQL_HEAD[] = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_log(" CCG_AUDIT_COLUMNS ")"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)";
static const char SQL_SINCE[] = "SELECT " CCG_AUDIT_COLUMNS " FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2";
static const char SQL_REQUEST[] =
    "SELECT " CCG_AUDIT_COLUMNS " FROM audit_log WHERE seq > $1 AND request_id = $3 ORDER BY seq LIMIT $2";
static const char SQL_CHECKPOINT_BEFORE[] =
    "SELECT seq FROM audit_log WHERE action = '" CCG_AUDIT_ACTION_CHECKPOINT "' AND decision = 'allow'"
    " AND persona = 'operator' AND time <= $1 ORDER BY seq DESC LIMIT 1";
static const char SQL_COUNT_BEFORE[] = "SELECT count(*) FROM audit_log WHERE seq < $1";
static const char SQL_DELETE_BEFORE[] = "DELETE FROM audit_log WHERE seq < $1";

/* The integer columns of CCG_AUDIT_COLUMNS (the others are text). */
static int int_column(int i) { return i == 0 || i == 1 || i == 7 || i == 9 || i == 15; }

/* The length of the first line of libpq's message (at most 200 bytes), for one-line errors. */
static int first_line(const PGconn *conn)
{
    size_t n = strcspn(PQerrorMessage(conn), "\n");
    return (int)(n > 200 ? 200 : n);
}

/* Maps a failed statement to store.unavailable, naming the SQLSTATE (and a lost connection). */
static ccg_result pg_fail(ccg_audit_store *s, const PGresult *res, const char *what)
{
    ccg_result result = CCG_FAILURE;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = s->conn ? PQerrorMessage(s->conn) : "no connection";
    size_t n = strcspn(msg, "\n");
    if (s->conn == NULL || PQstatus(s->conn) != CONNECTION_OK) {
        CCG_BAIL(CCG_R_STORE_UNAVAILABLE, "the audit database connection is lost (%s): %.*s", what, (int)(n > 200 ? 200 : n),
                 msg);
    }
    CCG_BAIL(CCG_R_STORE_UNAVAILABLE, "the audit database refused to %s (SQLSTATE %s): %.*s", what,
             state ? state : "?", (int)(n > 200 ? 200 : n), msg);
cleanup:
    return result;
}

/* Runs a statement without parameters; want is the expected result status. *out (may be NULL) keeps the
 * result for the caller to PQclear. */
static ccg_result pg_exec(ccg_audit_store *s, const char *sql, ExecStatusType want, const char *what, PGresult **out)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = PQexec(s->conn, sql);
    if (res == NULL || PQresultStatus(res) != want) {
        CCG_TRY(pg_fail(s, res, what));
    }
    if (out != NULL) {
        *out = res;
        res = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(res);
    return result;
}

static ccg_result pg_params(ccg_audit_store *s, const char *sql, int n, const char *const *values, ExecStatusType want,
                            const char *what, PGresult **out)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = PQexecParams(s->conn, sql, n, NULL, values, NULL, NULL, 0);
    if (res == NULL || PQresultStatus(res) != want) {
        CCG_TRY(pg_fail(s, res, what));
    }
    if (out != NULL) {
        *out = res;
        res = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(res);
    return result;
}

/* A decimal integer column, exactly. */
static ccg_result parse_int(const char *text, int64_t *v)
{
    ccg_result result = CCG_FAILURE;
    char *end = NULL;
    long long x = 0;
    errno = 0;
    x = strtoll(text, &end, 10);
    CCG_ENSURE_MSG(*text != '\0' && end != NULL && *end == '\0' && errno == 0, CCG_R_STORE_CORRUPT,
                   "the audit database returned a malformed integer");
    *v = (int64_t)x;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The single integer of a one-row result. */
static ccg_result single_int(ccg_audit_store *s, PGresult *res, int64_t *v)
{
    ccg_result result = CCG_FAILURE;
    (void)s;
    CCG_ENSURE_MSG(PQntuples(res) == 1 && PQnfields(res) == 1 && !PQgetisnull(res, 0, 0), CCG_R_STORE_CORRUPT,
                   "the audit database returned no value");
    CCG_TRY(parse_int(PQgetvalue(res, 0, 0), v));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Outside a transaction, a connection found bad is reset (the server may be back); inside one, the
 * transaction is gone and the call fails. */
static ccg_result ensure_conn(ccg_audit_store *s)
{
    ccg_result result = CCG_FAILURE;
    if (PQstatus(s->conn) != CONNECTION_OK) {
        CCG_ENSURE_MSG(!s->in_tx, CCG_R_STORE_UNAVAILABLE, "the audit database connection was lost in a transaction");
        PQreset(s->conn);
        CCG_ENSURE_MSG(PQstatus(s->conn) == CONNECTION_OK, CCG_R_STORE_UNAVAILABLE,
                       "cannot reconnect to the audit database: %.*s", first_line(s->conn), PQerrorMessage(s->conn));
    }
    if (!s->in_tx && PQtransactionStatus(s->conn) != PQTRANS_IDLE) {
        PGresult *res = PQexec(s->conn, "ROLLBACK"); /* a transaction left open by a failure */
        PQclear(res);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void pg_close(ccg_audit_store *s)
{
    if (s != NULL) {
        PQfinish(s->conn);
        free(s);
    }
}

static void pg_rollback(ccg_audit_store *s);

static ccg_result begin(ccg_audit_store *s, const char *sql, const char *what)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ensure_conn(s));
    s->in_tx = 1;
    CCG_TRY(pg_exec(s, sql, PGRES_TUPLES_OK, what, NULL));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        pg_rollback(s); /* the caller rolls back only a transaction that began */
    }
    return result;
}

static ccg_result pg_begin_write(ccg_audit_store *s)
{
    char sql[320];
    /* The lock first, then the head: every appender reads the head its predecessor committed. */
    snprintf(sql, sizeof(sql),
             "BEGIN; SET LOCAL synchronous_commit TO on; SET LOCAL lock_timeout TO %d;"
             " SELECT pg_advisory_xact_lock(" AUDIT_LOCK_KEY1 ", " AUDIT_LOCK_APPEND ")",
             s->lock_timeout_ms);
    return begin(s, sql, "begin an audit append");
}

static ccg_result pg_begin_read(ccg_audit_store *s)
{
    return begin(s, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SELECT 1", "begin an audit read");
}

static ccg_result pg_commit(ccg_audit_store *s)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = NULL;
    CCG_TRY(pg_exec(s, "COMMIT", PGRES_COMMAND_OK, "commit the audit transaction", &res));
    /* A failed transaction "commits" as ROLLBACK: that is no commit. */
    CCG_ENSURE_MSG(strcmp(PQcmdStatus(res), "COMMIT") == 0, CCG_R_STORE_UNAVAILABLE,
                   "the audit transaction was rolled back at COMMIT");
    result = CCG_SUCCESS;
cleanup:
    s->in_tx = 0;
    PQclear(res);
    return result;
}

/* A PostgreSQL append commits with synchronous_commit on (pg_begin_write): already durable. */
static ccg_result pg_commit_ordered(ccg_audit_store *s, uint64_t *ticket)
{
    *ticket = 0;
    return pg_commit(s);
}

static ccg_result pg_durable(ccg_audit_store *s, uint64_t ticket)
{
    (void)s;
    (void)ticket;
    return CCG_SUCCESS;
}

static ccg_result pg_commit_unsynced(ccg_audit_store *s)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(pg_exec(s, "SET LOCAL synchronous_commit TO off", PGRES_COMMAND_OK, "relax the audit commit", NULL));
    CCG_TRY(pg_commit(s));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void pg_rollback(ccg_audit_store *s)
{
    if (s->conn != NULL && PQstatus(s->conn) == CONNECTION_OK) {
        PQclear(PQexec(s->conn, "ROLLBACK"));
    }
    s->in_tx = 0;
}

static ccg_result pg_head(ccg_audit_store *s, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = NULL;
    *seq = 0;
    CCG_TRY(ensure_conn(s));
    CCG_TRY(pg_exec(s, SQL_HEAD, PGRES_TUPLES_OK, "read the audit head", &res));
    if (PQntuples(res) == 1) {
        CCG_TRY(parse_int(PQgetvalue(res, 0, 0), seq));
        snprintf(hash, CCG_AUDIT_HASH_HEX, "%.64s", PQgetvalue(res, 0, 1));
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(res);
    return result;
}

static ccg_result pg_insert(ccg_audit_store *s, const ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    ccg_result result = CCG_FAILURE;
    char ints[CCG_AUDIT_NCOLS][24];
    const char *values[CCG_AUDIT_NCOLS];
    for (int i = 0; i < CCG_AUDIT_NCOLS; i++) {
        values[i] = NULL;
        if (cols[i].type == CCG_AUDIT_COL_INT) {
            snprintf(ints[i], sizeof(ints[i]), "%" PRId64, cols[i].i);
            values[i] = ints[i];
        } else if (cols[i].type == CCG_AUDIT_COL_TEXT) {
            values[i] = cols[i].text;
        }
    }
    CCG_TRY(pg_params(s, SQL_INSERT, CCG_AUDIT_NCOLS, values, PGRES_COMMAND_OK, "insert the audit record", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One result row as columns (text borrowed from res). */
static ccg_result row_cols(PGresult *res, int r, ccg_audit_col cols[CCG_AUDIT_NCOLS])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(PQnfields(res) == CCG_AUDIT_NCOLS, CCG_R_STORE_CORRUPT, "the audit table has the wrong columns");
    for (int i = 0; i < CCG_AUDIT_NCOLS; i++) {
        memset(&cols[i], 0, sizeof(cols[i]));
        if (PQgetisnull(res, r, i)) {
            continue;
        }
        if (int_column(i)) {
            cols[i].type = CCG_AUDIT_COL_INT;
            CCG_TRY(parse_int(PQgetvalue(res, r, i), &cols[i].i));
        } else {
            cols[i].type = CCG_AUDIT_COL_TEXT;
            cols[i].text = PQgetvalue(res, r, i);
            cols[i].len = (size_t)PQgetlength(res, r, i);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Reads in batches of SCAN_BATCH rows by seq (inside the caller's snapshot when it holds one). */
static ccg_result pg_scan(ccg_audit_store *s, const ccg_audit_scan *q, ccg_audit_row_fn fn, void *ctx)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = NULL;
    ccg_audit_col cols[CCG_AUDIT_NCOLS];
    char since[24], batch[24];
    const char *values[3];
    int64_t last = q->since;
    size_t done = 0;
    CCG_TRY(ensure_conn(s));
    for (;;) {
        size_t want = SCAN_BATCH;
        int rows = 0;
        if (q->limit != 0 && q->limit - done < want) {
            want = q->limit - done;
        }
        if (want == 0) {
            break;
        }
        snprintf(since, sizeof(since), "%" PRId64, last);
        snprintf(batch, sizeof(batch), "%zu", want);
        values[0] = since;
        values[1] = batch;
        values[2] = q->request_id;
        CCG_TRY(pg_params(s, q->request_id ? SQL_REQUEST : SQL_SINCE, q->request_id ? 3 : 2, values, PGRES_TUPLES_OK,
                          "read the audit log", &res));
        rows = PQntuples(res);
        for (int r = 0; r < rows; r++) {
            CCG_TRY(row_cols(res, r, cols));
            CCG_ENSURE_MSG(cols[0].type == CCG_AUDIT_COL_INT && cols[0].i > last, CCG_R_STORE_CORRUPT,
                           "the audit database returned records out of order");
            last = cols[0].i;
            CCG_TRY(fn(ctx, cols));
        }
        done += (size_t)rows;
        PQclear(res);
        res = NULL;
        if ((size_t)rows < want) {
            break;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(res);
    return result;
}

static ccg_result pg_checkpoint_before(ccg_audit_store *s, const char *when, int64_t *seq)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = NULL;
    const char *values[1] = {when};
    *seq = 0;
    CCG_TRY(ensure_conn(s));
    CCG_TRY(pg_params(s, SQL_CHECKPOINT_BEFORE, 1, values, PGRES_TUPLES_OK, "find a checkpoint", &res));
    if (PQntuples(res) == 1) {
        CCG_TRY(single_int(s, res, seq));
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(res);
    return result;
}

static ccg_result pg_count_before(ccg_audit_store *s, int64_t seq, int64_t *n)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = NULL;
    char text[24];
    const char *values[1] = {text};
    snprintf(text, sizeof(text), "%" PRId64, seq);
    CCG_TRY(pg_params(s, SQL_COUNT_BEFORE, 1, values, PGRES_TUPLES_OK, "count the records to prune", &res));
    CCG_TRY(single_int(s, res, n));
    result = CCG_SUCCESS;
cleanup:
    PQclear(res);
    return result;
}

static ccg_result pg_delete_before(ccg_audit_store *s, int64_t seq)
{
    ccg_result result = CCG_FAILURE;
    char text[24];
    const char *values[1] = {text};
    snprintf(text, sizeof(text), "%" PRId64, seq);
    /* The append-only trigger is lifted for this DELETE only, inside the transaction (DDL is
     * transactional: no other session ever sees it disabled). */
    CCG_TRY(pg_exec(s, "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_delete", PGRES_COMMAND_OK,
                    "lift the delete trigger", NULL));
    CCG_TRY(pg_params(s, SQL_DELETE_BEFORE, 1, values, PGRES_COMMAND_OK, "prune the audit log", NULL));
    CCG_TRY(pg_exec(s, "ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_delete", PGRES_COMMAND_OK,
                    "restore the delete trigger", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static const ccg_audit_ops PG_OPS = {
    .name = "postgresql",
    .close = pg_close,
    .begin_write = pg_begin_write,
    .begin_read = pg_begin_read,
    .commit = pg_commit,
    .commit_ordered = pg_commit_ordered,
    .durable = pg_durable,
    .commit_unsynced = pg_commit_unsynced,
    .rollback = pg_rollback,
    .head = pg_head,
    .insert = pg_insert,
    .scan = pg_scan,
    .checkpoint_before = pg_checkpoint_before,
    .count_before = pg_count_before,
    .delete_before = pg_delete_before,
};

/* Creates the tables when absent (under the schema lock: instances starting together do not race),
 * then requires schema 5. */
static ccg_result prepare_schema(ccg_audit_store *s, int create)
{
    ccg_result result = CCG_FAILURE;
    PGresult *res = NULL;
    int64_t tables = 0, version = 0;
    CCG_TRY(pg_exec(s, SQL_TABLES, PGRES_TUPLES_OK, "read the schema", &res));
    CCG_TRY(single_int(s, res, &tables));
    PQclear(res);
    res = NULL;
    if (tables != 1) {
        CCG_ENSURE_MSG(create, CCG_R_STORE_UNAVAILABLE, "the database holds no audit log");
        s->in_tx = 1;
        CCG_TRY(pg_exec(s, "BEGIN; SELECT pg_advisory_xact_lock(" AUDIT_LOCK_KEY1 ", " AUDIT_LOCK_SCHEMA ")",
                        PGRES_TUPLES_OK, "lock the audit schema", NULL));
        CCG_TRY(pg_exec(s, SQL_SCHEMA, PGRES_COMMAND_OK, "create the audit log", NULL));
        CCG_TRY(pg_commit(s));
    }
    CCG_TRY(pg_exec(s, SQL_VERSION, PGRES_TUPLES_OK, "read the audit schema version", &res));
    CCG_TRY(single_int(s, res, &version));
    CCG_ENSURE_MSG(version == CCG_AUDIT_SCHEMA_VERSION, CCG_R_STORE_CORRUPT,
                   "the audit log's schema version %lld is not %d (written by another ccgate?)", (long long)version,
                   CCG_AUDIT_SCHEMA_VERSION);
    result = CCG_SUCCESS;
cleanup:
    if (s->in_tx) {
        pg_rollback(s);
    }
    PQclear(res);
    return result;
}

ccg_result ccg_audit_pg_open(const char *url, const ccg_audit_options *opts, const ccg_audit_ops **ops,
                             ccg_audit_store **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_audit_store *s = NULL;
    *out = NULL;
    s = calloc(1, sizeof(*s));
    CCG_ENSURE_ALLOC(s);
    s->lock_timeout_ms = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 10000;
    s->conn = PQconnectdb(url);
    CCG_ENSURE_ALLOC(s->conn);
    CCG_ENSURE_MSG(PQstatus(s->conn) == CONNECTION_OK, CCG_R_STORE_UNAVAILABLE,
                   "cannot connect to the audit database: %.*s", first_line(s->conn), PQerrorMessage(s->conn));
    CCG_TRY(prepare_schema(s, opts->create));
    *ops = &PG_OPS;
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    pg_close(s);
    return result;
}
