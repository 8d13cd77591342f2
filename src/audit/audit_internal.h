/* The audit log's internals: the handle, the record codec (audit_record.c), and the storage behind a
 * small table of operations: SQLite (audit_sqlite.c) and PostgreSQL (audit_pg.c). Building, hashing,
 * checking and chaining records is one code path (audit_log.c, audit_verify.c, audit_prune.c); a
 * backend only moves rows of CCG_AUDIT_COLUMNS in and out inside the transactions it is asked for. */
#ifndef CCGATE_AUDIT_INTERNAL_H
#define CCGATE_AUDIT_INTERNAL_H

#include <pthread.h>

#include "ccgate/audit.h"

/* The genesis record's prev_hash: 32 zero bytes. */
#define CCG_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Every column of audit_log, in the order the SELECTs return them and ccg_audit_col arrays hold them. */
#define CCG_AUDIT_COLUMNS                                                                              \
    "seq, v, time, request_id, persona, action, key_id, key_version, policy_id, policy_version,"    \
    " evidence_digest, decision, reasons, prev_hash, hash, count, tcb, gpus, claims"
#define CCG_AUDIT_NCOLS 19
/* The audit table's schema version (SQLite: 5 adds the claims column; PostgreSQL starts at 5). */
#define CCG_AUDIT_SCHEMA_VERSION 5

/* One column value as stored: SQL NULL, an integer, or text (len bytes, NUL-terminated; a text whose
 * len differs from strlen holds a NUL byte). */
typedef enum { CCG_AUDIT_COL_NULL = 0, CCG_AUDIT_COL_INT = 1, CCG_AUDIT_COL_TEXT = 2 } ccg_audit_col_type;
typedef struct {
    ccg_audit_col_type type;
    int64_t i;
    const char *text;
    size_t len;
} ccg_audit_col;

/* What to read: records with seq > since, oldest first, at most limit (0: all), only those of request_id
 * when it is not NULL. */
typedef struct {
    int64_t since;
    size_t limit;
    const char *request_id;
} ccg_audit_scan;
/* Called once per row; a failure stops the scan and is returned. */
typedef ccg_result (*ccg_audit_row_fn)(void *ctx, const ccg_audit_col cols[CCG_AUDIT_NCOLS]);

typedef struct ccg_audit_store ccg_audit_store; /* a backend's connection */

/* A backend. Errors: store.unavailable (the database cannot be reached), store.corrupt, and the codes
 * of the record checks; the callers turn an append's failures into audit.write_failed. */
typedef struct {
    const char *name;
    void (*close)(ccg_audit_store *s);
    /* A write transaction that serialises every appender of the log, in any thread, process or host,
     * until commit or rollback. */
    CCG_MUST_CHECK ccg_result (*begin_write)(ccg_audit_store *s);
    /* A read transaction seeing one consistent snapshot. */
    CCG_MUST_CHECK ccg_result (*begin_read)(ccg_audit_store *s);
    /* Commits durably: returns only after the transaction is on stable storage. */
    CCG_MUST_CHECK ccg_result (*commit)(ccg_audit_store *s);
    /* Commits, ordered before every later commit to the same database, and gives a ticket that durable
     * waits on; the appender's lock can be released in between, so appends queue on the disk together
     * rather than one fsync after another. A backend whose commit is durable gives ticket 0. */
    CCG_MUST_CHECK ccg_result (*commit_ordered)(ccg_audit_store *s, uint64_t *ticket);
    CCG_MUST_CHECK ccg_result (*durable)(ccg_audit_store *s, uint64_t ticket);
    /* Commits without waiting for stable storage at all: a later durable commit to the same database
     * makes it durable too (SQLite: one WAL; PostgreSQL: synchronous_commit off, and a synchronous
     * commit flushes the server's WAL up to itself, earlier asynchronous commits included). */
    CCG_MUST_CHECK ccg_result (*commit_unsynced)(ccg_audit_store *s);
    void (*rollback)(ccg_audit_store *s);
    /* The newest record's seq and hash (0 and nothing when the log is empty). */
    CCG_MUST_CHECK ccg_result (*head)(ccg_audit_store *s, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX]);
    CCG_MUST_CHECK ccg_result (*insert)(ccg_audit_store *s, const ccg_audit_col cols[CCG_AUDIT_NCOLS]);
    CCG_MUST_CHECK ccg_result (*scan)(ccg_audit_store *s, const ccg_audit_scan *q, ccg_audit_row_fn fn, void *ctx);
    /* The newest allowed operator checkpoint with time <= when (RFC 3339 text); *seq 0 when none. */
    CCG_MUST_CHECK ccg_result (*checkpoint_before)(ccg_audit_store *s, const char *when, int64_t *seq);
    CCG_MUST_CHECK ccg_result (*count_before)(ccg_audit_store *s, int64_t seq, int64_t *n);
    /* Deletes the records before seq, lifting the append-only trigger for this statement only (inside
     * the caller's write transaction). */
    CCG_MUST_CHECK ccg_result (*delete_before)(ccg_audit_store *s, int64_t seq);
} ccg_audit_ops;

