/* Internal to src/agent: NVML as the agent loads it at run time (no build dependency on NVIDIA's
 * driver). The declarations restate NVIDIA's public nvml.h: functions return an nvmlReturn_t
 * (0 = NVML_SUCCESS); the structures below are nvmlConfComputeSystemState_t,
 * nvmlConfComputeGpuCertificate_t and nvmlConfComputeGpuAttestationReport_t with their fixed sizes.
 *
 *   gpu_nvml.c      loading, the CC state (the host's claim) and the ready state
 *   gpu_evidence.c  each GPU's signed evidence over the session-derived nonce */
#ifndef CCGATE_AGENT_NVML_INTERNAL_H
#define CCGATE_AGENT_NVML_INTERNAL_H

#include "ccgate/agent.h"

#define NVML_SUCCESS 0
#define NVML_CC_FEATURE_ENABLED 1u
#define NVML_CC_DEVTOOLS_ON 1u
#define NVML_GPU_CERT_CHAIN_SIZE 0x1000
#define NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE 0x1400
#define NVML_CC_GPU_CEC_NONCE_SIZE 0x20
#define NVML_CC_GPU_ATTESTATION_REPORT_SIZE 0x2000
#define NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE 0x1000
#define NVML_DEVICE_UUID_V2_BUFFER_SIZE 96
#define NVML_DEVICE_ARCH_HOPPER 9u
#define NVML_DEVICE_ARCH_BLACKWELL 10u

typedef int nvml_return;
typedef void *nvml_device;

typedef struct {
    unsigned int environment; /* 0 unavailable, 1 simulation, 2 production */
    unsigned int ccFeature;   /* 1 enabled */
    unsigned int devToolsMode; /* 1 on */
} nvml_cc_system_state;

typedef struct {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[NVML_GPU_CERT_CHAIN_SIZE];
    unsigned char attestationCertChain[NVML_GPU_ATTESTATION_CERT_CHAIN_SIZE];
} nvml_gpu_certificate;

typedef struct {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[NVML_CC_GPU_CEC_NONCE_SIZE];
    unsigned char attestationReport[NVML_CC_GPU_ATTESTATION_REPORT_SIZE];
    unsigned char cecAttestationReport[NVML_CC_GPU_CEC_ATTESTATION_REPORT_SIZE];
} nvml_gpu_attestation_report;

/* An open NVML session: the library and every entry point the agent calls (all required at load). */
struct ccg_agent_gpu {
    void *lib;
    int initialised;
    int ready_set; /* the agent set the ready state to 1 and has not cleared it */
    int host_reported;    /* ccg_agent_gpu_host_claim ran: the two below are NVML's word */
    int host_cc_on;       /* 0: the host says CC mode is off (the broker decides: gpu.cc_mode_off) */
    int host_devtools_on; /* 1: the host says DevTools mode is on (refused here and at the broker) */
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    nvml_return (*count)(unsigned int *);
    nvml_return (*handle)(unsigned int, nvml_device *);
    nvml_return (*cc_state)(nvml_cc_system_state *);
    nvml_return (*set_ready)(unsigned int);
    nvml_return (*report)(nvml_device, nvml_gpu_attestation_report *);
    nvml_return (*certificate)(nvml_device, nvml_gpu_certificate *);
    nvml_return (*architecture)(nvml_device, unsigned int *);
    nvml_return (*uuid)(nvml_device, char *, unsigned int);
    const char *(*error_string)(nvml_return);
};

/* nvmlErrorString's text for rc, or a fixed text. */
const char *agent_nvml_err(const ccg_agent_gpu *g, nvml_return rc);

#endif
