/* The stub NVML library (tests/support/nvml_stub.c) as the agent will use it: dlopen'ed, the CC
 * attestation calls with NVIDIA's structure layouts, serving a software GPU's evidence signed over the
 * caller's nonce, a real vector as it is, and tampered copies, each checked by the GPU verifier. */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/gpu_verify.h"

#define NOW "2030-01-01T00:00:00Z"
#define NOW_VECTOR "2025-06-01T00:00:00Z"
#define V_REPORT "nvgpu/nvtrust/hopperAttestationReport.txt"
#define V_CERTS "nvgpu/nvtrust/hopperCertChain.txt"

/* NVIDIA's nvml.h layouts (nvmlConfComputeGpuAttestationReport_t, nvmlConfComputeGpuCertificate_t,
 * nvmlConfComputeMemSizeInfo_t), restated as a caller sees them. */
typedef struct {
    unsigned int isCecAttestationReportPresent;
    unsigned int attestationReportSize;
    unsigned int cecAttestationReportSize;
    unsigned char nonce[0x20];
    unsigned char attestationReport[0x2000];
    unsigned char cecAttestationReport[0x1000];
} nv_report;

typedef struct {
    unsigned int certChainSize;
    unsigned int attestationCertChainSize;
    unsigned char certChain[0x1000];
    unsigned char attestationCertChain[0x1400];
} nv_cert;

typedef struct {
    unsigned long long protectedMemSizeKib;
    unsigned long long unprotectedMemSizeKib;
} nv_mem;

typedef struct {
    void *lib;
    int (*init)(void);
    int (*shutdown)(void);
    int (*handle)(unsigned int, void **);
    int (*report)(void *, nv_report *);
    int (*cert)(void *, nv_cert *);
    int (*mem)(void *, nv_mem *);
    int (*set_ready)(unsigned int);
    int (*get_ready)(unsigned int *);
    int (*arch)(void *, unsigned int *);
    int (*uuid)(void *, char *, unsigned int);
} nvml;

typedef struct {
    nvml api;
    void *dev;
    ccg_gpu_emulator *emu;
    char dir[64];
    ccg_gpu_verifier *v; /* trusts the software GPU's TEST root */
    nv_report *rep;
    nv_cert *cert;
    ccg_gpu_result *res;
    ccg_decision d;
    int have_d;
    uint8_t nonce[32];
} fixture;

static void bind(void *lib, const char *name, void *fn)
{
    void *sym = dlsym(lib, name);
    if (sym == NULL) {
        fail_msg("the stub lacks %s", name);
    }
    memcpy(fn, &sym, sizeof(sym));
}

static const char *env_vars[] = {"CCG_NVML_STUB_GPU_STATE", "CCG_NVML_STUB_GPU_REPORT", "CCG_NVML_STUB_GPU_CERTS",
                                 "CCG_NVML_STUB_GPU_TAMPER", "CCG_NVML_STUB_ATTEST_FAIL", "CCG_NVML_STUB_READY_FILE",
                                 "CCG_NVML_STUB_CC", "CCG_NVML_STUB_DEVTOOLS", "CCG_NVML_STUB_COUNT",
                                 "CCG_NVML_STUB_ARCH", "CCG_NVML_STUB_UUID", "CCG_NVML_STUB_REPORT_SIZE",
                                 "CCG_NVML_STUB_READY_FAIL", "CCG_NVML_STUB_CERT_SIZE"};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    const char *path = getenv("CCG_NVML_STUB");
    ccg_gpu_emu_config cfg;
    assert_non_null(f);
    if (path == NULL) {
        fail_msg("$CCG_NVML_STUB is not set (cmake/gpu_emulator.cmake sets it)");
    }
    for (size_t i = 0; i < sizeof(env_vars) / sizeof(env_vars[0]); i++) {
        unsetenv(env_vars[i]);
    }
    f->api.lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    assert_non_null(f->api.lib);
    bind(f->api.lib, "nvmlInit_v2", &f->api.init);
    bind(f->api.lib, "nvmlShutdown", &f->api.shutdown);
    bind(f->api.lib, "nvmlDeviceGetHandleByIndex_v2", &f->api.handle);
    bind(f->api.lib, "nvmlDeviceGetConfComputeGpuAttestationReport", &f->api.report);
    bind(f->api.lib, "nvmlDeviceGetConfComputeGpuCertificate", &f->api.cert);
    bind(f->api.lib, "nvmlDeviceGetConfComputeMemSizeInfo", &f->api.mem);
    bind(f->api.lib, "nvmlSystemSetConfComputeGpusReadyState", &f->api.set_ready);
    bind(f->api.lib, "nvmlSystemGetConfComputeGpusReadyState", &f->api.get_ready);
    bind(f->api.lib, "nvmlDeviceGetArchitecture", &f->api.arch);
    bind(f->api.lib, "nvmlDeviceGetUUID", &f->api.uuid);
    assert_int_equal(f->api.init(), 0);
    assert_int_equal(f->api.handle(0, &f->dev), 0);
    /* A saved software GPU, as `ccgate emulate gpu --save-state` leaves it. */
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_HOPPER)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&cfg, &f->emu)));
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-nvml-stub-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_true(ccg_ok(ccg_gpu_emulator_save(f->emu, f->dir)));
    assert_true(ccg_ok(ccg_gpu_verifier_new(&f->v)));
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, ccg_gpu_emulator_root(f->emu))));
    f->rep = calloc(1, sizeof(*f->rep));
    f->cert = calloc(1, sizeof(*f->cert));
    f->res = calloc(1, sizeof(*f->res));
    assert_non_null(f->rep);
    assert_non_null(f->cert);
    assert_non_null(f->res);
    for (int i = 0; i < 32; i++) {
        f->nonce[i] = (uint8_t)(0x11 * (i % 15));
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char path[128];
    snprintf(path, sizeof(path), "%s/%s", f->dir, CCG_GPU_EMU_STATE_FILE);
    unlink(path);
    snprintf(path, sizeof(path), "%s/ready", f->dir);
    unlink(path);
    rmdir(f->dir);
    if (f->have_d) {
        ccg_decision_free(&f->d);
    }
    (void)f->api.shutdown();
    dlclose(f->api.lib);
    ccg_gpu_verifier_free(f->v);
    ccg_gpu_emulator_free(f->emu);
    free(f->rep);
    free(f->cert);
    free(f->res);
    free(f);
    return 0;
}

