/* The store's backend interface. store.c checks every argument (IDs, sizes, JSON, the wrapped-key
 * magic) and serialises calls on a handle, then calls the backend through this vtable; a backend
 * only persists and enforces atomicity. The SQLite backend is sqlite_*.c, the PostgreSQL backend
 * pg_*.c (docs/store.md); both implement every operation with the same reason codes and atomicity:
 *   key_import     no version of key_id exists -> insert active; else store.conflict
 *   key_rotate     one transaction: every non-retired version -> retired, insert the new version active
 *   key_set_state  one transaction: read the state, check ccg_key_transition_allowed, write
 *   doc_put        insert once; identical bytes again succeed; other bytes or a stale version conflict
 *   session_consume_nonce  one conditional update (used = 0, not expired, challenged), then classify
 *   setting_get_or_create  the first committed value wins; every caller returns it
 *   owner_claim    one transaction: insert unless recorded, then read the recorded owner
 *   owner_bind     unbound (issuer "") owners of a subject get the issuer; bound owners never change
 *   gpu_report_seen  INSERT ... ON CONFLICT DO NOTHING, then read the row: the first session keeps it */
#ifndef CCGATE_STORE_BACKEND_H
#define CCGATE_STORE_BACKEND_H

#include "ccgate/store.h"

typedef struct {
    const char *name;
    void (*close)(void *impl);
    ccg_result (*schema_version)(void *impl, int64_t *version);
    ccg_result (*integrity_check)(void *impl);
    /* Whether the next commits on this connection are synced (1) or only ordered (0); -1 (before a
     * read) leaves the mode as it is. */
    ccg_result (*set_full_sync)(void *impl, int full);

    ccg_result (*key_import)(void *impl, const ccg_store_key_spec *spec, ccg_time now);
    ccg_result (*key_rotate)(void *impl, const ccg_store_key_spec *spec, ccg_time now);
    ccg_result (*key_set_state)(void *impl, const char *key_id, int64_t version, ccg_key_state to, ccg_time now);
    ccg_result (*key_rewrap)(void *impl, const char *key_id, int64_t version, const char *old_label,
                             const char *new_label, const uint8_t *wrapped, size_t wrapped_len, ccg_time now);
    ccg_result (*key_get)(void *impl, const char *key_id, int64_t version, ccg_store_key *out);
    ccg_result (*key_list)(void *impl, const char *key_id, ccg_store_key **out, size_t *count);

    ccg_result (*doc_put)(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version, const uint8_t *body,
                          size_t len, const char *digest, ccg_time now);
    ccg_result (*doc_get)(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version, ccg_store_doc *out);
    ccg_result (*doc_versions)(void *impl, ccg_store_doc_kind kind, const char *id, int64_t **versions,
                               size_t *count);

    ccg_result (*session_create)(void *impl, const char *session_id, const char *nonce, const char *tee,
                                 ccg_time now, ccg_time expires_at);
    ccg_result (*session_get)(void *impl, const char *session_id, ccg_store_session *out, int *found);
    ccg_result (*session_consume_nonce)(void *impl, const char *session_id, const char *nonce, ccg_time now,
                                        ccg_session_status *status);
    ccg_result (*session_attest)(void *impl, const char *session_id, const char *claims_json, ccg_time now,
                                 ccg_time expires_at, ccg_session_status *status);
    ccg_result (*session_purge)(void *impl, ccg_time before, int64_t *removed);

    ccg_result (*owner_get)(void *impl, ccg_store_owned kind, const char *id, ccg_store_owner *out, int *found);
    ccg_result (*owner_claim)(void *impl, ccg_store_owned kind, const char *id, const ccg_store_owner *owner,
                              ccg_time now, int *mine);
    ccg_result (*owner_unbound)(void *impl, ccg_store_owner **subjects, size_t *count);
    ccg_result (*owner_bind)(void *impl, const char *subject, const char *issuer, ccg_time now, int64_t *bound);

    ccg_result (*setting_get)(void *impl, const char *name, uint8_t **value, size_t *len, int *found);
    ccg_result (*setting_put)(void *impl, const char *name, const uint8_t *value, size_t len, ccg_time now);
    ccg_result (*setting_get_or_create)(void *impl, const char *name, ccg_store_generator generate, void *ctx,
                                        ccg_time now, uint8_t **value, size_t *len, int *created);

    /* session_id NULL: read only. Otherwise insert unless present (one conditional INSERT), then read. */
    ccg_result (*gpu_report_seen)(void *impl, const char *digest, const char *session_id, ccg_time now,
                                  char *first_session, size_t cap, ccg_time *first_seen, int *found);
    ccg_result (*gpu_report_purge)(void *impl, ccg_time before, int64_t *removed);
} ccg_store_ops;

/* The SQLite backend: opens path and returns its implementation handle. */
CCG_MUST_CHECK ccg_result ccg_store_sqlite_open(const char *path, const ccg_store_options *opts, void **impl);
extern const ccg_store_ops ccg_store_sqlite_ops;

/* The PostgreSQL backend: connects to a libpq URI (postgresql://... or postgres://...), migrates the
 * schema, and returns its implementation handle. A lost connection is store.unavailable and the next
 * call on the handle reconnects by itself. */
CCG_MUST_CHECK ccg_result ccg_store_pg_open(const char *url, const ccg_store_options *opts, void **impl);
extern const ccg_store_ops ccg_store_pg_ops;

/* "sha256:<hex>" of bytes into out (72 bytes). */
CCG_MUST_CHECK ccg_result ccg_store_digest(const uint8_t *data, size_t len, char out[72]);

#endif
