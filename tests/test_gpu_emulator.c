/* The software GPU (ccgate emulate gpu): its evidence verifies with ccg_gpu_verify only when its TEST
 * root is named, its RIMs verify only under its TEST RIM root and match its measurements, each
 * tampered variant is refused with its own reason, and its saved state reloads the same GPU. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/gpu_rim.h"
#include "ccgate/gpu_verify.h"

#define NOW "2030-01-01T00:00:00Z"

typedef struct {
    ccg_gpu_emulator *emu;
    ccg_gpu_verifier *v; /* trusts the emulator's TEST root */
    char *pem;
    size_t pem_len;
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    ccg_gpu_result *res;
    ccg_decision d;
    int have_d;
} fixture;

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        fprintf(stderr, "  reason: %s\n", ccg_reason_code(d->reasons.items[i].reason));
    }
}

static void assert_only_reason(const ccg_decision *d, ccg_reason r)
{
    if (d->allow || d->reasons.count != 1 || d->reasons.items[0].reason != r) {
        print_reasons(d);
        fail_msg("expected exactly %s", ccg_reason_code(r));
    }
}

static void assert_allow(const ccg_decision *d)
{
    if (!d->allow || d->reasons.count != 0) {
        print_reasons(d);
        fail_msg("expected allow");
    }
}

static int setup_arch(void **state, ccg_gpu_arch arch)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_gpu_emu_config cfg;
    assert_non_null(f);
    f->res = calloc(1, sizeof(*f->res));
    assert_non_null(f->res);
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, arch)));
    assert_true(ccg_ok(ccg_gpu_emulator_new(&cfg, &f->emu)));
    assert_true(ccg_ok(ccg_gpu_emulator_chain_pem(f->emu, &f->pem, &f->pem_len)));
    assert_true(ccg_ok(ccg_gpu_verifier_new(&f->v)));
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, ccg_gpu_emulator_root(f->emu))));
    for (int i = 0; i < CCG_GPU_NONCE_SIZE; i++) {
        f->nonce[i] = (uint8_t)(0xC0 + i);
    }
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_arch(state, CCG_GPU_ARCH_HOPPER);
}

static int setup_blackwell(void **state)
{
    return setup_arch(state, CCG_GPU_ARCH_BLACKWELL);
}

static int teardown(void **state)
{
    fixture *f = *state;
    if (f->have_d) {
        ccg_decision_free(&f->d);
    }
    ccg_gpu_verifier_free(f->v);
    ccg_gpu_emulator_free(f->emu);
    free(f->pem);
    free(f->res);
    free(f);
    return 0;
}

/* Evidence for the fixture's nonce (with a tamper, or none), verified by v expecting that nonce. */
static void attest_verify(fixture *f, ccg_gpu_verifier *v, const ccg_gpu_emu_tamper *t)
{
    uint8_t *report = NULL;
    size_t len = 0;
    ccg_gpu_verify_opts opts = {.expected_nonce = f->nonce, .require_fwid = 1};
    if (f->have_d) {
        ccg_decision_free(&f->d);
    }
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_emulator_attest(f->emu, f->nonce, t, &report, &len)));
    assert_true(ccg_ok(ccg_gpu_verify(v, report, len, (const uint8_t *)f->pem, f->pem_len, &opts, tu_time(NOW),
                                      f->res, &f->d)));
    f->have_d = 1;
    free(report);
}

static ccg_gpu_emu_tamper tamper(const char *text)
{
    ccg_gpu_emu_tamper t;
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_emu_tamper_parse(text, &t)));
    return t;
}

static void verifies_only_with_named_root(void **state)
{
    fixture *f = *state;
    const ccg_gpu_emu_config *c = ccg_gpu_emulator_config_of(f->emu);
    attest_verify(f, f->v, NULL);
    assert_allow(&f->d);
    assert_string_equal(f->res->root, "test");
    assert_int_equal(f->res->arch, c->arch);
    assert_int_equal(f->res->chain, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->nonce, CCG_GPU_CHECK_PASSED);
    assert_memory_equal(f->res->report.nonce, f->nonce, CCG_GPU_NONCE_SIZE);
    assert_memory_equal(f->res->report.fwid, c->fwid, CCG_GPU_FWID_SIZE);
    assert_string_equal(f->res->report.driver_version, CCG_GPU_EMU_DEFAULT_DRIVER);
    assert_string_equal(f->res->report.vbios_version, CCG_GPU_EMU_DEFAULT_VBIOS);
    assert_string_equal(f->res->report.chip_info, c->chip_info);
    assert_string_equal(f->res->report.project, c->project);
    assert_string_equal(f->res->report.project_sku, c->project_sku);
    assert_string_equal(f->res->report.chip_sku, c->chip_sku);
    assert_int_equal(f->res->report.nvdec0_status, CCG_GPU_NVDEC0_ENABLED);
    assert_int_equal(f->res->report.mode, CCG_GPU_MODE_SPT);
    assert_int_equal(f->res->report.n_measurements, CCG_GPU_EMU_BLOCKS);
    /* The pinned NVIDIA root alone never accepts the software GPU. */
    ccg_gpu_verifier *plain = NULL;
    assert_true(ccg_ok(ccg_gpu_verifier_new(&plain)));
    attest_verify(f, plain, NULL);
    assert_only_reason(&f->d, CCG_R_GPU_UNTRUSTED_ROOT);
    ccg_gpu_verifier_free(plain);
}

