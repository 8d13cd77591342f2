/* The key broker in process: ccg_kbs_handle with an injected clock and a file keystore. Covers what
 * the end-to-end test cannot pin: stale nonces by the clock, the token key kept across restarts,
 * no silent fallback to the emulator's root, gpu_required, strict documents, the audit record of
 * every decision, and the server refusing plain HTTP unless asked for on loopback. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/refvalue.h"
#include "ccgate/secmem.h"
#include "ccgate/store.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_kds.h"

#include "testutil.h"
#include "tu_admin.h"
#include "tcb_util.h"

#include "../src/kbs/kbs_internal.h"

#define T0 ((ccg_time)1790000000) /* 2026-09-21 */

typedef struct {
    char dir[128];
    char config_text[2048];
    char tcb_members[768]; /* "tcb_baselines" and "tcb_baseline_issuers" of the test authority */
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    ccg_time now;
    ccg_snp_emulator *emu;
    EVP_PKEY *guest;
    json_t *jwk;
    char cookie[128];
    char nonce[128];
    char address[64]; /* the client address of the next requests ("" means 192.0.2.1) */
    unsigned req_seq;
} fixture;

static ccg_time clock_of(void *ctx) { return ((fixture *)ctx)->now; }

static char *ark_pem(const fixture *f)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long n;
    assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(f->emu)), 1);
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* The emulator's launch measurement as hex: the pin every release policy here carries. */
static void pin_hex(const fixture *f, char hex[97])
{
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu, &r);
    ccg_hex_encode(r.measurement, 48, hex);
}

/* An SNP policy pinning the emulator's measurement. */
static json_t *pinned_snp(const fixture *f)
{
    char hex[97];
    pin_hex(f, hex);
    return json_pack("{s:s,s:i,s:[s]}", "policy_id", "s", "version", 1, "allowed_measurements", hex);
}

/* A release policy: roots named or not, GPU required or not; the measurement pinned. */
static void put_policy(fixture *f, const char *id, int with_root, int gpu)
{
    char *pem = ark_pem(f);
    json_t *doc = json_pack("{s:s,s:i,s:[s],s:b,s:o}", "policy_id", id, "version", 1, "allowed_tees", "snp",
                            "gpu_required", gpu, "snp_policy", pinned_snp(f));
    char *text;
    if (with_root) {
        json_object_set_new(doc, "trusted_roots", json_pack("[{s:s,s:s}]", "product", "milan", "pem", pem));
    }
    text = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_kbs_set_policy(f->kbs, text, strlen(text))));
    free(text);
    free(pem);
    json_decref(doc);
}

static void open_broker(fixture *f)
{
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
    ccg_snp_emulator_config ecfg;
    ccg_keystore *ks = NULL;
    ccg_jwk *jwk = NULL;
    char kek[200];
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-kbs-broker-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(kek, sizeof(kek), "%s/kek", f->dir);
    char *tcb = tu_write_tcb_config(f->dir); /* the emulator's TCB is UpToDate (docs/snp-tcb-baseline.md) */
    snprintf(f->tcb_members, sizeof(f->tcb_members), "%s", tcb);
    free(tcb);
    snprintf(f->config_text, sizeof(f->config_text),
             "{\"store\":\"%s/kbs.db\",\"port\":0,\"nonce_ttl\":60,\"token_ttl\":600,\"attestation_policy\":\"attest\","
             "\"allow_unlocked_memory\":true,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s\"},%s}",
             f->dir, kek, f->tcb_members);
    f->now = T0;
    open_broker(f);
    assert_true(ccg_ok(kbs_keystore(f->kbs, &ks)));
    assert_true(ccg_ok(ccg_keystore_create_kek(ks, NULL)));
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
    json_decref(f->jwk);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
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
    req.client_address = f->address[0] != 0 ? f->address : "192.0.2.1";
    ccg_kbs_handle(f->kbs, &req, resp);
}

/* call() with an Authorization header (NULL: none). */
static void call_as(fixture *f, const char *bearer, const char *path, const char *body, ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = path;
    req.body = body;
    req.body_len = strlen(body);
    req.request_id = "req-explain";
    req.client_address = "192.0.2.1";
    req.authorization = bearer;
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

typedef void (*report_tweak)(ccg_snp_report *r);

/* The Attestation for the session's nonce: a report whose REPORT_DATA binds bind_jwk (changed by tweak
 * first, when given), sent with send_jwk as its tee-pubkey. */
static char *attestation_with(fixture *f, report_tweak tweak, const json_t *bind_jwk, const json_t *send_jwk)
{
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    ccg_jwk *jwk = NULL;
    unsigned char *der = NULL;
    int n;
    char *report, *vcek, *ask, *text;
    json_t *doc;
    ccg_snp_emulator_default_report(f->emu, &r);
    if (tweak != NULL) {
        tweak(&r);
    }
    assert_true(ccg_ok(ccg_jwk_parse(bind_jwk, &jwk)));
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", f->nonce, jwk, "", r.report_data)));
    ccg_jwk_free(jwk);
    assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu, &r, bytes)));
    report = malloc(2000);
    EVP_EncodeBlock((unsigned char *)report, bytes, sizeof(bytes));
    n = i2d_X509(ccg_snp_emulator_vcek(f->emu), &der);
    vcek = malloc(4000);
    EVP_EncodeBlock((unsigned char *)vcek, der, n);
    OPENSSL_free(der);
    der = NULL;
    n = i2d_X509(ccg_snp_emulator_ask(f->emu), &der);
    ask = malloc(4000);
    EVP_EncodeBlock((unsigned char *)ask, der, n);
    OPENSSL_free(der);
    doc = json_pack("{s:{s:s,s:O},s:{s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},s:s}}", "runtime-data", "nonce", f->nonce,
                    "tee-pubkey", send_jwk, "tee-evidence", "primary_evidence", "attestation_report", report,
                    "cert_chain", "cert_type", "VCEK", "data", vcek, "cert_type", "ASK", "data", ask,
                    "additional_evidence", "");
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(report);
    free(vcek);
    free(ask);
    return text;
}

static char *attestation(fixture *f) { return attestation_with(f, NULL, f->jwk, f->jwk); }

static void expect(const ccg_kbs_http_response *resp, unsigned status, const char *code)
{
    if (resp->status != status || (code != NULL && strstr(resp->body, code) == NULL)) {
        fail_msg("expected %u %s, got %u %s", status, code != NULL ? code : "", resp->status, resp->body);
    }
}

static void stale_nonce_by_the_clock(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 1, 0);
    auth(f);
    body = attestation(f);
    f->now += 61;
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.nonce_expired\"");
    ccg_kbs_response_free(&resp);
    /* In time, the same evidence for a fresh challenge passes. */
    free(body);
    auth(f);
    body = attestation(f);
    f->now += 59;
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 200, "\"token\"");
    /* The token: ES256 by the broker's key, which it names in "jwk"; bound to the TEE key; with exp. */
    json_t *t = json_loads(resp.body, 0, NULL), *claims = NULL;
    EVP_PKEY *key = NULL;
    const char *tok = json_string_value(json_object_get(t, "token"));
    assert_true(ccg_ok(kbs_token_key(f->kbs, &key)));
    assert_true(ccg_ok(ccg_jwt_verify_es256(key, tok, strlen(tok), f->now, 0, &claims)));
    assert_string_equal(json_string_value(json_object_get(json_object_get(claims, "jwk"), "crv")), "P-256");
    assert_true(json_equal(json_object_get(claims, "tee-pubkey"), f->jwk));
    assert_int_equal(json_integer_value(json_object_get(claims, "exp")), f->now + 600);
    assert_string_equal(json_string_value(json_object_get(claims, "policy_id")), "attest");
    json_decref(claims);
    json_decref(t);
    ccg_kbs_response_free(&resp);
    free(body);
}

static void emulator_root_only_when_named(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 0, 0);
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"cert.untrusted_root\"");
    assert_null(strstr(resp.body, "\"token\""));
    ccg_kbs_response_free(&resp);
    free(body);
}

static void gpu_required_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 1, 1);
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.gpu_required\"");
    ccg_kbs_response_free(&resp);
    free(body);
}

