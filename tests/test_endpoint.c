/* The inference endpoint from outside, as a client and as an attacker would see it: a real endpoint on
 * 127.0.0.1 (TLS 1.3 bridged into libmicrohttpd), a stand-in runner on a Unix socket, libcurl and raw
 * OpenSSL clients. Each refusal asserts its status and reason code, its counter, and that the endpoint
 * goes on serving; the log is searched for the prompt, the API key and the completion (never there). */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/endpoint.h"
#include "ccgate/error.h"
#include "ccgate/endpoint_binding.h"
#include "ccgate/jose.h"
#include "ccgate/ohttp.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_report.h"
#include "fake_runner.h"
#include "tsm_fuse_ctl.h"

#define API_KEY "test-key-0123456789abcdefABCDEF"
#define PROMPT_MARKER "PROMPT-MARKER-9c1e"
#define RESPONSE_MARKER "RESPONSE-MARKER-7f3a"

static struct {
    char dir[64];
    char sock[128];
    char log[128];
    char emu_dir[128];
    int log_fd;
    fake_runner *runner;
    ccg_endpoint_config cfg;
    ccg_endpoint *ep;
    ccg_attester *att;
    uint16_t port;
} W;

/* ---------------------------------------------------------------- certificates */

static EVP_PKEY *write_cert(const char *name, const char *cn, EVP_PKEY *issuer_key, X509 *issuer, int ca,
                            long not_before, long not_after, X509 **out)
{
    char path[256];
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    FILE *f;
    assert_non_null(key);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(random() & 0x7fffffff));
    X509_set_version(x, 2);
    X509_gmtime_adj(X509_getm_notBefore(x), not_before);
    X509_gmtime_adj(X509_getm_notAfter(x), not_after);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer != NULL ? X509_get_subject_name(issuer) : X509_get_subject_name(x));
    X509_set_pubkey(x, key);
    if (ca) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints, "critical,CA:TRUE");
        X509_add_ext(x, e, -1);
        X509_EXTENSION_free(e);
    }
    assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key, EVP_sha256()) > 0);
    snprintf(path, sizeof(path), "%s/%s.pem", W.dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", W.dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    if (out != NULL) {
        *out = x;
    } else {
        X509_free(x);
    }
    return key;
}

static void make_certs(void)
{
    X509 *ca1, *ca2;
    EVP_PKEY *k1 = write_cert("ca1", "caller CA", NULL, NULL, 1, -3600, 86400, &ca1);
    EVP_PKEY *k2 = write_cert("ca2", "other CA", NULL, NULL, 1, -3600, 86400, &ca2);
    EVP_PKEY_free(write_cert("alice", "alice", k1, ca1, 0, -3600, 86400, NULL));
    EVP_PKEY_free(write_cert("mallory", "mallory", k2, ca2, 0, -3600, 86400, NULL));
    EVP_PKEY_free(write_cert("expired", "old-alice", k1, ca1, 0, -7200, -3600, NULL));
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
    X509_free(ca1);
    X509_free(ca2);
}

static const char *file_in(const char *name)
{
    static char p[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(p[i], sizeof(p[i]), "%s/%s", W.dir, name);
    return p[i];
}

/* ---------------------------------------------------------------- the endpoint under test */

static void base_config(ccg_endpoint_config *cfg)
{
    char hash[CCG_EP_KEY_HASH_TEXT_LEN];
    ccg_endpoint_config_defaults(cfg);
    cfg->listen = strdup("127.0.0.1:0");
    cfg->runner_socket = strdup(W.sock);
    cfg->client_ca_file = strdup(file_in("ca1.pem"));
    cfg->auth[CCG_EP_ROUTE_CHAT] = CCG_EP_AUTH_API_KEY;
    cfg->auth[CCG_EP_ROUTE_COMPLETIONS] = CCG_EP_AUTH_EITHER;
    cfg->auth[CCG_EP_ROUTE_MODELS] = CCG_EP_AUTH_MTLS;
    cfg->keys = calloc(1, sizeof(*cfg->keys));
    assert_non_null(cfg->keys);
    assert_true(ccg_ok(ccg_endpoint_hash_api_key(API_KEY, strlen(API_KEY), hash)));
    snprintf(cfg->keys[0].name, sizeof(cfg->keys[0].name), "app1");
    assert_true(ccg_ok(ccg_hex_decode_exact(hash + 7, cfg->keys[0].hash, 32)));
    cfg->n_keys = 1;
    cfg->body_max = 4096;
    cfg->handshake_timeout_ms = 4000; /* margins for a loaded two-core machine under ASan */
    cfg->request_timeout_ms = 3000;
    cfg->rate_per_s = 1000;
    cfg->rate_burst = 1000;
    cfg->evidence_rate_per_s = 1000;
    cfg->evidence_rate_burst = 1000;
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-ep-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    snprintf(W.sock, sizeof(W.sock), "%s/runner.sock", W.dir);
    snprintf(W.log, sizeof(W.log), "%s/endpoint.log", W.dir);
    W.log_fd = open(W.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    assert_true(W.log_fd >= 0);
    make_certs();
    W.runner = fake_runner_start(W.sock);
    assert_non_null(W.runner);
    {
        ccg_snp_emulator *emu = tu_emulator_state_new(W.emu_dir, sizeof(W.emu_dir), NULL);
        ccg_attester_config ac = {.kind = CCG_ATTESTER_EMULATOR, .emulator_dir = W.emu_dir};
        assert_non_null(emu);
        ccg_snp_emulator_free(emu);
        assert_true(ccg_ok(ccg_attester_open(&ac, &W.att)));
    }
    base_config(&W.cfg);
    {
        ccg_endpoint_deps deps = {.evidence = ccg_endpoint_attester_evidence, .evidence_ctx = W.att, .log_fd = W.log_fd};
        assert_true(ccg_ok(ccg_endpoint_start(&W.cfg, &deps, &W.ep)));
    }
    W.port = ccg_endpoint_port(W.ep);
    assert_true(W.port != 0);
    return 0;
}

static int teardown(void **state)
{
    char cmd[400];
    (void)state;
    ccg_endpoint_stop(W.ep);
    ccg_endpoint_config_free(&W.cfg);
    fake_runner_stop(W.runner);
    ccg_attester_close(W.att);
    close(W.log_fd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", W.dir, W.emu_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cleanup of %s failed\n", W.dir);
    }
    curl_global_cleanup();
    return 0;
}

/* ---------------------------------------------------------------- clients */

typedef struct {
    long status;
    char body[16384];
    size_t len;
    char cid[64];
    int writes;
} resp;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n, room = sizeof(r->body) - 1 - r->len;
    memcpy(r->body + r->len, p, len < room ? len : room);
    r->len += len < room ? len : room;
    r->body[r->len] = 0;
    r->writes++;
    return len;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp *r = ud;
    size_t len = sz * n;
    if (len > 23 && strncasecmp(p, "ccgate-correlation-id: ", 23) == 0) {
        snprintf(r->cid, sizeof(r->cid), "%.*s", (int)(len - 25), p + 23);
    }
    return len;
}

