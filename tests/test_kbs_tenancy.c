/* Tenancy and the audit boundary, end to end (issue 10, items 4-6): the real ccgate-kbs daemon (file
 * keystore) on an ephemeral loopback port, driven over HTTP as providers, an operator and guests would
 * drive it; guests' evidence comes from the SNP emulator.
 *
 *   - admin issuers are bound to the roles and subjects they may assert; tokens carry the broker's
 *     audience and a bounded lifetime (admin.audience_mismatch, admin.token_lifetime_exceeded,
 *     admin.role_not_permitted, admin.subject_not_permitted);
 *   - an owner is (issuer, subject): a second issuer that may also assert "acme" can neither disable,
 *     rotate, read nor re-publish acme's key and policy, and its guest does not get acme's key;
 *   - the broker-wide attestation policy is the operator's (admin.policy_reserved for a provider);
 *   - with the audit log refusing writes, no admin change, release, attestation or explanation goes
 *     ahead (audit.write_failed), and nothing changed;
 *   - the host commands write host-operator records, and `ccgate audit verify` still passes;
 *   - a broker token whose iss is another broker's is refused, even when signed by the shared key.
 *
 * How the audit log is made unwritable: a trigger on audit_log that refuses every INSERT, created from
 * outside the daemon on its database (SQLite re-reads the schema on the daemon's next statement). It is
 * the same failure a full disk or a read-only file gives the append (the INSERT fails), without needing
 * a privilege to mount a full filesystem. */
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
#include <openssl/x509.h>
#include <sqlite3.h>

#include "ccgate/audit.h"
#include "ccgate/error.h"
#include "ccgate/http_body.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/secmem.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_report.h"

#include "testutil.h"
#include "tcb_util.h"

typedef ccg_http_body buf;

#define AUD "https://kbs.tenancy.test/admin"
#define BROKER_POLICY "broker-attest"
#define ACME_POLICY "acme-policy"
#define ACME_KEY "acme/model/k1"

static const uint8_t ACME_MODEL_KEY[32] = {0xac, 0x3e, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09,
                                           0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14,
                                           0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0xac};
static const uint8_t OTHER_KEY[32] = {0x0e, 0x0e, 0x0e, 0x0e, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
                                      0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x41, 0x42,
                                      0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c};

typedef struct {
    char dir[128];
    char config[256];
    char db[256];
    char tcb[1024]; /* "tcb_baselines" and "tcb_baseline_issuers": the emulator's TCB is UpToDate */
    char port_file[256];
    char base[64];
    pid_t daemon;
    EVP_PKEY *acme_idp;  /* may assert provider "acme" */
    EVP_PKEY *rogue_idp; /* may assert provider "acme" and "rogue": another IdP that also knows an "acme" */
    EVP_PKEY *ops_idp;   /* may assert operator and authority "ops-1" */
    ccg_snp_emulator *emu;
    uint8_t m_acme[48];  /* acme's approved launch */
    uint8_t m_rogue[48]; /* the rogue tenant's launch */
    int provisioned;
    int skipped;
} world;

static world W;

/* ---------------------------------------------------------------- processes and files */

static int run(char *const argv[], const char *out_file)
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        FILE *o = freopen(out_file != NULL ? out_file : "/dev/null", "w", stdout);
        FILE *e = freopen("/dev/null", "w", stderr);
        (void)o;
        (void)e;
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

static int write_pub(EVP_PKEY *key, const char *name, char *path, size_t cap)
{
    FILE *f;
    snprintf(path, cap, "%s/%s.pub.pem", W.dir, name);
    f = fopen(path, "w");
    return f != NULL && PEM_write_PUBKEY(f, key) == 1 && fclose(f) == 0 ? 0 : -1;
}

