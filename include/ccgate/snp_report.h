/* The AMD SEV-SNP attestation report (SEV-SNP ABI specification, ATTESTATION_REPORT structure).
 * 1184 bytes; versions 2, 3 and 5. The signature covers bytes 0x000-0x29F. */
#ifndef CCGATE_SNP_REPORT_H
#define CCGATE_SNP_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_SNP_REPORT_SIZE 1184u
#define CCG_SNP_SIGNED_SIZE 0x2A0u
#define CCG_SNP_SIG_COMPONENT_SIZE 72u

/* Guest POLICY bits. */
#define CCG_SNP_POLICY_SMT (1ull << 16)
#define CCG_SNP_POLICY_RESERVED_ONE (1ull << 17)
#define CCG_SNP_POLICY_MIGRATE_MA (1ull << 18)
#define CCG_SNP_POLICY_DEBUG (1ull << 19)
#define CCG_SNP_POLICY_SINGLE_SOCKET (1ull << 20)
#define CCG_SNP_POLICY_CXL_ALLOW (1ull << 21)
#define CCG_SNP_POLICY_MEM_AES_256_XTS (1ull << 22)
#define CCG_SNP_POLICY_RAPL_DIS (1ull << 23)
#define CCG_SNP_POLICY_CIPHERTEXT_HIDING (1ull << 24)
#define CCG_SNP_POLICY_PAGE_SWAP_DISABLE (1ull << 25)
#define CCG_SNP_POLICY_KNOWN_MASK ((1ull << 26) - 1)

/* PLATFORM_INFO bits: signed platform state that newer firmware extends (docs/snp-report.md). No bit is
 * refused; bits outside CCG_SNP_PLATFORM_KNOWN_MASK are reported as the "unknown_bits" claim. */
#define CCG_SNP_PLATFORM_SMT_EN (1ull << 0)
#define CCG_SNP_PLATFORM_TSME_EN (1ull << 1)
#define CCG_SNP_PLATFORM_ECC_EN (1ull << 2)
#define CCG_SNP_PLATFORM_RAPL_DIS (1ull << 3)
#define CCG_SNP_PLATFORM_CIPHERTEXT_HIDING_EN (1ull << 4)
#define CCG_SNP_PLATFORM_ALIAS_CHECK_COMPLETE (1ull << 5)
#define CCG_SNP_PLATFORM_IOMMU_WRITE_SAFE (1ull << 6) /* set by Turin firmware; reserved in older revisions */
#define CCG_SNP_PLATFORM_TIO_EN (1ull << 7)
#define CCG_SNP_PLATFORM_KNOWN_MASK 0xFFull

/* VMPL of a report the host requested (SNP_HV_REPORT_REQ, SEV-SNP ABI 1.58); guest requests give 0-3. */
#define CCG_SNP_VMPL_HOST_REQUESTED 0xFFFFFFFFu

typedef enum {
    CCG_SNP_SIGNER_VCEK = 0,
    CCG_SNP_SIGNER_VLEK = 1,
    CCG_SNP_SIGNER_NONE = 7,
} ccg_snp_signer;

typedef enum {
    CCG_SNP_PRODUCT_UNKNOWN = 0,
    CCG_SNP_PRODUCT_MILAN,
    CCG_SNP_PRODUCT_GENOA,
    CCG_SNP_PRODUCT_TURIN,
} ccg_snp_product;

typedef struct {
    uint32_t version;
    uint32_t guest_svn;
    uint64_t policy;
    uint8_t family_id[16];
    uint8_t image_id[16];
    uint32_t vmpl;
    uint32_t signature_algo;
    uint64_t current_tcb;
    uint64_t platform_info;
    uint32_t flags; /* AUTHOR_KEY_EN bit 0, MASK_CHIP_KEY bit 1, SIGNING_KEY bits 4:2 */
    uint8_t report_data[64];
    uint8_t measurement[48];
    uint8_t host_data[32];
    uint8_t id_key_digest[48];
    uint8_t author_key_digest[48];
    uint8_t report_id[32];
    uint8_t report_id_ma[32];
    uint64_t reported_tcb;
    uint8_t cpuid_fam_id; /* v3+; zero in v2 */
    uint8_t cpuid_mod_id;
    uint8_t cpuid_step;
    uint8_t chip_id[64];
    uint64_t committed_tcb;
    uint8_t current_build, current_minor, current_major;
    uint8_t committed_build, committed_minor, committed_major;
    uint64_t launch_tcb;
    uint64_t launch_mit_vector; /* v5+ */
    uint64_t current_mit_vector; /* v5+ */
    uint8_t sig_r[CCG_SNP_SIG_COMPONENT_SIZE]; /* little-endian, as stored */
    uint8_t sig_s[CCG_SNP_SIG_COMPONENT_SIZE];
} ccg_snp_report;

static inline int ccg_snp_report_author_key_en(const ccg_snp_report *r) { return r->flags & 1; }
/* MASK_CHIP_KEY: the firmware did not sign the report (the signature is zero). */
static inline int ccg_snp_report_mask_chip_key(const ccg_snp_report *r) { return (r->flags >> 1) & 1; }
/* A masked chip ID (the platform's MaskChipId setting) reads as all zeros. */
int ccg_snp_report_chip_id_masked(const ccg_snp_report *r);
static inline ccg_snp_signer ccg_snp_report_signer(const ccg_snp_report *r)
{
    return (ccg_snp_signer)((r->flags >> 2) & 7);
}

/* Parses exactly CCG_SNP_REPORT_SIZE bytes. Refuses other sizes, unknown versions, an unknown
 * signature algorithm, a VMPL the ABI does not define, and a non-zero field the current ABI guarantees
 * to be zero (reason codes snp.*; docs/snp-report.md lists each rule). */
CCG_MUST_CHECK ccg_result ccg_snp_report_parse(const uint8_t *bytes, size_t len, ccg_snp_report *out);

/* The product from the v3+ CPUID fields; CCG_SNP_PRODUCT_UNKNOWN for v2 or unrecognized values. */
ccg_snp_product ccg_snp_product_from_cpuid(const ccg_snp_report *r);
const char *ccg_snp_product_name(ccg_snp_product p);
ccg_snp_product ccg_snp_product_from_name(const char *name);

/* A TCB_VERSION decoded per product. Milan and Genoa: BL byte 0, TEE byte 1, SNP byte 6,
 * microcode byte 7. Turin: FMC byte 0, BL byte 1, TEE byte 2, SNP byte 3, microcode byte 7. */
typedef struct {
    uint8_t fmc; /* Turin only */
    uint8_t bootloader;
    uint8_t tee;
    uint8_t snp;
    uint8_t microcode;
} ccg_snp_tcb;

/* Fails with snp.reserved_nonzero when the product's reserved TCB bytes are not zero. */
CCG_MUST_CHECK ccg_result ccg_snp_tcb_decode(ccg_snp_product p, uint64_t raw, ccg_snp_tcb *out);
/* The components alone, without checking or recording any error (for rendering claims). */
void ccg_snp_tcb_split(ccg_snp_product p, uint64_t raw, ccg_snp_tcb *out);
/* 1 when the product's reserved TCB bytes are all zero. */
int ccg_snp_tcb_reserved_ok(ccg_snp_product p, uint64_t raw);
uint64_t ccg_snp_tcb_encode(ccg_snp_product p, const ccg_snp_tcb *tcb);

/* The number of CHIP_ID bytes the product's VCEK hwID carries: 64 (Milan, Genoa) or 8 (Turin). */
size_t ccg_snp_hwid_len(ccg_snp_product p);

#endif
