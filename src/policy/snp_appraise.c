/* Appraisal of an SNP report against a policy. Every rule is checked; every failure is a reason
 * with the expected and the reported value. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_policy.h"
#include "ccgate/util.h"

typedef struct {
    ccg_reasons *out;
    int oom;
} appraisal;

static void deny(appraisal *a, ccg_reason reason, json_t *details)
{
    if (ccg_reasons_add(a->out, reason, details) != 0) {
        a->oom = 1;
    }
}

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *j = hex ? json_string(hex) : json_null();
    free(hex);
    return j;
}

static int digest_listed(const ccg_digest48 *list, size_t n, const uint8_t *d)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(list[i].bytes, d, 48) == 0) {
            return 1;
        }
    }
    return 0;
}

static void check_guest_policy(appraisal *a, const ccg_snp_policy *p, const ccg_snp_report *r)
{
    if ((r->policy & CCG_SNP_POLICY_DEBUG) && !p->debug_allowed) {
        deny(a, CCG_R_SNP_DEBUG_ENABLED, json_pack("{s:s}", "field", "POLICY.DEBUG"));
    }
    if ((r->policy & CCG_SNP_POLICY_MIGRATE_MA) && !p->migration_agent_allowed) {
        deny(a, CCG_R_SNP_MIGRATION_AGENT_ENABLED, json_pack("{s:s}", "field", "POLICY.MIGRATE_MA"));
    }
    if (!p->smt_allowed && ((r->policy & CCG_SNP_POLICY_SMT) || (r->platform_info & CCG_SNP_PLATFORM_SMT_EN))) {
        deny(a, CCG_R_SNP_SMT_NOT_ALLOWED, json_pack("{s:b, s:b}", "guest_policy_smt", (r->policy & CCG_SNP_POLICY_SMT) != 0,
                                                     "platform_smt_enabled", (r->platform_info & CCG_SNP_PLATFORM_SMT_EN) != 0));
    }
    if (p->vmpl >= 0 && (uint32_t)p->vmpl != r->vmpl) {
        deny(a, CCG_R_SNP_VMPL_MISMATCH, json_pack("{s:i, s:i}", "expected", p->vmpl, "got", (int)r->vmpl));
    }
    if (r->guest_svn < p->minimum_guest_svn) {
        deny(a, CCG_R_SNP_GUEST_SVN_BELOW_MINIMUM,
             json_pack("{s:I, s:I}", "minimum", (json_int_t)p->minimum_guest_svn, "got", (json_int_t)r->guest_svn));
    }
}

static void check_tcb_component(appraisal *a, const char *which, const char *name, uint8_t min, uint8_t got)
{
    if (got < min) {
        deny(a, CCG_R_SNP_TCB_BELOW_MINIMUM,
             json_pack("{s:s, s:s, s:i, s:i}", "tcb", which, "component", name, "minimum", min, "got", got));
    }
}

/* Reserved TCB bytes are refused in every TCB field of the report, minimums or not. */
static int tcb_reserved_ok(appraisal *a, ccg_snp_product product, const char *which, uint64_t raw)
{
    if (ccg_snp_tcb_reserved_ok(product, raw)) {
        return 1;
    }
    char hex[24];
    snprintf(hex, sizeof(hex), "0x%016llx", (unsigned long long)raw);
    deny(a, CCG_R_SNP_RESERVED_NONZERO, json_pack("{s:s, s:s}", "tcb", which, "raw", hex));
    return 0;
}

static void check_tcb(appraisal *a, const ccg_snp_policy *p, ccg_snp_product product, const char *which, uint64_t raw)
{
    ccg_snp_tcb t;
    if (product == CCG_SNP_PRODUCT_UNKNOWN || !tcb_reserved_ok(a, product, which, raw)) {
        return; /* an unknown product was denied already as snp.product_unknown; its layout is unknown */
    }
    ccg_snp_tcb_split(product, raw, &t);
    check_tcb_component(a, which, "bootloader", p->minimum_tcb.bootloader, t.bootloader);
    check_tcb_component(a, which, "tee", p->minimum_tcb.tee, t.tee);
    check_tcb_component(a, which, "snp", p->minimum_tcb.snp, t.snp);
    check_tcb_component(a, which, "microcode", p->minimum_tcb.microcode, t.microcode);
    if (product == CCG_SNP_PRODUCT_TURIN) {
        check_tcb_component(a, which, "fmc", p->minimum_tcb.fmc, t.fmc);
    }
}

static void check_firmware(appraisal *a, const ccg_snp_policy *p, const ccg_snp_report *r)
{
    if (r->current_build < p->minimum_build) {
        deny(a, CCG_R_SNP_FIRMWARE_BELOW_MINIMUM,
             json_pack("{s:i, s:i}", "minimum_build", p->minimum_build, "current_build", r->current_build));
    }
    unsigned have = (unsigned)r->current_major << 8 | r->current_minor;
    unsigned want = (unsigned)p->minimum_major << 8 | p->minimum_minor;
    if (have < want) {
        char h[16], w[16];
        snprintf(h, sizeof(h), "%u.%u", r->current_major, r->current_minor);
        snprintf(w, sizeof(w), "%u.%u", p->minimum_major, p->minimum_minor);
        deny(a, CCG_R_SNP_ABI_BELOW_MINIMUM, json_pack("{s:s, s:s}", "minimum", w, "current", h));
    }
}

