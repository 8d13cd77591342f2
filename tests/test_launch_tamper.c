/* Issue 3, Table 17 "Tampered launch parameters": a reference-value set approves one launch (and the
 * real Milan v3 report's measurement); changing any launch input (an OVMF byte, the vCPU count or type,
 * a kernel or initrd byte, a cmdline character, the guest features) yields a measurement the set does
 * not hold, and the emulated report carrying it is denied with refval.measurement_mismatch. */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"
#include "tcb_util.h"

#include "ccgate/refvalue.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_measure.h"
#include "ccgate/snp_verify.h"

#define NOW "2026-06-01T00:00:00Z"

typedef struct {
    uint8_t *ovmf;
    size_t ovmf_len;
    uint8_t kernel[4096];
    uint8_t initrd[2048];
    char cmdline[64];
    uint32_t vcpus;
    const char *vcpu_type;
    uint64_t guest_features;
} launch;

static void measure(const launch *l, uint8_t out[48])
{
    ccg_snp_launch_inputs in;
    uint8_t kh[32], ih[32];
    unsigned int n = 0;
    ccg_snp_launch_inputs_init(&in);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_ovmf(&in, l->ovmf, l->ovmf_len, NULL)));
    assert_int_equal(EVP_Digest(l->kernel, sizeof(l->kernel), kh, &n, EVP_sha256(), NULL), 1);
    assert_int_equal(EVP_Digest(l->initrd, sizeof(l->initrd), ih, &n, EVP_sha256(), NULL), 1);
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_kernel(&in, kh, ih, l->cmdline)));
    assert_true(ccg_ok(ccg_snp_launch_inputs_set_vcpu_type(&in, l->vcpu_type)));
    in.vcpus = l->vcpus;
    in.guest_features = l->guest_features;
    if (ccg_failed(ccg_snp_measure(&in, out))) {
        fail_msg("measure: %s", ccg_error_last()->message);
    }
    ccg_snp_launch_inputs_free(&in);
}

static char *hex48(const uint8_t m[48]) { return ccg_hex_alloc(m, 48); }

typedef struct {
    ccg_snp_verifier *v;
    ccg_snp_emulator *emu;
    ccg_snp_collateral emu_col;
    EVP_PKEY *key;
    ccg_refval_issuers *iss;
    ccg_refval_set *set;
    ccg_snp_policy *policy;
    EVP_PKEY *authority;          /* signs the Milan TCB baseline the default "tcb" rules require */
    ccg_refval_issuers *tcb_iss;
    ccg_snp_tcb_baselines tcb;
    launch base;
    uint8_t base_m[48];
} fixture;

static void add_issuer(ccg_refval_issuers *iss, EVP_PKEY *key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    assert_int_equal(PEM_write_bio_PUBKEY(bio, key), 1);
    long n = BIO_get_mem_data(bio, &pem);
    assert_true(ccg_ok(ccg_refval_issuers_add_pem(iss, "provider", (const uint8_t *)pem, (size_t)n)));
    BIO_free(bio);
}

static json_t *signed_record(EVP_PKEY *key, const char *id, const char *build, const char *m_hex)
{
    json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "tee", "snp", "measurement", m_hex, "build_id",
                          build, "not_before", "2026-01-01T00:00:00Z", "not_after", "2027-01-01T00:00:00Z");
    assert_true(ccg_ok(ccg_refval_sign(r, key, "provider")));
    return r;
}

