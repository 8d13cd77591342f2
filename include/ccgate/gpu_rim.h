/* NVIDIA reference integrity manifests (RIMs): signed SWID XML tags holding the golden values of a
 * GPU driver or VBIOS (docs/gpu-rim.md).
 *
 *   bytes -> bounded libxml2 parse (no DTD, no network) -> KeyInfo certificates -> chain to the
 *   pinned NVIDIA RIM root at `now` (OpenSSL) -> XML signature with the validated leaf key (xmlsec)
 *   -> SWID Meta and Payload -> ccg_gpu_rim
 *
 * Comparison with the evidence takes plain values (ccg_gpu_rim_runtime), so it does not depend on
 * the SPDM parser: RIM index i is the SPDM measurement block with index i + 1. */
#ifndef CCGATE_GPU_RIM_H
#define CCGATE_GPU_RIM_H

#include "ccgate/gpu_evidence.h"
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "ccgate/result.h"
#include "ccgate/util.h"

#define CCG_GPU_RIM_MAX_BYTES (4u << 20)   /* larger documents are refused before libxml2 sees them */
#define CCG_GPU_RIM_MAX_CERTS 8            /* certificates in KeyInfo/X509Data */
#define CCG_GPU_RIM_INDEX_COUNT 254        /* RIM indexes 0..253 <-> SPDM block indexes 1..254 */
#define CCG_GPU_RIM_MAX_ALTERNATIVES 16
#define CCG_GPU_RIM_MAX_DIGEST 64          /* SHA-512 */
#define CCG_GPU_RIM_ID_MAX 128
#define CCG_GPU_RIM_NVDEC0_INDEX 35        /* skipped when the evidence says NVDEC0 is disabled */

/* One Resource of type Measurement: the golden values of one RIM index. */
typedef struct {
    uint16_t index;        /* RIM index, 0-based */
    int active;            /* only active resources take part in the comparison */
    uint16_t size;         /* bytes of every alternative (the digest length) */
    uint8_t alternatives;  /* 1..CCG_GPU_RIM_MAX_ALTERNATIVES */
    uint8_t values[CCG_GPU_RIM_MAX_ALTERNATIVES][CCG_GPU_RIM_MAX_DIGEST];
} ccg_gpu_rim_resource;

/* A verified RIM. Every value was covered by the signature that was checked. */
typedef struct {
    char tag_id[160];             /* SoftwareIdentity/@tagId */
    char name[64];                /* SoftwareIdentity/@name ("GH100") */
    char version[64];             /* Meta/@colloquialVersion: the driver or VBIOS version */
    char product[64];             /* Meta/@product */
    char edition[32];             /* Meta/@edition */
    char revision[32];            /* Meta/@revision */
    char signer[256];             /* the signing certificate's subject (RFC 2253) */
    ccg_time signer_not_before;
    ccg_time chain_not_after;     /* the earliest notAfter of the chain: the RIM is usable until then */
    STACK_OF(X509) *chain;        /* signer .. trusted root, as verified; owned */
    size_t n_resources;           /* indexes unique, ascending */
    ccg_gpu_rim_resource *resources;
} ccg_gpu_rim;

/* The pinned NVIDIA RIM root ("NVIDIA CoRIM signing Root CA", P-384), checked against its pinned
 * SHA-256 when loaded. A new reference; the caller frees it. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_pinned_root(X509 **out);

/* Verifies and parses one RIM. root NULL trusts only the pinned NVIDIA root; a test root is trusted
 * only when passed here. Neither xmlsec's nor the system's trust store, nor the wall clock, is used.
 * On failure *out is left empty and the error names the check (gpu.rim_*). */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_verify(const uint8_t *xml, size_t len, X509 *root, ccg_time now,
                                             ccg_gpu_rim *out);
void ccg_gpu_rim_free(ccg_gpu_rim *rim);
/* The RIM's claims: tag, version, signer, chain validity and the active indexes. */
json_t *ccg_gpu_rim_claims_json(const ccg_gpu_rim *rim);

/* Signs an unsigned SWID document as NVIDIA signs RIMs (enveloped, C14N 1.1, SHA-384, ECDSA P-384 with
 * SHA-384, chain in KeyInfo/X509Data, signer first). For the GPU emulator's test RIM signer and tests;
 * a RIM it makes is trusted only by a verifier that is given the test root. *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_sign(const uint8_t *swid, size_t len, EVP_PKEY *key, STACK_OF(X509) *chain,
                                           uint8_t **out, size_t *out_len);

/* ---------------------------------------------------------------- RIM IDs (docs/gpu-rim.md) */

