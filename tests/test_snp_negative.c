/* Negative tests of the SEV-SNP verifier over reports from the software SNP firmware: every test
 * asserts the exact set of reason codes the SNP ABI and the KDS specifications imply, not just deny. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"

#include "ccgate/snp_emulator.h"
#include "ccgate/snp_report_write.h"
#include "ccgate/snp_verify.h"

#define NOW "2026-06-01T00:00:00Z"

enum { M_VCEK, G_VCEK, T_VCEK, M_VLEK, G_VLEK, T_VLEK, M_OTHER, EMU_N };

typedef struct {
    ccg_snp_emulator *emu[EMU_N];
    EVP_PKEY *authority;               /* signs the test TCB baselines */
    ccg_refval_issuers *iss;           /* trusts it as "test-authority" */
    ccg_snp_tcb_baselines baselines;   /* per product: the emulators' TCB is up to date */
    ccg_snp_verify_opts opts;
    ccg_snp_verifier *v; /* trusts every emulator's ARK except M_OTHER's */
    ccg_snp_collateral col;
    ccg_decision d;
    uint8_t report[CCG_SNP_REPORT_SIZE];
} fixture;

static const struct {
    ccg_snp_product product;
    ccg_snp_signer signer;
} emu_kinds[EMU_N] = {
    [M_VCEK] = {CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK}, [G_VCEK] = {CCG_SNP_PRODUCT_GENOA, CCG_SNP_SIGNER_VCEK},
    [T_VCEK] = {CCG_SNP_PRODUCT_TURIN, CCG_SNP_SIGNER_VCEK}, [M_VLEK] = {CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VLEK},
    [G_VLEK] = {CCG_SNP_PRODUCT_GENOA, CCG_SNP_SIGNER_VLEK}, [T_VLEK] = {CCG_SNP_PRODUCT_TURIN, CCG_SNP_SIGNER_VLEK},
    [M_OTHER] = {CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK},
};

/* ---- helpers ------------------------------------------------------------------------------ */

static ccg_snp_emulator *new_emulator_with(const ccg_snp_emulator_config *cfg)
{
    ccg_snp_emulator *emu = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_emulator_new(cfg, &emu))) {
        fail_msg("emulator: %s", ccg_error_last()->message);
    }
    return emu;
}

static ccg_snp_emulator *new_emulator(ccg_snp_product product, ccg_snp_signer signer)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, product, signer);
    return new_emulator_with(&cfg);
}

static ccg_snp_verifier *new_verifier(void)
{
    ccg_snp_verifier *v = NULL;
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    return v;
}

static void trust(ccg_snp_verifier *v, const ccg_snp_emulator *emu)
{
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, ccg_snp_emulator_config_of(emu)->product,
                                                 ccg_snp_emulator_ark(emu))));
}

/* Every check of these tests runs with a usable TCB baseline for each product, under which the
 * emulators' TCB is UpToDate: the reasons asserted are the checks' own. */
static const ccg_snp_verify_opts *verify_opts;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->v = new_verifier();
    for (int i = 0; i < EMU_N; i++) {
        f->emu[i] = new_emulator(emu_kinds[i].product, emu_kinds[i].signer);
        if (i != M_OTHER) {
            trust(f->v, f->emu[i]);
        }
    }
    f->authority = tu_authority_key();
    f->iss = tu_issuers_with(f->authority, "test-authority");
    ccg_snp_tcb_baselines_init(&f->baselines);
    for (int i = M_VCEK; i <= T_VCEK; i++) {
        assert_true(ccg_ok(ccg_snp_tcb_baselines_add(
            &f->baselines, tu_tcb_baseline(emu_kinds[i].product, &ccg_snp_emulator_config_of(f->emu[i])->tcb, NULL,
                                           "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", f->authority,
                                           "test-authority"))));
    }
    f->opts.tcb_baselines = &f->baselines;
    f->opts.tcb_issuers = f->iss;
    verify_opts = &f->opts;
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
    ccg_snp_tcb_baselines_free(&f->baselines);
    ccg_refval_issuers_free(f->iss);
    EVP_PKEY_free(f->authority);
    verify_opts = NULL;
    free(f);
    return 0;
}

static int test_setup(void **state)
{
    fixture *f = *state;
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    ccg_decision_init(&f->d, "snp");
    return 0;
}

static int test_teardown(void **state)
{
    fixture *f = *state;
    ccg_decision_free(&f->d);
    ccg_snp_collateral_free(&f->col);
    return 0;
}

static void use_collateral_of(fixture *f, const ccg_snp_emulator *emu)
{
    assert_true(ccg_ok(ccg_snp_emulator_collateral(emu, &f->col)));
}

static void sign_into(const ccg_snp_emulator *emu, const ccg_snp_report *r, uint8_t *out)
{
    ccg_error_clear();
    if (ccg_failed(ccg_snp_emulator_sign(emu, r, out))) {
        fail_msg("sign: %s", ccg_error_last()->message);
    }
}

static void resign(const ccg_snp_emulator *emu, uint8_t *bytes)
{
    assert_true(ccg_ok(ccg_snp_emulator_sign_bytes(emu, bytes)));
}

/* The emulator's default report, signed, with its collateral in f. */
static void default_signed(fixture *f, int which)
{
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[which], &r);
    sign_into(f->emu[which], &r, f->report);
    use_collateral_of(f, f->emu[which]);
}

static int run_verify(ccg_snp_verifier *v, const uint8_t *bytes, size_t len, const ccg_snp_collateral *col,
                      const ccg_snp_policy *p, ccg_decision *d)
{
    ccg_decision_free(d);
    return ccg_ok(ccg_snp_verify_ex(v, bytes, len, col, p, verify_opts, tu_time(NOW), d));
}

/* Verification that must complete (the report parses) with a decision. */
static void verify(fixture *f, const ccg_snp_policy *p)
{
    if (!run_verify(f->v, f->report, sizeof(f->report), &f->col, p, &f->d)) {
        fail_msg("verify failed: %s", ccg_error_last()->message);
    }
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

static int same_reason_set(const ccg_decision *d, const ccg_reason *want, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!ccg_reasons_has(&d->reasons, want[i])) {
            return 0;
        }
    }
    for (size_t i = 0; i < d->reasons.count; i++) {
        int expected = 0;
        for (size_t j = 0; j < n; j++) {
            expected |= d->reasons.items[i].reason == want[j];
        }
        if (!expected) {
            return 0;
        }
    }
    return 1;
}

/* The decision denies with exactly this set of reason codes (each at least once, nothing else). */
static void assert_reason_set(const ccg_decision *d, const ccg_reason *want, size_t n, const char *what)
{
    if (d->allow || !same_reason_set(d, want, n)) {
        print_message("%s: expected", what);
        for (size_t i = 0; i < n; i++) {
            print_message(" %s", ccg_reason_code(want[i]));
        }
        print_message("\n");
        print_reasons(d);
        fail_msg("%s: unexpected reasons", what);
    }
}

#define REASONS(...) (const ccg_reason[]){__VA_ARGS__}, sizeof((ccg_reason[]){__VA_ARGS__}) / sizeof(ccg_reason)
#define ASSERT_REASONS(d, ...) assert_reason_set((d), REASONS(__VA_ARGS__), __func__)