static void every_decision_is_audited(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_audit *a = NULL;
    ccg_audit_verify_report rep;
    json_t *records = NULL;
    char path[200], *body;
    put_policy(f, "attest", 1, 0);
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp); /* allow */
    ccg_kbs_response_free(&resp);
    call(f, "POST", "/kbs/v0/attest", body, &resp); /* deny: replay */
    expect(&resp, 401, "\"kbs.nonce_reused\"");
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp); /* deny: no such key */
    expect(&resp, 404, "\"key.not_found\"");
    ccg_kbs_response_free(&resp);
    free(body);
    snprintf(path, sizeof(path), "%s/kbs.db", f->dir);
    assert_true(ccg_ok(ccg_audit_open(path, NULL, &a)));
    assert_true(ccg_ok(ccg_audit_verify(a, NULL, &rep)));
    assert_true(rep.intact);
    assert_int_equal(rep.records, 3);
    assert_true(ccg_ok(ccg_audit_list(a, 0, 0, &records)));
    assert_string_equal(json_string_value(json_object_get(json_array_get(records, 0), "decision")), "allow");
    assert_string_equal(json_string_value(json_object_get(json_array_get(records, 1), "decision")), "deny");
    assert_string_equal(json_string_value(json_object_get(json_array_get(records, 2), "key_id")), "a/b/c");
    json_decref(records);
    ccg_audit_close(a);
}

static void token_key_survives_restart(void **state)
{
    fixture *f = *state;
    EVP_PKEY *k1 = NULL, *k2 = NULL;
    unsigned char *p1 = NULL, *p2 = NULL;
    int n1, n2;
    assert_true(ccg_ok(kbs_token_key(f->kbs, &k1)));
    n1 = i2d_PUBKEY(k1, &p1);
    close_broker(f);
    open_broker(f);
    assert_true(ccg_ok(kbs_token_key(f->kbs, &k2)));
    n2 = i2d_PUBKEY(k2, &p2);
    assert_int_equal(n1, n2);
    assert_memory_equal(p1, p2, (size_t)n1);
    OPENSSL_free(p1);
    OPENSSL_free(p2);
}

static void strict_documents(void **state)
{
    ccg_kbs_policy *p = NULL;
    ccg_kbs_request r;
    ccg_kbs_config c;
    ccg_kbs_attestation att;
    (void)state;
    static const char *const bad_policies[] = {
        "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"snp\"],\"extra\":1}",
        "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[]}",
        "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"sample\"]}",
        "{\"policy_id\":\"p\",\"version\":0,\"allowed_tees\":[\"snp\"]}",
        "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"snp\"],\"trusted_roots\":[{\"product\":\"milan\",\"pem\":\"x\"}]}",
        "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"snp\"],\"gpu_required\":\"yes\"}",
    };
    for (size_t i = 0; i < sizeof(bad_policies) / sizeof(bad_policies[0]); i++) {
        assert_true(ccg_failed(ccg_kbs_policy_parse(bad_policies[i], strlen(bad_policies[i]), &p)));
        assert_null(p);
    }
    assert_true(ccg_failed(ccg_kbs_request_parse("{\"version\":\"0.1.1\",\"tee\":\"snp\"}", strlen("{\"version\":\"0.1.1\",\"tee\":\"snp\"}"), &r)));
    tu_assert_error_reason(CCG_R_KBS_VERSION_UNSUPPORTED);
    assert_true(ccg_failed(ccg_kbs_request_parse("{\"version\":\"0.4.0\",\"tee\":\"snp\",\"x\":1}", strlen("{\"version\":\"0.4.0\",\"tee\":\"snp\",\"x\":1}"), &r)));
    tu_assert_error_reason(CCG_R_KBS_REQUEST_MALFORMED);
    assert_true(ccg_failed(ccg_kbs_request_parse("[]", strlen("[]"), &r)));
    assert_true(ccg_ok(ccg_kbs_request_parse("{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":\"\"}", strlen("{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":\"\"}"), &r)));
    assert_true(ccg_failed(ccg_kbs_config_parse("{\"store\":\"/x\"}", strlen("{\"store\":\"/x\"}"), &c)));
    tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    assert_true(ccg_failed(ccg_kbs_config_parse("{\"store\":\"/x\",\"keystore\":{},\"bogus\":1}", strlen("{\"store\":\"/x\",\"keystore\":{},\"bogus\":1}"), &c)));
    const char *att_private = "{\"runtime-data\":{\"nonce\":\"n\",\"tee-pubkey\":{\"kty\":\"EC\",\"crv\":\"P-256\","
                              "\"x\":\"AA\",\"y\":\"AA\",\"d\":\"AA\"}},\"tee-evidence\":{}}";
    assert_true(ccg_failed(ccg_kbs_attestation_parse(att_private, strlen(att_private), &att)));
}


/* ---- the sev crate's field-wise report JSON, built here from the struct as serde would ---- */

static json_t *byte_array(const uint8_t *p, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(a, json_integer(p[i]));
    }
    return a;
}

static json_t *tcb_json(uint64_t raw)
{
    ccg_snp_tcb t;
    ccg_snp_tcb_split(CCG_SNP_PRODUCT_MILAN, raw, &t);
    return json_pack("{s:n,s:i,s:i,s:i,s:i}", "fmc", "bootloader", t.bootloader, "tee", t.tee, "snp", t.snp,
                     "microcode", t.microcode);
}

static json_t *sev_report_json(const uint8_t bytes[CCG_SNP_REPORT_SIZE])
{
    ccg_snp_report r;
    json_t *o;
    assert_true(ccg_ok(ccg_snp_report_parse(bytes, CCG_SNP_REPORT_SIZE, &r)));
    o = json_object();
    json_object_set_new(o, "version", json_integer(r.version));
    json_object_set_new(o, "guest_svn", json_integer(r.guest_svn));
    json_object_set_new(o, "policy", json_integer((json_int_t)r.policy));
    json_object_set_new(o, "family_id", byte_array(r.family_id, 16));
    json_object_set_new(o, "image_id", byte_array(r.image_id, 16));
    json_object_set_new(o, "vmpl", json_integer(r.vmpl));
    json_object_set_new(o, "sig_algo", json_integer(r.signature_algo));
    json_object_set_new(o, "current_tcb", tcb_json(r.current_tcb));
    json_object_set_new(o, "plat_info", json_integer((json_int_t)r.platform_info));
    json_object_set_new(o, "key_info", json_integer(r.flags));
    json_object_set_new(o, "report_data", byte_array(r.report_data, 64));
    json_object_set_new(o, "measurement", byte_array(r.measurement, 48));
    json_object_set_new(o, "host_data", byte_array(r.host_data, 32));
    json_object_set_new(o, "id_key_digest", byte_array(r.id_key_digest, 48));
    json_object_set_new(o, "author_key_digest", byte_array(r.author_key_digest, 48));
    json_object_set_new(o, "report_id", byte_array(r.report_id, 32));
    json_object_set_new(o, "report_id_ma", byte_array(r.report_id_ma, 32));
    json_object_set_new(o, "reported_tcb", tcb_json(r.reported_tcb));
    json_object_set_new(o, "cpuid_fam_id", json_integer(r.cpuid_fam_id));
    json_object_set_new(o, "cpuid_mod_id", json_integer(r.cpuid_mod_id));
    json_object_set_new(o, "cpuid_step", json_integer(r.cpuid_step));
    json_object_set_new(o, "chip_id", byte_array(r.chip_id, 64));
    json_object_set_new(o, "committed_tcb", tcb_json(r.committed_tcb));
    json_object_set_new(o, "current", json_pack("{s:i,s:i,s:i}", "major", r.current_major, "minor", r.current_minor,
                                                "build", r.current_build));
    json_object_set_new(o, "committed", json_pack("{s:i,s:i,s:i}", "major", r.committed_major, "minor",
                                                  r.committed_minor, "build", r.committed_build));
    json_object_set_new(o, "launch_tcb", tcb_json(r.launch_tcb));
    json_object_set_new(o, "launch_mit_vector", json_null());
    json_object_set_new(o, "current_mit_vector", json_null());
    json_object_set_new(o, "signature", json_pack("{s:o,s:o}", "r", byte_array(r.sig_r, 72), "s",
                                                  byte_array(r.sig_s, 72)));
    return o;
}

