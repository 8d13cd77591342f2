/* TDX collateral from a PCS v4 service (docs/tdx-quote.md, "Collateral from a PCCS"), against a
 * loopback server on 127.0.0.1 serving the software TD's collateral the way Intel PCS does (JSON bodies,
 * URL-encoded PEM issuer chains in the response headers, a DER PCK CRL, a PCCS-style hex root CA CRL).
 * Never Intel's service. Covers the four requests and their URLs, the cache (a current entry is used
 * without a request), refresh of a stale entry, the rate limit per FMSPC, 429 with Retry-After, 404,
 * missing headers, timeouts, oversized and malformed bodies, TCB info for another FMSPC, and
 * `ccgate verify tdx --pccs URL --collateral-dir DIR` from outside. */
#include <curl/curl.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "loopback_http.h"
#include "testutil.h"

#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_pcs.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

#define NOW "2026-01-15T00:00:00Z"

enum { M_OK, M_429_ONCE, M_429_ALWAYS, M_404_TCB, M_NO_HEADER, M_SLOW, M_HUGE, M_NOT_JSON, M_OTHER_FMSPC, M_PEM_CRL };

typedef struct {
    int mode;
    char *tcb_body, *qe_body, *tcb_chain_enc, *crl_chain_enc, *pck_crl_pem;
    uint8_t *pck_crl;
    size_t pck_crl_len;
    char *root_crl_hex;
    char *other_tcb_body;
    int tcb_requests, qe_requests, pck_crl_requests, root_crl_requests, bad_requests, n429;
    char last_tcb_path[256], last_crl_path[256];
} pcs_ctx;

static uint8_t *dup_bytes(const void *p, size_t n)
{
    uint8_t *out = malloc(n + 1);
    assert_non_null(out);
    memcpy(out, p, n);
    return out;
}

static void answer_text(lh_answer *a, const char *text, const char *hname, const char *hvalue)
{
    a->status = 200;
    a->content_type = "application/json";
    a->body = dup_bytes(text, strlen(text));
    a->len = strlen(text);
    a->header_names[0] = hname;
    a->header_values[0] = hvalue;
}

static void handler(void *vctx, const char *method, const char *path, const uint8_t *body, size_t len, lh_answer *a)
{
    pcs_ctx *c = vctx;
    (void)body;
    (void)len;
    if (strcmp(method, "GET") != 0) {
        c->bad_requests++;
        return;
    }
    if (c->mode == M_429_ALWAYS || (c->mode == M_429_ONCE && c->n429 == 0)) {
        c->n429++;
        a->status = 429;
        a->header_names[0] = "Retry-After";
        a->header_values[0] = "7";
        return;
    }
    if (c->mode == M_SLOW) {
        a->delay_ms = 2500;
    }
    if (strncmp(path, "/tdx/certification/v4/tcb?", 26) == 0) {
        c->tcb_requests++;
        snprintf(c->last_tcb_path, sizeof(c->last_tcb_path), "%s", path);
        if (c->mode == M_404_TCB) {
            a->status = 404;
        } else if (c->mode == M_HUGE) {
            a->status = 200;
            a->len = 2u << 20;
            a->body = calloc(a->len, 1);
            memset(a->body, ' ', a->len);
        } else if (c->mode == M_NOT_JSON) {
            answer_text(a, "<html>maintenance</html>", "TCB-Info-Issuer-Chain", c->tcb_chain_enc);
        } else {
            answer_text(a, c->mode == M_OTHER_FMSPC ? c->other_tcb_body : c->tcb_body,
                        c->mode == M_NO_HEADER ? NULL : "TCB-Info-Issuer-Chain", c->tcb_chain_enc);
        }
    } else if (strcmp(path, "/tdx/certification/v4/qe/identity") == 0) {
        c->qe_requests++;
        answer_text(a, c->qe_body, "SGX-Enclave-Identity-Issuer-Chain", c->tcb_chain_enc);
    } else if (strncmp(path, "/sgx/certification/v4/pckcrl?", 29) == 0) {
        c->pck_crl_requests++;
        snprintf(c->last_crl_path, sizeof(c->last_crl_path), "%s", path);
        a->status = 200;
        if (c->mode == M_PEM_CRL) {
            a->body = dup_bytes(c->pck_crl_pem, strlen(c->pck_crl_pem));
            a->len = strlen(c->pck_crl_pem);
        } else {
            a->body = dup_bytes(c->pck_crl, c->pck_crl_len);
            a->len = c->pck_crl_len;
        }
        a->header_names[0] = "SGX-PCK-CRL-Issuer-Chain";
        a->header_values[0] = c->crl_chain_enc;
    } else if (strcmp(path, "/sgx/certification/v4/rootcacrl") == 0) {
        c->root_crl_requests++;
        answer_text(a, c->root_crl_hex, NULL, NULL);
    } else {
        c->bad_requests++;
        a->status = 404;
    }
}

