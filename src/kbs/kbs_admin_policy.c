/* Admin API: release policies (versioned, immutable per version). A provider sets new versions of its
 * own policies and reads them back; the first provider (issuer, subject) to set a policy ID owns it.
 * The broker-wide attestation policy (config "attestation_policy") is the operator's alone. */
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

static void policy_set(kbs_admin_call *c)
{
    ccg_kbs_policy *p = NULL;
    char policy_id[sizeof(p->policy_id)];
    int reserved;
    c->action = "admin.policy.set";
    if (c->who.role != KBS_ROLE_PROVIDER && c->who.role != KBS_ROLE_OPERATOR) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
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
    /* The broker-wide attestation policy gates every tenant's guests: the operator's alone. Any other
     * policy belongs to the provider (issuer, subject) that set its first version. */
    reserved = kbs_admin_policy_reserved(c->k, policy_id);
    if (reserved && c->who.role != KBS_ROLE_OPERATOR) {
        kbs_admin_deny(c, CCG_R_ADMIN_POLICY_RESERVED);
        return;
    }
    if (!reserved && (!kbs_admin_require(c, KBS_ROLE_PROVIDER) ||
                      kbs_admin_may_create(c, CCG_OWNED_POLICY, policy_id) != 0)) {
        return;
    }
    /* Recorded first; the claim comes after the record (of two providers racing on a new ID, one wins). */
    if (!kbs_admin_intent(c) || (!reserved && !kbs_admin_claim(c, CCG_OWNED_POLICY, policy_id))) {
        return;
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
    if (kbs_admin_policy_reserved(c->k, policy_id)) {
        if (c->who.role != KBS_ROLE_OPERATOR) {
            kbs_admin_deny(c, CCG_R_ADMIN_POLICY_RESERVED);
            return;
        }
    } else if (!kbs_admin_require(c, KBS_ROLE_PROVIDER) || !kbs_admin_owns(c, CCG_OWNED_POLICY, policy_id)) {
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
