/* The KDS client and collateral cache against a real HTTP server (libmicrohttpd on 127.0.0.1) that
 * serves the Milan vectors: exact URLs, cache layout, the verification-path rule (a cached item is
 * never fetched again), 429 handling, error mapping, bounded bodies, corrupt caches, and the CLI. */
#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"
#include "tcb_util.h"

#include "ccgate/snp_kds.h"
#include "ccgate/snp_verify.h"

#define MAX_URIS 32
#define BIG_BODY ((size_t)(1u << 20) + 1)

/* ---- the test server ---------------------------------------------------------------------- */

typedef struct {
    struct MHD_Daemon *daemon;
    char base[64];
    pthread_mutex_t mu;
    int requests;
    char uris[MAX_URIS][512];
    /* behaviour, set by a test before it makes requests */
    int status;              /* non-zero: answer every request with this status */
    int n_429;               /* answer 429 to this many requests before serving normally */
    const char *retry_after; /* Retry-After header on 429s */
    size_t big_body;         /* non-zero: answer 200 with this many bytes */
    int chunked;             /* send big_body without Content-Length */
    int garbage;             /* answer 200 with bytes that are no certificate */
    unsigned delay_s;        /* wait before answering */
    const uint8_t *vcek, *chain, *crl;
    size_t vcek_len, chain_len, crl_len;
} kds_server;

static void *log_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    (void)cls;
    (void)con;
    return strdup(uri); /* the raw request target, query string included */
}

static void request_done(void *cls, struct MHD_Connection *con, void **req_cls, enum MHD_RequestTerminationCode t)
{
    (void)cls;
    (void)con;
    (void)t;
    free(*req_cls);
    *req_cls = NULL;
}

typedef struct {
    size_t pos, total;
} chunk_state;

static ssize_t chunk_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    chunk_state *s = cls;
    (void)pos;
    if (s->pos >= s->total) {
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    size_t n = s->total - s->pos < max ? s->total - s->pos : max;
    memset(buf, 'A', n);
    s->pos += n;
    return (ssize_t)n;
}