static ccg_snp_policy *policy_from(const char *json)
{
    ccg_snp_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_policy_parse(json, strlen(json), &p))) {
        fail_msg("policy did not parse: %s (%s)", ccg_error_last()->message, json);
    }
    return p;
}

static char *hex_of(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    assert_non_null(hex);
    return hex;
}

/* ---- baselines ---------------------------------------------------------------------------- */

static void baseline_reports_are_allowed(void **state)
{
    static const uint32_t versions[] = {2, 3, 5};
    fixture *f = *state;
    for (int e = 0; e < M_OTHER; e++) {
        for (size_t i = 0; i < 3; i++) {
            ccg_snp_report r;
            ccg_snp_collateral_free(&f->col);
            assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
            ccg_snp_emulator_default_report(f->emu[e], &r);
            r.version = versions[i]; /* v2 carries no CPUID: the product comes from the chain */
            sign_into(f->emu[e], &r, f->report);
            use_collateral_of(f, f->emu[e]);
            verify(f, NULL);
            if (!f->d.allow) {
                print_message("%s %s v%u\n", ccg_snp_product_name(emu_kinds[e].product),
                              emu_kinds[e].signer == CCG_SNP_SIGNER_VLEK ? "VLEK" : "VCEK", versions[i]);
            }
            assert_allowed(&f->d);
            assert_string_equal(json_string_value(json_object_get(f->d.claims, "product")),
                                ccg_snp_product_name(emu_kinds[e].product));
        }
    }
}

static void baseline_allowed_with_crl_and_strict_policy(void **state)
{
    fixture *f = *state;
    const ccg_snp_emulator *e = f->emu[T_VCEK];
    const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(e);
    ccg_snp_report r;
    char json[1024];
    ccg_snp_emulator_default_report(e, &r);
    memset(r.report_data, 0xAB, sizeof(r.report_data));
    sign_into(e, &r, f->report);
    use_collateral_of(f, e);
    assert_true(ccg_ok(ccg_snp_emulator_crl(e, NULL, 0, tu_time("2026-05-01T00:00:00Z"),
                                            tu_time("2026-07-01T00:00:00Z"), &f->col.crl)));
    char *meas = hex_of(r.measurement, 48), *rd = hex_of(r.report_data, 64);
    snprintf(json, sizeof(json),
             "{\"policy_id\":\"strict\",\"version\":2,\"vmpl\":0,\"require_crl\":true,\"allowed_signers\":[\"vcek\"],"
             "\"minimum_tcb\":{\"bootloader\":%d,\"tee\":%d,\"snp\":%d,\"microcode\":%d,\"fmc\":%d},"
             "\"allowed_measurements\":[\"%s\"],\"report_data\":\"%s\"}",
             cfg->tcb.bootloader, cfg->tcb.tee, cfg->tcb.snp, cfg->tcb.microcode, cfg->tcb.fmc, meas, rd);
    free(meas);
    free(rd);
    ccg_snp_policy *p = policy_from(json);
    verify(f, p);
    assert_allowed(&f->d);
    assert_string_equal(f->d.policy_id, "strict");
    ccg_snp_policy_free(p);
}

/* ---- bit flips over the signed bytes ------------------------------------------------------ */

typedef enum {
    K_DATA,
    K_VERSION,
    K_POLICY,
    K_VMPL,
    K_SIG_ALGO,
    K_PLATFORM_INFO,
    K_SIGNER_INFO,
    K_RESERVED,
    K_REPORTED_TCB,
    K_CPUID,  /* v3+; reserved in v2 */
    K_CHIP_ID,
    K_LAUNCH_TCB,
    K_CURRENT_TCB,   /* only its reserved bytes are checked */
    K_COMMITTED_TCB, /* its reserved bytes, and REPORTED_TCB must not be below it (RolledBack) */
    K_MIT,    /* v5+; reserved before */
} field_kind;

typedef struct {
    const char *name;
    size_t off, len;
    field_kind kind;
} field;

/* ATTESTATION_REPORT bytes 0x000-0x29F (SEV-SNP ABI specification). */
static const field layout[] = {
    {"VERSION", 0x000, 4, K_VERSION},
    {"GUEST_SVN", 0x004, 4, K_DATA},
    {"POLICY", 0x008, 8, K_POLICY},
    {"FAMILY_ID", 0x010, 16, K_DATA},
    {"IMAGE_ID", 0x020, 16, K_DATA},
    {"VMPL", 0x030, 4, K_VMPL},
    {"SIGNATURE_ALGO", 0x034, 4, K_SIG_ALGO},
    {"CURRENT_TCB", 0x038, 8, K_CURRENT_TCB},
    {"PLATFORM_INFO", 0x040, 8, K_PLATFORM_INFO},
    {"SIGNER_INFO", 0x048, 4, K_SIGNER_INFO},
    {"reserved", 0x04C, 4, K_RESERVED},
    {"REPORT_DATA", 0x050, 64, K_DATA},
    {"MEASUREMENT", 0x090, 48, K_DATA},
    {"HOST_DATA", 0x0C0, 32, K_DATA},
    {"ID_KEY_DIGEST", 0x0E0, 48, K_DATA},
    {"AUTHOR_KEY_DIGEST", 0x110, 48, K_DATA},
    {"REPORT_ID", 0x140, 32, K_DATA},
    {"REPORT_ID_MA", 0x160, 32, K_DATA},
    {"REPORTED_TCB", 0x180, 8, K_REPORTED_TCB},
    {"CPUID", 0x188, 3, K_CPUID},
    {"reserved", 0x18B, 0x15, K_RESERVED},
    {"CHIP_ID", 0x1A0, 64, K_CHIP_ID},
    {"COMMITTED_TCB", 0x1E0, 8, K_COMMITTED_TCB},
    {"CURRENT_BUILD/MINOR/MAJOR", 0x1E8, 3, K_DATA},
    {"reserved", 0x1EB, 1, K_RESERVED},
    {"COMMITTED_BUILD/MINOR/MAJOR", 0x1EC, 3, K_DATA},
    {"reserved", 0x1EF, 1, K_RESERVED},
    {"LAUNCH_TCB", 0x1F0, 8, K_LAUNCH_TCB},
    {"LAUNCH_MIT_VECTOR", 0x1F8, 8, K_MIT},
    {"CURRENT_MIT_VECTOR", 0x200, 8, K_MIT},
    {"reserved", 0x208, 0x98, K_RESERVED},
};

static field_kind kind_for(const field *fl, uint32_t version)
{
    if ((fl->kind == K_CPUID && version < 3) || (fl->kind == K_MIT && version < 5)) {
        return K_RESERVED;
    }
    return fl->kind;
}

static uint64_t le(const uint8_t *p, size_t n)
{
    uint64_t v = 0;
    while (n-- > 0) {
        v = v << 8 | p[n];
    }
    return v;
}

static int any_nonzero(const uint8_t *p, size_t n) { return !ccg_is_all_zero(p, n); }

/* A TCB_VERSION byte that is reserved for the product (Milan/Genoa 2-5, Turin 4-6). */
static int tcb_byte_reserved(ccg_snp_product p, size_t k)
{
    return p == CCG_SNP_PRODUCT_TURIN ? (k >= 4 && k <= 6) : (k >= 2 && k <= 5);
}

typedef struct {
    ccg_snp_product product;
    ccg_snp_signer signer;
    uint32_t version;
} flip_case;

