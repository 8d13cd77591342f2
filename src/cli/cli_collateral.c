/* Collateral from the local cache for `verify snp --cache-dir`. */
#include "cli.h"

ccg_result cli_collateral_from_cache(const char *cache_dir, const char *kds_url, int fetch, const uint8_t *report,
                                     size_t report_len, ccg_snp_collateral *col)
{
    ccg_result result = CCG_FAILURE;
    (void)kds_url;
    (void)fetch;
    (void)report;
    (void)report_len;
    (void)col;
    CCG_ENSURE_MSG(cache_dir == NULL, CCG_R_USAGE_INVALID, "--cache-dir is not wired yet");
    result = CCG_SUCCESS;
cleanup:
    return result;
}