static enum MHD_Result answer(struct MHD_Connection *con, int status, const void *body, size_t len,
                              const char *retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (retry_after != NULL) {
        MHD_add_response_header(r, "Retry-After", retry_after);
    }
    enum MHD_Result ret = MHD_queue_response(con, (unsigned)status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer_big(kds_server *s, struct MHD_Connection *con)
{
    if (!s->chunked) {
        uint8_t *body = calloc(1, s->big_body);
        enum MHD_Result ret = answer(con, 200, body, s->big_body, NULL);
        free(body);
        return ret;
    }
    chunk_state *st = calloc(1, sizeof(*st));
    st->total = s->big_body;
    struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, chunk_reader, st, free);
    enum MHD_Result ret = MHD_queue_response(con, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result route(kds_server *s, struct MHD_Connection *con, const char *path)
{
    if (strcmp(path, "/vcek/v1/Milan/cert_chain") == 0 || strcmp(path, "/vlek/v1/Milan/cert_chain") == 0) {
        return answer(con, 200, s->chain, s->chain_len, NULL);
    }
    if (strcmp(path, "/vcek/v1/Milan/crl") == 0 || strcmp(path, "/vlek/v1/Milan/crl") == 0) {
        return answer(con, 200, s->crl, s->crl_len, NULL);
    }
    if (strncmp(path, "/vcek/v1/Milan/", 15) == 0) {
        return answer(con, 200, s->vcek, s->vcek_len, NULL);
    }
    return answer(con, 404, "not found", 9, NULL);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *con, const char *url, const char *method,
                              const char *version, const char *upload, size_t *upload_size, void **req_cls)
{
    kds_server *s = cls;
    (void)version;
    (void)upload;
    (void)upload_size;
    pthread_mutex_lock(&s->mu);
    int n = s->requests++;
    if (n < MAX_URIS) {
        snprintf(s->uris[n], sizeof(s->uris[n]), "%s", *req_cls ? (const char *)*req_cls : "?");
    }
    int rate_limited = n < s->n_429;
    pthread_mutex_unlock(&s->mu);
    if (s->delay_s) {
        sleep(s->delay_s);
    }
    if (strcmp(method, "GET") != 0) {
        return answer(con, 405, "", 0, NULL);
    }
    if (rate_limited) {
        return answer(con, 429, "slow down", 9, s->retry_after);
    }
    if (s->status) {
        return answer(con, s->status, "error page", 10, NULL);
    }
    if (s->big_body) {
        return answer_big(s, con);
    }
    if (s->garbage) {
        return answer(con, 200, "<html>maintenance</html>", 24, NULL);
    }
    return route(s, con, url);
}

static void server_start(kds_server *s)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pthread_mutex_init(&s->mu, NULL);
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handle, s, MHD_OPTION_SOCK_ADDR,
                                 &sa, MHD_OPTION_URI_LOG_CALLBACK, log_uri, s, MHD_OPTION_NOTIFY_COMPLETED,
                                 request_done, s, MHD_OPTION_END);
    assert_non_null(s->daemon);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    assert_true(info->port != 0);
    snprintf(s->base, sizeof(s->base), "http://127.0.0.1:%u", (unsigned)info->port);
}

static int server_requests(kds_server *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* ---- fixture: vectors, server, temporary cache -------------------------------------------- */

static unsigned sleep_calls;
static unsigned sleep_values[16];

static void fake_sleep(unsigned seconds)
{
    if (sleep_calls < 16) {
        sleep_values[sleep_calls] = seconds;
    }
    sleep_calls++;
}

typedef struct {
    kds_server srv;
    char dir[64];
    ccg_snp_kds_config cfg;
    uint8_t *report, *vcek_pem, *chain;
    size_t report_len, vcek_pem_len, chain_len;
    uint8_t *vcek_der, *crl_der;
    size_t vcek_der_len, crl_der_len;
    ccg_snp_report parsed;
    ccg_snp_tcb tcb;
    ccg_snp_collateral col;
} fixture;

static void pem_to_der(const uint8_t *pem, size_t len, uint8_t **der, size_t *der_len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    assert_non_null(cert);
    unsigned char *out = NULL;
    int n = i2d_X509(cert, &out);
    assert_true(n > 0);
    *der = malloc((size_t)n);
    memcpy(*der, out, (size_t)n);
    *der_len = (size_t)n;
    OPENSSL_free(out);
    X509_free(cert);
    BIO_free(bio);
}

/* A well-formed CRL signed by a throwaway key: the client only parses CRLs, the verifier checks them. */
static void make_crl(uint8_t **der, size_t *der_len)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509_CRL *crl = X509_CRL_new();
    X509_NAME *name = X509_NAME_new();
    ASN1_TIME *last = ASN1_TIME_set(NULL, 1700000000), *next = ASN1_TIME_set(NULL, 1900000000);
    assert_non_null(key);
    assert_true(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"ARK-Test", -1, -1, 0));
    assert_true(X509_CRL_set_version(crl, 1) && X509_CRL_set_issuer_name(crl, name));
    assert_true(X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, next));
    assert_true(X509_CRL_sign(crl, key, EVP_sha256()) > 0);
    unsigned char *out = NULL;
    int n = i2d_X509_CRL(crl, &out);
    assert_true(n > 0);
    *der = malloc((size_t)n);
    memcpy(*der, out, (size_t)n);
    *der_len = (size_t)n;
    OPENSSL_free(out);
    ASN1_TIME_free(last);
    ASN1_TIME_free(next);
    X509_NAME_free(name);
    X509_CRL_free(crl);
    EVP_PKEY_free(key);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    *state = f;
    tu_read_vector("snp/msft-milan-v3/attestation_report.bin", &f->report, &f->report_len);
    tu_read_vector("snp/msft-milan-v3/vcek.pem", &f->vcek_pem, &f->vcek_pem_len);
    tu_read_vector("snp/roots/milan_ask_ark_chain.pem", &f->chain, &f->chain_len);
    pem_to_der(f->vcek_pem, f->vcek_pem_len, &f->vcek_der, &f->vcek_der_len);
    make_crl(&f->crl_der, &f->crl_der_len);
    assert_true(ccg_ok(ccg_snp_report_parse(f->report, f->report_len, &f->parsed)));
    assert_true(ccg_ok(ccg_snp_tcb_decode(CCG_SNP_PRODUCT_MILAN, f->parsed.reported_tcb, &f->tcb)));
    f->srv.vcek = f->vcek_der;
    f->srv.vcek_len = f->vcek_der_len;
    f->srv.chain = f->chain;
    f->srv.chain_len = f->chain_len;
    f->srv.crl = f->crl_der;
    f->srv.crl_len = f->crl_der_len;
    server_start(&f->srv);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-kds-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    ccg_snp_kds_config_init(&f->cfg);
    f->cfg.base_url = f->srv.base;
    f->cfg.cache_dir = f->dir;
    f->cfg.allow_fetch = 1;
    f->cfg.max_retries = 2;
    f->cfg.max_retry_after_s = 30;
    f->cfg.sleep_fn = fake_sleep;
    f->cfg.timeout_s = 10;
    sleep_calls = 0;
    memset(sleep_values, 0, sizeof(sleep_values));
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    ccg_error_clear();
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f == NULL) {
        return 0;
    }
    if (f->srv.daemon != NULL) {
        MHD_stop_daemon(f->srv.daemon);
        pthread_mutex_destroy(&f->srv.mu);
    }
    if (f->dir[0] == '/') {
        nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    ccg_snp_collateral_free(&f->col);
    free(f->report);
    free(f->vcek_pem);
    free(f->chain);
    free(f->vcek_der);
    free(f->crl_der);
    free(f);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }
}

