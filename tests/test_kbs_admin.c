/* The admin API end to end: the real ccgate-kbs daemon (file keystore) on an ephemeral loopback
 * port, admin tokens signed with a configured issuer key, and the ccgate CLI. Covers each role's
 * allowed and forbidden calls with their codes, an expired token, an unknown issuer, a wrong role, a
 * provider acting on another provider's key or policy, strict bodies, the audit record of every admin
 * action, and that no response body ever holds the key bytes. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/refvalue.h"

#include "testutil.h"

#define AUDIENCE "https://kbs.test/admin"

static const uint8_t MODEL_KEY[32] = {0x5e, 0xc2, 0xe7, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                                      0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
                                      0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0xfe};
static const uint8_t MODEL_KEY2[32] = {0x7a, 0x7a, 0x7a, 0x7a, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
                                       0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f, 0x40, 0x41, 0x42,
                                       0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4a, 0x4b, 0x4c};

typedef struct {
    char dir[128];
    char config[256];
    char port_file[256];
    char admin_key_file[256];
    char base[64];
    pid_t daemon;
    EVP_PKEY *admin;  /* the configured issuer "ops" */
    EVP_PKEY *rogue;  /* an issuer the broker does not know */
    char *key_b64, *key_hex, *key2_b64, *key2_hex;
    int skipped;
} world;

static world W;

/* ---------------------------------------------------------------- processes and files */

static int run(char *const argv[], int quiet)
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        if (quiet) {
            FILE *null = freopen("/dev/null", "w", stdout);
            (void)null;
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

static int group_setup(void **state)
{
    char text[2048], pub[300], rogue_pub[300], kek[300];
    FILE *f;
    const char *kbs = getenv("CCG_KBS");
    (void)state;
    memset(&W, 0, sizeof(W));
    if (kbs == NULL || getenv("CCG_CLI") == NULL) {
        W.skipped = 1;
        return 0;
    }
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-kbs-admin-XXXXXX");
    if (mkdtemp(W.dir) == NULL) {
        return -1;
    }
    W.admin = EVP_EC_gen("P-256");
    W.rogue = EVP_EC_gen("P-256");
    if (W.admin == NULL || W.rogue == NULL) {
        return -1;
    }
    snprintf(pub, sizeof(pub), "%s/ops.pub.pem", W.dir);
    snprintf(rogue_pub, sizeof(rogue_pub), "%s/rogue.pub.pem", W.dir);
    snprintf(W.admin_key_file, sizeof(W.admin_key_file), "%s/ops.key", W.dir);
    f = fopen(pub, "w");
    if (f == NULL || PEM_write_PUBKEY(f, W.admin) != 1 || fclose(f) != 0) {
        return -1;
    }
    f = fopen(W.admin_key_file, "w");
    if (f == NULL || PEM_write_PrivateKey(f, W.admin, NULL, NULL, 0, NULL, NULL) != 1 || fclose(f) != 0) {
        return -1;
    }
    chmod(W.admin_key_file, 0600);
    snprintf(kek, sizeof(kek), "%s/kek", W.dir);
    snprintf(W.config, sizeof(W.config), "%s/kbs.json", W.dir);
    snprintf(W.port_file, sizeof(W.port_file), "%s/port", W.dir);
    snprintf(text, sizeof(text),
             "{\"address\":\"127.0.0.1\",\"port\":0,\"store\":\"%s/kbs.db\",\"allow_unlocked_memory\":true,"
             "\"threads\":2,\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s\"},"
             "\"admin\":{\"audience\":\"%s\",\"issuers\":[{\"name\":\"ops\",\"key\":\"%s\","
             "\"roles\":[\"provider\",\"authority\",\"operator\"],"
             "\"subjects\":[\"acme\",\"globex\",\"initech\",\"ops-1\",\"amd-ref\"]}]}}",
             W.dir, kek, AUDIENCE, pub);
    write_text(W.config, text);
    char *const create[] = {(char *)kbs, "create-kek", "--config", W.config, NULL};
    if (run(create, 1) != 0) {
        return -1;
    }
    W.key_b64 = ccg_b64url_encode(MODEL_KEY, sizeof(MODEL_KEY));
    W.key_hex = ccg_hex_alloc(MODEL_KEY, sizeof(MODEL_KEY));
    W.key2_b64 = ccg_b64url_encode(MODEL_KEY2, sizeof(MODEL_KEY2));
    W.key2_hex = ccg_hex_alloc(MODEL_KEY2, sizeof(MODEL_KEY2));
    W.daemon = fork();
    if (W.daemon == 0) {
        execl(kbs, kbs, "serve", "--config", W.config, "--insecure-http", "--port-file", W.port_file, (char *)NULL);
        _exit(127);
    }
    return W.daemon > 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    if (W.daemon > 0) {
        int status;
        kill(W.daemon, SIGTERM);
        waitpid(W.daemon, &status, 0);
    }
    if (W.dir[0] != 0) {
        char *const rm[] = {"rm", "-rf", W.dir, NULL};
        (void)run(rm, 0);
    }
    EVP_PKEY_free(W.admin);
    EVP_PKEY_free(W.rogue);
    free(W.key_b64);
    free(W.key_hex);
    free(W.key2_b64);
    free(W.key2_hex);
    return 0;
}

static void require_world(void)
{
    if (W.skipped) {
        if (getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0) {
            fail_msg("the ccgate-kbs or ccgate binary is missing; CI=true requires them");
        }
        skip();
    }
    for (int i = 0; W.base[0] == 0 && i < 300; i++) {
        FILE *f = fopen(W.port_file, "r");
        unsigned port = 0;
        int status;
        if (f != NULL) {
            int ok = fscanf(f, "%u", &port);
            fclose(f);
            if (ok == 1 && port > 0) {
                snprintf(W.base, sizeof(W.base), "http://127.0.0.1:%u", port);
                return;
            }
        }
        assert_int_equal(waitpid(W.daemon, &status, WNOHANG), 0);
        usleep(50 * 1000);
    }
    if (W.base[0] == 0) {
        fail_msg("the daemon did not report its port");
    }
}

/* ---------------------------------------------------------------- tokens and HTTP */

static char *token_at(EVP_PKEY *key, const char *role, const char *sub, ccg_time iat, ccg_time exp)
{
    char *t = NULL;
    json_t *claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", sub, "role", role, "aud", AUDIENCE, "iat",
                               (json_int_t)iat, "exp", (json_int_t)exp);
    assert_true(ccg_ok(ccg_jwt_sign_es256(key, claims, &t)));
    json_decref(claims);
    return t;
}

