/* The configfs-tsm backend against ccg-tsm-fuse, a FUSE stand-in that behaves like the kernel's
 * report directory and computes reports with the SNP emulator: evidence the verifier accepts, VMPL
 * through privlevel, generation races (retried, then refused), an unknown provider, a truncated
 * outblob, a bad certificate table, TDX passthrough, and AUTO choosing configfs-tsm. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"
#include "tsm_fuse_ctl.h"

#include "ccgate/attester.h"
#include "ccgate/error.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_verify.h"

#define NOW "2026-06-01T00:00:00Z"

#define EXPECT_FAIL(expr, reason)       \
    do {                                \
        ccg_error_clear();              \
        assert_true(ccg_failed(expr));  \
        tu_assert_error_reason(reason); \
    } while (0)

typedef struct {
    char dir[64];
    ccg_snp_emulator *emu;
    ccg_snp_emulator_launch launch;
    tu_tsm_fuse *fs; /* per test */
} fixture;

static int group_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->emu = tu_emulator_state_new(f->dir, sizeof(f->dir), NULL);
    ccg_snp_emulator_launch_init(f->emu, &f->launch);
    memset(f->launch.measurement, 0x5C, sizeof(f->launch.measurement));
    assert_true(ccg_ok(ccg_snp_emulator_save(f->emu, &f->launch, f->dir)));
    *state = f;
    return 0;
}

static int group_teardown(void **state)
{
    fixture *f = *state;
    tu_remove_tree(f->dir);
    ccg_snp_emulator_free(f->emu);
    free(f);
    return 0;
}

/* Every test mounts its own stand-in; a skip or failure still unmounts it here. */
static int teardown(void **state)
{
    fixture *f = *state;
    int rc = tu_tsm_fuse_stop(f->fs); /* a stand-in that crashed or leaked fails the test */
    f->fs = NULL;
    return rc;
}

static ccg_attester *open_tsm(fixture *f, const char *provider, const char *fault, uint32_t vmpl)
{
    tu_tsm_fuse_opts opts = {.provider = provider, .fault = fault};
    ccg_attester *a = NULL;
    f->fs = tu_tsm_fuse_start_or_skip(f->dir, &opts);
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_CONFIGFS_TSM, .tsm_root = tu_tsm_fuse_root(f->fs), .vmpl = vmpl};
    ccg_error_clear();
    if (ccg_failed(ccg_attester_open(&cfg, &a))) {
        return NULL;
    }
    return a;
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed * 3 + i * 29);
    }
}

static void assert_verifies(fixture *f, const ccg_evidence *ev, const uint8_t rd[64], uint32_t vmpl)
{
    ccg_snp_verifier *v = NULL;
    ccg_snp_collateral col;
    ccg_snp_cert_entry e[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    ccg_decision d;
    ccg_snp_report r;
    assert_int_equal(ev->tee, CCG_TEE_SNP);
    assert_int_equal(ev->report_len, CCG_SNP_REPORT_SIZE);
    assert_non_null(ev->certs);
    assert_true(ccg_ok(ccg_snp_cert_table_parse(ev->certs, ev->certs_len, e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used)));
    assert_int_equal(n, 3);
    assert_int_equal(used, ev->certs_len); /* the page padding is trimmed */
    assert_int_equal(e[0].kind, CCG_SNP_CERT_VCEK);
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, e[0].der, e[0].der_len)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, e[1].der, e[1].der_len)));
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(f->emu))));
    assert_true(ccg_ok(tu_verify_emulated(v, ev->report, ev->report_len, &col, NULL, f->emu, tu_time(NOW), &d)));
    assert_true(d.allow);
    assert_true(ccg_ok(ccg_snp_report_parse(ev->report, ev->report_len, &r)));
    assert_memory_equal(r.report_data, rd, 64);
    assert_memory_equal(r.measurement, f->launch.measurement, sizeof(r.measurement));
    assert_int_equal(r.vmpl, vmpl);
    ccg_decision_free(&d);
    ccg_snp_verifier_free(v);
    ccg_snp_collateral_free(&col);
}

