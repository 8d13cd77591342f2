/* The GPU verifier's negative suite on generated evidence: a test chain (trusted only when added
 * explicitly) and SPDM reports signed by its leaf. Each field class is changed, the report re-signed
 * where the change must be judged on its own, and each gives its specific reason code. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/gpu_verify.h"
#include "gpu_testgen.h"

#define NOW "2030-01-01T00:00:00Z"

typedef struct {
    ccg_gpu_verifier *v;
    gt_chain chain;
    char *pem;
    size_t pem_len;
    uint8_t fwid[48];
    gt_report spec;
    uint8_t *report;
    size_t report_len;
    ccg_gpu_result *res;
    ccg_gpu_report *parsed;
    ccg_decision d;
} fixture;

static void make_chain(fixture *f, const gt_chain_opts *o)
{
    gt_chain_free(&f->chain);
    free(f->pem);
    assert_int_equal(gt_chain_make(o, &f->chain), 0);
    f->pem = gt_chain_pem_all(&f->chain, &f->pem_len);
    assert_non_null(f->pem);
}

static void build(fixture *f)
{
    free(f->report);
    f->report = gt_report_build(&f->spec, &f->report_len);
    assert_non_null(f->report);
    assert_int_equal(gt_report_sign(f->chain.keys[0], f->report, f->report_len), 0);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    gt_chain_opts o;
    assert_non_null(f);
    f->res = calloc(1, sizeof(*f->res));
    f->parsed = calloc(1, sizeof(*f->parsed));
    assert_non_null(f->res);
    assert_non_null(f->parsed);
    for (int i = 0; i < 48; i++) {
        f->fwid[i] = (uint8_t)(0x40 + i);
    }
    gt_chain_opts_default(&o, f->fwid);
    make_chain(f, &o);
    assert_true(ccg_ok(ccg_gpu_verifier_new(&f->v)));
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
    gt_report_default(&f->spec, f->fwid);
    build(f);
    ccg_decision_init(&f->d, "gpu");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    ccg_decision_free(&f->d);
    ccg_gpu_verifier_free(f->v);
    gt_chain_free(&f->chain);
    free(f->pem);
    free(f->report);
    free(f->res);
    free(f->parsed);
    free(f);
    return 0;
}

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *s = json_dumps(d->reasons.items[i].details, JSON_COMPACT);
        print_message("  reason %s %s\n", ccg_reason_code(d->reasons.items[i].reason), s ? s : "");
        free(s);
    }
}

static void verify_opts(fixture *f, const ccg_gpu_verify_opts *opts, const char *now)
{
    ccg_decision_free(&f->d);
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_verify(f->v, f->report, f->report_len, (const uint8_t *)f->pem, f->pem_len, opts,
                                  tu_time(now), f->res, &f->d))) {
        print_reasons(&f->d);
        fail_msg("verification failed as bad input: %s", ccg_error_last()->message);
    }
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

/* The report bytes, re-signed, must fail to parse with this reason. */
static void assert_parse_fails(fixture *f, ccg_reason r)
{
    assert_int_equal(gt_report_sign(f->chain.keys[0], f->report, f->report_len), 0);
    ccg_error_clear();
    if (ccg_ok(ccg_gpu_report_parse(f->report, f->report_len, f->parsed))) {
        fail_msg("the changed report parsed; expected %s", ccg_reason_code(r));
    }
    tu_assert_error_reason(r);
    /* The verifier fails as bad input with the same reason in its decision. */
    ccg_decision_free(&f->d);
    assert_true(ccg_failed(ccg_gpu_verify(f->v, f->report, f->report_len, (const uint8_t *)f->pem, f->pem_len, NULL,
                                          tu_time(NOW), f->res, &f->d)));
    assert_only_reason(&f->d, r);
}

static void generated_report_verifies_under_named_test_root(void **state)
{
    fixture *f = *state;
    verify_opts(f, NULL, NOW);
    assert_allow(&f->d);
    assert_string_equal(f->res->root, "test");
    assert_int_equal(f->res->arch, CCG_GPU_ARCH_HOPPER);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->report.n_measurements, 8);
    assert_int_equal(f->res->report.nvdec0_status, CCG_GPU_NVDEC0_ENABLED);
    /* A verifier that was not told about the test root refuses the same evidence. */
    ccg_gpu_verifier *plain = NULL;
    assert_true(ccg_ok(ccg_gpu_verifier_new(&plain)));
    ccg_decision_free(&f->d);
    assert_true(ccg_ok(ccg_gpu_verify(plain, f->report, f->report_len, (const uint8_t *)f->pem, f->pem_len, NULL,
                                      tu_time(NOW), f->res, &f->d)));
    assert_only_reason(&f->d, CCG_R_GPU_UNTRUSTED_ROOT);
    ccg_gpu_verifier_free(plain);
}