static char *token(const char *role, const char *sub)
{
    ccg_time now = ccg_time_now();
    return token_at(W.admin, role, sub, now, now + 600);
}

typedef struct {
    char *data;
    size_t len;
    json_t *json;
} buf;

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    buf *b = ud;
    char *g = realloc(b->data, b->len + size * n + 1);
    if (g == NULL) {
        return 0;
    }
    b->data = g;
    memcpy(b->data + b->len, p, size * n);
    b->len += size * n;
    b->data[b->len] = 0;
    return size * n;
}

static void buf_free(buf *b)
{
    free(b->data);
    json_decref(b->json);
    memset(b, 0, sizeof(*b));
}

/* No response ever holds a model key: raw, base64url or hex. */
static void assert_no_key_material(const buf *b)
{
    const char *needles[] = {W.key_b64, W.key_hex, W.key2_b64, W.key2_hex};
    if (b->data == NULL) {
        return;
    }
    for (size_t i = 0; i < 4; i++) {
        assert_null(strstr(b->data, needles[i]));
    }
    assert_null(memmem(b->data, b->len, MODEL_KEY, sizeof(MODEL_KEY)));
    assert_null(memmem(b->data, b->len, MODEL_KEY2, sizeof(MODEL_KEY2)));
}

static long http(const char *method, const char *path, const char *body, const char *bearer, buf *out)
{
    char url[512], auth[8192];
    struct curl_slist *headers = NULL;
    long code = 0;
    CURL *curl = curl_easy_init();
    assert_non_null(curl);
    memset(out, 0, sizeof(*out));
    snprintf(url, sizeof(url), "%s%s", W.base, path);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, out);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (bearer != NULL) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        headers = curl_slist_append(headers, auth);
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
    assert_no_key_material(out);
    out->json = out->data != NULL ? json_loadb(out->data, out->len, 0, NULL) : NULL;
    return code;
}

/* Calls and checks the status and (for a denial) the first reason and the body's shape. */
static void expect(const char *method, const char *path, const char *body, const char *bearer, long status,
                   const char *code)
{
    buf b;
    long got = http(method, path, body, bearer, &b);
    if (got != status) {
        fail_msg("%s %s: HTTP %ld, expected %ld: %s", method, path, got, status, b.data != NULL ? b.data : "");
    }
    if (code != NULL) {
        const char *first = json_string_value(json_array_get(json_object_get(b.json, "reasons"), 0));
        assert_non_null(first);
        if (strcmp(first, code) != 0) {
            fail_msg("%s %s: reason %s, expected %s", method, path, first, code);
        }
        assert_non_null(json_string_value(json_object_get(b.json, "type")));
        assert_non_null(json_string_value(json_object_get(b.json, "detail")));
        assert_non_null(json_string_value(json_object_get(b.json, "request_id")));
    }
    buf_free(&b);
}