static ccg_snp_kds_item milan_item(const fixture *f, ccg_snp_kds_kind kind)
{
    ccg_snp_kds_item item = {.kind = kind, .product = CCG_SNP_PRODUCT_MILAN, .signer = CCG_SNP_SIGNER_VCEK};
    memcpy(item.chip_id, f->parsed.chip_id, 64);
    item.tcb = f->tcb;
    return item;
}

static ccg_result load_all(fixture *f, int want_crl)
{
    return ccg_snp_collateral_from_cache_or_kds(&f->cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK,
                                                f->parsed.chip_id, &f->tcb, want_crl, &f->col);
}

static void assert_file_equals(const char *path, const uint8_t *want, size_t want_len)
{
    uint8_t *got = NULL;
    size_t got_len = 0;
    ccg_error_clear();
    if (ccg_failed(ccg_file_read(path, 4u << 20, &got, &got_len))) {
        fail_msg("cannot read %s: %s", path, ccg_error_last()->message);
    }
    assert_int_equal(got_len, want_len);
    assert_memory_equal(got, want, want_len);
    free(got);
}

static void assert_mode(const char *path, mode_t want)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, want);
}

static int path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static void expect_failure(ccg_result r, ccg_reason reason)
{
    assert_true(ccg_failed(r));
    tu_assert_error_reason(reason);
}

/* ---- URLs and paths ----------------------------------------------------------------------- */

static void test_milan_vcek_url_is_exact(void **state)
{
    fixture *f = *state;
    char url[CCG_SNP_KDS_PATH_MAX], want[CCG_SNP_KDS_PATH_MAX], hex[129];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_KEY);
    /* The vector's REPORTED_TCB is 0xdb18000000000004: BL 4, TEE 0, SNP 0x18, ucode 0xdb. */
    assert_int_equal(f->parsed.reported_tcb, 0xdb18000000000004ull);
    hex_of(f->parsed.chip_id, 64, hex);
    snprintf(want, sizeof(want),
             "https://kdsintf.amd.com/vcek/v1/Milan/%s?blSPL=04&teeSPL=00&snpSPL=24&ucodeSPL=219", hex);
    assert_true(ccg_ok(ccg_snp_kds_url(NULL, &item, url, sizeof(url))));
    assert_string_equal(url, want);
    /* A trailing slash on the base is not doubled. */
    assert_true(ccg_ok(ccg_snp_kds_url("https://kds.example/", &item, url, sizeof(url))));
    assert_int_equal(strncmp(url, "https://kds.example/vcek/v1/Milan/", 34), 0);
}

static void test_turin_url_uses_8_byte_hwid_and_fmc(void **state)
{
    (void)state;
    char url[CCG_SNP_KDS_PATH_MAX], path[CCG_SNP_KDS_PATH_MAX];
    ccg_snp_kds_item item = {.kind = CCG_SNP_KDS_KEY, .product = CCG_SNP_PRODUCT_TURIN, .signer = CCG_SNP_SIGNER_VCEK};
    for (int i = 0; i < 64; i++) {
        item.chip_id[i] = (uint8_t)(0xa0 + i);
    }
    item.tcb = (ccg_snp_tcb){.fmc = 1, .bootloader = 2, .tee = 3, .snp = 4, .microcode = 5};
    assert_true(ccg_ok(ccg_snp_kds_url("http://h", &item, url, sizeof(url))));
    assert_string_equal(url, "http://h/vcek/v1/Turin/a0a1a2a3a4a5a6a7"
                             "?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=05");
    assert_true(ccg_ok(ccg_snp_cache_path("/c", &item, path, sizeof(path))));
    /* Turin TCB_VERSION: FMC byte 0, BL 1, TEE 2, SNP 3, microcode 7. */
    assert_string_equal(path, "/c/turin/vcek/a0a1a2a3a4a5a6a7/0500000004030201.der");
}

