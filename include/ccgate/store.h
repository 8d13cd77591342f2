/* The state store of the key broker: model keys (wrapped), policies, reference-value sets,
 * collateral, sessions with single-use nonces, and settings.
 *
 * One interface, several backends (docs/store.md). A ccg_store is an opaque handle over a backend
 * vtable (src/store/store_backend.h). SQLite is the embedded default; the PostgreSQL backend (libpq)
 * lets several broker instances share one database.
 *
 * Errors (reason codes):
 *   store.unavailable  the store cannot be opened or reached: missing directory, permission, I/O
 *                      error, disk full, locked longer than the busy timeout; on PostgreSQL an
 *                      unreachable server or a lost connection (the next call reconnects by itself)
 *   store.corrupt      the file is not a database, is another application's database, fails the
 *                      integrity check, has a schema version newer than this build, or a stored
 *                      document no longer matches its digest
 *   store.conflict     a write conflicts with the stored state: a duplicate ID or version, a stale
 *                      version, an illegal key state transition, a used, expired or unknown nonce
 *   key.not_found      a key (or policy) lookup found nothing
 *   refval.set_missing, collateral.missing   a reference-value set or collateral lookup found nothing
 *   input.malformed, input.too_large         an argument is not acceptable (bad ID, not JSON, ...)
 *
 * Time is an argument: every call that records or compares a time takes `now`.
 * The store never holds a plaintext key: key material enters only as the keystore's wrapped blob
 * (keystore.h), and the store refuses bytes that do not carry the wrapped-key magic.
 *
 * Thread safety: a handle may be shared between threads: each call takes a free connection of the
 * handle's pool (ccg_store_options.connections; one by default, and then calls are serialised). Separate handles and separate processes on the same
 * database serialise their writes through the database's own locking. Every public function clears
 * the calling thread's last error first. */
#ifndef CCGATE_STORE_H
#define CCGATE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/util.h"

/* The schema version this build creates and understands. */
#define CCG_STORE_SCHEMA_VERSION 5
/* IDs (key, policy, reference-value set, collateral): 1..256 bytes of printable ASCII, no space. */
#define CCG_STORE_ID_MAX 256u
/* KEK labels: 1..128 bytes of printable ASCII (as the keystore). */
#define CCG_STORE_LABEL_MAX 128u
/* Session IDs and nonces: 1..128 bytes of printable ASCII, no space. TEE names: 1..32 bytes. */
#define CCG_STORE_TOKEN_MAX 128u
#define CCG_STORE_TEE_MAX 32u
/* Setting names: 1..128 bytes of [a-z0-9._-]. */
#define CCG_STORE_SETTING_NAME_MAX 128u
/* Largest wrapped key, JSON document (policy, reference values, claims), collateral blob, setting. */
#define CCG_STORE_WRAPPED_MAX ((1u << 20) + 4096u) /* a wrapped 1 MiB resource */
#define CCG_STORE_JSON_MAX (1u << 20)
#define CCG_STORE_BLOB_MAX (4u << 20)
#define CCG_STORE_SETTING_MAX 65536u
/* The first bytes of every wrapped key (the keystore's blob format, keystore.h). */
#define CCG_STORE_WRAPPED_MAGIC "CCGW"
/* Shortest wrapped key: the keystore's 56-byte header, one ciphertext byte, a 16-byte tag. */
#define CCG_STORE_WRAPPED_MIN 73u
/* The SQLite application_id of a ccgate database ("CCGT"). */
#define CCG_STORE_APPLICATION_ID 0x43434754

typedef struct ccg_store ccg_store;

typedef enum {
    CCG_STORE_CHECK_QUICK = 0, /* PRAGMA quick_check at open (the default) */
    CCG_STORE_CHECK_FULL = 1,  /* PRAGMA integrity_check at open */
    CCG_STORE_CHECK_NONE = 2,  /* no check at open (ccg_store_integrity_check later) */
} ccg_store_check;