/* A release policy pinning one launch measurement (an unpinned one is kbs.policy_unpinned). */
static char *policy_doc(const char *id, int version)
{
    json_t *doc = json_pack("{s:s,s:i,s:[s],s:b,s:{s:s,s:i,s:[s]}}", "policy_id", id, "version", version,
                            "allowed_tees", "snp", "gpu_required", 0, "snp_policy", "policy_id", "s", "version", 1,
                            "allowed_measurements", "ab" "abababababababababababababababababababababababab"
                                                    "ababababababababababababababababababababababab");
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

static char *import_doc(const char *key_id, const char *policy_id, const char *b64)
{
    json_t *doc = json_pack("{s:s,s:s,s:s}", "key_id", key_id, "policy_id", policy_id, "key", b64);
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return text;
}

/* acme's policy and key, provisioned once through the admin API. */
static void provision_acme(void)
{
    static int done;
    char *tok, *pol, *imp;
    if (done) {
        return;
    }
    tok = token("provider", "acme");
    pol = policy_doc("acme-policy", 1);
    imp = import_doc("acme/model/k1", "acme-policy", W.key_b64);
    expect("POST", "/admin/v0/policies", pol, tok, 201, NULL);
    expect("POST", "/admin/v0/keys", imp, tok, 201, NULL);
    free(tok);
    free(pol);
    free(imp);
    done = 1;
}

/* ---------------------------------------------------------------- authentication */

static void unauthenticated_calls_are_refused(void **state)
{
    ccg_time now = ccg_time_now();
    char *expired, *rogue, *future, *badrole;
    json_t *claims;
    (void)state;
    require_world();
    expect("GET", "/admin/v0/health", NULL, NULL, 401, "admin.unauthenticated");
    expect("GET", "/admin/v0/health", NULL, "not.a.token", 401, "admin.unauthenticated");
    expired = token_at(W.admin, "operator", "ops-1", now - 7200, now - 3600);
    expect("GET", "/admin/v0/health", NULL, expired, 401, "admin.unauthenticated");
    rogue = token_at(W.rogue, "operator", "ops-1", now, now + 600);
    expect("GET", "/admin/v0/health", NULL, rogue, 401, "admin.unauthenticated");
    future = token_at(W.admin, "operator", "ops-1", now + 7200, now + 9000);
    expect("GET", "/admin/v0/health", NULL, future, 401, "admin.unauthenticated");
    badrole = token_at(W.admin, "root", "ops-1", now, now + 600);
    expect("GET", "/admin/v0/health", NULL, badrole, 401, "admin.unauthenticated");
    free(badrole);
    /* An extra claim is refused too. */
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:b}", "sub", "ops-1", "role", "operator", "aud", AUDIENCE, "iat",
                       (json_int_t)now, "exp", (json_int_t)(now + 600), "admin", 1);
    assert_true(ccg_ok(ccg_jwt_sign_es256(W.admin, claims, &badrole)));
    json_decref(claims);
    expect("GET", "/admin/v0/health", NULL, badrole, 401, "admin.unauthenticated");
    free(badrole);
    free(expired);
    free(rogue);
    free(future);
}