/* A daemon on cfg, its stderr in log; killed with the test process if that dies first. */
static pid_t start_daemon(const char *cfg, const char *port_file, const char *log)
{
    pid_t pid = fork();
    if (pid == 0) {
        FILE *e = freopen(log, "w", stderr);
        FILE *o = freopen("/dev/null", "w", stdout);
        (void)e;
        (void)o;
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl(getenv("CCG_KBS"), getenv("CCG_KBS"), "serve", "--config", cfg, "--insecure-http", "--port-file",
              port_file, (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void stop_daemon(pid_t *pid)
{
    if (*pid > 0) {
        int status;
        kill(*pid, SIGTERM);
        waitpid(*pid, &status, 0);
        *pid = 0;
    }
}

static void wait_port(pid_t pid, const char *port_file, char base[64])
{
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(port_file, "r");
        unsigned port = 0;
        int status;
        if (f != NULL) {
            int ok = fscanf(f, "%u", &port);
            fclose(f);
            if (ok == 1 && port > 0) {
                snprintf(base, 64, "http://127.0.0.1:%u", port);
                return;
            }
        }
        assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
        usleep(50 * 1000);
    }
    fail_msg("the daemon did not report its port");
}

static void config_text(char *out, size_t cap, const char *issuer, const char *acme_pub, const char *rogue_pub,
                        const char *ops_pub)
{
    snprintf(out, cap,
             "{\"address\":\"127.0.0.1\",\"port\":0,\"store\":\"%s\",\"allow_unlocked_memory\":true,\"threads\":2,"
             "\"issuer\":\"%s\",\"attestation_policy\":\"" BROKER_POLICY "\",\"explain\":true,\"token_ttl\":600,"
             "\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/kek\"},%s,"
             "\"admin\":{\"audience\":\"" AUD "\",\"issuers\":["
             "{\"name\":\"acme-idp\",\"key\":\"%s\",\"roles\":[\"provider\"],\"subjects\":[\"acme\"]},"
             "{\"name\":\"rogue-idp\",\"key\":\"%s\",\"roles\":[\"provider\"],\"subjects\":[\"acme\",\"rogue\"]},"
             "{\"name\":\"ops\",\"key\":\"%s\",\"roles\":[\"operator\",\"authority\"],\"subjects\":[\"ops-1\"]}]}}",
             W.db, issuer, W.dir, W.tcb, acme_pub, rogue_pub, ops_pub);
}

static int group_setup(void **state)
{
    char text[4096], acme_pub[300], rogue_pub[300], ops_pub[300], log[300];
    ccg_snp_emulator_config ecfg;
    (void)state;
    memset(&W, 0, sizeof(W));
    if (getenv("CCG_KBS") == NULL || getenv("CCG_CLI") == NULL) {
        W.skipped = 1;
        return 0;
    }
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-kbs-tenancy-XXXXXX");
    if (mkdtemp(W.dir) == NULL) {
        return -1;
    }
    snprintf(W.config, sizeof(W.config), "%s/kbs.json", W.dir);
    snprintf(W.db, sizeof(W.db), "%s/kbs.db", W.dir);
    snprintf(W.port_file, sizeof(W.port_file), "%s/port", W.dir);
    char *tcb = tu_write_tcb_config(W.dir);
    snprintf(W.tcb, sizeof(W.tcb), "%s", tcb);
    free(tcb);
    W.acme_idp = EVP_EC_gen("P-256");
    W.rogue_idp = EVP_EC_gen("P-256");
    W.ops_idp = EVP_EC_gen("P-256");
    if (W.acme_idp == NULL || W.rogue_idp == NULL || W.ops_idp == NULL ||
        write_pub(W.acme_idp, "acme", acme_pub, sizeof(acme_pub)) != 0 ||
        write_pub(W.rogue_idp, "rogue", rogue_pub, sizeof(rogue_pub)) != 0 ||
        write_pub(W.ops_idp, "ops", ops_pub, sizeof(ops_pub)) != 0) {
        return -1;
    }
    config_text(text, sizeof(text), "ccgate-kbs", acme_pub, rogue_pub, ops_pub);
    write_text(W.config, text);
    char *const create[] = {getenv("CCG_KBS"), "create-kek", "--config", W.config, NULL};
    if (run(create, NULL) != 0) {
        return -1;
    }
    ccg_snp_emulator_config_init(&ecfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&ecfg, &W.emu))) {
        return -1;
    }
    for (int i = 0; i < 48; i++) {
        W.m_acme[i] = (uint8_t)(0x10 + i);
        W.m_rogue[i] = (uint8_t)(0x90 + i);
    }
    snprintf(log, sizeof(log), "%s/daemon.log", W.dir);
    W.daemon = start_daemon(W.config, W.port_file, log);
    return W.daemon > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    stop_daemon(&W.daemon);
    if (W.dir[0] != 0) {
        char *const rm[] = {"rm", "-rf", W.dir, NULL};
        (void)run(rm, NULL);
    }
    ccg_snp_emulator_free(W.emu);
    EVP_PKEY_free(W.acme_idp);
    EVP_PKEY_free(W.rogue_idp);
    EVP_PKEY_free(W.ops_idp);
    return 0;
}

static void require_world(void)
{
    if (W.skipped) {
        if (getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0) {
            fail_msg("CCG_KBS or CCG_CLI is not set; CI=true requires them");
        }
        skip();
    }
    if (W.base[0] == 0) {
        wait_port(W.daemon, W.port_file, W.base);
    }
}

/* ---------------------------------------------------------------- the audit log, unwritable */

static void db_exec(const char *sql)
{
    sqlite3 *db = NULL;
    char *err = NULL;
    assert_int_equal(sqlite3_open(W.db, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fail_msg("%s: %s", sql, err != NULL ? err : "?");
    }
    sqlite3_close(db);
}

static void audit_unwritable(int on)
{
    db_exec(on ? "CREATE TRIGGER test_audit_refused BEFORE INSERT ON audit_log"
                 " BEGIN SELECT RAISE(ABORT, 'the audit log refuses writes (test)'); END"
               : "DROP TRIGGER test_audit_refused");
}

/* After every test, also a failed one: the log is writable again. */
static int writable_again(void **state)
{
    (void)state;
    if (!W.skipped) {
        db_exec("DROP TRIGGER IF EXISTS test_audit_refused");
    }
    return 0;
}

static int64_t audit_records(void)
{
    ccg_audit *a = NULL;
    int64_t seq = 0;
    char hash[CCG_AUDIT_HASH_HEX];
    ccg_audit_options opts = {.create = 0};
    assert_true(ccg_ok(ccg_audit_open(W.db, &opts, &a)));
    assert_true(ccg_ok(ccg_audit_head(a, &seq, hash)));
    ccg_audit_close(a);
    return seq;
}

/* Every record from seq `after` on, as JSON. */
static json_t *records_after(int64_t after)
{
    ccg_audit *a = NULL;
    json_t *out = NULL;
    ccg_audit_options opts = {.create = 0};
    assert_true(ccg_ok(ccg_audit_open(W.db, &opts, &a)));
    assert_true(ccg_ok(ccg_audit_list(a, after, 0, &out)));
    ccg_audit_close(a);
    return out;
}

/* ---------------------------------------------------------------- admin tokens and HTTP */

static char *token_claims(EVP_PKEY *key, json_t *claims)
{
    char *t = NULL;
    assert_non_null(claims);
    assert_true(ccg_ok(ccg_jwt_sign_es256(key, claims, &t)));
    json_decref(claims);
    return t;
}

static char *token(EVP_PKEY *key, const char *role, const char *sub)
{
    ccg_time now = ccg_time_now();
    return token_claims(key, json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", sub, "role", role, "aud", AUD, "iat",
                                       (json_int_t)now, "exp", (json_int_t)(now + 600)));
}

static long http_on(const char *base, const char *method, const char *path, const char *body, const char *bearer,
                    const char *cookie, buf *out)
{
    char url[512], auth[8192], cookie_hdr[512];
    struct curl_slist *headers = NULL;
    long code = 0;
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (bearer != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        headers = curl_slist_append(headers, auth);
    }
    if (cookie != NULL) {
        snprintf(cookie_hdr, sizeof(cookie_hdr), "Cookie: %s=%s", CCG_KBS_COOKIE, cookie);
        headers = curl_slist_append(headers, cookie_hdr);
    }
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return code;
}

static long http(const char *method, const char *path, const char *body, const char *bearer, buf *out)
{
    return http_on(W.base, method, path, body, bearer, NULL, out);
}

static const char *first_reason(const buf *b, json_t **doc)
{
    *doc = b->data != NULL ? json_loadb(b->data, b->len, 0, NULL) : NULL;
    return json_string_value(json_array_get(json_object_get(*doc, "reasons"), 0));
}

static void check(long got, const buf *b, long status, const char *code, const char *what)
{
    json_t *doc = NULL;
    const char *first = first_reason(b, &doc);
    if (got != status) {
        fail_msg("%s: HTTP %ld, expected %ld: %s", what, got, status, b->data != NULL ? b->data : "");
    }
    if (code != NULL && (first == NULL || strcmp(first, code) != 0)) {
        fail_msg("%s: reason %s, expected %s: %s", what, first != NULL ? first : "(none)", code,
                 b->data != NULL ? b->data : "");
    }
    json_decref(doc);
}

/* Calls and checks the status and (when code is given) the first reason. */
static void expect(const char *method, const char *path, const char *body, const char *bearer, long status,
                   const char *code)
{
    buf b;
    char what[600];
    long got = http(method, path, body, bearer, &b);
    snprintf(what, sizeof(what), "%s %s", method, path);
    check(got, &b, status, code, what);
    free(b.data);
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

/* A release policy naming the emulator's root, the emulator's TCB as the floor, and the measurements. */
static char *policy_doc(const char *id, int version, const uint8_t *m1, const uint8_t *m2)
{
    const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(W.emu);
    char *pem = pem_of(ccg_snp_emulator_ark(W.emu)), *text;
    char hex1[97], hex2[97];
    json_t *doc, *allowed;
    ccg_hex_encode(m1, 48, hex1);
    hex1[96] = 0;
    allowed = json_pack("[s]", hex1);
    if (m2 != NULL) {
        ccg_hex_encode(m2, 48, hex2);
        hex2[96] = 0;
        json_array_append_new(allowed, json_string(hex2));
    }
    doc = json_pack("{s:s,s:i,s:[s],s:[{s:s,s:s}],s:{s:s,s:i,s:b,s:{s:i,s:i,s:i,s:i},s:o}}", "policy_id", id,
                    "version", version, "allowed_tees", "snp", "trusted_roots", "product", "milan", "pem", pem,
                    "snp_policy", "policy_id", "tenancy-snp", "version", 1, "debug_allowed", 0, "minimum_tcb",
                    "bootloader", cfg->tcb.bootloader, "tee", cfg->tcb.tee, "snp", cfg->tcb.snp, "microcode",
                    cfg->tcb.microcode, "allowed_measurements", allowed);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(pem);
    return text;
}

static char *import_doc(const char *key_id, const char *policy_id, const uint8_t *key)
{
    char *b64 = ccg_b64url_encode(key, 32), *text;
    json_t *doc = json_pack("{s:s,s:s,s:s}", "key_id", key_id, "policy_id", policy_id, "key", b64);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(b64);
    return text;
}

static char *rotate_doc(const uint8_t *key)
{
    char *b64 = ccg_b64url_encode(key, 32), *text;
    json_t *doc = json_pack("{s:s}", "key", b64);
    text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(b64);
    return text;
}

/* The operator's broker-wide policy (acme's and the rogue tenant's launches may attest), acme's policy
 * (acme's launch only) and acme's key, once. */
static void provision(void)
{
    char *ops, *acme, *pol, *imp;
    if (W.provisioned) {
        return;
    }
    ops = token(W.ops_idp, "operator", "ops-1");
    acme = token(W.acme_idp, "provider", "acme");
    pol = policy_doc(BROKER_POLICY, 1, W.m_acme, W.m_rogue);
    expect("POST", "/admin/v0/policies", pol, ops, 201, NULL);
    free(pol);
    pol = policy_doc(ACME_POLICY, 1, W.m_acme, NULL);
    expect("POST", "/admin/v0/policies", pol, acme, 201, NULL);
    free(pol);
    imp = import_doc(ACME_KEY, ACME_POLICY, ACME_MODEL_KEY);
    expect("POST", "/admin/v0/keys", imp, acme, 201, NULL);
    free(imp);
    free(ops);
    free(acme);
    W.provisioned = 1;
}

/* The live version's state and version of a key, as its owner sees it. */
static void key_state(const char *key_id, const char *want_state, int64_t want_version)
{
    char *acme = token(W.acme_idp, "provider", "acme"), path[300];
    buf b;
    json_t *doc, *keys, *live = NULL;
    size_t i;
    json_t *v;
    snprintf(path, sizeof(path), "/admin/v0/keys/%s", key_id);
    assert_int_equal(http("GET", path, NULL, acme, &b), 200);
    doc = json_loadb(b.data, b.len, 0, NULL);
    keys = json_object_get(doc, "keys");
    json_array_foreach(keys, i, v) {
        if (strcmp(json_string_value(json_object_get(v, "state")), "retired") != 0) {
            live = v;
        }
    }
    assert_non_null(live);
    assert_string_equal(json_string_value(json_object_get(live, "state")), want_state);
    assert_int_equal(json_integer_value(json_object_get(live, "version")), want_version);
    json_decref(doc);
    free(b.data);
    free(acme);
}

/* ---------------------------------------------------------------- guests */

typedef struct {
    EVP_PKEY *priv;
    json_t *jwk;
    char session[160];
    char nonce[160];
} guest;

static void guest_init(guest *g)
{
    ccg_jwk *jwk = NULL;
    memset(g, 0, sizeof(*g));
    g->priv = EVP_EC_gen("P-256");
    assert_non_null(g->priv);
    assert_true(ccg_ok(ccg_jwk_from_pkey(g->priv, NULL, &jwk)));
    g->jwk = ccg_jwk_to_json(jwk);
    assert_non_null(g->jwk);
    ccg_jwk_free(jwk);
}

static void guest_free(guest *g)
{
    EVP_PKEY_free(g->priv);
    json_decref(g->jwk);
}

/* /auth with a cookie jar of one: the session ID from Set-Cookie. */
static void guest_auth_on(guest *g, const char *base)
{
    char url[300];
    buf b = {0};
    json_t *ch;
    struct curl_slist *cookies = NULL;
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    snprintf(url, sizeof(url), "%s/kbs/v0/auth", base);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_COOKIEFILE, "");
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, "{\"version\":\"0.4.0\",\"tee\":\"snp\",\"extra-params\":{}}");
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(curl), CURLE_OK);
    assert_int_equal(curl_easy_getinfo(curl, CURLINFO_COOKIELIST, &cookies), CURLE_OK);
    assert_non_null(cookies);
    /* Netscape format: the value is the 7th tab-separated field. */
    const char *p = cookies->data;
    for (int tabs = 0; tabs < 6 && p != NULL; tabs++) {
        p = strchr(p, '\t');
        p = p != NULL ? p + 1 : NULL;
    }
    assert_non_null(p);
    snprintf(g->session, sizeof(g->session), "%s", p);
    ch = json_loadb(b.data, b.len, 0, NULL);
    assert_non_null(ch);
    snprintf(g->nonce, sizeof(g->nonce), "%s", json_string_value(json_object_get(ch, "nonce")));
    json_decref(ch);
    curl_slist_free_all(cookies);
    curl_easy_cleanup(curl);
    free(b.data);
}

