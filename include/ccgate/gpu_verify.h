/* The NVIDIA GPU evidence verifier: a report and its device certificate chain in, a result and a
 * decision out.
 *
 *   parse -> chain (leaf ... identity CA, to the PINNED NVIDIA Device Identity CA, at `now`)
 *         -> FWID (leaf extension == the report's FWID opaque field) -> report signature (leaf key)
 *         -> nonce (when the caller expects one)
 *
 * Each failed check adds its reason to the decision and the verifier goes on where later checks can
 * still run, so the decision lists every failure. The chain's own root is dropped: only the pinned
 * NVIDIA root, and test roots added explicitly, are trusted. Verified chains are cached inside the
 * verifier (keyed by the chain's digest); validity is still checked against every `now`.
 *
 * The RIM comparison, OCSP and the release policy build on ccg_gpu_result (gpu_evidence.h has the
 * measurement blocks). */
#ifndef CCGATE_GPU_VERIFY_H
#define CCGATE_GPU_VERIFY_H

#include <jansson.h>
#include <openssl/x509.h>

#include "ccgate/decision.h"
#include "ccgate/gpu_evidence.h"
#include "ccgate/util.h"

#define CCG_GPU_CHAIN_LENGTH 5 /* leaf (FMC LF), BROM, provisioner ICA, identity CA, root */
#define CCG_GPU_MAX_GPUS 16

/* The outcome of one check. NOT_DONE is never a pass: e.g. the nonce check without an expected nonce. */
typedef enum {
    CCG_GPU_CHECK_NOT_DONE = 0,
    CCG_GPU_CHECK_PASSED,
    CCG_GPU_CHECK_FAILED,
    CCG_GPU_CHECK_NOT_IN_REPORT, /* FWID: the report carries none (older drivers), so there is nothing to compare */
} ccg_gpu_check;

/* "not_done", "passed", "failed", "not_in_report". */
const char *ccg_gpu_check_name(ccg_gpu_check c);

typedef struct {
    int parsed;                  /* 0: the report could not be parsed; only the decision says why */
    ccg_gpu_report report;
    ccg_gpu_arch arch;           /* from the verified chain (else the declared arch) */
    char ueid[64];               /* the leaf certificate's serial number, decimal (NVIDIA's "ueid") */
    char hwmodel[64];            /* CN of the BROM certificate, e.g. "GH100 A01 GSP BROM" */
    char root[16];               /* "nvidia" (the pinned root) or "test" (an explicitly added root) */
    int has_leaf_fwid;
    uint8_t leaf_fwid[CCG_GPU_FWID_SIZE];
    ccg_time chain_not_before;   /* the latest notBefore and the earliest notAfter on the path */
    ccg_time chain_not_after;
    ccg_gpu_check chain;
    ccg_gpu_check fwid;
    ccg_gpu_check signature;
    ccg_gpu_check nonce;         /* against opts->expected_nonce (or its alternative) */
    int nonce_alt;               /* the nonce passed as opts->alt_expected_nonce, not the expected one */
    ccg_gpu_check arch_check;    /* the declared arch against the chain's */
} ccg_gpu_result;

typedef struct {
    const uint8_t *expected_nonce; /* CCG_GPU_NONCE_SIZE bytes, or NULL: the nonce check is not done */
    const uint8_t *alt_expected_nonce; /* NULL, or a second nonce that also passes (another binding of the
                                        * same session, e.g. the broker's trustee nonce); only with
                                        * expected_nonce */
    ccg_gpu_arch declared_arch;    /* the JSON form's "arch"; UNKNOWN when none was declared */
    int require_fwid;              /* refuse a report without an FWID field (gpu.fwid_missing) */
} ccg_gpu_verify_opts;

typedef struct ccg_gpu_verifier ccg_gpu_verifier;

/* A verifier trusting only the pinned NVIDIA Device Identity CA. */
CCG_MUST_CHECK ccg_result ccg_gpu_verifier_new(ccg_gpu_verifier **out);
void ccg_gpu_verifier_free(ccg_gpu_verifier *v);
/* Also trusts this self-signed root (a software GPU's test root). Only an explicit call adds one; the
 * pinned root is never replaced. Results chained to it say root "test". */
