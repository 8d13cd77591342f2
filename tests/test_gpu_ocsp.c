/* OCSP for NVIDIA chains, against a real responder: OpenSSL's own (`openssl ocsp -index ... -rsigner
 * ... -CA ...`) answering every request, with a test CA made by `openssl req`/`openssl ca`
 * (tests/support/gpu_ocsp_ca.sh). OpenSSL 3.0's `ocsp -port` binds every interface, so a loopback
 * libmicrohttpd front (127.0.0.1 only) hands each POSTed request to `openssl ocsp -reqin/-respout`.
 * The front is stopped in the group teardown. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent_proc.h"
#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/gpu_ocsp.h"
#include "ccgate/x509util.h"
#include "loopback_http.h"

#define EXPECT_FAIL(call, reason)              \
    do {                                       \
        ccg_error_clear();                     \
        assert_true(ccg_failed(call));         \
        tu_assert_error_reason(reason);        \
    } while (0)

typedef enum {
    MODE_NORMAL = 0, /* the CA's delegated OCSP signer answers */
    MODE_CA_SIGNED,  /* the CA itself signs */
    MODE_FOREIGN,    /* an unrelated CA's OCSP signer answers */
    MODE_REPLAY,     /* the previous answer is sent again (its nonce is stale) */
    MODE_ERROR,      /* HTTP 500 */
} responder_mode;

typedef struct {
    char dir[256];
    char url[96];
    lh_server *server;
    pthread_mutex_t mu;
    responder_mode mode;
    uint8_t *last;
    size_t last_len;
    int counter;
    X509 *ca, *good, *revoked, *hold, *unknown;
} fixture;

static fixture F;

/* ---------------------------------------------------------------- the responder front */

static int respond_with_openssl(responder_mode mode, const uint8_t *req, size_t len, uint8_t **out, size_t *out_len)
{
    char req_path[512], resp_path[512], ca[300], signer[300], key[300], index[300];
    int n = __atomic_add_fetch(&F.counter, 1, __ATOMIC_SEQ_CST);
    snprintf(req_path, sizeof(req_path), "%s/req-%d.der", F.dir, n);
    snprintf(resp_path, sizeof(resp_path), "%s/resp-%d.der", F.dir, n);
    snprintf(ca, sizeof(ca), "%s/ca.pem", F.dir);
    snprintf(index, sizeof(index), "%s/index.txt", F.dir);
    const char *who = mode == MODE_FOREIGN ? "other/ocsp" : mode == MODE_CA_SIGNED ? "ca" : "ocsp";
    snprintf(signer, sizeof(signer), "%s/%s.pem", F.dir, who);
    snprintf(key, sizeof(key), "%s/%s.key", F.dir, who);
    if (ccg_failed(ccg_file_write(req_path, req, len))) {
        return -1;
    }
    char *argv[] = {"openssl", "ocsp", "-index", index, "-CA", ca, "-rsigner", signer, "-rkey", key,
                    "-reqin", req_path, "-respout", resp_path, "-nmin", "60", NULL};
    if (tu_run_quiet(argv) != 0 || ccg_failed(ccg_file_read(resp_path, 1u << 16, out, out_len))) {
        return -1;
    }
    return 0;
}

static void handle(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len, lh_answer *out)
{
    pthread_mutex_lock(&F.mu);
    responder_mode mode = F.mode;
    pthread_mutex_unlock(&F.mu);
    out->status = 500;
    if (strcmp(method, "POST") != 0 || mode == MODE_ERROR) {
        return;
    }
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    pthread_mutex_lock(&F.mu);
    if (mode == MODE_REPLAY && F.last != NULL) {
        resp = malloc(F.last_len);
        if (resp != NULL) {
            memcpy(resp, F.last, F.last_len);
            resp_len = F.last_len;
        }
    }
    pthread_mutex_unlock(&F.mu);
    if (resp == NULL && respond_with_openssl(mode, body, len, &resp, &resp_len) != 0) {
        return;
    }
    pthread_mutex_lock(&F.mu);
    free(F.last);
    F.last = malloc(resp_len);
    if (F.last != NULL) {
        memcpy(F.last, resp, resp_len);
        F.last_len = resp_len;
    }
    pthread_mutex_unlock(&F.mu);
    out->status = 200;
    out->content_type = "application/ocsp-response";
    out->body = resp;
    out->len = resp_len;
}

