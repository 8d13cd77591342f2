/* Where RIMs come from: a local directory (<dir>/<RIM ID>.xml or .swidtag), then an optional RIM
 * service (GET <service_url><RIM ID>, answering {"rim": "<base64 of the XML>", ...} as NVIDIA's RIM
 * service does). Nothing found anywhere fails closed with gpu.rim_unavailable naming the RIM ID. */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/gpu_rim.h"
#include "ccgate/http_body.h"

#define CONNECT_TIMEOUT_MAX_S 5L
/* base64 of the largest RIM plus the JSON around it */
#define SERVICE_BODY_MAX ((size_t)CCG_GPU_RIM_MAX_BYTES / 3 * 4 + (64u << 10))

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

ccg_result ccg_gpu_rim_id_check(const char *id)
{
    ccg_result result = CCG_FAILURE;
    size_t n = id != NULL ? strnlen(id, CCG_GPU_RIM_ID_MAX) : 0;
    CCG_ENSURE_MSG(n > 0 && n < CCG_GPU_RIM_ID_MAX && id[0] != '.', CCG_R_GPU_RIM_ID_INVALID,
                   "a RIM ID must be 1..%d characters and not start with a dot", CCG_GPU_RIM_ID_MAX - 1);
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                 c == '-';
        CCG_ENSURE_MSG(ok, CCG_R_GPU_RIM_ID_INVALID, "the RIM ID holds a character outside [A-Za-z0-9._-]");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* 1 and the bytes when <dir>/<id><ext> exists; 0 when it does not. */
static ccg_result read_from_dir(const char *dir, const char *id, const char *ext, uint8_t **xml, size_t *len,
                                int *found)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    struct stat st;
    *found = 0;
    int n = snprintf(path, sizeof(path), "%s/%s%s", dir, id, ext);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(path), CCG_R_GPU_RIM_UNAVAILABLE, "the RIM directory path is too long");
    if (stat(path, &st) != 0) {
        CCG_ENSURE_MSG(errno == ENOENT || errno == ENOTDIR, CCG_R_GPU_RIM_UNAVAILABLE, "RIM %s: cannot stat %s: %s", id,
                       path, strerror(errno));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(S_ISREG(st.st_mode), CCG_R_GPU_RIM_UNAVAILABLE, "RIM %s: %s is not a regular file", id, path);
    CCG_ENSURE_MSG((uint64_t)st.st_size <= CCG_GPU_RIM_MAX_BYTES, CCG_R_GPU_RIM_TOO_LARGE,
                   "RIM %s: %s has more than %u bytes", id, path, CCG_GPU_RIM_MAX_BYTES);
    if (ccg_failed(ccg_file_read(path, CCG_GPU_RIM_MAX_BYTES, xml, len))) {
        /* The first error wins (error.h): replace the generic file error by the RIM's own code. */
        ccg_reason r =
            ccg_error_reason() == CCG_R_INPUT_TOO_LARGE ? CCG_R_GPU_RIM_TOO_LARGE : CCG_R_GPU_RIM_UNAVAILABLE;
        ccg_error_clear();
        CCG_BAIL(r, "RIM %s: cannot read %s", id, path);
    }
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result http_get(const ccg_gpu_rim_store *s, const char *url, ccg_http_body *b, long *status)
{
    ccg_result result = CCG_FAILURE;
    char errbuf[CURL_ERROR_SIZE] = "";
    long timeout = s->timeout_s > 0 ? s->timeout_s : CCG_GPU_RIM_DEFAULT_TIMEOUT_S;
    long connect = s->connect_timeout_s > 0 ? s->connect_timeout_s : CONNECT_TIMEOUT_MAX_S;
    connect = connect < timeout ? connect : timeout;
    CURL *h = NULL;
    CCG_ENSURE(pthread_once(&curl_once, curl_init) == 0 && curl_init_rc == CURLE_OK, CCG_R_INTERNAL_ERROR);
    h = curl_easy_init();
    CCG_ENSURE_ALLOC(h);
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
    CCG_ENSURE_MSG(ok, CCG_R_GPU_RIM_UNAVAILABLE, "libcurl rejected an option (built without HTTP or TLS?)");
    CURLcode rc = curl_easy_perform(h);
    CCG_ENSURE(!b->out_of_memory, CCG_R_INTERNAL_OUT_OF_MEMORY);
    CCG_ENSURE_MSG(!b->too_large && rc != CURLE_FILESIZE_EXCEEDED, CCG_R_GPU_RIM_TOO_LARGE,
                   "the RIM service's answer is larger than %zu bytes", b->max);
    CCG_ENSURE_MSG(rc == CURLE_OK, CCG_R_GPU_RIM_UNAVAILABLE, "the RIM service failed: %s",
                   errbuf[0] ? errbuf : curl_easy_strerror(rc));
    *status = 0;
    (void)curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    result = CCG_SUCCESS;
cleanup:
    curl_easy_cleanup(h);
    return result;
}

/* Standard base64 (line breaks allowed) into a malloc'd buffer. */
static ccg_result base64_decode(const char *text, size_t text_len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    uint8_t *buf = malloc(text_len / 4 * 3 + 4);
    int n = 0, tail = 0;
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_ALLOC(buf);
    CCG_ENSURE(text_len <= INT32_MAX, CCG_R_GPU_RIM_TOO_LARGE);
    EVP_DecodeInit(ctx);
    CCG_ENSURE_MSG(EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)text, (int)text_len) >= 0 &&
                       EVP_DecodeFinal(ctx, buf + n, &tail) == 1,
                   CCG_R_GPU_RIM_MALFORMED, "the RIM service's \"rim\" is not base64");
    *out = buf;
    *out_len = (size_t)n + (size_t)tail;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    EVP_ENCODE_CTX_free(ctx);
    return result;
}

