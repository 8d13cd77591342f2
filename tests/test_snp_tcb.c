/* TCB status and advisories (issue 10, item 3): signed TCB baselines per product, the statuses UpToDate,
 * OutOfDate, RolledBack and Unknown, and the policy's "tcb" rules, each refusal by its reason code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"

#include "ccgate/snp_emulator.h"
#include "ccgate/snp_verify.h"

#define NOW "2026-06-01T00:00:00Z"
#define NB "2026-01-01T00:00:00Z"
#define NA "2027-01-01T00:00:00Z"
#define ISSUER "amd-authority"

enum { MILAN, GENOA, TURIN, EMU_N };

typedef struct {
    ccg_snp_emulator *emu[EMU_N];
    ccg_snp_verifier *v;
    EVP_PKEY *authority;
    ccg_refval_issuers *iss;
    ccg_snp_tcb_baselines set;
    ccg_snp_collateral col;
    ccg_decision d;
    uint8_t report[CCG_SNP_REPORT_SIZE];
} fixture;

static const ccg_snp_product products[EMU_N] = {CCG_SNP_PRODUCT_MILAN, CCG_SNP_PRODUCT_GENOA, CCG_SNP_PRODUCT_TURIN};

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_true(ccg_ok(ccg_snp_verifier_new(&f->v)));
    for (int i = 0; i < EMU_N; i++) {
        ccg_snp_emulator_config cfg;
        ccg_snp_emulator_config_init(&cfg, products[i], CCG_SNP_SIGNER_VCEK);
        assert_true(ccg_ok(ccg_snp_emulator_new(&cfg, &f->emu[i])));
        assert_true(ccg_ok(ccg_snp_verifier_add_root(f->v, products[i], ccg_snp_emulator_ark(f->emu[i]))));
    }
    f->authority = tu_authority_key();
    f->iss = tu_issuers_with(f->authority, ISSUER);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < EMU_N; i++) {
        ccg_snp_emulator_free(f->emu[i]);
    }
    ccg_snp_verifier_free(f->v);
    ccg_refval_issuers_free(f->iss);
    EVP_PKEY_free(f->authority);
    free(f);
    return 0;
}

static int test_setup(void **state)
{
    fixture *f = *state;
    ccg_snp_tcb_baselines_init(&f->set);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    ccg_decision_init(&f->d, "snp");
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;
    ccg_decision_free(&f->d);
    ccg_snp_collateral_free(&f->col);
    ccg_snp_tcb_baselines_free(&f->set);
    return 0;
}

/* ---- helpers ------------------------------------------------------------------------------ */

static const ccg_snp_tcb *emu_tcb(const fixture *f, int which) { return &ccg_snp_emulator_config_of(f->emu[which])->tcb; }

/* The emulator's default report with edits applied by the caller, signed, with its collateral. */
static void sign_report(fixture *f, int which, const ccg_snp_report *r)
{
    ccg_error_clear();
    if (ccg_failed(ccg_snp_emulator_sign(f->emu[which], r, f->report))) {
        fail_msg("sign: %s", ccg_error_last()->message);
    }
    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    assert_true(ccg_ok(ccg_snp_emulator_collateral(f->emu[which], &f->col)));
}

static void default_report(fixture *f, int which)
{
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[which], &r);
    sign_report(f, which, &r);
}

static void add_baseline(fixture *f, ccg_snp_product p, const ccg_snp_tcb *up, const char *advisories)
{
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&f->set, tu_tcb_baseline(p, up, advisories, NB, NA, f->authority,
                                                                           ISSUER))));
}

static ccg_snp_policy *policy_from(const char *json)
{
    ccg_snp_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_policy_parse(json, strlen(json), &p))) {
        fail_msg("policy did not parse: %s (%s)", ccg_error_last()->message, json);
    }
    return p;
}

/* Verifies f->report with the set (when with_set) and the policy (NULL: the default). */
static void verify(fixture *f, const char *policy_json, int with_set)
{
    ccg_snp_policy *p = policy_json != NULL ? policy_from(policy_json) : NULL;
    ccg_snp_verify_opts opts = {.tcb_baselines = &f->set, .tcb_issuers = f->iss};
    ccg_decision_free(&f->d);
    ccg_error_clear();
    if (ccg_failed(ccg_snp_verify_ex(f->v, f->report, sizeof(f->report), &f->col, p, with_set ? &opts : NULL,
                                     tu_time(NOW), &f->d))) {
        fail_msg("verify failed: %s", ccg_error_last()->message);
    }
    ccg_snp_policy_free(p);
}

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *s = json_dumps(d->reasons.items[i].details, JSON_COMPACT);
        print_message("  reason %s %s\n", ccg_reason_code(d->reasons.items[i].reason), s ? s : "");
        free(s);
    }
}

