/* End to end: the real ccgate-kbs daemon on an ephemeral 127.0.0.1 port, a real SoftHSM2 token
 * initialised here, and evidence from the SNP emulator. The guest side is written as a KBS 0.4.0
 * guest does it: its own P-256 key as a JWK, REPORT_DATA = SHA-384 of the RFC 8785 JSON of
 * {"additional-evidence","nonce","tee-pubkey"} zero-padded to 64 bytes, the SNP attester's evidence
 * JSON, the kbs-session-id cookie or a bearer token, and the JWE decrypted with its private key.
 *
 * Needs softhsm2 ($CCG_SOFTHSM2_MODULE or Debian's path) and the daemon ($CCG_KBS, set by ctest);
 * skips without them unless CI=true. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <microhttpd.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ccgate/http_body.h"
#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/secmem.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_report.h"
#include "ccgate/store.h"

#include "testutil.h"
#include "tcb_util.h"

/* Response bodies are collected by ccgate's bounded collector. */
typedef ccg_http_body buf;

#define USER_PIN "4321"
#define SO_PIN "87654321"
#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define KEY_A "default/model/a"
#define KEY_B "default/model/b"
#define KEY_C "default/model/c"
#define NONCE_TTL 4

static const uint8_t MODEL_KEY_A[32] = {0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
                                        0xcc, 0xdd, 0xee, 0xff, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
                                        0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10};

static const uint8_t MODEL_KEY_C2[32] = {0xc2, 0xc2, 0xc2, 0xc2, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                         0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12,
                                         0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c};

typedef struct {
    char dir[256];
    char config[300];
    char tokens[300];
    char port_file[300];
    char base[64];
    pid_t daemon;
    ccg_snp_emulator *emu;
    uint8_t measurement[48];
    int skipped;
} world;

static world W;

/* ---------------------------------------------------------------- processes and files */

static int run(char *const argv[])
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *module_path(void)
{
    const char *env = getenv("CCG_SOFTHSM2_MODULE");
    return env != NULL && env[0] != 0 ? env : DEFAULT_MODULE;
}

static const char *kbs_path(void) { return getenv("CCG_KBS"); }

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static int kbs_cmd(const char *cmd, const char *a1, const char *v1, const char *a2, const char *v2, const char *a3,
                   const char *v3)
{
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)kbs_path();
    argv[n++] = (char *)cmd;
    argv[n++] = "--config";
    argv[n++] = W.config;
    if (a1 != NULL) {
        argv[n++] = (char *)a1;
        argv[n++] = (char *)v1;
    }
    if (a2 != NULL) {
        argv[n++] = (char *)a2;
        argv[n++] = (char *)v2;
    }
    if (a3 != NULL) {
        argv[n++] = (char *)a3;
        argv[n++] = (char *)v3;
    }
    argv[n] = NULL;
    return run(argv);
}

static char *pem_of(X509 *cert)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long n;
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, cert), 1);
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* The release policy "model-a": the emulator's root named explicitly, one measurement, the
 * emulator's TCB as the minimum, debug refused (the snp_policy default). */
static void write_policy(const char *path)
{
    const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(W.emu);
    char *pem = pem_of(ccg_snp_emulator_ark(W.emu));
    char hex[97];
    json_t *doc;
    char *text;
    ccg_hex_encode(W.measurement, 48, hex);
    doc = json_pack("{s:s,s:i,s:[s],s:b,s:[{s:s,s:s}],s:{s:s,s:i,s:b,s:b,s:{s:i,s:i,s:i,s:i},s:[s]}}", "policy_id",
                    "model-a", "version", 1, "allowed_tees", "snp", "gpu_required", 0, "trusted_roots", "product",
                    "milan", "pem", pem, "snp_policy", "policy_id", "model-a-snp", "version", 1, "debug_allowed", 0,
                    "migration_agent_allowed", 0, "minimum_tcb", "bootloader", cfg->tcb.bootloader, "tee",
                    cfg->tcb.tee, "snp", cfg->tcb.snp, "microcode", cfg->tcb.microcode, "allowed_measurements", hex);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    write_text(path, text);
    free(text);
    free(pem);
    json_decref(doc);
}

static void wait_for_port(void)
{
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(W.port_file, "r");
        unsigned port = 0;
        if (f != NULL) {
            int ok = fscanf(f, "%u", &port);
            fclose(f);
            if (ok == 1 && port > 0) {
                snprintf(W.base, sizeof(W.base), "http://127.0.0.1:%u", port);
                return;
            }
        }
        int status;
        assert_int_equal(waitpid(W.daemon, &status, WNOHANG), 0); /* the daemon must not have exited */
        usleep(50 * 1000);
    }
    fail_msg("the daemon did not report its port");
}

