/* Private state and helpers of the key broker (src/kbs/). */
#ifndef CCGATE_KBS_INTERNAL_H
#define CCGATE_KBS_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include <openssl/evp.h>

#include "ccgate/audit.h"
#include "ccgate/refvalue.h"
#include "ccgate/kbs.h"
#include "ccgate/secmem.h"
#include "ccgate/store.h"

#include "kbs_gpu.h"
#include "kbs_tdx.h"

typedef enum {
    KBS_EP_AUTH,
    KBS_EP_ATTEST,
    KBS_EP_RESOURCE,
    KBS_EP_HEALTH,
    KBS_EP_METRICS,
    KBS_EP_OTHER,
    KBS_EP_COUNT
} kbs_endpoint;

#define KBS_BUCKETS 11

typedef struct {
    _Atomic uint64_t requests[KBS_EP_COUNT][5]; /* by status class 1xx..5xx */
    _Atomic uint64_t latency[KBS_EP_COUNT][KBS_BUCKETS];
    _Atomic uint64_t latency_count[KBS_EP_COUNT];
    _Atomic uint64_t latency_sum_us[KBS_EP_COUNT];
    _Atomic uint64_t denials[CCG_R__COUNT];
    _Atomic uint64_t releases;
    _Atomic uint64_t tokens;
    _Atomic uint64_t records_reused; /* /resource used the session record parse kept at /attest */
    _Atomic uint64_t challenges; /* also paces the purge of expired sessions */
} kbs_metrics;

kbs_endpoint kbs_endpoint_of(const char *path);
void kbs_metrics_observe(kbs_metrics *m, kbs_endpoint ep, unsigned status, double seconds);
void kbs_metrics_denial(kbs_metrics *m, const ccg_reasons *reasons);
/* The Prometheus text exposition; malloc'd, NULL when out of memory. */
char *kbs_metrics_render(kbs_metrics *m, size_t *len);

struct ccg_kbs {
    kbs_metrics metrics;
    ccg_store *store;
    ccg_audit *audit;
    json_t *keystore_cfg;
    ccg_keystore *ks;        /* NULL until it opens; retried per request */
    EVP_PKEY *token_key;     /* loaded once from the store setting */
    json_t *token_jwk;       /* its public JWK (the tokens' "jwk" claim), made once with it */
    pthread_mutex_t lock;    /* guards ks and token_key */
    char *issuer;
    char *attestation_policy;
    int64_t nonce_ttl;
    int64_t token_ttl;
    int allow_unlocked;
    int explain;
    ccg_refval_issuers *issuers; /* trusted reference-value issuers (possibly none) */
    ccg_refval_issuers *tcb_issuers;   /* issuers trusted to sign TCB baselines (possibly none) */
    ccg_snp_tcb_baselines tcb_baselines; /* from the configuration, one per product at most */
    ccg_snp_kds_config kds;      /* uploaded collateral (the store), then the cache / KDS when configured */
    int kds_enabled;
    char *kds_dir;
    char *kds_url;
    ccg_kbs_clock clock;
    void *clock_ctx;
    struct kbs_verifiers *verifiers; /* SNP verifiers by trusted extra roots (kbs_decision.c) */
    struct kbs_policies *policies;   /* parsed release policies (kbs_policy_cache.c) */
    struct kbs_admin_issuers *admin_issuers; /* the admin API's token issuers (kbs_admin.h) */
    struct kbs_audit_agg *audit_agg;         /* anonymous denials' summaries (NULL: each recorded) */
    uint8_t trust_material[32];  /* SHA-256 of the configured reference-value issuers (ccg_kbs_new) */
    int64_t decision_reuse;      /* seconds /resource may reuse an /attest decision (0: never) */
    struct kbs_attempts *attempts; /* failed attempts per session and per address (kbs_attempts.c) */
    kbs_gpu *gpu;                /* GPU collateral, verifiers and RIM cache (kbs_gpu.c) */
    kbs_tdx *tdx;                /* the TDX verifier and collateral (kbs_tdx.c) */
    struct kbs_records *records; /* session records this instance wrote, parsed (kbs_record_cache.c) */
};

