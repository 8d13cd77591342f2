/* One PostgreSQL connection as ccgate uses it (libpq): connecting from a libpq URI, reconnecting by
 * itself after a lost connection, mapping server errors to reason codes, prepared statements (SQL is
 * always a static string; values are always parameters), transactions, and column readers that treat
 * the database as untrusted. Results are requested in binary format: integers are int8, text is its
 * bytes, bytea is its bytes (no escaping either way). */
#ifndef CCGATE_PG_DB_H
#define CCGATE_PG_DB_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "ccgate/result.h"
#include "ccgate/store.h"
#include "store_rules.h"

/* Parameters of one statement: text, int64 (sent as decimal text) or bytes (binary). */
#define CCG_PG_MAX_PARAMS 8
typedef struct {
    int n;
    const char *values[CCG_PG_MAX_PARAMS];
    int lengths[CCG_PG_MAX_PARAMS];
    int formats[CCG_PG_MAX_PARAMS];
    char ints[CCG_PG_MAX_PARAMS][24];
} ccg_pg_params;

typedef struct {
    const char *sql; /* the static SQL text, compared by address */
    char name[16];
} ccg_pg_prepared;

typedef struct {
    PGconn *conn;
    char *url;           /* the libpq URI (may hold a password: never printed) */
    int lock_timeout_ms; /* how long a writer waits for another's lock */
    int broken;          /* the connection failed: the next call reconnects */
    int in_tx;
    int sync_mode;       /* synchronous_commit of the session: 1 on, 0 off, -1 unknown */
    ccg_pg_prepared *prepared;
    size_t nprepared, cap;
} ccg_pg;

/* Connects to url (postgresql://... or postgres://...). store.unavailable when the server cannot be
 * reached or refuses the login. */
CCG_MUST_CHECK ccg_result ccg_pg_open(const char *url, int lock_timeout_ms, ccg_pg **out);
void ccg_pg_close(ccg_pg *h);
/* Makes the connection usable: reconnects when it was lost (or left inside a transaction by a failure),
 * which forgets its prepared statements and session settings. store.unavailable when it cannot. */
CCG_MUST_CHECK ccg_result ccg_pg_ready(ccg_pg *h);
/* synchronous_commit for the commits that follow on this connection: 1 on, 0 off; -1 leaves it. Sent
 * only when it changes (and again after a reconnect). */
CCG_MUST_CHECK ccg_result ccg_pg_set_full_sync(ccg_pg *h, int full);

void ccg_pg_params_init(ccg_pg_params *p);
void ccg_pg_text(ccg_pg_params *p, const char *s);
void ccg_pg_int(ccg_pg_params *p, int64_t v);
void ccg_pg_bytes(ccg_pg_params *p, const void *data, size_t len);

/* Runs a static statement with parameters (p may be NULL) and returns its result (*out, PQclear it);
 * out NULL discards it. Failures carry the mapped reason:
 *   class 23 (unique, check, foreign key, ccgate's triggers) -> store.conflict;
 *   XX001/XX002 (data or index corrupted), 42P01/42703 (a table or column of ccgate's schema missing)
 *     -> store.corrupt;
 *   a lost connection (no SQLSTATE, class 08, 57P0x admin or crash shutdown), 53 (out of resources),
 *     55P03 (lock timeout), 57014 (cancelled) and the rest -> store.unavailable.
 * Any failure of a connection-class marks the connection broken: the next call reconnects. */
CCG_MUST_CHECK ccg_result ccg_pg_exec(ccg_pg *h, const char *sql, const ccg_pg_params *p, const char *what,
                                      PGresult **out);
/* Runs a static script of statements without values (DDL), in text mode. */
CCG_MUST_CHECK ccg_result ccg_pg_script(ccg_pg *h, const char *script, const char *what);

/* BEGIN (after ccg_pg_ready), COMMIT, and ROLLBACK for cleanup paths: a ROLLBACK that fails drops the
 * connection (it is reset on the next call), so nothing is ever answered from a half-done transaction. */
CCG_MUST_CHECK ccg_result ccg_pg_begin(ccg_pg *h);
CCG_MUST_CHECK ccg_result ccg_pg_commit(ccg_pg *h);
void ccg_pg_rollback(ccg_pg *h);
/* Serialises transactions on one object of one class (pg_advisory_xact_lock(class, hashtext(name))),
 * held to the end of the current transaction. */
CCG_MUST_CHECK ccg_result ccg_pg_lock(ccg_pg *h, const char *lock_sql, const char *name);

/* Column readers (binary results): a NULL, a wrong type or an over-long value is store.corrupt. */
CCG_MUST_CHECK ccg_result ccg_pg_col_text(const PGresult *r, int row, int col, char *out, size_t out_size);
CCG_MUST_CHECK ccg_result ccg_pg_col_int(const PGresult *r, int row, int col, int64_t *out);
/* A malloc'd copy (NUL-terminated past *len) of a text or bytea column; a NULL gives *out NULL only
 * when allow_null. */
CCG_MUST_CHECK ccg_result ccg_pg_col_bytes(const PGresult *r, int row, int col, size_t max, int allow_null,
                                           uint8_t **out, size_t *len);
/* 1 when the column is NULL. */
int ccg_pg_col_null(const PGresult *r, int row, int col);
/* Row `row` of r for the shared row decoders (store_rules.h). */
ccg_store_row ccg_pg_row(const PGresult *r, int row);

#endif
