/* The guest agent's GPU half (issue 11): the evidence it collects through NVML (the stub library
 * serving saved software GPUs, a real vector and failures), and the whole agent against a stand-in
 * broker on loopback that records what the agent sends and what the GPUs' ready state was when the
 * key went out.
 *
 *   evidence                the additional_evidence string parses as the documented Trustee form; every
 *                           report verifies against its software GPU's test root with the ccgate-v1 nonce
 *                           of ITS index, and not with another index's or another hash's
 *   NVML failures           each gives its gpu.* code (and a real vector passes through unverified: its
 *                           nonce is NVIDIA's, which the broker refuses)
 *   ready only after release the agent clears the ready state at start, the stand-in broker sees it
 *                           cleared when it releases the key, the agent sets it only once the model is
 *                           unsealed, and clears it when it stops; REPORT_DATA binds the exact string
 *                           (with the hash the Challenge selected)
 *   never ready             a denial, an unsealing failure, an NVML failure (no attest is sent) and a CC
 *                           state the host reports off (the broker is never asked)
 *
 * The stand-in broker decides nothing: the real broker's GPU appraisal is tested on its side, and the
 * agent against the real broker after both halves meet. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "ccgate/agent.h"
#include "ccgate/artifact.h"
#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/gpu_nonce.h"
#include "ccgate/gpu_verify.h"
#include "ccgate/http_body.h"
#include "ccgate/jose.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_report.h"
#include "ccgate/util.h"

#include "loopback_http.h"
#include "agent_proc.h"
#include "testutil.h"
#include "tsm_fuse_ctl.h"

#define NOW "2030-01-01T00:00:00Z"
#define KEY_PATH "default/model/gpu"
#define MODEL_LEN (256u * 1024u + 77u)
#define V_REPORT "nvgpu/nvtrust/hopperAttestationReport.txt"
#define V_CERTS "nvgpu/nvtrust/hopperCertChain.txt"

static const char *stub_vars[] = {
    "CCG_NVML_STUB_INIT",        "CCG_NVML_STUB_COUNT",     "CCG_NVML_STUB_CC",          "CCG_NVML_STUB_DEVTOOLS",
    "CCG_NVML_STUB_CC_FAIL",     "CCG_NVML_STUB_GPU_STATE", "CCG_NVML_STUB_GPU_REPORT",  "CCG_NVML_STUB_GPU_CERTS",
    "CCG_NVML_STUB_GPU_TAMPER",  "CCG_NVML_STUB_ATTEST_FAIL", "CCG_NVML_STUB_READY_FILE", "CCG_NVML_STUB_READY_FAIL",
    "CCG_NVML_STUB_REPORT_SIZE", "CCG_NVML_STUB_ARCH",      "CCG_NVML_STUB_UUID",        "CCG_NVML_STUB_CERT_SIZE"};

/* ---------------------------------------------------------------- the stand-in broker */

typedef enum { BROKER_RELEASE = 0, BROKER_DENY } broker_mode;

typedef struct {
    pthread_mutex_t mu;
    broker_mode mode;
    const char *hash;   /* the Challenge's selected-hash-algorithm, or NULL: none selected */
    char nonce[64];     /* the last nonce issued */
    int auths, attests, resources;
    char *attestation;  /* the last Attestation body */
    char *ready_at_release; /* the ready file's text when the key went out */
    const char *ready_file;
    uint8_t key[32];
} broker;

static void answer_json(lh_answer *out, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    out->status = status;
    out->content_type = "application/json";
    out->body = (uint8_t *)text;
    out->len = text != NULL ? strlen(text) : 0;
}

/* The key as a JWE to the tee-pubkey of the last Attestation. */
static void release_key(broker *b, lh_answer *out)
{
    json_t *att = json_loads(b->attestation != NULL ? b->attestation : "", 0, NULL);
    ccg_jwk *jwk = NULL;
    char *jwe = NULL;
    size_t len = 0;
    if (ccg_failed(ccg_jwk_parse(json_object_get(json_object_get(att, "runtime-data"), "tee-pubkey"), &jwk)) ||
        ccg_failed(ccg_jwe_encrypt_text(jwk, b->key, sizeof(b->key), &jwe, &len))) {
        out->status = 500;
    } else {
        out->status = 200;
        out->content_type = "application/json";
        out->body = (uint8_t *)jwe;
        out->len = len;
    }
    ccg_jwk_free(jwk);
    json_decref(att);
}

static void broker_handle(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
                          lh_answer *out)
{
    broker *b = ctx;
    pthread_mutex_lock(&b->mu);
    if (strcmp(method, "POST") == 0 && strcmp(path, "/kbs/v0/auth") == 0) {
        b->auths++;
        snprintf(b->nonce, sizeof(b->nonce), "gpu-test-nonce-%d-%ld", b->auths, (long)getpid());
        json_t *extra = b->hash != NULL ? json_pack("{s:s}", "selected-hash-algorithm", b->hash) : json_object();
        answer_json(out, 200, json_pack("{s:s,s:o}", "nonce", b->nonce, "extra-params", extra));
    } else if (strcmp(method, "POST") == 0 && strcmp(path, "/kbs/v0/attest") == 0) {
        b->attests++;
        free(b->attestation);
        b->attestation = strndup((const char *)body, len);
        if (b->mode == BROKER_DENY) {
            answer_json(out, 401,
                        json_pack("{s:[s],s:s,s:s,s:s,s:i}", "reasons", "gpu.nonce_mismatch", "detail",
                                  "the stand-in broker refuses", "request_id", "req-gpu-test", "policy_id", "model-g",
                                  "policy_version", 3));
        } else {
            answer_json(out, 200, json_pack("{s:s}", "token", "e30.e30.c2ln")); /* claims "{}" */
        }
    } else if (strcmp(method, "GET") == 0 && strcmp(path, "/kbs/v0/resource/" KEY_PATH) == 0) {
        b->resources++;
        free(b->ready_at_release);
        b->ready_at_release = tu_read_text(b->ready_file);
        release_key(b, out);
    } else {
        out->status = 404;
    }
    pthread_mutex_unlock(&b->mu);
}

