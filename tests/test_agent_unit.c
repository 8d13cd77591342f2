/* The guest agent's parts, each asserting its reason code: configuration errors, the NVML states
 * (through the stub library the tests build), the sealed memfd, the hardening and seccomp filter,
 * the exit-status table and the status endpoint. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "ccgate/agent.h"
#include "ccgate/error.h"
#include "ccgate/http_body.h"

#include "testutil.h"

/* ---------------------------------------------------------------- configuration */

#define GOOD_CONFIG                                                                                                  \
    "{\"attester\":{\"kind\":\"configfs-tsm\",\"tsm_root\":\"/sys/kernel/config/tsm/report\"},"                        \
    "\"broker\":{\"url\":\"https://kbs.example:8443\",\"ca_file\":\"/etc/ccgate/kbs-ca.pem\"},"                        \
    "\"key\":{\"resource\":\"default/model/a\",\"version\":1},"                                                        \
    "\"artifact\":{\"location\":\"/models/a.ccgm\",\"provider_key\":\"/etc/ccgate/provider.pub\"},"                    \
    "\"gpu\":{\"required\":true,\"nvml_library\":\"/usr/lib/libnvidia-ml.so.1\"},"                                     \
    "\"server\":{\"argv\":[\"/usr/bin/model-server\",\"--port\",\"8000\"]},"                                           \
    "\"status\":{\"listen\":\"127.0.0.1:9100\",\"linger\":30},\"memlock\":\"required\",\"seccomp\":true}"

static void good_config_parses(void **state)
{
    ccg_agent_config c;
    (void)state;
    assert_true(ccg_ok(ccg_agent_config_parse(GOOD_CONFIG, strlen(GOOD_CONFIG), &c)));
    assert_int_equal(c.attester, CCG_ATTESTER_CONFIGFS_TSM);
    assert_string_equal(c.key_path, "default/model/a");
    assert_string_equal(c.key_id, "default/model/a"); /* the resource path by default */
    assert_int_equal(c.key_version, 1);
    assert_int_equal(c.require_gpu, 1);
    assert_int_equal(c.server_argc, 3);
    assert_string_equal(c.server_argv[2], "8000");
    assert_null(c.server_argv[3]);
    assert_int_equal(c.memlock, CCG_MEMLOCK_REQUIRED);
    assert_int_equal(c.insecure_http, 0);
    assert_int_equal(c.status_linger, 30);
    ccg_agent_config_free(&c);
}

/* GOOD_CONFIG with one substitution: each broken document names its problem. */
static void bad_config(const char *from, const char *to, const char *message_part)
{
    char text[4096];
    const char *at = strstr(GOOD_CONFIG, from);
    ccg_agent_config c;
    assert_non_null(at);
    snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - GOOD_CONFIG), GOOD_CONFIG, to, at + strlen(from));
    ccg_error_clear();
    if (ccg_ok(ccg_agent_config_parse(text, strlen(text), &c))) {
        ccg_agent_config_free(&c);
        fail_msg("accepted: %s", text);
    }
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONFIG_INVALID);
    if (strstr(ccg_error_last()->message, message_part) == NULL) {
        fail_msg("message \"%s\" lacks \"%s\"", ccg_error_last()->message, message_part);
    }
}