static int group_setup(void **state)
{
    char path[400], text[2048], conf[400];
    ccg_snp_emulator_config ecfg;
    (void)state;
    memset(&W, 0, sizeof(W));
    char *const probe[] = {"softhsm2-util", "--version", NULL};
    if (kbs_path() == NULL || access(module_path(), R_OK) != 0 || run(probe) != 0) {
        W.skipped = 1;
        return 0;
    }
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-kbs-e2e-XXXXXX");
    if (mkdtemp(W.dir) == NULL) {
        return -1;
    }
    snprintf(W.tokens, sizeof(W.tokens), "%s/tokens", W.dir);
    snprintf(W.config, sizeof(W.config), "%s/kbs.json", W.dir);
    snprintf(W.port_file, sizeof(W.port_file), "%s/port", W.dir);
    if (mkdir(W.tokens, 0700) != 0) {
        return -1;
    }
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", W.dir);
    snprintf(text, sizeof(text),
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
             W.tokens);
    write_text(conf, text);
    setenv("SOFTHSM2_CONF", conf, 1);
    char *const init[] = {"softhsm2-util", "--init-token", "--free", "--label", "ccgate", "--so-pin", SO_PIN,
                          "--pin",         USER_PIN,       NULL};
    if (run(init) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/pin", W.dir);
    write_text(path, USER_PIN);
    chmod(path, 0600);
    char *tcb = tu_write_tcb_config(W.dir);
    snprintf(text, sizeof(text),
             "{\"address\":\"127.0.0.1\",\"port\":0,\"store\":\"%s/kbs.db\",\"nonce_ttl\":%d,\"token_ttl\":600,"
             "\"attestation_policy\":\"model-a\",\"allow_unlocked_memory\":true,\"threads\":2,"
             "\"keystore\":{\"backend\":\"pkcs11\",\"module\":\"%s\",\"token_label\":\"ccgate\",\"pin_file\":\"%s\"},%s}",
             W.dir, NONCE_TTL, module_path(), path, tcb); /* the emulator's TCB: an UpToDate baseline */
    free(tcb);
    write_text(W.config, text);

    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&ecfg, &W.emu))) {
        return -1;
    }
    for (int i = 0; i < 48; i++) {
        W.measurement[i] = (uint8_t)(0xa0 + i);
    }
    /* Provisioning through the daemon's own commands. */
    if (kbs_cmd("create-kek", NULL, NULL, NULL, NULL, NULL, NULL) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/policy.json", W.dir);
    write_policy(path);
    if (kbs_cmd("set-policy", "--file", path, NULL, NULL, NULL, NULL) != 0) {
        return -1;
    }
    snprintf(path, sizeof(path), "%s/key-a", W.dir);
    FILE *f = fopen(path, "wb");
    fwrite(MODEL_KEY_A, 1, sizeof(MODEL_KEY_A), f);
    fclose(f);
    if (kbs_cmd("import-key", "--key-id", KEY_A, "--policy-id", "model-a", "--file", path) != 0 ||
        kbs_cmd("import-key", "--key-id", KEY_B, "--policy-id", "model-a", "--file", path) != 0 ||
        kbs_cmd("import-key", "--key-id", KEY_C, "--policy-id", "model-a", "--file", path) != 0) {
        return -1;
    }
    W.daemon = fork();
    if (W.daemon == 0) {
        execl(kbs_path(), kbs_path(), "serve", "--config", W.config, "--insecure-http", "--port-file", W.port_file,
              (char *)NULL);
        _exit(127);
    }
    return W.daemon > 0 ? 0 : -1;
}

static void rm_tree(const char *dir)
{
    char *const argv[] = {"rm", "-rf", (char *)dir, NULL};
    (void)run(argv);
}

static int group_teardown(void **state)
{
    (void)state;
    if (W.daemon > 0) {
        int status;
        kill(W.daemon, SIGTERM);
        waitpid(W.daemon, &status, 0);
    }
    ccg_snp_emulator_free(W.emu);
    if (W.dir[0] != 0) {
        rm_tree(W.dir);
    }
    return 0;
}

static void require_world(void)
{
    if (W.skipped) {
        tu_skip_or_fail("SoftHSM2 or the ccgate-kbs binary is missing");
    }
    if (W.base[0] == 0) {
        wait_for_port();
    }
}

/* ---------------------------------------------------------------- HTTP */

/* One guest: its own curl handle (cookie engine on), its own key. */
typedef struct {
    CURL *curl;
    EVP_PKEY *priv;
    json_t *jwk;
    char nonce[160];
    json_t *attestation;
    const char *base;   /* NULL: the plain-HTTP daemon */
    const char *cainfo; /* the TLS daemon's certificate */
} guest;

static long http(guest *g, const char *method, const char *path, const char *body, const char *bearer, buf *out)
{
    char url[512], auth[8192];
    struct curl_slist *headers = NULL;
    long code = 0;
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", g->base != NULL ? g->base : W.base, path);
    if (g->cainfo != NULL) {
        curl_easy_setopt(g->curl, CURLOPT_CAINFO, g->cainfo);
    }
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, out);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (bearer != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(g->curl, CURLOPT_HTTPHEADER, headers);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(g->curl, CURLOPT_POSTFIELDS, body);
    } else {
        curl_easy_setopt(g->curl, CURLOPT_HTTPGET, 1L);
    }
    assert_int_equal(curl_easy_perform(g->curl), CURLE_OK);
    curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    return code;
}

static void guest_init_kind(guest *g, int rsa)
{
    ccg_jwk *jwk = NULL;
    memset(g, 0, sizeof(*g));
    g->curl = curl_easy_init();
    assert_non_null(g->curl);
    curl_easy_setopt(g->curl, CURLOPT_COOKIEFILE, "");
    g->priv = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
    assert_non_null(g->priv);
    assert_true(ccg_ok(ccg_jwk_from_pkey(g->priv, NULL, &jwk)));
    g->jwk = ccg_jwk_to_json(jwk);
    assert_non_null(g->jwk);
    ccg_jwk_free(jwk);
}