/* ---------------------------------------------------------------- the world */

typedef struct {
    char dir[64];
    char gpu_dir[2][64];      /* saved software GPUs: Hopper, Blackwell */
    char gpu_list[160];       /* "dir0:dir1" for CCG_NVML_STUB_GPU_STATE */
    char snp_dir[64];
    ccg_gpu_emulator *gpu[2];
    ccg_snp_emulator *snp;
    ccg_gpu_verifier *v;      /* trusts both software GPUs' TEST roots */
    char provider_pub[128], artifact[128], tampered[128];
    char model_hex[97];
    uint8_t key[32];
    lh_server *http;
    char base[64];
    broker b;
    int runs;
} world;

static world W;

static void write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void seal_model(void)
{
    char plain[128];
    uint8_t *model = malloc(MODEL_LEN), *sealed = NULL, md[48];
    unsigned int md_len = 0;
    size_t sealed_len = 0;
    EVP_PKEY *signer = EVP_EC_gen("P-384");
    FILE *f;
    assert_non_null(model);
    assert_non_null(signer);
    assert_int_equal(RAND_bytes(model, MODEL_LEN), 1);
    assert_int_equal(RAND_bytes(W.key, sizeof(W.key)), 1);
    assert_int_equal(EVP_Digest(model, MODEL_LEN, md, &md_len, EVP_sha384(), NULL), 1);
    ccg_hex_encode(md, 48, W.model_hex);
    snprintf(plain, sizeof(plain), "%s/model.plain", W.dir);
    write_file(plain, model, MODEL_LEN);
    snprintf(W.artifact, sizeof(W.artifact), "%s/model.ccgm", W.dir);
    assert_true(ccg_ok(ccg_artifact_seal_file(plain, W.artifact, W.key, 32, KEY_PATH, 1, 0, signer)));
    assert_int_equal(unlink(plain), 0);
    /* A copy with one ciphertext byte changed: the key is released, unsealing fails. */
    assert_true(ccg_ok(ccg_file_read(W.artifact, 8u << 20, &sealed, &sealed_len)));
    sealed[sealed_len - 100] ^= 0x01;
    snprintf(W.tampered, sizeof(W.tampered), "%s/model-tampered.ccgm", W.dir);
    write_file(W.tampered, sealed, sealed_len);
    snprintf(W.provider_pub, sizeof(W.provider_pub), "%s/provider.pub", W.dir);
    f = fopen(W.provider_pub, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, signer), 1);
    assert_int_equal(fclose(f), 0);
    free(sealed);
    free(model);
    EVP_PKEY_free(signer);
}

static int world_setup(void **state)
{
    (void)state;
    memset(&W, 0, sizeof(W));
    pthread_mutex_init(&W.b.mu, NULL);
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-agent-gpu-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    assert_true(ccg_ok(ccg_gpu_verifier_new(&W.v)));
    for (int i = 0; i < 2; i++) {
        ccg_gpu_emu_config cfg;
        assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, i == 0 ? CCG_GPU_ARCH_HOPPER : CCG_GPU_ARCH_BLACKWELL)));
        assert_true(ccg_ok(ccg_gpu_emulator_new(&cfg, &W.gpu[i])));
        assert_true((size_t)snprintf(W.gpu_dir[i], sizeof(W.gpu_dir[i]), "%s/gpu%d", W.dir, i) < sizeof(W.gpu_dir[i]));
        assert_int_equal(mkdir(W.gpu_dir[i], 0700), 0);
        assert_true(ccg_ok(ccg_gpu_emulator_save(W.gpu[i], W.gpu_dir[i])));
        assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(W.v, ccg_gpu_emulator_root(W.gpu[i]))));
    }
    snprintf(W.gpu_list, sizeof(W.gpu_list), "%s:%s", W.gpu_dir[0], W.gpu_dir[1]);
    W.snp = tu_emulator_state_new(W.snp_dir, sizeof(W.snp_dir), NULL);
    seal_model();
    W.http = lh_start(broker_handle, &W.b, W.base, sizeof(W.base));
    assert_non_null(W.http);
    return 0;
}

static int world_teardown(void **state)
{
    (void)state;
    lh_stop(W.http);
    free(W.b.attestation);
    free(W.b.ready_at_release);
    pthread_mutex_destroy(&W.b.mu);
    for (int i = 0; i < 2; i++) {
        ccg_gpu_emulator_free(W.gpu[i]);
    }
    ccg_snp_emulator_free(W.snp);
    ccg_gpu_verifier_free(W.v);
    tu_remove_tree(W.snp_dir);
    tu_remove_tree(W.dir);
    return 0;
}

static const char *nvml_stub(void)
{
    const char *p = getenv("CCG_NVML_STUB");
    if (p == NULL || p[0] == 0) {
        tu_skip_or_fail("$CCG_NVML_STUB is not set (cmake/agent.cmake builds it)");
    }
    return p;
}

/* Clears every stub variable, then serves the two saved software GPUs. */
static int two_gpus(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(stub_vars) / sizeof(stub_vars[0]); i++) {
        unsetenv(stub_vars[i]);
    }
    setenv("CCG_NVML_STUB_GPU_STATE", W.gpu_list, 1);
    setenv("CCG_NVML_STUB_COUNT", "2", 1);
    return 0;
}

/* ---------------------------------------------------------------- checking the evidence */

static uint8_t *b64_decode(const char *text, size_t *len)
{
    size_t n = strlen(text), pad = 0;
    uint8_t *out = malloc(n / 4 * 3 + 3);
    int got;
    assert_non_null(out);
    assert_int_equal(n % 4, 0);
    got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    assert_true(got >= 0);
    pad = n >= 2 && text[n - 1] == '=' ? (text[n - 2] == '=' ? 2 : 1) : 0;
    *len = (size_t)got - pad;
    return out;
}

