/* Admin API, provider: model keys. Import wraps the key under the KEK at once (the plaintext lives
 * only in secret memory for the call); disable, enable and rotate act on the live version; cut-over
 * ends the rotation grace of retired versions; transfer gives the key to another owner; listing
 * shows identities and states, never material. A provider acts only on keys it owns (issuer and
 * subject). Each change is checked first, recorded (kbs_admin_intent), then made. */
#include "kbs_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/artifact.h"
#include "ccgate/error.h"

static json_t *key_json(const ccg_store_key *key)
{
    return json_pack("{s:s,s:I,s:s,s:s,s:s,s:I,s:I}", "key_id", key->key_id, "version", (json_int_t)key->version,
                     "state", ccg_key_state_name(key->state), "policy_id", key->policy_id, "kek_label",
                     key->kek_label, "created_at", (json_int_t)key->created_at, "updated_at",
                     (json_int_t)key->updated_at);
}

/* Answers the live version of key_id after a change. */
static void answer_key(kbs_admin_call *c, const char *key_id, unsigned status)
{
    ccg_store_key key;
    memset(&key, 0, sizeof(key));
    if (ccg_failed(ccg_store_key_get(c->k->store, key_id, 0, &key))) {
        kbs_admin_fail(c);
        return;
    }
    c->ctx.key_version = key.version;
    if (c->ctx.policy_id == NULL) {
        c->ctx.policy_id = key.policy_id;
    }
    kbs_admin_ok(c, status, key_json(&key));
    c->ctx.policy_id = NULL;
    ccg_store_key_free(&key);
}

static void key_import(kbs_admin_call *c)
{
    kbs_admin_key_doc doc;
    ccg_store_key existing;
    char key_id[CCG_STORE_ID_MAX + 1], policy_id[CCG_STORE_ID_MAX + 1];
    int ok = 0;
    c->action = "admin.key.import";
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER)) {
        return;
    }
    if (ccg_failed(kbs_admin_parse_key_import(c->req->body, c->req->body_len, c->k->allow_unlocked, &doc))) {
        kbs_admin_fail(c);
        return;
    }
    memset(&existing, 0, sizeof(existing));
    memcpy(key_id, doc.key_id, sizeof(key_id));
    memcpy(policy_id, doc.policy_id, sizeof(policy_id));
    c->ctx.key_id = key_id;
    c->ctx.key_version = 1;
    c->ctx.policy_id = policy_id;
    /* Every check before the record of the change; the record before the change. */
    if (!ccg_key_id_valid(key_id)) {
        kbs_admin_deny(c, CCG_R_KEY_ID_INVALID); /* repo/type/tag, the one key ID rule */
    } else if (kbs_admin_policy_reserved(c->k, policy_id)) {
        kbs_admin_deny(c, CCG_R_ADMIN_POLICY_RESERVED);
    } else if (!kbs_admin_owns(c, CCG_OWNED_POLICY, policy_id) ||
               kbs_admin_may_create(c, CCG_OWNED_KEY, key_id) != 0) {
        /* answered */
    } else if (ccg_ok(ccg_store_key_get(c->k->store, key_id, 0, &existing))) {
        /* Another provider may have claimed and imported the ID since the owner was read above (seen
         * on PostgreSQL by test_kbs_owner_race): read it again, so that the loser of that race gets
         * admin.forbidden, as the claim's loser does, and only the owner hears "rotate it instead". */
        if (kbs_admin_owns(c, CCG_OWNED_KEY, key_id)) {
            kbs_admin_deny(c, CCG_R_STORE_CONFLICT); /* the caller's own key: rotate it instead */
        }
    } else if (ccg_error_reason() != CCG_R_KEY_NOT_FOUND) {
        kbs_admin_fail(c); /* the store did not answer */
    } else if (ccg_error_clear(), !kbs_admin_intent(c) || !kbs_admin_claim(c, CCG_OWNED_KEY, key_id)) {
        /* answered */
    } else if (ccg_failed(ccg_kbs_import_key(c->k, key_id, policy_id, &doc.key))) {
        kbs_admin_fail(c);
    } else {
        ok = 1;
    }
    ccg_store_key_free(&existing);
    kbs_admin_key_doc_clear(&doc); /* the plaintext is gone before the answer */
    if (ok) {
        answer_key(c, key_id, 201);
    }
}

