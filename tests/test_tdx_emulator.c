/* The software TD as a library (docs/tdx-emulator.md): its collateral verifies its quotes (bundle and
 * PCS response forms), only under its named root; the levels put a lower TEE_TCB_SVN at OutOfDate with
 * the documented advisory; expired and revoked collateral; and the saved state round-trips (same root,
 * same TD) while a damaged state is refused with attest.emulator_state_invalid. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

#define NOW "2026-01-15T00:00:00Z"

static ccg_tdx_verifier *verifier_for(const ccg_tdx_emu *e)
{
    ccg_tdx_verifier *v = NULL;
    char *pem = ccg_tdx_emu_root_pem(e);
    STACK_OF(X509) *certs = sk_X509_new_null();
    assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    assert_true(ccg_ok(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs)));
    assert_true(ccg_ok(ccg_tdx_verifier_add_test_root(v, sk_X509_value(certs, 0))));
    sk_X509_pop_free(certs, X509_free);
    free(pem);
    return v;
}

/* Verifies td's quote from e with e's collateral (opts) and returns the first reason (OK on allow). */
static ccg_reason outcome(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, const ccg_tdx_emu_collateral_opts *co,
                          int trust, ccg_tdx_result *keep)
{
    ccg_tdx_emu_collateral c;
    ccg_tdx_collateral col;
    ccg_tdx_result r;
    char *bundle = NULL;
    uint8_t *q = NULL;
    size_t len = 0;
    ccg_tdx_verifier *v = NULL;
    assert_true(ccg_ok(ccg_tdx_emu_quote(e, td, &q, &len)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(e, co, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &bundle)));
    assert_true(ccg_ok(ccg_tdx_collateral_parse(bundle, strlen(bundle), &col)));
    if (trust) {
        v = verifier_for(e);
    } else {
        assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    }
    assert_true(ccg_ok(ccg_tdx_verify(v, q, len, &col, NULL, NULL, co->now, &r)));
    ccg_reason got = r.decision.allow ? CCG_R_OK : r.decision.reasons.items[0].reason;
    if (keep != NULL) {
        *keep = r;
    } else {
        ccg_tdx_result_free(&r);
    }
    ccg_tdx_verifier_free(v);
    ccg_tdx_collateral_free(&col);
    ccg_tdx_emu_collateral_free(&c);
    free(bundle);
    free(q);
    return got;
}

static ccg_tdx_emu *new_emu(void)
{
    ccg_tdx_emu_opts o;
    ccg_tdx_emu *e = NULL;
    ccg_tdx_emu_opts_default(tu_time(NOW), &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &e)));
    return e;
}

