/* One SQLite connection as ccgate uses it, shared by the store's SQLite backend and the audit log:
 * opening with the hardening pragmas, mapping SQLite errors to reason codes, a cache of prepared
 * statements (SQL is always a static string; values are always bound), and transactions. */
#ifndef CCGATE_SQLITE_DB_H
#define CCGATE_SQLITE_DB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ccgate/result.h"
#include "ccgate/store.h"
#include "store_rules.h"

typedef struct {
    const char *sql; /* the static SQL text, compared by address */
    sqlite3_stmt *st;
} ccg_sqlite_cached;

/* The in-process writer gate of one database file (see ccg_sqlite_gate_enter). */
typedef struct ccg_sqlite_gate ccg_sqlite_gate;

typedef struct {
    sqlite3 *db;
    ccg_sqlite_cached *cache;
    size_t ncache;
    size_t cap;
    int sync_normal; /* 1 after ccg_sqlite_set_full_sync(h, 0) */
    int busy_timeout_ms;
    int64_t busy_start_ns; /* when the current wait for a lock began */
    ccg_sqlite_gate *gate; /* shared by every connection of this process to the same file */
    int gate_held;
    int group_commit; /* this transaction commits with NORMAL and a shared WAL sync */
    int sync_restore; /* switching back to the wanted mode failed: done again before the next write */
    int full_pending; /* left in NORMAL after a group commit: FULL is set again before any other statement */
} ccg_sqlite;

/* Opens path. create: make the file (mode 0600) when absent; otherwise a missing file is
 * store.unavailable. Sets the busy timeout, WAL, synchronous=FULL, foreign keys, defensive mode,
 * and refuses another application's database (application_id) with store.corrupt. */
CCG_MUST_CHECK ccg_result ccg_sqlite_open(const char *path, int busy_timeout_ms, int create, ccg_sqlite **out);
void ccg_sqlite_close(ccg_sqlite *h);
/* synchronous=FULL (full 1: every commit fsyncs the WAL) or NORMAL (0: commits are ordered in the WAL
 * and made durable by the next synced commit or checkpoint); only issued when it changes. full < 0
 * (a read) changes nothing. */
CCG_MUST_CHECK ccg_result ccg_sqlite_set_full_sync(ccg_sqlite *h, int full);
/* Readiness (docs/store.md, "Outages of the SQLite store"): store.unavailable, saying why, when the
 * database, its WAL or its -shm file is no longer at its path (removed, renamed or replaced while open),
 * when the write lock cannot be had within the busy timeout, or when a write failed since the last durable
 * commit on the file (an I/O error, a full disk) and write_probe (static statements that write pages
 * without changing anything; NULL: none) cannot be committed durably now. */
CCG_MUST_CHECK ccg_result ccg_sqlite_ready(ccg_sqlite *h, const char *write_probe);
/* PRAGMA quick_check (full = 0) or integrity_check (full = 1); store.corrupt with the first problem. */
CCG_MUST_CHECK ccg_result ccg_sqlite_check(ccg_sqlite *h, int full);

/* Always fails, recording the reason for an SQLite result code:
 *   SQLITE_CONSTRAINT -> store.conflict, SQLITE_CORRUPT/NOTADB -> store.corrupt,
 *   anything else (BUSY, LOCKED, IOERR, FULL, CANTOPEN, PERM, READONLY, NOMEM...) -> store.unavailable. */
CCG_MUST_CHECK ccg_result ccg_sqlite_fail(ccg_sqlite *h, int rc, const char *what);
/* As ccg_sqlite_fail with a fixed reason. */
CCG_MUST_CHECK ccg_result ccg_sqlite_fail_as(ccg_sqlite *h, ccg_reason reason, int rc, const char *what);

/* The cached statement for a static SQL string, reset and with its bindings cleared. */
CCG_MUST_CHECK ccg_result ccg_sqlite_stmt(ccg_sqlite *h, const char *sql, sqlite3_stmt **st);
/* Resets a statement after use (NULL is ignored); call it in cleanup. */
void ccg_sqlite_done(sqlite3_stmt *st);
/* Steps a statement that returns no row (SQLITE_DONE), then resets it. */
CCG_MUST_CHECK ccg_result ccg_sqlite_step_done(ccg_sqlite *h, sqlite3_stmt *st, const char *what);
/* Steps once: *row is 1 for SQLITE_ROW, 0 for SQLITE_DONE; anything else fails. */
CCG_MUST_CHECK ccg_result ccg_sqlite_step_row(ccg_sqlite *h, sqlite3_stmt *st, int *row, const char *what);
/* Runs a static script of statements without values (DDL). */
CCG_MUST_CHECK ccg_result ccg_sqlite_exec_script(ccg_sqlite *h, const char *script, const char *what);

