/* The release path against the real ccgate-kbs daemon (plain HTTP on 127.0.0.1, file keystore), driven
 * from outside as a guest or an attacker would (issue 10): the broker's own REPORT_DATA check (a report
 * replayed with another tee-pubkey), single-use nonces after a failed attempt, tee-pubkey members beyond
 * the canonical key, an 8192-bit RSA key, failed attempts per cookie and per address, an unpinned release
 * policy refused by `ccgate-kbs set-policy`, and a session's reused decision ended by a CRL revoking
 * the ASK, by a reference-value issuer removed from the configuration (restart), and by a new version
 * of the reference-value set.
 *
 * The collateral cache and the reference-value sets are written by this process into the directories
 * and the store the daemon reads, as the authority's tools would. Skips without $CCG_KBS unless CI=true.
 * The daemon dies with this process (PR_SET_PDEATHSIG) and is killed in teardown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ccgate/error.h"
#include "ccgate/http_body.h"
#include "ccgate/jose.h"
#include "ccgate/refvalue.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_kds.h"
#include "ccgate/snp_report.h"
#include "ccgate/store.h"

#include "testutil.h"
#include "tcb_util.h"

typedef ccg_http_body buf;

#define KEY_ID "e2e/model/a"

static const uint8_t MODEL_KEY[32] = {0x0e, 0x2e, 0x0e, 0x2e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
                                      13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28};

typedef struct {
    char dir[256];
    char config[300];
    char port_file[300];
    char cache[300];
    char issuer_file[300];
    char db[300];
    char tcb[1024]; /* "tcb_baselines" and "tcb_baseline_issuers": the emulator's TCB is UpToDate */
    char base[64];
    pid_t daemon;
    ccg_snp_emulator *emu;
    EVP_PKEY *issuer;
    int policy_version;
    int skipped;
} world;

static world W;

/* ---------------------------------------------------------------- processes and files */

static const char *kbs_path(void) { return getenv("CCG_KBS"); }

/* Runs argv; its stderr goes to err_file when given. Exit status, or -1. */
static int run(char *const argv[], const char *err_file)
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        if (err_file != NULL && freopen(err_file, "w", stderr) == NULL) {
            _exit(126);
        }
        if (freopen("/dev/null", "w", stdout) == NULL) {
            _exit(126);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static char *read_text(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    char *out;
    assert_true(ccg_ok(ccg_file_read(path, 1u << 20, &data, &len)));
    out = malloc(len + 1);
    assert_non_null(out);
    memcpy(out, data, len);
    out[len] = 0;
    free(data);
    return out;
}

/* The daemon's configuration: the collateral cache, the issuer "acme" (or none), and a per-address
 * limit (0: the defaults, 3 failures per session and 32 per address in 60 s). */
static void write_config(int with_issuer, int per_address)
{
    char text[3072], issuers[400] = "", limits[200] = "";
    if (with_issuer) {
        snprintf(issuers, sizeof(issuers), "\"refval_issuers\":{\"acme\":\"%s\"},", W.issuer_file);
    }
    if (per_address > 0) {
        snprintf(limits, sizeof(limits),
                 "\"attempt_limits\":{\"per_session\":3,\"per_address\":%d,\"window_seconds\":60},", per_address);
    }
    snprintf(text, sizeof(text),
             "{\"address\":\"127.0.0.1\",\"port\":0,\"store\":\"%s\",\"nonce_ttl\":60,\"token_ttl\":600,"
             "\"attestation_policy\":\"attest\",\"allow_unlocked_memory\":true,\"threads\":2,%s%s"
             "\"collateral\":{\"cache_dir\":\"%s\"},%s,"
             "\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/kek\"}}",
             W.db, issuers, limits, W.cache, W.tcb, W.dir);
    write_text(W.config, text);
}

static int kbs_cmd(const char *cmd, const char *a1, const char *v1, const char *a2, const char *v2, const char *a3,
                   const char *v3, const char *err_file)
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
    return run(argv, err_file);
}

