/* The TDX verifier over the real quotes and Intel collateral in tests/vectors/tdx (copied, with
 * PROVENANCE.json), each giving the outcome the shared vectors' README names at a pinned time; plus the
 * parser on every prefix, trailing bytes, a flipped signed byte, and re-serialised signed JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"

#define DCAP_NOW "2025-07-19T10:00:34Z" /* 1752919234, the time dcap-qvl's sample verifies at */
#define OUTDATED_NOW "2026-03-01T00:00:00Z"

static void read_tdx(const char *rel, uint8_t **out, size_t *len)
{
    char path[256];
    snprintf(path, sizeof(path), "tdx/%s", rel);
    tu_read_vector(path, out, len);
}

static void load_collateral(const char *rel, ccg_tdx_collateral *col)
{
    uint8_t *text = NULL;
    size_t len = 0;
    read_tdx(rel, &text, &len);
    assert_true(ccg_ok(ccg_tdx_collateral_parse((const char *)text, len, col)));
    free(text);
}

static int has_reason(const ccg_decision *d, ccg_reason r)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        if (d->reasons.items[i].reason == r) {
            return 1;
        }
    }
    return 0;
}

static void first_reason(const ccg_decision *d, ccg_reason want)
{
    if (d->reasons.count == 0 || d->reasons.items[0].reason != want) {
        fail_msg("want %s first, got %s (%zu reasons)", ccg_reason_code(want),
                 d->reasons.count ? ccg_reason_code(d->reasons.items[0].reason) : "none", d->reasons.count);
    }
}

/* Verifies quote file + collateral file at now with the default policy (or p). */
static void verify(const char *quote_rel, const char *col_rel, const char *now, const ccg_tdx_policy *p,
                   ccg_tdx_result *r)
{
    uint8_t *raw = NULL, *quote = NULL;
    size_t raw_len = 0, len = 0;
    ccg_tdx_collateral col;
    ccg_tdx_verifier *v = NULL;
    memset(&col, 0, sizeof(col));
    read_tdx(quote_rel, &raw, &raw_len);
    assert_true(ccg_ok(ccg_tdx_quote_decode(raw, raw_len, &quote, &len)));
    if (col_rel != NULL) {
        load_collateral(col_rel, &col);
    }
    assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    assert_true(ccg_ok(ccg_tdx_verify(v, quote, len, col_rel != NULL ? &col : NULL, p, NULL, tu_time(now), r)));
    ccg_tdx_verifier_free(v);
    ccg_tdx_collateral_free(&col);
    free(raw);
    free(quote);
}

static void test_dcapqvl_up_to_date(void **state)
{
    (void)state;
    ccg_tdx_result r;
    verify("dcapqvl/tdx_quote", "dcapqvl/tdx_quote_collateral.json", DCAP_NOW, NULL, &r);
    assert_true(r.parsed);
    assert_int_equal(r.decision.reasons.count, 0);
    assert_true(r.decision.allow);
    assert_int_equal(r.status, CCG_TDX_STATUS_UP_TO_DATE);
    assert_int_equal(r.platform_status, CCG_TDX_STATUS_UP_TO_DATE);
    assert_int_equal(r.module_status, CCG_TDX_STATUS_UP_TO_DATE);
    assert_int_equal(r.qe_status, CCG_TDX_STATUS_UP_TO_DATE);
    assert_string_equal(r.fmspc, "b0c06f000000");
    json_t *tcb = json_object_get(r.decision.claims, "tcb");
    assert_int_equal(json_array_size(json_object_get(tcb, "advisory_ids")), 0);
    assert_string_equal(json_string_value(json_object_get(tcb, "status")), "UpToDate");
    json_t *td = json_object_get(r.decision.claims, "td");
    assert_string_equal(json_string_value(json_object_get(td, "body")), "td_report_1.0");
    assert_false(json_is_true(json_object_get(td, "debug")));
    ccg_tdx_result_free(&r);
}

/* The v5 / TD 1.5 quote: no platform TCB level matches (QVL: TCB_NOT_SUPPORTED), inside the window. */
static void test_dcapqvl_outdated_no_level(void **state)
{
    (void)state;
    const char *times[] = {"2026-02-18T11:00:00Z", OUTDATED_NOW, "2026-03-20T10:00:00Z"};
    for (size_t i = 0; i < 3; i++) {
        ccg_tdx_result r;
        verify("dcapqvl/tdx_quote_outdated", "dcapqvl/tdx_quote_outdated_collateral.json", times[i], NULL, &r);
        assert_true(r.parsed);
        first_reason(&r.decision, CCG_R_TDX_TCB_LEVEL_NOT_FOUND);
        assert_int_equal(r.decision.reasons.count, 1);
        assert_false(r.decision.allow);
        json_t *td = json_object_get(r.decision.claims, "td");
        assert_string_equal(json_string_value(json_object_get(td, "body")), "td_report_1.5");
        assert_non_null(json_object_get(td, "mrservicetd"));
        ccg_tdx_result_free(&r);
    }
}

