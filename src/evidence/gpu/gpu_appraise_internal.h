/* Internals of the GPU appraisal: RIM verification through the cache and the policy's roots. */
#ifndef CCGATE_GPU_APPRAISE_INTERNAL_H
#define CCGATE_GPU_APPRAISE_INTERNAL_H

#include "ccgate/gpu_appraise.h"

/* Verifies one RIM document at now: under the pinned NVIDIA RIM root, else (only when the policy names
 * one) under the policy's RIM test root. Through the cache when one is given. On failure the error
 * names the check (gpu.rim_*) and *out is empty. */
CCG_MUST_CHECK ccg_result gpu_appraise_rim_verify(const ccg_gpu_policy *p, ccg_gpu_rim_cache *cache,
                                                  const uint8_t *xml, size_t len, ccg_time now, ccg_gpu_rim *out);

/* A deep copy (resources copied, chain referenced); dst is freed with ccg_gpu_rim_free. */
CCG_MUST_CHECK ccg_result gpu_appraise_rim_copy(const ccg_gpu_rim *src, ccg_gpu_rim *dst);

#endif
