/* The key broker and Intel TDX (issue 12, the broker): `tee: "tdx"` at /auth, Trustee's TDX evidence at
 * /attest, the release policy's "tdx" section, the broker's TDX collateral and test root, REPORT_DATA
 * bound like SNP's, the event log replayed, and the TCB status and advisories in the token and the
 * audit records. In process, with the software TD (src/emulator/tdx) and an injected clock. Every
 * denial names its code and carries the operator signal (request ID, policy ID and version). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/gpu_nonce.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/secmem.h"
#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_eventlog.h"

#include "testutil.h"

#include "../src/kbs/kbs_internal.h"

#define NOW "2026-06-01T00:00:00Z"

typedef struct {
    char dir[128];
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    ccg_time now;
    ccg_tdx_emu *emu;
    ccg_tdx_emu_td td;
    EVP_PKEY *guest;
    json_t *jwk;
    char cookie[128];
    char nonce[128];
    char rid[32];
    unsigned req_seq;
} fixture;

static ccg_time clock_of(void *ctx) { return ((fixture *)ctx)->now; }

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

/* The broker's collateral file: the emulator's bundle, expired or with the PCK revoked as asked. */
static void write_collateral(fixture *f, int expired, int revoke_pck)
{
    ccg_tdx_emu_collateral c;
    ccg_tdx_emu_collateral_opts o = {.now = f->now, .expired = expired, .revoke_pck = revoke_pck};
    char path[200], *bundle = NULL;
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(f->emu, &o, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &bundle)));
    snprintf(path, sizeof(path), "%s/collateral.json", f->dir);
    write_file(path, bundle);
    free(bundle);
    ccg_tdx_emu_collateral_free(&c);
}

static void open_broker(fixture *f)
{
    char text[2048], path[200];
    ccg_keystore *ks = NULL;
    char *root = ccg_tdx_emu_root_pem(f->emu);
    snprintf(path, sizeof(path), "%s/tdx-root.pem", f->dir);
    write_file(path, root);
    free(root);
    snprintf(text, sizeof(text),
             "{\"store\":\"%s/kbs.db\",\"nonce_ttl\":60,\"token_ttl\":600,\"attestation_policy\":\"attest\","
             "\"allow_unlocked_memory\":true,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/kek\"},"
             "\"tdx\":{\"collateral_file\":\"%s/collateral.json\",\"test_roots\":[\"%s\"]}}",
             f->dir, f->dir, f->dir, path);
    assert_true(ccg_ok(ccg_kbs_config_parse(text, strlen(text), &f->cfg)));
    if (ccg_failed(ccg_kbs_new(&f->cfg, clock_of, f, &f->kbs))) {
        fail_msg("broker: %s", ccg_error_last()->message);
    }
    assert_true(ccg_ok(kbs_keystore(f->kbs, &ks)));
    assert_true(ccg_ok(ccg_keystore_create_kek(ks, NULL)));
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_tdx_emu_opts o;
    ccg_jwk *jwk = NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-kbs-tdx-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->now = tu_time(NOW);
    ccg_tdx_emu_opts_default(f->now, &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &f->emu)));
    ccg_tdx_emu_td_default(&f->td);
    memset(f->td.mrtd, 0x5a, sizeof(f->td.mrtd));
    f->guest = EVP_EC_gen("P-256");
    assert_true(ccg_ok(ccg_jwk_from_pkey(f->guest, NULL, &jwk)));
    f->jwk = ccg_jwk_to_json(jwk);
    ccg_jwk_free(jwk);
    write_collateral(f, 0, 0);
    open_broker(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    ccg_kbs_free(f->kbs);
    ccg_kbs_config_free(&f->cfg);
    ccg_tdx_emu_free(f->emu);
    EVP_PKEY_free(f->guest);
    json_decref(f->jwk);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The release policy "attest" (version given): allowed_tees and the tdx section as JSON text. */
static ccg_result set_policy(fixture *f, int version, const char *tees, const char *tdx_section)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"policy_id\":\"attest\",\"version\":%d,\"allowed_tees\":%s%s%s}", version, tees,
             tdx_section != NULL ? ",\"tdx\":" : "", tdx_section != NULL ? tdx_section : "");
    return ccg_kbs_set_policy(f->kbs, text, strlen(text));
}

