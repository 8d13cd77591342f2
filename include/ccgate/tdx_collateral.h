/* Intel DCAP collateral for TDX quotes (docs/tdx-quote.md): TCB info, QE identity, the root CA and PCK
 * CRLs, and their issuer chains.
 *
 * The signed JSON documents are kept as the exact bytes that were signed (the tcbInfo and
 * enclaveIdentity objects as received) and are never re-serialised. */
#ifndef CCGATE_TDX_COLLATERAL_H
#define CCGATE_TDX_COLLATERAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/util.h"

#define CCG_TDX_COLLATERAL_MAX (4u << 20)

typedef struct {
    char *tcb_info;               /* raw JSON of the tcbInfo object: the signed bytes */
    size_t tcb_info_len;
    uint8_t tcb_info_sig[64];     /* ECDSA P-256 R||S */
    char *tcb_info_issuer_chain;  /* PEM: TCB signing certificate, root */
    size_t tcb_info_issuer_chain_len;
    char *qe_identity;            /* raw JSON of the enclaveIdentity object */
    size_t qe_identity_len;
    uint8_t qe_identity_sig[64];
    char *qe_identity_issuer_chain;
    size_t qe_identity_issuer_chain_len;
    uint8_t *pck_crl;             /* DER (or PEM) */
    size_t pck_crl_len;
    char *pck_crl_issuer_chain;   /* PEM: PCK Platform/Processor CA, root */
    size_t pck_crl_issuer_chain_len;
    uint8_t *root_ca_crl;         /* DER (or PEM) */
    size_t root_ca_crl_len;
} ccg_tdx_collateral;

/* The JSON bundle dcap-qvl uses: {"tcb_info": "<raw JSON>", "tcb_info_signature": "<hex>",
 * "tcb_info_issuer_chain": "<PEM>", "qe_identity", "qe_identity_signature", "qe_identity_issuer_chain",
 * "pck_crl": "<hex DER or PEM>", "pck_crl_issuer_chain", "root_ca_crl"}. Strict: every member is
 * required, unknown members are refused. Fails with tdx.collateral_malformed. */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_parse(const char *text, size_t len, ccg_tdx_collateral *out);
/* From a cache directory keyed by FMSPC: DIR/<FMSPC, 12 uppercase hex digits>.json, a bundle as above.
 * A missing file fails with collateral.missing. A bundle whose TCB info, QE identity, PCK CRL or root
 * CA CRL is past its nextUpdate at now fails with collateral.expired naming the item (the cache must be
 * refreshed). */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_load_dir(const char *dir, const uint8_t fmspc[6], ccg_time now,
                                                      ccg_tdx_collateral *out);
/* Writes a bundle into the cache directory under its TCB info's FMSPC (atomically: a temporary file
 * renamed). The bundle is parsed first; its TCB info must name the FMSPC. */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_store_dir(const char *dir, const char *text, size_t len);
/* The FMSPC the collateral's TCB info names (read, not verified: the verifier checks it). */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_fmspc(const ccg_tdx_collateral *c, uint8_t fmspc[6]);
void ccg_tdx_collateral_free(ccg_tdx_collateral *c);

#endif