static void admin_issuer_config_is_strict(void **state)
{
#define CFG(admin) "{\"store\":\"/x\",\"keystore\":{}," admin "}"
#define ISS(roles, subjects) "{\"name\":\"ops\",\"key\":\"/etc/ops.pem\",\"roles\":" roles ",\"subjects\":" subjects "}"
    static const char *const bad[] = {
        /* the pre-tenancy form (any role, any subject) is refused, not reinterpreted */
        CFG("\"admin_issuers\":{\"ops\":\"/etc/ops.pem\"}"),
        CFG("\"admin\":{\"issuers\":[" ISS("[\"provider\"]", "[\"acme\"]") "]}"), /* no audience */
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[]", "[\"acme\"]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"root\"]", "[\"acme\"]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"provider\"]", "[]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"provider\"]", "[\"*\"]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"provider\"]", "[\"a b\"]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"provider\",\"provider\"]", "[\"acme\"]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"provider\"]", "[\"acme\"]") "," ISS(
            "[\"operator\"]", "[\"ops\"]") "]}"), /* the same name twice */
        CFG("\"admin\":{\"audience\":\"a\",\"max_token_lifetime\":999999,\"issuers\":[" ISS(
            "[\"provider\"]", "[\"acme\"]") "]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[{\"name\":\"ops\",\"key\":\"rel.pem\",\"roles\":[\"provider\"],"
            "\"subjects\":[\"acme\"]}]}"),
        CFG("\"admin\":{\"audience\":\"a\",\"issuers\":[" ISS("[\"provider\"]", "[\"acme\"]") "],\"extra\":1}"),
    };
    ccg_kbs_config c;
    const char *good = CFG("\"admin\":{\"audience\":\"a\",\"max_token_lifetime\":600,\"issuers\":[" ISS(
        "[\"provider\",\"operator\"]", "[\"acme\",\"ops-1\"]") "]}");
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (ccg_ok(ccg_kbs_config_parse(bad[i], strlen(bad[i]), &c))) {
            fail_msg("accepted: %s", bad[i]);
        }
        tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    }
    assert_true(ccg_ok(ccg_kbs_config_parse(good, strlen(good), &c)));
    assert_non_null(c.admin_issuers);
    assert_string_equal(c.admin_audience, "a");
    assert_int_equal(c.admin_token_max_lifetime, 600);
    ccg_kbs_config_free(&c);
#undef CFG
#undef ISS
}

/* A token whose iss names another issuer than its signer is refused. */
static void iss_must_name_the_signer(void **state)
{
    ccg_time now = ccg_time_now();
    char *t = NULL;
    json_t *claims;
    (void)state;
    require_world();
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I,s:s}", "sub", "ops-1", "role", "operator", "aud", AUDIENCE, "iat",
                       (json_int_t)now, "exp", (json_int_t)(now + 600), "iss", "someone-else");
    assert_true(ccg_ok(ccg_jwt_sign_es256(W.admin, claims, &t)));
    expect("GET", "/admin/v0/health", NULL, t, 401, "admin.unauthenticated");
    free(t);
    json_object_set_new(claims, "iss", json_string("ops"));
    assert_true(ccg_ok(ccg_jwt_sign_es256(W.admin, claims, &t)));
    expect("GET", "/admin/v0/health", NULL, t, 200, NULL);
    free(t);
    json_decref(claims);
}

/* ---------------------------------------------------------------- provider */

static void provider_manages_its_keys(void **state)
{
    char *tok, *pol2, *rot;
    buf b;
    (void)state;
    require_world();
    provision_acme();
    tok = token("provider", "acme");
    assert_int_equal(http("GET", "/admin/v0/keys", NULL, tok, &b), 200);
    assert_int_equal(json_array_size(json_object_get(b.json, "keys")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(b.json, "keys"), 0), "state")),
                        "active");
    assert_null(json_object_get(json_array_get(json_object_get(b.json, "keys"), 0), "wrapped"));
    buf_free(&b);
    assert_int_equal(http("POST", "/admin/v0/keys/acme/model/k1/disable", NULL, tok, &b), 200);
    assert_string_equal(json_string_value(json_object_get(b.json, "state")), "disabled");
    buf_free(&b);
    /* Disabled twice: an illegal transition. */
    expect("POST", "/admin/v0/keys/acme/model/k1/disable", NULL, tok, 409, "store.conflict");
    assert_int_equal(http("POST", "/admin/v0/keys/acme/model/k1/enable", NULL, tok, &b), 200);
    assert_string_equal(json_string_value(json_object_get(b.json, "state")), "active");
    buf_free(&b);
    rot = malloc(strlen(W.key2_b64) + 16);
    snprintf(rot, strlen(W.key2_b64) + 16, "{\"key\":\"%s\"}", W.key2_b64);
    assert_int_equal(http("POST", "/admin/v0/keys/acme/model/k1/rotate", rot, tok, &b), 200);
    assert_int_equal(json_integer_value(json_object_get(b.json, "version")), 2);
    buf_free(&b);
    assert_int_equal(http("GET", "/admin/v0/keys/acme/model/k1", NULL, tok, &b), 200);
    assert_int_equal(json_array_size(json_object_get(b.json, "keys")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(b.json, "keys"), 0), "state")),
                        "retired");
    buf_free(&b);
    pol2 = policy_doc("acme-policy", 2);
    expect("POST", "/admin/v0/policies", pol2, tok, 201, NULL);
    assert_int_equal(http("GET", "/admin/v0/policies/acme-policy", NULL, tok, &b), 200);
    assert_int_equal(json_integer_value(json_object_get(b.json, "version")), 2);
    buf_free(&b);
    /* Strict bodies and unknown keys. */
    expect("POST", "/admin/v0/keys",
           "{\"key_id\":\"x/y/z\",\"policy_id\":\"acme-policy\",\"key\":\"AAAA\",\"extra\":1}", tok, 400,
           "admin.request_malformed");
    expect("POST", "/admin/v0/keys", "not json", tok, 400, "admin.request_malformed");
    expect("POST", "/admin/v0/keys/acme/model/k1/rotate", "{\"key\":\"short\"}", tok, 400, "admin.request_malformed");
    expect("POST", "/admin/v0/keys/acme/model/none/disable", NULL, tok, 404, "key.not_found");
    expect("POST", "/admin/v0/policies",
           "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"snp\"],\"bogus\":1}", tok, 400,
           "kbs.policy_invalid");
    /* A policy that pins no measurement would release to any genuine guest. */
    expect("POST", "/admin/v0/policies", "{\"policy_id\":\"acme-policy\",\"version\":3,\"allowed_tees\":[\"snp\"]}",
           tok, 400, "kbs.policy_unpinned");
    expect("POST", "/admin/v0/policies",
           "{\"policy_id\":\"acme-policy\",\"version\":3,\"allowed_tees\":[\"snp\"],\"snp_policy\":"
           "{\"policy_id\":\"s\",\"version\":1,\"debug_allowed\":false}}",
           tok, 400, "kbs.policy_unpinned");
    free(rot);
    free(pol2);
    free(tok);
}

