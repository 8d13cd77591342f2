/* The GPU verifier over NVIDIA's real H100 evidence from ../shared/vectors/nvgpu, each giving the
 * outcome the vectors' README lists, at a pinned time; plus the parser's behaviour on every prefix and
 * on trailing bytes of a real report. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/gpu_verify.h"
#include "gpu_testgen.h"

#define NOW "2025-06-01T00:00:00Z"
#define NVTRUST_NONCE "931d8dd0add203ac3d8b4fbde75e115278eefcdceac5b87671a748f32364dfcb"
#define SDK_NONCE "27a328247bf7935c993341cf587be6f05986ccce4fe7ba2c54100bd616a58f66"

typedef struct {
    ccg_gpu_verifier *v;
    ccg_gpu_result *res;
    ccg_decision d;
    uint8_t *report;
    size_t report_len;
    uint8_t *chain;
    size_t chain_len;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->res = calloc(1, sizeof(*f->res));
    assert_non_null(f->res);
    assert_true(ccg_ok(ccg_gpu_verifier_new(&f->v)));
    ccg_decision_init(&f->d, "gpu");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_decision_free(&f->d);
    ccg_gpu_verifier_free(f->v);
    free(f->report);
    free(f->chain);
    free(f->res);
    free(f);
    return 0;
}

static void load(fixture *f, const char *report_rel, const char *chain_rel)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    tu_read_vector(report_rel, &raw, &raw_len);
    free(f->report);
    assert_true(ccg_ok(ccg_gpu_report_decode(raw, raw_len, &f->report, &f->report_len)));
    free(raw);
    free(f->chain);
    tu_read_vector(chain_rel, &f->chain, &f->chain_len);
}

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *s = json_dumps(d->reasons.items[i].details, JSON_COMPACT);
        print_message("  reason %s %s\n", ccg_reason_code(d->reasons.items[i].reason), s ? s : "");
        free(s);
    }
}

static void verify_with(fixture *f, const ccg_gpu_verify_opts *opts, const char *now)
{
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_gpu_verify(f->v, f->report, f->report_len, f->chain, f->chain_len, opts, tu_time(now),
                                      f->res, &f->d)));
}

static void assert_allow(const ccg_decision *d)
{
    if (!d->allow || d->reasons.count != 0) {
        print_reasons(d);
        fail_msg("expected allow");
    }
}

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

static void assert_hex(const uint8_t *p, size_t n, const char *hex)
{
    char *got = ccg_hex_alloc(p, n);
    assert_non_null(got);
    assert_string_equal(got, hex);
    free(got);
}

static void nvtrust_h100_is_valid(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    verify_with(f, NULL, NOW);
    assert_allow(&f->d);
    const ccg_gpu_result *r = f->res;
    assert_int_equal(r->arch, CCG_GPU_ARCH_HOPPER);
    assert_string_equal(r->report.driver_version, "550.90.07");
    assert_string_equal(r->report.vbios_version, "96.00.9F.00.01");
    assert_int_equal(r->chain, CCG_GPU_CHECK_PASSED);
    assert_int_equal(r->fwid, CCG_GPU_CHECK_PASSED);
    assert_int_equal(r->signature, CCG_GPU_CHECK_PASSED);
    assert_int_equal(r->nonce, CCG_GPU_CHECK_NOT_DONE); /* no expected nonce: never "passed" */
    assert_string_equal(r->root, "nvidia");
    assert_string_equal(r->hwmodel, "GH100 A01 GSP BROM");
    assert_int_equal(r->report.nvdec0_status, CCG_GPU_NVDEC0_DISABLED);
    assert_hex(r->report.nonce, 32, NVTRUST_NONCE);
    assert_hex(r->report.response_nonce, 32, "b4b8a06aaaa35542839388e159d447a5d6f6194998fd86513e2d591ccf640985");
    assert_hex(r->report.fwid, 48,
               "f5c384aebb579217a2c66b17ed0f28e6a9b8d639041acd7b4721cec004f7275494ba94bb5cdfdb3055ee051762b1f75d");
    assert_memory_equal(r->leaf_fwid, r->report.fwid, 48);
    assert_int_equal(r->report.n_measurements, 64);
    const ccg_gpu_measurement *m2 = ccg_gpu_report_measurement(&r->report, 2);
    assert_non_null(m2);
    assert_int_equal(m2->size, 48);
    assert_int_equal(m2->dmtf_type, 1);
    assert_hex(m2->value, 48,
               "8048dfd18fe229bf16eb9d30cca0f11a24dafe6eb731de1462984645a0b189b77c4e4e17de727a5e19e3d07de51da338");
    assert_null(ccg_gpu_report_measurement(&r->report, 65));
    assert_string_equal(r->report.project, "1010");
    assert_string_equal(r->report.project_sku, "0200");
    assert_string_equal(r->report.chip_sku, "882");
    assert_int_equal(r->report.opaque_len, 422);
    assert_int_equal(r->report.n_opaque_fields, 14);
    assert_int_equal(r->report.signed_len, f->report_len - 96);
}