/* A TDX section pinning the fixture TD's MRTD (0x5a...). */
static void put_policy(fixture *f, int version, const char *extra)
{
    char section[512], hex[97];
    uint8_t mrtd[48];
    memset(mrtd, 0x5a, sizeof(mrtd));
    ccg_hex_encode(mrtd, sizeof(mrtd), hex);
    snprintf(section, sizeof(section), "{\"allowed_mrtd\":[\"%s\"]%s}", hex, extra != NULL ? extra : "");
    if (ccg_failed(set_policy(f, version, "[\"tdx\"]", section))) {
        fail_msg("policy: %s", ccg_error_last()->message);
    }
}

static void call(fixture *f, const char *method, const char *path, const char *body, ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    snprintf(f->rid, sizeof(f->rid), "req-%u", ++f->req_seq);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.cookie_session = f->cookie[0] != 0 ? f->cookie : NULL;
    req.body = body != NULL ? body : "";
    req.body_len = body != NULL ? strlen(body) : 0;
    req.request_id = f->rid;
    ccg_kbs_handle(f->kbs, &req, resp);
}

static void auth(fixture *f, const char *tee, unsigned status)
{
    ccg_kbs_http_response resp;
    char body[128];
    const char *eq;
    json_t *ch;
    f->cookie[0] = 0;
    snprintf(body, sizeof(body), "{\"version\":\"0.4.0\",\"tee\":\"%s\",\"extra-params\":{}}", tee);
    call(f, "POST", "/kbs/v0/auth", body, &resp);
    assert_int_equal(resp.status, status);
    if (status == 200) {
        ch = json_loads(resp.body, 0, NULL);
        snprintf(f->nonce, sizeof(f->nonce), "%s", json_string_value(json_object_get(ch, "nonce")));
        json_decref(ch);
        eq = strchr(resp.set_cookie, '=');
        assert_non_null(eq);
        snprintf(f->cookie, sizeof(f->cookie), "%.*s", (int)strcspn(eq + 1, ";"), eq + 1);
    }
    ccg_kbs_response_free(&resp);
}

static char *b64(const uint8_t *data, size_t n)
{
    char *out = malloc(4 * (n / 3 + 1) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, data, (int)n);
    return out;
}

/* A fresh "tdx" challenge and the TD's quote over REPORT_DATA bound to it (bind 0: to another nonce),
 * with the event log when given, POSTed to /attest as Trustee's TdxEvidence. */
static void attest_full(fixture *f, int bind, const uint8_t *log, size_t log_len, char *(*additional)(fixture *),
                        ccg_kbs_http_response *resp)
{
    ccg_jwk *jwk = NULL;
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    char *qb64, *lb64 = NULL, *text;
    char *ae;
    auth(f, "tdx", 200);
    ae = additional != NULL ? additional(f) : strdup("");
    assert_true(ccg_ok(ccg_jwk_parse(f->jwk, &jwk)));
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", bind ? f->nonce : "another-nonce", jwk, ae,
                                                f->td.report_data)));
    ccg_jwk_free(jwk);
    assert_true(ccg_ok(ccg_tdx_emu_quote(f->emu, &f->td, &quote, &quote_len)));
    qb64 = b64(quote, quote_len);
    if (log != NULL) {
        lb64 = b64(log, log_len);
    }
    json_t *doc = json_pack("{s:{s:s,s:O},s:{s:{s:s?,s:s},s:s}}", "runtime-data", "nonce", f->nonce, "tee-pubkey",
                            f->jwk, "tee-evidence", "primary_evidence", "cc_eventlog", lb64, "quote", qb64,
                            "additional_evidence", ae);
    text = json_dumps(doc, JSON_COMPACT);
    call(f, "POST", "/kbs/v0/attest", text, resp);
    free(text);
    free(ae);
    json_decref(doc);
    free(qb64);
    free(lb64);
    free(quote);
}

