/* Building launch inputs: defaults, the OVMF's contribution, the direct-boot kernel and the vCPU type. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snp_internal.h"

void ccg_snp_launch_inputs_init(ccg_snp_launch_inputs *in)
{
    memset(in, 0, sizeof(*in));
    in->vcpus = 1;
    in->guest_features = 0x1;
    in->vmm_type = CCG_SNP_VMM_QEMU;
}

void ccg_snp_launch_inputs_free(ccg_snp_launch_inputs *in)
{
    if (in == NULL) {
        return;
    }
    free(in->cmdline);
    in->cmdline = NULL;
}

ccg_result ccg_snp_launch_inputs_set_ovmf(ccg_snp_launch_inputs *in, const uint8_t *data, size_t len,
                                          const uint8_t *ovmf_hash)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_ovmf_info info;
    CCG_ENSURE_MSG(len > 0 && len % CCG_SNP_PAGE_SIZE == 0 && len <= CCG_SNP_OVMF_MAX_BYTES,
                   CCG_R_MEASURE_OVMF_MALFORMED, "the OVMF is %zu bytes, not whole pages up to %u", len,
                   CCG_SNP_OVMF_MAX_BYTES);
    CCG_TRY(ccg_snp_ovmf_parse(data, len, &info));
    /* QEMU refuses to launch an SNP guest from such a build; a digest for it would never be seen. */
    CCG_ENSURE_MSG(info.has_metadata, CCG_R_MEASURE_OVMF_NO_SEV_METADATA, "the OVMF has no SEV metadata");
    CCG_ENSURE_MSG(info.has_reset_eip, CCG_R_MEASURE_OVMF_NO_SEV_METADATA, "the OVMF has no SEV-ES reset block");
    if (ovmf_hash != NULL) {
        memcpy(in->ovmf_hash, ovmf_hash, CCG_SNP_LD_SIZE);
    } else {
        CCG_TRY(ccg_snp_ovmf_hash(data, len, in->ovmf_hash));
    }
    memcpy(in->sections, info.sections, sizeof(in->sections));
    in->section_count = info.section_count;
    in->sev_es_reset_eip = info.sev_es_reset_eip;
    in->sev_hashes_table_gpa = info.sev_hashes_table_gpa;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_launch_inputs_set_ovmf_sha256(ccg_snp_launch_inputs *in, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(snp_sha256(data, len, in->ovmf_sha256));
    in->has_ovmf_sha256 = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_launch_inputs_set_kernel(ccg_snp_launch_inputs *in, const uint8_t kernel_hash[32],
                                            const uint8_t *initrd_hash, const char *cmdline)
{
    ccg_result result = CCG_FAILURE;
    char *copy = NULL;
    if (cmdline != NULL) {
        CCG_ENSURE_MSG(strlen(cmdline) < CCG_SNP_CMDLINE_MAX, CCG_R_MEASURE_INPUT_INVALID,
                       "the cmdline is longer than %u bytes", CCG_SNP_CMDLINE_MAX - 1);
        copy = strdup(cmdline);
        CCG_ENSURE_ALLOC(copy);
    }
    memcpy(in->kernel_hash, kernel_hash, 32);
    if (initrd_hash != NULL) {
        memcpy(in->initrd_hash, initrd_hash, 32);
    } else {
        /* No initrd is measured as an empty one. */
        CCG_TRY(snp_sha256((const uint8_t *)"", 0, in->initrd_hash));
    }
    free(in->cmdline);
    in->cmdline = copy;
    copy = NULL;
    in->has_kernel = 1;
    result = CCG_SUCCESS;
cleanup:
    free(copy);
    return result;
}

ccg_result ccg_snp_launch_inputs_set_vcpu_type(ccg_snp_launch_inputs *in, const char *name)
{
    ccg_result result = CCG_FAILURE;
    uint32_t sig = 0;
    const char *canonical = ccg_snp_vcpu_type_lookup(name, &sig);
    CCG_ENSURE_MSG(canonical != NULL, CCG_R_MEASURE_VCPU_TYPE_UNKNOWN, "unknown vCPU type '%.32s'",
                   name ? name : "");
    snprintf(in->vcpu_type, sizeof(in->vcpu_type), "%s", canonical);
    in->vcpu_sig = sig;
    in->has_vcpu_sig = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
