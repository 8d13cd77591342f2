/* The key broker with NVIDIA GPUs (issue 11, the broker half), in process: CPU evidence from the SNP
 * emulator and GPU evidence from the software GPU, signed over the nonce derived from the session and
 * carried in additional_evidence (Trustee's KBS 0.4.0 form), so REPORT_DATA binds it. The broker's GPU
 * collateral is a RIM directory holding the software GPU's RIMs and a live OCSP responder on loopback:
 * OpenSSL's own `openssl ocsp`, answering for each certificate of the device chain as its issuer (the
 * test holds the software GPU's CA keys). The clock is the wall clock, as `openssl ocsp` stamps its
 * answers with it; no test asserts on time.
 *
 * Each case asserts its specific reason code, the details where the reason names a GPU (through the
 * explain endpoint, which consumes nothing), and the operator signal of the denial: request ID, policy
 * version and, at /resource, the key ID. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/gpu_nonce.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/secmem.h"
#include "ccgate/snp_emulator.h"

#include "agent_proc.h"
#include "gpu_ocsp_responder.h"
#include "loopback_http.h"
#include "tcb_util.h"
#include "testutil.h"

#include "../src/emulator/gpu/gpu_emu_internal.h"
#include "../src/kbs/kbs_internal.h"

#define KEY_ID "acme/model/a"
#define POLICY_VERSION 3
#define DRIVER_RIM "NV_GPU_DRIVER_GH100_550.90.07"

/* ---------------------------------------------------------------- the group: GPUs and OCSP responder */

typedef struct {
    char dir[128];
    ccg_gpu_emulator *gpu;
    ccg_snp_emulator *snp;
    tu_gpu_ocsp *ocsp; /* the live `openssl ocsp` responder for the software GPU's chain */
    char tcb[2048]; /* the broker configuration's TCB baseline members */
} group;

static group G;

static char *pem_of(X509 *c)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    assert_int_equal(PEM_write_bio_X509(bio, c), 1);
    long n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

static int group_setup(void **state)
{
    (void)state;
    ccg_gpu_emu_config gcfg;
    ccg_snp_emulator_config scfg;
    char *tcb;
    memset(&G, 0, sizeof(G));
    snprintf(G.dir, sizeof(G.dir), "/tmp/ccg-kbs-gpu-XXXXXX");
    if (mkdtemp(G.dir) == NULL || ccg_failed(ccg_gpu_emulator_config_init(&gcfg, CCG_GPU_ARCH_HOPPER)) ||
        ccg_failed(ccg_gpu_emulator_new(&gcfg, &G.gpu))) {
        return -1;
    }
    ccg_snp_emulator_config_init(&scfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&scfg, &G.snp))) {
        return -1;
    }
    tcb = tu_write_tcb_config(G.dir);
    snprintf(G.tcb, sizeof(G.tcb), "%s", tcb);
    free(tcb);
    G.ocsp = tu_gpu_ocsp_start(G.gpu, G.dir);
    return G.ocsp != NULL ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    char *argv[] = {"rm", "-rf", G.dir, NULL};
    tu_gpu_ocsp_stop(G.ocsp);
    ccg_gpu_emulator_free(G.gpu);
    ccg_snp_emulator_free(G.snp);
    if (strncmp(G.dir, "/tmp/ccg-kbs-gpu-", 17) == 0) {
        tu_run_quiet(argv);
    }
    return 0;
}

/* ---------------------------------------------------------------- one broker per test */

typedef struct {
    char dir[128];
    char config_text[4096];
    ccg_kbs_config cfg;
    ccg_kbs *kbs;
    EVP_PKEY *guest;
    json_t *jwk;
    ccg_jwk *key;
    char cookie[128];
    char nonce[128];
    char rid[32];
    unsigned req_seq;
} fixture;

static ccg_time wall(void *ctx)
{
    (void)ctx;
    return ccg_time_now();
}

