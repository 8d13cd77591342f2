/* libFuzzer target: NVIDIA's opaque-data TLVs on their own. Any input must be decoded or refused with
 * a reason; every listed field lies inside the opaque bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/gpu_evidence.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ccg_gpu_report r;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_opaque_parse(data, size, &r))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort(); /* a refusal must always carry a reason */
        }
        return 0;
    }
    for (size_t i = 0; i < r.n_opaque_fields; i++) {
        if ((size_t)r.opaque_fields[i].offset + r.opaque_fields[i].len > r.opaque_len) {
            abort();
        }
        (void)ccg_gpu_opaque_type_name(r.opaque_fields[i].type);
    }
    return 0;
}
