/* NVML for the agent (nvml_internal.h): loading it at run time, the confidential-computing state and
 * the GPUs' ready state. The CC state is the HOST'S CLAIM: NVML reports what the driver is told, and a
 * host that lies about it is caught only by the GPUs' signed evidence, which the broker verifies
 * (gpu_evidence.c). The check here is a fast, early signal so a CVM on a GPU without CC mode fails
 * before it asks the broker anything. */
#include "nvml_internal.h"

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"

const char *agent_nvml_err(const ccg_agent_gpu *g, nvml_return rc)
{
    const char *s = g->error_string != NULL ? g->error_string(rc) : NULL;
    return s != NULL ? s : "unknown NVML error";
}

static const char *env_name(unsigned int e)
{
    return e == 2 ? "production" : e == 1 ? "simulation" : "unavailable";
}

/* dlsym into a function pointer without a pedantic object-to-function cast warning. */
static int bind(void *lib, const char *name, void *fn_ptr_addr)
{
    void *sym = dlsym(lib, name);
    if (sym == NULL) {
        return 0;
    }
    memcpy(fn_ptr_addr, &sym, sizeof(sym));
    return 1;
}

/* Every entry point is required: a driver without the CC attestation calls cannot serve a GPU-gated
 * model, so it is refused at load rather than halfway through a start. */
static ccg_result nvml_bind_all(ccg_agent_gpu *g, const char *path)
{
    ccg_result result = CCG_FAILURE;
    static const char *const names[] = {
        "nvmlInit_v2",
        "nvmlShutdown",
        "nvmlDeviceGetCount_v2",
        "nvmlDeviceGetHandleByIndex_v2",
        "nvmlSystemGetConfComputeState",
        "nvmlSystemSetConfComputeGpusReadyState",
        "nvmlDeviceGetConfComputeGpuAttestationReport",
        "nvmlDeviceGetConfComputeGpuCertificate",
        "nvmlDeviceGetArchitecture",
        "nvmlDeviceGetUUID",
    };
    void *slots[] = {&g->init,      &g->shutdown, &g->count,       &g->handle,       &g->cc_state,
                     &g->set_ready, &g->report,   &g->certificate, &g->architecture, &g->uuid};
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(slots) / sizeof(slots[0]), "one slot per name");
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        CCG_ENSURE_MSG(bind(g->lib, names[i], slots[i]), CCG_R_GPU_NVML_UNAVAILABLE,
                       "%.200s lacks %s (a driver without confidential-computing attestation)", path, names[i]);
    }
    (void)bind(g->lib, "nvmlErrorString", &g->error_string);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_agent_gpu_open(const char *lib, ccg_agent_gpu **out)
{
    ccg_result result = CCG_FAILURE;
    const char *path = lib != NULL ? lib : NVML_DEFAULT_LIBRARY;
    ccg_agent_gpu *g = calloc(1, sizeof(*g));
    const char *err;
    nvml_return rc;
    *out = NULL;
    CCG_ENSURE_ALLOC(g);
    g->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    err = g->lib == NULL ? dlerror() : NULL;
    CCG_ENSURE_MSG(g->lib != NULL, CCG_R_GPU_NVML_UNAVAILABLE, "dlopen(%.200s): %.200s", path,
                   err != NULL ? err : "failed");
    CCG_TRY(nvml_bind_all(g, path));
    rc = g->init();
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_UNAVAILABLE, "nvmlInit_v2: %d (%.100s)", rc,
                   agent_nvml_err(g, rc));
    g->initialised = 1;
    *out = g;
    g = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_agent_gpu_close(g);
    return result;
}

void ccg_agent_gpu_close(ccg_agent_gpu *g)
{
    if (g == NULL) {
        return;
    }
    if (g->initialised) {
        if (g->ready_set) {
            (void)g->set_ready(0); /* the attested start is over: the GPUs stop accepting work */
        }
        (void)g->shutdown();
    }
    if (g->lib != NULL) {
        dlclose(g->lib);
    }
    free(g);
}

ccg_result ccg_agent_gpu_host_claim(ccg_agent_gpu *g, char *state, size_t state_len)
{
    ccg_result result = CCG_FAILURE;
    unsigned int count = 0;
    nvml_device dev = NULL;
    nvml_cc_system_state cc;
    nvml_return rc;
    memset(&cc, 0, sizeof(cc));
    rc = g->count(&count);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetCount_v2: %d (%.100s)", rc,
                   agent_nvml_err(g, rc));
    snprintf(state, state_len, "gpus=%u", count);
    CCG_ENSURE_MSG(count > 0, CCG_R_GPU_ABSENT, "NVML reports no GPU (gpus=0)");
    for (unsigned int i = 0; i < count; i++) {
        rc = g->handle(i, &dev);
        CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetHandleByIndex_v2(%u): %d (%.100s)", i,
                       rc, agent_nvml_err(g, rc));
    }
    rc = g->cc_state(&cc);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlSystemGetConfComputeState: %d (%.100s)", rc,
                   agent_nvml_err(g, rc));
    snprintf(state, state_len, "gpus=%u cc=%s devtools=%s environment=%s", count,
             cc.ccFeature == NVML_CC_FEATURE_ENABLED ? "on" : "off",
             cc.devToolsMode == NVML_CC_DEVTOOLS_ON ? "on" : "off", env_name(cc.environment));
    g->host_reported = 1;
    g->host_cc_on = cc.ccFeature == NVML_CC_FEATURE_ENABLED;
    g->host_devtools_on = cc.devToolsMode == NVML_CC_DEVTOOLS_ON;
    /* CC off is not refused here: the agent still attests with the host's word beside the evidence, so
     * the broker refuses it (gpu.cc_mode_off) with a request ID and policy version the operator can see. */
    CCG_ENSURE_MSG(!g->host_devtools_on, CCG_R_GPU_DEVTOOLS_ON,
                   "the GPU's developer-tools mode is on (%s, as NVML reports it)", state);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_agent_gpu_host_cc_off(const ccg_agent_gpu *g) { return g != NULL && g->host_reported && !g->host_cc_on; }

ccg_result ccg_agent_gpu_check(const char *lib, char *state, size_t state_len)
{
    ccg_result result = CCG_FAILURE;
    ccg_agent_gpu *g = NULL;
    ccg_error_clear();
    snprintf(state, state_len, "nvml=unavailable");
    CCG_TRY(ccg_agent_gpu_open(lib, &g));
    CCG_TRY(ccg_agent_gpu_host_claim(g, state, state_len));
    CCG_ENSURE_MSG(g->host_cc_on, CCG_R_GPU_CC_MODE_OFF,
                   "the GPU's confidential-computing mode is off (%s, as NVML reports it)", state);
    result = CCG_SUCCESS;
cleanup:
    ccg_agent_gpu_close(g);
    return result;
}

ccg_result ccg_agent_gpu_set_ready(ccg_agent_gpu *g, unsigned accepting)
{
    ccg_result result = CCG_FAILURE;
    nvml_return rc;
    CCG_ENSURE_MSG(accepting <= 1, CCG_R_USAGE_INVALID, "the ready state is 0 or 1");
    rc = g->set_ready(accepting);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_READY_STATE_FAILED,
                   "nvmlSystemSetConfComputeGpusReadyState(%u): %d (%.100s)", accepting, rc, agent_nvml_err(g, rc));
    g->ready_set = accepting == 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