static void set_mode(responder_mode m)
{
    pthread_mutex_lock(&F.mu);
    F.mode = m;
    pthread_mutex_unlock(&F.mu);
}

/* ---------------------------------------------------------------- fixture */

static X509 *load_cert(const char *name)
{
    char path[512];
    uint8_t *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/%s", F.dir, name);
    if (ccg_failed(ccg_file_read(path, 1u << 16, &data, &len))) {
        return NULL;
    }
    STACK_OF(X509) *certs = sk_X509_new_null();
    X509 *c = NULL;
    if (certs != NULL && ccg_ok(ccg_x509_load_bundle(data, len, certs)) && sk_X509_num(certs) == 1) {
        c = sk_X509_shift(certs);
    }
    sk_X509_pop_free(certs, X509_free);
    free(data);
    return c;
}

static int group_setup(void **state)
{
    const char *src = getenv("CCG_SOURCE_DIR");
    char script[512];
    memset(&F, 0, sizeof(F));
    pthread_mutex_init(&F.mu, NULL);
    snprintf(F.dir, sizeof(F.dir), "/tmp/ccg-gpu-ocsp-XXXXXX");
    if (mkdtemp(F.dir) == NULL) {
        return -1;
    }
    snprintf(script, sizeof(script), "%s/tests/support/gpu_ocsp_ca.sh", src != NULL ? src : ".");
    char *argv[] = {"bash", script, F.dir, NULL};
    if (tu_run_quiet(argv) != 0) {
        fprintf(stderr, "gpu_ocsp_ca.sh failed\n");
        return -1;
    }
    F.ca = load_cert("ca.pem");
    F.good = load_cert("good.pem");
    F.revoked = load_cert("revoked.pem");
    F.hold = load_cert("hold.pem");
    F.unknown = load_cert("unknown.pem");
    if (!F.ca || !F.good || !F.revoked || !F.hold || !F.unknown) {
        return -1;
    }
    char base[64];
    F.server = lh_start(handle, NULL, base, sizeof(base));
    if (F.server == NULL) {
        return -1;
    }
    snprintf(F.url, sizeof(F.url), "%s/ocsp", base);
    return 0;
}

static int group_teardown(void **state)
{
    lh_stop(F.server);
    X509_free(F.ca);
    X509_free(F.good);
    X509_free(F.revoked);
    X509_free(F.hold);
    X509_free(F.unknown);
    free(F.last);
    char *argv[] = {"rm", "-rf", F.dir, NULL};
    if (F.dir[0] != 0 && strncmp(F.dir, "/tmp/ccg-gpu-ocsp-", 18) == 0) {
        tu_run_quiet(argv);
    }
    return 0;
}

static int each_setup(void **state)
{
    set_mode(MODE_NORMAL);
    ccg_error_clear();
    return 0;
}

/* [cert, CA] */
static STACK_OF(X509) *above_ca(void)
{
    STACK_OF(X509) *s = sk_X509_new_null();
    assert_non_null(s);
    sk_X509_push(s, F.ca);
    return s;
}

static ccg_gpu_ocsp_config live_config(void)
{
    ccg_gpu_ocsp_config cfg = {.responder_url = F.url, .timeout_s = 20};
    return cfg;
}

static ccg_result check(const ccg_gpu_ocsp_config *cfg, X509 *cert, ccg_time now, ccg_gpu_ocsp_result *out)
{
    STACK_OF(X509) *above = above_ca();
    ccg_result r = ccg_gpu_ocsp_check(cfg, cert, above, now, out);
    sk_X509_free(above);
    return r;
}

/* ---------------------------------------------------------------- live */