/* Asks the stub for the report over f->nonce and the chain, and verifies them expecting that nonce. */
static void fetch_and_verify(fixture *f, ccg_gpu_verifier *v, const char *now)
{
    ccg_gpu_verify_opts opts = {.expected_nonce = f->nonce};
    memset(f->rep, 0xEE, sizeof(*f->rep));
    memcpy(f->rep->nonce, f->nonce, sizeof(f->nonce));
    assert_int_equal(f->api.report(f->dev, f->rep), 0);
    assert_int_equal(f->rep->isCecAttestationReportPresent, 0);
    assert_int_equal(f->api.cert(f->dev, f->cert), 0);
    if (f->have_d) {
        ccg_decision_free(&f->d);
    }
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_verify(v, f->rep->attestationReport, f->rep->attestationReportSize,
                                      f->cert->attestationCertChain, f->cert->attestationCertChainSize, &opts,
                                      tu_time(now), f->res, &f->d)));
    f->have_d = 1;
}

static void assert_reasons(const ccg_decision *d, ccg_reason only)
{
    if (only == CCG_R_OK ? (!d->allow || d->reasons.count != 0)
                         : (d->allow || d->reasons.count != 1 || d->reasons.items[0].reason != only)) {
        for (size_t i = 0; i < d->reasons.count; i++) {
            fprintf(stderr, "  reason: %s\n", ccg_reason_code(d->reasons.items[i].reason));
        }
        fail_msg("expected %s", only == CCG_R_OK ? "allow" : ccg_reason_code(only));
    }
}

static int count_certs(const unsigned char *pem, unsigned int len)
{
    int n = 0;
    char *text = strndup((const char *)pem, len);
    assert_non_null(text);
    for (char *p = text; (p = strstr(p, "BEGIN CERTIFICATE")) != NULL; p++) {
        n++;
    }
    free(text);
    return n;
}

static void emulated_evidence_over_callers_nonce(void **state)
{
    fixture *f = *state;
    setenv("CCG_NVML_STUB_GPU_STATE", f->dir, 1);
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_OK);
    assert_int_equal(f->res->nonce, CCG_GPU_CHECK_PASSED);
    assert_string_equal(f->res->root, "test");
    assert_int_equal(count_certs(f->cert->attestationCertChain, f->cert->attestationCertChainSize), 5);
    assert_int_equal(count_certs(f->cert->certChain, f->cert->certChainSize), 4);
    /* Another nonce, another signed report: the stub signs live. */
    f->nonce[0] ^= 0x5A;
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_OK);
    /* The pinned NVIDIA root alone refuses the software GPU. */
    ccg_gpu_verifier *plain = NULL;
    assert_true(ccg_ok(ccg_gpu_verifier_new(&plain)));
    fetch_and_verify(f, plain, NOW);
    assert_reasons(&f->d, CCG_R_GPU_UNTRUSTED_ROOT);
    ccg_gpu_verifier_free(plain);
}

