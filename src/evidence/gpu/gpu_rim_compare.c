/* The golden set (active driver indexes plus active VBIOS indexes) against the runtime measurement
 * blocks. RIM index i is SPDM block i + 1: SPDM numbers measurement blocks from 1, NVIDIA's RIMs from
 * 0 (nvtrust's verifier stores block n at position n - 1). Every mismatching index is recorded. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ccgate/gpu_rim.h"

static ccg_result check_version(const char *what, const char *rim_version, const char *evidence_version)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(evidence_version != NULL && evidence_version[0] != 0, CCG_R_GPU_RIM_VERSION_MISMATCH,
                   "the evidence carries no %s version to compare with the RIM's %s", what, rim_version);
    /* VBIOS versions are hex: NVIDIA's tools differ in case, the value does not. */
    CCG_ENSURE_MSG(strcasecmp(rim_version, evidence_version) == 0, CCG_R_GPU_RIM_VERSION_MISMATCH,
                   "the %s RIM is for version %s but the evidence reports %s", what, rim_version, evidence_version);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

typedef struct {
    const ccg_gpu_rim_resource *resource;
    char source; /* 'D' or 'V' */
} golden_entry;

static ccg_result add_golden(golden_entry golden[CCG_GPU_RIM_INDEX_COUNT], const ccg_gpu_rim *rim, char source,
                             ccg_gpu_rim_match *out)
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < rim->n_resources; i++) {
        const ccg_gpu_rim_resource *r = &rim->resources[i];
        if (!r->active) {
            continue;
        }
        CCG_ENSURE(r->index < CCG_GPU_RIM_INDEX_COUNT, CCG_R_INTERNAL_ERROR);
        if (golden[r->index].resource != NULL) {
            out->conflict_index = r->index;
            CCG_BAIL(CCG_R_GPU_RIM_CONFLICT, "the driver and VBIOS RIMs are both active at index %u", r->index);
        }
        golden[r->index].resource = r;
        golden[r->index].source = source;
        out->golden_count++;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Runtime blocks by RIM index; a repeated block index is malformed evidence. */
static ccg_result index_blocks(const ccg_gpu_rim_runtime *rt, const ccg_gpu_rim_block *by_rim[CCG_GPU_RIM_INDEX_COUNT])
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < rt->n_blocks; i++) {
        const ccg_gpu_rim_block *b = &rt->blocks[i];
        CCG_ENSURE_MSG(b->index >= 1 && b->index <= CCG_GPU_RIM_INDEX_COUNT, CCG_R_INPUT_MALFORMED,
                       "measurement block index %u is outside 1..%d", b->index, CCG_GPU_RIM_INDEX_COUNT);
        CCG_ENSURE_MSG(by_rim[b->index - 1] == NULL, CCG_R_INPUT_MALFORMED, "measurement block %u appears twice",
                       b->index);
        by_rim[b->index - 1] = b;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int matches(const ccg_gpu_rim_resource *golden, const ccg_gpu_rim_block *block)
{
    if (block == NULL || block->value == NULL || block->size != golden->size) {
        return 0;
    }
    for (unsigned k = 0; k < golden->alternatives; k++) {
        if (memcmp(golden->values[k], block->value, golden->size) == 0) {
            return 1;
        }
    }
    return 0;
}

/* "9, 12, 35" into buf. */
static void list_indexes(const ccg_gpu_rim_match *m, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = 0;
    for (size_t i = 0; i < m->n_mismatched && used < len; i++) {
        int n = snprintf(buf + used, len - used, "%s%u", i ? ", " : "", m->mismatched[i]);
        if (n < 0) {
            break;
        }
        used += (size_t)n;
    }
}

ccg_result ccg_gpu_rim_compare(const ccg_gpu_rim *driver, const ccg_gpu_rim *vbios, const ccg_gpu_rim_runtime *rt,
                               ccg_gpu_rim_match *out)
{
    ccg_result result = CCG_FAILURE;
    golden_entry golden[CCG_GPU_RIM_INDEX_COUNT];
    const ccg_gpu_rim_block *by_rim[CCG_GPU_RIM_INDEX_COUNT];
    char list[CCG_GPU_RIM_INDEX_COUNT * 5];
    memset(out, 0, sizeof(*out));
    memset(golden, 0, sizeof(golden));
    memset(by_rim, 0, sizeof(by_rim));
    out->conflict_index = -1;
    CCG_ENSURE_MSG(driver != NULL && vbios != NULL && rt != NULL, CCG_R_INTERNAL_ERROR,
                   "both the driver and the VBIOS RIM are required");
    CCG_TRY(check_version("driver", driver->version, rt->driver_version));
    CCG_TRY(check_version("VBIOS", vbios->version, rt->vbios_version));
    CCG_TRY(add_golden(golden, driver, 'D', out));
    CCG_TRY(add_golden(golden, vbios, 'V', out));
    CCG_TRY(index_blocks(rt, by_rim));
    for (unsigned i = 0; i < CCG_GPU_RIM_INDEX_COUNT; i++) {
        if (golden[i].resource == NULL) {
            continue;
        }
        if (i == CCG_GPU_RIM_NVDEC0_INDEX && rt->nvdec0_disabled) {
            out->nvdec0_skipped = 1;
            continue;
        }
        if (matches(golden[i].resource, by_rim[i])) {
            out->matched_count++;
        } else {
            out->mismatched_source[out->n_mismatched] = golden[i].source;
            out->mismatched[out->n_mismatched++] = (uint16_t)i;
        }
    }
    list_indexes(out, list, sizeof(list));
    CCG_ENSURE_MSG(out->n_mismatched == 0, CCG_R_GPU_MEASUREMENT_MISMATCH,
                   "GPU measurements differ from the RIMs at index %s (RIM indexes, 0-based)", list);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

json_t *ccg_gpu_rim_match_json(const ccg_gpu_rim_match *m)
{
    json_t *indexes = json_array();
    json_t *detail = json_array();
    for (size_t i = 0; indexes != NULL && detail != NULL && i < m->n_mismatched; i++) {
        const char *source = m->mismatched_source[i] == 'D' ? "driver" : "vbios";
        json_array_append_new(indexes, json_integer(m->mismatched[i]));
        json_array_append_new(detail, json_pack("{s:i, s:s}", "index", m->mismatched[i], "source", source));
    }
    json_t *out = json_pack("{s:I, s:I, s:b, s:o*, s:o*}", "golden", (json_int_t)m->golden_count, "matched",
                            (json_int_t)m->matched_count, "nvdec0_skipped", m->nvdec0_skipped, "mismatched_indexes",
                            indexes, "mismatched", detail);
    if (out != NULL && m->conflict_index >= 0) {
        json_object_set_new(out, "conflict_index", json_integer(m->conflict_index));
    }
    return out;
}