static void check_identity(appraisal *a, const ccg_snp_policy *p, const ccg_snp_report *r)
{
    if (p->measurements != NULL && !digest_listed(p->measurements, p->measurement_count, r->measurement)) {
        deny(a, CCG_R_SNP_MEASUREMENT_NOT_ALLOWED,
             json_pack("{s:o, s:I}", "got", hex_json(r->measurement, 48), "allowed_count",
                       (json_int_t)p->measurement_count));
    }
    if (p->has_report_data && !ccg_memeq_ct(p->report_data, r->report_data, 64)) {
        deny(a, CCG_R_SNP_REPORT_DATA_MISMATCH,
             json_pack("{s:o, s:o}", "expected", hex_json(p->report_data, 64), "got", hex_json(r->report_data, 64)));
    }
    if (p->has_host_data && !ccg_memeq_ct(p->host_data, r->host_data, 32)) {
        deny(a, CCG_R_SNP_HOST_DATA_MISMATCH,
             json_pack("{s:o, s:o}", "expected", hex_json(p->host_data, 32), "got", hex_json(r->host_data, 32)));
    }
    if (p->id_key_digests != NULL && !digest_listed(p->id_key_digests, p->id_key_digest_count, r->id_key_digest)) {
        deny(a, CCG_R_SNP_ID_KEY_NOT_ALLOWED, json_pack("{s:o}", "got", hex_json(r->id_key_digest, 48)));
    }
    if (p->author_key_digests != NULL &&
        (!ccg_snp_report_author_key_en(r) ||
         !digest_listed(p->author_key_digests, p->author_key_digest_count, r->author_key_digest))) {
        deny(a, CCG_R_SNP_AUTHOR_KEY_NOT_ALLOWED,
             json_pack("{s:b, s:o}", "author_key_en", ccg_snp_report_author_key_en(r), "got",
                       hex_json(r->author_key_digest, 48)));
    }
}

static void check_platform_flag(appraisal *a, const char *name, int required, uint64_t info, uint64_t bit)
{
    int have = (info & bit) != 0;
    if (required >= 0 && have != required) {
        deny(a, CCG_R_SNP_PLATFORM_INFO_REQUIREMENT,
             json_pack("{s:s, s:b, s:b}", "flag", name, "required", required, "got", have));
    }
}

static void check_platform(appraisal *a, const ccg_snp_policy *p, const ccg_snp_report *r)
{
    const ccg_snp_platform_req *q = &p->platform;
    check_platform_flag(a, "smt_enabled", q->smt_enabled, r->platform_info, CCG_SNP_PLATFORM_SMT_EN);
    check_platform_flag(a, "tsme_enabled", q->tsme_enabled, r->platform_info, CCG_SNP_PLATFORM_TSME_EN);
    check_platform_flag(a, "ecc_enabled", q->ecc_enabled, r->platform_info, CCG_SNP_PLATFORM_ECC_EN);
    check_platform_flag(a, "rapl_disabled", q->rapl_disabled, r->platform_info, CCG_SNP_PLATFORM_RAPL_DIS);
    check_platform_flag(a, "ciphertext_hiding_enabled", q->ciphertext_hiding_enabled, r->platform_info,
                        CCG_SNP_PLATFORM_CIPHERTEXT_HIDING_EN);
    check_platform_flag(a, "alias_check_complete", q->alias_check_complete, r->platform_info,
                        CCG_SNP_PLATFORM_ALIAS_CHECK_COMPLETE);
    check_platform_flag(a, "iommu_write_safe", q->iommu_write_safe, r->platform_info,
                        CCG_SNP_PLATFORM_IOMMU_WRITE_SAFE);
    check_platform_flag(a, "tio_enabled", q->tio_enabled, r->platform_info, CCG_SNP_PLATFORM_TIO_EN);
}

int ccg_snp_appraise(const ccg_snp_policy *p, const ccg_snp_report *r, ccg_snp_product product, ccg_reasons *out)
{
    appraisal a = {out, 0};
    check_guest_policy(&a, p, r);
    check_tcb(&a, p, product, "reported_tcb", r->reported_tcb);
    check_tcb(&a, p, product, "launch_tcb", r->launch_tcb);
    if (product != CCG_SNP_PRODUCT_UNKNOWN) {
        (void)tcb_reserved_ok(&a, product, "current_tcb", r->current_tcb);
        (void)tcb_reserved_ok(&a, product, "committed_tcb", r->committed_tcb);
    }
    check_firmware(&a, p, r);
    check_identity(&a, p, r);
    check_platform(&a, p, r);
    return a.oom ? -1 : 0;
}
