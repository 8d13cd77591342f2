/* The GPU half of a release decision (kbs_gpu.c, kbs_gpu_claims.c): NVIDIA evidence from
 * tee-evidence.additional_evidence, bound to the session by derived nonces, checked against replays,
 * appraised with the broker's collateral and merged into the decision (docs/kbs.md, "GPUs"). */
#ifndef CCGATE_KBS_GPU_H
#define CCGATE_KBS_GPU_H

#include <jansson.h>

#include "ccgate/audit.h"
#include "ccgate/gpu_appraise.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"

/* The broker's GPU collateral: RIM store, OCSP, a RIM cache and GPU verifiers (one trusting only the
 * pinned NVIDIA root, and a few more, each also trusting one policy's test root). Thread-safe. */
typedef struct kbs_gpu kbs_gpu;

/* cfg NULL (or empty): no RIM store, no OCSP (policies requiring them fail closed). */
CCG_MUST_CHECK ccg_result kbs_gpu_new(const ccg_kbs_gpu_config *cfg, kbs_gpu **out);
void kbs_gpu_free(kbs_gpu *g);
/* Collateral uploaded through the admin API (kbs_collateral_lookup) as the first source of RIMs
 * ("gpu/rim/<RIM ID>") and OCSP responses ("gpu/ocsp/<cache name without .der>"). */
void kbs_gpu_set_lookup(kbs_gpu *g, ccg_result (*lookup)(void *, const char *, uint8_t **, size_t *, int *),
                        void *ctx);
/* Seconds a seen report is remembered. */
ccg_time kbs_gpu_retention(const kbs_gpu *g);

/* What binds the GPU evidence to an attestation. */
typedef struct {
    const char *nonce;               /* the session's KBS nonce */
    const ccg_jwk *tee_pubkey;       /* the canonical tee-pubkey */
    const char *additional_evidence; /* tee-evidence.additional_evidence as sent ("" for none) */
    const char *session_id;          /* NULL: replays are only looked up (nothing recorded; any
                                      * earlier sighting is another session's) */
    int record;                      /* record the reports as this session's (the CPU evidence that
                                      * binds them verified); else only look them up */
} kbs_gpu_binding;

/* The GPU part of the decision under p, merged into d (d's own reasons stay; d->claims gains "gpus"):
 *   additional_evidence parsed (its code when malformed or naming another TEE, whatever p says);
 *   p requires no GPU: done (GPU evidence is not appraised), but a host_state saying CC off or DevTools
 *   on still refuses (gpu.cc_mode_off / gpu.devtools_on, "source":"host"): the host's word only refuses;
 *   no GPU evidence: kbs.gpu_required;
 *   a report seen in another session (store, may be NULL: not checked): gpu.report_replayed, and
 *   nothing else is checked;
 *   ccg_gpu_appraise with the ccgate-v1 nonce of GPU i or the trustee nonce, the broker's collateral;
 *   the same device twice: gpu.device_duplicate.
 * Every GPU reason keeps its "gpu" index in the details. Never fails: problems are reasons in d. */
/* g may be NULL when p requires no GPU (it is only used to appraise; NULL otherwise is an internal error). */
void kbs_gpu_evaluate(kbs_gpu *g, ccg_store *store, const ccg_kbs_policy *p, const kbs_gpu_binding *b, ccg_time now,
                      ccg_decision *d);

/* ccg_kbs_gpu_evidence_parse, and each device's optional "host_state" (ccgate's extension: NVML's word,
 * which can only refuse) into hosts[i] (reported 0 where absent). */
CCG_MUST_CHECK ccg_result kbs_gpu_evidence_parse(const char *text, size_t len, ccg_gpu_evidence_list *out,
                                                 ccg_gpu_host_state hosts[CCG_GPU_MAX_GPUS]);

/* "sha384:" of a report's signed bytes (request || response without its 96-byte signature), the key of
 * the replay memory: a re-encoded signature (ECDSA's s and n - s) does not make a report new. */
CCG_MUST_CHECK ccg_result kbs_gpu_report_digest(const ccg_gpu_evidence_item *item, char out[112]);

/* The per-GPU claims tokens and audit records carry (kbs_gpu_claims.c), from an appraisal's claims:
 * [{"index","arch","driver_version","vbios_version","ueid","measurements","mismatched_indexes",
 *   "nonce_binding"}]; absent values are null. NULL when out of memory. Nothing in it is secret. */
json_t *kbs_gpu_claims_summary(const json_t *appraisal_claims);
/* The summary (a decision's "gpus" claim) as the audit record's GPUs: borrows its strings; indexes holds
 * the mismatched RIM indexes. Returns the count (at most CCG_AUDIT_MAX_GPUS). */
size_t kbs_audit_gpus(const json_t *summary, ccg_audit_gpu gpus[CCG_AUDIT_MAX_GPUS],
                      uint16_t indexes[CCG_AUDIT_MAX_GPUS][CCG_AUDIT_GPU_MAX_INDEXES]);

#endif
