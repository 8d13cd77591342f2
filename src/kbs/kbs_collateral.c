/* Collateral uploaded through the admin API (POST /admin/v0/collateral, `ccgate kbs collateral put`) is
 * the first source of the collateral verification reads: this lookup reads the newest version of a
 * collateral ID from the store. SNP (the broker's ccg_snp_kds_config): the IDs of ccg_snp_kds_item_id
 * (snp/{product}/vcek/{hwid}/{tcb}, snp/{product}/cert_chain, snp/{product}/crl, and the VLEK forms);
 * a configured cache directory (and KDS) is consulted only on a miss. TDX (kbs_tdx.c): the four PCS
 * items of tdx_collateral_store.h, before the configured file or directory. Verification judges what
 * it reads from here exactly as what it reads from a file. */
#include "kbs_internal.h"

#include <string.h>

#include "ccgate/error.h"
#include "ccgate/tdx_collateral_store.h"

ccg_result kbs_collateral_lookup(void *ctx, const char *collateral_id, uint8_t **out, size_t *out_len, int *found)
{
    ccg_result result = CCG_FAILURE;
    ccg_kbs *k = ctx;
    ccg_store_doc doc;
    memset(&doc, 0, sizeof(doc));
    *out = NULL;
    *out_len = 0;
    *found = 0;
    if (ccg_failed(ccg_store_doc_get(k->store, CCG_DOC_COLLATERAL, collateral_id, 0, &doc))) {
        /* a miss is not an error here: the cache, or the verifier, says what is missing */
        if (ccg_error_reason() != CCG_R_COLLATERAL_MISSING) {
            goto cleanup; /* the store's own error, e.g. store.unavailable */
        }
        ccg_error_clear();
        result = CCG_SUCCESS;
        goto cleanup;
    }
    *out = doc.body;
    *out_len = doc.len;
    doc.body = NULL;
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    ccg_store_doc_free(&doc);
    return result;
}

ccg_result kbs_collateral_check_upload(const char *collateral_id, const uint8_t *data, size_t len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    if (ccg_tdx_collateral_id_is_tdx(collateral_id)) {
        CCG_TRY(ccg_tdx_collateral_item_check(collateral_id, data, len, now));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
