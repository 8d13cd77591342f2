/* Internal pieces of the TDX verifier (src/evidence/tdx). */
#ifndef CCGATE_TDX_INTERNAL_H
#define CCGATE_TDX_INTERNAL_H

#include <jansson.h>
#include <openssl/x509.h>

#include "ccgate/tdx_collateral.h"
#include "ccgate/tdx_quote.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/util.h"

/* --- roots (tdx_roots.c) --- */
/* 1 when key is the pinned Intel SGX Root CA key or the key of a test root named in v. */
int tdx_root_trusted(const ccg_tdx_verifier *v, EVP_PKEY *key);

/* --- chains and CRLs (tdx_chain.c) --- */
typedef enum { TDX_CHAIN_PCK, TDX_CHAIN_TCB_SIGNING, TDX_CHAIN_CRL_ISSUER } tdx_chain_role;
/* Verifies a PEM chain (leaf first, ending at its root) to a trusted root at now: every link's
 * signature, every certificate's validity, the roles (CA flags, the leaf's common name for its role).
 * *leaf, *issuer (the leaf's issuer) and *root are owned by *chain (free with sk_X509_pop_free). */
CCG_MUST_CHECK ccg_result tdx_chain_verify(const ccg_tdx_verifier *v, const uint8_t *pem, size_t len,
                                           tdx_chain_role role, const char *what, ccg_time now,
                                           STACK_OF(X509) **chain);
/* The CRL must be issued by `issuer` (name and signature) and current at now; then, if cert is not
 * NULL, it must not list it. what names the collateral item for collateral.expired. */
CCG_MUST_CHECK ccg_result tdx_crl_check(X509_CRL *crl, X509 *issuer, const char *what, ccg_time now, X509 *cert,
                                        ccg_reason revoked_reason);

/* --- PCK extension (tdx_pck.c) --- */
typedef struct {
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    uint8_t sgx_components[16];
    uint16_t pcesvn;
    uint8_t cpusvn[16];
} tdx_pck_tcb;
CCG_MUST_CHECK ccg_result tdx_pck_extension(X509 *pck, tdx_pck_tcb *out);

/* --- signatures (tdx_sig.c) --- */
/* ECDSA P-256 over SHA-256: raw is R||S (64 bytes). Sets no error on a bad signature: returns 0. */
int tdx_ecdsa_p256_verify(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t raw_sig[64]);
/* The same for a key the caller knows is P-256. */
int tdx_ecdsa_p256_verify_key(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, const uint8_t raw_sig[64]);
/* Prefetched digests (NULL only if the default provider lacks them). */
const EVP_MD *tdx_sha256(void);
const EVP_MD *tdx_sha384(void);
/* The attestation key (X||Y) as an EVP_PKEY, or NULL when it is not a point on P-256. */
EVP_PKEY *tdx_p256_key_from_xy(const uint8_t xy[64]);
int tdx_key_is_p256(EVP_PKEY *key);

/* --- TCB info and QE identity (tdx_tcbinfo.c, tdx_qeid.c) --- */
#define TDX_MAX_LEVELS 128
#define TDX_MAX_ADVISORIES 32
#define TDX_MAX_SVN_LEVELS 64
#define TDX_MAX_MODULES 16
#define TDX_ADVISORY_MAX 40

typedef struct {
    size_t count;
    char ids[TDX_MAX_ADVISORIES][TDX_ADVISORY_MAX];
} tdx_advisories;

typedef struct {
    uint8_t sgx[16];
    uint16_t pcesvn;
    uint8_t tdx[16];
    ccg_tdx_tcb_status status;
    char tcb_date[32];
    tdx_advisories advisories;
} tdx_tcb_level;

typedef struct {
    uint16_t isvsvn;
    ccg_tdx_tcb_status status;
    char tcb_date[32];
    tdx_advisories advisories;
} tdx_svn_level;

typedef struct {
    char id[16];
    uint8_t mrsigner[48];
    uint8_t attributes[8];
    uint8_t attributes_mask[8];
    size_t n_levels;
    tdx_svn_level levels[TDX_MAX_SVN_LEVELS];
} tdx_module_identity;

