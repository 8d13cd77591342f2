/* A GPU-gated release end to end (issue 11, must-show 3): the real ccgate-kbs daemon, whose release
 * policy requires one GPU and names the software GPU's test roots, with its GPU collateral (a RIM
 * directory holding the software GPU's RIMs, and a live `openssl ocsp` responder on loopback answering
 * for the device chain); the real ccgate-agent with the stub NVML serving that saved software GPU, the
 * SNP emulator as its CPU attester and the stub model server.
 *
 *   approved                       the key is released, the model served, ready=1 only after release
 *   CC off (the host's NVML word)  gpu.cc_mode_off, decided and audited by the broker
 *   a report replayed              a report captured from the approved run, served again: gpu.report_replayed
 *   a wrong nonce                  gpu.nonce_mismatch
 *   a wrong driver measurement     gpu.measurement_mismatch naming index 25
 *   a revoked certificate          the responder says the leaf is revoked: gpu.cert_revoked
 *   RIM unavailable                the driver RIM is not in the RIM directory: gpu.rim_unavailable naming it
 *
 * Every denial is checked three ways: the agent's failure (reason, exit status 15, key ID, request ID,
 * policy and version; the model server never started), the broker's audit record of that request ID
 * (deny, the code, the policy version, the GPU claims), and the ready state (never set to 1). The
 * details (the RIM ID, the mismatched index, the host as source) come from the broker's /explain of the
 * exact Attestation the agent sent: the agent talks to the broker through a recording proxy, which asks
 * /explain (which consumes nothing and records no report) before it forwards /attest.
 *
 * Needs $CCG_KBS, $CCG_CLI, $CCG_AGENT, $CCG_MODEL_SERVER_STUB, $CCG_NVML_STUB and `openssl`; skips
 * without them unless CI=true. No assertion is on time. */
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

#include "ccgate/artifact.h"
#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/http_body.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/util.h"

#include "agent_proc.h"
#include "gpu_ocsp_responder.h"
#include "loopback_http.h"
#include "tcb_util.h"
#include "testutil.h"
#include "tu_admin.h"
#include "tsm_fuse_ctl.h"

#define KEY_ID "acme/model/gpu"
#define POLICY_ID "model-g"
#define POLICY_VERSION 3
#define MODEL_LEN (256u * 1024u + 7u)
#define MEASUREMENT_INDEX 25 /* a driver index of the software GPU */

typedef struct {
    int ready, skipped;
    char dir[64], snp_dir[64], gpu_dir[128], rim_dir[128], ocsp_dir[128];
    char kbs_config[160], port_file[160], broker[64], proxy[64];
    char provider_pub[160], artifact[160], model_hex[97];
    char captured[160], chain[160], driver_rim[160], driver_rim_id[128];
    char moved_rim[160]; /* where the driver RIM is while a test hides it ("" when in place) */
    ccg_gpu_emulator *gpu;
    ccg_snp_emulator *snp;
    tu_gpu_ocsp *ocsp;
    lh_server *http;
    pid_t daemon;
    int runs;
    pthread_mutex_t mu;
    json_t *explained; /* /explain of the last Attestation the proxy forwarded */
} world;

static world W;

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != 0 ? v : NULL;
}

static void write_text(const char *path, const char *text)
{
    assert_true(ccg_ok(ccg_file_write(path, (const uint8_t *)text, strlen(text))));
}

/* argv with stdout to out (NULL: /dev/null) and stderr to /dev/null: the exit status, or -1. */
static int run(char *const argv[], const char *out)
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        int o = open(out != NULL ? out : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int null = open("/dev/null", O_WRONLY);
        if (o < 0 || null < 0 || dup2(o, STDOUT_FILENO) < 0 || dup2(null, STDERR_FILENO) < 0) {
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

static char *pem_of(X509 *c)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long n;
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, c), 1);
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* ---------------------------------------------------------------- HTTP: the broker and the proxy */

typedef struct {
    long status;
    char *body;
    char set_cookie[512];
} http_result;

static size_t header_line(char *ptr, size_t size, size_t nmemb, void *ctx)
{
    http_result *r = ctx;
    size_t n = size * nmemb;
    if (n > 12 && strncasecmp(ptr, "Set-Cookie:", 11) == 0) {
        size_t k = 11;
        while (k < n && ptr[k] == ' ') {
            k++;
        }
        size_t end = n;
        while (end > k && (ptr[end - 1] == '\r' || ptr[end - 1] == '\n')) {
            end--;
        }
        snprintf(r->set_cookie, sizeof(r->set_cookie), "%.*s", (int)(end - k), ptr + k);
    }
    return n;
}

