/* Admin API, provider: release policies (versioned, immutable per version). A provider sets new
 * versions of its own policies and reads them back; the first provider to set a policy ID owns it. */
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

static void policy_set(kbs_admin_call *c)
{
    ccg_kbs_policy *p = NULL;
    char owner[KBS_ADMIN_NAME_MAX + 1];
    char policy_id[sizeof(p->policy_id)];
    int found = 0;
    c->action = "admin.policy.set";
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER)) {
        return;
    }
    if (ccg_failed(ccg_kbs_policy_parse(c->req->body, c->req->body_len, &p))) {
        kbs_admin_fail(c);
        return;
    }
    memcpy(policy_id, p->policy_id, sizeof(policy_id));
    c->ctx.policy_id = policy_id;
    c->ctx.policy_version = p->version;
    ccg_kbs_policy_free(p);
    if (ccg_failed(kbs_admin_owner_get(c->k, "policy", policy_id, owner, &found))) {
        kbs_admin_fail(c);
        return;
    }
    if (found && strcmp(owner, c->who.sub) != 0) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
        return;
    }
    if (!found) {
        ccg_store_doc doc;
        int mine = 0;
        memset(&doc, 0, sizeof(doc));
        if (ccg_ok(ccg_store_policy_get(c->k->store, policy_id, 0, &doc))) {
            ccg_store_doc_free(&doc);
            kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN); /* provisioned outside the admin API */
            return;
        }
        ccg_error_clear();
        /* Claimed before the document is stored: of two providers racing on a new ID, one wins. */
        if (ccg_failed(kbs_admin_owner_claim(c->k, "policy", policy_id, c->who.sub, &mine))) {
            kbs_admin_fail(c);
            return;
        }
        if (!mine) {
            kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
            return;
        }
    }
    if (ccg_failed(ccg_kbs_set_policy(c->k, c->req->body, c->req->body_len))) {
        kbs_admin_fail(c);
        return;
    }
    kbs_admin_ok(c, 201, json_pack("{s:s,s:I}", "policy_id", policy_id, "version", (json_int_t)c->ctx.policy_version));
}

static void policy_get(kbs_admin_call *c, const char *policy_id)
{
    ccg_store_doc doc;
    json_t *body;
    memset(&doc, 0, sizeof(doc));
    c->action = "admin.policy.get";
    c->ctx.policy_id = policy_id;
    if (!kbs_admin_require(c, KBS_ROLE_PROVIDER) || !kbs_admin_owns(c, "policy", policy_id)) {
        return;
    }
    if (ccg_failed(ccg_store_policy_get(c->k->store, policy_id, 0, &doc))) {
        kbs_admin_fail(c);
        return;
    }
    c->ctx.policy_version = doc.version;
    body = json_pack("{s:s,s:I,s:s,s:o}", "policy_id", policy_id, "version", (json_int_t)doc.version, "digest",
                     doc.digest, "document", json_loadb((const char *)doc.body, doc.len, 0, NULL));
    ccg_store_doc_free(&doc);
    kbs_admin_ok(c, 200, body);
}

void kbs_admin_policies(kbs_admin_call *c, const char *rest)
{
    c->action = "admin.policy";
    if (rest[0] == 0 && strcmp(c->req->method, "POST") == 0) {
        policy_set(c);
    } else if (rest[0] == '/' && strcmp(c->req->method, "GET") == 0 && kbs_admin_id_valid(rest + 1)) {
        policy_get(c, rest + 1);
    } else {
        kbs_admin_deny(c, CCG_R_ADMIN_REQUEST_MALFORMED);
    }
}