static void guest_init(guest *g) { guest_init_kind(g, 0); }

static void guest_free(guest *g)
{
    curl_easy_cleanup(g->curl);
    EVP_PKEY_free(g->priv);
    json_decref(g->jwk);
    json_decref(g->attestation);
}

static void guest_auth(guest *g)
{
    buf b;
    json_t *ch;
    assert_int_equal(http(g, "POST", "/kbs/v0/auth", "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}",
                          NULL, &b),
                     200);
    ch = json_loads(b.data, 0, NULL);
    assert_non_null(ch);
    assert_true(json_is_string(json_object_get(ch, "nonce")));
    assert_true(json_is_object(json_object_get(ch, "extra-params")));
    snprintf(g->nonce, sizeof(g->nonce), "%s", json_string_value(json_object_get(ch, "nonce")));
    json_decref(ch);
    free(b.data);
}

static char *b64(const uint8_t *p, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

static char *der_b64(X509 *c)
{
    unsigned char *der = NULL;
    int n = i2d_X509(c, &der);
    char *out;
    assert_true(n > 0);
    out = b64(der, (size_t)n);
    OPENSSL_free(der);
    return out;
}

typedef enum { EV_GOOD, EV_WRONG_MEASUREMENT, EV_DEBUG, EV_LOW_TCB } evidence_kind;

/* Builds the Attestation for the guest's current nonce: runtime data hashed into REPORT_DATA. */
static void guest_build_attestation(guest *g, evidence_kind kind)
{
    json_t *runtime;
    char *canon = NULL, *report_b64, *vcek, *ask;
    size_t canon_len = 0;
    unsigned int md_len = 0;
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];

    runtime = json_pack("{s:s,s:s,s:O}", "additional-evidence", "", "nonce", g->nonce, "tee-pubkey", g->jwk);
    assert_non_null(runtime);
    assert_true(ccg_ok(ccg_jcs_serialize(runtime, &canon, &canon_len)));
    json_decref(runtime);

    ccg_snp_emulator_default_report(W.emu, &r);
    memset(r.report_data, 0, sizeof(r.report_data));
    assert_int_equal(EVP_Digest(canon, canon_len, r.report_data, &md_len, EVP_sha384(), NULL), 1);
    assert_int_equal(md_len, 48);
    free(canon);
    memcpy(r.measurement, W.measurement, 48);
    if (kind == EV_WRONG_MEASUREMENT) {
        r.measurement[0] ^= 0xff;
    } else if (kind == EV_DEBUG) {
        r.policy |= 1ull << 19;
    } else if (kind == EV_LOW_TCB) {
        ccg_snp_tcb low = ccg_snp_emulator_config_of(W.emu)->tcb;
        low.snp = (uint8_t)(low.snp - 1);
        r.launch_tcb = ccg_snp_tcb_encode(CCG_SNP_PRODUCT_MILAN, &low);
    }
    assert_true(ccg_ok(ccg_snp_emulator_sign(W.emu, &r, bytes)));
    report_b64 = b64(bytes, sizeof(bytes));
    vcek = der_b64(ccg_snp_emulator_vcek(W.emu));
    ask = der_b64(ccg_snp_emulator_ask(W.emu));
    json_decref(g->attestation);
    g->attestation = json_pack(
        "{s:{s:s,s:O},s:{s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},s:s}}", "runtime-data", "nonce", g->nonce, "tee-pubkey",
        g->jwk, "tee-evidence", "primary_evidence", "attestation_report", report_b64, "cert_chain", "cert_type", "VCEK",
        "data", vcek, "cert_type", "ASK", "data", ask, "additional_evidence", "");
    assert_non_null(g->attestation);
    free(report_b64);
    free(vcek);
    free(ask);
}

static long guest_attest(guest *g, buf *out)
{
    char *body = json_dumps(g->attestation, JSON_COMPACT);
    long code = http(g, "POST", "/kbs/v0/attest", body, NULL, out);
    free(body);
    return code;
}

static void assert_reason(const buf *b, const char *code)
{
    json_t *body = json_loads(b->data, 0, NULL);
    json_t *reasons = json_object_get(body, "reasons");
    size_t i;
    json_t *v;
    int found = 0;
    if (body == NULL) {
        fail_msg("not JSON: %s", b->data);
    }
    assert_true(json_is_string(json_object_get(body, "type")));
    assert_true(json_is_string(json_object_get(body, "detail")));
    assert_true(json_is_string(json_object_get(body, "request_id")));
    json_array_foreach(reasons, i, v) {
        found |= strcmp(json_string_value(v), code) == 0;
    }
    if (!found) {
        fail_msg("reason %s missing in %s", code, b->data);
    }
    json_decref(body);
}

static void assert_policy_named(const buf *b)
{
    json_t *body = json_loads(b->data, 0, NULL);
    assert_non_null(body);
    assert_string_equal(json_string_value(json_object_get(body, "policy_id")), "model-a");
    assert_int_equal(json_integer_value(json_object_get(body, "policy_version")), 1);
    json_decref(body);
}

static char *guest_attested(guest *g)
{
    buf b;
    json_t *t;
    char *token;
    guest_auth(g);
    guest_build_attestation(g, EV_GOOD);
    long code = guest_attest(g, &b);
    if (code != 200) {
        fail_msg("attest: %ld %s", code, b.data);
    }
    t = json_loads(b.data, 0, NULL);
    assert_non_null(t);
    token = strdup(json_string_value(json_object_get(t, "token")));
    json_decref(t);
    free(b.data);
    return token;
}