static void expected_nonce(const char *hash, const char *kbs_nonce, const ccg_jwk *jwk, uint32_t i,
                           uint8_t out[CCG_GPU_NONCE_SIZE])
{
    uint8_t d[CCG_GPU_DEVICE_DIGEST_MAX];
    size_t dlen = 0;
    assert_true(ccg_ok(ccg_gpu_device_digest(hash, kbs_nonce, jwk, d, &dlen)));
    assert_true(ccg_ok(ccg_gpu_nonce_derive(CCG_GPU_NONCE_CCGATE_V1, d, dlen, i, out)));
}

/* Verifies one entry as the broker would: this software GPU's chain, signature, FWID and the nonce. */
static void verify_entry(const ccg_gpu_evidence_item *item, const uint8_t nonce[CCG_GPU_NONCE_SIZE],
                         ccg_reason want)
{
    ccg_gpu_result *res = calloc(1, sizeof(*res));
    ccg_decision d;
    assert_non_null(res);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_verify_item(W.v, item, nonce, tu_time(NOW), res, &d)));
    if (want == CCG_R_OK) {
        if (!d.allow) {
            fail_msg("refused: %s", ccg_reason_code(d.reasons.items[0].reason));
        }
        assert_int_equal(res->nonce, CCG_GPU_CHECK_PASSED);
        assert_memory_equal(res->report.nonce, nonce, CCG_GPU_NONCE_SIZE);
        assert_string_equal(res->root, "test");
    } else {
        assert_false(d.allow);
        int found = 0;
        for (size_t k = 0; k < d.reasons.count; k++) {
            found |= d.reasons.items[k].reason == want;
        }
        assert_true(found);
    }
    ccg_decision_free(&d);
    free(res);
}

/* The host's CC state every entry's host_state carries in an agent's Attestation ("on" unless a test
 * says otherwise; the API without the host claim sends no host_state). */
static const char *attest_host_cc = "on";

/* The additional_evidence string: exactly {"nvidia":{"device_evidence_list":[n entries]}}, each entry
 * exactly {arch, uuid, evidence, certificate} and host_state {"cc":host_cc,"devtools":"off"} (host_cc NULL:
 * none), and each report signed over the ccgate-v1 nonce of its own index (hash, kbs_nonce, jwk) and no
 * other. archs[i] names GPU i's architecture. */
static void check_evidence(const char *text, const char *hash, const char *kbs_nonce, const ccg_jwk *jwk, size_t n,
                           const char *const *archs, const char *host_cc)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_REJECT_DUPLICATES, &jerr), *nv, *list, *e;
    size_t i;
    if (doc == NULL) {
        fail_msg("additional_evidence is not JSON: %s", jerr.text);
    }
    assert_int_equal(json_object_size(doc), 1);
    nv = json_object_get(doc, "nvidia");
    assert_int_equal(json_object_size(nv), 1);
    list = json_object_get(nv, "device_evidence_list");
    assert_true(json_is_array(list));
    assert_int_equal(json_array_size(list), n);
    json_array_foreach(list, i, e) {
        ccg_gpu_evidence_item item;
        uint8_t nonce[CCG_GPU_NONCE_SIZE], other[CCG_GPU_NONCE_SIZE];
        char uuid[64];
        memset(&item, 0, sizeof(item));
        assert_int_equal(json_object_size(e), host_cc != NULL ? 5 : 4);
        assert_string_equal(json_string_value(json_object_get(e, "arch")), archs[i]);
        if (host_cc != NULL) {
            json_t *hs = json_object_get(e, "host_state");
            assert_int_equal(json_object_size(hs), 2);
            assert_string_equal(json_string_value(json_object_get(hs, "cc")), host_cc);
            assert_string_equal(json_string_value(json_object_get(hs, "devtools")), "off");
        }
        snprintf(uuid, sizeof(uuid), "GPU-5eb0c0de-0000-4000-8000-%012zx", i);
        assert_string_equal(json_string_value(json_object_get(e, "uuid")), uuid);
        item.arch = ccg_gpu_arch_from_name(archs[i]);
        item.evidence = b64_decode(json_string_value(json_object_get(e, "evidence")), &item.evidence_len);
        item.certificate = b64_decode(json_string_value(json_object_get(e, "certificate")), &item.certificate_len);
        assert_true(item.certificate_len > 27 && memcmp(item.certificate, "-----BEGIN CERTIFICATE-----", 27) == 0);
        /* Its own index's nonce verifies ... */
        expected_nonce(hash, kbs_nonce, jwk, (uint32_t)i, nonce);
        memcpy(item.nonce, nonce, sizeof(nonce));
        verify_entry(&item, nonce, CCG_R_OK);
        /* ... another index's does not, nor the same index under another hash. */
        expected_nonce(hash, kbs_nonce, jwk, (uint32_t)(i + 1), other);
        memcpy(item.nonce, other, sizeof(other));
        verify_entry(&item, other, CCG_R_GPU_NONCE_MISMATCH);
        expected_nonce(strcmp(hash, "sha384") == 0 ? "sha512" : "sha384", kbs_nonce, jwk, (uint32_t)i, other);
        memcpy(item.nonce, other, sizeof(other));
        verify_entry(&item, other, CCG_R_GPU_NONCE_MISMATCH);
        free(item.evidence);
        free(item.certificate);
    }
    json_decref(doc);
}

static ccg_jwk *fresh_jwk(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    ccg_jwk *jwk = NULL;
    assert_non_null(k);
    assert_true(ccg_ok(ccg_jwk_from_pkey(k, NULL, &jwk)));
    EVP_PKEY_free(k);
    return jwk;
}

