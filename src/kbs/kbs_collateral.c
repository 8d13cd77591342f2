/* Collateral uploaded through the admin API (POST /admin/v0/collateral, `ccgate kbs collateral put`) is
 * the first source of the collateral verification reads: this lookup reads the newest version of a
 * collateral ID from the store. SNP (the broker's ccg_snp_kds_config): the IDs of ccg_snp_kds_item_id
 * (snp/{product}/vcek/{hwid}/{tcb}, snp/{product}/cert_chain, snp/{product}/crl, and the VLEK forms);
 * a configured cache directory (and KDS) is consulted only on a miss. TDX (kbs_tdx.c): the four PCS
 * items of tdx_collateral_store.h, before the configured file or directory. GPU (kbs_gpu.c): RIMs as
 * gpu/rim/{RIM ID} and OCSP responses as gpu/ocsp/{cache name without .der}, before the RIM directory
 * or service and the OCSP cache or responder. Verification judges what it reads from here exactly as
 * what it reads from a file. */
#include "kbs_internal.h"

#include <openssl/ocsp.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/gpu_ocsp.h"
#include "ccgate/gpu_rim.h"
#include "ccgate/tdx_collateral_store.h"
#include "ccgate/x509util.h"

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

/* gpu/ocsp/{hex}-{hex}: one DER OCSPResponse whose first single response is not past its nextUpdate
 * (the rest, signer and certificate, is judged at every use). */
static ccg_result check_gpu_ocsp(const char *name, const uint8_t *data, size_t len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    const unsigned char *p = data;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    ASN1_GENERALIZEDTIME *this_upd = NULL, *next_upd = NULL;
    ccg_time next = 0;
    static const char hex[] = "0123456789abcdefABCDEF";
    size_t dash = strspn(name, hex);
    CCG_ENSURE_MSG(dash > 0 && name[dash] == '-' && name[dash + 1] != 0 &&
                       strspn(name + dash + 1, hex) == strlen(name + dash + 1),
                   CCG_R_ADMIN_REQUEST_MALFORMED,
                   "a GPU OCSP collateral ID is gpu/ocsp/{SHA-1 of the issuer key, hex}-{serial, hex} (docs/gpu-rim.md)");
    CCG_ENSURE_MSG(len <= CCG_GPU_OCSP_MAX_RESPONSE, CCG_R_GPU_OCSP_RESPONSE_INVALID, "an OCSP response of %zu bytes",
                   len);
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    CCG_ENSURE_MSG(resp != NULL && p == data + len && OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL &&
                       (bs = OCSP_response_get1_basic(resp)) != NULL && OCSP_resp_count(bs) > 0,
                   CCG_R_GPU_OCSP_RESPONSE_INVALID, "not one successful DER OCSPResponse");
    (void)OCSP_single_get0_status(OCSP_resp_get0(bs, 0), NULL, NULL, &this_upd, &next_upd);
    if (next_upd != NULL) {
        CCG_ENSURE_MSG(ccg_ok(ccg_x509_time(next_upd, &next)), CCG_R_GPU_OCSP_RESPONSE_INVALID, "a bad nextUpdate");
        CCG_ENSURE_MSG(now <= next, CCG_R_GPU_OCSP_RESPONSE_STALE, "the OCSP response is past its nextUpdate");
    }
    result = CCG_SUCCESS;
cleanup:
    OCSP_BASICRESP_free(bs);
    OCSP_RESPONSE_free(resp);
    return result;
}

ccg_result kbs_collateral_check_upload(const char *collateral_id, const uint8_t *data, size_t len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    if (ccg_tdx_collateral_id_is_tdx(collateral_id)) {
        CCG_TRY(ccg_tdx_collateral_item_check(collateral_id, data, len, now));
    } else if (strncmp(collateral_id, "gpu/rim/", 8) == 0) {
        /* the ID a RIM is looked up under; the XML signature is judged at every use, under the policy's root */
        CCG_TRY(ccg_gpu_rim_id_check(collateral_id + 8));
        CCG_ENSURE_MSG(len <= CCG_GPU_RIM_MAX_BYTES, CCG_R_GPU_RIM_TOO_LARGE, "a RIM of %zu bytes", len);
    } else if (strncmp(collateral_id, "gpu/ocsp/", 9) == 0) {
        CCG_TRY(check_gpu_ocsp(collateral_id + 9, data, len, now));
    } else if (strncmp(collateral_id, "gpu/", 4) == 0) {
        CCG_BAIL(CCG_R_ADMIN_REQUEST_MALFORMED, "a GPU collateral ID is gpu/rim/{RIM ID} or gpu/ocsp/{cache name}");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
