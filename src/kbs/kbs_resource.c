/* GET /kbs/v0/resource/<repo>/<type>/<tag>: the key release path.
 *
 *   session (cookie or bearer token) -> key "<repo>/<type>/<tag>", live version -> state active
 *   -> the key's release policy re-appraises the session's verified evidence at now
 *   -> unwrap under the KEK into secret memory -> JWE to the session's tee-pubkey -> zero the key
 *   -> audit (synced) -> answer.
 * Nothing of the key exists outside the secret buffer and the JWE, and the buffer is zeroed before
 * the handler returns. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define SEGMENT_MAX 128u

static int segment_ok(const char *s, size_t n)
{
    if (n == 0 || n > SEGMENT_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return 0;
        }
    }
    return 1;
}

/* "<repo>/<type>/<tag>" after the prefix, three valid segments, into key_id. */
static int parse_key_id(const char *path, char *key_id, size_t cap)
{
    const char *p = path + strlen("/kbs/v0/resource/");
    size_t len = strlen(p), start = 0, segments = 0;
    if (len + 1 > cap) {
        return 0;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i == len || p[i] == '/') {
            if (!segment_ok(p + start, i - start)) {
                return 0;
            }
            segments++;
            start = i + 1;
        }
    }
    if (segments != 3) {
        return 0;
    }
    memcpy(key_id, p, len + 1);
    return 1;
}

typedef struct {
    char *nonce;
    ccg_jwk *tee_pubkey;
    char *additional_evidence;
    ccg_kbs_snp_evidence snp;
} attested;

static void attested_free(attested *a)
{
    free(a->nonce);
    ccg_jwk_free(a->tee_pubkey);
    free(a->additional_evidence);
    ccg_kbs_snp_evidence_free(&a->snp);
    memset(a, 0, sizeof(*a));
}

/* The record kbs_attest stored with the session. */
static ccg_result attested_parse(const char *text, attested *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL;
    const json_t *nonce, *add;
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE(text != NULL, CCG_R_KBS_NOT_ATTESTED);
    rec = json_loads(text, 0, &jerr);
    CCG_ENSURE_MSG(rec != NULL && json_is_object(rec), CCG_R_STORE_CORRUPT, "the session record is not JSON");
    nonce = json_object_get(rec, "nonce");
    add = json_object_get(rec, "additional_evidence");
    CCG_ENSURE_MSG(json_is_string(nonce) && json_is_string(add), CCG_R_STORE_CORRUPT, "the session record is damaged");
    out->nonce = strdup(json_string_value(nonce));
    out->additional_evidence = strdup(json_string_value(add));
    CCG_ENSURE_ALLOC(out->nonce);
    CCG_ENSURE_ALLOC(out->additional_evidence);
    CCG_TRY(ccg_jwk_parse(json_object_get(rec, "tee-pubkey"), &out->tee_pubkey));
    CCG_TRY(ccg_kbs_snp_evidence_from_json(json_object_get(rec, "evidence"), &out->snp));
    result = CCG_SUCCESS;
cleanup:
    json_decref(rec);
    if (ccg_failed(result)) {
        attested_free(out);
    }
    return result;
}