static void stop_daemon(void)
{
    if (W.daemon > 0) {
        int status;
        kill(W.daemon, SIGTERM);
        waitpid(W.daemon, &status, 0);
        W.daemon = 0;
    }
    W.base[0] = 0;
}

static void start_daemon(void)
{
    unlink(W.port_file);
    W.daemon = fork();
    if (W.daemon == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the test */
        if (freopen("/dev/null", "w", stderr) == NULL) {
            _exit(126);
        }
        execl(kbs_path(), kbs_path(), "serve", "--config", W.config, "--insecure-http", "--port-file", W.port_file,
              (char *)NULL);
        _exit(127);
    }
    assert_true(W.daemon > 0);
    for (int i = 0; i < 300 && W.base[0] == 0; i++) {
        FILE *f = fopen(W.port_file, "r");
        unsigned port = 0;
        int status;
        if (f != NULL) {
            if (fscanf(f, "%u", &port) == 1 && port > 0) {
                snprintf(W.base, sizeof(W.base), "http://127.0.0.1:%u", port);
            }
            fclose(f);
        }
        if (W.base[0] == 0) {
            assert_int_equal(waitpid(W.daemon, &status, WNOHANG), 0);
            usleep(50 * 1000);
        }
    }
    assert_int_not_equal(W.base[0], 0);
}

static void restart_daemon(int with_issuer, int per_address)
{
    stop_daemon();
    write_config(with_issuer, per_address);
    start_daemon();
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

static void default_measurement(uint8_t out[48])
{
    ccg_snp_report r;
    ccg_snp_emulator_default_report(W.emu, &r);
    memcpy(out, r.measurement, 48);
}

/* A new version of the attestation policy "attest", set with `ccgate-kbs set-policy`: the emulator's
 * root, and the SNP policy given (the measurement pinned by the caller). */
static void set_attest_policy(json_t *snp_stolen)
{
    char path[400], *pem = pem_of(ccg_snp_emulator_ark(W.emu)), *text;
    json_t *doc = json_pack("{s:s,s:i,s:[s],s:[{s:s,s:s}],s:o}", "policy_id", "attest", "version",
                            ++W.policy_version, "allowed_tees", "snp", "trusted_roots", "product", "milan", "pem",
                            pem, "snp_policy", snp_stolen);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    snprintf(path, sizeof(path), "%s/policy-%d.json", W.dir, W.policy_version);
    write_text(path, text);
    assert_int_equal(kbs_cmd("set-policy", "--file", path, NULL, NULL, NULL, NULL, NULL), 0);
    free(text);
    free(pem);
    json_decref(doc);
}

static json_t *pinned_snp(void)
{
    uint8_t m[48];
    char hex[97];
    default_measurement(m);
    ccg_hex_encode(m, 48, hex);
    return json_pack("{s:s,s:i,s:[s]}", "policy_id", "attest-snp", "version", 1, "allowed_measurements", hex);
}

static int group_setup(void **state)
{
    ccg_snp_emulator_config ecfg;
    char path[400];
    FILE *f;
    (void)state;
    memset(&W, 0, sizeof(W));
    if (kbs_path() == NULL || access(kbs_path(), X_OK) != 0) {
        W.skipped = 1;
        return 0;
    }
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-kbs-release-XXXXXX");
    if (mkdtemp(W.dir) == NULL) {
        return -1;
    }
    snprintf(W.config, sizeof(W.config), "%s/kbs.json", W.dir);
    snprintf(W.port_file, sizeof(W.port_file), "%s/port", W.dir);
    snprintf(W.cache, sizeof(W.cache), "%s/collateral", W.dir);
    snprintf(W.issuer_file, sizeof(W.issuer_file), "%s/acme.pem", W.dir);
    snprintf(W.db, sizeof(W.db), "%s/kbs.db", W.dir);
    if (mkdir(W.cache, 0700) != 0) {
        return -1;
    }
    char *tcb = tu_write_tcb_config(W.dir);
    snprintf(W.tcb, sizeof(W.tcb), "%s", tcb);
    free(tcb);
    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    W.issuer = EVP_EC_gen("P-384");
    if (ccg_failed(ccg_snp_emulator_new(&ecfg, &W.emu)) || W.issuer == NULL) {
        return -1;
    }
    f = fopen(W.issuer_file, "w");
    if (f == NULL || PEM_write_PUBKEY(f, W.issuer) != 1 || fclose(f) != 0) {
        return -1;
    }
    write_config(1, 0);
    if (kbs_cmd("create-kek", NULL, NULL, NULL, NULL, NULL, NULL, NULL) != 0) {
        return -1;
    }
    set_attest_policy(pinned_snp());
    snprintf(path, sizeof(path), "%s/model.key", W.dir);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(MODEL_KEY, 1, sizeof(MODEL_KEY), f) != sizeof(MODEL_KEY) || fclose(f) != 0) {
        return -1;
    }
    if (kbs_cmd("import-key", "--key-id", KEY_ID, "--policy-id", "attest", "--file", path, NULL) != 0) {
        return -1;
    }
    start_daemon();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_daemon();
    ccg_snp_emulator_free(W.emu);
    EVP_PKEY_free(W.issuer);
    if (W.dir[0] != 0) {
        char *const argv[] = {"rm", "-rf", W.dir, NULL};
        (void)run(argv, NULL);
    }
    return 0;
}

