/* Signed reference values for TDX (docs/reference-values.md, "TDX records"): the record's MRTD and the
 * registers its "tdx" member pins; strict parsing; signatures that cover the pinned registers; and the
 * TDX policy's "reference_values" applied by the verifier to software-TD quotes: a match, each refusal
 * with its code, and a mismatch that names the differing registers of the closest build. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/refvalue.h"
#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

#define NOW "2026-01-15T00:00:00Z"
#define POLICY "{\"policy_id\":\"td-prod\",\"version\":1,\"reference_values\":{\"set_id\":\"acme-td\",\"minimum_version\":2}}"

static char *hex48(uint8_t fill)
{
    uint8_t b[48];
    memset(b, fill, 48);
    return ccg_hex_alloc(b, 48);
}

/* A "tdx" record: MRTD 48 x mrtd_fill, pinning RTMR1 (48 x rtmr1_fill) unless 0. */
static json_t *td_record(const char *id, const char *build, uint8_t mrtd_fill, uint8_t rtmr1_fill)
{
    char *m = hex48(mrtd_fill);
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "tee", "tdx", "measurement", m, "build_id",
                          build, "not_before", "2026-01-01T00:00:00Z", "not_after", "2026-06-01T00:00:00Z");
    if (rtmr1_fill != 0) {
        char *r1 = hex48(rtmr1_fill);
        json_object_set_new(r, "tdx", json_pack("{s:s}", "rtmr1", r1));
        free(r1);
    }
    free(m);
    return r;
}

static ccg_reason parse_reason(json_t *doc)
{
    ccg_refval_record r;
    ccg_error_clear();
    ccg_reason got = CCG_R_OK;
    if (ccg_ok(ccg_refval_record_parse(doc, &r))) {
        ccg_refval_record_free(&r);
    } else {
        got = ccg_error_reason();
    }
    json_decref(doc);
    return got;
}

