/* The PostgreSQL backend of the store (libpq): one file per concern (schema, keys, documents, sessions,
 * settings, owners, GPU reports); pg_backend.c assembles them into ccg_store_pg_ops. impl is a ccg_pg *. */
#ifndef CCGATE_PG_STORE_H
#define CCGATE_PG_STORE_H

#include "pg_db.h"
#include "store_backend.h"

/* pg_schema.c */
CCG_MUST_CHECK ccg_result ccg_pg_store_migrate(ccg_pg *h);
ccg_result ccg_pg_store_schema_version(void *impl, int64_t *version);
ccg_result ccg_pg_store_integrity_check(void *impl);

/* pg_keys.c */
ccg_result ccg_pg_key_import(void *impl, const ccg_store_key_spec *spec, ccg_time now);
ccg_result ccg_pg_key_rotate(void *impl, const ccg_store_key_spec *spec, ccg_time now);
ccg_result ccg_pg_key_set_state(void *impl, const char *key_id, int64_t version, ccg_key_state to, ccg_time now);
ccg_result ccg_pg_key_get(void *impl, const char *key_id, int64_t version, ccg_store_key *out);
ccg_result ccg_pg_key_list(void *impl, const char *key_id, ccg_store_key **out, size_t *count);
ccg_result ccg_pg_key_rewrap(void *impl, const char *key_id, int64_t version, const char *old_label,
                             const char *new_label, const uint8_t *wrapped, size_t wrapped_len, ccg_time now);

/* pg_docs.c */
ccg_result ccg_pg_doc_put(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version,
                              const uint8_t *body, size_t len, const char *digest, ccg_time now);
ccg_result ccg_pg_doc_get(void *impl, ccg_store_doc_kind kind, const char *id, int64_t version,
                              ccg_store_doc *out);
ccg_result ccg_pg_doc_versions(void *impl, ccg_store_doc_kind kind, const char *id, int64_t **versions,
                                   size_t *count);

/* pg_sessions.c */
ccg_result ccg_pg_session_create(void *impl, const char *session_id, const char *nonce, const char *tee,
                                     ccg_time now, ccg_time expires_at);
ccg_result ccg_pg_session_get(void *impl, const char *session_id, ccg_store_session *out, int *found);
ccg_result ccg_pg_session_consume_nonce(void *impl, const char *session_id, const char *nonce, ccg_time now,
                                            ccg_session_status *status);
ccg_result ccg_pg_session_attest(void *impl, const char *session_id, const char *claims_json, ccg_time now,
                                     ccg_time expires_at, ccg_session_status *status);
ccg_result ccg_pg_session_purge(void *impl, ccg_time before, int64_t *removed);

/* pg_owners.c */
ccg_result ccg_pg_owner_get(void *impl, ccg_store_owned kind, const char *id, ccg_store_owner *out, int *found);
ccg_result ccg_pg_owner_claim(void *impl, ccg_store_owned kind, const char *id, const ccg_store_owner *owner,
                                  ccg_time now, int *mine);
ccg_result ccg_pg_owner_unbound(void *impl, ccg_store_owner **subjects, size_t *count);
ccg_result ccg_pg_owner_bind(void *impl, const char *subject, const char *issuer, ccg_time now, int64_t *bound);

/* pg_gpu_reports.c */
ccg_result ccg_pg_gpu_report_seen(void *impl, const char *digest, const char *session_id, ccg_time now,
                                      char *first_session, size_t cap, ccg_time *first_seen, int *found);
ccg_result ccg_pg_gpu_report_purge(void *impl, ccg_time before, int64_t *removed);

/* pg_settings.c */
ccg_result ccg_pg_setting_get(void *impl, const char *name, uint8_t **value, size_t *len, int *found);
ccg_result ccg_pg_setting_put(void *impl, const char *name, const uint8_t *value, size_t len, ccg_time now);
ccg_result ccg_pg_setting_get_or_create(void *impl, const char *name, ccg_store_generator generate, void *ctx,
                                            ccg_time now, uint8_t **value, size_t *len, int *created);

#endif