/* The evidence a guest-components SNP attester sends: the sev crate's report JSON, as text. */
static void sev_crate_evidence_is_accepted(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    ccg_jwk *jwk = NULL;
    unsigned char *der = NULL;
    int n;
    char vcek[4000], ask[4000];
    json_t *evidence, *doc, *sevr;
    char *ev_text, *body;
    put_policy(f, "attest", 1, 0);
    auth(f);
    ccg_snp_emulator_default_report(f->emu, &r);
    assert_true(ccg_ok(ccg_jwk_parse(f->jwk, &jwk)));
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", f->nonce, jwk, "", r.report_data)));
    ccg_jwk_free(jwk);
    assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu, &r, bytes)));
    n = i2d_X509(ccg_snp_emulator_vcek(f->emu), &der);
    EVP_EncodeBlock((unsigned char *)vcek, der, n);
    OPENSSL_free(der);
    der = NULL;
    n = i2d_X509(ccg_snp_emulator_ask(f->emu), &der);
    EVP_EncodeBlock((unsigned char *)ask, der, n);
    OPENSSL_free(der);
    sevr = sev_report_json(bytes);
    evidence = json_pack("{s:O,s:[{s:s,s:s},{s:s,s:s}]}", "attestation_report", sevr, "cert_chain", "cert_type",
                         "VCEK", "data", vcek, "cert_type", "ASK", "data", ask);
    ev_text = json_dumps(evidence, JSON_COMPACT);
    doc = json_pack("{s:{s:s,s:O},s:{s:s,s:s}}", "runtime-data", "nonce", f->nonce, "tee-pubkey", f->jwk,
                    "tee-evidence", "primary_evidence", ev_text, "additional_evidence", "");
    body = json_dumps(doc, JSON_COMPACT);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    free(body);
    json_decref(doc);
    /* One field changed: the rebuilt bytes no longer carry the firmware's signature. */
    auth(f);
    json_object_set_new(sevr, "guest_svn", json_integer(r.guest_svn + 1));
    json_object_set(evidence, "attestation_report", sevr);
    free(ev_text);
    ev_text = json_dumps(evidence, JSON_COMPACT);
    doc = json_pack("{s:{s:s,s:O},s:{s:s,s:s}}", "runtime-data", "nonce", f->nonce, "tee-pubkey", f->jwk,
                    "tee-evidence", "primary_evidence", ev_text, "additional_evidence", "");
    body = json_dumps(doc, JSON_COMPACT);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"snp.signature_invalid\"");
    ccg_kbs_response_free(&resp);
    free(body);
    json_decref(doc);
    free(ev_text);
    json_decref(evidence);
    json_decref(sevr);
}

/* Evidence without certificates (a guest whose host supplies none): the VCEK and chain come from the
 * collateral cache; before they are there the decision is collateral.missing, never a fallback. */
static void collateral_from_the_cache(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char cache[200], with_cache[sizeof(f->config_text)];
    char *chain, *body;
    unsigned char *der = NULL;
    int n;
    ccg_snp_kds_item item;
    json_t *doc;
    put_policy(f, "attest", 1, 0);
    snprintf(cache, sizeof(cache), "%s/collateral", f->dir);
    close_broker(f);
    snprintf(with_cache, sizeof(with_cache), "{\"collateral\":{\"cache_dir\":\"%s\"},%s", cache, f->config_text + 1);
    snprintf(f->config_text, sizeof(f->config_text), "%s", with_cache);
    open_broker(f);
    for (int round = 0; round < 2; round++) {
        auth(f);
        body = attestation(f);
        doc = json_loads(body, 0, NULL);
        json_object_set_new(json_object_get(json_object_get(doc, "tee-evidence"), "primary_evidence"), "cert_chain",
                            json_null());
        free(body);
        body = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        if (round == 0) {
            expect(&resp, 401, "\"collateral.missing\"");
            /* The authority fills the cache: the VCEK by its hwID and TCB, the ASK+ARK chain. */
            n = i2d_X509(ccg_snp_emulator_vcek(f->emu), &der);
            assert_true(ccg_ok(ccg_snp_kds_import_key(cache, CCG_SNP_PRODUCT_MILAN, der, (size_t)n, &item)));
            OPENSSL_free(der);
            der = NULL;
            BIO *bio = BIO_new(BIO_s_mem());
            assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ask(f->emu)), 1);
            assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(f->emu)), 1);
            long len = BIO_get_mem_data(bio, &chain);
            memset(&item, 0, sizeof(item));
            item.kind = CCG_SNP_KDS_CHAIN;
            item.product = CCG_SNP_PRODUCT_MILAN;
            item.signer = CCG_SNP_SIGNER_VCEK;
            assert_true(ccg_ok(ccg_snp_cache_write(cache, &item, (const uint8_t *)chain, (size_t)len)));
            BIO_free(bio);
        } else {
            expect(&resp, 200, "\"token\"");
        }
        ccg_kbs_response_free(&resp);
        free(body);
    }
}

/* A release policy whose SNP policy names a reference-value set: the newest version in the store is
 * used with the configured issuers; a set that is not there is refval.set_missing. */
static void reference_values_from_the_store(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    EVP_PKEY *issuer = EVP_EC_gen("P-384");
    ccg_snp_report r;
    char hex[97], path[200], with_issuers[sizeof(f->config_text)];
    char *text, *pem_root = ark_pem(f), *body;
    json_t *record, *set, *policy;
    FILE *fp;
    assert_non_null(issuer);
    snprintf(path, sizeof(path), "%s/issuer.pem", f->dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PUBKEY(fp, issuer), 1);
    fclose(fp);
    close_broker(f);
    snprintf(with_issuers, sizeof(with_issuers), "{\"refval_issuers\":{\"acme\":\"%s\"},%s", path,
             f->config_text + 1);
    snprintf(f->config_text, sizeof(f->config_text), "%s", with_issuers);
    open_broker(f);

    ccg_snp_emulator_default_report(f->emu, &r);
    ccg_hex_encode(r.measurement, 48, hex);
    record = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", "r1", "tee", "snp", "measurement", hex, "build_id",
                       "build-1", "not_before", "2026-01-01T00:00:00Z", "not_after", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(record, issuer, "acme")));
    set = json_pack("{s:s,s:i,s:[o]}", "set_id", "acme-prod", "version", 1, "records", record);
    text = json_dumps(set, JSON_COMPACT);
    assert_true(ccg_ok(ccg_store_refval_put(f->kbs->store, "acme-prod", 1, text, f->now)));
    free(text);
    json_decref(set);

    for (int v = 1; v <= 2; v++) {
        policy = json_pack("{s:s,s:i,s:[s],s:[{s:s,s:s}],s:{s:s,s:i,s:{s:s}}}", "policy_id", "attest", "version", v,
                           "allowed_tees", "snp", "trusted_roots", "product", "milan", "pem", pem_root, "snp_policy",
                           "policy_id", "s", "version", v, "reference_values", "set_id",
                           v == 1 ? "acme-prod" : "other-set");
        text = json_dumps(policy, JSON_COMPACT);
        assert_true(ccg_ok(ccg_kbs_set_policy(f->kbs, text, strlen(text))));
        free(text);
        json_decref(policy);
        auth(f);
        body = attestation(f);
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        if (v == 1) {
            expect(&resp, 200, "\"token\"");
        } else {
            expect(&resp, 401, "\"refval.set_missing\"");
        }
        ccg_kbs_response_free(&resp);
        free(body);
    }
    free(pem_root);
    EVP_PKEY_free(issuer);
}

