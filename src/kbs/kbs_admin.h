/* The admin API of the key broker (/admin/v0/...): private interface of src/kbs/kbs_admin*.c.
 *   kbs_admin_auth.c    admin issuers, ES256 role tokens, routing, audit helpers (intent, answers)
 *   kbs_admin_docs.c    strict parsers of admin request bodies (fuzzed) and ownership checks
 *   kbs_admin_keys.c    provider: import, disable, enable, rotate, cut-over, transfer, list (never material)
 *   kbs_admin_policy.c  provider: set and get release policies
 *   kbs_admin_refval.c  authority: put and get reference-value sets, put collateral
 *   kbs_admin_ops.c     operator: audit list and verify, health
 * See docs/kbs.md, "Personas and roles". */
#ifndef CCGATE_KBS_ADMIN_H
#define CCGATE_KBS_ADMIN_H

#include "kbs_internal.h"

#include "ccgate/secmem.h"

#define KBS_ADMIN_PREFIX "/admin/v0/"
#define KBS_ADMIN_NAME_MAX 128u
/* Largest model key accepted by import and rotate (bytes). */
#define KBS_ADMIN_KEY_MAX CCG_KBS_RESOURCE_MAX /* the one size rule (ccg_kbs_resource_size_check) */
/* Leeway for admin token times (seconds). */
#define KBS_ADMIN_LEEWAY 60

typedef struct kbs_admin_issuers kbs_admin_issuers;

/* Loads the configuration's admin issuers (none: every admin call is refused), each bound to the
 * roles and subjects it may assert, with the audience and the largest token lifetime. */
CCG_MUST_CHECK ccg_result kbs_admin_issuers_load(const ccg_kbs_config *cfg, kbs_admin_issuers **out);
void kbs_admin_issuers_free(kbs_admin_issuers *iss);

typedef enum {
    KBS_ROLE_PROVIDER = 1,
    KBS_ROLE_AUTHORITY = 2,
    KBS_ROLE_OPERATOR = 3,
} kbs_admin_role;

/* "provider", "authority", "operator"; 0 for anything else. */
kbs_admin_role kbs_admin_role_parse(const char *name);

typedef struct {
    kbs_admin_role role;
    char sub[KBS_ADMIN_NAME_MAX + 1];
    char issuer[KBS_ADMIN_NAME_MAX + 1];
} kbs_admin_principal;

/* Verifies "Bearer <ES256 JWT>" against every admin issuer at now. The claims are sub (string), role
 * (provider|authority|operator), exp and iat (integers), aud, and optionally iss (which must then name
 * the issuer whose key verified it); nothing else. admin.unauthenticated for a bad signature, time,
 * shape or iss; admin.audience_mismatch when aud does not name the broker's admin audience;
 * admin.token_lifetime_exceeded when exp - iat is not in (0, max]; admin.role_not_permitted and
 * admin.subject_not_permitted when the verifying issuer may not assert that role or subject. */
CCG_MUST_CHECK ccg_result kbs_admin_authenticate(const kbs_admin_issuers *iss, const char *authorization,
                                                 ccg_time now, kbs_admin_principal *out);

/* One admin call in progress. */
typedef struct {
    ccg_kbs *k;
    const ccg_kbs_http_request *req;
    ccg_kbs_http_response *resp;
    kbs_admin_principal who;
    ccg_time now;
    const char *action; /* "admin.key.import", ... */
    kbs_context ctx;    /* key and policy identity, for the audit record and the denial body */
    int intended;       /* the change's allow record is written (kbs_admin_intent) */
} kbs_admin_call;

/* Audits a denial (persona, action, identity, reason) and answers with the protocol's error body. */
void kbs_admin_deny(kbs_admin_call *c, ccg_reason r);
/* Denies with the thread's last error reason (admin.request_malformed when none). */
void kbs_admin_fail(kbs_admin_call *c);
/* Write-ahead: records the allow of a state change before it is made. 1 when written; otherwise the
 * call is answered with audit.write_failed (503) and returns 0, and nothing may change. A change that
 * then fails is answered through kbs_admin_fail, which records the error after the allow. */
