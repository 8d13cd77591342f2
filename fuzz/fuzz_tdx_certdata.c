/* libFuzzer target: the certification data of a TDX quote (type 6 QE report data holding type 5, the
 * PCK chain), read strictly by its size fields. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/tdx_quote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_tdx_quote q;
    memset(&q, 0, sizeof(q));
    ccg_error_clear();
    if (ccg_failed(ccg_tdx_cert_data_parse(data, size, &q))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    /* Every borrowed span lies inside the input. */
    const uint8_t *end = data + size;
    if (q.qe_report_raw < data || q.qe_report_raw + CCG_TDX_QE_REPORT_SIZE > end || q.pck_chain < data ||
        q.pck_chain + q.pck_chain_len != end || q.qe_auth_data + q.qe_auth_len > end) {
        abort();
    }
    return 0;
}