/* POST /kbs/v0/explain: off by default; when on, every check's outcome, nothing consumed or released. */
static void explain_lists_checks_without_release(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *att, *req;
    json_t *doc;
    put_policy(f, "attest", 1, 0);
    put_policy(f, "no-root", 0, 0);
    auth(f);
    att = attestation(f);
    size_t cap = strlen(att) + 128;
    req = malloc(cap);
    assert_non_null(req);
    snprintf(req, cap, "{\"policy_id\":\"attest\",\"tee\":\"snp\",\"attestation\":%s}", att);
    call(f, "POST", "/kbs/v0/explain", req, &resp);
    expect(&resp, 404, NULL); /* not served unless configured */
    ccg_kbs_response_free(&resp);

    close_broker(f);
    char with_explain[sizeof(f->config_text)], admin[1024];
    assert_int_equal(tu_admin_config(f->dir, admin, sizeof(admin)), 0);
    snprintf(with_explain, sizeof(with_explain), "{\"explain\":true,%s,%s", admin, f->config_text + 1);
    snprintf(f->config_text, sizeof(f->config_text), "%s", with_explain);
    open_broker(f);
    char *ops = tu_admin_bearer_at("operator", f->now), *acme = tu_admin_bearer_at("provider", f->now);
    assert_non_null(ops);
    assert_non_null(acme);
    /* the operator or the policy's provider only (issue 15) */
    call(f, "POST", "/kbs/v0/explain", req, &resp);
    expect(&resp, 401, "admin.unauthenticated");
    ccg_kbs_response_free(&resp);
    call_as(f, acme, "/kbs/v0/explain", req, &resp); /* a policy provisioned on the host has no provider */
    expect(&resp, 403, "admin.forbidden");
    ccg_kbs_response_free(&resp);
    call_as(f, ops, "/kbs/v0/explain", req, &resp);
    expect(&resp, 200, "\"decision\":\"allow\"");
    ccg_kbs_response_free(&resp);
    snprintf(req, cap, "{\"policy_id\":\"no-root\",\"tee\":\"snp\",\"attestation\":%s}", att);
    call_as(f, ops, "/kbs/v0/explain", req, &resp);
    free(ops);
    free(acme);
    expect(&resp, 200, "\"cert.untrusted_root\"");
    doc = json_loads(resp.body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(doc, "decision")), "deny");
    assert_true(json_is_object(json_object_get(json_array_get(json_object_get(doc, "reasons"), 0), "details")));
    json_decref(doc);
    ccg_kbs_response_free(&resp);
    /* Nothing was consumed: the same Attestation still attests. */
    call(f, "POST", "/kbs/v0/attest", att, &resp);
    expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    free(req);
    free(att);
}

/* A keystore whose PKCS#11 module cannot be loaded: the broker starts, /readyz fails, and an
 * attestation that passed appraisal still gets no token (503 kms.unavailable, nothing attested). */
static void module_unloadable_fails_closed(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 1, 0);
    close_broker(f);
    snprintf(f->config_text, sizeof(f->config_text),
             "{\"store\":\"%s/kbs.db\",\"attestation_policy\":\"attest\",\"allow_unlocked_memory\":true,"
             "\"keystore\":{\"backend\":\"pkcs11\",\"module\":\"%s/no-such-module.so\",\"token_label\":\"t\","
             "\"pin_env\":\"CCG_TEST_NO_PIN\"},%s}",
             f->dir, f->dir, f->tcb_members);
    setenv("CCG_TEST_NO_PIN", "1234", 1);
    open_broker(f);
    call(f, "GET", "/readyz", NULL, &resp);
    expect(&resp, 503, "kms.unavailable");
    ccg_kbs_response_free(&resp);
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 503, "\"kms.unavailable\"");
    assert_null(strstr(resp.body, "\"token\""));
    ccg_kbs_response_free(&resp);
    free(body);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 401, "\"kbs.not_attested\"");
    ccg_kbs_response_free(&resp);
}

static void plain_http_only_when_asked_on_loopback(void **state)
{
    fixture *f = *state;
    ccg_kbs_server *srv = NULL;
    ccg_kbs_config c;
    char text[1200];
    assert_true(ccg_failed(ccg_kbs_server_start(f->kbs, &f->cfg, 0, &srv)));
    tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    assert_null(srv);
    snprintf(text, sizeof(text), "{\"address\":\"0.0.0.0\",%s", f->config_text + 1);
    assert_true(ccg_ok(ccg_kbs_config_parse(text, strlen(text), &c)));
    assert_true(ccg_failed(ccg_kbs_server_start(f->kbs, &c, 1, &srv)));
    tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    ccg_kbs_config_free(&c);
    assert_true(ccg_ok(ccg_kbs_server_start(f->kbs, &f->cfg, 1, &srv)));
    assert_true(ccg_kbs_server_port(srv) > 0);
    ccg_kbs_server_stop(srv);
}


/* ---- failing closed on collateral, and the protocol's denial codes ---- */

/* A policy document with the emulator's root, a version and an optional embedded SNP policy. */
static void put_policy_doc(fixture *f, const char *id, int version, int with_root, json_t *snp_stolen)
{
    char *pem = ark_pem(f), *text;
    char hex[97];
    json_t *doc = json_pack("{s:s,s:i,s:[s]}", "policy_id", id, "version", version, "allowed_tees", "snp");
    if (with_root) {
        json_object_set_new(doc, "trusted_roots", json_pack("[{s:s,s:s}]", "product", "milan", "pem", pem));
    }
    if (snp_stolen == NULL) {
        snp_stolen = pinned_snp(f);
    } else if (json_object_get(snp_stolen, "allowed_measurements") == NULL &&
               json_object_get(snp_stolen, "reference_values") == NULL) {
        pin_hex(f, hex);
        json_object_set_new(snp_stolen, "allowed_measurements", json_pack("[s]", hex));
    }
    json_object_set_new(doc, "snp_policy", snp_stolen);
    text = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_kbs_set_policy(f->kbs, text, strlen(text))));
    free(text);
    free(pem);
    json_decref(doc);
}

static void expect_both(const ccg_kbs_http_response *resp, unsigned status, const char *a, const char *b)
{
    expect(resp, status, a);
    expect(resp, status, b);
}

/* An expired VCEK: the precise cert.expired and the broker's collateral.expired, both in the body. */
static void expired_chain_is_collateral_expired(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_snp_emulator_config ecfg;
    char *body;
    ccg_snp_emulator_free(f->emu);
    f->emu = NULL;
    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    ecfg.key.not_before = T0 - 400 * 86400;
    ecfg.key.not_after = T0 - 86400;
    assert_true(ccg_ok(ccg_snp_emulator_new(&ecfg, &f->emu)));
    put_policy(f, "attest", 1, 0);
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect_both(&resp, 401, "\"cert.expired\"", "\"collateral.expired\"");
    assert_null(strstr(resp.body, "\"token\""));
    ccg_kbs_response_free(&resp);
    free(body);
}

/* The certificate chain without the ASK: cert.chain_incomplete and collateral.missing. */
static void incomplete_chain_is_collateral_missing(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    json_t *doc, *chain;
    put_policy(f, "attest", 1, 0);
    auth(f);
    body = attestation(f);
    doc = json_loads(body, 0, NULL);
    chain = json_object_get(json_object_get(json_object_get(doc, "tee-evidence"), "primary_evidence"), "cert_chain");
    assert_int_equal(json_array_remove(chain, 1), 0); /* the ASK */
    free(body);
    body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect_both(&resp, 401, "\"cert.chain_incomplete\"", "\"collateral.missing\"");
    ccg_kbs_response_free(&resp);
    free(body);
}

/* A policy requiring a CRL, with the broker's collateral cache: no CRL is collateral.missing; an
 * expired one is crl.expired and collateral.expired; a current one passes. */
static void crl_missing_then_expired(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char cache[200], with_cache[sizeof(f->config_text)], *body;
    ccg_snp_kds_item item;
    X509_CRL *crl = NULL;
    unsigned char *der = NULL;
    int n;
    snprintf(cache, sizeof(cache), "%s/collateral", f->dir);
    close_broker(f);
    snprintf(with_cache, sizeof(with_cache), "{\"collateral\":{\"cache_dir\":\"%s\"},%s", cache, f->config_text + 1);
    snprintf(f->config_text, sizeof(f->config_text), "%s", with_cache);
    open_broker(f);
    put_policy_doc(f, "attest", 1, 1, json_pack("{s:s,s:i,s:b}", "policy_id", "s", "version", 1, "require_crl", 1));
    /* The VCEK and its chain are cached: only the CRL is missing at first. */
    n = i2d_X509(ccg_snp_emulator_vcek(f->emu), &der);
    assert_true(ccg_ok(ccg_snp_kds_import_key(cache, CCG_SNP_PRODUCT_MILAN, der, (size_t)n, &item)));
    OPENSSL_free(der);
    der = NULL;
    {
        BIO *bio = BIO_new(BIO_s_mem());
        char *chain = NULL;
        long len;
        assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ask(f->emu)), 1);
        assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(f->emu)), 1);
        len = BIO_get_mem_data(bio, &chain);
        memset(&item, 0, sizeof(item));
        item.kind = CCG_SNP_KDS_CHAIN;
        item.product = CCG_SNP_PRODUCT_MILAN;
        item.signer = CCG_SNP_SIGNER_VCEK;
        assert_true(ccg_ok(ccg_snp_cache_write(cache, &item, (const uint8_t *)chain, (size_t)len)));
        BIO_free(bio);
    }
    memset(&item, 0, sizeof(item));
    item.kind = CCG_SNP_KDS_CRL;
    item.product = CCG_SNP_PRODUCT_MILAN;
    item.signer = CCG_SNP_SIGNER_VCEK;
    for (int round = 0; round < 3; round++) {
        if (round > 0) {
            ccg_time next = round == 1 ? T0 - 86400 : T0 + 86400;
            assert_true(ccg_ok(ccg_snp_emulator_crl(f->emu, NULL, 0, T0 - 2 * 86400, next, &crl)));
            n = i2d_X509_CRL(crl, &der);
            assert_true(n > 0);
            assert_true(ccg_ok(ccg_snp_cache_write(cache, &item, der, (size_t)n)));
            OPENSSL_free(der);
            der = NULL;
            X509_CRL_free(crl);
            crl = NULL;
        }
        auth(f);
        body = attestation(f);
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        if (round == 0) {
            expect(&resp, 401, "\"collateral.missing\"");
        } else if (round == 1) {
            expect_both(&resp, 401, "\"crl.expired\"", "\"collateral.expired\"");
        } else {
            expect(&resp, 200, "\"token\"");
        }
        ccg_kbs_response_free(&resp);
        free(body);
    }
}

