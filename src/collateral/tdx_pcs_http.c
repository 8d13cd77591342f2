/* One GET against a PCS v4 service through libcurl: bounded body, connect and total timeouts, TLS
 * verification, no redirects, and one response header (a URL-encoded issuer chain) decoded with
 * libcurl's own unescaping. 429 answers are retried after Retry-After (capped), a few times. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/http_body.h"
#include "tdx_pcs_internal.h"

#define BACKOFF_SHIFT_MAX 5
#define HEADER_MAX (64u * 1024u)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void real_sleep(unsigned seconds)
{
    struct timespec ts = {(time_t)seconds, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void tdx_pcs_reply_free(tdx_pcs_reply *r)
{
    free(r->body);
    free(r->header);
    memset(r, 0, sizeof(*r));
}

static ccg_result configure(CURL *h, const ccg_tdx_pcs_config *cfg, const char *url, ccg_http_body *b, char *errbuf)
{
    ccg_result result = CCG_FAILURE;
    long timeout = cfg->timeout_s > 0 ? cfg->timeout_s : CCG_TDX_PCS_DEFAULT_TIMEOUT_S;
    long connect = cfg->connect_timeout_s > 0 ? cfg->connect_timeout_s : CCG_TDX_PCS_DEFAULT_CONNECT_TIMEOUT_S;
    connect = connect < timeout ? connect : timeout;
    int ok = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_USERAGENT, "ccgate/0.1") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ccg_http_body_collect) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEDATA, b) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    CCG_ENSURE_MSG(ok, CCG_R_COLLATERAL_FETCH_FAILED, "libcurl rejected an option (built without HTTP or TLS?)");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The header's value, percent-decoded (PCS encodes the PEM; '+' is base64, never a space). */
static ccg_result take_header(CURL *h, const char *name, const char *what, char **out)
{
    ccg_result result = CCG_FAILURE;
    struct curl_header *hdr = NULL;
    int len = 0;
    char *decoded = NULL;
    CCG_ENSURE_MSG(curl_easy_header(h, name, 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK && hdr != NULL &&
                       hdr->value != NULL,
                   CCG_R_COLLATERAL_FETCH_FAILED, "the %s response has no %s header", what, name);
    size_t n = strlen(hdr->value);
    CCG_ENSURE_MSG(n > 0 && n <= HEADER_MAX, CCG_R_COLLATERAL_FETCH_FAILED, "the %s response's %s header is %zu bytes",
                   what, name, n);
    decoded = curl_easy_unescape(h, hdr->value, (int)n, &len);
    CCG_ENSURE_ALLOC(decoded);
    CCG_ENSURE_MSG(len > 0 && memchr(decoded, 0, (size_t)len) == NULL, CCG_R_COLLATERAL_FETCH_FAILED,
                   "the %s response's %s header does not decode to text", what, name);
    *out = malloc((size_t)len + 1);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, decoded, (size_t)len);
    (*out)[len] = '\0';
    result = CCG_SUCCESS;
cleanup:
    curl_free(decoded);
    return result;
}

static ccg_result get_once(const ccg_tdx_pcs_config *cfg, const char *url, const char *what, const char *header,
                           ccg_http_body *b, tdx_pcs_reply *reply)
{
    ccg_result result = CCG_FAILURE;
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_off_t retry_after = 0;
    CURL *h = curl_easy_init();
    CCG_ENSURE_ALLOC(h);
    CCG_TRY(configure(h, cfg, url, b, errbuf));
    CURLcode rc = curl_easy_perform(h);
    CCG_ENSURE(!b->out_of_memory, CCG_R_INTERNAL_OUT_OF_MEMORY);
    CCG_ENSURE_MSG(!b->too_large && rc != CURLE_FILESIZE_EXCEEDED, CCG_R_COLLATERAL_FETCH_FAILED,
                   "the %s response is larger than %zu bytes", what, b->max);
    CCG_ENSURE_MSG(rc == CURLE_OK, CCG_R_COLLATERAL_FETCH_FAILED, "fetching the %s from %s failed: %s", what, url,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
    reply->status = 0;
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
    (void)curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
    reply->retry_after = retry_after > 0 ? (long)(retry_after > 86400 ? 86400 : retry_after) : 0;
    if (reply->status == 200 && header != NULL) {
        CCG_TRY(take_header(h, header, what, &reply->header));
    }
    result = CCG_SUCCESS;
cleanup:
    curl_easy_cleanup(h);
    return result;
}

static unsigned retry_wait(const ccg_tdx_pcs_config *cfg, long retry_after, int attempt)
{
    unsigned cap = cfg->max_retry_after_s ? cfg->max_retry_after_s : CCG_TDX_PCS_DEFAULT_RETRY_CAP_S;
    int shift = attempt < BACKOFF_SHIFT_MAX ? attempt : BACKOFF_SHIFT_MAX;
    unsigned long wait = retry_after > 0 ? (unsigned long)retry_after : 1ul << shift;
    return wait > cap ? cap : (unsigned)wait;
}

ccg_result tdx_pcs_get(const ccg_tdx_pcs_config *cfg, const char *url, const char *what, const char *header,
                       tdx_pcs_reply *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_http_body b = {0};
    int retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    void (*sleep_fn)(unsigned) = cfg->sleep_fn ? cfg->sleep_fn : real_sleep;
    memset(out, 0, sizeof(*out));
    b.max = cfg->max_response_bytes ? cfg->max_response_bytes : CCG_TDX_PCS_DEFAULT_MAX_RESPONSE;
    pthread_once(&curl_once, curl_init);
    CCG_ENSURE_MSG(curl_init_rc == CURLE_OK, CCG_R_COLLATERAL_FETCH_FAILED, "libcurl failed to initialise: %s",
                   curl_easy_strerror(curl_init_rc));
    for (int attempt = 0;; attempt++) {
        ccg_http_body_reset(&b);
        tdx_pcs_reply_free(out);
        CCG_TRY(get_once(cfg, url, what, header, &b, out));
        if (out->status != 429) {
            break;
        }
        CCG_ENSURE_MSG(attempt < retries, CCG_R_COLLATERAL_RATE_LIMITED,
                       "the PCS answered 429 Too Many Requests to all %d requests for the %s (last Retry-After: %ld s)",
                       attempt + 1, what, out->retry_after);
        sleep_fn(retry_wait(cfg, out->retry_after, attempt));
    }
    CCG_ENSURE_MSG(out->status != 404, CCG_R_COLLATERAL_MISSING, "the PCS has no %s (HTTP 404 from %s)", what, url);
    CCG_ENSURE_MSG(out->status == 200, CCG_R_COLLATERAL_FETCH_FAILED, "the PCS answered HTTP %ld for the %s",
                   out->status, what);
    CCG_ENSURE_MSG(b.len > 0, CCG_R_COLLATERAL_FETCH_FAILED, "the PCS sent an empty %s", what);
    out->body = (uint8_t *)b.data;
    out->len = b.len;
    b.data = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        tdx_pcs_reply_free(out);
    }
    free(b.data);
    return result;
}
