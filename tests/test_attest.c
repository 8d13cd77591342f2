/* The attester: the emulator backend end to end through the SNP verifier, backend choice (AUTO never
 * picks the emulator and fails with attest.no_tee), emulator state persistence, and the parsers of
 * the kernel interfaces' output (provider, generation, certificate table, sev-guest response). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "tcb_util.h"
#include "tsm_fuse_ctl.h"

#include "ccgate/attester.h"
#include "ccgate/error.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_verify.h"

#define NOW "2026-06-01T00:00:00Z"

/* The error slot keeps the first failure of the thread, so clear it before each expected one. */
#define EXPECT_FAIL(expr, reason)            \
    do {                                     \
        ccg_error_clear();                   \
        assert_true(ccg_failed(expr));       \
        tu_assert_error_reason(reason);      \
    } while (0)

typedef struct {
    char dir[64];
    ccg_snp_emulator *emu;
    ccg_snp_emulator_launch launch;
} fixture;

static int group_setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    /* A launch of our own, so the report's measurement is provably the configured one. */
    f->emu = tu_emulator_state_new(f->dir, sizeof(f->dir), NULL);
    ccg_snp_emulator_launch_init(f->emu, &f->launch);
    memset(f->launch.measurement, 0xAB, sizeof(f->launch.measurement));
    memset(f->launch.host_data, 0x11, sizeof(f->launch.host_data));
    f->launch.guest_svn = 7;
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

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + i * 13);
    }
}

/* The evidence verifies with the emulator's ARK trusted and the certificates from its own table. */
static void assert_verifies(const ccg_snp_emulator *emu, const ccg_evidence *ev, const uint8_t rd[64])
{
    ccg_snp_verifier *v = NULL;
    ccg_snp_collateral col;
    ccg_snp_cert_entry entries[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    ccg_decision d;
    ccg_snp_report r;
    assert_int_equal(ev->tee, CCG_TEE_SNP);
    assert_int_equal(ev->report_len, CCG_SNP_REPORT_SIZE);
    assert_non_null(ev->certs);
    assert_true(ccg_ok(ccg_snp_cert_table_parse(ev->certs, ev->certs_len, entries, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n,
                                                &used)));
    assert_int_equal(n, 3);
    assert_int_equal(entries[0].kind, CCG_SNP_CERT_VCEK);
    assert_int_equal(entries[1].kind, CCG_SNP_CERT_ASK);
    assert_int_equal(entries[2].kind, CCG_SNP_CERT_ARK);
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    for (size_t i = 0; i < 2; i++) { /* the ARK is trusted explicitly, never taken from the guest */
        assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, entries[i].der, entries[i].der_len)));
    }
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(emu))));
    assert_true(ccg_ok(tu_verify_emulated(v, ev->report, ev->report_len, &col, NULL, emu, tu_time(NOW), &d)));
    if (!d.allow) {
        json_t *j = ccg_decision_to_json(&d);
        char *s = json_dumps(j, 0);
        print_message("decision: %s\n", s);
        free(s);
        json_decref(j);
    }
    assert_true(d.allow);
    assert_true(ccg_ok(ccg_snp_report_parse(ev->report, ev->report_len, &r)));
    assert_memory_equal(r.report_data, rd, 64);
    ccg_decision_free(&d);
    ccg_snp_verifier_free(v);
    ccg_snp_collateral_free(&col);
}

static void test_emulator_evidence_verifies(void **state)
{
    fixture *f = *state;
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_EMULATOR, .emulator_dir = f->dir};
    ccg_attester *a = NULL;
    ccg_evidence ev;
    uint8_t rd[64];
    ccg_snp_report r;
    fill(rd, sizeof(rd), 0x21);
    assert_true(ccg_ok(ccg_attester_open(&cfg, &a)));
    assert_string_equal(ccg_attester_name(a), "emulator");
    assert_int_equal(ccg_attester_tee(a), CCG_TEE_SNP);
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f->emu, &ev, rd);
    assert_true(ccg_ok(ccg_snp_report_parse(ev.report, ev.report_len, &r)));
    assert_memory_equal(r.measurement, f->launch.measurement, sizeof(r.measurement));
    assert_memory_equal(r.host_data, f->launch.host_data, sizeof(r.host_data));
    assert_int_equal(r.guest_svn, 7);
    assert_int_equal(r.vmpl, 0);
    ccg_evidence_free(&ev);
    /* Fresh evidence for fresh REPORT_DATA. */
    fill(rd, sizeof(rd), 0x77);
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_verifies(f->emu, &ev, rd);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
}