static void config_errors_are_named(void **state)
{
    ccg_agent_config c;
    (void)state;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_config_parse("{", 1, &c)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONFIG_INVALID);
    bad_config("\"memlock\"", "\"extra\":1,\"memlock\"", "unknown member \"extra\"");
    bad_config("\"kind\":\"configfs-tsm\"", "\"kind\":\"sgx\"", "attester.kind");
    bad_config("\"kind\":\"configfs-tsm\"", "\"kind\":\"emulator\"", "emulator_dir");
    bad_config("https://kbs.example:8443", "http://kbs.example:8080", "insecure_http");
    bad_config(",\"ca_file\":\"/etc/ccgate/kbs-ca.pem\"", "", "pinned CA");
    bad_config("https://kbs.example:8443", "ftp://kbs.example", "https://");
    bad_config("default/model/a", "default/model", "repo/type/tag");
    bad_config("default/model/a", "default/../a", "repo/type/tag");
    bad_config("\"version\":1", "\"version\":-1", "key.version");
    bad_config("\"/usr/bin/model-server\"", "\"model-server\"", "absolute path");
    bad_config("[\"/usr/bin/model-server\",\"--port\",\"8000\"]", "[]", "server.argv");
    bad_config("\"memlock\":\"required\"", "\"memlock\":\"sometimes\"", "memlock");
    bad_config("127.0.0.1:9100", "0.0.0.0:9100", "loopback");
    bad_config("\"seccomp\":true", "\"seccomp\":1", "seccomp");
    bad_config(",\"provider_key\":\"/etc/ccgate/provider.pub\"", "", "artifact.provider_key");
    /* the endpoint section (docs/endpoint.md): named members too */
    bad_config("\"seccomp\":true", "\"seccomp\":true,\"endpoint\":{\"listen\":\"0.0.0.0:8443\"}",
               "endpoint.runner_socket");
    bad_config("\"seccomp\":true", "\"seccomp\":true,\"endpoint\":{\"listen\":\"0.0.0.0:8443\",\"runner_socket\":\"/r\"}",
               "endpoint.api_keys");
    bad_config("\"seccomp\":true",
               "\"seccomp\":true,\"endpoint\":{\"listen\":\"0.0.0.0:8443\",\"runner_socket\":\"/r\","
               "\"routes\":{\"chat\":\"mtls\"}}",
               "endpoint.tls.client_ca");
    bad_config("\"seccomp\":true", "\"seccomp\":true,\"endpoint\":{\"listen\":\"0.0.0.0:8443\",\"admin\":true}",
               "unknown member \"admin\" in \"endpoint\"");
    /* A missing file is a configuration error too. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_config_load("/nonexistent/agent.json", &c)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONFIG_INVALID);
}

static void insecure_http_is_explicit(void **state)
{
    static const char text[] =
        "{\"attester\":{\"kind\":\"emulator\",\"emulator_dir\":\"/tmp/emu\"},"
        "\"broker\":{\"url\":\"http://127.0.0.1:8080\",\"insecure_http\":true},"
        "\"key\":{\"resource\":\"r/t/x\",\"id\":\"model-x\"},"
        "\"artifact\":{\"location\":\"https://store.example/x\",\"provider_key\":\"/p.pem\"},"
        "\"server\":{\"argv\":[\"/bin/true\"]}}";
    ccg_agent_config c;
    (void)state;
    assert_true(ccg_ok(ccg_agent_config_parse(text, strlen(text), &c)));
    assert_int_equal(c.insecure_http, 1);
    assert_string_equal(c.key_id, "model-x");
    assert_int_equal(c.memlock, CCG_MEMLOCK_BEST_EFFORT);
    assert_int_equal(c.seccomp, 1);
    assert_null(c.status_listen);
    ccg_agent_config_free(&c);
}

/* ---------------------------------------------------------------- NVML through the stub */

static const char *nvml_stub(void)
{
    const char *p = getenv("CCG_NVML_STUB");
    if (p == NULL || p[0] == 0) {
        tu_skip_or_fail("$CCG_NVML_STUB is not set (cmake/agent.cmake builds it)");
    }
    return p;
}

static void clear_stub_env(void)
{
    unsetenv("CCG_NVML_STUB_INIT");
    unsetenv("CCG_NVML_STUB_COUNT");
    unsetenv("CCG_NVML_STUB_CC");
    unsetenv("CCG_NVML_STUB_DEVTOOLS");
    unsetenv("CCG_NVML_STUB_CC_FAIL");
}

static void gpu_expect(const char *var, const char *value, ccg_reason want, const char *state_part)
{
    char st[96];
    clear_stub_env();
    if (var != NULL) {
        setenv(var, value, 1);
    }
    ccg_error_clear();
    if (want == CCG_R_OK) {
        assert_true(ccg_ok(ccg_agent_gpu_check(nvml_stub(), st, sizeof(st))));
    } else {
        assert_true(ccg_failed(ccg_agent_gpu_check(nvml_stub(), st, sizeof(st))));
        assert_int_equal(ccg_error_reason(), want);
    }
    if (strstr(st, state_part) == NULL) {
        fail_msg("GPU state \"%s\" lacks \"%s\"", st, state_part);
    }
    print_message("  %-24s -> %-22s %s\n", var != NULL ? var : "(defaults)",
                  want == CCG_R_OK ? "ok" : ccg_reason_code(want), st);
}