static void provider_cannot_touch_another_providers_key(void **state)
{
    char *tok, *pol, *imp, *rot;
    buf b;
    (void)state;
    require_world();
    provision_acme();
    tok = token("provider", "globex");
    expect("POST", "/admin/v0/keys/acme/model/k1/disable", NULL, tok, 403, "admin.forbidden");
    expect("POST", "/admin/v0/keys/acme/model/k1/enable", NULL, tok, 403, "admin.forbidden");
    rot = malloc(strlen(W.key2_b64) + 16);
    snprintf(rot, strlen(W.key2_b64) + 16, "{\"key\":\"%s\"}", W.key2_b64);
    expect("POST", "/admin/v0/keys/acme/model/k1/rotate", rot, tok, 403, "admin.forbidden");
    expect("GET", "/admin/v0/keys/acme/model/k1", NULL, tok, 403, "admin.forbidden");
    expect("GET", "/admin/v0/policies/acme-policy", NULL, tok, 403, "admin.forbidden");
    pol = policy_doc("acme-policy", 9);
    expect("POST", "/admin/v0/policies", pol, tok, 403, "admin.forbidden");
    imp = import_doc("globex/model/k1", "acme-policy", W.key2_b64);
    expect("POST", "/admin/v0/keys", imp, tok, 403, "admin.forbidden");
    assert_int_equal(http("GET", "/admin/v0/keys", NULL, tok, &b), 200);
    assert_int_equal(json_array_size(json_object_get(b.json, "keys")), 0);
    buf_free(&b);
    free(rot);
    free(pol);
    free(imp);
    free(tok);
}

static void wrong_roles_are_forbidden(void **state)
{
    char *auth, *op, *prov, *imp, *pol;
    (void)state;
    require_world();
    auth = token("authority", "amd-ref");
    op = token("operator", "ops-1");
    prov = token("provider", "acme");
    provision_acme();
    imp = import_doc("x/y/z", "acme-policy", W.key2_b64);
    pol = policy_doc("op-policy", 1);
    expect("POST", "/admin/v0/keys", imp, auth, 403, "admin.forbidden");
    expect("POST", "/admin/v0/keys", imp, op, 403, "admin.forbidden");
    expect("POST", "/admin/v0/keys/acme/model/k1/disable", NULL, op, 403, "admin.forbidden");
    expect("POST", "/admin/v0/policies", pol, op, 403, "admin.forbidden");
    expect("POST", "/admin/v0/policies", pol, auth, 403, "admin.forbidden");
    expect("GET", "/admin/v0/keys", NULL, auth, 403, "admin.forbidden");
    expect("GET", "/admin/v0/audit", NULL, prov, 403, "admin.forbidden");
    expect("GET", "/admin/v0/audit", NULL, auth, 403, "admin.forbidden");
    expect("GET", "/admin/v0/health", NULL, prov, 403, "admin.forbidden");
    expect("POST", "/admin/v0/refvals", "{}", prov, 403, "admin.forbidden");
    expect("POST", "/admin/v0/refvals", "{}", op, 403, "admin.forbidden");
    expect("POST", "/admin/v0/collateral", "{}", prov, 403, "admin.forbidden");
    expect("GET", "/admin/v0/refvals/any", NULL, prov, 403, "admin.forbidden");
    expect("GET", "/admin/v0/nothing", NULL, op, 400, "admin.request_malformed");
    free(imp);
    free(pol);
    free(auth);
    free(op);
    free(prov);
}