static void require_world(void)
{
    if (W.skipped) {
        if (getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0) {
            fail_msg("the ccgate-kbs binary ($CCG_KBS) is missing; CI=true requires it");
        }
        skip();
    }
}

/* ---------------------------------------------------------------- a guest over HTTP */

typedef struct {
    CURL *curl;
    EVP_PKEY *priv;
    json_t *jwk;        /* the canonical public JWK */
    char nonce[160];
    char *token;
} guest;

static long http(guest *g, const char *method, const char *path, const char *body, const char *bearer, buf *out)
{
    char url[512], auth[8192]; /* a token carries the report's claims (tcb-status) */
    struct curl_slist *headers = NULL;
    long code = 0;
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", W.base, path);
    curl_easy_setopt(g->curl, CURLOPT_URL, url);
    curl_easy_setopt(g->curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(g->curl, CURLOPT_WRITEDATA, out);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (bearer != NULL) {
        assert_true((size_t)snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer) < sizeof(auth));
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

static void guest_init(guest *g)
{
    ccg_jwk *jwk = NULL;
    memset(g, 0, sizeof(*g));
    g->curl = curl_easy_init();
    assert_non_null(g->curl);
    curl_easy_setopt(g->curl, CURLOPT_COOKIEFILE, "");
    g->priv = EVP_EC_gen("P-256");
    assert_non_null(g->priv);
    assert_true(ccg_ok(ccg_jwk_from_pkey(g->priv, NULL, &jwk)));
    g->jwk = ccg_jwk_to_json(jwk);
    assert_non_null(g->jwk);
    ccg_jwk_free(jwk);
}

static void guest_free(guest *g)
{
    curl_easy_cleanup(g->curl);
    EVP_PKEY_free(g->priv);
    json_decref(g->jwk);
    free(g->token);
}

static void guest_auth(guest *g)
{
    buf b;
    json_t *ch;
    long code = http(g, "POST", "/kbs/v0/auth", "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}", NULL, &b);
    if (code != 200) {
        fail_msg("auth: %ld %s", code, b.data);
    }
    ch = json_loads(b.data, 0, NULL);
    assert_non_null(ch);
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

/* The Attestation a KBS 0.4.0 guest sends for its nonce: REPORT_DATA = SHA-384 of the RFC 8785 JSON of
 * {"additional-evidence","nonce","tee-pubkey": bound} (computed here, not by the broker's code), the
 * report signed by the emulator with the given measurement, sent with tee-pubkey `sent`. */
static char *attestation(const guest *g, const uint8_t measurement[48], const json_t *bound, const json_t *sent)
{
    json_t *runtime, *doc;
    char *canon = NULL, *report, *vcek, *ask, *text;
    size_t canon_len = 0;
    unsigned int md_len = 0;
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    runtime = json_pack("{s:s,s:s,s:O}", "additional-evidence", "", "nonce", g->nonce, "tee-pubkey", bound);
    assert_true(ccg_ok(ccg_jcs_serialize(runtime, &canon, &canon_len)));
    json_decref(runtime);
    ccg_snp_emulator_default_report(W.emu, &r);
    memset(r.report_data, 0, sizeof(r.report_data));
    assert_int_equal(EVP_Digest(canon, canon_len, r.report_data, &md_len, EVP_sha384(), NULL), 1);
    free(canon);
    memcpy(r.measurement, measurement, 48);
    assert_true(ccg_ok(ccg_snp_emulator_sign(W.emu, &r, bytes)));
    report = b64(bytes, sizeof(bytes));
    vcek = der_b64(ccg_snp_emulator_vcek(W.emu));
    ask = der_b64(ccg_snp_emulator_ask(W.emu));
    doc = json_pack("{s:{s:s,s:O},s:{s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},s:s}}", "runtime-data", "nonce", g->nonce,
                    "tee-pubkey", sent, "tee-evidence", "primary_evidence", "attestation_report", report,
                    "cert_chain", "cert_type", "VCEK", "data", vcek, "cert_type", "ASK", "data", ask,
                    "additional_evidence", "");
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(report);
    free(vcek);
    free(ask);
    return text;
}

static long attest(guest *g, const char *body, buf *out) { return http(g, "POST", "/kbs/v0/attest", body, NULL, out); }

static void assert_reason(long code, const buf *b, long want_code, const char *reason)
{
    json_t *body = json_loads(b->data, 0, NULL), *v;
    size_t i;
    int found = 0;
    if (code != want_code || body == NULL) {
        fail_msg("wanted %ld %s, got %ld %s", want_code, reason, code, b->data);
    }
    json_array_foreach(json_object_get(body, "reasons"), i, v) {
        found |= strcmp(json_string_value(v), reason) == 0;
    }
    if (!found) {
        fail_msg("reason %s missing in %s", reason, b->data);
    }
    assert_null(json_object_get(body, "token"));
    json_decref(body);
}

/* A good attestation for a fresh session; the token is kept. */
static void guest_attested(guest *g)
{
    uint8_t m[48];
    buf b;
    char *body;
    long code;
    json_t *t;
    default_measurement(m);
    guest_auth(g);
    body = attestation(g, m, g->jwk, g->jwk);
    code = attest(g, body, &b);
    if (code != 200) {
        fail_msg("attest: %ld %s", code, b.data);
    }
    t = json_loads(b.data, 0, NULL);
    g->token = strdup(json_string_value(json_object_get(t, "token")));
    json_decref(t);
    free(b.data);
    free(body);
}

static long resource(guest *g, buf *b) { return http(g, "GET", "/kbs/v0/resource/" KEY_ID, NULL, NULL, b); }

static void assert_released(guest *g)
{
    buf b;
    ccg_secbuf plain;
    long code = resource(g, &b);
    if (code != 200) {
        fail_msg("resource: %ld %s", code, b.data);
    }
    assert_true(ccg_ok(ccg_jwe_decrypt_text(g->priv, b.data, b.len, 1, &plain)));
    assert_memory_equal(plain.data, MODEL_KEY, sizeof(MODEL_KEY));
    ccg_secbuf_free(&plain);
    free(b.data);
}

/* ---------------------------------------------------------------- tests */

/* `ccgate-kbs set-policy` refuses a policy that pins no measurement: exit 2 and the code. */
static void set_policy_refuses_an_unpinned_policy(void **state)
{
    char path[400], err[400], *log;
    (void)state;
    require_world();
    snprintf(path, sizeof(path), "%s/unpinned.json", W.dir);
    snprintf(err, sizeof(err), "%s/unpinned.err", W.dir);
    write_text(path, "{\"policy_id\":\"unpinned\",\"version\":1,\"allowed_tees\":[\"snp\"],"
                     "\"snp_policy\":{\"policy_id\":\"s\",\"version\":1,\"debug_allowed\":false}}");
    assert_int_equal(kbs_cmd("set-policy", "--file", path, NULL, NULL, NULL, NULL, err), 2);
    log = read_text(err);
    if (strstr(log, "\"reason\":\"kbs.policy_unpinned\"") == NULL) {
        fail_msg("set-policy said: %s", log);
    }
    free(log);
}

/* A genuine report bound to the guest's key, replayed by an attacker with the attacker's own key: the
 * broker's REPORT_DATA check refuses it at /attest. */
static void replayed_report_with_another_key_gets_no_token(void **state)
{
    guest g, attacker;
    uint8_t m[48];
    buf b;
    char *body;
    (void)state;
    require_world();
    guest_init(&g);
    guest_init(&attacker);
    default_measurement(m);
    guest_auth(&attacker);
    memcpy(g.nonce, attacker.nonce, sizeof(g.nonce));
    body = attestation(&g, m, g.jwk, attacker.jwk); /* the report binds g's key; attacker.jwk is sent */
    assert_reason(attest(&attacker, body, &b), &b, 401, "snp.report_data_mismatch");
    free(b.data);
    free(body);
    guest_free(&attacker);
    guest_free(&g);
}

/* A nonce is single use even when its first attempt failed: the same session and nonce with good
 * evidence afterwards is kbs.nonce_reused; and after a success, a replay is too. */
static void nonce_is_single_use(void **state)
{
    guest g;
    uint8_t m[48], other[48];
    buf b;
    char *bad, *good;
    (void)state;
    require_world();
    guest_init(&g);
    default_measurement(m);
    memcpy(other, m, sizeof(other));
    other[0] ^= 0xff;
    guest_auth(&g);
    bad = attestation(&g, other, g.jwk, g.jwk);
    good = attestation(&g, m, g.jwk, g.jwk);
    assert_reason(attest(&g, bad, &b), &b, 401, "snp.measurement_not_allowed");
    free(b.data);
    assert_reason(attest(&g, good, &b), &b, 401, "kbs.nonce_reused");
    free(b.data);
    free(bad);
    free(good);
    /* After a success, the same Attestation again: a replay. */
    guest_auth(&g);
    good = attestation(&g, m, g.jwk, g.jwk);
    assert_int_equal(attest(&g, good, &b), 200);
    free(b.data);
    assert_reason(attest(&g, good, &b), &b, 401, "kbs.nonce_reused");
    free(b.data);
    free(good);
    guest_free(&g);
}

/* A tee-pubkey with members beyond the canonical key is refused; an accepted "use" is not signed. */
static void tee_pubkey_is_canonical(void **state)
{
    static const char *const extra[][2] = {{"kid", "\"k-1\""}, {"x5u", "\"https://attacker.example/k\""},
                                           {"ext", "{\"nested\":true}"}};
    guest g;
    uint8_t m[48], *payload = NULL;
    size_t payload_len = 0;
    buf b;
    char *body;
    json_t *sent, *claims;
    const char *dot1, *dot2, *tok;
    (void)state;
    require_world();
    guest_init(&g);
    default_measurement(m);
    for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        sent = json_deep_copy(g.jwk);
        json_object_set_new(sent, extra[i][0], json_loads(extra[i][1], JSON_DECODE_ANY, NULL));
        guest_auth(&g);
        body = attestation(&g, m, sent, sent); /* even bound into REPORT_DATA by the guest */
        assert_reason(attest(&g, body, &b), &b, 400, "kbs.tee_pubkey_member_unknown");
        free(b.data);
        free(body);
        json_decref(sent);
    }
    sent = json_deep_copy(g.jwk);
    json_object_set_new(sent, "use", json_string("enc"));
    guest_auth(&g);
    body = attestation(&g, m, g.jwk, sent);
    assert_int_equal(attest(&g, body, &b), 200);
    claims = json_loads(b.data, 0, NULL);
    tok = json_string_value(json_object_get(claims, "token"));
    dot1 = strchr(tok, '.');
    dot2 = strchr(dot1 + 1, '.');
    assert_true(ccg_ok(ccg_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), CCG_R_JOSE_JWT_INVALID, &payload,
                                         &payload_len)));
    json_decref(claims);
    claims = json_loadb((const char *)payload, payload_len, 0, NULL);
    assert_true(json_equal(json_object_get(claims, "tee-pubkey"), g.jwk));
    json_decref(claims);
    free(payload);
    free(b.data);
    free(body);
    json_decref(sent);
    guest_free(&g);
}

