/* The key broker (ccgate-kbs): the KBS attestation protocol 0.4.0 of Confidential Containers
 * (Request -> Challenge -> Attestation -> Response) with attestation-gated release of model keys.
 * See docs/kbs.md for the wire format, configuration and the release policy document.
 *
 * Layers (src/kbs/):
 *   kbs_config.c    the daemon's JSON configuration
 *   kbs_policy.c    the release policy document
 *   kbs_decision.c  its evaluation against SNP evidence bound to the challenge
 *   kbs_tdx.c       ... and against Intel TDX evidence (kbs_tdx_wire.c: Trustee's TdxEvidence, fuzzed)
 *   kbs_wire.c      the request-body parsers (Request, Attestation, SNP evidence) -- fuzzed
 *   kbs_sev_json.c  the sev crate's field-wise report JSON back to the 1184-byte report
 *   kbs_errors.c    denial bodies {"type","detail","reasons","request_id","policy_id","policy_version"}
 *   kbs_token.c     the ES256 token key (store setting, wrapped by the keystore) and tokens
 *   kbs_broker.c    state (store, audit, keystore, clock) and provisioning
 *   kbs_host.c      the host-side commands, audited as the host operator
 *   kbs_routes.c    routing, health, readiness; kbs_metrics.c  /metrics
 *   kbs_auth.c, kbs_attest.c, kbs_resource.c   the three protocol steps, HTTP-independent
 *   kbs_explain.c   the opt-in explain endpoint (checks only; nothing consumed or released)
 *   kbs_server.c    libmicrohttpd: bodies, cookies, headers, request IDs, log lines, TLS, connection
 *                   limits, the request deadline, and the TLS reload (a new daemon, the old one quiesced)
 *   kbs_listen.c    the listening socket: IPv4, IPv6, host names (getaddrinfo), default port 8080
 *   kbs_reload.c    SIGHUP: the configuration re-read and compared; only "tls" applies without a restart
 *   kbs_path.c      the request path grammar, judged as sent (kbs.path_encoded, kbs.path_invalid)
 *   kbs_body.c      the request body collector (every buffer zeroed before it is given up)
 *   kbs_audit_agg.c anonymous denials counted into summary audit records
 *   kbs_process.c   process hygiene: no core dumps, OpenSSL's secure heap, scrubbed JSON
 *
 * Every decision (allow or deny) is appended to the audit log before its response exists; a
 * response is never sent when the append fails. Time comes from the broker's clock function, so
 * tests pin it. */
#ifndef CCGATE_KBS_H
#define CCGATE_KBS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/x509.h>

#include "ccgate/decision.h"
#include "ccgate/gpu_policy.h"
#include "ccgate/gpu_verify.h"
#include "ccgate/jose.h"
#include "ccgate/keystore.h"
#include "ccgate/reasons.h"
#include "ccgate/store.h"
#include "ccgate/result.h"
#include "ccgate/snp_kds.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_report.h"
#include "ccgate/snp_verify.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/util.h"

#define CCG_KBS_PROTOCOL_VERSION "0.4.0"
#define CCG_KBS_COOKIE "kbs-session-id"
/* Largest request body read, except an Attestation's. */
#define CCG_KBS_MAX_BODY (256u * 1024u)
/* An admin key import or rotation carries up to a 1 MiB resource in base64url (docs/kbs.md "Key lifecycle"). */
#define CCG_KBS_MAX_ADMIN_KEY_BODY (2u << 20)
/* Largest Attestation body (POST /kbs/v0/attest): Trustee's TDX attester sends the whole CCEL log area
 * (256 KiB on Google's COS, about 350 KiB as base64), and GPU evidence may ride beside it. */
#define CCG_KBS_MAX_ATTEST_BODY (1024u * 1024u)
#define CCG_KBS_MAX_INITDATA_DIGESTS 16u
#define CCG_KBS_MAX_ROOTS 8u
/* The store setting holding the wrapped token-signing key. */
#define CCG_KBS_TOKEN_KEY_SETTING "kbs.token-signing-key"

/* ---------------------------------------------------------------- configuration */