static void assert_key(guest *g, const buf *b, const uint8_t *want, size_t want_len)
{
    ccg_secbuf plain;
    assert_true(ccg_ok(ccg_jwe_decrypt_text(g->priv, b->data, b->len, 1, &plain)));
    assert_int_equal(plain.len, want_len);
    assert_memory_equal(plain.data, want, want_len);
    ccg_secbuf_free(&plain);
}

static void assert_key_a(guest *g, const buf *b)
{
    assert_key(g, b, MODEL_KEY_A, sizeof(MODEL_KEY_A));
    /* The protected header a guest rebuilds the AAD from: alg, enc, epk in this order. */
    json_t *jwe = json_loads(b->data, 0, NULL);
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    const char *prot = json_string_value(json_object_get(jwe, "protected"));
    assert_non_null(prot);
    assert_true(ccg_ok(ccg_b64url_decode(prot, strlen(prot), CCG_R_JOSE_JWE_INVALID, &hdr, &hdr_len)));
    assert_true(hdr_len > 40);
    assert_memory_equal(hdr, "{\"alg\":\"ECDH-ES+A256KW\",\"enc\":\"A256GCM\",\"epk\":{", 47);
    free(hdr);
    json_decref(jwe);
}

/* ---------------------------------------------------------------- tests */

static void health_endpoints(void **state)
{
    guest g;
    buf b;
    (void)state;
    require_world();
    guest_init(&g);
    assert_int_equal(http(&g, "GET", "/healthz", NULL, NULL, &b), 200);
    free(b.data);
    assert_int_equal(http(&g, "GET", "/readyz", NULL, NULL, &b), 200);
    free(b.data);
    guest_free(&g);
}

static void approved_evidence_receives_the_key(void **state)
{
    guest g, bearer;
    buf b;
    char *token;
    char path[128];
    (void)state;
    require_world();
    guest_init(&g);
    token = guest_attested(&g);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_A);
    long code = http(&g, "GET", path, NULL, NULL, &b);
    if (code != 200) {
        fail_msg("resource: %ld %s", code, b.data);
    }
    assert_key_a(&g, &b);
    free(b.data);

    /* The same session through its bearer token, from a client without the cookie. */
    guest_init(&bearer);
    assert_int_equal(http(&bearer, "GET", path, NULL, token, &b), 200);
    assert_key_a(&g, &b);
    free(b.data);
    /* A forged token is refused. */
    token[strlen(token) - 3] ^= 1;
    assert_int_equal(http(&bearer, "GET", path, NULL, token, &b), 401);
    assert_reason(&b, "jose.jwt_invalid");
    free(b.data);
    guest_free(&bearer);
    free(token);
    guest_free(&g);
}

static void denied(evidence_kind kind, const char *code)
{
    guest g;
    buf b;
    char path[128];
    guest_init(&g);
    guest_auth(&g);
    guest_build_attestation(&g, kind);
    assert_int_equal(guest_attest(&g, &b), 401);
    assert_reason(&b, code);
    assert_policy_named(&b);
    free(b.data);
    /* No token, no key: the session is not attested. */
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_A);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 401);
    assert_reason(&b, "kbs.not_attested");
    free(b.data);
    guest_free(&g);
}

static void wrong_measurement_is_denied(void **state)
{
    (void)state;
    require_world();
    denied(EV_WRONG_MEASUREMENT, "snp.measurement_not_allowed");
}

static void debug_is_denied(void **state)
{
    (void)state;
    require_world();
    denied(EV_DEBUG, "snp.debug_enabled");
}

static void low_tcb_is_denied(void **state)
{
    (void)state;
    require_world();
    denied(EV_LOW_TCB, "snp.tcb_below_minimum");
}

static void reused_nonce_is_denied(void **state)
{
    guest g;
    buf b;
    char *token;
    (void)state;
    require_world();
    guest_init(&g);
    token = guest_attested(&g);
    free(token);
    /* The same Attestation again: a replay. */
    assert_int_equal(guest_attest(&g, &b), 401);
    assert_reason(&b, "kbs.nonce_reused");
    free(b.data);
    guest_free(&g);
}

static void stale_nonce_is_denied(void **state)
{
    guest g;
    buf b;
    (void)state;
    require_world();
    guest_init(&g);
    guest_auth(&g);
    guest_build_attestation(&g, EV_GOOD);
    sleep(NONCE_TTL + 1);
    assert_int_equal(guest_attest(&g, &b), 401);
    assert_reason(&b, "kbs.nonce_expired");
    free(b.data);
    guest_free(&g);
}

static void disabled_key_is_refused(void **state)
{
    guest g;
    buf b;
    char *token;
    char path[128];
    (void)state;
    require_world();
    assert_int_equal(kbs_cmd("key-state", "--key-id", KEY_B, "--state", "disabled", NULL, NULL), 0);
    guest_init(&g);
    token = guest_attested(&g);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_B);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 403);
    assert_reason(&b, "key.disabled");
    free(b.data);
    /* An unknown key is a 404 with its code. */
    assert_int_equal(http(&g, "GET", "/kbs/v0/resource/default/model/none", NULL, NULL, &b), 404);
    assert_reason(&b, "key.not_found");
    free(b.data);
    free(token);
    guest_free(&g);
}


