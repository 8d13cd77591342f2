/* Intel TDX DCAP quotes (docs/tdx-quote.md): versions 4 and 5, TD report 1.0 and 1.5 bodies, ECDSA
 * P-256 signature data with certification data type 6 (QE report) holding type 5 (PCK chain).
 *
 * The parser borrows the caller's buffer: every pointer below points into it. It reads strictly by
 * the length fields; bytes after the signature data are tolerated (real quotes are padded) and are
 * never part of the signed region. */
#ifndef CCGATE_TDX_QUOTE_H
#define CCGATE_TDX_QUOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_TDX_HEADER_SIZE 48
#define CCG_TDX_TD10_SIZE 584
#define CCG_TDX_TD15_SIZE 648
#define CCG_TDX_QE_REPORT_SIZE 384
#define CCG_TDX_TEE_TYPE 0x81u
#define CCG_TDX_ATT_KEY_ECDSA_P256 2u
#define CCG_TDX_BODY_TD10 2u
#define CCG_TDX_BODY_TD15 3u
#define CCG_TDX_MAX_QUOTE (1u << 20)

/* TDATTRIBUTES bits the TDX module ABI defines (Linux's asm/shared/tdx.h names the same). */
#define CCG_TDX_ATTR_DEBUG (1ull << 0)
#define CCG_TDX_ATTR_HGS_PLUS_PROF (1ull << 4)
#define CCG_TDX_ATTR_PERF_PROF (1ull << 5)
#define CCG_TDX_ATTR_PMT_PROF (1ull << 6)
#define CCG_TDX_ATTR_ICSSD (1ull << 16)
#define CCG_TDX_ATTR_LASS (1ull << 27)
#define CCG_TDX_ATTR_SEPT_VE_DISABLE (1ull << 28)
#define CCG_TDX_ATTR_MIGRATABLE (1ull << 29)
#define CCG_TDX_ATTR_PKS (1ull << 30)
#define CCG_TDX_ATTR_KL (1ull << 31)
#define CCG_TDX_ATTR_TPA (1ull << 62)
#define CCG_TDX_ATTR_PERFMON (1ull << 63)
#define CCG_TDX_ATTR_DEFINED                                                                                \
    (CCG_TDX_ATTR_DEBUG | CCG_TDX_ATTR_HGS_PLUS_PROF | CCG_TDX_ATTR_PERF_PROF | CCG_TDX_ATTR_PMT_PROF |     \
     CCG_TDX_ATTR_ICSSD | CCG_TDX_ATTR_LASS | CCG_TDX_ATTR_SEPT_VE_DISABLE | CCG_TDX_ATTR_MIGRATABLE |      \
     CCG_TDX_ATTR_PKS | CCG_TDX_ATTR_KL | CCG_TDX_ATTR_TPA | CCG_TDX_ATTR_PERFMON)

/* The TD report body; a 1.0 body leaves tee_tcb_svn2 and mrservicetd zero (is_td15 = 0). */
typedef struct {
    uint8_t tee_tcb_svn[16];
    uint8_t mrseam[48];
    uint8_t mrsignerseam[48];
    uint8_t seam_attributes[8];
    uint64_t td_attributes; /* little-endian on the wire */
    uint64_t xfam;
    uint8_t mrtd[48];
    uint8_t mrconfigid[48];
    uint8_t mrowner[48];
    uint8_t mrownerconfig[48];
    uint8_t rtmr[4][48];
    uint8_t report_data[64];
    uint8_t tee_tcb_svn2[16];
    uint8_t mrservicetd[48];
    int is_td15;
} ccg_tdx_td_report;

/* The QE's SGX enclave report (384 bytes). */
typedef struct {
    uint8_t cpusvn[16];
    uint32_t miscselect;
    uint8_t attributes[16];
    uint8_t mrenclave[32];
    uint8_t mrsigner[32];
    uint16_t isvprodid;
    uint16_t isvsvn;
    uint8_t report_data[64];
} ccg_tdx_qe_report;

typedef struct {
    uint16_t version;       /* 4 or 5 */
    uint16_t att_key_type;  /* 2: ECDSA P-256 */
    uint32_t tee_type;      /* 0x81 */
    uint8_t qe_vendor_id[16];
    uint8_t user_data[20];
    uint16_t body_type;     /* CCG_TDX_BODY_TD10 or _TD15 (a v4 quote: TD10) */
    ccg_tdx_td_report td;

    const uint8_t *signed_data; /* header and body (v5: with body type and size): what the quote signature covers */
    size_t signed_len;
    const uint8_t *signature;   /* 64 bytes R||S, big-endian */
    const uint8_t *att_key;     /* 64 bytes X||Y, big-endian */

    ccg_tdx_qe_report qe_report;
    const uint8_t *qe_report_raw; /* 384 bytes: what the QE report signature covers */
    const uint8_t *qe_report_sig; /* 64 bytes R||S */
    const uint8_t *qe_auth_data;
    size_t qe_auth_len;
    const uint8_t *pck_chain;     /* certification data type 5: PEM, leaf first */
    size_t pck_chain_len;
    size_t trailing;              /* bytes after the signature data (tolerated, unsigned) */
} ccg_tdx_quote;

/* Fails with tdx.quote_version_unsupported, tdx.tee_type_unsupported, tdx.att_key_type_unsupported,
 * tdx.qe_vendor_unknown, tdx.body_type_unsupported, tdx.body_size_invalid,
 * tdx.signature_data_malformed, tdx.cert_data_type_unsupported or input.truncated. */
CCG_MUST_CHECK ccg_result ccg_tdx_quote_parse(const uint8_t *data, size_t len, ccg_tdx_quote *out);

/* The certification data alone (type u16 LE | size u32 LE | data; type 6 holding type 5), as found
 * after the signature and attestation key. Fills the qe_* and pck_chain members of out. */
CCG_MUST_CHECK ccg_result ccg_tdx_cert_data_parse(const uint8_t *data, size_t len, ccg_tdx_quote *out);

/* A quote file: binary, or hex text (whitespace and an optional 0x prefix ignored). *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_tdx_quote_decode(const uint8_t *data, size_t len, uint8_t **out, size_t *out_len);

#endif