/* The RIM comparison of a report against the emulator's RIMs (verified under its RIM root). */
static ccg_result compare(fixture *f, ccg_gpu_rim_match *m)
{
    ccg_gpu_emu_rims rims;
    ccg_gpu_rim driver, vbios;
    ccg_gpu_rim_block *blocks = calloc(CCG_GPU_MAX_MEASUREMENTS, sizeof(*blocks));
    ccg_gpu_rim_runtime rt;
    X509 *root = ccg_gpu_emulator_rim_root(f->emu);
    assert_non_null(blocks);
    assert_true(ccg_ok(ccg_gpu_emulator_rims(f->emu, &rims)));
    assert_true(ccg_ok(ccg_gpu_rim_verify(rims.driver_xml, rims.driver_len, root, tu_time(NOW), &driver)));
    assert_true(ccg_ok(ccg_gpu_rim_verify(rims.vbios_xml, rims.vbios_len, root, tu_time(NOW), &vbios)));
    ccg_gpu_rim_runtime_from_report(&f->res->report, blocks, &rt);
    ccg_error_clear();
    ccg_result r = ccg_gpu_rim_compare(&driver, &vbios, &rt, m);
    ccg_gpu_rim_free(&driver);
    ccg_gpu_rim_free(&vbios);
    ccg_gpu_emu_rims_free(&rims);
    free(blocks);
    return r;
}

static void rims_verify_and_match(void **state)
{
    fixture *f = *state;
    ccg_gpu_emu_rims rims;
    ccg_gpu_rim rim;
    ccg_gpu_rim_match m;
    char driver_id[CCG_GPU_RIM_ID_MAX], vbios_id[CCG_GPU_RIM_ID_MAX];
    attest_verify(f, f->v, NULL);
    assert_allow(&f->d);
    /* Named as the verifier names them from the evidence. */
    const ccg_gpu_report *r = &f->res->report;
    assert_true(ccg_ok(ccg_gpu_rim_driver_id(ccg_gpu_arch_name(f->res->arch), r->chip_info, r->driver_version,
                                             driver_id)));
    assert_true(ccg_ok(ccg_gpu_rim_vbios_id(r->project, r->project_sku, r->chip_sku, r->vbios_version, vbios_id)));
    assert_true(ccg_ok(ccg_gpu_emulator_rims(f->emu, &rims)));
    assert_string_equal(rims.driver_id, driver_id);
    assert_string_equal(rims.vbios_id, vbios_id);
    /* Only under the TEST RIM root: not the pinned NVIDIA RIM root, not the device TEST root. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_rim_verify(rims.driver_xml, rims.driver_len, NULL, tu_time(NOW), &rim)));
    tu_assert_error_reason(CCG_R_GPU_RIM_CHAIN_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_rim_verify(rims.vbios_xml, rims.vbios_len, ccg_gpu_emulator_root(f->emu),
                                              tu_time(NOW), &rim)));
    tu_assert_error_reason(CCG_R_GPU_RIM_CHAIN_INVALID);
    assert_true(ccg_ok(ccg_gpu_rim_verify(rims.driver_xml, rims.driver_len, ccg_gpu_emulator_rim_root(f->emu),
                                          tu_time(NOW), &rim)));
    assert_string_equal(rim.version, CCG_GPU_EMU_DEFAULT_DRIVER);
    assert_string_equal(rim.tag_id, driver_id);
    ccg_gpu_rim_free(&rim);
    ccg_gpu_emu_rims_free(&rims);
    /* Every measured index is golden in exactly one RIM, and all match. */
    assert_true(ccg_ok(compare(f, &m)));
    assert_int_equal(m.golden_count, CCG_GPU_EMU_BLOCKS);
    assert_int_equal(m.matched_count, CCG_GPU_EMU_BLOCKS);
    assert_int_equal(m.n_mismatched, 0);
    assert_int_equal(m.conflict_index, -1);
}