static void rsa_guest_receives_the_key(void **state)
{
    guest g;
    buf b;
    char *token;
    char path[128];
    json_t *jwe;
    uint8_t *hdr = NULL;
    size_t hdr_len = 0;
    static const char want[] = "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A256GCM\"}";
    (void)state;
    require_world();
    guest_init_kind(&g, 1);
    assert_string_equal(json_string_value(json_object_get(g.jwk, "alg")), "RSA-OAEP-256");
    token = guest_attested(&g);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_A);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 200);
    assert_key(&g, &b, MODEL_KEY_A, sizeof(MODEL_KEY_A));
    jwe = json_loads(b.data, 0, NULL);
    const char *prot = json_string_value(json_object_get(jwe, "protected"));
    assert_true(ccg_ok(ccg_b64url_decode(prot, strlen(prot), CCG_R_JOSE_JWE_INVALID, &hdr, &hdr_len)));
    assert_int_equal(hdr_len, strlen(want));
    assert_memory_equal(hdr, want, hdr_len);
    free(hdr);
    json_decref(jwe);
    free(b.data);
    free(token);
    guest_free(&g);
}

static void rotation_releases_only_the_new_version(void **state)
{
    guest g;
    buf b;
    char *token;
    char path[128], file[400];
    FILE *f;
    (void)state;
    require_world();
    guest_init(&g);
    token = guest_attested(&g);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_C);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 200);
    assert_key(&g, &b, MODEL_KEY_A, sizeof(MODEL_KEY_A)); /* version 1 */
    free(b.data);
    snprintf(file, sizeof(file), "%s/key-c2", W.dir);
    f = fopen(file, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(MODEL_KEY_C2, 1, sizeof(MODEL_KEY_C2), f), sizeof(MODEL_KEY_C2));
    fclose(f);
    assert_int_equal(kbs_cmd("rotate-key", "--key-id", KEY_C, "--file", file, NULL, NULL), 0);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 200);
    assert_key(&g, &b, MODEL_KEY_C2, sizeof(MODEL_KEY_C2)); /* version 2; version 1 is retired */
    free(b.data);
    /* Retiring the live version leaves nothing releasable. */
    assert_int_equal(kbs_cmd("key-state", "--key-id", KEY_C, "--state", "retired", NULL, NULL), 0);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 403);
    assert_reason(&b, "key.retired");
    free(b.data);
    free(token);
    guest_free(&g);
}

/* Last: the chain of every decision above verifies, and the outage's denial is its newest record. */
static void audit_chain_verifies(void **state)
{
    ccg_audit *a = NULL;
    ccg_audit_verify_report rep;
    json_t *records = NULL, *last;
    char path[400];
    (void)state;
    require_world();
    snprintf(path, sizeof(path), "%s/kbs.db", W.dir);
    ccg_audit_options opts = {.busy_timeout_ms = 0, .create = 0};
    assert_true(ccg_ok(ccg_audit_open(path, &opts, &a)));
    assert_true(ccg_ok(ccg_audit_verify(a, NULL, &rep)));
    assert_true(rep.intact);
    assert_true(rep.records >= 15);
    assert_true(ccg_ok(ccg_audit_list(a, rep.records - 1, 0, &records)));
    last = json_array_get(records, 0);
    assert_string_equal(json_string_value(json_object_get(last, "action")), "resource.release");
    assert_string_equal(json_string_value(json_object_get(last, "key_id")), KEY_A);
    char *reasons = json_dumps(json_object_get(last, "reasons"), JSON_COMPACT);
    assert_non_null(reasons);
    if (strstr(reasons, "kms.unavailable") == NULL) {
        fail_msg("the newest audit record's reasons are %s", reasons);
    }
    free(reasons);
    json_decref(records);
    ccg_audit_close(a);
}

/* The daemon without --insecure-http: refuses to start without TLS configuration, and with it
 * serves the whole protocol over HTTPS only. */