/* An 8192-bit RSA tee-pubkey is refused by its size; with a nonce the broker never issued, the nonce is
 * refused first and the key never looked at. */
static void rsa_8192_is_refused(void **state)
{
    guest g;
    uint8_t m[48], n[1024];
    buf b;
    char *nb, *body;
    json_t *big;
    (void)state;
    require_world();
    guest_init(&g);
    default_measurement(m);
    assert_int_equal(RAND_bytes(n, sizeof(n)), 1);
    n[0] |= 0x80;
    n[sizeof(n) - 1] |= 1;
    nb = ccg_b64url_encode(n, sizeof(n));
    big = json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "alg", "RSA-OAEP-256", "n", nb, "e", "AQAB");
    guest_auth(&g);
    body = attestation(&g, m, big, big);
    assert_reason(attest(&g, body, &b), &b, 400, "jose.jwk_too_large");
    free(b.data);
    free(body);
    guest_auth(&g);
    snprintf(g.nonce, sizeof(g.nonce), "a-nonce-this-broker-never-issued");
    body = attestation(&g, m, big, big);
    assert_reason(attest(&g, body, &b), &b, 401, "kbs.nonce_mismatch");
    assert_null(strstr(b.data, "jose."));
    free(b.data);
    free(body);
    free(nb);
    json_decref(big);
    guest_free(&g);
}