static char *b64std(const uint8_t *p, size_t n)
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
    out = b64std(der, (size_t)n);
    OPENSSL_free(der);
    return out;
}

/* The Attestation for the guest's nonce and key, from a launch with this measurement. */
static char *guest_attestation(guest *g, const uint8_t measurement[48])
{
    json_t *runtime, *att;
    char *canon = NULL, *report, *vcek, *ask, *text;
    size_t canon_len = 0;
    unsigned int md_len = 0;
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    runtime = json_pack("{s:s,s:s,s:O}", "additional-evidence", "", "nonce", g->nonce, "tee-pubkey", g->jwk);
    assert_true(ccg_ok(ccg_jcs_serialize(runtime, &canon, &canon_len)));
    json_decref(runtime);
    ccg_snp_emulator_default_report(W.emu, &r);
    memset(r.report_data, 0, sizeof(r.report_data));
    assert_int_equal(EVP_Digest(canon, canon_len, r.report_data, &md_len, EVP_sha384(), NULL), 1);
    free(canon);
    memcpy(r.measurement, measurement, 48);
    assert_true(ccg_ok(ccg_snp_emulator_sign(W.emu, &r, bytes)));
    report = b64std(bytes, sizeof(bytes));
    vcek = der_b64(ccg_snp_emulator_vcek(W.emu));
    ask = der_b64(ccg_snp_emulator_ask(W.emu));
    att = json_pack("{s:{s:s,s:O},s:{s:{s:s,s:[{s:s,s:s},{s:s,s:s}]},s:s}}", "runtime-data", "nonce", g->nonce,
                    "tee-pubkey", g->jwk, "tee-evidence", "primary_evidence", "attestation_report", report,
                    "cert_chain", "cert_type", "VCEK", "data", vcek, "cert_type", "ASK", "data", ask,
                    "additional_evidence", "");
    text = json_dumps(att, JSON_COMPACT);
    json_decref(att);
    free(report);
    free(vcek);
    free(ask);
    return text;
}