typedef struct {
    const char *method, *path, *auth, *body, *cert, *ctype;
    size_t body_len;
    uint16_t port;
} call;

/* One request over a fresh TLS 1.3 connection; the server certificate is not checked (clients trust the
 * attestation bound to the session, which test_endpoint_evidence checks). */
static CURLcode http(const call *c, resp *r)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512], hdr[600];
    CURLcode rc;
    memset(r, 0, sizeof(*r));
    snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", c->port != 0 ? c->port : W.port, c->path);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
    if (c->auth != NULL) {
        snprintf(hdr, sizeof(hdr), "Authorization: %s", c->auth);
        h = curl_slist_append(h, hdr);
    }
    if (c->body != NULL) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", c->ctype != NULL ? c->ctype : "application/json");
        h = curl_slist_append(h, hdr);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, c->body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(c->body_len != 0 ? c->body_len : strlen(c->body)));
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (c->cert != NULL) {
        curl_easy_setopt(e, CURLOPT_SSLCERT, file_in(c->cert));
        snprintf(hdr, sizeof(hdr), "%s", c->cert);
        hdr[strlen(hdr) - 4] = 0;
        strcat(hdr, ".key");
        curl_easy_setopt(e, CURLOPT_SSLKEY, file_in(hdr));
    }
    rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return rc;
}

/* Asserts the status and the JSON error's code, and that the correlation ID is in header and body. */
static void expect_error(const resp *r, long status, const char *code)
{
    json_error_t je;
    json_t *o = json_loadb(r->body, r->len, 0, &je);
    const char *got;
    if (r->status != status) {
        fprintf(stderr, "status %ld, expected %ld: %s\n", r->status, status, r->body);
    }
    assert_int_equal(r->status, status);
    assert_non_null(o);
    got = json_string_value(json_object_get(json_object_get(o, "error"), "code"));
    assert_non_null(got);
    assert_string_equal(got, code);
    assert_int_equal(strlen(r->cid), 32);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "error"), "correlation_id")), r->cid);
    json_decref(o);
}

static void expect_served(void)
{
    resp r;
    call c = {.method = "GET", .path = "/healthz"};
    assert_int_equal(http(&c, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
}

static ccg_endpoint_counters counters(void)
{
    ccg_endpoint_counters c;
    ccg_endpoint_get_counters(W.ep, &c);
    return c;
}

#define CHAT_BODY "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"" PROMPT_MARKER "\"}]}"

/* ---------------------------------------------------------------- tests */

static void test_endpoint_serves(void **state)
{
    resp r;
    call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY, .body = CHAT_BODY};
    char seen[64];
    (void)state;
    expect_served();
    assert_int_equal(http(&c, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, RESPONSE_MARKER));
    assert_int_equal(strlen(r.cid), 32);
    fake_runner_last_cid(W.runner, seen);
    assert_string_equal(seen, r.cid); /* the runner's log lines can carry the same ID */
    assert_false(fake_runner_saw_authorization(W.runner)); /* the caller's key stays at the endpoint */
    {
        call m = {.method = "GET", .path = "/v1/models", .cert = "alice.pem"};
        assert_int_equal(http(&m, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"fake\""));
    }
    {
        call rz = {.method = "GET", .path = "/readyz"};
        assert_int_equal(http(&rz, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
    }
}

static void test_endpoint_streaming(void **state)
{
    resp r;
    call c = {.method = "POST",
              .path = "/v1/chat/completions",
              .auth = "Bearer " API_KEY,
              .body = "{\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"" PROMPT_MARKER "\"}]}"};
    (void)state;
    assert_int_equal(http(&c, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "data: {\"choices\""));
    assert_non_null(strstr(r.body, "tok0"));
    assert_non_null(strstr(r.body, "tok4"));
    assert_non_null(strstr(r.body, "data: [DONE]\n\n"));
    /* passed through as it came (chunks 50 ms apart reach the client in several writes), not buffered */
    assert_true(r.writes > 1);
}

static void test_endpoint_blocked_paths(void **state)
{
    static const struct {
        const char *method, *path;
        long status;
    } cases[] = {
        {"GET", "/admin", 404},
        {"GET", "/metrics", 404},
        {"GET", "/status", 404},
        {"GET", "/v1/../admin", 404},
        {"GET", "/v1/models/../../admin", 404},
        {"GET", "/v1/%2e%2e/admin", 404},
        {"GET", "/v1/%6dodels", 404},
        {"GET", "//v1/models", 404},
        {"GET", "/v1/models/", 404},
        {"GET", "/v1/./models", 404},
        {"GET", "/healthz/.", 404},
        {"GET", "/v1\\models", 404},
        {"DELETE", "/v1/models", 405},
        {"PUT", "/v1/chat/completions", 405},
        {"GET", "/v1/chat/completions", 405},
        {"TRACE", "/healthz", 405},
        {"OPTIONS", "/v1/models", 405},
        {"GET", "/.well-known/ccgate/ohttp", 405},
        {"POST", "/.well-known/ccgate/evidence", 405},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    uint64_t before = counters().path_blocked;
    (void)state;
    for (size_t i = 0; i < n; i++) {
        resp r;
        call c = {.method = cases[i].method, .path = cases[i].path, .auth = "Bearer " API_KEY, .cert = "alice.pem"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        if (r.status != cases[i].status) {
            fprintf(stderr, "%s %s\n", cases[i].method, cases[i].path);
        }
        expect_error(&r, cases[i].status, "endpoint.path_blocked");
        assert_null(strstr(r.body, cases[i].path)); /* never echoed */
    }
    assert_int_equal(counters().path_blocked - before, n);
    expect_served();
}

static void test_endpoint_callers(void **state)
{
    resp r;
    uint64_t before = counters().caller_denied;
    int before_runner = fake_runner_requests(W.runner);
    (void)state;
    {
        call c = {.method = "POST", .path = "/v1/chat/completions", .body = CHAT_BODY};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 401, "endpoint.caller_not_allowed");
    }
    {
        call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer wrong-key-0123456789abcdef",
                  .body = CHAT_BODY};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 401, "endpoint.caller_not_allowed");
    }
    {
        call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Basic " API_KEY, .body = CHAT_BODY};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 401, "endpoint.caller_not_allowed");
    }
    {
        /* a client certificate does not stand in for the key on an api_key route */
        call c = {.method = "POST", .path = "/v1/chat/completions", .cert = "alice.pem", .body = CHAT_BODY};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 401, "endpoint.caller_not_allowed");
    }
    {
        call c = {.method = "GET", .path = "/v1/models"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 401, "endpoint.caller_not_allowed");
    }
    {
        call c = {.method = "GET", .path = "/v1/models", .auth = "Bearer " API_KEY};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 401, "endpoint.caller_not_allowed");
    }
    {
        call c = {.method = "GET", .path = "/v1/models", .cert = "mallory.pem"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 403, "endpoint.cert_untrusted");
    }
    {
        call c = {.method = "GET", .path = "/v1/models", .cert = "expired.pem"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 403, "endpoint.cert_expired");
    }
    {
        call c = {.method = "POST", .path = "/v1/completions", .cert = "mallory.pem", .body = "{\"prompt\":\"x\"}"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 403, "endpoint.cert_untrusted");
    }
    assert_int_equal(counters().caller_denied - before, 9);
    assert_int_equal(fake_runner_requests(W.runner), before_runner); /* nothing reached the runner */
    /* "either": a certificate, or a key when the certificate is another CA's */
    {
        call c = {.method = "POST", .path = "/v1/completions", .cert = "alice.pem", .body = "{\"prompt\":\"x\"}"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
    }
    {
        call c = {.method = "POST", .path = "/v1/completions", .cert = "mallory.pem", .auth = "Bearer " API_KEY,
                  .body = "{\"prompt\":\"x\"}"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
    }
    expect_served();
}

static size_t read_zeros(char *buf, size_t sz, size_t n, void *ud)
{
    size_t *left = ud, k = sz * n < *left ? sz * n : *left;
    memset(buf, 'a', k);
    *left -= k;
    return k;
}

static void test_endpoint_body_limit(void **state)
{
    resp r;
    char *big = malloc(5000);
    uint64_t before = counters().body_too_large;
    (void)state;
    assert_non_null(big);
    memset(big, ' ', 5000);
    memcpy(big, "{\"a\":1}", 7);
    {
        call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY, .body = big,
                  .body_len = 5000};
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 413, "endpoint.body_too_large");
    }
    free(big);
    {
        /* chunked: no Content-Length, the limit is found while reading */
        CURL *e = curl_easy_init();
        struct curl_slist *h = NULL;
        size_t left = 100000;
        char url[128];
        memset(&r, 0, sizeof(r));
        snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/chat/completions", W.port);
        h = curl_slist_append(h, "Authorization: Bearer " API_KEY);
        h = curl_slist_append(h, "Transfer-Encoding: chunked");
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
        curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_zeros);
        curl_easy_setopt(e, CURLOPT_READDATA, &left);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
        curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(e, CURLOPT_HEADERDATA, &r);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
        (void)curl_easy_perform(e); /* the server may close before the upload ends */
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r.status);
        curl_slist_free_all(h);
        curl_easy_cleanup(e);
        expect_error(&r, 413, "endpoint.body_too_large");
    }
    assert_int_equal(counters().body_too_large - before, 2);
    expect_served();
}