/* One request to the broker; 0 when it answered. */
static int broker_call(const char *method, const char *path, const uint8_t *body, size_t len, const char *cookie,
                       http_result *r)
{
    char url[256];
    ccg_http_body b;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    char cookie_header[600];
    CURL *c = curl_easy_init();
    CURLcode rc;
    memset(r, 0, sizeof(*r));
    memset(&b, 0, sizeof(b));
    if (c == NULL || h == NULL) {
        curl_slist_free_all(h);
        curl_easy_cleanup(c);
        return -1;
    }
    if (cookie != NULL) {
        snprintf(cookie_header, sizeof(cookie_header), "Cookie: %s", cookie);
        h = curl_slist_append(h, cookie_header);
    }
    if (strcmp(path, "/kbs/v0/explain") == 0) { /* explain needs the operator role (issue 15) */
        char auth[2048];
        char *bearer = tu_admin_bearer("operator");
        snprintf(auth, sizeof(auth), "Authorization: %s", bearer != NULL ? bearer : "none");
        free(bearer);
        h = curl_slist_append(h, auth);
    }
    snprintf(url, sizeof(url), "%s%s", W.broker, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body != NULL ? (const char *)body : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)len);
    }
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_line);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    r->body = b.data != NULL ? strndup(b.data, b.len) : strdup("");
    ccg_http_body_reset(&b);
    return rc == CURLE_OK && r->body != NULL ? 0 : -1;
}

/* /explain of an Attestation under the policy (nothing consumed, no report recorded). */
static json_t *explain(const uint8_t *attestation, size_t len)
{
    json_t *att = json_loadb((const char *)attestation, len, 0, NULL), *out = NULL;
    json_t *req = att != NULL ? json_pack("{s:s,s:s,s:o}", "policy_id", POLICY_ID, "tee", "snp", "attestation", att)
                              : NULL;
    char *text = req != NULL ? json_dumps(req, JSON_COMPACT) : NULL;
    http_result r;
    if (text != NULL && broker_call("POST", "/kbs/v0/explain", (const uint8_t *)text, strlen(text), NULL, &r) == 0) {
        out = r.status == 200 ? json_loads(r.body, 0, NULL) : NULL;
        free(r.body);
    }
    free(text);
    json_decref(req);
    return out;
}

/* Thread-per-connection: the Set-Cookie value must outlive the handler's answer in its own thread. */
static __thread char proxy_cookie[512];

/* Forwards every request to the broker with the guest's cookie; an Attestation is first explained. */
static void proxy_handle(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
                         lh_answer *out)
{
    http_result r;
    (void)ctx;
    out->status = 502;
    if (strcmp(method, "POST") == 0 && strcmp(path, "/kbs/v0/attest") == 0) {
        json_t *e = explain(body, len);
        pthread_mutex_lock(&W.mu);
        json_decref(W.explained);
        W.explained = e;
        pthread_mutex_unlock(&W.mu);
    }
    if (broker_call(method, path, body, len, lh_request_header("Cookie"), &r) != 0) {
        free(r.body);
        return;
    }
    out->status = (int)r.status;
    out->content_type = "application/json";
    out->body = (uint8_t *)r.body;
    out->len = strlen(r.body);
    if (r.set_cookie[0] != 0) {
        snprintf(proxy_cookie, sizeof(proxy_cookie), "%s", r.set_cookie);
        out->header_names[0] = "Set-Cookie";
        out->header_values[0] = proxy_cookie;
    }
}

/* ---------------------------------------------------------------- the world */