static void attest_log(fixture *f, int bind, const uint8_t *log, size_t log_len, ccg_kbs_http_response *resp)
{
    attest_full(f, bind, log, log_len, NULL, resp);
}

static void attest(fixture *f, ccg_kbs_http_response *resp) { attest_log(f, 1, NULL, 0, resp); }

/* The status, the code among the reasons, and the operator signal: this request's ID and the policy's
 * identity. */
static void expect(fixture *f, const ccg_kbs_http_response *resp, unsigned status, const char *code)
{
    json_t *body;
    if (resp->status != status || (code != NULL && strstr(resp->body, code) == NULL)) {
        fail_msg("expected %u %s, got %u %s", status, code != NULL ? code : "", resp->status, resp->body);
    }
    if (status >= 400) {
        body = json_loads(resp->body, 0, NULL);
        assert_string_equal(json_string_value(json_object_get(body, "request_id")), f->rid);
        if (code != NULL && strncmp(code, "kbs.", 4) != 0) {
            assert_string_equal(json_string_value(json_object_get(body, "policy_id")), "attest");
            assert_true(json_integer_value(json_object_get(body, "policy_version")) >= 1);
        }
        json_decref(body);
    }
}

static json_t *audit_records(fixture *f)
{
    char path[200];
    ccg_audit *a = NULL;
    ccg_audit_verify_report rep;
    json_t *records = NULL;
    snprintf(path, sizeof(path), "%s/kbs.db", f->dir);
    assert_true(ccg_ok(ccg_audit_open(path, NULL, &a)));
    assert_true(ccg_ok(ccg_audit_verify(a, NULL, &rep)));
    assert_true(rep.intact);
    assert_true(ccg_ok(ccg_audit_list(a, 0, 0, &records)));
    ccg_audit_close(a);
    return records;
}

/* The last audit record. */
static json_t *last_record(fixture *f)
{
    json_t *records = audit_records(f), *rec = json_incref(json_array_get(records, json_array_size(records) - 1));
    json_decref(records);
    return rec;
}

static void import_key(fixture *f, const char *key_id)
{
    ccg_secbuf key = {0};
    assert_true(ccg_ok(ccg_secbuf_alloc(&key, 32, 1)));
    memset(key.data, 0x42, 32);
    assert_true(ccg_ok(ccg_kbs_import_key(f->kbs, key_id, "attest", &key)));
    ccg_secbuf_free(&key);
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Approved: a token whose claims say tdx and UpToDate with the TD's fields and every status, the key
 * released at /resource (the quote appraised again), and both audit records naming the status. */
static void approved_td_gets_its_key(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    EVP_PKEY *key = NULL;
    json_t *t, *claims = NULL, *tcb;
    put_policy(f, 1, NULL);
    import_key(f, "acme/model/a");
    attest(f, &resp);
    expect(f, &resp, 200, "\"token\"");
    t = json_loads(resp.body, 0, NULL);
    const char *tok = json_string_value(json_object_get(t, "token"));
    assert_true(ccg_ok(kbs_token_key(f->kbs, &key)));
    assert_true(ccg_ok(ccg_jwt_verify_es256(key, tok, strlen(tok), f->now, 0, &claims)));
    assert_string_equal(json_string_value(json_object_get(claims, "tee")), "tdx");
    tcb = json_object_get(claims, "tcb-status");
    assert_string_equal(json_string_value(json_object_get(tcb, "tcb_status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tcb, "tcb"), "module_status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(tcb, "tcb"), "qe_status")), "UpToDate");
    assert_non_null(json_object_get(json_object_get(tcb, "td"), "mrtd"));
    json_decref(claims);
    json_decref(t);
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    expect(f, &resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    json_t *records = audit_records(f);
    size_t n = json_array_size(records);
    json_t *att = json_array_get(records, n - 2), *rel = json_array_get(records, n - 1);
    assert_string_equal(json_string_value(json_object_get(att, "action")), "kbs.attest");
    assert_int_equal(json_integer_value(json_object_get(att, "v")), CCG_AUDIT_FORMAT_CLAIMS); /* a TDX decision's */
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "claims"), "mrtd")),
                        json_string_value(json_object_get(json_object_get(att, "tcb"), "mrtd")));
    assert_int_equal(json_array_size(json_object_get(json_object_get(att, "claims"), "rtmrs")), 4);
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "tcb"), "status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "tcb"), "module_status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "tcb"), "qe_status")), "UpToDate");
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "tcb"), "fmspc")), "00906ed50000");
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "tcb"), "mrtd")),
                        "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
    assert_string_equal(json_string_value(json_object_get(rel, "action")), "resource.release");
    assert_string_equal(json_string_value(json_object_get(rel, "decision")), "allow");
    assert_string_equal(json_string_value(json_object_get(rel, "request_id")), f->rid);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rel, "tcb"), "status")), "UpToDate");
    json_decref(records);
}

