/* TDX collateral from a store of named blobs (include/ccgate/tdx_collateral_store.h): the IDs a quote
 * needs, all-or-nothing joining (never a mix with another source), and the checks an upload passes
 * before it is stored. The software TD (tdx_emulator.h) makes the quote and its collateral. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/tdx_collateral_store.h"
#include "ccgate/tdx_emulator.h"

#define NOW "2026-01-15T00:00:00Z"

#define EXPECT_FAIL(call, reason)      \
    do {                               \
        ccg_error_clear();             \
        assert_true(ccg_failed(call)); \
        tu_assert_error_reason(reason); \
    } while (0)

enum { TCB, QE, PCK, ROOT, N_ITEMS };
static const char *const IDS[N_ITEMS] = {"tdx/tcb_info/00906ED50000", "tdx/qe_identity", "tdx/pck_crl/platform",
                                         "tdx/root_ca_crl"};

typedef struct {
    ccg_tdx_emu *emu;
    uint8_t *quote;
    size_t quote_len;
    char *item[N_ITEMS];     /* the PCS-response form for the signed documents */
    char *pair[2];           /* TCB info and QE identity as (document, signature) */
    char *expired[N_ITEMS];  /* the same items past their nextUpdate */
    char *bundle;            /* the emulator's own bundle, for comparison */
} fixture;

static fixture F;

static char *dump(json_t *o)
{
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    assert_non_null(s);
    return s;
}

static void make_items(const ccg_tdx_emu_collateral *c, char *items[N_ITEMS], char *pair[2])
{
    char *tcb = NULL, *qe = NULL, *pck_hex = ccg_hex_alloc(c->pck_crl, c->pck_crl_len),
         *root_hex = ccg_hex_alloc(c->root_crl, c->root_crl_len);
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(c, 0, &tcb)));
    assert_true(ccg_ok(ccg_tdx_emu_pcs_body(c, 1, &qe)));
    items[TCB] = dump(json_pack("{s:s,s:s}", "tcb_info_response", tcb, "tcb_info_issuer_chain", c->tcb_chain_pem));
    items[QE] = dump(json_pack("{s:s,s:s}", "qe_identity_response", qe, "qe_identity_issuer_chain", c->tcb_chain_pem));
    items[PCK] = dump(json_pack("{s:s,s:s}", "pck_crl", pck_hex, "pck_crl_issuer_chain", c->crl_chain_pem));
    items[ROOT] = dump(json_pack("{s:s}", "root_ca_crl", root_hex));
    if (pair != NULL) {
        pair[0] = dump(json_pack("{s:s,s:s,s:s}", "tcb_info", c->tcb_info, "tcb_info_signature", c->tcb_info_sig,
                                 "tcb_info_issuer_chain", c->tcb_chain_pem));
        pair[1] = dump(json_pack("{s:s,s:s,s:s}", "qe_identity", c->qe_identity, "qe_identity_signature",
                                 c->qe_identity_sig, "qe_identity_issuer_chain", c->tcb_chain_pem));
    }
    free(tcb);
    free(qe);
    free(pck_hex);
    free(root_hex);
}

static int group_setup(void **state)
{
    (void)state;
    ccg_tdx_emu_opts o;
    ccg_tdx_emu_td td;
    ccg_tdx_emu_collateral c, old;
    ccg_tdx_emu_collateral_opts co = {.now = tu_time(NOW)}, exp = {.now = tu_time(NOW), .expired = 1};
    ccg_tdx_emu_opts_default(tu_time(NOW), &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &F.emu)));
    ccg_tdx_emu_td_default(&td);
    assert_true(ccg_ok(ccg_tdx_emu_quote(F.emu, &td, &F.quote, &F.quote_len)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(F.emu, &co, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(F.emu, &exp, &old)));
    make_items(&c, F.item, F.pair);
    make_items(&old, F.expired, NULL);
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &F.bundle)));
    ccg_tdx_emu_collateral_free(&c);
    ccg_tdx_emu_collateral_free(&old);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    for (int i = 0; i < N_ITEMS; i++) {
        free(F.item[i]);
        free(F.expired[i]);
    }
    free(F.pair[0]);
    free(F.pair[1]);
    free(F.bundle);
    free(F.quote);
    ccg_tdx_emu_free(F.emu);
    return 0;
}

/* ---------------------------------------------------------------- a store of four slots */

typedef struct {
    const char *id[N_ITEMS];
    const char *blob[N_ITEMS];
    int fail;
} store;