static void test_live_good(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    if (ccg_failed(check(&cfg, F.good, ccg_time_now(), &r))) {
        fail_msg("%s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    assert_int_equal(r.status, CCG_GPU_OCSP_GOOD);
    assert_true(r.live);
    assert_true(r.next_update > r.this_update);
    assert_string_equal(r.serial, "1002"); /* 1000 is the CA, 1001 the OCSP signer */
    json_t *j = ccg_gpu_ocsp_result_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "good");
    assert_string_equal(json_string_value(json_object_get(j, "source")), "responder");
    json_decref(j);
    /* Signed by the CA itself instead of a delegated signer: as good. */
    set_mode(MODE_CA_SIGNED);
    assert_true(ccg_ok(check(&cfg, F.good, ccg_time_now(), &r)));
    assert_int_equal(r.status, CCG_GPU_OCSP_GOOD);
}

static void test_live_revoked(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    EXPECT_FAIL(check(&cfg, F.revoked, ccg_time_now(), &r), CCG_R_GPU_CERT_REVOKED);
    assert_int_equal(r.status, CCG_GPU_OCSP_REVOKED);
    assert_int_equal(r.reason, 1); /* keyCompromise */
    assert_non_null(strstr(ccg_error_last()->message, "1003"));
    /* allow_hold does not let a revoked certificate pass. */
    cfg.allow_hold = 1;
    EXPECT_FAIL(check(&cfg, F.revoked, ccg_time_now(), &r), CCG_R_GPU_CERT_REVOKED);
}

static void test_live_hold_only_when_allowed(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    EXPECT_FAIL(check(&cfg, F.hold, ccg_time_now(), &r), CCG_R_GPU_CERT_ON_HOLD);
    assert_int_equal(r.status, CCG_GPU_OCSP_HOLD);
    assert_int_equal(r.reason, 6); /* certificateHold */
    cfg.allow_hold = 1;
    ccg_error_clear();
    assert_true(ccg_ok(check(&cfg, F.hold, ccg_time_now(), &r)));
    assert_int_equal(r.status, CCG_GPU_OCSP_HOLD);
}

static void test_live_unknown(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    EXPECT_FAIL(check(&cfg, F.unknown, ccg_time_now(), &r), CCG_R_GPU_OCSP_STATUS_UNKNOWN);
    assert_int_equal(r.status, CCG_GPU_OCSP_UNKNOWN);
}

static void test_live_nonce_must_be_echoed(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    assert_true(ccg_ok(check(&cfg, F.good, ccg_time_now(), &r)));
    /* The same (validly signed, fresh) answer again: its nonce belongs to the previous request. */
    set_mode(MODE_REPLAY);
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now(), &r), CCG_R_GPU_OCSP_NONCE_MISMATCH);
}

static void test_live_foreign_signer_refused(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    set_mode(MODE_FOREIGN);
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now(), &r), CCG_R_GPU_OCSP_RESPONSE_INVALID);
}

static void test_live_validity_at_now(void **state)
{
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result r;
    /* The responder says nextUpdate = thisUpdate + 60 min: two hours later the answer is stale, and two
     * hours earlier its thisUpdate is in the future. */
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now() + 7200, &r), CCG_R_GPU_OCSP_RESPONSE_STALE);
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now() - 7200, &r), CCG_R_GPU_OCSP_RESPONSE_STALE);
    /* A revocation stays a revocation, however old the answer. */
    EXPECT_FAIL(check(&cfg, F.revoked, ccg_time_now() + 7200, &r), CCG_R_GPU_CERT_REVOKED);
}

static void test_unavailable(void **state)
{
    ccg_gpu_ocsp_config cfg = {0};
    ccg_gpu_ocsp_result r;
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now(), &r), CCG_R_GPU_OCSP_UNAVAILABLE);
    cfg = live_config();
    set_mode(MODE_ERROR);
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now(), &r), CCG_R_GPU_OCSP_UNAVAILABLE);
    cfg.responder_url = "http://127.0.0.1:9/ocsp"; /* discard: nobody answers */
    cfg.timeout_s = 5;
    EXPECT_FAIL(check(&cfg, F.good, ccg_time_now(), &r), CCG_R_GPU_OCSP_UNAVAILABLE);
}

/* ---------------------------------------------------------------- cache */

/* A response made offline (no nonce) by the same responder, stored under its cache name. */
static void cache_response(const char *cache_dir, X509 *cert, const char *cert_file, char *path, size_t path_len)
{
    char name[CCG_GPU_OCSP_CACHE_NAME_MAX], req[512], ca[300], cert_path[300];
    assert_true(ccg_ok(ccg_gpu_ocsp_cache_name(cert, F.ca, name)));
    snprintf(req, sizeof(req), "%s/cache-req.der", F.dir);
    snprintf(ca, sizeof(ca), "%s/ca.pem", F.dir);
    snprintf(cert_path, sizeof(cert_path), "%s/%s", F.dir, cert_file);
    snprintf(path, path_len, "%s/%s", cache_dir, name);
    char *mkreq[] = {"openssl", "ocsp", "-issuer", ca, "-cert", cert_path, "-no_nonce", "-reqout", req, NULL};
    assert_int_equal(tu_run_quiet(mkreq), 0);
    uint8_t *body = NULL, *resp = NULL;
    size_t len = 0, resp_len = 0;
    assert_true(ccg_ok(ccg_file_read(req, 1u << 16, &body, &len)));
    assert_int_equal(respond_with_openssl(MODE_NORMAL, body, len, &resp, &resp_len), 0);
    assert_true(ccg_ok(ccg_file_write(path, resp, resp_len)));
    free(body);
    free(resp);
}