/* A /resource after the collateral expired: the TDX decision is not reused, the appraisal again names it. */
static void release_reappraises_the_quote(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    import_key(f, "acme/model/a");
    attest(f, &resp);
    expect(f, &resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    write_collateral(f, 1, 0);
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    expect(f, &resp, 403, "collateral.expired");
    assert_non_null(strstr(resp.body, "\"key_id\":\"acme/model/a\""));
    ccg_kbs_response_free(&resp);
}

static void debug_td_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    f->td.td_attributes |= 1; /* DEBUG */
    attest(f, &resp);
    expect(f, &resp, 401, "tdx.debug");
    ccg_kbs_response_free(&resp);
}

static void mrtd_not_allowed_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    f->td.mrtd[0] ^= 1;
    attest(f, &resp);
    expect(f, &resp, 401, "tdx.mrtd_not_allowed");
    ccg_kbs_response_free(&resp);
}

/* OutOfDate under the default statuses: refused, and the audit record names the status and advisory. */
static void out_of_date_refused_naming_status(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    f->td.tee_tcb_svn[0] = 4; /* one step below the UpToDate level */
    attest(f, &resp);
    expect(f, &resp, 401, "tdx.tcb_status_not_allowed");
    assert_non_null(strstr(resp.body, "tdx.advisory_not_allowed"));
    ccg_kbs_response_free(&resp);
    json_t *rec = last_record(f), *tcb = json_object_get(rec, "tcb");
    assert_string_equal(json_string_value(json_object_get(rec, "decision")), "deny");
    assert_int_equal(json_integer_value(json_object_get(rec, "v")), CCG_AUDIT_FORMAT_CLAIMS);
    assert_string_equal(json_string_value(json_object_get(tcb, "status")), "OutOfDate");
    assert_string_equal(json_string_value(json_object_get(tcb, "platform_status")), "OutOfDate");
    assert_string_equal(json_string_value(json_array_get(json_object_get(tcb, "advisories"), 0)),
                        CCG_TDX_EMU_PLATFORM_ADVISORY);
    assert_int_equal(json_integer_value(json_object_get(rec, "policy_version")), 1);
    json_decref(rec);
    /* The same TD under a policy accepting OutOfDate and its advisory: released. */
    put_policy(f, 2, ",\"accepted_tcb_statuses\":[\"UpToDate\",\"OutOfDate\"],\"allowed_advisories\":[\""
                     CCG_TDX_EMU_PLATFORM_ADVISORY "\"]");
    attest(f, &resp);
    expect(f, &resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
}

static void expired_collateral_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    write_collateral(f, 1, 0);
    attest(f, &resp);
    expect(f, &resp, 401, "collateral.expired");
    ccg_kbs_response_free(&resp);
}

static void revoked_pck_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    write_collateral(f, 0, 1);
    attest(f, &resp);
    expect(f, &resp, 401, "tdx.pck_revoked");
    ccg_kbs_response_free(&resp);
}

static void missing_collateral_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char path[200];
    put_policy(f, 1, NULL);
    snprintf(path, sizeof(path), "%s/collateral.json", f->dir);
    assert_int_equal(unlink(path), 0);
    attest(f, &resp);
    expect(f, &resp, 401, "collateral.missing");
    ccg_kbs_response_free(&resp);
}

