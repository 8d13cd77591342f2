/* vCPU types (QEMU's built-in EPYC models and their CPUID signatures) and VMM names. */
#include <stddef.h>
#include <strings.h>

#include "snp_internal.h"

typedef struct {
    const char *name;
    uint8_t family, model, stepping;
} vcpu_type;

/* The EPYC models of QEMU's builtin_x86_defs with family, model and stepping. */
static const vcpu_type types[] = {
    {"EPYC", 23, 1, 2},         {"EPYC-v1", 23, 1, 2},      {"EPYC-v2", 23, 1, 2},
    {"EPYC-IBPB", 23, 1, 2},    {"EPYC-v3", 23, 1, 2},      {"EPYC-v4", 23, 1, 2},
    {"EPYC-Rome", 23, 49, 0},   {"EPYC-Rome-v1", 23, 49, 0}, {"EPYC-Rome-v2", 23, 49, 0},
    {"EPYC-Rome-v3", 23, 49, 0}, {"EPYC-Milan", 25, 1, 1},   {"EPYC-Milan-v1", 25, 1, 1},
    {"EPYC-Milan-v2", 25, 1, 1}, {"EPYC-Genoa", 25, 17, 0},  {"EPYC-Genoa-v1", 25, 17, 0},
    {"EPYC-Turin", 26, 0, 0},
};

/* AMD CPUID specification #25481, Fn0000_0001_EAX: families above 0xf spill into the extended field. */
uint32_t ccg_snp_cpu_sig(uint32_t family, uint32_t model, uint32_t stepping)
{
    uint32_t fam_low = family > 0xf ? 0xf : family;
    uint32_t fam_high = family > 0xf ? (family - 0xf) & 0xff : 0;
    return fam_high << 20 | ((model >> 4) & 0xf) << 16 | fam_low << 8 | (model & 0xf) << 4 | (stepping & 0xf);
}

const char *ccg_snp_vcpu_type_lookup(const char *name, uint32_t *sig)
{
    for (size_t i = 0; name != NULL && i < sizeof(types) / sizeof(types[0]); i++) {
        if (strcasecmp(name, types[i].name) == 0) {
            if (sig != NULL) {
                *sig = ccg_snp_cpu_sig(types[i].family, types[i].model, types[i].stepping);
            }
            return types[i].name;
        }
    }
    return NULL;
}

const char *ccg_snp_vcpu_type_at(size_t i)
{
    return i < sizeof(types) / sizeof(types[0]) ? types[i].name : NULL;
}

ccg_result ccg_snp_vmm_type_from_name(const char *name, ccg_snp_vmm_type *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(name != NULL, CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED, "no VMM type");
    if (strcasecmp(name, "qemu") == 0) {
        *out = CCG_SNP_VMM_QEMU;
    } else if (strcasecmp(name, "ec2") == 0) {
        *out = CCG_SNP_VMM_EC2;
    } else if (strcasecmp(name, "gce") == 0) {
        *out = CCG_SNP_VMM_GCE;
    } else {
        CCG_BAIL(CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED, "VMM type '%.32s' is not qemu, ec2 or gce", name);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

const char *ccg_snp_vmm_type_name(ccg_snp_vmm_type vmm)
{
    switch (vmm) {
    case CCG_SNP_VMM_QEMU: return "qemu";
    case CCG_SNP_VMM_EC2: return "ec2";
    case CCG_SNP_VMM_GCE: return "gce";
    default: return NULL;
    }
}