/* Three failures on one cookie; the fourth attempt, even a good one, is 429. */
static void failures_on_one_cookie_are_limited(void **state)
{
    guest g;
    uint8_t m[48];
    buf b;
    char real[160], *body;
    (void)state;
    require_world();
    guest_init(&g);
    default_measurement(m);
    guest_auth(&g);
    memcpy(real, g.nonce, sizeof(real));
    snprintf(g.nonce, sizeof(g.nonce), "a-nonce-this-broker-never-issued");
    body = attestation(&g, m, g.jwk, g.jwk);
    for (int i = 0; i < 3; i++) {
        assert_reason(attest(&g, body, &b), &b, 401, "kbs.nonce_mismatch");
        free(b.data);
    }
    free(body);
    memcpy(g.nonce, real, sizeof(real));
    body = attestation(&g, m, g.jwk, g.jwk);
    assert_reason(attest(&g, body, &b), &b, 429, "kbs.too_many_attempts");
    free(b.data);
    free(body);
    guest_free(&g);
}

/* Writes the VCEK, the ASK+ARK chain (with_certs) and a CRL revoking `revoked` (or nothing) into the
 * daemon's collateral cache, as `ccgate kds` would from AMD KDS. */
static void publish_collateral(const ASN1_INTEGER *revoked, int with_certs)
{
    ccg_snp_kds_item item;
    X509_CRL *crl = NULL;
    unsigned char *der = NULL;
    ccg_time now = ccg_time_now();
    int n;
    if (with_certs) {
        BIO *bio = BIO_new(BIO_s_mem());
        char *chain = NULL;
        long len;
        n = i2d_X509(ccg_snp_emulator_vcek(W.emu), &der);
        assert_true(ccg_ok(ccg_snp_kds_import_key(W.cache, CCG_SNP_PRODUCT_MILAN, der, (size_t)n, &item)));
        OPENSSL_free(der);
        der = NULL;
        assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ask(W.emu)), 1);
        assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(W.emu)), 1);
        len = BIO_get_mem_data(bio, &chain);
        memset(&item, 0, sizeof(item));
        item.kind = CCG_SNP_KDS_CHAIN;
        item.product = CCG_SNP_PRODUCT_MILAN;
        item.signer = CCG_SNP_SIGNER_VCEK;
        assert_true(ccg_ok(ccg_snp_cache_write(W.cache, &item, (const uint8_t *)chain, (size_t)len)));
        BIO_free(bio);
    }
    memset(&item, 0, sizeof(item));
    item.kind = CCG_SNP_KDS_CRL;
    item.product = CCG_SNP_PRODUCT_MILAN;
    item.signer = CCG_SNP_SIGNER_VCEK;
    assert_true(ccg_ok(ccg_snp_emulator_crl(W.emu, revoked != NULL ? &revoked : NULL, revoked != NULL ? 1 : 0,
                                            now - 3600, now + 86400, &crl)));
    n = i2d_X509_CRL(crl, &der);
    assert_true(n > 0);
    assert_true(ccg_ok(ccg_snp_cache_write(W.cache, &item, der, (size_t)n)));
    OPENSSL_free(der);
    X509_CRL_free(crl);
}