static void test_chain_crl_and_vlek_urls(void **state)
{
    fixture *f = *state;
    char url[CCG_SNP_KDS_PATH_MAX];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    assert_true(ccg_ok(ccg_snp_kds_url("http://h", &item, url, sizeof(url))));
    assert_string_equal(url, "http://h/vcek/v1/Milan/cert_chain");
    item.kind = CCG_SNP_KDS_CRL;
    assert_true(ccg_ok(ccg_snp_kds_url("http://h", &item, url, sizeof(url))));
    assert_string_equal(url, "http://h/vcek/v1/Milan/crl");
    item.signer = CCG_SNP_SIGNER_VLEK;
    item.kind = CCG_SNP_KDS_CHAIN;
    item.product = CCG_SNP_PRODUCT_GENOA;
    assert_true(ccg_ok(ccg_snp_kds_url("http://h", &item, url, sizeof(url))));
    assert_string_equal(url, "http://h/vlek/v1/Genoa/cert_chain");
    item.kind = CCG_SNP_KDS_KEY;
    expect_failure(ccg_snp_kds_url("http://h", &item, url, sizeof(url)), CCG_R_COLLATERAL_MISSING);
}

static void test_bad_base_urls_and_items_are_refused(void **state)
{
    fixture *f = *state;
    char url[CCG_SNP_KDS_PATH_MAX], small[32];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    static const char *bad[] = {"ftp://h", "file:///etc", "http://h/x?y=1", "http://h #", "kdsintf.amd.com"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_error_clear();
        expect_failure(ccg_snp_kds_url(bad[i], &item, url, sizeof(url)), CCG_R_INPUT_MALFORMED);
    }
    ccg_error_clear();
    expect_failure(ccg_snp_kds_url("http://h", &item, small, sizeof(small)), CCG_R_INPUT_TOO_LARGE);
    item.product = CCG_SNP_PRODUCT_UNKNOWN;
    ccg_error_clear();
    expect_failure(ccg_snp_cache_path("/c", &item, url, sizeof(url)), CCG_R_SNP_PRODUCT_UNKNOWN);
    item.product = (ccg_snp_product)42;
    ccg_error_clear();
    expect_failure(ccg_snp_kds_url("http://h", &item, url, sizeof(url)), CCG_R_SNP_PRODUCT_UNKNOWN);
    item.product = CCG_SNP_PRODUCT_MILAN;
    item.signer = CCG_SNP_SIGNER_NONE;
    ccg_error_clear();
    expect_failure(ccg_snp_cache_path("/c", &item, url, sizeof(url)), CCG_R_SNP_SIGNING_KEY_UNSUPPORTED);
}

static void test_cache_layout(void **state)
{
    fixture *f = *state;
    char path[CCG_SNP_KDS_PATH_MAX], want[CCG_SNP_KDS_PATH_MAX], hex[129];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_KEY);
    hex_of(f->parsed.chip_id, 64, hex);
    snprintf(want, sizeof(want), "/c/milan/vcek/%s/db18000000000004.der", hex);
    assert_true(ccg_ok(ccg_snp_cache_path("/c/", &item, path, sizeof(path))));
    assert_string_equal(path, want);
    item.signer = CCG_SNP_SIGNER_VLEK;
    assert_true(ccg_ok(ccg_snp_cache_path("/c", &item, path, sizeof(path))));
    assert_string_equal(path, "/c/milan/vlek/db18000000000004.der");
    item.kind = CCG_SNP_KDS_CHAIN;
    assert_true(ccg_ok(ccg_snp_cache_path("/c", &item, path, sizeof(path))));
    assert_string_equal(path, "/c/milan/vlek_cert_chain.pem");
    item.kind = CCG_SNP_KDS_CRL;
    assert_true(ccg_ok(ccg_snp_cache_path("/c", &item, path, sizeof(path))));
    assert_string_equal(path, "/c/milan/vlek_crl.der");
    item.signer = CCG_SNP_SIGNER_VCEK;
    item.product = CCG_SNP_PRODUCT_GENOA;
    assert_true(ccg_ok(ccg_snp_cache_path("/c", &item, path, sizeof(path))));
    assert_string_equal(path, "/c/genoa/crl.der");
    item.kind = CCG_SNP_KDS_CHAIN;
    assert_true(ccg_ok(ccg_snp_cache_path("/c", &item, path, sizeof(path))));
    assert_string_equal(path, "/c/genoa/cert_chain.pem");
    ccg_error_clear();
    expect_failure(ccg_snp_cache_path("", &item, path, sizeof(path)), CCG_R_USAGE_INVALID);
}

static void test_item_from_report(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item;
    assert_true(ccg_ok(ccg_snp_kds_item_from_report(CCG_SNP_PRODUCT_UNKNOWN, f->report, f->report_len, &item)));
    assert_int_equal(item.product, CCG_SNP_PRODUCT_MILAN);
    assert_int_equal(item.signer, CCG_SNP_SIGNER_VCEK);
    assert_memory_equal(item.chip_id, f->report + 0x1A0, 64);
    assert_int_equal(ccg_snp_tcb_encode(CCG_SNP_PRODUCT_MILAN, &item.tcb), 0xdb18000000000004ull);
    ccg_error_clear();
    expect_failure(ccg_snp_kds_item_from_report(CCG_SNP_PRODUCT_GENOA, f->report, f->report_len, &item),
                   CCG_R_SNP_PRODUCT_MISMATCH);
}

