/* Unit tests for the core: bounded reader, hex, time, reason registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/config_json.h"
#include "ccgate/error.h"
#include "ccgate/reader.h"
#include "ccgate/reasons.h"

static void reader_reads_little_and_big_endian(void **state)
{
    (void)state;
    const uint8_t bytes[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0xAA, 0xBB};
    ccg_reader r;
    uint32_t v32 = 0;
    uint16_t v16 = 0;
    ccg_reader_init(&r, bytes, sizeof(bytes));
    assert_true(ccg_ok(ccg_reader_u32le(&r, &v32)));
    assert_int_equal(v32, 0x04030201);
    assert_true(ccg_ok(ccg_reader_u32be(&r, &v32)));
    assert_int_equal(v32, 0x05060708);
    assert_true(ccg_ok(ccg_reader_u16be(&r, &v16)));
    assert_int_equal(v16, 0xAABB);
    assert_true(ccg_ok(ccg_reader_expect_end(&r)));
}

static void reader_refuses_reads_past_the_end(void **state)
{
    (void)state;
    const uint8_t bytes[] = {1, 2, 3};
    ccg_reader r;
    uint32_t v = 0xDEAD;
    ccg_reader_init(&r, bytes, sizeof(bytes));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_reader_u32le(&r, &v)));
    tu_assert_error_reason(CCG_R_INPUT_TRUNCATED);
    assert_int_equal(ccg_reader_remaining(&r), 3); /* a failed read consumes nothing */
}

static void reader_refuses_trailing_bytes(void **state)
{
    (void)state;
    const uint8_t bytes[] = {1, 2, 3};
    ccg_reader r;
    uint16_t v = 0;
    ccg_reader_init(&r, bytes, sizeof(bytes));
    assert_true(ccg_ok(ccg_reader_u16le(&r, &v)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_reader_expect_end(&r)));
    tu_assert_error_reason(CCG_R_INPUT_TRAILING_BYTES);
}

static void reader_checks_reserved_bytes(void **state)
{
    (void)state;
    const uint8_t zero[] = {0, 0, 0, 0};
    const uint8_t one[] = {0, 0, 1, 0};
    ccg_reader r;
    ccg_reader_init(&r, zero, sizeof(zero));
    assert_true(ccg_ok(ccg_reader_reserved_zero(&r, 4, CCG_R_INPUT_RESERVED_NONZERO)));
    ccg_reader_init(&r, one, sizeof(one));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_reader_reserved_zero(&r, 4, CCG_R_SNP_RESERVED_NONZERO)));
    tu_assert_error_reason(CCG_R_SNP_RESERVED_NONZERO);
    assert_non_null(strstr(ccg_error_last()->message, "0x2"));
}

static void reader_sub_is_bounded(void **state)
{
    (void)state;
    const uint8_t bytes[] = {1, 2, 3, 4, 5};
    ccg_reader r, sub;
    uint32_t v = 0;
    ccg_reader_init(&r, bytes, sizeof(bytes));
    assert_true(ccg_ok(ccg_reader_sub(&r, &sub, 2)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_reader_u32le(&sub, &v)));
    assert_int_equal(ccg_reader_remaining(&r), 3);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_reader_sub(&r, &sub, 4)));
    tu_assert_error_reason(CCG_R_INPUT_TRUNCATED);
}

static void hex_round_trip_and_errors(void **state)
{
    (void)state;
    uint8_t out[3];
    char text[7];
    assert_true(ccg_ok(ccg_hex_decode_exact("0aFf10", out, 3)));
    assert_int_equal(out[0], 0x0a);
    assert_int_equal(out[1], 0xff);
    ccg_hex_encode(out, 3, text);
    assert_string_equal(text, "0aff10");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hex_decode_exact("0aFf1", out, 3)));
    tu_assert_error_reason(CCG_R_INPUT_BAD_HEX);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_hex_decode_exact("0aFg10", out, 3)));
    tu_assert_error_reason(CCG_R_INPUT_BAD_HEX);

    uint8_t *blob = NULL;
    size_t len = 0;
    const char *t = "01 02\n0304";
    assert_true(ccg_ok(ccg_hex_decode_text(t, strlen(t), &blob, &len)));
    assert_int_equal(len, 4);
    assert_int_equal(blob[3], 4);
    free(blob);
}

static void time_parses_rfc3339(void **state)
{
    (void)state;
    ccg_time t = 0;
    char buf[32];
    assert_true(ccg_ok(ccg_time_parse_rfc3339("1970-01-01T00:00:00Z", &t)));
    assert_int_equal(t, 0);
    assert_true(ccg_ok(ccg_time_parse_rfc3339("2025-07-19T09:20:34Z", &t)));
    assert_int_equal(t, 1752916834);
    assert_true(ccg_ok(ccg_time_parse_rfc3339("2025-07-19T11:20:34.5+02:00", &t)));
    assert_int_equal(t, 1752916834);
    ccg_time_format_rfc3339(1752916834, buf, sizeof(buf));
    assert_string_equal(buf, "2025-07-19T09:20:34Z");
    const char *bad[] = {"2025-02-30T00:00:00Z", "2025-07-19 09:20:34Z", "2025-07-19T09:20:34", "yesterday",
                         "2025-07-19T09:20:34Zjunk", "2025-13-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_time_parse_rfc3339(bad[i], &t)));
        tu_assert_error_reason(CCG_R_INPUT_BAD_TIME);
    }
}

