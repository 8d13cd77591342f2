/* The audit log: an append-only, hash-chained record of every decision the key broker makes
 * (docs/audit.md).
 *
 * Records live in the `audit_log` table of a ccgate SQLite database (by default the store's own
 * file, on their own connection) or of a PostgreSQL database (a libpq URI, by default the store's). Each record holds the SHA-256 of the record before it (prev_hash)
 * and its own hash over a canonical serialisation of every other field, so changing, deleting,
 * inserting or reordering any record breaks the chain at a point ccg_audit_verify names.
 *
 * Durability: ccg_audit_append returns only after the record is committed with synchronous=FULL
 * (WAL fsync'ed; PostgreSQL: synchronous_commit on); threads appending together share one fsync. The
 * broker answers a request only after the append returned; if it fails (audit.write_failed) nothing is
 * released. ccg_audit_append_ordered commits without waiting for the disk: a later synced record
 * makes it durable, because one WAL is written and synced in order (SQLite's file; PostgreSQL's server).
 *
 * Concurrency: appenders in any number of threads and processes (and, on PostgreSQL, hosts) serialise
 * on the database write lock (SQLite: BEGIN IMMEDIATE; PostgreSQL: a transaction-scoped advisory lock),
 * read the head, and insert seq = head + 1; seq is the primary key and prev_hash is unique, so the
 * chain cannot fork.
 *
 * No secrets by construction: a record has no field for key material, evidence, tokens or free
 * text. Identifiers are checked against narrow alphabets, reasons are registry codes (details are
 * not recorded), and the evidence is recorded only as its digest.
 *
 * Errors: store.unavailable, store.corrupt (opening), audit.write_failed (appending), audit.chain_broken
 * (verifying), input.malformed (a field outside its alphabet or length). Every public function
 * clears the calling thread's last error first. A handle may be shared by threads (calls are
 * serialised on it). */
#ifndef CCGATE_AUDIT_H
#define CCGATE_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ccgate/decision.h"
#include "ccgate/reasons.h"
#include "ccgate/result.h"
#include "ccgate/util.h"

/* The record format version, hashed into every record as "v". Each format carries a fixed set of the
 * optional members, and the verifier holds every record to its format's set (docs/audit.md):
 *   1: a record of one event, neither "count" nor "tcb";
 *   2: a counted record, which adds "count" (a summary of several events, or a prune);
 *   3: a record of one SEV-SNP decision, which adds "tcb" (its TCB status and advisories);
 *   4: a record of one decision that appraised GPUs, which adds "gpus" (per-GPU claims) and "tcb"
 *      (as in format 3, or null when the CPU evidence gave no TCB status);
 *   5: a record of one Intel TDX decision, which adds "tcb" with Intel's statuses: the converged
 *      "status", "advisories", "platform_status", "module_status", "qe_status", the "fmspc" and the TD's
 *      "mrtd"; and "gpus" (as in format 4) when the decision appraised GPUs;
 *   6: a record of one decision with the claims that were presented, which adds "claims" (an object of
 *      the non-secret claims: measurement, TCB versions, policy bits, reference values, TDX registers,
 *      the key version asked for) and always "tcb" (as in format 3 or 5, or null) and "gpus" (as in
 *      format 4, or null).
 * A record of format 1 hashes exactly as before formats 2 to 6 existed. */
#define CCG_AUDIT_FORMAT 1
#define CCG_AUDIT_FORMAT_COUNTED 2
#define CCG_AUDIT_FORMAT_TCB 3
#define CCG_AUDIT_FORMAT_GPU 4
#define CCG_AUDIT_FORMAT_TDX 5
#define CCG_AUDIT_FORMAT_CLAIMS 6
#define CCG_AUDIT_CLAIM_TEXT_MAX 192u /* bytes of one claim string (a 96-hex-digit measurement fits) */
#define CCG_AUDIT_CLAIM_LIST_MAX 8u   /* strings of one claim list (TDX RTMRs) */
#define CCG_AUDIT_MAX_GPUS 16u
#define CCG_AUDIT_GPU_TEXT_MAX 63u /* bytes of a GPU claim string, printable ASCII without spaces */
#define CCG_AUDIT_GPU_MAX_INDEXES 254u /* mismatched RIM indexes (0..253) of one GPU */
#define CCG_AUDIT_MAX_ADVISORIES 256u
#define CCG_AUDIT_ADVISORY_MAX 63u /* bytes of one advisory ID, printable ASCII without spaces */
/* The actions of the retention records (docs/audit.md, "Retention"). */
#define CCG_AUDIT_ACTION_CHECKPOINT "audit.checkpoint"
#define CCG_AUDIT_ACTION_PRUNE "audit.prune"
/* Field limits (bytes). request_id: [A-Za-z0-9._:-]; action: [a-z0-9._-]; key_id, policy_id:
 * printable ASCII without spaces; evidence_digest: "<alg>:<lowercase hex>". */