/* Most connections one handle keeps (ccg_store_options.connections). */
#define CCG_STORE_MAX_CONNECTIONS 16u

typedef struct {
    int busy_timeout_ms;   /* how long a writer waits for another's lock; 0 means 5000 */
    ccg_store_check check; /* the integrity check at open */
    unsigned connections;  /* connections in the handle's pool, 0 means 1 (at most CCG_STORE_MAX_CONNECTIONS) */
    /* Session writes (create, consume, attest, purge) commit without their own fsync (SQLite WAL
     * synchronous=NORMAL): atomic and consistent, and durable once any later commit on the same
     * database file syncs the WAL. Only for a caller that makes such a synced commit before it acts on
     * the session write (the key broker: its audit record, in the same file, before every answer).
     * Keys, documents and settings are always synced. */
    int relaxed_session_sync;
} ccg_store_options;

/* Opens (creating when absent) a store and brings its schema up to CCG_STORE_SCHEMA_VERSION.
 * location: "sqlite:PATH" or a plain PATH (SQLite), or a libpq URI "postgresql://..." / "postgres://..."
 * (PostgreSQL, docs/store.md). opts may be NULL. SQLite runs in WAL mode with synchronous=FULL semantics
 * (a write transaction is on disk when it returns; concurrent commits share one WAL sync), foreign keys
 * on and a busy timeout; migrations are applied in one transaction. On PostgreSQL busy_timeout_ms is the
 * lock_timeout, commits are synchronous_commit=on, and migrations run in one transaction under an
 * advisory lock so instances starting together migrate once. */
CCG_MUST_CHECK ccg_result ccg_store_open(const char *location, const ccg_store_options *opts, ccg_store **out);
/* Closes the handle. NULL is ignored. */
void ccg_store_close(ccg_store *s);
/* "sqlite" or "postgresql" (the backend's name). */
const char *ccg_store_backend(const ccg_store *s);
/* The schema version recorded in the store. */
CCG_MUST_CHECK ccg_result ccg_store_schema_version(ccg_store *s, int64_t *version);
/* The full integrity check; store.corrupt names the first problem. */
CCG_MUST_CHECK ccg_result ccg_store_integrity_check(ccg_store *s);

/* ---- keys -------------------------------------------------------------------------------------
 * A key is (key_id, version). States: active, disabled (the provider's kill switch) and retired
 * (final). Legal transitions: active -> disabled, disabled -> active, active|disabled -> retired.
 * Anything else (to the same state, out of retired) is store.conflict. At most one version of a key
 * is not retired (the live version); rotation retires it and adds a new active version atomically.
 *
 * Grace (schema 5): a retired version carries releasable_until, until when it may still be released
 * to a guest that asks for it by version. Rotation gives the version it retires an open grace
 * (CCG_STORE_GRACE_OPEN) and its retired_at: the key broker bounds it by the release policy's
 * "rotation" member, counted from retired_at; a
 * cut-over (ccg_store_key_end_grace) ends it for good. A version retired by a state change has none
 * (0). Retired stays final: the grace only ever ends, the state never changes again. */
#define CCG_STORE_GRACE_OPEN INT64_MAX
typedef enum {
    CCG_KEY_ACTIVE = 1,
    CCG_KEY_DISABLED = 2,
    CCG_KEY_RETIRED = 3,
} ccg_key_state;

/* "active", "disabled", "retired" ("unknown" otherwise). */
const char *ccg_key_state_name(ccg_key_state state);
/* Parses a state name; input.malformed otherwise. */
CCG_MUST_CHECK ccg_result ccg_key_state_parse(const char *name, ccg_key_state *out);
/* 1 when from -> to is a legal transition. */
int ccg_key_transition_allowed(ccg_key_state from, ccg_key_state to);

