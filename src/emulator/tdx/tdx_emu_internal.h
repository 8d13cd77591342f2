/* The software TD's keys and certificates. */
#ifndef CCGATE_TDX_EMU_INTERNAL_H
#define CCGATE_TDX_EMU_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ccgate/tdx_emulator.h"

struct ccg_tdx_emu {
    ccg_tdx_emu_opts opts;
    EVP_PKEY *root_key, *ca_key, *pck_key, *tcb_key, *att_key, *other_key;
    X509 *root, *ca, *pck, *tcb;
};

/* Certificates (tdx_emu_certs.c). */
CCG_MUST_CHECK ccg_result tdx_emu_make_certs(struct ccg_tdx_emu *e);
/* ECDSA over SHA-256 as raw R||S (tdx_emu_certs.c). */
CCG_MUST_CHECK ccg_result tdx_emu_sign_raw(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t *raw, size_t half);
char *tdx_emu_pem(X509 *const *certs, int n);

#endif