/* "gpu": the broker's GPU collateral (docs/kbs.md, "GPU collateral"); every member optional. */
typedef struct {
    char *rim_dir;               /* "rim_dir": the RIM directory (<RIM ID>.xml or .swidtag), absolute */
    char *rim_service_url;       /* "rim_service_url": GET <url><RIM ID> -> {"rim": base64} */
    int64_t rim_timeout;         /* "rim_timeout_seconds": 1..300, default CCG_GPU_RIM_DEFAULT_TIMEOUT_S */
    int64_t rim_connect_timeout; /* "rim_connect_timeout_seconds": 1..60, default min(timeout, 5) */
    char *ocsp_cache_dir;        /* "ocsp_cache_dir": cached DER responses (gpu_ocsp.h names), absolute */
    char *ocsp_responder_url;    /* "ocsp_responder_url": fetched live with a nonce */
    int64_t ocsp_timeout;        /* "ocsp_timeout_seconds": 1..300, default CCG_GPU_OCSP_DEFAULT_TIMEOUT_S */
    int64_t ocsp_skew;           /* "ocsp_skew_seconds": 0..3600, default CCG_GPU_OCSP_DEFAULT_SKEW_S */
    int64_t ocsp_max_age;        /* "ocsp_max_age_seconds": 60..604800, default CCG_GPU_OCSP_DEFAULT_MAX_AGE_S */
    int64_t report_retention;    /* "report_retention_seconds": how long a seen GPU report is remembered
                                  * (gpu.report_replayed); 3600..2592000, default CCG_KBS_GPU_RETENTION */
} ccg_kbs_gpu_config;

#define CCG_KBS_GPU_RETENTION 86400

/* "tdx": the broker's TDX collateral and test roots (docs/kbs.md, "TDX collateral"); every member
 * optional. Without collateral every TDX appraisal is collateral.missing. */
#define CCG_KBS_TDX_MAX_TEST_ROOTS 4u
typedef struct {
    char *collateral_file;  /* "collateral_file": a dcap-qvl bundle (tdx_collateral.h), absolute; read at start */
    char *collateral_dir;   /* "collateral_dir": the FMSPC cache directory (<FMSPC>.json), absolute */
    char *pccs_url;         /* "pccs_url": a PCS v4 compatible service filling collateral_dir (needs it) */
    char *test_roots[CCG_KBS_TDX_MAX_TEST_ROOTS]; /* "test_roots": PEM files of roots trusted beside Intel's
                                                   * (a software TD's), absolute; trusted only when named */
    size_t test_root_count;
} ccg_kbs_tdx_config;

/* The broker's port when the configuration names none (Trustee KBS's too). */
#define CCG_KBS_DEFAULT_PORT 8080

typedef struct {
    char *bind_address;      /* "address": default "127.0.0.1"; an IPv4 or IPv6 literal or a host name,
                              * optionally with a port ("[::1]:8443", "kbs.example:8443"); docs/kbs.md */
    uint16_t port;           /* "port": default CCG_KBS_DEFAULT_PORT; 0 picks an ephemeral port */
    char *store;             /* "store": the store (required): "sqlite:PATH", a plain path, or a PostgreSQL
                              * URL "postgresql://..." / "postgres://..." shared by several instances */
    char *audit;             /* "audit": the audit database; default: the store's (its file, or for a
                              * PostgreSQL store the same database and URL) */
    json_t *keystore;        /* "keystore": keystore.h's configuration object (required) */
    char *tls_cert;          /* "tls": {"cert_file","key_file"} (PEM) */
    char *tls_key;
    char *issuer;            /* "issuer": the token's iss; default "ccgate-kbs" */
    int64_t nonce_ttl;       /* "nonce_ttl": seconds a challenge stays valid; default 300 */
    int64_t token_ttl;       /* "token_ttl": seconds a token and an attested session live; default 3600 */
    char *attestation_policy; /* "attestation_policy": the release policy ID appraised at /attest */
    unsigned threads;        /* "threads": the server's thread pool; default 4 */
    unsigned store_connections; /* "store_connections": the store's connection pool (1..16); 0 (absent): as
                                 * many as threads, at most 16. With several instances on one PostgreSQL,
                                 * instances x (store_connections + 1) connections are open */
    int allow_unlocked_memory; /* "allow_unlocked_memory": secret memory may be unlocked (containers) */
    int explain;             /* "explain": serve POST /kbs/v0/explain (off by default) */
    json_t *refval_issuers;  /* "refval_issuers": {"issuer-id": "/abs/path/public.pem", ...} */
    char *collateral_dir;    /* "collateral": {"cache_dir", "fetch", "kds_url"} (snp_kds.h) */
    int collateral_fetch;
    char *kds_url;
    /* "admin": {"audience", "max_token_lifetime", "issuers": [{"name", "key", "roles", "subjects"}]}: the
     * admin API's token issuers, each bound to the roles and subjects it may assert (docs/kbs.md). */
    json_t *admin_issuers;   /* the validated "issuers" array; NULL: no issuer, every admin call refused */
    char *admin_audience;    /* "audience": the aud every admin token must carry */
    int64_t admin_token_max_lifetime; /* "max_token_lifetime": largest exp - iat accepted; default 3600 */
    /* "limits": {...} (docs/kbs.md, "Limits"); every member optional. */
    unsigned max_connections;        /* "connections": open connections in all, default 256 */
    unsigned max_per_address;        /* "connections_per_address": from one IP address, default 32 */
    unsigned request_deadline;       /* "request_deadline": seconds to send a whole request, default 20 */
    unsigned idle_timeout;           /* "idle_timeout": seconds a connection may stay silent, default 15 */
    unsigned anonymous_audit_window; /* "anonymous_audit_window": seconds per summary record, default 60; 0: none */
    unsigned reload_drain;           /* "reload_drain": seconds the server of the previous certificate may
                                      * finish its connections after a reload, default 60 */
    int64_t decision_reuse;  /* "decision_reuse_seconds": how long /resource may reuse /attest's decision
                              * (0..300, 0 never); default CCG_KBS_DECISION_REUSE_DEFAULT */
    int64_t attempts_per_session; /* "attempt_limits": {"per_session", "per_address", "window_seconds"}: */
    int64_t attempts_per_address; /*   failed /auth and /attest requests allowed per session and per client */
    int64_t attempts_window;      /*   address in a window; defaults CCG_KBS_ATTEMPTS_* */
    json_t *tcb_baselines;   /* "tcb_baselines": ["/abs/path/baseline.json", ...] (snp_tcb_baseline.h) */
    json_t *tcb_baseline_issuers; /* "tcb_baseline_issuers": {"issuer-id": "/abs/path/public.pem", ...} */
    ccg_kbs_gpu_config gpu;  /* "gpu": RIMs, OCSP and the replay window for GPU evidence */
    ccg_kbs_tdx_config tdx;  /* "tdx": TDX collateral and test roots */
} ccg_kbs_config;