static long guest_attest_on(guest *g, const char *base, const uint8_t measurement[48], buf *out)
{
    char *att = guest_attestation(g, measurement);
    long code = http_on(base, "POST", "/kbs/v0/attest", att, NULL, g->session, out);
    free(att);
    return code;
}

/* A fresh guest of this launch, attested; returns its token (malloc'd). */
static char *guest_attested(guest *g, const uint8_t measurement[48])
{
    buf b;
    json_t *doc;
    char *t;
    guest_init(g);
    guest_auth_on(g, W.base);
    long code = guest_attest_on(g, W.base, measurement, &b);
    if (code != 200) {
        fail_msg("attest: %ld %s", code, b.data);
    }
    doc = json_loadb(b.data, b.len, 0, NULL);
    t = strdup(json_string_value(json_object_get(doc, "token")));
    json_decref(doc);
    free(b.data);
    return t;
}

static long guest_resource(guest *g, const char *key_id, buf *out)
{
    char path[300];
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", key_id);
    return http_on(W.base, "GET", path, NULL, NULL, g->session, out);
}

static void assert_key(guest *g, const buf *b, const uint8_t *want)
{
    ccg_secbuf plain;
    assert_true(ccg_ok(ccg_jwe_decrypt_text(g->priv, b->data, b->len, 1, &plain)));
    assert_int_equal(plain.len, 32);
    assert_memory_equal(plain.data, want, 32);
    ccg_secbuf_free(&plain);
}

/* ---------------------------------------------------------------- item 4: issuers, aud, lifetime */