static void signature_and_signed_bytes_flipped(void **state)
{
    fixture *f = *state;
    f->report[f->report_len - 1] ^= 0x01; /* s */
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
    f->report[f->report_len - 1] ^= 0x01;
    f->report[f->report_len - 96] ^= 0x80; /* r */
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
    f->report[f->report_len - 96] ^= 0x80;
    /* The request nonce, a measurement value, the response nonce, the VBIOS version TLV. */
    const size_t ol = gt_report_opaque_len_offset(&f->spec);
    const size_t signed_offsets[] = {GT_OFF_REQ_NONCE, GT_OFF_RECORD + 7 + 10, ol - 1, ol + 2 + 4};
    for (size_t i = 0; i < sizeof(signed_offsets) / sizeof(signed_offsets[0]); i++) {
        f->report[signed_offsets[i]] ^= 0x01;
        verify_opts(f, NULL, NOW);
        assert_only_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
        f->report[signed_offsets[i]] ^= 0x01;
    }
    /* Zero r and s: malformed signatures are invalid ones. */
    memset(f->report + f->report_len - 96, 0, 96);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_SIGNATURE_INVALID);
}

static void header_fields_each_refused(void **state)
{
    fixture *f = *state;
    const struct {
        size_t off;
        uint8_t value;
        ccg_reason reason;
    } cases[] = {
        {GT_OFF_REQ_VERSION, 0x12, CCG_R_GPU_SPDM_VERSION_UNSUPPORTED},
        {GT_OFF_REQ_VERSION, 0x10, CCG_R_GPU_SPDM_VERSION_UNSUPPORTED},
        {GT_OFF_RESP_VERSION, 0x12, CCG_R_GPU_SPDM_VERSION_UNSUPPORTED},
        {GT_OFF_REQ_CODE, 0xE1, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_REQ_PARAM1, 0x00, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_REQ_PARAM1, 0x03, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_REQ_PARAM2, 0x01, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_REQ_SLOT, 0x08, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_RESP_CODE, 0x61, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_RESP_PARAM1, 0x01, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_RESP_PARAM2, 0x01, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_RESP_PARAM2, 0x10, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_RESP_BLOCKS, 0x00, CCG_R_GPU_EVIDENCE_MALFORMED},
        {GT_OFF_RESP_BLOCKS, 0x07, CCG_R_GPU_EVIDENCE_MALFORMED}, /* a block too few for the record */
        {GT_OFF_RESP_BLOCKS, 0x09, CCG_R_GPU_EVIDENCE_MALFORMED}, /* a block too many */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t saved = f->report[cases[i].off];
        f->report[cases[i].off] = cases[i].value;
        print_message("case %zu: offset %zu = 0x%02x\n", i, cases[i].off, cases[i].value);
        assert_parse_fails(f, cases[i].reason);
        f->report[cases[i].off] = saved;
    }
    /* Slot 8 does not exist, even when the response agrees. */
    f->report[GT_OFF_REQ_SLOT] = 8;
    f->report[GT_OFF_RESP_PARAM2] = 8;
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    /* A slot other than 0 is fine when request and response agree. */
    f->report[GT_OFF_REQ_SLOT] = 3;
    f->report[GT_OFF_RESP_PARAM2] = 3;
    assert_int_equal(gt_report_sign(f->chain.keys[0], f->report, f->report_len), 0);
    verify_opts(f, NULL, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->report.slot_id, 3);
}

