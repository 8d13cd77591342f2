/* The four PCS v4 requests for a TDX platform, assembled into a collateral bundle and stored in the
 * FMSPC cache directory (docs/tdx-quote.md, "Collateral from a PCCS"):
 *
 *   GET {base}/tdx/certification/v4/tcb?fmspc={FMSPC}      header TCB-Info-Issuer-Chain
 *   GET {base}/tdx/certification/v4/qe/identity            header SGX-Enclave-Identity-Issuer-Chain
 *   GET {base}/sgx/certification/v4/pckcrl?ca={ca}&encoding=der   header SGX-PCK-CRL-Issuer-Chain
 *   GET {base}/sgx/certification/v4/rootcacrl
 *
 * The JSON bodies go into the bundle as received (tcb_info_response, qe_identity_response); the
 * verifier cuts the signed objects out of them without re-serialising. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdx_pcs_internal.h"

void ccg_tdx_pcs_config_init(ccg_tdx_pcs_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->timeout_s = CCG_TDX_PCS_DEFAULT_TIMEOUT_S;
    cfg->connect_timeout_s = CCG_TDX_PCS_DEFAULT_CONNECT_TIMEOUT_S;
    cfg->max_retries = CCG_TDX_PCS_DEFAULT_RETRIES;
    cfg->max_retry_after_s = CCG_TDX_PCS_DEFAULT_RETRY_CAP_S;
    cfg->min_interval_s = CCG_TDX_PCS_DEFAULT_MIN_INTERVAL_S;
    cfg->max_response_bytes = CCG_TDX_PCS_DEFAULT_MAX_RESPONSE;
}

static ccg_result make_url(const ccg_tdx_pcs_config *cfg, char *out, const char *path)
{
    ccg_result result = CCG_FAILURE;
    size_t n = strlen(cfg->base_url);
    while (n > 0 && cfg->base_url[n - 1] == '/') {
        n--;
    }
    int w = snprintf(out, CCG_TDX_PCS_URL_MAX, "%.*s%s", (int)n, cfg->base_url, path);
    CCG_ENSURE_MSG(w > 0 && w < CCG_TDX_PCS_URL_MAX, CCG_R_USAGE_INVALID, "the PCS URL is too long");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A body as a JSON string member; text that is not UTF-8 is not what PCS sends. */
static ccg_result put_text(json_t *bundle, const char *key, const char *text, size_t len, const char *what)
{
    ccg_result result = CCG_FAILURE;
    json_t *s = json_stringn(text, len);
    CCG_ENSURE_MSG(s != NULL, CCG_R_COLLATERAL_FETCH_FAILED, "the PCS sent a %s that is not text", what);
    CCG_ENSURE(json_object_set_new(bundle, key, s) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int is_hex_text(const uint8_t *p, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == ' ' || p[i] == '\n' || p[i] == '\r' || p[i] == '\t') {
            continue;
        }
        if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') || (p[i] >= 'A' && p[i] <= 'F'))) {
            return 0;
        }
        digits++;
    }
    return digits > 0;
}

/* A CRL as PCS (DER with encoding=der), PCCS (hex text) or anyone (PEM) sends it, into the bundle's
 * forms: PEM or hex text as is, DER as hex. */
static ccg_result put_crl(json_t *bundle, const char *key, const tdx_pcs_reply *r, const char *what)
{
    ccg_result result = CCG_FAILURE;
    char *hex = NULL;
    if ((r->len >= 10 && memcmp(r->body, "-----BEGIN", 10) == 0) || is_hex_text(r->body, r->len)) {
        CCG_TRY(put_text(bundle, key, (const char *)r->body, r->len, what));
    } else {
        CCG_ENSURE_MSG(r->body[0] == 0x30, CCG_R_COLLATERAL_FETCH_FAILED,
                       "the PCS sent a %s that is neither DER, PEM nor hex", what);
        hex = ccg_hex_alloc(r->body, r->len);
        CCG_ENSURE_ALLOC(hex);
        CCG_TRY(put_text(bundle, key, hex, strlen(hex), what));
    }
    result = CCG_SUCCESS;
cleanup:
    free(hex);
    return result;
}