/* ---------------------------------------------------------------- raw TLS clients */

static int tcp_connect(uint16_t port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

static SSL *tls_connect(SSL_CTX *ctx, int fd)
{
    SSL *s = SSL_new(ctx);
    assert_non_null(s);
    SSL_set_fd(s, fd);
    if (SSL_connect(s) != 1) {
        ERR_clear_error();
        SSL_free(s);
        return NULL;
    }
    return s;
}

static SSL_CTX *client_ctx(int max_version)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    SSL_CTX_set_max_proto_version(ctx, max_version);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    return ctx;
}

/* Reads until the server closes (or 10 s); returns the bytes read. */
static size_t read_all(SSL *s, int fd, char *buf, size_t max)
{
    size_t len = 0;
    for (int i = 0; i < 100 && len + 1 < max; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        size_t n = 0;
        if (SSL_pending(s) == 0 && poll(&p, 1, 100) == 0) {
            continue;
        }
        if (SSL_read_ex(s, buf + len, max - 1 - len, &n) != 1) {
            break;
        }
        len += n;
    }
    buf[len] = 0;
    ERR_clear_error();
    return len;
}

static void test_endpoint_tls12_refused(void **state)
{
    SSL_CTX *ctx = client_ctx(TLS1_2_VERSION);
    int fd = tcp_connect(W.port);
    uint64_t before = counters().handshake_failed;
    SSL *s = tls_connect(ctx, fd);
    (void)state;
    assert_null(s); /* no TLS 1.2 */
    close(fd);
    SSL_CTX_free(ctx);
    for (int i = 0; i < 50 && counters().handshake_failed == before; i++) {
        usleep(20000);
    }
    assert_int_equal(counters().handshake_failed - before, 1);
    expect_served();
}

static void test_endpoint_handshake_deadline(void **state)
{
    int fd = tcp_connect(W.port);
    uint64_t before = counters().handshake_failed;
    char b;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    (void)state;
    /* says nothing: the endpoint closes it after handshake_timeout_ms, and serves others meanwhile */
    expect_served();
    assert_int_equal(poll(&p, 1, 10000), 1);
    assert_int_equal(read(fd, &b, 1), 0);
    close(fd);
    for (int i = 0; i < 50 && counters().handshake_failed == before; i++) {
        usleep(20000);
    }
    assert_int_equal(counters().handshake_failed - before, 1);
}

static void test_endpoint_slow_drip(void **state)
{
    SSL_CTX *ctx = client_ctx(TLS1_3_VERSION);
    int fd = tcp_connect(W.port);
    SSL *s = tls_connect(ctx, fd);
    static const char head[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " API_KEY
                               "\r\nContent-Length: 200\r\n\r\n{\"messages\":";
    char buf[4096];
    uint64_t before = counters().request_timeout;
    int cut = 0;
    (void)state;
    assert_non_null(s);
    assert_int_equal(SSL_write(s, head, (int)strlen(head)), (int)strlen(head));
    /* one byte every 200 ms: the whole request never arrives within request_timeout_ms */
    for (int i = 0; i < 40 && !cut; i++) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (i == 2) {
            resp r;
            call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY, .body = CHAT_BODY};
            assert_int_equal(http(&c, &r), CURLE_OK); /* another client is served meanwhile */
            assert_int_equal(r.status, 200);
        }
        if (poll(&p, 1, 200) == 1) {
            cut = 1;
            break;
        }
        if (SSL_write(s, " ", 1) != 1) {
            cut = 1;
        }
    }
    assert_true(cut);
    read_all(s, fd, buf, sizeof(buf));
    assert_non_null(strstr(buf, "HTTP/1.1 408"));
    assert_non_null(strstr(buf, "endpoint.request_timeout"));
    assert_non_null(strstr(buf, "ccgate-correlation-id: "));
    assert_int_equal(counters().request_timeout - before, 1);
    SSL_free(s);
    close(fd);
    SSL_CTX_free(ctx);
    expect_served();
}