typedef struct {
    ccg_reason r[4];
    size_t n;
    int refused; /* the parser refuses the report: ccg_snp_verify fails */
} expectation;

static void want(expectation *e, ccg_reason r) { e->r[e->n++] = r; }

static void refused(expectation *e, ccg_reason r)
{
    want(e, r);
    e->refused = 1;
}

/* The product the flipped CPUID names, and what the verifier must say about it. */
static void expect_product(const flip_case *c, const uint8_t *b, uint32_t version, expectation *e)
{
    ccg_snp_report probe = {.version = version, .cpuid_fam_id = b[0x188], .cpuid_mod_id = b[0x189]};
    ccg_snp_product p = ccg_snp_product_from_cpuid(&probe);
    if (p == CCG_SNP_PRODUCT_UNKNOWN) {
        want(e, CCG_R_SNP_PRODUCT_UNKNOWN); /* the chain still names the product */
    } else if (p != c->product) {
        want(e, CCG_R_SNP_PRODUCT_MISMATCH);
    }
}

static void expect_version(const flip_case *c, const uint8_t *b, expectation *e)
{
    uint32_t v = (uint32_t)le(b, 4);
    if (v != 2 && v != 3 && v != 5) {
        refused(e, CCG_R_SNP_REPORT_VERSION_UNSUPPORTED);
    } else if ((v < 3 && any_nonzero(b + 0x188, 3)) || (v < 5 && any_nonzero(b + 0x1F8, 16))) {
        refused(e, CCG_R_SNP_RESERVED_NONZERO); /* the old layout has reserved bytes where data now is */
    } else {
        if (v >= 3) {
            expect_product(c, b, v, e);
        }
        want(e, CCG_R_SNP_SIGNATURE_INVALID);
    }
}

static void expect_policy(const uint8_t *b, expectation *e)
{
    uint64_t p = le(b + 0x008, 8);
    if (!(p & CCG_SNP_POLICY_RESERVED_ONE) || (p & ~CCG_SNP_POLICY_KNOWN_MASK)) {
        refused(e, CCG_R_SNP_GUEST_POLICY_INVALID);
        return;
    }
    want(e, CCG_R_SNP_SIGNATURE_INVALID);
    if (p & CCG_SNP_POLICY_DEBUG) {
        want(e, CCG_R_SNP_DEBUG_ENABLED); /* the default policy refuses debug and migration agents */
    }
    if (p & CCG_SNP_POLICY_MIGRATE_MA) {
        want(e, CCG_R_SNP_MIGRATION_AGENT_ENABLED);
    }
}

static void expect_signer_info(const flip_case *c, const uint8_t *b, expectation *e)
{
    uint32_t flags = (uint32_t)le(b + 0x048, 4);
    uint32_t signer = (flags >> 2) & 7;
    if (flags & ~0x1Fu) {
        refused(e, CCG_R_SNP_RESERVED_NONZERO);
    } else if (signer != CCG_SNP_SIGNER_VCEK && signer != CCG_SNP_SIGNER_VLEK) {
        want(e, CCG_R_SNP_SIGNING_KEY_UNSUPPORTED);
    } else if (signer != c->signer) {
        want(e, CCG_R_COLLATERAL_MISSING); /* the report now names the other key, which was not supplied */
    } else {
        want(e, CCG_R_SNP_SIGNATURE_INVALID); /* AUTHOR_KEY_EN, MASK_CHIP_KEY */
    }
}

/* A flip in byte k of a TCB field. `lowered`: the flip cleared a bit, so a component went down. Every
 * TCB field starts at the emulator's TCB, which the fixture's baseline counts as up to date: a lower
 * REPORTED_TCB is OutOfDate and below COMMITTED_TCB (RolledBack), a lower LAUNCH_TCB is OutOfDate, and a
 * higher COMMITTED_TCB puts REPORTED_TCB below it. */
static void expect_tcb(const flip_case *c, const field *fl, size_t k, int lowered, expectation *e)
{
    want(e, CCG_R_SNP_SIGNATURE_INVALID);
    if (tcb_byte_reserved(c->product, k)) {
        want(e, CCG_R_SNP_RESERVED_NONZERO);
        return;
    }
    switch (fl->kind) {
    case K_REPORTED_TCB:
        want(e, CCG_R_SNP_VCEK_TCB_MISMATCH);
        if (lowered) {
            want(e, CCG_R_SNP_TCB_OUT_OF_DATE);
            want(e, CCG_R_SNP_TCB_ROLLED_BACK);
        }
        break;
    case K_LAUNCH_TCB:
        if (lowered) {
            want(e, CCG_R_SNP_TCB_OUT_OF_DATE);
        }
        break;
    case K_COMMITTED_TCB:
        if (!lowered) {
            want(e, CCG_R_SNP_TCB_ROLLED_BACK);
        }
        break;
    default: break;
    }
}

static void expect_flip(const flip_case *c, const field *fl, size_t off, int lowered, const uint8_t *b,
                        expectation *e)
{
    memset(e, 0, sizeof(*e));
    switch (kind_for(fl, c->version)) {
    case K_VERSION: expect_version(c, b, e); break;
    case K_POLICY: expect_policy(b, e); break;
    case K_VMPL:
        if (le(b + 0x030, 4) > 3) {
            refused(e, CCG_R_INPUT_MALFORMED);
        } else {
            want(e, CCG_R_SNP_SIGNATURE_INVALID);
        }
        break;
    case K_SIG_ALGO: refused(e, CCG_R_SNP_SIGNATURE_ALGO_UNSUPPORTED); break;
    case K_PLATFORM_INFO:
        /* Signed platform state: any bit, known or not, is a claim (item 13); the flip only breaks the
         * signature. */
        want(e, CCG_R_SNP_SIGNATURE_INVALID);
        break;
    case K_SIGNER_INFO: expect_signer_info(c, b, e); break;
    case K_RESERVED: refused(e, CCG_R_SNP_RESERVED_NONZERO); break;
    case K_REPORTED_TCB:
    case K_LAUNCH_TCB:
    case K_CURRENT_TCB:
    case K_COMMITTED_TCB: expect_tcb(c, fl, off - fl->off, lowered, e); break;
    case K_CPUID:
        expect_product(c, b, c->version, e);
        want(e, CCG_R_SNP_SIGNATURE_INVALID);
        break;
    case K_CHIP_ID:
        want(e, CCG_R_SNP_SIGNATURE_INVALID);
        if (c->signer == CCG_SNP_SIGNER_VCEK && off - 0x1A0 < ccg_snp_hwid_len(c->product)) {
            want(e, CCG_R_SNP_CHIP_ID_MISMATCH);
        }
        break;
    case K_DATA:
    case K_MIT: want(e, CCG_R_SNP_SIGNATURE_INVALID); break;
    }
}

static void check_flip(fixture *f, const flip_case *c, const field *fl, size_t off, int bit, const uint8_t *good)
{
    uint8_t b[CCG_SNP_REPORT_SIZE];
    expectation e;
    char what[128];
    memcpy(b, good, sizeof(b));
    b[off] ^= (uint8_t)(1u << bit);
    expect_flip(c, fl, off, (good[off] >> bit) & 1, b, &e);
    int ok = run_verify(f->v, b, sizeof(b), &f->col, NULL, &f->d);
    snprintf(what, sizeof(what), "%s v%u %s, %s byte 0x%03zx bit %d", ccg_snp_product_name(c->product), c->version,
             c->signer == CCG_SNP_SIGNER_VLEK ? "VLEK" : "VCEK", fl->name, off, bit);
    if (ok == e.refused) {
        print_reasons(&f->d);
        fail_msg("%s: ccg_snp_verify %s", what, ok ? "succeeded on a report the parser must refuse" : "failed");
    }
    assert_reason_set(&f->d, e.r, e.n, what);
}