static int total(const pcs_ctx *c)
{
    return c->tcb_requests + c->qe_requests + c->pck_crl_requests + c->root_crl_requests;
}

/* URL-encoding as PCS does it (libcurl escapes everything but the unreserved characters). */
static char *url_encode(const char *text)
{
    char *enc = curl_easy_escape(NULL, text, (int)strlen(text));
    assert_non_null(enc);
    char *out = strdup(enc);
    curl_free(enc);
    return out;
}

static char *crl_pem(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    assert_non_null(crl);
    assert_int_equal(PEM_write_bio_X509_CRL(bio, crl), 1);
    long n = BIO_get_mem_data(bio, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(bio);
    X509_CRL_free(crl);
    return out;
}

typedef struct {
    ccg_tdx_emu *emu, *other;
    uint8_t *quote;
    size_t quote_len;
    pcs_ctx ctx;
    lh_server *server;
    char base[128];
    char dir[64];
} fixture;

static void fixture_init(fixture *f, ccg_time now, int expired)
{
    ccg_tdx_emu_opts o;
    ccg_tdx_emu_td td;
    ccg_tdx_emu_collateral c, oc;
    ccg_tdx_emu_collateral_opts co = {.now = now, .expired = expired};
    memset(f, 0, sizeof(*f));
    ccg_tdx_emu_opts_default(tu_time(NOW), &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &f->emu)));
    o.fmspc[5] = 0x01;
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &f->other)));
    ccg_tdx_emu_td_default(&td);
    assert_true(ccg_ok(ccg_tdx_emu_quote(f->emu, &td, &f->quote, &f->quote_len)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(f->emu, &co, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(f->other, &co, &oc)));
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(&c, 0, &f->ctx.tcb_body)));
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(&c, 1, &f->ctx.qe_body)));
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(&oc, 0, &f->ctx.other_tcb_body)));
    f->ctx.tcb_chain_enc = url_encode(c.tcb_chain_pem);
    f->ctx.crl_chain_enc = url_encode(c.crl_chain_pem);
    f->ctx.pck_crl = dup_bytes(c.pck_crl, c.pck_crl_len);
    f->ctx.pck_crl_len = c.pck_crl_len;
    f->ctx.pck_crl_pem = crl_pem(c.pck_crl, c.pck_crl_len);
    f->ctx.root_crl_hex = ccg_hex_alloc(c.root_crl, c.root_crl_len);
    ccg_tdx_emu_collateral_free(&c);
    ccg_tdx_emu_collateral_free(&oc);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-tdx-pcs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->server = lh_start(handler, &f->ctx, f->base, sizeof(f->base));
    assert_non_null(f->server);
    lh_pass_query(f->server, 1);
}