static void key_change(kbs_admin_call *c, const char *key_id, const char *verb)
{
    kbs_admin_key_doc doc;
    ccg_store_key live;
    int rotate = strcmp(verb, "rotate") == 0;
    ccg_key_state to = strcmp(verb, "disable") == 0 ? CCG_KEY_DISABLED : CCG_KEY_ACTIVE;
    ccg_result changed;
    memset(&doc, 0, sizeof(doc));
    memset(&live, 0, sizeof(live));
    c->action = strcmp(verb, "disable") == 0  ? "admin.key.disable"
                : strcmp(verb, "enable") == 0 ? "admin.key.enable"
                                              : "admin.key.rotate";
    c->ctx.key_id = key_id;
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER) || !kbs_admin_owns(c, CCG_OWNED_KEY, key_id)) {
        return;
    }
    if (ccg_failed(ccg_store_key_get(c->k->store, key_id, 0, &live))) {
        kbs_admin_fail(c);
        return;
    }
    c->ctx.key_version = rotate ? live.version + 1 : live.version;
    if (!rotate && c->req->body_len != 0) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
    } else if (rotate &&
               ccg_failed(kbs_admin_parse_key_rotate(c->req->body, c->req->body_len, c->k->allow_unlocked, &doc))) {
        kbs_admin_fail(c);
    } else if (rotate ? live.state == CCG_KEY_RETIRED : !ccg_key_transition_allowed(live.state, to)) {
        kbs_admin_deny(c, CCG_R_STORE_CONFLICT); /* disabled twice, or a retired key */
    } else if (kbs_admin_intent(c)) {
        changed = rotate ? kbs_rotate_key_to(c->k, key_id, live.version + 1, &doc.key)
                         : ccg_store_key_set_state(c->k->store, key_id, live.version, to, c->now);
        kbs_admin_key_doc_clear(&doc);
        if (ccg_failed(changed)) {
            kbs_admin_fail(c);
        } else {
            answer_key(c, key_id, 200);
        }
    }
    kbs_admin_key_doc_clear(&doc);
    ccg_store_key_free(&live);
}

/* A small JSON object body of exactly the members `known` (an empty body is an empty object). */
static json_t *small_body(kbs_admin_call *c, const char *const *known, size_t n_known)
{
    json_t *doc, *v;
    const char *name;
    if (c->req->body_len == 0) {
        return json_object();
    }
    doc = c->req->body_len <= 4096 ? json_loadb(c->req->body, c->req->body_len, JSON_REJECT_DUPLICATES, NULL) : NULL;
    if (!json_is_object(doc)) {
        json_decref(doc);
        return NULL;
    }
    json_object_foreach(doc, name, v) {
        int ok = 0;
        for (size_t i = 0; i < n_known; i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        if (!ok) {
            json_decref(doc);
            return NULL;
        }
    }
    return doc;
}

/* POST /keys/<id>/cut-over {"version": N}? : ends the grace of that retired version (of every retired
 * version without one); a guest asking for it gets key.retired from now on. */
static void key_cut_over(kbs_admin_call *c, const char *key_id)
{
    static const char *const known[] = {"version"};
    json_t *doc = NULL;
    const json_t *v;
    ccg_store_key key;
    int64_t version = 0, ended = 0;
    memset(&key, 0, sizeof(key));
    c->action = "admin.key.cut_over";
    c->ctx.key_id = key_id;
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER) || !kbs_admin_owns(c, CCG_OWNED_KEY, key_id)) {
        return;
    }
    doc = small_body(c, known, 1);
    v = json_object_get(doc, "version");
    if (doc == NULL || (v != NULL && (!json_is_integer(v) || json_integer_value(v) < 1))) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        goto cleanup;
    }
    version = v != NULL ? json_integer_value(v) : 0;
    c->ctx.key_version = version;
    if (ccg_failed(ccg_store_key_get(c->k->store, key_id, version, &key))) {
        kbs_admin_fail(c);
    } else if (version != 0 && key.state != CCG_KEY_RETIRED) {
        kbs_admin_deny(c, CCG_R_STORE_CONFLICT); /* only a retired version has a grace to end */
    } else if (!kbs_admin_intent(c)) {
        /* answered */
    } else if (ccg_failed(ccg_store_key_end_grace(c->k->store, key_id, version, c->now, &ended))) {
        kbs_admin_fail(c);
    } else {
        kbs_admin_ok(c, 200, json_pack("{s:s,s:I,s:I}", "key_id", key_id, "version", (json_int_t)version, "ended",
                                       (json_int_t)ended));
    }
cleanup:
    json_decref(doc);
    ccg_store_key_free(&key);
}

/* POST /keys/<id>/transfer {"issuer","subject"}: the owner gives its key to another provider, one a
 * configured admin issuer may assert (else the key would have no usable owner). Atomic against a
 * concurrent transfer: only the recorded owner's call takes effect. */