static void tls_is_the_default(void **state)
{
    char cert[400], key[400], cfg2[400], pf2[400], text[4096], base[64], subj[] = "/CN=127.0.0.1";
    uint8_t *orig = NULL;
    size_t orig_len = 0;
    guest g;
    buf b;
    char *token, path[128];
    pid_t pid;
    int status = 0;
    (void)state;
    require_world();
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        tu_skip_or_fail("this libmicrohttpd has no TLS");
    }
    /* No TLS configured and no flag: exit status 2, nothing served. */
    char *const plain[] = {(char *)kbs_path(), "serve", "--config", W.config, NULL};
    assert_int_equal(run(plain), 2);

    snprintf(cert, sizeof(cert), "%s/tls.crt", W.dir);
    snprintf(key, sizeof(key), "%s/tls.key", W.dir);
    char *const gen[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", subj, "-addext",
                         "subjectAltName=IP:127.0.0.1", NULL};
    assert_int_equal(run(gen), 0);
    assert_true(ccg_ok(ccg_file_read(W.config, 8192, &orig, &orig_len)));
    snprintf(text, sizeof(text), "{\"tls\":{\"cert_file\":\"%s\",\"key_file\":\"%s\"},%s", cert, key,
             (const char *)orig + 1);
    free(orig);
    snprintf(cfg2, sizeof(cfg2), "%s/kbs-tls.json", W.dir);
    snprintf(pf2, sizeof(pf2), "%s/port-tls", W.dir);
    write_text(cfg2, text);
    pid = fork();
    if (pid == 0) {
        execl(kbs_path(), kbs_path(), "serve", "--config", cfg2, "--port-file", pf2, (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    base[0] = 0;
    for (int i = 0; i < 300 && base[0] == 0; i++) {
        FILE *f = fopen(pf2, "r");
        unsigned port = 0;
        if (f != NULL) {
            if (fscanf(f, "%u", &port) == 1 && port > 0) {
                snprintf(base, sizeof(base), "https://127.0.0.1:%u", port);
            }
            fclose(f);
        }
        if (base[0] == 0) {
            usleep(50 * 1000);
        }
    }
    assert_int_not_equal(base[0], 0);
    guest_init(&g);
    g.base = base;
    g.cainfo = cert;
    token = guest_attested(&g);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_A);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 200);
    assert_key_a(&g, &b);
    free(b.data);
    free(token);
    guest_free(&g);
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* Several guests at once through the daemon's thread pool: every flow gets its own key back. */
#define CONC_THREADS 4
#define CONC_FLOWS 4

static void *conc_worker(void *arg)
{
    long *failures = arg;
    for (int i = 0; i < CONC_FLOWS; i++) {
        guest g;
        buf b;
        char *token;
        ccg_secbuf plain;
        guest_init(&g);
        token = guest_attested(&g);
        long code = http(&g, "GET", "/kbs/v0/resource/" KEY_A, NULL, NULL, &b);
        if (code != 200 || ccg_failed(ccg_jwe_decrypt_text(g.priv, b.data, b.len, 1, &plain))) {
            (*failures)++;
        } else {
            if (plain.len != sizeof(MODEL_KEY_A) || memcmp(plain.data, MODEL_KEY_A, plain.len) != 0) {
                (*failures)++;
            }
            ccg_secbuf_free(&plain);
        }
        free(b.data);
        free(token);
        guest_free(&g);
    }
    return NULL;
}

static void concurrent_guests(void **state)
{
    pthread_t t[CONC_THREADS];
    long failures[CONC_THREADS] = {0};
    (void)state;
    require_world();
    for (int i = 0; i < CONC_THREADS; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, conc_worker, &failures[i]), 0);
    }
    for (int i = 0; i < CONC_THREADS; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(failures[i], 0);
    }
}

/* ---- crash: SIGKILL under load, restart on the same store ---- */

#define CRASH_MAX_SEEN 4096

typedef struct {
    const char *base;
    _Atomic long seen;     /* releases a client received and decrypted */
    _Atomic int stop;
    pthread_mutex_t lock;  /* guards ids */
    char (*ids)[64];       /* the X-Request-Id of every release seen */
    size_t nids;
} crash_ctx;

/* Keeps the X-Request-Id response header (the ID the audit record carries). */
static size_t request_id_header(char *data, size_t size, size_t n, void *ud)
{
    char *out = ud;
    size_t len = size * n;
    static const char name[] = "x-request-id:";
    if (len > sizeof(name) - 1 && strncasecmp(data, name, sizeof(name) - 1) == 0) {
        size_t start = sizeof(name) - 1, end = len;
        while (start < end && (data[start] == ' ' || data[start] == '\t')) {
            start++;
        }
        while (end > start && (data[end - 1] == '\r' || data[end - 1] == '\n' || data[end - 1] == ' ')) {
            end--;
        }
        snprintf(out, 64, "%.*s", (int)(end - start), data + start);
    }
    return len;
}

/* One flow without cmocka asserts on the network (the daemon dies under it): 1 released, 0 failed.
 * rid receives the release's request ID. */
static int try_flow(guest *g, const char *base, char rid[64])
{
    buf b = {0};
    long code = 0;
    char url[256];
    json_t *ch;
    ccg_secbuf plain;
    int ok = 0;
    char *body;
    snprintf(url, sizeof(url), "%s/kbs/v0/auth", base);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(g->curl, CURLOPT_POSTFIELDS, "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}");
    if (curl_easy_perform(g->curl) != CURLE_OK || curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
        code != 200 || (ch = json_loads(b.data, 0, NULL)) == NULL) {
        free(b.data);
        return 0;
    }
    snprintf(g->nonce, sizeof(g->nonce), "%s", json_string_value(json_object_get(ch, "nonce")));
    json_decref(ch);
    free(b.data);
    memset(&b, 0, sizeof(b));
    guest_build_attestation(g, EV_GOOD);
    body = json_dumps(g->attestation, JSON_COMPACT);
    snprintf(url, sizeof(url), "%s/kbs/v0/attest", base);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_POSTFIELDS, body);
    if (curl_easy_perform(g->curl) != CURLE_OK || curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK ||
        code != 200) {
        free(body);
        free(b.data);
        return 0;
    }
    free(body);
    free(b.data);
    memset(&b, 0, sizeof(b));
    snprintf(url, sizeof(url), "%s/kbs/v0/resource/%s", base, KEY_A);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_HTTPGET, 1L);
    rid[0] = 0;
    curl_easy_setopt(g->curl, CURLOPT_HEADERFUNCTION, request_id_header);
    curl_easy_setopt(g->curl, CURLOPT_HEADERDATA, rid);
    if (curl_easy_perform(g->curl) == CURLE_OK && curl_easy_getinfo(g->curl, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK &&
        code == 200 && ccg_ok(ccg_jwe_decrypt_text(g->priv, b.data, b.len, 1, &plain))) {
        ok = plain.len == sizeof(MODEL_KEY_A) && memcmp(plain.data, MODEL_KEY_A, plain.len) == 0;
        ccg_secbuf_free(&plain);
    }
    free(b.data);
    return ok;
}

