/* The SEV-SNP verifier over real hardware reports and certificates from tests/vectors/snp, each giving
 * the outcome docs/testing.md lists for it (Test vectors). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"

#include "ccgate/snp_vcek.h"
#include "ccgate/snp_verify.h"
#include "ccgate/x509util.h"

typedef struct {
    ccg_snp_verifier *v;
    ccg_snp_collateral col;
    ccg_decision d;
    uint8_t *report;
    size_t report_len;
    EVP_PKEY *authority;            /* a test authority signing the TCB baselines below */
    ccg_refval_issuers *iss;
    ccg_snp_tcb_baselines baselines; /* the default policy accepts UpToDate only, against these */
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_true(ccg_ok(ccg_snp_verifier_new(&f->v)));
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->col)));
    ccg_decision_init(&f->d, "snp");
    f->authority = tu_authority_key();
    f->iss = tu_issuers_with(f->authority, "authority");
    ccg_snp_tcb_baselines_init(&f->baselines);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_decision_free(&f->d);
    ccg_snp_collateral_free(&f->col);
    ccg_snp_verifier_free(f->v);
    ccg_snp_tcb_baselines_free(&f->baselines);
    ccg_refval_issuers_free(f->iss);
    EVP_PKEY_free(f->authority);
    free(f->report);
    free(f);
    return 0;
}

static void load_report(fixture *f, const char *rel)
{
    tu_read_vector(rel, &f->report, &f->report_len);
    if (strstr(rel, ".hex") != NULL) {
        uint8_t *bin = NULL;
        size_t len = 0;
        assert_true(ccg_ok(ccg_hex_decode_text((const char *)f->report, f->report_len, &bin, &len)));
        free(f->report);
        f->report = bin;
        f->report_len = len;
    }
}

static void add_certs(fixture *f, const char *rel)
{
    uint8_t *data = NULL;
    size_t len = 0;
    tu_read_vector(rel, &data, &len);
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&f->col, data, len)));
    free(data);
}

/* The signed TCB baseline for a product, whose up_to_date is the given levels (the report's own TCB,
 * read from its claims: 0x<ucode><snp>0000 0000<tee><bl> on Milan and Genoa). */
static void baseline(fixture *f, ccg_snp_product p, uint8_t bl, uint8_t tee, uint8_t snp, uint8_t ucode)
{
    const ccg_snp_tcb t = {.bootloader = bl, .tee = tee, .snp = snp, .microcode = ucode};
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&f->baselines, tu_tcb_baseline(p, &t, NULL, "2024-01-01T00:00:00Z",
                                                                               "2027-01-01T00:00:00Z", f->authority,
                                                                               "authority"))));
}

static void verify(fixture *f, const ccg_snp_policy *p, const char *now)
{
    ccg_snp_verify_opts opts = {.tcb_baselines = &f->baselines, .tcb_issuers = f->iss};
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_snp_verify_ex(f->v, f->report, f->report_len, &f->col, p, &opts, tu_time(now), &f->d)));
}

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *s = json_dumps(d->reasons.items[i].details, JSON_COMPACT);
        print_message("  reason %s %s\n", ccg_reason_code(d->reasons.items[i].reason), s ? s : "");
        free(s);
    }
}

static void assert_allow(const ccg_decision *d)
{
    if (!d->allow || d->reasons.count != 0) {
        print_reasons(d);
        fail_msg("expected allow");
    }
}

/* The decision denies with exactly this one reason. */
static void assert_only_reason(const ccg_decision *d, ccg_reason r)
{
    if (d->allow || d->reasons.count != 1 || d->reasons.items[0].reason != r) {
        print_reasons(d);
        fail_msg("expected exactly %s", ccg_reason_code(r));
    }
}

static void assert_has_reason(const ccg_decision *d, ccg_reason r)
{
    if (d->allow || !ccg_reasons_has(&d->reasons, r)) {
        print_reasons(d);
        fail_msg("expected %s among the reasons", ccg_reason_code(r));
    }
}

static json_t *claim(const ccg_decision *d, const char *key, const char *sub)
{
    json_t *v = json_object_get(d->claims, key);
    return sub ? json_object_get(v, sub) : v;
}

static ccg_snp_policy *policy_from(const char *json)
{
    ccg_snp_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_policy_parse(json, strlen(json), &p))) {
        fail_msg("policy did not parse: %s", ccg_error_last()->message);
    }
    return p;
}

