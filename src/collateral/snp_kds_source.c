/* Collateral from the lookup (the key broker's store) first, then the cache, from KDS only on a miss:
 * the verification-path rule. */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_kds.h"
#include "ccgate/x509util.h"

/* Replaces the last error's reason, keeping its message as the detail: bytes that do not parse are
 * a cache or KDS problem here, not bad input from the caller. */
static void restate_error(ccg_reason reason, const char *context)
{
    char detail[sizeof(ccg_error_last()->message)];
    snprintf(detail, sizeof(detail), "%s", ccg_error_last()->message);
    ccg_error_clear();
    ccg_error_set(reason, __FILE__, __LINE__, "%s: %s", context, detail);
}

ccg_result ccg_snp_kds_validate(const ccg_snp_kds_item *item, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *certs = NULL;
    X509_CRL *crl = NULL;
    if (item->kind == CCG_SNP_KDS_CRL) {
        CCG_TRY(ccg_x509_load_crl(data, len, &crl));
    } else {
        certs = sk_X509_new_null();
        CCG_ENSURE_ALLOC(certs);
        CCG_TRY(ccg_x509_load_bundle(data, len, certs));
        CCG_ENSURE_MSG(item->kind != CCG_SNP_KDS_KEY || sk_X509_num(certs) == 1, CCG_R_CERT_PARSE_FAILED,
                       "holds %d certificates where one was expected", sk_X509_num(certs));
    }
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    X509_CRL_free(crl);
    return result;
}