/* A new key version (borrowed strings and bytes). */
typedef struct {
    const char *key_id;
    int64_t version;         /* >= 1 */
    const uint8_t *wrapped;  /* the keystore's wrapped blob: opaque, never plaintext */
    size_t wrapped_len;
    const char *kek_label;   /* the KEK that wrapped it */
    const char *policy_id;   /* the release policy; it must exist. NULL on rotate keeps the current one */
} ccg_store_key_spec;

/* A stored key version. wrapped is owned (NULL in listings); free with ccg_store_key_free. */
typedef struct {
    char key_id[CCG_STORE_ID_MAX + 1];
    int64_t version;
    ccg_key_state state;
    char kek_label[CCG_STORE_LABEL_MAX + 1];
    char policy_id[CCG_STORE_ID_MAX + 1];
    ccg_time created_at;
    ccg_time updated_at;
    ccg_time releasable_until;  /* retired: the grace's end (0 none, CCG_STORE_GRACE_OPEN open) */
    ccg_time retired_at;        /* when a rotation retired it (0: not by a rotation); a re-wrap keeps it */
    uint8_t *wrapped;
    size_t wrapped_len;
} ccg_store_key;

/* Adds the first version of a new key, active. store.conflict when any version of key_id exists;
 * key.not_found when the policy does not exist. */
CCG_MUST_CHECK ccg_result ccg_store_key_import(ccg_store *s, const ccg_store_key_spec *spec, ccg_time now);
/* In one transaction: retires every version of spec->key_id that is not retired and adds
 * spec->version as active. key.not_found when the key has no version; store.conflict when
 * spec->version is not above every existing version, or when no version is live (a fully retired
 * key stays retired). Rotating a disabled key is allowed: the new version is active. */
CCG_MUST_CHECK ccg_result ccg_store_key_rotate(ccg_store *s, const ccg_store_key_spec *spec, ccg_time now);
/* Moves one version to `to` (see the legal transitions above). key.not_found, store.conflict. */
CCG_MUST_CHECK ccg_result ccg_store_key_set_state(ccg_store *s, const char *key_id, int64_t version,
                                                  ccg_key_state to, ccg_time now);
/* KEK rotation: replaces one version's wrapped blob and KEK label, in one transaction, only while it
 * is still wrapped under old_label (so a re-wrap applies once; new_label must differ). store.conflict
 * when the version's label is no longer old_label (re-wrapped meanwhile), key.not_found when absent.
 * The state, policy and dates other than updated_at are unchanged; a retired version is re-wrapped
 * too. */
CCG_MUST_CHECK ccg_result ccg_store_key_rewrap(ccg_store *s, const char *key_id, int64_t version,
                                               const char *old_label, const char *new_label, const uint8_t *wrapped,
                                               size_t wrapped_len, ccg_time now);
/* Reads one version with its wrapped blob. version 0 means the live version, or the newest one
 * when every version is retired. key.not_found when absent. */
CCG_MUST_CHECK ccg_result ccg_store_key_get(ccg_store *s, const char *key_id, int64_t version, ccg_store_key *out);
/* Lists key versions (of one key_id, or of every key when key_id is NULL), ordered by key_id and
 * version, without wrapped blobs. *out is malloc'd (NULL when empty); free with
 * ccg_store_key_list_free. */
CCG_MUST_CHECK ccg_result ccg_store_key_list(ccg_store *s, const char *key_id, ccg_store_key **out, size_t *count);
/* Ends the grace of key_id's retired versions (version 0: all of them) at now: afterwards they are
 * never released again. *ended (may be NULL) counts the versions whose grace ended (0 when none was
 * open, which succeeds). key.not_found when the key or that version does not exist. */
CCG_MUST_CHECK ccg_result ccg_store_key_end_grace(ccg_store *s, const char *key_id, int64_t version, ccg_time now,
                                                  int64_t *ended);
/* key.disabled or key.retired when the version must not be released; success when active. */
CCG_MUST_CHECK ccg_result ccg_store_key_releasable(const ccg_store_key *key);
void ccg_store_key_free(ccg_store_key *key);
void ccg_store_key_list_free(ccg_store_key *keys, size_t count);

