/* Test-only GPU evidence (see gpu_testgen.h): fixed defaults over the software GPU's builders. */
#include "gpu_testgen.h"

#include <stdlib.h>
#include <string.h>

void gt_chain_opts_default(gt_chain_opts *o, const uint8_t fwid[48])
{
    ccg_gpu_emu_chain_opts_init(o, CCG_GPU_ARCH_HOPPER, fwid);
}

int gt_chain_make(const gt_chain_opts *o, gt_chain *out)
{
    return ccg_ok(ccg_gpu_emu_chain_make(o, out)) ? 0 : -1;
}

void gt_chain_free(gt_chain *c)
{
    ccg_gpu_emu_chain_free(c);
}

char *gt_chain_pem(const gt_chain *c, const int *order, int n, size_t *len)
{
    char *out = NULL;
    return ccg_ok(ccg_gpu_emu_certs_pem(c->certs, order, n, &out, len)) ? out : NULL;
}

char *gt_chain_pem_all(const gt_chain *c, size_t *len)
{
    static const int all[GT_CERTS] = {0, 1, 2, 3, 4};
    return gt_chain_pem(c, all, GT_CERTS, len);
}

void gt_opaque_add(gt_report *r, uint16_t type, const void *value, uint16_t len)
{
    if (ccg_failed(ccg_gpu_emu_opaque_add(r, type, value, len))) {
        abort();
    }
}

void gt_report_default(gt_report *r, const uint8_t *fwid)
{
    static const uint8_t vbios[8] = {0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};
    static const uint8_t nvdec0 = 0xAA;
    memset(r, 0, sizeof(*r));
    for (int i = 0; i < 32; i++) {
        r->nonce[i] = (uint8_t)i;
        r->response_nonce[i] = (uint8_t)(0xA0 + i);
    }
    r->n_blocks = 8;
    r->value_len = 48;
    for (int k = 0; k < CCG_GPU_MAX_MEASUREMENTS; k++) {
        memset(r->values[k], k + 1, sizeof(r->values[k]));
    }
    gt_opaque_add(r, CCG_GPU_OPAQUE_VBIOS_VERSION, vbios, sizeof(vbios));
    gt_opaque_add(r, CCG_GPU_OPAQUE_CHIP_SKU, "882\0\0\0\0\0", 9);
    gt_opaque_add(r, CCG_GPU_OPAQUE_PROJECT, "1010", 5);
    gt_opaque_add(r, CCG_GPU_OPAQUE_PROJECT_SKU, "0200", 5);
    gt_opaque_add(r, CCG_GPU_OPAQUE_DRIVER_VERSION, "550.90.07", 10);
    gt_opaque_add(r, CCG_GPU_OPAQUE_NVDEC0_STATUS, &nvdec0, 1);
    if (fwid != NULL) {
        gt_opaque_add(r, CCG_GPU_OPAQUE_FWID, fwid, 48);
    }
}

size_t gt_report_opaque_len_offset(const gt_report *r)
{
    return ccg_gpu_emu_spdm_opaque_len_offset(r);
}

uint8_t *gt_report_build(const gt_report *r, size_t *len)
{
    uint8_t *out = NULL;
    return ccg_ok(ccg_gpu_emu_spdm_build(r, &out, len)) ? out : NULL;
}

int gt_report_sign(EVP_PKEY *key, uint8_t *buf, size_t len)
{
    return ccg_ok(ccg_gpu_emu_spdm_sign(key, buf, len)) ? 0 : -1;
}