static void assert_allowed(const ccg_decision *d)
{
    if (!d->allow || d->reasons.count != 0) {
        print_reasons(d);
        fail_msg("expected allow");
    }
}

/* Exactly these reasons, in this order. */
static void assert_reasons(const ccg_decision *d, const ccg_reason *want, size_t n)
{
    int ok = !d->allow && d->reasons.count == n;
    for (size_t i = 0; ok && i < n; i++) {
        ok = d->reasons.items[i].reason == want[i];
    }
    if (!ok) {
        print_reasons(d);
        fail_msg("unexpected reasons (wanted %zu, first %s)", n, ccg_reason_code(want[0]));
    }
}
#define ASSERT_REASONS(d, ...)                                                                                     \
    assert_reasons((d), (const ccg_reason[]){__VA_ARGS__}, sizeof((ccg_reason[]){__VA_ARGS__}) / sizeof(ccg_reason))

static const char *status_of(const ccg_decision *d)
{
    return json_string_value(json_object_get(d->claims, "tcb_status"));
}

static const json_t *detail(const ccg_decision *d, size_t i, const char *key)
{
    return json_object_get(d->reasons.items[i].details, key);
}

/* ---- statuses ----------------------------------------------------------------------------- */

static void up_to_date_is_allowed(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < EMU_N; i++) {
        ccg_snp_tcb_baselines_free(&f->set);
        add_baseline(f, products[i], emu_tcb(f, i), NULL);
        default_report(f, i);
        verify(f, NULL, 1);
        assert_allowed(&f->d);
        assert_string_equal(status_of(&f->d), "UpToDate");
        assert_int_equal(json_array_size(json_object_get(f->d.claims, "advisories")), 0);
        const json_t *b = json_object_get(f->d.claims, "tcb_baseline");
        assert_string_equal(json_string_value(json_object_get(b, "product")), ccg_snp_product_name(products[i]));
        assert_int_equal(json_integer_value(json_object_get(b, "version")), 1);
        assert_string_equal(json_string_value(json_object_get(b, "issuer")), ISSUER);
    }
}

/* The default policy requires a baseline: none, or only another product's, fails closed. */
static void missing_baseline_is_refused_by_default(void **state)
{
    fixture *f = *state;
    default_report(f, MILAN);
    verify(f, NULL, 0);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_MISSING);
    assert_string_equal(status_of(&f->d), "Unknown");
    assert_true(json_is_null(json_object_get(f->d.claims, "tcb_baseline")));
    add_baseline(f, CCG_SNP_PRODUCT_GENOA, emu_tcb(f, GENOA), NULL);
    verify(f, "{\"policy_id\":\"p\",\"version\":1}", 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_MISSING);
    assert_string_equal(json_string_value(detail(&f->d, 0, "product")), "Milan");
    assert_string_equal(json_string_value(json_array_get(detail(&f->d, 0, "supplied"), 0)), "Genoa");
}

/* "require_baseline": false is the explicit opt-out: the status is Unknown and accepted. */
static void opting_out_of_the_baseline(void **state)
{
    fixture *f = *state;
    default_report(f, GENOA);
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"require_baseline\":false}}", 0);
    assert_allowed(&f->d);
    assert_string_equal(status_of(&f->d), "Unknown");
}

static void out_of_date(void **state)
{
    fixture *f = *state;
    ccg_snp_tcb newer = *emu_tcb(f, GENOA);
    newer.snp++;
    add_baseline(f, CCG_SNP_PRODUCT_GENOA, &newer, NULL);
    default_report(f, GENOA);
    verify(f, NULL, 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_OUT_OF_DATE);
    assert_string_equal(status_of(&f->d), "OutOfDate");
    /* REPORTED_TCB and LAUNCH_TCB both lag, by the snp component. */
    const json_t *c = detail(&f->d, 0, "components");
    assert_int_equal(json_array_size(c), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "tcb")), "reported_tcb");
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "component")), "snp");
    assert_int_equal(json_integer_value(json_object_get(json_array_get(c, 0), "up_to_date")), newer.snp);
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 1), "tcb")), "launch_tcb");
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":[\"UpToDate\",\"OutOfDate\"]}}",
           1);
    assert_allowed(&f->d);
    assert_string_equal(status_of(&f->d), "OutOfDate");
}