#define CCG_KBS_DECISION_REUSE_DEFAULT 60
#define CCG_KBS_RELOAD_DRAIN_DEFAULT 60
#define CCG_KBS_DECISION_REUSE_MAX 300
#define CCG_KBS_ATTEMPTS_PER_SESSION 3
#define CCG_KBS_ATTEMPTS_PER_ADDRESS 32
#define CCG_KBS_ATTEMPTS_WINDOW 60

/* Strict: unknown members, wrong types and out-of-range values fail with kbs.config_invalid. */
CCG_MUST_CHECK ccg_result ccg_kbs_config_parse(const char *json_text, size_t len, ccg_kbs_config *out);
CCG_MUST_CHECK ccg_result ccg_kbs_config_load(const char *path, ccg_kbs_config *out);
void ccg_kbs_config_free(ccg_kbs_config *c);

/* ---------------------------------------------------------------- release policy */

typedef struct {
    ccg_snp_product product;
    X509 *root;
} ccg_kbs_root;

typedef struct {
    char policy_id[128];
    int64_t version;
    int allow_snp;              /* "allowed_tees" names "snp" */
    int gpu_required;           /* GPUs are required: "gpu_required": true or a "gpu" section */
    ccg_gpu_policy *gpu;        /* the GPU policy when required ("gpu", or the default for
                                 * "gpu_required": true); NULL otherwise */
    ccg_snp_policy *snp;        /* "snp_policy": embedded appraisal policy (snp_policy.h format); the
                                 * default when absent (never NULL) */
    int allow_tdx;              /* "allowed_tees" names "tdx" */
    ccg_tdx_policy *tdx;        /* "tdx": the TDX appraisal policy (tdx_policy.h members, without policy_id
                                 * and version); NULL unless tdx is allowed */
    ccg_kbs_root roots[CCG_KBS_MAX_ROOTS]; /* "trusted_roots": extra ARKs, e.g. the emulator's */
    size_t root_count;
    /* "rotation" (docs/kbs.md "Key lifecycle"): whether a version that a rotation retired stays
     * releasable to a guest asking for it by version, for previous_grace seconds after the rotation
     * ("previous_grace_seconds") or until a cut-over ("previous_until_cut_over": true). Absent: never. */
    int rotation_grace;         /* 1: a grace applies */
    int64_t previous_grace;     /* seconds; CCG_KBS_GRACE_UNTIL_CUT_OVER for "until cut-over" */
    int initdata_required;      /* "init_data": {"required": true} or "digests": the guest must present
                                 * init-data bound to its evidence (docs/kbs.md, "Init-data") */
    struct {
        uint8_t digest[64];
        size_t len;             /* 32, 48 or 64: the digest of the init-data document */
    } initdata_digests[CCG_KBS_MAX_INITDATA_DIGESTS]; /* "init_data": {"digests": [hex..]}; none: any */
    size_t initdata_digest_count;
} ccg_kbs_policy;
/* The longest grace in seconds (a year), and the marker of a grace that lasts until the cut-over. */
#define CCG_KBS_GRACE_MAX (366 * 86400)
#define CCG_KBS_GRACE_UNTIL_CUT_OVER INT64_MAX

