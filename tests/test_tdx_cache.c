/* The TDX verifier's cache of verified chains and collateral (docs/tdx-quote.md, "Verified-collateral
 * cache") changes only how fast a decision comes, never the decision: a differential test. One software
 * TD (one set of keys), many quotes (good, debug, OutOfDate, wrong signature, broken binding, changed
 * bytes) and collateral variants (current, expired, revoking the PCK, a changed byte), at many times
 * (inside every window, before issue, after nextUpdate, at each window's exact edges, after the
 * certificates expire). Every combination is verified by a fresh verifier and by one warm verifier that
 * has verified everything before it; the decisions, reasons and claims must be identical. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

#define NOW "2026-01-15T00:00:00Z"
#define DAY (24 * 3600)
#define YEAR (365 * DAY)

static void add_root(ccg_tdx_verifier *v, const ccg_tdx_emu *e)
{
    char *pem = ccg_tdx_emu_root_pem(e);
    STACK_OF(X509) *certs = sk_X509_new_null();
    assert_true(ccg_ok(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs)));
    assert_true(ccg_ok(ccg_tdx_verifier_add_test_root(v, sk_X509_value(certs, 0))));
    sk_X509_pop_free(certs, X509_free);
    free(pem);
}

static char *outcome(const ccg_tdx_verifier *v, const uint8_t *q, size_t len, const ccg_tdx_collateral *col,
                     ccg_time now)
{
    ccg_tdx_result r;
    assert_true(ccg_ok(ccg_tdx_verify(v, q, len, col, NULL, NULL, now, &r)));
    json_t *j = ccg_decision_to_json(&r.decision);
    if (r.decision.claims != NULL) {
        json_object_set(j, "claims", r.decision.claims);
    }
    json_object_set_new(j, "statuses", json_pack("[i, i, i, i, i]", r.status, r.platform_status, r.sgx_status,
                                                 r.module_status, r.qe_status));
    char *text = json_dumps(j, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(j);
    ccg_tdx_result_free(&r);
    return text;
}

typedef struct {
    uint8_t *q;
    size_t len;
} quote;

static quote make_quote(const ccg_tdx_emu *e, void (*edit)(ccg_tdx_emu_td *))
{
    ccg_tdx_emu_td td;
    quote out;
    ccg_tdx_emu_td_default(&td);
    if (edit != NULL) {
        edit(&td);
    }
    assert_true(ccg_ok(ccg_tdx_emu_quote(e, &td, &out.q, &out.len)));
    return out;
}

static void e_debug(ccg_tdx_emu_td *td) { td->td_attributes |= 1; }
static void e_old(ccg_tdx_emu_td *td) { td->tee_tcb_svn[0] = 4; }
static void e_qe_old(ccg_tdx_emu_td *td) { td->qe_isvsvn = 7; }
static void e_other_key(ccg_tdx_emu_td *td) { td->sign_with_other_key = 1; }
static void e_binding(ccg_tdx_emu_td *td) { td->bad_binding = 1; }
static void e_report_data(ccg_tdx_emu_td *td) { memset(td->report_data, 0x42, 64); }
static void e_td15(ccg_tdx_emu_td *td)
{
    td->version = 5;
    td->body_type = 3;
}
static void e_off_curve(ccg_tdx_emu_td *td) { td->att_key_off_curve = 1; }

static void collateral(const ccg_tdx_emu *e, ccg_time now, int expired, int revoke, int flip, ccg_tdx_collateral *out)
{
    ccg_tdx_emu_collateral c;
    ccg_tdx_emu_collateral_opts o = {.now = now, .expired = expired, .revoke_pck = revoke};
    char *bundle = NULL;
    assert_true(ccg_ok(ccg_tdx_emu_collateral_make(e, &o, &c)));
    assert_true(ccg_ok(ccg_tdx_emu_collateral_bundle(&c, &bundle)));
    assert_true(ccg_ok(ccg_tdx_collateral_parse(bundle, strlen(bundle), out)));
    if (flip) {
        out->tcb_info[20] ^= 1; /* a byte of the signed TCB info */
    }
    free(bundle);
    ccg_tdx_emu_collateral_free(&c);
}