static void nvml_states_map_to_codes(void **state)
{
    char st[96];
    (void)state;
    (void)nvml_stub();
    gpu_expect(NULL, NULL, CCG_R_OK, "gpus=1 cc=on devtools=off");
    gpu_expect("CCG_NVML_STUB_CC", "off", CCG_R_GPU_CC_MODE_OFF, "cc=off");
    gpu_expect("CCG_NVML_STUB_DEVTOOLS", "on", CCG_R_GPU_DEVTOOLS_ON, "devtools=on");
    gpu_expect("CCG_NVML_STUB_COUNT", "0", CCG_R_GPU_ABSENT, "gpus=0");
    gpu_expect("CCG_NVML_STUB_INIT", "fail", CCG_R_GPU_NVML_UNAVAILABLE, "nvml=unavailable");
    gpu_expect("CCG_NVML_STUB_CC_FAIL", "1", CCG_R_GPU_NVML_ERROR, "gpus=1");
    assert_non_null(strstr(ccg_error_last()->message, "Not Supported"));
    clear_stub_env();
    /* No library at all. */
    assert_true(ccg_failed(ccg_agent_gpu_check("/nonexistent/libnvidia-ml.so.1", st, sizeof(st))));
    assert_int_equal(ccg_error_reason(), CCG_R_GPU_NVML_UNAVAILABLE);
    assert_string_equal(st, "nvml=unavailable");
    /* A library without NVML's functions. */
    assert_true(ccg_failed(ccg_agent_gpu_check("libc.so.6", st, sizeof(st))));
    assert_int_equal(ccg_error_reason(), CCG_R_GPU_NVML_UNAVAILABLE);
}

/* ---------------------------------------------------------------- the sealed memfd */