static void test_collateral_verifies_only_under_its_root(void **state)
{
    (void)state;
    ccg_tdx_emu *e = new_emu();
    ccg_tdx_emu_td td;
    ccg_tdx_emu_collateral_opts co = {.now = tu_time(NOW)};
    ccg_tdx_result r;
    ccg_tdx_emu_td_default(&td);
    assert_int_equal(outcome(e, &td, &co, 1, &r), CCG_R_OK);
    assert_int_equal(r.status, CCG_TDX_STATUS_UP_TO_DATE);
    assert_string_equal(r.fmspc, "00906ed50000");
    ccg_tdx_result_free(&r);
    assert_int_equal(outcome(e, &td, &co, 0, NULL), CCG_R_TDX_UNTRUSTED_ROOT);
    /* One step below the UpToDate level: OutOfDate with the documented advisory. */
    td.tee_tcb_svn[0] = 4;
    assert_int_equal(outcome(e, &td, &co, 1, &r), CCG_R_TDX_TCB_STATUS_NOT_ALLOWED);
    assert_int_equal(r.status, CCG_TDX_STATUS_OUT_OF_DATE);
    json_t *adv = json_object_get(json_object_get(r.decision.claims, "tcb"), "advisory_ids");
    assert_int_equal(json_array_size(adv), 1);
    assert_string_equal(json_string_value(json_array_get(adv, 0)), CCG_TDX_EMU_PLATFORM_ADVISORY);
    ccg_tdx_result_free(&r);
    /* Below every level. */
    td.tee_tcb_svn[0] = 2;
    assert_int_equal(outcome(e, &td, &co, 1, NULL), CCG_R_TDX_TCB_LEVEL_NOT_FOUND);
    /* TD 1.5 with module version 1 (TDX_01), at and below the module's UpToDate ISVSVN. */
    ccg_tdx_emu_td_default(&td);
    td.version = 5;
    td.body_type = 3;
    td.tee_tcb_svn[1] = 1;
    td.tee_tcb_svn[0] = CCG_TDX_EMU_MODULE_SVN;
    assert_int_equal(outcome(e, &td, &co, 1, NULL), CCG_R_OK);
    td.tee_tcb_svn[0] = CCG_TDX_EMU_MODULE_SVN - 1;
    assert_int_equal(outcome(e, &td, &co, 1, &r), CCG_R_TDX_TCB_STATUS_NOT_ALLOWED);
    assert_int_equal(r.module_status, CCG_TDX_STATUS_OUT_OF_DATE);
    ccg_tdx_result_free(&r);
    /* Expired collateral and a revoked PCK. */
    ccg_tdx_emu_td_default(&td);
    co.expired = 1;
    assert_int_equal(outcome(e, &td, &co, 1, NULL), CCG_R_COLLATERAL_EXPIRED);
    co.expired = 0;
    co.revoke_pck = 1;
    assert_int_equal(outcome(e, &td, &co, 1, NULL), CCG_R_TDX_PCK_REVOKED);
    ccg_tdx_emu_free(e);
}

/* The PCS response bodies, as a bundle's *_response members, verify the same. */
static void test_pcs_bodies(void **state)
{
    (void)state;
    ccg_tdx_emu *e = new_emu();
    ccg_tdx_emu_td td;
    ccg_tdx_emu_collateral c;
    ccg_tdx_emu_collateral_opts co = {.now = tu_time(NOW)};
    ccg_tdx_collateral col;
    ccg_tdx_result r;
    char *tcb = NULL, *qe = NULL, *bundle = NULL;
    uint8_t *q = NULL;
    size_t len = 0;
    ccg_tdx_emu_td_default(&td);
    assert_true(ccg_ok(ccg_tdx_emu_quote(e, &td, &q, &len)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(e, &co, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(&c, 0, &tcb)));
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(&c, 1, &qe)));
    assert_true(strncmp(tcb, "{\"tcbInfo\":{", 12) == 0);
    assert_true(strncmp(qe, "{\"enclaveIdentity\":{", 20) == 0);
    assert_non_null(strstr(tcb, c.tcb_info));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &bundle)));
    json_t *b = json_loads(bundle, 0, NULL);
    json_object_del(b, "tcb_info");
    json_object_del(b, "tcb_info_signature");
    json_object_del(b, "qe_identity");
    json_object_del(b, "qe_identity_signature");
    json_object_set_new(b, "tcb_info_response", json_string(tcb));
    json_object_set_new(b, "qe_identity_response", json_string(qe));
    free(bundle);
    bundle = json_dumps(b, JSON_COMPACT);
    assert_true(ccg_ok(ccg_tdx_collateral_parse(bundle, strlen(bundle), &col)));
    assert_int_equal(col.tcb_info_len, strlen(c.tcb_info));
    ccg_tdx_verifier *v = verifier_for(e);
    assert_true(ccg_ok(ccg_tdx_verify(v, q, len, &col, NULL, NULL, co.now, &r)));
    assert_true(r.decision.allow);
    ccg_tdx_result_free(&r);
    ccg_tdx_verifier_free(v);
    ccg_tdx_collateral_free(&col);
    json_decref(b);
    free(bundle);
    free(tcb);
    free(qe);
    free(q);
    ccg_tdx_emu_collateral_free(&c);
    ccg_tdx_emu_free(e);
}

static void write_state(const char *dir, json_t *doc)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, CCG_TDX_EMU_STATE_FILE);
    char *text = json_dumps(doc, 0);
    assert_true(ccg_ok(ccg_file_write(path, (const uint8_t *)text, strlen(text))));
    free(text);
}