static void tamper_signature_fwid_nonce(void **state)
{
    fixture *f = *state;
    ccg_gpu_emu_tamper t = tamper("signature");
    attest_verify(f, f->v, &t);
    assert_only_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
    t = tamper("fwid");
    attest_verify(f, f->v, &t);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
    t = tamper("nonce");
    attest_verify(f, f->v, &t);
    assert_only_reason(&f->d, CCG_R_GPU_NONCE_MISMATCH);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED); /* signed, but over another nonce */
}

/* A tamper the device checks let through and the RIM comparison refuses at exactly this index. */
static void expect_mismatch_at(fixture *f, const char *text, unsigned index, char source)
{
    ccg_gpu_emu_tamper t = tamper(text);
    ccg_gpu_rim_match m;
    attest_verify(f, f->v, &t);
    assert_allow(&f->d);
    assert_true(ccg_failed(compare(f, &m)));
    tu_assert_error_reason(CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 1);
    assert_int_equal(m.mismatched[0], index);
    assert_int_equal(m.mismatched_source[0], source);
    char needle[16];
    snprintf(needle, sizeof(needle), "%u", index);
    assert_non_null(strstr(ccg_error_last()->message, needle));
}

static void tamper_measurements(void **state)
{
    fixture *f = *state;
    expect_mismatch_at(f, "measurement=5", 5, 'V');
    expect_mismatch_at(f, "measurement=33", 33, 'D');
    expect_mismatch_at(f, "cc_off", CCG_GPU_EMU_CC_INDEX, 'D');
    expect_mismatch_at(f, "devtools", CCG_GPU_EMU_CC_INDEX, 'D');
}

static void tamper_driver_version(void **state)
{
    fixture *f = *state;
    ccg_gpu_emu_tamper t = tamper("driver=560.35.03");
    ccg_gpu_rim_match m;
    char id[CCG_GPU_RIM_ID_MAX];
    attest_verify(f, f->v, &t);
    assert_allow(&f->d);
    assert_string_equal(f->res->report.driver_version, "560.35.03");
    assert_true(ccg_ok(ccg_gpu_rim_driver_id("HOPPER", NULL, f->res->report.driver_version, id)));
    assert_string_equal(id, "NV_GPU_DRIVER_GH100_560.35.03"); /* a RIM the emulator did not write */
    /* Against the emulator's RIM for 550.90.07: the version differs, which is fatal. */
    assert_true(ccg_failed(compare(f, &m)));
    tu_assert_error_reason(CCG_R_GPU_RIM_VERSION_MISMATCH);
}

static void blackwell_uses_dice_fwid_and_cc_driver_rim(void **state)
{
    fixture *f = *state;
    ccg_gpu_emu_rims rims;
    ccg_gpu_rim_match m;
    attest_verify(f, f->v, NULL);
    assert_allow(&f->d);
    assert_int_equal(f->res->arch, CCG_GPU_ARCH_BLACKWELL);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_PASSED);
    assert_true(ccg_ok(ccg_gpu_emulator_rims(f->emu, &rims)));
    assert_string_equal(rims.driver_id, "NV_GPU_CC_DRIVER_GB100_" CCG_GPU_EMU_DEFAULT_DRIVER);
    ccg_gpu_emu_rims_free(&rims);
    assert_true(ccg_ok(compare(f, &m)));
    assert_int_equal(m.matched_count, CCG_GPU_EMU_BLOCKS);
}

static void tamper_text_refused(void **state)
{
    (void)state;
    const char *bad[] = {"", "cc", "measurement=", "measurement=40", "measurement=-1", "measurement=1x",
                         "driver=", "driver=5/6", "signature=1"};
    ccg_gpu_emu_tamper t;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_error_clear();
        if (ccg_ok(ccg_gpu_emu_tamper_parse(bad[i], &t))) {
            fail_msg("'%s' was accepted", bad[i]);
        }
        assert_true(ccg_error_reason() == CCG_R_USAGE_INVALID || ccg_error_reason() == CCG_R_GPU_RIM_ID_INVALID);
    }
    t = tamper("measurement=39");
    assert_int_equal(t.kind, CCG_GPU_EMU_TAMPER_MEASUREMENT);
    assert_int_equal(t.index, 39);
}

