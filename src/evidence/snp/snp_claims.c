/* Claims: every field of a parsed SNP report as JSON, with TCB values decoded for the product. */
#include <stdio.h>
#include <stdlib.h>

#include "ccgate/snp_verify.h"

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *j = hex ? json_string(hex) : json_null();
    free(hex);
    return j;
}

static json_t *u64_hex_json(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%016llx", (unsigned long long)v);
    return json_string(buf);
}

static json_t *tcb_json(ccg_snp_product product, uint64_t raw)
{
    json_t *obj = json_pack("{s:o}", "raw", u64_hex_json(raw));
    ccg_snp_tcb tcb;
    if (obj != NULL && product != CCG_SNP_PRODUCT_UNKNOWN) {
        ccg_snp_tcb_split(product, raw, &tcb);
        json_object_set_new(obj, "reserved_nonzero", json_boolean(!ccg_snp_tcb_reserved_ok(product, raw)));
        json_object_set_new(obj, "bootloader", json_integer(tcb.bootloader));
        json_object_set_new(obj, "tee", json_integer(tcb.tee));
        json_object_set_new(obj, "snp", json_integer(tcb.snp));
        json_object_set_new(obj, "microcode", json_integer(tcb.microcode));
        if (product == CCG_SNP_PRODUCT_TURIN) {
            json_object_set_new(obj, "fmc", json_integer(tcb.fmc));
        }
    }
    return obj;
}

static json_t *policy_json(uint64_t p)
{
    return json_pack("{s:o, s:i, s:i, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b}", "raw", u64_hex_json(p),
                     "abi_major", (int)((p >> 8) & 0xff), "abi_minor", (int)(p & 0xff), "smt_allowed",
                     (p & CCG_SNP_POLICY_SMT) != 0, "migrate_ma", (p & CCG_SNP_POLICY_MIGRATE_MA) != 0, "debug",
                     (p & CCG_SNP_POLICY_DEBUG) != 0, "single_socket", (p & CCG_SNP_POLICY_SINGLE_SOCKET) != 0,
                     "cxl_allowed", (p & CCG_SNP_POLICY_CXL_ALLOW) != 0, "mem_aes_256_xts",
                     (p & CCG_SNP_POLICY_MEM_AES_256_XTS) != 0, "rapl_disabled", (p & CCG_SNP_POLICY_RAPL_DIS) != 0,
                     "ciphertext_hiding", (p & CCG_SNP_POLICY_CIPHERTEXT_HIDING) != 0, "page_swap_disabled",
                     (p & CCG_SNP_POLICY_PAGE_SWAP_DISABLE) != 0);
}

/* Every bit ccgate knows by name, and the rest as "unknown_bits": newer firmware defines more bits in
 * this signed field, and a verifier reports them rather than refusing the report. */
static json_t *platform_json(uint64_t p)
{
    return json_pack("{s:o, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:b, s:o}", "raw", u64_hex_json(p), "smt_enabled",
                     (p & CCG_SNP_PLATFORM_SMT_EN) != 0, "tsme_enabled", (p & CCG_SNP_PLATFORM_TSME_EN) != 0,
                     "ecc_enabled", (p & CCG_SNP_PLATFORM_ECC_EN) != 0, "rapl_disabled",
                     (p & CCG_SNP_PLATFORM_RAPL_DIS) != 0, "ciphertext_hiding_enabled",
                     (p & CCG_SNP_PLATFORM_CIPHERTEXT_HIDING_EN) != 0, "alias_check_complete",
                     (p & CCG_SNP_PLATFORM_ALIAS_CHECK_COMPLETE) != 0, "iommu_write_safe",
                     (p & CCG_SNP_PLATFORM_IOMMU_WRITE_SAFE) != 0, "tio_enabled", (p & CCG_SNP_PLATFORM_TIO_EN) != 0,
                     "unknown_bits", u64_hex_json(p & ~CCG_SNP_PLATFORM_KNOWN_MASK));
}