/* A key and policy provisioned on the host (ccgate-kbs import-key) have no owner: no provider may act
 * on them through the admin API, and their IDs cannot be taken over. */
static void unowned_objects_are_nobodys(void **state)
{
    char path[300], keyfile[300], *pol, *imp, *pol2, *tok;
    FILE *f;
    (void)state;
    require_world();
    provision_acme();
    pol = policy_doc("legacy-policy", 1);
    snprintf(path, sizeof(path), "%s/legacy-policy.json", W.dir);
    write_text(path, pol);
    snprintf(keyfile, sizeof(keyfile), "%s/legacy-key", W.dir);
    f = fopen(keyfile, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(MODEL_KEY, 1, sizeof(MODEL_KEY), f), sizeof(MODEL_KEY));
    fclose(f);
    char *set[] = {getenv("CCG_KBS"), "set-policy", "--config", W.config, "--file", path, NULL};
    assert_int_equal(run(set, 1), 0);
    char *import[] = {getenv("CCG_KBS"), "import-key", "--config", W.config, "--key-id", "legacy/model/k1",
                      "--policy-id", "legacy-policy", "--file", keyfile, NULL};
    assert_int_equal(run(import, 1), 0);
    tok = token("provider", "acme");
    expect("GET", "/admin/v0/keys/legacy/model/k1", NULL, tok, 403, "admin.forbidden");
    expect("POST", "/admin/v0/keys/legacy/model/k1/disable", NULL, tok, 403, "admin.forbidden");
    expect("GET", "/admin/v0/policies/legacy-policy", NULL, tok, 403, "admin.forbidden");
    pol2 = policy_doc("legacy-policy", 2);
    expect("POST", "/admin/v0/policies", pol2, tok, 403, "admin.forbidden");
    imp = import_doc("legacy/model/k1", "acme-policy", W.key2_b64);
    expect("POST", "/admin/v0/keys", imp, tok, 403, "admin.forbidden");
    free(imp);
    /* acme's own key ID is taken: a second import is a conflict, not a takeover. */
    imp = import_doc("acme/model/k1", "acme-policy", W.key2_b64);
    expect("POST", "/admin/v0/keys", imp, tok, 409, "store.conflict");
    free(imp);
    free(pol2);
    free(pol);
    free(tok);
}

/* ---------------------------------------------------------------- authority */

static void authority_manages_reference_values(void **state)
{
    char *tok, *text, *coll;
    EVP_PKEY *issuer;
    json_t *record, *set;
    char hex[97];
    uint8_t m[48];
    buf b;
    (void)state;
    require_world();
    tok = token("authority", "amd-ref");
    issuer = EVP_EC_gen("P-384");
    for (int i = 0; i < 48; i++) {
        m[i] = (uint8_t)i;
    }
    ccg_hex_encode(m, 48, hex);
    hex[96] = 0;
    record = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "id", "r1", "tee", "snp", "measurement", hex, "build_id", "b-1",
                       "not_before", "2026-01-01T00:00:00Z", "not_after", "2030-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(record, issuer, "acme")));
    set = json_pack("{s:s,s:i,s:[o]}", "set_id", "acme-prod", "version", 1, "records", record);
    text = json_dumps(set, JSON_COMPACT);
    assert_int_equal(http("POST", "/admin/v0/refvals", text, tok, &b), 201);
    assert_string_equal(json_string_value(json_object_get(b.json, "set_id")), "acme-prod");
    buf_free(&b);
    assert_int_equal(http("GET", "/admin/v0/refvals/acme-prod", NULL, tok, &b), 200);
    assert_int_equal(json_integer_value(json_object_get(b.json, "version")), 1);
    buf_free(&b);
    expect("GET", "/admin/v0/refvals/none", NULL, tok, 404, "refval.set_missing");
    expect("POST", "/admin/v0/refvals", "{\"set_id\":1}", tok, 400, "refval.malformed");
    coll = "{\"collateral_id\":\"milan-crl\",\"version\":1,\"data\":\"AAECAwQ\"}";
    expect("POST", "/admin/v0/collateral", coll, tok, 201, NULL);
    expect("POST", "/admin/v0/collateral", "{\"collateral_id\":\"c\",\"version\":0,\"data\":\"AA\"}", tok, 400,
           "admin.request_malformed");
    free(text);
    json_decref(set);
    EVP_PKEY_free(issuer);
    free(tok);
}

