/* The SEV-SNP launch digest from launch inputs, in the order the hypervisor launches the guest: the OVMF
 * pages (or their precomputed digest), the SEV metadata sections, then one VMSA per vCPU. */
#include <string.h>

#include "snp_internal.h"

static int section_type_known(uint32_t t)
{
    return t == CCG_SNP_SECTION_SNP_SEC_MEM || t == CCG_SNP_SECTION_SNP_SECRETS || t == CCG_SNP_SECTION_CPUID ||
           t == CCG_SNP_SECTION_SVSM_CAA || t == CCG_SNP_SECTION_KERNEL_HASHES;
}

static ccg_result section_check(const ccg_snp_ovmf_section *s, ccg_reason reason)
{
    ccg_result result = CCG_FAILURE;
    int one_page = s->section_type == CCG_SNP_SECTION_SNP_SECRETS || s->section_type == CCG_SNP_SECTION_CPUID;
    CCG_ENSURE_MSG(section_type_known(s->section_type), reason, "unknown SEV metadata section type 0x%x",
                   s->section_type);
    CCG_ENSURE_MSG(s->gpa % CCG_SNP_PAGE_SIZE == 0 && s->size % CCG_SNP_PAGE_SIZE == 0 && s->size > 0, reason,
                   "section at 0x%x size 0x%x is not whole pages", s->gpa, s->size);
    CCG_ENSURE_MSG((uint64_t)s->gpa + s->size <= SNP_FOUR_GIB, reason, "section at 0x%x size 0x%x crosses 4 GiB",
                   s->gpa, s->size);
    /* The secrets and CPUID pages are single pages; anything else would be measured differently. */
    CCG_ENSURE_MSG(!one_page || s->size == CCG_SNP_PAGE_SIZE, reason, "section type %u must be one page",
                   s->section_type);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result snp_sections_check(const ccg_snp_ovmf_section *s, size_t n, ccg_reason reason)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(n <= CCG_SNP_MAX_SECTIONS, reason, "%zu sections (at most %d)", n, CCG_SNP_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        CCG_TRY(section_check(&s[i], reason));
        for (size_t j = 0; j < i; j++) {
            int apart = (uint64_t)s[i].gpa + s[i].size <= s[j].gpa || (uint64_t)s[j].gpa + s[j].size <= s[i].gpa;
            CCG_ENSURE_MSG(apart, reason, "sections at 0x%x and 0x%x overlap", s[j].gpa, s[i].gpa);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

const ccg_snp_ovmf_section *snp_find_section(const ccg_snp_ovmf_section *s, size_t n, uint32_t type)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i].section_type == type) {
            return &s[i];
        }
    }
    return NULL;
}