static void measurement_blocks_each_refused(void **state)
{
    fixture *f = *state;
    const size_t b2 = GT_OFF_RECORD + GT_BLOCK_SIZE(48); /* the second block */
    const struct {
        size_t off;
        uint8_t value;
    } cases[] = {
        {b2 + 0, 0x01}, /* index 1 again */
        {b2 + 0, 0x00}, /* reserved index 0 */
        {b2 + 0, 0xFF}, /* reserved index 0xFF */
        {b2 + 1, 0x02}, /* not the DMTF measurement specification */
        {b2 + 2, 52},   /* block size one more than its DMTF measurement */
        {b2 + 2, 50},   /* one less */
        {b2 + 5, 47},   /* value size disagrees with the block */
        {GT_OFF_RESP_RECLEN, (uint8_t)(8 * GT_BLOCK_SIZE(48) + 1)}, /* record longer than its blocks */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t saved = f->report[cases[i].off];
        f->report[cases[i].off] = cases[i].value;
        print_message("case %zu: offset %zu = 0x%02x\n", i, cases[i].off, cases[i].value);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_gpu_report_parse(f->report, f->report_len, f->parsed)));
        tu_assert_error_reason(CCG_R_GPU_EVIDENCE_MALFORMED);
        f->report[cases[i].off] = saved;
    }
    /* No blocks at all, with a consistent (empty) record: nothing is attested. */
    f->spec.n_blocks = 0;
    build(f);
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    f->spec.n_blocks = 8;
    /* A value wider than 64 bytes, and an empty one. */
    f->spec.value_len = 65;
    build(f);
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    f->spec.value_len = 0;
    build(f);
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    /* SHA-512-sized values are fine. */
    f->spec.value_len = 64;
    build(f);
    verify_opts(f, NULL, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->report.measurements[0].size, 64);
}

/* Rebuilds the report with the default opaque fields plus one more TLV. */
static void with_extra_tlv(fixture *f, uint16_t type, const void *v, uint16_t len)
{
    gt_report_default(&f->spec, f->fwid);
    gt_opaque_add(&f->spec, type, v, len);
    build(f);
}

/* Rebuilds the report with only this one opaque TLV. */
static void with_only_tlv(fixture *f, uint16_t type, const void *v, uint16_t len)
{
    gt_report_default(&f->spec, NULL);
    f->spec.opaque_len = 0;
    gt_opaque_add(&f->spec, type, v, len);
    build(f);
}

