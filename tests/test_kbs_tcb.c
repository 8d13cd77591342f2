/* The key broker and TCB baselines (issue 10, item 3): baselines and their issuers from the
 * configuration, fail-closed refusals when none applies or it expired, the TCB status and advisory IDs
 * in the attestation token and in the audit records of /attest and /resource, and a reused decision
 * that ends with the baseline it rested on. In process, with an injected clock. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/secmem.h"
#include "ccgate/snp_emulator.h"

#include "testutil.h"
#include "tcb_util.h"

#include "../src/kbs/kbs_internal.h"

#define T0 ((ccg_time)1790000000) /* 2026-09-21 */
#define NB "2026-01-01T00:00:00Z"
#define NA "2027-01-01T00:00:00Z"

typedef struct {
    char dir[128];
    char config_text[2048];
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    ccg_time now;
    ccg_snp_emulator *emu;
    EVP_PKEY *authority; /* signs TCB baselines; trusted as "authority" in tcb_baseline_issuers */
    EVP_PKEY *provider;  /* a reference-value issuer: not trusted for baselines */
    EVP_PKEY *guest;
    json_t *jwk;
    char cookie[128];
    char nonce[128];
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

static void write_pub(fixture *f, EVP_PKEY *key, const char *name)
{
    char path[256], *pem = tu_public_pem(key);
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    write_file(path, pem);
    free(pem);
}

/* A Milan baseline file (name under the fixture's dir) with the emulator's TCB as up_to_date. */
static void write_baseline(fixture *f, const char *name, ccg_snp_product p, const char *advisories, const char *nb,
                           const char *na, EVP_PKEY *key)
{
    char path[256], *text;
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, p, CCG_SNP_SIGNER_VCEK);
    /* Each key signs under its own issuer ID: the provider's is a trusted reference-value issuer. */
    text = tu_tcb_baseline_text(p, &cfg.tcb, advisories, nb, na, key, key == f->provider ? "provider" : "authority");
    snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    write_file(path, text);
    free(text);
}

/* Opens the broker over the fixture's store with these baseline files (names under dir). */
static ccg_result try_open(fixture *f, const char *baselines)
{
    char kek[200];
    ccg_result r;
    snprintf(kek, sizeof(kek), "%s/kek", f->dir);
    snprintf(f->config_text, sizeof(f->config_text),
             "{\"store\":\"%s/kbs.db\",\"nonce_ttl\":60,\"token_ttl\":600,\"attestation_policy\":\"attest\","
             "\"allow_unlocked_memory\":true,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s\"},"
             "\"refval_issuers\":{\"provider\":\"%s/provider.pem\"},"
             "\"tcb_baseline_issuers\":{\"authority\":\"%s/authority.pem\"},\"tcb_baselines\":[%s]}",
             f->dir, kek, f->dir, f->dir, baselines);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_kbs_config_parse(f->config_text, strlen(f->config_text), &f->cfg)));
    r = ccg_kbs_new(&f->cfg, clock_of, f, &f->kbs);
    if (ccg_failed(r)) {
        ccg_kbs_config_free(&f->cfg);
    }
    return r;
}

static void close_broker(fixture *f)
{
    ccg_kbs_free(f->kbs);
    f->kbs = NULL;
    ccg_kbs_config_free(&f->cfg);
}

/* The broker with one baseline file, milan.json, and the KEK. */
static void open_with_milan(fixture *f)
{
    char list[300];
    ccg_keystore *ks = NULL;
    snprintf(list, sizeof(list), "\"%s/milan.json\"", f->dir);
    if (ccg_failed(try_open(f, list))) {
        fail_msg("broker: %s", ccg_error_last()->message);
    }
    assert_true(ccg_ok(kbs_keystore(f->kbs, &ks)));
    if (ccg_failed(ccg_keystore_create_kek(ks, NULL))) {
        ccg_error_clear(); /* created by an earlier open of this store */
    }
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_snp_emulator_config ecfg;
    ccg_jwk *jwk = NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-kbs-tcb-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->now = T0;
    f->authority = tu_authority_key();
    f->provider = tu_authority_key();
    write_pub(f, f->authority, "authority.pem");
    write_pub(f, f->provider, "provider.pem");
    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    assert_true(ccg_ok(ccg_snp_emulator_new(&ecfg, &f->emu)));
    f->guest = EVP_EC_gen("P-256");
    assert_true(ccg_ok(ccg_jwk_from_pkey(f->guest, NULL, &jwk)));
    f->jwk = ccg_jwk_to_json(jwk);
    ccg_jwk_free(jwk);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[200];
    close_broker(f);
    ccg_snp_emulator_free(f->emu);
    EVP_PKEY_free(f->guest);
    EVP_PKEY_free(f->authority);
    EVP_PKEY_free(f->provider);
    json_decref(f->jwk);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* The release policy "attest": the emulator's root, and the SNP policy given (NULL: one that says
 * nothing but the approved measurement, so the default TCB rules apply). */