/* ---- versioned documents ------------------------------------------------------------------------
 * Policies and reference-value sets are JSON objects; collateral is opaque bytes. Each (id, version)
 * is written once and never changed: writing the same bytes again succeeds (an idempotent retry),
 * different bytes are store.conflict, and so is a version not above the newest one. Every document
 * is stored with its SHA-256, which is checked on every read (store.corrupt on a mismatch). */
typedef enum {
    CCG_DOC_POLICY = 1,
    CCG_DOC_REFVAL_SET = 2,
    CCG_DOC_COLLATERAL = 3,
} ccg_store_doc_kind;

/* "policy", "refval_set", "collateral". */
const char *ccg_store_doc_kind_name(ccg_store_doc_kind kind);

typedef struct {
    ccg_store_doc_kind kind;
    char id[CCG_STORE_ID_MAX + 1];
    int64_t version;
    ccg_time created_at;
    char digest[72];  /* "sha256:<hex>" of body */
    uint8_t *body;    /* owned, NUL-terminated past len */
    size_t len;
} ccg_store_doc;

/* Writes version `version` (>= 1) of document `id`. JSON kinds must be a JSON object of at most
 * CCG_STORE_JSON_MAX bytes (input.malformed, input.too_large); collateral at most CCG_STORE_BLOB_MAX. */
CCG_MUST_CHECK ccg_result ccg_store_doc_put(ccg_store *s, ccg_store_doc_kind kind, const char *id, int64_t version,
                                            const uint8_t *body, size_t len, ccg_time now);
/* Reads a version (0 means the newest). Not found: key.not_found (policy), refval.set_missing,
 * collateral.missing. */
CCG_MUST_CHECK ccg_result ccg_store_doc_get(ccg_store *s, ccg_store_doc_kind kind, const char *id, int64_t version,
                                            ccg_store_doc *out);
/* Every version of a document, ascending. *versions is malloc'd (NULL when none, which succeeds). */
CCG_MUST_CHECK ccg_result ccg_store_doc_versions(ccg_store *s, ccg_store_doc_kind kind, const char *id,
                                                 int64_t **versions, size_t *count);
void ccg_store_doc_free(ccg_store_doc *doc);

/* Shorthands for the JSON kinds (json is a NUL-terminated document). */
CCG_MUST_CHECK ccg_result ccg_store_policy_put(ccg_store *s, const char *policy_id, int64_t version, const char *json,
                                               ccg_time now);
CCG_MUST_CHECK ccg_result ccg_store_policy_get(ccg_store *s, const char *policy_id, int64_t version, ccg_store_doc *out);
CCG_MUST_CHECK ccg_result ccg_store_refval_put(ccg_store *s, const char *set_id, int64_t version, const char *json,
                                               ccg_time now);
CCG_MUST_CHECK ccg_result ccg_store_refval_get(ccg_store *s, const char *set_id, int64_t version, ccg_store_doc *out);

/* ---- sessions and nonces ------------------------------------------------------------------------
 * A session starts "challenged" with a fresh nonce. The nonce is consumed exactly once; consumption
 * is one conditional update (unused, not expired, challenged), so two brokers racing on the same
 * nonce cannot both win. A session is live while now < expires_at. */
typedef enum {
    CCG_SESSION_CHALLENGED = 1,
    CCG_SESSION_ATTESTED = 2,
} ccg_session_state;

/* Why a session call was refused; CCG_SESSION_OK on success. */
typedef enum {
    CCG_SESSION_OK = 0,
    CCG_SESSION_NOT_FOUND,      /* no such session */
    CCG_SESSION_EXPIRED,        /* now >= expires_at */
    CCG_SESSION_NONCE_MISMATCH, /* the nonce is not this session's */
    CCG_SESSION_NONCE_USED,     /* the nonce was consumed before: a replay */
    CCG_SESSION_BAD_STATE,      /* attest before the nonce was consumed, or twice */
} ccg_session_status;