static const char *const HOPPER_BLACKWELL[] = {"HOPPER", "BLACKWELL"};

/* ---------------------------------------------------------------- evidence through the API */

static void evidence_binds_each_gpu_to_its_nonce(void **state)
{
    ccg_agent_gpu *g = NULL;
    ccg_jwk *jwk = fresh_jwk();
    char *text = NULL;
    unsigned n = 0;
    (void)state;
    assert_true(ccg_ok(ccg_agent_gpu_open(nvml_stub(), &g)));
    assert_true(ccg_ok(ccg_agent_gpu_evidence(g, "sha384", "n0nce-a", jwk, &text, &n)));
    assert_int_equal(n, 2);
    check_evidence(text, "sha384", "n0nce-a", jwk, 2, HOPPER_BLACKWELL, NULL);
    free(text);
    /* The hash the Challenge selects changes D, so every nonce. */
    assert_true(ccg_ok(ccg_agent_gpu_evidence(g, "sha512", "n0nce-a", jwk, &text, &n)));
    check_evidence(text, "sha512", "n0nce-a", jwk, 2, HOPPER_BLACKWELL, NULL);
    free(text);
    /* One GPU: a list of one. */
    setenv("CCG_NVML_STUB_COUNT", "1", 1);
    assert_true(ccg_ok(ccg_agent_gpu_evidence(g, "sha256", "n0nce-b", jwk, &text, &n)));
    assert_int_equal(n, 1);
    check_evidence(text, "sha256", "n0nce-b", jwk, 1, HOPPER_BLACKWELL, NULL);
    free(text);
    /* A hash the protocol does not name is the caller's error. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_evidence(g, "md5", "n0nce-b", jwk, &text, &n)));
    assert_null(text);
    ccg_agent_gpu_close(g);
    ccg_jwk_free(jwk);
}

/* A real H100 report served as it is: the agent passes it on (it verifies nothing itself), and the
 * verifier the broker runs refuses it, because NVIDIA signed its own nonce, not this session's. */
static void real_vector_passes_through_unverified(void **state)
{
    ccg_agent_gpu *g = NULL;
    ccg_jwk *jwk = fresh_jwk();
    char *text = NULL;
    unsigned n = 0;
    json_t *doc, *e;
    ccg_gpu_evidence_item item;
    ccg_gpu_result *res = calloc(1, sizeof(*res));
    ccg_gpu_verifier *plain = NULL;
    ccg_decision d;
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    (void)state;
    assert_non_null(res);
    unsetenv("CCG_NVML_STUB_GPU_STATE");
    setenv("CCG_NVML_STUB_COUNT", "1", 1);
    setenv("CCG_NVML_STUB_GPU_REPORT", tu_vector_path(V_REPORT), 1);
    setenv("CCG_NVML_STUB_GPU_CERTS", tu_vector_path(V_CERTS), 1);
    assert_true(ccg_ok(ccg_agent_gpu_open(nvml_stub(), &g)));
    assert_true(ccg_ok(ccg_agent_gpu_evidence(g, "sha384", "n0nce-r", jwk, &text, &n)));
    doc = json_loads(text, 0, NULL);
    e = json_array_get(json_object_get(json_object_get(doc, "nvidia"), "device_evidence_list"), 0);
    assert_string_equal(json_string_value(json_object_get(e, "arch")), "HOPPER");
    memset(&item, 0, sizeof(item));
    item.arch = CCG_GPU_ARCH_HOPPER;
    item.evidence = b64_decode(json_string_value(json_object_get(e, "evidence")), &item.evidence_len);
    item.certificate = b64_decode(json_string_value(json_object_get(e, "certificate")), &item.certificate_len);
    expected_nonce("sha384", "n0nce-r", jwk, 0, nonce);
    memcpy(item.nonce, nonce, sizeof(nonce));
    assert_true(ccg_ok(ccg_gpu_verifier_new(&plain)));
    assert_true(ccg_ok(ccg_gpu_verify_item(plain, &item, nonce, tu_time("2025-06-01T00:00:00Z"), res, &d)));
    assert_false(d.allow);
    assert_int_equal(res->signature, CCG_GPU_CHECK_PASSED); /* NVIDIA's genuine signature ... */
    assert_int_equal(res->nonce, CCG_GPU_CHECK_FAILED);     /* ... over another nonce */
    ccg_decision_free(&d);
    ccg_gpu_verifier_free(plain);
    free(item.evidence);
    free(item.certificate);
    json_decref(doc);
    free(text);
    free(res);
    ccg_agent_gpu_close(g);
    ccg_jwk_free(jwk);
}

/* With the stub as it is set: the evidence call fails with want and a message naming part. */
static void evidence_fails_now(const char *what, ccg_reason want, const char *part)
{
    ccg_agent_gpu *g = NULL;
    ccg_jwk *jwk = fresh_jwk();
    char *text = NULL;
    unsigned n = 7;
    assert_true(ccg_ok(ccg_agent_gpu_open(nvml_stub(), &g)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_evidence(g, "sha384", "n0nce-f", jwk, &text, &n)));
    tu_assert_error_reason(want);
    if (strstr(ccg_error_last()->message, part) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", ccg_error_last()->message, part);
    }
    assert_null(text);
    assert_int_equal(n, 0);
    print_message("  %-36s -> %-24s %s\n", what, ccg_reason_code(want), ccg_error_last()->message);
    ccg_agent_gpu_close(g);
    ccg_jwk_free(jwk);
}

/* Two software GPUs and one stub setting. */
static void evidence_fails(const char *var, const char *value, ccg_reason want, const char *part)
{
    char what[128];
    two_gpus(NULL);
    setenv(var, value, 1);
    snprintf(what, sizeof(what), "%s=%s", var + strlen("CCG_NVML_STUB_"), value);
    evidence_fails_now(what, want, part);
}

static void nvml_failures_give_their_codes(void **state)
{
    ccg_agent_gpu *g = NULL;
    (void)state;
    (void)nvml_stub();
    evidence_fails("CCG_NVML_STUB_GPU_STATE", "/nonexistent", CCG_R_GPU_EVIDENCE_UNAVAILABLE,
                   "nvmlDeviceGetConfComputeGpuAttestationReport(GPU 0)");
    evidence_fails("CCG_NVML_STUB_ATTEST_FAIL", "report", CCG_R_GPU_EVIDENCE_UNAVAILABLE,
                   "nvmlDeviceGetConfComputeGpuAttestationReport(GPU 0): 999");
    evidence_fails("CCG_NVML_STUB_ATTEST_FAIL", "cert", CCG_R_GPU_EVIDENCE_UNAVAILABLE,
                   "nvmlDeviceGetConfComputeGpuCertificate(GPU 0): 999");
    evidence_fails("CCG_NVML_STUB_REPORT_SIZE", "empty", CCG_R_GPU_EVIDENCE_MALFORMED, "a report of 0 bytes");
    evidence_fails("CCG_NVML_STUB_REPORT_SIZE", "oversized", CCG_R_GPU_EVIDENCE_MALFORMED, "a report of 8193 bytes");
    evidence_fails("CCG_NVML_STUB_CERT_SIZE", "oversized", CCG_R_GPU_EVIDENCE_MALFORMED, "chain of 5121 bytes");
    evidence_fails("CCG_NVML_STUB_ARCH", "8", CCG_R_GPU_ARCH_UNSUPPORTED, "architecture 8");
    evidence_fails("CCG_NVML_STUB_ARCH", "fail", CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetArchitecture(GPU 0): 3");
    evidence_fails("CCG_NVML_STUB_UUID", "fail", CCG_R_GPU_NVML_ERROR, "nvmlDeviceGetUUID(GPU 0): 999");
    evidence_fails("CCG_NVML_STUB_UUID", "bad", CCG_R_GPU_NVML_ERROR, "byte 0x22");
    evidence_fails("CCG_NVML_STUB_COUNT", "0", CCG_R_GPU_ABSENT, "no GPU");
    evidence_fails("CCG_NVML_STUB_COUNT", "17", CCG_R_GPU_EVIDENCE_UNAVAILABLE, "at most 16");
    /* A chain that is not PEM text: too short, another header, a NUL inside. */
    static const char short_text[] = "not a certificate";
    static const char other_text[] = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n";
    static const char nul_text[] = "-----BEGIN CERTIFICATE-----\nMIIB\0AAAA\n-----END CERTIFICATE-----\n";
    const struct {
        const char *name, *text;
        size_t len;
    } junk[] = {{"short.pem", short_text, sizeof(short_text) - 1},
                {"other.pem", other_text, sizeof(other_text) - 1},
                {"nul.pem", nul_text, sizeof(nul_text) - 1}};
    for (size_t k = 0; k < sizeof(junk) / sizeof(junk[0]); k++) {
        char path[128], what[64];
        snprintf(path, sizeof(path), "%s/%s", W.dir, junk[k].name);
        write_file(path, junk[k].text, junk[k].len);
        two_gpus(NULL);
        unsetenv("CCG_NVML_STUB_GPU_STATE");
        setenv("CCG_NVML_STUB_COUNT", "1", 1);
        setenv("CCG_NVML_STUB_GPU_REPORT", tu_vector_path(V_REPORT), 1);
        setenv("CCG_NVML_STUB_GPU_CERTS", path, 1);
        snprintf(what, sizeof(what), "GPU_CERTS=%s", junk[k].name);
        evidence_fails_now(what, CCG_R_GPU_EVIDENCE_MALFORMED, "not PEM text");
    }
    /* The ready state. */
    two_gpus(NULL);
    assert_true(ccg_ok(ccg_agent_gpu_open(nvml_stub(), &g)));
    assert_true(ccg_ok(ccg_agent_gpu_set_ready(g, 0)));
    setenv("CCG_NVML_STUB_READY_FAIL", "1", 1);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_set_ready(g, 1)));
    tu_assert_error_reason(CCG_R_GPU_READY_STATE_FAILED);
    unsetenv("CCG_NVML_STUB_READY_FAIL");
    setenv("CCG_NVML_STUB_CC", "off", 1); /* NVML has no ready state without CC mode */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_set_ready(g, 1)));
    tu_assert_error_reason(CCG_R_GPU_READY_STATE_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "Not Supported"));
    ccg_agent_gpu_close(g);
    /* NVML that cannot be loaded, or a driver without the CC attestation calls. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_open("libc.so.6", &g)));
    tu_assert_error_reason(CCG_R_GPU_NVML_UNAVAILABLE);
    assert_null(g);
    const char *old = getenv("CCG_NVML_STUB_OLD");
    if (old == NULL || old[0] == 0) {
        tu_skip_or_fail("$CCG_NVML_STUB_OLD is not set (cmake/agent.cmake builds it)");
    }
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_open(old, &g)));
    tu_assert_error_reason(CCG_R_GPU_NVML_UNAVAILABLE);
    assert_non_null(strstr(ccg_error_last()->message, "lacks nvmlDeviceGetConfComputeGpuAttestationReport"));
    assert_null(g);
    setenv("CCG_NVML_STUB_INIT", "fail", 1);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_gpu_open(nvml_stub(), &g)));
    tu_assert_error_reason(CCG_R_GPU_NVML_UNAVAILABLE);
}

/* Closing a session that set the ready state clears it; one that did not leaves it alone. */
static void close_clears_a_ready_state_it_set(void **state)
{
    ccg_agent_gpu *g = NULL;
    char ready[128];
    char *text;
    (void)state;
    snprintf(ready, sizeof(ready), "%s/ready-close", W.dir);
    unlink(ready);
    setenv("CCG_NVML_STUB_READY_FILE", ready, 1);
    assert_true(ccg_ok(ccg_agent_gpu_open(nvml_stub(), &g)));
    ccg_agent_gpu_close(g);
    assert_int_not_equal(access(ready, F_OK), 0);
    assert_true(ccg_ok(ccg_agent_gpu_open(nvml_stub(), &g)));
    assert_true(ccg_ok(ccg_agent_gpu_set_ready(g, 1)));
    ccg_agent_gpu_close(g);
    text = tu_read_text(ready);
    assert_non_null(text);
    assert_string_equal(text, "ready=1\nready=0\n");
    free(text);
    unlink(ready);
}

