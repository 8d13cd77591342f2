/* The guest agent end to end (issue 6, must-show 2 and 3): the real ccgate-kbs daemon with a SoftHSM2
 * token, the configfs-tsm stand-in (a FUSE filesystem backed by the SNP emulator), a model sealed under
 * the imported key, and the real ccgate-agent binary starting the stub model server
 * (tests/support/model_server_stub.c) with the sealed memfd.
 *
 *   approved launch        the server maps the memfd; its SHA-384 matches; the server is non-dumpable
 *   negative proofs        same uid, no CAP_SYS_PTRACE: ptrace attach, /proc/<pid>/mem, /proc/<pid>/fd
 *                          and process_vm_readv on the server fail (a dumpable control succeeds); after
 *                          the run no file under the test dir, /tmp or /dev/shm holds a plaintext chunk
 *   unapproved measurement the server never starts: snp.measurement_not_allowed, exit status 11
 *   no stale access        a key served once, then disabled by the provider: key.disabled, exit 12
 *   GPU required, CC off   gpu.cc_mode_off (stub NVML), exit 15, the signal names the GPU state: locally
 *                          when NVML gives no evidence, else from the broker (the host's word sent beside
 *                          the evidence) with its request ID; the ready state never set; with CC
 *                          on and a software GPU behind the stub, the broker binds REPORT_DATA to the
 *                          GPU evidence string the agent sent, and the GPUs are ready only while serving
 *   no TEE                 attest.no_tee, exit 10;  a bad configuration: exit 16
 *   HSM unavailable (last) kms.unavailable with the PKCS#11 cause, exit 13
 *
 * Needs softhsm2, FUSE ($CCG_TSM_FUSE), $CCG_KBS, $CCG_AGENT, $CCG_MODEL_SERVER_STUB, $CCG_NVML_STUB;
 * skips without them unless CI=true. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "ccgate/artifact.h"
#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/http_body.h"
#include "ccgate/jose.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/util.h"

#include "agent_proc.h"
#include "testutil.h"
#include "tcb_util.h"
#include "tsm_fuse_ctl.h"

#define USER_PIN "4321"
#define SO_PIN "87654321"
#define DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define KEY_A "default/model/a"
#define KEY_B "default/model/b"
#define MODEL_LEN (3u * 1024u * 1024u + 12345u) /* a few MiB, not a multiple of the chunk size */
#define SAMPLES 64
#define SAMPLE_LEN 64

typedef struct {
    int ready, skipped;
    char dir[128], emu_dir[64], bad_emu_dir[64];
    char tokens[300], kbs_config[300], port_file[300], base[64];
    char provider_pub[300], artifact_a[300], artifact_b[300];
    pid_t daemon;
    ccg_snp_emulator *emu;
    uint8_t measurement[48];
    tu_tsm_fuse *fs;
    uint8_t *model; /* the plaintext, in the test's memory only */
    uint8_t key[32]; /* the model key, in the test's memory only */
    char model_hex[97];
    int runs;
    pid_t live_agent; /* an agent a failed assertion may leave running: stopped in the teardown */
} world;

static world W;

/* ---------------------------------------------------------------- processes and files */