static void opaque_fields_each_refused(void **state)
{
    fixture *f = *state;
    static const uint8_t nvdec_bad = 0x12, two[2] = {0xAA, 0x55}, vbios7[7] = {0}, fwid47[47] = {0};
    static const uint8_t nine[9] = {0}, msr6[6] = {0}, pdi12[12] = {0}, vbios9[9] = {0}, fwid49[49] = {0};
    const struct {
        uint16_t type;
        const void *v;
        uint16_t len;
    } alone[] = {
        {CCG_GPU_OPAQUE_NVDEC0_STATUS, &nvdec_bad, 1},        /* neither 0xAA nor 0x55 */
        {CCG_GPU_OPAQUE_NVDEC0_STATUS, two, 2},               /* two bytes */
        {CCG_GPU_OPAQUE_VBIOS_VERSION, vbios7, 7},            /* not 8 bytes */
        {CCG_GPU_OPAQUE_VBIOS_VERSION, vbios9, 9},
        {CCG_GPU_OPAQUE_FWID, fwid47, 47},                    /* not 48 bytes */
        {CCG_GPU_OPAQUE_FWID, fwid49, 49},
        {CCG_GPU_OPAQUE_FEATURE_FLAG, nine, 9},               /* longer than 8 bytes */
        {CCG_GPU_OPAQUE_OPAQUE_DATA_VERSION, nine, 0},        /* empty */
        {CCG_GPU_OPAQUE_BOARD_ID, nine, 5},                   /* longer than 4 bytes */
        {CCG_GPU_OPAQUE_PROTECTED_PCIE_STATUS, two, 2},       /* two bytes */
        {CCG_GPU_OPAQUE_MSRSCNT, msr6, 6},                    /* not whole 32-bit counts */
        {CCG_GPU_OPAQUE_SWITCH_PDI, pdi12, 12},               /* not whole 8-byte PDIs */
        {CCG_GPU_OPAQUE_DRIVER_VERSION, "\0", 1},             /* empty */
        {CCG_GPU_OPAQUE_DRIVER_VERSION, "550.90 07", 10},      /* a space */
        {CCG_GPU_OPAQUE_CHIP_INFO, "GH1\x01", 4},              /* a control character */
        {CCG_GPU_OPAQUE_PROJECT_SKU_MOD, "0\0" "1", 3},        /* bytes after the terminator */
        {CCG_GPU_OPAQUE_CHIP_SKU_MOD, "0123456789ABCDEF", 16}, /* longer than its field */
    };
    for (size_t i = 0; i < sizeof(alone) / sizeof(alone[0]); i++) {
        print_message("case %zu: type %u alone\n", i, alone[i].type);
        with_only_tlv(f, alone[i].type, alone[i].v, alone[i].len);
        assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    }
    /* A known type twice, even with a valid value, is ambiguous. */
    static const uint8_t nvdec_ok = 0x55;
    const struct {
        uint16_t type;
        const void *v;
        uint16_t len;
    } twice[] = {
        {CCG_GPU_OPAQUE_DRIVER_VERSION, "1.2.3", 6},
        {CCG_GPU_OPAQUE_NVDEC0_STATUS, &nvdec_ok, 1},
        {CCG_GPU_OPAQUE_FWID, f->fwid, 48},
    };
    for (size_t i = 0; i < sizeof(twice) / sizeof(twice[0]); i++) {
        print_message("case %zu: type %u twice\n", i, twice[i].type);
        with_extra_tlv(f, twice[i].type, twice[i].v, twice[i].len);
        assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    }
    /* Each valid field alone parses, and decodes as documented. */
    static const uint8_t vbios[8] = {0x00, 0x5e, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00}, board[4] = {0xb1, 0x03, 0, 0};
    with_only_tlv(f, CCG_GPU_OPAQUE_VBIOS_VERSION, vbios, 8);
    assert_true(ccg_ok(ccg_gpu_report_parse(f->report, f->report_len, f->parsed)));
    assert_string_equal(f->parsed->vbios_version, "96.00.5E.00.01");
    with_only_tlv(f, CCG_GPU_OPAQUE_BOARD_ID, board, 4);
    assert_true(ccg_ok(ccg_gpu_report_parse(f->report, f->report_len, f->parsed)));
    assert_int_equal(f->parsed->board_id, 0x3b1);
    with_only_tlv(f, CCG_GPU_OPAQUE_NVDEC0_STATUS, &nvdec_ok, 1);
    assert_true(ccg_ok(ccg_gpu_report_parse(f->report, f->report_len, f->parsed)));
    assert_int_equal(f->parsed->nvdec0_status, CCG_GPU_NVDEC0_DISABLED);
    with_only_tlv(f, CCG_GPU_OPAQUE_CHIP_SKU, "882\0\0\0\0\0", 9);
    assert_true(ccg_ok(ccg_gpu_report_parse(f->report, f->report_len, f->parsed)));
    assert_string_equal(f->parsed->chip_sku, "882");
    assert_int_equal(f->parsed->nvdec0_status, CCG_GPU_NVDEC0_ABSENT);
    assert_int_equal(f->parsed->has_fwid, 0);
}

static void opaque_framing_refused(void **state)
{
    fixture *f = *state;
    size_t ol = gt_report_opaque_len_offset(&f->spec);
    size_t first = ol + 2; /* the first TLV */
    /* The first TLV's length overruns the opaque data. */
    f->report[first + 2] = 0xFF;
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    f->report[first + 2] = 8;
    /* OpaqueLength beyond SPDM's 1024. */
    f->report[ol] = 0x01;
    f->report[ol + 1] = 0x04;
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
    /* Opaque data ending inside a TLV header: two stray bytes. */
    gt_report_default(&f->spec, f->fwid);
    f->spec.opaque[f->spec.opaque_len++] = 0x03;
    f->spec.opaque[f->spec.opaque_len++] = 0x00;
    build(f);
    assert_parse_fails(f, CCG_R_GPU_EVIDENCE_MALFORMED);
}

static void unknown_opaque_types_are_raw_claims(void **state)
{
    fixture *f = *state;
    static const uint8_t blob[5] = {1, 2, 3, 4, 5};
    with_extra_tlv(f, 999, blob, sizeof(blob));
    gt_opaque_add(&f->spec, 999, blob, 2); /* unknown types may repeat */
    gt_opaque_add(&f->spec, 255, NULL, 0);
    build(f);
    verify_opts(f, NULL, NOW);
    assert_allow(&f->d);
    const ccg_gpu_report *r = &f->res->report;
    const ccg_gpu_opaque_field *last = &r->opaque_fields[r->n_opaque_fields - 1];
    const ccg_gpu_opaque_field *unknown = &r->opaque_fields[r->n_opaque_fields - 3];
    assert_int_equal(last->type, 255);
    assert_int_equal(last->len, 0);
    assert_int_equal(unknown->type, 999);
    assert_int_equal(unknown->len, 5);
    assert_memory_equal(r->opaque + unknown->offset, blob, 5);
    assert_null(ccg_gpu_opaque_type_name(999));
    json_t *c = ccg_gpu_result_json(f->res);
    json_t *arr = json_object_get(c, "opaque");
    json_t *u = json_array_get(arr, json_array_size(arr) - 3);
    assert_true(json_is_null(json_object_get(u, "name")));
    assert_string_equal(json_string_value(json_object_get(u, "value")), "0102030405");
    json_decref(c);
}