static void flip_every_signed_bit(fixture *f, int which, uint32_t version)
{
    const flip_case c = {emu_kinds[which].product, emu_kinds[which].signer, version};
    uint8_t good[CCG_SNP_REPORT_SIZE];
    ccg_snp_report r;
    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    ccg_snp_emulator_default_report(f->emu[which], &r);
    r.version = version;
    sign_into(f->emu[which], &r, good);
    use_collateral_of(f, f->emu[which]);
    assert_true(run_verify(f->v, good, sizeof(good), &f->col, NULL, &f->d));
    assert_allowed(&f->d);
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
        for (size_t off = layout[i].off; off < layout[i].off + layout[i].len; off++) {
            for (int bit = 0; bit < 8; bit++) {
                check_flip(f, &c, &layout[i], off, bit, good);
            }
        }
    }
}

static void layout_covers_the_signed_bytes(void **state)
{
    size_t next = 0;
    (void)state;
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
        assert_int_equal(layout[i].off, next);
        next = layout[i].off + layout[i].len;
    }
    assert_int_equal(next, CCG_SNP_SIGNED_SIZE);
}

static void flips_milan_v3_vcek(void **state) { flip_every_signed_bit(*state, M_VCEK, 3); }
static void flips_milan_v2_vcek(void **state) { flip_every_signed_bit(*state, M_VCEK, 2); }
static void flips_genoa_v3_vcek(void **state) { flip_every_signed_bit(*state, G_VCEK, 3); }
static void flips_turin_v5_vcek(void **state) { flip_every_signed_bit(*state, T_VCEK, 5); }
static void flips_turin_v3_vlek(void **state) { flip_every_signed_bit(*state, T_VLEK, 3); }
static void flips_milan_v5_vlek(void **state) { flip_every_signed_bit(*state, M_VLEK, 5); }

/* Every byte of R and S matters; both are little-endian and only the low 48 bytes can be non-zero. */
static void flips_in_r_and_s_invalidate_the_signature(void **state)
{
    fixture *f = *state;
    uint8_t b[CCG_SNP_REPORT_SIZE];
    default_signed(f, G_VCEK);
    for (size_t off = CCG_SNP_SIGNED_SIZE; off < CCG_SNP_SIGNED_SIZE + 2 * CCG_SNP_SIG_COMPONENT_SIZE; off++) {
        char what[64];
        memcpy(b, f->report, sizeof(b));
        b[off] ^= (uint8_t)(1u << (off % 8));
        assert_true(run_verify(f->v, b, sizeof(b), &f->col, NULL, &f->d));
        snprintf(what, sizeof(what), "%s byte 0x%03zx", off < 0x2E8 ? "R" : "S", off);
        assert_reason_set(&f->d, REASONS(CCG_R_SNP_SIGNATURE_INVALID), what);
    }
}

/* ---- reserved ranges, validly signed ------------------------------------------------------ */

static void assert_refused_reserved(fixture *f, const uint8_t *b, const char *what)
{
    assert_false(run_verify(f->v, b, CCG_SNP_REPORT_SIZE, &f->col, NULL, &f->d));
    assert_reason_set(&f->d, REASONS(CCG_R_SNP_RESERVED_NONZERO), what);
    assert_false(f->d.allow);
}

static void reserved_bytes_nonzero(fixture *f, int which, uint32_t version)
{
    ccg_snp_report r;
    uint8_t good[CCG_SNP_REPORT_SIZE], b[CCG_SNP_REPORT_SIZE];
    char what[96];
    ccg_snp_emulator_default_report(f->emu[which], &r);
    r.version = version;
    sign_into(f->emu[which], &r, good);
    use_collateral_of(f, f->emu[which]);
    for (size_t i = 0; i < sizeof(layout) / sizeof(layout[0]); i++) {
        if (kind_for(&layout[i], version) != K_RESERVED) {
            continue;
        }
        for (size_t off = layout[i].off; off < layout[i].off + layout[i].len; off++) {
            memcpy(b, good, sizeof(b));
            b[off] = 0x80;
            resign(f->emu[which], b); /* a valid signature: the reserved byte alone must refuse it */
            snprintf(what, sizeof(what), "v%u reserved byte 0x%03zx", version, off);
            assert_refused_reserved(f, b, what);
        }
    }
    for (size_t off = CCG_SNP_SIGNED_SIZE + 2 * CCG_SNP_SIG_COMPONENT_SIZE; off < CCG_SNP_REPORT_SIZE; off++) {
        memcpy(b, good, sizeof(b));
        b[off] = 0x01;
        snprintf(what, sizeof(what), "v%u signature reserved byte 0x%03zx", version, off);
        assert_refused_reserved(f, b, what);
    }
}

static void reserved_nonzero_v2(void **state) { reserved_bytes_nonzero(*state, M_VCEK, 2); }
static void reserved_nonzero_v3(void **state) { reserved_bytes_nonzero(*state, G_VCEK, 3); }
static void reserved_nonzero_v5(void **state) { reserved_bytes_nonzero(*state, T_VCEK, 5); }

/* Reserved bits inside fields, each validly signed. */
static void reserved_bits_in_fields(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    uint8_t b[CCG_SNP_REPORT_SIZE];
    use_collateral_of(f, f->emu[M_VCEK]);
    for (int bit = 5; bit < 32; bit++) { /* SIGNER_INFO bits 31:5 */
        ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
        r.flags |= 1u << bit;
        sign_into(f->emu[M_VCEK], &r, b);
        assert_false(run_verify(f->v, b, sizeof(b), &f->col, NULL, &f->d));
        ASSERT_REASONS(&f->d, CCG_R_SNP_RESERVED_NONZERO);
    }
    /* PLATFORM_INFO has no must-be-zero bits: see unknown_platform_info_bits_are_claims. */
    for (int bit = 17; bit < 64; bit++) { /* POLICY bit 17 must be one, bits 63:26 zero */
        if (bit > 17 && bit < 26) {
            continue;
        }
        ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
        r.policy ^= 1ull << bit;
        sign_into(f->emu[M_VCEK], &r, b);
        assert_false(run_verify(f->v, b, sizeof(b), &f->col, NULL, &f->d));
        ASSERT_REASONS(&f->d, CCG_R_SNP_GUEST_POLICY_INVALID);
    }
}

/* Reserved bytes of a TCB_VERSION are known only once the product is: REPORTED_TCB and LAUNCH_TCB are
 * decoded for it and refused. */
