/* The initial VMSA of each vCPU, as the hypervisor hands it to SNP_LAUNCH_UPDATE. Offsets follow the
 * SEV-ES save area of AMD's APM vol. 2, table B-4; the register values are those QEMU (KVM), EC2 and GCE
 * set at reset. The page is otherwise zero, so every field not set here is measured as zero. */
#include <string.h>

#include "snp_internal.h"

/* Save-area offsets. */
enum {
    VMSA_ES = 0x000,
    VMSA_CS = 0x010,
    VMSA_SS = 0x020,
    VMSA_DS = 0x030,
    VMSA_FS = 0x040,
    VMSA_GS = 0x050,
    VMSA_GDTR = 0x060,
    VMSA_LDTR = 0x070,
    VMSA_IDTR = 0x080,
    VMSA_TR = 0x090,
    VMSA_EFER = 0x0d0,
    VMSA_CR4 = 0x148,
    VMSA_CR0 = 0x158,
    VMSA_DR7 = 0x160,
    VMSA_DR6 = 0x168,
    VMSA_RFLAGS = 0x170,
    VMSA_RIP = 0x178,
    VMSA_G_PAT = 0x268,
    VMSA_RDX = 0x310,
    VMSA_SEV_FEATURES = 0x3b0,
    VMSA_XCR0 = 0x3e8,
    VMSA_MXCSR = 0x408,
    VMSA_X87_FCW = 0x410,
};

#define PAT_DEFAULT 0x0007040600070406ull /* APM vol. 2, A.3 */
#define PAT_GCE 0x00070106ull             /* GCE's hypervisor overrides the PAT */
#define RDX_CLOUD 0x600u                  /* EC2 and GCE report this family/model in RDX */

typedef struct {
    uint16_t cs_attr, ss_attr, tr_attr;
    uint32_t mxcsr;
    uint16_t fcw;
    uint64_t g_pat;
    int rdx_is_sig;
} vmm_regs;

static void put_le(uint8_t *p, uint64_t v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* A segment register: selector, attributes, limit, base. */
static void put_seg(uint8_t *page, size_t off, uint16_t sel, uint16_t attr, uint32_t limit, uint64_t base)
{
    put_le(page + off, sel, 2);
    put_le(page + off + 2, attr, 2);
    put_le(page + off + 4, limit, 4);
    put_le(page + off + 8, base, 8);
}

static vmm_regs regs_for(ccg_snp_vmm_type vmm, uint32_t eip)
{
    switch (vmm) {
    case CCG_SNP_VMM_EC2:
        /* EC2 leaves the BSP's code segment not yet accessed. */
        return (vmm_regs){eip == SNP_BSP_EIP ? 0x9a : 0x9b, 0x92, 0x83, 0, 0, PAT_DEFAULT, 0};
    case CCG_SNP_VMM_GCE:
        return (vmm_regs){0x9b, 0x93, 0x8b, 0, 0, PAT_GCE, 0};
    default:
        return (vmm_regs){0x9b, 0x93, 0x8b, 0x1f80, 0x37f, PAT_DEFAULT, 1};
    }
}

void snp_vmsa_build(uint8_t page[CCG_SNP_PAGE_SIZE], uint32_t eip, uint64_t sev_features, uint32_t vcpu_sig,
                    ccg_snp_vmm_type vmm)
{
    vmm_regs r = regs_for(vmm, eip);
    memset(page, 0, CCG_SNP_PAGE_SIZE);
    put_seg(page, VMSA_ES, 0, 0x93, 0xffff, 0);
    /* Real mode: CS.base holds the upper bits of the reset EIP, RIP the low 16. */
    put_seg(page, VMSA_CS, 0xf000, r.cs_attr, 0xffff, eip & 0xffff0000u);
    put_seg(page, VMSA_SS, 0, r.ss_attr, 0xffff, 0);
    put_seg(page, VMSA_DS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_FS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_GS, 0, 0x93, 0xffff, 0);
    put_seg(page, VMSA_GDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_LDTR, 0, 0x82, 0xffff, 0);
    put_seg(page, VMSA_IDTR, 0, 0, 0xffff, 0);
    put_seg(page, VMSA_TR, 0, r.tr_attr, 0xffff, 0);
    put_le(page + VMSA_EFER, 0x1000, 8); /* KVM sets EFER.SVME */
    put_le(page + VMSA_CR4, 0x40, 8);    /* CR4.MCE */
    put_le(page + VMSA_CR0, 0x10, 8);
    put_le(page + VMSA_DR7, 0x400, 8);
    put_le(page + VMSA_DR6, 0xffff0ff0, 8);
    put_le(page + VMSA_RFLAGS, 0x2, 8);
    put_le(page + VMSA_RIP, eip & 0xffffu, 8);
    put_le(page + VMSA_G_PAT, r.g_pat, 8);
    put_le(page + VMSA_RDX, r.rdx_is_sig ? vcpu_sig : RDX_CLOUD, 8);
    put_le(page + VMSA_SEV_FEATURES, sev_features, 8);
    put_le(page + VMSA_XCR0, 0x1, 8);
    put_le(page + VMSA_MXCSR, r.mxcsr, 4);
    put_le(page + VMSA_X87_FCW, r.fcw, 2);
}