/* A masked chip ID reads as zeros and names no chip, so there is no VCEK to look up by it. */
static ccg_result check_lookup(const ccg_snp_kds_item *item)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(item->kind != CCG_SNP_KDS_KEY || item->signer != CCG_SNP_SIGNER_VCEK ||
                       !ccg_is_all_zero(item->chip_id, ccg_snp_hwid_len(item->product)),
                   CCG_R_COLLATERAL_MISSING, "the chip ID is masked, so the VCEK cannot be looked up; supply it");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result fetch_and_store(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item)
{
    ccg_result result = CCG_FAILURE;
    char url[CCG_SNP_KDS_PATH_MAX], context[96];
    uint8_t *data = NULL;
    size_t len = 0;
    const char *what = ccg_snp_kds_item_name(item);
    CCG_TRY(check_lookup(item));
    CCG_TRY(ccg_snp_kds_url(cfg->base_url, item, url, sizeof(url)));
    CCG_TRY(ccg_snp_kds_get(cfg, url, what, &data, &len));
    if (ccg_failed(ccg_snp_kds_validate(item, data, len))) {
        snprintf(context, sizeof(context), "KDS sent a %s that does not parse", what);
        restate_error(CCG_R_COLLATERAL_FETCH_FAILED, context);
        goto cleanup;
    }
    CCG_TRY(ccg_snp_cache_write(cfg->cache_dir, item, data, len));
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

static ccg_result read_cached(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item, uint8_t **out,
                              size_t *out_len, int *found)
{
    ccg_result result = CCG_FAILURE;
    char path[CCG_SNP_KDS_PATH_MAX], context[CCG_SNP_KDS_PATH_MAX + 64];
    CCG_TRY(ccg_snp_cache_read(cfg->cache_dir, item, out, out_len, found));
    if (*found && ccg_failed(ccg_snp_kds_validate(item, *out, *out_len))) {
        CCG_TRY(ccg_snp_cache_path(cfg->cache_dir, item, path, sizeof(path)));
        snprintf(context, sizeof(context), "cached %s %s is corrupt (delete it to fetch again)",
                 ccg_snp_kds_item_name(item), path);
        restate_error(CCG_R_COLLATERAL_CACHE_ERROR, context);
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        free(*out);
        *out = NULL;
    }
    return result;
}

/* On a miss: fetching must be on, and the item must be one KDS serves to anyone. */
static ccg_result require_fetchable(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item)
{
    ccg_result result = CCG_FAILURE;
    char path[CCG_SNP_KDS_PATH_MAX];
    CCG_TRY(ccg_snp_cache_path(cfg->cache_dir, item, path, sizeof(path)));
    CCG_ENSURE_MSG(cfg->allow_fetch, CCG_R_COLLATERAL_MISSING, "%s is not cached at %s and fetching is off",
                   ccg_snp_kds_item_name(item), path);
    CCG_ENSURE_MSG(item->kind != CCG_SNP_KDS_KEY || item->signer != CCG_SNP_SIGNER_VLEK, CCG_R_COLLATERAL_MISSING,
                   "the VLEK is not cached at %s; KDS serves VLEKs only to cloud providers (ccgate kds import)",
                   path);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The lookup's copy of an item, checked like a cached one. */
static ccg_result read_lookup(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item, uint8_t **out,
                              size_t *out_len, int *found)
{
    ccg_result result = CCG_FAILURE;
    char id[CCG_SNP_KDS_PATH_MAX], context[CCG_SNP_KDS_PATH_MAX + 64];
    *found = 0;
    *out = NULL;
    CCG_TRY(ccg_snp_kds_item_id(item, id, sizeof(id)));
    CCG_TRY(cfg->lookup(cfg->lookup_ctx, id, out, out_len, found));
    if (*found && ccg_failed(ccg_snp_kds_validate(item, *out, *out_len))) {
        snprintf(context, sizeof(context), "stored collateral %s (%s) does not parse", id, ccg_snp_kds_item_name(item));
        restate_error(CCG_R_COLLATERAL_CACHE_ERROR, context);
        goto cleanup;
    }
    CCG_ENSURE_MSG(*found || cfg->cache_dir != NULL, CCG_R_COLLATERAL_MISSING,
                   "the %s is not in the broker's store (upload it as collateral %s) and no cache is configured",
                   ccg_snp_kds_item_name(item), id);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        free(*out);
        *out = NULL;
    }
    return result;
}

ccg_result ccg_snp_kds_load(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item, uint8_t **out,
                            size_t *out_len, int *fetched)
{
    ccg_result result = CCG_FAILURE;
    int found = 0;
    *fetched = 0;
    if (cfg->lookup != NULL) {
        CCG_TRY(read_lookup(cfg, item, out, out_len, &found));
        if (found) {
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    CCG_TRY(read_cached(cfg, item, out, out_len, &found));
    if (!found) {
        CCG_TRY(check_lookup(item));
        CCG_TRY(require_fetchable(cfg, item));
        CCG_TRY(fetch_and_store(cfg, item));
        *fetched = 1;
        /* Load what was stored, so a fetch and a later cache hit give the same bytes. */
        CCG_TRY(read_cached(cfg, item, out, out_len, &found));
        CCG_ENSURE_MSG(found, CCG_R_COLLATERAL_CACHE_ERROR, "the %s vanished from the cache after storing it",
                       ccg_snp_kds_item_name(item));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_kds_refresh(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item)
{
    return fetch_and_store(cfg, item);
}

static ccg_result add_item(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item, ccg_snp_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    CCG_TRY(ccg_snp_kds_load(cfg, item, &data, &len, &fetched));
    if (item->kind == CCG_SNP_KDS_CRL) {
        CCG_TRY(ccg_snp_collateral_set_crl(out, data, len));
    } else {
        CCG_TRY(ccg_snp_collateral_add_certs(out, data, len));
    }
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

ccg_result ccg_snp_collateral_from_cache_or_kds(const ccg_snp_kds_config *cfg, ccg_snp_product product,
                                                ccg_snp_signer signer, const uint8_t chip_id[64],
                                                const ccg_snp_tcb *reported_tcb, int want_crl,
                                                ccg_snp_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_kds_item item = {.kind = CCG_SNP_KDS_KEY, .product = product, .signer = signer, .tcb = *reported_tcb};
    memcpy(item.chip_id, chip_id, sizeof(item.chip_id));
    CCG_TRY(add_item(cfg, &item, out));
    item.kind = CCG_SNP_KDS_CHAIN;
    CCG_TRY(add_item(cfg, &item, out));
    if (want_crl) {
        item.kind = CCG_SNP_KDS_CRL;
        CCG_TRY(add_item(cfg, &item, out));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_crl_for_report(const ccg_snp_kds_config *cfg, const uint8_t *report, size_t report_len,
                                  ccg_snp_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_kds_item item;
    CCG_TRY(ccg_snp_kds_item_from_report(CCG_SNP_PRODUCT_UNKNOWN, report, report_len, &item));
    item.kind = CCG_SNP_KDS_CRL;
    CCG_TRY(add_item(cfg, &item, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_collateral_for_report(const ccg_snp_kds_config *cfg, ccg_snp_product product,
                                         const uint8_t *report, size_t report_len, int want_crl,
                                         ccg_snp_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_kds_item key;
    CCG_TRY(ccg_snp_kds_item_from_report(product, report, report_len, &key));
    CCG_TRY(ccg_snp_collateral_from_cache_or_kds(cfg, key.product, key.signer, key.chip_id, &key.tcb, want_crl, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