static const char *signer_name(ccg_snp_signer s)
{
    switch (s) {
    case CCG_SNP_SIGNER_VCEK: return "vcek";
    case CCG_SNP_SIGNER_VLEK: return "vlek";
    case CCG_SNP_SIGNER_NONE: return "none";
    }
    return "unknown";
}

static void add_versions(json_t *c, const ccg_snp_report *r)
{
    char cur[16], com[16];
    snprintf(cur, sizeof(cur), "%u.%u", r->current_major, r->current_minor);
    snprintf(com, sizeof(com), "%u.%u", r->committed_major, r->committed_minor);
    json_object_set_new(c, "current_version", json_string(cur));
    json_object_set_new(c, "current_build", json_integer(r->current_build));
    json_object_set_new(c, "committed_version", json_string(com));
    json_object_set_new(c, "committed_build", json_integer(r->committed_build));
}

json_t *ccg_snp_claims_json(const ccg_snp_report *r, ccg_snp_product product)
{
    json_t *c = json_object();
    if (c == NULL) {
        return NULL;
    }
    json_object_set_new(c, "version", json_integer(r->version));
    json_object_set_new(c, "product", json_string(ccg_snp_product_name(product)));
    json_object_set_new(c, "guest_svn", json_integer(r->guest_svn));
    json_object_set_new(c, "policy", policy_json(r->policy));
    json_object_set_new(c, "family_id", hex_json(r->family_id, sizeof(r->family_id)));
    json_object_set_new(c, "image_id", hex_json(r->image_id, sizeof(r->image_id)));
    json_object_set_new(c, "vmpl", json_integer(r->vmpl));
    json_object_set_new(c, "host_requested", json_boolean(r->vmpl == CCG_SNP_VMPL_HOST_REQUESTED));
    json_object_set_new(c, "signature_algo", json_integer(r->signature_algo));
    json_object_set_new(c, "current_tcb", tcb_json(product, r->current_tcb));
    json_object_set_new(c, "platform_info", platform_json(r->platform_info));
    json_object_set_new(c, "author_key_en", json_boolean(ccg_snp_report_author_key_en(r)));
    json_object_set_new(c, "mask_chip_key", json_boolean(ccg_snp_report_mask_chip_key(r)));
    json_object_set_new(c, "chip_id_masked", json_boolean(ccg_snp_report_chip_id_masked(r)));
    json_object_set_new(c, "signing_key", json_string(signer_name(ccg_snp_report_signer(r))));
    json_object_set_new(c, "report_data", hex_json(r->report_data, sizeof(r->report_data)));
    json_object_set_new(c, "measurement", hex_json(r->measurement, sizeof(r->measurement)));
    json_object_set_new(c, "host_data", hex_json(r->host_data, sizeof(r->host_data)));
    json_object_set_new(c, "id_key_digest", hex_json(r->id_key_digest, sizeof(r->id_key_digest)));
    json_object_set_new(c, "author_key_digest", hex_json(r->author_key_digest, sizeof(r->author_key_digest)));
    json_object_set_new(c, "report_id", hex_json(r->report_id, sizeof(r->report_id)));
    json_object_set_new(c, "report_id_ma", hex_json(r->report_id_ma, sizeof(r->report_id_ma)));
    json_object_set_new(c, "reported_tcb", tcb_json(product, r->reported_tcb));
    if (r->version >= 3) {
        json_object_set_new(c, "cpuid", json_pack("{s:i, s:i, s:i}", "family", r->cpuid_fam_id, "model",
                                                  r->cpuid_mod_id, "stepping", r->cpuid_step));
    }
    json_object_set_new(c, "chip_id", hex_json(r->chip_id, sizeof(r->chip_id)));
    json_object_set_new(c, "committed_tcb", tcb_json(product, r->committed_tcb));
    add_versions(c, r);
    json_object_set_new(c, "launch_tcb", tcb_json(product, r->launch_tcb));
    if (r->version >= 5) {
        json_object_set_new(c, "launch_mit_vector", u64_hex_json(r->launch_mit_vector));
        json_object_set_new(c, "current_mit_vector", u64_hex_json(r->current_mit_vector));
    }
    return c;
}