static void test_endpoint_runner_down(void **state)
{
    resp r;
    call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY, .body = CHAT_BODY};
    call rz = {.method = "GET", .path = "/readyz"};
    (void)state;
    fake_runner_stop(W.runner);
    W.runner = NULL;
    assert_int_equal(http(&c, &r), CURLE_OK);
    expect_error(&r, 503, "endpoint.runner_unavailable");
    assert_int_equal(http(&rz, &r), CURLE_OK);
    expect_error(&r, 503, "endpoint.runner_unavailable");
    expect_served();
    W.runner = fake_runner_start(W.sock); /* back: served again */
    assert_non_null(W.runner);
    assert_int_equal(http(&c, &r), CURLE_OK);
    assert_int_equal(r.status, 200);
}

/* One client connection, several requests: the endpoint keeps one runner connection for it (not one per
 * request), a stream and a plain answer share it, and a runner that went away and came back is found
 * again: 503 endpoint.runner_unavailable while it is gone, served on a fresh runner connection after. */
static long link_call(CURL *e, const char *body, resp *r)
{
    long connects = -1;
    memset(r, 0, sizeof(*r));
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
    return connects; /* 0: the request went on the kept-alive client connection */
}

static void test_endpoint_runner_link(void **state)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[128];
    resp r;
    int conns, reqs;
    (void)state;
    assert_non_null(e);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/v1/chat/completions", W.port);
    h = curl_slist_append(h, "Authorization: Bearer " API_KEY);
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_3);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, &r);
    conns = fake_runner_connections(W.runner);
    reqs = fake_runner_requests(W.runner);
    assert_int_equal(link_call(e, CHAT_BODY, &r), 1);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, RESPONSE_MARKER));
    for (int i = 0; i < 3; i++) {
        assert_int_equal(link_call(e, i == 1 ? "{\"stream\":true,\"messages\":[]}" : CHAT_BODY, &r), 0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, i == 1 ? "data: [DONE]" : RESPONSE_MARKER));
    }
    assert_int_equal(fake_runner_requests(W.runner), reqs + 4);
    assert_int_equal(fake_runner_connections(W.runner), conns + 1); /* one runner connection for four requests */
    /* The runner goes away under the kept link, then comes back. */
    fake_runner_stop(W.runner);
    W.runner = NULL;
    assert_int_equal(link_call(e, CHAT_BODY, &r), 0);
    expect_error(&r, 503, "endpoint.runner_unavailable");
    W.runner = fake_runner_start(W.sock);
    assert_non_null(W.runner);
    assert_int_equal(link_call(e, CHAT_BODY, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, RESPONSE_MARKER));
    assert_int_equal(fake_runner_connections(W.runner), 1);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
}

static void test_endpoint_rate_limit(void **state)
{
    ccg_endpoint_config cfg;
    ccg_endpoint *ep = NULL;
    ccg_endpoint_deps deps = {.log_fd = W.log_fd};
    resp r;
    (void)state;
    base_config(&cfg);
    cfg.rate_per_s = 0.001;
    cfg.rate_burst = 2;
    cfg.evidence_rate_per_s = 0.001;
    cfg.evidence_rate_burst = 1;
    assert_true(ccg_ok(ccg_endpoint_start(&cfg, &deps, &ep)));
    {
        call c = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY, .body = CHAT_BODY,
                  .port = ccg_endpoint_port(ep)};
        call m = {.method = "GET", .path = "/v1/models", .cert = "alice.pem", .port = ccg_endpoint_port(ep)};
        call ev = {.method = "GET", .path = "/.well-known/ccgate/evidence?nonce=x", .port = ccg_endpoint_port(ep)};
        for (int i = 0; i < 2; i++) {
            assert_int_equal(http(&c, &r), CURLE_OK);
            assert_int_equal(r.status, 200);
        }
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 429, "endpoint.rate_limited");
        /* another caller has its own bucket */
        assert_int_equal(http(&m, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
        /* the evidence route: per address */
        assert_int_equal(http(&ev, &r), CURLE_OK);
        expect_error(&r, 400, "endpoint.request_invalid");
        assert_int_equal(http(&ev, &r), CURLE_OK);
        expect_error(&r, 429, "endpoint.rate_limited");
    }
    {
        ccg_endpoint_counters k;
        ccg_endpoint_get_counters(ep, &k);
        assert_int_equal(k.rate_limited, 2);
    }
    ccg_endpoint_stop(ep);
    ccg_endpoint_config_free(&cfg);
}