static void tokens_are_bound_to_their_issuer(void **state)
{
    ccg_time now = ccg_time_now();
    char *t;
    (void)state;
    require_world();
    /* No aud, another broker's aud: admin.audience_mismatch. */
    t = token_claims(W.acme_idp, json_pack("{s:s,s:s,s:I,s:I}", "sub", "acme", "role", "provider", "iat",
                                           (json_int_t)now, "exp", (json_int_t)(now + 600)));
    expect("GET", "/admin/v0/keys", NULL, t, 401, "admin.audience_mismatch");
    free(t);
    t = token_claims(W.acme_idp, json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", "acme", "role", "provider", "aud",
                                           "https://other-kbs/admin", "iat", (json_int_t)now, "exp",
                                           (json_int_t)(now + 600)));
    expect("GET", "/admin/v0/keys", NULL, t, 401, "admin.audience_mismatch");
    free(t);
    /* aud as an array that names this broker is accepted (RFC 7519 4.1.3). */
    t = token_claims(W.acme_idp, json_pack("{s:s,s:s,s:[s,s],s:I,s:I}", "sub", "acme", "role", "provider", "aud",
                                           "https://other-kbs/admin", AUD, "iat", (json_int_t)now, "exp",
                                           (json_int_t)(now + 600)));
    expect("GET", "/admin/v0/keys", NULL, t, 200, NULL);
    free(t);
    /* Longer than the default maximum of 1 h, or not positive: admin.token_lifetime_exceeded. */
    t = token_claims(W.acme_idp, json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", "acme", "role", "provider", "aud", AUD,
                                           "iat", (json_int_t)now, "exp", (json_int_t)(now + 3601)));
    expect("GET", "/admin/v0/keys", NULL, t, 401, "admin.token_lifetime_exceeded");
    free(t);
    t = token_claims(W.acme_idp, json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", "acme", "role", "provider", "aud", AUD,
                                           "iat", (json_int_t)now, "exp", (json_int_t)now));
    expect("GET", "/admin/v0/keys", NULL, t, 401, "admin.token_lifetime_exceeded");
    free(t);
    t = token_claims(W.acme_idp, json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", "acme", "role", "provider", "aud", AUD,
                                           "iat", (json_int_t)now, "exp", (json_int_t)(now + 3600)));
    expect("GET", "/admin/v0/keys", NULL, t, 200, NULL);
    free(t);
    /* Roles and subjects outside the issuer's mandate. */
    t = token(W.acme_idp, "operator", "acme");
    expect("GET", "/admin/v0/health", NULL, t, 401, "admin.role_not_permitted");
    free(t);
    t = token(W.rogue_idp, "authority", "rogue");
    expect("POST", "/admin/v0/collateral", "{}", t, 401, "admin.role_not_permitted");
    free(t);
    t = token(W.acme_idp, "provider", "globex");
    expect("GET", "/admin/v0/keys", NULL, t, 401, "admin.subject_not_permitted");
    free(t);
    t = token(W.ops_idp, "operator", "root");
    expect("GET", "/admin/v0/health", NULL, t, 401, "admin.subject_not_permitted");
    free(t);
    /* A token whose iss names another issuer than the one whose key verifies it. */
    t = token_claims(W.rogue_idp, json_pack("{s:s,s:s,s:s,s:s,s:I,s:I}", "sub", "acme", "role", "provider", "aud",
                                            AUD, "iss", "acme-idp", "iat", (json_int_t)now, "exp",
                                            (json_int_t)(now + 600)));
    expect("GET", "/admin/v0/keys", NULL, t, 401, "admin.unauthenticated");
    free(t);
}

/* The reproduction of item 4: a second issuer mints {role: provider, sub: "acme"}. */
static void a_second_issuer_cannot_act_for_acme(void **state)
{
    char *rogue, *acme, *pol2, *rot, *imp, *tok;
    guest g;
    buf b;
    (void)state;
    require_world();
    provision();
    rogue = token(W.rogue_idp, "provider", "acme");
    acme = token(W.acme_idp, "provider", "acme");
    expect("POST", "/admin/v0/keys/" ACME_KEY "/disable", NULL, rogue, 403, "admin.forbidden");
    expect("POST", "/admin/v0/keys/" ACME_KEY "/enable", NULL, rogue, 403, "admin.forbidden");
    rot = rotate_doc(OTHER_KEY);
    expect("POST", "/admin/v0/keys/" ACME_KEY "/rotate", rot, rogue, 403, "admin.forbidden");
    expect("GET", "/admin/v0/keys/" ACME_KEY, NULL, rogue, 403, "admin.forbidden");
    expect("GET", "/admin/v0/policies/" ACME_POLICY, NULL, rogue, 403, "admin.forbidden");
    pol2 = policy_doc(ACME_POLICY, 2, W.m_acme, W.m_rogue); /* would let the rogue launch in */
    expect("POST", "/admin/v0/policies", pol2, rogue, 403, "admin.forbidden");
    imp = import_doc("rogue/model/k1", ACME_POLICY, OTHER_KEY);
    expect("POST", "/admin/v0/keys", imp, rogue, 403, "admin.forbidden");
    assert_int_equal(http("GET", "/admin/v0/keys", NULL, rogue, &b), 200);
    assert_non_null(strstr(b.data, "\"keys\":[]"));
    free(b.data);
    /* acme's key and policy are as acme left them. */
    key_state(ACME_KEY, "active", 1);
    assert_int_equal(http("GET", "/admin/v0/policies/" ACME_POLICY, NULL, acme, &b), 200);
    assert_non_null(strstr(b.data, "\"version\":1,"));
    free(b.data);

    /* The rogue tenant's guest passes the broker-wide policy but not acme's: no key. */
    tok = guest_attested(&g, W.m_rogue);
    free(tok);
    check(guest_resource(&g, ACME_KEY, &b), &b, 403, "snp.measurement_not_allowed", "rogue guest");
    assert_null(strstr(b.data, "protected"));
    free(b.data);
    guest_free(&g);
    /* acme's own guest does. */
    tok = guest_attested(&g, W.m_acme);
    free(tok);
    check(guest_resource(&g, ACME_KEY, &b), &b, 200, NULL, "acme guest");
    assert_key(&g, &b, ACME_MODEL_KEY);
    free(b.data);
    guest_free(&g);
    free(imp);
    free(pol2);
    free(rot);
    free(rogue);
    free(acme);
}

/* The same subject from the rogue issuer owns what it creates: two owners, no crossover. */
static void owners_are_issuer_and_subject(void **state)
{
    char *rogue, *acme, *pol, *imp;
    (void)state;
    require_world();
    provision();
    rogue = token(W.rogue_idp, "provider", "acme");
    acme = token(W.acme_idp, "provider", "acme");
    pol = policy_doc("rogue-acme-policy", 1, W.m_rogue, NULL);
    expect("POST", "/admin/v0/policies", pol, rogue, 201, NULL);
    imp = import_doc("rogue-acme/model/k1", "rogue-acme-policy", OTHER_KEY);
    expect("POST", "/admin/v0/keys", imp, rogue, 201, NULL);
    expect("POST", "/admin/v0/keys/rogue-acme/model/k1/disable", NULL, acme, 403, "admin.forbidden");
    expect("GET", "/admin/v0/policies/rogue-acme-policy", NULL, acme, 403, "admin.forbidden");
    expect("POST", "/admin/v0/keys/rogue-acme/model/k1/disable", NULL, rogue, 200, NULL);
    free(imp);
    free(pol);
    free(rogue);
    free(acme);
}

/* A key and policy whose owner an earlier broker recorded as a subject alone, which no single configured
 * issuer may assert (here the subject "globex"): nobody acts on them, with a code that says why. */
