/* The runner's model (docs/runner.md): the CCGM parser refuses every malformed field with
 * runner.model_malformed, generation is deterministic, the text is valid UTF-8 whatever the bytes, the chat
 * template and the API's request parser. */
#include <jansson.h>
#include <math.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "../src/serve/runner/runner_api.h"
#include "../src/serve/runner/runner_internal.h"
#include "ccgate/model.h"

#define MODEL_SEED42_SHA256 "1e27135c5b2d23f2b9025f26cde64702c05d9648bc10ecdfde1ff5beb8b277ee"

/* Small dimensions keep the tests fast. d_model 12 makes a norm 48 bytes, so padding follows it. */
static const ccg_model_dims SMALL = {CCG_MODEL_VOCAB, 12, 2, 2, 32, 32};

static void make(const ccg_model_dims *d, uint64_t seed, uint8_t **buf, size_t *len)
{
    assert_true(ccg_ok(ccg_model_generate(d, seed, buf, len)));
    assert_int_equal(*len, ccg_model_file_len(d));
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void test_generate_parse(void **state)
{
    uint8_t *buf;
    size_t len;
    ccg_model m;
    (void)state;
    make(&SMALL, 1, &buf, &len);
    assert_true(ccg_ok(ccg_model_parse(buf, len, &m)));
    assert_memory_equal(&m.dims, &SMALL, sizeof(SMALL));
    assert_int_equal(m.file_len, len);
    assert_ptr_equal(m.tok_emb, (const float *)(const void *)(buf + ccg_model_tensor_offset(&SMALL, 0)));
    assert_ptr_equal(m.lm_head, (const float *)(const void *)(buf + ccg_model_tensor_offset(
                                                                  &SMALL, ccg_model_tensor_count(&SMALL) - 1)));
    assert_true(m.layers[1].attn_norm[0] == 1.0f);
    ccg_model_free(&m);
    free(buf);
}

/* The default model of `ccgate model generate --seed 42` is pinned: a change to the format, the weight stream
 * or the scales shows here (the endpoint's end-to-end test compares against files made by this code). */
static void test_generate_deterministic(void **state)
{
    ccg_model_dims d = CCG_MODEL_DIMS_DEFAULT;
    uint8_t *a, *b, *c, md[32];
    size_t la, lb, lc;
    char hex[65];
    (void)state;
    make(&d, 42, &a, &la);
    make(&d, 42, &b, &lb);
    make(&d, 43, &c, &lc);
    assert_int_equal(la, lb);
    assert_memory_equal(a, b, la);
    assert_int_equal(la, lc);
    assert_memory_not_equal(a, c, la);
    assert_int_equal(la, 592320);
    assert_non_null(SHA256(a, la, md));
    ccg_hex_encode(md, 32, hex);
    assert_string_equal(hex, MODEL_SEED42_SHA256);
    free(a);
    free(b);
    free(c);
}

static void test_complete_deterministic(void **state)
{
    uint8_t *buf;
    size_t len;
    ccg_model m;
    char *t1 = NULL, *t2 = NULL, *t3 = NULL;
    ccg_model_finish f1, f2, f3;
    uint32_t p1, c1, p2, c2, p3, c3;
    (void)state;
    make(&SMALL, 9, &buf, &len);
    assert_true(ccg_ok(ccg_model_parse(buf, len, &m)));
    assert_true(ccg_ok(ccg_model_complete(&m, (const uint8_t *)"hello", 5, 12, &t1, &f1, &p1, &c1)));
    assert_true(ccg_ok(ccg_model_complete(&m, (const uint8_t *)"hello", 5, 12, &t2, &f2, &p2, &c2)));
    assert_string_equal(t1, t2);
    assert_int_equal(f1, f2);
    assert_int_equal(p1, 6); /* BOS + 5 bytes */
    assert_int_equal(c1, c2);
    assert_true(c1 >= 1 && c1 <= 12);
    assert_true(f1 == CCG_FINISH_STOP || c1 == 12);
    /* A longer budget starts with the same text (greedy decoding is a prefix-stable function). */
    assert_true(ccg_ok(ccg_model_complete(&m, (const uint8_t *)"hello", 5, 20, &t3, &f3, &p3, &c3)));
    assert_true(c3 >= c1);
    free(t1);
    free(t2);
    free(t3);
    ccg_model_free(&m);
    free(buf);
}

static void test_gen_limits(void **state)
{
    uint8_t *buf, prompt[64];
    size_t len;
    ccg_model m;
    ccg_model_gen g;
    char *text = NULL;
    ccg_model_finish f;
    uint32_t p, c;
    (void)state;
    memset(prompt, 'a', sizeof(prompt));
    make(&SMALL, 3, &buf, &len);
    assert_true(ccg_ok(ccg_model_parse(buf, len, &m)));
    /* BOS + 32 bytes do not fit max_seq 32; BOS + 31 do, and leave room for one token. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_model_gen_start(&g, &m, prompt, 32, 4)));
    tu_assert_error_reason(CCG_R_RUNNER_PROMPT_TOO_LONG);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_model_gen_start(&g, &m, prompt, 3, 0)));
    tu_assert_error_reason(CCG_R_RUNNER_REQUEST_INVALID);
    assert_true(ccg_ok(ccg_model_complete(&m, prompt, 31, 100, &text, &f, &p, &c)));
    assert_int_equal(p, 32);
    assert_true(c <= 1);
    free(text);
    /* An empty prompt is BOS alone. */
    assert_true(ccg_ok(ccg_model_complete(&m, prompt, 0, 100, &text, &f, &p, &c)));
    assert_int_equal(p, 1);
    assert_true(c <= 32 && (f == CCG_FINISH_STOP || c == 32));
    free(text);
    ccg_model_free(&m);
    free(buf);
}

/* One mutation of a valid file and the refusal it must get. */
typedef struct {
    const char *what;
    size_t offset; /* SIZE_MAX: special */
    uint32_t value;
} mutation;

static void expect_malformed(const uint8_t *data, size_t len, const char *what)
{
    ccg_model m;
    ccg_error_clear();
    if (ccg_ok(ccg_model_parse(data, len, &m))) {
        ccg_model_free(&m);
        fail_msg("accepted a model with a malformed %s", what);
    }
    if (ccg_error_reason() != CCG_R_RUNNER_MODEL_MALFORMED) {
        fail_msg("%s: got %s (%s)", what, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
}

static void test_header_fields(void **state)
{
    static const mutation cases[] = {
        {"magic", 0, 0x4d474343 + 1},   {"version 0", 4, 0},        {"version 2", 4, 2},
        {"header_len", 8, 65},          {"vocab 255", 12, 255},     {"vocab 257", 12, 257},
        {"d_model 0", 16, 0},           {"d_model not a multiple of n_heads", 16, 15},
        {"d_model too large", 16, CCG_MODEL_MAX_D_MODEL + 2},       {"d_model huge", 16, 0xffffffffu},
        {"n_layers 0", 20, 0},          {"n_layers 1 (length)", 20, 1},
        {"n_layers too large", 20, CCG_MODEL_MAX_LAYERS + 1},       {"n_heads 0", 24, 0},
        {"n_heads too large", 24, CCG_MODEL_MAX_HEADS + 1},         {"d_ff 0", 28, 0},
        {"d_ff other (length)", 28, 33}, {"d_ff too large", 28, CCG_MODEL_MAX_D_FF + 1},
        {"max_seq 1", 32, 1},           {"max_seq too large", 32, CCG_MODEL_MAX_SEQ + 1},
        {"tensor_count", 36, 19},       {"flags", 40, 1},           {"reserved", 60, 1},
    };
    uint8_t *buf;
    size_t len;
    (void)state;
    make(&SMALL, 5, &buf, &len);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint8_t *copy = malloc(len);
        assert_non_null(copy);
        memcpy(copy, buf, len);
        put_u32(copy + cases[i].offset, cases[i].value);
        expect_malformed(copy, len, cases[i].what);
        free(copy);
    }
    free(buf);
}

static void test_table_and_data(void **state)
{
    const size_t entry1 = CCG_MODEL_HEADER_LEN + CCG_MODEL_TENSOR_ENTRY_LEN; /* pos_emb's entry */
    const size_t lm = ccg_model_tensor_offset(&SMALL, ccg_model_tensor_count(&SMALL) - 1);
    struct {
        const char *what;
        size_t offset;
        uint8_t xor_byte;
    } cases[] = {
        {"tensor name", entry1, 0x01},
        {"tensor name padding", entry1 + 31, 0x41},
        {"dtype", entry1 + 32, 0x03},
        {"rows", entry1 + 36, 0x01},
        {"cols", entry1 + 40, 0x01},
        {"entry reserved", entry1 + 44, 0x01},
        {"offset", entry1 + 48, 0x40},
        {"offset high bits", entry1 + 55, 0x80},
        {"padding after the table", ccg_model_tensor_offset(&SMALL, 0) - 1, 0x01},
        {"padding between tensors", ccg_model_tensor_offset(&SMALL, 3) - 4, 0x01},
    };
    uint8_t *buf, *copy;
    size_t len;
    float nan = NAN, inf = INFINITY;
    (void)state;
    make(&SMALL, 6, &buf, &len);
    /* The norm (tensor 2) is 48 bytes: the byte mutated is in the 16 bytes of padding after it. */
    assert_true(ccg_model_tensor_offset(&SMALL, 3) - 4 >= ccg_model_tensor_offset(&SMALL, 2) + 48);
    copy = malloc(len + 1);
    assert_non_null(copy);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(copy, buf, len);
        copy[cases[i].offset] ^= cases[i].xor_byte;
        expect_malformed(copy, len, cases[i].what);
    }
    memcpy(copy, buf, len);
    memcpy(copy + lm + 8, &nan, 4);
    expect_malformed(copy, len, "NaN weight");
    memcpy(copy, buf, len);
    memcpy(copy + ccg_model_tensor_offset(&SMALL, 4), &inf, 4);
    expect_malformed(copy, len, "infinite weight");
    /* Every length but the right one. */
    memcpy(copy, buf, len);
    copy[len] = 0;
    expect_malformed(copy, len + 1, "trailing byte");
    {
        const size_t cuts[] = {0, 3, 4, 40, 63, 64, 65, 64 + CCG_MODEL_TENSOR_ENTRY_LEN, len - 1};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
            expect_malformed(copy, cuts[i], "truncated file");
        }
    }
    free(copy);
    free(buf);
}

