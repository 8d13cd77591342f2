/* The admin API of the key broker (/admin/v0/...): private interface of src/kbs/kbs_admin*.c.
 *   kbs_admin_auth.c    admin issuers, ES256 role tokens, routing, audit-then-answer helpers
 *   kbs_admin_docs.c    strict parsers of admin request bodies (fuzzed) and the owner mapping
 *   kbs_admin_keys.c    provider: import, disable, enable, rotate, list (never material)
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
#define KBS_ADMIN_KEY_MAX 512u
/* Leeway for admin token times (seconds). */
#define KBS_ADMIN_LEEWAY 60

typedef struct kbs_admin_issuers kbs_admin_issuers;

/* Loads {"issuer-id": "/abs/path/public.pem"} (NULL: no issuer, so every admin call is refused). */
CCG_MUST_CHECK ccg_result kbs_admin_issuers_load(const json_t *cfg, kbs_admin_issuers **out);
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

/* Verifies "Bearer <ES256 JWT>" against every admin issuer at now. The claims must be exactly
 * sub (string), role (provider|authority|operator), exp and iat (integers), and optionally iss (which
 * must then name the issuer whose key verified it). admin.unauthenticated otherwise. */
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
} kbs_admin_call;

/* Audits a denial (persona, action, identity, reason) and answers with the protocol's error body. */
void kbs_admin_deny(kbs_admin_call *c, ccg_reason r);
/* Denies with the thread's last error reason (admin.request_malformed when none). */
void kbs_admin_fail(kbs_admin_call *c);
/* Audits an allow and answers body (stolen) with status; audit.write_failed (503) if the append fails. */
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

/* ---- ownership: which provider (token sub) owns a key or a policy, kept in store settings ---- */

/* kind is "key" or "policy". *found is 0 when no owner is recorded. */
CCG_MUST_CHECK ccg_result kbs_admin_owner_get(ccg_kbs *k, const char *kind, const char *id,
                                              char owner[KBS_ADMIN_NAME_MAX + 1], int *found);
CCG_MUST_CHECK ccg_result kbs_admin_owner_put(ccg_kbs *k, const char *kind, const char *id, const char *owner);
/* Records owner atomically unless an owner is recorded already (of any number of concurrent callers
 * exactly one wins); *mine tells whether the recorded owner is `owner`. */
CCG_MUST_CHECK ccg_result kbs_admin_owner_claim(ccg_kbs *k, const char *kind, const char *id, const char *owner,
                                                int *mine);
/* 1 when the caller (a provider) owns the key or policy; otherwise answers (admin.forbidden for another
 * provider's or an unowned existing object, key.not_found when absent) and returns 0. */
int kbs_admin_owns(kbs_admin_call *c, const char *kind, const char *id);

/* ---- endpoint groups: rest is the path after /admin/v0/<group> ---- */
void kbs_admin_keys(kbs_admin_call *c, const char *rest);
void kbs_admin_policies(kbs_admin_call *c, const char *rest);
void kbs_admin_refvals(kbs_admin_call *c, const char *rest);
void kbs_admin_collateral(kbs_admin_call *c, const char *rest);
void kbs_admin_ops(kbs_admin_call *c, const char *group, const char *rest);

/* The entry point from the router for every path under /admin/v0/. */
void kbs_admin_handle(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);

#endif
