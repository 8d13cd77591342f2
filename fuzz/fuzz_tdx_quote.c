/* libFuzzer target: the TDX quote parser (v4/v5, TD 1.0/1.5, certification data), the FMSPC reader,
 * and the whole verifier without collateral under the default policy. Any input must be parsed or
 * refused with a reason, never crash or leak; an allow without collateral is a bug. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/tdx_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ccg_tdx_verifier *v;
    ccg_tdx_quote q;
    uint8_t fmspc[6];
    ccg_tdx_result r;
    if (v == NULL && ccg_failed(ccg_tdx_verifier_new(&v))) {
        abort();
    }
    ccg_error_clear();
    if (ccg_failed(ccg_tdx_quote_parse(data, size, &q)) && ccg_error_reason() == CCG_R_OK) {
        abort(); /* a refusal must carry a reason */
    }
    (void)ccg_tdx_quote_fmspc(data, size, fmspc);
    if (ccg_failed(ccg_tdx_verify(v, data, size, NULL, NULL, NULL, 1767225600, &r))) {
        abort();
    }
    if (r.decision.allow || r.decision.reasons.count == 0) {
        abort(); /* no collateral: never an allow, and a denial always has a reason */
    }
    ccg_tdx_result_free(&r);
    return 0;
}
