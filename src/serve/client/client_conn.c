/* The endpoint client's transport (endpoint_client.h): the evidence fetch and the requests on the attested
 * TLS connection (direct) or OHTTP-encapsulated through a gateway. */
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "ccgate/endpoint_client.h"
#include "ccgate/jose.h"
#include "ccgate/ohttp.h"
#include "client_internal.h"

#define DEFAULT_TIMEOUT_MS 120000L

struct ccg_client {
    ccg_client_config cfg;
    CURL *curl;
    int attested;
    uint8_t exporter[CCG_ENDPOINT_EXPORTER_LEN]; /* the attested connection's (direct) */
    ccg_ohttp_key_config kc;                     /* the attested key config (gateway) */
    /* the PREREQFUNCTION's state for the transfer under way */
    int recording;     /* 1: remember the connection's exporter (the evidence fetch) */
    int seen;          /* an exporter was recorded */
    uint8_t seen_exporter[CCG_ENDPOINT_EXPORTER_LEN];
    int refused;       /* the check aborted the transfer */
    ccg_client_stats stats;
};

void ccg_client_stats_get(const ccg_client *c, ccg_client_stats *out) { *out = c->stats; }

/* Runs before libcurl sends a request on a connection (new or reused): the only place that sees the
 * connection a request is about to leave on. Unless its exporter is the attested one, abort. */