static void reserved_tcb_bytes(void **state)
{
    fixture *f = *state;
    const int which[] = {M_VCEK, T_VCEK};
    for (size_t w = 0; w < 2; w++) {
        const ccg_snp_emulator *e = f->emu[which[w]];
        ccg_snp_collateral_free(&f->col);
        assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
        use_collateral_of(f, e);
        for (size_t k = 0; k < 8; k++) {
            if (!tcb_byte_reserved(emu_kinds[which[w]].product, k)) {
                continue;
            }
            ccg_snp_report r;
            ccg_snp_emulator_default_report(e, &r);
            r.launch_tcb |= 1ull << (8 * k);
            sign_into(e, &r, f->report);
            verify(f, NULL);
            ASSERT_REASONS(&f->d, CCG_R_SNP_RESERVED_NONZERO);
            ccg_snp_emulator_default_report(e, &r);
            r.reported_tcb |= 1ull << (8 * k);
            sign_into(e, &r, f->report);
            verify(f, NULL);
            ASSERT_REASONS(&f->d, CCG_R_SNP_RESERVED_NONZERO);
        }
    }
}

static void verify_with_policy(fixture *f, int which, const ccg_snp_report *r, const char *json);

/* ---- PLATFORM_INFO, VMPL and SMT (issue 10, item 13) ----------------------------------------- */

/* A genuine AMD Turin report carries PLATFORM_INFO 0x65: SMT_EN, ECC_EN, ALIAS_CHECK_COMPLETE and bit 6,
 * which older ABI revisions called reserved. The field is signed firmware state: it is decoded into
 * claims, never refused as malformed. */
static void turin_platform_info_0x65_is_a_claim(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    json_t *pi;
    ccg_snp_emulator_default_report(f->emu[T_VCEK], &r);
    r.version = 5;
    r.platform_info = 0x65;
    sign_into(f->emu[T_VCEK], &r, f->report);
    use_collateral_of(f, f->emu[T_VCEK]);
    verify(f, NULL);
    assert_allowed(&f->d);
    pi = json_object_get(f->d.claims, "platform_info");
    assert_string_equal(json_string_value(json_object_get(pi, "raw")), "0x0000000000000065");
    assert_true(json_is_true(json_object_get(pi, "smt_enabled")));
    assert_true(json_is_false(json_object_get(pi, "tsme_enabled")));
    assert_true(json_is_true(json_object_get(pi, "ecc_enabled")));
    assert_true(json_is_false(json_object_get(pi, "rapl_disabled")));
    assert_true(json_is_false(json_object_get(pi, "ciphertext_hiding_enabled")));
    assert_true(json_is_true(json_object_get(pi, "alias_check_complete")));
    assert_true(json_is_true(json_object_get(pi, "iommu_write_safe")));
    assert_true(json_is_false(json_object_get(pi, "tio_enabled")));
    assert_string_equal(json_string_value(json_object_get(pi, "unknown_bits")), "0x0000000000000000");
}

/* Bits no ABI revision ccgate knows defines: reported in unknown_bits, the report still verifies. */
static void unknown_platform_info_bits_are_claims(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    use_collateral_of(f, f->emu[M_VCEK]);
    for (int bit = 8; bit < 64; bit++) {
        char want[24];
        ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
        r.platform_info |= 1ull << bit;
        sign_into(f->emu[M_VCEK], &r, f->report);
        verify(f, NULL);
        assert_allowed(&f->d);
        snprintf(want, sizeof(want), "0x%016llx", 1ull << bit);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(f->d.claims, "platform_info"), "unknown_bits")), want);
    }
}

/* A policy can require the newly decoded bits. */
static void platform_info_requirements_for_new_bits(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[T_VCEK], &r);
    r.platform_info = 0x65;
    verify_with_policy(f, T_VCEK, &r,
                       "{\"policy_id\":\"p\",\"version\":1,\"platform_info\":{\"iommu_write_safe\":true,"
                       "\"alias_check_complete\":true}}");
    assert_allowed(&f->d);
    verify_with_policy(f, T_VCEK, &r,
                       "{\"policy_id\":\"p\",\"version\":1,\"platform_info\":{\"iommu_write_safe\":false,"
                       "\"tio_enabled\":true}}");
    ASSERT_REASONS(&f->d, CCG_R_SNP_PLATFORM_INFO_REQUIREMENT);
    assert_int_equal(f->d.reasons.count, 2);
    assert_string_equal(json_string_value(json_object_get(f->d.reasons.items[0].details, "flag")), "iommu_write_safe");
    assert_string_equal(json_string_value(json_object_get(f->d.reasons.items[1].details, "flag")), "tio_enabled");
}

/* smt_allowed false refuses a platform that runs SMT even when the guest policy does not allow it
 * (the guest's SMT bit is clear): PLATFORM_INFO.SMT_EN alone is enough. */
static void platform_smt_enabled_is_refused(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[G_VCEK], &r);
    r.policy &= ~CCG_SNP_POLICY_SMT;
    r.platform_info = CCG_SNP_PLATFORM_SMT_EN;
    verify_with_policy(f, G_VCEK, &r, "{\"policy_id\":\"nosmt\",\"version\":1,\"smt_allowed\":false}");
    ASSERT_REASONS(&f->d, CCG_R_SNP_SMT_NOT_ALLOWED);
    assert_true(json_is_true(json_object_get(f->d.reasons.items[0].details, "platform_smt_enabled")));
    assert_true(json_is_false(json_object_get(f->d.reasons.items[0].details, "guest_policy_smt")));
    verify_with_policy(f, G_VCEK, &r,
                       "{\"policy_id\":\"nosmt\",\"version\":1,\"platform_info\":{\"smt_enabled\":false}}");
    ASSERT_REASONS(&f->d, CCG_R_SNP_PLATFORM_INFO_REQUIREMENT);
    r.platform_info = 0; /* neither the guest nor the platform uses SMT */
    verify_with_policy(f, G_VCEK, &r, "{\"policy_id\":\"nosmt\",\"version\":1,\"smt_allowed\":false}");
    assert_allowed(&f->d);
}

/* VMPL 0xFFFFFFFF: a report the host requested (SNP_HV_REPORT_REQ, SEV-SNP ABI 1.58). It is genuine,
 * so it parses, but it binds no guest challenge: denied under every policy. Other values above 3 are
 * not defined and stay malformed. */
static void host_requested_report_is_denied(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
    r.vmpl = 0xFFFFFFFFu;
    sign_into(f->emu[M_VCEK], &r, f->report);
    use_collateral_of(f, f->emu[M_VCEK]);
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_SNP_HOST_REQUESTED_REPORT);
    assert_int_equal(json_integer_value(json_object_get(f->d.claims, "vmpl")), 0xFFFFFFFF);
    assert_true(json_is_true(json_object_get(f->d.claims, "host_requested")));
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"dbg\",\"version\":1,\"debug_allowed\":true,"
                                    "\"migration_agent_allowed\":true}");
    verify(f, p);
    ASSERT_REASONS(&f->d, CCG_R_SNP_HOST_REQUESTED_REPORT);
    ccg_snp_policy_free(p);
    for (uint32_t vmpl = 4; vmpl != 0; vmpl = vmpl == 4 ? 0xFFFFFFFEu : 0) {
        ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
        r.vmpl = vmpl;
        sign_into(f->emu[M_VCEK], &r, f->report);
        assert_false(run_verify(f->v, f->report, sizeof(f->report), &f->col, NULL, &f->d));
        ASSERT_REASONS(&f->d, CCG_R_INPUT_MALFORMED);
    }
}

/* ---- the endorsement chain ---------------------------------------------------------------- */