#define CCG_AUDIT_REQUEST_ID_MAX 128u
#define CCG_AUDIT_ACTION_MAX 64u
#define CCG_AUDIT_ID_MAX 256u
#define CCG_AUDIT_DIGEST_MAX 160u
#define CCG_AUDIT_MAX_REASONS 64u
/* Hashes are 32 bytes, kept as 64 lowercase hex digits. */
#define CCG_AUDIT_HASH_HEX 65u

typedef struct ccg_audit ccg_audit;

typedef enum {
    CCG_AUDIT_ALLOW = 1, /* "allow": released or done; no reasons */
    CCG_AUDIT_DENY = 2,  /* "deny": refused; at least one reason */
    CCG_AUDIT_ERROR = 3, /* "error": failed (a dependency, a bad request); at least one reason */
} ccg_audit_decision;

/* Who acted (issue 4's personas, plus the attested workload and the broker itself). */
typedef enum {
    CCG_PERSONA_WORKLOAD = 1,  /* "workload": a guest asking for a key */
    CCG_PERSONA_PROVIDER = 2,  /* "provider": manages its keys and policies */
    CCG_PERSONA_AUTHORITY = 3, /* "authority": manages reference values and collateral */
    CCG_PERSONA_OPERATOR = 4,  /* "operator": reads status and audit */
    CCG_PERSONA_SYSTEM = 5,    /* "system": the broker on its own behalf (start, key generation) */
    CCG_PERSONA_HOST_OPERATOR = 6, /* "host-operator": the service user's ccgate-kbs commands on the broker host */
} ccg_persona;

const char *ccg_audit_decision_name(ccg_audit_decision d);
const char *ccg_persona_name(ccg_persona p);

/* The claims of one appraised GPU (format 4): what it is, and how its measurements fared. No string
 * is free text: each is a short printable token checked against the ID alphabet. */
typedef struct {
    const char *arch;            /* "HOPPER", "BLACKWELL" (NULL: unknown) */
    const char *driver_version;  /* from the signed report (NULL: none or unparsed) */
    const char *vbios_version;
    const char *ueid;            /* the leaf certificate's serial, decimal (NULL: no verified chain) */
    const char *measurements;    /* "passed", "failed" or "not_done" (required) */
    const char *nonce_binding;   /* the binding the signed nonce matched, e.g. "ccgate-v1" (NULL: none) */
    const uint16_t *mismatched;  /* RIM indexes that mismatched, ascending */
    size_t mismatched_count;
} ccg_audit_gpu;

/* What a TDX decision's record adds to its TCB status (format 5): Intel's statuses by name ("UpToDate",
 * "SWHardeningNeeded", ..., "Revoked", or "None" when not evaluated), the FMSPC (12 hex digits) and the
 * TD's MRTD (96 hex digits). */
typedef struct {
    const char *platform_status;
    const char *module_status;
    const char *qe_status;
    const char *fmspc;
    const char *mrtd;
} ccg_audit_tdx;