static size_t count_entries(const char *root)
{
    size_t n = 0;
    DIR *d = opendir(root);
    assert_non_null(d);
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        n += de->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void test_tsm_evidence_verifies(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, NULL, NULL, 0);
    ccg_evidence ev;
    uint8_t rd[64];
    assert_non_null(a);
    assert_string_equal(ccg_attester_name(a), "configfs-tsm");
    assert_int_equal(ccg_attester_tee(a), CCG_TEE_SNP);
    for (uint8_t i = 0; i < 3; i++) {
        fill(rd, sizeof(rd), i);
        assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
        assert_verifies(f, &ev, rd, 0);
        ccg_evidence_free(&ev);
    }
    /* Every report entry was removed again. */
    assert_int_equal(count_entries(tu_tsm_fuse_root(f->fs)), 0);
    ccg_attester_close(a);
}

static void test_tsm_privlevel(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, NULL, NULL, 2);
    ccg_evidence ev;
    uint8_t rd[64];
    assert_non_null(a);
    fill(rd, sizeof(rd), 42);
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f, &ev, rd, 2);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

static void test_tsm_race_once_is_retried(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, NULL, "race-once", 0);
    ccg_evidence ev;
    uint8_t rd[64];
    assert_non_null(a);
    fill(rd, sizeof(rd), 7);
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f, &ev, rd, 0);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

static void test_tsm_race_always_is_refused(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, NULL, "race", 0);
    ccg_evidence ev;
    uint8_t rd[64] = {1, 2, 3};
    assert_non_null(a);
    EXPECT_FAIL(ccg_attester_get_evidence(a, rd, &ev), CCG_R_ATTEST_GENERATION_CHANGED);
    assert_null(ev.report);
    assert_int_equal(count_entries(tu_tsm_fuse_root(f->fs)), 0);
    ccg_attester_close(a);
}

static void test_tsm_provider_unknown(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, "arm_cca_guest", NULL, 0);
    assert_null(a);
    tu_assert_error_reason(CCG_R_ATTEST_PROVIDER_UNKNOWN);
}

static void test_tsm_truncated_outblob(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, NULL, "truncate", 0);
    ccg_evidence ev;
    uint8_t rd[64] = {9};
    assert_non_null(a);
    EXPECT_FAIL(ccg_attester_get_evidence(a, rd, &ev), CCG_R_ATTEST_OUTPUT_MALFORMED);
    assert_non_null(strstr(ccg_error_last()->message, "1000 bytes"));
    ccg_attester_close(a);
}

static void test_tsm_bad_auxblob(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, NULL, "bad-aux", 0);
    ccg_evidence ev;
    uint8_t rd[64] = {9};
    assert_non_null(a);
    EXPECT_FAIL(ccg_attester_get_evidence(a, rd, &ev), CCG_R_ATTEST_OUTPUT_MALFORMED);
    ccg_attester_close(a);
}

static void test_tsm_tdx_passthrough(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_tsm(f, "tdx_guest", NULL, 0);
    ccg_evidence ev;
    uint8_t rd[64];
    assert_non_null(a);
    assert_int_equal(ccg_attester_tee(a), CCG_TEE_TDX);
    fill(rd, sizeof(rd), 99);
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_int_equal(ev.tee, CCG_TEE_TDX);
    assert_int_equal(ev.report_len, 1024);
    assert_memory_equal(ev.report + 568, rd, 64);
    assert_null(ev.certs);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

static void test_auto_picks_configfs_tsm(void **state)
{
    fixture *f = *state;
    ccg_attester *a = NULL;
    ccg_evidence ev;
    uint8_t rd[64];
    f->fs = tu_tsm_fuse_start_or_skip(f->dir, NULL);
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_AUTO,
                               .tsm_root = tu_tsm_fuse_root(f->fs),
                               .sev_guest_path = "/nonexistent/ccgate/sev-guest"};
    assert_true(ccg_ok(ccg_attester_open(&cfg, &a)));
    assert_string_equal(ccg_attester_name(a), "configfs-tsm");
    fill(rd, sizeof(rd), 5);
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f, &ev, rd, 0);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_tsm_evidence_verifies, teardown),
        cmocka_unit_test_teardown(test_tsm_privlevel, teardown),
        cmocka_unit_test_teardown(test_tsm_race_once_is_retried, teardown),
        cmocka_unit_test_teardown(test_tsm_race_always_is_refused, teardown),
        cmocka_unit_test_teardown(test_tsm_provider_unknown, teardown),
        cmocka_unit_test_teardown(test_tsm_truncated_outblob, teardown),
        cmocka_unit_test_teardown(test_tsm_bad_auxblob, teardown),
        cmocka_unit_test_teardown(test_tsm_tdx_passthrough, teardown),
        cmocka_unit_test_teardown(test_auto_picks_configfs_tsm, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
