/* The ways GPU evidence arrives: NVIDIA's samples and tools write the report as hex text, NVML
 * returns it as bytes. Also the architecture names of the JSON evidence form. */
#include <strings.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_evidence.h"
#include "ccgate/util.h"

static int is_hex_text(const uint8_t *p, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = p[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        }
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
            return 0;
        }
        digits++;
    }
    return digits > 0;
}

ccg_result ccg_gpu_report_decode(const uint8_t *raw, size_t raw_len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    *out = NULL;
    *out_len = 0;
    CCG_ENSURE_MSG(raw_len <= 2 * (size_t)CCG_GPU_MAX_REPORT_SIZE + 4096, CCG_R_INPUT_TOO_LARGE,
                   "GPU report input of %zu bytes", raw_len);
    /* A binary report starts with SPDMVersion 0x11, which is not a hex digit, so the two never meet. */
    if (is_hex_text(raw, raw_len)) {
        CCG_TRY(ccg_hex_decode_text((const char *)raw, raw_len, out, out_len));
    } else {
        *out = malloc(raw_len > 0 ? raw_len : 1);
        CCG_ENSURE_ALLOC(*out);
        if (raw_len > 0) {
            memcpy(*out, raw, raw_len);
        }
        *out_len = raw_len;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

const char *ccg_gpu_arch_name(ccg_gpu_arch arch)
{
    switch (arch) {
    case CCG_GPU_ARCH_HOPPER: return "HOPPER";
    case CCG_GPU_ARCH_BLACKWELL: return "BLACKWELL";
    default: return "UNKNOWN";
    }
}

ccg_gpu_arch ccg_gpu_arch_from_name(const char *name)
{
    if (name != NULL && strcasecmp(name, "HOPPER") == 0) {
        return CCG_GPU_ARCH_HOPPER;
    }
    if (name != NULL && strcasecmp(name, "BLACKWELL") == 0) {
        return CCG_GPU_ARCH_BLACKWELL;
    }
    return CCG_GPU_ARCH_UNKNOWN;
}
