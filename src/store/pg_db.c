/* One PostgreSQL connection as ccgate uses it (pg_db.h). */
#include "pg_db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ccgate/error.h"
#include "ccgate/util.h"

/* The type OIDs of the columns ccgate reads (fixed by PostgreSQL's catalog, pg_type.dat). */
enum { PG_BYTEA = 17, PG_INT8 = 20, PG_TEXT = 25 };

/* How long a connection attempt may take unless the URL says otherwise (connect_timeout). */
static const char CONNECT_TIMEOUT_S[] = "5";

static const char SQL_SETUP[] = "SELECT set_config('lock_timeout', $1, false), set_config('client_min_messages', 'warning', false)";
static const char SQL_SYNC_ON[] = "SET synchronous_commit TO on";
static const char SQL_SYNC_OFF[] = "SET synchronous_commit TO off";

static void quiet_notices(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* The first line of libpq's message, without its "ERROR:  " prefix, for ccgate's error text. */
static void first_line(const char *msg, char *out, size_t cap)
{
    size_t n = 0;
    if (msg == NULL) {
        msg = "";
    }
    if (strncmp(msg, "ERROR:  ", 8) == 0) {
        msg += 8;
    } else if (strncmp(msg, "FATAL:  ", 8) == 0) {
        msg += 8;
    }
    while (msg[n] != '\0' && msg[n] != '\n' && n + 1 < cap) {
        out[n] = msg[n];
        n++;
    }
    out[n] = '\0';
}

static void forget_prepared(ccg_pg *h)
{
    free(h->prepared);
    h->prepared = NULL;
    h->nprepared = 0;
    h->cap = 0;
}

/* The session settings every connection starts with (again after a reconnect). */
static ccg_result setup_session(ccg_pg *h)
{
    ccg_result result = CCG_FAILURE;
    char ms[24];
    const char *values[1] = {ms};
    PGresult *r = NULL;
    char msg[256];
    snprintf(ms, sizeof(ms), "%d", h->lock_timeout_ms);
    r = PQexecParams(h->conn, SQL_SETUP, 1, NULL, values, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        first_line(r ? PQresultErrorMessage(r) : PQerrorMessage(h->conn), msg, sizeof(msg));
        h->broken = 1;
        CCG_BAIL(CCG_R_STORE_UNAVAILABLE, "PostgreSQL: cannot set up the session: %s", msg);
    }
    h->sync_mode = -1;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_open(const char *url, int lock_timeout_ms, ccg_pg **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg *h = NULL;
    char msg[256];
    /* Placed before dbname so that the URL may override them (later keywords win). Over TCP a server
     * that vanished without closing the connection (a partition, a dead host) is noticed within about
     * 15 s (keepalives, tcp_user_timeout) rather than never, so the call fails closed; Unix sockets
     * ignore these. */
    const char *const keys[] = {"connect_timeout", "application_name", "keepalives_idle", "keepalives_interval",
                                "keepalives_count", "tcp_user_timeout", "dbname", NULL};
    const char *values[] = {CONNECT_TIMEOUT_S, "ccgate", "10", "2", "3", "15000", url, NULL};

    *out = NULL;
    h = calloc(1, sizeof(*h));
    CCG_ENSURE_ALLOC(h);
    h->url = strdup(url);
    CCG_ENSURE_ALLOC(h->url);
    h->lock_timeout_ms = lock_timeout_ms > 0 ? lock_timeout_ms : 5000;
    h->sync_mode = -1;
    values[6] = h->url;
    h->conn = PQconnectdbParams(keys, values, 1);
    CCG_ENSURE_ALLOC(h->conn);
    if (PQstatus(h->conn) != CONNECTION_OK) {
        first_line(PQerrorMessage(h->conn), msg, sizeof(msg));
        CCG_BAIL(CCG_R_STORE_UNAVAILABLE, "cannot connect to PostgreSQL: %s", msg);
    }
    PQsetNoticeProcessor(h->conn, quiet_notices, NULL);
    CCG_TRY(setup_session(h));
    *out = h;
    h = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_pg_close(h);
    return result;
}

void ccg_pg_close(ccg_pg *h)
{
    if (h == NULL) {
        return;
    }
    if (h->conn != NULL) {
        PQfinish(h->conn);
    }
    if (h->url != NULL) {
        OPENSSL_cleanse(h->url, strlen(h->url));
        free(h->url);
    }
    forget_prepared(h);
    free(h);
}

ccg_result ccg_pg_ready(ccg_pg *h)
{
    ccg_result result = CCG_FAILURE;
    char msg[256];
    if (!h->broken && PQstatus(h->conn) == CONNECTION_OK && PQtransactionStatus(h->conn) == PQTRANS_IDLE) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    /* Lost, or left inside a transaction: a new session (the server aborts whatever the old one held). */
    h->in_tx = 0;
    forget_prepared(h);
    h->sync_mode = -1;
    PQreset(h->conn);
    if (PQstatus(h->conn) != CONNECTION_OK) {
        h->broken = 1;
        first_line(PQerrorMessage(h->conn), msg, sizeof(msg));
        CCG_BAIL(CCG_R_STORE_UNAVAILABLE, "PostgreSQL is unreachable (the next call reconnects): %s", msg);
    }
    h->broken = 0;
    CCG_TRY(setup_session(h));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_set_full_sync(ccg_pg *h, int full)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_pg_ready(h));
    if (full >= 0 && h->sync_mode != (full != 0)) {
        CCG_TRY(ccg_pg_script(h, full ? SQL_SYNC_ON : SQL_SYNC_OFF, "set synchronous_commit"));
        h->sync_mode = full != 0;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_pg_params_init(ccg_pg_params *p) { memset(p, 0, sizeof(*p)); }

void ccg_pg_text(ccg_pg_params *p, const char *s)
{
    if (p->n >= CCG_PG_MAX_PARAMS) {
        abort(); /* a programming error: the statements are static */
    }
    p->values[p->n] = s;
    p->lengths[p->n] = 0;
    p->formats[p->n] = 0;
    p->n++;
}

void ccg_pg_int(ccg_pg_params *p, int64_t v)
{
    if (p->n >= CCG_PG_MAX_PARAMS) {
        abort();
    }
    snprintf(p->ints[p->n], sizeof(p->ints[p->n]), "%lld", (long long)v);
    p->values[p->n] = p->ints[p->n];
    p->lengths[p->n] = 0;
    p->formats[p->n] = 0;
    p->n++;
}

void ccg_pg_bytes(ccg_pg_params *p, const void *data, size_t len)
{
    static const char empty = 0;
    if (p->n >= CCG_PG_MAX_PARAMS || len > (size_t)INT32_MAX) {
        abort(); /* the store bounds every value far below this */
    }
    p->values[p->n] = data != NULL ? (const char *)data : &empty;
    p->lengths[p->n] = (int)len;
    p->formats[p->n] = 1;
    p->n++;
}

/* Whether a failure means the connection (or the server) is gone. */
static int lost_connection(ccg_pg *h, const char *sqlstate)
{
    if (PQstatus(h->conn) != CONNECTION_OK || sqlstate == NULL) {
        return 1;
    }
    return strncmp(sqlstate, "08", 2) == 0 || strncmp(sqlstate, "57P", 3) == 0;
}

static ccg_reason reason_for(const char *sqlstate)
{
    if (sqlstate == NULL) {
        return CCG_R_STORE_UNAVAILABLE;
    }
    if (strncmp(sqlstate, "23", 2) == 0) {
        return CCG_R_STORE_CONFLICT;
    }
    if (strcmp(sqlstate, "XX001") == 0 || strcmp(sqlstate, "XX002") == 0 || strcmp(sqlstate, "42P01") == 0 ||
        strcmp(sqlstate, "42703") == 0) {
        return CCG_R_STORE_CORRUPT;
    }
    return CCG_R_STORE_UNAVAILABLE;
}

/* Always fails, recording the reason for a failed result (r may be NULL). */
static ccg_result pg_fail(ccg_pg *h, const PGresult *r, const char *what)
{
    ccg_result result = CCG_FAILURE;
    const char *sqlstate = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    char msg[256];
    first_line(r && PQresultErrorMessage(r)[0] ? PQresultErrorMessage(r) : PQerrorMessage(h->conn), msg, sizeof(msg));
    if (lost_connection(h, sqlstate)) {
        h->broken = 1;
        CCG_BAIL(CCG_R_STORE_UNAVAILABLE, "PostgreSQL: %s: the connection was lost (the next call reconnects): %s",
                 what, msg);
    }
    CCG_BAIL(reason_for(sqlstate), "PostgreSQL: %s: %s (SQLSTATE %s)", what, msg, sqlstate);
cleanup:
    return result;
}

/* The name of the prepared statement for sql, preparing it on first use. */
static ccg_result prepared_name(ccg_pg *h, const char *sql, int nparams, const char *what, const char **name)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    for (size_t i = 0; i < h->nprepared; i++) {
        if (h->prepared[i].sql == sql) {
            *name = h->prepared[i].name;
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    ccg_pg_prepared *grown = ccg_array_grow(h->prepared, &h->cap, h->nprepared, sizeof(*h->prepared));
    CCG_ENSURE_ALLOC(grown);
    h->prepared = grown;
    ccg_pg_prepared *p = &h->prepared[h->nprepared];
    p->sql = sql;
    snprintf(p->name, sizeof(p->name), "ccg%zu", h->nprepared);
    r = PQprepare(h->conn, p->name, sql, nparams, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        CCG_TRY(pg_fail(h, r, what));
    }
    h->nprepared++;
    *name = p->name;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

/* One attempt: prepare when needed, execute. */
static ccg_result exec_once(ccg_pg *h, const char *sql, const ccg_pg_params *p, const char *what, PGresult **out)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = NULL;
    const char *name = NULL;
    ExecStatusType st;
    int n = p ? p->n : 0;
    CCG_TRY(prepared_name(h, sql, n, what, &name));
    r = PQexecPrepared(h->conn, name, n, p ? p->values : NULL, p ? p->lengths : NULL, p ? p->formats : NULL, 1);
    st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        CCG_TRY(pg_fail(h, r, what));
    }
    if (out != NULL) {
        *out = r;
        r = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_exec(ccg_pg *h, const char *sql, const ccg_pg_params *p, const char *what, PGresult **out)
{
    ccg_result result = CCG_FAILURE;
    int in_tx = h->in_tx;
    if (out != NULL) {
        *out = NULL;
    }
    if (!in_tx) {
        CCG_TRY(ccg_pg_ready(h));
    }
    result = exec_once(h, sql, p, what, out);
    /* A connection found dead by a read outside a transaction (the server restarted while it was idle)
     * is replaced and the read done once more: nothing was written, so nothing can be doubled. Writes
     * are never retried here (a lost reply leaves their outcome to the server): they fail, and the next
     * call starts on a new connection. */
    if (ccg_failed(result) && !in_tx && h->broken && strncmp(sql, "SELECT ", 7) == 0) {
        ccg_error_clear();
        CCG_TRY(ccg_pg_ready(h));
        result = exec_once(h, sql, p, what, out);
    }
    CCG_TRY(result);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_script(ccg_pg *h, const char *script, const char *what)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = PQexec(h->conn, script);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        CCG_TRY(pg_fail(h, r, what));
    }
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    return result;
}

ccg_result ccg_pg_begin(ccg_pg *h)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_pg_ready(h));
    if (ccg_failed(ccg_pg_script(h, "BEGIN", "begin a transaction"))) {
        /* found dead before anything was sent in the transaction: once more on a new connection */
        if (!h->broken) {
            goto cleanup; /* a refusal, not a lost connection: keep its error */
        }
        ccg_error_clear();
        CCG_TRY(ccg_pg_ready(h));
        CCG_TRY(ccg_pg_script(h, "BEGIN", "begin a transaction"));
    }
    h->in_tx = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_commit(ccg_pg *h)
{
    ccg_result result = CCG_FAILURE;
    PGresult *r = PQexec(h->conn, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        CCG_TRY(pg_fail(h, r, "commit"));
    }
    /* A transaction the server had aborted answers COMMIT with ROLLBACK. */
    CCG_ENSURE_MSG(strcmp(PQcmdStatus(r), "COMMIT") == 0, CCG_R_STORE_UNAVAILABLE,
                   "PostgreSQL: the transaction was rolled back (%s)", PQcmdStatus(r));
    h->in_tx = 0;
    result = CCG_SUCCESS;
cleanup:
    PQclear(r);
    if (ccg_failed(result)) {
        /* The outcome is the server's; this connection starts afresh either way. */
        ccg_pg_rollback(h);
    }
    return result;
}

void ccg_pg_rollback(ccg_pg *h)
{
    if (h == NULL || h->conn == NULL) {
        return;
    }
    if (PQstatus(h->conn) == CONNECTION_OK && PQtransactionStatus(h->conn) != PQTRANS_IDLE) {
        PGresult *r = PQexec(h->conn, "ROLLBACK");
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            h->broken = 1;
        }
        PQclear(r);
    }
    if (PQstatus(h->conn) != CONNECTION_OK || PQtransactionStatus(h->conn) != PQTRANS_IDLE) {
        h->broken = 1;
    }
    h->in_tx = 0;
}

ccg_result ccg_pg_lock(ccg_pg *h, const char *lock_sql, const char *name)
{
    ccg_result result = CCG_FAILURE;
    ccg_pg_params p;
    ccg_pg_params_init(&p);
    ccg_pg_text(&p, name);
    CCG_TRY(ccg_pg_exec(h, lock_sql, &p, "take the object's lock", NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---- column readers ---- */

static ccg_result col_check(const PGresult *r, int row, int col, Oid type1, Oid type2)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(row >= 0 && row < PQntuples(r) && col >= 0 && col < PQnfields(r), CCG_R_STORE_CORRUPT,
                   "PostgreSQL: a result has no row %d column %d", row, col);
    CCG_ENSURE_MSG(PQfformat(r, col) == 1 && (PQftype(r, col) == type1 || PQftype(r, col) == type2),
                   CCG_R_STORE_CORRUPT, "PostgreSQL: column %d has type %u", col, (unsigned)PQftype(r, col));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_pg_col_null(const PGresult *r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

ccg_result ccg_pg_col_text(const PGresult *r, int row, int col, char *out, size_t out_size)
{
    ccg_result result = CCG_FAILURE;
    int len;
    const char *v;
    CCG_TRY(col_check(r, row, col, PG_TEXT, PG_TEXT));
    CCG_ENSURE_MSG(!PQgetisnull(r, row, col), CCG_R_STORE_CORRUPT, "PostgreSQL: column %d is NULL", col);
    len = PQgetlength(r, row, col);
    v = PQgetvalue(r, row, col);
    CCG_ENSURE_MSG(len >= 0 && (size_t)len < out_size && memchr(v, 0, (size_t)len) == NULL, CCG_R_STORE_CORRUPT,
                   "PostgreSQL: column %d holds %d bytes, at most %zu", col, len, out_size - 1);
    memcpy(out, v, (size_t)len);
    out[len] = '\0';
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_col_int(const PGresult *r, int row, int col, int64_t *out)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *v;
    uint64_t x = 0;
    CCG_TRY(col_check(r, row, col, PG_INT8, PG_INT8));
    CCG_ENSURE_MSG(!PQgetisnull(r, row, col) && PQgetlength(r, row, col) == 8, CCG_R_STORE_CORRUPT,
                   "PostgreSQL: column %d is not an int8", col);
    v = (const uint8_t *)PQgetvalue(r, row, col);
    for (int i = 0; i < 8; i++) {
        x = (x << 8) | v[i];
    }
    *out = (int64_t)x;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_pg_col_bytes(const PGresult *r, int row, int col, size_t max, int allow_null, uint8_t **out,
                            size_t *len)
{
    ccg_result result = CCG_FAILURE;
    int n;
    *out = NULL;
    *len = 0;
    CCG_TRY(col_check(r, row, col, PG_BYTEA, PG_TEXT));
    if (PQgetisnull(r, row, col)) {
        CCG_ENSURE_MSG(allow_null, CCG_R_STORE_CORRUPT, "PostgreSQL: column %d is NULL", col);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    n = PQgetlength(r, row, col);
    CCG_ENSURE_MSG(n >= 0 && (size_t)n <= max, CCG_R_STORE_CORRUPT, "PostgreSQL: column %d holds %d bytes, at most %zu",
                   col, n, max);
    *out = malloc((size_t)n + 1);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, PQgetvalue(r, row, col), (size_t)n);
    (*out)[n] = 0;
    *len = (size_t)n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The column readers behind ccg_store_row. */
static ccg_result row_text(const void *src, int row, int col, char *out, size_t out_size)
{
    return ccg_pg_col_text(src, row, col, out, out_size);
}

static ccg_result row_int(const void *src, int row, int col, int64_t *out) { return ccg_pg_col_int(src, row, col, out); }

static ccg_result row_bytes(const void *src, int row, int col, size_t max, int allow_null, uint8_t **out,
                            size_t *len)
{
    return ccg_pg_col_bytes(src, row, col, max, allow_null, out, len);
}

static const ccg_store_col_ops PG_COLS = {row_text, row_int, row_bytes};

ccg_store_row ccg_pg_row(const PGresult *r, int row)
{
    ccg_store_row out = {&PG_COLS, r, row};
    return out;
}