static ccg_result lookup(void *ctx, const char *collateral_id, uint8_t **out, size_t *out_len, int *found)
{
    ccg_result result = CCG_FAILURE;
    store *s = ctx;
    *out = NULL;
    *out_len = 0;
    *found = 0;
    CCG_ENSURE_MSG(!s->fail, CCG_R_STORE_UNAVAILABLE, "the store is down");
    for (int i = 0; i < N_ITEMS; i++) {
        if (s->id[i] != NULL && s->blob[i] != NULL && strcmp(s->id[i], collateral_id) == 0) {
            *out = (uint8_t *)strdup(s->blob[i]);
            CCG_ENSURE_ALLOC(*out);
            *out_len = strlen(s->blob[i]);
            *found = 1;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static store full(void)
{
    store s = {.id = {IDS[TCB], IDS[QE], IDS[PCK], IDS[ROOT]},
               .blob = {F.item[TCB], F.item[QE], F.item[PCK], F.item[ROOT]}};
    return s;
}

/* ---------------------------------------------------------------- joining */

static void test_ids(void **state)
{
    (void)state;
    char ids[CCG_TDX_COLLATERAL_ITEMS][CCG_TDX_COLLATERAL_ID_MAX];
    assert_true(ccg_ok(ccg_tdx_collateral_ids(F.quote, F.quote_len, ids)));
    for (int i = 0; i < N_ITEMS; i++) {
        assert_string_equal(ids[i], IDS[i]);
    }
    EXPECT_FAIL(ccg_tdx_collateral_ids(F.quote, 10, ids), CCG_R_INPUT_TRUNCATED);
}

static void test_nothing_stored(void **state)
{
    (void)state;
    store s = {0};
    ccg_tdx_collateral col;
    int found = 1;
    assert_true(ccg_ok(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found)));
    assert_int_equal(found, 0);
    /* a quote that names no PCK: nothing uploaded applies; the verifier will name its defect */
    s = full();
    found = 1;
    assert_true(ccg_ok(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, 10, &col, &found)));
    assert_int_equal(found, 0);
}

static void test_all_four_join_as_the_bundle(void **state)
{
    (void)state;
    store s = full();
    ccg_tdx_collateral col, want;
    int found = 0;
    assert_true(ccg_ok(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found)));
    assert_int_equal(found, 1);
    assert_true(ccg_ok(ccg_tdx_collateral_parse(F.bundle, strlen(F.bundle), &want)));
    /* the signed bytes exactly as signed, whichever form was uploaded */
    assert_int_equal(col.tcb_info_len, want.tcb_info_len);
    assert_memory_equal(col.tcb_info, want.tcb_info, want.tcb_info_len);
    assert_memory_equal(col.tcb_info_sig, want.tcb_info_sig, 64);
    assert_int_equal(col.qe_identity_len, want.qe_identity_len);
    assert_memory_equal(col.qe_identity, want.qe_identity, want.qe_identity_len);
    assert_int_equal(col.pck_crl_len, want.pck_crl_len);
    assert_memory_equal(col.pck_crl, want.pck_crl, want.pck_crl_len);
    assert_int_equal(col.root_ca_crl_len, want.root_ca_crl_len);
    ccg_tdx_collateral_free(&col);
    /* the (document, signature) forms join alike */
    s.blob[TCB] = F.pair[0];
    s.blob[QE] = F.pair[1];
    assert_true(ccg_ok(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found)));
    assert_memory_equal(col.tcb_info, want.tcb_info, want.tcb_info_len);
    assert_memory_equal(col.qe_identity_sig, want.qe_identity_sig, 64);
    ccg_tdx_collateral_free(&col);
    ccg_tdx_collateral_free(&want);
}

static void test_some_missing_names_them(void **state)
{
    (void)state;
    store s = full();
    ccg_tdx_collateral col;
    int found = 0;
    s.blob[QE] = NULL;
    s.blob[ROOT] = NULL;
    EXPECT_FAIL(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found),
                CCG_R_COLLATERAL_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "tdx/qe_identity, tdx/root_ca_crl"));
    assert_int_equal(found, 0);
    s = full();
    s.blob[TCB] = NULL; /* any single one */
    EXPECT_FAIL(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found),
                CCG_R_COLLATERAL_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "tdx/tcb_info/00906ED50000"));
}

static void test_wrong_item_and_store_failure(void **state)
{
    (void)state;
    store s = full();
    ccg_tdx_collateral col;
    int found = 0;
    s.blob[TCB] = F.item[ROOT]; /* a CRL where the TCB info belongs */
    EXPECT_FAIL(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found),
                CCG_R_TDX_COLLATERAL_MALFORMED);
    assert_non_null(strstr(ccg_error_last()->message, IDS[TCB]));
    s = full();
    s.blob[PCK] = "[]";
    EXPECT_FAIL(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found),
                CCG_R_TDX_COLLATERAL_MALFORMED);
    s = full();
    s.fail = 1;
    EXPECT_FAIL(ccg_tdx_collateral_from_lookup(lookup, &s, F.quote, F.quote_len, &col, &found),
                CCG_R_STORE_UNAVAILABLE);
}

