/* TDX collateral from an Intel PCS v4 compatible service (a PCCS, or Intel PCS behind one), cached in
 * the FMSPC cache directory (docs/tdx-quote.md, "Collateral from a PCCS").
 *
 * Four GETs: the TDX TCB info for the FMSPC, the TD QE identity, the PCK CRL of the PCK's CA, and the
 * root CA CRL. The issuer chains come from the response headers, URL-encoded PEM, as PCS sends them
 * (TCB-Info-Issuer-Chain, SGX-Enclave-Identity-Issuer-Chain, SGX-PCK-CRL-Issuer-Chain). The response
 * bodies are kept as received (never re-serialised) in a bundle written to DIR/<FMSPC>.json; the verifier
 * checks every signature on every use. Fetching is rate-limited: at most one fetch per FMSPC per
 * min_interval_s (the cache's own time stamp), 429 answers are retried after Retry-After (capped) a few
 * times, and every request has a connect and a total timeout. */
#ifndef CCGATE_TDX_PCS_H
#define CCGATE_TDX_PCS_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/tdx_collateral.h"
#include "ccgate/util.h"

#define CCG_TDX_PCS_DEFAULT_TIMEOUT_S 30L
#define CCG_TDX_PCS_DEFAULT_CONNECT_TIMEOUT_S 10L
#define CCG_TDX_PCS_DEFAULT_RETRIES 2
#define CCG_TDX_PCS_DEFAULT_RETRY_CAP_S 30u
#define CCG_TDX_PCS_DEFAULT_MIN_INTERVAL_S 60u
#define CCG_TDX_PCS_DEFAULT_MAX_RESPONSE (1u << 20)
#define CCG_TDX_PCS_URL_MAX 1024

typedef struct {
    const char *base_url;       /* e.g. https://pccs.example:8081 (no trailing path); required */
    const char *cache_dir;      /* the FMSPC cache directory; required */
    long timeout_s;             /* whole request */
    long connect_timeout_s;
    int max_retries;            /* after a 429 */
    unsigned max_retry_after_s; /* cap on one wait */
    unsigned min_interval_s;    /* at most one fetch per FMSPC per interval (0: no limit) */
    size_t max_response_bytes;
    void (*sleep_fn)(unsigned seconds); /* tests; NULL: sleep */
} ccg_tdx_pcs_config;

void ccg_tdx_pcs_config_init(ccg_tdx_pcs_config *cfg);

/* Fetches the collateral for fmspc (ca: "platform" or "processor") and stores it as DIR/<FMSPC>.json.
 * Fails with collateral.fetch_failed (transport, HTTP status, a missing issuer-chain header, a body that
 * is not what PCS sends, TCB info for another FMSPC), collateral.missing (404), collateral.rate_limited
 * (429 after every retry), or collateral.cache_error. Records the attempt for the rate limit first. */
CCG_MUST_CHECK ccg_result ccg_tdx_pcs_fetch(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6], const char *ca,
                                            ccg_time now);

/* The collateral for a quote: from the cache when it is there and current at now; otherwise fetched
 * (unless a fetch for this FMSPC was attempted less than min_interval_s before now: then the cache's
 * own error, collateral.missing or collateral.expired, says so) and loaded again. *fetched (may be NULL)
 * tells whether a fetch ran. */
CCG_MUST_CHECK ccg_result ccg_tdx_collateral_for_quote(const ccg_tdx_pcs_config *cfg, const uint8_t *quote,
                                                       size_t quote_len, ccg_time now, ccg_tdx_collateral *out,
                                                       int *fetched);

#endif