/* A guest launched under an older TCB than the baseline's is OutOfDate even when REPORTED_TCB is not. */
static void launch_tcb_out_of_date(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_tcb older = *emu_tcb(f, MILAN);
    older.microcode--;
    add_baseline(f, CCG_SNP_PRODUCT_MILAN, emu_tcb(f, MILAN), NULL);
    ccg_snp_emulator_default_report(f->emu[MILAN], &r);
    r.launch_tcb = ccg_snp_tcb_encode(CCG_SNP_PRODUCT_MILAN, &older);
    sign_report(f, MILAN, &r);
    verify(f, NULL, 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_OUT_OF_DATE);
    const json_t *c = detail(&f->d, 0, "components");
    assert_int_equal(json_array_size(c), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "tcb")), "launch_tcb");
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "component")), "microcode");
}

/* Turin compares its FMC component too. */
static void turin_fmc_out_of_date(void **state)
{
    fixture *f = *state;
    ccg_snp_tcb newer = *emu_tcb(f, TURIN);
    newer.fmc++;
    add_baseline(f, CCG_SNP_PRODUCT_TURIN, &newer, NULL);
    default_report(f, TURIN);
    verify(f, NULL, 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_OUT_OF_DATE);
    const json_t *c = detail(&f->d, 0, "components");
    assert_string_equal(json_string_value(json_object_get(json_array_get(c, 0), "component")), "fmc");
}

/* REPORTED_TCB below COMMITTED_TCB: the host reports an older TCB than the committed firmware. */
static void rolled_back(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_tcb committed = *emu_tcb(f, MILAN);
    committed.snp++;
    add_baseline(f, CCG_SNP_PRODUCT_MILAN, emu_tcb(f, MILAN), NULL);
    ccg_snp_emulator_default_report(f->emu[MILAN], &r);
    r.committed_tcb = ccg_snp_tcb_encode(CCG_SNP_PRODUCT_MILAN, &committed);
    sign_report(f, MILAN, &r);
    verify(f, NULL, 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_ROLLED_BACK);
    assert_string_equal(status_of(&f->d), "RolledBack");
    const json_t *c = json_array_get(detail(&f->d, 0, "components"), 0);
    assert_string_equal(json_string_value(json_object_get(c, "component")), "snp");
    assert_int_equal(json_integer_value(json_object_get(c, "committed")), committed.snp);
    assert_int_equal(json_integer_value(json_object_get(c, "got")), committed.snp - 1);
    /* Accepting OutOfDate does not accept a rollback. */
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":[\"UpToDate\",\"OutOfDate\"]}}",
           1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_ROLLED_BACK);
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":[\"UpToDate\",\"RolledBack\"]}}",
           1);
    assert_allowed(&f->d);
    assert_string_equal(status_of(&f->d), "RolledBack");
    /* A rollback needs no baseline to be seen. */
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"require_baseline\":false}}", 0);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_ROLLED_BACK);
}

/* ---- advisories --------------------------------------------------------------------------- */

static void advisories_need_an_allowlist(void **state)
{
    fixture *f = *state;
    char adv[256];
    const ccg_snp_tcb *t = emu_tcb(f, GENOA);
    /* AMD-SB-3019 applies below the report's snp+1; AMD-SB-3011 only below its microcode, so not. */
    snprintf(adv, sizeof(adv),
             "[{\"id\":\"AMD-SB-3019\",\"below\":{\"snp\":%d}},{\"id\":\"AMD-SB-3011\",\"below\":{\"microcode\":%d}}]",
             t->snp + 1, t->microcode);
    add_baseline(f, CCG_SNP_PRODUCT_GENOA, t, adv);
    default_report(f, GENOA);
    verify(f, NULL, 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_ADVISORY_NOT_ALLOWED);
    assert_string_equal(json_string_value(detail(&f->d, 0, "advisory")), "AMD-SB-3019");
    assert_string_equal(status_of(&f->d), "UpToDate");
    const json_t *listed = json_object_get(f->d.claims, "advisories");
    assert_int_equal(json_array_size(listed), 1);
    assert_string_equal(json_string_value(json_array_get(listed, 0)), "AMD-SB-3019");
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"allowed_advisories\":[\"AMD-SB-3011\"]}}", 1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_ADVISORY_NOT_ALLOWED);
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"allowed_advisories\":[\"AMD-SB-3019\"]}}", 1);
    assert_allowed(&f->d);
    assert_string_equal(json_string_value(json_array_get(json_object_get(f->d.claims, "advisories"), 0)),
                        "AMD-SB-3019");
}

