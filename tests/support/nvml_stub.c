/* A stand-in for libnvidia-ml.so.1 with the entry points the agent uses, for tests: device discovery,
 * the confidential-computing state, and the CC attestation calls (report over a caller's nonce,
 * certificate chains, protected memory size, the GPUs' ready state). The structures restate NVIDIA's
 * public nvml.h (sizes asserted below). Its answers come from the environment of the process that
 * loads it:
 *   CCG_NVML_STUB_INIT      "fail": nvmlInit_v2 returns NVML_ERROR_DRIVER_NOT_LOADED (9)
 *   CCG_NVML_STUB_COUNT     the number of GPUs (default 1)
 *   CCG_NVML_STUB_CC        "on" (default) or "off": ccFeature
 *   CCG_NVML_STUB_DEVTOOLS  "off" (default) or "on": devToolsMode
 *   CCG_NVML_STUB_CC_FAIL   "1": nvmlSystemGetConfComputeState returns NVML_ERROR_NOT_SUPPORTED (3)
 * GPU attestation evidence (without any of these the attestation calls return NOT_SUPPORTED):
 *   CCG_NVML_STUB_GPU_STATE   DIR[:DIR...]: saved software GPUs (ccgate emulate gpu --save-state); GPU i
 *                             uses the i-th (the last for the rest) and signs over the caller's nonce
 *   CCG_NVML_STUB_GPU_REPORT, CCG_NVML_STUB_GPU_CERTS
 *                             a fixed report (hex or binary) and PEM chain served as they are, e.g. a real
 *                             vector: its signed nonce is not the caller's
 *   CCG_NVML_STUB_GPU_REPORT_OUT
 *                             FILE: every report served is also written here (binary), so a test can
 *                             serve it again later as CCG_NVML_STUB_GPU_REPORT (a replay)
 *   CCG_NVML_STUB_GPU_TAMPER  a software GPU tamper (cc_off, devtools, measurement=N, fwid, driver=VER,
 *                             signature, nonce); with a fixed report only "signature" (one byte flipped).
 *                             cc_off and devtools also set ccFeature / devToolsMode unless those are set
 *   CCG_NVML_STUB_ATTEST_FAIL "1": the attestation calls return NVML_ERROR_UNKNOWN (999); "report" or
 *                             "cert": only that call
 *   CCG_NVML_STUB_REPORT_SIZE "empty": a report of 0 bytes; "oversized": a size beyond NVML's buffer
 *                             (a lying library)
 *   CCG_NVML_STUB_CERT_SIZE   "oversized": an attestation chain size beyond NVML's buffer
 *   CCG_NVML_STUB_READY_FILE  nvmlSystemSetConfComputeGpusReadyState also APPENDS "ready=<0|1>\n" here, so
 *                             a test sees every state the caller set, in order
 *   CCG_NVML_STUB_READY_FAIL  "1": nvmlSystemSetConfComputeGpusReadyState returns NVML_ERROR_UNKNOWN
 * Device identity:
 *   CCG_NVML_STUB_ARCH        nvmlDeviceGetArchitecture's answer: a number (NVML_DEVICE_ARCH_*: 9 Hopper,
 *                             10 Blackwell, 8 Ada...) or "fail" (NOT_SUPPORTED); by default the saved
 *                             software GPU's architecture, else Hopper (the real vectors)
 *   CCG_NVML_STUB_UUID        "fail": nvmlDeviceGetUUID returns NVML_ERROR_UNKNOWN; "bad": a UUID with a
 *                             byte outside [A-Za-z0-9-]; by default "GPU-" and a fixed UUID per index */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"

#define NVML_SUCCESS 0
#define NVML_ERROR_UNINITIALIZED 1
#define NVML_ERROR_INVALID_ARGUMENT 2
#define NVML_ERROR_NOT_SUPPORTED 3
#define NVML_ERROR_INSUFFICIENT_SIZE 7
#define NVML_DEVICE_ARCH_HOPPER 9u
#define NVML_DEVICE_ARCH_BLACKWELL 10u
#define NVML_ERROR_DRIVER_NOT_LOADED 9
#define NVML_ERROR_UNKNOWN 999

#define NVML_GPU_CERT_CHAIN_SIZE 0x1000
#define NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE 0x1400
#define NVML_CC_GPU_CEC_NONCE_SIZE 0x20
#define NVML_CC_GPU_ATTESTATION_REPORT_SIZE 0x2000
#define NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE 0x1000
#define STUB_MAX_GPUS 16
#define STUB_INPUT_MAX (1u << 20)