static void test_endpoint_connection_cap(void **state)
{
    ccg_endpoint_config cfg;
    ccg_endpoint *ep = NULL;
    ccg_endpoint_deps deps = {.log_fd = W.log_fd};
    SSL_CTX *ctx = client_ctx(TLS1_3_VERSION);
    SSL *held[2];
    int fds[3];
    (void)state;
    base_config(&cfg);
    cfg.max_per_address = 2;
    assert_true(ccg_ok(ccg_endpoint_start(&cfg, &deps, &ep)));
    for (int i = 0; i < 2; i++) {
        fds[i] = tcp_connect(ccg_endpoint_port(ep));
        held[i] = tls_connect(ctx, fds[i]);
        assert_non_null(held[i]);
    }
    fds[2] = tcp_connect(ccg_endpoint_port(ep));
    assert_null(tls_connect(ctx, fds[2])); /* closed before any TLS byte */
    {
        ccg_endpoint_counters k;
        ccg_endpoint_get_counters(ep, &k);
        assert_int_equal(k.too_many_connections, 1);
    }
    for (int i = 0; i < 2; i++) {
        SSL_free(held[i]);
        close(fds[i]);
    }
    close(fds[2]);
    SSL_CTX_free(ctx);
    {
        /* this endpoint has no attester: the evidence route says so, it does not invent evidence */
        resp r;
        call ev = {.method = "GET",
                   .path = "/.well-known/ccgate/evidence?nonce=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                   .port = ccg_endpoint_port(ep)};
        CURLcode rc = CURLE_COULDNT_CONNECT;
        for (int i = 0; i < 100 && rc != CURLE_OK; i++) {
            rc = http(&ev, &r); /* the closed connections are counted until their threads see the close */
            if (rc != CURLE_OK) {
                usleep(20000);
            }
        }
        assert_int_equal(rc, CURLE_OK);
        expect_error(&r, 503, "endpoint.evidence_unavailable");
        {
            ccg_endpoint_counters k;
            ccg_endpoint_get_counters(ep, &k);
            assert_int_equal(k.evidence_failed, 1);
            assert_int_equal(k.evidence_served, 0);
        }
    }
    ccg_endpoint_stop(ep);
    ccg_endpoint_config_free(&cfg);
}

/* The evidence over a raw connection: REPORT_DATA binds our nonce and this session's exporter. */
static void test_endpoint_evidence(void **state)
{
    SSL_CTX *ctx = client_ctx(TLS1_3_VERSION);
    int fd = tcp_connect(W.port);
    SSL *s = tls_connect(ctx, fd);
    uint8_t nonce[32], exporter[32], *report = NULL, *kc = NULL;
    size_t report_len = 0, kc_len = 0;
    char nonce_b64[64], req[256], *buf = malloc(65536), *body;
    json_t *o;
    ccg_snp_report rep;
    (void)state;
    assert_non_null(s);
    assert_non_null(buf);
    assert_int_equal(RAND_bytes(nonce, 32), 1);
    ccg_b64url_encode_into(nonce, 32, nonce_b64);
    snprintf(req, sizeof(req),
             "GET /.well-known/ccgate/evidence?nonce=%s&binding=tls-exporter HTTP/1.1\r\nHost: x\r\nConnection: "
             "close\r\n\r\n",
             nonce_b64);
    assert_int_equal(SSL_write(s, req, (int)strlen(req)), (int)strlen(req));
    read_all(s, fd, buf, 65536);
    assert_non_null(strstr(buf, "HTTP/1.1 200"));
    body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    o = json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "binding")), "tls-exporter");
    assert_string_equal(json_string_value(json_object_get(o, "nonce")), nonce_b64);
    assert_string_equal(json_string_value(json_object_get(o, "tee")), "snp");
    assert_true(ccg_ok(ccg_b64url_decode(json_string_value(json_object_get(o, "report")),
                                         strlen(json_string_value(json_object_get(o, "report"))),
                                         CCG_R_INPUT_MALFORMED, &report, &report_len)));
    assert_true(ccg_ok(ccg_b64url_decode(json_string_value(json_object_get(o, "key_config")),
                                         strlen(json_string_value(json_object_get(o, "key_config"))),
                                         CCG_R_INPUT_MALFORMED, &kc, &kc_len)));
    assert_int_equal(SSL_export_keying_material(s, exporter, 32, "EXPORTER-Channel-Binding", 24, NULL, 0, 0), 1);
    assert_true(ccg_ok(ccg_snp_report_parse(report, report_len, &rep)));
    {
        /* REPORT_DATA = SHA-512("ccgate endpoint v1" || 1 || nonce || exporter || SHA-256(key_config)) */
        uint8_t want[64], kch[32], one = 1;
        unsigned int n = 0;
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        SHA256(kc, kc_len, kch);
        EVP_DigestInit_ex(md, EVP_sha512(), NULL);
        EVP_DigestUpdate(md, "ccgate endpoint v1", 18);
        EVP_DigestUpdate(md, &one, 1);
        EVP_DigestUpdate(md, nonce, 32);
        EVP_DigestUpdate(md, exporter, 32);
        EVP_DigestUpdate(md, kch, 32);
        EVP_DigestFinal_ex(md, want, &n);
        EVP_MD_CTX_free(md);
        assert_memory_equal(rep.report_data, want, 64);
        /* another session's exporter would not match: the evidence cannot be relayed */
        exporter[0] ^= 1;
        md = EVP_MD_CTX_new();
        EVP_DigestInit_ex(md, EVP_sha512(), NULL);
        EVP_DigestUpdate(md, "ccgate endpoint v1", 18);
        EVP_DigestUpdate(md, &one, 1);
        EVP_DigestUpdate(md, nonce, 32);
        EVP_DigestUpdate(md, exporter, 32);
        EVP_DigestUpdate(md, kch, 32);
        EVP_DigestFinal_ex(md, want, &n);
        EVP_MD_CTX_free(md);
        assert_memory_not_equal(rep.report_data, want, 64);
    }
    json_decref(o);
    free(report);
    free(kc);
    free(buf);
    SSL_free(s);
    close(fd);
    SSL_CTX_free(ctx);
    {
        resp r;
        call bad = {.method = "GET", .path = "/.well-known/ccgate/evidence?nonce=AAAA&binding=tls-exporter"};
        call bad2 = {.method = "GET",
                     .path = "/.well-known/ccgate/evidence?nonce=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&binding=x"};
        assert_int_equal(http(&bad, &r), CURLE_OK);
        expect_error(&r, 400, "endpoint.request_invalid");
        assert_int_equal(http(&bad2, &r), CURLE_OK);
        expect_error(&r, 400, "endpoint.request_invalid");
    }
}


/* Gateway mode: fetch the key config from evidence (binding=hpke), encapsulate a bhttp request, POST it. */
static void fetch_key_config(uint16_t port, ccg_ohttp_key_config *kc)
{
    resp r;
    char path[160], nonce_b64[64];
    uint8_t nonce[32];
    ccg_endpoint_evidence doc;
    assert_int_equal(RAND_bytes(nonce, 32), 1);
    ccg_b64url_encode_into(nonce, 32, nonce_b64);
    snprintf(path, sizeof(path), "/.well-known/ccgate/evidence?nonce=%s&binding=hpke", nonce_b64);
    {
        call c = {.method = "GET", .path = path, .port = port};
        assert_int_equal(http(&c, &r), CURLE_OK);
    }
    assert_int_equal(r.status, 200);
    assert_true(ccg_ok(ccg_endpoint_evidence_decode(r.body, r.len, &doc)));
    assert_int_equal(doc.binding, CCG_ENDPOINT_BINDING_HPKE);
    {
        /* REPORT_DATA binds the nonce and this key config (exporter zeros) */
        ccg_snp_report rep;
        uint8_t rd[64];
        assert_true(ccg_ok(ccg_snp_report_parse(doc.report, doc.report_len, &rep)));
        assert_true(ccg_ok(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, doc.key_config,
                                                    doc.key_config_len, rd)));
        assert_memory_equal(rep.report_data, rd, 64);
        assert_true(ccg_ok(ccg_endpoint_check_binding(&doc, CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, rep.report_data)));
    }
    assert_true(ccg_ok(ccg_ohttp_key_config_parse(doc.key_config, doc.key_config_len, kc)));
    ccg_endpoint_evidence_free(&doc);
}