/* ---------------------------------------------------------------- operator */

static void operator_reads_status_and_audit(void **state)
{
    char *tok;
    buf b;
    size_t n, imports = 0, denials = 0;
    (void)state;
    require_world();
    tok = token("operator", "ops-1");
    provision_acme();
    assert_int_equal(http("GET", "/admin/v0/health", NULL, tok, &b), 200);
    assert_string_equal(json_string_value(json_object_get(b.json, "status")), "ready");
    buf_free(&b);
    assert_int_equal(http("GET", "/admin/v0/keys", NULL, tok, &b), 200);
    assert_true(json_array_size(json_object_get(b.json, "keys")) >= 1);
    buf_free(&b);
    assert_int_equal(http("GET", "/admin/v0/audit", NULL, tok, &b), 200);
    n = json_array_size(json_object_get(b.json, "records"));
    assert_true(n >= 2);
    for (size_t i = 0; i < n; i++) {
        json_t *r = json_array_get(json_object_get(b.json, "records"), i);
        const char *action = json_string_value(json_object_get(r, "action"));
        if (action != NULL && strcmp(action, "admin.key.import") == 0 &&
            strcmp(json_string_value(json_object_get(r, "persona")), "provider") == 0 &&
            strcmp(json_string_value(json_object_get(r, "decision")), "allow") == 0) {
            assert_string_equal(json_string_value(json_object_get(r, "key_id")), "acme/model/k1");
            imports++;
        }
        if (action != NULL && strcmp(json_string_value(json_object_get(r, "decision")), "deny") == 0) {
            denials++;
        }
    }
    assert_int_equal(imports, 1);
    buf_free(&b);
    assert_int_equal(http("GET", "/admin/v0/audit/verify", NULL, tok, &b), 200);
    assert_true(json_is_true(json_object_get(b.json, "intact")));
    buf_free(&b);
    (void)denials;
    free(tok);
}

/* ---------------------------------------------------------------- the CLI */