static void test_record_parse(void **state)
{
    (void)state;
    ccg_refval_record r;
    json_t *doc = td_record("td-1", "b1", 0x7d, 0x11);
    json_t *tdx = json_object_get(doc, "tdx");
    char *z = hex48(0);
    json_object_set_new(tdx, "mrservicetd", json_string(z));
    assert_true(ccg_ok(ccg_refval_record_parse(doc, &r)));
    assert_string_equal(r.tee, "tdx");
    assert_int_equal(r.measurement_len, 48);
    assert_int_equal(r.tdx_mask, (1u << 1) | (1u << 7));
    assert_int_equal(r.tdx[1][0], 0x11);
    ccg_refval_record_free(&r);
    json_decref(doc);
    assert_string_equal(ccg_refval_tdx_field_name(0), "rtmr0");
    assert_string_equal(ccg_refval_tdx_field_name(7), "mrservicetd");
    assert_null(ccg_refval_tdx_field_name(8));

    /* Each defect: malformed. */
    doc = td_record("td-1", "b1", 0x7d, 0x11);
    json_object_set_new(json_object_get(doc, "tdx"), "rtmr4", json_string(z));
    assert_int_equal(parse_reason(doc), CCG_R_REFVAL_MALFORMED);
    doc = td_record("td-1", "b1", 0x7d, 0x11);
    json_object_set_new(json_object_get(doc, "tdx"), "rtmr2", json_string("00ff"));
    assert_int_equal(parse_reason(doc), CCG_R_REFVAL_MALFORMED);
    doc = td_record("td-1", "b1", 0x7d, 0);
    json_object_set_new(doc, "tdx", json_object());
    assert_int_equal(parse_reason(doc), CCG_R_REFVAL_MALFORMED);
    doc = td_record("td-1", "b1", 0x7d, 0);
    json_object_set_new(doc, "tdx", json_string("rtmr1"));
    assert_int_equal(parse_reason(doc), CCG_R_REFVAL_MALFORMED);
    doc = td_record("td-1", "b1", 0x7d, 0x11);
    json_object_set_new(doc, "tee", json_string("snp")); /* "tdx" registers on an SNP record */
    assert_int_equal(parse_reason(doc), CCG_R_REFVAL_MALFORMED);
    doc = td_record("td-1", "b1", 0x7d, 0);
    json_object_set_new(doc, "measurement", json_string("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    assert_int_equal(parse_reason(doc), CCG_R_REFVAL_MALFORMED); /* a 32-byte MRTD */
    free(z);
}

static EVP_PKEY *issuer_key;
static ccg_refval_issuers *issuers;

static int setup(void **state)
{
    (void)state;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    issuer_key = EVP_EC_gen("P-384");
    assert_non_null(issuer_key);
    assert_int_equal(PEM_write_bio_PUBKEY(bio, issuer_key), 1);
    long n = BIO_get_mem_data(bio, &pem);
    assert_true(ccg_ok(ccg_refval_issuers_new(&issuers)));
    assert_true(ccg_ok(ccg_refval_issuers_add_pem(issuers, "acme", (const uint8_t *)pem, (size_t)n)));
    BIO_free(bio);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ccg_refval_issuers_free(issuers);
    EVP_PKEY_free(issuer_key);
    return 0;
}

/* A set of the given records (consumed), signed by "acme" unless unsigned_too. */
static ccg_refval_set *make_set(const char *set_id, int version, json_t **records, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        assert_true(ccg_ok(ccg_refval_sign(records[i], issuer_key, "acme")));
        json_array_append_new(arr, records[i]);
    }
    json_t *doc = json_pack("{s:s, s:i, s:o}", "set_id", set_id, "version", version, "records", arr);
    char *text = json_dumps(doc, JSON_COMPACT);
    ccg_refval_set *set = NULL;
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    free(text);
    json_decref(doc);
    return set;
}

static void test_signature_covers_registers(void **state)
{
    (void)state;
    ccg_refval_record r;
    ccg_decision d;
    json_t *doc = td_record("td-1", "b1", 0x7d, 0x11);
    assert_true(ccg_ok(ccg_refval_sign(doc, issuer_key, "acme")));
    char *r2 = hex48(0x12);
    json_object_set_new(json_object_get(doc, "tdx"), "rtmr1", json_string(r2)); /* after signing */
    free(r2);
    assert_true(ccg_ok(ccg_refval_record_parse(doc, &r)));
    ccg_decision_init(&d, "refval");
    assert_false(ccg_refval_record_check(&r, "tdx", issuers, tu_time(NOW), &d));
    assert_int_equal(d.reasons.items[0].reason, CCG_R_REFVAL_SIGNATURE_INVALID);
    ccg_decision_free(&d);
    ccg_refval_record_free(&r);
    json_decref(doc);
}

typedef struct {
    ccg_tdx_emu *emu;
    ccg_tdx_collateral col;
    ccg_tdx_verifier *v;
    ccg_tdx_policy *policy;
} env;

static void env_init(env *e)
{
    ccg_tdx_emu_opts o;
    ccg_tdx_emu_collateral c;
    ccg_tdx_emu_collateral_opts co = {.now = tu_time(NOW)};
    char *bundle = NULL, *pem = NULL;
    STACK_OF(X509) *certs = sk_X509_new_null();
    memset(e, 0, sizeof(*e));
    ccg_tdx_emu_opts_default(tu_time(NOW), &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &e->emu)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(e->emu, &co, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &bundle)));
    assert_true(ccg_ok(ccg_tdx_collateral_parse(bundle, strlen(bundle), &e->col)));
    assert_true(ccg_ok(ccg_tdx_verifier_new(&e->v)));
    pem = ccg_tdx_emu_root_pem(e->emu);
    assert_true(ccg_ok(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs)));
    assert_true(ccg_ok(ccg_tdx_verifier_add_test_root(e->v, sk_X509_value(certs, 0))));
    assert_true(ccg_ok(ccg_tdx_policy_parse(POLICY, strlen(POLICY), &e->policy)));
    sk_X509_pop_free(certs, X509_free);
    free(pem);
    free(bundle);
    ccg_tdx_emu_collateral_free(&c);
}