/* ---- fetching and the cache --------------------------------------------------------------- */

static void test_fetch_stores_then_cache_serves(void **state)
{
    fixture *f = *state;
    char want[512], hex[129], path[CCG_SNP_KDS_PATH_MAX], dir[CCG_SNP_KDS_PATH_MAX];
    assert_true(ccg_ok(load_all(f, 1)));
    assert_int_equal(server_requests(&f->srv), 3);
    hex_of(f->parsed.chip_id, 64, hex);
    snprintf(want, sizeof(want), "/vcek/v1/Milan/%s?blSPL=04&teeSPL=00&snpSPL=24&ucodeSPL=219", hex);
    assert_string_equal(f->srv.uris[0], want);
    assert_string_equal(f->srv.uris[1], "/vcek/v1/Milan/cert_chain");
    assert_string_equal(f->srv.uris[2], "/vcek/v1/Milan/crl");
    /* VCEK + ASK + ARK, and the CRL. */
    assert_int_equal(sk_X509_num(f->col.certs), 3);
    assert_non_null(f->col.crl);

    snprintf(path, sizeof(path), "%s/milan/vcek/%s/db18000000000004.der", f->dir, hex);
    assert_file_equals(path, f->vcek_der, f->vcek_der_len);
    assert_mode(path, 0600);
    snprintf(dir, sizeof(dir), "%s/milan/vcek/%s", f->dir, hex);
    assert_mode(dir, 0700);
    snprintf(dir, sizeof(dir), "%s/milan", f->dir);
    assert_mode(dir, 0700);
    snprintf(path, sizeof(path), "%s/milan/cert_chain.pem", f->dir);
    assert_file_equals(path, f->chain, f->chain_len);
    snprintf(path, sizeof(path), "%s/milan/crl.der", f->dir);
    assert_file_equals(path, f->crl_der, f->crl_der_len);

    /* The verification-path rule: everything cached, so no request, fetching allowed or not. */
    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    assert_true(ccg_ok(load_all(f, 1)));
    f->cfg.allow_fetch = 0;
    assert_true(ccg_ok(load_all(f, 1)));
    assert_int_equal(server_requests(&f->srv), 3);
    assert_int_equal(sleep_calls, 0);
}

static void test_no_temporary_files_left(void **state)
{
    fixture *f = *state;
    char cmd[256];
    assert_true(ccg_ok(load_all(f, 1)));
    snprintf(cmd, sizeof(cmd), "find %s -name '*.tmp.*' | grep -q .", f->dir);
    assert_int_not_equal(system(cmd), 0);
}

static void test_loaded_collateral_verifies(void **state)
{
    fixture *f = *state;
    ccg_snp_verifier *v = NULL;
    ccg_decision d;
    assert_true(ccg_ok(ccg_snp_collateral_for_report(&f->cfg, CCG_SNP_PRODUCT_UNKNOWN, f->report, f->report_len, 0,
                                                     &f->col)));
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    /* The default policy accepts UpToDate only: a baseline for the report's TCB (Milan 4/0/24/219). */
    const ccg_snp_tcb milan = {.bootloader = 4, .tee = 0, .snp = 24, .microcode = 219};
    EVP_PKEY *authority = tu_authority_key();
    ccg_refval_issuers *iss = tu_issuers_with(authority, "authority");
    ccg_snp_tcb_baselines set;
    ccg_snp_tcb_baselines_init(&set);
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&set, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, &milan, NULL,
                                                                     "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z",
                                                                     authority, "authority"))));
    ccg_snp_verify_opts opts = {.tcb_baselines = &set, .tcb_issuers = iss};
    assert_true(ccg_ok(ccg_snp_verify_ex(v, f->report, f->report_len, &f->col, NULL, &opts,
                                         tu_time("2026-06-01T00:00:00Z"), &d)));
    assert_true(d.allow);
    ccg_decision_free(&d);
    ccg_snp_tcb_baselines_free(&set);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(authority);
    ccg_snp_verifier_free(v);
}

static void test_cache_only_with_empty_cache_is_missing(void **state)
{
    fixture *f = *state;
    f->cfg.allow_fetch = 0;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "fetching is off"));
    assert_int_equal(server_requests(&f->srv), 0);
}

static void test_429_then_200_waits_retry_after(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    f->srv.n_429 = 1;
    f->srv.retry_after = "7";
    assert_true(ccg_ok(ccg_snp_kds_load(&f->cfg, &item, &data, &len, &fetched)));
    assert_true(fetched);
    assert_int_equal(len, f->chain_len);
    assert_int_equal(server_requests(&f->srv), 2);
    assert_int_equal(sleep_calls, 1);
    assert_int_equal(sleep_values[0], 7);
    free(data);
}