/* ---------------------------------------------------------------- the agent against the stand-in broker */

typedef struct {
    pid_t pid;
    char config[128], err[128], report[128], status_port[128], ready[128];
    int exit_status;
    json_t *failure; /* the "failed" log line */
} agent_run;

static void write_config(agent_run *r, const char *artifact)
{
    json_t *doc = json_pack(
        "{s:{s:s,s:s},s:{s:s,s:b,s:i},s:{s:s,s:i},s:{s:s,s:s},s:{s:b,s:s},s:{s:[s,s]},s:{s:s,s:s},s:s}", "attester",
        "kind", "emulator", "emulator_dir", W.snp_dir, "broker", "url", W.base, "insecure_http", 1, "timeout", 60,
        "key", "resource", KEY_PATH, "version", 1, "artifact", "location", artifact, "provider_key", W.provider_pub,
        "gpu", "required", 1, "nvml_library", nvml_stub(), "server", "argv", getenv("CCG_MODEL_SERVER_STUB"),
        r->report, "status", "listen", "127.0.0.1:0", "port_file", r->status_port, "memlock", "best-effort");
    char *text;
    assert_non_null(doc);
    text = json_dumps(doc, JSON_INDENT(1));
    write_file(r->config, text, strlen(text));
    free(text);
    json_decref(doc);
}