typedef struct {
    unsigned int environment;
    unsigned int ccFeature;
    unsigned int devToolsMode;
} stub_cc_state; /* nvmlConfComputeSystemState_t */

typedef struct {
    unsigned long long protectedMemSizeKib;
    unsigned long long unprotectedMemSizeKib;
} stub_mem_size_info; /* nvmlConfComputeMemSizeInfo_t */

typedef struct {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[NVML_GPU_CERT_CHAIN_SIZE];
    unsigned char attestationCertChain[NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE];
} stub_gpu_certificate; /* nvmlConfComputeGpuCertificate_t */

typedef struct {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[NVML_CC_GPU_CEC_NONCE_SIZE];
    unsigned char attestationReport[NVML_CC_GPU_ATTESTATION_REPORT_SIZE];
    unsigned char cecAttestationReport[NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE];
} stub_gpu_attestation_report; /* nvmlConfComputeGpuAttestationReport_t */

_Static_assert(sizeof(stub_gpu_certificate) == 8 + 0x1000 + 0x1400, "nvmlConfComputeGpuCertificate_t layout");
_Static_assert(sizeof(stub_gpu_attestation_report) == 12 + 0x20 + 0x2000 + 0x1000,
               "nvmlConfComputeGpuAttestationReport_t layout");
_Static_assert(sizeof(stub_mem_size_info) == 16, "nvmlConfComputeMemSizeInfo_t layout");

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device);
int nvmlSystemGetConfComputeState(stub_cc_state *state);
int nvmlDeviceGetConfComputeMemSizeInfo(void *device, stub_mem_size_info *info);
/* Built a second time with CCG_NVML_STUB_NO_ATTESTATION (libnvidia-ml-old-stub.so): a driver from before
 * the CC attestation calls, which do not exist in it. */
#ifdef CCG_NVML_STUB_NO_ATTESTATION
#define CC_ATTESTATION_CALL static __attribute__((unused))
#else
#define CC_ATTESTATION_CALL
#endif
CC_ATTESTATION_CALL int nvmlDeviceGetConfComputeGpuCertificate(void *device, stub_gpu_certificate *cert);
CC_ATTESTATION_CALL int nvmlDeviceGetConfComputeGpuAttestationReport(void *device,
                                                                     stub_gpu_attestation_report *report);
int nvmlSystemSetConfComputeGpusReadyState(unsigned int isAcceptingWork);
int nvmlSystemGetConfComputeGpusReadyState(unsigned int *isAcceptingWork);
int nvmlDeviceGetArchitecture(void *device, unsigned int *arch);
int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length);
const char *nvmlErrorString(int rc);

static int initialised;
static unsigned int ready_state;
static int devices[STUB_MAX_GPUS];

static int env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v != NULL && strcmp(v, value) == 0;
}

int nvmlInit_v2(void)
{
    if (env_is("CCG_NVML_STUB_INIT", "fail")) {
        return NVML_ERROR_DRIVER_NOT_LOADED;
    }
    initialised = 1;
    return NVML_SUCCESS;
}

int nvmlShutdown(void)
{
    initialised = 0;
    return NVML_SUCCESS;
}

static unsigned int stub_count(void)
{
    const char *v = getenv("CCG_NVML_STUB_COUNT");
    return v != NULL ? (unsigned int)strtoul(v, NULL, 10) : 1u;
}

int nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    *count = stub_count();
    return NVML_SUCCESS;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device)
{
    if (!initialised || index >= stub_count() || index >= STUB_MAX_GPUS) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *device = &devices[index];
    return NVML_SUCCESS;
}

/* The GPU index of a handle from nvmlDeviceGetHandleByIndex_v2, or -1. */
static int device_index(const void *device)
{
    for (int i = 0; i < STUB_MAX_GPUS; i++) {
        if (device == &devices[i]) {
            return (unsigned int)i < stub_count() ? i : -1;
        }
    }
    return -1;
}

/* An explicit CCG_NVML_STUB_CC / _DEVTOOLS wins; else a cc_off / devtools tamper sets the state. */
static unsigned int cc_feature(void)
{
    if (getenv("CCG_NVML_STUB_CC") != NULL) {
        return env_is("CCG_NVML_STUB_CC", "off") ? 0u : 1u;
    }
    return env_is("CCG_NVML_STUB_GPU_TAMPER", "cc_off") ? 0u : 1u;
}