static void key_transfer(kbs_admin_call *c, const char *key_id)
{
    static const char *const known[] = {"issuer", "subject"};
    json_t *doc = NULL, *claims = NULL;
    const char *issuer, *subject;
    ccg_store_owner from, to;
    int done = 0;
    c->action = "admin.key.transfer";
    c->ctx.key_id = key_id;
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER) || !kbs_admin_owns(c, CCG_OWNED_KEY, key_id)) {
        return;
    }
    doc = small_body(c, known, 2);
    issuer = json_string_value(json_object_get(doc, "issuer"));
    subject = json_string_value(json_object_get(doc, "subject"));
    if (issuer == NULL || subject == NULL || !kbs_admin_id_valid(issuer) || !kbs_admin_id_valid(subject) ||
        strlen(issuer) > CCG_STORE_OWNER_MAX || strlen(subject) > CCG_STORE_OWNER_MAX) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        goto cleanup;
    }
    if (!kbs_admin_provider_may_own(c->k, issuer, subject)) {
        kbs_admin_deny(c, CCG_R_ADMIN_SUBJECT_NOT_PERMITTED); /* no configured issuer asserts that owner */
        goto cleanup;
    }
    memset(&from, 0, sizeof(from));
    memset(&to, 0, sizeof(to));
    snprintf(from.issuer, sizeof(from.issuer), "%s", c->who.issuer);
    snprintf(from.subject, sizeof(from.subject), "%s", c->who.sub);
    snprintf(to.issuer, sizeof(to.issuer), "%s", issuer);
    snprintf(to.subject, sizeof(to.subject), "%s", subject);
    /* The records (intent, refusal) name the owner the key is given to, as owner_transfers does. */
    claims = json_pack("{s:s,s:s}", "new_owner_issuer", issuer, "new_owner_subject", subject);
    if (claims == NULL) {
        kbs_admin_deny(c, CCG_R_INTERNAL_OUT_OF_MEMORY);
        goto cleanup;
    }
    c->ctx.presented = claims;
    if (!kbs_admin_intent(c)) {
        /* answered */
    } else if (ccg_failed(ccg_store_owner_transfer(c->k->store, CCG_OWNED_KEY, key_id, &from, &to, c->now, &done))) {
        kbs_admin_fail(c);
    } else if (!done) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN); /* another transfer won: the caller no longer owns it */
    } else {
        kbs_admin_ok(c, 200, json_pack("{s:s,s:s,s:s}", "key_id", key_id, "issuer", issuer, "owner", subject));
    }
cleanup:
    c->ctx.presented = NULL;
    json_decref(claims);
    json_decref(doc);
}

static void key_list(kbs_admin_call *c, const char *key_id)
{
    ccg_store_key *keys = NULL;
    size_t n = 0;
    json_t *arr;
    c->action = "admin.key.list";
    c->ctx.key_id = key_id;
    if (c->who.role != KBS_ROLE_PROVIDER && c->who.role != KBS_ROLE_OPERATOR) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
        return;
    }
    if (key_id != NULL && c->who.role == KBS_ROLE_PROVIDER && !kbs_admin_owns(c, CCG_OWNED_KEY, key_id)) {
        return;
    }
    if (ccg_failed(ccg_store_key_list(c->k->store, key_id, &keys, &n))) {
        kbs_admin_fail(c);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) {
        if (c->who.role == KBS_ROLE_PROVIDER) {
            ccg_store_owner owner;
            int found = 0;
            if (ccg_failed(ccg_store_owner_get(c->k->store, CCG_OWNED_KEY, keys[i].key_id, &owner, &found)) ||
                !found || strcmp(owner.issuer, c->who.issuer) != 0 || strcmp(owner.subject, c->who.sub) != 0) {
                ccg_error_clear();
                continue;
            }
        }
        json_array_append_new(arr, key_json(&keys[i]));
    }
    ccg_store_key_list_free(keys, n);
    kbs_admin_ok(c, 200, arr == NULL ? NULL : json_pack("{s:o}", "keys", arr));
}

void kbs_admin_keys(kbs_admin_call *c, const char *rest)
{
    const char *m = c->req->method;
    char id[CCG_STORE_ID_MAX + 1];
    const char *slash;
    size_t n;
    if (rest[0] == 0) {
        if (strcmp(m, "POST") == 0) {
            key_import(c);
        } else if (strcmp(m, "GET") == 0) {
            key_list(c, NULL);
        } else {
            c->action = "admin.key";
            kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        }
        return;
    }
    rest++; /* the '/' */
    if (strcmp(m, "GET") == 0) {
        c->action = "admin.key.list";
        if (!kbs_admin_id_valid(rest)) {
            kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
            return;
        }
        key_list(c, rest);
        return;
    }
    /* POST /keys/<key-id>/<disable|enable|rotate|cut-over|transfer>; key IDs may hold '/', the verb is
     * the last segment. */
    slash = strrchr(rest, '/');
    c->action = "admin.key";
    if (strcmp(m, "POST") != 0 || slash == NULL ||
        (strcmp(slash + 1, "disable") != 0 && strcmp(slash + 1, "enable") != 0 && strcmp(slash + 1, "rotate") != 0 &&
         strcmp(slash + 1, "cut-over") != 0 && strcmp(slash + 1, "transfer") != 0)) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    n = (size_t)(slash - rest);
    if (n == 0 || n > CCG_STORE_ID_MAX) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    memcpy(id, rest, n);
    id[n] = 0;
    if (!kbs_admin_id_valid(id)) {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
        return;
    }
    if (strcmp(slash + 1, "cut-over") == 0) {
        key_cut_over(c, id);
    } else if (strcmp(slash + 1, "transfer") == 0) {
        key_transfer(c, id);
    } else {
        key_change(c, id, slash + 1);
    }
}
