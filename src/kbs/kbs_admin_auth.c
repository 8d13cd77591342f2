/* Admin API: the admin issuers (keys bound to the roles and subjects they may assert), role tokens
 * (ES256 JWT with aud and a bounded lifetime), routing under /admin/v0/, and the audit helpers every
 * admin endpoint answers through: a change is recorded before it is made, a read before its answer.
 * Tokens are never logged. */
#include "kbs_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>

#include "ccgate/error.h"

/* One configured issuer: its key and the roles and subjects it may assert. */
typedef struct {
    char id[KBS_ADMIN_NAME_MAX + 1];
    EVP_PKEY *pub;
    unsigned roles; /* bit (1u << kbs_admin_role) per role it may assert */
    char **subjects;
    size_t subject_count;
} kbs_admin_issuer;

struct kbs_admin_issuers {
    kbs_admin_issuer *items;
    size_t count;
    char *audience;
    int64_t max_lifetime;
};

static ccg_result load_public_pem(const char *path, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *pem = NULL;
    size_t len = 0;
    BIO *bio = NULL;
    *out = NULL;
    CCG_TRY(ccg_file_read(path, 64 * 1024, &pem, &len));
    bio = BIO_new_mem_buf(pem, (int)len);
    CCG_ENSURE_ALLOC(bio);
    *out = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    CCG_ENSURE_MSG(*out != NULL && EVP_PKEY_is_a(*out, "EC") && EVP_PKEY_get_bits(*out) == 256,
                   CCG_R_KBS_CONFIG_INVALID, "admin issuer key %.128s is not a P-256 public key (PEM)", path);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        EVP_PKEY_free(*out);
        *out = NULL;
    }
    BIO_free(bio);
    free(pem);
    return result;
}

/* One entry of the validated "admin.issuers" array (kbs_config.c checked its shape). */
static ccg_result load_issuer(const json_t *entry, kbs_admin_issuer *it)
{
    ccg_result result = CCG_FAILURE;
    const json_t *roles = json_object_get(entry, "roles"), *subjects = json_object_get(entry, "subjects");
    const char *name = json_string_value(json_object_get(entry, "name"));
    size_t i;
    json_t *v;
    CCG_ENSURE_MSG(name != NULL && strlen(name) <= KBS_ADMIN_NAME_MAX && json_is_array(roles) &&
                       json_is_array(subjects) && json_array_size(subjects) > 0,
                   CCG_R_KBS_CONFIG_INVALID, "admin.issuers: bad entry");
    snprintf(it->id, sizeof(it->id), "%s", name);
    json_array_foreach(roles, i, v) {
        kbs_admin_role r = kbs_admin_role_parse(json_string_value(v));
        CCG_ENSURE_MSG(r != 0, CCG_R_KBS_CONFIG_INVALID, "admin.issuers[%s].roles: unknown role", it->id);
        it->roles |= 1u << r;
    }
    it->subjects = calloc(json_array_size(subjects), sizeof(*it->subjects));
    CCG_ENSURE_ALLOC(it->subjects);
    json_array_foreach(subjects, i, v) {
        CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) <= KBS_ADMIN_NAME_MAX, CCG_R_KBS_CONFIG_INVALID,
                       "admin.issuers[%s].subjects: bad subject", it->id);
        it->subjects[i] = strdup(json_string_value(v));
        CCG_ENSURE_ALLOC(it->subjects[i]);
        it->subject_count = i + 1;
    }
    CCG_TRY(load_public_pem(json_string_value(json_object_get(entry, "key")), &it->pub));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_admin_issuers_load(const ccg_kbs_config *cfg, kbs_admin_issuers **out)
{
    ccg_result result = CCG_FAILURE;
    kbs_admin_issuers *iss = NULL;
    size_t i;
    json_t *entry;
    *out = NULL;
    iss = calloc(1, sizeof(*iss));
    CCG_ENSURE_ALLOC(iss);
    iss->max_lifetime = cfg->admin_token_max_lifetime > 0 ? cfg->admin_token_max_lifetime : 3600;
    if (cfg->admin_issuers != NULL && json_array_size(cfg->admin_issuers) > 0) {
        CCG_ENSURE_MSG(cfg->admin_audience != NULL && cfg->admin_audience[0] != 0, CCG_R_KBS_CONFIG_INVALID,
                       "admin.audience is required with admin issuers");
        iss->audience = strdup(cfg->admin_audience);
        CCG_ENSURE_ALLOC(iss->audience);
        iss->items = calloc(json_array_size(cfg->admin_issuers), sizeof(*iss->items));
        CCG_ENSURE_ALLOC(iss->items);
        json_array_foreach(cfg->admin_issuers, i, entry) {
            iss->count = i + 1; /* freed with the rest when loading fails */
            CCG_TRY(load_issuer(entry, &iss->items[i]));
        }
    }
    *out = iss;
    iss = NULL;
    result = CCG_SUCCESS;
cleanup:
    kbs_admin_issuers_free(iss);
    return result;
}

