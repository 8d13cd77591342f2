/* The GPU policy parser (gpu_policy.h): defaults, every member, strictness (unknown members, wrong
 * types, ranges, contradictions), DevTools refused as an option, named test roots, and the version
 * comparison the policy's version rules use. */
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/gpu_policy.h"
#include "ccgate/gpu_verify.h"
#include "gpu_testgen.h"

static ccg_gpu_policy *parse_ok(const char *text)
{
    ccg_gpu_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_policy_parse(text, strlen(text), &p))) {
        fail_msg("%s: %s", text, ccg_error_last()->message);
    }
    return p;
}

static void parse_fails(const char *text, ccg_reason reason)
{
    ccg_gpu_policy *p = NULL;
    ccg_error_clear();
    if (ccg_ok(ccg_gpu_policy_parse(text, strlen(text), &p))) {
        ccg_gpu_policy_free(p);
        fail_msg("accepted: %s", text);
    }
    tu_assert_error_reason(reason);
}

#define HEAD "{\"policy_id\":\"p\",\"version\":2"

static void test_defaults(void **state)
{
    (void)state;
    ccg_gpu_policy *d = NULL;
    assert_true(ccg_ok(ccg_gpu_policy_default(&d)));
    assert_string_equal(d->policy_id, "ccgate-default-gpu");
    assert_int_equal(d->version, 1);
    ccg_gpu_policy *p = parse_ok(HEAD "}");
    const ccg_gpu_policy *both[] = {d, p};
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(both[i]->min_count, 1);
        assert_int_equal(both[i]->max_count, CCG_GPU_MAX_GPUS);
        assert_true(both[i]->allow_hopper && both[i]->allow_blackwell);
        assert_true(both[i]->require_rim);
        assert_true(both[i]->require_ocsp);
        assert_false(both[i]->allow_hold);
        assert_false(both[i]->require_fwid);
        assert_int_equal(both[i]->multi_gpu, CCG_GPU_MODE_RULE_ALLOWED);
        assert_null(both[i]->gpu_test_root);
        assert_null(both[i]->rim_test_root);
        assert_int_equal(both[i]->driver.allowed_count, 0);
        assert_string_equal(both[i]->vbios.minimum, "");
    }
    assert_string_equal(p->policy_id, "p");
    assert_int_equal(p->version, 2);
    ccg_gpu_policy_free(p);
    ccg_gpu_policy_free(d);
}

static void test_every_member(void **state)
{
    (void)state;
    ccg_gpu_policy *p = parse_ok(HEAD ",\"min_count\":2,\"max_count\":8,\"allowed_architectures\":[\"blackwell\"],"
                                      "\"minimum_driver_version\":\"550.90.07\","
                                      "\"allowed_driver_versions\":[\"550.90.07\",\"570.124.03\"],"
                                      "\"minimum_vbios_version\":\"96.00.9F.00.01\","
                                      "\"allowed_vbios_versions\":[\"96.00.9f.00.01\"],\"require_rim\":false,"
                                      "\"require_ocsp\":true,\"allow_hold\":true,\"require_fwid\":true,"
                                      "\"modes\":{\"single_gpu\":\"refused\",\"multi_gpu\":\"required\","
                                      "\"protected_pcie\":\"allowed\"}}");
    assert_int_equal(p->min_count, 2);
    assert_int_equal(p->max_count, 8);
    assert_false(p->allow_hopper);
    assert_true(p->allow_blackwell);
    assert_string_equal(p->driver.minimum, "550.90.07");
    assert_int_equal(p->driver.allowed_count, 2);
    assert_string_equal(p->driver.allowed[1], "570.124.03");
    assert_string_equal(p->vbios.minimum, "96.00.9F.00.01");
    assert_int_equal(p->vbios.allowed_count, 1);
    assert_false(p->require_rim);
    assert_true(p->require_ocsp && p->allow_hold && p->require_fwid);
    assert_int_equal(p->single_gpu, CCG_GPU_MODE_RULE_REFUSED);
    assert_int_equal(p->multi_gpu, CCG_GPU_MODE_RULE_REQUIRED);
    assert_int_equal(p->protected_pcie, CCG_GPU_MODE_RULE_ALLOWED);
    ccg_gpu_policy_free(p);
    p = parse_ok(HEAD ",\"count\":4}");
    assert_int_equal(p->min_count, 4);
    assert_int_equal(p->max_count, 4);
    ccg_gpu_policy_free(p);
}

