/* OCSP revocation status for NVIDIA certificate chains (GPU device identity, RIM signing) as
 * collateral: a response comes from a local cache directory or, live, from a configured responder
 * (HTTP POST of an OpenSSL-built request with a nonce the response must echo). Every response is
 * verified with OpenSSL's OCSP API against the certificate's issuer, at an explicit `now`.
 * docs/gpu-rim.md ("OCSP") has the cache file names and the order of checks. */
#ifndef CCGATE_GPU_OCSP_H
#define CCGATE_GPU_OCSP_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/x509.h>

#include "ccgate/result.h"
#include "ccgate/util.h"

#define CCG_GPU_OCSP_DEFAULT_TIMEOUT_S 10L
#define CCG_GPU_OCSP_DEFAULT_SKEW_S 300
#define CCG_GPU_OCSP_DEFAULT_MAX_AGE_S 86400 /* for a response without nextUpdate */
#define CCG_GPU_OCSP_MAX_RESPONSE (64u << 10)
#define CCG_GPU_OCSP_NONCE_SIZE 32
#define CCG_GPU_OCSP_CACHE_NAME_MAX 128

typedef struct {
    const char *cache_dir;     /* <dir>/<name from ccg_gpu_ocsp_cache_name>; NULL: no cache */
    const char *responder_url; /* NULL: no live fetch */
    long timeout_s;            /* whole request; 0: CCG_GPU_OCSP_DEFAULT_TIMEOUT_S */
    int allow_hold;            /* policy: a certificate on hold (certificateHold) passes */
    ccg_time skew_s;           /* clock tolerance on thisUpdate/nextUpdate; 0: 300 s */
    ccg_time max_age_s;        /* age limit without nextUpdate; 0: one day */
    /* A source asked before the cache, under "gpu/ocsp/<cache name without .der>" (the key broker's
     * uploaded collateral): *found 0 on a miss; a failure is the source's own error. NULL: none.
     * What it gives is judged exactly as a cached response. */
    ccg_result (*lookup)(void *ctx, const char *collateral_id, uint8_t **out, size_t *out_len, int *found);
    void *lookup_ctx;
} ccg_gpu_ocsp_config;

typedef enum {
    CCG_GPU_OCSP_GOOD = 0,
    CCG_GPU_OCSP_HOLD,    /* revoked with reason certificateHold */
    CCG_GPU_OCSP_REVOKED,
    CCG_GPU_OCSP_UNKNOWN,
} ccg_gpu_ocsp_status;

typedef struct {
    ccg_gpu_ocsp_status status;
    int reason;             /* CRL reason code when revoked or held, else -1 */
    ccg_time this_update;
    ccg_time next_update;   /* 0 when the response has none */
    ccg_time revoked_at;    /* 0 unless revoked or held */
    int live;               /* 1: fetched now with a nonce it echoed; 0: from the cache */
    char serial[80];        /* the certificate's serial, hex */
    char subject[256];      /* the certificate's subject (RFC 2253) */
} ccg_gpu_ocsp_result;

/* Checks one certificate. chain_above holds its issuer first, then the issuer's issuers up to and
 * including the already verified trust anchor (last); a delegated responder certificate must chain
 * to that anchor at `now`. Good passes; hold passes only with allow_hold (else gpu.cert_on_hold);
 * revoked is gpu.cert_revoked, unknown gpu.ocsp_status_unknown, no response gpu.ocsp_unavailable,
 * a bad or foreign response gpu.ocsp_response_invalid, an unechoed nonce gpu.ocsp_nonce_mismatch,
 * an out-of-date one gpu.ocsp_response_stale. *out is filled whenever a response was evaluated. */
CCG_MUST_CHECK ccg_result ccg_gpu_ocsp_check(const ccg_gpu_ocsp_config *cfg, X509 *cert, STACK_OF(X509) *chain_above,
                                             ccg_time now, ccg_gpu_ocsp_result *out);

/* Checks every certificate of a verified chain (leaf .. root) except the root. results has room for
 * sk_X509_num(chain) - 1 entries; *n_results counts those evaluated (all, on success). */
CCG_MUST_CHECK ccg_result ccg_gpu_ocsp_check_chain(const ccg_gpu_ocsp_config *cfg, STACK_OF(X509) *chain,
                                                   ccg_time now, ccg_gpu_ocsp_result *results, size_t *n_results);

/* The cache file name of the response for cert: "<SHA-1 of the issuer's key, hex>-<serial, hex>.der"
 * (the CertID's issuerKeyHash and serialNumber). */
CCG_MUST_CHECK ccg_result ccg_gpu_ocsp_cache_name(X509 *cert, X509 *issuer, char out[CCG_GPU_OCSP_CACHE_NAME_MAX]);

/* "good" / "hold" / "revoked" / "unknown". */
const char *ccg_gpu_ocsp_status_name(ccg_gpu_ocsp_status s);
/* {"subject","serial","status","reason"?,"this_update","next_update"?,"revoked_at"?,"source"} */
json_t *ccg_gpu_ocsp_result_json(const ccg_gpu_ocsp_result *r);

#endif