static void import_key(fixture *f, const char *key_id, const char *policy_id)
{
    ccg_secbuf key = {0};
    assert_true(ccg_ok(ccg_secbuf_alloc(&key, 32, 1)));
    memset(key.data, 0x5a, key.len);
    assert_true(ccg_ok(ccg_kbs_import_key(f->kbs, key_id, policy_id, &key)));
    ccg_secbuf_free(&key);
}

static void attest_ok(fixture *f)
{
    ccg_kbs_http_response resp;
    char *body;
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    free(body);
}

static void tee_not_allowed(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    /* A TEE the broker has no verifier for (snp and tdx it has; the release policy decides on those). */
    call(f, "POST", "/kbs/v0/auth", "{\"version\":\"0.4.0\",\"tee\":\"sgx\",\"extra-params\":{}}", &resp);
    expect(&resp, 401, "\"kbs.tee_not_allowed\"");
    assert_string_equal(resp.set_cookie, "");
    ccg_kbs_response_free(&resp);
}

/* No cookie, or a cookie naming no session: kbs.session_missing at /attest and at /resource. */
static void session_missing(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 1, 0);
    import_key(f, "a/b/c", "attest");
    auth(f);
    body = attestation(f);
    f->cookie[0] = 0;
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.session_missing\"");
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 401, "\"kbs.session_missing\"");
    ccg_kbs_response_free(&resp);
    snprintf(f->cookie, sizeof(f->cookie), "no-such-session");
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.session_missing\"");
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 401, "\"kbs.session_missing\"");
    ccg_kbs_response_free(&resp);
    free(body);
}

/* An Attestation carrying another nonce than the session's challenge. */
static void nonce_mismatch(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 1, 0);
    auth(f);
    snprintf(f->nonce, sizeof(f->nonce), "a-nonce-this-broker-never-issued");
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.nonce_mismatch\"");
    ccg_kbs_response_free(&resp);
    free(body);
}

/* An attested session past its lifetime (token_ttl) releases nothing: kbs.session_expired. */
static void session_expired(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "attest", 1, 0);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    f->now += 601;
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 401, "\"kbs.session_expired\"");
    ccg_kbs_response_free(&resp);
}

/* Runs one statement with ?1 bound to text (NULL: none) on the broker's store. */
static void store_exec(const fixture *f, const char *sql, const char *text)
{
    char path[200];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    snprintf(path, sizeof(path), "%s/kbs.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (text != NULL) {
        assert_int_equal(sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT), SQLITE_OK);
    }
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* The parse /attest kept (kbs_record_cache.c) answers only for the very text the store holds: a
 * session record changed in the store since is read again. Changed to another tee key, the key is
 * released to that key and no longer to the one the kept parse holds; damaged, it is store.corrupt. */
static void changed_session_record_is_read_again(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_secbuf plain = {0};
    EVP_PKEY *other = EVP_EC_gen("P-256");
    ccg_jwk *other_jwk = NULL;
    json_t *other_json = NULL;
    char *other_text = NULL;
    assert_non_null(other);
    put_policy(f, "attest", 1, 0);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    assert_true(ccg_ok(ccg_jwe_decrypt_text(f->guest, resp.body, resp.body_len, 1, &plain)));
    ccg_secbuf_free(&plain);
    ccg_kbs_response_free(&resp);
    assert_int_equal(atomic_load(&f->kbs->metrics.records_reused), 1); /* the parse kept at /attest */

    assert_true(ccg_ok(ccg_jwk_from_pkey(other, NULL, &other_jwk)));
    other_json = ccg_jwk_to_json(other_jwk);
    other_text = json_dumps(other_json, JSON_COMPACT);
    assert_non_null(other_text);
    store_exec(f, "UPDATE sessions SET claims = json_set(claims, '$.\"tee-pubkey\"', json(?1))", other_text);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    assert_true(ccg_ok(ccg_jwe_decrypt_text(other, resp.body, resp.body_len, 1, &plain)));
    assert_int_equal(plain.len, 32);
    ccg_secbuf_free(&plain);
    assert_true(ccg_failed(ccg_jwe_decrypt_text(f->guest, resp.body, resp.body_len, 1, &plain)));
    ccg_error_clear();
    ccg_kbs_response_free(&resp);
    assert_int_equal(atomic_load(&f->kbs->metrics.records_reused), 1); /* parsed again */

    store_exec(f, "UPDATE sessions SET claims = '{}'", NULL);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 503, "\"store.corrupt\"");
    ccg_kbs_response_free(&resp);
    free(other_text);
    json_decref(other_json);
    ccg_jwk_free(other_jwk);
    EVP_PKEY_free(other);
}

/* /resource reuses the attestation's decision only under the very policy version it applied: a new
 * version of the key's policy (another measurement; then without the emulator's root) is applied at once. */
static void new_policy_version_is_applied_at_resource(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "attest", 1, 0);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    /* Version 2: the same root (so the same trust epoch), another measurement. */
    char other[97];
    pin_hex(f, other);
    other[0] = other[0] == '0' ? '1' : '0';
    put_policy_doc(f, "attest", 2, 1,
                   json_pack("{s:s,s:i,s:[s]}", "policy_id", "s", "version", 1, "allowed_measurements", other));
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 403, "\"snp.measurement_not_allowed\"");
    expect(&resp, 403, "\"policy_version\":2");
    ccg_kbs_response_free(&resp);
    put_policy_doc(f, "attest", 3, 0, NULL);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 403, "\"cert.untrusted_root\"");
    expect(&resp, 403, "\"policy_version\":3");
    ccg_kbs_response_free(&resp);
    /* A key under another policy than the attestation's is appraised under that policy. */
    put_policy_doc(f, "other", 1, 1, NULL);
    import_key(f, "a/b/d", "other");
    call(f, "GET", "/kbs/v0/resource/a/b/d", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
}

/* The attestation's decision is reused only while the collateral it rested on is valid: a VCEK that
 * expires inside the session's lifetime makes /resource appraise again, and fail closed. */
static void expiring_collateral_ends_the_reuse(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_snp_emulator_config ecfg;
    ccg_snp_emulator_free(f->emu);
    f->emu = NULL;
    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    ecfg.key.not_before = T0 - 86400;
    ecfg.key.not_after = T0 + 40;
    assert_true(ccg_ok(ccg_snp_emulator_new(&ecfg, &f->emu)));
    put_policy(f, "attest", 1, 0);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    f->now += 20;
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    f->now += 30; /* within the reuse time and the session (token_ttl 600); past the VCEK */
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect_both(&resp, 403, "\"cert.expired\"", "\"collateral.expired\"");
    ccg_kbs_response_free(&resp);
}


/* ---- issue 10: a release rests on a pinned policy, a canonical key, cheap checks first, and a
 * reused decision bound to everything it rested on ---- */

static void expect_no_token(const ccg_kbs_http_response *resp)
{
    if (resp->body != NULL && strstr(resp->body, "\"token\"") != NULL) {
        fail_msg("a token was issued: %s", resp->body);
    }
}

/* Attests the current session with a tweaked report; expects status and code. */
static void attest_expect(fixture *f, report_tweak tweak, unsigned status, const char *code)
{
    ccg_kbs_http_response resp;
    char *body;
    auth(f);
    body = attestation_with(f, tweak, f->jwk, f->jwk);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, status, code);
    if (status != 200) {
        expect_no_token(&resp);
    }
    ccg_kbs_response_free(&resp);
    free(body);
}

