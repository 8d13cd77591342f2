/* The broker's front end in process (issue 10, items 8, 11 and 12): the request path grammar and its
 * precise codes, what the log and the audit record say was sent, the aggregation of anonymous denials
 * into counted summary records, the limits configuration, the request body collector zeroing every
 * buffer it gives up, and the process hardening of ccgate-kbs (no core dumps, OpenSSL's secure heap
 * holding the token-signing key). tests/cli/test_kbs_wire.sh drives the same through a real daemon. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"

#include "testutil.h"

#include "../src/kbs/kbs_internal.h"

#define T0 ((ccg_time)1790000000)

typedef struct {
    char dir[128];
    char config_text[1024];
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    ccg_time now;
    unsigned req_seq;
    char request_id[32];
} fixture;

static ccg_time clock_of(void *ctx) { return ((fixture *)ctx)->now; }

static void open_broker(fixture *f, const char *extra)
{
    char kek[200];
    snprintf(kek, sizeof(kek), "%s/kek", f->dir);
    snprintf(f->config_text, sizeof(f->config_text),
             "{\"store\":\"%s/kbs.db\",\"nonce_ttl\":60,\"token_ttl\":600,\"attestation_policy\":\"attest\","
             "\"allow_unlocked_memory\":true,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s\"}%s}",
             f->dir, kek, extra);
    assert_true(ccg_ok(ccg_kbs_config_parse(f->config_text, strlen(f->config_text), &f->cfg)));
    assert_true(ccg_ok(ccg_kbs_new(&f->cfg, clock_of, f, &f->kbs)));
}

static void close_broker(fixture *f)
{
    ccg_kbs_free(f->kbs);
    f->kbs = NULL;
    ccg_kbs_config_free(&f->cfg);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_keystore *ks = NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-kbs-wire-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->now = T0;
    open_broker(f, "");
    assert_true(ccg_ok(kbs_keystore(f->kbs, &ks)));
    assert_true(ccg_ok(ccg_keystore_create_kek(ks, NULL)));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    close_broker(f);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void call(fixture *f, const char *method, const char *path, size_t path_len, const char *cookie,
                 ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    snprintf(f->request_id, sizeof(f->request_id), "req-%u", ++f->req_seq);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.path_len = path_len;
    req.cookie_session = cookie;
    req.body = "";
    req.request_id = f->request_id;
    ccg_kbs_handle(f->kbs, &req, resp);
}

static void expect(const ccg_kbs_http_response *resp, unsigned status, const char *code)
{
    if (resp->status != status || (code != NULL && strstr(resp->body, code) == NULL)) {
        fail_msg("expected %u %s, got %u %s", status, code != NULL ? code : "", resp->status, resp->body);
    }
}

/* The newest audit record. */
static json_t *last_record(fixture *f)
{
    json_t *list = NULL, *rec;
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    assert_true(ccg_ok(ccg_audit_head(f->kbs->audit, &seq, hash)));
    assert_true(seq > 0);
    assert_true(ccg_ok(ccg_audit_list(f->kbs->audit, seq - 1, 1, &list)));
    rec = json_incref(json_array_get(list, 0));
    json_decref(list);
    return rec;
}

static int64_t audit_head(fixture *f)
{
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    assert_true(ccg_ok(ccg_audit_head(f->kbs->audit, &seq, hash)));
    return seq;
}

/* A session that passed attestation, made through the store: the path is judged before it matters. */
static void attested_session(fixture *f, const char *sid)
{
    EVP_PKEY *guest = EVP_EC_gen("P-256");
    ccg_jwk *jwk = NULL;
    json_t *pub, *rec;
    char *text;
    assert_non_null(guest);
    assert_true(ccg_ok(ccg_jwk_from_pkey(guest, NULL, &jwk)));
    pub = ccg_jwk_to_json(jwk);
    rec = json_pack("{s:s,s:s,s:o}", "nonce", "n-1", "additional_evidence", "", "tee-pubkey", pub);
    text = json_dumps(rec, JSON_COMPACT);
    assert_true(ccg_ok(ccg_store_session_create(f->kbs->store, sid, "n-1", "snp", f->now, f->now + 60)));
    assert_true(ccg_ok(ccg_store_session_consume_nonce(f->kbs->store, sid, "n-1", f->now, NULL)));
    assert_true(ccg_ok(ccg_store_session_attest(f->kbs->store, sid, text, f->now, f->now + 600, NULL)));
    free(text);
    json_decref(rec);
    ccg_jwk_free(jwk);
    EVP_PKEY_free(guest);
}