/* The attestation policy requires a CRL. After the guest attested and received the key, a CRL revoking
 * the ASK is published: the session's next release is refused with cert.revoked. */
static void crl_revoking_the_ask_ends_the_reuse(void **state)
{
    guest g;
    buf b;
    json_t *snp = pinned_snp();
    (void)state;
    require_world();
    json_object_set_new(snp, "require_crl", json_true());
    publish_collateral(NULL, 1);
    set_attest_policy(snp);
    guest_init(&g);
    guest_attested(&g);
    assert_released(&g);
    publish_collateral(X509_get0_serialNumber(ccg_snp_emulator_ask(W.emu)), 0);
    assert_reason(resource(&g, &b), &b, 403, "cert.revoked");
    free(b.data);
    /* The bearer token of the same session is refused the same way. */
    assert_reason(http(&g, "GET", "/kbs/v0/resource/" KEY_ID, NULL, g.token, &b), &b, 403, "cert.revoked");
    free(b.data);
    publish_collateral(NULL, 0);
    guest_free(&g);
}

/* A reference-value set "acme-prod" (version v) signed by the issuer "acme", holding measurement m,
 * written into the daemon's store. */
static void put_refvals(int version, const uint8_t m[48])
{
    ccg_store *st = NULL;
    char hex[97], *text;
    json_t *record, *set;
    ccg_hex_encode(m, 48, hex);
    record = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", "r1", "tee", "snp", "measurement", hex, "build_id",
                       "build-1", "not_before", "2020-01-01T00:00:00Z", "not_after", "2099-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(record, W.issuer, "acme")));
    set = json_pack("{s:s,s:i,s:[o]}", "set_id", "acme-prod", "version", version, "records", record);
    text = json_dumps(set, JSON_COMPACT);
    assert_true(ccg_ok(ccg_store_open(W.db, NULL, &st)));
    assert_true(ccg_ok(ccg_store_refval_put(st, "acme-prod", version, text, ccg_time_now())));
    ccg_store_close(st);
    free(text);
    json_decref(set);
}

