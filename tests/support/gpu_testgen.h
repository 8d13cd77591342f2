/* Test-only GPU evidence on top of the software GPU's builders (include/ccgate/gpu_emulator.h): a
 * five-certificate P-384 chain under a test root (leaf FWID in the Hopper or the DICE TcbInfo form)
 * and SPDM 1.1 GET_MEASUREMENTS request ‖ response bytes signed by the leaf, with fixed, recognisable
 * defaults. Used to flip one field class at a time and to exercise time and chain rules the real
 * vectors cannot (they are valid until 9999). */
#ifndef CCGATE_GPU_TESTGEN_H
#define CCGATE_GPU_TESTGEN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/gpu_emulator.h"
#include "ccgate/util.h"

#define GT_CERTS CCG_GPU_EMU_CERTS /* 0 leaf, 1 BROM, 2 provisioner ICA, 3 identity CA, 4 root */

enum { GT_FWID_NONE = CCG_GPU_EMU_FWID_NONE, GT_FWID_HOPPER = CCG_GPU_EMU_FWID_HOPPER,
       GT_FWID_DICE = CCG_GPU_EMU_FWID_DICE };

typedef ccg_gpu_emu_chain_opts gt_chain_opts;
typedef ccg_gpu_emu_chain gt_chain;

/* A Hopper chain with the Hopper FWID form. */
void gt_chain_opts_default(gt_chain_opts *o, const uint8_t fwid[48]);
/* Returns 0 on success. */
int gt_chain_make(const gt_chain_opts *o, gt_chain *out);
void gt_chain_free(gt_chain *c);
/* PEM of the certificates at the given indexes, in that order (malloc'd, NUL-terminated). */
char *gt_chain_pem(const gt_chain *c, const int *order, int n, size_t *len);
/* PEM of the whole chain, leaf first. */
char *gt_chain_pem_all(const gt_chain *c, size_t *len);

/* Offsets in the built report (for the default of 48-byte values). */
#define GT_OFF_REQ_VERSION 0
#define GT_OFF_REQ_CODE 1
#define GT_OFF_REQ_PARAM1 2
#define GT_OFF_REQ_PARAM2 3
#define GT_OFF_REQ_NONCE 4
#define GT_OFF_REQ_SLOT 36
#define GT_OFF_RESP_VERSION 37
#define GT_OFF_RESP_CODE 38
#define GT_OFF_RESP_PARAM1 39
#define GT_OFF_RESP_PARAM2 40
#define GT_OFF_RESP_BLOCKS 41
#define GT_OFF_RESP_RECLEN 42
#define GT_OFF_RECORD 45
#define GT_BLOCK_SIZE(vlen) (4 + 3 + (vlen))

typedef ccg_gpu_emu_spdm gt_report;

/* Defaults: nonce 00..1f, 8 blocks (block i filled with i), 48-byte values, opaque with driver
 * 550.90.07, VBIOS 96.00.9F.00.01, NVDEC0 0xAA, project/SKU strings, and the FWID when fwid is not
 * NULL. */
void gt_report_default(gt_report *r, const uint8_t *fwid);
/* Aborts when the TLV does not fit. */
void gt_opaque_add(gt_report *r, uint16_t type, const void *value, uint16_t len);
/* The unsigned report (signature bytes zero) into a malloc'd buffer. */
uint8_t *gt_report_build(const gt_report *r, size_t *len);
/* (Re)signs bytes [0, len-96) with key, writing r||s into the last 96 bytes. Returns 0 on success. */
int gt_report_sign(EVP_PKEY *key, uint8_t *buf, size_t len);
/* Offset of the opaque length field in a report built from r. */
size_t gt_report_opaque_len_offset(const gt_report *r);

#endif