/* ---- item 8: encoded bytes in resource paths ---- */

static void encoded_resource_paths_are_refused_as_sent(void **state)
{
    static const char *const encoded[] = {
        "/kbs/v0/resource/bar/model/c%00/../../x", "/kbs/v0/resource/bar/model/c%00",
        "/kbs/v0/resource/bar/model/c%00.json",    "/kbs/v0/resource/bar%2fmodel%2fc",
        "/kbs/v0/resource/bar/model%2fc",          "/kbs/v0/resource/bar/model%2Fc",
        "/kbs/v0/resource/bar/model/%63",
    };
    fixture *f = *state;
    ccg_kbs_http_response resp;
    /* Every denial in its own record here (anonymous ones are otherwise summarised per window). */
    close_broker(f);
    open_broker(f, ",\"limits\":{\"anonymous_audit_window\":0}");
    attested_session(f, "sid-attested");
    for (size_t i = 0; i < sizeof(encoded) / sizeof(encoded[0]); i++) {
        json_t *rec;
        call(f, "GET", encoded[i], 0, "sid-attested", &resp);
        expect(&resp, 400, "\"kbs.path_encoded\"");
        /* The body names the path problem, not a request body. */
        assert_null(strstr(resp.body, "request body"));
        assert_non_null(strstr(resp.body, "percent-encoded"));
        ccg_kbs_response_free(&resp);
        /* The audit record shows what was sent, not "bar/model/c". */
        rec = last_record(f);
        assert_string_equal(json_string_value(json_object_get(rec, "key_id")), encoded[i] + 17);
        assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "reasons"), 0)),
                            "kbs.path_encoded");
        assert_string_equal(json_string_value(json_object_get(rec, "request_id")), f->request_id);
        json_decref(rec);
    }
}

static void a_nul_that_hid_the_rest_of_the_path_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    json_t *rec;
    /* What the server sees when "GET /kbs/v0/resource/bar/model/c<NUL>/../x" arrives: a C string cut
     * at the NUL, and the length of what was sent. */
    const char *cut = "/kbs/v0/resource/bar/model/c";
    attested_session(f, "sid-attested");
    call(f, "GET", cut, strlen(cut) + 6, "sid-attested", &resp);
    expect(&resp, 400, "\"kbs.path_invalid\"");
    ccg_kbs_response_free(&resp);
    rec = last_record(f);
    assert_string_equal(json_string_value(json_object_get(rec, "key_id")), "bar/model/c\\x00...");
    json_decref(rec);
}

static void key_path_segments_are_validated(void **state)
{
    static const char *const bad[] = {
        "/kbs/v0/resource/a/../c", "/kbs/v0/resource/a/./c",   "/kbs/v0/resource/a/b",
        "/kbs/v0/resource/a/b/c/d", "/kbs/v0/resource/a//c",   "/kbs/v0/resource/a/b/",
        "/kbs/v0/resource/a/b:x/c", "/kbs/v0/resource/a/b~/c", "/kbs/v0/resource/../../x",
    };
    fixture *f = *state;
    ccg_kbs_http_response resp;
    attested_session(f, "sid-attested");
    /* With an attested session, a bad key path is 400 with its code; were the segments not checked, the
     * key lookup would answer 404 key.not_found. */
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        call(f, "GET", bad[i], 0, "sid-attested", &resp);
        expect(&resp, 400, "\"kbs.path_invalid\"");
        assert_null(strstr(resp.body, "request body"));
        ccg_kbs_response_free(&resp);
    }
    /* A well-formed unknown key is the lookup's 404. */
    call(f, "GET", "/kbs/v0/resource/a/b/c", 0, "sid-attested", &resp);
    expect(&resp, 404, "\"key.not_found\"");
    ccg_kbs_response_free(&resp);
}