static void set_refval_policy(void)
{
    set_attest_policy(json_pack("{s:s,s:i,s:{s:s}}", "policy_id", "attest-snp", "version", 1, "reference_values",
                                "set_id", "acme-prod"));
}

/* The operator removes the issuer "acme" from the configuration and restarts the daemon: the session
 * attested before is refused at its next release (refval.issuer_unknown), not served from the reuse. */
static void removed_issuer_ends_the_reuse(void **state)
{
    guest g;
    buf b;
    uint8_t m[48];
    (void)state;
    require_world();
    default_measurement(m);
    put_refvals(1, m);
    set_refval_policy();
    guest_init(&g);
    guest_attested(&g);
    assert_released(&g);
    restart_daemon(0, 0);
    assert_reason(resource(&g, &b), &b, 403, "refval.issuer_unknown");
    free(b.data);
    restart_daemon(1, 0);
    assert_released(&g); /* the issuer is back, and with it the trust epoch the decision was made in */
    guest_free(&g);
}

/* A new version of the reference-value set without the guest's measurement ends the reuse at once. */
static void new_refval_version_ends_the_reuse(void **state)
{
    guest g;
    buf b;
    uint8_t m[48], other[48];
    (void)state;
    require_world();
    default_measurement(m);
    memcpy(other, m, sizeof(other));
    other[47] ^= 0x01;
    set_refval_policy();
    guest_init(&g);
    guest_attested(&g);
    assert_released(&g);
    put_refvals(2, other);
    assert_reason(resource(&g, &b), &b, 403, "refval.measurement_mismatch");
    free(b.data);
    guest_free(&g);
}