static void attestation_sdk_h100_is_valid(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/attestation-sdk/hopperAttestationReport.txt", "nvgpu/attestation-sdk/hopperCertChain.txt");
    verify_with(f, NULL, NOW);
    assert_allow(&f->d);
    assert_string_equal(f->res->report.driver_version, "535.86.09");
    assert_string_equal(f->res->report.vbios_version, "96.00.5E.00.01");
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->chain, CCG_GPU_CHECK_PASSED);
    /* 535.86.09 puts no FWID in the report: nothing to compare, and it says so rather than "passed". */
    assert_int_equal(f->res->report.has_fwid, 0);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_NOT_IN_REPORT);
    assert_int_equal(f->res->has_leaf_fwid, 1);
    assert_hex(f->res->report.nonce, 32, SDK_NONCE);
    assert_int_equal(f->res->report.n_measurements, 64);
    /* A verifier told to require the FWID refuses it. */
    ccg_gpu_verify_opts opts = {.require_fwid = 1};
    verify_with(f, &opts, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISSING);
}

static void tampered_report_signature_invalid(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/attestation-sdk/hopperAttestationReportInvalidSignature.txt",
         "nvgpu/attestation-sdk/hopperCertChainExpired.txt");
    verify_with(f, NULL, NOW);
    assert_has_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_FAILED);
    assert_string_equal(f->res->report.driver_version, "560.00");
}

/* The "Expired" pair's device chain is valid until 9999-12-31: what expired in NVIDIA's scenario is the
 * 570.124.03 driver RIM's signing chain (checked by the RIM verifier), not the GPU chain. */
static void expired_scenario_device_chain_is_valid(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/attestation-sdk/hopperAttestationReportExpired.txt",
         "nvgpu/attestation-sdk/hopperCertChainExpired.txt");
    verify_with(f, NULL, NOW);
    assert_allow(&f->d);
    assert_string_equal(f->res->report.driver_version, "570.124.03");
    assert_string_equal(f->res->report.vbios_version, "96.00.5E.00.04");
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_PASSED);
    char na[32];
    ccg_time_format_rfc3339(f->res->chain_not_after, na, sizeof(na));
    assert_string_equal(na, "9999-12-31T23:59:59Z");
}

static void before_the_chain_is_valid_not_yet_valid(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    /* The provisioner ICA is valid from 2022-03-01. */
    verify_with(f, NULL, "2022-02-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_NOT_YET_VALID);
    assert_int_equal(f->res->chain, CCG_GPU_CHECK_FAILED);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED);
    /* The cache never hides time: valid now, then not yet valid again. */
    verify_with(f, NULL, NOW);
    assert_allow(&f->d);
    verify_with(f, NULL, "2022-02-01T00:00:00Z");
    assert_only_reason(&f->d, CCG_R_CERT_NOT_YET_VALID);
}

