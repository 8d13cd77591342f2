/* POST /kbs/v0/explain (only with "explain": true in the configuration): which checks of a release
 * policy given evidence would pass or fail, with every failed check's details. Nothing is released,
 * no nonce is consumed and no token is issued; REPORT_DATA is checked against the runtime data in
 * the body. The answer shows a policy's expectations (e.g. allowed measurements), so it needs an admin
 * token of the operator role (any policy) or the provider role (its own policies only): unauthenticated
 * is admin.unauthenticated (401), another role admin.forbidden (403), as on /admin/v0.
 *
 *   {"policy_id": "model-a", "tee": "snp", "attestation": <the /kbs/v0/attest body a guest sends:
 *    {"runtime-data": {"nonce","tee-pubkey"}, "tee-evidence": {"primary_evidence","additional_evidence"}}>}
 *   -> 200 {"decision","reasons":[{"code","component","kind","message","details"}],"policy_id",
 *           "policy_version","evidence_type","evidence_digest","claims"} */
#include "kbs_internal.h"
#include "kbs_admin.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

void kbs_handle_explain(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp)
{
    static const char action[] = "kbs.explain";
    ccg_time now = kbs_now(k);
    kbs_context ctx = {.request_id = req->request_id};
    json_t *root = NULL, *body, *presented = NULL;
    const json_t *pid, *tee, *att_json;
    char *att_text = NULL;
    ccg_kbs_attestation att;
    const ccg_kbs_policy *policy = NULL;
    kbs_policy_ref *policy_ref = NULL;
    ccg_decision d;
    int have_decision = 0;
    json_error_t jerr;
    kbs_admin_call c;

    memset(&att, 0, sizeof(att));
    memset(&c, 0, sizeof(c));
    c.k = k;
    c.req = req;
    c.resp = resp;
    c.now = now;
    c.action = action;
    c.ctx.request_id = req->request_id;
    /* The caller first: an operator, or a provider for its own policy (checked once the ID is read). */
    if (ccg_failed(kbs_admin_authenticate(k->admin_issuers, req->authorization, now, &c.who))) {
        kbs_admin_fail(&c);
        goto cleanup;
    }
    if (c.who.role != KBS_ROLE_OPERATOR && c.who.role != KBS_ROLE_PROVIDER) {
        kbs_admin_deny(&c, CCG_R_ADMIN_FORBIDDEN);
        goto cleanup;
    }
    root = req->body_len <= CCG_KBS_MAX_BODY ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                                              : NULL;
    pid = json_object_get(root, "policy_id");
    tee = json_object_get(root, "tee");
    att_json = json_object_get(root, "attestation");
    if (!json_is_object(root) || json_object_size(root) != 3 || !json_is_string(pid) || !json_is_string(tee) ||
        !json_is_object(att_json)) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_REQUEST_MALFORMED, 400, now);
        goto cleanup;
    }
    c.ctx.policy_id = json_string_value(pid);
    if (c.who.role == KBS_ROLE_PROVIDER && !kbs_admin_owns(&c, CCG_OWNED_POLICY, json_string_value(pid))) {
        goto cleanup; /* answered: another provider's policy, or one provisioned on the host */
    }
    att_text = json_dumps(att_json, JSON_COMPACT);
    if (att_text == NULL || ccg_failed(ccg_kbs_attestation_parse_tee(att_text, strlen(att_text),
                                                                   strcmp(json_string_value(tee), "tdx") == 0 ? "tdx"
                                                                                                             : "snp",
                                                                   &att))) {
        kbs_deny(k, resp, action, &ctx, att_text == NULL ? CCG_R_INTERNAL_OUT_OF_MEMORY : ccg_error_reason(), 400,
                 now);
        goto cleanup;
    }
    if (ccg_failed(kbs_load_policy(k, json_string_value(pid), &policy, &policy_ref))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 404, now);
        goto cleanup;
    }
    kbs_evaluate(k, policy, json_string_value(tee), &att.snp, &att.tdx, NULL, att.nonce, att.tee_pubkey,
                 att.additional_evidence, now, &d, NULL);
    kbs_initdata_check(policy, json_string_value(tee), &att, &d); /* as /attest does (docs/kbs.md "Init-data") */
    have_decision = 1;
    ctx.policy_id = d.policy_id;
    ctx.policy_version = d.policy_version;
    ctx.evidence_digest = d.evidence_digest;
    ctx.claims = d.claims;
    presented = kbs_presented_claims(policy, json_string_value(tee), &att.snp, &att.tdx, &d, 0, 0);
    ctx.presented = presented;
    /* The explanation is an answer, not a release: audited as such before it goes out. */
    if (ccg_failed(kbs_audit(k, action, &ctx, d.allow ? CCG_AUDIT_ALLOW : CCG_AUDIT_DENY,
                             d.allow ? NULL : &d.reasons, now))) {
        ccg_reasons r;
        ccg_reasons_init(&r);
        (void)ccg_reasons_add(&r, CCG_R_AUDIT_WRITE_FAILED, NULL);
        kbs_error_response(resp, 503, &r, &ctx);
        ccg_reasons_free(&r);
        goto cleanup;
    }
    body = ccg_decision_to_json(&d);
    if (body != NULL && d.claims != NULL) {
        json_object_set(body, "claims", d.claims);
    }
    kbs_json_response(resp, 200, body);
cleanup:
    json_decref(presented);
    if (have_decision) {
        ccg_decision_free(&d);
    }
    kbs_policy_put(k, policy_ref);
    ccg_kbs_attestation_free(&att);
    free(att_text);
    json_decref(root);
}