/* The provider seals a model under the key the broker will hold. */
static void seal_model(const uint8_t key[32])
{
    char plain[160];
    uint8_t *model = malloc(MODEL_LEN), md[48];
    unsigned int md_len = 0;
    EVP_PKEY *signer = EVP_EC_gen("P-384");
    FILE *f;
    assert_non_null(model);
    assert_non_null(signer);
    assert_int_equal(RAND_bytes(model, MODEL_LEN), 1);
    assert_int_equal(EVP_Digest(model, MODEL_LEN, md, &md_len, EVP_sha384(), NULL), 1);
    ccg_hex_encode(md, 48, W.model_hex);
    snprintf(plain, sizeof(plain), "%s/model.plain", W.dir);
    assert_true(ccg_ok(ccg_file_write(plain, model, MODEL_LEN)));
    snprintf(W.artifact, sizeof(W.artifact), "%s/model.ccgm", W.dir);
    assert_true(ccg_ok(ccg_artifact_seal_file(plain, W.artifact, key, 32, KEY_ID, 1, 0, signer)));
    assert_int_equal(unlink(plain), 0);
    snprintf(W.provider_pub, sizeof(W.provider_pub), "%s/provider.pub", W.dir);
    f = fopen(W.provider_pub, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, signer), 1);
    assert_int_equal(fclose(f), 0);
    OPENSSL_cleanse(model, MODEL_LEN);
    free(model);
    EVP_PKEY_free(signer);
}

/* The software GPU saved for the stub NVML, its chain (for a replay), its RIMs in the RIM directory. */
static void init_gpu(void)
{
    ccg_gpu_emu_config cfg;
    ccg_gpu_emu_rims rims;
    char path[300], *pem = NULL;
    size_t pem_len = 0;
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_HOPPER)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&cfg, &W.gpu)));
    snprintf(W.gpu_dir, sizeof(W.gpu_dir), "%s/gpu", W.dir);
    assert_int_equal(mkdir(W.gpu_dir, 0700), 0);
    assert_true(ccg_ok(ccg_gpu_emulator_save(W.gpu, W.gpu_dir)));
    snprintf(W.chain, sizeof(W.chain), "%s/chain.pem", W.dir);
    assert_true(ccg_ok(ccg_gpu_emulator_chain_pem(W.gpu, &pem, &pem_len)));
    assert_true(ccg_ok(ccg_file_write(W.chain, (const uint8_t *)pem, pem_len)));
    free(pem);
    snprintf(W.rim_dir, sizeof(W.rim_dir), "%s/rims", W.dir);
    assert_int_equal(mkdir(W.rim_dir, 0700), 0);
    assert_true(ccg_ok(ccg_gpu_emulator_rims(W.gpu, &rims)));
    snprintf(W.driver_rim_id, sizeof(W.driver_rim_id), "%s", rims.driver_id);
    assert_true((size_t)snprintf(W.driver_rim, sizeof(W.driver_rim), "%s/%s.xml", W.rim_dir, rims.driver_id) < sizeof(W.driver_rim));
    assert_true(ccg_ok(ccg_file_write(W.driver_rim, rims.driver_xml, rims.driver_len)));
    snprintf(path, sizeof(path), "%s/%s.xml", W.rim_dir, rims.vbios_id);
    assert_true(ccg_ok(ccg_file_write(path, rims.vbios_xml, rims.vbios_len)));
    ccg_gpu_emu_rims_free(&rims);
    snprintf(W.ocsp_dir, sizeof(W.ocsp_dir), "%s/ocsp", W.dir);
    assert_int_equal(mkdir(W.ocsp_dir, 0700), 0);
    W.ocsp = tu_gpu_ocsp_start(W.gpu, W.ocsp_dir);
    assert_non_null(W.ocsp);
    snprintf(W.captured, sizeof(W.captured), "%s/captured-report.bin", W.dir);
}

/* The release policy: the SNP emulator's launch measurement, and one Hopper GPU under the default GPU
 * rules (RIMs and OCSP required) whose chain and RIMs end at the software GPU's test roots. */
static void write_policy(const char *path)
{
    ccg_snp_emulator_launch launch;
    char hex[97], *text;
    char *ark = pem_of(ccg_snp_emulator_ark(W.snp)), *root = pem_of(ccg_gpu_emulator_root(W.gpu));
    char *rim_root = pem_of(ccg_gpu_emulator_rim_root(W.gpu));
    json_t *doc;
    ccg_snp_emulator_launch_init(W.snp, &launch);
    ccg_hex_encode(launch.measurement, 48, hex);
    doc = json_pack("{s:s,s:i,s:[s],s:[{s:s,s:s}],s:{s:s,s:i,s:[s]},s:{s:i,s:[s],s:{s:s,s:s}}}", "policy_id",
                    POLICY_ID, "version", POLICY_VERSION, "allowed_tees", "snp", "trusted_roots", "product", "milan",
                    "pem", ark, "snp_policy", "policy_id", "model-g-snp", "version", 1, "allowed_measurements", hex,
                    "gpu", "count", 1, "allowed_architectures", "hopper", "trusted_roots", "gpu", root, "rim",
                    rim_root);
    assert_non_null(doc);
    text = json_dumps(doc, JSON_COMPACT);
    write_text(path, text);
    free(text);
    json_decref(doc);
    free(ark);
    free(root);
    free(rim_root);
}

