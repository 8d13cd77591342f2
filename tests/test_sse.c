/* The event-stream framing parser: the OpenAI stream shape, every line ending, comments, multi-line data,
 * any split of the input, the bounds, and an unterminated last event. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/sse.h"
#include "testutil.h"

typedef struct {
    char joined[4096];
    size_t count;
} sink;

static int on_event(void *arg, const ccg_sse_event *ev)
{
    sink *s = arg;
    size_t n = strlen(s->joined);
    snprintf(s->joined + n, sizeof(s->joined) - n, "[%s|%s|%s]", ev->event, ev->data, ev->id);
    s->count++;
    return 0;
}

static void parse_split(const char *text, size_t step, sink *s)
{
    ccg_sse_parser *p = NULL;
    memset(s, 0, sizeof(*s));
    assert_true(ccg_ok(ccg_sse_parser_new(on_event, s, &p)));
    size_t len = strlen(text);
    for (size_t off = 0; off < len; off += step) {
        assert_true(ccg_ok(ccg_sse_feed(p, (const uint8_t *)text + off, len - off < step ? len - off : step)));
    }
    assert_true(ccg_ok(ccg_sse_finish(p)));
    ccg_sse_parser_free(p);
}

static void test_framing(void **state)
{
    (void)state;
    const char *text = "\xef\xbb\xbf" "data: {\"a\":1}\n\n"
                       ": keep-alive\r\n"
                       "event: delta\r\nid: 7\r\ndata: line1\r\ndata:line2\r\n\r\n"
                       "data\rretry: 10\runknown: x\r\r"
                       "data: [DONE]\n\n"
                       "data: never dispatched";
    const char *want = "[|{\"a\":1}|][delta|line1\nline2|7][||7][|[DONE]|7]";
    for (size_t step = 1; step <= strlen(text); step++) {
        sink s;
        parse_split(text, step, &s);
        assert_string_equal(s.joined, want);
        assert_int_equal(s.count, 4);
    }
}

static void test_bounds(void **state)
{
    (void)state;
    ccg_sse_parser *p = NULL;
    sink s = {0};
    assert_true(ccg_ok(ccg_sse_parser_new(on_event, &s, &p)));
    uint8_t *big = malloc(CCG_SSE_MAX_LINE + 16);
    memset(big, 'x', CCG_SSE_MAX_LINE + 16);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_sse_feed(p, big, CCG_SSE_MAX_LINE + 16)));
    tu_assert_error_reason(CCG_R_CLIENT_SSE_MALFORMED);
    ccg_sse_parser_free(p);
    /* many data lines, each within the line bound, over the event bound */
    assert_true(ccg_ok(ccg_sse_parser_new(on_event, &s, &p)));
    memcpy(big, "data: ", 6);
    big[CCG_SSE_MAX_LINE - 1] = '\n';
    ccg_result r = CCG_SUCCESS;
    for (int i = 0; i < 8 && ccg_ok(r); i++) {
        ccg_error_clear();
        r = ccg_sse_feed(p, big, CCG_SSE_MAX_LINE);
    }
    assert_true(ccg_failed(r));
    tu_assert_error_reason(CCG_R_CLIENT_SSE_MALFORMED);
    assert_int_equal(s.count, 0);
    ccg_sse_parser_free(p);
    free(big);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