/* The hex quote parses (text decoded) and, against the collateral of its FMSPC, has no TCB level. */
static void test_dcapqvl_hex(void **state)
{
    (void)state;
    ccg_tdx_result r;
    verify("dcapqvl/tdx-quote.hex", "dcapqvl/tdx_quote_collateral.json", DCAP_NOW, NULL, &r);
    assert_true(r.parsed);
    first_reason(&r.decision, CCG_R_TDX_TCB_LEVEL_NOT_FOUND);
    assert_string_equal(r.fmspc, "b0c06f000000");
    ccg_tdx_result_free(&r);
}

/* Trustee's real DEBUG TD (TDATTRIBUTES 0x10000001) is refused by the default policy, and only the
 * debug rule goes when a policy allows debug. */
static void test_trustee_debug_refused(void **state)
{
    (void)state;
    ccg_tdx_result r;
    ccg_tdx_policy *p = NULL;
    verify("trustee/tdx_quote_4.dat", NULL, "2025-06-01T00:00:00Z", NULL, &r);
    assert_true(r.parsed);
    first_reason(&r.decision, CCG_R_COLLATERAL_MISSING);
    assert_true(has_reason(&r.decision, CCG_R_TDX_DEBUG));
    json_t *td = json_object_get(r.decision.claims, "td");
    assert_string_equal(json_string_value(json_object_get(td, "td_attributes")), "0100001000000000");
    assert_true(json_is_true(json_object_get(td, "debug")));
    ccg_tdx_result_free(&r);
    const char *allow = "{\"policy_id\":\"dbg\",\"version\":1,\"debug_allowed\":true}";
    assert_true(ccg_ok(ccg_tdx_policy_parse(allow, strlen(allow), &p)));
    verify("trustee/tdx_quote_4.dat", NULL, "2025-06-01T00:00:00Z", p, &r);
    assert_false(has_reason(&r.decision, CCG_R_TDX_DEBUG));
    assert_false(r.decision.allow);
    ccg_tdx_result_free(&r);
    ccg_tdx_policy_free(p);
}

static void test_trustee_quote6_fmspc(void **state)
{
    (void)state;
    uint8_t *q = NULL;
    size_t len = 0;
    uint8_t fmspc[6];
    static const uint8_t WANT[6] = {0x00, 0xa0, 0x6d, 0x08, 0x00, 0x00};
    read_tdx("trustee/tdx_quote_6.dat", &q, &len);
    assert_true(ccg_ok(ccg_tdx_quote_fmspc(q, len, fmspc)));
    assert_memory_equal(fmspc, WANT, 6);
    free(q);
    ccg_tdx_result r;
    verify("trustee/tdx_quote_6.dat", NULL, "2025-06-01T00:00:00Z", NULL, &r);
    first_reason(&r.decision, CCG_R_COLLATERAL_MISSING);
    assert_int_equal(r.decision.reasons.count, 1); /* chain, QE report, binding and signature hold */
    ccg_tdx_result_free(&r);
}

/* Past the collateral's nextUpdate, and before its issue: the specific window codes. */
static void test_dcapqvl_windows(void **state)
{
    (void)state;
    ccg_tdx_result r;
    verify("dcapqvl/tdx_quote", "dcapqvl/tdx_quote_collateral.json", "2025-08-30T00:00:00Z", NULL, &r);
    first_reason(&r.decision, CCG_R_COLLATERAL_EXPIRED);
    ccg_tdx_result_free(&r);
    verify("dcapqvl/tdx_quote", "dcapqvl/tdx_quote_collateral.json", "2025-06-19T10:20:00Z", NULL, &r);
    assert_false(r.decision.allow);
    assert_true(has_reason(&r.decision, CCG_R_COLLATERAL_NOT_YET_VALID) ||
                has_reason(&r.decision, CCG_R_TDX_CERT_NOT_YET_VALID));
    ccg_tdx_result_free(&r);
}