/* One event to record. Strings are borrowed. Optional fields are NULL (strings) or 0 (versions). */
typedef struct {
    ccg_time time;               /* when the decision was made (explicit, like every now) */
    const char *request_id;      /* required */
    ccg_persona persona;         /* required */
    const char *action;          /* required, e.g. "resource.release", "key.rotate", "policy.set" */
    const char *key_id;          /* optional */
    int64_t key_version;         /* optional (0 = none) */
    const char *policy_id;       /* optional */
    int64_t policy_version;      /* optional (0 = none) */
    const char *evidence_digest; /* optional, e.g. "sha384:<hex>" from ccg_decision */
    ccg_audit_decision decision; /* required */
    const ccg_reasons *reasons;  /* codes only; NULL or empty for allow, non-empty otherwise */
    const char *tcb_status;      /* optional: "UpToDate", "OutOfDate", "RolledBack" or "Unknown" (format 3);
                                    with tdx, Intel's converged TDX status (format 5) */
    const char *const *advisories; /* the advisory IDs that applied (only with tcb_status) */
    size_t advisory_count;
    int64_t count;               /* 0: one event; n >= 1: a counted record (format 2) standing for n events,
                                    e.g. n anonymous denials aggregated into one summary; never with tcb_status */
    const ccg_audit_gpu *gpus;   /* the GPUs the decision appraised (format 4; never with count) */
    size_t gpu_count;            /* 0: none; at most CCG_AUDIT_MAX_GPUS */
    const ccg_audit_tdx *tdx;    /* a TDX decision's statuses (format 5; requires tcb_status, never with count) */
    const json_t *claims;        /* the presented claims (format 6; never with count): an object whose
                                    members are from the list in docs/audit.md ("Claims"), checked by
                                    ccg_audit_claims_check; borrowed */
} ccg_audit_event;

/* Checks a claims object against the claim list (names, types, lengths); reason is the code of a
 * failure (input.malformed for an event, audit.chain_broken for a stored record). */
CCG_MUST_CHECK ccg_result ccg_audit_claims_check(const json_t *claims, ccg_reason reason);

/* Fills the policy, evidence digest, decision and reasons of ev from a verification decision,
 * borrowing from d (which must outlive the append). allow -> allow; a deny whose reasons include a
 * dependency or internal failure -> error; any other deny -> deny. Empty strings become NULL. */
void ccg_audit_event_from_decision(ccg_audit_event *ev, const ccg_decision *d);

typedef struct {
    int busy_timeout_ms; /* how long an appender waits for another's lock; 0 means 10000 */
    int create;          /* 1: create the database file and the audit table when absent */
} ccg_audit_options;

/* Opens the audit log at location (opts NULL: create, default timeout): a SQLite database path (or
 * "sqlite:PATH"), or a PostgreSQL libpq URI ("postgresql://..." or "postgres://..."). Without create, a
 * missing file or a database without an audit table is store.unavailable, as is a PostgreSQL server
 * that cannot be reached. On PostgreSQL a lost connection fails the call that meets it (an append with
 * audit.write_failed, any other with store.unavailable) and the next call reconnects by itself. */
CCG_MUST_CHECK ccg_result ccg_audit_open(const char *location, const ccg_audit_options *opts, ccg_audit **out);
void ccg_audit_close(ccg_audit *a);

/* Appends one record and commits it durably before returning. *seq and hash (both may be NULL)
 * receive the new record's sequence number and hash. */
CCG_MUST_CHECK ccg_result ccg_audit_append(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq,
                                           char hash[CCG_AUDIT_HASH_HEX]);
/* Appends one record and commits it, ordered but not yet synced (SQLite: its WAL frames are written,
 * and become durable with the next synced commit to the same database file, which covers every frame
 * before it; PostgreSQL: committed with synchronous_commit off, made durable by the next synchronous
 * commit on the server, whose WAL flush covers every earlier commit). For a record that only needs to be durable
 * before what follows from it is answered: the broker's token records, whose releases sync them. A
 * process crash loses nothing (the frames are in the file); a power loss may lose the record together
 * with everything after it, never a later record without it. */
CCG_MUST_CHECK ccg_result ccg_audit_append_ordered(ccg_audit *a, const ccg_audit_event *ev, int64_t *seq,
                                                   char hash[CCG_AUDIT_HASH_HEX]);

/* The newest record: *seq 0 and the genesis prev_hash (64 zeros) when the log is empty. */
CCG_MUST_CHECK ccg_result ccg_audit_head(ccg_audit *a, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX]);

/* An external anchor: a (seq, hash) pair recorded elsewhere (e.g. from ccg_audit_head), which the
 * chain must still contain. Without one, deleting the newest records cannot be detected. */
typedef struct {
    int64_t seq;
    char hash[CCG_AUDIT_HASH_HEX];
} ccg_audit_anchor;