static void bytes_outside_the_grammar_are_escaped(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char out[64];
    json_t *rec;
    call(f, "GET", "/kbs/v0/resource/a/b\x01\xff c/d", 0, NULL, &resp);
    expect(&resp, 400, "\"kbs.path_invalid\"");
    ccg_kbs_response_free(&resp);
    rec = last_record(f);
    assert_string_equal(json_string_value(json_object_get(rec, "key_id")), "a/b\\x01\\xff\\x20c/d");
    json_decref(rec);
    /* The escape never overflows and marks what it cut. */
    kbs_path_escape("abcdefghijklmnopqrstuvwxyz", 0, out, 16);
    assert_string_equal(out, "abcdefghijkl...");
    kbs_path_escape("a\\b", 0, out, sizeof(out));
    assert_string_equal(out, "a\\x5cb");
}

static void other_endpoints_take_no_encoding_and_admin_decodes_once(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *decoded = NULL;
    /* /kbs/v0/au%74h is not /kbs/v0/auth. */
    call(f, "POST", "/kbs/v0/au%74h", 0, NULL, &resp);
    expect(&resp, 400, "\"kbs.path_encoded\"");
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/healthz", 0, NULL, &resp);
    expect(&resp, 200, "ok");
    ccg_kbs_response_free(&resp);
    /* The admin API: IDs of any printable character arrive decoded; %2F, %00 and bad escapes do not. */
    assert_int_equal(kbs_path_check("/admin/v0/policies/model%3Aa%25", 0, 1, &decoded), CCG_R_OK);
    assert_string_equal(decoded, "/admin/v0/policies/model:a%");
    free(decoded);
    assert_int_equal(kbs_path_check("/admin/v0/keys/bar%2Fmodel%2Fc/disable", 0, 1, &decoded),
                     CCG_R_KBS_PATH_ENCODED);
    assert_null(decoded);
    assert_int_equal(kbs_path_check("/admin/v0/keys/a%00/disable", 0, 1, &decoded), CCG_R_KBS_PATH_ENCODED);
    assert_int_equal(kbs_path_check("/admin/v0/keys/a%0a", 0, 1, &decoded), CCG_R_KBS_PATH_ENCODED);
    assert_int_equal(kbs_path_check("/admin/v0/keys/a%zz", 0, 1, &decoded), CCG_R_KBS_PATH_INVALID);
    assert_int_equal(kbs_path_check("/admin/v0/keys/a%4", 0, 1, &decoded), CCG_R_KBS_PATH_INVALID);
    assert_int_equal(kbs_path_check("/admin/v0/keys/a b", 0, 1, &decoded), CCG_R_KBS_PATH_INVALID);
    assert_int_equal(kbs_path_check("*", 0, 0, &decoded), CCG_R_KBS_PATH_INVALID);
    call(f, "POST", "/admin/v0/keys/bar%2Fmodel%2Fc/disable", 0, NULL, &resp);
    expect(&resp, 400, "\"kbs.path_encoded\"");
    ccg_kbs_response_free(&resp);
    /* A decodable admin path reaches the admin API (which then wants a token). */
    call(f, "GET", "/admin/v0/policies/model%3Aa", 0, NULL, &resp);
    expect(&resp, 401, "\"admin.unauthenticated\"");
    ccg_kbs_response_free(&resp);
}

/* ---- item 11: anonymous denials are aggregated ---- */