/* Binding helpers: fail with store.unavailable when SQLite refuses the binding. Text and blobs are
 * bound SQLITE_STATIC: they must stay valid until the statement is reset. NULL text binds NULL. */
CCG_MUST_CHECK ccg_result ccg_sqlite_bind_text(ccg_sqlite *h, sqlite3_stmt *st, int i, const char *s);
CCG_MUST_CHECK ccg_result ccg_sqlite_bind_blob(ccg_sqlite *h, sqlite3_stmt *st, int i, const void *p, size_t n);
CCG_MUST_CHECK ccg_result ccg_sqlite_bind_int(ccg_sqlite *h, sqlite3_stmt *st, int i, int64_t v);
CCG_MUST_CHECK ccg_result ccg_sqlite_bind_null(ccg_sqlite *h, sqlite3_stmt *st, int i);

/* Column readers that treat the database as untrusted: a wrong type or an over-long value is
 * store.corrupt. */
CCG_MUST_CHECK ccg_result ccg_sqlite_col_text(sqlite3_stmt *st, int i, char *out, size_t out_size);
CCG_MUST_CHECK ccg_result ccg_sqlite_col_int(sqlite3_stmt *st, int i, int64_t *out);
/* A malloc'd copy of a blob or text column (NUL-terminated past *len); NULL columns give *out NULL
 * only when allow_null, else store.corrupt. */
CCG_MUST_CHECK ccg_result ccg_sqlite_col_bytes(sqlite3_stmt *st, int i, size_t max, int allow_null, uint8_t **out,
                                               size_t *len);
/* The current row of st for the shared row decoders (store_rules.h). */
ccg_store_row ccg_sqlite_row(sqlite3_stmt *st);

/* The writer gate: SQLite lets one writer at a time into a database and makes the others poll (the
 * busy handler). Connections of one process to the same file (the store's pool, the audit log) also
 * queue on a mutex per file, so a write waiting for another thread's commit (and its fsync) is handed
 * the lock when it is released instead of sleeping and retrying. Other processes still meet SQLite's
 * own locks. A write transaction holds the gate from ccg_sqlite_begin to its COMMIT or ROLLBACK; a
 * single autocommit write takes it with enter/leave. Waiting is bounded by the busy timeout, after
 * which the write goes on without the gate (SQLite's lock still decides). Never nested. */
void ccg_sqlite_gate_enter(ccg_sqlite *h);
void ccg_sqlite_gate_leave(ccg_sqlite *h);

/* Background WAL checkpoints, one thread per database file and process (sqlite_checkpoint.c): every
 * connection's WAL hook hands the checkpoint over, so no COMMIT waits for it. gate: the file's writer
 * gate, held while a checkpoint that should start the WAL over finishes. */
typedef struct ccg_sqlite_checkpointer ccg_sqlite_checkpointer;
ccg_sqlite_checkpointer *ccg_sqlite_checkpointer_new(const char *db_path, int busy_timeout_ms, pthread_mutex_t *gate);
void ccg_sqlite_checkpointer_free(ccg_sqlite_checkpointer *c);
int ccg_sqlite_checkpointer_hook(void *c, sqlite3 *db, const char *name, int pages);

/* BEGIN IMMEDIATE (waits up to the busy timeout for other writers), COMMIT, and a best-effort
 * ROLLBACK for cleanup paths. */
CCG_MUST_CHECK ccg_result ccg_sqlite_begin(ccg_sqlite *h);
CCG_MUST_CHECK ccg_result ccg_sqlite_begin_read(ccg_sqlite *h);
CCG_MUST_CHECK ccg_result ccg_sqlite_commit(ccg_sqlite *h);
/* COMMIT in two halves, so a caller can release its own locks before waiting for the disk:
 * ccg_sqlite_commit_ordered commits (ordered in the WAL: visible to every later reader, and made
 * durable by any later sync) and gives a ticket; ccg_sqlite_durable(h, ticket) returns once that
 * commit is on stable storage, sharing one WAL fdatasync with every commit counted before the sync
 * began (ticket 0: nothing to wait for). ccg_sqlite_commit is both. */
#define CCG_SQLITE_SYNC_ALWAYS UINT64_MAX
CCG_MUST_CHECK ccg_result ccg_sqlite_commit_ordered(ccg_sqlite *h, uint64_t *ticket);
CCG_MUST_CHECK ccg_result ccg_sqlite_durable(ccg_sqlite *h, uint64_t ticket);
void ccg_sqlite_rollback(ccg_sqlite *h);

#endif