static void test_dims_check(void **state)
{
    ccg_model_dims d = SMALL;
    (void)state;
    assert_true(ccg_ok(ccg_model_dims_check(&d)));
    d.n_heads = 5;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_model_dims_check(&d)));
    tu_assert_error_reason(CCG_R_RUNNER_MODEL_MALFORMED);
    d = SMALL;
    d.max_seq = CCG_MODEL_MAX_SEQ;
    d.d_model = CCG_MODEL_MAX_D_MODEL;
    d.n_heads = CCG_MODEL_MAX_HEADS;
    d.n_layers = CCG_MODEL_MAX_LAYERS;
    d.d_ff = CCG_MODEL_MAX_D_FF;
    assert_true(ccg_ok(ccg_model_dims_check(&d)));
    assert_true(ccg_model_file_len(&d) < (1ull << 40)); /* the bounds keep sizes far from overflow */
}

static char *text_of(const uint8_t *bytes, size_t n, int one_by_one)
{
    ccg_model_text t = {0};
    char *out = calloc(1, n * 12 + 17), piece[16];
    size_t len = 0, k;
    assert_non_null(out);
    if (one_by_one) {
        for (size_t i = 0; i < n; i++) {
            k = ccg_model_text_feed(&t, bytes[i], piece);
            memcpy(out + len, piece, k);
            len += k;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            len += ccg_model_text_feed(&t, bytes[i], out + len);
        }
    }
    len += ccg_model_text_finish(&t, out + len);
    out[len] = 0;
    return out;
}