/* An advisory that applies only to the launch TCB applies too. */
static void advisory_on_the_launch_tcb(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    char adv[128];
    ccg_snp_tcb older = *emu_tcb(f, TURIN);
    older.tee--;
    snprintf(adv, sizeof(adv), "[{\"id\":\"AMD-SB-7029\",\"below\":{\"tee\":%d}}]", older.tee + 1);
    add_baseline(f, CCG_SNP_PRODUCT_TURIN, emu_tcb(f, TURIN), adv);
    ccg_snp_emulator_default_report(f->emu[TURIN], &r);
    r.launch_tcb = ccg_snp_tcb_encode(CCG_SNP_PRODUCT_TURIN, &older);
    sign_report(f, TURIN, &r);
    verify(f, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":[\"UpToDate\",\"OutOfDate\"]}}",
           1);
    ASSERT_REASONS(&f->d, CCG_R_SNP_ADVISORY_NOT_ALLOWED);
}

/* ---- the baseline's own checks ------------------------------------------------------------ */

static void use_single(fixture *f, ccg_snp_tcb_baseline *b)
{
    ccg_snp_tcb_baselines_free(&f->set);
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&f->set, b)));
}

/* A baseline that is supplied but unusable is refused, whatever the policy says about requiring one. */
static void unusable_baselines(void **state)
{
    fixture *f = *state;
    static const char *const policies[] = {NULL, "{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"require_baseline\":false}}"};
    EVP_PKEY *other = tu_authority_key();
    const ccg_snp_tcb *t = emu_tcb(f, MILAN);
    default_report(f, MILAN);
    for (size_t i = 0; i < 2; i++) {
        use_single(f, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, t, NULL, NB, NA, NULL, NULL));
        verify(f, policies[i], 1);
        ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_UNSIGNED);
        assert_string_equal(status_of(&f->d), "Unknown");

        use_single(f, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, t, NULL, NB, NA, other, "someone-else"));
        verify(f, policies[i], 1);
        ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_ISSUER_UNKNOWN);

        use_single(f, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, t, NULL, NB, NA, other, ISSUER)); /* the wrong key */
        verify(f, policies[i], 1);
        ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_SIGNATURE_INVALID);

        use_single(f, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, t, NULL, "2025-01-01T00:00:00Z", "2026-05-31T23:59:59Z",
                                      f->authority, ISSUER));
        verify(f, policies[i], 1);
        ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_EXPIRED);

        use_single(f, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, t, NULL, "2026-06-01T00:00:01Z", NA, f->authority, ISSUER));
        verify(f, policies[i], 1);
        ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_NOT_YET_VALID);
        assert_string_equal(json_string_value(detail(&f->d, 0, "product")), "Milan");
        assert_string_equal(json_string_value(detail(&f->d, 0, "issuer")), ISSUER);
    }
    EVP_PKEY_free(other);
}