/* Another emulator's VCEK with this emulator's ASK: the leaf does not chain. */
static void vcek_from_another_instance(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[M_OTHER], &r);
    sign_into(f->emu[M_OTHER], &r, f->report); /* consistent with the foreign VCEK */
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_vcek(f->emu[M_OTHER]))));
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_ask(f->emu[M_VCEK]))));
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CERT_SIGNATURE_INVALID);

    /* The report signed by the trusted emulator, presented with the foreign VCEK: both break. */
    ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
    sign_into(f->emu[M_VCEK], &r, f->report);
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CERT_SIGNATURE_INVALID, CCG_R_SNP_SIGNATURE_INVALID);
}

/* A whole chain from an emulator whose ARK nobody trusts, ARK included in the bundle. */
static void untrusted_emulator_root(void **state)
{
    fixture *f = *state;
    default_signed(f, M_OTHER);
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_ark(f->emu[M_OTHER]))));
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CERT_UNTRUSTED_ROOT);
}

/* No extra root at all: the pinned AMD roots never accept the emulator, whatever it presents. */
static void pinned_roots_never_accept_the_emulator(void **state)
{
    fixture *f = *state;
    ccg_snp_verifier *plain = new_verifier();
    for (int e = 0; e < M_OTHER; e++) {
        ccg_snp_collateral_free(&f->col);
        assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
        default_signed(f, e);
        assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_ark(f->emu[e]))));
        assert_true(run_verify(plain, f->report, sizeof(f->report), &f->col, NULL, &f->d));
        ASSERT_REASONS(&f->d, CCG_R_CERT_UNTRUSTED_ROOT);
    }
    /* Without its ARK the emulator's ASK names AMD's ARK-<product>, whose pinned key does not verify it:
     * the chain still ends at no trusted root (snp_chain.c, find_root). */
    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    default_signed(f, G_VCEK);
    assert_true(run_verify(plain, f->report, sizeof(f->report), &f->col, NULL, &f->d));
    ASSERT_REASONS(&f->d, CCG_R_CERT_UNTRUSTED_ROOT);
    ccg_snp_verifier_free(plain);
}

/* A root trusted for another product. */
static void root_of_another_product(void **state)
{
    fixture *f = *state;
    ccg_snp_verifier *v = new_verifier();
    /* The Milan chain's own ARK, but trusted as Genoa's root. */
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, CCG_SNP_PRODUCT_GENOA, ccg_snp_emulator_ark(f->emu[M_OTHER]))));
    default_signed(f, M_OTHER);
    assert_true(run_verify(v, f->report, sizeof(f->report), &f->col, NULL, &f->d));
    ASSERT_REASONS(&f->d, CCG_R_CERT_WRONG_PRODUCT);
    ccg_snp_verifier_free(v);

    /* A Genoa emulator's root trusted; a Milan chain (with its own ARK) does not end there. */
    v = new_verifier();
    trust(v, f->emu[G_VCEK]);
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_ark(f->emu[M_OTHER]))));
    assert_true(run_verify(v, f->report, sizeof(f->report), &f->col, NULL, &f->d));
    ASSERT_REASONS(&f->d, CCG_R_CERT_UNTRUSTED_ROOT);
    ccg_snp_verifier_free(v);
}

/* A Genoa chain for a report whose CPUID says Milan. */
static void chain_of_another_product(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[G_VCEK], &r);
    r.cpuid_mod_id = 0x01; /* Milan */
    sign_into(f->emu[G_VCEK], &r, f->report);
    use_collateral_of(f, f->emu[G_VCEK]);
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_SNP_PRODUCT_MISMATCH);
}

static void missing_collateral(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
    sign_into(f->emu[M_VCEK], &r, f->report);
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_vcek(f->emu[M_VCEK]))));
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CERT_CHAIN_INCOMPLETE);

    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&f->col, ccg_snp_emulator_ask(f->emu[M_VCEK]))));
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_COLLATERAL_MISSING);
}

static void expect_window(fixture *f, ccg_snp_signer signer, int ask, ccg_time nb, ccg_time na, ccg_reason r)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, signer);
    *(ask ? &cfg.ask : &cfg.key) = (ccg_snp_emu_validity){nb, na};
    ccg_snp_emulator *e = new_emulator_with(&cfg);
    ccg_snp_report rep;
    ccg_snp_verifier *v = new_verifier();
    trust(v, e);
    ccg_snp_emulator_default_report(e, &rep);
    sign_into(e, &rep, f->report);
    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    use_collateral_of(f, e);
    assert_true(run_verify(v, f->report, sizeof(f->report), &f->col, NULL, &f->d));
    ASSERT_REASONS(&f->d, r);
    const char *cn = json_string_value(json_object_get(f->d.reasons.items[0].details, "certificate"));
    assert_string_equal(cn, ask ? (signer == CCG_SNP_SIGNER_VLEK ? "SEV-VLEK-Milan" : "SEV-Milan")
                                : (signer == CCG_SNP_SIGNER_VLEK ? "SEV-VLEK" : "SEV-VCEK"));
    ccg_snp_verifier_free(v);
    ccg_snp_emulator_free(e);
}

static void expired_and_not_yet_valid_certificates(void **state)
{
    fixture *f = *state;
    const ccg_time now = tu_time(NOW);
    expect_window(f, CCG_SNP_SIGNER_VCEK, 0, tu_time("2019-01-01T00:00:00Z"), now - 1, CCG_R_CERT_EXPIRED);
    expect_window(f, CCG_SNP_SIGNER_VCEK, 0, now + 1, tu_time("2033-01-01T00:00:00Z"), CCG_R_CERT_NOT_YET_VALID);
    expect_window(f, CCG_SNP_SIGNER_VLEK, 0, tu_time("2019-01-01T00:00:00Z"), now - 1, CCG_R_CERT_EXPIRED);
    expect_window(f, CCG_SNP_SIGNER_VCEK, 1, tu_time("2019-01-01T00:00:00Z"), now - 1, CCG_R_CERT_EXPIRED);
    expect_window(f, CCG_SNP_SIGNER_VLEK, 1, now + 1, tu_time("2049-01-01T00:00:00Z"), CCG_R_CERT_NOT_YET_VALID);
}

/* A cached chain is still checked against every `now`. */
static void cached_chain_is_checked_at_each_time(void **state)
{
    fixture *f = *state;
    default_signed(f, G_VLEK);
    verify(f, NULL);
    assert_allowed(&f->d);
    ccg_decision_free(&f->d);
    /* No baseline here (its own validity is not the subject): the policy opts out of requiring one. */
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"no-baseline\",\"version\":1,\"tcb\":{\"require_baseline\":false}}");
    assert_true(ccg_ok(ccg_snp_verify(f->v, f->report, sizeof(f->report), &f->col, p,
                                      CCG_SNP_EMU_DEFAULT_NOT_AFTER + 1, &f->d)));
    ASSERT_REASONS(&f->d, CCG_R_CERT_EXPIRED);
    ccg_snp_policy_free(p);
}

static X509_CRL *crl_of(const ccg_snp_emulator *e, const ASN1_INTEGER *const *serials, size_t n, const char *this_upd,
                        const char *next_upd)
{
    X509_CRL *crl = NULL;
    assert_true(ccg_ok(ccg_snp_emulator_crl(e, serials, n, tu_time(this_upd), tu_time(next_upd), &crl)));
    return crl;
}