static unsigned int devtools_mode(void)
{
    if (getenv("CCG_NVML_STUB_DEVTOOLS") != NULL) {
        return env_is("CCG_NVML_STUB_DEVTOOLS", "on") ? 1u : 0u;
    }
    return env_is("CCG_NVML_STUB_GPU_TAMPER", "devtools") ? 1u : 0u;
}

int nvmlSystemGetConfComputeState(stub_cc_state *state)
{
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (env_is("CCG_NVML_STUB_CC_FAIL", "1")) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    state->environment = 2;
    state->ccFeature = cc_feature();
    state->devToolsMode = devtools_mode();
    return NVML_SUCCESS;
}

int nvmlDeviceGetConfComputeMemSizeInfo(void *device, stub_mem_size_info *info)
{
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (device_index(device) < 0 || info == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    /* An 80 GiB GPU: all of it protected in CC mode, none otherwise. */
    info->protectedMemSizeKib = cc_feature() ? 80ull << 20 : 0;
    info->unprotectedMemSizeKib = cc_feature() ? 0 : 80ull << 20;
    return NVML_SUCCESS;
}

int nvmlSystemSetConfComputeGpusReadyState(unsigned int isAcceptingWork)
{
    const char *path = getenv("CCG_NVML_STUB_READY_FILE");
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (isAcceptingWork > 1) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (!cc_feature()) {
        return NVML_ERROR_NOT_SUPPORTED; /* only CC-mode GPUs have a ready state */
    }
    if (env_is("CCG_NVML_STUB_READY_FAIL", "1")) {
        return NVML_ERROR_UNKNOWN;
    }
    ready_state = isAcceptingWork;
    if (path != NULL) {
        FILE *f = fopen(path, "a");
        if (f == NULL || fprintf(f, "ready=%u\n", ready_state) < 0 || fclose(f) != 0) {
            return NVML_ERROR_UNKNOWN;
        }
    }
    return NVML_SUCCESS;
}

int nvmlSystemGetConfComputeGpusReadyState(unsigned int *isAcceptingWork)
{
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (isAcceptingWork == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    *isAcceptingWork = ready_state;
    return NVML_SUCCESS;
}

/* ---------------------------------------------------------------- attestation evidence */

/* The index-th entry of a ':'-separated list (the last one past its end) into out. */
static int list_entry(const char *list, int index, char *out, size_t cap)
{
    const char *start = list;
    for (int i = 0; i < index; i++) {
        const char *colon = strchr(start, ':');
        if (colon == NULL) {
            break;
        }
        start = colon + 1;
    }
    size_t n = strcspn(start, ":");
    if (n == 0 || n >= cap) {
        return 0;
    }
    memcpy(out, start, n);
    out[n] = 0;
    return 1;
}

static int load_emulator(int gpu, ccg_gpu_emulator **emu)
{
    char dir[4096];
    const char *list = getenv("CCG_NVML_STUB_GPU_STATE");
    ccg_error_clear();
    if (list == NULL || !list_entry(list, gpu, dir, sizeof(dir))) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (ccg_failed(ccg_gpu_emulator_load(dir, emu))) {
        fprintf(stderr, "nvml stub: %s\n", ccg_error_last()->message);
        return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}

static int copy_out(const void *data, size_t len, unsigned char *dst, size_t cap, unsigned int *size)
{
    if (len > cap) {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memset(dst, 0, cap);
    memcpy(dst, data, len);
    *size = (unsigned int)len;
    return NVML_SUCCESS;
}

/* A fixed file (hex or binary report; PEM), decoded as NVIDIA ships reports. */
static int read_fixed(const char *var, int decode, uint8_t **out, size_t *len)
{
    const char *path = getenv(var);
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    ccg_error_clear();
    if (path == NULL || ccg_failed(ccg_file_read(path, STUB_INPUT_MAX, &raw, &raw_len))) {
        return NVML_ERROR_NOT_SUPPORTED;
    }
    if (!decode) {
        *out = raw;
        *len = raw_len;
        return NVML_SUCCESS;
    }
    int rc = ccg_ok(ccg_gpu_report_decode(raw, raw_len, out, len)) ? NVML_SUCCESS : NVML_ERROR_UNKNOWN;
    free(raw);
    return rc;
}

/* call: "report" or "cert", matched by CCG_NVML_STUB_ATTEST_FAIL (or "1" for both). */
static int attest_start(void *device, int *gpu, const char *call)
{
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    *gpu = device_index(device);
    if (*gpu < 0) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (env_is("CCG_NVML_STUB_ATTEST_FAIL", "1") || env_is("CCG_NVML_STUB_ATTEST_FAIL", call)) {
        return NVML_ERROR_UNKNOWN;
    }
    return NVML_SUCCESS;
}

static int emulated_report(int gpu, const uint8_t *nonce, uint8_t **out, size_t *len)
{
    ccg_gpu_emulator *emu = NULL;
    ccg_gpu_emu_tamper tamper = {.kind = CCG_GPU_EMU_TAMPER_NONE};
    const char *t = getenv("CCG_NVML_STUB_GPU_TAMPER");
    int rc = load_emulator(gpu, &emu);
    if (rc == NVML_SUCCESS && t != NULL && ccg_failed(ccg_gpu_emu_tamper_parse(t, &tamper))) {
        rc = NVML_ERROR_INVALID_ARGUMENT;
    }
    if (rc == NVML_SUCCESS && ccg_failed(ccg_gpu_emulator_attest(emu, nonce, &tamper, out, len))) {
        rc = NVML_ERROR_UNKNOWN;
    }
    ccg_gpu_emulator_free(emu);
    return rc;
}

static int fixed_report(uint8_t **out, size_t *len)
{
    const char *t = getenv("CCG_NVML_STUB_GPU_TAMPER");
    int rc = read_fixed("CCG_NVML_STUB_GPU_REPORT", 1, out, len);
    if (rc != NVML_SUCCESS || t == NULL) {
        return rc;
    }
    if (strcmp(t, "signature") != 0 || *len <= CCG_GPU_SIGNATURE_SIZE) {
        free(*out);
        *out = NULL;
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    (*out)[*len - CCG_GPU_SIGNATURE_SIZE - 1] ^= 0x01; /* the last signed byte */
    return NVML_SUCCESS;
}

CC_ATTESTATION_CALL int nvmlDeviceGetConfComputeGpuAttestationReport(void *device,
                                                                     stub_gpu_attestation_report *report)
{
    int gpu = -1;
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = report == NULL ? NVML_ERROR_INVALID_ARGUMENT : attest_start(device, &gpu, "report");
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    rc = getenv("CCG_NVML_STUB_GPU_STATE") != NULL ? emulated_report(gpu, report->nonce, &data, &len)
                                                   : fixed_report(&data, &len);
    if (rc == NVML_SUCCESS && getenv("CCG_NVML_STUB_GPU_REPORT_OUT") != NULL &&
        ccg_failed(ccg_file_write(getenv("CCG_NVML_STUB_GPU_REPORT_OUT"), data, len))) {
        ccg_error_clear();
        rc = NVML_ERROR_UNKNOWN;
    }
    if (rc == NVML_SUCCESS) {
        rc = copy_out(data, len, report->attestationReport, sizeof(report->attestationReport),
                      &report->attestationReportSize);
        report->isCecAttestationReportPresent = 0;
        report->cecAttestationReportSize = 0;
        memset(report->cecAttestationReport, 0, sizeof(report->cecAttestationReport));
    }
    if (rc == NVML_SUCCESS && env_is("CCG_NVML_STUB_REPORT_SIZE", "empty")) {
        report->attestationReportSize = 0;
    } else if (rc == NVML_SUCCESS && env_is("CCG_NVML_STUB_REPORT_SIZE", "oversized")) {
        report->attestationReportSize = (unsigned int)sizeof(report->attestationReport) + 1;
    }
    free(data);
    return rc;
}

/* certChain: the device identity chain (BROM up to the root); attestationCertChain: the five
 * certificates from the attestation leaf, which is what verifiers use. */
static int fill_certificate(const char *pem, size_t len, stub_gpu_certificate *cert)
{
    const char *second = strstr(pem, "-----END CERTIFICATE-----");
    second = second != NULL ? strstr(second, "-----BEGIN CERTIFICATE-----") : NULL;
    int rc = copy_out(pem, len, cert->attestationCertChain, sizeof(cert->attestationCertChain),
                      &cert->attestationCertChainSize);
    if (rc == NVML_SUCCESS) {
        size_t off = second != NULL ? (size_t)(second - pem) : len;
        rc = copy_out(pem + off, len - off, cert->certChain, sizeof(cert->certChain), &cert->certChainSize);
    }
    return rc;
}

CC_ATTESTATION_CALL int nvmlDeviceGetConfComputeGpuCertificate(void *device, stub_gpu_certificate *cert)
{
    int gpu = -1;
    char *pem = NULL;
    size_t len = 0;
    ccg_gpu_emulator *emu = NULL;
    int rc = cert == NULL ? NVML_ERROR_INVALID_ARGUMENT : attest_start(device, &gpu, "cert");
    if (rc != NVML_SUCCESS) {
        return rc;
    }
    if (getenv("CCG_NVML_STUB_GPU_STATE") != NULL) {
        rc = load_emulator(gpu, &emu);
        if (rc == NVML_SUCCESS && ccg_failed(ccg_gpu_emulator_chain_pem(emu, &pem, &len))) {
            rc = NVML_ERROR_UNKNOWN;
        }
    } else {
        rc = read_fixed("CCG_NVML_STUB_GPU_CERTS", 0, (uint8_t **)&pem, &len);
    }
    if (rc == NVML_SUCCESS) {
        rc = fill_certificate(pem, len, cert);
    }
    if (rc == NVML_SUCCESS && env_is("CCG_NVML_STUB_CERT_SIZE", "oversized")) {
        cert->attestationCertChainSize = (unsigned int)sizeof(cert->attestationCertChain) + 1;
    }
    ccg_gpu_emulator_free(emu);
    free(pem);
    return rc;
}

/* ---------------------------------------------------------------- device identity */

int nvmlDeviceGetArchitecture(void *device, unsigned int *arch)
{
    const char *v = getenv("CCG_NVML_STUB_ARCH");
    int gpu = device_index(device);
    ccg_gpu_emulator *emu = NULL;
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (gpu < 0 || arch == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (v != NULL) {
        if (strcmp(v, "fail") == 0) {
            return NVML_ERROR_NOT_SUPPORTED;
        }
        *arch = (unsigned int)strtoul(v, NULL, 10);
        return NVML_SUCCESS;
    }
    *arch = NVML_DEVICE_ARCH_HOPPER;
    if (getenv("CCG_NVML_STUB_GPU_STATE") != NULL) {
        int rc = load_emulator(gpu, &emu);
        if (rc != NVML_SUCCESS) {
            return rc;
        }
        if (ccg_gpu_emulator_config_of(emu)->arch == CCG_GPU_ARCH_BLACKWELL) {
            *arch = NVML_DEVICE_ARCH_BLACKWELL;
        }
        ccg_gpu_emulator_free(emu);
    }
    return NVML_SUCCESS;
}

int nvmlDeviceGetUUID(void *device, char *uuid, unsigned int length)
{
    char text[96];
    int gpu = device_index(device);
    if (!initialised) {
        return NVML_ERROR_UNINITIALIZED;
    }
    if (gpu < 0 || uuid == NULL) {
        return NVML_ERROR_INVALID_ARGUMENT;
    }
    if (env_is("CCG_NVML_STUB_UUID", "fail")) {
        return NVML_ERROR_UNKNOWN;
    }
    snprintf(text, sizeof(text), "GPU-%s5eb0c0de-0000-4000-8000-%012x",
             env_is("CCG_NVML_STUB_UUID", "bad") ? "\"" : "", (unsigned)gpu);
    if (strlen(text) >= length) {
        return NVML_ERROR_INSUFFICIENT_SIZE;
    }
    memcpy(uuid, text, strlen(text) + 1);
    return NVML_SUCCESS;
}

const char *nvmlErrorString(int rc)
{
    switch (rc) {
    case NVML_SUCCESS: return "Success";
    case NVML_ERROR_UNINITIALIZED: return "Uninitialized";
    case NVML_ERROR_INVALID_ARGUMENT: return "Invalid Argument";
    case NVML_ERROR_NOT_SUPPORTED: return "Not Supported";
    case NVML_ERROR_INSUFFICIENT_SIZE: return "Insufficient Size";
    case NVML_ERROR_DRIVER_NOT_LOADED: return "Driver Not Loaded";
    default: return "Unknown Error";
    }
}