static void require_agent(void)
{
    const char *a = getenv("CCG_AGENT"), *s = getenv("CCG_MODEL_SERVER_STUB");
    if (a == NULL || a[0] == 0 || s == NULL || s[0] == 0) {
        tu_skip_or_fail("$CCG_AGENT or $CCG_MODEL_SERVER_STUB is not set");
    }
    (void)nvml_stub();
}

/* Starts ccgate-agent with the stub NVML environment of the test and a fresh ready file. */
static void agent_start(agent_run *r, const char *artifact, broker_mode mode, const char *hash)
{
    int n = ++W.runs;
    memset(r, 0, sizeof(*r));
    snprintf(r->config, sizeof(r->config), "%s/agent-%d.json", W.dir, n);
    snprintf(r->err, sizeof(r->err), "%s/agent-%d.err", W.dir, n);
    snprintf(r->report, sizeof(r->report), "%s/server-%d.report", W.dir, n);
    snprintf(r->status_port, sizeof(r->status_port), "%s/agent-%d.port", W.dir, n);
    snprintf(r->ready, sizeof(r->ready), "%s/ready-%d", W.dir, n);
    write_config(r, artifact);
    pthread_mutex_lock(&W.b.mu);
    W.b.mode = mode;
    W.b.hash = hash;
    W.b.auths = W.b.attests = W.b.resources = 0;
    free(W.b.attestation);
    free(W.b.ready_at_release);
    W.b.attestation = W.b.ready_at_release = NULL;
    W.b.ready_file = r->ready;
    memcpy(W.b.key, W.key, sizeof(W.key));
    pthread_mutex_unlock(&W.b.mu);
    setenv("CCG_NVML_STUB_READY_FILE", r->ready, 1);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int err = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0600), null = open("/dev/null", O_WRONLY);
        if (err < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
            _exit(125);
        }
        setenv("CCG_STUB_EXPECT_SHA384", W.model_hex, 1);
        execl(getenv("CCG_AGENT"), getenv("CCG_AGENT"), "--config", r->config, (char *)NULL);
        _exit(127);
    }
}

static void agent_wait(agent_run *r)
{
    int status = 0;
    for (int i = 0; i < 1200; i++) {
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            r->failure = tu_agent_failure_line(r->err);
            return;
        }
        usleep(100 * 1000);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &status, 0);
    fail_msg("the agent did not finish");
}

static void expect_failure(agent_run *r, int exit_status, const char *reason)
{
    agent_wait(r);
    if (r->failure == NULL || r->exit_status != exit_status) {
        char *err = tu_read_text(r->err);
        fail_msg("exit %d (want %d); stderr:\n%s", r->exit_status, exit_status, err != NULL ? err : "");
    }
    assert_string_equal(json_string_value(json_object_get(r->failure, "reason")), reason);
    assert_int_not_equal(access(r->report, F_OK), 0); /* the model server never started */
    assert_false(json_is_true(json_object_get(r->failure, "gpu_ready")));
    print_message("  exit %d: %s\n", r->exit_status, json_string_value(json_object_get(r->failure, "message")));
}

static json_t *get_status(const agent_run *r)
{
    char *port_text = tu_read_text(r->status_port), url[96];
    unsigned port = 0;
    ccg_http_body b;
    CURL *c;
    json_t *o;
    assert_non_null(port_text);
    assert_int_equal(sscanf(port_text, "%u", &port), 1);
    free(port_text);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/status", port);
    memset(&b, 0, sizeof(b));
    c = curl_easy_init();
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_cleanup(c);
    o = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(o);
    ccg_http_body_reset(&b);
    return o;
}

static void wait_for_server(agent_run *r)
{
    for (int i = 0; i < 1200; i++) {
        int status;
        if (access(r->report, F_OK) == 0) {
            return;
        }
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            char *err = tu_read_text(r->err);
            fail_msg("the agent exited (%d) before serving:\n%s", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                     err != NULL ? err : "");
        }
        usleep(100 * 1000);
    }
    kill(r->pid, SIGKILL);
    fail_msg("the model server did not report");
}