/* One encapsulated exchange; returns the outer status and fills the inner response. */
static long gateway_call(const ccg_ohttp_key_config *kc, const char *method, const char *path, const char *auth,
                         const char *body, ccg_bhttp_response *inner, resp *outer)
{
    ccg_bhttp_request rq;
    ccg_ohttp_sym sym;
    ccg_ohttp_ctx *ctx = NULL;
    uint8_t *enc = NULL, *msg = NULL, *plain = NULL;
    size_t enc_len = 0, msg_len = 0, plain_len = 0;
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: message/ohttp-req");
    char url[128];
    memset(&rq, 0, sizeof(rq));
    memset(inner, 0, sizeof(*inner));
    memset(outer, 0, sizeof(*outer));
    rq.method = (char *)method;
    rq.scheme = (char *)"https";
    rq.authority = (char *)"";
    rq.path = (char *)path;
    if (auth != NULL) {
        assert_true(ccg_ok(ccg_bhttp_fields_add(&rq.headers, "authorization", auth, strlen(auth))));
    }
    assert_true(ccg_ok(ccg_bhttp_fields_add(&rq.headers, "content-type", "application/json", 16)));
    rq.content = (uint8_t *)body;
    rq.content_len = body != NULL ? strlen(body) : 0;
    assert_true(ccg_ok(ccg_bhttp_request_encode(&rq, &enc, &enc_len)));
    ccg_bhttp_fields_free(&rq.headers);
    assert_true(ccg_ok(ccg_ohttp_key_config_pick(kc, &sym)));
    assert_true(ccg_ok(ccg_ohttp_client_encap_request(kc, sym, enc, enc_len, NULL, &msg, &msg_len, &ctx)));
    assert_null(memmem(msg, msg_len, PROMPT_MARKER, strlen(PROMPT_MARKER))); /* the gateway sees ciphertext */
    snprintf(url, sizeof(url), "https://127.0.0.1:%u/.well-known/ccgate/ohttp", W.port);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)msg);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)msg_len);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, outer);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, outer);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 20L);
    assert_int_equal(curl_easy_perform(e), CURLE_OK);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &outer->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    if (outer->status == 200) {
        assert_null(memmem(outer->body, outer->len, RESPONSE_MARKER, strlen(RESPONSE_MARKER)));
        assert_true(ccg_ok(ccg_ohttp_client_decap_response(ctx, (const uint8_t *)outer->body, outer->len, &plain,
                                                          &plain_len)));
        assert_true(ccg_ok(ccg_bhttp_response_decode(plain, plain_len, inner)));
    }
    free(plain);
    free(enc);
    free(msg);
    ccg_ohttp_ctx_free(ctx);
    return outer->status;
}

static void test_endpoint_gateway(void **state)
{
    ccg_ohttp_key_config kc;
    ccg_bhttp_response in;
    resp outer;
    (void)state;
    W.cfg.gateway = 1; /* read per request: the route is served from now on */
    fetch_key_config(W.port, &kc);
    assert_int_equal(gateway_call(&kc, "POST", "/v1/chat/completions", "Bearer " API_KEY, CHAT_BODY, &in, &outer),
                     200);
    assert_int_equal(in.status, 200);
    assert_non_null(memmem(in.content, in.content_len, RESPONSE_MARKER, strlen(RESPONSE_MARKER)));
    ccg_bhttp_response_free(&in);
    /* streaming through a gateway: the whole event stream in one encapsulated answer */
    assert_int_equal(gateway_call(&kc, "POST", "/v1/chat/completions", "Bearer " API_KEY,
                                  "{\"stream\":true,\"messages\":[]}", &in, &outer),
                     200);
    assert_int_equal(in.status, 200);
    assert_non_null(memmem(in.content, in.content_len, "data: [DONE]", 12));
    ccg_bhttp_response_free(&in);
    /* the inner request meets the same rules: no key, a blocked path, an mTLS-only route */
    assert_int_equal(gateway_call(&kc, "POST", "/v1/chat/completions", NULL, CHAT_BODY, &in, &outer), 200);
    assert_int_equal(in.status, 401);
    assert_non_null(memmem(in.content, in.content_len, "endpoint.caller_not_allowed", 27));
    ccg_bhttp_response_free(&in);
    assert_int_equal(gateway_call(&kc, "GET", "/admin", "Bearer " API_KEY, NULL, &in, &outer), 200);
    assert_int_equal(in.status, 404);
    assert_non_null(memmem(in.content, in.content_len, "endpoint.path_blocked", 21));
    ccg_bhttp_response_free(&in);
    assert_int_equal(gateway_call(&kc, "GET", "/v1/models", "Bearer " API_KEY, NULL, &in, &outer), 200);
    assert_int_equal(in.status, 401); /* mtls route: no certificate crosses a gateway */
    ccg_bhttp_response_free(&in);
    assert_int_equal(gateway_call(&kc, "GET", "/.well-known/ccgate/evidence", NULL, NULL, &in, &outer), 200);
    assert_int_equal(in.status, 404); /* no nesting */
    ccg_bhttp_response_free(&in);
    {
        /* garbage and a tampered envelope: refused outside with the OHTTP code */
        call c = {.method = "POST", .path = "/.well-known/ccgate/ohttp", .body = "not an envelope at all"};
        resp r;
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 400, "endpoint.request_invalid"); /* wrong content type */
    }
    {
        static const char junk[] = "\x01\x00\x20\x00\x01\x00\x01" "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        call c = {.method = "POST", .path = "/.well-known/ccgate/ohttp", .body = junk, .body_len = sizeof(junk) - 1,
                  .ctype = "message/ohttp-req"};
        resp r;
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 400, "client.ohttp_decrypt_failed"); /* not sealed to this key */
        c.body = "\x07";
        c.body_len = 1;
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 400, "client.ohttp_malformed");
    }
    W.cfg.gateway = 0;
    {
        call c = {.method = "POST", .path = "/.well-known/ccgate/ohttp", .body = "x"};
        resp r;
        assert_int_equal(http(&c, &r), CURLE_OK);
        expect_error(&r, 404, "endpoint.gateway_disabled");
    }
}


/* Raw bytes over a fresh TLS 1.3 connection; the whole answer (until the server closes) into out. */
static void raw_exchange(const char *req, size_t req_len, char *out, size_t max)
{
    SSL_CTX *ctx = client_ctx(TLS1_3_VERSION);
    int fd = tcp_connect(W.port);
    SSL *s = tls_connect(ctx, fd);
    size_t off = 0;
    assert_non_null(s);
    while (off < req_len) {
        int w = SSL_write(s, req + off, (int)(req_len - off > 16384 ? 16384 : req_len - off));
        if (w <= 0) {
            break; /* the server may stop reading once it has refused */
        }
        off += (size_t)w;
    }
    read_all(s, fd, out, max);
    SSL_free(s);
    close(fd);
    SSL_CTX_free(ctx);
}