/* Parses a release policy document:
 *   {"policy_id":"..","version":N,"allowed_tees":["snp","tdx"],"snp_policy":{...},"tdx":{...},
 *    "trusted_roots":[{"product":"milan","pem":"-----BEGIN CERTIFICATE-----..."}],"gpu_required":false,
 *    "gpu":{<GPU policy members, docs/gpu-policy.md, without policy_id and version>},
 *    "init_data":{"required":bool,"digests":[hex..]}} (kbs_initdata.c; docs/kbs.md "Init-data")
 * Unknown members, wrong types, an empty allowed_tees, a root that is not a self-signed certificate,
 * "gpu_required": false beside a "gpu" section fail with kbs.policy_invalid (snp_policy's and the gpu
 * section's own errors pass through). A policy that pins no launch
 * measurement (no snp_policy, or one with neither allowed_measurements nor reference_values) fails
 * with kbs.policy_unpinned: it would release to any genuine guest. The same holds for TDX: allowing
 * "tdx" requires a "tdx" section with allowed_mrtd or reference_values (kbs.policy_unpinned), and a
 * "tdx" section (or an snp_policy) for a TEE that allowed_tees does not name is kbs.policy_invalid. */
CCG_MUST_CHECK ccg_result ccg_kbs_policy_parse(const char *json_text, size_t len, ccg_kbs_policy **out);
void ccg_kbs_policy_free(ccg_kbs_policy *p);

/* ---------------------------------------------------------------- request bodies */

typedef struct {
    char version[32];
    char tee[32];
} ccg_kbs_request;

/* Parses a KBS Request {"version","tee","extra-params"}: input problems are kbs.request_malformed;
 * a version other than 0.4.0 kbs.version_unsupported. */
CCG_MUST_CHECK ccg_result ccg_kbs_request_parse(const char *body, size_t len, ccg_kbs_request *out);

/* SNP evidence as the guest's SNP attester sends it inside tee-evidence.primary_evidence:
 * {"attestation_report": <report>, "cert_chain": [{"cert_type":"VCEK"|"VLEK"|"ASK"|"ASVK"|"ARK"|..,
 * "data": <bytes>}] | null}. The report and each data are either standard base64 text or an array
 * of byte values (0..255). */
typedef struct {
    uint8_t report[CCG_SNP_REPORT_SIZE];
    uint8_t *certs[8];  /* DER or PEM, owned */
    size_t cert_lens[8];
    size_t cert_count;
} ccg_kbs_snp_evidence;

CCG_MUST_CHECK ccg_result ccg_kbs_snp_evidence_from_json(const json_t *ev, ccg_kbs_snp_evidence *out);
void ccg_kbs_snp_evidence_free(ccg_kbs_snp_evidence *e);
/* The evidence in the session form ({"attestation_report":b64,"cert_chain":[{"cert_type","data":b64}]}). */
json_t *ccg_kbs_snp_evidence_to_json(const ccg_kbs_snp_evidence *e);

/* TDX evidence in Trustee's form (its verifier's TdxEvidence) inside tee-evidence.primary_evidence:
 * {"cc_eventlog": <base64 of the CCEL log area> | null, "quote": <base64 of the quote>,
 *  "aa_eventlog": <the Attestation Agent's text log> | null}. quote is required; the others may be
 * absent. Strict: unknown members, another type, bad base64, an empty or oversized member fail with
 * kbs.request_malformed (docs/kbs.md, "TDX evidence"). aa_eventlog is carried, never appraised. */