static void test_emulator_vmpl_and_debug(void **state)
{
    fixture *f = *state;
    char dir[64];
    ccg_snp_emulator_launch l = f->launch;
    l.policy |= CCG_SNP_POLICY_DEBUG;
    snprintf(dir, sizeof(dir), "/tmp/ccg-emu-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_true(ccg_ok(ccg_snp_emulator_save(f->emu, &l, dir)));
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_EMULATOR, .emulator_dir = dir, .vmpl = 2};
    ccg_attester *a = NULL;
    ccg_evidence ev;
    uint8_t rd[64] = {1};
    ccg_snp_report r;
    assert_true(ccg_ok(ccg_attester_open(&cfg, &a)));
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_true(ccg_ok(ccg_snp_report_parse(ev.report, ev.report_len, &r)));
    assert_int_equal(r.vmpl, 2);
    assert_true(r.policy & CCG_SNP_POLICY_DEBUG);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
    tu_remove_tree(dir);
}

static void test_emulator_not_configured(void **state)
{
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_EMULATOR};
    ccg_attester *a = NULL;
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_ATTEST_EMULATOR_NOT_CONFIGURED);
    assert_null(a);
    cfg.emulator_dir = "";
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_ATTEST_EMULATOR_NOT_CONFIGURED);
}

static void copy_file(const char *from, const char *to)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(from, 1 << 20, &buf, &len)));
    assert_true(ccg_ok(ccg_file_write(to, buf, len)));
    free(buf);
}

static void expect_state_invalid(const char *dir)
{
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_EMULATOR, .emulator_dir = dir};
    ccg_attester *a = NULL;
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_ATTEST_EMULATOR_STATE_INVALID);
}

static void test_emulator_state_invalid(void **state)
{
    fixture *f = *state;
    char dir[64], path[128], from[128];
    snprintf(dir, sizeof(dir), "/tmp/ccg-emu-XXXXXX");
    assert_non_null(mkdtemp(dir));
    expect_state_invalid(dir); /* empty */
    assert_true(ccg_ok(ccg_snp_emulator_save(f->emu, NULL, dir)));
    /* A key that is not the certificate's. */
    snprintf(from, sizeof(from), "%s/ask.key.pem", dir);
    snprintf(path, sizeof(path), "%s/ark.key.pem", dir);
    copy_file(from, path);
    expect_state_invalid(dir);
    /* A missing VCEK key. */
    assert_true(ccg_ok(ccg_snp_emulator_save(f->emu, NULL, dir)));
    snprintf(path, sizeof(path), "%s/vcek.key.pem", dir);
    assert_int_equal(unlink(path), 0);
    expect_state_invalid(dir);
    /* An unknown member in the config. */
    assert_true(ccg_ok(ccg_snp_emulator_save(f->emu, NULL, dir)));
    snprintf(path, sizeof(path), "%s/emulator.json", dir);
    uint8_t *text = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(path, 1 << 16, &text, &len)));
    char *brace = strchr((char *)text, '{');
    assert_non_null(brace);
    char *edited = NULL;
    assert_true(asprintf(&edited, "{\"extra\": 1,%s", brace + 1) > 0);
    assert_true(ccg_ok(ccg_file_write(path, (const uint8_t *)edited, strlen(edited))));
    free(edited);
    free(text);
    expect_state_invalid(dir);
    tu_remove_tree(dir);
}

static void test_state_roundtrip(void **state)
{
    fixture *f = *state;
    ccg_snp_emulator *loaded = NULL;
    ccg_snp_emulator_launch l;
    char path[128];
    struct stat st;
    assert_true(ccg_ok(ccg_snp_emulator_load(f->dir, &loaded, &l)));
    assert_memory_equal(&l, &f->launch, sizeof(l));
    const ccg_snp_emulator_config *a = ccg_snp_emulator_config_of(f->emu), *b = ccg_snp_emulator_config_of(loaded);
    assert_int_equal(a->product, b->product);
    assert_int_equal(a->signer, b->signer);
    assert_memory_equal(a->chip_id, b->chip_id, sizeof(a->chip_id));
    assert_memory_equal(&a->tcb, &b->tcb, sizeof(a->tcb));
    assert_int_equal(X509_cmp(ccg_snp_emulator_vcek(f->emu), ccg_snp_emulator_vcek(loaded)), 0);
    ccg_snp_emulator_free(loaded);
    for (const char *const *k = (const char *const[]){"ark.key.pem", "ask.key.pem", "vcek.key.pem", NULL}; *k; k++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, *k);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
    }
}

