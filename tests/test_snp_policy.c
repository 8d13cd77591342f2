/* The SNP policy parser: strict keys, types and ranges, each refusal with its code. */
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/snp_policy.h"

static void refuse(const char *json, ccg_reason expected)
{
    ccg_snp_policy *p = NULL;
    ccg_error_clear();
    if (ccg_ok(ccg_snp_policy_parse(json, strlen(json), &p))) {
        ccg_snp_policy_free(p);
        fail_msg("policy accepted: %s", json);
    }
    assert_null(p);
    tu_assert_error_reason(expected);
}

static void full_policy_parses(void **state)
{
    (void)state;
    const char *json =
        "{\"policy_id\":\"acme-llm\",\"version\":3,\"tee\":\"snp\",\"debug_allowed\":false,"
        "\"migration_agent_allowed\":false,\"smt_allowed\":false,\"vmpl\":0,\"allow_masked_chip_id\":true,"
        "\"require_crl\":true,\"allowed_signers\":[\"vlek\"],"
        "\"minimum_tcb\":{\"bootloader\":3,\"tee\":1,\"snp\":8,\"microcode\":115,\"fmc\":2},"
        "\"minimum_build\":21,\"minimum_abi\":{\"major\":1,\"minor\":55},\"minimum_guest_svn\":4,"
        "\"allowed_measurements\":[\"" "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f" "\"],"
        "\"report_data\":\"" "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001" "\","
        "\"host_data\":\"" "ff00000000000000000000000000000000000000000000000000000000000000" "\","
        "\"allowed_id_key_digests\":[],\"allowed_author_key_digests\":[],"
        "\"platform_info\":{\"smt_enabled\":false,\"tsme_enabled\":true}}";
    ccg_snp_policy *p = NULL;
    assert_true(ccg_ok(ccg_snp_policy_parse(json, strlen(json), &p)));
    assert_string_equal(p->policy_id, "acme-llm");
    assert_int_equal(p->version, 3);
    assert_false(p->smt_allowed);
    assert_int_equal(p->vmpl, 0);
    assert_true(p->allow_masked_chip_id);
    assert_true(p->require_crl);
    assert_false(p->allow_vcek);
    assert_true(p->allow_vlek);
    assert_int_equal(p->minimum_tcb.microcode, 115);
    assert_int_equal(p->minimum_tcb.fmc, 2);
    assert_int_equal(p->minimum_build, 21);
    assert_int_equal(p->minimum_major, 1);
    assert_int_equal(p->minimum_minor, 55);
    assert_int_equal(p->minimum_guest_svn, 4);
    assert_int_equal(p->measurement_count, 1);
    assert_int_equal(p->measurements[0].bytes[47], 0x2f);
    assert_true(p->has_report_data);
    assert_int_equal(p->report_data[63], 1);
    assert_int_equal(p->host_data[0], 0xff);
    /* An empty allow-list is a list that allows nothing, not "any". */
    assert_non_null(p->id_key_digests);
    assert_int_equal(p->id_key_digest_count, 0);
    assert_int_equal(p->platform.smt_enabled, 0);
    assert_int_equal(p->platform.tsme_enabled, 1);
    assert_int_equal(p->platform.ecc_enabled, -1);
    ccg_snp_policy_free(p);
}

static void defaults_are_secure(void **state)
{
    (void)state;
    ccg_snp_policy *p = NULL;
    const char *json = "{\"policy_id\":\"min\",\"version\":1}";
    assert_true(ccg_ok(ccg_snp_policy_parse(json, strlen(json), &p)));
    assert_false(p->debug_allowed);
    assert_false(p->migration_agent_allowed);
    assert_false(p->allow_masked_chip_id);
    assert_null(p->measurements);
    ccg_snp_policy_free(p);
    assert_true(ccg_ok(ccg_snp_policy_default(&p)));
    assert_string_equal(p->policy_id, "ccgate-default-snp");
    assert_false(p->debug_allowed);
    assert_false(p->migration_agent_allowed);
    ccg_snp_policy_free(p);
}

static void malformed_documents_are_refused(void **state)
{
    (void)state;
    refuse("", CCG_R_POLICY_MALFORMED);
    refuse("{", CCG_R_POLICY_MALFORMED);
    refuse("[]", CCG_R_POLICY_MALFORMED);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"version\":2}", CCG_R_POLICY_MALFORMED);
}

static void identity_is_required(void **state)
{
    (void)state;
    refuse("{\"version\":1}", CCG_R_POLICY_VERSION_INVALID);
    refuse("{\"policy_id\":\"a\"}", CCG_R_POLICY_VERSION_INVALID);
    refuse("{\"policy_id\":\"a\",\"version\":0}", CCG_R_POLICY_VERSION_INVALID);
    refuse("{\"policy_id\":\"a\",\"version\":\"1\"}", CCG_R_POLICY_VERSION_INVALID);
    refuse("{\"policy_id\":\"\",\"version\":1}", CCG_R_POLICY_VERSION_INVALID);
    refuse("{\"policy_id\":\"a b\",\"version\":1}", CCG_R_POLICY_VERSION_INVALID);
}