static void nonce_checked_against_signed_request(void **state)
{
    fixture *f = *state;
    uint8_t nonce[32];
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    assert_true(ccg_ok(ccg_hex_decode_exact(NVTRUST_NONCE, nonce, sizeof(nonce))));
    ccg_gpu_verify_opts opts = {.expected_nonce = nonce};
    verify_with(f, &opts, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->nonce, CCG_GPU_CHECK_PASSED);
    nonce[31] ^= 1;
    verify_with(f, &opts, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_NONCE_MISMATCH);
    assert_int_equal(f->res->nonce, CCG_GPU_CHECK_FAILED);
    /* The response's own nonce is not the requester's: expecting it fails too. */
    assert_true(ccg_ok(ccg_hex_decode_exact("b4b8a06aaaa35542839388e159d447a5d6f6194998fd86513e2d591ccf640985", nonce,
                                            sizeof(nonce))));
    verify_with(f, &opts, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_NONCE_MISMATCH);
}

static void report_with_another_gpus_chain_is_refused(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/attestation-sdk/hopperCertChain.txt");
    verify_with(f, NULL, NOW);
    assert_has_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
    assert_has_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
    assert_int_equal(f->res->chain, CCG_GPU_CHECK_PASSED);
}

/* The chain's own root is never used: replacing it with a foreign self-signed certificate changes
 * nothing, and a chain that stops short of five certificates is refused. */
static void supplied_root_is_dropped(void **state)
{
    fixture *f = *state;
    gt_chain_opts o;
    gt_chain foreign;
    size_t root_len = 0;
    static const int root_only[] = {4};
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    char *end = strstr((char *)f->chain, "-----END CERTIFICATE-----");
    for (int i = 0; i < 3 && end != NULL; i++) {
        end = strstr(end + 1, "-----END CERTIFICATE-----");
    }
    assert_non_null(end);
    size_t four_len = (size_t)(end - (char *)f->chain) + strlen("-----END CERTIFICATE-----\n");
    f->chain_len = four_len;
    verify_with(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_CERT_CHAIN_INVALID);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED);

    gt_chain_opts_default(&o, NULL);
    assert_int_equal(gt_chain_make(&o, &foreign), 0);
    char *root = gt_chain_pem(&foreign, root_only, 1, &root_len);
    assert_non_null(root);
    uint8_t *swapped = realloc(f->chain, four_len + root_len);
    assert_non_null(swapped);
    memcpy(swapped + four_len, root, root_len);
    f->chain = swapped;
    f->chain_len = four_len + root_len;
    verify_with(f, NULL, NOW);
    assert_allow(&f->d);
    assert_string_equal(f->res->root, "nvidia");
    free(root);
    gt_chain_free(&foreign);
}

static void json_evidence_form_verifies(void **state)
{
    fixture *f = *state;
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_gpu_evidence_list list;
    tu_read_vector("nvgpu/attestation-sdk/evidence_hopper_590_12.json", &text, &len);
    assert_true(ccg_ok(ccg_gpu_evidence_json_parse((const char *)text, len, &list)));
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0].arch, CCG_GPU_ARCH_HOPPER);
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_gpu_verify_item(f->v, &list.items[0], NULL, tu_time(NOW), f->res, &f->d)));
    assert_allow(&f->d);
    assert_string_equal(f->res->report.driver_version, "590.12");
    assert_int_equal(f->res->arch_check, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->report.mode, CCG_GPU_MODE_PPCIE);
    assert_int_equal(f->res->report.opaque_data_version, 1);
    assert_int_equal(f->res->report.protected_pcie_status, 0xAA);
    assert_hex(f->res->report.nonce, 32, "e97b23a1718095a0e9e35edca810768c70a6a5a389b705e753b197912bc11576");
    /* Declared Blackwell, chained as Hopper. */
    list.items[0].arch = CCG_GPU_ARCH_BLACKWELL;
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_gpu_verify_item(f->v, &list.items[0], NULL, tu_time(NOW), f->res, &f->d)));
    assert_only_reason(&f->d, CCG_R_GPU_ARCH_MISMATCH);
    /* An entry whose nonce is not its report's signed nonce. */
    list.items[0].arch = CCG_GPU_ARCH_HOPPER;
    list.items[0].nonce[0] ^= 0x80;
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_gpu_verify_item(f->v, &list.items[0], NULL, tu_time(NOW), f->res, &f->d)));
    assert_only_reason(&f->d, CCG_R_GPU_NONCE_MISMATCH);
    ccg_gpu_evidence_list_free(&list);
    free(text);
}