/* The software GPU's driver and VBIOS RIMs in the broker's RIM directory. */
static void write_rims(const char *rim_dir)
{
    ccg_gpu_emu_rims rims;
    char path[512];
    assert_int_equal(mkdir(rim_dir, 0700), 0);
    assert_true(ccg_ok(ccg_gpu_emulator_rims(G.gpu, &rims)));
    snprintf(path, sizeof(path), "%s/%s.xml", rim_dir, rims.driver_id);
    assert_true(ccg_ok(ccg_file_write(path, rims.driver_xml, rims.driver_len)));
    snprintf(path, sizeof(path), "%s/%s.xml", rim_dir, rims.vbios_id);
    assert_true(ccg_ok(ccg_file_write(path, rims.vbios_xml, rims.vbios_len)));
    ccg_gpu_emu_rims_free(&rims);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    char kek[200], rim_dir[200];
    ccg_keystore *ks = NULL;
    assert_non_null(f);
    assert_true((size_t)snprintf(f->dir, sizeof(f->dir), "%s/t-XXXXXX", G.dir) < sizeof(f->dir));
    assert_non_null(mkdtemp(f->dir));
    snprintf(kek, sizeof(kek), "%s/kek", f->dir);
    snprintf(rim_dir, sizeof(rim_dir), "%s/rims", f->dir);
    write_rims(rim_dir);
    for (int k = 1; k < CCG_GPU_EMU_CERTS; k++) {
        assert_int_equal(tu_gpu_ocsp_set(G.ocsp, k, 0), 0);
    }
    snprintf(f->config_text, sizeof(f->config_text),
             "{\"store\":\"%s/kbs.db\",\"nonce_ttl\":60,\"token_ttl\":600,\"attestation_policy\":\"attest\","
             "\"allow_unlocked_memory\":true,\"explain\":true,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s\"},"
             "\"gpu\":{\"rim_dir\":\"%s\",\"ocsp_responder_url\":\"%s\",\"ocsp_timeout_seconds\":30},%s}",
             f->dir, kek, rim_dir, tu_gpu_ocsp_url(G.ocsp), G.tcb);
    assert_true(ccg_ok(ccg_kbs_config_parse(f->config_text, strlen(f->config_text), &f->cfg)));
    if (ccg_failed(ccg_kbs_new(&f->cfg, wall, NULL, &f->kbs))) {
        fail_msg("broker: %s", ccg_error_last()->message);
    }
    assert_true(ccg_ok(kbs_keystore(f->kbs, &ks)));
    assert_true(ccg_ok(ccg_keystore_create_kek(ks, NULL)));
    f->guest = EVP_EC_gen("P-256");
    assert_true(ccg_ok(ccg_jwk_from_pkey(f->guest, NULL, &f->key)));
    f->jwk = ccg_jwk_to_json(f->key);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_kbs_free(f->kbs);
    ccg_kbs_config_free(&f->cfg);
    EVP_PKEY_free(f->guest);
    ccg_jwk_free(f->key);
    json_decref(f->jwk);
    free(f);
    return 0;
}

/* The release policy "attest" (version POLICY_VERSION): the SNP emulator's root and measurement, and a
 * gpu section with the members given (a JSON object's members without braces, or "" for none) plus the
 * software GPU's roots. */
static void put_policy(fixture *f, const char *gpu_members)
{
    ccg_snp_report r;
    char hex[97], *ark = pem_of(ccg_snp_emulator_ark(G.snp)), *root = pem_of(ccg_gpu_emulator_root(G.gpu));
    char *rim_root = pem_of(ccg_gpu_emulator_rim_root(G.gpu)), *text, gpu[1024];
    ccg_snp_emulator_default_report(G.snp, &r);
    ccg_hex_encode(r.measurement, sizeof(r.measurement), hex);
    snprintf(gpu, sizeof(gpu), "{%s}", gpu_members);
    json_t *section = json_loads(gpu, 0, NULL);
    assert_non_null(section);
    json_object_set_new(section, "trusted_roots", json_pack("{s:s, s:s}", "gpu", root, "rim", rim_root));
    json_t *doc = json_pack("{s:s, s:i, s:[s], s:[{s:s, s:s}], s:{s:s, s:i, s:[s]}, s:o}", "policy_id", "attest",
                            "version", POLICY_VERSION, "allowed_tees", "snp", "trusted_roots", "product", "milan",
                            "pem", ark, "snp_policy", "policy_id", "s", "version", 1, "allowed_measurements", hex,
                            "gpu", section);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    if (ccg_failed(ccg_kbs_set_policy(f->kbs, text, strlen(text)))) {
        fail_msg("policy: %s", ccg_error_last()->message);
    }
    free(text);
    json_decref(doc);
    free(ark);
    free(root);
    free(rim_root);
}