/* The approved set: the baseline launch, and the real Milan v3 report's measurement. */
static void build_set(fixture *f, const uint8_t real_m[48])
{
    char *a = hex48(f->base_m), *b = hex48(real_m);
    json_t *doc = json_pack("{s:s, s:i, s:[o, o]}", "set_id", "provider-prod", "version", 1, "records",
                            signed_record(f->key, "cvm-2026-06", "build-approved", a),
                            signed_record(f->key, "azure-milan", "build-azure", b));
    char *text = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_refval_set_parse(text, strlen(text), &f->set)));
    free(text);
    json_decref(doc);
    free(a);
    free(b);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_snp_emulator_config cfg;
    const char *policy = "{\"policy_id\":\"provider-release\",\"version\":1,"
                         "\"reference_values\":{\"set_id\":\"provider-prod\"}}";
    uint8_t *real = NULL;
    size_t real_len = 0;
    ccg_snp_report parsed;
    tu_read_vector("snp-measure/ovmf_AmdSev_suffix.bin", &f->base.ovmf, &f->base.ovmf_len);
    for (size_t i = 0; i < sizeof(f->base.kernel); i++) {
        f->base.kernel[i] = (uint8_t)(i * 7 + 1);
    }
    for (size_t i = 0; i < sizeof(f->base.initrd); i++) {
        f->base.initrd[i] = (uint8_t)(i * 13 + 5);
    }
    snprintf(f->base.cmdline, sizeof(f->base.cmdline), "console=ttyS0 root=/dev/vda1 ro");
    f->base.vcpus = 4;
    f->base.vcpu_type = "EPYC-v4";
    f->base.guest_features = 0x1;
    measure(&f->base, f->base_m);

    tu_read_vector("snp/msft-milan-v3/attestation_report.bin", &real, &real_len);
    assert_true(ccg_ok(ccg_snp_report_parse(real, real_len, &parsed)));
    free(real);

    assert_true(ccg_ok(ccg_snp_verifier_new(&f->v)));
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    assert_true(ccg_ok(ccg_snp_emulator_new(&cfg, &f->emu)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(f->v, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(f->emu))));
    assert_true(ccg_ok(ccg_snp_collateral_init(&f->emu_col)));
    assert_true(ccg_ok(ccg_snp_emulator_collateral(f->emu, &f->emu_col)));
    f->key = EVP_EC_gen("P-384");
    assert_non_null(f->key);
    assert_true(ccg_ok(ccg_refval_issuers_new(&f->iss)));
    add_issuer(f->iss, f->key);
    build_set(f, parsed.measurement);
    assert_true(ccg_ok(ccg_snp_policy_parse(policy, strlen(policy), &f->policy)));
    /* The emulator's Milan TCB is the real Milan v3 report's (4/0/24/219): one baseline, UpToDate. */
    f->authority = tu_authority_key();
    f->tcb_iss = tu_issuers_with(f->authority, "authority");
    ccg_snp_tcb_baselines_init(&f->tcb);
    assert_true(ccg_ok(ccg_snp_tcb_baselines_add(&f->tcb, tu_tcb_baseline(CCG_SNP_PRODUCT_MILAN, &cfg.tcb, NULL,
                                                                          "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z",
                                                                          f->authority, "authority"))));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_snp_policy_free(f->policy);
    ccg_snp_tcb_baselines_free(&f->tcb);
    ccg_refval_issuers_free(f->tcb_iss);
    EVP_PKEY_free(f->authority);
    ccg_refval_set_free(f->set);
    ccg_refval_issuers_free(f->iss);
    EVP_PKEY_free(f->key);
    ccg_snp_collateral_free(&f->emu_col);
    ccg_snp_emulator_free(f->emu);
    ccg_snp_verifier_free(f->v);
    free(f->base.ovmf);
    free(f);
    return 0;
}

/* An emulated report launched with measurement m, verified against the policy and the set. */
static void verify_measurement(fixture *f, const uint8_t m[48], ccg_decision *d)
{
    ccg_snp_report r;
    uint8_t bytes[CCG_SNP_REPORT_SIZE];
    ccg_snp_verify_opts opts = {f->set, f->iss, &f->tcb, f->tcb_iss};
    ccg_snp_emulator_default_report(f->emu, &r);
    memcpy(r.measurement, m, 48);
    assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu, &r, bytes)));
    assert_true(ccg_ok(ccg_snp_verify_ex(f->v, bytes, sizeof(bytes), &f->emu_col, f->policy, &opts, tu_time(NOW), d)));
}

static void approved_launch_is_allowed(void **state)
{
    fixture *f = *state;
    ccg_decision d;
    verify_measurement(f, f->base_m, &d);
    assert_true(d.allow);
    assert_int_equal(d.reasons.count, 0);
    ccg_decision_free(&d);
}