#define CCG_KBS_TDX_MAX_QUOTE (64u * 1024u)
#define CCG_KBS_TDX_MAX_EVENTLOG (640u * 1024u)
#define CCG_KBS_TDX_MAX_AA_EVENTLOG (64u * 1024u)
typedef struct {
    uint8_t *quote;        /* owned */
    size_t quote_len;
    uint8_t *cc_eventlog;  /* owned; NULL: none sent */
    size_t cc_eventlog_len;
    char *aa_eventlog;     /* owned; NULL: none sent */
} ccg_kbs_tdx_evidence;

CCG_MUST_CHECK ccg_result ccg_kbs_tdx_evidence_from_json(const json_t *ev, ccg_kbs_tdx_evidence *out);
void ccg_kbs_tdx_evidence_free(ccg_kbs_tdx_evidence *e);
/* The evidence in the same form (base64 text, null for an absent log). */
json_t *ccg_kbs_tdx_evidence_to_json(const ccg_kbs_tdx_evidence *e);

/* The Attestation's optional "init-data" (Confidential Containers init-data, KBS 0.4.0):
 * {"format":"toml","body":<the TOML document>}. Only its digest is kept: the algorithm the document
 * names (top-level algorithm = "sha256" | "sha384" | "sha512") over the body's exact bytes, as
 * Trustee's attestation service computes it (kbs_initdata.c, docs/kbs.md "Init-data"). */
#define CCG_KBS_INITDATA_MAX (256u * 1024u)
typedef struct {
    int present;
    char algorithm[8]; /* "sha256", "sha384" or "sha512" */
    uint8_t digest[64];
    size_t digest_len; /* 32, 48 or 64 */
} ccg_kbs_initdata;

/* The init-data of a TOML document: finds the top-level algorithm (only blank lines, comments and
 * single-line key = "string" pairs may precede the first table; ccgate has no TOML library, so no more
 * of the document is read) and hashes the body. kbs.initdata_too_large (empty or above
 * CCG_KBS_INITDATA_MAX), kbs.initdata_malformed, kbs.initdata_algorithm_unsupported. */
CCG_MUST_CHECK ccg_result ccg_kbs_initdata_from_toml(const char *body, size_t len, ccg_kbs_initdata *out);
/* The Attestation member {"format","body"}: format must be "toml" (as Trustee's KBS requires);
 * then ccg_kbs_initdata_from_toml. */
CCG_MUST_CHECK ccg_result ccg_kbs_initdata_parse(const json_t *member, ccg_kbs_initdata *out);
/* The value the TEE field must hold: the digest zero-padded, or truncated, to field_len bytes (32 for
 * SNP HOST_DATA, 48 for TDX MRCONFIGID), the rule of Trustee's verifier (regularize_data). */
void ccg_kbs_initdata_field(const ccg_kbs_initdata *id, uint8_t *field, size_t field_len);

typedef struct {
    char nonce[129];
    ccg_jwk *tee_pubkey;        /* owned; NULL until ccg_kbs_attestation_parse_key */
    json_t *tee_pubkey_json;    /* owned: the JWK as sent until ccg_kbs_attestation_parse_key, then its
                                 * canonical members only (what REPORT_DATA binds, the token signs and
                                 * the session stores) */
    char *additional_evidence;  /* owned; "" when absent */
    ccg_kbs_snp_evidence snp;   /* the evidence of an "snp" session */
    ccg_kbs_tdx_evidence tdx;   /* the evidence of a "tdx" session */
    int is_tdx;                 /* which of the two primary_evidence held */
    ccg_kbs_initdata init_data; /* "init-data", when present */
} ccg_kbs_attestation;

/* Parses a KBS Attestation {"runtime-data":{"nonce","tee-pubkey"},"tee-evidence":{"primary_evidence",
 * "additional_evidence"},"init-data"?}, then its tee-pubkey (ccg_kbs_attestation_parse_key).
 * kbs.request_malformed; kbs.initdata_* for the init-data (ccg_kbs_initdata_parse);
 * kbs.tee_pubkey_member_unknown and jose.jwk_* for the key. */
CCG_MUST_CHECK ccg_result ccg_kbs_attestation_parse(const char *body, size_t len, ccg_kbs_attestation *out);
/* The same without the key: the shape only, with tee-pubkey an object left unparsed, so the broker
 * checks the nonce before it spends anything on the key (tee_pubkey stays NULL). */
CCG_MUST_CHECK ccg_result ccg_kbs_attestation_parse_shape(const char *body, size_t len, ccg_kbs_attestation *out);
/* The same for a session of TEE tee ("snp" or "tdx"; ccg_kbs_attestation_parse_shape is "snp"): the
 * primary evidence is parsed in that TEE's form, and nothing else is accepted (kbs.request_malformed). */