static ccg_result read_from_service(const ccg_gpu_rim_store *s, const char *id, uint8_t **xml, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    ccg_http_body b = {.max = SERVICE_BODY_MAX};
    json_t *doc = NULL;
    long status = 0;
    char url[4096];
    int n = snprintf(url, sizeof(url), "%s%s", s->service_url, id);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(url), CCG_R_GPU_RIM_UNAVAILABLE, "the RIM service URL is too long");
    CCG_TRY(http_get(s, url, &b, &status));
    CCG_ENSURE_MSG(status == 200, CCG_R_GPU_RIM_UNAVAILABLE, "RIM %s is unavailable: the RIM service answered HTTP %ld",
                   id, status);
    doc = json_loadb(b.data != NULL ? b.data : "", b.len, JSON_REJECT_DUPLICATES, NULL);
    const char *rim = json_string_value(json_object_get(doc, "rim"));
    CCG_ENSURE_MSG(rim != NULL, CCG_R_GPU_RIM_UNAVAILABLE, "RIM %s: the RIM service's answer has no \"rim\" string",
                   id);
    CCG_TRY(base64_decode(rim, json_string_length(json_object_get(doc, "rim")), xml, len));
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    ccg_http_body_reset(&b);
    return result;
}

ccg_result ccg_gpu_rim_store_get(const ccg_gpu_rim_store *store, const char *rim_id, uint8_t **xml, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    static const char *const extensions[] = {".xml", ".swidtag"};
    int found = 0;
    *xml = NULL;
    *len = 0;
    CCG_TRY(ccg_gpu_rim_id_check(rim_id));
    if (store->lookup != NULL) {
        char cid[CCG_GPU_RIM_ID_MAX + 16];
        snprintf(cid, sizeof(cid), "gpu/rim/%s", rim_id);
        CCG_TRY(store->lookup(store->lookup_ctx, cid, xml, len, &found));
    }
    for (size_t i = 0; store->dir != NULL && !found && i < sizeof(extensions) / sizeof(extensions[0]); i++) {
        CCG_TRY(read_from_dir(store->dir, rim_id, extensions[i], xml, len, &found));
    }
    if (!found) {
        CCG_ENSURE_MSG(store->service_url != NULL, CCG_R_GPU_RIM_UNAVAILABLE,
                       "RIM %s is unavailable: not uploaded (gpu/rim/%s), not in a RIM directory, and no RIM "
                       "service is configured", rim_id, rim_id);
        CCG_TRY(read_from_service(store, rim_id, xml, len));
    }
    CCG_ENSURE_MSG(*len <= CCG_GPU_RIM_MAX_BYTES, CCG_R_GPU_RIM_TOO_LARGE, "RIM %s has %zu bytes; at most %u are read",
                   rim_id, *len, CCG_GPU_RIM_MAX_BYTES);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        free(*xml);
        *xml = NULL;
        *len = 0;
    }
    return result;
}

ccg_result ccg_gpu_rim_store_load(const ccg_gpu_rim_store *store, const char *rim_id, X509 *root, ccg_time now,
                                  ccg_gpu_rim *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *xml = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    CCG_TRY(ccg_gpu_rim_store_get(store, rim_id, &xml, &len));
    CCG_TRY(ccg_gpu_rim_verify(xml, len, root, now, out));
    result = CCG_SUCCESS;
cleanup:
    free(xml);
    return result;
}
