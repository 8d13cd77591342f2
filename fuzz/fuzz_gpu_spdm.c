/* libFuzzer target: the GPU report front end (hex text or binary), the SPDM 1.1 GET_MEASUREMENTS
 * request and response parser, and the claims rendering. Any input must be parsed or refused with a
 * reason, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/gpu_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ccg_gpu_result res;
    uint8_t *bytes = NULL;
    size_t len = 0;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_report_decode(data, size, &bytes, &len))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort(); /* a refusal must always carry a reason */
        }
        return 0;
    }
    memset(&res, 0, sizeof(res));
    if (ccg_failed(ccg_gpu_report_parse(bytes, len, &res.report))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        free(bytes);
        return 0;
    }
    res.parsed = 1;
    /* Every block is found under its own index, and the signature covers everything before it. */
    for (size_t i = 0; i < res.report.n_measurements; i++) {
        if (ccg_gpu_report_measurement(&res.report, res.report.measurements[i].index) != &res.report.measurements[i]) {
            abort();
        }
    }
    if (res.report.signed_len + CCG_GPU_SIGNATURE_SIZE != len) {
        abort();
    }
    json_decref(ccg_gpu_result_json(&res));
    free(bytes);
    return 0;
}
