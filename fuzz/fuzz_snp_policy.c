/* libFuzzer target: the SNP policy parser, and appraisal of a fixed report under whatever policy
 * parses. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_snp_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_policy_parse((const char *)data, size, &p))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    ccg_snp_report r;
    memset(&r, 0, sizeof(r));
    r.version = 3;
    r.policy = CCG_SNP_POLICY_RESERVED_ONE | CCG_SNP_POLICY_DEBUG;
    r.reported_tcb = r.launch_tcb = 0x7308000000000003ull;
    ccg_reasons reasons;
    ccg_reasons_init(&reasons);
    (void)ccg_snp_appraise(p, &r, CCG_SNP_PRODUCT_TURIN, &reasons);
    (void)ccg_snp_appraise(p, &r, CCG_SNP_PRODUCT_MILAN, &reasons);
    ccg_reasons_free(&reasons);
    ccg_snp_policy_free(p);
    return 0;
}
