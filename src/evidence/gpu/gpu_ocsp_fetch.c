/* Live OCSP: an OpenSSL-built request with a 32-byte nonce, POSTed with libcurl (RFC 6960 A.1). */
#include <curl/curl.h>
#include <openssl/err.h>
#include <pthread.h>
#include <stdlib.h>

#include "ccgate/http_body.h"
#include "gpu_ocsp_internal.h"

#define CONNECT_TIMEOUT_MAX_S 5L

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static ccg_result build_request(X509 *cert, X509 *issuer, OCSP_REQUEST **out)
{
    ccg_result result = CCG_FAILURE;
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, cert, issuer);
    CCG_ENSURE_ALLOC(req);
    CCG_ENSURE_OSSL(id != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(OCSP_request_add0_id(req, id) != NULL, CCG_R_INTERNAL_CRYPTO);
    id = NULL;
    CCG_ENSURE_OSSL(OCSP_request_add1_nonce(req, NULL, CCG_GPU_OCSP_NONCE_SIZE) == 1, CCG_R_INTERNAL_CRYPTO);
    *out = req;
    req = NULL;
    result = CCG_SUCCESS;
cleanup:
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    return result;
}

static ccg_result post(const ccg_gpu_ocsp_config *cfg, const unsigned char *der, int der_len, ccg_http_body *b)
{
    ccg_result result = CCG_FAILURE;
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    long timeout = cfg->timeout_s > 0 ? cfg->timeout_s : CCG_GPU_OCSP_DEFAULT_TIMEOUT_S;
    long connect = timeout < CONNECT_TIMEOUT_MAX_S ? timeout : CONNECT_TIMEOUT_MAX_S;
    long status = 0;
    CURL *h = NULL;
    CCG_ENSURE(pthread_once(&curl_once, curl_init) == 0 && curl_init_rc == CURLE_OK, CCG_R_INTERNAL_ERROR);
    h = curl_easy_init();
    CCG_ENSURE_ALLOC(h);
    headers = curl_slist_append(NULL, "Content-Type: application/ocsp-request");
    CCG_ENSURE_ALLOC(headers);
    int ok = curl_easy_setopt(h, CURLOPT_URL, cfg->responder_url) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TIMEOUT, timeout) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, connect) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_POSTFIELDS, der) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)der_len) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)b->max) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_USERAGENT, "ccgate/0.1") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, ccg_http_body_collect) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEDATA, b) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf) == CURLE_OK;
    CCG_ENSURE_MSG(ok, CCG_R_GPU_OCSP_UNAVAILABLE, "libcurl rejected an option (built without HTTP?)");
    CURLcode rc = curl_easy_perform(h);
    CCG_ENSURE(!b->out_of_memory, CCG_R_INTERNAL_OUT_OF_MEMORY);
    CCG_ENSURE_MSG(!b->too_large && rc != CURLE_FILESIZE_EXCEEDED, CCG_R_GPU_OCSP_RESPONSE_INVALID,
                   "the OCSP response is larger than %zu bytes", b->max);
    CCG_ENSURE_MSG(rc == CURLE_OK, CCG_R_GPU_OCSP_UNAVAILABLE, "the OCSP responder failed: %s",
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    CCG_ENSURE_MSG(status == 200, CCG_R_GPU_OCSP_UNAVAILABLE, "the OCSP responder answered HTTP %ld", status);
    result = CCG_SUCCESS;
cleanup:
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    return result;
}

ccg_result gpu_ocsp_fetch(const ccg_gpu_ocsp_config *cfg, X509 *cert, X509 *issuer, OCSP_REQUEST **req,
                          OCSP_RESPONSE **resp)
{
    ccg_result result = CCG_FAILURE;
    ccg_http_body b = {.max = CCG_GPU_OCSP_MAX_RESPONSE};
    unsigned char *der = NULL;
    *req = NULL;
    *resp = NULL;
    CCG_TRY(build_request(cert, issuer, req));
    int der_len = i2d_OCSP_REQUEST(*req, &der);
    CCG_ENSURE_OSSL(der_len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(post(cfg, der, der_len, &b));
    const unsigned char *p = (const unsigned char *)b.data;
    *resp = p != NULL ? d2i_OCSP_RESPONSE(NULL, &p, (long)b.len) : NULL;
    CCG_ENSURE_MSG(*resp != NULL && p == (const unsigned char *)b.data + b.len, CCG_R_GPU_OCSP_RESPONSE_INVALID,
                   "the OCSP responder's answer is not one DER OCSPResponse");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        OCSP_REQUEST_free(*req);
        OCSP_RESPONSE_free(*resp);
        *req = NULL;
        *resp = NULL;
    }
    ERR_clear_error();
    OPENSSL_free(der);
    ccg_http_body_reset(&b);
    return result;
}
