/* GET /kbs/v0/resource/<repo>/<type>/<tag>[?version=N]: the key release path.
 *
 *   session (cookie or bearer token) -> key "<repo>/<type>/<tag>", live version -> state active
 *   (with ?version=N that version: active, or retired by a rotation and still in the grace that the
 *   key's release policy grants ("rotation") and no cut-over ended; else key.retired. docs/kbs.md
 *   "Key lifecycle": the KBS 0.4.0 path stays as it is, the version travels in the query)
 *   -> the key's release policy re-appraises the session's verified evidence at now (or, when it is
 *      the very policy version the attestation was appraised under, within decision_reuse seconds of
 *      that decision, with the same reference-value set version, the same collateral by digest (a
 *      newly published CRL or a replaced VCEK is new collateral), in the same trust epoch (trusted
 *      roots and reference-value issuers), and before its collateral expires, that allow decision
 *      stands: decision_reusable)
 *   -> the GPU evidence of the session, when the key's policy requires GPUs, appraised again at now
 *      whatever became of the CPU decision (kbs_gpu.c): GPU state is never reused
 *   -> unwrap under the KEK into secret memory -> JWE to the session's tee-pubkey -> zero the key
 *   -> audit (synced) -> answer.
 * Nothing of the key exists outside the secret buffer and the JWE, and the buffer is zeroed before
 * the handler returns. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

typedef struct {
    json_t *rec;                /* the record kbs_attest stored with the session */
    const char *nonce;          /* borrowed from rec */
    const char *additional_evidence;
    ccg_jwk *tee_pubkey;
    ccg_kbs_snp_evidence snp;   /* parsed only when the evidence is appraised again */
    int have_snp;
    ccg_kbs_tdx_evidence tdx;   /* likewise, for a "tdx" session */
    int have_tdx;
    const char *policy_id;      /* what the attestation's allow decision rested on (NULL: old record) */
    int64_t policy_version;
    int64_t refval_version;
    ccg_time valid_until;
    ccg_time decided_at;
    const char *evidence_digest;
    const char *collateral;     /* hex digest of the collateral the decision used (NULL: old record) */
    const char *trust_epoch;    /* the trust epoch it was made in (NULL: old record) */
} attested;

static void attested_free(attested *a)
{
    ccg_jwk_free(a->tee_pubkey);
    if (a->have_snp) {
        ccg_kbs_snp_evidence_free(&a->snp);
    }
    if (a->have_tdx) {
        ccg_kbs_tdx_evidence_free(&a->tdx);
    }
    json_decref(a->rec);
    memset(a, 0, sizeof(*a));
}