ccg_time kbs_now(ccg_kbs *k);

/* Whether a store or audit location names PostgreSQL ("postgresql://" or "postgres://"). */
int kbs_location_is_postgres(const char *location);
/* Readiness of the databases: a cheap read on the store and the audit log's head, so /readyz fails with
 * their reason (store.unavailable, ...) while a database is down and passes again once it is back (the
 * next call reconnects by itself): no per-process state survives an outage. */
CCG_MUST_CHECK ccg_result kbs_databases_ready(ccg_kbs *k);
/* The keystore, opening it when it is not open yet (kms.unavailable otherwise). Borrowed. */
CCG_MUST_CHECK ccg_result kbs_keystore(ccg_kbs *k, ccg_keystore **out);
/* The token-signing key (created once and kept wrapped in the store). Borrowed. */
CCG_MUST_CHECK ccg_result kbs_token_key(ccg_kbs *k, EVP_PKEY **out);
/* The additional data the token-signing key is wrapped with (kbs_token.c; re-wrapped by kbs_host.c). */
#define KBS_TOKEN_KEY_AAD "ccgate-kbs/token-signing-key"
/* The store as the SNP collateral's first source (kbs_collateral.c; a ccg_snp_collateral_lookup, ctx the
 * broker). */
CCG_MUST_CHECK ccg_result kbs_collateral_lookup(void *ctx, const char *collateral_id, uint8_t **out,
                                                size_t *out_len, int *found);
/* An upload under an ID that verification reads (tdx/..., kbs_collateral.c; snp/ is checked by
 * kbs_admin_parse_collateral) must be that item, current at now: its code otherwise. */
CCG_MUST_CHECK ccg_result kbs_collateral_check_upload(const char *collateral_id, const uint8_t *data, size_t len,
                                                      ccg_time now);
/* The token key's public JWK; a new reference. */
CCG_MUST_CHECK ccg_result kbs_token_jwk(ccg_kbs *k, json_t **out);
/* Signs a token for an attested session. */
CCG_MUST_CHECK ccg_result kbs_token_issue(ccg_kbs *k, const char *session_id, const json_t *tee_pubkey,
                                          const ccg_decision *d, ccg_time now, char **token);
/* Verifies a bearer token and returns its session ID (malloc'd). */
CCG_MUST_CHECK ccg_result kbs_token_verify(ccg_kbs *k, const char *token, ccg_time now, char **session_id);

/* Rotation to exactly `version` (live + 1): wraps key for it and rotates (store.conflict when the key is
 * no longer at version - 1). ccg_kbs_rotate_key is this at the live version read first. */
CCG_MUST_CHECK ccg_result kbs_rotate_key_to(ccg_kbs *k, const char *key_id, int64_t version, const ccg_secbuf *key);

/* A denial or failure to answer: status, reasons, identity of what was decided. */
typedef struct {
    const char *request_id;
    const char *key_id;
    int64_t key_version;
    const char *policy_id;
    int64_t policy_version;
    const char *evidence_digest;
    const char *cause;  /* a dependency's own error (e.g. the PKCS#11 CKR name); never a secret */
    const json_t *claims; /* the appraised evidence's claims: their tcb_status and advisories are audited */
    const json_t *presented; /* the presented claims for a format-6 record (kbs_presented_claims), or NULL */
    int ordered; /* the record needs no sync of its own (ccg_audit_append_ordered): a token's, whose
                  * releases come later and sync it with theirs */
} kbs_context;

/* The presented claims of a decision (kbs_presented.c): the non-secret claims of the evidence of tee
 * (snp or tdx), the reference-value set of p with its version and the record a denial names, the GPU
 * count of d and the key version asked for (0: the current). A new reference; NULL when out of memory. */
json_t *kbs_presented_claims(const ccg_kbs_policy *p, const char *tee, const ccg_kbs_snp_evidence *snp,
                             const ccg_kbs_tdx_evidence *tdx, const ccg_decision *d, int64_t refval_version,
                             int64_t key_version_requested);