static void revoked_ask(void **state)
{
    fixture *f = *state;
    const int kinds[] = {M_VCEK, T_VLEK}; /* an ASK, and an ASVK */
    for (size_t k = 0; k < 2; k++) {
        const int which = kinds[k];
        const ccg_snp_emulator *e = f->emu[which];
        const ASN1_INTEGER *serials[] = {X509_get0_serialNumber(ccg_snp_emulator_vcek(f->emu[M_OTHER])),
                                         X509_get0_serialNumber(ccg_snp_emulator_ask(e))};
        ccg_snp_collateral_free(&f->col);
        assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
        default_signed(f, which);
        f->col.crl = crl_of(e, serials, 2, "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z");
        verify(f, NULL);
        ASSERT_REASONS(&f->d, CCG_R_CERT_REVOKED);
    }
}

static void crl_signed_by_another_key(void **state)
{
    fixture *f = *state;
    default_signed(f, M_VCEK);
    /* Same issuer name (ARK-Milan), another key. */
    f->col.crl = crl_of(f->emu[M_OTHER], NULL, 0, "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z");
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CRL_SIGNATURE_INVALID);
    /* Genoa's ARK signing a CRL for a Milan chain: another issuer altogether. */
    X509_CRL_free(f->col.crl);
    f->col.crl = crl_of(f->emu[G_VCEK], NULL, 0, "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z");
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CRL_SIGNATURE_INVALID);
}

static void crl_outside_its_window(void **state)
{
    fixture *f = *state;
    default_signed(f, G_VCEK);
    f->col.crl = crl_of(f->emu[G_VCEK], NULL, 0, "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z");
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CRL_EXPIRED);
    X509_CRL_free(f->col.crl);
    f->col.crl = crl_of(f->emu[G_VCEK], NULL, 0, "2026-06-02T00:00:00Z", "2026-07-01T00:00:00Z");
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_CRL_NOT_YET_VALID);
}

static void crl_required_by_policy(void **state)
{
    fixture *f = *state;
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"crl\",\"version\":1,\"require_crl\":true}");
    default_signed(f, T_VCEK);
    verify(f, p);
    ASSERT_REASONS(&f->d, CCG_R_SNP_CRL_REQUIRED);
    ccg_snp_policy_free(p);
}

/* ---- binding of the endorsement key to the report ----------------------------------------- */

static void chip_id_mismatch(void **state)
{
    fixture *f = *state;
    const int which[] = {M_VCEK, G_VCEK, T_VCEK};
    for (size_t i = 0; i < 3; i++) {
        ccg_snp_report r;
        ccg_snp_collateral_free(&f->col);
        assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
        ccg_snp_emulator_default_report(f->emu[which[i]], &r);
        r.chip_id[7] ^= 0x10; /* inside the 8 bytes even a Turin hwID carries */
        sign_into(f->emu[which[i]], &r, f->report);
        use_collateral_of(f, f->emu[which[i]]);
        verify(f, NULL);
        ASSERT_REASONS(&f->d, CCG_R_SNP_CHIP_ID_MISMATCH);
    }
    /* A VLEK is not per chip: any chip ID is fine. */
    ccg_snp_report r;
    ccg_snp_collateral_free(&f->col);
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    ccg_snp_emulator_default_report(f->emu[M_VLEK], &r);
    r.chip_id[0] ^= 0x10;
    sign_into(f->emu[M_VLEK], &r, f->report);
    use_collateral_of(f, f->emu[M_VLEK]);
    verify(f, NULL);
    assert_allowed(&f->d);
}

static void masked_chip_id(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[G_VCEK], &r);
    memset(r.chip_id, 0, sizeof(r.chip_id)); /* the platform's MASK_CHIP_ID setting */
    sign_into(f->emu[G_VCEK], &r, f->report);
    use_collateral_of(f, f->emu[G_VCEK]);
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_SNP_CHIP_ID_MASKED);
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"masked-ok\",\"version\":1,\"allow_masked_chip_id\":true}");
    verify(f, p);
    assert_allowed(&f->d);
    ccg_snp_policy_free(p);
}

/* MASK_CHIP_KEY: the firmware does not sign, the signature area is zero. */
static void masked_chip_key_is_unsigned(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
    r.flags |= 1u << 1;
    assert_true(ccg_ok(ccg_snp_report_serialize(&r, f->report)));
    use_collateral_of(f, f->emu[M_VCEK]);
    verify(f, NULL);
    ASSERT_REASONS(&f->d, CCG_R_SNP_SIGNATURE_INVALID);
}

static void vcek_tcb_differs_from_reported_tcb(void **state)
{
    fixture *f = *state;
    const int which[] = {M_VCEK, T_VCEK, G_VLEK};
    for (size_t i = 0; i < 3; i++) {
        ccg_snp_report r;
        const ccg_snp_emulator *e = f->emu[which[i]];
        ccg_snp_tcb tcb = ccg_snp_emulator_config_of(e)->tcb;
        ccg_snp_collateral_free(&f->col);
        assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
        tcb.snp++;
        if (emu_kinds[which[i]].product == CCG_SNP_PRODUCT_TURIN) {
            tcb.fmc++;
        }
        ccg_snp_emulator_default_report(e, &r);
        r.reported_tcb = ccg_snp_tcb_encode(emu_kinds[which[i]].product, &tcb);
        sign_into(e, &r, f->report);
        use_collateral_of(f, e);
        verify(f, NULL);
        ASSERT_REASONS(&f->d, CCG_R_SNP_VCEK_TCB_MISMATCH);
    }
}

/* ---- policy ------------------------------------------------------------------------------- */

static void verify_with_policy(fixture *f, int which, const ccg_snp_report *r, const char *json)
{
    ccg_snp_policy *p = policy_from(json);
    sign_into(f->emu[which], r, f->report);
    use_collateral_of(f, f->emu[which]);
    verify(f, p);
    ccg_snp_policy_free(p);
}

static void tcb_below_minimum(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    char json[256];
    const ccg_snp_tcb *t = &ccg_snp_emulator_config_of(f->emu[T_VCEK])->tcb;
    ccg_snp_emulator_default_report(f->emu[T_VCEK], &r);
    snprintf(json, sizeof(json), "{\"policy_id\":\"tcb\",\"version\":1,\"minimum_tcb\":{\"fmc\":%d}}", t->fmc + 1);
    verify_with_policy(f, T_VCEK, &r, json);
    ASSERT_REASONS(&f->d, CCG_R_SNP_TCB_BELOW_MINIMUM);
    assert_int_equal(f->d.reasons.count, 2); /* REPORTED_TCB and LAUNCH_TCB */
}

static void debug_guest(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[M_VCEK], &r);
    r.policy |= CCG_SNP_POLICY_DEBUG;
    verify_with_policy(f, M_VCEK, &r, "{\"policy_id\":\"p\",\"version\":1}");
    ASSERT_REASONS(&f->d, CCG_R_SNP_DEBUG_ENABLED);
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"dbg\",\"version\":1,\"debug_allowed\":true}");
    verify(f, p);
    assert_allowed(&f->d);
    ccg_snp_policy_free(p);
}

static void report_data_mismatch(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    char json[256], *want;
    uint8_t expected[64];
    memset(expected, 0x11, sizeof(expected));
    want = hex_of(expected, sizeof(expected));
    snprintf(json, sizeof(json), "{\"policy_id\":\"rd\",\"version\":1,\"report_data\":\"%s\"}", want);
    ccg_snp_emulator_default_report(f->emu[G_VCEK], &r);
    memset(r.report_data, 0x11, sizeof(r.report_data));
    r.report_data[63] = 0x12;
    verify_with_policy(f, G_VCEK, &r, json);
    ASSERT_REASONS(&f->d, CCG_R_SNP_REPORT_DATA_MISMATCH);
    assert_string_equal(json_string_value(json_object_get(f->d.reasons.items[0].details, "expected")), want);
    free(want);
}