static void test_429_wait_is_capped(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    f->srv.n_429 = 2;
    f->srv.retry_after = "3600";
    f->cfg.max_retry_after_s = 2;
    assert_true(ccg_ok(ccg_snp_kds_load(&f->cfg, &item, &data, &len, &fetched)));
    assert_int_equal(sleep_calls, 2);
    assert_int_equal(sleep_values[0], 2);
    assert_int_equal(sleep_values[1], 2);
    free(data);
}

static void test_429_http_date_is_capped(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    f->srv.n_429 = 1;
    f->srv.retry_after = "Wed, 21 Oct 2099 07:28:00 GMT";
    f->cfg.max_retry_after_s = 3;
    assert_true(ccg_ok(ccg_snp_kds_load(&f->cfg, &item, &data, &len, &fetched)));
    assert_int_equal(sleep_calls, 1);
    assert_int_equal(sleep_values[0], 3);
    free(data);
}

static void test_429_without_retry_after_backs_off(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    f->srv.n_429 = 2;
    assert_true(ccg_ok(ccg_snp_kds_load(&f->cfg, &item, &data, &len, &fetched)));
    assert_int_equal(sleep_calls, 2);
    assert_int_equal(sleep_values[0], 1);
    assert_int_equal(sleep_values[1], 2);
    free(data);
}

static void test_429_forever_is_rate_limited(void **state)
{
    fixture *f = *state;
    char path[CCG_SNP_KDS_PATH_MAX];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_KEY);
    f->srv.n_429 = 1000;
    f->srv.retry_after = "1";
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_RATE_LIMITED);
    assert_non_null(strstr(ccg_error_last()->message, "429"));
    assert_non_null(strstr(ccg_error_last()->message, "VCEK"));
    /* One request and max_retries (2) more, a wait before each retry; nothing cached. */
    assert_int_equal(server_requests(&f->srv), 3);
    assert_int_equal(sleep_calls, 2);
    assert_true(ccg_ok(ccg_snp_cache_path(f->dir, &item, path, sizeof(path))));
    assert_false(path_exists(path));
}

static void test_404_is_missing(void **state)
{
    fixture *f = *state;
    f->srv.status = 404;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "404"));
    assert_int_equal(server_requests(&f->srv), 1);
}

static void test_500_is_fetch_failed_with_status(void **state)
{
    fixture *f = *state;
    f->srv.status = 500;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "HTTP 500"));
    assert_int_equal(server_requests(&f->srv), 1);
    assert_int_equal(sleep_calls, 0);
}

static void test_oversized_body_is_fetch_failed(void **state)
{
    fixture *f = *state;
    f->srv.big_body = BIG_BODY;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "larger than"));
}

static void test_oversized_chunked_body_is_fetch_failed(void **state)
{
    fixture *f = *state;
    f->srv.big_body = BIG_BODY;
    f->srv.chunked = 1;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "larger than"));
}

static void test_garbage_body_is_not_cached(void **state)
{
    fixture *f = *state;
    char path[CCG_SNP_KDS_PATH_MAX];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_KEY);
    f->srv.garbage = 1;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "does not parse"));
    assert_true(ccg_ok(ccg_snp_cache_path(f->dir, &item, path, sizeof(path))));
    assert_false(path_exists(path));
}

static void test_unreachable_server_is_fetch_failed(void **state)
{
    fixture *f = *state;
    f->cfg.base_url = "http://127.0.0.1:1";
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_FETCH_FAILED);
}

static void test_slow_server_times_out(void **state)
{
    fixture *f = *state;
    f->srv.delay_s = 2;
    f->cfg.timeout_s = 1;
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "timed out"));
}

static void test_corrupt_cached_file_is_cache_error(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_KEY);
    static const uint8_t junk[] = "this is not a certificate";
    assert_true(ccg_ok(ccg_snp_cache_write(f->dir, &item, junk, sizeof(junk))));
    expect_failure(load_all(f, 0), CCG_R_COLLATERAL_CACHE_ERROR);
    assert_non_null(strstr(ccg_error_last()->message, "corrupt"));
    /* A corrupt cached item is an operator problem, not a reason to go to KDS. */
    assert_int_equal(server_requests(&f->srv), 0);
}