/* Fills resp with the JSON error body {"type","detail","reasons","request_id","policy_id",
 * "policy_version","key_id"}; the detail is the first reason's registry message. */
void kbs_error_response(ccg_kbs_http_response *resp, unsigned status, const ccg_reasons *reasons,
                        const kbs_context *ctx);
/* HTTP status for a reason: kms/store/audit dependencies 503, input 400, key.not_found 404, session
 * problems 401, kbs.too_many_attempts 429, other denials 403. */
unsigned kbs_status_for(ccg_reason r);
void kbs_json_response(ccg_kbs_http_response *resp, unsigned status, json_t *body_stolen);

/* Appends the audit record (before any response). A failure replaces resp by a 500
 * audit.write_failed answer and returns failure. */
CCG_MUST_CHECK ccg_result kbs_audit(ccg_kbs *k, const char *action, const kbs_context *ctx, ccg_audit_decision d,
                                    const ccg_reasons *reasons, ccg_time now);
/* Audits a denial with one reason and answers it (status from kbs_status_for unless given). */
void kbs_deny(ccg_kbs *k, ccg_kbs_http_response *resp, const char *action, const kbs_context *ctx, ccg_reason r,
              unsigned status, ccg_time now);
/* Audits a denial with a decision's reasons and answers it with status. */
void kbs_deny_reasons(ccg_kbs *k, ccg_kbs_http_response *resp, const char *action, const kbs_context *ctx,
                      const ccg_reasons *reasons, unsigned status, ccg_time now);

void kbs_handle_auth(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);
void kbs_handle_attest(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);
void kbs_handle_explain(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);
void kbs_handle_resource(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);

/* What an allow decision rested on, for reusing it later (kbs_resource.c): until when the collateral
 * and the reference values it used stay valid (0: unknown, never reuse), the version of the
 * reference-value set (0: the policy names none), the digest of the collateral it used (certificates
 * and CRL; "" unknown, never reuse) and the trust epoch it was appraised in (kbs_trust_epoch). */
typedef struct {
    ccg_time valid_until;
    int64_t refval_version;
    char collateral[65];
    char trust_epoch[65];
} kbs_appraisal;

/* Evaluates a release policy for the session's tee: "tdx" appraises tdx (kbs_tdx_evaluate; never
 * reusable: info gets no collateral), anything else ev under the SNP policy, first loading the
 * reference-value set its policy names (the newest version in the store) with the configured issuers;
 * then the GPUs (kbs_evaluate_gpus). Always fills
 * *d; info (may be NULL) too. session_id: the session presenting the evidence (NULL: explain, which
 * records no GPU report). */
void kbs_evaluate(ccg_kbs *k, const ccg_kbs_policy *p, const char *tee, const ccg_kbs_snp_evidence *ev,
                  const ccg_kbs_tdx_evidence *tdx, const char *session_id, const char *nonce,
                  const ccg_jwk *tee_pubkey, const char *additional_evidence, ccg_time now, ccg_decision *d,
                  kbs_appraisal *info);
/* Init-data (kbs_initdata.c, docs/kbs.md "Init-data"). The binding: a presented init-data's digest,
 * padded or truncated to the field, must equal HOST_DATA (snp) or MRCONFIGID (tdx): kbs.initdata_mismatch.
 * The policy: init_data.required without init-data is kbs.initdata_missing, a digest not in
 * init_data.digests kbs.initdata_not_allowed. kbs_initdata_check does both and adds the "init_data"
 * claim ({algorithm, digest}) to d. Each adds its reasons to d. */
void kbs_initdata_check_binding(const char *tee, const ccg_kbs_snp_evidence *snp, const ccg_kbs_tdx_evidence *tdx,
                                const ccg_kbs_initdata *id, ccg_decision *d);
