/* libFuzzer target: the TCB baseline parser, then the baseline's check and the TCB appraisal of a fixed
 * report of its product under the default policy (with no trusted issuer the baseline is refused, and
 * the rollback and claims paths still run). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_tcb_baseline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_snp_tcb_baseline *b = NULL;
    ccg_snp_tcb_baselines set;
    ccg_snp_policy *p = NULL;
    ccg_snp_report r;
    ccg_decision d;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_tcb_baseline_parse((const char *)data, size, &b))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    memset(&r, 0, sizeof(r));
    r.version = 5;
    r.reported_tcb = r.launch_tcb = 0xdb18000000000004ull;
    r.committed_tcb = 0xdc18000000000004ull;
    ccg_snp_product product = b->product;
    ccg_snp_tcb_baselines_init(&set);
    if (ccg_failed(ccg_snp_tcb_baselines_add(&set, b)) || ccg_failed(ccg_snp_policy_default(&p))) {
        abort(); /* a parsed baseline names a known product; the default policy needs only memory */
    }
    ccg_decision_init(&d, "snp");
    json_t *claims = ccg_snp_tcb_appraise(p, &r, product, &set, NULL, 0, &d);
    if (claims == NULL || d.reasons.count == 0) {
        abort(); /* the unsigned or untrusted baseline is always refused */
    }
    json_decref(claims);
    ccg_decision_free(&d);
    ccg_snp_policy_free(p);
    ccg_snp_tcb_baselines_free(&set);
    return 0;
}
