/* POST /kbs/v0/attest: Attestation -> token. Cheap checks first: the attempt limits, the session, the
 * body's shape, then the nonce, which is consumed (once, even when appraisal then fails) before the
 * tee-pubkey is parsed; only then the key (canonical members only, RSA at most 4096 bits) and the
 * evidence, appraised against the attestation policy with REPORT_DATA bound to the runtime data. A
 * token is issued only when every check passed. Every refusal counts as a failed attempt of the client
 * address and (once the session is known) of the session (kbs_attempts.c). */
#include "kbs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

static ccg_reason session_reason(ccg_session_status st)
{
    switch (st) {
    case CCG_SESSION_EXPIRED:
        return CCG_R_KBS_NONCE_EXPIRED;
    case CCG_SESSION_NONCE_MISMATCH:
        return CCG_R_KBS_NONCE_MISMATCH;
    case CCG_SESSION_NONCE_USED:
    case CCG_SESSION_BAD_STATE:
        return CCG_R_KBS_NONCE_REUSED;
    case CCG_SESSION_NOT_FOUND:
    default:
        return CCG_R_KBS_SESSION_MISSING;
    }
}

/* Why a session call failed: the status the store answered with (401), or, when the store could not
 * answer at all (store.unavailable; its status then stays "not found"), the store's own reason (503),
 * so an outage never reads as "no such session" to a guest or to the attempt limits. */
static ccg_reason session_refusal(ccg_session_status st, unsigned *status)
{
    ccg_reason err = ccg_error_reason();
    if (st == CCG_SESSION_OK || ccg_reason_kind_of(err) == CCG_KIND_DEPENDENCY) {
        *status = 0;
        return err;
    }
    *status = 401;
    return session_reason(st);
}