static void memfd_is_sealed_after_filling(void **state)
{
    ccg_agent_memfd m;
    uint8_t back[64];
    void *w;
    int seals;
    (void)state;
    assert_true(ccg_ok(ccg_agent_memfd_create(10000, CCG_MEMLOCK_BEST_EFFORT, &m)));
    assert_non_null(m.map);
    assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
    for (size_t i = 0; i < m.len; i++) {
        m.map[i] = (uint8_t)(i * 7);
    }
    assert_true(ccg_ok(ccg_agent_memfd_seal(&m)));
    seals = fcntl(m.fd, F_GET_SEALS);
    assert_int_equal(seals & (F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL),
                     F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL);
    /* Every way to change it fails with EPERM. */
    errno = 0;
    assert_int_equal(pwrite(m.fd, "x", 1, 0), -1);
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_int_equal(ftruncate(m.fd, 20000), -1);
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_int_equal(ftruncate(m.fd, 100), -1);
    assert_int_equal(errno, EPERM);
    errno = 0;
    w = mmap(NULL, m.len, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
    assert_true(w == MAP_FAILED);
    assert_int_equal(errno, EPERM);
    errno = 0;
    assert_int_equal(fcntl(m.fd, F_ADD_SEALS, F_SEAL_FUTURE_WRITE), -1);
    assert_int_equal(errno, EPERM);
    /* The content is what was written. */
    assert_int_equal(pread(m.fd, back, sizeof(back), 9000), (ssize_t)sizeof(back));
    for (size_t i = 0; i < sizeof(back); i++) {
        assert_int_equal(back[i], (uint8_t)((9000 + i) * 7));
    }
    print_message("  memfd: %zu bytes, seals 0x%x, %s\n", m.len, seals, m.locked ? "locked" : "unlocked");
    ccg_agent_memfd_close(&m);
}

static void memlock_required_fails_beyond_the_limit(void **state)
{
    ccg_agent_memfd m;
    struct rlimit lim;
    pid_t pid;
    int status = 0;
    (void)state;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_memfd_create(0, CCG_MEMLOCK_OFF, &m)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_MEMORY_FAILED);
    /* In a child with a tiny RLIMIT_MEMLOCK and no CAP_IPC_LOCK: required fails, best effort goes on. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        lim.rlim_cur = lim.rlim_max = 4096;
        if (setrlimit(RLIMIT_MEMLOCK, &lim) != 0 || prctl(PR_CAPBSET_DROP, 14 /* CAP_IPC_LOCK */, 0, 0, 0) != 0) {
            _exit(10);
        }
        if (setresuid(65534, 65534, 65534) != 0 && getuid() == 0) {
            _exit(11);
        }
        ccg_error_clear();
        if (ccg_ok(ccg_agent_memfd_create(1 << 20, CCG_MEMLOCK_REQUIRED, &m))) {
            _exit(12);
        }
        if (ccg_error_reason() != CCG_R_AGENT_MEMORY_FAILED) {
            fprintf(stderr, "child: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
            _exit(14);
        }
        if (ccg_failed(ccg_agent_memfd_create(1 << 20, CCG_MEMLOCK_BEST_EFFORT, &m)) || m.locked) {
            _exit(13);
        }
        ccg_agent_memfd_close(&m);
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---------------------------------------------------------------- hardening */

static void hardening_and_seccomp_in_a_child(void **state)
{
    pid_t pid;
    int status = 0;
    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct rlimit core;
        char buf[8] = {0}, dst[8];
        struct iovec local = {dst, sizeof(dst)}, remote = {buf, sizeof(buf)};
        if (ccg_failed(ccg_agent_harden_process())) {
            _exit(10);
        }
        if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 0 || prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1 ||
            getrlimit(RLIMIT_CORE, &core) != 0 || core.rlim_cur != 0 || core.rlim_max != 0) {
            _exit(11);
        }
        if (ccg_failed(ccg_agent_seccomp_install(0))) {
            _exit(12);
        }
        errno = 0;
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) != -1 || errno != EPERM) {
            _exit(13);
        }
        errno = 0;
        if (process_vm_readv(getppid(), &local, 1, &remote, 1, 0) != -1 || errno != EPERM) {
            _exit(14);
        }
        errno = 0;
        if (syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0) != -1 || errno != EPERM) {
            _exit(15);
        }
        /* Ordinary calls still work. */
        if (getpid() <= 0 || write(STDOUT_FILENO, "", 0) != 0) {
            _exit(16);
        }
        _exit(0); /* no sanitizer exit hooks: ptrace is refused now */
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* ---------------------------------------------------------------- exit statuses */

static void exit_status_table(void **state)
{
    static const struct {
        ccg_reason r;
        int status;
    } table[] = {
        {CCG_R_OK, 0},
        {CCG_R_ATTEST_NO_TEE, 10},
        {CCG_R_ATTEST_KERNEL_ERROR, 10},
        {CCG_R_SNP_MEASUREMENT_NOT_ALLOWED, 11},
        {CCG_R_REFVAL_MEASUREMENT_MISMATCH, 11},
        {CCG_R_KBS_NONCE_REUSED, 11},
        {CCG_R_KEY_DISABLED, 12},
        {CCG_R_KEY_RETIRED, 12},
        {CCG_R_KEY_NOT_FOUND, 12},
        {CCG_R_AGENT_KEY_MISMATCH, 12},
        {CCG_R_KMS_UNAVAILABLE, 13},
        {CCG_R_AUDIT_WRITE_FAILED, 13},
        {CCG_R_AGENT_BROKER_UNAVAILABLE, 13},
        {CCG_R_AGENT_BROKER_PROTOCOL, 13},
        {CCG_R_JOSE_JWE_INVALID, 13},
        {CCG_R_GPU_NVML_UNAVAILABLE, 15},
        {CCG_R_GPU_ABSENT, 15},
        {CCG_R_GPU_CC_MODE_OFF, 15},
        {CCG_R_GPU_DEVTOOLS_ON, 15},
        {CCG_R_AGENT_CONFIG_INVALID, 16},
        {CCG_R_AGENT_MEMORY_FAILED, 17},
        {CCG_R_AGENT_HARDENING_FAILED, 17},
        {CCG_R_AGENT_SERVER_FAILED, 18},
        {CCG_R_INTERNAL_OUT_OF_MEMORY, 19},
        {CCG_R__COUNT, 19},
    };
    ccg_reason artifact;
    (void)state;
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (ccg_agent_exit_status(table[i].r) != table[i].status) {
            fail_msg("%s -> %d, want %d", table[i].r < CCG_R__COUNT ? ccg_reason_code(table[i].r) : "(unknown)",
                     ccg_agent_exit_status(table[i].r), table[i].status);
        }
    }
    /* Every artifact.* code (the artifact module's registry block) is 14. */
    for (artifact = 0; artifact < CCG_R__COUNT; artifact++) {
        if (strcmp(ccg_reason_component(artifact), "artifact") == 0) {
            assert_int_equal(ccg_agent_exit_status(artifact), 14);
        }
    }
    /* Distinct kinds, distinct statuses. */
    assert_int_not_equal(ccg_agent_exit_status(CCG_R_KEY_DISABLED), ccg_agent_exit_status(CCG_R_KMS_UNAVAILABLE));
}