/* Changing any value after signing breaks the signature; an Ed25519 issuer works like ES384. */
static void signature_covers_every_value(void **state)
{
    fixture *f = *state;
    static const char *const edits[] = {"up_to_date", "advisories", "not_after", "product_version"};
    ccg_snp_tcb lower = *emu_tcb(f, GENOA);
    lower.snp--;
    default_report(f, GENOA);
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        char *text = tu_tcb_baseline_text(CCG_SNP_PRODUCT_GENOA, emu_tcb(f, GENOA),
                                          "[{\"id\":\"AMD-SB-1\",\"below\":{\"snp\":1}}]", NB, NA, f->authority, ISSUER);
        json_t *doc = json_loads(text, 0, NULL);
        ccg_snp_tcb_baseline *b = NULL;
        char *edited;
        assert_non_null(doc);
        if (i == 0) {
            json_object_set_new(json_object_get(doc, "up_to_date"), "snp", json_integer(lower.snp));
        } else if (i == 1) {
            json_object_set_new(json_array_get(json_object_get(doc, "advisories"), 0), "id", json_string("AMD-SB-2"));
        } else if (i == 2) {
            json_object_set_new(doc, "not_after", json_string("2030-01-01T00:00:00Z"));
        } else {
            json_object_set_new(doc, "version", json_integer(2));
        }
        edited = json_dumps(doc, JSON_COMPACT);
        assert_true(ccg_ok(ccg_snp_tcb_baseline_parse(edited, strlen(edited), &b)));
        use_single(f, b);
        verify(f, NULL, 1);
        ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BASELINE_SIGNATURE_INVALID);
        free(edited);
        free(text);
        json_decref(doc);
    }
    /* Ed25519 */
    EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    assert_non_null(ed);
    ccg_refval_issuers *iss = tu_issuers_with(ed, "ed-authority");
    use_single(f, tu_tcb_baseline(CCG_SNP_PRODUCT_GENOA, emu_tcb(f, GENOA), NULL, NB, NA, ed, "ed-authority"));
    ccg_snp_verify_opts opts = {.tcb_baselines = &f->set, .tcb_issuers = iss};
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_snp_verify_ex(f->v, f->report, sizeof(f->report), &f->col, NULL, &opts, tu_time(NOW),
                                         &f->d)));
    assert_allowed(&f->d);
    ccg_refval_issuers_free(iss);
    EVP_PKEY_free(ed);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static void refuse_baseline(const char *text)
{
    ccg_snp_tcb_baseline *b = NULL;
    ccg_error_clear();
    if (ccg_ok(ccg_snp_tcb_baseline_parse(text, strlen(text), &b))) {
        ccg_snp_tcb_baseline_free(b);
        fail_msg("parsed: %s", text);
    }
    if (ccg_error_reason() != CCG_R_SNP_TCB_BASELINE_MALFORMED) {
        fail_msg("%s: got %s", text, ccg_reason_code(ccg_error_reason()));
    }
    assert_null(b);
}

#define TIMES "\"not_before\":\"" NB "\",\"not_after\":\"" NA "\""
#define MILAN_UP "\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":219}"

static void malformed_baselines(void **state)
{
    (void)state;
    ccg_snp_tcb_baseline *b = NULL;
    const char *good = "{\"product\":\"Milan\",\"version\":3," TIMES "," MILAN_UP
                       ",\"advisories\":[{\"id\":\"AMD-SB-3019\",\"below\":{\"snp\":22}}]}";
    assert_true(ccg_ok(ccg_snp_tcb_baseline_parse(good, strlen(good), &b)));
    assert_int_equal(b->product, CCG_SNP_PRODUCT_MILAN);
    assert_int_equal(b->version, 3);
    assert_int_equal(b->up_to_date.microcode, 219);
    assert_int_equal(b->advisory_count, 1);
    assert_string_equal(b->advisories[0].id, "AMD-SB-3019");
    assert_int_equal(b->advisories[0].components, CCG_SNP_TCB_C_SNP);
    assert_int_equal(b->advisories[0].below.snp, 22);
    assert_false(b->has_signature);
    ccg_snp_tcb_baseline_free(b);

    refuse_baseline("not json");
    refuse_baseline("[]");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP ",\"extra\":1}");
    refuse_baseline("{\"product\":\"Naples\",\"version\":1," TIMES "," MILAN_UP "}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":0," TIMES "," MILAN_UP "}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," MILAN_UP "}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1,\"not_before\":\"soon\",\"not_after\":\"" NA "\"," MILAN_UP "}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1,\"not_before\":\"" NA "\",\"not_after\":\"" NB "\"," MILAN_UP
                    "}");
    /* up_to_date: every component of the product, levels 0-255, fmc on Turin only */
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES ",\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24}}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES
                    ",\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":256}}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES
                    ",\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":2.5}}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES
                    ",\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":219,\"fmc\":1}}");
    refuse_baseline("{\"product\":\"Turin\",\"version\":1," TIMES
                    ",\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":219}}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES
                    ",\"up_to_date\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":219,\"ucode\":1}}");
    /* advisories: an ID, at least one component of the product, no duplicate */
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP
                    ",\"advisories\":[{\"id\":\"A\",\"below\":{\"fmc\":1}}]}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP ",\"advisories\":[{\"id\":\"A\",\"below\":{}}]}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP ",\"advisories\":[{\"below\":{\"snp\":1}}]}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP
                    ",\"advisories\":[{\"id\":\"A B\",\"below\":{\"snp\":1}}]}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP
                    ",\"advisories\":[{\"id\":\"A\",\"below\":{\"snp\":1}},{\"id\":\"A\",\"below\":{\"tee\":1}}]}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP
                    ",\"advisories\":[{\"id\":\"A\",\"below\":{\"snp\":1},\"cve\":\"x\"}]}");
    /* a signature needs an issuer and a known algorithm */
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP
                    ",\"signature\":{\"alg\":\"ES384\",\"value\":\"AA\"}}");
    refuse_baseline("{\"product\":\"Milan\",\"version\":1," TIMES "," MILAN_UP
                    ",\"issuer\":\"a\",\"signature\":{\"alg\":\"RS256\",\"value\":\"AA\"}}");
}