typedef struct {
    int version;
    ccg_time issue_date, next_update;
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    int tcb_eval_num;
    tdx_module_identity module; /* "tdxModule": id empty, no levels */
    size_t n_modules;
    tdx_module_identity modules[TDX_MAX_MODULES];
    size_t n_levels;
    tdx_tcb_level levels[TDX_MAX_LEVELS]; /* sorted highest first, as QVL orders them */
} tdx_tcb_info;

typedef struct {
    int version;
    ccg_time issue_date, next_update;
    int tcb_eval_num;
    uint32_t miscselect, miscselect_mask;
    uint8_t attributes[16], attributes_mask[16];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    size_t n_levels;
    tdx_svn_level levels[TDX_MAX_SVN_LEVELS]; /* in document order */
} tdx_qe_identity;

/* Parse the signed body (the tcbInfo or enclaveIdentity object's raw JSON). Fail with
 * tdx.collateral_malformed (shape) or tdx.tcb_info_invalid / tdx.qe_identity_invalid (id, version). */
CCG_MUST_CHECK ccg_result tdx_tcb_info_parse(const char *json, size_t len, tdx_tcb_info *out);
CCG_MUST_CHECK ccg_result tdx_qe_identity_parse(const char *json, size_t len, tdx_qe_identity *out);
/* Shared JSON helpers (tdx_json.c). */
CCG_MUST_CHECK ccg_result tdx_json_hex(json_t *obj, const char *key, uint8_t *out, size_t n);
CCG_MUST_CHECK ccg_result tdx_json_time(json_t *obj, const char *key, ccg_time *out);
CCG_MUST_CHECK ccg_result tdx_json_uint(json_t *obj, const char *key, uint64_t max, uint64_t *out);
CCG_MUST_CHECK ccg_result tdx_json_status(json_t *obj, int module_or_qe, ccg_tdx_tcb_status *out);
CCG_MUST_CHECK ccg_result tdx_json_advisories(json_t *obj, tdx_advisories *out);
CCG_MUST_CHECK ccg_result tdx_json_svn_levels(json_t *arr, tdx_svn_level *levels, size_t *n, const char *what);

/* --- TCB evaluation (tdx_tcb.c) --- */
typedef struct {
    ccg_tdx_tcb_status sgx_status;      /* the SGX TCB level (SGX components, PCESVN) */
    ccg_tdx_tcb_status platform_status; /* the TDX TCB level (also TEE_TCB_SVN) */
    ccg_tdx_tcb_status module_status;   /* the TDX module identity's level; UpToDate when not applicable */
    ccg_tdx_tcb_status qe_status;       /* the QE identity's level */
    ccg_tdx_tcb_status status;          /* converged, with TD relaunch advice */
    const tdx_tcb_level *platform_level;
    const tdx_svn_level *module_level;
    const tdx_svn_level *qe_level;
    const tdx_module_identity *module;  /* the identity whose MRSIGNER/attributes were used */
    char module_id[16];
} tdx_tcb_eval;

/* The TDX module identity to check MRSIGNERSEAM and SEAMATTRIBUTES against (steps 9 and 4.1.2.4.11):
 * fails with tdx.module_identity_not_found or tdx.module_mismatch. */
CCG_MUST_CHECK ccg_result tdx_module_check(const tdx_tcb_info *info, const ccg_tdx_quote *q, tdx_tcb_eval *ev);
/* The QE identity's checks and level (step 6). */
CCG_MUST_CHECK ccg_result tdx_qe_identity_check(const tdx_qe_identity *id, const ccg_tdx_qe_report *qe,
                                                tdx_tcb_eval *ev);
/* Steps 8 to 10: the platform level, the module level, convergence and relaunch advice. */
CCG_MUST_CHECK ccg_result tdx_tcb_evaluate(const tdx_tcb_info *info, const tdx_pck_tcb *pck, const ccg_tdx_quote *q,
                                           tdx_tcb_eval *ev);