/* ---------------------------------------------------------------- the status endpoint */

static long get(const char *url, ccg_http_body *b)
{
    CURL *c = curl_easy_init();
    long code = 0;
    memset(b, 0, sizeof(*b));
    assert_non_null(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static void status_endpoint_serves_the_snapshot(void **state)
{
    ccg_agent_status_server *s = NULL;
    ccg_agent_status st;
    ccg_http_body b;
    char url[96];
    json_t *o;
    (void)state;
    assert_true(ccg_ok(ccg_agent_status_start("127.0.0.1:0", &s)));
    assert_true(ccg_agent_status_port(s) > 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/status", ccg_agent_status_port(s));
    assert_int_equal(get(url, &b), 200);
    assert_non_null(strstr(b.data, "\"starting\""));
    ccg_http_body_reset(&b);
    memset(&st, 0, sizeof(st));
    st.state = CCG_AGENT_FAILED;
    st.reason = CCG_R_KEY_DISABLED;
    snprintf(st.request_id, sizeof(st.request_id), "req-1");
    snprintf(st.key_id, sizeof(st.key_id), "default/model/a");
    snprintf(st.policy_id, sizeof(st.policy_id), "model-a");
    st.policy_version = 3;
    ccg_agent_status_publish(s, &st);
    assert_int_equal(get(url, &b), 200);
    o = json_loads(b.data, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "state")), "failed");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "key.disabled");
    assert_int_equal(json_integer_value(json_object_get(o, "exit_status")), 12);
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "req-1");
    assert_string_equal(json_string_value(json_object_get(o, "key_id")), "default/model/a");
    assert_int_equal(json_integer_value(json_object_get(o, "policy_version")), 3);
    json_decref(o);
    ccg_http_body_reset(&b);
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/other", ccg_agent_status_port(s));
    assert_int_equal(get(url, &b), 404);
    ccg_http_body_reset(&b);
    ccg_agent_status_stop(s);
    /* A unix socket. */
    char path[64];
    snprintf(path, sizeof(path), "unix:/tmp/ccg-agent-status-%d.sock", (int)getpid());
    assert_true(ccg_ok(ccg_agent_status_start(path, &s)));
    assert_int_equal(access(path + 5, F_OK), 0);
    ccg_agent_status_stop(s);
    assert_int_not_equal(access(path + 5, F_OK), 0);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_agent_status_start("10.0.0.1:80", &s)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONFIG_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(good_config_parses),
        cmocka_unit_test(config_errors_are_named),
        cmocka_unit_test(insecure_http_is_explicit),
        cmocka_unit_test(nvml_states_map_to_codes),
        cmocka_unit_test(memfd_is_sealed_after_filling),
        cmocka_unit_test(memlock_required_fails_beyond_the_limit),
        cmocka_unit_test(hardening_and_seccomp_in_a_child),
        cmocka_unit_test(exit_status_table),
        cmocka_unit_test(status_endpoint_serves_the_snapshot),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
