/* Error bodies and the audit-before-answer rule. A denial body names the reasons, the request and
 * the policy, never a secret: details come from the reason registry, not from the evidence. */
#include "kbs_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define KBS_ERROR_TYPE_PREFIX "https://github.com/confidential-containers/kbs/errors/"

unsigned kbs_status_for(ccg_reason r)
{
    switch (r) {
    case CCG_R_KEY_NOT_FOUND:
        return 404;
    case CCG_R_KBS_SESSION_MISSING:
    case CCG_R_KBS_SESSION_EXPIRED:
    case CCG_R_KBS_NOT_ATTESTED:
    case CCG_R_JOSE_JWT_INVALID:
    case CCG_R_JOSE_JWT_EXPIRED:
        return 401;
    case CCG_R_KBS_TOO_MANY_ATTEMPTS:
        return 429;
    default:
        break;
    }
    switch (ccg_reason_kind_of(r)) {
    case CCG_KIND_INPUT:
        return 400;
    case CCG_KIND_DEPENDENCY:
        return 503;
    case CCG_KIND_INTERNAL:
        return 500;
    default:
        return 403;
    }
}

static const char *type_for(unsigned status)
{
    switch (status) {
    case 400:
        return "InvalidRequest";
    case 401:
        return "Unauthorized";
    case 403:
        return "PolicyDeny";
    case 404:
        return "ResourceNotFound";
    case 429:
        return "TooManyRequests";
    case 503:
        return "ServiceUnavailable";
    default:
        return "InternalError";
    }
}

void kbs_json_response(ccg_kbs_http_response *resp, unsigned status, json_t *body_stolen)
{
    char *text = body_stolen == NULL ? NULL : json_dumps(body_stolen, JSON_COMPACT);
    json_decref(body_stolen);
    free(resp->body);
    resp->content_type = "application/json";
    if (text == NULL) {
        static const char oom[] = "{\"type\":\"" KBS_ERROR_TYPE_PREFIX "InternalError\",\"detail\":\"out of memory\","
                                  "\"reasons\":[\"internal.out_of_memory\"]}";
        resp->status = 500;
        resp->body = strdup(oom);
        resp->body_len = resp->body == NULL ? 0 : strlen(resp->body);
        return;
    }
    resp->status = status;
    resp->body = text;
    resp->body_len = strlen(text);
}

void kbs_error_response(ccg_kbs_http_response *resp, unsigned status, const ccg_reasons *reasons,
                        const kbs_context *ctx)
{
    char type[128];
    json_t *codes = json_array();
    json_t *body;
    ccg_reason first = reasons != NULL && reasons->count > 0 ? reasons->items[0].reason : CCG_R_INTERNAL_ERROR;
    snprintf(type, sizeof(type), "%s%s", KBS_ERROR_TYPE_PREFIX, type_for(status));
    for (size_t i = 0; reasons != NULL && i < reasons->count && codes != NULL; i++) {
        json_array_append_new(codes, json_string(ccg_reason_code(reasons->items[i].reason)));
    }
    body = json_pack("{s:s,s:s,s:o,s:s?,s:s?,s:o,s:s?}", "type", type, "detail", ccg_reason_message(first), "reasons",
                     codes == NULL ? json_array() : codes, "request_id", ctx->request_id, "policy_id",
                     ctx->policy_id != NULL && ctx->policy_id[0] != 0 ? ctx->policy_id : NULL, "policy_version",
                     ctx->policy_version > 0 ? json_integer(ctx->policy_version) : json_null(), "key_id", ctx->key_id);
    if (body != NULL && ctx->cause != NULL && ctx->cause[0] != 0) {
        json_object_set_new(body, "cause", json_string(ctx->cause));
    }
    if (body != NULL && ctx->key_id != NULL && ctx->key_version > 0) {
        json_object_set_new(body, "key_version", json_integer(ctx->key_version));
    }
    kbs_json_response(resp, status, body);
}