static int64_t sum_counts(fixture *f, const char *code, int64_t *records)
{
    json_t *list = NULL, *rec;
    size_t i;
    int64_t sum = 0;
    *records = 0;
    assert_true(ccg_ok(ccg_audit_list(f->kbs->audit, 0, 0, &list)));
    json_array_foreach(list, i, rec) {
        const char *first = json_string_value(json_array_get(json_object_get(rec, "reasons"), 0));
        if (first != NULL && strcmp(first, code) == 0) {
            json_t *count = json_object_get(rec, "count");
            sum += json_is_integer(count) ? json_integer_value(count) : 1;
            (*records)++;
        }
    }
    json_decref(list);
    return sum;
}

static void anonymous_denials_become_one_summary_per_window(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    int64_t before = audit_head(f), records = 0;
    ccg_audit_verify_report r;
    for (int i = 0; i < 300; i++) {
        call(f, "GET", "/kbs/v0/resource/a/b/c", 0, NULL, &resp);
        expect(&resp, 401, "\"kbs.session_missing\"");
        ccg_kbs_response_free(&resp);
        call(f, "GET", "/kbs/v0/resource/a/b%00", 0, NULL, &resp);
        expect(&resp, 400, "\"kbs.path_encoded\"");
        ccg_kbs_response_free(&resp);
        f->now += i % 50 == 49 ? 1 : 0; /* 6 seconds in all, inside the 60-second window */
    }
    /* 600 denials, two records: the first of each kind, before its answer. */
    assert_int_equal(audit_head(f) - before, 2);
    /* The window has not ended: the tick writes nothing yet. */
    ccg_kbs_tick(f->kbs);
    assert_int_equal(audit_head(f) - before, 2);
    f->now += 60;
    ccg_kbs_tick(f->kbs);
    assert_int_equal(audit_head(f) - before, 4);
    /* Every denial is accounted for: the counts add up. */
    assert_int_equal(sum_counts(f, "kbs.session_missing", &records), 300);
    assert_int_equal(records, 2);
    assert_int_equal(sum_counts(f, "kbs.path_encoded", &records), 300);
    json_t *rec = last_record(f);
    assert_int_equal(json_integer_value(json_object_get(rec, "count")), 299);
    assert_int_equal(json_integer_value(json_object_get(rec, "v")), 2);
    assert_string_equal(json_string_value(json_object_get(rec, "request_id")), "summary");
    json_decref(rec);
    assert_true(ccg_ok(ccg_audit_verify(f->kbs->audit, NULL, &r)));
    assert_int_equal(r.events, (r.records - 4) + 600);
    /* A new window: its first denial is recorded at once again. */
    call(f, "GET", "/kbs/v0/resource/a/b/c", 0, NULL, &resp);
    ccg_kbs_response_free(&resp);
    assert_int_equal(audit_head(f) - before, 5);
}

static void pending_summaries_are_written_at_shutdown_and_next_window(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    int64_t records = 0;
    for (int i = 0; i < 10; i++) {
        call(f, "GET", "/kbs/v0/resource/a/b/c", 0, NULL, &resp);
        ccg_kbs_response_free(&resp);
    }
    /* The next denial after the window ended writes the summary before its own record. */
    f->now += 61;
    call(f, "GET", "/kbs/v0/resource/a/b/c", 0, NULL, &resp);
    ccg_kbs_response_free(&resp);
    assert_int_equal(sum_counts(f, "kbs.session_missing", &records), 11);
    assert_int_equal(records, 3);
    for (int i = 0; i < 5; i++) {
        call(f, "GET", "/kbs/v0/resource/a/b/c", 0, NULL, &resp);
        ccg_kbs_response_free(&resp);
    }
    /* Shutting down writes what is pending. */
    close_broker(f);
    open_broker(f, "");
    assert_int_equal(sum_counts(f, "kbs.session_missing", &records), 16);
    assert_int_equal(records, 4);
}