static void *crash_worker(void *arg)
{
    crash_ctx *c = arg;
    while (!atomic_load(&c->stop)) {
        guest g;
        guest_init(&g);
        char rid[64];
        curl_easy_setopt(g.curl, CURLOPT_TIMEOUT, 5L);
        if (try_flow(&g, c->base, rid)) {
            pthread_mutex_lock(&c->lock);
            if (c->nids < CRASH_MAX_SEEN) {
                memcpy(c->ids[c->nids++], rid, 64);
            }
            pthread_mutex_unlock(&c->lock);
            atomic_fetch_add(&c->seen, 1);
        }
        guest_free(&g);
    }
    return NULL;
}

static pid_t start_daemon(const char *port_file, char *base, size_t base_len)
{
    pid_t pid;
    unlink(port_file);
    pid = fork();
    if (pid == 0) {
        execl(kbs_path(), kbs_path(), "serve", "--config", W.config, "--insecure-http", "--port-file", port_file,
              (char *)NULL);
        _exit(127);
    }
    assert_true(pid > 0);
    base[0] = 0;
    for (int i = 0; i < 300 && base[0] == 0; i++) {
        FILE *f = fopen(port_file, "r");
        unsigned port = 0;
        if (f != NULL) {
            if (fscanf(f, "%u", &port) == 1 && port > 0) {
                snprintf(base, base_len, "http://127.0.0.1:%u", port);
            }
            fclose(f);
        }
        if (base[0] == 0) {
            usleep(50 * 1000);
        }
    }
    assert_int_not_equal(base[0], 0);
    return pid;
}

/* Counts the allowed releases in the audit log (the chain must verify); when c is given, checks that
 * each release a client saw has its record, by request ID. */
static long audit_releases(const crash_ctx *c)
{
    ccg_audit *a = NULL;
    ccg_audit_verify_report rep;
    json_t *records = NULL, *r;
    size_t i;
    long n = 0;
    char path[400];
    ccg_audit_options opts = {.busy_timeout_ms = 0, .create = 0};
    snprintf(path, sizeof(path), "%s/kbs.db", W.dir);
    assert_true(ccg_ok(ccg_audit_open(path, &opts, &a)));
    assert_true(ccg_ok(ccg_audit_verify(a, NULL, &rep)));
    assert_true(rep.intact);
    assert_true(ccg_ok(ccg_audit_list(a, 0, 0, &records)));
    json_array_foreach(records, i, r) {
        const char *action = json_string_value(json_object_get(r, "action"));
        const char *decision = json_string_value(json_object_get(r, "decision"));
        n += action != NULL && decision != NULL && strcmp(action, "resource.release") == 0 &&
             strcmp(decision, "allow") == 0;
    }
    for (size_t k = 0; c != NULL && k < c->nids; k++) {
        int found = 0;
        assert_int_not_equal(c->ids[k][0], 0);
        json_array_foreach(records, i, r) {
            const char *rid = json_string_value(json_object_get(r, "request_id"));
            const char *action = json_string_value(json_object_get(r, "action"));
            const char *decision = json_string_value(json_object_get(r, "decision"));
            if (rid != NULL && strcmp(rid, c->ids[k]) == 0 && action != NULL && strcmp(action, "resource.release") == 0 &&
                decision != NULL && strcmp(decision, "allow") == 0) {
                found = 1;
                break;
            }
        }
        if (!found) {
            fail_msg("the release %s a client saw has no audit record", c->ids[k]);
        }
    }
    json_decref(records);
    ccg_audit_close(a);
    return n;
}

