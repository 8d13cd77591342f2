/* TDX collateral from a store of named blobs (the key broker's collateral uploaded through its admin
 * API, docs/kbs.md "Uploaded collateral"). The PCS v4 items a quote needs, one ID each, as PCS serves
 * them (docs/tdx-quote.md, "Collateral from the broker's store"):
 *
 *   tdx/tcb_info/{FMSPC}        {"tcb_info_response", "tcb_info_issuer_chain"}
 *                               or {"tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"}
 *   tdx/qe_identity             {"qe_identity_response", "qe_identity_issuer_chain"}
 *                               or {"qe_identity", "qe_identity_signature", "qe_identity_issuer_chain"}
 *   tdx/pck_crl/{platform|processor}   {"pck_crl", "pck_crl_issuer_chain"}
 *   tdx/root_ca_crl             {"root_ca_crl"}
 *
 * Each blob is a JSON object holding that item's members of the dcap-qvl bundle (tdx_collateral.h),
 * FMSPC in 12 uppercase hex digits. The four are joined into one bundle and parsed as a file's would be;
 * the verifier then checks every signature, chain and nextUpdate on every use, as for a file. */
#ifndef CCGATE_TDX_COLLATERAL_STORE_H
#define CCGATE_TDX_COLLATERAL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/tdx_collateral.h"
#include "ccgate/util.h"

#define CCG_TDX_COLLATERAL_ITEMS 4
#define CCG_TDX_COLLATERAL_ID_MAX 40

/* As ccg_snp_collateral_lookup: *found 0 on a miss; a failure is the source's own error. */
typedef ccg_result (*ccg_tdx_collateral_lookup)(void *ctx, const char *collateral_id, uint8_t **out,
                                                size_t *out_len, int *found);

/* The four IDs the quote needs, in the order above (FMSPC and PCK CA read from the quote's PCK
 * certificate without trusting it: tdx.cert_chain_invalid / tdx.collateral_malformed otherwise). */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_ids(const uint8_t *quote, size_t quote_len,
                                                 char ids[CCG_TDX_COLLATERAL_ITEMS][CCG_TDX_COLLATERAL_ID_MAX]);

/* The quote's collateral from the lookup. None of the four stored, or no IDs to be read from the quote:
 * *found 0, success (other sources may serve; the verifier names a defective quote's code). Some but not all: collateral.missing naming the absent IDs (never a mix with a file: an
 * uploaded CRL must not sit beside an older file's). All four: the joined bundle, parsed (a blob that is
 * not its item's members: tdx.collateral_malformed naming the ID). */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_from_lookup(ccg_tdx_collateral_lookup lookup, void *ctx,
                                                         const uint8_t *quote, size_t quote_len,
                                                         ccg_tdx_collateral *out, int *found);

/* 1 when the ID is under "tdx/" (then ccg_tdx_collateral_item_check applies). */
int ccg_tdx_collateral_id_is_tdx(const char *collateral_id);

/* An upload under tdx/: the ID must name an item (admin.request_malformed otherwise) and the bytes must
 * be that item's members, well formed (tdx.collateral_malformed): the issuer chains PEM certificates,
 * the CRLs CRLs, the signed documents JSON objects with a 64-byte signature, a TCB info for the FMSPC
 * of its ID. A document or CRL past its nextUpdate at now is collateral.expired: a stale upload is
 * refused at once rather than stored to be refused at every appraisal. Signatures and chains are not
 * judged here; the verifier judges them on every use. */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_item_check(const char *collateral_id, const uint8_t *data, size_t len,
                                                        ccg_time now);

#endif
