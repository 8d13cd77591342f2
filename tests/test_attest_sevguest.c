/* The /dev/sev-guest backend against ccg-sev-guest-fuse, a stand-in that answers the real
 * SNP_GET_EXT_REPORT ioctl (uapi structs, the caller's buffers) with emulator-signed reports:
 * evidence the verifier accepts with the certificate table, the certificate-buffer retry when the
 * host's table is larger than the first buffer, a table too large, a busy host, a firmware status,
 * and a wrong report size. */
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
    tu_tsm_fuse *fs;
} fixture;

static int group_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->emu = tu_emulator_state_new(f->dir, sizeof(f->dir), NULL);
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

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = tu_tsm_fuse_stop(f->fs); /* a stand-in that crashed or leaked fails the test */
    f->fs = NULL;
    return rc;
}

static ccg_attester *open_dev(fixture *f, const char *fault, uint32_t vmpl)
{
    ccg_attester *a = NULL;
    f->fs = tu_sev_guest_fuse_start_or_skip(f->dir, fault);
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_SEV_GUEST, .sev_guest_path = tu_sev_guest_fuse_path(f->fs),
                               .vmpl = vmpl};
    assert_true(ccg_ok(ccg_attester_open(&cfg, &a)));
    assert_string_equal(ccg_attester_name(a), "sev-guest");
    assert_int_equal(ccg_attester_tee(a), CCG_TEE_SNP);
    return a;
}

static void assert_verifies(fixture *f, const ccg_evidence *ev, const uint8_t rd[64], uint32_t vmpl, size_t n_certs)
{
    ccg_snp_verifier *v = NULL;
    ccg_snp_collateral col;
    ccg_snp_cert_entry e[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    ccg_decision d;
    ccg_snp_report r;
    assert_int_equal(ev->report_len, CCG_SNP_REPORT_SIZE);
    assert_non_null(ev->certs);
    assert_true(ccg_ok(ccg_snp_cert_table_parse(ev->certs, ev->certs_len, e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used)));
    assert_int_equal(n, n_certs);
    assert_int_equal(e[0].kind, CCG_SNP_CERT_VCEK);
    assert_int_equal(e[1].kind, CCG_SNP_CERT_ASK);
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, e[0].der, e[0].der_len)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, e[1].der, e[1].der_len)));
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(f->emu))));
    assert_true(ccg_ok(tu_verify_emulated(v, ev->report, ev->report_len, &col, NULL, f->emu, tu_time(NOW), &d)));
    assert_true(d.allow);
    assert_true(ccg_ok(ccg_snp_report_parse(ev->report, ev->report_len, &r)));
    assert_memory_equal(r.report_data, rd, 64);
    assert_int_equal(r.vmpl, vmpl);
    ccg_decision_free(&d);
    ccg_snp_verifier_free(v);
    ccg_snp_collateral_free(&col);
}

static void test_ext_report_verifies(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_dev(f, NULL, 0);
    ccg_evidence ev;
    uint8_t rd[64];
    for (int i = 0; i < 2; i++) {
        memset(rd, 0x30 + i, sizeof(rd));
        assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
        assert_verifies(f, &ev, rd, 0, 3);
        ccg_evidence_free(&ev);
    }
    ccg_attester_close(a);
}

static void test_vmpl(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_dev(f, NULL, 3);
    ccg_evidence ev;
    uint8_t rd[64] = {0xEE};
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f, &ev, rd, 3, 3);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

/* The host's table needs 12 KiB: -EIO + INVALID_LEN + the size, then a second call that fits. */
static void test_certs_buffer_retry(void **state)
{
    fixture *f = *state;
    ccg_attester *a = open_dev(f, "big-certs", 0);
    ccg_evidence ev;
    uint8_t rd[64] = {1, 2, 3};
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f, &ev, rd, 0, 4);
    assert_true(ev.certs_len > 8192);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

static void expect_failure(fixture *f, const char *fault, ccg_reason reason)
{
    ccg_attester *a = open_dev(f, fault, 0);
    ccg_evidence ev;
    uint8_t rd[64] = {4};
    EXPECT_FAIL(ccg_attester_get_evidence(a, rd, &ev), reason);
    assert_null(ev.report);
    ccg_attester_close(a);
}

static void test_certs_too_large(void **state) { expect_failure(*state, "huge-certs", CCG_R_ATTEST_CERTS_TOO_LARGE); }

static void test_host_busy(void **state)
{
    expect_failure(*state, "busy", CCG_R_ATTEST_KERNEL_ERROR);
    assert_non_null(strstr(ccg_error_last()->message, "busy"));
}

static void test_firmware_status(void **state)
{
    expect_failure(*state, "bad-status", CCG_R_ATTEST_KERNEL_ERROR);
    assert_non_null(strstr(ccg_error_last()->message, "0x16"));
}

static void test_wrong_report_size(void **state) { expect_failure(*state, "short-size", CCG_R_ATTEST_OUTPUT_MALFORMED); }

static void test_auto_picks_sev_guest(void **state)
{
    fixture *f = *state;
    ccg_attester *a = NULL;
    f->fs = tu_sev_guest_fuse_start_or_skip(f->dir, NULL);
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_AUTO,
                               .tsm_root = "/nonexistent/ccgate/tsm/report",
                               .sev_guest_path = tu_sev_guest_fuse_path(f->fs)};
    assert_true(ccg_ok(ccg_attester_open(&cfg, &a)));
    assert_string_equal(ccg_attester_name(a), "sev-guest");
    ccg_attester_close(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_ext_report_verifies, teardown),
        cmocka_unit_test_teardown(test_vmpl, teardown),
        cmocka_unit_test_teardown(test_certs_buffer_retry, teardown),
        cmocka_unit_test_teardown(test_certs_too_large, teardown),
        cmocka_unit_test_teardown(test_host_busy, teardown),
        cmocka_unit_test_teardown(test_firmware_status, teardown),
        cmocka_unit_test_teardown(test_wrong_report_size, teardown),
        cmocka_unit_test_teardown(test_auto_picks_sev_guest, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