static int run(char *const argv[])
{
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0) {
            dup2(null, STDOUT_FILENO);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *env_or_null(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && v[0] != 0 ? v : NULL;
}

static const char *module_path(void)
{
    const char *env = env_or_null("CCG_SOFTHSM2_MODULE");
    return env != NULL ? env : DEFAULT_MODULE;
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static int kbs_cmd(const char *cmd, const char *a1, const char *v1, const char *a2, const char *v2, const char *a3,
                   const char *v3)
{
    char *argv[12];
    int n = 0;
    argv[n++] = (char *)env_or_null("CCG_KBS");
    argv[n++] = (char *)cmd;
    argv[n++] = "--config";
    argv[n++] = W.kbs_config;
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

/* ---------------------------------------------------------------- the world */

static char *ark_pem(void)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out;
    long n;
    assert_non_null(bio);
    assert_int_equal(PEM_write_bio_X509(bio, ccg_snp_emulator_ark(W.emu)), 1);
    n = BIO_get_mem_data(bio, &data);
    out = strndup(data, (size_t)n);
    BIO_free(bio);
    return out;
}

/* The release policy: the emulator's ARK trusted by name, one approved measurement. */
static void write_policy(const char *path)
{
    const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(W.emu);
    char *pem = ark_pem();
    char hex[97], *text;
    json_t *doc;
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

static void init_token(void)
{
    char conf[400], text[2048], pin[400];
    snprintf(W.tokens, sizeof(W.tokens), "%s/tokens", W.dir);
    assert_int_equal(mkdir(W.tokens, 0700), 0);
    snprintf(conf, sizeof(conf), "%s/softhsm2.conf", W.dir);
    snprintf(text, sizeof(text),
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n",
             W.tokens);
    write_text(conf, text);
    setenv("SOFTHSM2_CONF", conf, 1);
    char *const init[] = {"softhsm2-util", "--init-token", "--free", "--label", "ccgate", "--so-pin", SO_PIN,
                          "--pin",         USER_PIN,       NULL};
    assert_int_equal(run(init), 0);
    snprintf(pin, sizeof(pin), "%s/pin", W.dir);
    write_text(pin, USER_PIN);
    chmod(pin, 0600);
    snprintf(W.kbs_config, sizeof(W.kbs_config), "%s/kbs.json", W.dir);
    snprintf(W.port_file, sizeof(W.port_file), "%s/kbs.port", W.dir);
    char *tcb = tu_write_tcb_config(W.dir);
    snprintf(text, sizeof(text),
             "{\"address\":\"127.0.0.1\",\"port\":0,\"store\":\"%s/kbs.db\",\"nonce_ttl\":30,\"token_ttl\":600,"
             "\"attestation_policy\":\"model-a\",\"allow_unlocked_memory\":true,\"threads\":2,"
             "\"keystore\":{\"backend\":\"pkcs11\",\"module\":\"%s\",\"token_label\":\"ccgate\",\"pin_file\":\"%s\"},%s}",
             W.dir, module_path(), pin, tcb); /* the emulator's TCB: an UpToDate baseline */
    free(tcb);
    write_text(W.kbs_config, text);
}

/* The emulator state for the approved launch, and a copy whose launch measurement differs. */
static void init_emulator(void)
{
    ccg_snp_emulator_launch launch;
    W.emu = tu_emulator_state_new(W.emu_dir, sizeof(W.emu_dir), NULL);
    ccg_snp_emulator_launch_init(W.emu, &launch);
    memcpy(W.measurement, launch.measurement, 48);
    launch.measurement[0] ^= 0xff;
    snprintf(W.bad_emu_dir, sizeof(W.bad_emu_dir), "/tmp/ccg-emu-bad-XXXXXX");
    assert_non_null(mkdtemp(W.bad_emu_dir));
    assert_true(ccg_ok(ccg_snp_emulator_save(W.emu, &launch, W.bad_emu_dir)));
}

/* The provider seals the model (random bytes) under both keys; the plaintext file the sealer reads
 * is removed at once, so the scan afterwards looks for what the agent might have left. */
static void seal_models(const uint8_t key[32])
{
    char plain[300];
    EVP_PKEY *signer = EVP_EC_gen("P-384");
    FILE *f;
    unsigned int md_len = 0;
    uint8_t md[48];
    assert_non_null(signer);
    W.model = malloc(MODEL_LEN);
    assert_non_null(W.model);
    assert_int_equal(RAND_bytes(W.model, MODEL_LEN), 1);
    assert_int_equal(EVP_Digest(W.model, MODEL_LEN, md, &md_len, EVP_sha384(), NULL), 1);
    ccg_hex_encode(md, 48, W.model_hex);
    snprintf(plain, sizeof(plain), "%s/model.plain", W.dir);
    f = fopen(plain, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(W.model, 1, MODEL_LEN, f), MODEL_LEN);
    assert_int_equal(fclose(f), 0);
    snprintf(W.artifact_a, sizeof(W.artifact_a), "%s/model-a.ccgm", W.dir);
    snprintf(W.artifact_b, sizeof(W.artifact_b), "%s/model-b.ccgm", W.dir);
    assert_true(ccg_ok(ccg_artifact_seal_file(plain, W.artifact_a, key, 32, KEY_A, 1, 0, signer)));
    assert_true(ccg_ok(ccg_artifact_seal_file(plain, W.artifact_b, key, 32, KEY_B, 1, 0, signer)));
    assert_int_equal(unlink(plain), 0);
    snprintf(W.provider_pub, sizeof(W.provider_pub), "%s/provider.pub", W.dir);
    f = fopen(W.provider_pub, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PUBKEY(f, signer), 1);
    assert_int_equal(fclose(f), 0);
    EVP_PKEY_free(signer);
}

static void provision_broker(const uint8_t key[32])
{
    char path[400];
    FILE *f;
    assert_int_equal(kbs_cmd("create-kek", NULL, NULL, NULL, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/policy.json", W.dir);
    write_policy(path);
    assert_int_equal(kbs_cmd("set-policy", "--file", path, NULL, NULL, NULL, NULL), 0);
    snprintf(path, sizeof(path), "%s/model.key", W.dir);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(key, 1, 32, f), 32);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(kbs_cmd("import-key", "--key-id", KEY_A, "--policy-id", "model-a", "--file", path), 0);
    assert_int_equal(kbs_cmd("import-key", "--key-id", KEY_B, "--policy-id", "model-a", "--file", path), 0);
    assert_int_equal(unlink(path), 0);
}

static void start_daemon(void)
{
    W.daemon = tu_kbs_daemon_start(env_or_null("CCG_KBS"), W.kbs_config, W.port_file, NULL, W.base, sizeof(W.base));
}

static void require_world(void)
{
    char *const probe[] = {"softhsm2-util", "--version", NULL};
    if (W.skipped || (!W.ready && (env_or_null("CCG_KBS") == NULL || env_or_null("CCG_AGENT") == NULL ||
                                   env_or_null("CCG_MODEL_SERVER_STUB") == NULL ||
                                   env_or_null("CCG_NVML_STUB") == NULL || access(module_path(), R_OK) != 0 ||
                                   run(probe) != 0))) {
        W.skipped = 1;
        tu_skip_or_fail("SoftHSM2, ccgate-kbs, ccgate-agent or a test stub is missing");
    }
    if (W.ready) {
        return;
    }
    snprintf(W.dir, sizeof(W.dir), "/tmp/ccg-agent-e2e-XXXXXX");
    assert_non_null(mkdtemp(W.dir));
    init_token();
    init_emulator();
    assert_int_equal(RAND_bytes(W.key, sizeof(W.key)), 1);
    seal_models(W.key);
    provision_broker(W.key);
    start_daemon();
    W.fs = tu_tsm_fuse_start_or_skip(W.emu_dir, NULL);
    W.ready = 1;
}

/* ---------------------------------------------------------------- the agent */

typedef struct {
    const char *key;           /* KBS resource path (and key ID) */
    const char *artifact;
    const char *tsm_root;      /* NULL: the approved stand-in */
    const char *attester;      /* NULL: configfs-tsm */
    int require_gpu;
    const char *server_mode;   /* NULL: serve until SIGTERM; "exit": exit at once */
    int drop_ptrace_cap;       /* run the agent without CAP_SYS_PTRACE (the negative proofs) */
    int linger;                /* status.linger seconds */
    const char *broker_url;    /* NULL: the plain-HTTP broker (insecure_http) */
    const char *ca_file;       /* the pinned CA for an https broker */
} agent_opts;

typedef struct {
    pid_t pid;
    char config[300], out[300], err[300], report[300], status_port[300];
    int exit_status;
    json_t *failure; /* the "failed" log line */
} agent_run;

/* Removes CAP_SYS_PTRACE from the bounding, permitted, effective and inheritable sets; uid stays 0. */
static int drop_cap_sys_ptrace(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    if (prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0 || syscall(SYS_capget, &hdr, data) != 0) {
        return -1;
    }
    for (int i = 0; i < 2; i++) {
        uint32_t mask = CAP_SYS_PTRACE / 32 == i ? ~(1u << (CAP_SYS_PTRACE % 32)) : ~0u;
        data[i].effective &= mask;
        data[i].permitted &= mask;
        data[i].inheritable &= mask;
    }
    return syscall(SYS_capset, &hdr, data) == 0 ? 0 : -1;
}

static void write_agent_config(agent_run *r, const agent_opts *o)
{
    json_t *doc;
    char *text;
    const char *attester = o->attester != NULL ? o->attester : "configfs-tsm";
    const char *tsm_root = o->tsm_root != NULL ? o->tsm_root : tu_tsm_fuse_root(W.fs);
    json_t *argv = json_pack("[s,s]", env_or_null("CCG_MODEL_SERVER_STUB"), r->report);
    json_t *broker = o->broker_url != NULL
                         ? json_pack("{s:s,s:s,s:i}", "url", o->broker_url, "ca_file", o->ca_file, "timeout", 60)
                         : json_pack("{s:s,s:b,s:i}", "url", W.base, "insecure_http", 1, "timeout", 60);
    if (o->server_mode != NULL) {
        json_array_append_new(argv, json_string(o->server_mode));
    }
    doc = json_pack("{s:{s:s,s:s,s:s},s:o,s:{s:s,s:i},s:{s:s,s:s},s:{s:b,s:s},s:{s:o},"
                    "s:{s:s,s:s,s:i},s:s}",
                    "attester", "kind", attester, "tsm_root", tsm_root, "sev_guest_path", "/nonexistent/sev-guest",
                    "broker", broker, "key", "resource", o->key, "version",
                    1, "artifact", "location", o->artifact, "provider_key", W.provider_pub, "gpu", "required",
                    o->require_gpu, "nvml_library", env_or_null("CCG_NVML_STUB"), "server", "argv", argv, "status",
                    "listen", "127.0.0.1:0", "port_file", r->status_port, "linger", o->linger, "memlock",
                    "best-effort");
    assert_non_null(doc);
    text = json_dumps(doc, JSON_INDENT(1));
    write_text(r->config, text);
    free(text);
    json_decref(doc);
}

static void stop_live_agent(void)
{
    if (W.live_agent > 0) {
        int status;
        kill(W.live_agent, SIGTERM); /* the agent stops its model server */
        waitpid(W.live_agent, &status, 0);
        W.live_agent = 0;
    }
}

static void agent_start(agent_run *r, const agent_opts *o)
{
    const char *agent = env_or_null("CCG_AGENT");
    int n = ++W.runs;
    stop_live_agent(); /* one left by a failed test before */
    memset(r, 0, sizeof(*r));
    snprintf(r->config, sizeof(r->config), "%s/agent-%d.json", W.dir, n);
    snprintf(r->out, sizeof(r->out), "%s/agent-%d.out", W.dir, n);
    snprintf(r->err, sizeof(r->err), "%s/agent-%d.err", W.dir, n);
    snprintf(r->report, sizeof(r->report), "%s/server-%d.report", W.dir, n);
    snprintf(r->status_port, sizeof(r->status_port), "%s/agent-%d.port", W.dir, n);
    write_agent_config(r, o);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        int out = open(r->out, O_WRONLY | O_CREAT | O_TRUNC, 0600), err = open(r->err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (out < 0 || err < 0 || dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0) {
            _exit(125);
        }
        if (o->drop_ptrace_cap && drop_cap_sys_ptrace() != 0) {
            _exit(124);
        }
        /* For the stub server: the SHA-384 it must find in the memfd (the agent passes its environment on). */
        setenv("CCG_STUB_EXPECT_SHA384", W.model_hex, 1);
        execl(agent, agent, "--config", r->config, (char *)NULL);
        _exit(127);
    }
    W.live_agent = r->pid;
}

static void agent_wait(agent_run *r)
{
    int status = 0;
    for (int i = 0; i < 1200; i++) {
        pid_t p = waitpid(r->pid, &status, WNOHANG);
        if (p == r->pid) {
            W.live_agent = 0;
            r->exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            r->failure = tu_agent_failure_line(r->err);
            return;
        }
        usleep(100 * 1000);
    }
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &status, 0);
    W.live_agent = 0;
    fail_msg("the agent did not finish");
}

static void agent_free(agent_run *r) { json_decref(r->failure); }

/* Runs to completion and checks the failure signal: exit status, reason, and no server. */
static void expect_failure(const agent_opts *o, int exit_status, const char *reason, agent_run *r)
{
    char *err;
    agent_start(r, o);
    agent_wait(r);
    if (r->failure == NULL || r->exit_status != exit_status) {
        err = tu_read_text(r->err);
        fail_msg("exit %d (want %d); stderr:\n%s", r->exit_status, exit_status, err != NULL ? err : "");
    }
    assert_string_equal(json_string_value(json_object_get(r->failure, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(r->failure, "reason")), reason);
    assert_int_equal(json_integer_value(json_object_get(r->failure, "exit_status")), exit_status);
    assert_string_equal(json_string_value(json_object_get(r->failure, "key_id")), o->key);
    /* The model server never started. */
    assert_int_not_equal(access(r->report, F_OK), 0);
    err = tu_read_text(r->out);
    assert_true(err == NULL || err[0] == 0);
    free(err);
    print_message("  exit %d: %s\n", r->exit_status, json_string_value(json_object_get(r->failure, "message")));
}

static json_t *get_status(const agent_run *r)
{
    char *port_text = tu_read_text(r->status_port), url[96];
    unsigned port = 0;
    ccg_http_body b;
    CURL *c;
    json_t *o;
    long code = 0;
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
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    assert_int_equal(code, 200);
    o = json_loads(b.data, 0, NULL);
    assert_non_null(o);
    ccg_http_body_reset(&b);
    return o;
}

/* Waits until the stub model server has written its report; the agent must still run. */
static json_t *wait_for_server(agent_run *r)
{
    for (int i = 0; i < 1200; i++) {
        char *text = tu_read_text(r->report);
        int status;
        if (text != NULL) {
            json_t *o = json_loads(text, 0, NULL);
            free(text);
            assert_non_null(o);
            return o;
        }
        if (waitpid(r->pid, &status, WNOHANG) == r->pid) {
            char *err = tu_read_text(r->err);
            W.live_agent = 0;
            fail_msg("the agent exited (%d) before serving:\n%s", WIFEXITED(status) ? WEXITSTATUS(status) : -1,
                     err != NULL ? err : "");
        }
        usleep(100 * 1000);
    }
    fail_msg("the model server did not report");
    return NULL;
}

/* ---------------------------------------------------------------- negative proofs */

typedef struct {
    int control_attach;   /* 0 when attaching to a dumpable process of the same uid succeeded */
    int server_attach;    /* errno of PTRACE_ATTACH on the server */
    int agent_attach;     /* errno of PTRACE_ATTACH on the agent */
    int server_mem;       /* errno of open(/proc/<server>/mem) */
    int server_fd;        /* errno of open(/proc/<server>/fd/<memfd>) */
    int server_vm_read;   /* errno of process_vm_readv on the server */
    int has_ptrace_cap;   /* the attacker's effective set still holds CAP_SYS_PTRACE */
    uid_t uid;
} attack_result;

static int try_attach(pid_t pid)
{
    int status;
    if (ptrace(PTRACE_ATTACH, pid, NULL, NULL) == 0) {
        waitpid(pid, &status, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
        return 0;
    }
    return errno;
}

static int try_open(const char *path)
{
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        close(fd);
        return 0;
    }
    return errno;
}

/* The attacker: the same uid (0) as the agent and the server, without CAP_SYS_PTRACE, like them; or
 * (as_nobody) an unprivileged user with no capabilities at all. */
static void attacker(pid_t server, pid_t agent, int memfd, int out_fd, int as_nobody)
{
    attack_result res;
    char path[96];
    char buf[64];
    struct iovec local = {buf, sizeof(buf)}, remote = {(void *)0x10000, sizeof(buf)};
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2];
    pid_t control;
    memset(&res, 0, sizeof(res));
    if (drop_cap_sys_ptrace() != 0) {
        _exit(20);
    }
    /* Changing the uid clears the dumpable flag; the control process must be an ordinary one again. */
    if (as_nobody && (setresuid(65534, 65534, 65534) != 0 || prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0)) {
        _exit(21);
    }
    syscall(SYS_capget, &hdr, data);
    res.has_ptrace_cap = (data[CAP_SYS_PTRACE / 32].effective >> (CAP_SYS_PTRACE % 32)) & 1;
    res.uid = getuid();
    /* Control: a dumpable process of the same uid and capabilities can be attached. */
    control = fork();
    if (control == 0) {
        pause();
        _exit(0);
    }
    res.control_attach = try_attach(control);
    kill(control, SIGKILL);
    waitpid(control, NULL, 0);
    res.server_attach = try_attach(server);
    res.agent_attach = try_attach(agent);
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)server);
    res.server_mem = try_open(path);
    snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)server, memfd);
    res.server_fd = try_open(path);
    res.server_vm_read = process_vm_readv(server, &local, 1, &remote, 1, 0) < 0 ? errno : 0;
    (void)!write(out_fd, &res, sizeof(res));
    _exit(0);
}

