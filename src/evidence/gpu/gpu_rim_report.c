/* The comparison's input from the SPDM parser's report (see gpu_rim.h). */
#include "ccgate/gpu_rim.h"

void ccg_gpu_rim_runtime_from_report(const ccg_gpu_report *r, ccg_gpu_rim_block *blocks, ccg_gpu_rim_runtime *rt)
{
    for (size_t i = 0; i < r->n_measurements; i++) {
        blocks[i].index = r->measurements[i].index;
        blocks[i].size = r->measurements[i].size;
        blocks[i].value = r->measurements[i].value;
    }
    rt->blocks = blocks;
    rt->n_blocks = r->n_measurements;
    rt->driver_version = r->driver_version;
    rt->vbios_version = r->vbios_version;
    rt->nvdec0_disabled = r->nvdec0_status == CCG_GPU_NVDEC0_DISABLED;
}