static void reopen_with(fixture *f, const char *members)
{
    char text[sizeof(f->config_text)];
    close_broker(f);
    snprintf(text, sizeof(text), "{%s,%s", members, f->config_text + 1);
    snprintf(f->config_text, sizeof(f->config_text), "%s", text);
    open_broker(f);
}

/* A release policy that pins no launch measurement is refused when it is set and when it is loaded. */
static void unpinned_policy_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_kbs_policy *p = NULL;
    char *body;
    static const char *const unpinned[] = {
        "{\"policy_id\":\"attest\",\"version\":1,\"allowed_tees\":[\"snp\"]}",
        "{\"policy_id\":\"attest\",\"version\":1,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"s\","
        "\"version\":1,\"debug_allowed\":false}}",
        "{\"policy_id\":\"attest\",\"version\":1,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"s\","
        "\"version\":1,\"allowed_id_key_digests\":[],\"host_data\":\"" "00000000000000000000000000000000"
        "00000000000000000000000000000000\"}}",
    };
    static const char *const pinned[] = {
        "{\"policy_id\":\"attest\",\"version\":1,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"s\","
        "\"version\":1,\"reference_values\":{\"set_id\":\"acme-prod\"}}}",
        /* An empty allowlist pins the measurement to nothing: it releases to nobody, which is safe. */
        "{\"policy_id\":\"attest\",\"version\":1,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"s\","
        "\"version\":1,\"allowed_measurements\":[]}}",
    };
    for (size_t i = 0; i < sizeof(unpinned) / sizeof(unpinned[0]); i++) {
        assert_true(ccg_failed(ccg_kbs_policy_parse(unpinned[i], strlen(unpinned[i]), &p)));
        tu_assert_error_reason(CCG_R_KBS_POLICY_UNPINNED);
        assert_null(p);
        assert_true(ccg_failed(ccg_kbs_set_policy(f->kbs, unpinned[i], strlen(unpinned[i]))));
        tu_assert_error_reason(CCG_R_KBS_POLICY_UNPINNED);
    }
    for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
        assert_true(ccg_ok(ccg_kbs_policy_parse(pinned[i], strlen(pinned[i]), &p)));
        ccg_kbs_policy_free(p);
        p = NULL;
    }
    /* One that reached the store another way (an older broker): refused when loaded, nothing issued. */
    assert_true(ccg_ok(ccg_store_policy_put(f->kbs->store, "attest", 1, unpinned[0], f->now)));
    auth(f);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 503, "\"kbs.policy_unpinned\"");
    expect_no_token(&resp);
    ccg_kbs_response_free(&resp);
    free(body);
}

/* tee-pubkey members beyond kty/crv/x/y (EC), alg and use are refused: REPORT_DATA binds only the
 * canonical members, so anything else would be signed into the token without being attested. */
static void tee_pubkey_unknown_members_are_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    static const char *const extra[][2] = {
        {"kid", "\"guest-key-1\""}, {"x5u", "\"https://attacker.example/x5u\""}, {"ext", "{\"a\":[1,2]}"},
        {"n", "\"AQAB\""},          {"x5c", "[\"AAAA\"]"},
    };
    put_policy(f, "attest", 1, 0);
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        json_t *sent = json_deep_copy(f->jwk);
        char *body;
        json_object_set_new(sent, extra[i][0], json_loads(extra[i][1], JSON_DECODE_ANY, NULL));
        auth(f);
        body = attestation_with(f, NULL, f->jwk, sent);
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        expect(&resp, 400, "\"kbs.tee_pubkey_member_unknown\"");
        expect_no_token(&resp);
        ccg_kbs_response_free(&resp);
        free(body);
        json_decref(sent);
    }
}

/* The token and the session carry the canonical key only (a "use" the broker accepts is not copied). */
static void only_the_canonical_tee_pubkey_is_signed(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_store_session sess;
    json_t *sent = json_deep_copy(f->jwk), *t, *claims = NULL, *rec;
    EVP_PKEY *key = NULL;
    char *body;
    put_policy(f, "attest", 1, 0);
    json_object_set_new(sent, "use", json_string("enc"));
    auth(f);
    body = attestation_with(f, NULL, f->jwk, sent);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 200, "\"token\"");
    t = json_loads(resp.body, 0, NULL);
    assert_true(ccg_ok(kbs_token_key(f->kbs, &key)));
    const char *tok = json_string_value(json_object_get(t, "token"));
    assert_true(ccg_ok(ccg_jwt_verify_es256(key, tok, strlen(tok), f->now, 0, &claims)));
    assert_true(json_equal(json_object_get(claims, "tee-pubkey"), f->jwk));
    memset(&sess, 0, sizeof(sess));
    assert_true(ccg_ok(ccg_store_session_get(f->kbs->store, f->cookie, f->now, &sess, NULL)));
    rec = json_loads(sess.claims_json, 0, NULL);
    assert_true(json_equal(json_object_get(rec, "tee-pubkey"), f->jwk));
    json_decref(rec);
    ccg_store_session_free(&sess);
    json_decref(claims);
    json_decref(t);
    json_decref(sent);
    ccg_kbs_response_free(&resp);
    free(body);
}

/* An RSA tee-pubkey above 4096 bits is refused by its length, before anything is decoded; and the
 * nonce is checked before the key is looked at. */
static void big_rsa_key_is_refused_after_the_nonce(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    uint8_t n[1024];
    char *nb, *body;
    json_t *big;
    put_policy(f, "attest", 1, 0);
    assert_int_equal(RAND_bytes(n, sizeof(n)), 1);
    n[0] |= 0x80; /* 8192 bits */
    n[sizeof(n) - 1] |= 1;
    nb = ccg_b64url_encode(n, sizeof(n));
    big = json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "alg", "RSA-OAEP-256", "n", nb, "e", "AQAB");
    auth(f);
    body = attestation_with(f, NULL, f->jwk, big);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 400, "\"jose.jwk_too_large\"");
    ccg_kbs_response_free(&resp);
    free(body);
    /* By its length alone, before decoding: 1400 characters that are not even base64url. */
    {
        char junk[1401];
        memset(junk, '*', sizeof(junk) - 1);
        junk[sizeof(junk) - 1] = 0;
        json_object_set_new(big, "n", json_string(junk));
        auth(f);
        body = attestation_with(f, NULL, f->jwk, big);
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        expect(&resp, 400, "\"jose.jwk_too_large\"");
        ccg_kbs_response_free(&resp);
        free(body);
    }
    /* 4096 bits is not "too large" (this random modulus may still fail the key's own checks). */
    free(nb);
    n[512] |= 0x80;
    nb = ccg_b64url_encode(n + 512, 512);
    json_object_set_new(big, "n", json_string(nb));
    auth(f);
    body = attestation_with(f, NULL, f->jwk, big);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    assert_null(strstr(resp.body, "jose.jwk_too_large"));
    ccg_kbs_response_free(&resp);
    free(body);
    /* A nonce this broker never issued is refused as such, whatever key comes with it. */
    free(nb);
    nb = ccg_b64url_encode(n, sizeof(n));
    json_object_set_new(big, "n", json_string(nb));
    auth(f);
    snprintf(f->nonce, sizeof(f->nonce), "a-nonce-this-broker-never-issued");
    body = attestation_with(f, NULL, f->jwk, big);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.nonce_mismatch\"");
    assert_null(strstr(resp.body, "jose."));
    ccg_kbs_response_free(&resp);
    free(body);
    free(nb);
    json_decref(big);
}

/* The nonce is consumed before the key is parsed: a broken key spends the challenge. */
static void a_broken_key_spends_the_nonce(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    json_t *broken = json_deep_copy(f->jwk);
    char *body;
    put_policy(f, "attest", 1, 0);
    json_object_set_new(broken, "x", json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")); /* off the curve */
    auth(f);
    body = attestation_with(f, NULL, f->jwk, broken);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 400, "\"jose.jwk_invalid\"");
    ccg_kbs_response_free(&resp);
    free(body);
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"kbs.nonce_reused\"");
    expect_no_token(&resp);
    ccg_kbs_response_free(&resp);
    free(body);
    json_decref(broken);
}

