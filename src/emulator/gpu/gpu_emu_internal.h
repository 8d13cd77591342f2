/* Inside the software GPU (src/emulator/gpu/). */
#ifndef CCGATE_GPU_EMU_INTERNAL_H
#define CCGATE_GPU_EMU_INTERNAL_H

#include "ccgate/gpu_emulator.h"

#define GPU_EMU_T_2022 ((ccg_time)1640995200) /* 2022-01-01T00:00:00Z */
#define GPU_EMU_T_2040 ((ccg_time)2208988800) /* 2040-01-01T00:00:00Z */

/* One P-384 certificate of the emulator's chains; issuer NULL makes it self-signed. */
typedef struct {
    const char *cn;
    long serial;
    ccg_time not_before;
    ccg_time not_after;
    int ca;
    int no_aki;
    const ccg_gpu_emu_chain_opts *fwid; /* a GPU leaf: its FWID extension(s); NULL for none */
} gpu_emu_cert_spec;

X509 *gpu_emu_cert(const gpu_emu_cert_spec *s, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key);

/* "96.00.9F.00.01" -> its five bytes, in the order written. */
CCG_MUST_CHECK ccg_result gpu_emu_vbios_bytes(const char *text, uint8_t out[5]);

/* RIM index i belongs to the VBIOS RIM (else to the driver's). Unsigned wrap-around keeps one compare. */
static inline int gpu_emu_is_vbios_index(unsigned i)
{
    return i - (unsigned)CCG_GPU_EMU_VBIOS_FIRST < (unsigned)CCG_GPU_EMU_VBIOS_COUNT;
}

/* The driver and VBIOS RIM IDs the verifier derives from evidence with this config. */
CCG_MUST_CHECK ccg_result gpu_emu_rim_ids(const ccg_gpu_emu_config *c, char driver_id[128], char vbios_id[128]);
/* Generates the TEST RIM root (its key is dropped) and the signer key and certificate. */
CCG_MUST_CHECK ccg_result gpu_emu_rim_signer_make(ccg_gpu_emulator *emu);

/* The arch, VBIOS version and RIM ID parts of a config are usable. */
CCG_MUST_CHECK ccg_result gpu_emu_config_check(const ccg_gpu_emu_config *c);

struct ccg_gpu_emulator {
    ccg_gpu_emu_config cfg;
    ccg_gpu_emu_chain chain; /* keys[0] always; the CA keys only in the process that generated them */
    EVP_PKEY *rim_key;       /* the TEST RIM signer */
    X509 *rim_signer;
    X509 *rim_root;
};

#endif