static void milan_v2_virtee_is_valid(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/virtee-milan-v2/report.hex");
    add_certs(f, "snp/virtee-milan-v2/vcek.der");
    add_certs(f, "snp/roots/milan_ask_ark_chain.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 3, 0, 8, 0x73);
    verify(f, NULL, "2025-01-01T00:00:00Z");
    assert_allow(&f->d);
    assert_string_equal(json_string_value(claim(&f->d, "tcb_status", NULL)), "UpToDate");
    /* v2 has no CPUID bytes: the product comes from the certificate chain. */
    assert_string_equal(json_string_value(claim(&f->d, "product", NULL)), "Milan");
    assert_string_equal(json_string_value(claim(&f->d, "reported_tcb", "raw")), "0x7308000000000003");
    assert_int_equal(json_integer_value(claim(&f->d, "reported_tcb", "bootloader")), 3);
    assert_int_equal(json_integer_value(claim(&f->d, "reported_tcb", "tee")), 0);
    assert_int_equal(json_integer_value(claim(&f->d, "reported_tcb", "snp")), 8);
    assert_int_equal(json_integer_value(claim(&f->d, "reported_tcb", "microcode")), 0x73);
    assert_int_equal(json_integer_value(claim(&f->d, "version", NULL)), 2);
    assert_int_equal(strncmp(f->d.evidence_digest, "sha384:", 7), 0);
    assert_int_equal(strlen(f->d.evidence_digest), 7 + 96);
}

static void milan_v2_trustee_vcek_is_for_reported_tcb(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/trustee/test-report.bin");
    add_certs(f, "snp/trustee/test-vcek.der");
    add_certs(f, "snp/roots/milan_ask_ark_chain.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 3, 0, 8, 0x73); /* CURRENT_TCB is newer: the status rests on REPORTED_TCB */
    verify(f, NULL, "2025-01-01T00:00:00Z");
    assert_allow(&f->d);
    assert_string_equal(json_string_value(claim(&f->d, "reported_tcb", "raw")), "0x7308000000000003");
    assert_string_equal(json_string_value(claim(&f->d, "current_tcb", "raw")), "0xce08000000000003");
}

static void verify_msft(fixture *f, const char *dir, const char *product)
{
    char path[128];
    if (strcmp(product, "Milan") == 0) {
        baseline(f, CCG_SNP_PRODUCT_MILAN, 4, 0, 24, 219);
    } else {
        baseline(f, CCG_SNP_PRODUCT_GENOA, 10, 0, 23, 84);
    }
    snprintf(path, sizeof(path), "snp/%s/attestation_report.bin", dir);
    load_report(f, path);
    snprintf(path, sizeof(path), "snp/%s/vcek.pem", dir);
    add_certs(f, path);
    snprintf(path, sizeof(path), "snp/%s/ask.pem", dir);
    add_certs(f, path);
    verify(f, NULL, "2026-06-01T00:00:00Z");
    assert_allow(&f->d);
    assert_string_equal(json_string_value(claim(&f->d, "product", NULL)), product);
    assert_int_equal(json_integer_value(claim(&f->d, "version", NULL)), 3);
}

static void milan_v3_is_valid(void **state) { verify_msft(*state, "msft-milan-v3", "Milan"); }

static void genoa_v3_is_valid(void **state)
{
    fixture *f = *state;
    verify_msft(f, "msft-genoa-v3", "Genoa");
    assert_int_equal(json_integer_value(claim(&f->d, "cpuid", "model")), 0x11);
}

static void milan_and_genoa_share_measurement_and_host_data(void **state)
{
    fixture *f = *state;
    uint8_t *genoa = NULL;
    size_t len = 0;
    ccg_snp_report a, b;
    load_report(f, "snp/msft-milan-v3/attestation_report.bin");
    tu_read_vector("snp/msft-genoa-v3/attestation_report.bin", &genoa, &len);
    assert_true(ccg_ok(ccg_snp_report_parse(f->report, f->report_len, &a)));
    assert_true(ccg_ok(ccg_snp_report_parse(genoa, len, &b)));
    assert_memory_equal(a.measurement, b.measurement, 48);
    assert_memory_equal(a.host_data, b.host_data, 32);
    free(genoa);
}

static void milan_v3_is_refused_before_its_vcek_is_valid(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/msft-milan-v3/attestation_report.bin");
    add_certs(f, "snp/msft-milan-v3/vcek.pem");
    add_certs(f, "snp/msft-milan-v3/ask.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 4, 0, 24, 219);
    verify(f, NULL, "2025-06-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_NOT_YET_VALID);
    assert_string_equal(json_string_value(json_object_get(f->d.reasons.items[0].details, "certificate")), "SEV-VCEK");
}

static void gosevguest_debug_report_is_rejected_for_debug(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/gosevguest-milan-v2-debug/report.bin");
    add_certs(f, "snp/gosevguest-milan-v2-debug/vcek.der");
    add_certs(f, "snp/gosevguest-milan-v2-debug/ask_ark.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 2, 0, 5, 0x44);
    verify(f, NULL, "2025-01-01T00:00:00Z");
    /* Signature and chain are valid: debug is the one reason. */
    assert_only_reason(&f->d, CCG_R_SNP_DEBUG_ENABLED);
    assert_true(json_is_true(claim(&f->d, "policy", "debug")));
    /* A policy that allows debug accepts it: the denial is the policy's, not a verification failure. */
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"lab\",\"version\":2,\"debug_allowed\":true}");
    verify(f, p, "2025-01-01T00:00:00Z");
    assert_allow(&f->d);
    assert_string_equal(f->d.policy_id, "lab");
    assert_int_equal(f->d.policy_version, 2);
    ccg_snp_policy_free(p);
}

/* The AWS VLEK report: REPORTED_TCB 0xd918000000000004 (microcode 0xd9) with COMMITTED_TCB microcode
 * 0xdb. Its baseline: the reported TCB is up to date, so rollback is the one TCB finding. */
static void load_vlek(fixture *f)
{
    load_report(f, "snp/trustee/test-vlek-report.bin");
    add_certs(f, "snp/trustee/test-vlek.der");
    add_certs(f, "snp/trustee/milan_ask_ark_asvk.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 4, 0, 24, 0xd9);
}

#define ACCEPT_ROLLBACK "\"tcb\":{\"accepted_statuses\":[\"UpToDate\",\"RolledBack\"]}"

/* Signature and chain are valid inside the VLEK's validity; its host reports a TCB below the committed
 * one, so it is RolledBack: refused by default, admitted by a policy that accepts it explicitly. */
static void vlek_report_is_rolled_back_inside_its_validity(void **state)
{
    fixture *f = *state;
    load_vlek(f);
    verify(f, NULL, "2025-06-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_SNP_TCB_ROLLED_BACK);
    assert_string_equal(json_string_value(claim(&f->d, "tcb_status", NULL)), "RolledBack");
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"aws\",\"version\":1," ACCEPT_ROLLBACK "}");
    verify(f, p, "2025-06-01T00:00:00Z");
    assert_allow(&f->d);
    assert_string_equal(json_string_value(claim(&f->d, "signing_key", NULL)), "vlek");
    assert_string_equal(json_string_value(claim(&f->d, "tcb_status", NULL)), "RolledBack");
    ccg_snp_policy_free(p);
}

static void vlek_report_is_refused_after_its_validity(void **state)
{
    fixture *f = *state;
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"aws\",\"version\":1," ACCEPT_ROLLBACK "}");
    load_vlek(f);
    verify(f, p, "2025-12-11T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_EXPIRED);
    verify(f, p, "2024-12-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_NOT_YET_VALID);
    /* The chain is cached after the first call; the time is still checked on every call. */
    verify(f, p, "2025-06-01T00:00:00Z");
    assert_allow(&f->d);
    verify(f, p, "2026-01-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_EXPIRED);
    ccg_snp_policy_free(p);
}

static void vlek_refused_when_policy_allows_only_vcek(void **state)
{
    fixture *f = *state;
    ccg_snp_policy *p = policy_from("{\"policy_id\":\"vcek-only\",\"version\":1,\"allowed_signers\":[\"vcek\"],"
                                    ACCEPT_ROLLBACK "}");
    load_vlek(f);
    verify(f, p, "2025-06-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_SNP_SIGNER_NOT_ALLOWED);
    ccg_snp_policy_free(p);
}

static void invalid_vcek(void **state, const char *rel)
{
    fixture *f = *state;
    load_report(f, "snp/trustee/test-report.bin");
    add_certs(f, rel);
    add_certs(f, "snp/roots/milan_ask_ark_chain.pem");
    verify(f, NULL, "2025-01-01T00:00:00Z");
    assert_has_reason(&f->d, CCG_R_CERT_SIGNATURE_INVALID);
    assert_has_reason(&f->d, CCG_R_SNP_SIGNATURE_INVALID);
}

static void invalid_vcek_new_is_refused(void **state) { invalid_vcek(state, "snp/trustee/test-vcek-invalid-new.der"); }

static void invalid_vcek_legacy_is_refused(void **state)
{
    invalid_vcek(state, "snp/trustee/test-vcek-invalid-legacy.der");
}

static void turin_vcek_extensions_parse(void **state)
{
    (void)state;
    uint8_t *der = NULL, *chain = NULL;
    size_t len = 0, chain_len = 0;
    STACK_OF(X509) *certs = sk_X509_new_null();
    ccg_snp_vcek_ext ext;
    tu_read_vector("snp/virtee-turin-vcek-only/vcek.der", &der, &len);
    assert_true(ccg_ok(ccg_x509_load_bundle(der, len, certs)));
    X509 *vcek = sk_X509_value(certs, 0);
    assert_true(ccg_ok(ccg_snp_vcek_ext_parse(vcek, &ext)));
    assert_int_equal(ccg_snp_product_from_name(ext.product_name), CCG_SNP_PRODUCT_TURIN);
    assert_true(ext.has_bl && ext.has_tee && ext.has_snp && ext.has_ucode);
    assert_true(ext.has_fmc); /* Turin's extra TCB component */
    assert_true(ext.has_hwid);
    assert_int_equal(ext.hwid_len, 8); /* Turin binds only the first 8 bytes of CHIP_ID */
    assert_int_equal(ccg_snp_hwid_len(CCG_SNP_PRODUCT_TURIN), 8);
    const uint8_t hwid[8] = {0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d};
    assert_memory_equal(ext.hwid, hwid, 8);
    assert_int_equal(ext.tcb.microcode, 9);
    assert_int_equal(ext.tcb.fmc | ext.tcb.bootloader | ext.tcb.tee | ext.tcb.snp, 0);
    assert_int_equal(ext.struct_version, 1);
    /* The VCEK chains to the Turin ASK. */
    tu_read_vector("snp/roots/turin_ask_ark_chain.pem", &chain, &chain_len);
    assert_true(ccg_ok(ccg_x509_load_bundle(chain, chain_len, certs)));
    X509 *ask = sk_X509_value(certs, 1);
    char cn[64];
    ccg_x509_subject_cn(ask, cn, sizeof(cn));
    assert_string_equal(cn, "SEV-Turin");
    assert_int_equal(X509_verify(vcek, X509_get0_pubkey(ask)), 1);
    /* Encoding the extensions' SPLs with Turin's layout round-trips through the decoder. */
    ccg_snp_tcb back;
    uint64_t raw = ccg_snp_tcb_encode(CCG_SNP_PRODUCT_TURIN, &ext.tcb);
    assert_true(ccg_ok(ccg_snp_tcb_decode(CCG_SNP_PRODUCT_TURIN, raw, &back)));
    assert_memory_equal(&back, &ext.tcb, sizeof(back));
    assert_int_equal(raw & 0xff, ext.tcb.fmc);
    print_message("Turin VCEK: fmc=%u bl=%u tee=%u snp=%u ucode=%u\n", ext.tcb.fmc, ext.tcb.bootloader, ext.tcb.tee,
                  ext.tcb.snp, ext.tcb.microcode);
    sk_X509_pop_free(certs, X509_free);
    free(der);
    free(chain);
}

static void missing_vcek_is_missing_collateral(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/msft-milan-v3/attestation_report.bin");
    add_certs(f, "snp/msft-milan-v3/ask.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 4, 0, 24, 219);
    verify(f, NULL, "2026-06-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_COLLATERAL_MISSING);
}

static void missing_ask_is_an_incomplete_chain(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/msft-milan-v3/attestation_report.bin");
    add_certs(f, "snp/msft-milan-v3/vcek.pem");
    add_certs(f, "snp/roots/genoa_ark.pem");
    baseline(f, CCG_SNP_PRODUCT_MILAN, 4, 0, 24, 219);
    verify(f, NULL, "2026-06-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_CHAIN_INCOMPLETE);
}

static void genoa_report_with_milan_chain_is_a_product_mismatch(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/msft-genoa-v3/attestation_report.bin");
    add_certs(f, "snp/msft-milan-v3/vcek.pem");
    add_certs(f, "snp/msft-milan-v3/ask.pem");
    verify(f, NULL, "2026-06-01T00:00:00Z");
    assert_has_reason(&f->d, CCG_R_SNP_PRODUCT_MISMATCH);
}

static void policy_over_real_report(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    char json[2048], meas[97], host[65];
    load_report(f, "snp/msft-milan-v3/attestation_report.bin");
    add_certs(f, "snp/msft-milan-v3/vcek.pem");
    add_certs(f, "snp/msft-milan-v3/ask.pem");
    assert_true(ccg_ok(ccg_snp_report_parse(f->report, f->report_len, &r)));
    ccg_hex_encode(r.measurement, 48, meas);
    ccg_hex_encode(r.host_data, 32, host);
    baseline(f, CCG_SNP_PRODUCT_MILAN, 4, 0, 24, 219);
    snprintf(json, sizeof(json),
             "{\"policy_id\":\"acme\",\"version\":7,\"allowed_measurements\":[\"%s\"],\"host_data\":\"%s\","
             "\"vmpl\":%u,\"minimum_tcb\":{\"bootloader\":4,\"tee\":0,\"snp\":24,\"microcode\":219}}",
             meas, host, r.vmpl);
    ccg_snp_policy *p = policy_from(json);
    verify(f, p, "2026-06-01T00:00:00Z");
    assert_allow(&f->d);
    ccg_snp_policy_free(p);

    /* Every failing rule is reported, not only the first. */
    meas[0] = meas[0] == '0' ? '1' : '0';
    snprintf(json, sizeof(json),
             "{\"policy_id\":\"acme\",\"version\":8,\"allowed_measurements\":[\"%s\"],\"vmpl\":%u,"
             "\"minimum_tcb\":{\"snp\":25},\"require_crl\":true,\"smt_allowed\":false}",
             meas, (r.vmpl + 1) % 4);
    p = policy_from(json);
    verify(f, p, "2026-06-01T00:00:00Z");
    assert_has_reason(&f->d, CCG_R_SNP_MEASUREMENT_NOT_ALLOWED);
    assert_has_reason(&f->d, CCG_R_SNP_VMPL_MISMATCH);
    assert_has_reason(&f->d, CCG_R_SNP_TCB_BELOW_MINIMUM);
    assert_has_reason(&f->d, CCG_R_SNP_CRL_REQUIRED);
    assert_has_reason(&f->d, CCG_R_SNP_SMT_NOT_ALLOWED);
    assert_string_equal(f->d.policy_id, "acme");
    assert_int_equal(f->d.policy_version, 8);
    ccg_snp_policy_free(p);
}

static void truncated_and_oversized_real_report(void **state)
{
    fixture *f = *state;
    load_report(f, "snp/msft-milan-v3/attestation_report.bin");
    add_certs(f, "snp/msft-milan-v3/vcek.pem");
    size_t lens[] = {0, 1, 1183, 1185};
    uint8_t big[1185];
    memcpy(big, f->report, 1184);
    big[1184] = 0;
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        ccg_decision_free(&f->d);
        assert_true(ccg_failed(ccg_snp_verify(f->v, big, lens[i], &f->col, NULL, tu_time("2026-06-01T00:00:00Z"), &f->d)));
        assert_only_reason(&f->d, CCG_R_SNP_REPORT_SIZE_INVALID);
    }
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(milan_v2_virtee_is_valid),
        T(milan_v2_trustee_vcek_is_for_reported_tcb),
        T(milan_v3_is_valid),
        T(genoa_v3_is_valid),
        T(milan_and_genoa_share_measurement_and_host_data),
        T(milan_v3_is_refused_before_its_vcek_is_valid),
        T(gosevguest_debug_report_is_rejected_for_debug),
        T(vlek_report_is_rolled_back_inside_its_validity),
        T(vlek_report_is_refused_after_its_validity),
        T(vlek_refused_when_policy_allows_only_vcek),
        T(invalid_vcek_new_is_refused),
        T(invalid_vcek_legacy_is_refused),
        T(turin_vcek_extensions_parse),
        T(missing_vcek_is_missing_collateral),
        T(missing_ask_is_an_incomplete_chain),
        T(genoa_report_with_milan_chain_is_a_product_mismatch),
        T(policy_over_real_report),
        T(truncated_and_oversized_real_report),
    };
#undef T
    return cmocka_run_group_tests_name("snp_vectors", tests, NULL, NULL);
}