/* "NV_GPU_DRIVER_GH100_<driver>" for arch "HOPPER"; "NV_GPU_CC_DRIVER_<chip>_<driver>" for
 * "BLACKWELL" (chip from CHIP_INFO, "GB100" when the evidence has none). arch is case-insensitive. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_driver_id(const char *arch, const char *chip_info, const char *driver_version,
                                                char out[CCG_GPU_RIM_ID_MAX]);
/* "NV_GPU_VBIOS_<PROJECT>_<PROJECT_SKU>_<CHIP_SKU>_<VBIOS version without dots>", upper case. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_vbios_id(const char *project, const char *project_sku, const char *chip_sku,
                                               const char *vbios_version, char out[CCG_GPU_RIM_ID_MAX]);

/* ---------------------------------------------------------------- RIM store */

#define CCG_GPU_RIM_DEFAULT_TIMEOUT_S 15L

typedef struct {
    const char *dir;         /* local RIM directory: <dir>/<RIM ID>.xml or .swidtag; NULL: none */
    const char *service_url; /* RIM service base; GET <service_url><RIM ID> -> {"rim": base64}; NULL: none */
    long timeout_s;          /* whole request; 0: CCG_GPU_RIM_DEFAULT_TIMEOUT_S */
    long connect_timeout_s;  /* 0: min(timeout, 5) */
    /* A source asked first, under "gpu/rim/<RIM ID>" (the key broker's uploaded collateral): *found 0
     * on a miss; a failure is the source's own error. NULL: none. */
    ccg_result (*lookup)(void *ctx, const char *collateral_id, uint8_t **out, size_t *out_len, int *found);
    void *lookup_ctx;
} ccg_gpu_rim_store;

/* The RIM's bytes: the lookup first, then the directory, then the service. Fails with gpu.rim_unavailable
 * naming the RIM ID when none has it, and gpu.rim_id_invalid for an ID that is not a safe file name.
 * Whatever the source, ccg_gpu_rim_verify judges the bytes alike. */
/* gpu.rim_id_invalid unless id is 1..CCG_GPU_RIM_ID_MAX-1 characters of [A-Za-z0-9._-], not starting
 * with a dot. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_id_check(const char *id);
CCG_MUST_CHECK ccg_result ccg_gpu_rim_store_get(const ccg_gpu_rim_store *store, const char *rim_id, uint8_t **xml,
                                                size_t *len);
/* ccg_gpu_rim_store_get, then ccg_gpu_rim_verify. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_store_load(const ccg_gpu_rim_store *store, const char *rim_id, X509 *root,
                                                 ccg_time now, ccg_gpu_rim *out);

/* ---------------------------------------------------------------- comparison with the evidence */

/* One runtime measurement block of the evidence, as the SPDM parser found it. */
typedef struct {
    uint8_t index;        /* SPDM measurement block index, 1-based */
    uint16_t size;
    const uint8_t *value; /* borrowed */
} ccg_gpu_rim_block;

/* What the comparison needs from the (already verified) evidence. */
typedef struct {
    const ccg_gpu_rim_block *blocks;
    size_t n_blocks;
    const char *driver_version; /* "550.90.07" */
    const char *vbios_version;  /* "96.00.5E.00.01" */
    int nvdec0_disabled;        /* the NVDEC0 status says disabled: RIM index 35 is not compared */
} ccg_gpu_rim_runtime;

typedef struct {
    size_t golden_count;          /* active indexes of both RIMs */
    size_t matched_count;
    int nvdec0_skipped;           /* index 35 was active and skipped */
    int conflict_index;           /* -1, or the index active in both RIMs */
    size_t n_mismatched;
    uint16_t mismatched[CCG_GPU_RIM_INDEX_COUNT]; /* RIM indexes, ascending */
    char mismatched_source[CCG_GPU_RIM_INDEX_COUNT]; /* 'D' driver, 'V' VBIOS */
} ccg_gpu_rim_match;

/* The golden set is the driver RIM's active indexes plus the VBIOS RIM's. Checks, in order: each
 * RIM's version equals the evidence's (gpu.rim_version_mismatch), no index is active in both
 * (gpu.rim_conflict), and runtime block i+1 equals one alternative of every golden index i
 * (gpu.measurement_mismatch, every mismatching index listed in *out and the message). Always fills
 * *out. Both RIMs are required. */
CCG_MUST_CHECK ccg_result ccg_gpu_rim_compare(const ccg_gpu_rim *driver, const ccg_gpu_rim *vbios,
                                              const ccg_gpu_rim_runtime *rt, ccg_gpu_rim_match *out);
/* {"golden":n,"matched":n,"nvdec0_skipped":b,"mismatched_indexes":[..],"mismatched":[{"index","source"}]} */
json_t *ccg_gpu_rim_match_json(const ccg_gpu_rim_match *m);

/* The comparison's input from the SPDM parser's report (gpu_evidence.h). */
/* Fills *rt from a parsed (and verified) report: its measurement blocks (into blocks, room for
 * CCG_GPU_MAX_MEASUREMENTS; values borrowed from r), driver and VBIOS versions and NVDEC0 status. */
void ccg_gpu_rim_runtime_from_report(const ccg_gpu_report *r, ccg_gpu_rim_block *blocks, ccg_gpu_rim_runtime *rt);

#endif