static void unknown_keys_are_refused(void **state)
{
    (void)state;
    refuse("{\"policy_id\":\"a\",\"version\":1,\"debug\":false}", CCG_R_POLICY_UNKNOWN_KEY);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"minimum_tcb\":{\"ucode\":1}}", CCG_R_POLICY_UNKNOWN_KEY);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"platform_info\":{\"smt\":true}}", CCG_R_POLICY_UNKNOWN_KEY);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"minimum_abi\":{\"patch\":1}}", CCG_R_POLICY_UNKNOWN_KEY);
}

static void bad_values_are_refused(void **state)
{
    (void)state;
    refuse("{\"policy_id\":\"a\",\"version\":1,\"tee\":\"tdx\"}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"debug_allowed\":0}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"vmpl\":4}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"vmpl\":-1}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"minimum_tcb\":{\"snp\":256}}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"allowed_measurements\":[\"00\"]}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"allowed_measurements\":\"00\"}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"report_data\":\"zz\"}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"host_data\":12}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"allowed_signers\":[]}", CCG_R_POLICY_INVALID_VALUE);
    refuse("{\"policy_id\":\"a\",\"version\":1,\"allowed_signers\":[\"ark\"]}", CCG_R_POLICY_INVALID_VALUE);
}

/* Appraisal of a constructed report: each rule's failure has its own code. */
static ccg_snp_report plain_report(void)
{
    ccg_snp_report r;
    memset(&r, 0, sizeof(r));
    r.version = 3;
    r.policy = CCG_SNP_POLICY_RESERVED_ONE;
    r.reported_tcb = r.launch_tcb = r.current_tcb = r.committed_tcb = 0x7308000000000003ull;
    r.current_build = 5;
    r.current_major = 1;
    r.current_minor = 55;
    return r;
}

static void appraise_expect(const char *policy_json, const ccg_snp_report *r, ccg_reason expected)
{
    ccg_snp_policy *p = NULL;
    ccg_reasons reasons;
    assert_true(ccg_ok(ccg_snp_policy_parse(policy_json, strlen(policy_json), &p)));
    ccg_reasons_init(&reasons);
    assert_int_equal(ccg_snp_appraise(p, r, CCG_SNP_PRODUCT_MILAN, &reasons), 0);
    if (expected == CCG_R_OK) {
        assert_int_equal(reasons.count, 0);
    } else if (reasons.count != 1 || reasons.items[0].reason != expected) {
        fail_msg("%s: expected exactly %s, got %zu reasons (first %s)", policy_json, ccg_reason_code(expected),
                 reasons.count, reasons.count ? ccg_reason_code(reasons.items[0].reason) : "-");
    }
    ccg_reasons_free(&reasons);
    ccg_snp_policy_free(p);
}

#define D48 "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000001"

static void appraisal_rules_have_their_codes(void **state)
{
    (void)state;
    ccg_snp_report r = plain_report();
    appraise_expect("{\"policy_id\":\"p\",\"version\":1}", &r, CCG_R_OK);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"minimum_build\":6}", &r, CCG_R_SNP_FIRMWARE_BELOW_MINIMUM);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"minimum_abi\":{\"major\":1,\"minor\":56}}", &r,
                    CCG_R_SNP_ABI_BELOW_MINIMUM);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"minimum_abi\":{\"major\":1,\"minor\":55}}", &r, CCG_R_OK);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"host_data\":\""
                    "0000000000000000000000000000000000000000000000000000000000000001\"}",
                    &r, CCG_R_SNP_HOST_DATA_MISMATCH);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"allowed_id_key_digests\":[\"" D48 "\"]}", &r,
                    CCG_R_SNP_ID_KEY_NOT_ALLOWED);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"allowed_author_key_digests\":[\"" D48 "\"]}", &r,
                    CCG_R_SNP_AUTHOR_KEY_NOT_ALLOWED);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"platform_info\":{\"tsme_enabled\":true}}", &r,
                    CCG_R_SNP_PLATFORM_INFO_REQUIREMENT);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"minimum_guest_svn\":1}", &r,
                    CCG_R_SNP_GUEST_SVN_BELOW_MINIMUM);
    /* An author key digest is accepted only when AUTHOR_KEY_EN says it is present. */
    r.id_key_digest[47] = 1;
    r.author_key_digest[47] = 1;
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"allowed_id_key_digests\":[\"" D48 "\"]}", &r, CCG_R_OK);
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"allowed_author_key_digests\":[\"" D48 "\"]}", &r,
                    CCG_R_SNP_AUTHOR_KEY_NOT_ALLOWED);
    r.flags |= 1;
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"allowed_author_key_digests\":[\"" D48 "\"]}", &r, CCG_R_OK);
    r.platform_info = CCG_SNP_PLATFORM_TSME_EN;
    appraise_expect("{\"policy_id\":\"p\",\"version\":1,\"platform_info\":{\"tsme_enabled\":true}}", &r, CCG_R_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(full_policy_parses),
        cmocka_unit_test(defaults_are_secure),
        cmocka_unit_test(malformed_documents_are_refused),
        cmocka_unit_test(identity_is_required),
        cmocka_unit_test(unknown_keys_are_refused),
        cmocka_unit_test(bad_values_are_refused),
        cmocka_unit_test(appraisal_rules_have_their_codes),
    };
    return cmocka_run_group_tests_name("snp_policy", tests, NULL, NULL);
}