static void test_cached_decisions_equal_fresh(void **state)
{
    (void)state;
    ccg_tdx_emu_opts o;
    ccg_tdx_emu *e = NULL;
    ccg_time now = tu_time(NOW);
    ccg_tdx_emu_opts_default(now, &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &e)));

    void (*edits[])(ccg_tdx_emu_td *) = {NULL,        e_debug,   e_old,         e_qe_old,   e_other_key,
                                         e_binding,   e_td15,    e_report_data, e_off_curve};
    size_t nq = sizeof(edits) / sizeof(edits[0]);
    quote quotes[16];
    for (size_t i = 0; i < nq; i++) {
        quotes[i] = make_quote(e, edits[i]);
    }
    /* One more: a good quote with a changed body byte after signing. */
    quotes[nq] = make_quote(e, NULL);
    quotes[nq].q[200] ^= 1;
    nq++;

    ccg_tdx_collateral cols[4];
    collateral(e, now, 0, 0, 0, &cols[0]);
    collateral(e, now, 1, 0, 0, &cols[1]);
    collateral(e, now, 0, 1, 0, &cols[2]);
    collateral(e, now, 0, 0, 1, &cols[3]);

    /* Inside every window; around the collateral's issue (a day before now) and nextUpdate (30 days
     * after); around the certificates' notAfter (a year after creation); long after. */
    ccg_time times[] = {now,           now + 29 * DAY,    now - DAY,      now - DAY - 1, now - DAY + 1,
                        now + 30 * DAY, now + 30 * DAY + 1, now + YEAR - 1, now + YEAR,    now + YEAR + 1,
                        now - YEAR,    now - YEAR + 1,    now + 3 * YEAR};
    size_t nt = sizeof(times) / sizeof(times[0]);

    ccg_tdx_verifier *warm = NULL;
    assert_true(ccg_ok(ccg_tdx_verifier_new(&warm)));
    add_root(warm, e);
    /* Warm it with the good quote and each collateral at now. */
    for (size_t c = 0; c < 4; c++) {
        free(outcome(warm, quotes[0].q, quotes[0].len, &cols[c], now));
    }
    size_t compared = 0, allowed = 0;
    for (size_t t = 0; t < nt; t++) {
        for (size_t c = 0; c < 4; c++) {
            for (size_t i = 0; i < nq; i++) {
                ccg_tdx_verifier *fresh = NULL;
                assert_true(ccg_ok(ccg_tdx_verifier_new(&fresh)));
                add_root(fresh, e);
                char *a = outcome(fresh, quotes[i].q, quotes[i].len, &cols[c], times[t]);
                char *b = outcome(warm, quotes[i].q, quotes[i].len, &cols[c], times[t]);
                if (strcmp(a, b) != 0) {
                    fail_msg("quote %zu, collateral %zu, time %zu:\nfresh %s\nwarm  %s", i, c, t, a, b);
                }
                allowed += strstr(a, "\"decision\":\"allow\"") != NULL;
                compared++;
                free(a);
                free(b);
                ccg_tdx_verifier_free(fresh);
            }
        }
    }
    ccg_tdx_verifier_stats st;
    ccg_tdx_verifier_stats_get(warm, &st);
    print_message("%zu combinations compared, %zu allowed; the warm verifier: %llu fast, %llu full\n", compared,
                  allowed, (unsigned long long)st.fast, (unsigned long long)st.full);
    assert_int_equal(st.fast + st.full, compared + 4);
    /* Every allow of the warm verifier came from the cache (so did policy denials of verified quotes). */
    assert_true(st.fast >= allowed && allowed > 0);
    assert_true(allowed >= 3); /* the good quote, TD 1.5 and other REPORT_DATA, inside the windows */
    for (size_t c = 0; c < 4; c++) {
        ccg_tdx_collateral_free(&cols[c]);
    }
    for (size_t i = 0; i < nq; i++) {
        free(quotes[i].q);
    }
    ccg_tdx_verifier_free(warm);
    ccg_tdx_emu_free(e);
}

/* A root a warm verifier does not trust stays untrusted, however warm the cache. */
static void test_other_verifier_other_roots(void **state)
{
    (void)state;
    ccg_tdx_emu_opts o;
    ccg_tdx_emu *e = NULL;
    ccg_time now = tu_time(NOW);
    ccg_tdx_emu_opts_default(now, &o);
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &e)));
    quote q = make_quote(e, NULL);
    ccg_tdx_collateral col;
    collateral(e, now, 0, 0, 0, &col);
    ccg_tdx_verifier *trusting = NULL, *plain = NULL;
    assert_true(ccg_ok(ccg_tdx_verifier_new(&trusting)));
    assert_true(ccg_ok(ccg_tdx_verifier_new(&plain)));
    add_root(trusting, e);
    char *a = outcome(trusting, q.q, q.len, &col, now);
    assert_non_null(strstr(a, "\"decision\":\"allow\""));
    char *b = outcome(plain, q.q, q.len, &col, now);
    assert_non_null(strstr(b, "tdx.untrusted_root"));
    free(a);
    free(b);
    ccg_tdx_collateral_free(&col);
    free(q.q);
    ccg_tdx_verifier_free(trusting);
    ccg_tdx_verifier_free(plain);
    ccg_tdx_emu_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cached_decisions_equal_fresh),
        cmocka_unit_test(test_other_verifier_other_roots),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