CCG_MUST_CHECK ccg_result ccg_kbs_attestation_parse_shape_tee(const char *body, size_t len, const char *tee,
                                                              ccg_kbs_attestation *out);
/* ccg_kbs_attestation_parse_shape_tee, then the key. */
CCG_MUST_CHECK ccg_result ccg_kbs_attestation_parse_tee(const char *body, size_t len, const char *tee,
                                                        ccg_kbs_attestation *out);
/* Parses the tee-pubkey that ccg_kbs_attestation_parse_shape left: only kty, crv, x, y (EC) or kty, n, e
 * (RSA), and alg and use, are accepted (kbs.tee_pubkey_member_unknown otherwise); RSA above 4096 bits is
 * jose.jwk_too_large before anything is decoded. tee_pubkey_json becomes the canonical JWK. */
CCG_MUST_CHECK ccg_result ccg_kbs_attestation_parse_key(ccg_kbs_attestation *a);
void ccg_kbs_attestation_free(ccg_kbs_attestation *a);

/* tee-evidence.additional_evidence in Trustee's KBS 0.4.0 form (docs/gpu-evidence.md, "Wire form in the
 * KBS Attestation"): {"nvidia": {"device_evidence_list": [{"arch", "uuid"?, "evidence", "certificate"}]}}
 * into out (1..CCG_GPU_MAX_GPUS items, nonce_absent set). "" gives no items. gpu.evidence_malformed;
 * another TEE than "nvidia" in the map kbs.additional_evidence_unsupported. Free with
 * ccg_gpu_evidence_list_free. */
CCG_MUST_CHECK ccg_result ccg_kbs_gpu_evidence_parse(const char *text, size_t len, ccg_gpu_evidence_list *out);

/* Appraises SNP evidence bound to (nonce, tee_pubkey, additional_evidence) against a release policy
 * at now: TEE allowed, the chain to a pinned AMD root or one of the policy's roots,
 * the embedded SNP policy (with its reference-value set from opts, when it names one: refval.set_missing
 * otherwise), and REPORT_DATA = SHA-384(RFC 8785 runtime data) zero-padded. opts may be NULL. With kds
 * (may be NULL), evidence without certificates takes its VCEK/VLEK and chain from the collateral cache
 * (or AMD KDS when the config allows fetching), and a policy requiring a CRL gets the product's CRL from
 * there; a miss is collateral.missing. A policy requiring GPUs also appraises the GPU evidence in
 * additional_evidence, without a broker's collateral (no RIM store, no OCSP, no replay memory), so such
 * a policy passes here only if it requires neither RIMs nor OCSP; the broker itself (kbs_gpu.c) gives
 * its collateral. Always fills *out (initialised here); fails only on internal errors. */
CCG_MUST_CHECK ccg_result ccg_kbs_policy_evaluate(const ccg_kbs_policy *p, const char *tee,
                                                  const ccg_kbs_snp_evidence *ev, const char *nonce,
                                                  const ccg_jwk *tee_pubkey, const char *additional_evidence,
                                                  const ccg_snp_verify_opts *opts, const ccg_snp_kds_config *kds,
                                                  ccg_time now, ccg_decision *out);

/* ---------------------------------------------------------------- the broker */

typedef ccg_time (*ccg_kbs_clock)(void *ctx);

typedef struct ccg_kbs ccg_kbs;

/* Opens the store and the audit log, and tries the keystore (a keystore that cannot be opened now is
 * retried on every request, and /readyz fails meanwhile). clock NULL means the wall clock. */
CCG_MUST_CHECK ccg_result ccg_kbs_new(const ccg_kbs_config *cfg, ccg_kbs_clock clock, void *clock_ctx,
                                      ccg_kbs **out);
/* Writes the pending summaries of anonymous denials (docs/audit.md) before closing. */
void ccg_kbs_free(ccg_kbs *k);
/* Housekeeping the server calls about once a second: writes the audit summaries of anonymous denials
 * whose window has ended (a failure is kept and tried again). */
void ccg_kbs_tick(ccg_kbs *k);

/* One HTTP exchange, independent of the server library. */
typedef struct {
    const char *method;
    const char *path;           /* without the query, exactly as sent (never percent-decoded) */
    const char *query;          /* the query as sent (after "?"), or NULL when the target has none */
    size_t path_len;            /* bytes of the path as sent when a NUL hid the rest of it; 0: strlen(path) */
    const char *cookie_session; /* the kbs-session-id cookie's value or NULL */
    const char *authorization;  /* the Authorization header or NULL */
    const char *body;
    size_t body_len;
    const char *request_id;     /* assigned by the server */
    const char *client_address; /* the peer's IP address as text, or NULL (no per-address attempt limit) */
} ccg_kbs_http_request;