void kbs_admin_issuers_free(kbs_admin_issuers *iss)
{
    if (iss == NULL) {
        return;
    }
    for (size_t i = 0; i < iss->count; i++) {
        EVP_PKEY_free(iss->items[i].pub);
        for (size_t j = 0; j < iss->items[i].subject_count; j++) {
            free(iss->items[i].subjects[j]);
        }
        free(iss->items[i].subjects);
    }
    free(iss->items);
    free(iss->audience);
    free(iss);
}

kbs_admin_role kbs_admin_role_parse(const char *name)
{
    if (name == NULL) {
        return 0;
    }
    if (strcmp(name, "provider") == 0) {
        return KBS_ROLE_PROVIDER;
    }
    if (strcmp(name, "authority") == 0) {
        return KBS_ROLE_AUTHORITY;
    }
    if (strcmp(name, "operator") == 0) {
        return KBS_ROLE_OPERATOR;
    }
    return 0;
}

static int issuer_may_assert_subject(const kbs_admin_issuer *it, const char *sub)
{
    for (size_t i = 0; i < it->subject_count; i++) {
        if (strcmp(it->subjects[i], sub) == 0) {
            return 1;
        }
    }
    return 0;
}

/* aud: this broker's admin audience, as a string or inside an array of strings (RFC 7519 4.1.3). */
static int audience_matches(const json_t *aud, const char *audience)
{
    size_t i;
    json_t *v;
    if (json_is_string(aud)) {
        return strcmp(json_string_value(aud), audience) == 0;
    }
    json_array_foreach(aud, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), audience) == 0) {
            return 1;
        }
    }
    return 0;
}