static void test_cached_directory_or_symlink_is_cache_error(void **state)
{
    fixture *f = *state;
    char path[CCG_SNP_KDS_PATH_MAX];
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    assert_true(ccg_ok(ccg_snp_cache_path(f->dir, &item, path, sizeof(path))));
    char milan[CCG_SNP_KDS_PATH_MAX];
    snprintf(milan, sizeof(milan), "%s/milan", f->dir);
    assert_int_equal(mkdir(milan, 0700), 0);
    assert_int_equal(symlink("/etc/hostname", path), 0);
    uint8_t *data = NULL;
    size_t len = 0;
    int found = 0;
    expect_failure(ccg_snp_cache_read(f->dir, &item, &data, &len, &found), CCG_R_COLLATERAL_CACHE_ERROR);
    assert_null(data);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkdir(path, 0700), 0);
    ccg_error_clear();
    expect_failure(ccg_snp_cache_read(f->dir, &item, &data, &len, &found), CCG_R_COLLATERAL_CACHE_ERROR);
}

static void test_masked_chip_id_is_missing_without_request(void **state)
{
    fixture *f = *state;
    uint8_t zero[64] = {0};
    expect_failure(ccg_snp_collateral_from_cache_or_kds(&f->cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK, zero,
                                                        &f->tcb, 0, &f->col),
                   CCG_R_COLLATERAL_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "masked"));
    assert_int_equal(server_requests(&f->srv), 0);
}

static void test_vlek_key_is_never_fetched(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CHAIN);
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    expect_failure(ccg_snp_collateral_from_cache_or_kds(&f->cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VLEK,
                                                        f->parsed.chip_id, &f->tcb, 0, &f->col),
                   CCG_R_COLLATERAL_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "VLEK"));
    assert_int_equal(server_requests(&f->srv), 0);
    /* The VLEK chain is fetched from the vlek tree and cached apart from the VCEK chain. */
    item.signer = CCG_SNP_SIGNER_VLEK;
    assert_true(ccg_ok(ccg_snp_kds_load(&f->cfg, &item, &data, &len, &fetched)));
    assert_string_equal(f->srv.uris[0], "/vlek/v1/Milan/cert_chain");
    free(data);
}

static void test_import_keys_match_report_lookup(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item;
    assert_true(ccg_ok(ccg_snp_kds_import_key(f->dir, CCG_SNP_PRODUCT_UNKNOWN, f->vcek_pem, f->vcek_pem_len, &item)));
    assert_int_equal(item.signer, CCG_SNP_SIGNER_VCEK);
    assert_int_equal(item.product, CCG_SNP_PRODUCT_MILAN);
    assert_memory_equal(item.chip_id, f->parsed.chip_id, 64);
    /* With the imported VCEK cached, only the chain is fetched. */
    assert_true(ccg_ok(load_all(f, 0)));
    assert_int_equal(server_requests(&f->srv), 1);
    assert_string_equal(f->srv.uris[0], "/vcek/v1/Milan/cert_chain");
    ccg_error_clear();
    expect_failure(ccg_snp_kds_import_key(f->dir, CCG_SNP_PRODUCT_TURIN, f->vcek_pem, f->vcek_pem_len, &item),
                   CCG_R_SNP_PRODUCT_MISMATCH);
    ccg_error_clear();
    expect_failure(ccg_snp_kds_import_key(f->dir, CCG_SNP_PRODUCT_MILAN, f->chain, f->chain_len, &item),
                   CCG_R_INPUT_MALFORMED);
}

static void test_refresh_replaces_cached_crl(void **state)
{
    fixture *f = *state;
    ccg_snp_kds_item item = milan_item(f, CCG_SNP_KDS_CRL);
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    assert_true(ccg_ok(ccg_snp_kds_load(&f->cfg, &item, &data, &len, &fetched)));
    free(data);
    assert_true(ccg_ok(ccg_snp_kds_refresh(&f->cfg, &item)));
    assert_int_equal(server_requests(&f->srv), 2);
}

/* ---- the CLI ------------------------------------------------------------------------------ */