static void env_free(env *e)
{
    ccg_tdx_policy_free(e->policy);
    ccg_tdx_verifier_free(e->v);
    ccg_tdx_collateral_free(&e->col);
    ccg_tdx_emu_free(e->emu);
}

/* The first reason of verifying a TD (MRTD 48 x mrtd, RTMR1 48 x rtmr1) against set; OK on allow. */
static ccg_reason verify_td(env *e, uint8_t mrtd, uint8_t rtmr1, const ccg_refval_set *set, const char *now,
                            json_t **details)
{
    ccg_tdx_emu_td td;
    ccg_tdx_result r;
    uint8_t *q = NULL;
    size_t len = 0;
    ccg_tdx_emu_td_default(&td);
    memset(td.mrtd, mrtd, 48);
    memset(td.rtmr[1], rtmr1, 48);
    assert_true(ccg_ok(ccg_tdx_emu_quote(e->emu, &td, &q, &len)));
    ccg_tdx_verify_opts opts = {.refvals = set, .issuers = issuers};
    assert_true(ccg_ok(ccg_tdx_verify(e->v, q, len, &e->col, e->policy, &opts, tu_time(now), &r)));
    ccg_reason got = r.decision.allow ? CCG_R_OK : r.decision.reasons.items[0].reason;
    if (details != NULL) {
        *details = r.decision.allow ? NULL : json_incref(r.decision.reasons.items[0].details);
    }
    ccg_tdx_result_free(&r);
    free(q);
    return got;
}

static void test_policy_reference_values(void **state)
{
    (void)state;
    env e;
    json_t *det = NULL;
    env_init(&e);
    json_t *recs[] = {td_record("td-42", "build-42", 0x7d, 0x11), td_record("td-43", "build-43", 0x7e, 0x11),
                      td_record("td-any-rtmr", "build-44", 0x7f, 0)};
    ccg_refval_set *set = make_set("acme-td", 2, recs, 3);
    /* MRTD and the pinned RTMR1 match. */
    assert_int_equal(verify_td(&e, 0x7d, 0x11, set, NOW, NULL), CCG_R_OK);
    /* A record pinning MRTD only accepts any RTMR1. */
    assert_int_equal(verify_td(&e, 0x7f, 0x99, set, NOW, NULL), CCG_R_OK);
    /* RTMR1 differs: mismatch naming build-42 and RTMR1. */
    assert_int_equal(verify_td(&e, 0x7d, 0x12, set, NOW, &det), CCG_R_REFVAL_MEASUREMENT_MISMATCH);
    assert_string_equal(json_string_value(json_object_get(det, "closest_build_id")), "build-42");
    json_t *f = json_object_get(det, "mismatched_fields");
    assert_int_equal(json_array_size(f), 1);
    assert_string_equal(json_string_value(json_array_get(f, 0)), "rtmr1");
    assert_string_equal(json_string_value(json_object_get(det, "set_id")), "acme-td");
    json_decref(det);
    /* MRTD nobody approved. */
    assert_int_equal(verify_td(&e, 0x01, 0x11, set, NOW, &det), CCG_R_REFVAL_MEASUREMENT_MISMATCH);
    f = json_object_get(det, "mismatched_fields");
    assert_string_equal(json_string_value(json_array_get(f, 0)), "mrtd");
    json_decref(det);
    ccg_refval_set_free(set);
    /* Past the record's validity. */
    json_t *old = td_record("td-42", "build-42", 0x7d, 0x11);
    json_object_set_new(old, "not_after", json_string("2026-01-10T00:00:00Z"));
    json_t *r0[] = {old};
    set = make_set("acme-td", 2, r0, 1);
    assert_int_equal(verify_td(&e, 0x7d, 0x11, set, NOW, NULL), CCG_R_REFVAL_EXPIRED);
    ccg_refval_set_free(set);
    /* No set, or an older version of it. */
    assert_int_equal(verify_td(&e, 0x7d, 0x11, NULL, NOW, NULL), CCG_R_REFVAL_SET_MISSING);
    json_t *r1[] = {td_record("td-42", "build-42", 0x7d, 0x11)};
    set = make_set("acme-td", 1, r1, 1);
    assert_int_equal(verify_td(&e, 0x7d, 0x11, set, NOW, NULL), CCG_R_REFVAL_SET_MISSING);
    ccg_refval_set_free(set);
    /* An SNP record with the same measurement does not approve a TD. */
    char *m = hex48(0x7d);
    json_t *snp = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", "snp-1", "tee", "snp", "measurement", m,
                            "build_id", "b", "not_before", "2026-01-01T00:00:00Z", "not_after", "2026-06-01T00:00:00Z");
    free(m);
    json_t *r2[] = {snp};
    set = make_set("acme-td", 2, r2, 1);
    assert_int_equal(verify_td(&e, 0x7d, 0x11, set, NOW, NULL), CCG_R_REFVAL_MEASUREMENT_MISMATCH);
    ccg_refval_set_free(set);
    env_free(&e);
}