static void import_key(fixture *f)
{
    ccg_secbuf key = {0};
    assert_true(ccg_ok(ccg_secbuf_alloc(&key, 32, 1)));
    memset(key.data, 0x42, 32);
    assert_true(ccg_ok(ccg_kbs_import_key(f->kbs, KEY_ID, "attest", &key)));
    ccg_secbuf_free(&key);
}

static void call(fixture *f, const char *method, const char *path, const char *body, ccg_kbs_http_response *resp)
{
    ccg_kbs_http_request req;
    snprintf(f->rid, sizeof(f->rid), "req-%u", ++f->req_seq);
    memset(&req, 0, sizeof(req));
    memset(resp, 0, sizeof(*resp));
    req.method = method;
    req.path = path;
    req.cookie_session = f->cookie[0] != 0 ? f->cookie : NULL;
    req.body = body != NULL ? body : "";
    req.body_len = body != NULL ? strlen(body) : 0;
    req.request_id = f->rid;
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

static char *b64(const uint8_t *p, size_t n)
{
    char *out = malloc(4 * (n / 3 + 1) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* How a GPU report is made: which nonce the GPU signs, and a tamper of the software GPU (NULL: none). */
typedef enum { SIGN_V1 = 0, SIGN_TRUSTEE, SIGN_RANDOM } signing;

/* The nonce GPU `index` signs in this session under binding s. */
static void gpu_nonce(fixture *f, signing s, uint32_t index, uint8_t out[CCG_GPU_NONCE_SIZE])
{
    uint8_t digest[CCG_GPU_DEVICE_DIGEST_MAX];
    size_t len = 0;
    if (s == SIGN_RANDOM) {
        memset(out, 0x5a, CCG_GPU_NONCE_SIZE);
        return;
    }
    assert_true(ccg_ok(ccg_gpu_device_digest("sha384", f->nonce, f->key, digest, &len)));
    assert_true(ccg_ok(ccg_gpu_nonce_derive(s == SIGN_TRUSTEE ? CCG_GPU_NONCE_TRUSTEE : CCG_GPU_NONCE_CCGATE_V1,
                                            digest, len, index, out)));
}

/* additional_evidence with n reports of the software GPU, entry i signed over the nonce of index
 * order[i] (order NULL: i). */
static char *gpu_evidence(fixture *f, size_t n, signing s, const char *tamper, const uint32_t *order)
{
    json_t *list = json_array();
    char *pem = NULL, *text;
    size_t pem_len = 0;
    ccg_gpu_emu_tamper t;
    assert_true(ccg_ok(ccg_gpu_emulator_chain_pem(G.gpu, &pem, &pem_len)));
    if (tamper != NULL) {
        assert_true(ccg_ok(ccg_gpu_emu_tamper_parse(tamper, &t)));
    }
    for (size_t i = 0; i < n; i++) {
        uint8_t nonce[CCG_GPU_NONCE_SIZE], *report = NULL;
        size_t len = 0;
        gpu_nonce(f, s, order != NULL ? order[i] : (uint32_t)i, nonce);
        assert_true(ccg_ok(ccg_gpu_emulator_attest(G.gpu, nonce, tamper != NULL ? &t : NULL, &report, &len)));
        char *ev = b64(report, len), *cert = b64((const uint8_t *)pem, pem_len);
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "arch", i % 2 ? "Hopper" : "HOPPER", "uuid",
                                              "GPU-0000-test", "evidence", ev, "certificate", cert));
        free(ev);
        free(cert);
        free(report);
    }
    json_t *doc = json_pack("{s:{s:o}}", "nvidia", "device_evidence_list", list);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(pem);
    return text;
}

/* The Attestation for this session: the SNP report's REPORT_DATA binds `bound` (the additional evidence
 * the guest meant), the body carries `sent`. */
static char *attestation(fixture *f, const char *sent, const char *bound)
{
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    char *report, *vcek, *ask, *text;
    unsigned char *der = NULL;
    int n;
    ccg_snp_emulator_default_report(G.snp, &r);
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", f->nonce, f->key, bound, r.report_data)));
    assert_true(ccg_ok(ccg_snp_emulator_sign(G.snp, &r, bytes)));
    report = b64(bytes, sizeof(bytes));
    n = i2d_X509(ccg_snp_emulator_vcek(G.snp), &der);
    vcek = b64(der, (size_t)n);
    OPENSSL_free(der);
    der = NULL;
    n = i2d_X509(ccg_snp_emulator_ask(G.snp), &der);
    ask = b64(der, (size_t)n);
    OPENSSL_free(der);
    json_t *doc = json_pack("{s:{s:s,s:O},s:{s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},s:s}}", "runtime-data", "nonce",
                            f->nonce, "tee-pubkey", f->jwk, "tee-evidence", "primary_evidence", "attestation_report",
                            report, "cert_chain", "cert_type", "VCEK", "data", vcek, "cert_type", "ASK", "data", ask,
                            "additional_evidence", sent);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(report);
    free(vcek);
    free(ask);
    return text;
}

static void attest(fixture *f, const char *additional, ccg_kbs_http_response *resp)
{
    char *body = attestation(f, additional, additional);
    call(f, "POST", "/kbs/v0/attest", body, resp);
    free(body);
}

/* ---------------------------------------------------------------- assertions */

static void expect(const ccg_kbs_http_response *resp, unsigned status, const char *code)
{
    char quoted[128];
    snprintf(quoted, sizeof(quoted), "\"%s\"", code != NULL ? code : "");
    if (resp->status != status || (code != NULL && strstr(resp->body, quoted) == NULL)) {
        fail_msg("expected %u %s, got %u %s", status, code != NULL ? code : "", resp->status, resp->body);
    }
}

/* The operator signal of a denial: its request ID, the policy and its version, and the key ID when the
 * request named a key. GPU evidence was given, so never kbs.gpu_required. */
static void expect_signal(const fixture *f, const ccg_kbs_http_response *resp, const char *key_id)
{
    json_t *b = json_loads(resp->body, 0, NULL);
    assert_non_null(b);
    assert_string_equal(json_string_value(json_object_get(b, "request_id")), f->rid);
    assert_string_equal(json_string_value(json_object_get(b, "policy_id")), "attest");
    assert_int_equal(json_integer_value(json_object_get(b, "policy_version")), POLICY_VERSION);
    if (key_id != NULL) {
        assert_string_equal(json_string_value(json_object_get(b, "key_id")), key_id);
    }
    json_decref(b);
}

static void expect_no(const ccg_kbs_http_response *resp, const char *code)
{
    char quoted[128];
    snprintf(quoted, sizeof(quoted), "\"%s\"", code);
    if (strstr(resp->body, quoted) != NULL) {
        fail_msg("%s is in %s", code, resp->body);
    }
}

/* POST /kbs/v0/explain of this attestation (nothing consumed): the decision with every reason's details. */
static json_t *explain(fixture *f, const char *additional)
{
    ccg_kbs_http_response resp;
    char *att = attestation(f, additional, additional);
    json_t *req = json_pack("{s:s, s:s, s:o}", "policy_id", "attest", "tee", "snp", "attestation",
                            json_loads(att, 0, NULL));
    char *text = json_dumps(req, JSON_COMPACT);
    call(f, "POST", "/kbs/v0/explain", text, &resp);
    assert_int_equal(resp.status, 200);
    json_t *d = json_loads(resp.body, 0, NULL);
    assert_non_null(d);
    ccg_kbs_response_free(&resp);
    free(text);
    free(att);
    json_decref(req);
    return d;
}

/* The details of the decision's first reason with this code (fails when there is none). */
static const json_t *details_of(const json_t *decision, const char *code)
{
    size_t i;
    const json_t *r;
    json_array_foreach(json_object_get(decision, "reasons"), i, r) {
        if (strcmp(json_string_value(json_object_get(r, "code")), code) == 0) {
            return json_object_get(r, "details");
        }
    }
    fail_msg("no %s in the decision", code);
    return NULL;
}

static json_t *token_claims(fixture *f, const ccg_kbs_http_response *resp)
{
    json_t *t = json_loads(resp->body, 0, NULL), *claims = NULL;
    EVP_PKEY *key = NULL;
    const char *tok = json_string_value(json_object_get(t, "token"));
    assert_non_null(tok);
    assert_true(ccg_ok(kbs_token_key(f->kbs, &key)));
    assert_true(ccg_ok(ccg_jwt_verify_es256(key, tok, strlen(tok), ccg_time_now(), 60, &claims)));
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

/* ---------------------------------------------------------------- the cases */

/* One GPU under the full default rules (RIMs and live OCSP required): released. The token and both
 * audit records (format 4) carry the GPU's claims; the release re-appraises the GPU and succeeds. */
static void approved_gpu_is_released(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "\"count\":1");
    import_key(f);
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    attest(f, ae, &resp);
    expect(&resp, 200, "token");
    json_t *claims = token_claims(f, &resp), *gpu = json_array_get(json_object_get(json_object_get(claims,
                                                                                               "tcb-status"),
                                                                               "gpus"),
                                                              0);
    assert_non_null(gpu);
    assert_string_equal(json_string_value(json_object_get(gpu, "arch")), "HOPPER");
    assert_string_equal(json_string_value(json_object_get(gpu, "driver_version")), CCG_GPU_EMU_DEFAULT_DRIVER);
    assert_string_equal(json_string_value(json_object_get(gpu, "vbios_version")), CCG_GPU_EMU_DEFAULT_VBIOS);
    assert_string_equal(json_string_value(json_object_get(gpu, "measurements")), "passed");
    assert_string_equal(json_string_value(json_object_get(gpu, "nonce_binding")), "ccgate-v1");
    assert_int_equal(json_array_size(json_object_get(gpu, "mismatched_indexes")), 0);
    assert_true(strlen(json_string_value(json_object_get(gpu, "ueid"))) > 0);
    json_decref(claims);
    ccg_kbs_response_free(&resp);
    int before = tu_gpu_ocsp_requests(G.ocsp);
    call(f, "GET", "/kbs/v0/resource/" KEY_ID, NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    assert_true(tu_gpu_ocsp_requests(G.ocsp) > before); /* the GPU was appraised again, OCSP included */
    json_t *records = audit_records(f);
    for (size_t i = 0; i < 2; i++) {
        json_t *rec = json_array_get(records, json_array_size(records) - 2 + i);
        assert_string_equal(json_string_value(json_object_get(rec, "action")), i ? "resource.release" : "kbs.attest");
        assert_string_equal(json_string_value(json_object_get(rec, "decision")), "allow");
        assert_int_equal(json_integer_value(json_object_get(rec, "v")), CCG_AUDIT_FORMAT_CLAIMS);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(rec, "claims"), "gpu_count")), 1);
        json_t *g = json_array_get(json_object_get(rec, "gpus"), 0);
        assert_string_equal(json_string_value(json_object_get(g, "measurements")), "passed");
        assert_string_equal(json_string_value(json_object_get(g, "nonce_binding")), "ccgate-v1");
    }
    json_decref(records);
    free(ae);
}

