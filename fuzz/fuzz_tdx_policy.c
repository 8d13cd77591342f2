/* libFuzzer target: the TDX policy parser and its appraisal of a fixed TD. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/tdx_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_tdx_policy *p = NULL;
    ccg_tdx_td_report td;
    ccg_decision d;
    ccg_error_clear();
    if (ccg_failed(ccg_tdx_policy_parse((const char *)data, size, &p))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    memset(&td, 0x11, sizeof(td));
    ccg_decision_init(&d, "tdx");
    ccg_tdx_policy_appraise_td(p, &td, &d);
    ccg_decision_free(&d);
    ccg_tdx_policy_free(p);
    return 0;
}
