/* The nonce a GPU signs, derived from the KBS session so that GPU evidence cannot be relayed from
 * another machine or replayed into another session (docs/gpu-evidence.md, "Nonce derivation").
 *
 *   D = H(RFC 8785 {"nonce": <KBS challenge nonce>, "tee-pubkey": <canonical JWK>})
 *       H is the session's hash algorithm (SHA-384 unless the Challenge selected another); this is the
 *       "device runtime data" digest a KBS 0.4.0 guest hands its device attesters.
 *   ccgate binding (v1), GPU i:  SHA-256("ccgate/gpu-nonce/v1" || 0x00 || len(D) || D || u32be(i))
 *   trustee binding:             the first 32 bytes of D (what guest-components' NVIDIA attester uses
 *                                for every GPU)
 *
 * The CPU evidence's REPORT_DATA binds the additional_evidence string that carries the GPU reports,
 * so both bindings tie each GPU report to this session's nonce, this tee-pubkey and this CPU report.
 * The ccgate binding also ties report i to position i. The trustee binding gives every GPU the same
 * nonce, so the broker refuses the same device (leaf serial) twice in one attestation. */
#ifndef CCGATE_GPU_NONCE_H
#define CCGATE_GPU_NONCE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/gpu_evidence.h"
#include "ccgate/jose.h"
#include "ccgate/result.h"

#define CCG_GPU_DEVICE_DIGEST_MAX 64

typedef enum {
    CCG_GPU_NONCE_CCGATE_V1 = 0,
    CCG_GPU_NONCE_TRUSTEE,
} ccg_gpu_nonce_binding;

/* "ccgate-v1" or "trustee", for claims. */
const char *ccg_gpu_nonce_binding_name(ccg_gpu_nonce_binding b);

/* D above. hash is "sha256", "sha384" or "sha512"; *digest_len receives 32, 48 or 64. */
CCG_MUST_CHECK ccg_result ccg_gpu_device_digest(const char *hash, const char *kbs_nonce, const ccg_jwk *tee_pubkey,
                                                uint8_t digest[CCG_GPU_DEVICE_DIGEST_MAX], size_t *digest_len);

/* The nonce GPU gpu_index signs under binding b, from D (32..64 bytes). */
CCG_MUST_CHECK ccg_result ccg_gpu_nonce_derive(ccg_gpu_nonce_binding b, const uint8_t *digest, size_t digest_len,
                                               uint32_t gpu_index, uint8_t out[CCG_GPU_NONCE_SIZE]);

#endif