static void fixture_free(fixture *f)
{
    char cmd[256];
    lh_stop(f->server);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f->ctx.tcb_body);
    free(f->ctx.qe_body);
    free(f->ctx.other_tcb_body);
    free(f->ctx.tcb_chain_enc);
    free(f->ctx.crl_chain_enc);
    free(f->ctx.pck_crl);
    free(f->ctx.pck_crl_pem);
    free(f->ctx.root_crl_hex);
    free(f->quote);
    ccg_tdx_emu_free(f->emu);
    ccg_tdx_emu_free(f->other);
}

static unsigned slept_total;
static void fake_sleep(unsigned s) { slept_total += s; }

static void config(const fixture *f, ccg_tdx_pcs_config *cfg)
{
    ccg_tdx_pcs_config_init(cfg);
    cfg->base_url = f->base;
    cfg->cache_dir = f->dir;
    cfg->sleep_fn = fake_sleep;
    cfg->timeout_s = 5;
}

static ccg_tdx_verifier *verifier_for(const ccg_tdx_emu *e)
{
    ccg_tdx_verifier *v = NULL;
    char *pem = ccg_tdx_emu_root_pem(e);
    STACK_OF(X509) *certs = sk_X509_new_null();
    assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    assert_true(ccg_ok(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs)));
    assert_true(ccg_ok(ccg_tdx_verifier_add_test_root(v, sk_X509_value(certs, 0))));
    sk_X509_pop_free(certs, X509_free);
    free(pem);
    return v;
}

/* Collateral for the fixture's quote at now; returns the error reason (OK on success) and verifies the
 * quote with it when it loaded. */
static ccg_reason get(fixture *f, const ccg_tdx_pcs_config *cfg, ccg_time now, int *fetched, int *allowed)
{
    ccg_tdx_collateral col;
    memset(&col, 0, sizeof(col));
    ccg_error_clear();
    if (ccg_failed(ccg_tdx_collateral_for_quote(cfg, f->quote, f->quote_len, now, &col, fetched))) {
        return ccg_error_reason();
    }
    if (allowed != NULL) {
        ccg_tdx_verifier *v = verifier_for(f->emu);
        ccg_tdx_result r;
        assert_true(ccg_ok(ccg_tdx_verify(v, f->quote, f->quote_len, &col, NULL, NULL, now, &r)));
        *allowed = r.decision.allow;
        ccg_tdx_result_free(&r);
        ccg_tdx_verifier_free(v);
    }
    ccg_tdx_collateral_free(&col);
    return CCG_R_OK;
}

static void test_fetch_then_cache(void **state)
{
    (void)state;
    fixture f;
    ccg_tdx_pcs_config cfg;
    int fetched = 0, allowed = 0;
    ccg_time now = tu_time(NOW);
    fixture_init(&f, now, 0);
    config(&f, &cfg);
    /* An empty cache: the four requests, with the FMSPC and the CA the quote names. */
    assert_int_equal(get(&f, &cfg, now, &fetched, &allowed), CCG_R_OK);
    assert_true(fetched);
    assert_true(allowed);
    assert_int_equal(f.ctx.tcb_requests, 1);
    assert_int_equal(f.ctx.qe_requests, 1);
    assert_int_equal(f.ctx.pck_crl_requests, 1);
    assert_int_equal(f.ctx.root_crl_requests, 1);
    assert_int_equal(f.ctx.bad_requests, 0);
    assert_string_equal(f.ctx.last_tcb_path, "/tdx/certification/v4/tcb?fmspc=00906ED50000");
    assert_string_equal(f.ctx.last_crl_path, "/sgx/certification/v4/pckcrl?ca=platform&encoding=der");
    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/00906ED50000.json", f.dir);
    assert_int_equal(stat(path, &st), 0);
    /* The entry is current: no request, a day later either. */
    assert_int_equal(get(&f, &cfg, now + 24 * 3600, &fetched, &allowed), CCG_R_OK);
    assert_false(fetched);
    assert_true(allowed);
    assert_int_equal(total(&f.ctx), 4);
    /* Past its nextUpdate (30 days): fetched again; the server still serves the same collateral, so
     * it is still expired, and says so. */
    ccg_time later = now + 31 * 24 * 3600;
    assert_int_equal(get(&f, &cfg, later, &fetched, NULL), CCG_R_COLLATERAL_EXPIRED);
    assert_true(fetched);
    assert_int_equal(total(&f.ctx), 8);
    /* Within the interval: not fetched again, the cache's reason stands and says why. */
    assert_int_equal(get(&f, &cfg, later + 10, &fetched, NULL), CCG_R_COLLATERAL_EXPIRED);
    assert_false(fetched);
    assert_non_null(strstr(ccg_error_last()->message, "not fetched again"));
    assert_int_equal(total(&f.ctx), 8);
    /* After it: fetched again. */
    assert_int_equal(get(&f, &cfg, later + 61, &fetched, NULL), CCG_R_COLLATERAL_EXPIRED);
    assert_true(fetched);
    assert_int_equal(total(&f.ctx), 12);
    /* The cache alone (no URL) never fetches. */
    cfg.base_url = NULL;
    assert_int_equal(get(&f, &cfg, later + 200, &fetched, NULL), CCG_R_COLLATERAL_EXPIRED);
    assert_false(fetched);
    assert_int_equal(total(&f.ctx), 12);
    fixture_free(&f);
}

