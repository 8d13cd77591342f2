/* The audit log's internals: the handle, the record codec (audit_record.c), and the table. */
#ifndef CCGATE_AUDIT_INTERNAL_H
#define CCGATE_AUDIT_INTERNAL_H

#include <pthread.h>

#include "ccgate/audit.h"
#include "../store/sqlite_db.h"

struct ccg_audit {
    ccg_sqlite *h;
    pthread_mutex_t lock;
};

/* The genesis record's prev_hash: 32 zero bytes. */
#define CCG_AUDIT_GENESIS "0000000000000000000000000000000000000000000000000000000000000000"

/* Every column of audit_log, in the order the SELECTs below return them. */
#define CCG_AUDIT_COLUMNS                                                                              \
    "seq, v, time, request_id, persona, action, key_id, key_version, policy_id, policy_version,"    \
    " evidence_digest, decision, reasons, prev_hash, hash, count, tcb, gpus"

/* Checks an event (input.malformed / input.too_large naming the field). */
CCG_MUST_CHECK ccg_result ccg_audit_event_check(const ccg_audit_event *ev);
/* The record (without "hash") that an event becomes at seq after prev_hash. *reasons_text receives
 * the compact JSON array of codes as stored in the reasons column (malloc'd). A counted record has
 * format 2 and "count" (the count column); a record with a TCB status has format 3 and a "tcb" member
 * {"status", "advisories"} (the tcb column); a record with GPUs has format 4, "gpus" (the gpus column)
 * and "tcb" (an object, or null when there is no TCB status: the tcb column NULL). */
CCG_MUST_CHECK ccg_result ccg_audit_record_from_event(const ccg_audit_event *ev, int64_t seq, const char *prev_hash,
                                                      json_t **record, char **reasons_text);
/* The record of a row of CCG_AUDIT_COLUMNS, with "hash", "count" only in format 2, "tcb" only in
 * formats 3 and 4 and "gpus" only in format 4. A column of the wrong type, a reasons column that is not a JSON array of strings, a tcb
 * column that is not {"status": string, "advisories": [strings]}, a count or tcb column set on a record
 * of another format or NULL on its own, or a hash that is not 64 lowercase hex digits fails with
 * audit.chain_broken and a message naming the column. */
CCG_MUST_CHECK ccg_result ccg_audit_record_from_row(sqlite3_stmt *st, json_t **record);
/* Appends inside the caller's write transaction (BEGIN IMMEDIATE held, a->lock held). */
CCG_MUST_CHECK ccg_result ccg_audit_append_in_tx(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq,
                                                 char hash[CCG_AUDIT_HASH_HEX]);
/* The SQL that replaces the append-only triggers (audit_prune.c drops them for its DELETE only). */
extern const char CCG_AUDIT_SQL_TRIGGERS[];
/* 1 when s is 64 lowercase hex digits. */
int ccg_audit_hash_text_ok(const char *s);

#endif