static void real_report_is_allowed(void **state)
{
    fixture *f = *state;
    ccg_snp_collateral col;
    uint8_t *report = NULL, *pem = NULL;
    size_t len = 0, n = 0;
    ccg_decision d;
    ccg_snp_verify_opts opts = {f->set, f->iss, &f->tcb, f->tcb_iss};
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    tu_read_vector("snp/msft-milan-v3/vcek.pem", &pem, &n);
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, pem, n)));
    free(pem);
    tu_read_vector("snp/msft-milan-v3/ask.pem", &pem, &n);
    assert_true(ccg_ok(ccg_snp_collateral_add_certs(&col, pem, n)));
    free(pem);
    tu_read_vector("snp/msft-milan-v3/attestation_report.bin", &report, &len);
    assert_true(ccg_ok(ccg_snp_verify_ex(f->v, report, len, &col, f->policy, &opts, tu_time(NOW), &d)));
    assert_true(d.allow);
    ccg_decision_free(&d);
    free(report);
    ccg_snp_collateral_free(&col);
}

typedef enum { T_OVMF, T_VCPUS, T_VCPU_TYPE, T_KERNEL, T_INITRD, T_CMDLINE, T_FEATURES } tamper;

static void tamper_and_expect_mismatch(fixture *f, tamper t, const char *what)
{
    launch l = f->base;
    uint8_t m[48];
    ccg_decision d;
    l.ovmf = malloc(f->base.ovmf_len);
    assert_non_null(l.ovmf);
    memcpy(l.ovmf, f->base.ovmf, f->base.ovmf_len);
    switch (t) {
    case T_OVMF: l.ovmf[0x10] ^= 0x01; break; /* a code byte, outside the footer and metadata */
    case T_VCPUS: l.vcpus = 5; break;
    case T_VCPU_TYPE: l.vcpu_type = "EPYC-Milan"; break;
    case T_KERNEL: l.kernel[100] ^= 0x80; break;
    case T_INITRD: l.initrd[7] ^= 0x01; break;
    case T_CMDLINE: l.cmdline[0] = 'C'; break;
    case T_FEATURES: l.guest_features = 0x21; break;
    }
    measure(&l, m);
    free(l.ovmf);
    if (memcmp(m, f->base_m, 48) == 0) {
        fail_msg("%s: the measurement did not change", what);
    }
    verify_measurement(f, m, &d);
    if (d.allow || d.reasons.count != 1 || d.reasons.items[0].reason != CCG_R_REFVAL_MEASUREMENT_MISMATCH) {
        fail_msg("%s: expected exactly refval.measurement_mismatch (%zu reasons)", what, d.reasons.count);
    }
    json_t *det = d.reasons.items[0].details;
    char *got = hex48(m);
    assert_string_equal(json_string_value(json_object_get(det, "measurement")), got);
    assert_string_equal(json_string_value(json_object_get(det, "set_id")), "provider-prod");
    assert_non_null(json_string_value(json_object_get(det, "closest_build_id")));
    print_message("%-22s -> refval.measurement_mismatch (closest build %s)\n", what,
                  json_string_value(json_object_get(det, "closest_build_id")));
    free(got);
    ccg_decision_free(&d);
}

static void each_tampered_input_is_denied(void **state)
{
    fixture *f = *state;
    tamper_and_expect_mismatch(f, T_OVMF, "OVMF byte");
    tamper_and_expect_mismatch(f, T_VCPUS, "vCPU count 4 -> 5");
    tamper_and_expect_mismatch(f, T_VCPU_TYPE, "vCPU type -> EPYC-Milan");
    tamper_and_expect_mismatch(f, T_KERNEL, "kernel byte");
    tamper_and_expect_mismatch(f, T_INITRD, "initrd byte");
    tamper_and_expect_mismatch(f, T_CMDLINE, "cmdline character");
    tamper_and_expect_mismatch(f, T_FEATURES, "guest features 0x21");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(approved_launch_is_allowed),
        cmocka_unit_test(real_report_is_allowed),
        cmocka_unit_test(each_tampered_input_is_denied),
    };
    return cmocka_run_group_tests_name("launch_tamper", tests, setup, teardown);
}
