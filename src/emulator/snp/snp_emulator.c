/* The software SNP firmware: lifecycle, accessors and the plausible default report. Test/demo only. */
#include <stdlib.h>
#include <string.h>

#include "snp_emulator_internal.h"

void ccg_snp_emulator_config_init(ccg_snp_emulator_config *cfg, ccg_snp_product product, ccg_snp_signer signer)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->product = product;
    cfg->signer = signer;
    cfg->report_version = 3;
    /* Turin reports carry an 8-byte chip ID followed by zeros; the earlier products use all 64. */
    size_t n = product == CCG_SNP_PRODUCT_TURIN ? 8 : sizeof(cfg->chip_id);
    for (size_t i = 0; i < n; i++) {
        cfg->chip_id[i] = (uint8_t)(0xC0 ^ (i * 37 + (size_t)product * 11 + 1));
    }
    switch (product) {
    case CCG_SNP_PRODUCT_GENOA: cfg->tcb = (ccg_snp_tcb){.bootloader = 10, .tee = 0, .snp = 23, .microcode = 84}; break;
    case CCG_SNP_PRODUCT_TURIN:
        cfg->tcb = (ccg_snp_tcb){.fmc = 1, .bootloader = 1, .tee = 1, .snp = 4, .microcode = 76};
        break;
    default: cfg->tcb = (ccg_snp_tcb){.bootloader = 4, .tee = 0, .snp = 24, .microcode = 219}; break;
    }
}

ccg_result ccg_snp_emulator_new(const ccg_snp_emulator_config *cfg, ccg_snp_emulator **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_emulator *emu = NULL;
    CCG_ENSURE_MSG(cfg->product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "the emulator needs a product");
    CCG_ENSURE_MSG(cfg->signer == CCG_SNP_SIGNER_VCEK || cfg->signer == CCG_SNP_SIGNER_VLEK, CCG_R_USAGE_INVALID,
                   "the emulator signs with a VCEK or a VLEK");
    CCG_ENSURE_MSG(cfg->report_version == 0 || cfg->report_version == 2 || cfg->report_version == 3 ||
                       cfg->report_version == 5,
                   CCG_R_USAGE_INVALID, "report version %u; supported: 2, 3, 5", cfg->report_version);
    emu = calloc(1, sizeof(*emu));
    CCG_ENSURE_ALLOC(emu);
    emu->cfg = *cfg;
    if (emu->cfg.report_version == 0) {
        emu->cfg.report_version = 3;
    }
    CCG_TRY(snp_emu_issue_chain(emu));
    *out = emu;
    emu = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_emulator_free(emu);
    return result;
}

void ccg_snp_emulator_free(ccg_snp_emulator *emu)
{
    if (emu == NULL) {
        return;
    }
    X509_free(emu->leaf);
    X509_free(emu->ask);
    X509_free(emu->ark);
    /* EVP_PKEY_free clears the private key material (BN_clear_free) before releasing it. */
    EVP_PKEY_free(emu->leaf_key);
    EVP_PKEY_free(emu->ask_key);
    EVP_PKEY_free(emu->ark_key);
    free(emu);
}

X509 *ccg_snp_emulator_ark(const ccg_snp_emulator *emu) { return emu->ark; }
X509 *ccg_snp_emulator_ask(const ccg_snp_emulator *emu) { return emu->ask; }
X509 *ccg_snp_emulator_vcek(const ccg_snp_emulator *emu) { return emu->leaf; }
const ccg_snp_emulator_config *ccg_snp_emulator_config_of(const ccg_snp_emulator *emu) { return &emu->cfg; }

ccg_result ccg_snp_emulator_collateral(const ccg_snp_emulator *emu, ccg_snp_collateral *col)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_snp_collateral_add_x509(col, emu->leaf));
    CCG_TRY(ccg_snp_collateral_add_x509(col, emu->ask));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void set_cpuid(ccg_snp_product p, ccg_snp_report *r)
{
    static const uint8_t cpuid[][3] = {
        [CCG_SNP_PRODUCT_MILAN] = {0x19, 0x01, 0x01},
        [CCG_SNP_PRODUCT_GENOA] = {0x19, 0x11, 0x01},
        [CCG_SNP_PRODUCT_TURIN] = {0x1A, 0x02, 0x00},
    };
    if (r->version >= 3 && p != CCG_SNP_PRODUCT_UNKNOWN) {
        r->cpuid_fam_id = cpuid[p][0];
        r->cpuid_mod_id = cpuid[p][1];
        r->cpuid_step = cpuid[p][2];
    }
}

static void fill_pattern(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 7);
    }
}

void ccg_snp_emulator_default_report(const ccg_snp_emulator *emu, ccg_snp_report *r)
{
    const ccg_snp_emulator_config *c = &emu->cfg;
    uint64_t tcb = ccg_snp_tcb_encode(c->product, &c->tcb);
    memset(r, 0, sizeof(*r));
    r->version = c->report_version;
    r->guest_svn = 1;
    r->policy = CCG_SNP_POLICY_RESERVED_ONE | CCG_SNP_POLICY_SMT; /* 0x30000: SMT allowed, no debug */
    r->vmpl = 0;
    r->signature_algo = 1; /* ECDSA P-384 with SHA-384 */
    r->current_tcb = r->reported_tcb = r->committed_tcb = r->launch_tcb = tcb;
    r->platform_info = CCG_SNP_PLATFORM_SMT_EN | CCG_SNP_PLATFORM_TSME_EN;
    r->flags = (uint32_t)c->signer << 2;
    fill_pattern(r->measurement, sizeof(r->measurement), 0x4D);
    fill_pattern(r->report_id, sizeof(r->report_id), 0x52);
    memset(r->report_id_ma, 0xFF, sizeof(r->report_id_ma)); /* no migration agent */
    set_cpuid(c->product, r);
    memcpy(r->chip_id, c->chip_id, sizeof(r->chip_id));
    r->current_major = r->committed_major = 1;
    r->current_minor = r->committed_minor = 55;
    r->current_build = r->committed_build = c->product == CCG_SNP_PRODUCT_MILAN ? 21 : 37;
}
