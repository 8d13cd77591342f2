/* Internals of the SEV-SNP launch-digest calculator, shared by the files of src/measure only. */
#ifndef CCGATE_SNP_MEASURE_INTERNAL_H
#define CCGATE_SNP_MEASURE_INTERNAL_H

#include <openssl/evp.h>

#include "ccgate/reasons.h"
#include "ccgate/snp_measure.h"

/* SEV-SNP ABI PAGE_INFO.PAGE_TYPE values. */
enum {
    SNP_PAGE_NORMAL = 0x01,
    SNP_PAGE_VMSA = 0x02,
    SNP_PAGE_ZERO = 0x03,
    SNP_PAGE_UNMEASURED = 0x04,
    SNP_PAGE_SECRETS = 0x05,
    SNP_PAGE_CPUID = 0x06,
};

#define SNP_FOUR_GIB 0x100000000ull
/* The RMP records a VMSA at GPA -1, page-aligned and cut to 52 bits. */
#define SNP_VMSA_GPA 0xFFFFFFFFF000ull
#define SNP_BSP_EIP 0xfffffff0u
#define SNP_HASHES_TABLE_SIZE 176u /* 168 bytes, padded to 16 */

/* The guest context: the running launch digest and one reused SHA-384 context. */
typedef struct {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
    uint8_t ld[CCG_SNP_LD_SIZE];
} snp_gctx;

CCG_MUST_CHECK ccg_result snp_gctx_init(snp_gctx *g, const uint8_t *seed);
void snp_gctx_free(snp_gctx *g);
CCG_MUST_CHECK ccg_result snp_gctx_sha384(snp_gctx *g, const uint8_t *data, size_t len,
                                          uint8_t out[CCG_SNP_LD_SIZE]);
/* Extends the digest with one PAGE_INFO record whose CONTENTS is `contents` (48 bytes). */
CCG_MUST_CHECK ccg_result snp_gctx_update(snp_gctx *g, uint8_t page_type, uint64_t gpa, const uint8_t *contents);
/* Normal pages: CONTENTS is the SHA-384 of each page. len is a multiple of the page size. */
CCG_MUST_CHECK ccg_result snp_gctx_normal_pages(snp_gctx *g, uint64_t gpa, const uint8_t *data, size_t len);
/* Pages whose CONTENTS is zero (zero, unmeasured, secrets, CPUID). */
CCG_MUST_CHECK ccg_result snp_gctx_empty_pages(snp_gctx *g, uint8_t page_type, uint64_t gpa, uint64_t len);

/* Fills a 4096-byte VMSA page as QEMU, EC2 or GCE set it up at launch. */
void snp_vmsa_build(uint8_t page[CCG_SNP_PAGE_SIZE], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig,
                    ccg_snp_vmm_type vmm);

/* Builds the SEV hashes table page (QEMU's layout) with the table at offset_in_page. */
CCG_MUST_CHECK ccg_result snp_hashes_page(const ccg_snp_launch_inputs *in, uint32_t offset_in_page,
                                          uint8_t page[CCG_SNP_PAGE_SIZE]);
CCG_MUST_CHECK ccg_result snp_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* Checks sections: known types, page-aligned, non-empty, below 4 GiB, not overlapping. Raises `reason`. */
CCG_MUST_CHECK ccg_result snp_sections_check(const ccg_snp_ovmf_section *s, size_t n, ccg_reason reason);
/* Checks the hashes table address against the kernel-hashes section. Raises `reason`. */
CCG_MUST_CHECK ccg_result snp_hashes_gpa_check(const ccg_snp_ovmf_section *s, size_t n, uint32_t table_gpa,
                                               ccg_reason reason);
const ccg_snp_ovmf_section *snp_find_section(const ccg_snp_ovmf_section *s, size_t n, uint32_t type);

#endif