static void tampered_copies(void **state)
{
    fixture *f = *state;
    setenv("CCG_NVML_STUB_GPU_STATE", f->dir, 1);
    setenv("CCG_NVML_STUB_GPU_TAMPER", "signature", 1);
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
    setenv("CCG_NVML_STUB_GPU_TAMPER", "fwid", 1);
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_GPU_FWID_MISMATCH);
    setenv("CCG_NVML_STUB_GPU_TAMPER", "nonce", 1);
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_GPU_NONCE_MISMATCH);
    /* A measurement tamper passes the device checks (the RIM comparison refuses it). */
    setenv("CCG_NVML_STUB_GPU_TAMPER", "measurement=3", 1);
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_OK);
    uint8_t honest[48];
    ccg_gpu_emulator_measurement(f->emu, 3, CCG_GPU_EMU_DEFAULT_DRIVER, CCG_GPU_EMU_CC_ON, honest);
    assert_int_not_equal(memcmp(ccg_gpu_report_measurement(&f->res->report, 4)->value, honest, 48), 0);
    ccg_gpu_emulator_measurement(f->emu, 4, CCG_GPU_EMU_DEFAULT_DRIVER, CCG_GPU_EMU_CC_ON, honest);
    assert_memory_equal(ccg_gpu_report_measurement(&f->res->report, 5)->value, honest, 48);
    /* An unknown tamper is the caller's error. */
    setenv("CCG_NVML_STUB_GPU_TAMPER", "everything", 1);
    memcpy(f->rep->nonce, f->nonce, sizeof(f->nonce));
    assert_int_equal(f->api.report(f->dev, f->rep), 2);
}

static void cc_state_follows_cc_tampers(void **state)
{
    fixture *f = *state;
    typedef struct {
        unsigned int environment, ccFeature, devToolsMode;
    } cc_state;
    int (*get_cc)(cc_state *) = NULL;
    cc_state cc;
    nv_mem mem;
    unsigned int ready = 7;
    char ready_file[128];
    bind(f->api.lib, "nvmlSystemGetConfComputeState", &get_cc);
    setenv("CCG_NVML_STUB_GPU_STATE", f->dir, 1);
    assert_int_equal(get_cc(&cc), 0);
    assert_int_equal(cc.ccFeature, 1);
    assert_int_equal(f->api.mem(f->dev, &mem), 0);
    assert_true(mem.protectedMemSizeKib > 0);
    /* The ready state: set only by the caller, seen by the test through the ready file. */
    snprintf(ready_file, sizeof(ready_file), "%s/ready", f->dir);
    setenv("CCG_NVML_STUB_READY_FILE", ready_file, 1);
    assert_int_equal(f->api.get_ready(&ready), 0);
    assert_int_equal(ready, 0);
    assert_int_equal(f->api.set_ready(1), 0);
    assert_int_equal(f->api.get_ready(&ready), 0);
    assert_int_equal(ready, 1);
    uint8_t *text = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(ready_file, 64, &text, &len)));
    assert_int_equal(len, 8);
    assert_memory_equal(text, "ready=1\n", 8);
    free(text);
    assert_int_equal(f->api.set_ready(2), 2);
    /* Every state set is appended, in order; a failing call records nothing. */
    assert_int_equal(f->api.set_ready(0), 0);
    setenv("CCG_NVML_STUB_READY_FAIL", "1", 1);
    assert_int_equal(f->api.set_ready(1), 999);
    unsetenv("CCG_NVML_STUB_READY_FAIL");
    assert_true(ccg_ok(ccg_file_read(ready_file, 64, &text, &len)));
    assert_int_equal(len, 16);
    assert_memory_equal(text, "ready=1\nready=0\n", 16);
    free(text);
    /* cc_off: NVML says off too, the ready state cannot be set, no protected memory. */
    setenv("CCG_NVML_STUB_GPU_TAMPER", "cc_off", 1);
    assert_int_equal(get_cc(&cc), 0);
    assert_int_equal(cc.ccFeature, 0);
    assert_int_equal(f->api.set_ready(1), 3);
    assert_int_equal(f->api.mem(f->dev, &mem), 0);
    assert_int_equal(mem.protectedMemSizeKib, 0);
    setenv("CCG_NVML_STUB_GPU_TAMPER", "devtools", 1);
    assert_int_equal(get_cc(&cc), 0);
    assert_int_equal(cc.devToolsMode, 1);
    /* An explicit state wins over the tamper (the stub's earlier behaviour). */
    setenv("CCG_NVML_STUB_DEVTOOLS", "off", 1);
    assert_int_equal(get_cc(&cc), 0);
    assert_int_equal(cc.devToolsMode, 0);
}