/* Step 11: the advisories of the platform, module and QE levels, each once, in that order. */
typedef struct {
    size_t count;
    char ids[3 * TDX_MAX_ADVISORIES][TDX_ADVISORY_MAX];
} tdx_advisory_set;
void tdx_tcb_advisories(const tdx_tcb_eval *ev, tdx_advisory_set *out);

/* --- raw JSON members (tdx_rawjson.c) --- */
/* The exact bytes of the value of top-level member `key` of a JSON object text, without re-serialising.
 * Fails with tdx.collateral_malformed when text is not an object or the member is absent or repeated. */
CCG_MUST_CHECK ccg_result tdx_raw_member(const char *text, size_t len, const char *key, const char **value,
                                         size_t *value_len);

/* --- claims (tdx_claims.c) --- */
json_t *tdx_td_claims(const ccg_tdx_quote *q);

/* --- the verified-object cache (tdx_cache.c) --- */
typedef struct tdx_pck_entry {
    int refs;
    uint8_t *bytes;            /* the quote's PCK chain, as it was verified */
    size_t len;
    STACK_OF(X509) *chain;     /* signatures, roles and root verified */
    tdx_pck_tcb pck;           /* its SGX extension */
    ccg_time cert_from, cert_until; /* the latest notBefore and the earliest notAfter */
} tdx_pck_entry;

typedef struct tdx_col_entry {
    int refs;
    ccg_tdx_collateral bytes;  /* the collateral, as it was verified */
    X509 *root;                /* the root it was verified with (the PCK chain's) */
    STACK_OF(X509) *tcb_chain, *qe_chain, *crl_chain;
    X509_CRL *root_crl, *pck_crl; /* issuers and signatures verified; the root CRL lists none of its CAs */
    tdx_tcb_info *info;        /* signature verified, parsed */
    tdx_qe_identity *qeid;
    ccg_time cert_from, cert_until; /* over the three chains' certificates */
    ccg_time doc_from, doc_until;   /* over the CRLs' and the two documents' windows */
} tdx_col_entry;

/* What a full verification established about a collateral bundle (borrowed; the cache takes references). */
typedef struct {
    const ccg_tdx_collateral *col;
    X509 *root;
    STACK_OF(X509) *tcb_chain, *qe_chain, *crl_chain;
    X509_CRL *root_crl, *pck_crl;
    const tdx_tcb_info *info;
    const tdx_qe_identity *qeid;
} tdx_col_verified;

typedef struct tdx_cache tdx_cache;
CCG_MUST_CHECK ccg_result tdx_cache_new(tdx_cache **out);
void tdx_cache_free(tdx_cache *c);
/* An entry for exactly these bytes, pinned until tdx_cache_release; NULL on a miss. */
const tdx_pck_entry *tdx_cache_pck_get(tdx_cache *c, const uint8_t *chain, size_t len);
const tdx_col_entry *tdx_cache_col_get(tdx_cache *c, const ccg_tdx_collateral *col);
void tdx_cache_release(tdx_cache *c, const tdx_pck_entry *pck, const tdx_col_entry *col);
/* Adds what a full verification established (copies and references; a failure to add is silent). */
void tdx_cache_pck_add(tdx_cache *c, const uint8_t *bytes, size_t len, STACK_OF(X509) *chain, const tdx_pck_tcb *pck);
void tdx_cache_col_add(tdx_cache *c, const tdx_col_verified *v);
/* A decoded attestation key for exactly these X||Y bytes (a new reference), or NULL. */
EVP_PKEY *tdx_cache_att_key(tdx_cache *c, const uint8_t xy[64]);
/* Remembers a key that decoded as a P-256 point (the cache takes its own reference). */
void tdx_cache_att_key_add(tdx_cache *c, const uint8_t xy[64], EVP_PKEY *key);
/* Counts a verification with collateral by the path it took. */
void tdx_cache_count(tdx_cache *c, int fast);
void tdx_cache_counts(tdx_cache *c, uint64_t *fast, uint64_t *full);
/* The verifier's cache (mutable behind a const verifier). */
tdx_cache *tdx_verifier_cache(const ccg_tdx_verifier *v);

#endif