static void verify_bytes(const uint8_t *q, size_t len, ccg_tdx_collateral *col, const char *now, ccg_tdx_result *r)
{
    ccg_tdx_verifier *v = NULL;
    assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    assert_true(ccg_ok(ccg_tdx_verify(v, q, len, col, NULL, NULL, tu_time(now), r)));
    ccg_tdx_verifier_free(v);
}

/* Every prefix is refused with a reason; bytes after the signature data are tolerated and unsigned;
 * a flipped byte of the TD report breaks the quote signature. */
static void test_dcapqvl_prefixes_trailing_flip(void **state)
{
    (void)state;
    uint8_t *q = NULL;
    size_t len = 0;
    ccg_tdx_collateral col;
    ccg_tdx_quote parsed;
    read_tdx("dcapqvl/tdx_quote", &q, &len);
    load_collateral("dcapqvl/tdx_quote_collateral.json", &col);
    assert_true(ccg_ok(ccg_tdx_quote_parse(q, len, &parsed)));
    size_t used = len - parsed.trailing;
    for (size_t n = 0; n < used; n += (n < 700 ? 1 : 13)) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_tdx_quote_parse(q, n, &parsed)));
        assert_int_not_equal(ccg_error_reason(), CCG_R_OK);
    }
    uint8_t *longer = calloc(len + 100, 1);
    assert_non_null(longer);
    memcpy(longer, q, len);
    memset(longer + len, 0xee, 100);
    ccg_tdx_result r;
    verify_bytes(longer, len + 100, &col, DCAP_NOW, &r);
    assert_true(r.decision.allow);
    ccg_tdx_result_free(&r);
    longer[48 + 200] ^= 1; /* inside MRTD */
    verify_bytes(longer, len + 100, &col, DCAP_NOW, &r);
    first_reason(&r.decision, CCG_R_TDX_QUOTE_SIGNATURE_INVALID);
    ccg_tdx_result_free(&r);
    free(longer);
    free(q);
    ccg_tdx_collateral_free(&col);
}

/* The TCB info and QE identity are verified over the bytes received: one added space (the same JSON
 * value) no longer verifies. */
static void test_signed_json_is_raw(void **state)
{
    (void)state;
    uint8_t *q = NULL;
    size_t len = 0;
    ccg_tdx_collateral col;
    ccg_tdx_result r;
    read_tdx("dcapqvl/tdx_quote", &q, &len);
    for (int which = 0; which < 2; which++) {
        load_collateral("dcapqvl/tdx_quote_collateral.json", &col);
        char **doc = which == 0 ? &col.tcb_info : &col.qe_identity;
        size_t *dlen = which == 0 ? &col.tcb_info_len : &col.qe_identity_len;
        char *spaced = malloc(*dlen + 2);
        assert_non_null(spaced);
        spaced[0] = '{';
        spaced[1] = ' ';
        memcpy(spaced + 2, *doc + 1, *dlen - 1);
        spaced[*dlen + 1] = '\0';
        free(*doc);
        *doc = spaced;
        *dlen += 1;
        verify_bytes(q, len, &col, DCAP_NOW, &r);
        first_reason(&r.decision, which == 0 ? CCG_R_TDX_TCB_INFO_SIGNATURE_INVALID : CCG_R_TDX_QE_IDENTITY_SIGNATURE_INVALID);
        ccg_tdx_result_free(&r);
        ccg_tdx_collateral_free(&col);
    }
    free(q);
}

/* The hex text and its binary parse alike. */
static void test_hex_and_binary_agree(void **state)
{
    (void)state;
    uint8_t *hex = NULL, *bin = NULL;
    size_t hex_len = 0, bin_len = 0;
    ccg_tdx_quote a;
    read_tdx("dcapqvl/tdx-quote.hex", &hex, &hex_len);
    assert_true(ccg_ok(ccg_tdx_quote_decode(hex, hex_len, &bin, &bin_len)));
    assert_true(ccg_ok(ccg_tdx_quote_parse(bin, bin_len, &a)));
    assert_int_equal(a.version, 4);
    assert_int_equal(a.body_type, CCG_TDX_BODY_TD10);
    free(hex);
    free(bin);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dcapqvl_up_to_date),
        cmocka_unit_test(test_dcapqvl_outdated_no_level),
        cmocka_unit_test(test_dcapqvl_hex),
        cmocka_unit_test(test_trustee_debug_refused),
        cmocka_unit_test(test_trustee_quote6_fmspc),
        cmocka_unit_test(test_dcapqvl_windows),
        cmocka_unit_test(test_dcapqvl_prefixes_trailing_flip),
        cmocka_unit_test(test_signed_json_is_raw),
        cmocka_unit_test(test_hex_and_binary_agree),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
