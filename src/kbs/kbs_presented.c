/* The claims a decision's audit record keeps of what was presented (audit record format 6,
 * docs/audit.md "Claims"): re-read from the evidence the decision appraised, so a denial for a report
 * that failed to verify still records what it claimed. Only the non-secret members of the claim list:
 * measurements, registers, versions and policy bits, never the report, a signature, a certificate, a
 * nonce or a key. Anything that cannot be parsed is left out (null), never failing the record. */
#include <stdio.h>
#include <string.h>

#include "kbs_internal.h"
#include "ccgate/snp_report.h"
#include "ccgate/tdx_quote.h"

static void put_hex(json_t *c, const char *name, const uint8_t *p, size_t n)
{
    char hex[2 * 64 + 1];
    if (n <= 64) {
        ccg_hex_encode(p, n, hex);
        json_object_set_new(c, name, json_string(hex));
    }
}

static void put_u64(json_t *c, const char *name, uint64_t v)
{
    char hex[17];
    snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)v);
    json_object_set_new(c, name, json_string(hex));
}

static void snp_claims(json_t *c, const ccg_kbs_snp_evidence *ev)
{
    ccg_snp_report r;
    if (ev == NULL || ccg_failed(ccg_snp_report_parse(ev->report, CCG_SNP_REPORT_SIZE, &r))) {
        ccg_error_clear();
        return;
    }
    ccg_snp_product product = ccg_snp_product_from_cpuid(&r);
    put_hex(c, "measurement", r.measurement, sizeof(r.measurement));
    json_object_set_new(c, "report_version", json_integer(r.version));
    put_u64(c, "policy", r.policy);
    put_u64(c, "reported_tcb", r.reported_tcb);
    put_u64(c, "committed_tcb", r.committed_tcb);
    put_u64(c, "current_tcb", r.current_tcb);
    put_u64(c, "launch_tcb", r.launch_tcb);
    put_hex(c, "host_data", r.host_data, sizeof(r.host_data));
    if (product != CCG_SNP_PRODUCT_UNKNOWN) {
        json_object_set_new(c, "chip_family", json_string(ccg_snp_product_name(product)));
    }
}

static void tdx_claims(json_t *c, const ccg_kbs_tdx_evidence *ev)
{
    ccg_tdx_quote q;
    json_t *rtmrs = NULL;
    if (ev == NULL || ev->quote == NULL || ccg_failed(ccg_tdx_quote_parse(ev->quote, ev->quote_len, &q))) {
        ccg_error_clear();
        return;
    }
    put_hex(c, "mrtd", q.td.mrtd, sizeof(q.td.mrtd));
    put_hex(c, "mrconfigid", q.td.mrconfigid, sizeof(q.td.mrconfigid));
    put_u64(c, "td_attributes", q.td.td_attributes);
    put_hex(c, "tee_tcb_svn", q.td.tee_tcb_svn, sizeof(q.td.tee_tcb_svn));
    rtmrs = json_array();
    for (size_t i = 0; rtmrs != NULL && i < 4; i++) {
        char hex[97];
        ccg_hex_encode(q.td.rtmr[i], sizeof(q.td.rtmr[i]), hex);
        json_array_append_new(rtmrs, json_string(hex));
    }
    if (rtmrs != NULL) {
        json_object_set_new(c, "rtmrs", rtmrs);
    }
}

/* The reference-value record a denial names: the one refused, or the closest to a mismatch. */
static const char *refval_record_of(const ccg_decision *d, int *matched)
{
    *matched = -1;
    for (size_t i = 0; d != NULL && i < d->reasons.count; i++) {
        const json_t *det = d->reasons.items[i].details;
        const char *id = json_string_value(json_object_get(det, "closest_refval_id"));
        if (d->reasons.items[i].reason == CCG_R_REFVAL_MEASUREMENT_MISMATCH) {
            *matched = 0;
            return id;
        }
        id = json_string_value(json_object_get(det, "refval_id"));
        if (id != NULL) {
            *matched = 0;
            return id;
        }
    }
    return NULL;
}

static void refval_claims(json_t *c, const ccg_kbs_policy *p, const char *tee, const ccg_decision *d,
                          int64_t refval_version)
{
    const char *set = NULL, *record = NULL;
    int matched = -1;
    if (p == NULL) {
        return;
    }
    if (strcmp(tee, "tdx") == 0 && p->tdx != NULL && p->tdx->has_refval_set) {
        set = p->tdx->refval_set_id;
    } else if (strcmp(tee, "tdx") != 0 && p->snp != NULL && p->snp->has_refval_set) {
        set = p->snp->refval_set_id;
    }
    if (set == NULL) {
        return;
    }
    json_object_set_new(c, "refval_set_id", json_string(set));
    if (refval_version > 0) {
        json_object_set_new(c, "refval_set_version", json_integer(refval_version));
    }
    record = refval_record_of(d, &matched);
    if (record != NULL) {
        json_object_set_new(c, "refval_record", json_string(record));
    }
    if (matched == 0) {
        json_object_set_new(c, "refval_match", json_false());
    } else if (d != NULL && d->allow) {
        json_object_set_new(c, "refval_match", json_true());
    }
}

json_t *kbs_presented_claims(const ccg_kbs_policy *p, const char *tee, const ccg_kbs_snp_evidence *snp,
                             const ccg_kbs_tdx_evidence *tdx, const ccg_decision *d, int64_t refval_version,
                             int64_t key_version_requested)
{
    json_t *c = json_object();
    const json_t *gpus = d != NULL ? json_object_get(d->claims, "gpus") : NULL;
    if (c == NULL) {
        return NULL;
    }
    tee = tee != NULL ? tee : "snp";
    json_object_set_new(c, "tee", json_string(strcmp(tee, "tdx") == 0 ? "tdx" : "snp"));
    if (strcmp(tee, "tdx") == 0) {
        tdx_claims(c, tdx);
    } else {
        snp_claims(c, snp);
    }
    refval_claims(c, p, tee, d, refval_version);
    if (json_is_array(gpus)) {
        json_object_set_new(c, "gpu_count", json_integer((json_int_t)json_array_size(gpus)));
    }
    json_object_set_new(c, "key_version_requested",
                        key_version_requested > 0 ? json_integer(key_version_requested) : json_null());
    /* Whatever the evidence held that the list refuses (a string past its length) is dropped, never
     * recorded or failing the append: evidence cannot keep its own denial out of the log. */
    if (ccg_failed(ccg_audit_claims_check(c, CCG_R_INPUT_MALFORMED))) {
        ccg_error_clear();
        json_decref(c);
        c = json_pack("{s:s}", "tee", strcmp(tee, "tdx") == 0 ? "tdx" : "snp");
    }
    return c;
}