void kbs_initdata_check_policy(const ccg_kbs_policy *p, const ccg_kbs_initdata *id, ccg_decision *d);
void kbs_initdata_check(const ccg_kbs_policy *p, const char *tee, const ccg_kbs_attestation *att, ccg_decision *d);
/* At /resource: kbs_initdata_check_policy under the key's policy on the session record's init-data. */
void kbs_initdata_check_record(const ccg_kbs_policy *p, const json_t *rec, ccg_decision *d);
/* The session record's "init_data": {"algorithm","digest":hex} or null (absent member: none). */
json_t *kbs_initdata_to_json(const ccg_kbs_initdata *id);
CCG_MUST_CHECK ccg_result kbs_initdata_from_json(const json_t *v, ccg_kbs_initdata *out);
/* The release policy's "init_data" member (NULL: absent): {"required":bool,"digests":[hex..]}. */
CCG_MUST_CHECK ccg_result kbs_initdata_policy_parse(const json_t *section, ccg_kbs_policy *p);

/* The GPU part of the decision under p (kbs_gpu_evaluate with the broker's collateral and store), merged
 * into d after the CPU part: the reports are recorded for session_id when d still allows. */
void kbs_evaluate_gpus(ccg_kbs *k, const ccg_kbs_policy *p, const char *session_id, const char *nonce,
                       const ccg_jwk *tee_pubkey, const char *additional_evidence, ccg_time now, ccg_decision *d);
/* The newest version of a reference-value set in the store (refval.set_missing when none). */
CCG_MUST_CHECK ccg_result kbs_refval_version(ccg_kbs *k, const char *set_id, int64_t *version);

/* A bounded, thread-safe cache of SNP verifiers keyed by a release policy's trusted extra roots, so a
 * verified VCEK/ASK/ARK chain is not verified again at every appraisal (kbs_decision.c). */
typedef struct kbs_verifiers kbs_verifiers;
#define KBS_VERIFIER_CACHE_SIZE 16u
CCG_MUST_CHECK ccg_result kbs_verifiers_new(size_t capacity, kbs_verifiers **out);
void kbs_verifiers_free(kbs_verifiers *c);
void kbs_verifiers_stats(kbs_verifiers *c, uint64_t *hits, uint64_t *misses, size_t *size);
/* What the verification of an allow decision used: the earliest expiry of its collateral (0 unknown)
 * and the digest of that collateral (kbs_collateral_now). */
typedef struct {
    ccg_time valid_until;
    uint8_t collateral[32];
    int has_collateral;
} kbs_basis;

/* ccg_kbs_policy_evaluate with the verifier for p's roots from cache (built and kept on a miss).
 * basis (may be NULL) is filled for an allow decision. */
CCG_MUST_CHECK ccg_result kbs_policy_evaluate_cached(kbs_verifiers *cache, const ccg_kbs_policy *p, const char *tee,
                                                     const ccg_kbs_snp_evidence *ev, const char *nonce,
                                                     const ccg_jwk *tee_pubkey, const char *additional_evidence,
                                                     const ccg_snp_verify_opts *opts, const ccg_snp_kds_config *kds,
                                                     ccg_time now, ccg_decision *out, kbs_basis *basis);
/* SHA-256 of the collateral an appraisal of ev under p would use now (the evidence's certificates,
 * and the cached or fetched VCEK, chain and CRL where the appraisal takes them), without verifying
 * anything: a newly published CRL or a replaced VCEK changes it. collateral.* when a piece is missing. */
CCG_MUST_CHECK ccg_result kbs_collateral_now(kbs_verifiers *cache, const ccg_kbs_policy *p,
                                             const ccg_kbs_snp_evidence *ev, const ccg_snp_kds_config *kds,
                                             uint8_t digest[32]);
/* The trust epoch of an appraisal under p, as hex: SHA-256 over the broker's trust material (its
 * reference-value issuers, fixed at start) and p's trusted roots. Changes when either does. */
CCG_MUST_CHECK ccg_result kbs_trust_epoch(const uint8_t trust_material[32], const ccg_kbs_policy *p, char out[65]);

/* Failed attempts (kbs_attempts.c): a window counter per client address and per session. Over a
 * limit, /auth and /attest answer 429 kbs.too_many_attempts before parsing anything. */