/* One session allows 3 failed attempts (the default); the next is refused before anything is parsed. */
static void failed_attempts_per_session_are_limited(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char real[sizeof(f->nonce)], *body;
    put_policy(f, "attest", 1, 0);
    auth(f);
    memcpy(real, f->nonce, sizeof(real));
    snprintf(f->nonce, sizeof(f->nonce), "a-nonce-this-broker-never-issued");
    body = attestation(f);
    for (int i = 0; i < 3; i++) {
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        expect(&resp, 401, "\"kbs.nonce_mismatch\"");
        ccg_kbs_response_free(&resp);
    }
    free(body);
    memcpy(f->nonce, real, sizeof(real));
    body = attestation(f);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 429, "\"kbs.too_many_attempts\"");
    expect_no_token(&resp);
    ccg_kbs_response_free(&resp);
    free(body);
    /* Another session from the same address is not affected. */
    attest_ok(f);
}

/* Failed attempts per client address in a window: over the limit, /auth and /attest from that address
 * are refused (429) until the window has passed; other addresses are served meanwhile. */
static void failed_attempts_per_address_are_limited(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char *body;
    put_policy(f, "attest", 1, 0);
    reopen_with(f, "\"attempt_limits\":{\"per_session\":3,\"per_address\":4,\"window_seconds\":60}");
    snprintf(f->address, sizeof(f->address), "198.51.100.7");
    for (int i = 0; i < 4; i++) {
        auth(f);
        snprintf(f->nonce, sizeof(f->nonce), "a-nonce-this-broker-never-issued");
        body = attestation(f);
        call(f, "POST", "/kbs/v0/attest", body, &resp);
        expect(&resp, 401, "\"kbs.nonce_mismatch\"");
        ccg_kbs_response_free(&resp);
        free(body);
    }
    call(f, "POST", "/kbs/v0/auth", "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}", &resp);
    expect(&resp, 429, "\"kbs.too_many_attempts\"");
    assert_string_equal(resp.set_cookie, "");
    ccg_kbs_response_free(&resp);
    snprintf(f->address, sizeof(f->address), "198.51.100.8");
    attest_ok(f);
    snprintf(f->address, sizeof(f->address), "198.51.100.7");
    f->now += 61;
    attest_ok(f);
    /* The limits are configuration, strictly parsed. */
    ccg_kbs_config c;
    const char *bad = "{\"store\":\"/x\",\"keystore\":{},\"attempt_limits\":{\"per_session\":0}}";
    assert_true(ccg_failed(ccg_kbs_config_parse(bad, strlen(bad), &c)));
    tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    bad = "{\"store\":\"/x\",\"keystore\":{},\"attempt_limits\":{\"per_minute\":3}}";
    assert_true(ccg_failed(ccg_kbs_config_parse(bad, strlen(bad), &c)));
    bad = "{\"store\":\"/x\",\"keystore\":{},\"decision_reuse_seconds\":301}";
    assert_true(ccg_failed(ccg_kbs_config_parse(bad, strlen(bad), &c)));
}

/* Writes the emulator's VCEK, its ASK+ARK chain and a CRL (revoking the given serial, or none) into a
 * collateral cache. */
static void cache_collateral(fixture *f, const char *cache, const ASN1_INTEGER *revoked, int with_certs)
{
    ccg_snp_kds_item item;
    X509_CRL *crl = NULL;
    unsigned char *der = NULL;
    int n;
    if (with_certs) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *chain = NULL;
        long len;
        n = i2d_X509(ccg_snp_emulator_vcek(f->emu), &der);
        assert_true(ccg_ok(ccg_snp_kds_import_key(cache, CCG_SNP_PRODUCT_MILAN, der, (size_t)n, &item)));
        OPENSSL_free(der);
        der = NULL;
        assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ask(f->emu)), 1);
        assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(f->emu)), 1);
        len = BIO_get_mem_data(bio, &chain);
        memset(&item, 0, sizeof(item));
        item.kind = CCG_SNP_KDS_CHAIN;
        item.product = CCG_SNP_PRODUCT_MILAN;
        item.signer = CCG_SNP_SIGNER_VCEK;
        assert_true(ccg_ok(ccg_snp_cache_write(cache, &item, (const uint8_t *)chain, (size_t)len)));
        BIO_free(bio);
    }
    memset(&item, 0, sizeof(item));
    item.kind = CCG_SNP_KDS_CRL;
    item.product = CCG_SNP_PRODUCT_MILAN;
    item.signer = CCG_SNP_SIGNER_VCEK;
    assert_true(ccg_ok(ccg_snp_emulator_crl(f->emu, revoked != NULL ? &revoked : NULL, revoked != NULL ? 1 : 0,
                                            f->now - 3600, f->now + 86400, &crl)));
    n = i2d_X509_CRL(crl, &der);
    assert_true(n > 0);
    assert_true(ccg_ok(ccg_snp_cache_write(cache, &item, der, (size_t)n)));
    OPENSSL_free(der);
    X509_CRL_free(crl);
}

/* A CRL revoking the ASK, published after the attestation, stops the next release of the session
 * whose decision rested on the earlier CRL: cert.revoked, as a fresh attestation gets. */
static void revoked_ask_ends_the_reuse(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char cache[200], members[300];
    snprintf(cache, sizeof(cache), "%s/collateral", f->dir);
    snprintf(members, sizeof(members), "\"collateral\":{\"cache_dir\":\"%s\"}", cache);
    reopen_with(f, members);
    put_policy_doc(f, "attest", 1, 1, json_pack("{s:s,s:i,s:b}", "policy_id", "s", "version", 1, "require_crl", 1));
    import_key(f, "a/b/c", "attest");
    cache_collateral(f, cache, NULL, 1);
    attest_ok(f);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    f->now += 5;
    cache_collateral(f, cache, X509_get0_serialNumber(ccg_snp_emulator_ask(f->emu)), 0);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 403, "\"cert.revoked\"");
    ccg_kbs_response_free(&resp);
    attest_expect(f, NULL, 401, "\"cert.revoked\"");
}

/* Reference values: the issuer "acme" in the configuration (or not), a set signed by it, and a policy
 * naming the set. */
static EVP_PKEY *refval_world(fixture *f, const char *issuer_path)
{
    EVP_PKEY *issuer = EVP_EC_gen("P-384");
    char members[300];
    FILE *fp;
    assert_non_null(issuer);
    fp = fopen(issuer_path, "w");
    assert_non_null(fp);
    assert_int_equal(PEM_write_PUBKEY(fp, issuer), 1);
    fclose(fp);
    snprintf(members, sizeof(members), "\"refval_issuers\":{\"acme\":\"%s\"}", issuer_path);
    reopen_with(f, members);
    return issuer;
}

static void put_refval_set(fixture *f, EVP_PKEY *issuer, const char *stored_as, const char *set_id, int version,
                           const uint8_t measurement[48])
{
    char hex[97], *text;
    json_t *record, *set;
    ccg_hex_encode(measurement, 48, hex);
    record = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", "r1", "tee", "snp", "measurement", hex, "build_id",
                       "build-1", "not_before", "2026-01-01T00:00:00Z", "not_after", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(record, issuer, "acme")));
    set = json_pack("{s:s,s:i,s:[o]}", "set_id", set_id, "version", version, "records", record);
    text = json_dumps(set, JSON_COMPACT);
    assert_true(ccg_ok(ccg_store_refval_put(f->kbs->store, stored_as, version, text, f->now)));
    free(text);
    json_decref(set);
}

static void put_refval_policy(fixture *f)
{
    put_policy_doc(f, "attest", 1, 1,
                   json_pack("{s:s,s:i,s:{s:s}}", "policy_id", "s", "version", 1, "reference_values", "set_id",
                             "acme-prod"));
}

/* Removing a reference-value issuer from the configuration (and restarting) changes the trust epoch:
 * the session's decision is not reused, and the appraisal names the issuer as unknown. */
static void removed_refval_issuer_ends_the_reuse(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_snp_report r;
    char path[200], *issuers_at;
    EVP_PKEY *issuer;
    snprintf(path, sizeof(path), "%s/issuer.pem", f->dir);
    issuer = refval_world(f, path);
    ccg_snp_emulator_default_report(f->emu, &r);
    put_refval_set(f, issuer, "acme-prod", "acme-prod", 1, r.measurement);
    put_refval_policy(f);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    /* The operator drops the issuer and restarts; the session (in the store) lives on. */
    issuers_at = strstr(f->config_text, "\"refval_issuers\":{");
    assert_non_null(issuers_at);
    issuers_at += strlen("\"refval_issuers\":{");
    memmove(issuers_at, strchr(issuers_at, '}'), strlen(strchr(issuers_at, '}')) + 1);
    close_broker(f);
    open_broker(f);
    f->now += 5;
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 403, "\"refval.issuer_unknown\"");
    ccg_kbs_response_free(&resp);
    EVP_PKEY_free(issuer);
}

