/* Binds the endorsement key to the report: its TCB extensions must equal REPORTED_TCB, and a VCEK's
 * hwID must equal the report's CHIP_ID (64 bytes on Milan and Genoa, the first 8 on Turin). A chip ID
 * masked by the platform (all zeros) binds nothing, so it passes only when the policy allows it. */
#include "snp_binding.h"

#include <string.h>

static void compare_spl(ccg_decision *d, const char *name, int present, uint8_t cert, uint8_t report)
{
    if (!present) {
        ccg_decision_deny(d, CCG_R_SNP_VCEK_EXTENSION_MISSING, json_pack("{s:s}", "extension", name));
    } else if (cert != report) {
        ccg_decision_deny(d, CCG_R_SNP_VCEK_TCB_MISMATCH,
                          json_pack("{s:s, s:i, s:i}", "component", name, "certificate", cert, "reported_tcb", report));
    }
}

static void check_tcb(const snp_chain_facts *f, const ccg_snp_report *r, ccg_decision *d)
{
    ccg_snp_tcb tcb;
    if (!ccg_snp_tcb_reserved_ok(f->product, r->reported_tcb)) {
        return; /* reserved TCB bytes are refused once, by the appraisal */
    }
    ccg_snp_tcb_split(f->product, r->reported_tcb, &tcb);
    compare_spl(d, "blSPL", f->ext.has_bl, f->ext.tcb.bootloader, tcb.bootloader);
    compare_spl(d, "teeSPL", f->ext.has_tee, f->ext.tcb.tee, tcb.tee);
    compare_spl(d, "snpSPL", f->ext.has_snp, f->ext.tcb.snp, tcb.snp);
    compare_spl(d, "ucodeSPL", f->ext.has_ucode, f->ext.tcb.microcode, tcb.microcode);
    if (f->product == CCG_SNP_PRODUCT_TURIN) {
        compare_spl(d, "fmcSPL", f->ext.has_fmc, f->ext.tcb.fmc, tcb.fmc);
    }
}

static void check_chip_id(const snp_chain_facts *f, const ccg_snp_report *r, const ccg_snp_policy *p, ccg_decision *d)
{
    if (f->signer != CCG_SNP_SIGNER_VCEK) {
        return; /* a VLEK is per cloud provider, not per chip: its reports carry no chip binding */
    }
    if (ccg_snp_report_chip_id_masked(r)) {
        if (!p->allow_masked_chip_id) {
            ccg_decision_deny(d, CCG_R_SNP_CHIP_ID_MASKED, json_pack("{s:s}", "policy_id", p->policy_id));
        }
        return; /* a masked chip ID has nothing to bind */
    }
    size_t n = ccg_snp_hwid_len(f->product);
    if (!f->ext.has_hwid) {
        ccg_decision_deny(d, CCG_R_SNP_VCEK_EXTENSION_MISSING, json_pack("{s:s}", "extension", "hwID"));
    } else if (f->ext.hwid_len != n || memcmp(f->ext.hwid, r->chip_id, n) != 0) {
        char want[129], got[129];
        ccg_hex_encode(f->ext.hwid, f->ext.hwid_len, want);
        ccg_hex_encode(r->chip_id, n, got);
        ccg_decision_deny(d, CCG_R_SNP_CHIP_ID_MISMATCH,
                          json_pack("{s:s, s:s}", "certificate_hwid", want, "report_chip_id", got));
    }
}

void snp_binding_check(const snp_chain_facts *f, const ccg_snp_report *r, const ccg_snp_policy *p, ccg_decision *d)
{
    if (f->leaf_key == NULL || f->product == CCG_SNP_PRODUCT_UNKNOWN) {
        return; /* already denied for the missing or unusable key */
    }
    check_tcb(f, r, d);
    check_chip_id(f, r, p, d);
}