const char *ccg_session_state_name(ccg_session_state state);
const char *ccg_session_status_name(ccg_session_status status);

typedef struct {
    char session_id[CCG_STORE_TOKEN_MAX + 1];
    char nonce[CCG_STORE_TOKEN_MAX + 1];
    char tee[CCG_STORE_TEE_MAX + 1];
    ccg_session_state state;
    int nonce_used;
    ccg_time created_at;
    ccg_time expires_at;
    ccg_time attested_at; /* 0 before attestation */
    char *claims_json;    /* owned; NULL before attestation */
} ccg_store_session;

/* Creates a challenged session. store.conflict when the session ID or the nonce is in the store
 * already (so a nonce is never handed out twice while its session exists). */
CCG_MUST_CHECK ccg_result ccg_store_session_create(ccg_store *s, const char *session_id, const char *nonce,
                                                   const char *tee, ccg_time now, ccg_time expires_at);
/* Reads a live session. store.conflict with *status NOT_FOUND or EXPIRED otherwise. status may be NULL. */
CCG_MUST_CHECK ccg_result ccg_store_session_get(ccg_store *s, const char *session_id, ccg_time now,
                                                ccg_store_session *out, ccg_session_status *status);
/* Consumes the session's nonce, once. store.conflict with *status NOT_FOUND, EXPIRED,
 * NONCE_MISMATCH, NONCE_USED or BAD_STATE otherwise. status may be NULL. */
CCG_MUST_CHECK ccg_result ccg_store_session_consume_nonce(ccg_store *s, const char *session_id, const char *nonce,
                                                          ccg_time now, ccg_session_status *status);
/* Marks a session whose nonce was consumed as attested, records the claims (a JSON object in compact
 * text, the caller's own serialisation: only its size and outline are checked here, and readers parse
 * it) and the new expiry (the token's). store.conflict with *status otherwise. status may be NULL. */
CCG_MUST_CHECK ccg_result ccg_store_session_attest(ccg_store *s, const char *session_id, const char *claims_json,
                                                   ccg_time now, ccg_time expires_at, ccg_session_status *status);
/* Deletes sessions that expired at or before now - grace. *removed may be NULL. */
CCG_MUST_CHECK ccg_result ccg_store_session_purge(ccg_store *s, ccg_time now, ccg_time grace, int64_t *removed);
void ccg_store_session_free(ccg_store_session *session);

/* ---- owners -------------------------------------------------------------------------------------
 * Who may manage a key or a policy through the broker's admin API: the pair (issuer, subject) of the
 * admin token that created it, never the subject alone (two issuers may both know an "acme"). An owner
 * is recorded once (the first claim wins, before the object exists, so two providers racing on a new ID
 * cannot both win) and changes hands only by ccg_store_owner_transfer (schema 5).
 * Schema version 2 moved the owners that earlier brokers kept
 * as settings (subject only) into this table with an empty issuer: such an owner is "unbound" until
 * ccg_store_owner_bind names the issuer it belongs to. Objects created outside the admin API have no
 * owner. */
typedef enum {
    CCG_OWNED_KEY = 1,
    CCG_OWNED_POLICY = 2,
} ccg_store_owned;

/* Issuer and subject names: 1..128 bytes of printable ASCII without space ("" issuer: unbound). */
#define CCG_STORE_OWNER_MAX 128u

typedef struct {
    char issuer[CCG_STORE_OWNER_MAX + 1];
    char subject[CCG_STORE_OWNER_MAX + 1];
} ccg_store_owner;

/* Reads the owner of a key (key_id) or policy (policy_id). *found is 0 when none is recorded. */
CCG_MUST_CHECK ccg_result ccg_store_owner_get(ccg_store *s, ccg_store_owned kind, const char *id,
                                              ccg_store_owner *out, int *found);
/* Records owner (issuer and subject non-empty) unless an owner is recorded already, atomically: of any
 * number of concurrent claimants exactly one wins. *mine tells whether the recorded owner is `owner`. */