/* The Attestation the stand-in broker received: the runtime data is this session's, the CPU report's
 * REPORT_DATA is H(runtime data with the exact additional_evidence string), and that string carries
 * every GPU's evidence over its own nonce. */
static void check_attestation(const char *hash, size_t gpus)
{
    json_t *att, *rd, *ev;
    const char *additional, *report_b64;
    ccg_jwk *jwk = NULL;
    ccg_snp_report rep;
    uint8_t *raw, want[64];
    size_t raw_len = 0;
    pthread_mutex_lock(&W.b.mu);
    att = json_loads(W.b.attestation, 0, NULL);
    assert_non_null(att);
    rd = json_object_get(att, "runtime-data");
    assert_string_equal(json_string_value(json_object_get(rd, "nonce")), W.b.nonce);
    assert_true(ccg_ok(ccg_jwk_parse(json_object_get(rd, "tee-pubkey"), &jwk)));
    ev = json_object_get(att, "tee-evidence");
    additional = json_string_value(json_object_get(ev, "additional_evidence"));
    assert_non_null(additional);
    report_b64 = json_string_value(json_object_get(json_object_get(ev, "primary_evidence"), "attestation_report"));
    assert_non_null(report_b64);
    raw = b64_decode(report_b64, &raw_len);
    assert_true(ccg_ok(ccg_snp_report_parse(raw, raw_len, &rep)));
    assert_true(ccg_ok(ccg_jose_kbs_report_data(hash, W.b.nonce, jwk, additional, want)));
    assert_memory_equal(rep.report_data, want, 64);
    /* The binding is to THIS string: without it (or with another hash) REPORT_DATA differs. */
    assert_true(ccg_ok(ccg_jose_kbs_report_data(hash, W.b.nonce, jwk, "", want)));
    assert_memory_not_equal(rep.report_data, want, 64);
    assert_true(ccg_ok(ccg_jose_kbs_report_data(strcmp(hash, "sha384") == 0 ? "sha512" : "sha384", W.b.nonce, jwk,
                                                additional, want)));
    assert_memory_not_equal(rep.report_data, want, 64);
    check_evidence(additional, hash, W.b.nonce, jwk, gpus, HOPPER_BLACKWELL, attest_host_cc);
    pthread_mutex_unlock(&W.b.mu);
    free(raw);
    ccg_jwk_free(jwk);
    json_decref(att);
}

/* The agent's own log events (component "agent") in order, space-separated, each followed by its
 * gpu_ready ("+" or "-"). */
static char *event_trail(const char *err_path)
{
    char *text = tu_read_text(err_path), *line, *save = NULL, *out = calloc(1, 4096);
    size_t used = 0;
    assert_non_null(text);
    assert_non_null(out);
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
        const char *ev = json_string_value(json_object_get(o, "event"));
        const char *comp = json_string_value(json_object_get(o, "component"));
        if (comp == NULL || strcmp(comp, "agent") != 0) {
            ev = NULL; /* ccgate-endpoint's lines (the front shares the agent's stderr) */
        }
        if (ev != NULL && used < 4096) {
            int n = snprintf(out + used, 4096 - used, "%s%s%s", used > 0 ? " " : "", ev,
                             json_is_true(json_object_get(o, "gpu_ready")) ? "+" : "-");
            used += n > 0 ? (size_t)n : 0;
        }
        json_decref(o);
    }
    free(text);
    return out;
}

static void assert_ready_history(const char *path, const char *want)
{
    char *text = tu_read_text(path);
    if (want == NULL) {
        if (text != NULL) {
            fail_msg("the ready state was set: %s", text);
        }
        return;
    }
    if (text == NULL || strcmp(text, want) != 0) {
        fail_msg("ready history \"%s\", want \"%s\"", text != NULL ? text : "(none)", want);
    }
    free(text);
}

static void ready_only_after_release(void **state)
{
    agent_run r;
    json_t *st;
    int status = 0;
    (void)state;
    require_agent();
    /* The broker selects SHA-512: REPORT_DATA and every GPU nonce follow it. */
    agent_start(&r, W.artifact, BROKER_RELEASE, "sha512");
    wait_for_server(&r);
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.resources, 1);
    /* When the key went out, the GPUs had been cleared and not yet set. */
    assert_non_null(W.b.ready_at_release);
    assert_string_equal(W.b.ready_at_release, "ready=0\n");
    pthread_mutex_unlock(&W.b.mu);
    assert_ready_history(r.ready, "ready=0\nready=1\n");
    check_attestation("sha512", 2);
    st = get_status(&r);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "serving");
    assert_int_equal(json_integer_value(json_object_get(st, "gpus_attested")), 2);
    assert_true(json_is_true(json_object_get(st, "gpu_ready")));
    assert_non_null(strstr(json_string_value(json_object_get(st, "gpu")), "gpus=2 cc=on devtools=off"));
    json_decref(st);
    /* Stopping: the server stops, then the GPUs stop accepting work. */
    kill(r.pid, SIGTERM);
    assert_int_equal(waitpid(r.pid, &status, 0), r.pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_ready_history(r.ready, "ready=0\nready=1\nready=0\n");
    /* The log tells the same story: ready after the key and the unsealing, cleared before "stopped". */
    char *trail = event_trail(r.err);
    const char *want = "broker.insecure_http- starting- gpu.host_claim- attesting- attester.emulator- key.released- "
                       "gpu.ready+ serving+ gpu.not_ready- stopped-";
    if (strcmp(trail, want) != 0) {
        fail_msg("events \"%s\", want \"%s\"", trail, want);
    }
    free(trail);
}

