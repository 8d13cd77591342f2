/* A stand-in for libnvidia-ml.so.1 with the few entry points the agent uses, for tests. Its answers
 * come from the environment of the process that loads it:
 *   CCG_NVML_STUB_INIT      "fail": nvmlInit_v2 returns NVML_ERROR_DRIVER_NOT_LOADED (9)
 *   CCG_NVML_STUB_COUNT     the number of GPUs (default 1)
 *   CCG_NVML_STUB_CC        "on" (default) or "off": ccFeature
 *   CCG_NVML_STUB_DEVTOOLS  "off" (default) or "on": devToolsMode
 *   CCG_NVML_STUB_CC_FAIL   "1": nvmlSystemGetConfComputeState returns NVML_ERROR_NOT_SUPPORTED (3) */
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned int environment;
    unsigned int ccFeature;
    unsigned int devToolsMode;
} stub_cc_state;

static int env_is(const char *name, const char *value)
{
    const char *v = getenv(name);
    return v != NULL && strcmp(v, value) == 0;
}

int nvmlInit_v2(void);
int nvmlShutdown(void);
int nvmlDeviceGetCount_v2(unsigned int *count);
int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device);
int nvmlSystemGetConfComputeState(stub_cc_state *state);
const char *nvmlErrorString(int rc);

static int initialised;

int nvmlInit_v2(void)
{
    if (env_is("CCG_NVML_STUB_INIT", "fail")) {
        return 9;
    }
    initialised = 1;
    return 0;
}

int nvmlShutdown(void)
{
    initialised = 0;
    return 0;
}

static unsigned int stub_count(void)
{
    const char *v = getenv("CCG_NVML_STUB_COUNT");
    return v != NULL ? (unsigned int)strtoul(v, NULL, 10) : 1u;
}

int nvmlDeviceGetCount_v2(unsigned int *count)
{
    if (!initialised) {
        return 1; /* NVML_ERROR_UNINITIALIZED */
    }
    *count = stub_count();
    return 0;
}

int nvmlDeviceGetHandleByIndex_v2(unsigned int index, void **device)
{
    static int devices[16];
    if (!initialised || index >= stub_count() || index >= 16) {
        return 2; /* NVML_ERROR_INVALID_ARGUMENT */
    }
    *device = &devices[index];
    return 0;
}

int nvmlSystemGetConfComputeState(stub_cc_state *state)
{
    if (!initialised) {
        return 1;
    }
    if (env_is("CCG_NVML_STUB_CC_FAIL", "1")) {
        return 3;
    }
    state->environment = 2;
    state->ccFeature = env_is("CCG_NVML_STUB_CC", "off") ? 0u : 1u;
    state->devToolsMode = env_is("CCG_NVML_STUB_DEVTOOLS", "on") ? 1u : 0u;
    return 0;
}

const char *nvmlErrorString(int rc)
{
    switch (rc) {
    case 0:
        return "Success";
    case 1:
        return "Uninitialized";
    case 3:
        return "Not Supported";
    case 9:
        return "Driver Not Loaded";
    default:
        return "Unknown Error";
    }
}