static void test_text(void **state)
{
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"plain text\tand\n", "plain text\tand\n"},
        {"\x01\r\x7f", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"\xc0\x80", "\xef\xbf\xbd\xef\xbf\xbd"},                       /* overlong */
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},       /* surrogate */
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* above U+10FFFF */
        {"\xe2\x82x", "\xef\xbf\xbd\xef\xbf\xbdx"},                      /* cut, then ASCII */
        {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},                        /* cut at the end */
        {"\x80", "\xef\xbf\xbd"},                                       /* stray continuation */
    };
    uint8_t rnd[4096];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = text_of((const uint8_t *)cases[i].in, strlen(cases[i].in), 1);
        if (strcmp(got, cases[i].out) != 0) {
            fail_msg("text case %zu differs", i);
        }
        free(got);
    }
    /* Random bytes: always valid UTF-8 (jansson checks), the same fed one by one or in a row. */
    srand(7);
    for (size_t i = 0; i < sizeof(rnd); i++) {
        rnd[i] = (uint8_t)(rand() >> 7);
    }
    {
        char *a = text_of(rnd, sizeof(rnd), 1), *b = text_of(rnd, sizeof(rnd), 0);
        json_t *s = json_string(a);
        assert_non_null(s);
        assert_string_equal(a, b);
        json_decref(s);
        free(a);
        free(b);
    }
}

