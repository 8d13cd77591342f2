/* Collateral from the local cache (and, with --fetch, from AMD KDS) for `verify snp --cache-dir`.
 * Once an item is cached it is never fetched again on this path. */
#include "ccgate/snp_kds.h"
#include "cli.h"

ccg_result cli_collateral_from_cache(const char *cache_dir, const char *kds_url, int fetch, const char *product_name,
                                     const uint8_t *report, size_t report_len, ccg_snp_collateral *col)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_kds_config cfg;
    ccg_snp_product product = CCG_SNP_PRODUCT_UNKNOWN;
    if (cache_dir == NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (product_name != NULL) {
        product = ccg_snp_product_from_name(product_name);
        CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown product '%.32s'", product_name);
    }
    ccg_snp_kds_config_init(&cfg);
    cfg.cache_dir = cache_dir;
    cfg.allow_fetch = fetch;
    if (kds_url != NULL) {
        cfg.base_url = kds_url;
    }
    CCG_TRY(ccg_snp_collateral_for_report(&cfg, product, report, report_len, 0, col));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