int kbs_admin_intent(kbs_admin_call *c);
/* Answers body (stolen) with status. A read (no intent written) is audited first; audit.write_failed
 * (503) if that append fails. */
void kbs_admin_ok(kbs_admin_call *c, unsigned status, json_t *body);
/* 1 when the caller's role is `role`; otherwise denies admin.forbidden and returns 0. */
int kbs_admin_require(kbs_admin_call *c, kbs_admin_role role);

/* ---- request documents (strict; unknown members refused; admin.request_malformed) ---- */

typedef struct {
    char key_id[CCG_STORE_ID_MAX + 1];    /* import only */
    char policy_id[CCG_STORE_ID_MAX + 1]; /* import only */
    ccg_secbuf key;                       /* the model key, in secret memory */
} kbs_admin_key_doc;

/* Import {"key_id","policy_id","key": base64url}. */
CCG_MUST_CHECK ccg_result kbs_admin_parse_key_import(const char *body, size_t len, int allow_unlocked,
                                                     kbs_admin_key_doc *out);
/* Rotate {"key": base64url}. */
CCG_MUST_CHECK ccg_result kbs_admin_parse_key_rotate(const char *body, size_t len, int allow_unlocked,
                                                     kbs_admin_key_doc *out);
void kbs_admin_key_doc_clear(kbs_admin_key_doc *d);

/* Collateral {"collateral_id","version","data": base64url}. *data is malloc'd. */
typedef struct {
    char id[CCG_STORE_ID_MAX + 1];
    int64_t version;
    uint8_t *data;
    size_t len;
} kbs_admin_collateral_doc;
CCG_MUST_CHECK ccg_result kbs_admin_parse_collateral(const char *body, size_t len, kbs_admin_collateral_doc *out);
void kbs_admin_collateral_doc_clear(kbs_admin_collateral_doc *d);

/* A store ID: 1..256 printable ASCII bytes without space. */
int kbs_admin_id_valid(const char *id);

/* ---- ownership: which provider, the pair (issuer, subject), owns a key or a policy (store owners) ---- */

/* 1 when the caller (a provider) owns the key or policy; otherwise answers (admin.forbidden for another
 * owner's or an unowned existing object, admin.owner_unbound for a legacy owner no issuer is bound to,
 * key.not_found when absent) and returns 0. */
int kbs_admin_owns(kbs_admin_call *c, ccg_store_owned kind, const char *id);
/* 0 when the ID is free for the caller: no owner recorded and no object, or the caller's own object;
 * otherwise answers as kbs_admin_owns and returns -1. */
int kbs_admin_may_create(kbs_admin_call *c, ccg_store_owned kind, const char *id);
/* Claims the ID for the caller (after its intent record): 1 when the caller owns it now; otherwise answers
 * (admin.forbidden: another provider claimed it first) and returns 0. */
int kbs_admin_claim(kbs_admin_call *c, ccg_store_owned kind, const char *id);
/* 1 when the configured admin issuer `issuer` may assert `subject` for the provider role: an owner a
 * token can act as (ownership transfer refuses any other). */
int kbs_admin_provider_may_own(const ccg_kbs *k, const char *issuer, const char *subject);
/* Binds legacy owners to the single configured provider issuer that may assert their subject. */
CCG_MUST_CHECK ccg_result kbs_admin_bind_legacy_owners(ccg_kbs *k);
/* 1 when policy_id is the broker-wide attestation policy (reserved for the operator role). */
int kbs_admin_policy_reserved(const ccg_kbs *k, const char *policy_id);

/* ---- endpoint groups: rest is the path after /admin/v0/<group> ---- */
void kbs_admin_keys(kbs_admin_call *c, const char *rest);
void kbs_admin_policies(kbs_admin_call *c, const char *rest);
void kbs_admin_refvals(kbs_admin_call *c, const char *rest);
void kbs_admin_collateral(kbs_admin_call *c, const char *rest);
void kbs_admin_ops(kbs_admin_call *c, const char *group, const char *rest);

/* The entry point from the router for every path under /admin/v0/. */
void kbs_admin_handle(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);

#endif