typedef struct kbs_attempts kbs_attempts;
CCG_MUST_CHECK ccg_result kbs_attempts_new(int64_t per_session, int64_t per_address, int64_t window,
                                           int64_t session_window, kbs_attempts **out);
void kbs_attempts_free(kbs_attempts *a);
/* 1 when the address or the session (either may be NULL) has no failed attempt left now. */
int kbs_attempts_exhausted(kbs_attempts *a, const char *address, const char *session, ccg_time now);
/* Counts one failed attempt against the address and the session (either may be NULL). */
void kbs_attempts_failed(kbs_attempts *a, const char *address, const char *session, ccg_time now);
/* Answers 429 kbs.too_many_attempts (counted in the metrics; not audited one by one: the failures
 * that used the attempts up were). */
void kbs_refuse_attempts(ccg_kbs *k, ccg_kbs_http_response *resp, const kbs_context *ctx);

/* The newest version of a release policy, parsed once per (policy_id, version, digest) and shared from
 * a bounded cache (kbs_policy_cache.c): stored versions are immutable, so a cached parse is the same
 * as a fresh one. *out is borrowed until kbs_policy_put(*ref); the store is still read every time, so
 * a new version is seen at once. */
typedef struct kbs_policy_ref kbs_policy_ref;
typedef struct kbs_policies kbs_policies;
#define KBS_POLICY_CACHE_SIZE 32u
CCG_MUST_CHECK ccg_result kbs_policies_new(size_t capacity, kbs_policies **out);
void kbs_policies_free(kbs_policies *c);
CCG_MUST_CHECK ccg_result kbs_load_policy(ccg_kbs *k, const char *policy_id, const ccg_kbs_policy **out,
                                          kbs_policy_ref **ref);
void kbs_policy_put(ccg_kbs *k, kbs_policy_ref *ref);

/* The frame of the broker's bounded caches (kbs_table.c): count entry pointers (NULL: empty) behind one
 * mutex, and a clock for least-recently-used stamps. init: count in 1..max; destroy calls free_entry on
 * every slot, empty ones included (NULL), when no holder is left. */
typedef struct {
    pthread_mutex_t lock;
    void **slots;
    size_t count;
    uint64_t clock;
} kbs_table;
CCG_MUST_CHECK ccg_result kbs_table_init(kbs_table *t, size_t count, size_t max);
void kbs_table_destroy(kbs_table *t, void (*free_entry)(void *entry));
/* Under the lock: the slot a new entry takes, an empty one first, else the one with the least stamp. */
size_t kbs_table_victim(const kbs_table *t, uint64_t (*stamp_of)(const void *entry));

/* The session records this instance wrote at /attest, kept parsed for its /resource
 * (kbs_record_cache.c). put takes its own references (rec is never changed afterwards; tee_pubkey is
 * shared); get answers only for the same session and byte for byte the same record text, with new
 * references the caller frees (json_decref, ccg_jwk_free), and 0 otherwise: then parse the text. */
typedef struct kbs_records kbs_records;
#define KBS_RECORD_CACHE_SLOTS 256u
/* Only records up to this size are kept (an SNP record is ~5 KB): at most ~256 x 32 KiB of text and
 * about as much parsed, whatever evidence the guests send (a record may be up to 1 MiB). */
#define KBS_RECORD_CACHE_MAX_TEXT (32u * 1024u)
CCG_MUST_CHECK ccg_result kbs_records_new(size_t slots, kbs_records **out);
void kbs_records_free(kbs_records *c);
void kbs_records_put(kbs_records *c, const char *session_id, const char *text, json_t *rec, const ccg_jwk *tee_pubkey);
int kbs_records_get(kbs_records *c, const char *session_id, const char *text, json_t **rec, ccg_jwk **tee_pubkey);

/* The `sev` crate's field-wise JSON of an attestation report (kbs_sev_json.c) to its 1184 bytes:
 * kbs.request_malformed, or the serializer's snp.report_version_unsupported. */