CCG_MUST_CHECK ccg_result ccg_store_owner_claim(ccg_store *s, ccg_store_owned kind, const char *id,
                                                const ccg_store_owner *owner, ccg_time now, int *mine);
/* Ownership transfer (schema 5): records `to` (issuer and subject non-empty) as the owner. With from
 * non-NULL only when the recorded owner is exactly `from` (*done 0 otherwise, which succeeds: the
 * caller is not the owner); with from NULL (the host operator) whatever is recorded, or nothing. One
 * transaction, with a row of the store's transfer history. */
CCG_MUST_CHECK ccg_result ccg_store_owner_transfer(ccg_store *s, ccg_store_owned kind, const char *id,
                                                   const ccg_store_owner *from, const ccg_store_owner *to,
                                                   ccg_time now, int *done);
/* The distinct subjects of unbound owners, sorted. *subjects is malloc'd (NULL when none). */
CCG_MUST_CHECK ccg_result ccg_store_owner_unbound(ccg_store *s, ccg_store_owner **subjects, size_t *count);
/* Gives every unbound owner with this subject the issuer (non-empty). *bound (may be NULL) counts them. */
CCG_MUST_CHECK ccg_result ccg_store_owner_bind(ccg_store *s, const char *subject, const char *issuer, ccg_time now,
                                               int64_t *bound);

/* ---- settings -----------------------------------------------------------------------------------
 * Named byte values (e.g. the token-signing key, wrapped by the keystore before it is stored). */

/* Makes a value for get_or_create: *value is malloc'd. When it is stored it becomes the caller's
 * *value; when storing fails (or another caller won) the store zeroes and frees it. */
typedef ccg_result (*ccg_store_generator)(void *ctx, uint8_t **value, size_t *len);

/* Reads a setting. *found is 0 (and *value NULL) when it is absent, which succeeds. */
CCG_MUST_CHECK ccg_result ccg_store_setting_get(ccg_store *s, const char *name, uint8_t **value, size_t *len,
                                                int *found);
/* Writes (or replaces) a setting. */
CCG_MUST_CHECK ccg_result ccg_store_setting_put(ccg_store *s, const char *name, const uint8_t *value, size_t len,
                                                ccg_time now);
/* Returns the setting, creating it with generate(ctx) when absent, atomically: of any number of
 * callers (threads, processes) exactly one value is ever stored and every caller gets it. The
 * generator runs only when the setting is absent. *created (may be NULL) tells whether this call
 * stored it. *value is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_store_setting_get_or_create(ccg_store *s, const char *name, ccg_store_generator generate,
                                                          void *ctx, ccg_time now, uint8_t **value, size_t *len,
                                                          int *created);

/* ---- GPU reports seen ---------------------------------------------------------------------------
 * The key broker remembers every GPU report it appraised, by digest, with the session that presented it
 * first and when (gpu.report_replayed names a report seen again in another session). Digests are
 * "<alg>:<lowercase hex>" of 1..128 bytes; rows are forgotten after the broker's retention window. */

/* Records digest for session_id unless it is recorded already (the first session keeps it), then says
 * whether the recorded session is another one: *replayed 1 with *first_seen that record's time. Of any
 * number of racing callers exactly one records it. */
CCG_MUST_CHECK ccg_result ccg_store_gpu_report_claim(ccg_store *s, const char *digest, const char *session_id,
                                                     ccg_time now, int *replayed, ccg_time *first_seen);
/* The same question without recording anything; session_id NULL counts any record as another session's. */
CCG_MUST_CHECK ccg_result ccg_store_gpu_report_find(ccg_store *s, const char *digest, const char *session_id,
                                                    int *replayed, ccg_time *first_seen);
/* Forgets the reports first seen before `before`. *removed may be NULL. */
CCG_MUST_CHECK ccg_result ccg_store_gpu_report_purge(ccg_store *s, ccg_time before, int64_t *removed);

#endif
