/* libFuzzer target: the GPU policy parser (strict JSON, versions, modes, PEM test roots). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/gpu_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_gpu_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_policy_parse((const char *)data, size, &p))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort(); /* a refusal always names its reason */
        }
    } else {
        /* Whatever parsed must be self-consistent: the appraisal relies on it. */
        if (p->min_count < 1 || p->min_count > p->max_count || (p->allow_hold && !p->require_ocsp)) {
            __builtin_trap();
        }
        int c = 0;
        if (p->driver.minimum[0] != '\0' && ccg_failed(ccg_gpu_version_compare(p->driver.minimum, "1", 0, &c))) {
            __builtin_trap();
        }
        if (p->vbios.minimum[0] != '\0' && ccg_failed(ccg_gpu_version_compare(p->vbios.minimum, "1", 1, &c))) {
            __builtin_trap();
        }
        ccg_gpu_policy_free(p);
    }
    ccg_error_clear();
    return 0;
}