static void test_chat_template(void **state)
{
    static const char *const bad[] = {
        "[]", "{}", "[1]", "[{\"role\":\"user\"}]", "[{\"role\":\"tool\",\"content\":\"x\"}]",
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}]", "[{\"role\":1,\"content\":\"x\"}]",
    };
    json_t *m = json_loads("[{\"role\":\"system\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":\"Hi\\u0000!\"}]",
                           JSON_ALLOW_NUL, NULL);
    char *prompt = NULL;
    size_t len = 0;
    (void)state;
    assert_non_null(m);
    assert_true(ccg_ok(ccg_model_chat_prompt(m, &prompt, &len)));
    assert_int_equal(len, strlen("<|system|>\nBe brief.\n<|user|>\nHi") + 1 + strlen("!\n<|assistant|>\n"));
    assert_memory_equal(prompt, "<|system|>\nBe brief.\n<|user|>\nHi\0!\n<|assistant|>\n", len);
    free(prompt);
    json_decref(m);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = json_loads(bad[i], 0, NULL);
        assert_non_null(m);
        ccg_error_clear();
        assert_true(ccg_failed(ccg_model_chat_prompt(m, &prompt, &len)));
        tu_assert_error_reason(CCG_R_RUNNER_REQUEST_INVALID);
        json_decref(m);
    }
}

static void test_request_parse(void **state)
{
    static const struct {
        runner_kind kind;
        const char *body;
        ccg_reason reason;
    } bad[] = {
        {RUNNER_COMPLETION, "", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "[]", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"prompt\":\"b\"}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":[\"a\"]}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":0}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":9}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"max_tokens\":1.5}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"stream\":\"yes\"}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"temperature\":3}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"n\":2}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"model\":\"gpt-4\"}", CCG_R_RUNNER_MODEL_NOT_FOUND},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"model\":7}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_COMPLETION, "{\"prompt\":\"a\",\"model\":\"m\\u0000x\"}", CCG_R_RUNNER_MODEL_NOT_FOUND},
        {RUNNER_CHAT, "{\"prompt\":\"a\"}", CCG_R_RUNNER_REQUEST_INVALID},
        {RUNNER_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}],\"max_tokens\":-1}",
         CCG_R_RUNNER_REQUEST_INVALID},
    };
    runner_request req;
    const char *ok = "{\"model\":\"m\",\"prompt\":\"x\\u0000y\",\"max_tokens\":8,\"stream\":true,\"temperature\":0.7,"
                     "\"top_p\":1,\"n\":1}";
    (void)state;
    assert_true(ccg_ok(runner_request_parse(RUNNER_COMPLETION, ok, strlen(ok), "m", 8, &req)));
    assert_int_equal(req.prompt_len, 3);
    assert_memory_equal(req.prompt, "x\0y", 3);
    assert_int_equal(req.max_tokens, 8);
    assert_true(req.stream);
    runner_request_free(&req);
    ok = "{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}";
    assert_true(ccg_ok(runner_request_parse(RUNNER_CHAT, ok, strlen(ok), "m", 256, &req)));
    assert_string_equal(req.prompt, "<|user|>\nHi\n<|assistant|>\n");
    assert_int_equal(req.max_tokens, CCG_RUNNER_MAX_TOKENS_DEFAULT);
    assert_false(req.stream);
    runner_request_free(&req);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_error_clear();
        if (ccg_ok(runner_request_parse(bad[i].kind, bad[i].body, strlen(bad[i].body), "m", 8, &req))) {
            runner_request_free(&req);
            fail_msg("accepted %s", bad[i].body);
        }
        if (ccg_error_reason() != bad[i].reason) {
            fail_msg("%s: got %s", bad[i].body, ccg_reason_code(ccg_error_reason()));
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_generate_parse),      cmocka_unit_test(test_generate_deterministic),
        cmocka_unit_test(test_complete_deterministic), cmocka_unit_test(test_gen_limits),
        cmocka_unit_test(test_header_fields),       cmocka_unit_test(test_table_and_data),
        cmocka_unit_test(test_dims_check),          cmocka_unit_test(test_text),
        cmocka_unit_test(test_chat_template),       cmocka_unit_test(test_request_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