/* ---------------------------------------------------------------- upload checks */

static ccg_result check(const char *id, const char *blob)
{
    return ccg_tdx_collateral_item_check(id, (const uint8_t *)blob, strlen(blob), tu_time(NOW));
}

static void test_upload_accepts_each_item(void **state)
{
    (void)state;
    for (int i = 0; i < N_ITEMS; i++) {
        assert_true(ccg_ok(check(IDS[i], F.item[i])));
    }
    assert_true(ccg_ok(check(IDS[TCB], F.pair[0])));
    assert_true(ccg_ok(check(IDS[QE], F.pair[1])));
    assert_true(ccg_ok(check("tdx/pck_crl/processor", F.item[PCK])));
    assert_true(ccg_tdx_collateral_id_is_tdx(IDS[ROOT]));
    assert_false(ccg_tdx_collateral_id_is_tdx("snp/milan/crl"));
}

static void test_upload_refuses_stale(void **state)
{
    (void)state;
    for (int i = 0; i < N_ITEMS; i++) {
        EXPECT_FAIL(check(IDS[i], F.expired[i]), CCG_R_COLLATERAL_EXPIRED);
    }
}

static void test_upload_refuses_ids_naming_no_item(void **state)
{
    (void)state;
    static const char *const bad[] = {"tdx/tcb_info/00906ed50000", "tdx/tcb_info/00906ED5000", "tdx/tcb_info/",
                                      "tdx/pck_crl/other", "tdx/qe_identity/x", "tdx/", "tdx/root_ca_crl/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        EXPECT_FAIL(check(bad[i], F.item[TCB]), CCG_R_ADMIN_REQUEST_MALFORMED);
    }
}

static void test_upload_refuses_bytes_that_cannot_serve(void **state)
{
    (void)state;
    json_t *o;
    char *s;
    EXPECT_FAIL(check("tdx/tcb_info/00906ED50001", F.item[TCB]), CCG_R_TDX_COLLATERAL_MALFORMED); /* other FMSPC */
    EXPECT_FAIL(check(IDS[TCB], F.item[QE]), CCG_R_TDX_COLLATERAL_MALFORMED);
    EXPECT_FAIL(check(IDS[ROOT], F.item[PCK]), CCG_R_TDX_COLLATERAL_MALFORMED); /* a member of another item */
    EXPECT_FAIL(check(IDS[QE], "{}"), CCG_R_TDX_COLLATERAL_MALFORMED);
    EXPECT_FAIL(check(IDS[QE], "not json"), CCG_R_TDX_COLLATERAL_MALFORMED);
    /* both forms at once */
    o = json_loads(F.pair[0], 0, NULL);
    json_t *resp = json_loads(F.item[TCB], 0, NULL);
    json_object_set(o, "tcb_info_response", json_object_get(resp, "tcb_info_response"));
    s = dump(o);
    EXPECT_FAIL(check(IDS[TCB], s), CCG_R_TDX_COLLATERAL_MALFORMED);
    free(s);
    json_decref(resp);
    /* a signature that is not 64 bytes of hex */
    o = json_loads(F.pair[1], 0, NULL);
    json_object_set_new(o, "qe_identity_signature", json_string("abcd"));
    s = dump(o);
    EXPECT_FAIL(check(IDS[QE], s), CCG_R_TDX_COLLATERAL_MALFORMED);
    free(s);
    /* an issuer chain of one certificate, or none */
    o = json_loads(F.item[PCK], 0, NULL);
    json_object_set_new(o, "pck_crl_issuer_chain", json_string("no PEM here"));
    s = dump(o);
    EXPECT_FAIL(check(IDS[PCK], s), CCG_R_TDX_COLLATERAL_MALFORMED);
    free(s);
    /* a CRL that is not one */
    s = dump(json_pack("{s:s}", "root_ca_crl", "00ff"));
    EXPECT_FAIL(check(IDS[ROOT], s), CCG_R_TDX_COLLATERAL_MALFORMED);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_nothing_stored),
        cmocka_unit_test(test_all_four_join_as_the_bundle),
        cmocka_unit_test(test_some_missing_names_them),
        cmocka_unit_test(test_wrong_item_and_store_failure),
        cmocka_unit_test(test_upload_accepts_each_item),
        cmocka_unit_test(test_upload_refuses_stale),
        cmocka_unit_test(test_upload_refuses_ids_naming_no_item),
        cmocka_unit_test(test_upload_refuses_bytes_that_cannot_serve),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