static void registry_codes_are_unique_and_documented(void **state)
{
    (void)state;
    for (int i = 1; i < CCG_R__COUNT; i++) {
        const char *code = ccg_reason_code((ccg_reason)i);
        assert_non_null(strchr(code, '.'));
        assert_int_equal(ccg_reason_from_code(code), i);
        assert_true(strlen(ccg_reason_message((ccg_reason)i)) > 10);
    }
    /* docs/reason-codes.md is generated from the registry and must not drift from it. */
    char path[4096];
    const char *src = getenv("CCG_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/docs/reason-codes.md", src ? src : ".");
    uint8_t *doc = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_file_read(path, 1u << 20, &doc, &len)));
    char *md = ccg_reason_registry_markdown();
    assert_non_null(md);
    if (strcmp((const char *)doc, md) != 0) {
        fail_msg("docs/reason-codes.md is stale: regenerate it with `ccgate reasons --markdown > docs/reason-codes.md`");
    }
    free(md);
    free(doc);
}

static void first_error_wins_until_cleared(void **state)
{
    (void)state;
    ccg_error_clear();
    ccg_error_set(CCG_R_SNP_SIGNATURE_INVALID, __FILE__, __LINE__, "first");
    ccg_error_set(CCG_R_INTERNAL_ERROR, __FILE__, __LINE__, "second");
    tu_assert_error_reason(CCG_R_SNP_SIGNATURE_INVALID);
    assert_string_equal(ccg_error_last()->message, "first");
    ccg_error_clear();
    assert_int_equal(ccg_error_reason(), CCG_R_OK);
}

/* The shared configuration readers: the caller's reason, the member named, absence leaves the default. */
static void config_readers_are_strict(void **state)
{
    (void)state;
    static const char *const known[] = {"s", "b", "u", "n", NULL};
    const ccg_reason bad = CCG_R_AGENT_CONFIG_INVALID;
    json_t *o = json_loads("{\"s\":\"x\",\"b\":true,\"u\":7,\"n\":null}", 0, NULL);
    json_t *wrong = json_loads("{\"s\":\"\",\"b\":1,\"u\":-1,\"x\":0}", 0, NULL);
    char *str = NULL;
    int flag = 0;
    uint64_t u = 42;
    assert_non_null(o);
    assert_non_null(wrong);
    assert_true(ccg_ok(ccg_config_only_known(o, "t", known, bad)));
    assert_true(ccg_ok(ccg_config_get_str(o, "t", "s", CCG_CONFIG_REQUIRED, bad, &str)));
    assert_string_equal(str, "x");
    assert_true(ccg_ok(ccg_config_get_str(o, "t", "s", CCG_CONFIG_OPTIONAL, bad, &str))); /* replaces, no leak */
    assert_true(ccg_ok(ccg_config_get_bool(o, "t", "b", bad, &flag)));
    assert_int_equal(flag, 1);
    assert_true(ccg_ok(ccg_config_get_uint(o, "t", "u", 0, 7, bad, &u)));
    assert_int_equal(u, 7);
    assert_true(ccg_ok(ccg_config_get_uint(o, "t", "absent", 0, 7, bad, &u)));
    assert_int_equal(u, 7);
    assert_true(ccg_ok(ccg_config_get_str(o, "t", "n", CCG_CONFIG_NULL_ABSENT, bad, &str)));
    assert_string_equal(str, "x");

    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_get_str(o, "t", "n", CCG_CONFIG_OPTIONAL, bad, &str)));
    tu_assert_error_reason(CCG_R_AGENT_CONFIG_INVALID);
    assert_string_equal(ccg_error_last()->message, "\"t.n\" must be a non-empty string");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_get_str(o, "t", "absent", CCG_CONFIG_REQUIRED, bad, &str)));
    assert_string_equal(ccg_error_last()->message, "\"t.absent\" is required");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_get_uint(o, "t", "u", 8, 9, bad, &u)));
    assert_string_equal(ccg_error_last()->message, "\"t.u\" must be an integer in [8, 9]");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_only_known(wrong, "t", known, bad)));
    assert_string_equal(ccg_error_last()->message, "unknown member \"x\" in \"t\"");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_only_known(json_object_get(o, "s"), "t.s", known, bad)));
    assert_string_equal(ccg_error_last()->message, "\"t.s\" must be an object");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_get_str(wrong, "t", "s", CCG_CONFIG_OPTIONAL, bad, &str)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_get_bool(wrong, "t", "b", bad, &flag)));
    assert_string_equal(ccg_error_last()->message, "\"t.b\" must be true or false");
    ccg_error_clear();
    assert_true(ccg_failed(ccg_config_get_uint(wrong, "t", "u", 0, 7, bad, &u)));
    tu_assert_error_reason(CCG_R_AGENT_CONFIG_INVALID);
    assert_string_equal(str, "x"); /* a refused member leaves the value */
    ccg_error_clear();
    free(str);
    json_decref(o);
    json_decref(wrong);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_reads_little_and_big_endian),
        cmocka_unit_test(reader_refuses_reads_past_the_end),
        cmocka_unit_test(reader_refuses_trailing_bytes),
        cmocka_unit_test(reader_checks_reserved_bytes),
        cmocka_unit_test(reader_sub_is_bounded),
        cmocka_unit_test(hex_round_trip_and_errors),
        cmocka_unit_test(time_parses_rfc3339),
        cmocka_unit_test(registry_codes_are_unique_and_documented),
        cmocka_unit_test(first_error_wins_until_cleared),
        cmocka_unit_test(config_readers_are_strict),
    };
    return cmocka_run_group_tests_name("core", tests, NULL, NULL);
}
