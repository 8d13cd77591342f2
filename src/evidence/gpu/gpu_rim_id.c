/* RIM IDs derived from the evidence, as NVIDIA's RIM service names its RIMs (docs/gpu-rim.md):
 *   driver, Hopper:     NV_GPU_DRIVER_GH100_<driver version>
 *   driver, Blackwell:  NV_GPU_CC_DRIVER_<CHIP_INFO>_<driver version>   (GB100 without CHIP_INFO)
 *   VBIOS:              NV_GPU_VBIOS_<PROJECT>_<PROJECT_SKU>_<CHIP_SKU>_<VBIOS version, dots removed>
 * Opaque-data strings lose trailing NULs and surrounding spaces and are upper-cased. Every part is
 * restricted to [A-Za-z0-9._-], so an ID is always a safe file name and URL path segment. */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ccgate/gpu_rim.h"

#define PART_MAX 28 /* four parts and the prefix stay below CCG_GPU_RIM_ID_MAX */

/* Trims NULs and spaces, upper-cases, optionally drops dots; refuses empty or unsafe text. */
static ccg_result clean_part(const char *what, const char *in, int drop_dots, char out[PART_MAX])
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    CCG_ENSURE_MSG(in != NULL, CCG_R_GPU_RIM_ID_INVALID, "the evidence has no %s for the RIM ID", what);
    size_t len = strnlen(in, PART_MAX * 2);
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\0')) {
        len--;
    }
    size_t start = 0;
    while (start < len && in[start] == ' ') {
        start++;
    }
    for (size_t i = start; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        CCG_ENSURE_MSG(isalnum(c) || c == '.' || c == '_' || c == '-', CCG_R_GPU_RIM_ID_INVALID,
                       "the evidence's %s holds a character outside [A-Za-z0-9._-]", what);
        if (drop_dots && c == '.') {
            continue;
        }
        CCG_ENSURE_MSG(n + 1 < PART_MAX, CCG_R_GPU_RIM_ID_INVALID, "the evidence's %s is too long", what);
        out[n++] = (char)toupper(c);
    }
    out[n] = 0;
    CCG_ENSURE_MSG(n > 0, CCG_R_GPU_RIM_ID_INVALID, "the evidence's %s is empty", what);
    CCG_ENSURE_MSG(strcmp(out, ".") != 0 && strcmp(out, "..") != 0, CCG_R_GPU_RIM_ID_INVALID,
                   "the evidence's %s is not a valid RIM ID part", what);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_rim_driver_id(const char *arch, const char *chip_info, const char *driver_version,
                                 char out[CCG_GPU_RIM_ID_MAX])
{
    ccg_result result = CCG_FAILURE;
    char version[PART_MAX], chip[PART_MAX];
    out[0] = 0;
    CCG_TRY(clean_part("driver version", driver_version, 0, version));
    if (arch != NULL && strcasecmp(arch, "HOPPER") == 0) {
        snprintf(out, CCG_GPU_RIM_ID_MAX, "NV_GPU_DRIVER_GH100_%s", version);
    } else if (arch != NULL && strcasecmp(arch, "BLACKWELL") == 0) {
        int has_chip = chip_info != NULL && chip_info[0] != 0;
        CCG_TRY(clean_part("chip info", has_chip ? chip_info : "GB100", 0, chip));
        snprintf(out, CCG_GPU_RIM_ID_MAX, "NV_GPU_CC_DRIVER_%s_%s", chip, version);
    } else {
        CCG_BAIL(CCG_R_GPU_RIM_ID_INVALID, "no driver RIM ID is defined for GPU architecture %s",
                 arch != NULL ? arch : "(none)");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_rim_vbios_id(const char *project, const char *project_sku, const char *chip_sku,
                                const char *vbios_version, char out[CCG_GPU_RIM_ID_MAX])
{
    ccg_result result = CCG_FAILURE;
    char p[PART_MAX], ps[PART_MAX], cs[PART_MAX], v[PART_MAX];
    out[0] = 0;
    CCG_TRY(clean_part("project", project, 0, p));
    CCG_TRY(clean_part("project SKU", project_sku, 0, ps));
    CCG_TRY(clean_part("chip SKU", chip_sku, 0, cs));
    CCG_TRY(clean_part("VBIOS version", vbios_version, 1, v));
    snprintf(out, CCG_GPU_RIM_ID_MAX, "NV_GPU_VBIOS_%s_%s_%s_%s", p, ps, cs, v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