static void test_crl_forms(void **state)
{
    (void)state;
    fixture f;
    ccg_tdx_pcs_config cfg;
    int allowed = 0;
    fixture_init(&f, tu_time(NOW), 0);
    config(&f, &cfg);
    f.ctx.mode = M_PEM_CRL;
    assert_int_equal(get(&f, &cfg, tu_time(NOW), NULL, &allowed), CCG_R_OK);
    assert_true(allowed);
    fixture_free(&f);
}

static void test_429(void **state)
{
    (void)state;
    fixture f;
    ccg_tdx_pcs_config cfg;
    int allowed = 0;
    fixture_init(&f, tu_time(NOW), 0);
    config(&f, &cfg);
    /* One 429 with Retry-After: 7: waited (as told), asked again, served. */
    f.ctx.mode = M_429_ONCE;
    slept_total = 0;
    assert_int_equal(get(&f, &cfg, tu_time(NOW), NULL, &allowed), CCG_R_OK);
    assert_true(allowed);
    assert_int_equal(slept_total, 7);
    assert_int_equal(f.ctx.n429, 1);
    fixture_free(&f);
    /* Always 429: given up after the retries, the wait capped. */
    fixture_init(&f, tu_time(NOW), 0);
    config(&f, &cfg);
    cfg.max_retry_after_s = 5;
    f.ctx.mode = M_429_ALWAYS;
    slept_total = 0;
    assert_int_equal(get(&f, &cfg, tu_time(NOW), NULL, NULL), CCG_R_COLLATERAL_RATE_LIMITED);
    assert_int_equal(f.ctx.n429, 1 + CCG_TDX_PCS_DEFAULT_RETRIES);
    assert_int_equal(slept_total, 5 * CCG_TDX_PCS_DEFAULT_RETRIES);
    fixture_free(&f);
}

static char last_message[512];

static ccg_reason fetch_in_mode(int mode, long timeout)
{
    fixture f;
    ccg_tdx_pcs_config cfg;
    fixture_init(&f, tu_time(NOW), 0);
    config(&f, &cfg);
    if (timeout > 0) {
        cfg.timeout_s = timeout;
        cfg.connect_timeout_s = timeout;
    }
    f.ctx.mode = mode;
    ccg_reason r = get(&f, &cfg, tu_time(NOW), NULL, NULL);
    snprintf(last_message, sizeof(last_message), "%s", ccg_error_last()->message);
    /* Nothing half-fetched is cached. */
    char path[128];
    snprintf(path, sizeof(path), "%s/00906ED50000.json", f.dir);
    if (r != CCG_R_OK) {
        assert_int_not_equal(access(path, F_OK), 0);
    }
    fixture_free(&f);
    return r;
}