void kbs_handle_attest(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp)
{
    static const char action[] = "kbs.attest";
    ccg_time now = kbs_now(k);
    kbs_context ctx = {.request_id = req->request_id};
    ccg_kbs_attestation att;
    ccg_store_session session;
    ccg_session_status st = CCG_SESSION_OK;
    unsigned status = 0;
    const ccg_kbs_policy *policy = NULL;
    kbs_policy_ref *policy_ref = NULL;
    kbs_appraisal info = {0};
    ccg_decision d;
    int have_decision = 0;
    json_t *record = NULL, *evidence = NULL, *presented = NULL;
    char *record_text = NULL, *token = NULL;
    const char *known_session = NULL; /* the session whose attempts a refusal counts against */

    memset(&att, 0, sizeof(att));
    memset(&session, 0, sizeof(session));
    if (kbs_attempts_exhausted(k->attempts, req->client_address, req->cookie_session, now)) {
        kbs_refuse_attempts(k, resp, &ctx);
        goto cleanup;
    }
    if (req->cookie_session == NULL) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_SESSION_MISSING, 401, now);
        goto cleanup;
    }
    if (ccg_failed(ccg_store_session_get(k->store, req->cookie_session, now, &session, &st))) {
        ccg_reason why = session_refusal(st, &status);
        kbs_deny(k, resp, action, &ctx, why, status, now);
        goto cleanup;
    }
    known_session = req->cookie_session;
    if (ccg_failed(ccg_kbs_attestation_parse_shape_tee(req->body, req->body_len, session.tee, &att))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 400, now);
        goto cleanup;
    }
    /* Single use: consumed before the key is parsed and the evidence appraised, so neither a failed
     * attempt nor an expensive key can be retried with it. */
    if (ccg_failed(ccg_store_session_consume_nonce(k->store, req->cookie_session, att.nonce, now, &st))) {
        ccg_reason why = session_refusal(st, &status);
        kbs_deny(k, resp, action, &ctx, why, status, now);
        goto cleanup;
    }
    if (ccg_failed(ccg_kbs_attestation_parse_key(&att))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 400, now);
        goto cleanup;
    }
    if (k->attestation_policy == NULL || ccg_failed(kbs_load_policy(k, k->attestation_policy, &policy, &policy_ref))) {
        ccg_reason why = k->attestation_policy == NULL ? CCG_R_KBS_CONFIG_INVALID : ccg_error_reason();
        ctx.policy_id = k->attestation_policy;
        kbs_deny(k, resp, action, &ctx, why, 503, now);
        goto cleanup;
    }
    /* kbs_evaluate always fills d; a failure is recorded in d as a denial. */
    kbs_evaluate(k, policy, session.tee, &att.snp, &att.tdx, req->cookie_session, att.nonce, att.tee_pubkey,
                 att.additional_evidence, now, &d, &info);
    kbs_initdata_check(policy, session.tee, &att, &d);
    have_decision = 1;
    ctx.policy_id = d.policy_id;
    ctx.policy_version = d.policy_version;
    ctx.evidence_digest = d.evidence_digest;
    ctx.claims = d.claims;
    presented = kbs_presented_claims(policy, session.tee, &att.snp, &att.tdx, &d, info.refval_version, 0);
    ctx.presented = presented; /* what was presented, recorded with the decision (format 6) */
    if (!d.allow) {
        kbs_deny_reasons(k, resp, action, &ctx, &d.reasons, 401, now);
        goto cleanup;
    }
    /* What a later resource request re-appraises under the key's own policy, and everything this
     * decision rested on: a resource request under the same policy version, reference-value set
     * version, collateral (by digest) and trust epoch, before valid_until and within the reuse time,
     * reuses it instead of verifying the same report again (kbs_resource.c). The tee-pubkey is the
     * canonical key (ccg_kbs_attestation_parse_key), what REPORT_DATA bound. */
    evidence = att.is_tdx ? ccg_kbs_tdx_evidence_to_json(&att.tdx) : ccg_kbs_snp_evidence_to_json(&att.snp);
    record = evidence == NULL ? NULL
                              : json_pack("{s:s,s:o,s:s,s:O,s:s,s:s,s:I,s:I,s:I,s:s,s:s,s:I}", "nonce", att.nonce,
                                          "tee-pubkey", json_deep_copy(att.tee_pubkey_json), "additional_evidence",
                                          att.additional_evidence, "evidence", evidence, "evidence_digest",
                                          d.evidence_digest, "policy_id", d.policy_id, "policy_version",
                                          (json_int_t)d.policy_version, "refval_version",
                                          (json_int_t)info.refval_version, "valid_until",
                                          (json_int_t)info.valid_until, "collateral", info.collateral,
                                          "trust_epoch", info.trust_epoch, "decided_at", (json_int_t)now);
    if (record != NULL) {
        /* What a reused decision records again at /resource: the TCB status and advisories. Copies,
         * as is everything in the record: it is kept, shared and never changed (kbs_record_cache.c). */
        json_object_set_new(record, "tcb_status", json_deep_copy(json_object_get(d.claims, "tcb_status")));
        json_object_set_new(record, "advisories", json_deep_copy(json_object_get(d.claims, "advisories")));
        /* What a later release checks against its own policy (the binding held here). */
        json_object_set_new(record, "init_data", kbs_initdata_to_json(&att.init_data));
    }
    record_text = record == NULL ? NULL : json_dumps(record, JSON_COMPACT);
    if (record_text == NULL) {
        kbs_deny(k, resp, action, &ctx, CCG_R_INTERNAL_OUT_OF_MEMORY, 500, now);
        goto cleanup;
    }
    /* The token first, then the allow record, then the session: a session becomes attested only when
     * its token exists and its record is written (an unwritable audit log leaves it unattested). */
    if (ccg_failed(kbs_token_issue(k, req->cookie_session, att.tee_pubkey_json, &d, now, &token))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now);
        goto cleanup;
    }
    /* The allow record is committed in order but not synced here: it releases nothing itself, and the
     * release that rests on this token syncs the one log, this record included (a power loss before
     * that loses this record and the session write after it, so no release can follow it). */
    ctx.ordered = 1;
    if (ccg_failed(kbs_audit(k, action, &ctx, CCG_AUDIT_ALLOW, NULL, now))) {
        ccg_reasons r;
        ccg_reasons_init(&r);
        (void)ccg_reasons_add(&r, CCG_R_AUDIT_WRITE_FAILED, NULL);
        kbs_error_response(resp, 503, &r, &ctx);
        ccg_reasons_free(&r);
        goto cleanup;
    }
    if (ccg_failed(ccg_store_session_attest(k->store, req->cookie_session, record_text, now, now + k->token_ttl,
                                            &st))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now); /* an error record follows the allow */
        goto cleanup;
    }
    kbs_records_put(k->records, req->cookie_session, record_text, record, att.tee_pubkey);
    atomic_fetch_add(&k->metrics.tokens, 1);
    snprintf(resp->set_cookie, sizeof(resp->set_cookie), "%s=%s; Path=/kbs; HttpOnly", CCG_KBS_COOKIE,
             req->cookie_session);
    kbs_json_response(resp, 200, json_pack("{s:s}", "token", token));
cleanup:
    if (resp->status >= 400 && resp->status < 500 && resp->status != 429) {
        kbs_attempts_failed(k->attempts, req->client_address, known_session, now);
    }
    free(token);
    free(record_text);
    json_decref(record);
    json_decref(evidence);
    json_decref(presented);
    if (have_decision) {
        ccg_decision_free(&d);
    }
    kbs_policy_put(k, policy_ref);
    ccg_store_session_free(&session);
    ccg_kbs_attestation_free(&att);
}