static int kbs(const char *cmd, const char *a1, const char *v1, const char *a2, const char *v2, const char *a3,
               const char *v3)
{
    char *argv[] = {(char *)env_or_null("CCG_KBS"), (char *)cmd, "--config", W.kbs_config, (char *)a1, (char *)v1,
                    (char *)a2, (char *)v2, (char *)a3, (char *)v3, NULL};
    return run(argv, NULL);
}

/* The broker: file keystore, the GPU collateral, the explain endpoint; the policy; the key. */
static void provision_broker(const uint8_t key[32])
{
    char path[200], *tcb = tu_write_tcb_config(W.dir), text[4096], admin[1024];
    assert_int_equal(tu_admin_config(W.dir, admin, sizeof(admin)), 0);
    snprintf(W.kbs_config, sizeof(W.kbs_config), "%s/kbs.json", W.dir);
    snprintf(W.port_file, sizeof(W.port_file), "%s/kbs.port", W.dir);
    snprintf(text, sizeof(text),
             "{\"address\":\"127.0.0.1\",\"port\":0,\"store\":\"%s/kbs.db\",\"nonce_ttl\":60,\"token_ttl\":600,"
             "\"attestation_policy\":\"" POLICY_ID "\",\"allow_unlocked_memory\":true,\"explain\":true,\"threads\":4,"
             "\"keystore\":{\"backend\":\"file\",\"kek_file\":\"%s/kek\"},"
             "\"gpu\":{\"rim_dir\":\"%s\",\"ocsp_responder_url\":\"%s\",\"ocsp_timeout_seconds\":30},%s,%s}",
             W.dir, W.dir, W.rim_dir, tu_gpu_ocsp_url(W.ocsp), tcb, admin);
    free(tcb);
    write_text(W.kbs_config, text);
    assert_int_equal(kbs("create-kek", NULL, NULL, NULL, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/policy.json", W.dir);
    write_policy(path);
    assert_int_equal(kbs("set-policy", "--file", path, NULL, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/model.key", W.dir);
    assert_true(ccg_ok(ccg_file_write(path, key, 32)));
    assert_int_equal(kbs("import-key", "--key-id", KEY_ID, "--policy-id", POLICY_ID, "--file", path), 0);
    assert_int_equal(unlink(path), 0);
}

static void start_daemon(void)
{
    char log[200];
    snprintf(log, sizeof(log), "%s/kbs.log", W.dir);
    W.daemon = tu_kbs_daemon_start(env_or_null("CCG_KBS"), W.kbs_config, W.port_file, log, W.broker, sizeof(W.broker));
}

static void require_world(void)
{
    char *const probe[] = {"openssl", "version", NULL};
    if (W.skipped || (!W.ready && (env_or_null("CCG_KBS") == NULL || env_or_null("CCG_CLI") == NULL ||
                                   env_or_null("CCG_AGENT") == NULL || env_or_null("CCG_MODEL_SERVER_STUB") == NULL ||
                                   env_or_null("CCG_NVML_STUB") == NULL || run(probe, NULL) != 0))) {
        W.skipped = 1;
        tu_skip_or_fail("ccgate-kbs, ccgate, ccgate-agent, openssl or a test stub is missing");
    }
    if (W.ready) {
        return;
    }
    uint8_t key[32];
    pthread_mutex_init(&W.mu, NULL);
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-agent-gpu-e2e-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    W.snp = tu_emulator_state_new(W.snp_dir, sizeof(W.snp_dir), NULL);
    init_gpu();
    assert_int_equal(RAND_bytes(key, sizeof(key)), 1);
    seal_model(key);
    provision_broker(key);
    OPENSSL_cleanse(key, sizeof(key));
    start_daemon();
    W.http = lh_start(proxy_handle, NULL, W.proxy, sizeof(W.proxy));
    assert_non_null(W.http);
    W.ready = 1;
}

/* ---------------------------------------------------------------- the agent */

static const char *const STUB_VARS[] = {"CCG_NVML_STUB_CC",         "CCG_NVML_STUB_GPU_STATE",
                                        "CCG_NVML_STUB_GPU_REPORT", "CCG_NVML_STUB_GPU_CERTS",
                                        "CCG_NVML_STUB_GPU_TAMPER", "CCG_NVML_STUB_GPU_REPORT_OUT",
                                        "CCG_NVML_STUB_READY_FILE"};

/* Every stub variable cleared, then the saved software GPU served (as a test then changes it). */
static void stub_gpu(void)
{
    if (W.moved_rim[0] != 0) { /* a failed test may have left it hidden */
        assert_int_equal(rename(W.moved_rim, W.driver_rim), 0);
        W.moved_rim[0] = 0;
    }
    if (W.ocsp != NULL) {
        assert_int_equal(tu_gpu_ocsp_set(W.ocsp, 1, 0), 0);
    }
    for (size_t i = 0; i < sizeof(STUB_VARS) / sizeof(STUB_VARS[0]); i++) {
        unsetenv(STUB_VARS[i]);
    }
    setenv("CCG_NVML_STUB_GPU_STATE", W.gpu_dir, 1);
}

typedef struct {
    pid_t pid;
    char config[160], err[160], report[160], ready[160];
    int exit_status;
    json_t *failure; /* the "failed" log line */
} agent_run;

static void write_agent_config(const agent_run *r)
{
    json_t *doc = json_pack(
        "{s:{s:s,s:s},s:{s:s,s:b,s:i},s:{s:s,s:i},s:{s:s,s:s},s:{s:b,s:s},s:{s:[s,s,s]},s:{s:s},s:s}", "attester",
        "kind", "emulator", "emulator_dir", W.snp_dir, "broker", "url", W.proxy, "insecure_http", 1, "timeout", 120,
        "key", "resource", KEY_ID, "version", 1, "artifact", "location", W.artifact, "provider_key", W.provider_pub,
        "gpu", "required", 1, "nvml_library", env_or_null("CCG_NVML_STUB"), "server", "argv",
        env_or_null("CCG_MODEL_SERVER_STUB"), r->report, "exit", "status", "listen", "127.0.0.1:0", "memlock",
        "best-effort");
    char *text;
    assert_non_null(doc);
    text = json_dumps(doc, JSON_INDENT(1));
    write_text(r->config, text);
    free(text);
    json_decref(doc);
}

/* Runs the agent to its end with the stub environment as the test set it, and a fresh ready file. */
static void agent_run_once(agent_run *r)
{
    const char *agent = env_or_null("CCG_AGENT");
    int n = ++W.runs;
    memset(r, 0, sizeof(*r));
    snprintf(r->config, sizeof(r->config), "%s/agent-%d.json", W.dir, n);
    snprintf(r->err, sizeof(r->err), "%s/agent-%d.err", W.dir, n);
    snprintf(r->report, sizeof(r->report), "%s/server-%d.report", W.dir, n);
    snprintf(r->ready, sizeof(r->ready), "%s/ready-%d", W.dir, n);
    write_agent_config(r);
    setenv("CCG_NVML_STUB_READY_FILE", r->ready, 1);
    pthread_mutex_lock(&W.mu);
    json_decref(W.explained);
    W.explained = NULL;
    pthread_mutex_unlock(&W.mu);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int err = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0600), null = open("/dev/null", O_WRONLY);
        if (err < 0 || null < 0 || dup2(null, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
            _exit(125);
        }
        setenv("CCG_STUB_EXPECT_SHA384", W.model_hex, 1);
        execl(agent, agent, "--config", r->config, (char *)NULL);
        _exit(127);
    }
    r->exit_status = tu_agent_wait(r->pid, 180 * 1000);
    r->failure = tu_agent_failure_line(r->err);
    if (r->exit_status < 0) {
        fail_msg("the agent did not finish");
    }
}

static void assert_ready_history(const agent_run *r, const char *want)
{
    char *text = tu_read_text(r->ready);
    if (want == NULL ? text != NULL : text == NULL || strcmp(text, want) != 0) {
        fail_msg("ready history \"%s\", want \"%s\"", text != NULL ? text : "(none)", want != NULL ? want : "(none)");
    }
    free(text);
}

/* The broker's audit records (`ccgate audit list --json`), oldest first. */
static json_t *audit_records(void)
{
    char db[160], out[160], *text;
    json_t *doc;
    snprintf(db, sizeof(db), "%s/kbs.db", W.dir);
    snprintf(out, sizeof(out), "%s/audit.json", W.dir);
    char *argv[] = {(char *)env_or_null("CCG_CLI"), "audit", "list", "--db", db, "--json", NULL};
    assert_int_equal(run(argv, out), 0);
    text = tu_read_text(out);
    assert_non_null(text);
    doc = json_loads(text, 0, NULL);
    free(text);
    assert_true(json_is_array(doc));
    return doc;
}

/* The one record of action for request_id (borrowed from records), or NULL. */
static json_t *audit_record(json_t *records, const char *action, const char *request_id)
{
    size_t i;
    json_t *rec, *found = NULL;
    json_array_foreach(records, i, rec) {
        const char *a = json_string_value(json_object_get(rec, "action"));
        const char *id = json_string_value(json_object_get(rec, "request_id"));
        if (a != NULL && id != NULL && strcmp(a, action) == 0 && strcmp(id, request_id) == 0) {
            assert_null(found);
            found = rec;
        }
    }
    return found;
}

static int has_string(const json_t *array, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(array, i, v) {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The details of reason code in the last /explain (a new reference), failing when it has none. */
static json_t *explained_details(const char *code)
{
    json_t *reasons, *r, *out = NULL;
    size_t i;
    pthread_mutex_lock(&W.mu);
    assert_non_null(W.explained);
    reasons = json_object_get(W.explained, "reasons");
    json_array_foreach(reasons, i, r) {
        const char *c = json_string_value(json_object_get(r, "reason"));
        if (c == NULL) {
            c = json_string_value(json_object_get(r, "code"));
        }
        if (out == NULL && c != NULL && strcmp(c, code) == 0) {
            out = json_incref(json_object_get(r, "details"));
        }
    }
    if (out == NULL) {
        char *text = json_dumps(W.explained, JSON_COMPACT);
        pthread_mutex_unlock(&W.mu);
        fail_msg("/explain has no %s: %s", code, text != NULL ? text : "");
    }
    pthread_mutex_unlock(&W.mu);
    return out;
}

/* One denied start (decision: the audit record's, "deny", or "error" where a dependency failed): the agent's failure with the operator signal, the model server never started, the
 * GPUs never ready (ready_want: the history, "ready=0\n" or NULL when NVML has no ready state), and the
 * broker's audit record of the same request. Returns that record's GPU claims (a new reference). */
static json_t *expect_denied(const char *code, const char *decision, const char *ready_want)
{
    agent_run r;
    json_t *records, *rec, *gpus;
    const char *rid;
    agent_run_once(&r);
    if (r.failure == NULL || r.exit_status != 15) {
        char *err = tu_read_text(r.err);
        fail_msg("exit %d (want 15); stderr:\n%s", r.exit_status, err != NULL ? err : "");
    }
    assert_string_equal(json_string_value(json_object_get(r.failure, "reason")), code);
    assert_int_equal(json_integer_value(json_object_get(r.failure, "exit_status")), 15);
    assert_string_equal(json_string_value(json_object_get(r.failure, "key_id")), KEY_ID);
    assert_string_equal(json_string_value(json_object_get(r.failure, "policy_id")), POLICY_ID);
    assert_int_equal(json_integer_value(json_object_get(r.failure, "policy_version")), POLICY_VERSION);
    rid = json_string_value(json_object_get(r.failure, "request_id"));
    assert_non_null(rid);
    assert_true(strlen(rid) > 0);
    assert_false(json_is_true(json_object_get(r.failure, "gpu_ready")));
    assert_int_not_equal(access(r.report, F_OK), 0); /* the model server never started */
    assert_ready_history(&r, ready_want);
    records = audit_records();
    rec = audit_record(records, "kbs.attest", rid);
    if (rec == NULL) {
        fail_msg("no kbs.attest audit record of request %s", rid);
    }
    assert_string_equal(json_string_value(json_object_get(rec, "decision")), decision);
    assert_true(has_string(json_object_get(rec, "reasons"), code));
    assert_false(has_string(json_object_get(rec, "reasons"), "kbs.gpu_required"));
    assert_string_equal(json_string_value(json_object_get(rec, "policy_id")), POLICY_ID);
    assert_int_equal(json_integer_value(json_object_get(rec, "policy_version")), POLICY_VERSION);
    gpus = json_incref(json_object_get(rec, "gpus"));
    print_message("  %s: exit 15, request %s, policy %s v%d; %s\n", code, rid, POLICY_ID, POLICY_VERSION,
                  json_string_value(json_object_get(r.failure, "message")));
    json_decref(records);
    json_decref(r.failure);
    return gpus;
}

/* ---------------------------------------------------------------- the cases */

/* The driver RIM is not in the RIM directory (and no RIM service is configured): the broker fails
 * closed naming the RIM ID. First, so that no RIM has been cached. */
static void rim_unavailable_names_the_rim_id(void **state)
{
    json_t *gpus, *details;
    (void)state;
    require_world();
    stub_gpu();
    snprintf(W.moved_rim, sizeof(W.moved_rim), "%s/driver-rim.away", W.dir);
    assert_int_equal(rename(W.driver_rim, W.moved_rim), 0);
    gpus = expect_denied("gpu.rim_unavailable", "error", "ready=0\n");
    stub_gpu(); /* the RIM back */
    details = explained_details("gpu.rim_unavailable");
    assert_string_equal(json_string_value(json_object_get(details, "rim_id")), W.driver_rim_id);
    assert_int_equal(json_integer_value(json_object_get(details, "gpu")), 0);
    assert_int_equal(json_array_size(gpus), 1);
    json_decref(details);
    json_decref(gpus);
}

/* Approved: the key is released, the model served, the GPUs ready only after the release. The report
 * the stub served is kept for the replay case. */
static void approved_releases_the_key(void **state)
{
    agent_run r;
    json_t *records, *rec, *gpu, *server;
    char *text;
    size_t i;
    (void)state;
    require_world();
    stub_gpu();
    setenv("CCG_NVML_STUB_GPU_REPORT_OUT", W.captured, 1);
    agent_run_once(&r);
    unsetenv("CCG_NVML_STUB_GPU_REPORT_OUT");
    if (r.exit_status != 0) {
        char *err = tu_read_text(r.err);
        fail_msg("exit %d (want 0); stderr:\n%s", r.exit_status, err != NULL ? err : "");
    }
    assert_null(r.failure);
    text = tu_read_text(r.report);
    assert_non_null(text);
    server = json_loads(text, 0, NULL);
    free(text);
    assert_int_equal(json_integer_value(json_object_get(server, "match")), 1); /* the model, byte for byte */
    json_decref(server);
    assert_ready_history(&r, "ready=0\nready=1\nready=0\n");
    assert_int_equal(access(W.captured, R_OK), 0);
    /* The broker's records: the attestation and the release, both allowed, both with the GPU's claims. */
    records = audit_records();
    rec = NULL;
    json_array_foreach(records, i, gpu) {
        const char *a = json_string_value(json_object_get(gpu, "action"));
        if (a != NULL && strcmp(a, "resource.release") == 0) {
            rec = gpu;
        }
    }
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "decision")), "allow");
    assert_string_equal(json_string_value(json_object_get(rec, "key_id")), KEY_ID);
    assert_int_equal(json_integer_value(json_object_get(rec, "policy_version")), POLICY_VERSION);
    gpu = json_array_get(json_object_get(rec, "gpus"), 0);
    assert_non_null(gpu);
    assert_string_equal(json_string_value(json_object_get(gpu, "measurements")), "passed");
    assert_string_equal(json_string_value(json_object_get(gpu, "nonce_binding")), "ccgate-v1");
    json_decref(records);
    json_decref(r.failure);
}

/* The host (NVML) says CC mode is off; the evidence itself is fine. The agent attests anyway, and the
 * broker refuses with gpu.cc_mode_off from the host's word: the ready state does not exist without CC
 * mode, and is never touched. */
static void cc_off_is_refused_by_the_broker(void **state)
{
    json_t *gpus, *details;
    (void)state;
    require_world();
    stub_gpu();
    setenv("CCG_NVML_STUB_CC", "off", 1);
    gpus = expect_denied("gpu.cc_mode_off", "deny", NULL);
    unsetenv("CCG_NVML_STUB_CC");
    details = explained_details("gpu.cc_mode_off");
    assert_string_equal(json_string_value(json_object_get(details, "source")), "host");
    json_decref(details);
    json_decref(gpus);
}

/* The report captured from the approved run, served again by the stub as a fixed report: the broker has
 * seen it in another session. */
static void replayed_report_is_refused(void **state)
{
    json_t *gpus, *details;
    (void)state;
    require_world();
    if (access(W.captured, R_OK) != 0) {
        fail_msg("the approved run captured no report");
    }
    stub_gpu();
    unsetenv("CCG_NVML_STUB_GPU_STATE");
    setenv("CCG_NVML_STUB_GPU_REPORT", W.captured, 1);
    setenv("CCG_NVML_STUB_GPU_CERTS", W.chain, 1);
    gpus = expect_denied("gpu.report_replayed", "deny", "ready=0\n");
    details = explained_details("gpu.report_replayed");
    assert_int_equal(json_integer_value(json_object_get(details, "gpu")), 0);
    assert_non_null(json_string_value(json_object_get(details, "first_seen")));
    json_decref(details);
    json_decref(gpus);
}

static void wrong_nonce_is_refused(void **state)
{
    json_t *gpus;
    (void)state;
    require_world();
    stub_gpu();
    setenv("CCG_NVML_STUB_GPU_TAMPER", "nonce", 1);
    gpus = expect_denied("gpu.nonce_mismatch", "deny", "ready=0\n");
    unsetenv("CCG_NVML_STUB_GPU_TAMPER");
    json_decref(explained_details("gpu.nonce_mismatch"));
    json_decref(gpus);
}

/* A driver measurement that is not the RIM's: the index is in the audit record's GPU claims and in the
 * details. */
static void wrong_measurement_names_the_index(void **state)
{
    char tamper[32];
    json_t *gpus, *details, *idx;
    (void)state;
    require_world();
    stub_gpu();
    snprintf(tamper, sizeof(tamper), "measurement=%d", MEASUREMENT_INDEX);
    setenv("CCG_NVML_STUB_GPU_TAMPER", tamper, 1);
    gpus = expect_denied("gpu.measurement_mismatch", "deny", "ready=0\n");
    unsetenv("CCG_NVML_STUB_GPU_TAMPER");
    assert_int_equal(json_array_size(gpus), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(gpus, 0), "measurements")), "failed");
    idx = json_object_get(json_array_get(gpus, 0), "mismatched_indexes");
    assert_int_equal(json_array_size(idx), 1);
    assert_int_equal(json_integer_value(json_array_get(idx, 0)), MEASUREMENT_INDEX);
    details = explained_details("gpu.measurement_mismatch");
    idx = json_object_get(details, "mismatched_indexes");
    assert_int_equal(json_array_size(idx), 1);
    assert_int_equal(json_integer_value(json_array_get(idx, 0)), MEASUREMENT_INDEX);
    json_decref(details);
    json_decref(gpus);
}