static void test_cache(void **state)
{
    char cache[300], good_path[600], revoked_path[600];
    snprintf(cache, sizeof(cache), "%s/cache", F.dir);
    mkdir(cache, 0700);
    cache_response(cache, F.good, "good.pem", good_path, sizeof(good_path));
    cache_response(cache, F.revoked, "revoked.pem", revoked_path, sizeof(revoked_path));
    ccg_gpu_ocsp_config cfg = {.cache_dir = cache};
    ccg_gpu_ocsp_result r;
    ccg_time now = ccg_time_now();
    assert_true(ccg_ok(check(&cfg, F.good, now, &r)));
    assert_int_equal(r.status, CCG_GPU_OCSP_GOOD);
    assert_false(r.live);
    EXPECT_FAIL(check(&cfg, F.revoked, now, &r), CCG_R_GPU_CERT_REVOKED);
    /* Out of date and no responder: stale. With a responder: fetched live instead. */
    EXPECT_FAIL(check(&cfg, F.good, now + 7200, &r), CCG_R_GPU_OCSP_RESPONSE_STALE);
    /* Not cached, no responder. */
    EXPECT_FAIL(check(&cfg, F.hold, now, &r), CCG_R_GPU_OCSP_UNAVAILABLE);
    cfg.responder_url = F.url;
    cfg.timeout_s = 20;
    int before = lh_requests(F.server);
    ccg_error_clear();
    assert_true(ccg_ok(check(&cfg, F.good, now, &r)));
    assert_int_equal(lh_requests(F.server), before); /* a fresh cached answer is used as is */
    /* A response about another certificate, stored under this one's name, covers nothing here. */
    char hold_name[CCG_GPU_OCSP_CACHE_NAME_MAX], hold_path[600];
    assert_true(ccg_ok(ccg_gpu_ocsp_cache_name(F.hold, F.ca, hold_name)));
    snprintf(hold_path, sizeof(hold_path), "%s/%s", cache, hold_name);
    uint8_t *copy = NULL;
    size_t copy_len = 0;
    assert_true(ccg_ok(ccg_file_read(good_path, 1u << 16, &copy, &copy_len)));
    assert_true(ccg_ok(ccg_file_write(hold_path, copy, copy_len)));
    EXPECT_FAIL(check(&cfg, F.hold, now, &r), CCG_R_GPU_OCSP_RESPONSE_INVALID);
    assert_non_null(strstr(ccg_error_last()->message, "says nothing about this certificate"));
    free(copy);
    /* A changed byte in the cached response's signature: refused, not silently refetched. */
    uint8_t *der = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(good_path, 1u << 16, &der, &len)));
    der[len - 5] ^= 0x01;
    assert_true(ccg_ok(ccg_file_write(good_path, der, len)));
    EXPECT_FAIL(check(&cfg, F.good, now, &r), CCG_R_GPU_OCSP_RESPONSE_INVALID);
    free(der);
}

/* ---------------------------------------------------------------- uploaded (the broker's store) */

/* One stored blob under one collateral ID; fail makes the lookup itself fail (a store outage). */
typedef struct {
    char id[200];
    uint8_t *bytes;
    size_t len;
    int fail;
    int calls;
} upload_store;

