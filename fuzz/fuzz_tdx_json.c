/* libFuzzer target: Intel's signed JSON for TDX: the TCB info and QE identity parsers, the raw-member
 * extraction used for PCS responses, and the collateral bundle. The first byte picks the parser. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../src/evidence/tdx/tdx_internal.h"
#include "ccgate/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tdx_tcb_info info;
    static tdx_qe_identity qe;
    if (size < 1) {
        return 0;
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    ccg_result r = CCG_SUCCESS;
    ccg_error_clear();
    switch (data[0] % 4) {
    case 0: r = tdx_tcb_info_parse(text, len, &info); break;
    case 1: r = tdx_qe_identity_parse(text, len, &qe); break;
    case 2: {
        const char *value = NULL;
        size_t value_len = 0;
        r = tdx_raw_member(text, len, "tcbInfo", &value, &value_len);
        if (ccg_ok(r) && (value < text || value + value_len > text + len)) {
            abort();
        }
        break;
    }
    default: {
        ccg_tdx_collateral col;
        r = ccg_tdx_collateral_parse(text, len, &col);
        if (ccg_ok(r)) {
            ccg_tdx_collateral_free(&col);
        }
    }
    }
    if (ccg_failed(r) && ccg_error_reason() == CCG_R_OK) {
        abort();
    }
    return 0;
}