static void config_refused(void **state)
{
    (void)state;
    ccg_gpu_emu_config cfg;
    ccg_gpu_emulator *emu = NULL;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_UNKNOWN)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    const char *vbios[] = {"96.00.9F.00", "96.00.9F.00.0G", "96-00-9F-00-01", "96.00.9F.00.011"};
    for (size_t i = 0; i < sizeof(vbios) / sizeof(vbios[0]); i++) {
        assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_HOPPER)));
        snprintf(cfg.vbios_version, sizeof(cfg.vbios_version), "%s", vbios[i]);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_gpu_emulator_new(&cfg, &emu)));
        tu_assert_error_reason(CCG_R_USAGE_INVALID);
        assert_null(emu);
    }
    assert_true(ccg_ok(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_HOPPER)));
    snprintf(cfg.driver_version, sizeof(cfg.driver_version), "550 90");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_emulator_new(&cfg, &emu)));
    tu_assert_error_reason(CCG_R_GPU_RIM_ID_INVALID);
}

static void write_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    assert_true(fputs(text, fp) >= 0);
    assert_int_equal(fclose(fp), 0);
}

static char *read_all(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(path, 1u << 20, &data, &len)));
    char *s = realloc(data, len + 1);
    assert_non_null(s);
    s[len] = 0;
    return s;
}

static void state_round_trip(void **state)
{
    fixture *f = *state;
    char dir[] = "/tmp/ccg-gpu-emu-XXXXXX", path[256];
    struct stat st;
    ccg_gpu_emulator *loaded = NULL;
    assert_non_null(mkdtemp(dir));
    assert_true(ccg_ok(ccg_gpu_emulator_save(f->emu, dir)));
    snprintf(path, sizeof(path), "%s/%s", dir, CCG_GPU_EMU_STATE_FILE);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600); /* it holds the signing keys */
    assert_true(ccg_ok(ccg_gpu_emulator_load(dir, &loaded)));
    /* The same GPU: evidence from the loaded copy verifies under the original's root, with its FWID. */
    ccg_gpu_emulator *orig = f->emu;
    f->emu = loaded;
    attest_verify(f, f->v, NULL);
    assert_allow(&f->d);
    assert_memory_equal(f->res->report.fwid, ccg_gpu_emulator_config_of(orig)->fwid, CCG_GPU_FWID_SIZE);
    ccg_gpu_rim_match m;
    assert_true(ccg_ok(compare(f, &m))); /* RIMs signed by the loaded signer, under the same RIM root */
    assert_int_equal(X509_cmp(ccg_gpu_emulator_rim_root(loaded), ccg_gpu_emulator_rim_root(orig)), 0);
    f->emu = orig;
    ccg_gpu_emulator_free(loaded);
    loaded = NULL;
    /* A leaf key that is not the leaf's: refused. */
    char *text = read_all(path);
    char *leaf = strstr(text, "\"leaf_key\"");
    char *rim = strstr(text, "\"rim_key\"");
    assert_non_null(leaf);
    assert_non_null(rim);
    char *leaf_val = strchr(leaf + 10, '"'), *rim_val = strchr(rim + 9, '"');
    char *leaf_end = strchr(leaf_val + 1, '"'), *rim_end = strchr(rim_val + 1, '"');
    size_t leaf_len = (size_t)(leaf_end - leaf_val), rim_len = (size_t)(rim_end - rim_val);
    char *swapped = malloc(strlen(text) + rim_len + 1);
    assert_non_null(swapped);
    snprintf(swapped, strlen(text) + rim_len + 1, "%.*s%.*s%s", (int)(leaf_val - text), text, (int)rim_len, rim_val,
             leaf_val + leaf_len);
    write_text(path, swapped);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_emulator_load(dir, &loaded)));
    tu_assert_error_reason(CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    assert_null(loaded);
    /* Not JSON, and a missing file. */
    write_text(path, "{\"format\":");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_emulator_load(dir, &loaded)));
    tu_assert_error_reason(CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    assert_int_equal(unlink(path), 0);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_emulator_load(dir, &loaded)));
    tu_assert_error_reason(CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    assert_int_equal(rmdir(dir), 0);
    free(swapped);
    free(text);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(verifies_only_with_named_root),
        T(rims_verify_and_match),
        T(tamper_signature_fwid_nonce),
        T(tamper_measurements),
        T(tamper_driver_version),
        cmocka_unit_test_setup_teardown(verifies_only_with_named_root, setup_blackwell, teardown),
        cmocka_unit_test_setup_teardown(blackwell_uses_dice_fwid_and_cc_driver_rim, setup_blackwell, teardown),
        T(tamper_text_refused),
        T(config_refused),
        T(state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
