/* Unit tests for the bounded growable buffer (buf.h): growth, the max, size_t overflow, the NUL. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/buf.h"
#include "ccgate/error.h"

static void grows_and_stays_nul_terminated(void **state)
{
    (void)state;
    ccg_buf b;
    ccg_buf_init(&b, 1u << 20);
    uint8_t chunk[1000];
    memset(chunk, 'x', sizeof(chunk));
    for (int i = 0; i < 100; i++) {
        assert_true(ccg_ok(ccg_buf_append(&b, chunk, sizeof(chunk))));
        assert_int_equal(b.len, (size_t)(i + 1) * sizeof(chunk));
        assert_true(b.cap > b.len);
        assert_int_equal(b.p[b.len], 0);
    }
    assert_true(ccg_ok(ccg_buf_append_str(&b, "end")));
    assert_int_equal(b.len, 100003);
    assert_memory_equal(b.p + 100000, "end", 4);
    char *s = NULL;
    size_t n = 0;
    assert_true(ccg_ok(ccg_buf_take_str(&b, &s, &n)));
    assert_int_equal(n, 100003);
    assert_int_equal(strlen(s), 100003);
    assert_null(b.p);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 1u << 20); /* the max is kept for reuse */
    free(s);
    ccg_buf_free(&b);
}

static void the_max_is_exact(void **state)
{
    (void)state;
    ccg_buf b;
    ccg_buf_init(&b, 10);
    assert_true(ccg_ok(ccg_buf_append(&b, "0123456789", 10)));
    assert_true(b.cap <= 11); /* never allocated past max + the NUL */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_buf_append(&b, "x", 1)));
    assert_int_equal(ccg_error_reason(), CCG_R_INPUT_TOO_LARGE);
    assert_int_equal(b.len, 10); /* nothing was appended */
    assert_memory_equal(b.p, "0123456789", 11);
    assert_true(ccg_ok(ccg_buf_append(&b, NULL, 0)));
    ccg_buf_free(&b);

    ccg_buf_init(&b, 10);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_buf_append(&b, "0123456789a", 11)));
    assert_int_equal(ccg_error_reason(), CCG_R_INPUT_TOO_LARGE);
    assert_null(b.p);
    ccg_buf_free(&b);
}

static void size_t_overflow_is_refused(void **state)
{
    (void)state;
    ccg_buf b;
    ccg_buf_init(&b, SIZE_MAX); /* the largest bound there is */
    assert_int_equal(b.max, SIZE_MAX - 1);
    assert_true(ccg_ok(ccg_buf_append(&b, "abc", 3)));
    ccg_error_clear();
    /* len + n and len + n + 1 would wrap: refused before any arithmetic or copy */
    assert_true(ccg_failed(ccg_buf_append(&b, "x", SIZE_MAX - 2)));
    assert_int_equal(ccg_error_reason(), CCG_R_INPUT_TOO_LARGE);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_buf_append(&b, "x", SIZE_MAX)));
    assert_int_equal(ccg_error_reason(), CCG_R_INPUT_TOO_LARGE);
    assert_int_equal(b.len, 3);
    assert_string_equal((const char *)b.p, "abc");
    ccg_buf_free(&b);
}

static void a_zeroed_buffer_holds_nothing(void **state)
{
    (void)state;
    ccg_buf b = {0};
    ccg_error_clear();
    assert_true(ccg_failed(ccg_buf_append(&b, "x", 1)));
    assert_int_equal(ccg_error_reason(), CCG_R_INPUT_TOO_LARGE);
    uint8_t *p = NULL;
    size_t n = 1;
    assert_true(ccg_ok(ccg_buf_take(&b, &p, &n))); /* an empty take is still a string */
    assert_non_null(p);
    assert_int_equal(n, 0);
    assert_int_equal(p[0], 0);
    free(p);
}

static void secret_buffers_grow_and_free(void **state)
{
    (void)state;
    ccg_buf b;
    ccg_buf_init_secret(&b, 4096);
    for (int i = 0; i < 64; i++) {
        assert_true(ccg_ok(ccg_buf_append(&b, "0123456789abcdef0123456789abcdef", 32)));
    }
    assert_int_equal(b.len, 2048);
    assert_true(b.secret);
    assert_memory_equal(b.p + 2016, "0123456789abcdef0123456789abcdef", 33);
    ccg_buf_free(&b);
    assert_null(b.p);
    assert_int_equal(b.max, 4096);
    ccg_buf_free(&b); /* twice is harmless */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grows_and_stays_nul_terminated),
        cmocka_unit_test(the_max_is_exact),
        cmocka_unit_test(size_t_overflow_is_refused),
        cmocka_unit_test(a_zeroed_buffer_holds_nothing),
        cmocka_unit_test(secret_buffers_grow_and_free),
    };
    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