/* The software GPU with CC off measures another value at its CC-mode register (RIM index 20): refused. */
static void cc_off_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, "cc_off", NULL);
    json_t *d = explain(f, ae);
    const json_t *det = details_of(d, "gpu.measurement_mismatch");
    assert_int_equal(json_integer_value(json_object_get(det, "gpu")), 0);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(det, "mismatched_indexes"), 0)),
                     CCG_GPU_EMU_CC_INDEX);
    json_decref(d);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.measurement_mismatch");
    expect_signal(f, &resp, NULL);
    expect_no(&resp, "kbs.gpu_required");
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* A GPU report accepted in one session, presented again in another (the CPU evidence bound to the new
 * session, so only the GPU report is replayed): gpu.report_replayed, named as such, not as a nonce
 * mismatch. */
static void replay_from_another_session_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    attest(f, ae, &resp);
    expect(&resp, 200, "token");
    ccg_kbs_response_free(&resp);
    auth(f); /* another session */
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.report_replayed");
    expect_signal(f, &resp, NULL);
    expect_no(&resp, "gpu.nonce_mismatch");
    ccg_kbs_response_free(&resp);
    free(ae);
}

static void wrong_nonce_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_RANDOM, NULL, NULL);
    json_t *d = explain(f, ae);
    assert_int_equal(json_integer_value(json_object_get(details_of(d, "gpu.nonce_mismatch"), "gpu")), 0);
    json_decref(d);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.nonce_mismatch");
    expect_signal(f, &resp, NULL);
    ccg_kbs_response_free(&resp);
    free(ae);
}