static ccg_result fetch_into(const ccg_tdx_pcs_config *cfg, json_t *bundle, const char *fmspc_hex, const char *ca)
{
    ccg_result result = CCG_FAILURE;
    char path[128], url[CCG_TDX_PCS_URL_MAX];
    tdx_pcs_reply r;
    memset(&r, 0, sizeof(r));
    snprintf(path, sizeof(path), "/tdx/certification/v4/tcb?fmspc=%s", fmspc_hex);
    CCG_TRY(make_url(cfg, url, path));
    CCG_TRY(tdx_pcs_get(cfg, url, "TDX TCB info", "TCB-Info-Issuer-Chain", &r));
    CCG_TRY(put_text(bundle, "tcb_info_response", (const char *)r.body, r.len, "TCB info"));
    CCG_TRY(put_text(bundle, "tcb_info_issuer_chain", r.header, strlen(r.header), "TCB info issuer chain"));
    tdx_pcs_reply_free(&r);
    CCG_TRY(make_url(cfg, url, "/tdx/certification/v4/qe/identity"));
    CCG_TRY(tdx_pcs_get(cfg, url, "TD QE identity", "SGX-Enclave-Identity-Issuer-Chain", &r));
    CCG_TRY(put_text(bundle, "qe_identity_response", (const char *)r.body, r.len, "QE identity"));
    CCG_TRY(put_text(bundle, "qe_identity_issuer_chain", r.header, strlen(r.header), "QE identity issuer chain"));
    tdx_pcs_reply_free(&r);
    snprintf(path, sizeof(path), "/sgx/certification/v4/pckcrl?ca=%s&encoding=der", ca);
    CCG_TRY(make_url(cfg, url, path));
    CCG_TRY(tdx_pcs_get(cfg, url, "PCK CRL", "SGX-PCK-CRL-Issuer-Chain", &r));
    CCG_TRY(put_crl(bundle, "pck_crl", &r, "PCK CRL"));
    CCG_TRY(put_text(bundle, "pck_crl_issuer_chain", r.header, strlen(r.header), "PCK CRL issuer chain"));
    tdx_pcs_reply_free(&r);
    CCG_TRY(make_url(cfg, url, "/sgx/certification/v4/rootcacrl"));
    CCG_TRY(tdx_pcs_get(cfg, url, "root CA CRL", NULL, &r));
    CCG_TRY(put_crl(bundle, "root_ca_crl", &r, "root CA CRL"));
    result = CCG_SUCCESS;
cleanup:
    tdx_pcs_reply_free(&r);
    return result;
}

/* The assembled bundle must parse, and its TCB info must be for the FMSPC asked for (it is stored
 * under that name; the verifier checks it again against the PCK). */
static ccg_result check_bundle(const char *text, const uint8_t fmspc[6])
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_collateral col;
    uint8_t got[6];
    memset(&col, 0, sizeof(col));
    if (ccg_failed(ccg_tdx_collateral_parse(text, strlen(text), &col)) ||
        ccg_failed(ccg_tdx_collateral_fmspc(&col, got))) {
        char detail[256];
        snprintf(detail, sizeof(detail), "%.255s", ccg_error_last()->message);
        ccg_error_clear();
        CCG_BAIL(CCG_R_COLLATERAL_FETCH_FAILED, "the PCS sent collateral that does not parse: %s", detail);
    }
    CCG_ENSURE_MSG(memcmp(got, fmspc, 6) == 0, CCG_R_COLLATERAL_FETCH_FAILED,
                   "the PCS sent TCB info for another FMSPC than the one asked for");
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_collateral_free(&col);
    return result;
}

ccg_result tdx_pcs_fetch_store(const ccg_tdx_pcs_config *cfg, const uint8_t fmspc[6], const char *ca)
{
    ccg_result result = CCG_FAILURE;
    char fmspc_hex[13];
    char *text = NULL;
    json_t *bundle = json_object();
    CCG_ENSURE_ALLOC(bundle);
    CCG_ENSURE_MSG(cfg->base_url != NULL && cfg->cache_dir != NULL, CCG_R_USAGE_INVALID,
                   "a PCS fetch needs a base URL and a cache directory");
    CCG_ENSURE_MSG(strcmp(ca, "platform") == 0 || strcmp(ca, "processor") == 0, CCG_R_USAGE_INVALID,
                   "the PCK CA is 'platform' or 'processor'");
    ccg_hex_encode(fmspc, 6, fmspc_hex);
    for (char *c = fmspc_hex; *c; c++) {
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
    }
    CCG_TRY(fetch_into(cfg, bundle, fmspc_hex, ca));
    text = json_dumps(bundle, JSON_INDENT(2));
    CCG_ENSURE_ALLOC(text);
    CCG_TRY(check_bundle(text, fmspc));
    CCG_TRY(ccg_tdx_collateral_store_dir(cfg->cache_dir, text, strlen(text)));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    json_decref(bundle);
    return result;
}