static void test_failures(void **state)
{
    (void)state;
    assert_int_equal(fetch_in_mode(M_404_TCB, 0), CCG_R_COLLATERAL_MISSING);
    assert_int_equal(fetch_in_mode(M_NO_HEADER, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_int_equal(fetch_in_mode(M_HUGE, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_int_equal(fetch_in_mode(M_NOT_JSON, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_int_equal(fetch_in_mode(M_OTHER_FMSPC, 0), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_int_equal(fetch_in_mode(M_SLOW, 1), CCG_R_COLLATERAL_FETCH_FAILED);
    assert_non_null(strstr(last_message, "timed out"));
}

static void test_nothing_listening(void **state)
{
    (void)state;
    fixture f;
    ccg_tdx_pcs_config cfg;
    fixture_init(&f, tu_time(NOW), 0);
    config(&f, &cfg);
    lh_stop(f.server);
    f.server = NULL;
    assert_int_equal(get(&f, &cfg, tu_time(NOW), NULL, NULL), CCG_R_COLLATERAL_FETCH_FAILED);
    fixture_free(&f);
}

/* Runs the CLI; returns its exit status, output in out. */
static int run_cli(const char *args, char *out, size_t cap)
{
    const char *cli = getenv("CCG_CLI");
    if (cli == NULL || *cli == '\0') {
        tu_skip_or_fail("CCG_CLI is not set");
    }
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s' %s 2>&1", cli, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli(void **state)
{
    (void)state;
    fixture f;
    char q[128], root[128], args[2048], out[16384];
    fixture_init(&f, tu_time(NOW), 0);
    snprintf(q, sizeof(q), "%s/quote.bin", f.dir);
    snprintf(root, sizeof(root), "%s/root.pem", f.dir);
    char *pem = ccg_tdx_emu_root_pem(f.emu);
    assert_true(ccg_ok(ccg_file_write(q, f.quote, f.quote_len)));
    assert_true(ccg_ok(ccg_file_write(root, (const uint8_t *)pem, strlen(pem))));
    free(pem);
    char cache[128];
    snprintf(cache, sizeof(cache), "%s/cache", f.dir);
    assert_int_equal(mkdir(cache, 0700), 0);
    /* The cache alone: missing. */
    snprintf(args, sizeof(args), "verify tdx --quote %s --collateral-dir %s --trust-root %s --now %s", q, cache, root,
             NOW);
    assert_int_equal(run_cli(args, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "collateral.missing"));
    /* With the PCCS: fetched, allowed. */
    snprintf(args, sizeof(args), "verify tdx --quote %s --collateral-dir %s --pccs %s --trust-root %s --now %s", q,
             cache, f.base, root, NOW);
    assert_int_equal(run_cli(args, out, sizeof(out)), 0);
    assert_non_null(strstr(out, "decision: allow"));
    assert_int_equal(total(&f.ctx), 4);
    /* Again: from the cache, no request. */
    assert_int_equal(run_cli(args, out, sizeof(out)), 0);
    assert_int_equal(total(&f.ctx), 4);
    /* Without the root: still refused, cache or not. */
    snprintf(args, sizeof(args), "verify tdx --quote %s --collateral-dir %s --pccs %s --now %s", q, cache, f.base, NOW);
    assert_int_equal(run_cli(args, out, sizeof(out)), 1);
    assert_non_null(strstr(out, "tdx.untrusted_root"));
    /* --pccs needs the cache directory. */
    snprintf(args, sizeof(args), "verify tdx --quote %s --pccs %s --now %s", q, f.base, NOW);
    assert_int_equal(run_cli(args, out, sizeof(out)), 2);
    fixture_free(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch_then_cache), cmocka_unit_test(test_crl_forms),
        cmocka_unit_test(test_429),              cmocka_unit_test(test_failures),
        cmocka_unit_test(test_nothing_listening), cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