ccg_result snp_hashes_gpa_check(const ccg_snp_ovmf_section *s, size_t n, uint32_t table_gpa, ccg_reason reason)
{
    ccg_result result = CCG_FAILURE;
    const ccg_snp_ovmf_section *h = snp_find_section(s, n, CCG_SNP_SECTION_KERNEL_HASHES);
    CCG_ENSURE_MSG(h != NULL, CCG_R_MEASURE_OVMF_NO_HASHES_SECTION, "no kernel-hashes section (type 0x10)");
    CCG_ENSURE_MSG(h->size == CCG_SNP_PAGE_SIZE, reason, "the kernel-hashes section is 0x%x bytes, not one page",
                   h->size);
    CCG_ENSURE_MSG(table_gpa >= h->gpa && (uint64_t)table_gpa + SNP_HASHES_TABLE_SIZE <= (uint64_t)h->gpa + h->size,
                   reason, "SEV hashes table at 0x%x does not fit in the kernel-hashes page at 0x%x", table_gpa,
                   h->gpa);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_kernel(const ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(snp_find_section(in->sections, in->section_count, CCG_SNP_SECTION_KERNEL_HASHES) != NULL,
                   CCG_R_MEASURE_OVMF_NO_HASHES_SECTION,
                   "a kernel was given but the OVMF has no kernel-hashes section (type 0x10)");
    CCG_ENSURE_MSG(in->sev_hashes_table_gpa != 0, CCG_R_MEASURE_OVMF_NO_HASHES_SECTION,
                   "a kernel was given but the OVMF reserves no SEV hashes table");
    CCG_TRY(snp_hashes_gpa_check(in->sections, in->section_count, in->sev_hashes_table_gpa,
                                 CCG_R_MEASURE_INPUT_INVALID));
    CCG_ENSURE_MSG(in->cmdline == NULL || strlen(in->cmdline) < CCG_SNP_CMDLINE_MAX, CCG_R_MEASURE_INPUT_INVALID,
                   "the cmdline is longer than %u bytes", CCG_SNP_CMDLINE_MAX - 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_inputs(const ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ccg_snp_vmm_type_name(in->vmm_type) != NULL, CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED,
                   "VMM type %d is not qemu, ec2 or gce", (int)in->vmm_type);
    CCG_ENSURE_MSG(in->vcpus >= 1 && in->vcpus <= CCG_SNP_MAX_VCPUS, CCG_R_MEASURE_INPUT_INVALID,
                   "vcpus must be 1 to %u", CCG_SNP_MAX_VCPUS);
    /* SEV_FEATURES bit 0 (SNPActive) is set in every SNP guest's VMSA. */
    CCG_ENSURE_MSG(in->guest_features & 1, CCG_R_MEASURE_INPUT_INVALID,
                   "guest features 0x%llx lack bit 0 (SNPActive)", (unsigned long long)in->guest_features);
    CCG_ENSURE_MSG(in->has_vcpu_sig || in->vmm_type != CCG_SNP_VMM_QEMU, CCG_R_MEASURE_VCPU_TYPE_UNKNOWN,
                   "QEMU needs a vCPU type or signature");
    CCG_ENSURE_MSG(in->vcpus == 1 || in->sev_es_reset_eip != 0, CCG_R_MEASURE_INPUT_INVALID,
                   "more than one vCPU needs the OVMF's SEV-ES reset EIP");
    CCG_TRY(snp_sections_check(in->sections, in->section_count, CCG_R_MEASURE_INPUT_INVALID));
    if (in->has_kernel) {
        CCG_TRY(check_kernel(in));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result measure_hashes_section(snp_gctx *g, const ccg_snp_launch_inputs *in, const ccg_snp_ovmf_section *s)
{
    ccg_result result = CCG_FAILURE;
    uint8_t page[CCG_SNP_PAGE_SIZE];
    if (!in->has_kernel) {
        CCG_TRY(snp_gctx_empty_pages(g, SNP_PAGE_ZERO, s->gpa, s->size));
    } else {
        CCG_TRY(snp_hashes_page(in, in->sev_hashes_table_gpa & (CCG_SNP_PAGE_SIZE - 1), page));
        CCG_TRY(snp_gctx_normal_pages(g, s->gpa, page, sizeof(page)));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result measure_section(snp_gctx *g, const ccg_snp_launch_inputs *in, const ccg_snp_ovmf_section *s)
{
    switch (s->section_type) {
    case CCG_SNP_SECTION_SNP_SEC_MEM:
        /* GCE launches the SEC memory unmeasured. */
        return snp_gctx_empty_pages(g, in->vmm_type == CCG_SNP_VMM_GCE ? SNP_PAGE_UNMEASURED : SNP_PAGE_ZERO, s->gpa,
                                    s->size);
    case CCG_SNP_SECTION_SNP_SECRETS:
        return snp_gctx_empty_pages(g, SNP_PAGE_SECRETS, s->gpa, CCG_SNP_PAGE_SIZE);
    case CCG_SNP_SECTION_CPUID:
        /* EC2 measures the CPUID page after all other sections. */
        return in->vmm_type == CCG_SNP_VMM_EC2 ? CCG_SUCCESS
                                               : snp_gctx_empty_pages(g, SNP_PAGE_CPUID, s->gpa, CCG_SNP_PAGE_SIZE);
    case CCG_SNP_SECTION_SVSM_CAA:
        return snp_gctx_empty_pages(g, SNP_PAGE_ZERO, s->gpa, s->size);
    default:
        return measure_hashes_section(g, in, s);
    }
}

static ccg_result measure_sections(snp_gctx *g, const ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; i < in->section_count; i++) {
        CCG_TRY(measure_section(g, in, &in->sections[i]));
    }
    for (size_t i = 0; in->vmm_type == CCG_SNP_VMM_EC2 && i < in->section_count; i++) {
        if (in->sections[i].section_type == CCG_SNP_SECTION_CPUID) {
            CCG_TRY(snp_gctx_empty_pages(g, SNP_PAGE_CPUID, in->sections[i].gpa, CCG_SNP_PAGE_SIZE));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The BSP starts at the reset vector, every AP at the OVMF's SEV-ES reset EIP. All APs share one VMSA,
 * so two page hashes serve any number of vCPUs. */
static ccg_result measure_vmsas(snp_gctx *g, const ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t page[CCG_SNP_PAGE_SIZE], bsp[CCG_SNP_LD_SIZE], ap[CCG_SNP_LD_SIZE];
    uint32_t sig = in->has_vcpu_sig ? in->vcpu_sig : 0;
    snp_vmsa_build(page, SNP_BSP_EIP, in->guest_features, sig, in->vmm_type);
    CCG_TRY(snp_gctx_sha384(g, page, sizeof(page), bsp));
    snp_vmsa_build(page, in->sev_es_reset_eip, in->guest_features, sig, in->vmm_type);
    CCG_TRY(snp_gctx_sha384(g, page, sizeof(page), ap));
    for (uint32_t i = 0; i < in->vcpus; i++) {
        CCG_TRY(snp_gctx_update(g, SNP_PAGE_VMSA, SNP_VMSA_GPA, i == 0 ? bsp : ap));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_measure(const ccg_snp_launch_inputs *in, uint8_t out[CCG_SNP_LD_SIZE])
{
    ccg_result result = CCG_FAILURE;
    snp_gctx g = {0};
    CCG_TRY(check_inputs(in));
    CCG_TRY(snp_gctx_init(&g, in->ovmf_hash));
    CCG_TRY(measure_sections(&g, in));
    CCG_TRY(measure_vmsas(&g, in));
    memcpy(out, g.ld, CCG_SNP_LD_SIZE);
    result = CCG_SUCCESS;
cleanup:
    snp_gctx_free(&g);
    return result;
}

ccg_result ccg_snp_ovmf_hash(const uint8_t *data, size_t len, uint8_t out[CCG_SNP_LD_SIZE])
{
    ccg_result result = CCG_FAILURE;
    snp_gctx g = {0};
    CCG_ENSURE_MSG(len > 0 && len % CCG_SNP_PAGE_SIZE == 0 && len <= CCG_SNP_OVMF_MAX_BYTES,
                   CCG_R_MEASURE_OVMF_MALFORMED, "the OVMF is %zu bytes, not whole pages up to %u", len,
                   CCG_SNP_OVMF_MAX_BYTES);
    CCG_TRY(snp_gctx_init(&g, NULL));
    /* The firmware is mapped so that it ends at 4 GiB. */
    CCG_TRY(snp_gctx_normal_pages(&g, SNP_FOUR_GIB - len, data, len));
    memcpy(out, g.ld, CCG_SNP_LD_SIZE);
    result = CCG_SUCCESS;
cleanup:
    snp_gctx_free(&g);
    return result;
}