/* A quote whose REPORT_DATA binds another challenge: refused, whatever else is right. */
static void report_data_not_bound_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, 1, NULL);
    attest_log(f, 0, NULL, 0, &resp);
    expect(f, &resp, 401, "tdx.report_data_mismatch");
    ccg_kbs_response_free(&resp);
}

/* The CCEL log is replayed: the log of a TD whose RTMRs it reproduces is accepted; the same log beside
 * another RTMR0 names the mismatch; bytes that are no log are their own code. */
static void event_log_replayed(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    uint8_t *log = NULL, junk[64];
    size_t len = 0;
    ccg_tdx_eventlog parsed;
    put_policy(f, 1, NULL);
    assert_true(ccg_ok(ccg_file_read(tu_vector_path("tdx/gotdx-ccel-ccel_data.dat"), CCG_TDX_EVENTLOG_MAX, &log,
                                     &len)));
    /* The whole log area is sent as read (256 KiB, as Trustee's attester sends it): the Attestation's
     * body limit holds it. Its used part alone (cut past the fill start) is accepted too. */
    assert_true(ccg_ok(ccg_tdx_eventlog_parse(log, len, &parsed)));
    for (int i = 0; i < 3; i++) {
        memcpy(f->td.rtmr[i], parsed.rtmr[i], 48);
    }
    size_t used = len;
    for (size_t i = 0; i + 16 <= len; i++) {
        static const uint8_t ff[16] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
        if (memcmp(log + i, ff, 16) == 0) {
            used = i + 16;
            break;
        }
    }
    ccg_tdx_eventlog_free(&parsed);
    assert_true(used < len);
    attest_log(f, 1, log, len, &resp);
    expect(f, &resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    attest_log(f, 1, log, used, &resp);
    expect(f, &resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    f->td.rtmr[0][0] ^= 1;
    attest_log(f, 1, log, used, &resp);
    expect(f, &resp, 401, "tdx.rtmr0_log_mismatch");
    ccg_kbs_response_free(&resp);
    memset(junk, 0x41, sizeof(junk));
    attest_log(f, 1, junk, sizeof(junk), &resp);
    expect(f, &resp, 401, "tdx.event_log_malformed");
    ccg_kbs_response_free(&resp);
    free(log);
}

/* The release policy: tdx needs a pinned measurement; a section for a TEE not allowed, or one fixing
 * REPORT_DATA, is refused; a policy for snp only refuses a tdx session. */
static void release_policy_rules(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    assert_true(ccg_failed(set_policy(f, 1, "[\"tdx\"]", NULL)));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_POLICY_UNPINNED);
    assert_true(ccg_failed(set_policy(f, 1, "[\"tdx\"]", "{\"debug_allowed\":false}")));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_POLICY_UNPINNED);
    assert_true(ccg_failed(set_policy(f, 1, "[\"snp\"]", "{\"allowed_mrtd\":[]}")));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_POLICY_INVALID);
    assert_true(ccg_failed(set_policy(f, 1, "[\"tdx\"]", "{\"policy_id\":\"x\",\"allowed_mrtd\":[]}")));
    assert_int_equal(ccg_error_reason(), CCG_R_POLICY_UNKNOWN_KEY);
    char rd[200];
    snprintf(rd, sizeof(rd), "{\"allowed_mrtd\":[],\"report_data\":\"%0128d\"}", 0);
    assert_true(ccg_failed(set_policy(f, 1, "[\"tdx\"]", rd)));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_POLICY_INVALID);
    assert_true(ccg_failed(set_policy(f, 1, "[\"tdx\",\"sgx\"]", "{\"allowed_mrtd\":[]}")));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_POLICY_INVALID);
    /* Pinned by a reference-value set instead of an MRTD: accepted. */
    assert_true(ccg_ok(set_policy(f, 1, "[\"tdx\"]", "{\"reference_values\":{\"set_id\":\"td-refs\"}}")));
    /* snp only, with an SNP pin: a tdx session is refused by the policy. */
    assert_true(ccg_ok(ccg_kbs_set_policy(
        f->kbs,
        "{\"policy_id\":\"attest\",\"version\":2,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"s\","
        "\"version\":1,\"allowed_measurements\":[\"" "000000000000000000000000000000000000000000000000"
        "000000000000000000000000000000000000000000000000\"]}}",
        strlen("{\"policy_id\":\"attest\",\"version\":2,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":"
               "\"s\",\"version\":1,\"allowed_measurements\":[\"000000000000000000000000000000000000000000000000"
               "000000000000000000000000000000000000000000000000\"]}}"))));
    attest(f, &resp);
    expect(f, &resp, 401, "kbs.tee_not_allowed");
    ccg_kbs_response_free(&resp);
}