static void legacy_owners_without_an_issuer_are_nobodys(void **state)
{
    char path[300], keyfile[300], *text, *acme, *rogue;
    FILE *f;
    (void)state;
    require_world();
    provision();
    snprintf(path, sizeof(path), "%s/legacy-policy.json", W.dir);
    text = policy_doc("legacy-policy", 1, W.m_acme, NULL);
    write_text(path, text);
    free(text);
    snprintf(keyfile, sizeof(keyfile), "%s/legacy-key", W.dir);
    f = fopen(keyfile, "wb");
    assert_int_equal(fwrite(OTHER_KEY, 1, 32, f), 32);
    fclose(f);
    char *set[] = {getenv("CCG_KBS"), "set-policy", "--config", W.config, "--file", path, NULL};
    assert_int_equal(run(set, NULL), 0);
    char *imp[] = {getenv("CCG_KBS"), "import-key", "--config", W.config, "--key-id", "legacy/model/k1",
                   "--policy-id", "legacy-policy", "--file", keyfile, NULL};
    assert_int_equal(run(imp, NULL), 0);
    db_exec("INSERT INTO owners(kind, object_id, issuer, subject, created_at, updated_at) VALUES"
            " ('policy', 'legacy-policy', '', 'acme', 1, 1), ('key', 'legacy/model/k1', '', 'acme', 1, 1)");
    acme = token(W.acme_idp, "provider", "acme");
    rogue = token(W.rogue_idp, "provider", "acme");
    expect("POST", "/admin/v0/keys/legacy/model/k1/disable", NULL, acme, 403, "admin.owner_unbound");
    expect("POST", "/admin/v0/keys/legacy/model/k1/disable", NULL, rogue, 403, "admin.owner_unbound");
    expect("GET", "/admin/v0/policies/legacy-policy", NULL, acme, 403, "admin.owner_unbound");
    text = policy_doc("legacy-policy", 2, W.m_acme, W.m_rogue);
    expect("POST", "/admin/v0/policies", text, rogue, 403, "admin.owner_unbound");
    free(text);
    free(acme);
    free(rogue);
}

/* ---------------------------------------------------------------- item 5: the broker-wide policy */

static void the_broker_wide_policy_is_the_operators(void **state)
{
    char *acme, *ops, *pol, *imp;
    buf b;
    (void)state;
    require_world();
    provision();
    acme = token(W.acme_idp, "provider", "acme");
    ops = token(W.ops_idp, "operator", "ops-1");
    pol = policy_doc(BROKER_POLICY, 2, W.m_acme, NULL); /* would shut the rogue tenant out */
    expect("POST", "/admin/v0/policies", pol, acme, 403, "admin.policy_reserved");
    expect("GET", "/admin/v0/policies/" BROKER_POLICY, NULL, acme, 403, "admin.policy_reserved");
    imp = import_doc("acme/model/k9", BROKER_POLICY, OTHER_KEY);
    expect("POST", "/admin/v0/keys", imp, acme, 403, "admin.policy_reserved");
    /* Still version 1: the operator reads it; another tenant's guest still attests. */
    assert_int_equal(http("GET", "/admin/v0/policies/" BROKER_POLICY, NULL, ops, &b), 200);
    assert_non_null(strstr(b.data, "\"version\":1,"));
    free(b.data);
    {
        guest g;
        char *tok = guest_attested(&g, W.m_rogue);
        free(tok);
        guest_free(&g);
    }
    /* The operator sets only the broker-wide policy, not a tenant's. */
    free(pol);
    pol = policy_doc(ACME_POLICY, 9, W.m_acme, NULL);
    expect("POST", "/admin/v0/policies", pol, ops, 403, "admin.forbidden");
    free(pol);
    free(imp);
    free(acme);
    free(ops);
}

/* ---------------------------------------------------------------- item 6: the audit boundary */

/* With the audit log refusing writes, every admin change answers audit.write_failed and changes
 * nothing; afterwards the same changes go through. */
static void admin_changes_wait_for_their_record(void **state)
{
    char *acme, *ops, *rot, *pol2, *imp, *bpol;
    int64_t before;
    (void)state;
    require_world();
    provision();
    acme = token(W.acme_idp, "provider", "acme");
    ops = token(W.ops_idp, "operator", "ops-1");
    rot = rotate_doc(OTHER_KEY);
    pol2 = policy_doc(ACME_POLICY, 2, W.m_acme, NULL);
    imp = import_doc("acme/model/k2", ACME_POLICY, OTHER_KEY);
    bpol = policy_doc(BROKER_POLICY, 3, W.m_acme, W.m_rogue);
    key_state(ACME_KEY, "active", 1);
    before = audit_records();
    audit_unwritable(1);
    expect("POST", "/admin/v0/keys/" ACME_KEY "/disable", NULL, acme, 503, "audit.write_failed");
    expect("POST", "/admin/v0/keys/" ACME_KEY "/rotate", rot, acme, 503, "audit.write_failed");
    expect("POST", "/admin/v0/policies", pol2, acme, 503, "audit.write_failed");
    expect("POST", "/admin/v0/keys", imp, acme, 503, "audit.write_failed");
    expect("POST", "/admin/v0/policies", bpol, ops, 503, "audit.write_failed");
    expect("POST", "/admin/v0/collateral", "{\"collateral_id\":\"c1\",\"version\":1,\"data\":\"AAEC\"}", ops, 503,
           "audit.write_failed");
    /* A read is recorded before its answer too. */
    expect("GET", "/admin/v0/keys", NULL, acme, 503, "audit.write_failed");
    audit_unwritable(0);
    assert_int_equal(audit_records(), before);
    /* Nothing changed: the key is active at version 1, acme-policy and the broker policy are unchanged,
     * acme/model/k2 and the collateral do not exist. */
    key_state(ACME_KEY, "active", 1);
    expect("GET", "/admin/v0/keys/acme/model/k2", NULL, acme, 404, "key.not_found");
    {
        buf b;
        assert_int_equal(http("GET", "/admin/v0/policies/" ACME_POLICY, NULL, acme, &b), 200);
        assert_non_null(strstr(b.data, "\"version\":1,"));
        free(b.data);
        assert_int_equal(http("GET", "/admin/v0/policies/" BROKER_POLICY, NULL, ops, &b), 200);
        assert_null(strstr(b.data, "\"version\":3,"));
        free(b.data);
    }
    /* With the log writable again the same calls succeed, each recorded once before its answer. */
    expect("POST", "/admin/v0/keys/" ACME_KEY "/disable", NULL, acme, 200, NULL);
    key_state(ACME_KEY, "disabled", 1);
    expect("POST", "/admin/v0/keys/" ACME_KEY "/enable", NULL, acme, 200, NULL);
    expect("POST", "/admin/v0/keys", imp, acme, 201, NULL);
    expect("POST", "/admin/v0/policies", bpol, ops, 201, NULL);
    /* One allow record per change, none from the refused attempts. */
    {
        static const char *const actions[] = {"admin.key.disable", "admin.key.enable", "admin.key.import",
                                               "admin.policy.set"};
        json_t *recs = records_after(before), *r;
        size_t i;
        for (size_t a = 0; a < 4; a++) {
            int n = 0;
            json_array_foreach(recs, i, r) {
                n += strcmp(json_string_value(json_object_get(r, "action")), actions[a]) == 0;
            }
            if (n != 1) {
                fail_msg("%d records of %s", n, actions[a]);
            }
        }
        json_decref(recs);
    }
    free(rot);
    free(pol2);
    free(imp);
    free(bpol);
    free(acme);
    free(ops);
}