CCG_MUST_CHECK ccg_result kbs_sev_report_from_json(const json_t *obj, uint8_t out[CCG_SNP_REPORT_SIZE]);

/* The request path grammar (kbs_path.c). kbs_path_check judges a path as sent: CCG_R_OK, or
 * kbs.path_encoded / kbs.path_invalid. With decode (the admin API) *decoded receives the
 * percent-decoded path (malloc'd); otherwise nothing is decoded and *decoded stays NULL. */
ccg_reason kbs_path_check(const char *path, size_t path_len, int decode, char **decoded);
/* What was sent, printable: bytes outside 0x21..0x7E and "\\" as \xHH, a NUL that hid the rest
 * (sent_len > strlen(s)) as \x00..., cut with "..." to fit cap. */
void kbs_path_escape(const char *s, size_t sent_len, char *out, size_t cap);
/* "/kbs/v0/resource/<repo>/<type>/<tag>": three segments of [A-Za-z0-9._-], not "." or "..",
 * into key_id ("<repo>/<type>/<tag>"): CCG_R_OK or kbs.path_invalid. */
ccg_reason kbs_key_id_parse(const char *path, char *key_id, size_t cap);

/* Anonymous denials in the audit log (kbs_audit_agg.c): per (action, decision, reasons) and window,
 * the first is appended and the rest are counted into one summary record (format 2, "count"). */
typedef struct kbs_audit_agg kbs_audit_agg;
CCG_MUST_CHECK ccg_result kbs_audit_agg_new(ccg_time window, kbs_audit_agg **out);
void kbs_audit_agg_free(kbs_audit_agg *g);
/* A denial without a key version, policy or evidence digest, whose reasons are all INPUT or DENY. */
int kbs_audit_is_anonymous(const ccg_audit_event *ev);
/* Appends ev (the first of its kind in a window, after the summary of an ended window) or counts it. */
CCG_MUST_CHECK ccg_result kbs_audit_anonymous(ccg_kbs *k, const ccg_audit_event *ev);
/* Appends the summaries of the windows ended by now (every pending one when force). */
CCG_MUST_CHECK ccg_result kbs_audit_flush(ccg_kbs *k, ccg_time now, int force);

/* The listening socket (kbs_listen.c): "address" (literal, host name, [v6]:port, host:port) resolved
 * with getaddrinfo and the first bindable result bound, listening and non-blocking. loopback_only
 * refuses a non-loopback address (kbs.config_invalid). shown receives "127.0.0.1:8080" / "[::1]:8080". */
struct sockaddr;
CCG_MUST_CHECK ccg_result kbs_listen_open(const char *address, uint16_t default_port, int loopback_only,
                                          int *fd_out, uint16_t *port_out, char *shown, size_t shown_cap);
void kbs_sockaddr_text(const struct sockaddr *sa, char *out, size_t cap);

/* The server's request body collector (kbs_body.c). Every buffer it gives up, when growing or when
 * freed, is zeroed first: a body can carry a model key. */
typedef struct {
    char *data; /* NUL-terminated past len */
    size_t len;
    size_t cap;
    void (*released)(const char *buf, size_t cap, void *ctx); /* tests: sees each buffer, zeroed, before free */
    void *released_ctx;
} kbs_body;
/* 0 appended; 1 the body would pass max bytes (nothing appended); -1 out of memory. */
int kbs_body_append(kbs_body *b, const char *data, size_t n, size_t max);
void kbs_body_free(kbs_body *b);

/* Standard base64 (with padding) or an array of byte values, 1..max bytes (kbs.request_malformed);
 * malloc'd (kbs_wire.c). */
CCG_MUST_CHECK ccg_result kbs_decode_bytes(const json_t *v, const char *what, size_t max, uint8_t **out,
                                           size_t *out_len);
/* Standard base64 with padding, malloc'd (NULL: out of memory). */
char *kbs_b64_std(const uint8_t *in, size_t n);

/* A random URL-safe token of 32 bytes (43 characters). */
CCG_MUST_CHECK ccg_result kbs_random_id(char out[64]);

#endif
