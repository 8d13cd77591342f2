/* Each GPU's attestation evidence for one KBS session, collected through NVML (nvml_internal.h) and
 * written as the additional_evidence string of the Attestation (docs/gpu-evidence.md, "Nonce
 * derivation" and "Wire form in the KBS Attestation"):
 *
 *   D      = ccg_gpu_device_digest(hash, KBS nonce, tee-pubkey)
 *   GPU i  signs ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, D, i)
 *   string = {"nvidia":{"device_evidence_list":[{"arch","uuid","evidence","certificate","host_state"},...]}}
 *
 * The agent verifies nothing here: the broker does, and its denial then carries the request ID and the
 * policy version. The agent only refuses what NVML cannot have meant (an empty or oversized report, a
 * chain that is not PEM text, an architecture without a CC evidence form), so a broken driver is named
 * on the guest instead of as a malformed request. Nothing here is secret: the buffers are plain heap. */
#include "nvml_internal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/gpu_nonce.h"
#include "ccgate/gpu_verify.h"

#define PEM_CERT_BEGIN "-----BEGIN CERTIFICATE-----"

static char *b64_std(const uint8_t *in, size_t n)
{
    char *out = n <= (1u << 20) ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    }
    return out;
}

static ccg_result gpu_arch(const ccg_agent_gpu *g, nvml_device dev, unsigned i, const char **name)
{
    ccg_result result = CCG_FAILURE;
    unsigned int arch = 0;
    nvml_return rc = g->architecture(dev, &arch);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetArchitecture(GPU %u): %d (%.100s)", i, rc,
                   agent_nvml_err(g, rc));
    if (arch == NVML_DEVICE_ARCH_HOPPER) {
        *name = ccg_gpu_arch_name(CCG_GPU_ARCH_HOPPER);
    } else if (arch == NVML_DEVICE_ARCH_BLACKWELL) {
        *name = ccg_gpu_arch_name(CCG_GPU_ARCH_BLACKWELL);
    } else {
        CCG_BAIL(CCG_R_GPU_ARCH_UNSUPPORTED,
                 "GPU %u: NVML architecture %u has no confidential-computing evidence form (Hopper 9, Blackwell 10)",
                 i, arch);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* NVML's UUID ("GPU-8ad0..."): NUL-terminated inside the buffer, non-empty, [A-Za-z0-9-] only. */
static ccg_result gpu_uuid(const ccg_agent_gpu *g, nvml_device dev, unsigned i,
                           char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE])
{
    ccg_result result = CCG_FAILURE;
    size_t n;
    nvml_return rc;
    memset(uuid, 0, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
    rc = g->uuid(dev, uuid, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetUUID(GPU %u): %d (%.100s)", i, rc,
                   agent_nvml_err(g, rc));
    n = strnlen(uuid, NVML_DEVICE_UUID_V2_BUFFER_SIZE);
    CCG_ENSURE_MSG(n > 0 && n < NVML_DEVICE_UUID_V2_BUFFER_SIZE, CCG_R_GPU_NVML_ERROR,
                   "nvmlDeviceGetUUID(GPU %u) returned no NUL-terminated UUID", i);
    for (size_t k = 0; k < n; k++) {
        char c = uuid[k];
        CCG_ENSURE_MSG((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-',
                       CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetUUID(GPU %u) returned a UUID with a byte 0x%02x", i,
                       (unsigned)(unsigned char)c);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The signed report over nonce: non-empty and inside NVML's fixed buffer. */
static ccg_result gpu_report(const ccg_agent_gpu *g, nvml_device dev, unsigned i,
                             const uint8_t nonce[CCG_GPU_NONCE_SIZE], nvml_gpu_attestation_report *rep)
{
    ccg_result result = CCG_FAILURE;
    nvml_return rc;
    memset(rep, 0, sizeof(*rep));
    memcpy(rep->nonce, nonce, CCG_GPU_NONCE_SIZE);
    rc = g->report(dev, rep);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_EVIDENCE_UNAVAILABLE,
                   "nvmlDeviceGetConfComputeGpuAttestationReport(GPU %u): %d (%.100s)", i, rc, agent_nvml_err(g, rc));
    CCG_ENSURE_MSG(rep->attestationReportSize > 0 && rep->attestationReportSize <= sizeof(rep->attestationReport),
                   CCG_R_GPU_EVIDENCE_MALFORMED,
                   "nvmlDeviceGetConfComputeGpuAttestationReport(GPU %u) returned a report of %u bytes (1..%zu)", i,
                   rep->attestationReportSize, sizeof(rep->attestationReport));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The attestation chain (leaf first, five PEM certificates): non-empty, inside the buffer, PEM text
 * without a NUL. Its contents are the broker's to verify. */
static ccg_result gpu_chain(const ccg_agent_gpu *g, nvml_device dev, unsigned i, nvml_gpu_certificate *cert)
{
    ccg_result result = CCG_FAILURE;
    size_t n;
    nvml_return rc;
    memset(cert, 0, sizeof(*cert));
    rc = g->certificate(dev, cert);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_EVIDENCE_UNAVAILABLE,
                   "nvmlDeviceGetConfComputeGpuCertificate(GPU %u): %d (%.100s)", i, rc, agent_nvml_err(g, rc));
    n = cert->attestationCertChainSize;
    CCG_ENSURE_MSG(n > 0 && n <= sizeof(cert->attestationCertChain), CCG_R_GPU_EVIDENCE_MALFORMED,
                   "nvmlDeviceGetConfComputeGpuCertificate(GPU %u) returned an attestation chain of %zu bytes (1..%zu)",
                   i, n, sizeof(cert->attestationCertChain));
    CCG_ENSURE_MSG(n >= sizeof(PEM_CERT_BEGIN) - 1 &&
                       memcmp(cert->attestationCertChain, PEM_CERT_BEGIN, sizeof(PEM_CERT_BEGIN) - 1) == 0 &&
                       memchr(cert->attestationCertChain, 0, n) == NULL,
                   CCG_R_GPU_EVIDENCE_MALFORMED,
                   "nvmlDeviceGetConfComputeGpuCertificate(GPU %u) returned an attestation chain that is not PEM text",
                   i);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One device_evidence_list entry for GPU i. */
static ccg_result collect_one(const ccg_agent_gpu *g, unsigned i, const uint8_t *digest, size_t digest_len,
                              json_t *list)
{
    ccg_result result = CCG_FAILURE;
    nvml_gpu_attestation_report *rep = calloc(1, sizeof(*rep));
    nvml_gpu_certificate *cert = calloc(1, sizeof(*cert));
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE];
    char *evidence = NULL, *chain = NULL;
    const char *arch = NULL;
    nvml_device dev = NULL;
    json_t *entry = NULL;
    nvml_return rc;
    CCG_ENSURE_ALLOC(rep);
    CCG_ENSURE_ALLOC(cert);
    rc = g->handle(i, &dev);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetHandleByIndex_v2(%u): %d (%.100s)", i, rc,
                   agent_nvml_err(g, rc));
    CCG_TRY(ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, digest, digest_len, i, nonce));
    CCG_TRY(gpu_report(g, dev, i, nonce, rep));
    CCG_TRY(gpu_chain(g, dev, i, cert));
    CCG_TRY(gpu_arch(g, dev, i, &arch));
    CCG_TRY(gpu_uuid(g, dev, i, uuid));
    evidence = b64_std(rep->attestationReport, rep->attestationReportSize);
    chain = b64_std(cert->attestationCertChain, cert->attestationCertChainSize);
    CCG_ENSURE_ALLOC(evidence);
    CCG_ENSURE_ALLOC(chain);
    /* With the host claim, its word rides along for the broker to refuse on (it can only make it stricter). */
    entry = g->host_reported
                ? json_pack("{s:s,s:s,s:s,s:s,s:{s:s,s:s}}", "arch", arch, "uuid", uuid, "evidence", evidence,
                            "certificate", chain, "host_state", "cc", g->host_cc_on ? "on" : "off", "devtools",
                            g->host_devtools_on ? "on" : "off")
                : json_pack("{s:s,s:s,s:s,s:s}", "arch", arch, "uuid", uuid, "evidence", evidence, "certificate",
                            chain);
    CCG_ENSURE_ALLOC(entry);
    CCG_ENSURE(json_array_append_new(list, entry) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    free(evidence);
    free(chain);
    free(rep);
    free(cert);
    return result;
}

ccg_result ccg_agent_gpu_evidence(ccg_agent_gpu *g, const char *hash, const char *kbs_nonce,
                                  const ccg_jwk *tee_pubkey, char **out, unsigned *count)
{
    ccg_result result = CCG_FAILURE;
    uint8_t digest[CCG_GPU_DEVICE_DIGEST_MAX];
    size_t digest_len = 0;
    unsigned int n = 0;
    json_t *list = json_array(), *doc = NULL;
    nvml_return rc;
    *out = NULL;
    *count = 0;
    CCG_ENSURE_ALLOC(list);
    CCG_TRY(ccg_gpu_device_digest(hash, kbs_nonce, tee_pubkey, digest, &digest_len));
    rc = g->count(&n);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetCount_v2: %d (%.100s)", rc,
                   agent_nvml_err(g, rc));
    CCG_ENSURE_MSG(n > 0, CCG_R_GPU_ABSENT, "NVML reports no GPU (gpus=0)");
    CCG_ENSURE_MSG(n <= CCG_GPU_MAX_GPUS, CCG_R_GPU_EVIDENCE_UNAVAILABLE,
                   "NVML reports %u GPUs; one attestation carries the evidence of at most %d", n, CCG_GPU_MAX_GPUS);
    for (unsigned int i = 0; i < n; i++) {
        if (ccg_failed(collect_one(g, i, digest, digest_len, list))) {
            /* Nothing to send: with CC off as the reason NVML gives none, the code says so. */
            char cause[200];
            snprintf(cause, sizeof(cause), "%.199s", ccg_error_last()->message);
            if (ccg_agent_gpu_host_cc_off(g)) {
                ccg_error_clear(); /* the first error would win: CC off is the code that explains it */
            }
            CCG_ENSURE_MSG(!ccg_agent_gpu_host_cc_off(g), CCG_R_GPU_CC_MODE_OFF,
                           "the host reports CC mode off and GPU %u gives no evidence (%s)", i, cause);
            goto cleanup;
        }
    }
    doc = json_pack("{s:{s:O}}", "nvidia", "device_evidence_list", list);
    CCG_ENSURE_ALLOC(doc);
    *out = json_dumps(doc, JSON_COMPACT);
    CCG_ENSURE_ALLOC(*out);
    *count = n;
    result = CCG_SUCCESS;
cleanup:
    json_decref(list);
    json_decref(doc);
    return result;
}