/* A release whose audit record cannot be written does not go out (kbs_resource.c). */
static void no_release_without_its_record(void **state)
{
    guest g;
    buf b;
    char *tok;
    (void)state;
    require_world();
    provision();
    tok = guest_attested(&g, W.m_acme);
    audit_unwritable(1);
    check(guest_resource(&g, ACME_KEY, &b), &b, 503, "audit.write_failed", "resource, cookie");
    assert_null(strstr(b.data, "protected"));
    assert_null(strstr(b.data, "ciphertext"));
    free(b.data);
    {
        char path[300];
        snprintf(path, sizeof(path), "/kbs/v0/resource/%s", ACME_KEY);
        check(http("GET", path, NULL, tok, &b), &b, 503, "audit.write_failed", "resource, bearer");
        assert_null(strstr(b.data, "protected"));
        free(b.data);
    }
    audit_unwritable(0);
    check(guest_resource(&g, ACME_KEY, &b), &b, 200, NULL, "resource after");
    assert_key(&g, &b, ACME_MODEL_KEY);
    free(b.data);
    free(tok);
    guest_free(&g);
}

/* /attest whose record cannot be written leaves the session unattested: no token, and the session's
 * cookie gets no key once the log works again. */
static void no_attested_session_without_its_record(void **state)
{
    guest g;
    buf b;
    (void)state;
    require_world();
    provision();
    guest_init(&g);
    guest_auth_on(&g, W.base);
    audit_unwritable(1);
    check(guest_attest_on(&g, W.base, W.m_acme, &b), &b, 503, "audit.write_failed", "attest");
    assert_null(strstr(b.data, "token"));
    free(b.data);
    audit_unwritable(0);
    check(guest_resource(&g, ACME_KEY, &b), &b, 401, "kbs.not_attested", "resource after a failed attest");
    free(b.data);
    guest_free(&g);
}

/* /explain whose record cannot be written answers nothing but audit.write_failed. */
static void no_explanation_without_its_record(void **state)
{
    guest g;
    buf b;
    char *att, *body;
    (void)state;
    require_world();
    provision();
    guest_init(&g);
    guest_auth_on(&g, W.base);
    att = guest_attestation(&g, W.m_acme);
    body = malloc(strlen(att) + 128);
    sprintf(body, "{\"policy_id\":\"%s\",\"tee\":\"snp\",\"attestation\":%s}", ACME_POLICY, att);
    char *ops = token(W.ops_idp, "operator", "ops-1"); /* explain needs the operator or provider role */
    audit_unwritable(1);
    check(http("POST", "/kbs/v0/explain", body, ops, &b), &b, 503, "audit.write_failed", "explain");
    assert_null(strstr(b.data, "\"decision\""));
    free(b.data);
    audit_unwritable(0);
    check(http("POST", "/kbs/v0/explain", body, ops, &b), &b, 200, NULL, "explain after");
    free(ops);
    assert_non_null(strstr(b.data, "\"decision\":\"allow\""));
    free(b.data);
    free(body);
    free(att);
    guest_free(&g);
}

/* ---------------------------------------------------------------- item 6: the host commands */

static int kbs_cmd(const char *cmd, const char *a1, const char *v1, const char *a2, const char *v2,
                   const char *a3, const char *v3)
{
    char *argv[12];
    int n = 0;
    argv[n++] = getenv("CCG_KBS");
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
    return run(argv, NULL);
}

/* The host operator's records from seq `after` on. */
static json_t *host_records_after(int64_t after)
{
    json_t *all = records_after(after), *out = json_array(), *r;
    size_t i;
    json_array_foreach(all, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "persona")), "host-operator") == 0) {
            json_array_append(out, r);
        }
    }
    json_decref(all);
    return out;
}

static void assert_host_record(const json_t *rec, const char *action, const char *decision, const char *key_id)
{
    assert_string_equal(json_string_value(json_object_get(rec, "persona")), "host-operator");
    assert_string_equal(json_string_value(json_object_get(rec, "action")), action);
    assert_string_equal(json_string_value(json_object_get(rec, "decision")), decision);
    assert_true(strncmp(json_string_value(json_object_get(rec, "request_id")), "host-", 5) == 0);
    if (key_id != NULL) {
        assert_string_equal(json_string_value(json_object_get(rec, "key_id")), key_id);
    }
}