void kbs_handle_resource(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp)
{
    static const char action[] = "resource.release";
    ccg_time now = kbs_now(k);
    kbs_context ctx = {.request_id = req->request_id};
    char key_id[CCG_STORE_ID_MAX + 1];
    char *token_sid = NULL, *jwe = NULL;
    const char *sid = NULL;
    ccg_store_session session;
    ccg_session_status st = CCG_SESSION_OK;
    ccg_store_key key;
    ccg_kbs_policy *policy = NULL;
    ccg_decision d;
    int have_decision = 0;
    attested att;
    ccg_keystore *ks = NULL;
    ccg_secbuf plain = {0};
    uint8_t *aad = NULL;
    size_t aad_len = 0, jwe_len = 0;

    memset(&session, 0, sizeof(session));
    memset(&key, 0, sizeof(key));
    memset(&att, 0, sizeof(att));

    if (!parse_key_id(req->path, key_id, sizeof(key_id))) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_REQUEST_MALFORMED, 400, now);
        goto cleanup;
    }
    ctx.key_id = key_id;

    /* Who asks: a bearer token (verified, naming its session) or the session cookie. */
    if (req->authorization != NULL) {
        if (strncmp(req->authorization, "Bearer ", 7) != 0 ||
            ccg_failed(kbs_token_verify(k, req->authorization + 7, now, &token_sid))) {
            ccg_reason why = strncmp(req->authorization, "Bearer ", 7) != 0 ? CCG_R_JOSE_JWT_INVALID
                                                                            : ccg_error_reason();
            kbs_deny(k, resp, action, &ctx, why, kbs_status_for(why) == 503 ? 503 : 401, now);
            goto cleanup;
        }
        sid = token_sid;
    } else {
        sid = req->cookie_session;
    }
    if (sid == NULL) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_SESSION_MISSING, 401, now);
        goto cleanup;
    }
    if (ccg_failed(ccg_store_session_get(k->store, sid, now, &session, &st))) {
        ccg_reason why = st == CCG_SESSION_EXPIRED     ? CCG_R_KBS_SESSION_EXPIRED
                         : st == CCG_SESSION_NOT_FOUND ? CCG_R_KBS_SESSION_MISSING
                                                       : ccg_error_reason();
        kbs_deny(k, resp, action, &ctx, why, 0, now);
        goto cleanup;
    }
    if (session.state != CCG_SESSION_ATTESTED) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_NOT_ATTESTED, 401, now);
        goto cleanup;
    }
    if (ccg_failed(attested_parse(session.claims_json, &att))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now);
        goto cleanup;
    }

    /* The key: its live version must be active. */
    if (ccg_failed(ccg_store_key_get(k->store, key_id, 0, &key))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now);
        goto cleanup;
    }
    ctx.key_version = key.version;
    ctx.policy_id = key.policy_id;
    if (ccg_failed(ccg_store_key_releasable(&key))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 403, now);
        goto cleanup;
    }

    /* The key's release policy, applied to the session's verified evidence now. */
    if (ccg_failed(kbs_load_policy(k, key.policy_id, &policy))) {
        ccg_reason why = ccg_error_reason();
        kbs_deny(k, resp, action, &ctx, why, why == CCG_R_KEY_NOT_FOUND ? 503 : 0, now);
        goto cleanup;
    }
    ctx.policy_version = policy->version;
    kbs_evaluate(k, policy, session.tee, &att.snp, att.nonce, att.tee_pubkey, att.additional_evidence, now,
                 &d);
    have_decision = 1;
    ctx.evidence_digest = d.evidence_digest;
    if (!d.allow) {
        kbs_deny_reasons(k, resp, action, &ctx, &d.reasons, 403, now);
        goto cleanup;
    }

    /* Unwrap into secret memory, encrypt to the TEE's key, zero. */
    if (ccg_failed(kbs_keystore(k, &ks)) || ccg_failed(ccg_kbs_key_aad(key_id, key.version, &aad, &aad_len)) ||
        ccg_failed(ccg_keystore_unwrap(ks, key.kek_label, key.wrapped, key.wrapped_len, aad, aad_len, &plain))) {
        ccg_reason why = ccg_error_reason();
        kbs_deny(k, resp, action, &ctx, why, 0, now);
        goto cleanup;
    }
    if (ccg_failed(ccg_jwe_encrypt_text(att.tee_pubkey, plain.data, plain.len, &jwe, &jwe_len))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 500, now);
        goto cleanup;
    }
    ccg_secbuf_free(&plain);
    if (ccg_failed(kbs_audit(k, action, &ctx, CCG_AUDIT_ALLOW, NULL, now))) {
        ccg_reasons r;
        ccg_reasons_init(&r);
        (void)ccg_reasons_add(&r, CCG_R_AUDIT_WRITE_FAILED, NULL);
        kbs_error_response(resp, 503, &r, &ctx);
        ccg_reasons_free(&r);
        goto cleanup;
    }
    atomic_fetch_add(&k->metrics.releases, 1);
    resp->status = 200;
    resp->content_type = "application/json";
    resp->body = jwe;
    resp->body_len = jwe_len;
    jwe = NULL;
cleanup:
    ccg_secbuf_free(&plain);
    free(jwe);
    free(aad);
    free(token_sid);
    if (have_decision) {
        ccg_decision_free(&d);
    }
    ccg_kbs_policy_free(policy);
    attested_free(&att);
    ccg_store_key_free(&key);
    ccg_store_session_free(&session);
}