static void feature_flags_and_modes(void **state)
{
    fixture *f = *state;
    const struct {
        uint8_t flag[2];
        ccg_gpu_mode mode;
    } cases[] = {{{0, 0}, CCG_GPU_MODE_SPT}, {{1, 0}, CCG_GPU_MODE_MPT}, {{2, 0}, CCG_GPU_MODE_PPCIE},
                 {{7, 1}, CCG_GPU_MODE_UNKNOWN}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        with_extra_tlv(f, CCG_GPU_OPAQUE_FEATURE_FLAG, cases[i].flag, 2);
        verify_opts(f, NULL, NOW);
        assert_allow(&f->d);
        assert_int_equal(f->res->report.mode, cases[i].mode);
    }
    assert_int_equal(f->res->report.feature_flag, 0x107);
}

static void fwid_checks(void **state)
{
    fixture *f = *state;
    gt_chain_opts o;
    /* The report's FWID differs from the leaf's. */
    uint8_t other[48];
    memcpy(other, f->fwid, 48);
    other[47] ^= 1;
    gt_report_default(&f->spec, other);
    build(f);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_FAILED);
    /* No FWID in the report: not compared, not passed; refused when required. */
    gt_report_default(&f->spec, NULL);
    build(f);
    verify_opts(f, NULL, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_NOT_IN_REPORT);
    ccg_gpu_verify_opts req = {.require_fwid = 1};
    verify_opts(f, &req, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISSING);
    /* A leaf with no FWID extension, against a report with one. */
    gt_chain_opts_default(&o, f->fwid);
    o.fwid_form = GT_FWID_NONE;
    make_chain(f, &o);
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
    gt_report_default(&f->spec, f->fwid);
    build(f);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
    /* The FWID extension twice (ambiguous), and one whose hashAlg is not SHA-384. */
    gt_chain_opts_default(&o, f->fwid);
    o.fwid_twice = 1;
    make_chain(f, &o);
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
    build(f);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
    assert_int_equal(f->res->has_leaf_fwid, 0);
    for (int form = GT_FWID_HOPPER; form <= GT_FWID_DICE; form++) {
        gt_chain_opts_default(&o, f->fwid);
        o.fwid_form = form;
        o.fwid_sha256_oid = 1;
        make_chain(f, &o);
        assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
        build(f);
        verify_opts(f, NULL, NOW);
        assert_only_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
    }
    /* The DICE TcbInfo form (Blackwell): the first FWID of fwids [6]. */
    gt_chain_opts_default(&o, f->fwid);
    o.fwid_form = GT_FWID_DICE;
    o.identity_cn = "NVIDIA GB100 Identity";
    make_chain(f, &o);
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
    build(f);
    verify_opts(f, NULL, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->fwid, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->arch, CCG_GPU_ARCH_BLACKWELL);
    gt_report_default(&f->spec, other);
    build(f);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_FWID_MISMATCH);
}

static void chain_time_each_certificate(void **state)
{
    fixture *f = *state;
    gt_chain_opts o;
    ccg_time expired = tu_time("2029-01-01T00:00:00Z"), later = tu_time("2031-01-01T00:00:00Z");
    for (int i = 0; i < GT_CERTS; i++) {
        gt_chain_opts_default(&o, f->fwid);
        o.not_after[i] = expired;
        make_chain(f, &o);
        assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
        build(f);
        print_message("certificate %d expired\n", i);
        verify_opts(f, NULL, "2028-06-01T00:00:00Z");
        assert_allow(&f->d); /* valid before its end, and now cached */
        verify_opts(f, NULL, NOW);
        assert_only_reason(&f->d, CCG_R_CERT_EXPIRED);
        assert_int_equal(f->res->chain, CCG_GPU_CHECK_FAILED);
        gt_chain_opts_default(&o, f->fwid);
        o.not_before[i] = later;
        make_chain(f, &o);
        assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
        build(f);
        print_message("certificate %d not yet valid\n", i);
        verify_opts(f, NULL, NOW);
        assert_only_reason(&f->d, CCG_R_CERT_NOT_YET_VALID);
    }
}