static int prereq_cb(void *clientp, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                     int conn_local_port)
{
    ccg_client *c = clientp;
    struct curl_tlssessioninfo *info = NULL;
    uint8_t ex[CCG_ENDPOINT_EXPORTER_LEN];
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    if (curl_easy_getinfo(c->curl, CURLINFO_TLS_SSL_PTR, &info) != CURLE_OK || info == NULL ||
        info->backend != CURLSSLBACKEND_OPENSSL || info->internals == NULL ||
        ccg_failed(ccg_endpoint_tls_exporter(info->internals, ex))) {
        ccg_error_clear();
        c->refused = 1;
        return CURL_PREREQFUNC_ABORT;
    }
    if (c->recording) {
        memcpy(c->seen_exporter, ex, sizeof(ex));
        c->seen = 1;
        return CURL_PREREQFUNC_OK;
    }
    if (!c->attested || CRYPTO_memcmp(ex, c->exporter, sizeof(ex)) != 0) {
        c->refused = 1;
        c->stats.aborted_unattested++;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

ccg_result ccg_client_new(const ccg_client_config *cfg, ccg_client **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_client *c = NULL;
    const curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
    CCG_ENSURE_MSG(cfg->endpoint != NULL && strncmp(cfg->endpoint, "https://", 8) == 0, CCG_R_USAGE_INVALID,
                   "the endpoint must be an https:// URL");
    CCG_ENSURE_MSG(cfg->trust != NULL, CCG_R_USAGE_INVALID, "no trust configuration");
    /* The exporter comes from the OpenSSL connection object: another TLS backend cannot be checked. */
    CCG_ENSURE_MSG(vi != NULL && vi->ssl_version != NULL && strncmp(vi->ssl_version, "OpenSSL", 7) == 0,
                   CCG_R_USAGE_INVALID, "libcurl is not built with OpenSSL (%s)", vi && vi->ssl_version ? vi->ssl_version : "none");
    c = calloc(1, sizeof(*c));
    CCG_ENSURE_ALLOC(c);
    c->cfg = *cfg;
    c->curl = curl_easy_init();
    CCG_ENSURE_ALLOC(c->curl);
    *out = c;
    c = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_client_free(c);
    return result;
}

void ccg_client_free(ccg_client *c)
{
    if (c != NULL) {
        curl_easy_cleanup(c->curl);
        OPENSSL_cleanse(c, sizeof(*c));
        free(c);
    }
}

/* ------------------------------------------------------------------ transfers */

typedef struct {
    ccg_client *c;
    const ccg_client_sink *sink; /* streamed (direct requests) */
    cc_buf *buf;                 /* or collected (evidence, OHTTP responses) */
    size_t max;
    int head_sent;
    int over;
} xfer;

static void send_head(xfer *x)
{
    long status = 0;
    char *ct = NULL;
    if (x->head_sent) {
        return;
    }
    x->head_sent = 1;
    curl_easy_getinfo(x->c->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(x->c->curl, CURLINFO_CONTENT_TYPE, &ct);
    if (x->sink != NULL && x->sink->on_head != NULL) {
        x->sink->on_head(x->sink->arg, (int)status, ct);
    }
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    xfer *x = userdata;
    size_t n = size * nmemb;
    if (x->buf != NULL) {
        if (x->buf->len + n > x->max || ccg_failed(cc_buf_put(x->buf, ptr, n))) {
            x->over = 1;
            return 0;
        }
        return n;
    }
    send_head(x);
    if (x->sink != NULL && x->sink->on_body != NULL && x->sink->on_body(x->sink->arg, (const uint8_t *)ptr, n) != 0) {
        return 0;
    }
    return n;
}

/* The options every transfer shares. */
static ccg_result setup(ccg_client *c, const char *url, xfer *x)
{
    ccg_result result = CCG_FAILURE;
    CURL *h = c->curl;
    curl_easy_reset(h);
    int ok = curl_easy_setopt(h, CURLOPT_URL, url) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_MAXCONNECTS, 1L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->cfg.timeout_ms > 0 ? c->cfg.timeout_ms : DEFAULT_TIMEOUT_MS) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, write_cb) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_WRITEDATA, x) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK;
    if (ok && !c->cfg.gateway) {
        /* Direct: the attestation is the trust, not a PKI; TLS 1.3 only (the RFC 9266 exporter). */
        ok = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)(CURL_SSLVERSION_TLSv1_3 | CURL_SSLVERSION_MAX_DEFAULT)) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, prereq_cb) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_PREREQDATA, c) == CURLE_OK;
        if (ok && c->cfg.client_cert != NULL) {
            ok = curl_easy_setopt(h, CURLOPT_SSLCERT, c->cfg.client_cert) == CURLE_OK &&
                 curl_easy_setopt(h, CURLOPT_SSLKEY, c->cfg.client_key ? c->cfg.client_key : c->cfg.client_cert) == CURLE_OK;
        }
    } else if (ok) {
        if (c->cfg.cacert != NULL) {
            ok = curl_easy_setopt(h, CURLOPT_CAINFO, c->cfg.cacert) == CURLE_OK;
        }
        if (ok && c->cfg.insecure_gateway_tls) {
            ok = curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L) == CURLE_OK &&
                 curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK;
        }
    }
    CCG_ENSURE_MSG(ok, CCG_R_INTERNAL_ERROR, "libcurl refused an option");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result perform(ccg_client *c, xfer *x)
{
    ccg_result result = CCG_FAILURE;
    c->refused = 0;
    CURLcode rc = curl_easy_perform(c->curl);
    if (c->refused) {
        c->attested = 0; /* the attested connection is gone: the next request attests anew */
        CCG_BAIL(CCG_R_CLIENT_CONNECTION_NOT_ATTESTED,
                 "the request would have left on a connection other than the attested one; nothing was sent");
    }
    CCG_ENSURE_MSG(!x->over, CCG_R_INPUT_TOO_LARGE, "the endpoint's answer is larger than %zu bytes", x->max);
    CCG_ENSURE_MSG(rc == CURLE_OK || (rc == CURLE_WRITE_ERROR && x->sink != NULL), CCG_R_CLIENT_ENDPOINT_UNREACHABLE,
                   "%s", curl_easy_strerror(rc));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result join_url(const ccg_client *c, const char *path, cc_buf *url)
{
    ccg_result result = CCG_FAILURE;
    size_t n = strlen(c->cfg.endpoint);
    while (n > 0 && c->cfg.endpoint[n - 1] == '/') {
        n--;
    }
    CCG_TRY(cc_buf_put(url, c->cfg.endpoint, n));
    CCG_TRY(cc_buf_put(url, path, strlen(path) + 1));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ------------------------------------------------------------------ attestation */

ccg_result ccg_client_attest(ccg_client *c, ccg_decision *decision)
{
    ccg_result result = CCG_FAILURE;
    uint8_t nonce[CCG_ENDPOINT_NONCE_LEN];
    char nonce_b64[64], path[160];
    cc_buf url = {0}, body = {0};
    ccg_endpoint_evidence doc;
    ccg_decision local;
    ccg_decision *d = decision != NULL ? decision : &local;
    ccg_endpoint_binding want = c->cfg.gateway ? CCG_ENDPOINT_BINDING_HPKE : CCG_ENDPOINT_BINDING_TLS_EXPORTER;
    xfer x = {.c = c, .buf = &body, .max = CCG_ENDPOINT_EVIDENCE_MAX};
    long status = 0;
    memset(&doc, 0, sizeof(doc));
    if (decision == NULL) {
        memset(&local, 0, sizeof(local));
    }
    ccg_decision_free(d); /* a decision from an earlier attestation of this request */
    ccg_decision_init(d, "endpoint");
    c->attested = 0;
    CCG_ENSURE_OSSL(RAND_bytes(nonce, sizeof(nonce)) == 1, CCG_R_INTERNAL_CRYPTO);
    ccg_b64url_encode_into(nonce, sizeof(nonce), nonce_b64);
    snprintf(path, sizeof(path), "%s?nonce=%s&binding=%s", CCG_ENDPOINT_EVIDENCE_PATH, nonce_b64,
             ccg_endpoint_binding_name(want));
    CCG_TRY(join_url(c, path, &url));
    CCG_TRY(setup(c, (const char *)url.p, &x));
    /* A new connection for a new attestation; its exporter is recorded by the PREREQFUNCTION. */
    CCG_ENSURE(curl_easy_setopt(c->curl, CURLOPT_FRESH_CONNECT, 1L) == CURLE_OK, CCG_R_INTERNAL_ERROR);
    c->recording = 1;
    c->seen = 0;
    result = perform(c, &x);
    c->recording = 0;
    CCG_TRY(result);
    result = CCG_FAILURE;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    CCG_ENSURE_MSG(status == 200, CCG_R_CLIENT_ENDPOINT_UNREACHABLE, "the evidence route answered HTTP %ld", status);
    CCG_ENSURE_MSG(c->cfg.gateway || c->seen, CCG_R_CLIENT_ENDPOINT_UNREACHABLE, "no TLS exporter for the connection");
    CCG_TRY(ccg_endpoint_evidence_decode((const char *)body.p, body.len, &doc));
    ccg_decision_free(d);
    CCG_TRY(ccg_client_verify_evidence(c->cfg.trust, &doc, want, nonce, c->cfg.gateway ? NULL : c->seen_exporter, d));
    if (c->cfg.gateway) {
        ccg_ohttp_sym sym;
        CCG_TRY(ccg_ohttp_key_config_parse(doc.key_config, doc.key_config_len, &c->kc));
        CCG_TRY(ccg_ohttp_key_config_pick(&c->kc, &sym));
    } else {
        memcpy(c->exporter, c->seen_exporter, sizeof(c->exporter));
    }
    c->attested = 1;
    c->stats.attestations++;
    result = CCG_SUCCESS;
cleanup:
    if (decision == NULL) {
        ccg_decision_free(&local);
    }
    ccg_endpoint_evidence_free(&doc);
    free(url.p);
    free(body.p);
    return result;
}

/* ------------------------------------------------------------------ requests */

static ccg_result add_header(struct curl_slist **h, const char *name, const char *value)
{
    ccg_result result = CCG_FAILURE;
    char line[1024];
    CCG_ENSURE_MSG(strlen(name) <= 64 && strlen(value) <= 900 && strpbrk(value, "\r\n") == NULL, CCG_R_USAGE_INVALID,
                   "header %s: too long or not one line", name);
    snprintf(line, sizeof(line), "%.64s: %.900s", name, value); /* lengths checked above */
    struct curl_slist *n = curl_slist_append(*h, line);
    CCG_ENSURE_ALLOC(n);
    *h = n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result request_direct(ccg_client *c, const char *method, const char *path, const char *content_type,
                                 const uint8_t *body, size_t body_len, const ccg_client_sink *sink)
{
    ccg_result result = CCG_FAILURE;
    struct curl_slist *hdrs = NULL;
    cc_buf url = {0};
    xfer x = {.c = c, .sink = sink};
    char auth[600];
    CCG_TRY(join_url(c, path, &url));
    CCG_TRY(setup(c, (const char *)url.p, &x));
    if (c->cfg.api_key != NULL) {
        CCG_ENSURE_MSG(strlen(c->cfg.api_key) < 512, CCG_R_USAGE_INVALID, "API key too long");
        snprintf(auth, sizeof(auth), "Bearer %s", c->cfg.api_key);
        CCG_TRY(add_header(&hdrs, "Authorization", auth));
    }
    if (content_type != NULL) {
        CCG_TRY(add_header(&hdrs, "Content-Type", content_type));
    }
    CCG_TRY(add_header(&hdrs, "Expect", "")); /* no 100-continue round trip */
    int ok = curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
             curl_easy_setopt(c->curl, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
    if (ok && body != NULL) {
        ok = curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len) == CURLE_OK &&
             curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)body) == CURLE_OK;
    }
    CCG_ENSURE_MSG(ok, CCG_R_INTERNAL_ERROR, "libcurl refused an option");
    CCG_TRY(perform(c, &x));
    send_head(&x);
    c->stats.requests++;
    result = CCG_SUCCESS;
cleanup:
    curl_slist_free_all(hdrs);
    OPENSSL_cleanse(auth, sizeof(auth));
    free(url.p);
    return result;
}

/* The authority of the endpoint URL (host[:port]) for the inner request. */
static void authority_of(const char *endpoint, char *out, size_t cap)
{
    const char *p = endpoint + 8;
    size_t n = strcspn(p, "/?#");
    if (n >= cap) {
        n = 0;
    }
    memcpy(out, p, n);
    out[n] = 0;
}

static ccg_result request_gateway(ccg_client *c, const char *method, const char *path, const char *content_type,
                                  const uint8_t *body, size_t body_len, const ccg_client_sink *sink)
{
    ccg_result result = CCG_FAILURE;
    ccg_bhttp_request breq;
    ccg_bhttp_response bres;
    ccg_ohttp_ctx *octx = NULL;
    ccg_ohttp_sym sym;
    uint8_t *inner = NULL, *enc = NULL, *plain = NULL;
    size_t inner_len = 0, enc_len = 0, plain_len = 0;
    struct curl_slist *hdrs = NULL;
    cc_buf url = {0}, resp = {0};
    xfer x = {.c = c, .buf = &resp, .max = CCG_OHTTP_MAX_MESSAGE + 64};
    char authority[256], auth[600];
    long status = 0;
    char *ct = NULL;
    memset(&breq, 0, sizeof(breq));
    memset(&bres, 0, sizeof(bres));
    authority_of(c->cfg.endpoint, authority, sizeof(authority));
    breq.method = (char *)method;
    breq.scheme = "https";
    breq.authority = authority;
    breq.path = (char *)path;
    breq.content = (uint8_t *)body;
    breq.content_len = body_len;
    if (content_type != NULL) {
        CCG_TRY(ccg_bhttp_fields_add(&breq.headers, "content-type", content_type, strlen(content_type)));
    }
    if (c->cfg.api_key != NULL) {
        CCG_ENSURE_MSG(strlen(c->cfg.api_key) < 512, CCG_R_USAGE_INVALID, "API key too long");
        snprintf(auth, sizeof(auth), "Bearer %s", c->cfg.api_key);
        CCG_TRY(ccg_bhttp_fields_add(&breq.headers, "authorization", auth, strlen(auth)));
    }
    CCG_TRY(ccg_bhttp_request_encode(&breq, &inner, &inner_len));
    CCG_TRY(ccg_ohttp_key_config_pick(&c->kc, &sym));
    CCG_TRY(ccg_ohttp_client_encap_request(&c->kc, sym, inner, inner_len, NULL, &enc, &enc_len, &octx));
    CCG_TRY(join_url(c, CCG_ENDPOINT_OHTTP_PATH, &url));
    CCG_TRY(setup(c, (const char *)url.p, &x));
    CCG_TRY(add_header(&hdrs, "Content-Type", "message/ohttp-req"));
    CCG_TRY(add_header(&hdrs, "Accept", "message/ohttp-res"));
    CCG_TRY(add_header(&hdrs, "Expect", ""));
    CCG_ENSURE_MSG(curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdrs) == CURLE_OK &&
                       curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)enc_len) == CURLE_OK &&
                       curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, (const char *)enc) == CURLE_OK,
                   CCG_R_INTERNAL_ERROR, "libcurl refused an option");
    CCG_TRY(perform(c, &x));
    c->stats.requests++;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c->curl, CURLINFO_CONTENT_TYPE, &ct);
    CCG_ENSURE_MSG(status == 200 && ct != NULL && strncmp(ct, "message/ohttp-res", 17) == 0, CCG_R_CLIENT_UPSTREAM_FAILED,
                   "the gateway answered HTTP %ld (%s), not an encapsulated response", status, ct ? ct : "no type");
    CCG_TRY(ccg_ohttp_client_decap_response(octx, resp.p, resp.len, &plain, &plain_len));
    CCG_TRY(ccg_bhttp_response_decode(plain, plain_len, &bres));
    const ccg_bhttp_field *rct = ccg_bhttp_fields_get(&bres.headers, "content-type");
    if (sink != NULL && sink->on_head != NULL) {
        sink->on_head(sink->arg, bres.status, rct ? rct->value : NULL);
    }
    if (sink != NULL && sink->on_body != NULL && bres.content_len > 0) {
        (void)sink->on_body(sink->arg, bres.content, bres.content_len);
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_bhttp_fields_free(&breq.headers);
    ccg_bhttp_response_free(&bres);
    ccg_ohttp_ctx_free(octx);
    OPENSSL_cleanse(auth, sizeof(auth));
    if (inner != NULL) {
        OPENSSL_clear_free(inner, inner_len);
    }
    if (plain != NULL) {
        OPENSSL_clear_free(plain, plain_len);
    }
    free(enc);
    free(url.p);
    free(resp.p);
    curl_slist_free_all(hdrs);
    return result;
}

ccg_result ccg_client_request(ccg_client *c, const char *method, const char *path, const char *content_type,
                              const uint8_t *body, size_t body_len, const ccg_client_sink *sink, ccg_decision *decision)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(method != NULL && path != NULL && path[0] == '/', CCG_R_USAGE_INVALID, "bad request line");
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!c->attested) {
            CCG_TRY(ccg_client_attest(c, decision));
        }
        ccg_error_clear();
        result = c->cfg.gateway ? request_gateway(c, method, path, content_type, body, body_len, sink)
                                : request_direct(c, method, path, content_type, body, body_len, sink);
        /* The attested connection went away before anything was sent: attest a new one, once. */
        if (ccg_ok(result) || ccg_error_reason() != CCG_R_CLIENT_CONNECTION_NOT_ATTESTED) {
            break;
        }
    }
cleanup:
    return result;
}