static void only_anonymous_denials_are_aggregated(void **state)
{
    ccg_reasons deny, dep, none;
    ccg_audit_event ev;
    (void)state;
    ccg_reasons_init(&deny);
    ccg_reasons_init(&dep);
    ccg_reasons_init(&none);
    assert_int_equal(ccg_reasons_add(&deny, CCG_R_KBS_SESSION_MISSING, NULL), 0);
    assert_int_equal(ccg_reasons_add(&dep, CCG_R_KMS_UNAVAILABLE, NULL), 0);
    memset(&ev, 0, sizeof(ev));
    ev.request_id = "r";
    ev.persona = CCG_PERSONA_WORKLOAD;
    ev.action = "resource.release";
    ev.decision = CCG_AUDIT_DENY;
    ev.reasons = &deny;
    ev.key_id = "a/b/c";
    assert_true(kbs_audit_is_anonymous(&ev));
    ev.key_version = 1;
    assert_false(kbs_audit_is_anonymous(&ev));
    ev.key_version = 0;
    ev.policy_id = "p";
    assert_false(kbs_audit_is_anonymous(&ev));
    ev.policy_id = NULL;
    ev.evidence_digest = "sha384:00";
    assert_false(kbs_audit_is_anonymous(&ev));
    ev.evidence_digest = NULL;
    ev.reasons = &dep;
    ev.decision = CCG_AUDIT_ERROR;
    assert_false(kbs_audit_is_anonymous(&ev));
    ev.reasons = &none;
    ev.decision = CCG_AUDIT_ALLOW;
    assert_false(kbs_audit_is_anonymous(&ev));
    ccg_reasons_free(&deny);
    ccg_reasons_free(&dep);
}

static void a_zero_window_records_every_denial(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    int64_t before;
    close_broker(f);
    open_broker(f, ",\"limits\":{\"anonymous_audit_window\":0}");
    before = audit_head(f);
    for (int i = 0; i < 5; i++) {
        call(f, "GET", "/kbs/v0/resource/a/b/c", 0, NULL, &resp);
        ccg_kbs_response_free(&resp);
    }
    assert_int_equal(audit_head(f) - before, 5);
}

/* ---- item 10: the limits configuration ---- */

static void limits_have_defaults_and_bounds(void **state)
{
    ccg_kbs_config c;
    const char *base = "{\"store\":\"/tmp/x.db\",\"keystore\":{}";
    char text[512];
    (void)state;
    snprintf(text, sizeof(text), "%s}", base);
    assert_true(ccg_ok(ccg_kbs_config_parse(text, strlen(text), &c)));
    assert_int_equal(c.max_connections, 256);
    assert_int_equal(c.max_per_address, 32);
    assert_int_equal(c.request_deadline, 20);
    assert_int_equal(c.idle_timeout, 15);
    assert_int_equal(c.anonymous_audit_window, 60);
    ccg_kbs_config_free(&c);
    snprintf(text, sizeof(text),
             "%s,\"limits\":{\"connections\":64,\"connections_per_address\":4,\"request_deadline\":3,"
             "\"idle_timeout\":2,\"anonymous_audit_window\":0}}",
             base);
    assert_true(ccg_ok(ccg_kbs_config_parse(text, strlen(text), &c)));
    assert_int_equal(c.max_connections, 64);
    assert_int_equal(c.max_per_address, 4);
    assert_int_equal(c.request_deadline, 3);
    assert_int_equal(c.idle_timeout, 2);
    assert_int_equal(c.anonymous_audit_window, 0);
    ccg_kbs_config_free(&c);
    static const char *const bad[] = {
        "\"limits\":{\"connections\":0}",      "\"limits\":{\"request_deadline\":0}",
        "\"limits\":{\"per_ip\":3}",           "\"limits\":[]",
        "\"threads\":8,\"limits\":{\"connections\":4}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "%s,%s}", base, bad[i]);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_kbs_config_parse(text, strlen(text), &c)));
        tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    }
}

/* ---- item 12: request bodies are zeroed; no core dumps; keys in secure memory ---- */

typedef struct {
    int released;
    int dirty;
} release_log;

static void on_release(const char *buf, size_t cap, void *ctx)
{
    release_log *log = ctx;
    log->released++;
    for (size_t i = 0; i < cap; i++) {
        log->dirty |= buf[i] != 0;
    }
}