static void chain_shape_refused(void **state)
{
    fixture *f = *state;
    static const int swapped[] = {0, 2, 1, 3, 4}, no_leaf_first[] = {1, 0, 2, 3, 4}, six[] = {0, 1, 2, 3, 3, 4};
    static const int not_root_last[] = {0, 1, 2, 3, 3};
    const struct {
        const int *order;
        int n;
        ccg_reason reason;
    } cases[] = {
        {swapped, 5, CCG_R_GPU_CERT_CHAIN_INVALID},
        {no_leaf_first, 5, CCG_R_GPU_CERT_CHAIN_INVALID},
        {six, 6, CCG_R_GPU_CERT_CHAIN_INVALID},
        {not_root_last, 5, CCG_R_GPU_CERT_CHAIN_INVALID},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        free(f->pem);
        f->pem = gt_chain_pem(&f->chain, cases[i].order, cases[i].n, &f->pem_len);
        assert_non_null(f->pem);
        print_message("case %zu\n", i);
        verify_opts(f, NULL, NOW);
        /* A BROM certificate first is a leaf without the report's key: the signature fails as well. */
        if (!ccg_reasons_has(&f->d.reasons, cases[i].reason)) {
            print_reasons(&f->d);
            fail_msg("expected %s", ccg_reason_code(cases[i].reason));
        }
    }
    /* Nothing that is a certificate: bad input. */
    ccg_decision_free(&f->d);
    assert_true(ccg_failed(ccg_gpu_verify(f->v, f->report, f->report_len, (const uint8_t *)"not pem", 7, NULL,
                                          tu_time(NOW), f->res, &f->d)));
    assert_only_reason(&f->d, CCG_R_CERT_PARSE_FAILED);
    /* A P-256 leaf: not NVIDIA's algorithm, refused as a chain. */
    gt_chain_opts o;
    gt_chain_opts_default(&o, f->fwid);
    o.leaf_p256 = 1;
    make_chain(f, &o);
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[4])));
    build(f);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_CERT_CHAIN_INVALID);
}

/* Intermediates re-signed by another key under the same names: the chain names the trusted root but is
 * not signed by it. */