typedef struct {
    unsigned status;
    char *body;                 /* malloc'd JSON (or text) */
    size_t body_len;
    const char *content_type;
    char set_cookie[256];       /* "" or a Set-Cookie header value */
} ccg_kbs_http_response;

/* Routes and answers one request (auth, attest, resource, explain, healthz, readyz, metrics). Never fails: errors
 * become responses. Free the response with ccg_kbs_response_free. */
void ccg_kbs_handle(ccg_kbs *k, const ccg_kbs_http_request *req, ccg_kbs_http_response *resp);
void ccg_kbs_response_free(ccg_kbs_http_response *resp);

/* The HTTP server (libmicrohttpd, thread pool). insecure_http: plain HTTP, refused unless bound to a
 * loopback address; otherwise TLS with the configured cert and key (kbs.config_invalid without). */
typedef struct ccg_kbs_server ccg_kbs_server;
CCG_MUST_CHECK ccg_result ccg_kbs_server_start(ccg_kbs *k, const ccg_kbs_config *cfg, int insecure_http,
                                               ccg_kbs_server **out);
uint16_t ccg_kbs_server_port(const ccg_kbs_server *s);
/* The address actually bound, for the log: "127.0.0.1:8080", "[::1]:8080". */
const char *ccg_kbs_server_address(const ccg_kbs_server *s);
/* Re-reads cfg's TLS certificate and key and serves new connections with them; connections already
 * open (in flight or kept alive) finish on the previous ones (docs/kbs.md, "Reload"). On any failure
 * (a missing file, a pair the TLS library refuses) the previous certificate stays in service. Plain
 * HTTP: nothing to do. Call from one thread at a time. */
CCG_MUST_CHECK ccg_result ccg_kbs_server_reload_tls(ccg_kbs_server *s, const ccg_kbs_config *cfg);
void ccg_kbs_server_stop(ccg_kbs_server *s);

/* The configuration file and its JSON (kbs_reload.c), read once: cfg parsed and validated, *json the
 * document as written (what a reload compares against). */
CCG_MUST_CHECK ccg_result ccg_kbs_config_load_json(const char *path, ccg_kbs_config *cfg, json_t **json);
/* SIGHUP: re-reads config_path. Only "tls" (the file names, and the files' contents, which are always
 * re-read) takes effect without a restart; any other member that changed is refused with
 * kbs.reload_needs_restart naming it, and a file that does not parse or validate with its own reason
 * (kbs.config_invalid, io.read_failed, ...). On failure nothing changes; on success *running is
 * replaced by the new document. */
CCG_MUST_CHECK ccg_result ccg_kbs_reload(ccg_kbs_server *srv, const char *config_path, json_t **running);

/* Process hygiene for ccgate-kbs, first thing in main (every subcommand): no core dumps
 * (RLIMIT_CORE 0, PR_SET_DUMPABLE 0), OpenSSL's secure heap (locked, excluded from dumps, zeroed on
 * free) for private keys such as the token-signing key, and jansson's allocations zeroed when freed.
 * Call it before any JSON value exists. */
CCG_MUST_CHECK ccg_result ccg_kbs_process_harden(void);

/* ---------------------------------------------------------------- provisioning */

/* The AAD binding a wrapped model key to its identity: "ccgate-kbs/key\0<key_id>\0<version>". */
CCG_MUST_CHECK ccg_result ccg_kbs_key_aad(const char *key_id, int64_t version, uint8_t **aad, size_t *aad_len);
/* Wraps key under the keystore's KEK and imports it as version 1 (active) with its policy. */
CCG_MUST_CHECK ccg_result ccg_kbs_import_key(ccg_kbs *k, const char *key_id, const char *policy_id,
                                             const ccg_secbuf *key);
/* Rotation: wraps key as the next version (live version + 1) and, in one store transaction, retires
 * every older version and makes the new one active (the policy stays the key's). *version (may be
 * NULL) receives the new version. */
CCG_MUST_CHECK ccg_result ccg_kbs_rotate_key(ccg_kbs *k, const char *key_id, const ccg_secbuf *key, int64_t *version);
/* Validates and stores a release policy document (its policy_id and version). */
CCG_MUST_CHECK ccg_result ccg_kbs_set_policy(ccg_kbs *k, const char *json_text, size_t len);
/* Moves the live version of a key to a state (disable, enable, retire). */
CCG_MUST_CHECK ccg_result ccg_kbs_set_key_state(ccg_kbs *k, const char *key_id, const char *state);