/* The wire: an unknown TEE at /auth, SNP evidence or unknown members in a tdx session, bad base64. */
static void wire_is_strict(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_kbs_tdx_evidence ev;
    static const char *const bad[] = {
        "{}",
        "{\"quote\":null}",
        "{\"quote\":\"\"}",
        "{\"quote\":\"AAAA\",\"extra\":1}",
        "{\"quote\":\"AA=A\"}",
        "{\"quote\":[1,2,3]}",
        "{\"quote\":\"AAAA\",\"cc_eventlog\":5}",
        "{\"quote\":\"AAAA\",\"aa_eventlog\":[]}",
        "{\"attestation_report\":\"AAAA\",\"cert_chain\":null}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *v = json_loads(bad[i], 0, NULL);
        assert_non_null(v);
        assert_true(ccg_failed(ccg_kbs_tdx_evidence_from_json(v, &ev)));
        assert_int_equal(ccg_error_reason(), CCG_R_KBS_REQUEST_MALFORMED);
        assert_null(ev.quote);
        json_decref(v);
    }
    json_t *ok = json_loads("{\"quote\":\"AAEC\",\"cc_eventlog\":null,\"aa_eventlog\":\"INIT x\\n\"}", 0, NULL);
    assert_true(ccg_ok(ccg_kbs_tdx_evidence_from_json(ok, &ev)));
    assert_int_equal(ev.quote_len, 3);
    assert_null(ev.cc_eventlog);
    assert_string_equal(ev.aa_eventlog, "INIT x\n");
    ccg_kbs_tdx_evidence_free(&ev);
    json_decref(ok);
    /* Over the quote's bound. */
    size_t big = CCG_KBS_TDX_MAX_QUOTE + 3;
    uint8_t *bytes = calloc(1, big);
    char *text = b64(bytes, big);
    json_t *large = json_pack("{s:s}", "quote", text);
    assert_true(ccg_failed(ccg_kbs_tdx_evidence_from_json(large, &ev)));
    assert_int_equal(ccg_error_reason(), CCG_R_KBS_REQUEST_MALFORMED);
    json_decref(large);
    free(text);
    free(bytes);

    auth(f, "sgx", 401);
    put_policy(f, 1, NULL);
    auth(f, "tdx", 200);
    /* SNP's evidence in a tdx session: not TDX evidence. */
    char body[600];
    snprintf(body, sizeof(body),
             "{\"runtime-data\":{\"nonce\":\"%s\",\"tee-pubkey\":{\"kty\":\"EC\"}},\"tee-evidence\":"
             "{\"primary_evidence\":{\"attestation_report\":\"AAAA\",\"cert_chain\":null}}}",
             f->nonce);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(f, &resp, 400, "kbs.request_malformed");
    ccg_kbs_response_free(&resp);
}

/* ---- a TD with a GPU: kbs_gpu.c is TEE-agnostic ---- */

static ccg_gpu_emulator *gpu_emu;
static int gpu_random_nonce;

static char *pem_of(X509 *c)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long n;
    assert_int_equal(PEM_write_bio_X509(bio, c), 1);
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* additional_evidence with one report of the software GPU over the session's ccgate-v1 nonce of GPU 0
 * (or over an unrelated nonce). */