static void attack(pid_t server, pid_t agent, int memfd, int as_nobody, attack_result *res)
{
    int p[2], status;
    pid_t pid;
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        attacker(server, agent, memfd, p[1], as_nobody);
    }
    close(p[1]);
    assert_int_equal(read(p[0], res, sizeof(*res)), (ssize_t)sizeof(*res));
    close(p[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* "TracerPid:\t0" in /proc/<pid>/status: nobody is attached. */
static long tracer_pid(pid_t pid)
{
    char path[64], *text, *at;
    long tracer = -1;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    text = tu_read_text(path);
    assert_non_null(text);
    at = strstr(text, "TracerPid:");
    if (at != NULL) {
        tracer = strtol(at + 10, NULL, 10);
    }
    free(text);
    return tracer;
}

/* Byte patterns searched for in files: model samples, the key in its encodings. */
typedef struct {
    const uint8_t *p;
    size_t n; /* at most SAMPLE_LEN */
} pattern;

static int file_holds(const char *path, const pattern *pats, size_t npats)
{
    enum { BUF = 1 << 20 };
    static uint8_t buf[BUF + SAMPLE_LEN];
    size_t keep = 0;
    ssize_t n;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    int found = 0;
    if (fd < 0) {
        return 0;
    }
    while (!found && (n = read(fd, buf + keep, BUF)) > 0) {
        size_t have = keep + (size_t)n;
        for (size_t s = 0; s < npats && !found; s++) {
            found = memmem(buf, have, pats[s].p, pats[s].n) != NULL;
        }
        keep = have < SAMPLE_LEN - 1 ? have : SAMPLE_LEN - 1;
        memmove(buf, buf + have - keep, keep);
    }
    close(fd);
    return found;
}

/* Every regular file under dir (this filesystem only, no symlinks) searched for any pattern. */
static long scan_tree(const char *dir, dev_t dev, const pattern *pats, size_t npats, long *files, char *hit,
                      size_t hit_len)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    long hits = 0;
    if (d == NULL) {
        return 0;
    }
    while ((e = readdir(d)) != NULL) {
        char path[4096];
        struct stat st;
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) {
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (lstat(path, &st) != 0 || st.st_dev != dev) {
            continue; /* other filesystems (FUSE mounts of other tests) are not ours to read */
        }
        if (S_ISDIR(st.st_mode)) {
            hits += scan_tree(path, dev, pats, npats, files, hit, hit_len);
        } else if (S_ISREG(st.st_mode)) {
            (*files)++;
            if (file_holds(path, pats, npats)) {
                hits++;
                snprintf(hit, hit_len, "%s", path);
            }
        }
    }
    closedir(d);
    return hits;
}

static long scan_roots(const char *const *roots, size_t nroots, const pattern *pats, size_t npats, long *files,
                       char *hit, size_t hit_len)
{
    long hits = 0;
    for (size_t i = 0; i < nroots; i++) {
        struct stat st;
        if (stat(roots[i], &st) == 0) {
            hits += scan_tree(roots[i], st.st_dev, pats, npats, files, hit, hit_len);
        }
    }
    return hits;
}

static void no_plaintext_anywhere(void)
{
    static pattern pats[SAMPLES];
    const char *roots[] = {W.dir, "/tmp", "/dev/shm"};
    char hit[4096] = "";
    long files = 0, hits;
    for (int s = 0; s < SAMPLES; s++) {
        pats[s].p = W.model + (size_t)s * ((MODEL_LEN - SAMPLE_LEN) / (SAMPLES - 1));
        pats[s].n = SAMPLE_LEN;
    }
    hits = scan_roots(roots, 3, pats, SAMPLES, &files, hit, sizeof(hit));
    print_message("  plaintext scan: %ld files under %s, /tmp, /dev/shm; %d samples of %d bytes; %ld hits\n", files,
                  W.dir, SAMPLES, SAMPLE_LEN, hits);
    if (hits != 0) {
        fail_msg("a plaintext chunk of the model is in %s", hit);
    }
    assert_true(files > 0);
}

/* The model key, raw, in hex and in base64url, is in no file either (the broker keeps it wrapped). */
static void no_key_anywhere(void)
{
    char hex[65], *b64u = ccg_b64url_encode(W.key, sizeof(W.key));
    uint8_t std[64];
    const char *roots[] = {W.dir, "/tmp", "/dev/shm"};
    char hit[4096] = "";
    long files = 0, hits;
    int std_len;
    assert_non_null(b64u);
    ccg_hex_encode(W.key, sizeof(W.key), hex);
    std_len = EVP_EncodeBlock(std, W.key, sizeof(W.key));
    pattern pats[] = {{W.key, sizeof(W.key)},
                      {(const uint8_t *)hex, 64},
                      {(const uint8_t *)b64u, strlen(b64u)},
                      {std, (size_t)std_len}};
    hits = scan_roots(roots, 3, pats, 4, &files, hit, sizeof(hit));
    print_message("  key scan: %ld files; the key raw, hex, base64url, base64: %ld hits\n", files, hits);
    free(b64u);
    if (hits != 0) {
        fail_msg("the model key is in %s", hit);
    }
}

/* ---------------------------------------------------------------- tests */

static void approved_launch_serves_the_model(void **state)
{
    agent_opts o = {.key = KEY_A, .artifact = W.artifact_a, .drop_ptrace_cap = 1};
    agent_run r;
    json_t *report, *st;
    attack_result res;
    pid_t server;
    char *out;
    int status;
    (void)state;
    require_world();
    o.artifact = W.artifact_a;
    agent_start(&r, &o);
    report = wait_for_server(&r);
    /* The model arrived in memory and its digest matches. */
    assert_string_equal(json_string_value(json_object_get(report, "sha384")), W.model_hex);
    assert_int_equal(json_integer_value(json_object_get(report, "match")), 1);
    assert_int_equal(json_integer_value(json_object_get(report, "len")), MODEL_LEN);
    /* CCGATE_MODEL_DIGEST is the provider-signed digest of the artifact's header. */
    {
        ccg_artifact *art = NULL;
        ccg_artifact_open_opts ao = {.provider_key_path = W.provider_pub};
        char signed_hex[97];
        assert_true(ccg_ok(ccg_artifact_open(W.artifact_a, &ao, &art)));
        ccg_hex_encode(ccg_artifact_header_of(art)->plaintext_digest, CCG_ARTIFACT_DIGEST_LEN, signed_hex);
        assert_string_equal(json_string_value(json_object_get(report, "digest")), signed_hex);
        ccg_artifact_close(art);
    }
    /* Sealed: writes, growth and writable mappings are refused with EPERM. */
    assert_int_equal(json_integer_value(json_object_get(report, "write_errno")), EPERM);
    assert_int_equal(json_integer_value(json_object_get(report, "truncate_errno")), EPERM);
    assert_int_equal(json_integer_value(json_object_get(report, "mmap_write_errno")), EPERM);
    /* The server's dumpable flag is 0, and it runs with no_new_privs. */
    assert_int_equal(json_integer_value(json_object_get(report, "dumpable")), 0);
    assert_int_equal(json_integer_value(json_object_get(report, "no_new_privs")), 1);
    /* Only the memfd is handed over (besides stdin, stdout, stderr). */
    if (json_integer_value(json_object_get(report, "extra_fds")) != 0) {
        fail_msg("the server inherited %lld descriptors besides the model: %s",
                 (long long)json_integer_value(json_object_get(report, "extra_fds")),
                 json_string_value(json_object_get(report, "extra")));
    }
    server = (pid_t)json_integer_value(json_object_get(report, "pid"));
    json_decref(report);

    st = get_status(&r);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "serving");
    assert_int_equal(json_integer_value(json_object_get(st, "server_pid")), server);
    assert_string_equal(json_string_value(json_object_get(st, "key_id")), KEY_A);
    assert_int_equal(json_integer_value(json_object_get(st, "key_version")), 1);
    assert_string_equal(json_string_value(json_object_get(st, "policy_id")), "model-a");
    assert_int_equal(json_integer_value(json_object_get(st, "policy_version")), 1);
    assert_true(json_is_string(json_object_get(st, "request_id")));
    assert_int_equal(json_string_length(json_object_get(st, "model_digest")), 96);
    assert_string_equal(json_string_value(json_object_get(st, "attester")), "configfs-tsm");
    print_message("  status: memory %s, attester %s, request %s\n", json_string_value(json_object_get(st, "memory")),
                  json_string_value(json_object_get(st, "attester")),
                  json_string_value(json_object_get(st, "request_id")));
    json_decref(st);

    /* Negative proofs while it serves: the attacker has the same uid and capabilities (no
     * CAP_SYS_PTRACE) as the agent and the server; only the dumpable flag stands in its way. */
    {
        char fdpath[64], link[128];
        ssize_t n;
        int memfd = -1;
        /* The memfd's number in the server: the test (root with CAP_SYS_PTRACE) may look. */
        for (int fd = 3; fd < 64 && memfd < 0; fd++) {
            snprintf(fdpath, sizeof(fdpath), "/proc/%d/fd/%d", (int)server, fd);
            n = readlink(fdpath, link, sizeof(link) - 1);
            if (n > 0) {
                link[n] = 0;
                if (strstr(link, "memfd:ccgate-model") != NULL) {
                    memfd = fd;
                }
            }
        }
        assert_true(memfd >= 0);
        attack(server, r.pid, memfd, 0, &res);
        print_message("  attacker uid %d, CAP_SYS_PTRACE %d: control attach %s; server attach %s, agent attach %s, "
                      "/proc/<server>/mem %s, /proc/<server>/fd/%d %s, process_vm_readv %s; TracerPid %ld\n",
                      (int)res.uid, res.has_ptrace_cap, strerror(res.control_attach), strerror(res.server_attach),
                      strerror(res.agent_attach), strerror(res.server_mem), memfd, strerror(res.server_fd),
                      strerror(res.server_vm_read), tracer_pid(server));
        assert_int_equal(res.uid, 0);
        assert_int_equal(res.has_ptrace_cap, 0);
        assert_int_equal(res.control_attach, 0);
        assert_int_equal(res.server_attach, EPERM);
        assert_int_equal(res.agent_attach, EPERM);
        assert_int_equal(res.server_mem, EACCES);
        assert_int_equal(res.server_fd, EACCES);
        assert_int_equal(res.server_vm_read, EPERM);
        assert_int_equal(tracer_pid(server), 0);
        /* An unprivileged user (nobody, no capabilities) fares no better. */
        attack(server, r.pid, memfd, 1, &res);
        print_message("  attacker uid %d: control attach %s; server attach %s, /proc/<server>/mem %s, "
                      "/proc/<server>/fd/%d %s\n",
                      (int)res.uid, strerror(res.control_attach), strerror(res.server_attach),
                      strerror(res.server_mem), memfd, strerror(res.server_fd));
        assert_int_equal(res.uid, 65534);
        assert_int_equal(res.control_attach, 0);
        assert_int_equal(res.server_attach, EPERM);
        assert_int_equal(res.agent_attach, EPERM);
        assert_int_equal(res.server_mem, EACCES);
        assert_int_equal(res.server_fd, EACCES);
        assert_int_equal(res.server_vm_read, EPERM);
    }

    /* Stop: the agent stops the server and exits 0. */
    assert_int_equal(kill(r.pid, SIGTERM), 0);
    assert_int_equal(waitpid(r.pid, &status, 0), r.pid);
    W.live_agent = 0;
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(kill(server, 0), -1);
    out = tu_read_text(r.out);
    assert_non_null(out);
    assert_non_null(strstr(out, W.model_hex));
    free(out);
    /* The agent's log: one JSON line per state, none carrying a secret. */
    out = tu_read_text(r.err);
    assert_non_null(out);
    for (char *save = NULL, *line = strtok_r(out, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        if (strstr(line, "\"event\"") != NULL) {
            print_message("  agent: %.300s\n", line);
        }
    }
    free(out);
    /* After the run: no plaintext chunk in any file the test can reach. */
    no_plaintext_anywhere();
    no_key_anywhere();
    agent_free(&r);
}

static void unapproved_measurement_never_starts_the_server(void **state)
{
    agent_opts o = {.key = KEY_A};
    agent_run r;
    tu_tsm_fuse *bad;
    (void)state;
    require_world();
    bad = tu_tsm_fuse_start_or_skip(W.bad_emu_dir, NULL);
    o.artifact = W.artifact_a;
    o.tsm_root = tu_tsm_fuse_root(bad);
    expect_failure(&o, 11, "snp.measurement_not_allowed", &r);
    assert_string_equal(json_string_value(json_object_get(r.failure, "policy_id")), "model-a");
    assert_true(json_is_string(json_object_get(r.failure, "request_id")));
    agent_free(&r);
    tu_tsm_fuse_stop(bad);
}

/* No stale access: the same agent configuration served once; after the provider disables the key
 * the next start attests again and is refused. */
static void disabled_key_stops_the_next_start(void **state)
{
    agent_opts o = {.key = KEY_B, .server_mode = "exit"};
    agent_run r;
    (void)state;
    require_world();
    o.artifact = W.artifact_b;
    agent_start(&r, &o);
    agent_wait(&r);
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(access(r.report, F_OK), 0);
    agent_free(&r);
    assert_int_equal(kbs_cmd("key-state", "--key-id", KEY_B, "--state", "disabled", NULL, NULL), 0);
    expect_failure(&o, 12, "key.disabled", &r);
    agent_free(&r);
}

static void gpu_cc_off_fails_closed(void **state)
{
    agent_opts o = {.key = KEY_A, .require_gpu = 1};
    agent_run r;
    json_t *st;
    (void)state;
    require_world();
    o.artifact = W.artifact_a;
    setenv("CCG_NVML_STUB_CC", "off", 1);
    /* With status.linger the failed state stays on the endpoint until a stop signal. */
    o.linger = 120;
    agent_start(&r, &o);
    for (int i = 0; i < 600; i++) {
        char *err = tu_read_text(r.err);
        int failed = err != NULL && strstr(err, "\"event\":\"failed\"") != NULL;
        free(err);
        if (failed) {
            break;
        }
        usleep(100 * 1000);
    }
    st = get_status(&r);
    assert_string_equal(json_string_value(json_object_get(st, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(st, "reason")), "gpu.cc_mode_off");
    assert_int_equal(json_integer_value(json_object_get(st, "exit_status")), 15);
    assert_non_null(strstr(json_string_value(json_object_get(st, "gpu")), "cc=off"));
    json_decref(st);
    assert_int_equal(kill(r.pid, SIGTERM), 0);
    agent_wait(&r);
    assert_int_equal(r.exit_status, 15);
    agent_free(&r);
    o.linger = 0;
    expect_failure(&o, 15, "gpu.cc_mode_off", &r);
    unsetenv("CCG_NVML_STUB_CC");
    assert_non_null(strstr(json_string_value(json_object_get(r.failure, "gpu")), "cc=off"));
    agent_free(&r);
    /* The stub with CC on and a software GPU lets the same configuration serve: the agent sends the GPU's
     * evidence as additional_evidence, and this broker (whose policy requires no GPU) still checks that
     * REPORT_DATA binds that exact string. The ready state is set only while serving. */
    ccg_gpu_emu_config gcfg;
    ccg_gpu_emulator *gpu = NULL;
    char gpu_dir[400], ready[400], *history;
    snprintf(gpu_dir, sizeof(gpu_dir), "%s/gpu", W.dir);
    snprintf(ready, sizeof(ready), "%s/gpu-ready", W.dir);
    assert_int_equal(mkdir(gpu_dir, 0700), 0);
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&gcfg, CCG_GPU_ARCH_HOPPER)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&gcfg, &gpu)));
    assert_true(ccg_ok(ccg_gpu_emulator_save(gpu, gpu_dir)));
    ccg_gpu_emulator_free(gpu);
    setenv("CCG_NVML_STUB_GPU_STATE", gpu_dir, 1);
    setenv("CCG_NVML_STUB_READY_FILE", ready, 1);
    /* CC off with evidence to send: the agent attests with the host's word beside it, and this broker
     * (whose policy appraises no GPU) still refuses on it, with the request ID and the policy. Without
     * CC mode NVML has no ready state: it is never touched. */
    setenv("CCG_NVML_STUB_CC", "off", 1);
    expect_failure(&o, 15, "gpu.cc_mode_off", &r);
    unsetenv("CCG_NVML_STUB_CC");
    assert_true(json_is_string(json_object_get(r.failure, "request_id")));
    assert_string_equal(json_string_value(json_object_get(r.failure, "policy_id")), "model-a");
    assert_int_not_equal(access(ready, F_OK), 0);
    agent_free(&r);
    o.server_mode = "exit";
    agent_start(&r, &o);
    agent_wait(&r);
    unsetenv("CCG_NVML_STUB_GPU_STATE");
    unsetenv("CCG_NVML_STUB_READY_FILE");
    assert_int_equal(r.exit_status, 0);
    assert_int_equal(access(r.report, F_OK), 0);
    history = tu_read_text(ready);
    assert_non_null(history);
    assert_string_equal(history, "ready=0\nready=1\nready=0\n");
    free(history);
    agent_free(&r);
}

