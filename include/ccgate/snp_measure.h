/* SEV-SNP launch measurement: recompute the MEASUREMENT an AMD SEV-SNP guest will report from its launch
 * inputs (OVMF, kernel/initrd/cmdline, vCPUs, guest features, VMM), per the SEV-SNP ABI's SNP_LAUNCH_UPDATE
 * page-info chain. The results agree with virtee/sev-snp-measure (docs/measurement.md).
 *
 * The launch inputs are a plain struct, so a verifier can hold them without firmware or kernel files: the
 * OVMF contributes its page digest (ovmf_hash), its SEV metadata sections and two addresses; the kernel,
 * initrd and cmdline contribute SHA-256 hashes. The same struct round-trips through a JSON document. */
#ifndef CCGATE_SNP_MEASURE_H
#define CCGATE_SNP_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ccgate/result.h"

#define CCG_SNP_LD_SIZE 48
#define CCG_SNP_PAGE_SIZE 4096u
#define CCG_SNP_MAX_SECTIONS 32
#define CCG_SNP_MAX_VCPUS 4096u
#define CCG_SNP_OVMF_MAX_BYTES (128u << 20)
#define CCG_SNP_CMDLINE_MAX 65536u
#define CCG_SNP_JSON_MAX_BYTES (1u << 20)

/* OVMF SEV metadata section types (edk2 OvmfPkg/ResetVector/X64/OvmfSevMetadata.asm). */
typedef enum {
    CCG_SNP_SECTION_SNP_SEC_MEM = 1,
    CCG_SNP_SECTION_SNP_SECRETS = 2,
    CCG_SNP_SECTION_CPUID = 3,
    CCG_SNP_SECTION_SVSM_CAA = 4,
    CCG_SNP_SECTION_KERNEL_HASHES = 0x10,
} ccg_snp_section_type;

typedef enum {
    CCG_SNP_VMM_QEMU = 1,
    CCG_SNP_VMM_EC2 = 2,
    CCG_SNP_VMM_GCE = 3,
} ccg_snp_vmm_type;

typedef struct {
    uint32_t gpa;
    uint32_t size;
    uint32_t section_type;
} ccg_snp_ovmf_section;

/* What ccgate reads from an OVMF image: its footer GUID table and SEV metadata. */
typedef struct {
    ccg_snp_ovmf_section sections[CCG_SNP_MAX_SECTIONS];
    size_t section_count;
    int has_metadata;
    int has_reset_eip;
    uint32_t sev_es_reset_eip;
    uint32_t sev_hashes_table_gpa; /* 0: the OVMF reserves no SEV hashes table */
} ccg_snp_ovmf_info;

typedef struct {
    uint8_t ovmf_hash[CCG_SNP_LD_SIZE]; /* the launch digest after the OVMF pages */
    ccg_snp_ovmf_section sections[CCG_SNP_MAX_SECTIONS];
    size_t section_count;
    uint32_t sev_hashes_table_gpa;
    uint32_t sev_es_reset_eip;

    int has_kernel; /* the SEV hashes table is measured only with a kernel */
    uint8_t kernel_hash[32];
    uint8_t initrd_hash[32]; /* SHA-256 of the empty string when there is no initrd */
    char *cmdline;           /* owned, NUL-terminated, no NUL inside; NULL means "" */

    uint32_t vcpus;
    char vcpu_type[24]; /* canonical name, or "" for a raw signature */
    int has_vcpu_sig;
    uint32_t vcpu_sig; /* CPUID Fn0000_0001_EAX; only QEMU puts it in the VMSA */
    uint64_t guest_features;
    ccg_snp_vmm_type vmm_type;

    int has_ovmf_sha256; /* informational: the firmware file's SHA-256 */
    uint8_t ovmf_sha256[32];
} ccg_snp_launch_inputs;

/* Defaults as sev-snp-measure: 1 vCPU, guest features 0x1, QEMU, no kernel. */
void ccg_snp_launch_inputs_init(ccg_snp_launch_inputs *in);
void ccg_snp_launch_inputs_free(ccg_snp_launch_inputs *in);