static void measurement_not_allowed(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    uint8_t other[48];
    char json[512], *a, *b;
    ccg_snp_emulator_default_report(f->emu[M_VLEK], &r);
    memcpy(other, r.measurement, sizeof(other));
    other[47] ^= 1;
    a = hex_of(other, 48);
    memset(other, 0, sizeof(other));
    b = hex_of(other, 48);
    snprintf(json, sizeof(json), "{\"policy_id\":\"m\",\"version\":1,\"allowed_measurements\":[\"%s\",\"%s\"]}", a, b);
    verify_with_policy(f, M_VLEK, &r, json);
    ASSERT_REASONS(&f->d, CCG_R_SNP_MEASUREMENT_NOT_ALLOWED);
    free(a);
    free(b);
}

static void vmpl_mismatch(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[T_VLEK], &r);
    r.vmpl = 1;
    verify_with_policy(f, T_VLEK, &r, "{\"policy_id\":\"v\",\"version\":1,\"vmpl\":0}");
    ASSERT_REASONS(&f->d, CCG_R_SNP_VMPL_MISMATCH);
}

static void vlek_when_only_vcek_allowed(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    ccg_snp_emulator_default_report(f->emu[G_VLEK], &r);
    verify_with_policy(f, G_VLEK, &r, "{\"policy_id\":\"s\",\"version\":1,\"allowed_signers\":[\"vcek\"]}");
    ASSERT_REASONS(&f->d, CCG_R_SNP_SIGNER_NOT_ALLOWED);
}

/* Several failures at once: every one is reported, in one decision. */
static void every_failure_is_reported(void **state)
{
    fixture *f = *state;
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_GENOA, CCG_SNP_SIGNER_VCEK);
    cfg.key = (ccg_snp_emu_validity){tu_time("2020-01-01T00:00:00Z"), tu_time("2025-01-01T00:00:00Z")};
    ccg_snp_emulator *e = new_emulator_with(&cfg);
    ccg_snp_verifier *v = new_verifier();
    ccg_snp_report r;
    char json[512], *rd;
    uint8_t expected_rd[64] = {1};
    trust(v, e);
    ccg_snp_emulator_default_report(e, &r);
    r.policy |= CCG_SNP_POLICY_DEBUG | CCG_SNP_POLICY_MIGRATE_MA;
    r.vmpl = 2;
    r.chip_id[3] ^= 1;
    const ccg_snp_tcb low = {.bootloader = 1, .snp = 1, .microcode = 1};
    r.reported_tcb = ccg_snp_tcb_encode(CCG_SNP_PRODUCT_GENOA, &low);
    rd = hex_of(expected_rd, sizeof(expected_rd));
    snprintf(json, sizeof(json),
             "{\"policy_id\":\"all\",\"version\":1,\"vmpl\":0,\"minimum_tcb\":{\"snp\":%d},\"report_data\":\"%s\","
             "\"allowed_measurements\":[],\"minimum_guest_svn\":7,\"require_crl\":true}",
             cfg.tcb.snp + 1, rd);
    free(rd);
    ccg_snp_policy *p = policy_from(json);
    sign_into(e, &r, f->report);
    use_collateral_of(f, e);
    assert_true(run_verify(v, f->report, sizeof(f->report), &f->col, p, &f->d));
    ASSERT_REASONS(&f->d, CCG_R_CERT_EXPIRED, CCG_R_SNP_CRL_REQUIRED, CCG_R_SNP_VCEK_TCB_MISMATCH,
                   CCG_R_SNP_CHIP_ID_MISMATCH, CCG_R_SNP_DEBUG_ENABLED, CCG_R_SNP_MIGRATION_AGENT_ENABLED,
                   CCG_R_SNP_VMPL_MISMATCH, CCG_R_SNP_GUEST_SVN_BELOW_MINIMUM, CCG_R_SNP_TCB_BELOW_MINIMUM,
                   CCG_R_SNP_MEASUREMENT_NOT_ALLOWED, CCG_R_SNP_REPORT_DATA_MISMATCH, CCG_R_SNP_TCB_OUT_OF_DATE,
                   CCG_R_SNP_TCB_ROLLED_BACK);
    ccg_snp_policy_free(p);
    ccg_snp_verifier_free(v);
    ccg_snp_emulator_free(e);
}

/* ---- sizes -------------------------------------------------------------------------------- */

static void wrong_sizes_are_refused(void **state)
{
    fixture *f = *state;
    static const size_t sizes[] = {0, 1, CCG_SNP_REPORT_SIZE - 1, CCG_SNP_REPORT_SIZE + 1, 2 * CCG_SNP_REPORT_SIZE};
    uint8_t *big = calloc(1, 2 * CCG_SNP_REPORT_SIZE);
    assert_non_null(big);
    default_signed(f, M_VCEK);
    memcpy(big, f->report, sizeof(f->report));
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        assert_false(run_verify(f->v, big, sizes[i], &f->col, NULL, &f->d));
        ASSERT_REASONS(&f->d, CCG_R_SNP_REPORT_SIZE_INVALID);
        assert_null(f->d.claims);
    }
    free(big);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, test_setup, test_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(baseline_reports_are_allowed),
        T(baseline_allowed_with_crl_and_strict_policy),
        T(layout_covers_the_signed_bytes),
        T(flips_milan_v3_vcek),
        T(flips_milan_v2_vcek),
        T(flips_genoa_v3_vcek),
        T(flips_turin_v5_vcek),
        T(flips_turin_v3_vlek),
        T(flips_milan_v5_vlek),
        T(flips_in_r_and_s_invalidate_the_signature),
        T(reserved_nonzero_v2),
        T(reserved_nonzero_v3),
        T(reserved_nonzero_v5),
        T(reserved_bits_in_fields),
        T(reserved_tcb_bytes),
        T(turin_platform_info_0x65_is_a_claim),
        T(unknown_platform_info_bits_are_claims),
        T(platform_info_requirements_for_new_bits),
        T(platform_smt_enabled_is_refused),
        T(host_requested_report_is_denied),
        T(vcek_from_another_instance),
        T(untrusted_emulator_root),
        T(pinned_roots_never_accept_the_emulator),
        T(root_of_another_product),
        T(chain_of_another_product),
        T(missing_collateral),
        T(expired_and_not_yet_valid_certificates),
        T(cached_chain_is_checked_at_each_time),
        T(revoked_ask),
        T(crl_signed_by_another_key),
        T(crl_outside_its_window),
        T(crl_required_by_policy),
        T(chip_id_mismatch),
        T(masked_chip_id),
        T(masked_chip_key_is_unsigned),
        T(vcek_tcb_differs_from_reported_tcb),
        T(tcb_below_minimum),
        T(debug_guest),
        T(report_data_mismatch),
        T(measurement_not_allowed),
        T(vmpl_mismatch),
        T(vlek_when_only_vcek_allowed),
        T(every_failure_is_reported),
        T(wrong_sizes_are_refused),
    };
    return cmocka_run_group_tests_name("snp_negative", tests, setup, teardown);
}