/* ---------------------------------------------------------------- host-side commands (audited) */

/* The ccgate-kbs provisioning commands, audited as persona host-operator with request ID
 * "host-<random>" and actions host.kek.create, host.policy.set, host.key.import, host.key.rotate,
 * host.key.disable, host.key.enable, host.key.retire. Each change is checked, then its allow record is
 * appended, then it is made: when the record cannot be written (audit.write_failed) nothing changes. A
 * command refused by a check, or a change that fails after its record, gets a deny or error record; the
 * thread's error is the command's own. */
CCG_MUST_CHECK ccg_result ccg_kbs_host_create_kek(ccg_kbs *k);
CCG_MUST_CHECK ccg_result ccg_kbs_host_set_policy(ccg_kbs *k, const char *json_text, size_t len);
CCG_MUST_CHECK ccg_result ccg_kbs_host_import_key(ccg_kbs *k, const char *key_id, const char *policy_id,
                                                  const ccg_secbuf *key);
/* The same with an owner (issuer and subject) recorded for the key before it is imported, replacing any
 * claim on the ID: the provider's own admin token then manages it (`--owner`). owner NULL: no owner. */
CCG_MUST_CHECK ccg_result ccg_kbs_host_import_key_owned(ccg_kbs *k, const char *key_id, const char *policy_id,
                                                        const ccg_secbuf *key, const ccg_store_owner *owner);
/* Cut-over (host.key.cut_over): ends the grace of key_id's retired version (0: of every retired version);
 * afterwards a guest asking for it gets key.retired. *ended (may be NULL) counts the versions it ended. */
CCG_MUST_CHECK ccg_result ccg_kbs_host_cut_over(ccg_kbs *k, const char *key_id, int64_t version, int64_t *ended);
/* Ownership transfer by the host operator (host.key.transfer): `to` owns key_id from now on. */
CCG_MUST_CHECK ccg_result ccg_kbs_host_transfer_key(ccg_kbs *k, const char *key_id, const ccg_store_owner *to);
/* The one size rule for keys and opaque resources, host and admin alike: 1..CCG_KBS_RESOURCE_MAX bytes,
 * else key.resource_too_large naming the limit. */
#define CCG_KBS_RESOURCE_MAX (1u << 20)
CCG_MUST_CHECK ccg_result ccg_kbs_resource_size_check(size_t len);
CCG_MUST_CHECK ccg_result ccg_kbs_host_rotate_key(ccg_kbs *k, const char *key_id, const ccg_secbuf *key,
                                                  int64_t *version);
CCG_MUST_CHECK ccg_result ccg_kbs_host_set_key_state(ccg_kbs *k, const char *key_id, const char *state);
/* What a KEK rotation did (ccg_kbs_host_rewrap). */
typedef struct {
    size_t rewrapped;  /* key versions re-wrapped by this run */
    size_t already;    /* key versions found under the new KEK already (an earlier, interrupted run) */
    int token_key;     /* the token-signing key: 0 none stored, 1 re-wrapped now, 2 already under the new KEK */
} ccg_kbs_rewrap_report;
/* KEK rotation (`ccgate-kbs rewrap`): re-wraps every stored key version, and the token-signing key,
 * from the broker's configured keystore (the old KEK; each version is unwrapped under the label
 * recorded beside it) to the keystore of new_keystore_json (the new KEK, whose label must differ), or,
 * when it is NULL, to the configured keystore itself (its "previous" opens what is not re-wrapped yet).
 * Each version is its own transaction that applies only while the version is still under its old
 * label (ccg_store_key_rewrap), so a run that stopped midway is continued by running it again, and
 * nothing is wrapped twice. Audited per key version as host.kek.rewrap (write-ahead), plus a deny or
 * error record when the run fails. The old KEK must stay usable until the run succeeds. */
CCG_MUST_CHECK ccg_result ccg_kbs_host_rewrap(ccg_kbs *k, const char *new_keystore_json,
                                              ccg_kbs_rewrap_report *report);
/* A reload's outcome as action host.reload: allow (why CCG_R_OK) or error with why. Recorded after the
 * attempt (a reload changes no key or policy); fails only when the record cannot be written. */
CCG_MUST_CHECK ccg_result ccg_kbs_host_record_reload(ccg_kbs *k, ccg_reason why);

#endif
