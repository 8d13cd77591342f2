/* Internal to the TDX PCS client (src/collateral/tdx_pcs*.c). */
#ifndef CCGATE_TDX_PCS_INTERNAL_H
#define CCGATE_TDX_PCS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/tdx_pcs.h"

typedef struct {
    long status;
    long retry_after; /* seconds; 0 when absent */
    uint8_t *body;    /* NUL-terminated past len */
    size_t len;
    char *header;     /* the asked-for header, percent-decoded; NULL when not asked */
} tdx_pcs_reply;

/* GET url; with header != NULL a 200 answer must carry it. Fails with collateral.fetch_failed,
 * collateral.missing (404) or collateral.rate_limited (429 after every retry). */
CCG_MUST_CHECK ccg_result tdx_pcs_get(const ccg_tdx_pcs_config *cfg, const char *url, const char *what,
                                      const char *header, tdx_pcs_reply *out);
void tdx_pcs_reply_free(tdx_pcs_reply *r);

/* The four requests, the bundle, its check, and DIR/<FMSPC>.json (tdx_pcs.c). */
CCG_MUST_CHECK ccg_result tdx_pcs_fetch_store(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6], const char *ca);

#endif