static void no_tee_and_bad_config(void **state)
{
    agent_opts o = {.key = KEY_A, .attester = "auto", .tsm_root = "/nonexistent/tsm/report"};
    agent_run r;
    char *const bad[] = {(char *)env_or_null("CCG_AGENT"), "--config", "/nonexistent/agent.json", NULL};
    char *const help[] = {(char *)env_or_null("CCG_AGENT"), "--help", NULL};
    (void)state;
    require_world();
    o.artifact = W.artifact_a;
    expect_failure(&o, 10, "attest.no_tee", &r);
    agent_free(&r);
    assert_int_equal(run(bad), 16);
    assert_int_equal(run(help), 0);
}

static void make_cert(const char *cert, const char *key)
{
    char subj[] = "/CN=127.0.0.1";
    char *const gen[] = {"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                         "-nodes", "-keyout", (char *)key, "-out", (char *)cert, "-days", "1", "-subj", subj,
                         "-addext", "subjectAltName=IP:127.0.0.1", NULL};
    assert_int_equal(run(gen), 0);
}

/* The broker over TLS: the agent trusts only the pinned CA. Another CA is refused before any byte of
 * the protocol is sent (agent.broker_unavailable, exit 13). */
static void tls_broker_with_pinned_ca(void **state)
{
    agent_opts o = {.key = KEY_A, .server_mode = "exit"};
    agent_run r;
    char cert[300], key[300], other[300], other_key[300], cfg[300], pf[300], url[64], text[4096];
    char *orig, *port_text = NULL;
    pid_t pid;
    int status;
    unsigned port = 0;
    (void)state;
    require_world();
    snprintf(cert, sizeof(cert), "%s/tls.crt", W.dir);
    snprintf(key, sizeof(key), "%s/tls.key", W.dir);
    snprintf(other, sizeof(other), "%s/other.crt", W.dir);
    snprintf(other_key, sizeof(other_key), "%s/other.key", W.dir);
    make_cert(cert, key);
    make_cert(other, other_key);
    orig = tu_read_text(W.kbs_config);
    assert_non_null(orig);
    snprintf(text, sizeof(text), "{\"tls\":{\"cert_file\":\"%s\",\"key_file\":\"%s\"},%s", cert, key, orig + 1);
    free(orig);
    snprintf(cfg, sizeof(cfg), "%s/kbs-tls.json", W.dir);
    snprintf(pf, sizeof(pf), "%s/kbs-tls.port", W.dir);
    write_text(cfg, text);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        execl(env_or_null("CCG_KBS"), env_or_null("CCG_KBS"), "serve", "--config", cfg, "--port-file", pf,
              (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400 && port == 0; i++) {
        port_text = tu_read_text(pf);
        if (port_text == NULL || sscanf(port_text, "%u", &port) != 1) {
            port = 0;
            usleep(50 * 1000);
        }
        free(port_text);
    }
    assert_true(port > 0);
    snprintf(url, sizeof(url), "https://127.0.0.1:%u", port);
    o.artifact = W.artifact_a;
    o.broker_url = url;
    o.ca_file = cert;
    agent_start(&r, &o);
    agent_wait(&r);
    if (r.exit_status != 0) {
        char *err = tu_read_text(r.err);
        fail_msg("exit %d over TLS:\n%s", r.exit_status, err != NULL ? err : "");
    }
    assert_int_equal(access(r.report, F_OK), 0);
    agent_free(&r);
    o.ca_file = other;
    expect_failure(&o, 13, "agent.broker_unavailable", &r);
    agent_free(&r);
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
}

/* A chunk altered in storage: the key is released, unsealing fails, the memfd is zeroed and closed,
 * and the server never starts (artifact.chunk_auth_failed, exit 14). */
static void tampered_chunk_never_serves(void **state)
{
    agent_opts o = {.key = KEY_A};
    agent_run r;
    char path[300];
    uint8_t *data = NULL;
    size_t len = 0;
    (void)state;
    require_world();
    assert_true(ccg_ok(ccg_file_read(W.artifact_a, 64u << 20, &data, &len)));
    data[len - 100] ^= 0x01;
    snprintf(path, sizeof(path), "%s/model-a-tampered.ccgm", W.dir);
    assert_true(ccg_ok(ccg_file_write(path, data, len)));
    free(data);
    o.artifact = path;
    expect_failure(&o, 14, "artifact.chunk_auth_failed", &r);
    agent_free(&r);
}

/* Last: the broker's token storage disappears; the agent fails closed and says what to do. */
static void hsm_unavailable_fails_closed(void **state)
{
    agent_opts o = {.key = KEY_A};
    agent_run r;
    const char *msg;
    char *const rm[] = {"rm", "-rf", W.tokens, NULL};
    (void)state;
    require_world();
    o.artifact = W.artifact_a;
    assert_int_equal(run(rm), 0);
    expect_failure(&o, 13, "kms.unavailable", &r);
    msg = json_string_value(json_object_get(r.failure, "message"));
    assert_non_null(strstr(msg, "CKR_"));
    assert_non_null(strstr(msg, "retry"));
    agent_free(&r);
}

static int group_teardown(void **state)
{
    (void)state;
    stop_live_agent();
    tu_tsm_fuse_stop(W.fs);
    if (W.daemon > 0) {
        int status;
        kill(W.daemon, SIGTERM);
        waitpid(W.daemon, &status, 0);
    }
    ccg_snp_emulator_free(W.emu);
    if (W.model != NULL) {
        OPENSSL_cleanse(W.model, MODEL_LEN);
        OPENSSL_cleanse(W.key, sizeof(W.key));
        free(W.model);
    }
    tu_remove_tree(W.dir);
    tu_remove_tree(W.emu_dir);
    tu_remove_tree(W.bad_emu_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(approved_launch_serves_the_model),
        cmocka_unit_test(unapproved_measurement_never_starts_the_server),
        cmocka_unit_test(disabled_key_stops_the_next_start),
        cmocka_unit_test(gpu_cc_off_fails_closed),
        cmocka_unit_test(no_tee_and_bad_config),
        cmocka_unit_test(tls_broker_with_pinned_ca),
        cmocka_unit_test(tampered_chunk_never_serves),
        cmocka_unit_test(hsm_unavailable_fails_closed),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, group_teardown);
    curl_global_cleanup();
    return rc;
}
