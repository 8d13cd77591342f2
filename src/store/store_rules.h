/* The rules both store backends enforce, written once (store_rules.c). A backend runs its own SQL in
 * its own transaction and hands what it read to these functions, which decide with the same reason
 * codes and messages on SQLite and PostgreSQL: key import, rotation, state transitions, grace and
 * re-wrap; document immutability and staleness; owner transfers; generated settings. Rows are read
 * through ccg_store_row, so a key, document, owner or GPU report row is decoded (and checked as
 * untrusted) in one place. */
#ifndef CCGATE_STORE_RULES_H
#define CCGATE_STORE_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/store.h"

/* One row of a backend's result: its column readers (a NULL, a wrong type or an over-long value is
 * store.corrupt), the result they read, and the row's index (SQLite's statement ignores it). */
typedef struct {
    ccg_result (*text)(const void *src, int row, int col, char *out, size_t out_size);
    ccg_result (*integer)(const void *src, int row, int col, int64_t *out);
    ccg_result (*bytes)(const void *src, int row, int col, size_t max, int allow_null, uint8_t **out,
                        size_t *len);
} ccg_store_col_ops;

typedef struct {
    const ccg_store_col_ops *ops;
    const void *src;
    int row;
} ccg_store_row;

/* ---- keys ---- */
/* The SELECT list every key read uses, in this order (ccg_store_row_key reads it). */
#define CCG_STORE_KEY_COLUMNS                                                                                  \
    "key_id, version, state, kek_label, policy_id, created_at, updated_at, wrapped, releasable_until, retired_at"

/* "active" / "disabled" / "retired"; anything else is store.corrupt. */
CCG_MUST_CHECK ccg_result ccg_store_key_state_parse(const char *text, ccg_key_state *state);
/* Column col of row as a key state. */
CCG_MUST_CHECK ccg_result ccg_store_row_state(ccg_store_row row, int col, ccg_key_state *state);
/* A row of CCG_STORE_KEY_COLUMNS; the wrapped blob (and its magic) only when with_wrapped. */
CCG_MUST_CHECK ccg_result ccg_store_row_key(ccg_store_row row, int with_wrapped, ccg_store_key *out);

/* policies: how many rows policy_id has (1: it exists); otherwise key.not_found. */
CCG_MUST_CHECK ccg_result ccg_store_rule_policy(const char *policy_id, int64_t n);
/* import: count versions of the key exist (newest the highest); any is store.conflict. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_import(const char *key_id, int64_t count, int64_t newest);
/* rotate: the key exists (key.not_found) and the new version is above the newest (store.conflict). */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_rotate(const ccg_store_key_spec *spec, int64_t count, int64_t newest);
/* rotate: a live (non-retired) version was found; none is store.conflict. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_live(const char *key_id, int found);
/* a key (version 0: any version) was found; otherwise key.not_found. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_found(const char *key_id, int64_t version, int found);
/* set_state: ccg_key_transition_allowed(from, to), else store.conflict. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_transition(const char *key_id, int64_t version, ccg_key_state from,
                                                        ccg_key_state to);
/* set_state: the conditional UPDATE changed exactly one row; otherwise another writer was first. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_changed(const char *key_id, int64_t version, int64_t changed);
/* end_grace: the key exists and version (0: all) is not above its newest; otherwise key.not_found. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_end_grace(const char *key_id, int64_t version, int64_t count,
                                                       int64_t newest);
/* rewrap changed no row: key.not_found when the version does not exist, else store.conflict (it is no
 * longer under old_label). Always a failure. */
CCG_MUST_CHECK ccg_result ccg_store_rule_key_rewrap_missed(const char *key_id, int64_t version, int exists,
                                                           const char *old_label);

/* ---- documents ---- */
/* The reason a missing document of kind carries, and the largest body a row of kind may hold. */
ccg_reason ccg_store_doc_not_found(ccg_store_doc_kind kind);
size_t ccg_store_doc_max(ccg_store_doc_kind kind);
/* put: (id, version) exists with stored_digest; the same digest is a retry, another store.conflict. */
CCG_MUST_CHECK ccg_result ccg_store_rule_doc_same(ccg_store_doc_kind kind, const char *id, int64_t version,
                                                  const char *stored_digest, const char *digest);
/* put: a new version must be above the newest stored (store.conflict). */
CCG_MUST_CHECK ccg_result ccg_store_rule_doc_newer(ccg_store_doc_kind kind, const char *id, int64_t version,
                                                   int64_t newest);
/* get: the document (version 0: any version) was found; otherwise the kind's not-found reason. */
CCG_MUST_CHECK ccg_result ccg_store_rule_doc_found(ccg_store_doc_kind kind, const char *id, int64_t version,
                                                   int found);
/* A row of (version, body, digest, created_at) into out. */
CCG_MUST_CHECK ccg_result ccg_store_row_doc(ccg_store_row row, ccg_store_doc_kind kind, const char *id,
                                            ccg_store_doc *out);

/* ---- owners ---- */
/* The owners table's kind column: "key" or "policy". */
const char *ccg_store_owned_name(ccg_store_owned kind);
/* A row of (issuer, subject); a row without a subject is store.corrupt. */
CCG_MUST_CHECK ccg_result ccg_store_row_owner(ccg_store_row row, ccg_store_owner *out);
int ccg_store_owner_same(const ccg_store_owner *a, const ccg_store_owner *b);
/* A transfer goes ahead when no from is given (a host's override) or from is the recorded owner.
 * *recorded is cleared when there was none, so the transfer record names an empty former owner. */
int ccg_store_owner_may_transfer(const ccg_store_owner *from, ccg_store_owner *recorded, int found);

/* ---- settings ---- */
/* Runs the generator for an absent setting: it must make 1..CCG_STORE_SETTING_MAX bytes. */
CCG_MUST_CHECK ccg_result ccg_store_setting_generate(const char *name, ccg_store_generator generate, void *ctx,
                                                     uint8_t **fresh, size_t *len);
/* Zeroes and frees a setting's value (settings hold secrets) and clears the pointer and length. */
void ccg_store_setting_drop(uint8_t **value, size_t *len);

/* ---- GPU reports ---- */
/* A row of (session_id, first_seen). */
CCG_MUST_CHECK ccg_result ccg_store_row_gpu_report(ccg_store_row row, char *first_session, size_t cap,
                                                   ccg_time *first_seen);

#endif