/* The OCSP responder answers that the GPU's attestation leaf is revoked (keyCompromise). */
static void revoked_certificate_is_refused(void **state)
{
    json_t *gpus;
    (void)state;
    require_world();
    stub_gpu();
    assert_int_equal(tu_gpu_ocsp_set(W.ocsp, 1, 1), 0);
    gpus = expect_denied("gpu.cert_revoked", "deny", "ready=0\n");
    assert_int_equal(tu_gpu_ocsp_set(W.ocsp, 1, 0), 0);
    json_decref(explained_details("gpu.cert_revoked"));
    json_decref(gpus);
}

static int group_teardown(void **state)
{
    (void)state;
    lh_stop(W.http);
    if (W.daemon > 0) {
        int status;
        kill(W.daemon, SIGTERM);
        waitpid(W.daemon, &status, 0);
    }
    tu_gpu_ocsp_stop(W.ocsp);
    ccg_gpu_emulator_free(W.gpu);
    ccg_snp_emulator_free(W.snp);
    json_decref(W.explained);
    if (W.dir[0] != 0) {
        tu_remove_tree(W.dir);
    }
    if (W.snp_dir[0] != 0) {
        tu_remove_tree(W.snp_dir);
    }
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rim_unavailable_names_the_rim_id),
        cmocka_unit_test(approved_releases_the_key),
        cmocka_unit_test(cc_off_is_refused_by_the_broker),
        cmocka_unit_test(replayed_report_is_refused),
        cmocka_unit_test(wrong_nonce_is_refused),
        cmocka_unit_test(wrong_measurement_names_the_index),
        cmocka_unit_test(revoked_certificate_is_refused),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, group_teardown);
    curl_global_cleanup();
    return rc;
}