static void one_baseline_per_product(void **state)
{
    fixture *f = *state;
    add_baseline(f, CCG_SNP_PRODUCT_MILAN, emu_tcb(f, MILAN), NULL);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_tcb_baselines_add(
        &f->set, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, emu_tcb(f, MILAN), NULL, NB, NA, f->authority, ISSUER))));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
}

static void refuse_policy(const char *json, ccg_reason want)
{
    ccg_snp_policy *p = NULL;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_policy_parse(json, strlen(json), &p)));
    if (ccg_error_reason() != want) {
        fail_msg("%s: got %s, wanted %s", json, ccg_reason_code(ccg_error_reason()), ccg_reason_code(want));
    }
}

static void policy_tcb_rules(void **state)
{
    (void)state;
    ccg_snp_policy *p = NULL;
    assert_true(ccg_ok(ccg_snp_policy_default(&p)));
    assert_true(p->tcb.require_baseline);
    assert_false(p->tcb.accept_out_of_date);
    assert_false(p->tcb.accept_rolled_back);
    assert_int_equal(p->tcb.allowed_advisory_count, 0);
    ccg_snp_policy_free(p);
    p = policy_from("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"require_baseline\":false,\"accepted_statuses\":"
                    "[\"UpToDate\",\"OutOfDate\",\"RolledBack\"],\"allowed_advisories\":[\"AMD-SB-3019\",\"X-1\"]}}");
    assert_false(p->tcb.require_baseline);
    assert_true(p->tcb.accept_out_of_date);
    assert_true(p->tcb.accept_rolled_back);
    assert_int_equal(p->tcb.allowed_advisory_count, 2);
    assert_string_equal(p->tcb.allowed_advisories[1], "X-1");
    ccg_snp_policy_free(p);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"statuses\":[]}}", CCG_R_POLICY_UNKNOWN_KEY);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":[]}", CCG_R_POLICY_INVALID_VALUE);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"require_baseline\":0}}", CCG_R_POLICY_INVALID_VALUE);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":[\"OutOfDate\"]}}",
                  CCG_R_POLICY_INVALID_VALUE);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":[\"UpToDate\",\"Unknown\"]}}",
                  CCG_R_POLICY_INVALID_VALUE);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"accepted_statuses\":\"UpToDate\"}}",
                  CCG_R_POLICY_INVALID_VALUE);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"allowed_advisories\":[1]}}", CCG_R_POLICY_INVALID_VALUE);
    refuse_policy("{\"policy_id\":\"p\",\"version\":1,\"tcb\":{\"allowed_advisories\":[\"A B\"]}}",
                  CCG_R_POLICY_INVALID_VALUE);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(up_to_date_is_allowed),
        T(missing_baseline_is_refused_by_default),
        T(opting_out_of_the_baseline),
        T(out_of_date),
        T(launch_tcb_out_of_date),
        T(turin_fmc_out_of_date),
        T(rolled_back),
        T(advisories_need_an_allowlist),
        T(advisory_on_the_launch_tcb),
        T(unusable_baselines),
        T(signature_covers_every_value),
        T(malformed_baselines),
        T(one_baseline_per_product),
        T(policy_tcb_rules),
    };
    return cmocka_run_group_tests_name("snp_tcb", tests, setup, teardown);
}