static void the_body_collector_zeroes_what_it_gives_up(void **state)
{
    kbs_body b;
    release_log log = {0, 0};
    char chunk[3000];
    (void)state;
    memset(&b, 0, sizeof(b));
    b.released = on_release;
    b.released_ctx = &log;
    memset(chunk, 'K', sizeof(chunk));
    /* 3000, 6000, 9000, 12000 bytes: the buffer grows three times (4 KiB -> 8 -> 16). */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(kbs_body_append(&b, chunk, sizeof(chunk), 64 * 1024), 0);
    }
    assert_int_equal(b.len, 12000);
    assert_int_equal(b.data[b.len], 0);
    assert_memory_equal(b.data + 9000, chunk, 3000);
    assert_int_equal(log.released, 2);
    assert_false(log.dirty);
    /* Past the limit: refused, nothing appended. */
    assert_int_equal(kbs_body_append(&b, chunk, sizeof(chunk), 12001), 1);
    assert_int_equal(b.len, 12000);
    kbs_body_free(&b);
    assert_int_equal(log.released, 3);
    assert_false(log.dirty);
    assert_null(b.data);
}

/* In a child: hardening changes the whole process. Exit status 0 when every check holds. */
static int hardened_child(const char *dir)
{
    struct rlimit core;
    ccg_kbs_config cfg;
    ccg_kbs *k = NULL;
    ccg_keystore *ks = NULL;
    EVP_PKEY *key = NULL;
    char text[512];
    size_t used_before;
    if (ccg_failed(ccg_kbs_process_harden())) {
        return 10;
    }
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0) {
        return 11;
    }
    if (getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) {
        return 12;
    }
    if (!CRYPTO_secure_malloc_initialized()) {
        return 13;
    }
    /* The token-signing key, made and loaded by the broker, lands in the secure heap. */
    snprintf(text, sizeof(text),
             "{\"store\":\"%s/h.db\",\"allow_unlocked_memory\":true,"
             "\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/h.kek\"}}",
             dir, dir);
    if (ccg_failed(ccg_kbs_config_parse(text, strlen(text), &cfg)) || ccg_failed(ccg_kbs_new(&cfg, NULL, NULL, &k)) ||
        ccg_failed(kbs_keystore(k, &ks)) || ccg_failed(ccg_keystore_create_kek(ks, NULL))) {
        return 14;
    }
    used_before = CRYPTO_secure_used();
    if (ccg_failed(kbs_token_key(k, &key))) {
        return 15;
    }
    if (CRYPTO_secure_used() <= used_before) {
        return 16;
    }
    ccg_kbs_free(k);
    ccg_kbs_config_free(&cfg);
    return 0;
}

static void the_process_is_hardened(void **state)
{
    fixture *f = *state;
    int status = 0;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(hardened_child(f->dir));
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0) {
        fail_msg("hardening check %d failed", WEXITSTATUS(status));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(encoded_resource_paths_are_refused_as_sent, setup, teardown),
        cmocka_unit_test_setup_teardown(a_nul_that_hid_the_rest_of_the_path_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(key_path_segments_are_validated, setup, teardown),
        cmocka_unit_test_setup_teardown(bytes_outside_the_grammar_are_escaped, setup, teardown),
        cmocka_unit_test_setup_teardown(other_endpoints_take_no_encoding_and_admin_decodes_once, setup, teardown),
        cmocka_unit_test_setup_teardown(anonymous_denials_become_one_summary_per_window, setup, teardown),
        cmocka_unit_test_setup_teardown(pending_summaries_are_written_at_shutdown_and_next_window, setup, teardown),
        cmocka_unit_test(only_anonymous_denials_are_aggregated),
        cmocka_unit_test_setup_teardown(a_zero_window_records_every_denial, setup, teardown),
        cmocka_unit_test(limits_have_defaults_and_bounds),
        cmocka_unit_test(the_body_collector_zeroes_what_it_gives_up),
        cmocka_unit_test_setup_teardown(the_process_is_hardened, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
