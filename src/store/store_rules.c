/* The rules both store backends enforce (store_rules.h): what a backend read decides here, so SQLite
 * and PostgreSQL answer with the same reason codes and messages. No SQL and no I/O in this file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "store_rules.h"

/* ---- keys ---- */

ccg_result ccg_store_key_state_parse(const char *text, ccg_key_state *state)
{
    ccg_result result = CCG_FAILURE;
    if (strcmp(text, "active") == 0) {
        *state = CCG_KEY_ACTIVE;
    } else if (strcmp(text, "disabled") == 0) {
        *state = CCG_KEY_DISABLED;
    } else if (strcmp(text, "retired") == 0) {
        *state = CCG_KEY_RETIRED;
    } else {
        CCG_BAIL(CCG_R_STORE_CORRUPT, "a key has the unknown state '%.16s'", text);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_row_state(ccg_store_row row, int col, ccg_key_state *state)
{
    ccg_result result = CCG_FAILURE;
    char text[16];
    CCG_TRY(row.ops->text(row.src, row.row, col, text, sizeof(text)));
    CCG_TRY(ccg_store_key_state_parse(text, state));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_row_key(ccg_store_row row, int with_wrapped, ccg_store_key *out)
{
    ccg_result result = CCG_FAILURE;
    const ccg_store_col_ops *c = row.ops;
    memset(out, 0, sizeof(*out));
    CCG_TRY(c->text(row.src, row.row, 0, out->key_id, sizeof(out->key_id)));
    CCG_TRY(c->integer(row.src, row.row, 1, &out->version));
    CCG_TRY(ccg_store_row_state(row, 2, &out->state));
    CCG_TRY(c->text(row.src, row.row, 3, out->kek_label, sizeof(out->kek_label)));
    CCG_TRY(c->text(row.src, row.row, 4, out->policy_id, sizeof(out->policy_id)));
    CCG_TRY(c->integer(row.src, row.row, 5, &out->created_at));
    CCG_TRY(c->integer(row.src, row.row, 6, &out->updated_at));
    CCG_TRY(c->integer(row.src, row.row, 8, &out->releasable_until));
    CCG_TRY(c->integer(row.src, row.row, 9, &out->retired_at));
    if (with_wrapped) {
        CCG_TRY(c->bytes(row.src, row.row, 7, CCG_STORE_WRAPPED_MAX, 0, &out->wrapped, &out->wrapped_len));
        CCG_ENSURE_MSG(out->wrapped_len >= CCG_STORE_WRAPPED_MIN &&
                           memcmp(out->wrapped, CCG_STORE_WRAPPED_MAGIC, 4) == 0,
                       CCG_R_STORE_CORRUPT, "key '%s' version %lld holds no wrapped key", out->key_id,
                       (long long)out->version);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_store_key_free(out);
    }
    return result;
}

ccg_result ccg_store_rule_policy(const char *policy_id, int64_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(n == 1, CCG_R_KEY_NOT_FOUND, "policy '%s' does not exist; write it before the key", policy_id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_import(const char *key_id, int64_t count, int64_t newest)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(count == 0, CCG_R_STORE_CONFLICT,
                   "key '%s' exists (%lld versions, newest %lld); rotate it instead of importing", key_id,
                   (long long)count, (long long)newest);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_rotate(const ccg_store_key_spec *spec, int64_t count, int64_t newest)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(count > 0, CCG_R_KEY_NOT_FOUND, "key '%s' does not exist; import it first", spec->key_id);
    CCG_ENSURE_MSG(spec->version > newest, CCG_R_STORE_CONFLICT,
                   "key '%s': the new version %lld is not above the newest version %lld", spec->key_id,
                   (long long)spec->version, (long long)newest);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_live(const char *key_id, int found)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(found, CCG_R_STORE_CONFLICT, "key '%s' has no live version: every version is retired", key_id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_found(const char *key_id, int64_t version, int found)
{
    ccg_result result = CCG_FAILURE;
    if (version == 0) {
        CCG_ENSURE_MSG(found, CCG_R_KEY_NOT_FOUND, "key '%s' does not exist", key_id);
    } else {
        CCG_ENSURE_MSG(found, CCG_R_KEY_NOT_FOUND, "key '%s' version %lld does not exist", key_id,
                       (long long)version);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_transition(const char *key_id, int64_t version, ccg_key_state from, ccg_key_state to)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ccg_key_transition_allowed(from, to), CCG_R_STORE_CONFLICT,
                   "key '%s' version %lld: %s -> %s is not allowed", key_id, (long long)version,
                   ccg_key_state_name(from), ccg_key_state_name(to));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_changed(const char *key_id, int64_t version, int64_t changed)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(changed == 1, CCG_R_STORE_CONFLICT, "key '%s' version %lld changed meanwhile", key_id,
                   (long long)version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_end_grace(const char *key_id, int64_t version, int64_t count, int64_t newest)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(count > 0, CCG_R_KEY_NOT_FOUND, "key '%s' does not exist", key_id);
    CCG_ENSURE_MSG(version <= newest, CCG_R_KEY_NOT_FOUND, "key '%s' version %lld does not exist", key_id,
                   (long long)version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_key_rewrap_missed(const char *key_id, int64_t version, int exists, const char *old_label)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_store_rule_key_found(key_id, version, exists));
    CCG_BAIL(CCG_R_STORE_CONFLICT, "key '%s' version %lld is no longer wrapped under KEK \"%s\"", key_id,
             (long long)version, old_label);
cleanup:
    return result;
}

/* ---- documents ---- */

ccg_reason ccg_store_doc_not_found(ccg_store_doc_kind kind)
{
    switch (kind) {
    case CCG_DOC_POLICY: return CCG_R_KEY_NOT_FOUND;
    case CCG_DOC_REFVAL_SET: return CCG_R_REFVAL_SET_MISSING;
    case CCG_DOC_COLLATERAL: return CCG_R_COLLATERAL_MISSING;
    }
    return CCG_R_INPUT_MALFORMED;
}

size_t ccg_store_doc_max(ccg_store_doc_kind kind)
{
    return kind == CCG_DOC_COLLATERAL ? CCG_STORE_BLOB_MAX : CCG_STORE_JSON_MAX;
}

ccg_result ccg_store_rule_doc_same(ccg_store_doc_kind kind, const char *id, int64_t version, const char *stored_digest,
                                   const char *digest)
{
    ccg_result result = CCG_FAILURE;
    /* Written once, never changed: the same bytes again are a retry; other bytes conflict. */
    CCG_ENSURE_MSG(strcmp(stored_digest, digest) == 0, CCG_R_STORE_CONFLICT,
                   "%s '%s' version %lld exists with other content; versions are immutable",
                   ccg_store_doc_kind_name(kind), id, (long long)version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_doc_newer(ccg_store_doc_kind kind, const char *id, int64_t version, int64_t newest)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(version > newest, CCG_R_STORE_CONFLICT, "%s '%s': version %lld is stale, the newest is %lld",
                   ccg_store_doc_kind_name(kind), id, (long long)version, (long long)newest);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_rule_doc_found(ccg_store_doc_kind kind, const char *id, int64_t version, int found)
{
    ccg_result result = CCG_FAILURE;
    if (version == 0) {
        CCG_ENSURE_MSG(found, ccg_store_doc_not_found(kind), "%s '%s' does not exist", ccg_store_doc_kind_name(kind),
                       id);
    } else {
        CCG_ENSURE_MSG(found, ccg_store_doc_not_found(kind), "%s '%s' version %lld does not exist",
                       ccg_store_doc_kind_name(kind), id, (long long)version);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_store_row_doc(ccg_store_row row, ccg_store_doc_kind kind, const char *id, ccg_store_doc *out)
{
    ccg_result result = CCG_FAILURE;
    const ccg_store_col_ops *c = row.ops;
    out->kind = kind;
    snprintf(out->id, sizeof(out->id), "%s", id);
    CCG_TRY(c->integer(row.src, row.row, 0, &out->version));
    CCG_TRY(c->bytes(row.src, row.row, 1, ccg_store_doc_max(kind), 0, &out->body, &out->len));
    CCG_TRY(c->text(row.src, row.row, 2, out->digest, sizeof(out->digest)));
    CCG_TRY(c->integer(row.src, row.row, 3, &out->created_at));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---- owners ---- */

const char *ccg_store_owned_name(ccg_store_owned kind) { return kind == CCG_OWNED_KEY ? "key" : "policy"; }

ccg_result ccg_store_row_owner(ccg_store_row row, ccg_store_owner *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(row.ops->text(row.src, row.row, 0, out->issuer, sizeof(out->issuer)));
    CCG_TRY(row.ops->text(row.src, row.row, 1, out->subject, sizeof(out->subject)));
    CCG_ENSURE_MSG(out->subject[0] != 0, CCG_R_STORE_CORRUPT, "an owner row has no subject");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_store_owner_same(const ccg_store_owner *a, const ccg_store_owner *b)
{
    return strcmp(a->issuer, b->issuer) == 0 && strcmp(a->subject, b->subject) == 0;
}

int ccg_store_owner_may_transfer(const ccg_store_owner *from, ccg_store_owner *recorded, int found)
{
    if (from != NULL && (!found || !ccg_store_owner_same(recorded, from))) {
        return 0; /* not the caller's to give: nothing changes */
    }
    if (!found) {
        memset(recorded, 0, sizeof(*recorded));
    }
    return 1;
}

/* ---- settings ---- */

ccg_result ccg_store_setting_generate(const char *name, ccg_store_generator generate, void *ctx, uint8_t **fresh,
                                      size_t *len)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(generate(ctx, fresh, len));
    CCG_ENSURE_MSG(*fresh != NULL && *len > 0 && *len <= CCG_STORE_SETTING_MAX, CCG_R_INTERNAL_ERROR,
                   "the generator for setting '%s' made no value of 1..%u bytes", name, CCG_STORE_SETTING_MAX);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_store_setting_drop(uint8_t **value, size_t *len)
{
    if (value == NULL || *value == NULL) {
        return;
    }
    OPENSSL_cleanse(*value, *len);
    free(*value);
    *value = NULL;
    *len = 0;
}

/* ---- GPU reports ---- */

ccg_result ccg_store_row_gpu_report(ccg_store_row row, char *first_session, size_t cap, ccg_time *first_seen)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(row.ops->text(row.src, row.row, 0, first_session, cap));
    CCG_TRY(row.ops->integer(row.src, row.row, 1, first_seen));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