static void real_vector_served_as_is(void **state)
{
    fixture *f = *state;
    ccg_gpu_verifier *plain = NULL;
    setenv("CCG_NVML_STUB_GPU_REPORT", tu_vector_path(V_REPORT), 1);
    setenv("CCG_NVML_STUB_GPU_CERTS", tu_vector_path(V_CERTS), 1);
    assert_true(ccg_ok(ccg_gpu_verifier_new(&plain)));
    fetch_and_verify(f, plain, NOW_VECTOR);
    /* NVIDIA's own evidence under the pinned root; but it was signed over its own nonce, not ours. */
    assert_reasons(&f->d, CCG_R_GPU_NONCE_MISMATCH);
    assert_string_equal(f->res->root, "nvidia");
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED);
    setenv("CCG_NVML_STUB_GPU_TAMPER", "signature", 1);
    fetch_and_verify(f, plain, NOW_VECTOR);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_FAILED);
    assert_int_equal(f->d.reasons.count, 2); /* the signature and the nonce */
    setenv("CCG_NVML_STUB_GPU_TAMPER", "fwid", 1);
    memcpy(f->rep->nonce, f->nonce, sizeof(f->nonce));
    assert_int_equal(f->api.report(f->dev, f->rep), 2); /* only a signature tamper applies to a fixed report */
    ccg_gpu_verifier_free(plain);
}

static void refusals(void **state)
{
    fixture *f = *state;
    void *dev1 = NULL;
    /* No evidence configured: not supported, as on a GPU without CC. */
    memcpy(f->rep->nonce, f->nonce, sizeof(f->nonce));
    assert_int_equal(f->api.report(f->dev, f->rep), 3);
    assert_int_equal(f->api.cert(f->dev, f->cert), 3);
    setenv("CCG_NVML_STUB_GPU_STATE", f->dir, 1);
    assert_int_equal(f->api.report(NULL, f->rep), 2);
    assert_int_equal(f->api.report(f->dev, NULL), 2);
    assert_int_equal(f->api.handle(1, &dev1), 2);
    setenv("CCG_NVML_STUB_ATTEST_FAIL", "1", 1);
    assert_int_equal(f->api.report(f->dev, f->rep), 999);
    unsetenv("CCG_NVML_STUB_ATTEST_FAIL");
    /* A state directory without a saved GPU. */
    setenv("CCG_NVML_STUB_GPU_STATE", "/nonexistent", 1);
    assert_int_equal(f->api.report(f->dev, f->rep), 999);
    /* Two GPUs from two saved software GPUs: each its own evidence. */
    ccg_gpu_emu_config cfg;
    ccg_gpu_emulator *second = NULL;
    char dir2[64] = "/tmp/ccg-nvml-stub2-XXXXXX", list[160], path[128];
    assert_non_null(mkdtemp(dir2));
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_BLACKWELL)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&cfg, &second)));
    assert_true(ccg_ok(ccg_gpu_emulator_save(second, dir2)));
    snprintf(list, sizeof(list), "%s:%s", f->dir, dir2);
    setenv("CCG_NVML_STUB_GPU_STATE", list, 1);
    setenv("CCG_NVML_STUB_COUNT", "2", 1);
    assert_int_equal(f->api.handle(1, &dev1), 0);
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, ccg_gpu_emulator_root(second))));
    f->dev = dev1;
    fetch_and_verify(f, f->v, NOW);
    assert_reasons(&f->d, CCG_R_OK);
    assert_int_equal(f->res->arch, CCG_GPU_ARCH_BLACKWELL);
    snprintf(path, sizeof(path), "%s/%s", dir2, CCG_GPU_EMU_STATE_FILE);
    unlink(path);
    rmdir(dir2);
    ccg_gpu_emulator_free(second);
}

/* nvmlDeviceGetArchitecture and nvmlDeviceGetUUID: the saved software GPU's architecture, a fixed UUID
 * per index, and the failures the agent maps to its codes. */