static char *gpu_evidence(fixture *f)
{
    uint8_t digest[CCG_GPU_DEVICE_DIGEST_MAX], nonce[CCG_GPU_NONCE_SIZE], *report = NULL;
    size_t len = 0, pem_len = 0;
    char *pem = NULL, *ev, *cert, *text;
    ccg_jwk *jwk = NULL;
    assert_true(ccg_ok(ccg_jwk_parse(f->jwk, &jwk)));
    assert_true(ccg_ok(ccg_gpu_device_digest("sha384", f->nonce, jwk, digest, &len)));
    assert_true(ccg_ok(ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, digest, len, 0, nonce)));
    ccg_jwk_free(jwk);
    if (gpu_random_nonce) {
        memset(nonce, 0x5a, sizeof(nonce));
    }
    assert_true(ccg_ok(ccg_gpu_emulator_chain_pem(gpu_emu, &pem, &pem_len)));
    assert_true(ccg_ok(ccg_gpu_emulator_attest(gpu_emu, nonce, NULL, &report, &len)));
    ev = b64(report, len);
    cert = b64((const uint8_t *)pem, pem_len);
    json_t *doc = json_pack("{s:{s:[{s:s, s:s, s:s}]}}", "nvidia", "device_evidence_list", "arch", "HOPPER",
                            "evidence", ev, "certificate", cert);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(ev);
    free(cert);
    free(pem);
    free(report);
    return text;
}

static void td_with_gpu(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_gpu_emu_config gcfg;
    char hex[97], *root, *rim_root, *text;
    uint8_t mrtd[48];
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&gcfg, CCG_GPU_ARCH_HOPPER)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&gcfg, &gpu_emu)));
    root = pem_of(ccg_gpu_emulator_root(gpu_emu));
    rim_root = pem_of(ccg_gpu_emulator_rim_root(gpu_emu));
    memset(mrtd, 0x5a, sizeof(mrtd));
    ccg_hex_encode(mrtd, sizeof(mrtd), hex);
    json_t *doc = json_pack("{s:s, s:i, s:[s], s:{s:[s]}, s:{s:i, s:b, s:b, s:{s:s, s:s}}}", "policy_id", "attest",
                            "version", 1, "allowed_tees", "tdx", "tdx", "allowed_mrtd", hex, "gpu", "count", 1,
                            "require_rim", 0, "require_ocsp", 0, "trusted_roots", "gpu", root, "rim", rim_root);
    text = json_dumps(doc, JSON_COMPACT);
    if (ccg_failed(ccg_kbs_set_policy(f->kbs, text, strlen(text)))) {
        fail_msg("policy: %s", ccg_error_last()->message);
    }
    gpu_random_nonce = 0;
    attest_full(f, 1, NULL, 0, gpu_evidence, &resp);
    expect(f, &resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    json_t *rec = last_record(f);
    assert_int_equal(json_integer_value(json_object_get(rec, "v")), CCG_AUDIT_FORMAT_CLAIMS);
    assert_int_equal(json_array_size(json_object_get(rec, "gpus")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "tcb"), "status")), "UpToDate");
    json_decref(rec);
    /* A GPU report over another nonce; and no GPU evidence at all. */
    gpu_random_nonce = 1;
    attest_full(f, 1, NULL, 0, gpu_evidence, &resp);
    expect(f, &resp, 401, "gpu.nonce_mismatch");
    ccg_kbs_response_free(&resp);
    attest(f, &resp);
    expect(f, &resp, 401, "kbs.gpu_required");
    ccg_kbs_response_free(&resp);
    json_decref(doc);
    free(text);
    free(root);
    free(rim_root);
    ccg_gpu_emulator_free(gpu_emu);
    gpu_emu = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(approved_td_gets_its_key, setup, teardown),
        cmocka_unit_test_setup_teardown(release_reappraises_the_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(debug_td_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(mrtd_not_allowed_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(out_of_date_refused_naming_status, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_collateral_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_pck_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_collateral_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(report_data_not_bound_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(event_log_replayed, setup, teardown),
        cmocka_unit_test_setup_teardown(release_policy_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(wire_is_strict, setup, teardown),
        cmocka_unit_test_setup_teardown(td_with_gpu, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