CCG_MUST_CHECK ccg_result ccg_gpu_verifier_add_test_root(ccg_gpu_verifier *v, X509 *root);

/* Verifies one GPU's report (binary) against its chain (PEM, leaf first, as NVML and NVIDIA's samples
 * give it). Always fills *res and *d (both initialised by this call; free d with ccg_decision_free).
 * Fails only when the report or chain cannot be parsed or on an internal error; the reason is then
 * also in d. */
CCG_MUST_CHECK ccg_result ccg_gpu_verify(ccg_gpu_verifier *v, const uint8_t *report, size_t report_len,
                                         const uint8_t *chain_pem, size_t chain_len,
                                         const ccg_gpu_verify_opts *opts, ccg_time now, ccg_gpu_result *res,
                                         ccg_decision *d);

/* Every claim of a result as JSON: arch, versions, FWID, NVDEC0, mode, ueid, nonce, the measurement
 * blocks, every opaque field, and each check's outcome. */
json_t *ccg_gpu_result_json(const ccg_gpu_result *res);

/* The JSON evidence form [{"arch","certificate","evidence","nonce"}, ...] (NVIDIA attestation SDK):
 * certificate and evidence are base64 (of the PEM chain and of the binary report), nonce is hex. */
typedef struct {
    ccg_gpu_arch arch;
    uint8_t nonce[CCG_GPU_NONCE_SIZE]; /* as the attester claims; checked against the signed request */
    uint8_t *evidence;
    size_t evidence_len;
    uint8_t *certificate;              /* PEM text */
    size_t certificate_len;
    int nonce_absent;                  /* 1: the form claims no nonce (Trustee's device_evidence_list);
                                        * nonce is unused and only the expected nonce is checked */
} ccg_gpu_evidence_item;

typedef struct {
    size_t count;
    ccg_gpu_evidence_item *items;
} ccg_gpu_evidence_list;

/* Strict: an array of 1..CCG_GPU_MAX_GPUS objects with exactly these four members. Fails with
 * gpu.evidence_malformed. */
CCG_MUST_CHECK ccg_result ccg_gpu_evidence_json_parse(const char *text, size_t len, ccg_gpu_evidence_list *out);
/* Decodes the members every JSON form of an entry carries (this one and the key broker's Trustee form):
 * arch (HOPPER or BLACKWELL, any case), evidence (base64 of the binary report, at most
 * CCG_GPU_MAX_REPORT_SIZE) and certificate (base64 of the PEM chain, at most 64 KiB), decoded by OpenSSL.
 * gpu.evidence_malformed naming entry `index`; what was decoded before a failure is left in item for
 * ccg_gpu_evidence_list_free. */
CCG_MUST_CHECK ccg_result ccg_gpu_evidence_item_decode(size_t index, const char *arch, const char *evidence,
                                                       const char *certificate, ccg_gpu_evidence_item *item);
void ccg_gpu_evidence_list_free(ccg_gpu_evidence_list *l);

/* Verifies one entry of the JSON form (its arch is the declared arch). The entry's own nonce must equal
 * the report's signed request nonce (else gpu.nonce_mismatch); expected_nonce is checked as in
 * ccg_gpu_verify_opts. */
CCG_MUST_CHECK ccg_result ccg_gpu_verify_item(ccg_gpu_verifier *v, const ccg_gpu_evidence_item *item,
                                              const uint8_t *expected_nonce, ccg_time now, ccg_gpu_result *res,
                                              ccg_decision *d);
/* The same with the verifier's options: declared_arch is the item's; expected and alternative nonces as
 * ccg_gpu_verify_opts say (opts may be NULL: no nonce is checked). */
CCG_MUST_CHECK ccg_result ccg_gpu_verify_item_opts(ccg_gpu_verifier *v, const ccg_gpu_evidence_item *item,
                                                   const ccg_gpu_verify_opts *opts, ccg_time now,
                                                   ccg_gpu_result *res, ccg_decision *d);

#endif