static int64_t int_member(const json_t *rec, const char *name)
{
    const json_t *v = json_object_get(rec, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

/* A non-empty string member, or NULL. */
static const char *text_member(const json_t *rec, const char *name)
{
    const json_t *v = json_object_get(rec, name);
    return json_is_string(v) && json_string_length(v) > 0 ? json_string_value(v) : NULL;
}

/* The record kbs_attest stored with the session: the binding (nonce, tee-pubkey, additional evidence)
 * and what the decision rested on; the evidence itself is parsed by attested_evidence when needed.
 * The parse this instance kept when it wrote exactly this text is used as it is (kbs_record_cache.c). */
static ccg_result attested_parse(ccg_kbs *k, const char *session_id, const char *text, attested *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *nonce, *add, *pid, *digest;
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE(text != NULL, CCG_R_KBS_NOT_ATTESTED);
    int kept = kbs_records_get(k->records, session_id, text, &out->rec, &out->tee_pubkey);
    if (kept) {
        atomic_fetch_add(&k->metrics.records_reused, 1);
    } else {
        out->rec = json_loads(text, 0, &jerr);
    }
    CCG_ENSURE_MSG(out->rec != NULL && json_is_object(out->rec), CCG_R_STORE_CORRUPT, "the session record is not JSON");
    nonce = json_object_get(out->rec, "nonce");
    add = json_object_get(out->rec, "additional_evidence");
    CCG_ENSURE_MSG(json_is_string(nonce) && json_is_string(add), CCG_R_STORE_CORRUPT, "the session record is damaged");
    out->nonce = json_string_value(nonce);
    out->additional_evidence = json_string_value(add);
    if (!kept) {
        CCG_TRY(ccg_jwk_parse(json_object_get(out->rec, "tee-pubkey"), &out->tee_pubkey));
    }
    pid = json_object_get(out->rec, "policy_id");
    digest = json_object_get(out->rec, "evidence_digest");
    out->policy_id = json_is_string(pid) ? json_string_value(pid) : NULL;
    out->evidence_digest = json_is_string(digest) ? json_string_value(digest) : NULL;
    out->policy_version = int_member(out->rec, "policy_version");
    out->refval_version = int_member(out->rec, "refval_version");
    out->valid_until = int_member(out->rec, "valid_until");
    out->decided_at = int_member(out->rec, "decided_at");
    out->collateral = text_member(out->rec, "collateral");
    out->trust_epoch = text_member(out->rec, "trust_epoch");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        attested_free(out);
    }
    return result;
}

/* The session's evidence in its TEE's form (the record holds what kbs_attest verified). */
static ccg_result attested_evidence(attested *a, const char *tee)
{
    ccg_result result = CCG_FAILURE;
    if (strcmp(tee, "tdx") == 0) {
        if (!a->have_tdx) {
            CCG_TRY(ccg_kbs_tdx_evidence_from_json(json_object_get(a->rec, "evidence"), &a->tdx));
            a->have_tdx = 1;
        }
    } else if (!a->have_snp) {
        CCG_TRY(ccg_kbs_snp_evidence_from_json(json_object_get(a->rec, "evidence"), &a->snp));
        a->have_snp = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Whether the attestation's allow decision answers this request too. It must rest on exactly what an
 * appraisal now would use: the very policy version, the reference-value set's newest version, the
 * same collateral (the evidence's certificates and the cached VCEK, chain and current CRL, by digest:
 * a CRL published since, revoking the ASK, is different collateral) and the same trust epoch (roots,
 * reference-value issuers); its collateral and reference values still valid, and the decision at most
 * decision_reuse seconds old. Anything else is appraised again, and that appraisal names the problem. */
static int decision_reusable(ccg_kbs *k, attested *a, const char *tee, const ccg_kbs_policy *p, ccg_time now)
{
    int64_t refval_version = 0;
    uint8_t digest[32];
    char hex[65], epoch[65];
    if (a->policy_id == NULL || a->evidence_digest == NULL || a->collateral == NULL || a->trust_epoch == NULL) {
        return 0; /* a record from before these were kept, or a TDX decision (never reused) */
    }
    if (strcmp(tee, "snp") != 0) {
        return 0; /* only SNP decisions record what they rested on */
    }
    if (strcmp(a->policy_id, p->policy_id) != 0 || a->policy_version != p->version) {
        return 0;
    }
    if (now >= a->valid_until) {
        return 0;
    }
    if (now < a->decided_at || now - a->decided_at >= k->decision_reuse) {
        return 0;
    }
    if (p->snp->has_refval_set && ccg_failed(kbs_refval_version(k, p->snp->refval_set_id, &refval_version))) {
        ccg_error_clear();
        return 0;
    }
    if (refval_version != a->refval_version) {
        return 0;
    }
    if (ccg_failed(kbs_trust_epoch(k->trust_material, p, epoch))) {
        ccg_error_clear();
        return 0;
    }
    if (strcmp(epoch, a->trust_epoch) != 0) {
        return 0;
    }
    if (ccg_failed(attested_evidence(a, tee)) ||
        ccg_failed(kbs_collateral_now(k->verifiers, p, &a->snp, k->kds_enabled ? &k->kds : NULL, digest))) {
        ccg_error_clear();
        return 0;
    }
    ccg_hex_encode(digest, sizeof(digest), hex);
    if (strcmp(hex, a->collateral) != 0) {
        return 0;
    }
    return 1;
}

/* The query the release path takes: none (*version 0: the current version) or exactly "version=N", N a
 * decimal 1..2^53 without sign or leading zero. Anything else is refused (kbs.path_invalid) rather than
 * ignored, so a client never receives another version than the one it named. */
static ccg_reason version_query(const char *query, int64_t *version)
{
    static const char name[] = "version=";
    const char *d;
    int64_t v = 0;
    *version = 0;
    if (query == NULL) {
        return CCG_R_OK;
    }
    if (strncmp(query, name, strlen(name)) != 0) {
        return CCG_R_KBS_PATH_INVALID;
    }
    d = query + strlen(name);
    if (*d < '1' || *d > '9' || strlen(d) > 16) {
        return CCG_R_KBS_PATH_INVALID;
    }
    for (; *d != 0; d++) {
        if (*d < '0' || *d > '9') {
            return CCG_R_KBS_PATH_INVALID;
        }
        v = v * 10 + (*d - '0');
    }
    if (v > ((int64_t)1 << 53)) {
        return CCG_R_KBS_PATH_INVALID;
    }
    *version = v;
    return CCG_R_OK;
}

/* Whether a version a rotation retired is still in its grace now: no cut-over ended it (the store's
 * releasable_until) and the release policy grants one that has not run out since the rotation. */
static int grace_open(const ccg_kbs_policy *p, const ccg_store_key *key, ccg_time now)
{
    if (key->state != CCG_KEY_RETIRED || now >= key->releasable_until || !p->rotation_grace) {
        return 0;
    }
    return p->previous_grace == CCG_KBS_GRACE_UNTIL_CUT_OVER || now - key->retired_at < p->previous_grace;
}

/* The key's live version (the newest when all are retired) is active: key.disabled or key.retired
 * otherwise, or the store's error. */
static ccg_result live_releasable(ccg_kbs *k, const char *key_id)
{
    ccg_result result = CCG_FAILURE;
    ccg_store_key live;
    memset(&live, 0, sizeof(live));
    CCG_TRY(ccg_store_key_get(k->store, key_id, 0, &live));
    CCG_TRY(ccg_store_key_releasable(&live));
    result = CCG_SUCCESS;
cleanup:
    ccg_store_key_free(&live);
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
    const ccg_kbs_policy *policy = NULL;
    kbs_policy_ref *policy_ref = NULL;
    ccg_decision d;
    json_t *presented = NULL;
    int have_decision = 0;
    attested att;
    ccg_keystore *ks = NULL;
    ccg_secbuf plain = {0};
    uint8_t *aad = NULL;
    size_t aad_len = 0, jwe_len = 0;
    int64_t want = 0;
    int by_grace = 0;
    ccg_reason why_query;

    memset(&session, 0, sizeof(session));
    memset(&key, 0, sizeof(key));
    memset(&att, 0, sizeof(att));

    if (kbs_key_id_parse(req->path, key_id, sizeof(key_id)) != CCG_R_OK) {
        /* Audited with the ID as sent (escaped), not a cut-down or normalised one. */
        kbs_path_escape(req->path + strlen("/kbs/v0/resource/"), 0, key_id, sizeof(key_id));
        ctx.key_id = key_id[0] != 0 ? key_id : NULL;
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_PATH_INVALID, 400, now);
        goto cleanup;
    }
    ctx.key_id = key_id;
    if ((why_query = version_query(req->query, &want)) != CCG_R_OK) {
        kbs_deny(k, resp, action, &ctx, why_query, 400, now);
        goto cleanup;
    }

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
        /* A store that could not answer is an outage (503), not a missing session. */
        ccg_reason why = ccg_reason_kind_of(ccg_error_reason()) == CCG_KIND_DEPENDENCY ? ccg_error_reason()
                         : st == CCG_SESSION_EXPIRED                                 ? CCG_R_KBS_SESSION_EXPIRED
                         : st == CCG_SESSION_NOT_FOUND                               ? CCG_R_KBS_SESSION_MISSING
                                                                                     : ccg_error_reason();
        kbs_deny(k, resp, action, &ctx, why, 0, now);
        goto cleanup;
    }
    if (session.state != CCG_SESSION_ATTESTED) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KBS_NOT_ATTESTED, 401, now);
        goto cleanup;
    }
    if (ccg_failed(attested_parse(k, sid, session.claims_json, &att))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now);
        goto cleanup;
    }

    /* The key: its live version (or the version asked for) must be active, or in its grace. */
    ctx.key_version = want; /* a refusal names the version asked for */
    if (ccg_failed(ccg_store_key_get(k->store, key_id, want, &key))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now);
        goto cleanup;
    }
    ctx.key_version = key.version;
    ctx.policy_id = key.policy_id;
    by_grace = want != 0 && key.state == CCG_KEY_RETIRED; /* judged once its policy is loaded */
    if (!by_grace && ccg_failed(ccg_store_key_releasable(&key))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 403, now);
        goto cleanup;
    }
    /* A grace never outlives the key: the kill switch (a disabled live version) or a retirement of the
     * live version stops every version, the one in its grace too. */
    if (by_grace && ccg_failed(live_releasable(k, key_id))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), kbs_status_for(ccg_error_reason()) == 503 ? 503 : 403,
                 now);
        goto cleanup;
    }

    /* The key's release policy, applied to the session's verified evidence now. */
    if (ccg_failed(kbs_load_policy(k, key.policy_id, &policy, &policy_ref))) {
        ccg_reason why = ccg_error_reason();
        kbs_deny(k, resp, action, &ctx, why, why == CCG_R_KEY_NOT_FOUND ? 503 : 0, now);
        goto cleanup;
    }
    ctx.policy_version = policy->version;
    if (by_grace && !grace_open(policy, &key, now)) {
        kbs_deny(k, resp, action, &ctx, CCG_R_KEY_RETIRED, 403, now);
        goto cleanup;
    }
    if (decision_reusable(k, &att, session.tee, policy, now)) {
        /* The same report verified under the same policy version moments ago: its decision stands. */
        ccg_decision_init(&d, "snp");
        d.allow = 1;
        snprintf(d.policy_id, sizeof(d.policy_id), "%s", policy->policy_id);
        d.policy_version = policy->version;
        snprintf(d.evidence_digest, sizeof(d.evidence_digest), "%s", att.evidence_digest);
        d.claims = json_pack("{s:O?, s:O?}", "tcb_status", json_object_get(att.rec, "tcb_status"), "advisories",
                             json_object_get(att.rec, "advisories"));
        /* GPU state is never reused: the session's GPU reports are appraised again now (OCSP, RIMs,
         * policy), so a certificate revoked since /attest stops the release (docs/kbs.md). */
        kbs_evaluate_gpus(k, policy, sid, att.nonce, att.tee_pubkey, att.additional_evidence, now, &d);
    } else if (ccg_failed(attested_evidence(&att, session.tee))) {
        kbs_deny(k, resp, action, &ctx, ccg_error_reason(), 0, now);
        goto cleanup;
    } else {
        kbs_evaluate(k, policy, session.tee, &att.snp, &att.tdx, sid, att.nonce, att.tee_pubkey, att.additional_evidence,
                     now, &d, NULL);
    }
    kbs_initdata_check_record(policy, att.rec, &d); /* the key's policy on the init-data bound at /attest */
    have_decision = 1;
    ctx.evidence_digest = d.evidence_digest;
    ctx.claims = d.claims;
    if (ccg_failed(attested_evidence(&att, session.tee))) { /* a reused decision did not decode it */
        ccg_error_clear();
    }
    presented = kbs_presented_claims(policy, session.tee, &att.snp, &att.tdx, &d, att.refval_version, want);
    ctx.presented = presented; /* what was presented, recorded with the decision (format 6) */
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
    json_decref(presented);
    ccg_secbuf_free(&plain);
    free(jwe);
    free(aad);
    free(token_sid);
    if (have_decision) {
        ccg_decision_free(&d);
    }
    kbs_policy_put(k, policy_ref);
    attested_free(&att);
    ccg_store_key_free(&key);
    ccg_store_session_free(&session);
}