/* A new version of the reference-value set that no longer lists the measurement: the next release
 * appraises again and is refused, although the attestation's decision is fresh. */
static void new_refval_version_ends_the_reuse(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_snp_report r;
    char path[200];
    uint8_t other[48];
    EVP_PKEY *issuer;
    snprintf(path, sizeof(path), "%s/issuer.pem", f->dir);
    issuer = refval_world(f, path);
    ccg_snp_emulator_default_report(f->emu, &r);
    put_refval_set(f, issuer, "acme-prod", "acme-prod", 1, r.measurement);
    put_refval_policy(f);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    memcpy(other, r.measurement, sizeof(other));
    other[0] ^= 0xff;
    put_refval_set(f, issuer, "acme-prod", "acme-prod", 2, other);
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 403, "\"refval.measurement_mismatch\"");
    ccg_kbs_response_free(&resp);
    EVP_PKEY_free(issuer);
}

/* A set stored under the policy's set ID whose own set_id is another: refval.set_missing. */
static void refval_set_id_mismatch_is_refused(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    char path[200];
    EVP_PKEY *issuer;
    snprintf(path, sizeof(path), "%s/issuer.pem", f->dir);
    issuer = refval_world(f, path);
    ccg_snp_emulator_default_report(f->emu, &r);
    put_refval_set(f, issuer, "acme-prod", "acme-staging", 1, r.measurement);
    put_refval_policy(f);
    attest_expect(f, NULL, 401, "\"refval.set_missing\"");
    EVP_PKEY_free(issuer);
}

/* The decision is reused for a short time only (decision_reuse_seconds, default 60): later, /resource
 * appraises the evidence again (the verifier cache counts the appraisal). */
static void reuse_is_capped_in_time(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    uint64_t h0, m0, h1, m1;
    size_t n;
    put_policy(f, "attest", 1, 0);
    import_key(f, "a/b/c", "attest");
    attest_ok(f);
    kbs_verifiers_stats(f->kbs->verifiers, &h0, &m0, &n);
    f->now += 30;
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    kbs_verifiers_stats(f->kbs->verifiers, &h1, &m1, &n);
    assert_int_equal(h1 + m1, h0 + m0); /* reused: no appraisal */
    f->now += 31;
    call(f, "GET", "/kbs/v0/resource/a/b/c", NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    kbs_verifiers_stats(f->kbs->verifiers, &h1, &m1, &n);
    assert_int_equal(h1 + m1, h0 + m0 + 1); /* appraised again */
}

/* The broker's own REPORT_DATA check: a genuine report bound to one key, replayed with another key
 * (the attacker's), gets no token. */
static void replayed_report_with_another_key_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    EVP_PKEY *attacker = EVP_EC_gen("P-256");
    ccg_jwk *jwk = NULL;
    json_t *other;
    char *body;
    assert_true(ccg_ok(ccg_jwk_from_pkey(attacker, NULL, &jwk)));
    other = ccg_jwk_to_json(jwk);
    put_policy(f, "attest", 1, 0);
    auth(f);
    body = attestation_with(f, NULL, f->jwk, other);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "\"snp.report_data_mismatch\"");
    expect_no_token(&resp);
    ccg_kbs_response_free(&resp);
    free(body);
    json_decref(other);
    ccg_jwk_free(jwk);
    EVP_PKEY_free(attacker);
}

#define AUTHOR_DIGEST_HEX "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1"

static void author_key_listed(ccg_snp_report *r)
{
    r->flags |= 1; /* AUTHOR_KEY_EN */
    memset(r->author_key_digest, 0xa1, sizeof(r->author_key_digest));
}

static void author_key_other(ccg_snp_report *r)
{
    author_key_listed(r);
    r->author_key_digest[47] ^= 1;
}

static void author_key_disabled(ccg_snp_report *r)
{
    author_key_listed(r);
    r->flags &= ~1u;
}

/* allowed_author_key_digests: the author key must be enabled and listed. */
static void author_key_allowlist_is_enforced(void **state)
{
    fixture *f = *state;
    put_policy_doc(f, "attest", 1, 1,
                   json_pack("{s:s,s:i,s:[s]}", "policy_id", "s", "version", 1, "allowed_author_key_digests",
                             AUTHOR_DIGEST_HEX));
    attest_expect(f, author_key_listed, 200, "\"token\"");
    attest_expect(f, author_key_other, 401, "\"snp.author_key_not_allowed\"");
    attest_expect(f, author_key_disabled, 401, "\"snp.author_key_not_allowed\"");
}

/* allowed_signers ["vlek"]: a VCEK-signed report is refused. */
static void vcek_outside_allowed_signers_is_refused(void **state)
{
    fixture *f = *state;
    put_policy_doc(f, "attest", 1, 1,
                   json_pack("{s:s,s:i,s:[s]}", "policy_id", "s", "version", 1, "allowed_signers", "vlek"));
    attest_expect(f, NULL, 401, "\"snp.signer_not_allowed\"");
}

static void guest_smt_off(ccg_snp_report *r) { r->policy &= ~(uint64_t)CCG_SNP_POLICY_SMT; }

static void guest_and_platform_smt_off(ccg_snp_report *r)
{
    guest_smt_off(r);
    r->platform_info &= ~(uint64_t)CCG_SNP_PLATFORM_SMT_EN;
}

/* smt_allowed false: SMT enabled on the platform (PLATFORM_INFO.SMT_EN) is refused even when the
 * guest policy does not allow SMT. */
static void platform_smt_is_refused(void **state)
{
    fixture *f = *state;
    put_policy_doc(f, "attest", 1, 1,
                   json_pack("{s:s,s:i,s:b}", "policy_id", "s", "version", 1, "smt_allowed", 0));
    attest_expect(f, guest_smt_off, 401, "\"snp.smt_not_allowed\"");
    attest_expect(f, guest_and_platform_smt_off, 200, "\"token\"");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(stale_nonce_by_the_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(emulator_root_only_when_named, setup, teardown),
        cmocka_unit_test_setup_teardown(gpu_required_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(every_decision_is_audited, setup, teardown),
        cmocka_unit_test_setup_teardown(token_key_survives_restart, setup, teardown),
        cmocka_unit_test(strict_documents),
        cmocka_unit_test_setup_teardown(explain_lists_checks_without_release, setup, teardown),
        cmocka_unit_test_setup_teardown(reference_values_from_the_store, setup, teardown),
        cmocka_unit_test_setup_teardown(sev_crate_evidence_is_accepted, setup, teardown),
        cmocka_unit_test_setup_teardown(collateral_from_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(module_unloadable_fails_closed, setup, teardown),
        cmocka_unit_test_setup_teardown(plain_http_only_when_asked_on_loopback, setup, teardown),
        cmocka_unit_test_setup_teardown(expired_chain_is_collateral_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(incomplete_chain_is_collateral_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(crl_missing_then_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(tee_not_allowed, setup, teardown),
        cmocka_unit_test_setup_teardown(session_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(nonce_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(session_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(new_policy_version_is_applied_at_resource, setup, teardown),
        cmocka_unit_test_setup_teardown(changed_session_record_is_read_again, setup, teardown),
        cmocka_unit_test_setup_teardown(expiring_collateral_ends_the_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(unpinned_policy_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(tee_pubkey_unknown_members_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(only_the_canonical_tee_pubkey_is_signed, setup, teardown),
        cmocka_unit_test_setup_teardown(big_rsa_key_is_refused_after_the_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(a_broken_key_spends_the_nonce, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_attempts_per_session_are_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(failed_attempts_per_address_are_limited, setup, teardown),
        cmocka_unit_test_setup_teardown(revoked_ask_ends_the_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(removed_refval_issuer_ends_the_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(new_refval_version_ends_the_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(refval_set_id_mismatch_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(reuse_is_capped_in_time, setup, teardown),
        cmocka_unit_test_setup_teardown(replayed_report_with_another_key_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(author_key_allowlist_is_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(vcek_outside_allowed_signers_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(platform_smt_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
