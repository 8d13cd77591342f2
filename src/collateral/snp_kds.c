/* HTTP GET from AMD KDS through libcurl: bounded bodies, timeouts, TLS verification, and the 429
 * Retry-After rule (AMD rate-limits KDS per client). */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ccgate/http_body.h"
#include "ccgate/snp_kds.h"

#define CONNECT_TIMEOUT_MAX_S 10L
#define BACKOFF_SHIFT_MAX 5

void ccg_snp_kds_config_init(ccg_snp_kds_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->base_url = CCG_SNP_KDS_DEFAULT_URL;
    cfg->max_retries = CCG_SNP_KDS_DEFAULT_RETRIES;
    cfg->max_retry_after_s = CCG_SNP_KDS_DEFAULT_RETRY_CAP_S;
    cfg->timeout_s = CCG_SNP_KDS_DEFAULT_TIMEOUT_S;
    cfg->max_response_bytes = CCG_SNP_KDS_DEFAULT_MAX_RESPONSE;
}

/* curl_global_init is not safe to race; run it once per process. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static void real_sleep(unsigned seconds)
{
    struct timespec ts = {(time_t)seconds, 0};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

typedef struct {
    long status;
    long retry_after; /* seconds; 0 when absent */
} http_reply;

static ccg_result configure(CURL *h, const ccg_snp_kds_config *cfg, const char *url, ccg_http_body *b, char *errbuf)
{
    ccg_result result = CCG_FAILURE;
    long timeout = cfg->timeout_s > 0 ? cfg->timeout_s : CCG_SNP_KDS_DEFAULT_TIMEOUT_S;
    long connect = timeout < CONNECT_TIMEOUT_MAX_S ? timeout : CONNECT_TIMEOUT_MAX_S;
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

static ccg_result get_once(const ccg_snp_kds_config *cfg, const char *url, const char *what, ccg_http_body *b,
                           http_reply *reply)
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
                   "the KDS response for the %s is larger than %zu bytes", what, b->max);
    CCG_ENSURE_MSG(rc == CURLE_OK, CCG_R_COLLATERAL_FETCH_FAILED, "fetching the %s failed: %s", what,
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
    reply->status = 0;
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &reply->status);
    /* libcurl parses both forms of Retry-After (delta-seconds and HTTP-date). */
    (void)curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &retry_after);
    reply->retry_after = retry_after > 0 ? (long)(retry_after > 86400 ? 86400 : retry_after) : 0;
    result = CCG_SUCCESS;
cleanup:
    curl_easy_cleanup(h);
    return result;
}

/* The server's Retry-After, or an exponential backoff when it sent none; never above the cap. */
static unsigned retry_wait(const ccg_snp_kds_config *cfg, long retry_after, int attempt)
{
    unsigned cap = cfg->max_retry_after_s ? cfg->max_retry_after_s : CCG_SNP_KDS_DEFAULT_RETRY_CAP_S;
    int shift = attempt < BACKOFF_SHIFT_MAX ? attempt : BACKOFF_SHIFT_MAX;
    unsigned long wait = retry_after > 0 ? (unsigned long)retry_after : 1ul << shift;
    return wait > cap ? cap : (unsigned)wait;
}

static ccg_result check_status(const http_reply *reply, const ccg_http_body *b, const char *what)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(reply->status != 404, CCG_R_COLLATERAL_MISSING, "KDS has no %s (HTTP 404)", what);
    CCG_ENSURE_MSG(reply->status == 200, CCG_R_COLLATERAL_FETCH_FAILED, "KDS answered HTTP %ld for the %s",
                   reply->status, what);
    CCG_ENSURE_MSG(b->len > 0, CCG_R_COLLATERAL_FETCH_FAILED, "KDS sent an empty body for the %s (HTTP 200)", what);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_kds_get(const ccg_snp_kds_config *cfg, const char *url, const char *what, uint8_t **out,
                           size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    ccg_http_body b = {0};
    http_reply reply = {0};
    int retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    void (*sleep_fn)(unsigned) = cfg->sleep_fn ? cfg->sleep_fn : real_sleep;
    b.max = cfg->max_response_bytes ? cfg->max_response_bytes : CCG_SNP_KDS_DEFAULT_MAX_RESPONSE;
    pthread_once(&curl_once, curl_init);
    CCG_ENSURE_MSG(curl_init_rc == CURLE_OK, CCG_R_COLLATERAL_FETCH_FAILED, "libcurl failed to initialise: %s",
                   curl_easy_strerror(curl_init_rc));
    for (int attempt = 0;; attempt++) {
        ccg_http_body_reset(&b);
        CCG_TRY(get_once(cfg, url, what, &b, &reply));
        if (reply.status != 429) {
            break;
        }
        CCG_ENSURE_MSG(attempt < retries, CCG_R_COLLATERAL_RATE_LIMITED,
                       "KDS answered 429 Too Many Requests to all %d requests for the %s (last Retry-After: %ld s)",
                       attempt + 1, what, reply.retry_after);
        sleep_fn(retry_wait(cfg, reply.retry_after, attempt));
    }
    CCG_TRY(check_status(&reply, &b, what));
    *out = (uint8_t *)b.data;
    *out_len = b.len;
    b.data = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(b.data);
    return result;
}
