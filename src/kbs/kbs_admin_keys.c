/* Admin API, provider: model keys. Import wraps the key under the KEK at once (the plaintext lives
 * only in secret memory for the call); disable, enable and rotate act on the live version; listing
 * shows identities and states, never material. A provider acts only on keys it owns. */
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

/* See kbs_admin.h. */
int kbs_admin_owns(kbs_admin_call *c, const char *kind, const char *id)
{
    char owner[KBS_ADMIN_NAME_MAX + 1];
    int found = 0;
    ccg_store_key key;
    ccg_store_doc doc;
    ccg_result r;
    if (ccg_failed(kbs_admin_owner_get(c->k, kind, id, owner, &found))) {
        kbs_admin_fail(c);
        return 0;
    }
    if (found) {
        if (strcmp(owner, c->who.sub) == 0) {
            return 1;
        }
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
        return 0;
    }
    /* No owner recorded: provisioned outside the admin API (no provider may act on it) or absent. */
    memset(&key, 0, sizeof(key));
    memset(&doc, 0, sizeof(doc));
    r = strcmp(kind, "key") == 0 ? ccg_store_key_get(c->k->store, id, 0, &key)
                                 : ccg_store_policy_get(c->k->store, id, 0, &doc);
    ccg_store_key_free(&key);
    ccg_store_doc_free(&doc);
    if (ccg_ok(r)) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
    } else {
        kbs_admin_fail(c);
    }
    return 0;
}

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
    char owner[KBS_ADMIN_NAME_MAX + 1];
    char key_id[CCG_STORE_ID_MAX + 1], policy_id[CCG_STORE_ID_MAX + 1];
    int found = 0, ok = 0;
    c->action = "admin.key.import";
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER)) {
        return;
    }
    if (ccg_failed(kbs_admin_parse_key_import(c->req->body, c->req->body_len, c->k->allow_unlocked, &doc))) {
        kbs_admin_fail(c);
        return;
    }
    memcpy(key_id, doc.key_id, sizeof(key_id));
    memcpy(policy_id, doc.policy_id, sizeof(policy_id));
    c->ctx.key_id = key_id;
    c->ctx.key_version = 1;
    c->ctx.policy_id = policy_id;
    if (kbs_admin_owns(c, "policy", policy_id)) {
        ccg_store_key existing;
        int mine = 0;
        memset(&existing, 0, sizeof(existing));
        if (ccg_failed(kbs_admin_owner_get(c->k, "key", key_id, owner, &found))) {
            kbs_admin_fail(c);
        } else if (found && strcmp(owner, c->who.sub) != 0) {
            kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
        } else if (!found && ccg_ok(ccg_store_key_get(c->k->store, key_id, 0, &existing))) {
            kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN); /* provisioned outside the admin API */
        } else if (ccg_error_clear(), ccg_failed(kbs_admin_owner_claim(c->k, "key", key_id, c->who.sub, &mine))) {
            kbs_admin_fail(c);
        } else if (!mine) {
            kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN); /* another provider claimed it first */
        } else if (ccg_failed(ccg_kbs_import_key(c->k, key_id, policy_id, &doc.key))) {
            kbs_admin_fail(c);
        } else {
            ok = 1;
        }
        ccg_store_key_free(&existing);
    }
    kbs_admin_key_doc_clear(&doc); /* the plaintext is gone before the answer */
    if (ok) {
        answer_key(c, key_id, 201);
    }
}

static void key_change(kbs_admin_call *c, const char *key_id, const char *verb)
{
    kbs_admin_key_doc doc;
    ccg_store_key live;
    memset(&doc, 0, sizeof(doc));
    memset(&live, 0, sizeof(live));
    c->action = strcmp(verb, "disable") == 0  ? "admin.key.disable"
                : strcmp(verb, "enable") == 0 ? "admin.key.enable"
                                              : "admin.key.rotate";
    c->ctx.key_id = key_id;
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER) || !kbs_admin_owns(c, "key", key_id)) {
        return;
    }
    if (ccg_ok(ccg_store_key_get(c->k->store, key_id, 0, &live))) {
        c->ctx.key_version = live.version;
    }
    ccg_error_clear();
    ccg_store_key_free(&live);
    if (strcmp(verb, "rotate") == 0) {
        int64_t version = 0;
        if (ccg_failed(kbs_admin_parse_key_rotate(c->req->body, c->req->body_len, c->k->allow_unlocked, &doc)) ||
            ccg_failed(ccg_kbs_rotate_key(c->k, key_id, &doc.key, &version))) {
            kbs_admin_key_doc_clear(&doc);
            kbs_admin_fail(c);
            return;
        }
        kbs_admin_key_doc_clear(&doc);
    } else {
        if (c->req->body_len != 0) {
            kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
            return;
        }
        if (ccg_failed(ccg_kbs_set_key_state(c->k, key_id, strcmp(verb, "disable") == 0 ? "disabled" : "active"))) {
            kbs_admin_fail(c);
            return;
        }
    }
    answer_key(c, key_id, 200);
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
    if (key_id != NULL && c->who.role == KBS_ROLE_PROVIDER && !kbs_admin_owns(c, "key", key_id)) {
        return;
    }
    if (ccg_failed(ccg_store_key_list(c->k->store, key_id, &keys, &n))) {
        kbs_admin_fail(c);
        return;
    }
    arr = json_array();
    for (size_t i = 0; i < n && arr != NULL; i++) {
        if (c->who.role == KBS_ROLE_PROVIDER) {
            char owner[KBS_ADMIN_NAME_MAX + 1];
            int found = 0;
            if (ccg_failed(kbs_admin_owner_get(c->k, "key", keys[i].key_id, owner, &found)) || !found ||
                strcmp(owner, c->who.sub) != 0) {
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
    /* POST /keys/<key-id>/<disable|enable|rotate>; key IDs may hold '/', the verb is the last segment. */
    slash = strrchr(rest, '/');
    c->action = "admin.key";
    if (strcmp(m, "POST") != 0 || slash == NULL ||
        (strcmp(slash + 1, "disable") != 0 && strcmp(slash + 1, "enable") != 0 && strcmp(slash + 1, "rotate") != 0)) {
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
    key_change(c, id, slash + 1);
}