/* Opening each backend (options already defaulted). */
CCG_MUST_CHECK ccg_result ccg_audit_sqlite_open(const char *path, const ccg_audit_options *opts,
                                                const ccg_audit_ops **ops, ccg_audit_store **out);
CCG_MUST_CHECK ccg_result ccg_audit_pg_open(const char *url, const ccg_audit_options *opts, const ccg_audit_ops **ops,
                                            ccg_audit_store **out);

struct ccg_audit {
    const ccg_audit_ops *ops;
    ccg_audit_store *s;
    pthread_mutex_t lock;
};

/* Checks an event (input.malformed / input.too_large naming the field). */
CCG_MUST_CHECK ccg_result ccg_audit_event_check(const ccg_audit_event *ev);
/* The record (without "hash") that an event becomes at seq after prev_hash. *reasons_text receives
 * the compact JSON array of codes as stored in the reasons column (malloc'd). A counted record has
 * format 2 and "count" (the count column); a record with a TCB status has format 3 and a "tcb" member
 * {"status", "advisories"} (the tcb column); a record with GPUs has format 4, "gpus" (the gpus column)
 * and "tcb" (an object, or null when there is no TCB status: the tcb column NULL); a record with claims
 * has format 6 and "claims" (the claims column), "tcb" and "gpus" (objects/arrays or null). */
CCG_MUST_CHECK ccg_result ccg_audit_record_from_event(const ccg_audit_event *ev, int64_t seq, const char *prev_hash,
                                                      json_t **record, char **reasons_text);
/* The columns of a record (with its hash): cols borrow from rec, and *texts receives the serialised
 * JSON columns (tcb, gpus, claims), to free with ccg_audit_cols_free. */
CCG_MUST_CHECK ccg_result ccg_audit_cols_from_record(const json_t *rec, const char *reasons_text, const char *hash,
                                                     ccg_audit_col cols[CCG_AUDIT_NCOLS], char *texts[3]);
void ccg_audit_cols_free(char *texts[3]);
/* The record of a row of CCG_AUDIT_COLUMNS, with "hash", and each format's members exactly (docs/audit.md).
 * A column of the wrong type, a reasons column that is not a JSON array of strings, a JSON column of the
 * wrong shape, a member set on a record of another format or missing from its own, or a hash that is not
 * 64 lowercase hex digits fails with audit.chain_broken and a message naming the column. */
CCG_MUST_CHECK ccg_result ccg_audit_record_from_row(const ccg_audit_col cols[CCG_AUDIT_NCOLS], json_t **record);
/* Appends inside the caller's write transaction (begin_write held, a->lock held). */
CCG_MUST_CHECK ccg_result ccg_audit_append_in_tx(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq,
                                                 char hash[CCG_AUDIT_HASH_HEX]);
/* 1 when s is 64 lowercase hex digits. */
int ccg_audit_hash_text_ok(const char *s);

#endif