static void sigkill_under_load_keeps_audit_and_store(void **state)
{
    char pf[400], base[64];
    pthread_t t[3];
    crash_ctx c;
    pid_t pid;
    int status;
    long before, after;
    guest g;
    buf b;
    char *token, path[400];
    ccg_store *st = NULL;
    (void)state;
    require_world();
    snprintf(pf, sizeof(pf), "%s/port-crash", W.dir);
    before = audit_releases(NULL);
    pid = start_daemon(pf, base, sizeof(base));
    /* A token from before the crash, for after it. */
    guest_init(&g);
    g.base = base;
    token = guest_attested(&g);
    memset(&c, 0, sizeof(c));
    c.base = base;
    assert_int_equal(pthread_mutex_init(&c.lock, NULL), 0);
    c.ids = calloc(CRASH_MAX_SEEN, sizeof(*c.ids));
    assert_non_null(c.ids);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, crash_worker, &c), 0);
    }
    for (int i = 0; i < 100 && atomic_load(&c.seen) < 6; i++) {
        usleep(50 * 1000);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    atomic_store(&c.stop, 1);
    for (int i = 0; i < 3; i++) {
        pthread_join(t[i], NULL);
    }
    print_message("  releases seen by clients before SIGKILL: %ld\n", (long)atomic_load(&c.seen));
    assert_true(atomic_load(&c.seen) > 0);
    /* Every release a client saw has its audit record (by request ID), and the chain verifies, by the
     * library and by `ccgate audit verify`. */
    after = audit_releases(&c);
    assert_true(after - before >= atomic_load(&c.seen));
    free(c.ids);
    pthread_mutex_destroy(&c.lock);
    snprintf(path, sizeof(path), "%s/kbs.db", W.dir);
    if (getenv("CCG_CLI") != NULL) {
        char cmd[1200];
        snprintf(cmd, sizeof(cmd), "'%s' audit verify --db '%s' >/dev/null", getenv("CCG_CLI"), path);
        assert_int_equal(system(cmd), 0);
    }
    assert_true(ccg_ok(ccg_store_open(path, NULL, &st)));
    assert_true(ccg_ok(ccg_store_integrity_check(st)));
    ccg_store_close(st);
    /* Restarted on the same store: the token from before the crash still works (same signing key). */
    pid = start_daemon(pf, base, sizeof(base));
    guest bearer;
    guest_init(&bearer);
    bearer.base = base;
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_A);
    assert_int_equal(http(&bearer, "GET", path, NULL, token, &b), 200);
    assert_key_a(&g, &b);
    free(b.data);
    guest_free(&bearer);
    free(token);
    guest_free(&g);
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* Next to last: the token's storage disappears under the running daemon. */
static void kms_outage_fails_closed(void **state)
{
    guest g;
    buf b;
    char *token;
    char path[128];
    json_t *body;
    (void)state;
    require_world();
    guest_init(&g);
    token = guest_attested(&g);
    rm_tree(W.tokens);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", KEY_A);
    assert_int_equal(http(&g, "GET", path, NULL, NULL, &b), 503);
    assert_reason(&b, "kms.unavailable");
    print_message("  503 body: %s\n", b.data);
    body = json_loads(b.data, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(body, "key_id")), KEY_A);
    assert_int_equal(json_integer_value(json_object_get(body, "policy_version")), 1);
    assert_true(json_is_string(json_object_get(body, "request_id")));
    /* Actionable: the PKCS#11 error names what went wrong. */
    assert_non_null(strstr(json_string_value(json_object_get(body, "cause")), "CKR_"));
    assert_null(strstr(b.data, "ciphertext"));
    json_decref(body);
    free(b.data);
    assert_int_equal(http(&g, "GET", "/readyz", NULL, NULL, &b), 503);
    free(b.data);
    free(token);
    guest_free(&g);
}

static void metrics_count_releases_and_denials(void **state)
{
    guest g;
    buf b;
    static const char *const want[] = {
        "ccgate_kbs_releases_total ",
        "ccgate_kbs_denials_total{reason=\"snp.debug_enabled\"} 1\n",
        "ccgate_kbs_denials_total{reason=\"snp.measurement_not_allowed\"} 1\n",
        "ccgate_kbs_denials_total{reason=\"kbs.nonce_reused\"} 1\n",
        "ccgate_kbs_denials_total{reason=\"kms.unavailable\"} 1\n",
        "ccgate_kbs_denials_total{reason=\"key.disabled\"} 1\n",
        "ccgate_kbs_requests_total{endpoint=\"resource\",code=\"2xx\"}",
        "ccgate_kbs_request_duration_seconds_bucket{endpoint=\"attest\",le=\"+Inf\"}",
        "# TYPE ccgate_build_info gauge\nccgate_build_info{version=\"0.",
        "\",openssl=\"OpenSSL 3.",
    };
    (void)state;
    require_world();
    guest_init(&g);
    assert_int_equal(http(&g, "GET", "/metrics", NULL, NULL, &b), 200);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (strstr(b.data, want[i]) == NULL) {
            fail_msg("/metrics lacks %s:\n%s", want[i], b.data);
        }
    }
    assert_null(strstr(b.data, "ccgate_kbs_releases_total 0\n"));
    /* The server-side latency, for the log. */
    for (const char *line = strstr(b.data, "ccgate_kbs_request_duration_seconds_sum"); line != NULL;
         line = strstr(line + 1, "ccgate_kbs_request_duration_seconds_sum")) {
        print_message("  %.*s\n", (int)strcspn(line, "\n"), line);
    }
    for (const char *line = strstr(b.data, "ccgate_kbs_request_duration_seconds_count"); line != NULL;
         line = strstr(line + 1, "ccgate_kbs_request_duration_seconds_count")) {
        print_message("  %.*s\n", (int)strcspn(line, "\n"), line);
    }
    free(b.data);
    guest_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(health_endpoints),
        cmocka_unit_test(approved_evidence_receives_the_key),
        cmocka_unit_test(wrong_measurement_is_denied),
        cmocka_unit_test(debug_is_denied),
        cmocka_unit_test(low_tcb_is_denied),
        cmocka_unit_test(reused_nonce_is_denied),
        cmocka_unit_test(stale_nonce_is_denied),
        cmocka_unit_test(disabled_key_is_refused),
        cmocka_unit_test(rsa_guest_receives_the_key),
        cmocka_unit_test(rotation_releases_only_the_new_version),
        cmocka_unit_test(tls_is_the_default),
        cmocka_unit_test(concurrent_guests),
        cmocka_unit_test(sigkill_under_load_keeps_audit_and_store),
        cmocka_unit_test(kms_outage_fails_closed),
        cmocka_unit_test(audit_chain_verifies),
        cmocka_unit_test(metrics_count_releases_and_denials),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