static void test_strict(void **state)
{
    (void)state;
    parse_fails("[1]", CCG_R_POLICY_MALFORMED);
    parse_fails("{\"policy_id\":\"p\",\"version\":1,\"version\":2}", CCG_R_POLICY_MALFORMED);
    parse_fails("{\"version\":1}", CCG_R_POLICY_VERSION_INVALID);
    parse_fails("{\"policy_id\":\"p\",\"version\":0}", CCG_R_POLICY_VERSION_INVALID);
    parse_fails("{\"policy_id\":\"p q\",\"version\":1}", CCG_R_POLICY_VERSION_INVALID);
    parse_fails(HEAD ",\"gpu_count\":1}", CCG_R_POLICY_UNKNOWN_KEY);
    parse_fails(HEAD ",\"modes\":{\"nvlink\":\"allowed\"}}", CCG_R_POLICY_UNKNOWN_KEY);
    parse_fails(HEAD ",\"trusted_roots\":{\"snp\":\"x\"}}", CCG_R_POLICY_UNKNOWN_KEY);
    /* DevTools mode is always refused: no member can allow it. */
    parse_fails(HEAD ",\"devtools_allowed\":true}", CCG_R_POLICY_UNKNOWN_KEY);
    parse_fails(HEAD ",\"allow_devtools\":false}", CCG_R_POLICY_UNKNOWN_KEY);
    parse_fails(HEAD ",\"count\":0}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"count\":17}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"count\":\"1\"}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"count\":1,\"min_count\":1}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"min_count\":3,\"max_count\":2}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"allowed_architectures\":[]}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"allowed_architectures\":[\"ampere\"]}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"minimum_driver_version\":\"550.9a\"}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"minimum_driver_version\":\"550..1\"}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"minimum_driver_version\":550}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"minimum_vbios_version\":\"96.00.9G\"}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"allowed_vbios_versions\":[]}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"allowed_driver_versions\":[\"1.2\",3]}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"require_rim\":1}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"require_ocsp\":false,\"allow_hold\":true}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"modes\":{\"multi_gpu\":\"yes\"}}", CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"modes\":{\"multi_gpu\":\"required\",\"protected_pcie\":\"required\"}}",
                CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"modes\":{\"single_gpu\":\"refused\",\"multi_gpu\":\"refused\","
                     "\"protected_pcie\":\"refused\"}}",
                CCG_R_POLICY_INVALID_VALUE);
    parse_fails(HEAD ",\"trusted_roots\":{\"gpu\":\"not a pem\"}}", CCG_R_POLICY_INVALID_VALUE);
    char big[40];
    snprintf(big, sizeof(big), "%s", "1.2.3.4.5.6.7.8.9");
    char text[128];
    snprintf(text, sizeof(text), HEAD ",\"minimum_driver_version\":\"%s\"}", big);
    parse_fails(text, CCG_R_POLICY_INVALID_VALUE); /* nine parts */
}

static char *pem_of(X509 *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    assert_true(PEM_write_bio_X509(b, c) == 1);
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

static void test_trusted_roots(void **state)
{
    (void)state;
    gt_chain chain;
    gt_chain_opts o;
    uint8_t fwid[48] = {0};
    gt_chain_opts_default(&o, fwid);
    assert_int_equal(gt_chain_make(&o, &chain), 0);
    char *root = pem_of(chain.certs[4]), *ca = pem_of(chain.certs[3]);
    json_t *doc = json_pack("{s:s, s:i, s:{s:s, s:s}}", "policy_id", "r", "version", 1, "trusted_roots", "gpu", root,
                            "rim", root);
    char *text = json_dumps(doc, 0);
    ccg_gpu_policy *p = parse_ok(text);
    assert_non_null(p->gpu_test_root);
    assert_non_null(p->rim_test_root);
    assert_int_equal(X509_cmp(p->gpu_test_root, chain.certs[4]), 0);
    ccg_gpu_policy_free(p);
    free(text);
    json_decref(doc);
    /* An intermediate is not a root. */
    doc = json_pack("{s:s, s:i, s:{s:s}}", "policy_id", "r", "version", 1, "trusted_roots", "gpu", ca);
    text = json_dumps(doc, 0);
    parse_fails(text, CCG_R_POLICY_INVALID_VALUE);
    free(text);
    json_decref(doc);
    free(root);
    free(ca);
    gt_chain_free(&chain);
}

static int cmp(const char *a, const char *b, int hex)
{
    int c = 99;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_version_compare(a, b, hex, &c))) {
        fail_msg("%s vs %s: %s", a, b, ccg_error_last()->message);
    }
    return c;
}

static void test_version_compare(void **state)
{
    (void)state;
    assert_int_equal(cmp("550.90.07", "550.90.07", 0), 0);
    assert_int_equal(cmp("550.90.07", "550.90.7", 0), 0);
    assert_int_equal(cmp("550.90.07", "550.100.01", 0), -1); /* numeric, not text */
    assert_int_equal(cmp("550.90.07", "535.86.09", 0), 1);
    assert_int_equal(cmp("550.90", "550.90.0", 0), 0);       /* padded with zeros */
    assert_int_equal(cmp("550.90", "550.90.1", 0), -1);
    assert_int_equal(cmp("96.00.9F.00.01", "96.00.9f.00.01", 1), 0);
    assert_int_equal(cmp("96.00.9F.00.01", "96.00.A0.00.00", 1), -1);
    assert_int_equal(cmp("96.00.5E.00.01", "96.00.5D.FF.FF", 1), 1);
    int c = 0;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_version_compare("", "1", 0, &c)));
    tu_assert_error_reason(CCG_R_GPU_VERSION_UNREADABLE);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_version_compare("96.00.9F", "1", 0, &c))); /* hex digits in a decimal */
    tu_assert_error_reason(CCG_R_GPU_VERSION_UNREADABLE);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_version_compare("1.123456789", "1", 0, &c))); /* a part of 9 digits */
    tu_assert_error_reason(CCG_R_GPU_VERSION_UNREADABLE);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_gpu_version_compare("1.", "1", 0, &c)));
    tu_assert_error_reason(CCG_R_GPU_VERSION_UNREADABLE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),       cmocka_unit_test(test_every_member),
        cmocka_unit_test(test_strict),         cmocka_unit_test(test_trusted_roots),
        cmocka_unit_test(test_version_compare),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