static void put_policy(fixture *f, const char *snp_policy)
{
    ccg_snp_report r;
    char hex[97];
    json_t *snp = json_loads(snp_policy != NULL ? snp_policy : "{\"policy_id\":\"s\",\"version\":1}", 0, NULL);
    assert_non_null(snp);
    ccg_snp_emulator_default_report(f->emu, &r);
    ccg_hex_encode(r.measurement, sizeof(r.measurement), hex);
    json_object_set_new(snp, "allowed_measurements", json_pack("[s]", hex));
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *pem, *text;
    long n;
    assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(f->emu)), 1);
    n = BIO_get_mem_data(bio, &data);
    pem = strndup(data, (size_t)n);
    BIO_free(bio);
    json_t *doc = json_pack("{s:s,s:i,s:[s],s:[{s:s,s:s}]}", "policy_id", "attest", "version", 1, "allowed_tees",
                            "snp", "trusted_roots", "product", "milan", "pem", pem);
    json_object_set_new(doc, "snp_policy", snp);
    text = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_kbs_set_policy(f->kbs, text, strlen(text))));
    free(text);
    free(pem);
    json_decref(doc);
}

static void call(fixture *f, const char *method, const char *path, const char *body, ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    char rid[32];
    snprintf(rid, sizeof(rid), "req-%u", ++f->req_seq);
    memset(&req, 0, sizeof(req));
    req.method = method;
    req.path = path;
    req.cookie_session = f->cookie[0] != 0 ? f->cookie : NULL;
    req.body = body != NULL ? body : "";
    req.body_len = body != NULL ? strlen(body) : 0;
    req.request_id = rid;
    ccg_kbs_handle(f->kbs, &req, resp);
}

static void auth(fixture *f)
{
    ccg_kbs_http_response resp;
    json_t *ch;
    const char *eq;
    f->cookie[0] = 0;
    call(f, "POST", "/kbs/v0/auth", "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}", &resp);
    assert_int_equal(resp.status, 200);
    ch = json_loads(resp.body, 0, NULL);
    snprintf(f->nonce, sizeof(f->nonce), "%s", json_string_value(json_object_get(ch, "nonce")));
    json_decref(ch);
    eq = strchr(resp.set_cookie, '=');
    assert_non_null(eq);
    snprintf(f->cookie, sizeof(f->cookie), "%.*s", (int)strcspn(eq + 1, ";"), eq + 1);
    ccg_kbs_response_free(&resp);
}

static char *b64_der(X509 *c)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c, &der);
    char *out = malloc(4 * ((size_t)n / 3 + 1) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, der, n);
    OPENSSL_free(der);
    return out;
}

/* A fresh challenge and the emulator's report bound to it, POSTed to /attest. */
static void attest(fixture *f, ccg_kbs_http_response *resp)
{
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    char report[2000], *vcek, *ask, *text;
    ccg_jwk *jwk = NULL;
    auth(f);
    ccg_snp_emulator_default_report(f->emu, &r);
    assert_true(ccg_ok(ccg_jwk_parse(f->jwk, &jwk)));
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", f->nonce, jwk, "", r.report_data)));
    ccg_jwk_free(jwk);
    assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu, &r, bytes)));
    EVP_EncodeBlock((unsigned char *)report, bytes, sizeof(bytes));
    vcek = b64_der(ccg_snp_emulator_vcek(f->emu));
    ask = b64_der(ccg_snp_emulator_ask(f->emu));
    json_t *doc = json_pack("{s:{s:s,s:O},s:{s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},s:s}}", "runtime-data", "nonce",
                            f->nonce, "tee-pubkey", f->jwk, "tee-evidence", "primary_evidence", "attestation_report",
                            report, "cert_chain", "cert_type", "VCEK", "data", vcek, "cert_type", "ASK", "data", ask,
                            "additional_evidence", "");
    text = json_dumps(doc, JSON_COMPACT);
    call(f, "POST", "/kbs/v0/attest", text, resp);
    free(text);
    free(vcek);
    free(ask);
    json_decref(doc);
}

static void expect(const ccg_kbs_http_response *resp, unsigned status, const char *code)
{
    if (resp->status != status || (code != NULL && strstr(resp->body, code) == NULL)) {
        fail_msg("expected %u %s, got %u %s", status, code != NULL ? code : "", resp->status, resp->body);
    }
}