static void wrong_driver_measurement_names_the_index(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, "measurement=25", NULL);
    json_t *d = explain(f, ae);
    const json_t *det = details_of(d, "gpu.measurement_mismatch");
    assert_int_equal(json_integer_value(json_object_get(det, "gpu")), 0);
    assert_int_equal(json_array_size(json_object_get(det, "mismatched_indexes")), 1);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(det, "mismatched_indexes"), 0)), 25);
    json_decref(d);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.measurement_mismatch");
    expect_signal(f, &resp, NULL);
    ccg_kbs_response_free(&resp);
    /* The audit record names the GPU and the index too. */
    json_t *records = audit_records(f), *rec = json_array_get(records, json_array_size(records) - 1);
    json_t *g = json_array_get(json_object_get(rec, "gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "decision")), "deny");
    assert_string_equal(json_string_value(json_object_get(g, "measurements")), "failed");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(g, "mismatched_indexes"), 0)), 25);
    json_decref(records);
    free(ae);
}

/* The leaf revoked in the live responder's database: refused at /attest. */
static void revoked_certificate_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    assert_int_equal(tu_gpu_ocsp_set(G.ocsp, 1, 1), 0);
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.cert_revoked");
    expect_signal(f, &resp, NULL);
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* GPU state is never reused: a certificate revoked between /attest and /resource stops the release. */
static void revoked_after_attest_stops_the_release(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    import_key(f);
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    attest(f, ae, &resp);
    expect(&resp, 200, "token");
    ccg_kbs_response_free(&resp);
    call(f, "GET", "/kbs/v0/resource/" KEY_ID, NULL, &resp);
    expect(&resp, 200, NULL);
    ccg_kbs_response_free(&resp);
    assert_int_equal(tu_gpu_ocsp_set(G.ocsp, 2, 1), 0); /* the BROM certificate (issued by the provisioner ICA) */
    call(f, "GET", "/kbs/v0/resource/" KEY_ID, NULL, &resp);
    expect(&resp, 403, "gpu.cert_revoked");
    expect_signal(f, &resp, KEY_ID);
    ccg_kbs_response_free(&resp);
    free(ae);
}