/* Refusals of the record that holds the TD are reported, not a mismatch. */
static void test_record_refusals(void **state)
{
    (void)state;
    env e;
    env_init(&e);
    json_t *doc = td_record("td-42", "build-42", 0x7d, 0x11);
    assert_true(ccg_ok(ccg_refval_sign(doc, issuer_key, "mallory"))); /* an issuer nobody trusts */
    json_t *arr = json_pack("[o]", doc);
    json_t *set_doc = json_pack("{s:s, s:i, s:o}", "set_id", "acme-td", "version", 2, "records", arr);
    char *text = json_dumps(set_doc, JSON_COMPACT);
    ccg_refval_set *set = NULL;
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &set)));
    json_t *det = NULL;
    assert_int_equal(verify_td(&e, 0x7d, 0x11, set, NOW, &det), CCG_R_REFVAL_ISSUER_UNKNOWN);
    assert_string_equal(json_string_value(json_object_get(det, "refval_id")), "td-42");
    json_decref(det);
    ccg_refval_set_free(set);
    free(text);
    json_decref(set_doc);
    env_free(&e);
}

static void test_policy_parse(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "{\"policy_id\":\"p\",\"version\":1,\"reference_values\":\"acme\"}",
        "{\"policy_id\":\"p\",\"version\":1,\"reference_values\":{}}",
        "{\"policy_id\":\"p\",\"version\":1,\"reference_values\":{\"set_id\":\"\"}}",
        "{\"policy_id\":\"p\",\"version\":1,\"reference_values\":{\"set_id\":\"a\",\"minimum_version\":0}}",
    };
    ccg_tdx_policy *p = NULL;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_tdx_policy_parse(BAD[i], strlen(BAD[i]), &p)));
        tu_assert_error_reason(CCG_R_POLICY_INVALID_VALUE);
    }
    const char *unknown = "{\"policy_id\":\"p\",\"version\":1,\"reference_values\":{\"set_id\":\"a\",\"latest\":true}}";
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_policy_parse(unknown, strlen(unknown), &p)));
    tu_assert_error_reason(CCG_R_POLICY_UNKNOWN_KEY);
    assert_true(ccg_ok(ccg_tdx_policy_parse(POLICY, strlen(POLICY), &p)));
    assert_true(p->has_refval_set);
    assert_string_equal(p->refval_set_id, "acme-td");
    assert_int_equal(p->refval_min_version, 2);
    ccg_tdx_policy_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_parse),
        cmocka_unit_test(test_signature_covers_registers),
        cmocka_unit_test(test_policy_reference_values),
        cmocka_unit_test(test_record_refusals),
        cmocka_unit_test(test_policy_parse),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