static void host_commands_are_audited(void **state)
{
    char pol[300], keyfile[300], key2[300], *text;
    int64_t before;
    json_t *recs;
    FILE *f;
    (void)state;
    require_world();
    provision();
    snprintf(pol, sizeof(pol), "%s/host-policy.json", W.dir);
    text = policy_doc("host-policy", 1, W.m_acme, NULL);
    write_text(pol, text);
    free(text);
    snprintf(keyfile, sizeof(keyfile), "%s/host-key", W.dir);
    snprintf(key2, sizeof(key2), "%s/host-key2", W.dir);
    f = fopen(keyfile, "wb");
    assert_int_equal(fwrite(OTHER_KEY, 1, 32, f), 32);
    fclose(f);
    f = fopen(key2, "wb");
    assert_int_equal(fwrite(ACME_MODEL_KEY, 1, 32, f), 32);
    fclose(f);

    before = audit_records();
    assert_int_equal(kbs_cmd("set-policy", "--file", pol, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(kbs_cmd("import-key", "--key-id", "host/model/k", "--policy-id", "host-policy", "--file",
                             keyfile),
                     0);
    /* The kill switch the README shows, with the audit log unwritable: refused, and the key stays on. */
    audit_unwritable(1);
    assert_int_equal(kbs_cmd("key-state", "--key-id", "host/model/k", "--state", "disabled", NULL, NULL), 1);
    assert_int_equal(kbs_cmd("rotate-key", "--key-id", "host/model/k", "--file", key2, NULL, NULL), 1);
    audit_unwritable(0);
    {
        char *ops = token(W.ops_idp, "operator", "ops-1");
        buf b;
        assert_int_equal(http("GET", "/admin/v0/keys/host/model/k", NULL, ops, &b), 200);
        assert_non_null(strstr(b.data, "\"active\""));
        assert_null(strstr(b.data, "\"disabled\""));
        assert_null(strstr(b.data, "\"retired\""));
        free(b.data);
        free(ops);
    }
    assert_int_equal(kbs_cmd("key-state", "--key-id", "host/model/k", "--state", "disabled", NULL, NULL), 0);
    assert_int_equal(kbs_cmd("key-state", "--key-id", "host/model/k", "--state", "disabled", NULL, NULL), 1);
    assert_int_equal(kbs_cmd("rotate-key", "--key-id", "host/model/k", "--file", key2, NULL, NULL), 0);
    assert_int_equal(kbs_cmd("key-state", "--key-id", "host/model/none", "--state", "retired", NULL, NULL), 1);

    recs = host_records_after(before);
    assert_int_equal(json_array_size(recs), 6);
    assert_host_record(json_array_get(recs, 0), "host.policy.set", "allow", NULL);
    assert_string_equal(json_string_value(json_object_get(json_array_get(recs, 0), "policy_id")), "host-policy");
    assert_host_record(json_array_get(recs, 1), "host.key.import", "allow", "host/model/k");
    assert_host_record(json_array_get(recs, 2), "host.key.disable", "allow", "host/model/k");
    assert_host_record(json_array_get(recs, 3), "host.key.disable", "deny", "host/model/k");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(recs, 3), "reasons"), 0)),
                        "store.conflict");
    assert_host_record(json_array_get(recs, 4), "host.key.rotate", "allow", "host/model/k");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(recs, 4), "key_version")), 2);
    assert_host_record(json_array_get(recs, 5), "host.key.retire", "deny", "host/model/none");
    assert_string_equal(json_string_value(json_array_get(json_object_get(json_array_get(recs, 5), "reasons"), 0)),
                        "key.not_found");
    json_decref(recs);
    {
        char *verify[] = {getenv("CCG_CLI"), "audit", "verify", "--db", W.db, NULL};
        assert_int_equal(run(verify, NULL), 0);
    }
}

/* ---------------------------------------------------------------- the broker token's issuer */

/* A replica sharing the store (and so the token key) but configured as another issuer refuses this
 * broker's tokens: the signature alone does not make a token ours (kbs_token.c). */
static void a_token_of_another_issuer_is_refused(void **state)
{
    char cfg[300], port_file[300], log[300], base[64] = "", path[300], acme_pub[300], rogue_pub[300], ops_pub[300];
    char text[4096], *tok;
    pid_t other;
    guest g;
    buf b;
    (void)state;
    require_world();
    provision();
    tok = guest_attested(&g, W.m_acme);
    snprintf(cfg, sizeof(cfg), "%s/other.json", W.dir);
    snprintf(port_file, sizeof(port_file), "%s/other.port", W.dir);
    snprintf(log, sizeof(log), "%s/other.log", W.dir);
    snprintf(acme_pub, sizeof(acme_pub), "%s/acme.pub.pem", W.dir);
    snprintf(rogue_pub, sizeof(rogue_pub), "%s/rogue.pub.pem", W.dir);
    snprintf(ops_pub, sizeof(ops_pub), "%s/ops.pub.pem", W.dir);
    config_text(text, sizeof(text), "another-kbs", acme_pub, rogue_pub, ops_pub);
    write_text(cfg, text);
    other = start_daemon(cfg, port_file, log);
    assert_true(other > 0);
    wait_port(other, port_file, base);
    snprintf(path, sizeof(path), "/kbs/v0/resource/%s", ACME_KEY);
    b.data = NULL;
    long code = http_on(base, "GET", path, NULL, tok, NULL, &b);
    stop_daemon(&other);
    check(code, &b, 401, "jose.jwt_invalid", "another issuer's token");
    free(b.data);
    /* The issuing broker takes it. */
    check(http("GET", path, NULL, tok, &b), &b, 200, NULL, "own token");
    assert_key(&g, &b, ACME_MODEL_KEY);
    free(b.data);
    free(tok);
    guest_free(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(tokens_are_bound_to_their_issuer, writable_again),
        cmocka_unit_test_teardown(a_second_issuer_cannot_act_for_acme, writable_again),
        cmocka_unit_test_teardown(owners_are_issuer_and_subject, writable_again),
        cmocka_unit_test_teardown(legacy_owners_without_an_issuer_are_nobodys, writable_again),
        cmocka_unit_test_teardown(the_broker_wide_policy_is_the_operators, writable_again),
        cmocka_unit_test_teardown(admin_changes_wait_for_their_record, writable_again),
        cmocka_unit_test_teardown(no_release_without_its_record, writable_again),
        cmocka_unit_test_teardown(no_attested_session_without_its_record, writable_again),
        cmocka_unit_test_teardown(no_explanation_without_its_record, writable_again),
        cmocka_unit_test_teardown(host_commands_are_audited, writable_again),
        cmocka_unit_test_teardown(a_token_of_another_issuer_is_refused, writable_again),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