static int status_of(const char *text)
{
    int st = 0;
    return sscanf(text, "HTTP/1.%*d %d", &st) == 1 ? st : 0;
}

/* An attacker's requests: each is refused (by the endpoint with its code, or by libmicrohttpd's strict
 * parser), none reaches the runner, and the endpoint keeps serving. */
static void test_endpoint_attacks(void **state)
{
    char *out = malloc(65536);
    int runner_before = fake_runner_requests(W.runner);
    (void)state;
    assert_non_null(out);
    {
        /* request smuggling: Content-Length and chunked together */
        static const char r[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " API_KEY
                                "\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n"
                                "Host: x\r\n\r\n";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        /* one parser only: chunked wins (RFC 9112 6.3), the body is empty, and the "smuggled" request is
         * parsed by the same parser as the next request, which is blocked like any other */
        if (status_of(out) == 200) {
            assert_non_null(strstr(out, "endpoint.path_blocked"));
            runner_before++;
        } else {
            assert_true(status_of(out) >= 400);
        }
    }
    {
        /* a declared body beyond the limit is refused from the headers alone, before any body byte */
        static const char r[] = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " API_KEY
                                "\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_int_equal(status_of(out), 413);
        assert_non_null(strstr(out, "endpoint.body_too_large"));
    }
    {
        /* Authorization twice (the first good, the second not): refused, not resolved to either */
        static const char r[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " API_KEY
                                "\r\nAuthorization: Bearer wrong-key-wrong-key\r\nContent-Type: application/json"
                                "\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_int_equal(status_of(out), 400);
        assert_non_null(strstr(out, "endpoint.request_invalid"));
    }
    {
        /* the evidence route's nonce twice: refused, whichever one the client would check */
        static const char r[] = "GET /.well-known/ccgate/evidence?nonce=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
                                "&nonce=BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_int_equal(status_of(out), 400);
        assert_non_null(strstr(out, "endpoint.request_invalid"));
    }
    {
        /* the auth scheme is case-insensitive (RFC 9110 11.1): "bearer" is the same key */
        static const char r[] = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: bearer " API_KEY
                                "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\n{}";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_int_equal(status_of(out), 200);
        runner_before++;
    }
    {
        /* absolute-form target */
        static const char r[] = "GET https://evil.example/v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_true(status_of(out) >= 400);
        assert_null(strstr(out, "\"fake\""));
    }
    {
        /* pipelined: a good request, then a blocked one, on one connection and in one write */
        static const char r[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/%2e%2e/admin HTTP/1.1\r\nHost: x\r\n"
                                "Connection: close\r\n\r\n";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_int_equal(status_of(out), 200);
        assert_non_null(strstr(out, "endpoint.path_blocked"));
    }
    {
        /* a header flood beyond libmicrohttpd's per-connection memory */
        size_t n = 200000;
        char *r = malloc(n + 200);
        int len;
        assert_non_null(r);
        len = snprintf(r, 200, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Flood: ");
        memset(r + len, 'a', n);
        memcpy(r + len + n, "\r\nConnection: close\r\n\r\n", 24);
        raw_exchange(r, (size_t)len + n + 23, out, 65536);
        assert_true(status_of(out) == 0 || status_of(out) >= 400);
        free(r);
    }
    {
        /* a huge bearer token */
        size_t n = 20000;
        char *r = malloc(n + 300);
        int len;
        assert_non_null(r);
        len = snprintf(r, 300, "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ");
        memset(r + len, 'k', n);
        memcpy(r + len + n, "\r\nConnection: close\r\n\r\n", 24);
        raw_exchange(r, (size_t)len + n + 23, out, 65536);
        assert_true(status_of(out) == 401 || status_of(out) == 431 || status_of(out) == 413);
        free(r);
    }
    {
        /* not HTTP at all after the handshake */
        static const char r[] = "\x16\x03\x01garbage\r\n\r\n";
        raw_exchange(r, sizeof(r) - 1, out, 65536);
        assert_true(status_of(out) == 0 || status_of(out) == 400);
    }
    {
        /* HTTP/1.0 without Host, a NUL in the target, and a lower-case method */
        static const char r1[] = "GET /healthz HTTP/1.0\r\n\r\n";
        static const char r2[] = "GET /heal\0thz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        static const char r3[] = "get /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
        raw_exchange(r1, sizeof(r1) - 1, out, 65536);
        assert_true(status_of(out) == 200 || status_of(out) >= 400);
        raw_exchange(r2, sizeof(r2) - 1, out, 65536);
        assert_true(status_of(out) == 0 || status_of(out) >= 400);
        raw_exchange(r3, sizeof(r3) - 1, out, 65536);
        assert_true(status_of(out) == 0 || status_of(out) >= 400);
    }
    {
        /* the query string is never forwarded: the runner gets the route's fixed path */
        resp r;
        call c = {.method = "GET", .path = "/v1/models?x=/../../admin", .cert = "alice.pem"};
        assert_int_equal(http(&c, &r), CURLE_OK);
        assert_int_equal(r.status, 200);
    }
    assert_int_equal(fake_runner_requests(W.runner), runner_before + 1); /* only the last one */
    free(out);
    expect_served();
}


/* Many clients at once (chat, streams, mTLS models, evidence, refusals): every answer is the right one. */
static void *client_thread(void *arg)
{
    int *bad = arg;
    for (int i = 0; i < 8; i++) {
        resp r;
        call chat = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY, .body = CHAT_BODY};
        call stream = {.method = "POST", .path = "/v1/chat/completions", .auth = "Bearer " API_KEY,
                       .body = "{\"stream\":true}"};
        call models = {.method = "GET", .path = "/v1/models", .cert = "alice.pem"};
        call blocked = {.method = "GET", .path = "/admin"};
        if (http(&chat, &r) != CURLE_OK || r.status != 200 || strstr(r.body, RESPONSE_MARKER) == NULL) {
            (*bad)++, fprintf(stderr, "concurrency: unexpected answer: status %ld, %zu bytes\n", r.status, r.len);
        }
        if (http(&stream, &r) != CURLE_OK || r.status != 200 || strstr(r.body, "data: [DONE]") == NULL) {
            (*bad)++, fprintf(stderr, "concurrency: unexpected answer: status %ld, %zu bytes\n", r.status, r.len);
        }
        if (http(&models, &r) != CURLE_OK || r.status != 200) {
            (*bad)++, fprintf(stderr, "concurrency: unexpected answer: status %ld, %zu bytes\n", r.status, r.len);
        }
        if (http(&blocked, &r) != CURLE_OK || r.status != 404) {
            (*bad)++, fprintf(stderr, "concurrency: unexpected answer: status %ld, %zu bytes\n", r.status, r.len);
        }
    }
    return NULL;
}

static void test_endpoint_concurrency(void **state)
{
    enum { N = 12 };
    pthread_t t[N];
    int bad[N] = {0};
    (void)state;
    for (int i = 0; i < N; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, client_thread, &bad[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(bad[i], 0);
    }
    expect_served();
}

/* Last: nothing of a prompt, a completion or an API key is in the log; every request line has its ID. */
static void test_endpoint_log_has_no_payload(void **state)
{
    uint8_t *log = NULL;
    size_t len = 0;
    (void)state;
    assert_true(ccg_ok(ccg_file_read(W.log, 64u << 20, &log, &len)));
    assert_true(len > 0);
    assert_null(memmem(log, len, PROMPT_MARKER, strlen(PROMPT_MARKER)));
    assert_null(memmem(log, len, RESPONSE_MARKER, strlen(RESPONSE_MARKER)));
    assert_null(memmem(log, len, API_KEY, strlen(API_KEY)));
    assert_null(memmem(log, len, "tok1", 4));
    assert_null(memmem(log, len, "admin", 5)); /* refused paths are not echoed into the log either */
    assert_non_null(memmem(log, len, "\"reason\":\"endpoint.path_blocked\"", 32));
    assert_non_null(memmem(log, len, "\"reason\":\"endpoint.request_timeout\"", 35));
    {
        /* every line is JSON and each request line carries a correlation ID */
        char *p = (char *)log, *end = (char *)log + len;
        while (p < end) {
            char *nl = memchr(p, '\n', (size_t)(end - p));
            json_t *o = json_loadb(p, (size_t)((nl != NULL ? nl : end) - p), 0, NULL);
            assert_non_null(o);
            if (strcmp(json_string_value(json_object_get(o, "event")), "endpoint.request") == 0) {
                assert_int_equal(strlen(json_string_value(json_object_get(o, "correlation_id"))), 32);
            }
            json_decref(o);
            p = nl != NULL ? nl + 1 : end;
        }
    }
    free(log);
}

static void test_endpoint_config(void **state)
{
    static const char *const bad[] = {
        "{}",
        "{\"listen\":\"127.0.0.1:0\"}",
        "{\"listen\":\"127.0.0.1:0\",\"runner_socket\":\"relative.sock\"}",
        "{\"listen\":\"127.0.0.1:0\",\"runner_socket\":\"/r.sock\"}", /* api_key routes, no keys */
        "{\"listen\":\"127.0.0.1:0\",\"runner_socket\":\"/r.sock\",\"routes\":{\"chat\":\"mtls\"}}",
        "{\"listen\":\"127.0.0.1:0\",\"runner_socket\":\"/r.sock\",\"api_keys\":[{\"name\":\"a\",\"hash\":\"abc\"}]}",
        "{\"listen\":\"127.0.0.1:0\",\"runner_socket\":\"/r.sock\",\"bogus\":1}",
        "{\"listen\":\"127.0.0.1:0\",\"runner_socket\":\"/r.sock\",\"limits\":{\"body_max\":0}}",
    };
    const char *good = "{\"listen\":\"0.0.0.0:8443\",\"runner_socket\":\"/run/r.sock\","
                       "\"tls\":{\"client_ca\":\"/etc/ca.pem\"},\"routes\":{\"models\":\"either\",\"chat\":\"both\"},"
                       "\"api_keys\":[{\"name\":\"app1\",\"hash\":\"sha256:"
                       "0000000000000000000000000000000000000000000000000000000000000000\"}],"
                       "\"limits\":{\"body_max\":65536,\"rate_per_s\":2.5}}";
    ccg_endpoint_config cfg;
    char h[CCG_EP_KEY_HASH_TEXT_LEN];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *o = json_loads(bad[i], 0, NULL);
        assert_non_null(o);
        assert_true(ccg_failed(ccg_endpoint_config_parse(o, CCG_R_AGENT_CONFIG_INVALID, &cfg)));
        tu_assert_error_reason(CCG_R_AGENT_CONFIG_INVALID);
        json_decref(o);
    }
    {
        json_t *o = json_loads(good, 0, NULL);
        assert_true(ccg_ok(ccg_endpoint_config_parse(o, CCG_R_AGENT_CONFIG_INVALID, &cfg)));
        assert_int_equal(cfg.auth[CCG_EP_ROUTE_CHAT], CCG_EP_AUTH_BOTH);
        assert_int_equal(cfg.auth[CCG_EP_ROUTE_MODELS], CCG_EP_AUTH_EITHER);
        assert_int_equal(cfg.auth[CCG_EP_ROUTE_COMPLETIONS], CCG_EP_AUTH_API_KEY);
        assert_int_equal(cfg.body_max, 65536);
        assert_int_equal(cfg.n_keys, 1);
        ccg_endpoint_config_free(&cfg);
        json_decref(o);
    }
    assert_true(ccg_ok(ccg_endpoint_hash_api_key(API_KEY, strlen(API_KEY), h)));
    assert_int_equal(strlen(h), 71);
    assert_true(ccg_failed(ccg_endpoint_hash_api_key("short", 5, h)));
    assert_true(ccg_failed(ccg_endpoint_hash_api_key("has a space in it, long", 23, h)));
    ccg_error_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_config),
        cmocka_unit_test(test_endpoint_serves),
        cmocka_unit_test(test_endpoint_streaming),
        cmocka_unit_test(test_endpoint_blocked_paths),
        cmocka_unit_test(test_endpoint_callers),
        cmocka_unit_test(test_endpoint_body_limit),
        cmocka_unit_test(test_endpoint_tls12_refused),
        cmocka_unit_test(test_endpoint_handshake_deadline),
        cmocka_unit_test(test_endpoint_slow_drip),
        cmocka_unit_test(test_endpoint_evidence),
        cmocka_unit_test(test_endpoint_gateway),
        cmocka_unit_test(test_endpoint_attacks),
        cmocka_unit_test(test_endpoint_concurrency),
        cmocka_unit_test(test_endpoint_runner_down),
        cmocka_unit_test(test_endpoint_runner_link),
        cmocka_unit_test(test_endpoint_rate_limit),
        cmocka_unit_test(test_endpoint_connection_cap),
        cmocka_unit_test(test_endpoint_log_has_no_payload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
