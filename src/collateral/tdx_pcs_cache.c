/* The cache first, the PCS on a miss: TDX collateral for a quote from DIR/<FMSPC>.json while it is
 * current, fetched (at most once per FMSPC per min_interval_s) when it is missing or past any item's
 * nextUpdate. The time of the last attempt is kept beside the entry as DIR/.<FMSPC>.fetch. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/tdx_verify.h"
#include "tdx_pcs_internal.h"

static void stamp_path(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6], char *out, size_t n)
{
    char hex[13];
    ccg_hex_encode(fmspc, 6, hex);
    for (char *c = hex; *c; c++) {
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
    }
    snprintf(out, n, "%s/.%s.fetch", cfg->cache_dir, hex);
}

/* The last attempt's time, or 0 when there was none (or the stamp is unreadable: fetching then errs on
 * the side of fresh collateral). */
static ccg_time last_attempt(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6])
{
    char path[4096];
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_time t = 0;
    stamp_path(cfg, fmspc, path, sizeof(path));
    if (ccg_ok(ccg_file_read(path, 64, &text, &len))) {
        char *end = NULL;
        long long v = strtoll((const char *)text, &end, 10);
        t = end != (const char *)text && v > 0 ? (ccg_time)v : 0;
    }
    ccg_error_clear();
    free(text);
    return t;
}

static ccg_result record_attempt(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6], ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    char path[4096], tmp[4200], text[32];
    stamp_path(cfg, fmspc, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    int n = snprintf(text, sizeof(text), "%lld\n", (long long)now);
    if (ccg_failed(ccg_file_write(tmp, (const uint8_t *)text, (size_t)n)) || rename(tmp, path) != 0) {
        (void)unlink(tmp);
        ccg_error_clear();
        CCG_BAIL(CCG_R_COLLATERAL_CACHE_ERROR, "cannot record the fetch time in %s: %s", path, strerror(errno));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_pcs_fetch(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6], const char *ca, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(cfg->base_url != NULL && cfg->cache_dir != NULL, CCG_R_USAGE_INVALID,
                   "a PCS fetch needs a base URL and a cache directory");
    /* Recorded before the requests: a failing service is not asked again within the interval either. */
    CCG_TRY(record_attempt(cfg, fmspc, now));
    CCG_TRY(tdx_pcs_fetch_store(cfg, fmspc, ca));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A cache entry worth replacing: none, past a nextUpdate, or not a bundle at all. */
static int refetchable(ccg_reason r)
{
    return r == CCG_R_COLLATERAL_MISSING || r == CCG_R_COLLATERAL_EXPIRED || r == CCG_R_TDX_COLLATERAL_MALFORMED;
}

ccg_result ccg_tdx_collateral_for_quote(const ccg_tdx_pcs_config *cfg, const uint8_t *quote, size_t quote_len,
                                        ccg_time now, ccg_tdx_collateral *out, int *fetched)
{
    ccg_result result = CCG_FAILURE;
    uint8_t fmspc[6];
    char ca[16];
    if (fetched != NULL) {
        *fetched = 0;
    }
    CCG_ENSURE_MSG(cfg->cache_dir != NULL, CCG_R_USAGE_INVALID, "TDX collateral needs a cache directory");
    CCG_TRY(ccg_tdx_quote_fmspc(quote, quote_len, fmspc));
    if (ccg_ok(ccg_tdx_collateral_load_dir(cfg->cache_dir, fmspc, now, out))) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (cfg->base_url == NULL || !refetchable(ccg_error_reason())) {
        goto cleanup; /* the cache's own error stands */
    }
    char detail[sizeof(ccg_error_last()->message)];
    ccg_reason reason = ccg_error_reason();
    snprintf(detail, sizeof(detail), "%s", ccg_error_last()->message);
    ccg_time last = last_attempt(cfg, fmspc);
    ccg_time since = now >= last ? now - last : last - now;
    if (last != 0 && cfg->min_interval_s > 0 && since < (ccg_time)cfg->min_interval_s) {
        /* Rate limit: keep the cache's reason, and say why no fetch was made. */
        ccg_error_clear();
        CCG_BAIL(reason, "%s; not fetched again: the last fetch for this FMSPC was %lld s ago (at most one per %u s)",
                 detail, (long long)since, cfg->min_interval_s);
    }
    ccg_error_clear();
    CCG_TRY(ccg_tdx_quote_pck_ca(quote, quote_len, ca));
    if (fetched != NULL) {
        *fetched = 1;
    }
    CCG_TRY(ccg_tdx_pcs_fetch(cfg, fmspc, ca, now));
    CCG_TRY(ccg_tdx_collateral_load_dir(cfg->cache_dir, fmspc, now, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