ccg_result kbs_audit(ccg_kbs *k, const char *action, const kbs_context *ctx, ccg_audit_decision d,
                     const ccg_reasons *reasons, ccg_time now)
{
    ccg_audit_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.time = now;
    ev.request_id = ctx->request_id;
    ev.persona = CCG_PERSONA_WORKLOAD;
    ev.action = action;
    ev.key_id = ctx->key_id;
    ev.key_version = ctx->key_version;
    ev.policy_id = ctx->policy_id != NULL && ctx->policy_id[0] != 0 ? ctx->policy_id : NULL;
    ev.policy_version = ctx->policy_version;
    ev.evidence_digest = ctx->evidence_digest != NULL && ctx->evidence_digest[0] != 0 ? ctx->evidence_digest : NULL;
    ev.decision = d;
    ev.reasons = reasons;
    ev.claims = ctx->presented; /* what was presented (format 6) */
    /* The TCB status and advisory IDs of the appraised evidence go into its record. */
    const char *advisories[CCG_AUDIT_MAX_ADVISORIES];
    const json_t *adv = json_object_get(ctx->claims, "advisories");
    ev.tcb_status = json_string_value(json_object_get(ctx->claims, "tcb_status"));
    for (size_t i = 0; ev.tcb_status != NULL && i < json_array_size(adv) && i < CCG_AUDIT_MAX_ADVISORIES; i++) {
        advisories[ev.advisory_count++] = json_string_value(json_array_get(adv, i));
    }
    ev.advisories = advisories;
    /* A TDX decision (its claims' tcb names the platform status): Intel's exact statuses, the FMSPC and the
     * MRTD (format 5), the converged status and advisories taken from the same place. */
    ccg_audit_tdx tdx;
    const json_t *tcb = json_object_get(ctx->claims, "tcb");
    if (json_is_string(json_object_get(tcb, "platform_status"))) {
        tdx.platform_status = json_string_value(json_object_get(tcb, "platform_status"));
        tdx.module_status = json_string_value(json_object_get(tcb, "module_status"));
        tdx.qe_status = json_string_value(json_object_get(tcb, "qe_status"));
        tdx.fmspc = json_string_value(json_object_get(json_object_get(ctx->claims, "platform"), "fmspc"));
        tdx.mrtd = json_string_value(json_object_get(json_object_get(ctx->claims, "td"), "mrtd"));
        ev.tdx = &tdx;
        ev.tcb_status = json_string_value(json_object_get(tcb, "status"));
        adv = json_object_get(tcb, "advisory_ids");
        ev.advisory_count = 0;
        for (size_t i = 0; ev.tcb_status != NULL && i < json_array_size(adv) && i < CCG_AUDIT_MAX_ADVISORIES; i++) {
            advisories[ev.advisory_count++] = json_string_value(json_array_get(adv, i));
        }
    }
    /* The appraised GPUs' claims (format 4). */
    ccg_audit_gpu gpus[CCG_AUDIT_MAX_GPUS];
    uint16_t indexes[CCG_AUDIT_MAX_GPUS][CCG_AUDIT_GPU_MAX_INDEXES];
    ev.gpus = gpus;
    ev.gpu_count = kbs_audit_gpus(json_object_get(ctx->claims, "gpus"), gpus, indexes);
    /* An anonymous denial is aggregated (kbs_audit_agg.c); anything else is one record. */
    if (k->audit_agg != NULL && kbs_audit_is_anonymous(&ev)) {
        return kbs_audit_anonymous(k, &ev);
    }
    if (ctx->ordered && d == CCG_AUDIT_ALLOW) {
        return ccg_audit_append_ordered(k->audit, &ev, NULL, NULL);
    }
    return ccg_audit_append(k->audit, &ev, NULL, NULL);
}

/* The denial's record could not be written: 503 audit.write_failed. When the denial was itself a failed
 * dependency (store.unavailable: the database the audit log lives in is down too), its reasons come
 * first, so a client and a load balancer see the cause of the outage, not only its echo. */
static void answer_audit_failure(ccg_kbs_http_response *resp, const kbs_context *ctx, const ccg_reasons *denial)
{
    ccg_reasons r;
    ccg_reasons_init(&r);
    for (size_t i = 0; i < denial->count; i++) {
        if (ccg_reason_kind_of(denial->items[i].reason) == CCG_KIND_DEPENDENCY &&
            denial->items[i].reason != CCG_R_AUDIT_WRITE_FAILED) {
            (void)ccg_reasons_add(&r, denial->items[i].reason, NULL);
        }
    }
    (void)ccg_reasons_add(&r, CCG_R_AUDIT_WRITE_FAILED, NULL);
    kbs_error_response(resp, 503, &r, ctx);
    ccg_reasons_free(&r);
}

void kbs_deny_reasons(ccg_kbs *k, ccg_kbs_http_response *resp, const char *action, const kbs_context *ctx,
                      const ccg_reasons *reasons, unsigned status, ccg_time now)
{
    ccg_audit_decision d = CCG_AUDIT_DENY;
    kbs_context with_cause = *ctx;
    char cause[sizeof(ccg_error_last()->message)];
    /* A failed dependency names its own error (kms: the CKR name) in "cause"; keystore, store and
     * audit messages carry no PIN, key or token by their contracts. Taken before the audit append,
     * which clears the thread's error. */
    cause[0] = 0;
    if (reasons->count > 0 && ccg_reason_kind_of(reasons->items[0].reason) == CCG_KIND_DEPENDENCY &&
        ccg_error_reason() == reasons->items[0].reason) {
        snprintf(cause, sizeof(cause), "%s", ccg_error_last()->message);
        with_cause.cause = cause;
    }
    ctx = &with_cause;
    /* A store that failed in the middle of an appraisal (a reference-value read, say) is an outage,
     * not a verdict on the guest: 503, so a client retries elsewhere and nothing reads it as a deny. */
    for (size_t i = 0; i < reasons->count; i++) {
        if (reasons->items[i].reason == CCG_R_STORE_UNAVAILABLE) {
            status = 503;
        }
    }
    for (size_t i = 0; i < reasons->count; i++) {
        ccg_reason_kind kind = ccg_reason_kind_of(reasons->items[i].reason);
        if (kind == CCG_KIND_DEPENDENCY || kind == CCG_KIND_INTERNAL || kind == CCG_KIND_INPUT) {
            d = CCG_AUDIT_ERROR;
        }
    }
    kbs_metrics_denial(&k->metrics, reasons);
    if (ccg_failed(kbs_audit(k, action, ctx, d, reasons, now))) {
        answer_audit_failure(resp, ctx, reasons);
        return;
    }
    kbs_error_response(resp, status, reasons, ctx);
}

void kbs_deny(ccg_kbs *k, ccg_kbs_http_response *resp, const char *action, const kbs_context *ctx, ccg_reason r,
              unsigned status, ccg_time now)
{
    ccg_reasons list;
    ccg_reasons_init(&list);
    (void)ccg_reasons_add(&list, r, NULL);
    kbs_deny_reasons(k, resp, action, ctx, &list, status != 0 ? status : kbs_status_for(r), now);
    ccg_reasons_free(&list);
}