static void test_auto_without_tee_is_no_tee(void **state)
{
    fixture *f = *state;
    /* Even with emulator state at hand, AUTO never falls back to the emulator. */
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_AUTO,
                               .tsm_root = "/nonexistent/ccgate/tsm/report",
                               .sev_guest_path = "/nonexistent/ccgate/sev-guest",
                               .emulator_dir = f->dir};
    ccg_attester *a = NULL;
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_ATTEST_NO_TEE);
    assert_null(a);
}

static void test_explicit_backend_missing(void **state)
{
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_CONFIGFS_TSM, .tsm_root = "/nonexistent/ccgate/tsm/report"};
    ccg_attester *a = NULL;
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_ATTEST_BACKEND_UNAVAILABLE);
    cfg.kind = CCG_ATTESTER_SEV_GUEST;
    cfg.sev_guest_path = "/nonexistent/ccgate/sev-guest";
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_ATTEST_BACKEND_UNAVAILABLE);
    cfg.vmpl = 4;
    EXPECT_FAIL(ccg_attester_open(&cfg, &a), CCG_R_USAGE_INVALID);
}

/* ---- parsers ---- */

#define STR(s) (const uint8_t *)(s), sizeof(s) - 1

static void expect_provider(const uint8_t *buf, size_t len, ccg_reason reason, ccg_tee_type tee)
{
    ccg_tee_type got = CCG_TEE_NONE;
    if (reason == CCG_R_OK) {
        assert_true(ccg_ok(ccg_attest_parse_provider(buf, len, &got)));
        assert_int_equal(got, tee);
    } else {
        EXPECT_FAIL(ccg_attest_parse_provider(buf, len, &got), reason);
    }
}

static void test_parse_provider(void **state)
{
    expect_provider(STR("sev_guest\n"), CCG_R_OK, CCG_TEE_SNP);
    expect_provider(STR("sev_guest"), CCG_R_OK, CCG_TEE_SNP);
    expect_provider(STR("tdx_guest\n"), CCG_R_OK, CCG_TEE_TDX);
    expect_provider(STR("sev_guest\n\n"), CCG_R_ATTEST_PROVIDER_UNKNOWN, CCG_TEE_NONE);
    expect_provider(STR("sev_guestX"), CCG_R_ATTEST_PROVIDER_UNKNOWN, CCG_TEE_NONE);
    expect_provider(STR("sev\0guest"), CCG_R_ATTEST_PROVIDER_UNKNOWN, CCG_TEE_NONE);
    expect_provider(STR(""), CCG_R_ATTEST_PROVIDER_UNKNOWN, CCG_TEE_NONE);
    expect_provider(STR("arm_cca_guest\n"), CCG_R_ATTEST_PROVIDER_UNKNOWN, CCG_TEE_NONE);
}

static void test_parse_generation(void **state)
{
    uint64_t g = 0;
    assert_true(ccg_ok(ccg_attest_parse_generation(STR("12\n"), &g)));
    assert_int_equal(g, 12);
    assert_true(ccg_ok(ccg_attest_parse_generation(STR("0"), &g)));
    assert_int_equal(g, 0);
    const char *bad[] = {"", "\n", "1a\n", "-1", " 1", "12345678901234567890"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_FAIL(ccg_attest_parse_generation((const uint8_t *)bad[i], strlen(bad[i]), &g), CCG_R_ATTEST_OUTPUT_MALFORMED);
    }
}

static void build_table(uint8_t **out, size_t *len)
{
    static const uint8_t a[] = {0x30, 0x03, 0x01, 0x02, 0x03}, b[] = {0x30, 0x02, 0x05, 0x06};
    ccg_snp_cert_entry e[2];
    memset(e, 0, sizeof(e));
    e[0].kind = CCG_SNP_CERT_VLEK;
    e[0].der = a;
    e[0].der_len = sizeof(a);
    e[1].kind = CCG_SNP_CERT_OTHER;
    memset(e[1].guid, 0x5A, sizeof(e[1].guid));
    e[1].der = b;
    e[1].der_len = sizeof(b);
    assert_true(ccg_ok(ccg_snp_cert_table_build(e, 2, out, len)));
    assert_int_equal(*len, 3 * 24 + sizeof(a) + sizeof(b));
}

