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

#endif
