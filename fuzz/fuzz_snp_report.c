/* libFuzzer target: the SEV-SNP report parser, claims rendering and appraisal under the default
 * policy. Any input must be parsed or refused with a reason, never crash or leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ccgate/error.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_report.h"
#include "ccgate/snp_verify.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_snp_report r;
    ccg_snp_policy *policy = NULL;
    ccg_reasons reasons;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_report_parse(data, size, &r))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort(); /* a refusal must always carry a reason */
        }
        return 0;
    }
    ccg_snp_product product = ccg_snp_product_from_cpuid(&r);
    json_decref(ccg_snp_claims_json(&r, product == CCG_SNP_PRODUCT_UNKNOWN ? CCG_SNP_PRODUCT_MILAN : product));
    if (ccg_ok(ccg_snp_policy_default(&policy))) {
        ccg_reasons_init(&reasons);
        (void)ccg_snp_appraise(policy, &r, product, &reasons);
        ccg_reasons_free(&reasons);
        ccg_snp_policy_free(policy);
    }
    return 0;
}