/* The verified claims of the token in an /attest answer. */
static json_t *token_claims(fixture *f, const ccg_kbs_http_response *resp)
{
    json_t *t = json_loads(resp->body, 0, NULL), *claims = NULL;
    EVP_PKEY *key = NULL;
    const char *tok = json_string_value(json_object_get(t, "token"));
    assert_non_null(tok);
    assert_true(ccg_ok(kbs_token_key(f->kbs, &key)));
    assert_true(ccg_ok(ccg_jwt_verify_es256(key, tok, strlen(tok), f->now, 0, &claims)));
    json_decref(t);
    return claims;
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

static const char *record_status(const json_t *rec)
{
    return json_string_value(json_object_get(json_object_get(rec, "tcb"), "status"));
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

/* UpToDate with an allowlisted advisory: the token's tcb-status claims and the audit records of the
 * attestation and of the release name the status and the advisory. */
static void token_and_audit_carry_the_tcb_status(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char adv[128];
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    snprintf(adv, sizeof(adv), "[{\"id\":\"AMD-SB-3019\",\"below\":{\"snp\":%d}}]", cfg.tcb.snp + 1);
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, adv, NB, NA, f->authority);
    open_with_milan(f);
    put_policy(f, "{\"policy_id\":\"s\",\"version\":1,\"tcb\":{\"allowed_advisories\":[\"AMD-SB-3019\"]}}");
    attest(f, &resp);
    expect(&resp, 200, "\"token\"");
    json_t *claims = token_claims(f, &resp), *tcb = json_object_get(claims, "tcb-status");
    assert_string_equal(json_string_value(json_object_get(tcb, "tcb_status")), "UpToDate");
    assert_string_equal(json_string_value(json_array_get(json_object_get(tcb, "advisories"), 0)), "AMD-SB-3019");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(tcb, "tcb_baseline"), "version")), 1);
    json_decref(claims);
    ccg_kbs_response_free(&resp);
    import_key(f, "acme/model/a");
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp); /* the attestation's decision, reused */
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    json_t *records = audit_records(f), *att = json_array_get(records, 0), *rel = json_array_get(records, 1);
    assert_string_equal(json_string_value(json_object_get(att, "action")), "kbs.attest");
    /* a decision's record holds its TCB status and what was presented (format 6) */
    assert_int_equal(json_integer_value(json_object_get(att, "v")), CCG_AUDIT_FORMAT_CLAIMS);
    assert_string_equal(json_string_value(json_object_get(json_object_get(att, "claims"), "tee")), "snp");
    assert_int_equal(json_string_length(json_object_get(json_object_get(att, "claims"), "measurement")), 96);
    assert_int_equal(json_string_length(json_object_get(json_object_get(rel, "claims"), "measurement")), 96);
    assert_string_equal(record_status(att), "UpToDate");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(att, "tcb"), "advisories"), 0)),
                        "AMD-SB-3019");
    assert_string_equal(json_string_value(json_object_get(rel, "action")), "resource.release");
    assert_string_equal(json_string_value(json_object_get(rel, "decision")), "allow");
    assert_string_equal(record_status(rel), "UpToDate");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(rel, "tcb"), "advisories"), 0)),
                        "AMD-SB-3019");
    json_decref(records);
}

/* The default release policy requires a baseline: none for the product fails closed, and is audited. */
static void no_baseline_for_the_product(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char list[300];
    write_baseline(f, "genoa.json", CCG_SNP_PRODUCT_GENOA, NULL, NB, NA, f->authority);
    snprintf(list, sizeof(list), "\"%s/genoa.json\"", f->dir);
    assert_true(ccg_ok(try_open(f, list)));
    put_policy(f, NULL);
    attest(f, &resp);
    expect(&resp, 401, "\"snp.tcb_baseline_missing\"");
    expect(&resp, 401, "\"collateral.missing\"");
    assert_null(strstr(resp.body, "\"token\""));
    ccg_kbs_response_free(&resp);
    json_t *records = audit_records(f);
    assert_string_equal(json_string_value(json_object_get(json_array_get(records, 0), "decision")), "deny");
    assert_string_equal(record_status(json_array_get(records, 0)), "Unknown");
    json_decref(records);
}

static void expired_baseline(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, NULL, NB, "2026-09-01T00:00:00Z", f->authority);
    open_with_milan(f);
    put_policy(f, NULL);
    attest(f, &resp);
    expect(&resp, 401, "\"snp.tcb_baseline_expired\"");
    expect(&resp, 401, "\"collateral.expired\"");
    ccg_kbs_response_free(&resp);
}

