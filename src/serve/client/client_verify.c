/* Verifying the endpoint's evidence with the `ccgate verify` verifiers, then its binding (endpoint_client.h). */
#include <stdlib.h>
#include <string.h>

#include "ccgate/attester.h"
#include "ccgate/endpoint_client.h"
#include "ccgate/snp_report.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/tdx_quote.h"
#include "ccgate/tdx_verify.h"

/* Replaces the thread's error (the first one otherwise wins) with the client's code. */
static void replace_error(ccg_reason reason, const char *msg, const ccg_decision *d)
{
    const char *cause = d->reasons.count > 0 ? ccg_reason_code(d->reasons.items[0].reason) : "unknown";
    ccg_error_clear();
    ccg_error_set(reason, __FILE__, __LINE__, "%s: %s (%zu reason%s)", msg, cause, d->reasons.count,
                  d->reasons.count == 1 ? "" : "s");
}

/* The SNP certificate table's certificates (VCEK/VLEK and ASK/ASVK) into the collateral. */
static ccg_result snp_collateral(const ccg_endpoint_evidence *doc, ccg_snp_collateral *col)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_cert_entry entries[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    if (doc->certs == NULL) {
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_snp_cert_table_parse(doc->certs, doc->certs_len, entries, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used));
    for (size_t i = 0; i < n; i++) {
        if (entries[i].kind != CCG_SNP_CERT_OTHER) {
            CCG_TRY(ccg_snp_collateral_add_certs(col, entries[i].der, entries[i].der_len));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result verify_snp(const ccg_client_trust *t, const ccg_endpoint_evidence *doc, ccg_time now, ccg_decision *d,
                             uint8_t report_data[64])
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_collateral col = {0};
    ccg_snp_report r;
    CCG_TRY(ccg_snp_collateral_init(&col));
    if (t->snp == NULL) {
        ccg_decision_deny(d, CCG_R_USAGE_INVALID, json_pack("{s:s}", "why", "no SNP trust configured"));
        replace_error(CCG_R_CLIENT_EVIDENCE_DENIED, "SNP evidence, and this client trusts no SNP roots", d);
        goto cleanup;
    }
    if (ccg_failed(snp_collateral(doc, &col))) {
        ccg_decision_deny_last_error(d);
        replace_error(CCG_R_CLIENT_EVIDENCE_MALFORMED, "the SNP certificate table does not parse", d);
        goto cleanup;
    }
    ccg_decision_free(d);
    ccg_result vr = ccg_snp_verify_ex(t->snp, doc->report, doc->report_len, &col, t->snp_policy, t->snp_opts, now, d);
    if (ccg_failed(vr) || !d->allow) {
        if (d->reasons.count == 0) {
            ccg_decision_deny_last_error(d);
        }
        replace_error(CCG_R_CLIENT_EVIDENCE_DENIED, "the endpoint's SNP evidence was denied", d);
        goto cleanup;
    }
    CCG_TRY(ccg_snp_report_parse(doc->report, doc->report_len, &r));
    memcpy(report_data, r.report_data, 64);
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_collateral_free(&col);
    return result;
}

static ccg_result verify_tdx(const ccg_client_trust *t, const ccg_endpoint_evidence *doc, ccg_time now, ccg_decision *d,
                             uint8_t report_data[64])
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_result res;
    ccg_tdx_eventlog log;
    ccg_tdx_ccel_table table;
    ccg_tdx_quote q;
    int have_log = 0;
    ccg_tdx_verify_opts opts = {0};
    memset(&res, 0, sizeof(res));
    memset(&log, 0, sizeof(log));
    if (t->tdx == NULL || t->tdx_policy == NULL) {
        ccg_decision_deny(d, CCG_R_USAGE_INVALID, json_pack("{s:s}", "why", "no TDX trust configured"));
        replace_error(CCG_R_CLIENT_EVIDENCE_DENIED, "TDX evidence, and this client trusts no TDX roots", d);
        goto cleanup;
    }
    if (doc->ccel_data != NULL) {
        if (ccg_failed(ccg_tdx_eventlog_parse(doc->ccel_data, doc->ccel_data_len, &log)) ||
            (have_log = 1, doc->ccel != NULL && (ccg_failed(ccg_tdx_ccel_table_parse(doc->ccel, doc->ccel_len, &table)) ||
                                                ccg_failed(ccg_tdx_eventlog_check_ccel(&log, &table))))) {
            ccg_decision_deny_last_error(d);
            replace_error(CCG_R_CLIENT_EVIDENCE_DENIED, "the endpoint's TDX event log is malformed", d);
            goto cleanup;
        }
        opts.event_log = &log;
    }
    opts.refvals = t->refvals;
    opts.issuers = t->issuers;
    ccg_result vr = ccg_tdx_verify(t->tdx, doc->report, doc->report_len, t->tdx_col, t->tdx_policy, &opts, now, &res);
    ccg_decision_free(d);
    *d = res.decision; /* moved: res no longer owns it */
    memset(&res.decision, 0, sizeof(res.decision));
    if (ccg_failed(vr) || !d->allow) {
        if (d->reasons.count == 0) {
            ccg_decision_deny_last_error(d);
        }
        replace_error(CCG_R_CLIENT_EVIDENCE_DENIED, "the endpoint's TDX evidence was denied", d);
        goto cleanup;
    }
    CCG_TRY(ccg_tdx_quote_parse(doc->report, doc->report_len, &q));
    memcpy(report_data, q.td.report_data, 64);
    result = CCG_SUCCESS;
cleanup:
    if (have_log) {
        ccg_tdx_eventlog_free(&log);
    }
    ccg_tdx_result_free(&res);
    return result;
}

ccg_result ccg_client_verify_evidence(const ccg_client_trust *t, const ccg_endpoint_evidence *doc,
                                      ccg_endpoint_binding want, const uint8_t nonce[CCG_ENDPOINT_NONCE_LEN],
                                      const uint8_t *exporter, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    uint8_t report_data[64];
    ccg_time now = t->now != 0 ? t->now : ccg_time_now();
    ccg_decision_init(d, doc->tee == CCG_ENDPOINT_TEE_TDX ? "tdx" : "snp");
    if (doc->tee == CCG_ENDPOINT_TEE_TDX) {
        CCG_TRY(verify_tdx(t, doc, now, d, report_data));
    } else {
        CCG_TRY(verify_snp(t, doc, now, d, report_data));
    }
    /* The binding is checked on evidence the verifier accepted: REPORT_DATA is then the TEE's word. */
    CCG_TRY(ccg_endpoint_check_binding(doc, want, nonce, exporter, report_data));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