static void test_state_round_trip(void **state)
{
    (void)state;
    char dir[] = "/tmp/ccg-tdxemu-XXXXXX", path[512];
    assert_non_null(mkdtemp(dir));
    ccg_tdx_emu *e = new_emu(), *back = NULL;
    ccg_tdx_emu_td td, loaded;
    ccg_tdx_emu_td_default(&td);
    td.version = 5;
    td.body_type = 3;
    memset(td.mrtd, 0x61, 48);
    memset(td.rtmr[3], 0x33, 48);
    memset(td.mrservicetd, 0x5e, 48);
    td.td_attributes |= 1ull << 27;
    assert_true(ccg_ok(ccg_tdx_emu_save(e, &td, dir)));
    snprintf(path, sizeof(path), "%s/%s", dir, CCG_TDX_EMU_STATE_FILE);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_true(ccg_ok(ccg_tdx_emu_load(dir, &back, &loaded)));
    assert_memory_equal(loaded.mrtd, td.mrtd, 48);
    assert_memory_equal(loaded.rtmr[3], td.rtmr[3], 48);
    assert_memory_equal(loaded.mrservicetd, td.mrservicetd, 48);
    assert_int_equal(loaded.td_attributes, td.td_attributes);
    assert_int_equal(loaded.version, 5);
    assert_int_equal(loaded.body_type, 3);
    char *r1 = ccg_tdx_emu_root_pem(e), *r2 = ccg_tdx_emu_root_pem(back);
    assert_string_equal(r1, r2);
    free(r1);
    free(r2);
    /* The loaded TD signs fresh REPORT_DATA that verifies under the original root. */
    memset(loaded.report_data, 0x77, 64);
    ccg_tdx_emu_collateral_opts co = {.now = tu_time("2026-03-01T00:00:00Z")};
    ccg_tdx_result r;
    assert_int_equal(outcome(back, &loaded, &co, 1, &r), CCG_R_OK);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.decision.claims, "td"), "report_data")),
                        "77777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777777");
    ccg_tdx_result_free(&r);
    ccg_tdx_emu_free(back);

    /* Damaged states. */
    uint8_t *text = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(path, 1u << 20, &text, &len)));
    json_t *good = json_loadb((const char *)text, len, 0, NULL);
    free(text);
    const char *edits[][3] = {
        {"format", NULL, "ccgate-tdx-emulator/0"},
        {"keys", "tcb", "not a key"},
        {"certs", "pck", "swap"},
        {"platform", "fmspc", "0011"},
        {"td", "mrtd", "zz"},
        {"td", "version", "6"},
    };
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        json_t *doc = json_deep_copy(good);
        if (edits[i][1] == NULL) {
            json_object_set_new(doc, edits[i][0], json_string(edits[i][2]));
        } else if (strcmp(edits[i][2], "swap") == 0) {
            json_t *certs = json_object_get(doc, "certs");
            json_object_set(certs, "pck", json_object_get(certs, "ca"));
        } else if (strcmp(edits[i][1], "version") == 0) {
            json_object_set_new(json_object_get(doc, "td"), "version", json_integer(6));
        } else {
            json_object_set_new(json_object_get(doc, edits[i][0]), edits[i][1], json_string(edits[i][2]));
        }
        write_state(dir, doc);
        json_decref(doc);
        ccg_error_clear();
        if (!ccg_failed(ccg_tdx_emu_load(dir, &back, &loaded))) {
            fail_msg("damaged state %zu was loaded", i);
        }
        tu_assert_error_reason(CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    }
    json_decref(good);
    unlink(path);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_emu_load(dir, &back, NULL)));
    tu_assert_error_reason(CCG_R_ATTEST_EMULATOR_STATE_INVALID);
    rmdir(dir);
    ccg_tdx_emu_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collateral_verifies_only_under_its_root),
        cmocka_unit_test(test_pcs_bodies),
        cmocka_unit_test(test_state_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