static void expect_table(const uint8_t *buf, size_t len, ccg_reason reason)
{
    ccg_snp_cert_entry e[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    EXPECT_FAIL(ccg_snp_cert_table_parse(buf, len, e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used), reason);
}

static void test_cert_table(void **state)
{
    uint8_t *t = NULL, padded[4096];
    size_t len = 0, n = 0, used = 0;
    ccg_snp_cert_entry e[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    build_table(&t, &len);
    memset(padded, 0, sizeof(padded));
    memcpy(padded, t, len);
    /* A page-padded blob, as the kernel hands it out. */
    assert_true(ccg_ok(ccg_snp_cert_table_parse(padded, sizeof(padded), e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used)));
    assert_int_equal(n, 2);
    assert_int_equal(used, len);
    assert_int_equal(e[0].kind, CCG_SNP_CERT_VLEK);
    assert_int_equal(e[1].kind, CCG_SNP_CERT_OTHER);
    assert_int_equal(e[0].der_len, 5);
    assert_int_equal(e[0].der[0], 0x30);
    /* An empty table: just the terminator. */
    uint8_t zero[24] = {0};
    assert_true(ccg_ok(ccg_snp_cert_table_parse(zero, sizeof(zero), e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used)));
    assert_int_equal(n, 0);
    /* Garbage after the last certificate. */
    padded[len + 10] = 1;
    expect_table(padded, sizeof(padded), CCG_R_ATTEST_OUTPUT_MALFORMED);
    padded[len + 10] = 0;
    /* Cut inside a certificate, and inside the table. */
    expect_table(t, len - 1, CCG_R_ATTEST_OUTPUT_MALFORMED);
    expect_table(t, 30, CCG_R_ATTEST_OUTPUT_MALFORMED);
    /* An offset inside the table itself. */
    memcpy(padded, t, len);
    padded[16] = 8;
    expect_table(padded, sizeof(padded), CCG_R_ATTEST_OUTPUT_MALFORMED);
    /* Overlapping certificates. */
    memcpy(padded, t, len);
    padded[24 + 16] = padded[16];
    expect_table(padded, sizeof(padded), CCG_R_ATTEST_OUTPUT_MALFORMED);
    /* One GUID twice. */
    memcpy(padded, t, len);
    memcpy(padded + 24, padded, 16);
    expect_table(padded, sizeof(padded), CCG_R_ATTEST_OUTPUT_MALFORMED);
    /* Zero length. */
    memcpy(padded, t, len);
    memset(padded + 20, 0, 4);
    expect_table(padded, sizeof(padded), CCG_R_ATTEST_OUTPUT_MALFORMED);
    /* Larger than accepted. */
    uint8_t *big = calloc(1, CCG_ATTESTER_CERTS_MAX + 1);
    assert_non_null(big);
    expect_table(big, CCG_ATTESTER_CERTS_MAX + 1, CCG_R_ATTEST_CERTS_TOO_LARGE);
    /* More entries than the caller has room for. */
    memcpy(big, t, len);
    EXPECT_FAIL(ccg_snp_cert_table_parse(big, 4096, e, 1, &n, &used), CCG_R_ATTEST_CERTS_TOO_LARGE);
    free(big);
    free(t);
}

static void make_resp(uint8_t *buf, size_t len, const uint8_t *report)
{
    memset(buf, 0, len);
    buf[4] = CCG_SNP_REPORT_SIZE & 0xFF;
    buf[5] = CCG_SNP_REPORT_SIZE >> 8;
    memcpy(buf + 0x20, report, CCG_SNP_REPORT_SIZE);
}

static void expect_resp(const uint8_t *buf, size_t len, ccg_reason reason)
{
    const uint8_t *report = NULL;
    EXPECT_FAIL(ccg_attest_parse_sev_guest_resp(buf, len, &report), reason);
}

/* The SNP_GET_EXT_REPORT response, synthesized in the kernel's 4000-byte snp_report_resp layout. */
static void test_sev_guest_response(void **state)
{
    fixture *f = *state;
    uint8_t report[CCG_SNP_REPORT_SIZE], resp[4000], rd[64];
    const uint8_t *got = NULL;
    fill(rd, sizeof(rd), 3);
    assert_true(ccg_ok(ccg_snp_emulator_attest(f->emu, &f->launch, 0, rd, report)));
    make_resp(resp, sizeof(resp), report);
    assert_true(ccg_ok(ccg_attest_parse_sev_guest_resp(resp, sizeof(resp), &got)));
    assert_ptr_equal(got, resp + 0x20);
    assert_true(ccg_ok(ccg_attest_check_report(CCG_TEE_SNP, got, CCG_SNP_REPORT_SIZE, rd)));
    resp[0] = 0x16; /* INVALID_PARAM from the firmware */
    expect_resp(resp, sizeof(resp), CCG_R_ATTEST_KERNEL_ERROR);
    make_resp(resp, sizeof(resp), report);
    resp[4] = 0x00; /* report_size 1024 */
    expect_resp(resp, sizeof(resp), CCG_R_ATTEST_OUTPUT_MALFORMED);
    make_resp(resp, sizeof(resp), report);
    resp[0x10] = 1; /* reserved */
    expect_resp(resp, sizeof(resp), CCG_R_ATTEST_OUTPUT_MALFORMED);
    make_resp(resp, sizeof(resp), report);
    expect_resp(resp, 0x20 + CCG_SNP_REPORT_SIZE - 1, CCG_R_ATTEST_OUTPUT_MALFORMED);
    expect_resp(resp, 6, CCG_R_ATTEST_OUTPUT_MALFORMED);
}

static void test_sev_guest_status(void **state)
{
    size_t retry = 0;
    assert_true(ccg_ok(ccg_attest_sev_guest_status(0, 0, 0, 0, 0, &retry)));
    assert_int_equal(retry, 0);
    /* Certificates need 3 pages: retry with that size; 5 pages are more than the driver takes. */
    assert_true(ccg_ok(ccg_attest_sev_guest_status(-1, 5 /* EIO */, 0, 1, 3 * 4096, &retry)));
    assert_int_equal(retry, 3 * 4096);
    EXPECT_FAIL(ccg_attest_sev_guest_status(-1, 5, 0, 1, 5 * 4096, &retry), CCG_R_ATTEST_CERTS_TOO_LARGE);
    EXPECT_FAIL(ccg_attest_sev_guest_status(-1, 28 /* ENOSPC */, 0, 1, 1u << 20, &retry), CCG_R_ATTEST_CERTS_TOO_LARGE);
    EXPECT_FAIL(ccg_attest_sev_guest_status(-1, 5, 0x16, 0, 0, &retry), CCG_R_ATTEST_KERNEL_ERROR);
    EXPECT_FAIL(ccg_attest_sev_guest_status(-1, 16 /* EBUSY */, 0, 2, 0, &retry), CCG_R_ATTEST_KERNEL_ERROR);
    assert_non_null(strstr(ccg_error_last()->message, "busy"));
    EXPECT_FAIL(ccg_attest_sev_guest_status(-1, 22 /* EINVAL */, 0, 0, 0, &retry), CCG_R_ATTEST_KERNEL_ERROR);
}

static void test_check_report(void **state)
{
    fixture *f = *state;
    uint8_t report[CCG_SNP_REPORT_SIZE], rd[64], other[64], quote[1024];
    fill(rd, sizeof(rd), 9);
    fill(other, sizeof(other), 10);
    assert_true(ccg_ok(ccg_snp_emulator_attest(f->emu, &f->launch, 0, rd, report)));
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_SNP, report, 1000, rd), CCG_R_ATTEST_OUTPUT_MALFORMED);
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_SNP, report, sizeof(report), other), CCG_R_ATTEST_REPORT_DATA_MISMATCH);
    report[0] = 9; /* an unknown report version */
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_SNP, report, sizeof(report), rd), CCG_R_ATTEST_OUTPUT_MALFORMED);
    /* TDX quotes: v4 and v5 layouts, REPORTDATA at 568 and 574. */
    memset(quote, 0, sizeof(quote));
    quote[0] = 4;
    memcpy(quote + 568, rd, 64);
    assert_true(ccg_ok(ccg_attest_check_report(CCG_TEE_TDX, quote, sizeof(quote), rd)));
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_TDX, quote, 600, rd), CCG_R_ATTEST_OUTPUT_MALFORMED);
    quote[0] = 5;
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_TDX, quote, sizeof(quote), rd), CCG_R_ATTEST_REPORT_DATA_MISMATCH);
    memcpy(quote + 574, rd, 64);
    assert_true(ccg_ok(ccg_attest_check_report(CCG_TEE_TDX, quote, sizeof(quote), rd)));
    quote[0] = 3;
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_TDX, quote, sizeof(quote), rd), CCG_R_ATTEST_OUTPUT_MALFORMED);
    EXPECT_FAIL(ccg_attest_check_report(CCG_TEE_NONE, quote, sizeof(quote), rd), CCG_R_ATTEST_OUTPUT_MALFORMED);
}