static void device_identity(void **state)
{
    fixture *f = *state;
    unsigned int arch = 0;
    char uuid[96], small[8];
    void *dev1 = NULL;
    assert_int_equal(f->api.arch(f->dev, &arch), 0);
    assert_int_equal(arch, 9); /* a fixed report: Hopper, as NVIDIA's vectors */
    setenv("CCG_NVML_STUB_GPU_STATE", f->dir, 1);
    assert_int_equal(f->api.arch(f->dev, &arch), 0);
    assert_int_equal(arch, 9);
    setenv("CCG_NVML_STUB_ARCH", "8", 1);
    assert_int_equal(f->api.arch(f->dev, &arch), 0);
    assert_int_equal(arch, 8);
    setenv("CCG_NVML_STUB_ARCH", "fail", 1);
    assert_int_equal(f->api.arch(f->dev, &arch), 3);
    unsetenv("CCG_NVML_STUB_ARCH");
    assert_int_equal(f->api.arch(NULL, &arch), 2);
    assert_int_equal(f->api.uuid(f->dev, uuid, sizeof(uuid)), 0);
    assert_string_equal(uuid, "GPU-5eb0c0de-0000-4000-8000-000000000000");
    assert_int_equal(f->api.uuid(f->dev, small, sizeof(small)), 7);
    setenv("CCG_NVML_STUB_UUID", "bad", 1);
    assert_int_equal(f->api.uuid(f->dev, uuid, sizeof(uuid)), 0);
    assert_non_null(strchr(uuid, '"'));
    setenv("CCG_NVML_STUB_UUID", "fail", 1);
    assert_int_equal(f->api.uuid(f->dev, uuid, sizeof(uuid)), 999);
    unsetenv("CCG_NVML_STUB_UUID");
    /* A Blackwell software GPU as GPU 1: its own architecture and UUID. */
    ccg_gpu_emu_config cfg;
    ccg_gpu_emulator *second = NULL;
    char dir2[64] = "/tmp/ccg-nvml-stub3-XXXXXX", list[160], path[128];
    assert_non_null(mkdtemp(dir2));
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_BLACKWELL)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&cfg, &second)));
    assert_true(ccg_ok(ccg_gpu_emulator_save(second, dir2)));
    snprintf(list, sizeof(list), "%s:%s", f->dir, dir2);
    setenv("CCG_NVML_STUB_GPU_STATE", list, 1);
    setenv("CCG_NVML_STUB_COUNT", "2", 1);
    assert_int_equal(f->api.handle(1, &dev1), 0);
    assert_int_equal(f->api.arch(dev1, &arch), 0);
    assert_int_equal(arch, 10);
    assert_int_equal(f->api.uuid(dev1, uuid, sizeof(uuid)), 0);
    assert_string_equal(uuid, "GPU-5eb0c0de-0000-4000-8000-000000000001");
    snprintf(path, sizeof(path), "%s/%s", dir2, CCG_GPU_EMU_STATE_FILE);
    unlink(path);
    rmdir(dir2);
    ccg_gpu_emulator_free(second);
}

/* The per-call failure knobs and a lying report size. */
static void call_failures(void **state)
{
    fixture *f = *state;
    setenv("CCG_NVML_STUB_GPU_STATE", f->dir, 1);
    setenv("CCG_NVML_STUB_ATTEST_FAIL", "report", 1);
    memcpy(f->rep->nonce, f->nonce, sizeof(f->nonce));
    assert_int_equal(f->api.report(f->dev, f->rep), 999);
    assert_int_equal(f->api.cert(f->dev, f->cert), 0);
    setenv("CCG_NVML_STUB_ATTEST_FAIL", "cert", 1);
    assert_int_equal(f->api.report(f->dev, f->rep), 0);
    assert_int_equal(f->api.cert(f->dev, f->cert), 999);
    unsetenv("CCG_NVML_STUB_ATTEST_FAIL");
    setenv("CCG_NVML_STUB_REPORT_SIZE", "empty", 1);
    assert_int_equal(f->api.report(f->dev, f->rep), 0);
    assert_int_equal(f->rep->attestationReportSize, 0);
    setenv("CCG_NVML_STUB_REPORT_SIZE", "oversized", 1);
    assert_int_equal(f->api.report(f->dev, f->rep), 0);
    assert_int_equal(f->rep->attestationReportSize, sizeof(f->rep->attestationReport) + 1);
    setenv("CCG_NVML_STUB_CERT_SIZE", "oversized", 1);
    assert_int_equal(f->api.cert(f->dev, f->cert), 0);
    assert_int_equal(f->cert->attestationCertChainSize, sizeof(f->cert->attestationCertChain) + 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(emulated_evidence_over_callers_nonce),
        T(tampered_copies),
        T(cc_state_follows_cc_tampers),
        T(real_vector_served_as_is),
        T(refusals),
        T(device_identity),
        T(call_failures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
