/* The GPU's confidential-computing state through NVML, loaded at run time (no build dependency on
 * NVIDIA's driver). The few declarations below restate NVIDIA's public nvml.h: functions return an
 * nvmlReturn_t (0 = NVML_SUCCESS), and nvmlSystemGetConfComputeState fills
 * {environment, ccFeature, devToolsMode} (ccFeature 1 = enabled, devToolsMode 1 = on;
 * environment 0 unavailable, 1 simulation, 2 production). */
#include "ccgate/agent.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "ccgate/error.h"

#define NVML_DEFAULT_LIBRARY "libnvidia-ml.so.1"
#define NVML_SUCCESS 0
#define NVML_CC_FEATURE_ENABLED 1u
#define NVML_CC_DEVTOOLS_ON 1u

typedef int nvml_return;
typedef void *nvml_device;
typedef struct {
    unsigned int environment;
    unsigned int ccFeature;
    unsigned int devToolsMode;
} nvml_cc_system_state;

typedef struct {
    void *lib;
    nvml_return (*init)(void);
    nvml_return (*shutdown)(void);
    nvml_return (*count)(unsigned int *);
    nvml_return (*handle)(unsigned int, nvml_device *);
    nvml_return (*cc_state)(nvml_cc_system_state *);
    const char *(*error_string)(nvml_return);
} nvml_api;

static const char *nvml_err(const nvml_api *api, nvml_return rc)
{
    const char *s = api->error_string != NULL ? api->error_string(rc) : NULL;
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

static ccg_result nvml_load(const char *path, nvml_api *api)
{
    ccg_result result = CCG_FAILURE;
    const char *err;
    memset(api, 0, sizeof(*api));
    api->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    err = api->lib == NULL ? dlerror() : NULL;
    CCG_ENSURE_MSG(api->lib != NULL, CCG_R_GPU_NVML_UNAVAILABLE, "dlopen(%.200s): %.200s", path,
                   err != NULL ? err : "failed");
    CCG_ENSURE_MSG(bind(api->lib, "nvmlInit_v2", &api->init) && bind(api->lib, "nvmlShutdown", &api->shutdown) &&
                       bind(api->lib, "nvmlDeviceGetCount_v2", &api->count) &&
                       bind(api->lib, "nvmlDeviceGetHandleByIndex_v2", &api->handle) &&
                       bind(api->lib, "nvmlSystemGetConfComputeState", &api->cc_state),
                   CCG_R_GPU_NVML_UNAVAILABLE,
                   "%.200s lacks an NVML function the agent needs (driver too old for confidential computing)", path);
    (void)bind(api->lib, "nvmlErrorString", &api->error_string);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result nvml_query(const nvml_api *api, char *state, size_t state_len)
{
    ccg_result result = CCG_FAILURE;
    unsigned int count = 0;
    nvml_device dev = NULL;
    nvml_cc_system_state cc;
    nvml_return rc;
    memset(&cc, 0, sizeof(cc));
    rc = api->count(&count);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetCount_v2: %d (%.100s)", rc,
                   nvml_err(api, rc));
    snprintf(state, state_len, "gpus=%u", count);
    CCG_ENSURE_MSG(count > 0, CCG_R_GPU_ABSENT, "NVML reports no GPU (gpus=0)");
    for (unsigned int i = 0; i < count; i++) {
        rc = api->handle(i, &dev);
        CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetHandleByIndex_v2(%u): %d (%.100s)", i,
                       rc, nvml_err(api, rc));
    }
    rc = api->cc_state(&cc);
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_ERROR, "nvmlSystemGetConfComputeState: %d (%.100s)", rc,
                   nvml_err(api, rc));
    snprintf(state, state_len, "gpus=%u cc=%s devtools=%s environment=%s", count,
             cc.ccFeature == NVML_CC_FEATURE_ENABLED ? "on" : "off",
             cc.devToolsMode == NVML_CC_DEVTOOLS_ON ? "on" : "off", env_name(cc.environment));
    CCG_ENSURE_MSG(cc.ccFeature == NVML_CC_FEATURE_ENABLED, CCG_R_GPU_CC_MODE_OFF,
                   "the GPU's confidential-computing mode is off (%s)", state);
    CCG_ENSURE_MSG(cc.devToolsMode != NVML_CC_DEVTOOLS_ON, CCG_R_GPU_DEVTOOLS_ON,
                   "the GPU's developer-tools mode is on (%s)", state);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_agent_gpu_check(const char *lib, char *state, size_t state_len)
{
    ccg_result result = CCG_FAILURE;
    nvml_api api;
    int initialised = 0;
    nvml_return rc;
    ccg_error_clear();
    snprintf(state, state_len, "nvml=unavailable");
    CCG_TRY(nvml_load(lib != NULL ? lib : NVML_DEFAULT_LIBRARY, &api));
    rc = api.init();
    CCG_ENSURE_MSG(rc == NVML_SUCCESS, CCG_R_GPU_NVML_UNAVAILABLE, "nvmlInit_v2: %d (%.100s)", rc,
                   nvml_err(&api, rc));
    initialised = 1;
    CCG_TRY(nvml_query(&api, state, state_len));
    result = CCG_SUCCESS;
cleanup:
    if (initialised) {
        (void)api.shutdown();
    }
    if (api.lib != NULL) {
        dlclose(api.lib);
    }
    return result;
}