/* Per client address: with a limit of 4 failures a window, the fifth request from 127.0.0.1 (here a
 * new /auth) is refused with 429 until the window closes. Last: it leaves this address limited. */
static void failures_per_address_are_limited(void **state)
{
    guest g;
    uint8_t m[48];
    buf b;
    char *body;
    (void)state;
    require_world();
    restart_daemon(1, 4);
    guest_init(&g);
    default_measurement(m);
    for (int i = 0; i < 4; i++) {
        guest_auth(&g);
        snprintf(g.nonce, sizeof(g.nonce), "a-nonce-this-broker-never-issued");
        body = attestation(&g, m, g.jwk, g.jwk);
        assert_reason(attest(&g, body, &b), &b, 401, "kbs.nonce_mismatch");
        free(b.data);
        free(body);
    }
    assert_reason(http(&g, "POST", "/kbs/v0/auth", "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}", NULL,
                       &b),
                  &b, 429, "kbs.too_many_attempts");
    free(b.data);
    guest_free(&g);
}

/* One size rule for resources (issue 15, docs/kbs.md "Key lifecycle"): an opaque resource of 1 MiB,
 * imported on the host, is released as a JWE like a key, by its current version and by ?version=1; a
 * version that does not exist is key.not_found. */
static void a_1mib_resource_is_released_as_a_jwe(void **state)
{
    char path[400];
    uint8_t *data;
    guest g;
    buf b;
    ccg_secbuf plain;
    long code;
    FILE *f;
    (void)state;
    require_world();
    data = malloc(1u << 20);
    assert_non_null(data);
    assert_int_equal(RAND_bytes(data, 1 << 20), 1);
    snprintf(path, sizeof(path), "%s/mib.bin", W.dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, 1u << 20, f), 1u << 20);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(kbs_cmd("import-key", "--key-id", "e2e/resource/mib", "--policy-id", "attest", "--file", path, NULL), 0);
    guest_init(&g);
    guest_attested(&g);
    for (int with_version = 0; with_version < 2; with_version++) {
        code = http(&g, "GET", with_version ? "/kbs/v0/resource/e2e/resource/mib?version=1"
                                            : "/kbs/v0/resource/e2e/resource/mib",
                    NULL, NULL, &b);
        if (code != 200) {
            fail_msg("resource: %ld %.200s", code, b.data);
        }
        assert_true(ccg_ok(ccg_jwe_decrypt_text(g.priv, b.data, b.len, 1, &plain)));
        assert_int_equal(plain.len, 1u << 20);
        assert_memory_equal(plain.data, data, 1u << 20);
        ccg_secbuf_free(&plain);
        free(b.data);
    }
    assert_reason(http(&g, "GET", "/kbs/v0/resource/e2e/resource/mib?version=2", NULL, NULL, &b), &b, 404,
                  "key.not_found");
    free(b.data);
    guest_free(&g);
    free(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(set_policy_refuses_an_unpinned_policy),
        cmocka_unit_test(replayed_report_with_another_key_gets_no_token),
        cmocka_unit_test(nonce_is_single_use),
        cmocka_unit_test(a_1mib_resource_is_released_as_a_jwe),
        cmocka_unit_test(tee_pubkey_is_canonical),
        cmocka_unit_test(rsa_8192_is_refused),
        cmocka_unit_test(failures_on_one_cookie_are_limited),
        cmocka_unit_test(crl_revoking_the_ask_ends_the_reuse),
        cmocka_unit_test(removed_issuer_ends_the_reuse),
        cmocka_unit_test(new_refval_version_ends_the_reuse),
        cmocka_unit_test(failures_per_address_are_limited),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