typedef struct {
    int intact;                       /* 1 when the whole chain verified */
    int64_t records;                  /* records checked */
    int64_t head_seq;                 /* the last record that verified */
    char head_hash[CCG_AUDIT_HASH_HEX];
    int64_t broken_seq;               /* the first record that does not verify (0 when intact) */
    char problem[48];                 /* "hash_mismatch", "prev_hash_mismatch", "seq_gap", "malformed",
                                         "unsupported_format", "anchor_missing", "anchor_mismatch",
                                         "prune_unrecorded" */
    char expected[CCG_AUDIT_HASH_HEX]; /* the expected hash (recomputed, or the previous record's) */
    char stored[CCG_AUDIT_HASH_HEX];   /* the hash the record stores */
    char detail[160];
    int64_t start_seq;                /* the first record kept: 1, or the checkpoint older records were pruned to */
    int64_t events;                   /* events the verified records stand for (a counted record counts n) */
} ccg_audit_verify_report;

/* Walks the chain from the genesis record (or, after a prune, from the checkpoint the log now starts
 * at, whose prev_hash is taken as given) in one read snapshot. Intact: success and report->intact.
 * Broken: audit.chain_broken, naming the first broken record in the message and the report.
 * anchor may be NULL. */
CCG_MUST_CHECK ccg_result ccg_audit_verify(ccg_audit *a, const ccg_audit_anchor *anchor,
                                           ccg_audit_verify_report *report);
/* The report as JSON: {"intact", "records", "events", "start_seq", "head": {"seq", "hash"},
 * "broken": {...} | null}. */
json_t *ccg_audit_verify_report_json(const ccg_audit_verify_report *report);

/* Retention (docs/audit.md). A checkpoint is a record (action audit.checkpoint, persona operator)
 * from which the chain may later be verified alone: *seq and hash (both may be NULL) receive it, to
 * keep outside as an anchor. */
CCG_MUST_CHECK ccg_result ccg_audit_checkpoint(ccg_audit *a, ccg_time now, const char *request_id, int64_t *seq,
                                               char hash[CCG_AUDIT_HASH_HEX]);
/* The newest checkpoint whose time is at or before `before` (audit.checkpoint_invalid when none). */
CCG_MUST_CHECK ccg_result ccg_audit_checkpoint_before(ccg_audit *a, ccg_time before, int64_t *seq);
/* Deletes every record before the checkpoint at checkpoint_seq, and appends in the same transaction
 * an audit.prune record whose count is checkpoint_seq - 1 (every record ever pruned). The chain is
 * verified first and a broken one is never pruned (audit.chain_broken); a seq that is not a
 * checkpoint is audit.checkpoint_invalid. *removed (may be NULL) receives the number deleted now. */
CCG_MUST_CHECK ccg_result ccg_audit_prune(ccg_audit *a, int64_t checkpoint_seq, ccg_time now, const char *request_id,
                                          int64_t *removed);

/* Records with seq > since, oldest first, at most limit (0: no limit), as a JSON array of objects
 * with every field of the record (see docs/audit.md). */
CCG_MUST_CHECK ccg_result ccg_audit_list(ccg_audit *a, int64_t since, size_t limit, json_t **records);
/* Every record of request_id (of the request ID alphabet), oldest first, at most CCG_AUDIT_SHOW_MAX, as
 * a JSON array (empty when there is none). */
#define CCG_AUDIT_SHOW_MAX 64u
CCG_MUST_CHECK ccg_result ccg_audit_find(ccg_audit *a, const char *request_id, json_t **records);

/* "Why was this request decided so", from the audit log alone (docs/audit.md, "Show"): every record of
 * request_id as {"request_id", "records": [{"seq", "time", "action", "persona", "decision", "policy":
 * {"id","version"}, "key": {"id","version"}, "failed_checks": [{"code","description"}], "presented":
 * claims|null, "tcb", "gpus", "evidence_digest", "count", "hash"}]}. A request ID of no record is
 * audit.record_not_found; one outside [A-Za-z0-9._:-] (1..128) input.malformed. */
CCG_MUST_CHECK ccg_result ccg_audit_show(ccg_audit *a, const char *request_id, json_t **out);

/* The canonical serialisation that is hashed: `record` holds every field except "hash". Returns a
 * malloc'd string (NULL when out of memory). Exposed for independent verifiers and tests. */
char *ccg_audit_canonical(const json_t *record);
/* hash = lowercase hex SHA-256 of the canonical serialisation of record (without "hash"). */
CCG_MUST_CHECK ccg_result ccg_audit_record_hash(const json_t *record, char hash[CCG_AUDIT_HASH_HEX]);

#endif