/* Parses the footer GUID table and SEV metadata; anything malformed is measure.ovmf_malformed. */
CCG_MUST_CHECK ccg_result ccg_snp_ovmf_parse(const uint8_t *data, size_t len, ccg_snp_ovmf_info *out);
/* The launch digest after measuring the whole OVMF as normal pages ending at 4 GiB. */
CCG_MUST_CHECK ccg_result ccg_snp_ovmf_hash(const uint8_t *data, size_t len, uint8_t out[CCG_SNP_LD_SIZE]);

/* Takes the OVMF's sections and addresses. With ovmf_hash NULL the image's pages are hashed; otherwise the
 * given precomputed digest is used (sev-snp-measure's --snp-ovmf-hash). An OVMF without SEV metadata or
 * SEV-ES reset block is measure.ovmf_no_sev_metadata: no SNP guest can launch from it. */
CCG_MUST_CHECK ccg_result ccg_snp_launch_inputs_set_ovmf(ccg_snp_launch_inputs *in, const uint8_t *data, size_t len,
                                                         const uint8_t *ovmf_hash);
/* Records the firmware file's SHA-256 (informational: the JSON document names the file it came from). */
CCG_MUST_CHECK ccg_result ccg_snp_launch_inputs_set_ovmf_sha256(ccg_snp_launch_inputs *in, const uint8_t *data,
                                                                size_t len);
/* Direct boot: SHA-256 of kernel and initrd (NULL initrd_hash: no initrd), and the cmdline (NULL: none). */
CCG_MUST_CHECK ccg_result ccg_snp_launch_inputs_set_kernel(ccg_snp_launch_inputs *in, const uint8_t kernel_hash[32],
                                                           const uint8_t *initrd_hash, const char *cmdline);
/* A vCPU type name (EPYC, EPYC-v1..v4, EPYC-Rome, EPYC-Milan, EPYC-Genoa, ...; any case), else
 * measure.vcpu_type_unknown. */
CCG_MUST_CHECK ccg_result ccg_snp_launch_inputs_set_vcpu_type(ccg_snp_launch_inputs *in, const char *name);

/* The launch digest. Fails with a measure.* code when the inputs are inconsistent. */
CCG_MUST_CHECK ccg_result ccg_snp_measure(const ccg_snp_launch_inputs *in, uint8_t out[CCG_SNP_LD_SIZE]);

/* The launch-inputs JSON document (docs/measurement.md). measurement may be NULL. New reference in *out. */
CCG_MUST_CHECK ccg_result ccg_snp_launch_inputs_to_json(const ccg_snp_launch_inputs *in, const uint8_t *measurement,
                                                        json_t **out);
/* Strict parse: unknown keys, wrong types and bad values are measure.input_invalid. When the document
 * carries "measurement", *has_measurement is set and the digest copied to measurement (may be NULL). */
CCG_MUST_CHECK ccg_result ccg_snp_launch_inputs_from_json(const char *text, size_t len, ccg_snp_launch_inputs *in,
                                                          int *has_measurement, uint8_t *measurement);

/* vCPU types and VMM names. */
uint32_t ccg_snp_cpu_sig(uint32_t family, uint32_t model, uint32_t stepping);
/* Looks a vCPU type up (any case); returns the canonical name, or NULL when unknown. */
const char *ccg_snp_vcpu_type_lookup(const char *name, uint32_t *sig);
/* The i-th known vCPU type name, or NULL past the end. */
const char *ccg_snp_vcpu_type_at(size_t i);
CCG_MUST_CHECK ccg_result ccg_snp_vmm_type_from_name(const char *name, ccg_snp_vmm_type *out);
const char *ccg_snp_vmm_type_name(ccg_snp_vmm_type vmm);

/* SHA-256 of a file, streamed (kernels and initrds may be large). */
CCG_MUST_CHECK ccg_result ccg_snp_sha256_file(const char *path, uint8_t out[32]);

#endif