static void missing_rim_is_named(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char path[256];
    put_policy(f, "");
    snprintf(path, sizeof(path), "%s/rims/" DRIVER_RIM ".xml", f->dir);
    assert_int_equal(unlink(path), 0);
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    json_t *d = explain(f, ae);
    assert_string_equal(json_string_value(json_object_get(details_of(d, "gpu.rim_unavailable"), "rim_id")),
                        DRIVER_RIM);
    json_decref(d);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.rim_unavailable");
    expect_signal(f, &resp, NULL);
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* A Confidential Containers guest's binding (the device runtime digest's first 32 bytes) is accepted,
 * and the claims say which binding it was. */
static void trustee_binding_is_accepted(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_TRUSTEE, NULL, NULL);
    attest(f, ae, &resp);
    expect(&resp, 200, "token");
    json_t *claims = token_claims(f, &resp);
    json_t *gpu = json_array_get(json_object_get(json_object_get(claims, "tcb-status"), "gpus"), 0);
    assert_string_equal(json_string_value(json_object_get(gpu, "nonce_binding")), "trustee");
    json_decref(claims);
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* The trustee binding gives every GPU the same nonce: one GPU's two reports cannot count as two GPUs. */
static void duplicate_device_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "\"count\":2");
    auth(f);
    char *ae = gpu_evidence(f, 2, SIGN_TRUSTEE, NULL, NULL);
    json_t *d = explain(f, ae);
    const json_t *det = details_of(d, "gpu.device_duplicate");
    assert_int_equal(json_integer_value(json_object_get(det, "gpu")), 1);
    assert_int_equal(json_integer_value(json_object_get(det, "same_as")), 0);
    json_decref(d);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.device_duplicate");
    expect_signal(f, &resp, NULL);
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* The ccgate-v1 binding ties report i to position i: two reports in swapped places fail their nonces. */
static void ccgate_binding_ties_the_position(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    static const uint32_t swapped[] = {1, 0};
    put_policy(f, "\"count\":2");
    auth(f);
    char *ae = gpu_evidence(f, 2, SIGN_V1, NULL, swapped);
    json_t *d = explain(f, ae);
    size_t i, mismatches = 0;
    const json_t *r;
    json_array_foreach(json_object_get(d, "reasons"), i, r) {
        if (strcmp(json_string_value(json_object_get(r, "code")), "gpu.nonce_mismatch") == 0) {
            assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "details"), "gpu")),
                             (json_int_t)mismatches);
            mismatches++;
        }
    }
    assert_int_equal(mismatches, 2);
    json_decref(d);
    attest(f, ae, &resp);
    expect(&resp, 401, "gpu.nonce_mismatch");
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* A policy requiring GPUs and an attestation without GPU evidence: kbs.gpu_required, alone. */
static void no_gpu_evidence_is_gpu_required(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    attest(f, "", &resp);
    expect(&resp, 401, "kbs.gpu_required");
    expect_signal(f, &resp, NULL);
    json_t *b = json_loads(resp.body, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(b, "reasons")), 1);
    json_decref(b);
    ccg_kbs_response_free(&resp);
}

