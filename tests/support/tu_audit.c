/* The audit records the cmocka tests append (tu_audit.h). */
#include <stdio.h>

#include "testutil.h"
#include "tu_audit.h"

ccg_result tu_audit_append(ccg_audit *a, int i, int with_claims, int64_t *seq, char hash[CCG_AUDIT_HASH_HEX])
{
    char req[32];
    ccg_reasons reasons;
    json_t *claims = NULL;
    ccg_result r;
    ccg_reasons_init(&reasons);
    snprintf(req, sizeof(req), "req-%04d", i);
    ccg_audit_event ev = {
        .time = TU_AUDIT_T0 + i,
        .request_id = req,
        .persona = CCG_PERSONA_WORKLOAD,
        .action = "resource.release",
        .key_id = "default/model/llama",
        .key_version = 2,
        .policy_id = "llama-release",
        .policy_version = 3,
        .evidence_digest = "sha384:0123456789abcdef",
        .decision = i % 3 == 0 ? CCG_AUDIT_ALLOW : CCG_AUDIT_DENY,
        .reasons = &reasons,
    };
    if (i % 3 != 0) {
        assert_int_equal(ccg_reasons_add(&reasons, CCG_R_SNP_TCB_BELOW_MINIMUM, NULL), 0);
        assert_int_equal(ccg_reasons_add(&reasons, CCG_R_SNP_DEBUG_ENABLED, NULL), 0);
    }
    if (with_claims && i % 5 == 0) {
        claims = json_pack("{s:s, s:s, s:i, s:s}", "tee", "snp", "measurement", "ab01", "report_version", 3,
                           "reported_tcb", "d315000000000004");
        assert_non_null(claims);
        ev.claims = claims;
        ev.tcb_status = "UpToDate";
    }
    r = ccg_audit_append(a, &ev, seq, hash);
    json_decref(claims);
    ccg_reasons_free(&reasons);
    return r;
}