static void claims_json_names_every_claim(void **state)
{
    fixture *f = *state;
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    verify_with(f, NULL, NOW);
    json_t *c = ccg_gpu_result_json(f->res);
    assert_non_null(c);
    assert_string_equal(json_string_value(json_object_get(c, "arch")), "HOPPER");
    assert_string_equal(json_string_value(json_object_get(c, "driver_version")), "550.90.07");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "checks"), "nonce")), "not_done");
    assert_string_equal(json_string_value(json_object_get(json_object_get(c, "checks"), "signature")), "passed");
    assert_string_equal(json_string_value(json_object_get(c, "nvdec0_status")), "disabled");
    assert_string_equal(json_string_value(json_object_get(c, "ueid")), f->res->ueid);
    assert_int_equal(json_array_size(json_object_get(c, "measurements")), 64);
    assert_int_equal(json_array_size(json_object_get(c, "opaque")), 14);
    assert_string_equal(json_string_value(json_object_get(c, "mode")), "absent");
    json_decref(c);
}

/* Every proper prefix of a real report is input.truncated; a byte more is input.trailing_bytes. */
static void every_truncation_and_trailing_bytes(void **state)
{
    fixture *f = *state;
    ccg_gpu_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    for (size_t n = 0; n < f->report_len; n++) {
        ccg_error_clear();
        if (ccg_ok(ccg_gpu_report_parse(f->report, n, r))) {
            fail_msg("a %zu-byte prefix parsed", n);
        }
        if (ccg_error_reason() != CCG_R_INPUT_TRUNCATED) {
            fail_msg("prefix %zu: %s (%s)", n, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        }
    }
    uint8_t *longer = malloc(f->report_len + 1);
    assert_non_null(longer);
    memcpy(longer, f->report, f->report_len);
    longer[f->report_len] = 0;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_report_parse(longer, f->report_len + 1, r)));
    tu_assert_error_reason(CCG_R_INPUT_TRAILING_BYTES);
    /* The verifier reports it as the decision's reason and fails (bad input). */
    ccg_decision_free(&f->d);
    assert_true(ccg_failed(ccg_gpu_verify(f->v, longer, f->report_len + 1, f->chain, f->chain_len, NULL,
                                          tu_time(NOW), f->res, &f->d)));
    assert_only_reason(&f->d, CCG_R_INPUT_TRAILING_BYTES);
    assert_int_equal(f->res->parsed, 0);
    free(longer);
    free(r);
}

static void unknown_spdm_version_refused(void **state)
{
    fixture *f = *state;
    ccg_gpu_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    load(f, "nvgpu/nvtrust/hopperAttestationReport.txt", "nvgpu/nvtrust/hopperCertChain.txt");
    const size_t offsets[] = {0, CCG_GPU_REQUEST_SIZE};
    const uint8_t versions[] = {0x10, 0x12, 0x13};
    for (size_t i = 0; i < 2; i++) {
        for (size_t j = 0; j < sizeof(versions); j++) {
            uint8_t saved = f->report[offsets[i]];
            f->report[offsets[i]] = versions[j];
            ccg_error_clear();
            assert_true(ccg_failed(ccg_gpu_report_parse(f->report, f->report_len, r)));
            tu_assert_error_reason(CCG_R_GPU_SPDM_VERSION_UNSUPPORTED);
            f->report[offsets[i]] = saved;
        }
    }
    assert_true(ccg_ok(ccg_gpu_report_parse(f->report, f->report_len, r)));
    free(r);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(nvtrust_h100_is_valid),
        T(attestation_sdk_h100_is_valid),
        T(tampered_report_signature_invalid),
        T(expired_scenario_device_chain_is_valid),
        T(before_the_chain_is_valid_not_yet_valid),
        T(nonce_checked_against_signed_request),
        T(report_with_another_gpus_chain_is_refused),
        T(supplied_root_is_dropped),
        T(json_evidence_form_verifies),
        T(claims_json_names_every_claim),
        T(every_truncation_and_trailing_bytes),
        T(unknown_spdm_version_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