/* Malformed additional evidence (bound by REPORT_DATA, so only the GPU part can object): its own code. */
static void malformed_additional_evidence_is_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    static const struct {
        const char *text;
        const char *code;
    } cases[] = {
        {"not json", "gpu.evidence_malformed"},
        {"{\"nvidia\":{\"device_evidence_list\":[]}}", "gpu.evidence_malformed"},
        {"{\"nvidia\":{\"device_evidence_list\":[{\"arch\":\"LS10\",\"evidence\":\"AAAA\",\"certificate\":\"AAAA\"}]}}",
         "gpu.evidence_malformed"},
        {"{\"nvidia\":{\"device_evidence_list\":[{\"arch\":\"HOPPER\",\"evidence\":\"AAAA\"}]}}",
         "gpu.evidence_malformed"},
        {"{\"tdx\":{}}", "kbs.additional_evidence_unsupported"},
    };
    put_policy(f, "");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        auth(f);
        attest(f, cases[i].text, &resp);
        expect(&resp, 401, cases[i].code);
        expect_signal(f, &resp, NULL);
        expect_no(&resp, "kbs.gpu_required");
        ccg_kbs_response_free(&resp);
    }
}

/* The GPU evidence changed after the CPU report was made: REPORT_DATA no longer binds it. */
static void additional_evidence_changed_after_the_cpu_report(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "");
    auth(f);
    char *meant = gpu_evidence(f, 1, SIGN_V1, NULL, NULL), *sent = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    char *body = attestation(f, sent, meant);
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "snp.report_data_mismatch");
    expect_signal(f, &resp, NULL);
    ccg_kbs_response_free(&resp);
    free(body);
    free(meant);
    free(sent);
}