static void forged_root_refused(void **state)
{
    fixture *f = *state;
    gt_chain_opts o;
    gt_chain forged;
    gt_chain_opts_default(&o, f->fwid);
    assert_int_equal(gt_chain_make(&o, &forged), 0);
    /* The forged chain has the same names as the trusted test chain but other keys. */
    free(f->pem);
    f->pem = gt_chain_pem_all(&forged, &f->pem_len);
    free(f->report);
    f->report = gt_report_build(&f->spec, &f->report_len);
    assert_int_equal(gt_report_sign(forged.keys[0], f->report, f->report_len), 0);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_UNTRUSTED_ROOT);
    assert_int_equal(f->res->signature, CCG_GPU_CHECK_PASSED);
    gt_chain_free(&forged);
    /* Without key identifiers OpenSSL picks the trusted root by name, and the identity CA's signature
     * fails under it: still an untrusted root, not a broken link. */
    o.no_aki = 1;
    assert_int_equal(gt_chain_make(&o, &forged), 0);
    free(f->pem);
    f->pem = gt_chain_pem_all(&forged, &f->pem_len);
    assert_int_equal(gt_report_sign(forged.keys[0], f->report, f->report_len), 0);
    verify_opts(f, NULL, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_UNTRUSTED_ROOT);
    assert_string_equal(json_string_value(json_object_get(f->d.reasons.items[0].details, "openssl")),
                        "certificate signature failure");
    gt_chain_free(&forged);
    /* A test root must be self-signed to be added. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_verifier_add_test_root(f->v, f->chain.certs[3])));
    tu_assert_error_reason(CCG_R_GPU_UNTRUSTED_ROOT);
}

static void nonce_and_arch(void **state)
{
    fixture *f = *state;
    uint8_t nonce[32];
    for (int i = 0; i < 32; i++) {
        nonce[i] = (uint8_t)i;
    }
    ccg_gpu_verify_opts opts = {.expected_nonce = nonce, .declared_arch = CCG_GPU_ARCH_HOPPER};
    verify_opts(f, &opts, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->nonce, CCG_GPU_CHECK_PASSED);
    assert_int_equal(f->res->arch_check, CCG_GPU_CHECK_PASSED);
    nonce[0] = 0xFF;
    verify_opts(f, &opts, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_NONCE_MISMATCH);
    opts.expected_nonce = NULL;
    verify_opts(f, &opts, NOW);
    assert_allow(&f->d);
    assert_int_equal(f->res->nonce, CCG_GPU_CHECK_NOT_DONE);
    opts.declared_arch = CCG_GPU_ARCH_BLACKWELL;
    verify_opts(f, &opts, NOW);
    assert_only_reason(&f->d, CCG_R_GPU_ARCH_MISMATCH);
}

static void json_form_strict(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{}",
        "[]",
        "[1]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\"}]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":\"00\"}]",
        "[{\"arch\":\"AMPERE\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"!!!!\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"000000000000000000000000000000000000000000000000000000000000000g\"}]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\",\"extra\":1}]",
        "[{\"arch\":\"HOPPER\",\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]",
        "[{\"arch\":1,\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}]",
        "[{\"arch\":\"HOPPER\",\"certificate\":\"QQ==\",\"evidence\":\"QQ==\",\"nonce\":"
        "\"0000000000000000000000000000000000000000000000000000000000000000\"}",
    };
    ccg_gpu_evidence_list list;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        print_message("case %zu\n", i);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_gpu_evidence_json_parse(bad[i], strlen(bad[i]), &list)));
        tu_assert_error_reason(CCG_R_GPU_EVIDENCE_MALFORMED);
        assert_int_equal(list.count, 0);
    }
    const char *good = "[{\"arch\":\"blackwell\",\"certificate\":\"QUJD\",\"evidence\":\"EQ==\",\"nonce\":"
                       "\"00000000000000000000000000000000000000000000000000000000000000ff\"}]";
    assert_true(ccg_ok(ccg_gpu_evidence_json_parse(good, strlen(good), &list)));
    assert_int_equal(list.count, 1);
    assert_int_equal(list.items[0].arch, CCG_GPU_ARCH_BLACKWELL);
    assert_int_equal(list.items[0].certificate_len, 3);
    assert_memory_equal(list.items[0].certificate, "ABC", 3);
    assert_int_equal(list.items[0].evidence_len, 1);
    assert_int_equal(list.items[0].nonce[31], 0xff);
    ccg_gpu_evidence_list_free(&list);
}

static void input_decoding(void **state)
{
    fixture *f = *state;
    uint8_t *out = NULL;
    size_t len = 0;
    char *hex = ccg_hex_alloc(f->report, f->report_len);
    assert_non_null(hex);
    /* Hex text broken over lines (as NVIDIA's samples may be) and the binary decode to the same bytes. */
    size_t hl = strlen(hex);
    char *text = malloc(hl + 4);
    assert_non_null(text);
    memcpy(text, hex, 100);
    memcpy(text + 100, "\r\n", 2);
    memcpy(text + 102, hex + 100, hl - 100);
    text[hl + 2] = '\n';
    assert_true(ccg_ok(ccg_gpu_report_decode((const uint8_t *)text, hl + 3, &out, &len)));
    assert_int_equal(len, f->report_len);
    assert_memory_equal(out, f->report, len);
    free(out);
    assert_true(ccg_ok(ccg_gpu_report_decode(f->report, f->report_len, &out, &len)));
    assert_int_equal(len, f->report_len);
    assert_memory_equal(out, f->report, len);
    free(out);
    /* Odd hex is bad hex, not a binary report. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_report_decode((const uint8_t *)"abc", 3, &out, &len)));
    tu_assert_error_reason(CCG_R_INPUT_BAD_HEX);
    free(text);
    free(hex);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(generated_report_verifies_under_named_test_root),
        T(signature_and_signed_bytes_flipped),
        T(header_fields_each_refused),
        T(measurement_blocks_each_refused),
        T(opaque_fields_each_refused),
        T(opaque_framing_refused),
        T(unknown_opaque_types_are_raw_claims),
        T(feature_flags_and_modes),
        T(fwid_checks),
        T(chain_time_each_certificate),
        T(chain_shape_refused),
        T(forged_root_refused),
        T(nonce_and_arch),
        T(json_form_strict),
        T(input_decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