/* Only tcb_baseline_issuers vouch for baselines: a reference-value issuer's signature does not. */
static void refval_issuer_cannot_sign_a_baseline(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, NULL, NB, NA, f->provider);
    open_with_milan(f);
    put_policy(f, NULL);
    attest(f, &resp);
    expect(&resp, 401, "\"snp.tcb_baseline_issuer_unknown\"");
    ccg_kbs_response_free(&resp);
}

static void advisory_not_allowlisted(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char adv[128];
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    snprintf(adv, sizeof(adv), "[{\"id\":\"AMD-SB-3019\",\"below\":{\"microcode\":%d}}]", cfg.tcb.microcode + 1);
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, adv, NB, NA, f->authority);
    open_with_milan(f);
    put_policy(f, NULL);
    attest(f, &resp);
    expect(&resp, 401, "\"snp.advisory_not_allowed\"");
    ccg_kbs_response_free(&resp);
    json_t *records = audit_records(f), *rec = json_array_get(records, 0);
    assert_string_equal(record_status(rec), "UpToDate");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_object_get(rec, "tcb"), "advisories"), 0)),
                        "AMD-SB-3019");
    json_decref(records);
}

/* A reused attestation decision never outlives the baseline it rested on: after not_after the release
 * is appraised again and refused, also while the decision is still young enough to be reused (the
 * baseline ends 30 s after the attestation, well inside decision_reuse). */
static void decision_reuse_ends_with_the_baseline(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char na[32];
    ccg_time_format_rfc3339(T0 + 30, na, sizeof(na));
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, NULL, NB, na, f->authority);
    open_with_milan(f);
    put_policy(f, NULL);
    import_key(f, "acme/model/a");
    attest(f, &resp);
    expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    f->now = T0 + 20;
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    f->now = T0 + 40;
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    expect(&resp, 403, "\"snp.tcb_baseline_expired\"");
    ccg_kbs_response_free(&resp);
}

/* The baselines are trust material: a new baseline (here naming an advisory the TCB is below) and a
 * restart end the reuse of an earlier decision, and the release is appraised again and refused. */
static void a_new_baseline_ends_the_reuse(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char adv[128];
    ccg_snp_emulator_config cfg;
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, NULL, NB, NA, f->authority);
    open_with_milan(f);
    put_policy(f, NULL);
    import_key(f, "acme/model/a");
    attest(f, &resp);
    expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    close_broker(f);
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    snprintf(adv, sizeof(adv), "[{\"id\":\"AMD-SB-3019\",\"below\":{\"microcode\":%d}}]", cfg.tcb.microcode + 1);
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, adv, NB, NA, f->authority);
    open_with_milan(f);
    call(f, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    expect(&resp, 403, "\"snp.advisory_not_allowed\"");
    ccg_kbs_response_free(&resp);
}

/* Baselines are read at start: a malformed file, two for one product, or a relative path refuse it. */
static void bad_baseline_files_refuse_the_start(void **state)
{
    fixture *f = *state;
    char list[600];
    snprintf(list, sizeof(list), "%s/bad.json", f->dir);
    write_file(list, "{\"product\":\"Milan\"}");
    snprintf(list, sizeof(list), "\"%s/bad.json\"", f->dir);
    assert_true(ccg_failed(try_open(f, list)));
    tu_assert_error_reason(CCG_R_SNP_TCB_BASELINE_MALFORMED);
    write_baseline(f, "milan.json", CCG_SNP_PRODUCT_MILAN, NULL, NB, NA, f->authority);
    write_baseline(f, "milan2.json", CCG_SNP_PRODUCT_MILAN, NULL, NB, NA, f->authority);
    snprintf(list, sizeof(list), "\"%s/milan.json\",\"%s/milan2.json\"", f->dir, f->dir);
    assert_true(ccg_failed(try_open(f, list)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    const char *relative = "{\"store\":\"x.db\",\"keystore\":{},\"tcb_baselines\":[\"milan.json\"]}";
    ccg_kbs_config cfg;
    assert_true(ccg_failed(ccg_kbs_config_parse(relative, strlen(relative), &cfg)));
    tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(token_and_audit_carry_the_tcb_status),
        T(no_baseline_for_the_product),
        T(expired_baseline),
        T(refval_issuer_cannot_sign_a_baseline),
        T(advisory_not_allowlisted),
        T(decision_reuse_ends_with_the_baseline),
        T(a_new_baseline_ends_the_reuse),
        T(bad_baseline_files_refuse_the_start),
    };
    return cmocka_run_group_tests_name("kbs_tcb", tests, NULL, NULL);
}