static void denied_never_ready(void **state)
{
    agent_run r;
    (void)state;
    require_agent();
    agent_start(&r, W.artifact, BROKER_DENY, NULL);
    expect_failure(&r, 15, "gpu.nonce_mismatch");
    assert_string_equal(json_string_value(json_object_get(r.failure, "request_id")), "req-gpu-test");
    assert_int_equal(json_integer_value(json_object_get(r.failure, "policy_version")), 3);
    assert_int_equal(json_integer_value(json_object_get(r.failure, "gpus_attested")), 0);
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.attests, 1);
    assert_int_equal(W.b.resources, 0);
    pthread_mutex_unlock(&W.b.mu);
    check_attestation("sha384", 2); /* no selection: the protocol's default */
    assert_ready_history(r.ready, "ready=0\n");
    json_decref(r.failure);
}

static void unseal_failure_never_ready(void **state)
{
    agent_run r;
    (void)state;
    require_agent();
    agent_start(&r, W.tampered, BROKER_RELEASE, NULL);
    expect_failure(&r, 14, "artifact.chunk_auth_failed");
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.resources, 1); /* the key was released ... */
    pthread_mutex_unlock(&W.b.mu);
    assert_ready_history(r.ready, "ready=0\n"); /* ... and the GPUs never accepted work */
    assert_int_equal(json_integer_value(json_object_get(r.failure, "gpus_attested")), 2);
    json_decref(r.failure);
}

static void evidence_failure_sends_nothing(void **state)
{
    agent_run r;
    (void)state;
    require_agent();
    setenv("CCG_NVML_STUB_ATTEST_FAIL", "cert", 1);
    agent_start(&r, W.artifact, BROKER_RELEASE, NULL);
    expect_failure(&r, 15, "gpu.evidence_unavailable");
    unsetenv("CCG_NVML_STUB_ATTEST_FAIL");
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.auths, 1);
    assert_int_equal(W.b.attests, 0);
    pthread_mutex_unlock(&W.b.mu);
    assert_ready_history(r.ready, "ready=0\n");
    json_decref(r.failure);
}

/* The host says CC off: the agent still attests with the evidence NVML gives and host_state "cc":"off",
 * so the broker refuses it with its request ID and policy version. A broker that releases anyway (its
 * policy appraises no GPU) gets nowhere: the agent never unseals, and the ready state is never touched. */
static void host_cc_off_goes_to_the_broker(void **state)
{
    agent_run r;
    (void)state;
    require_agent();
    setenv("CCG_NVML_STUB_CC", "off", 1);
    agent_start(&r, W.artifact, BROKER_DENY, NULL);
    expect_failure(&r, 15, "gpu.nonce_mismatch"); /* the stand-in broker's own reason */
    assert_string_equal(json_string_value(json_object_get(r.failure, "request_id")), "req-gpu-test");
    attest_host_cc = "off";
    check_attestation("sha384", 2);
    assert_ready_history(r.ready, NULL);
    json_decref(r.failure);
    agent_start(&r, W.artifact, BROKER_RELEASE, NULL);
    expect_failure(&r, 15, "gpu.cc_mode_off");
    check_attestation("sha384", 2);
    attest_host_cc = "on";
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.resources, 1); /* released, yet never unsealed */
    pthread_mutex_unlock(&W.b.mu);
    assert_int_not_equal(access(r.report, F_OK), 0);
    assert_ready_history(r.ready, NULL);
    json_decref(r.failure);
    /* No evidence from NVML with CC off: nothing to send, the local code is CC off. */
    setenv("CCG_NVML_STUB_ATTEST_FAIL", "1", 1);
    agent_start(&r, W.artifact, BROKER_RELEASE, NULL);
    expect_failure(&r, 15, "gpu.cc_mode_off");
    unsetenv("CCG_NVML_STUB_ATTEST_FAIL");
    unsetenv("CCG_NVML_STUB_CC");
    assert_non_null(strstr(json_string_value(json_object_get(r.failure, "message")), "gives no evidence"));
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.attests, 0);
    pthread_mutex_unlock(&W.b.mu);
    assert_ready_history(r.ready, NULL);
    json_decref(r.failure);
}

/* A Challenge selecting a hash the protocol does not name: a protocol error, nothing is sent. */
static void unknown_hash_selection_sends_nothing(void **state)
{
    agent_run r;
    (void)state;
    require_agent();
    agent_start(&r, W.artifact, BROKER_RELEASE, "md5");
    expect_failure(&r, 13, "agent.broker_protocol");
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.attests, 0);
    pthread_mutex_unlock(&W.b.mu);
    assert_ready_history(r.ready, "ready=0\n");
    json_decref(r.failure);
}

static void ready_state_failure_stops_the_start(void **state)
{
    agent_run r;
    (void)state;
    require_agent();
    setenv("CCG_NVML_STUB_READY_FAIL", "1", 1);
    agent_start(&r, W.artifact, BROKER_RELEASE, NULL);
    expect_failure(&r, 15, "gpu.ready_state_failed");
    unsetenv("CCG_NVML_STUB_READY_FAIL");
    pthread_mutex_lock(&W.b.mu);
    assert_int_equal(W.b.auths, 0); /* clearing it at start failed: nothing was asked */
    pthread_mutex_unlock(&W.b.mu);
    json_decref(r.failure);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup(fn, two_gpus)
    const struct CMUnitTest tests[] = {
        T(evidence_binds_each_gpu_to_its_nonce),
        T(real_vector_passes_through_unverified),
        T(nvml_failures_give_their_codes),
        T(close_clears_a_ready_state_it_set),
        T(ready_only_after_release),
        T(denied_never_ready),
        T(unseal_failure_never_ready),
        T(evidence_failure_sends_nothing),
        T(host_cc_off_goes_to_the_broker),
        T(unknown_hash_selection_sends_nothing),
        T(ready_state_failure_stops_the_start),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, world_setup, world_teardown);
    curl_global_cleanup();
    return rc;
}
