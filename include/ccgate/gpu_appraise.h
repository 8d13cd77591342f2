/* Appraisal of a set of NVIDIA GPUs against a GPU policy: one call, one decision.
 *
 * Per GPU: ccg_gpu_verify_item (chain to the pinned root or the policy's test root, FWID, signature,
 * the item's own nonce and the expected one) -> OCSP over the device chain (when the policy requires
 * it) -> driver and VBIOS RIM IDs from the evidence -> the RIMs (explicit documents first, picked by
 * version, then the RIM store; gpu.rim_unavailable names the RIM ID) -> ccg_gpu_rim_compare -> the
 * policy's checks (architecture, versions, mode, DevTools). Then the count check across GPUs.
 *
 * Every failure of every GPU is listed in the one decision, each reason's details carrying "gpu": the
 * GPU's index. Nothing stops at the first failure. docs/gpu-policy.md and docs/gpu-evidence.md. */
#ifndef CCGATE_GPU_APPRAISE_H
#define CCGATE_GPU_APPRAISE_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "ccgate/decision.h"
#include "ccgate/gpu_ocsp.h"
#include "ccgate/gpu_policy.h"
#include "ccgate/gpu_rim.h"
#include "ccgate/gpu_verify.h"

/* One RIM document given explicitly (e.g. `--rim FILE`). It is verified like a stored RIM and used for
 * the GPU whose driver or VBIOS version equals its colloquialVersion. */
typedef struct {
    const uint8_t *xml;
    size_t len;
} ccg_gpu_rim_doc;

/* Verified RIMs keyed by (SHA-256 of the document, the root it was verified under). A hit skips the
 * XML signature check; the chain's validity window is still checked against every `now`. Thread-safe. */
typedef struct ccg_gpu_rim_cache ccg_gpu_rim_cache;
CCG_MUST_CHECK ccg_result ccg_gpu_rim_cache_new(ccg_gpu_rim_cache **out);
void ccg_gpu_rim_cache_free(ccg_gpu_rim_cache *c);
/* Hits and misses so far (for tests and the benchmark). */
void ccg_gpu_rim_cache_stats(const ccg_gpu_rim_cache *c, size_t *hits, size_t *misses);

typedef struct {
    ccg_gpu_verifier *verifier;         /* required: trusts the pinned root (and any test roots); its
                                         * chain cache makes repeated chains cheap. A chain ending at a
                                         * test root passes only when the policy names that root. */
    const ccg_gpu_rim_store *rim_store; /* NULL: no RIM directory or service */
    const ccg_gpu_rim_doc *rims;        /* explicit RIM documents; NULL when n_rims is 0 */
    size_t n_rims;
    const ccg_gpu_ocsp_config *ocsp;    /* NULL: no OCSP collateral (a policy requiring OCSP then fails
                                         * with gpu.ocsp_unavailable); allow_hold comes from the policy */
    ccg_gpu_rim_cache *rim_cache;       /* NULL: every RIM is verified every time */
} ccg_gpu_collateral;

/* What the host (NVML) says about one GPU. Not evidence: it can only make a decision stricter. */
typedef struct {
    int reported;    /* 0: nothing was reported; the other members are ignored */
    int cc_on;       /* 0: gpu.cc_mode_off */
    int devtools_on; /* 1: gpu.devtools_on, whatever the policy says */
} ccg_gpu_host_state;

typedef struct {
    const ccg_gpu_evidence_item *items;    /* count GPUs (ccg_gpu_evidence_json_parse, or built) */
    size_t count;
    const uint8_t *const *expected_nonces; /* count entries of CCG_GPU_NONCE_SIZE bytes, each NULL for
                                            * "not done"; NULL: no nonce is checked for any GPU. A nonce
                                            * check not done is never a pass (claims say "not_done"). */
    const ccg_gpu_host_state *host;        /* count entries, or NULL */
    /* A second nonce binding that also passes (the key broker accepts its own per-GPU nonce or
     * Trustee's): count entries, each NULL for none, or NULL. Only with an expected nonce. */
    const uint8_t *const *alt_nonces;
    /* Names of the two bindings for the per-GPU claim "nonce_binding" (NULL: "expected" and
     * "alternative"). The claim is null when the nonce check did not pass. */
    const char *nonce_binding;
    const char *alt_nonce_binding;
} ccg_gpu_appraisal_input;

typedef struct {
    ccg_decision decision;   /* allow only when every check of every GPU and the count passed.
                              * decision.claims: {"count":n,"gpus":[per-GPU claims]} */
    size_t count;
    ccg_gpu_result *results; /* per GPU, as ccg_gpu_verify_item filled them */
    int unparsed;            /* index of the first GPU whose evidence could not be parsed, else -1 */
} ccg_gpu_appraisal;

/* Appraises every GPU at `now`. Always fills *out (free with ccg_gpu_appraisal_free). Fails only on
 * an internal error (out of memory); every verification failure is a reason in out->decision. */
CCG_MUST_CHECK ccg_result ccg_gpu_appraise(const ccg_gpu_policy *policy, const ccg_gpu_collateral *collateral,
                                           const ccg_gpu_appraisal_input *in, ccg_time now,
                                           ccg_gpu_appraisal *out);
void ccg_gpu_appraisal_free(ccg_gpu_appraisal *a);

#endif