static ccg_result check_claims(const json_t *claims, const kbs_admin_issuers *all, const kbs_admin_issuer *issuer,
                               kbs_admin_principal *out)
{
    ccg_result result = CCG_FAILURE;
    const char *name;
    json_t *v;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *role = json_string_value(json_object_get(claims, "role"));
    json_t *iss = json_object_get(claims, "iss");
    json_int_t iat, exp;
    json_object_foreach((json_t *)claims, name, v) {
        CCG_ENSURE_MSG(strcmp(name, "sub") == 0 || strcmp(name, "role") == 0 || strcmp(name, "exp") == 0 ||
                           strcmp(name, "iat") == 0 || strcmp(name, "iss") == 0 || strcmp(name, "aud") == 0,
                       CCG_R_ADMIN_UNAUTHENTICATED, "the admin token has an unknown claim");
    }
    CCG_ENSURE_MSG(sub != NULL && sub[0] != 0 && strlen(sub) <= KBS_ADMIN_NAME_MAX &&
                       strlen(sub) == json_string_length(json_object_get(claims, "sub")),
                   CCG_R_ADMIN_UNAUTHENTICATED, "the admin token's sub is missing or invalid");
    for (const char *p = sub; *p != 0; p++) {
        CCG_ENSURE_MSG(*p > 0x20 && *p < 0x7f, CCG_R_ADMIN_UNAUTHENTICATED, "the admin token's sub is not printable");
    }
    CCG_ENSURE_MSG(kbs_admin_role_parse(role) != 0, CCG_R_ADMIN_UNAUTHENTICATED,
                   "the admin token's role is not provider, authority or operator");
    CCG_ENSURE_MSG(json_is_integer(json_object_get(claims, "exp")) && json_is_integer(json_object_get(claims, "iat")),
                   CCG_R_ADMIN_UNAUTHENTICATED, "the admin token needs integer exp and iat");
    CCG_ENSURE_MSG(iss == NULL || (json_is_string(iss) && strcmp(json_string_value(iss), issuer->id) == 0),
                   CCG_R_ADMIN_UNAUTHENTICATED, "the admin token's iss does not name its signer");
    /* A token minted for another broker (or another service of the same issuer) is not ours. */
    CCG_ENSURE_MSG(audience_matches(json_object_get(claims, "aud"), all->audience), CCG_R_ADMIN_AUDIENCE_MISMATCH,
                   "the admin token's aud does not name this broker's admin audience");
    iat = json_integer_value(json_object_get(claims, "iat"));
    exp = json_integer_value(json_object_get(claims, "exp"));
    CCG_ENSURE_MSG(exp > iat && exp - iat <= all->max_lifetime, CCG_R_ADMIN_TOKEN_LIFETIME_EXCEEDED,
                   "the admin token lives %lld s (exp - iat); at most %lld s are accepted", (long long)(exp - iat),
                   (long long)all->max_lifetime);
    /* The issuer speaks only for the roles and subjects the configuration gives it. */
    CCG_ENSURE_MSG((issuer->roles & (1u << kbs_admin_role_parse(role))) != 0, CCG_R_ADMIN_ROLE_NOT_PERMITTED,
                   "admin issuer %s may not assert role %s", issuer->id, role);
    CCG_ENSURE_MSG(issuer_may_assert_subject(issuer, sub), CCG_R_ADMIN_SUBJECT_NOT_PERMITTED,
                   "admin issuer %s may not assert subject %.128s", issuer->id, sub);
    out->role = kbs_admin_role_parse(role);
    snprintf(out->sub, sizeof(out->sub), "%s", sub);
    snprintf(out->issuer, sizeof(out->issuer), "%s", issuer->id);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_admin_authenticate(const kbs_admin_issuers *iss, const char *authorization, ccg_time now,
                                  kbs_admin_principal *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *claims = NULL;
    const char *token;
    int expired = 0;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(authorization != NULL && strncmp(authorization, "Bearer ", 7) == 0, CCG_R_ADMIN_UNAUTHENTICATED,
                   "no admin bearer token");
    token = authorization + 7;
    CCG_ENSURE_MSG(strlen(token) > 0 && strlen(token) <= CCG_JWT_MAX_TEXT, CCG_R_ADMIN_UNAUTHENTICATED,
                   "no admin bearer token");
    for (size_t i = 0; iss != NULL && i < iss->count; i++) {
        if (ccg_ok(ccg_jwt_verify_es256(iss->items[i].pub, token, strlen(token), now, KBS_ADMIN_LEEWAY, &claims))) {
            ccg_error_clear();
            CCG_TRY(check_claims(claims, iss, &iss->items[i], out));
            result = CCG_SUCCESS;
            goto cleanup;
        }
        expired |= ccg_error_reason() == CCG_R_JOSE_JWT_EXPIRED;
        ccg_error_clear();
    }
    CCG_ENSURE_MSG(!expired, CCG_R_ADMIN_UNAUTHENTICATED, "the admin token has expired or is not yet valid");
    CCG_BAIL(CCG_R_ADMIN_UNAUTHENTICATED, "the admin token is not signed by a configured admin issuer");
cleanup:
    json_decref(claims);
    return result;
}

int kbs_admin_provider_may_own(const ccg_kbs *k, const char *issuer, const char *subject)
{
    const kbs_admin_issuers *iss = k->admin_issuers;
    for (size_t j = 0; iss != NULL && j < iss->count; j++) {
        if (strcmp(iss->items[j].id, issuer) == 0 && (iss->items[j].roles & (1u << KBS_ROLE_PROVIDER)) != 0 &&
            issuer_may_assert_subject(&iss->items[j], subject)) {
            return 1;
        }
    }
    return 0;
}

/* Binds legacy owners (subject only, from before owners had an issuer) to the single configured issuer
 * that may assert that subject as a provider; a subject that no issuer or several may assert stays
 * unbound (admin.owner_unbound) rather than being handed to a guess. */
ccg_result kbs_admin_bind_legacy_owners(ccg_kbs *k)
{
    ccg_result result = CCG_FAILURE;
    ccg_store_owner *subjects = NULL;
    size_t n = 0;
    const kbs_admin_issuers *iss = k->admin_issuers;
    CCG_TRY(ccg_store_owner_unbound(k->store, &subjects, &n));
    for (size_t i = 0; i < n && iss != NULL; i++) {
        const kbs_admin_issuer *only = NULL;
        size_t candidates = 0;
        for (size_t j = 0; j < iss->count; j++) {
            if ((iss->items[j].roles & (1u << KBS_ROLE_PROVIDER)) != 0 &&
                issuer_may_assert_subject(&iss->items[j], subjects[i].subject)) {
                only = &iss->items[j];
                candidates++;
            }
        }
        if (candidates == 1) {
            CCG_TRY(ccg_store_owner_bind(k->store, subjects[i].subject, only->id, kbs_now(k), NULL));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    free(subjects);
    return result;
}

/* ---------------------------------------------------------------- answers */

static ccg_persona persona_of(const kbs_admin_call *c)
{
    switch (c->who.role) {
    case KBS_ROLE_PROVIDER:
        return CCG_PERSONA_PROVIDER;
    case KBS_ROLE_AUTHORITY:
        return CCG_PERSONA_AUTHORITY;
    case KBS_ROLE_OPERATOR:
        return CCG_PERSONA_OPERATOR;
    default:
        return CCG_PERSONA_SYSTEM; /* not authenticated: recorded as seen by the broker */
    }
}

static ccg_result admin_audit(kbs_admin_call *c, ccg_audit_decision d, const ccg_reasons *reasons)
{
    ccg_audit_event ev;
    memset(&ev, 0, sizeof(ev));
    ev.time = c->now;
    ev.request_id = c->req->request_id != NULL ? c->req->request_id : "-";
    ev.persona = persona_of(c);
    ev.action = c->action;
    ev.key_id = c->ctx.key_id != NULL && c->ctx.key_id[0] != 0 ? c->ctx.key_id : NULL;
    ev.key_version = c->ctx.key_version;
    ev.policy_id = c->ctx.policy_id != NULL && c->ctx.policy_id[0] != 0 ? c->ctx.policy_id : NULL;
    ev.policy_version = c->ctx.policy_version;
    ev.decision = d;
    ev.reasons = reasons;
    ev.claims = c->ctx.presented; /* e.g. a transfer's new owner (format 6) */
    /* A call that did not authenticate is anonymous: aggregated like the protocol's (kbs_audit_agg.c),
     * so unauthenticated admin requests cannot grow the log one synced record each. */
    if (ev.persona == CCG_PERSONA_SYSTEM && c->k->audit_agg != NULL && kbs_audit_is_anonymous(&ev)) {
        return kbs_audit_anonymous(c->k, &ev);
    }
    return ccg_audit_append(c->k->audit, &ev, NULL, NULL);
}

static unsigned status_of(ccg_reason r)
{
    switch (r) {
    case CCG_R_ADMIN_UNAUTHENTICATED:
    case CCG_R_ADMIN_AUDIENCE_MISMATCH:
    case CCG_R_ADMIN_TOKEN_LIFETIME_EXCEEDED:
    case CCG_R_ADMIN_ROLE_NOT_PERMITTED:
    case CCG_R_ADMIN_SUBJECT_NOT_PERMITTED:
        return 401;
    case CCG_R_ADMIN_FORBIDDEN:
    case CCG_R_ADMIN_POLICY_RESERVED:
    case CCG_R_ADMIN_OWNER_UNBOUND:
        return 403;
    case CCG_R_STORE_CONFLICT:
        return 409;
    case CCG_R_REFVAL_SET_MISSING:
    case CCG_R_COLLATERAL_MISSING:
    case CCG_R_AUDIT_RECORD_NOT_FOUND:
        return 404;
    default:
        return kbs_status_for(r);
    }
}

void kbs_admin_deny(kbs_admin_call *c, ccg_reason r)
{
    ccg_reasons list;
    ccg_audit_decision d = CCG_AUDIT_DENY;
    ccg_reason_kind kind = ccg_reason_kind_of(r);
    ccg_reasons_init(&list);
    if (ccg_reasons_add(&list, r, NULL) != 0) {
        kbs_json_response(c->resp, 500, NULL);
        return;
    }
    if (kind == CCG_KIND_DEPENDENCY || kind == CCG_KIND_INTERNAL || kind == CCG_KIND_INPUT) {
        d = CCG_AUDIT_ERROR;
    }
    kbs_metrics_denial(&c->k->metrics, &list);
    if (ccg_failed(admin_audit(c, d, &list))) {
        ccg_reasons_free(&list);
        ccg_reasons_init(&list);
        (void)ccg_reasons_add(&list, CCG_R_AUDIT_WRITE_FAILED, NULL);
        kbs_error_response(c->resp, 503, &list, &c->ctx);
    } else {
        kbs_error_response(c->resp, status_of(r), &list, &c->ctx);
    }
    ccg_reasons_free(&list);
}

void kbs_admin_fail(kbs_admin_call *c)
{
    ccg_reason r = ccg_error_reason();
    kbs_admin_deny(c, r == CCG_R_OK ? CCG_R_ADMIN_REQUEST_MALFORMED : r);
}

int kbs_admin_intent(kbs_admin_call *c)
{
    if (ccg_failed(admin_audit(c, CCG_AUDIT_ALLOW, NULL))) {
        kbs_admin_deny(c, CCG_R_AUDIT_WRITE_FAILED);
        return 0;
    }
    c->intended = 1;
    return 1;
}

void kbs_admin_ok(kbs_admin_call *c, unsigned status, json_t *body)
{
    if (body == NULL) {
        kbs_admin_deny(c, CCG_R_INTERNAL_OUT_OF_MEMORY);
        return;
    }
    /* A change was recorded before it was made (kbs_admin_intent); a read is recorded now. */
    if (!c->intended && ccg_failed(admin_audit(c, CCG_AUDIT_ALLOW, NULL))) {
        json_decref(body);
        kbs_admin_deny(c, CCG_R_AUDIT_WRITE_FAILED);
        return;
    }
    json_object_set_new(body, "request_id", json_string(c->req->request_id != NULL ? c->req->request_id : ""));
    kbs_json_response(c->resp, status, body);
}

int kbs_admin_require(kbs_admin_call *c, kbs_admin_role role)
{
    if (c->who.role == role) {
        return 1;
    }
    kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
    return 0;
}

/* ---------------------------------------------------------------- routing */

void kbs_admin_handle(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp)
{
    kbs_admin_call c;
    const char *p = req->path + strlen(KBS_ADMIN_PREFIX);
    memset(&c, 0, sizeof(c));
    c.k = k;
    c.req = req;
    c.resp = resp;
    c.now = kbs_now(k);
    c.action = "admin.authenticate";
    c.ctx.request_id = req->request_id;
    if (ccg_failed(kbs_admin_authenticate(k->admin_issuers, req->authorization, c.now, &c.who))) {
        kbs_admin_fail(&c);
        return;
    }
    if (strcmp(p, "keys") == 0 || strncmp(p, "keys/", 5) == 0) {
        kbs_admin_keys(&c, p + 4);
    } else if (strcmp(p, "policies") == 0 || strncmp(p, "policies/", 9) == 0) {
        kbs_admin_policies(&c, p + 8);
    } else if (strcmp(p, "refvals") == 0 || strncmp(p, "refvals/", 8) == 0) {
        kbs_admin_refvals(&c, p + 7);
    } else if (strcmp(p, "collateral") == 0 || strncmp(p, "collateral/", 11) == 0) {
        kbs_admin_collateral(&c, p + 10);
    } else if (strcmp(p, "audit") == 0 || strncmp(p, "audit/", 6) == 0) {
        kbs_admin_ops(&c, "audit", p + 5);
    } else if (strcmp(p, "health") == 0) {
        kbs_admin_ops(&c, "health", p + 6);
    } else {
        c.action = "admin.unknown";
        kbs_admin_deny(&c, CCG_R_ADMIN_REQUEST_MALFORMED);
    }
}