/* Only a GPU report bound by CPU evidence that verified is remembered: someone who sends another session's
 * report with CPU evidence that fails (here REPORT_DATA binding something else) cannot spend it, and its
 * own session then attests with it. */
static void failed_cpu_evidence_spends_no_gpu_report(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    char owner_cookie[128], owner_nonce[128];
    put_policy(f, "");
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_V1, NULL, NULL);
    memcpy(owner_cookie, f->cookie, sizeof(owner_cookie));
    memcpy(owner_nonce, f->nonce, sizeof(owner_nonce));
    auth(f); /* the interloper's session */
    char *body = attestation(f, ae, "");
    call(f, "POST", "/kbs/v0/attest", body, &resp);
    expect(&resp, 401, "snp.report_data_mismatch");
    ccg_kbs_response_free(&resp);
    free(body);
    memcpy(f->cookie, owner_cookie, sizeof(owner_cookie));
    memcpy(f->nonce, owner_nonce, sizeof(owner_nonce));
    attest(f, ae, &resp);
    expect(&resp, 200, "token");
    ccg_kbs_response_free(&resp);
    free(ae);
}

/* A release policy whose GPU section says nothing still requires GPUs; one without GPUs ignores them. */
static void no_gpu_section_ignores_gpu_evidence(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_snp_report r;
    char hex[97], *ark = pem_of(ccg_snp_emulator_ark(G.snp)), *text;
    ccg_snp_emulator_default_report(G.snp, &r);
    ccg_hex_encode(r.measurement, sizeof(r.measurement), hex);
    json_t *doc = json_pack("{s:s, s:i, s:[s], s:[{s:s, s:s}], s:{s:s, s:i, s:[s]}}", "policy_id", "attest",
                            "version", 1, "allowed_tees", "snp", "trusted_roots", "product", "milan", "pem", ark,
                            "snp_policy", "policy_id", "s", "version", 1, "allowed_measurements", hex);
    text = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_kbs_set_policy(f->kbs, text, strlen(text))));
    auth(f);
    char *ae = gpu_evidence(f, 1, SIGN_RANDOM, NULL, NULL); /* would fail its nonce if appraised */
    attest(f, ae, &resp);
    expect(&resp, 200, "token");
    ccg_kbs_response_free(&resp);
    free(ae);
    free(text);
    free(ark);
    json_decref(doc);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(approved_gpu_is_released),
        T(cc_off_is_refused),
        T(replay_from_another_session_is_refused),
        T(wrong_nonce_is_refused),
        T(wrong_driver_measurement_names_the_index),
        T(revoked_certificate_is_refused),
        T(revoked_after_attest_stops_the_release),
        T(missing_rim_is_named),
        T(trustee_binding_is_accepted),
        T(duplicate_device_is_refused),
        T(ccgate_binding_ties_the_position),
        T(no_gpu_evidence_is_gpu_required),
        T(malformed_additional_evidence_is_refused),
        T(additional_evidence_changed_after_the_cpu_report),
        T(failed_cpu_evidence_spends_no_gpu_report),
        T(no_gpu_section_ignores_gpu_evidence),
    };
    return cmocka_run_group_tests_name("kbs_gpu", tests, group_setup, group_teardown);
}