static int cli(const char *out_file, char *const *args)
{
    char *argv[32];
    int n = 0, status = 0;
    pid_t pid;
    argv[n++] = getenv("CCG_CLI");
    while (*args != NULL && n < 31) {
        argv[n++] = *args++;
    }
    argv[n] = NULL;
    pid = fork();
    if (pid == 0) {
        FILE *o = freopen(out_file != NULL ? out_file : "/dev/null", "w", stdout);
        FILE *e = freopen("/dev/null", "w", stderr);
        (void)o;
        (void)e;
        execv(argv[0], argv);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void cli_personas(void **state)
{
    char prov_tok[300], other_tok[300], op_tok[300], old_tok[300], keyfile[300], now_s[32], list_out[300];
    uint8_t *text = NULL;
    size_t len = 0;
    FILE *f;
    (void)state;
    require_world();
    provision_acme();
    snprintf(prov_tok, sizeof(prov_tok), "%s/prov.jwt", W.dir);
    snprintf(other_tok, sizeof(other_tok), "%s/other.jwt", W.dir);
    snprintf(op_tok, sizeof(op_tok), "%s/op.jwt", W.dir);
    snprintf(old_tok, sizeof(old_tok), "%s/old.jwt", W.dir);
    snprintf(keyfile, sizeof(keyfile), "%s/cli-key", W.dir);
    snprintf(list_out, sizeof(list_out), "%s/list.out", W.dir);
    snprintf(now_s, sizeof(now_s), "%lld", (long long)(ccg_time_now() - 7200));
    {
        char *a[] = {"kbs", "token", "mint", "--key", W.admin_key_file, "--role", "provider", "--sub", "initech",
                     "--aud", AUDIENCE, "--ttl", "600", NULL};
        assert_int_equal(cli(prov_tok, a), 0);
        char *b[] = {"kbs", "token", "mint", "--key", W.admin_key_file, "--role", "provider", "--sub", "globex",
                     "--aud", AUDIENCE, "--ttl", "600", NULL};
        assert_int_equal(cli(other_tok, b), 0);
        char *c[] = {"kbs", "token", "mint", "--key", W.admin_key_file, "--role", "operator", "--sub", "ops-1",
                     "--aud", AUDIENCE, "--ttl", "600", NULL};
        assert_int_equal(cli(op_tok, c), 0);
        char *d[] = {"kbs", "token", "mint", "--key", W.admin_key_file, "--role", "operator", "--sub", "ops-1",
                     "--aud", AUDIENCE, "--ttl", "60", "--now", now_s, NULL};
        assert_int_equal(cli(old_tok, d), 0);
        char *e[] = {"kbs", "token", "mint", "--key", W.admin_key_file, "--role", "root", "--sub", "x", "--aud",
                     AUDIENCE, "--ttl", "1", NULL};
        assert_int_equal(cli(NULL, e), 2);
    }
    f = fopen(keyfile, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(MODEL_KEY2, 1, sizeof(MODEL_KEY2), f), sizeof(MODEL_KEY2));
    fclose(f);
    char pol_file[300];
    char *pol = policy_doc("initech-policy", 1);
    snprintf(pol_file, sizeof(pol_file), "%s/initech-policy.json", W.dir);
    write_text(pol_file, pol);
    free(pol);
    {
        char *set[] = {"kbs", "policy", "set", "--url", W.base, "--insecure-http", "--token", prov_tok, "--file",
                       pol_file, NULL};
        assert_int_equal(cli(NULL, set), 0);
        char *imp[] = {"kbs", "key", "import", "--url", W.base, "--insecure-http", "--token", prov_tok, "--key-id",
                       "initech/model/k1", "--policy-id", "initech-policy", "--file", keyfile, NULL};
        assert_int_equal(cli(NULL, imp), 0);
        char *dis[] = {"kbs", "key", "disable", "--url", W.base, "--insecure-http", "--token", other_tok, "--key-id",
                       "initech/model/k1", NULL};
        assert_int_equal(cli(NULL, dis), 1); /* admin.forbidden */
        char *dis2[] = {"kbs", "key", "disable", "--url", W.base, "--insecure-http", "--token", prov_tok, "--key-id",
                        "initech/model/k1", NULL};
        assert_int_equal(cli(NULL, dis2), 0);
        char *list[] = {"kbs", "key", "list", "--url", W.base, "--insecure-http", "--token", op_tok, NULL};
        assert_int_equal(cli(list_out, list), 0);
        char *verify[] = {"kbs", "audit", "verify", "--url", W.base, "--insecure-http", "--token", op_tok, NULL};
        assert_int_equal(cli(NULL, verify), 0);
        char *expired[] = {"kbs", "health", "--url", W.base, "--insecure-http", "--token", old_tok, NULL};
        assert_int_equal(cli(NULL, expired), 1); /* admin.unauthenticated */
        char *http_refused[] = {"kbs", "health", "--url", W.base, "--token", op_tok, NULL};
        assert_int_equal(cli(NULL, http_refused), 2); /* http:// without --insecure-http */
        char *no_token[] = {"kbs", "health", "--url", W.base, "--insecure-http", NULL};
        assert_int_equal(cli(NULL, no_token), 2);
        char *help[] = {"kbs", "--help", NULL};
        assert_int_equal(cli(NULL, help), 0);
        char *bad[] = {"kbs", "key", "bogus", "--url", W.base, NULL};
        assert_int_equal(cli(NULL, bad), 2);
    }
    assert_true(ccg_ok(ccg_file_read(list_out, 1 << 20, &text, &len)));
    assert_non_null(strstr((char *)text, "initech/model/k1"));
    assert_non_null(strstr((char *)text, "disabled"));
    {
        buf b = {.data = (char *)text, .len = len};
        assert_no_key_material(&b);
    }
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(admin_issuer_config_is_strict),
        cmocka_unit_test(unauthenticated_calls_are_refused),
        cmocka_unit_test(iss_must_name_the_signer),
        cmocka_unit_test(provider_manages_its_keys),
        cmocka_unit_test(provider_cannot_touch_another_providers_key),
        cmocka_unit_test(wrong_roles_are_forbidden),
        cmocka_unit_test(unowned_objects_are_nobodys),
        cmocka_unit_test(authority_manages_reference_values),
        cmocka_unit_test(operator_reads_status_and_audit),
        cmocka_unit_test(cli_personas),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, group_setup, group_teardown);
    curl_global_cleanup();
    return rc;
}