static void test_kind_names(void **state)
{
    ccg_attester_kind k = CCG_ATTESTER_AUTO;
    const char *names[] = {"auto", "configfs-tsm", "sev-guest", "emulator"};
    for (size_t i = 0; i < 4; i++) {
        assert_true(ccg_ok(ccg_attester_kind_from_name(names[i], &k)));
        assert_int_equal(k, (ccg_attester_kind)i);
        assert_string_equal(ccg_attester_kind_name(k), names[i]);
    }
    EXPECT_FAIL(ccg_attester_kind_from_name("tdx", &k), CCG_R_USAGE_INVALID);
    EXPECT_FAIL(ccg_attester_kind_from_name(NULL, &k), CCG_R_USAGE_INVALID);
}

/* A VLEK emulator: the table names a VLEK (and its ASVK as "ASK"), and the chain still verifies. */
static void test_emulator_vlek(void **state)
{
    ccg_snp_emulator_config c;
    ccg_snp_emulator *emu = NULL;
    char dir[64];
    ccg_snp_cert_entry e[CCG_SNP_CERT_TABLE_MAX_ENTRIES];
    size_t n = 0, used = 0;
    ccg_snp_collateral col;
    ccg_snp_verifier *v = NULL;
    ccg_decision d;
    ccg_snp_emulator_config_init(&c, CCG_SNP_PRODUCT_GENOA, CCG_SNP_SIGNER_VLEK);
    assert_true(ccg_ok(ccg_snp_emulator_new(&c, &emu)));
    snprintf(dir, sizeof(dir), "/tmp/ccg-emu-XXXXXX");
    assert_non_null(mkdtemp(dir));
    assert_true(ccg_ok(ccg_snp_emulator_save(emu, NULL, dir)));
    ccg_attester_config cfg = {.kind = CCG_ATTESTER_EMULATOR, .emulator_dir = dir};
    ccg_attester *a = NULL;
    ccg_evidence ev;
    uint8_t rd[64] = {0x56};
    assert_true(ccg_ok(ccg_attester_open(&cfg, &a)));
    assert_true(ccg_ok(ccg_attester_get_evidence(a, rd, &ev)));
    assert_true(ccg_ok(ccg_snp_cert_table_parse(ev.certs, ev.certs_len, e, CCG_SNP_CERT_TABLE_MAX_ENTRIES, &n, &used)));
    assert_int_equal(n, 3);
    assert_int_equal(e[0].kind, CCG_SNP_CERT_VLEK);
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, e[0].der, e[0].der_len)));
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, e[1].der, e[1].der_len)));
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, CCG_SNP_PRODUCT_GENOA, ccg_snp_emulator_ark(emu))));
    assert_true(ccg_ok(tu_verify_emulated(v, ev.report, ev.report_len, &col, NULL, emu, tu_time(NOW), &d)));
    assert_true(d.allow);
    ccg_decision_free(&d);
    ccg_snp_verifier_free(v);
    ccg_snp_collateral_free(&col);
    ccg_evidence_free(&ev);
    ccg_attester_close(a);
    ccg_snp_emulator_free(emu);
    tu_remove_tree(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_emulator_evidence_verifies),
        cmocka_unit_test(test_emulator_vmpl_and_debug),
        cmocka_unit_test(test_emulator_not_configured),
        cmocka_unit_test(test_emulator_state_invalid),
        cmocka_unit_test(test_state_roundtrip),
        cmocka_unit_test(test_auto_without_tee_is_no_tee),
        cmocka_unit_test(test_explicit_backend_missing),
        cmocka_unit_test(test_parse_provider),
        cmocka_unit_test(test_parse_generation),
        cmocka_unit_test(test_cert_table),
        cmocka_unit_test(test_sev_guest_response),
        cmocka_unit_test(test_sev_guest_status),
        cmocka_unit_test(test_check_report),
        cmocka_unit_test(test_kind_names),
        cmocka_unit_test(test_emulator_vlek),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