/* Runs the ccgate binary through the shell; output goes to out (stdout and stderr). */
static int run_cli(const fixture *f, const char *args, char *out, size_t out_len)
{
    const char *cli = getenv("CCG_CLI");
    char cmd[4096], log[128];
    if (cli == NULL || *cli == '\0') {
        tu_skip_or_fail("CCG_CLI is not set (run through ctest)");
    }
    snprintf(log, sizeof(log), "%s.log", f->dir);
    snprintf(cmd, sizeof(cmd), "'%s' %s >'%s' 2>&1", cli, args, log);
    int status = system(cmd);
    uint8_t *text = NULL;
    size_t len = 0;
    out[0] = '\0';
    if (ccg_ok(ccg_file_read(log, 1u << 20, &text, &len))) {
        snprintf(out, out_len, "%s", (const char *)text);
    }
    free(text);
    unlink(log);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_cli_fetch_then_cached(void **state)
{
    fixture *f = *state;
    char args[2048], out[8192];
    const char *report = tu_vector_path("snp/msft-milan-v3/attestation_report.bin");
    snprintf(args, sizeof(args), "kds fetch --report '%s' --cache-dir '%s' --kds-url %s --crl", report, f->dir,
             f->srv.base);
    assert_int_equal(run_cli(f, args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "fetched"));
    assert_int_equal(server_requests(&f->srv), 3);
    snprintf(args, sizeof(args), "kds fetch --report '%s' --cache-dir '%s' --kds-url %s --crl --json", report,
             f->dir, f->srv.base);
    assert_int_equal(run_cli(f, args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"state\": \"cached\""));
    assert_null(strstr(out, "fetched"));
    assert_int_equal(server_requests(&f->srv), 3);
    snprintf(args, sizeof(args), "kds show --product milan --tcb db18000000000004 --chip-id %s --cache-dir '%s'",
             "00", f->dir);
    assert_int_equal(run_cli(f, args, out, sizeof(out)), 2);
}

static void test_cli_show_and_errors(void **state)
{
    fixture *f = *state;
    char args[2048], out[8192], hex[129];
    hex_of(f->parsed.chip_id, 64, hex);
    snprintf(args, sizeof(args), "kds show --product milan --tcb db18000000000004 --chip-id %s --cache-dir '%s' --json",
             hex, f->dir);
    assert_int_equal(run_cli(f, args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "\"state\": \"absent\""));
    f->srv.status = 404;
    snprintf(args, sizeof(args), "kds fetch --product milan --tcb db18000000000004 --chip-id %s --cache-dir '%s' "
                                 "--kds-url %s",
             hex, f->dir, f->srv.base);
    assert_int_equal(run_cli(f, args, out, sizeof(out)), 2);
    assert_non_null(strstr(out, "collateral.missing"));
    assert_int_equal(run_cli(f, "kds --help", out, sizeof(out)), 0);
    assert_true(strstr(out, "ccgate kds COMMAND") != NULL && strstr(out, "  fetch ") != NULL);
    assert_int_equal(run_cli(f, "kds fetch --help", out, sizeof(out)), 0);
    assert_int_equal(run_cli(f, "kds", out, sizeof(out)), 2);
    assert_int_equal(run_cli(f, "kds fetch --cache-dir /tmp/x", out, sizeof(out)), 2);
    assert_int_equal(run_cli(f, "kds fetch --cache-dir /tmp/x --tcb 00 --product milan", out, sizeof(out)), 2);
    assert_int_equal(run_cli(f, "kds fetch --cache-dir /tmp/x --tcb db18000000000004 --product rome", out,
                             sizeof(out)),
                     2);
}

static void test_cli_import(void **state)
{
    fixture *f = *state;
    char args[2048], out[8192];
    const char *vcek = tu_vector_path("snp/msft-milan-v3/vcek.pem");
    snprintf(args, sizeof(args), "kds import --cert '%s' --cache-dir '%s'", vcek, f->dir);
    assert_int_equal(run_cli(f, args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "imported"));
    assert_non_null(strstr(out, "/milan/vcek/"));
}

int main(void)
{
    /* The server is on loopback; a proxy from the environment must not intercept it. */
    static const char *proxies[] = {"http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"};
    for (size_t i = 0; i < sizeof(proxies) / sizeof(proxies[0]); i++) {
        unsetenv(proxies[i]);
    }
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_milan_vcek_url_is_exact),
        T(test_turin_url_uses_8_byte_hwid_and_fmc),
        T(test_chain_crl_and_vlek_urls),
        T(test_bad_base_urls_and_items_are_refused),
        T(test_cache_layout),
        T(test_item_from_report),
        T(test_fetch_stores_then_cache_serves),
        T(test_no_temporary_files_left),
        T(test_loaded_collateral_verifies),
        T(test_cache_only_with_empty_cache_is_missing),
        T(test_429_then_200_waits_retry_after),
        T(test_429_wait_is_capped),
        T(test_429_http_date_is_capped),
        T(test_429_without_retry_after_backs_off),
        T(test_429_forever_is_rate_limited),
        T(test_404_is_missing),
        T(test_500_is_fetch_failed_with_status),
        T(test_oversized_body_is_fetch_failed),
        T(test_oversized_chunked_body_is_fetch_failed),
        T(test_garbage_body_is_not_cached),
        T(test_unreachable_server_is_fetch_failed),
        T(test_slow_server_times_out),
        T(test_corrupt_cached_file_is_cache_error),
        T(test_cached_directory_or_symlink_is_cache_error),
        T(test_masked_chip_id_is_missing_without_request),
        T(test_vlek_key_is_never_fetched),
        T(test_import_keys_match_report_lookup),
        T(test_refresh_replaces_cached_crl),
        T(test_cli_fetch_then_cached),
        T(test_cli_show_and_errors),
        T(test_cli_import),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