static ccg_result upload_lookup(void *ctx, const char *collateral_id, uint8_t **out, size_t *out_len, int *found)
{
    ccg_result result = CCG_FAILURE;
    upload_store *u = ctx;
    u->calls++;
    *out = NULL;
    *out_len = 0;
    *found = 0;
    CCG_ENSURE_MSG(!u->fail, CCG_R_STORE_UNAVAILABLE, "the store is down");
    if (u->bytes != NULL && strcmp(collateral_id, u->id) == 0) {
        *out = malloc(u->len);
        CCG_ENSURE_ALLOC(*out);
        memcpy(*out, u->bytes, u->len);
        *out_len = u->len;
        *found = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void test_uploaded(void **state)
{
    char cache[300], good_path[600], name[CCG_GPU_OCSP_CACHE_NAME_MAX];
    upload_store u;
    memset(&u, 0, sizeof(u));
    snprintf(cache, sizeof(cache), "%s/upcache", F.dir);
    mkdir(cache, 0700);
    cache_response(cache, F.good, "good.pem", good_path, sizeof(good_path));
    assert_true(ccg_ok(ccg_gpu_ocsp_cache_name(F.good, F.ca, name)));
    snprintf(u.id, sizeof(u.id), "gpu/ocsp/%.*s", (int)(strlen(name) - 4), name);
    assert_true(ccg_ok(ccg_file_read(good_path, 1u << 16, &u.bytes, &u.len)));
    ccg_gpu_ocsp_result r;
    ccg_time now = ccg_time_now();
    /* The upload alone serves (no cache, no responder), judged as a cached answer. */
    ccg_gpu_ocsp_config cfg = {.lookup = upload_lookup, .lookup_ctx = &u};
    assert_true(ccg_ok(check(&cfg, F.good, now, &r)));
    assert_int_equal(r.status, CCG_GPU_OCSP_GOOD);
    assert_false(r.live);
    assert_int_equal(u.calls, 1);
    EXPECT_FAIL(check(&cfg, F.good, now + 7200, &r), CCG_R_GPU_OCSP_RESPONSE_STALE);
    /* Nothing uploaded for another certificate: the cache's verdict (none here). */
    EXPECT_FAIL(check(&cfg, F.hold, now, &r), CCG_R_GPU_OCSP_UNAVAILABLE);
    /* The upload comes before the cache and is never trusted more: a changed signature byte is refused
     * although the cache holds the genuine answer. */
    cfg.cache_dir = cache;
    u.bytes[u.len - 5] ^= 0x01;
    EXPECT_FAIL(check(&cfg, F.good, now, &r), CCG_R_GPU_OCSP_RESPONSE_INVALID);
    u.bytes[u.len - 5] ^= 0x01;
    ccg_error_clear();
    assert_true(ccg_ok(check(&cfg, F.good, now, &r)));
    /* A miss in the store falls through to the cache. */
    u.id[0] = 'x';
    ccg_error_clear();
    assert_true(ccg_ok(check(&cfg, F.good, now, &r)));
    assert_int_equal(r.status, CCG_GPU_OCSP_GOOD);
    /* A store that fails fails the check with its own code, never a pass from the cache. */
    u.fail = 1;
    EXPECT_FAIL(check(&cfg, F.good, now, &r), CCG_R_STORE_UNAVAILABLE);
    free(u.bytes);
}

static void test_check_chain(void **state)
{
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, F.good);
    sk_X509_push(chain, F.ca);
    ccg_gpu_ocsp_config cfg = live_config();
    ccg_gpu_ocsp_result results[1];
    size_t n = 0;
    assert_true(ccg_ok(ccg_gpu_ocsp_check_chain(&cfg, chain, ccg_time_now(), results, &n)));
    assert_int_equal(n, 1); /* the root is the anchor, not checked */
    assert_int_equal(results[0].status, CCG_GPU_OCSP_GOOD);
    sk_X509_set(chain, 0, F.revoked);
    EXPECT_FAIL(ccg_gpu_ocsp_check_chain(&cfg, chain, ccg_time_now(), results, &n), CCG_R_GPU_CERT_REVOKED);
    assert_int_equal(n, 1);
    sk_X509_free(chain);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_live_good, each_setup),
        cmocka_unit_test_setup(test_live_revoked, each_setup),
        cmocka_unit_test_setup(test_live_hold_only_when_allowed, each_setup),
        cmocka_unit_test_setup(test_live_unknown, each_setup),
        cmocka_unit_test_setup(test_live_nonce_must_be_echoed, each_setup),
        cmocka_unit_test_setup(test_live_foreign_signer_refused, each_setup),
        cmocka_unit_test_setup(test_live_validity_at_now, each_setup),
        cmocka_unit_test_setup(test_unavailable, each_setup),
        cmocka_unit_test_setup(test_cache, each_setup),
        cmocka_unit_test_setup(test_uploaded, each_setup),
        cmocka_unit_test_setup(test_check_chain, each_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
