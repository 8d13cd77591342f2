/* Unit tests for the one JSON log schema (log.h): every line parses and carries ts, level, component,
 * event and request_id; fields join without overriding them; libraries' messages are routed; levels
 * filter. */
#include <jansson.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/log.h"

static int g_pipe[2];

static int setup(void **state)
{
    (void)state;
    if (pipe(g_pipe) != 0) {
        return -1;
    }
    ccg_log_init("unit", g_pipe[1]);
    ccg_log_set_level(CCG_LOG_INFO);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close(g_pipe[0]);
    close(g_pipe[1]);
    ccg_log_init("ccgate", 2);
    return 0;
}

/* Reads one line the logger wrote and parses it (the test fails on anything but one JSON object). */
static json_t *next_line(void)
{
    char buf[4096];
    size_t n = 0;
    while (n < sizeof(buf) - 1 && read(g_pipe[0], buf + n, 1) == 1 && buf[n] != '\n') {
        n++;
    }
    assert_true(n < sizeof(buf) - 1);
    buf[n] = '\0';
    json_error_t err;
    json_t *o = json_loads(buf, 0, &err);
    assert_non_null(o);
    assert_true(json_is_object(o));
    return o;
}

static void assert_schema(json_t *o, const char *level, const char *event)
{
    const char *ts = json_string_value(json_object_get(o, "ts"));
    assert_non_null(ts);
    assert_int_equal(strlen(ts), strlen("2026-12-07T14:55:03.123Z"));
    assert_int_equal(ts[10], 'T');
    assert_int_equal(ts[23], 'Z');
    assert_string_equal(json_string_value(json_object_get(o, "level")), level);
    assert_string_equal(json_string_value(json_object_get(o, "component")), "unit");
    assert_string_equal(json_string_value(json_object_get(o, "event")), event);
    assert_non_null(json_object_get(o, "request_id"));
}

static void a_line_has_the_schema_and_its_fields(void **state)
{
    (void)state;
    json_t *fields = json_pack("{s:i,s:s,s:s}", "port", 8080, "level", "forged", "event", "forged");
    ccg_log_event(CCG_LOG_INFO, "listening", "req-1", fields);
    json_decref(fields);
    json_t *o = next_line();
    assert_schema(o, "info", "listening");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "req-1");
    assert_int_equal(json_integer_value(json_object_get(o, "port")), 8080);
    json_decref(o);

    ccg_log_eventf(CCG_LOG_WARN, "reload", NULL, "{s:s}", "why", "bad certificate");
    o = next_line();
    assert_schema(o, "warn", "reload");
    assert_true(json_is_null(json_object_get(o, "request_id")));
    assert_string_equal(json_string_value(json_object_get(o, "why")), "bad certificate");
    json_decref(o);
}

static void the_last_error_is_logged_with_its_code(void **state)
{
    (void)state;
    ccg_error_set(CCG_R_USAGE_INVALID, __FILE__, __LINE__, "the thing '%s' was wrong", "x");
    ccg_log_error_last(CCG_LOG_ERROR, "startup_failed", NULL, NULL);
    json_t *o = next_line();
    assert_schema(o, "error", "startup_failed");
    assert_string_equal(json_string_value(json_object_get(o, "reason")), "usage.invalid");
    assert_non_null(strstr(json_string_value(json_object_get(o, "detail")), "the thing 'x'"));
    json_decref(o);
}

static void call_mhd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ccg_log_mhd(NULL, fmt, ap);
    va_end(ap);
}

static void library_messages_keep_the_schema(void **state)
{
    (void)state;
    call_mhd("Error: %s %d\n", "handshake failed", 42);
    json_t *o = next_line();
    assert_schema(o, "warn", "library");
    assert_string_equal(json_string_value(json_object_get(o, "library")), "libmicrohttpd");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "Error: handshake failed 42");
    json_decref(o);

    /* peer bytes a library may quote (invalid UTF-8, a newline) keep the message and the one line */
    call_mhd("bad request from peer: %s\n", "\xff\xfe\nforged\x01");
    o = next_line();
    assert_schema(o, "warn", "library");
    assert_string_equal(json_string_value(json_object_get(o, "message")), "bad request from peer: ???forged?");
    json_decref(o);

    /* an OpenSSL failure leaves its queue; it becomes one line, and the queue is left empty */
    assert_null(EVP_get_digestbyname("no-such-digest"));
    ERR_raise(ERR_LIB_EVP, EVP_R_UNSUPPORTED_ALGORITHM);
    ccg_log_openssl_errors(CCG_LOG_ERROR, "req-2");
    o = next_line();
    assert_schema(o, "error", "library");
    assert_string_equal(json_string_value(json_object_get(o, "library")), "openssl");
    assert_string_equal(json_string_value(json_object_get(o, "request_id")), "req-2");
    json_decref(o);
    assert_int_equal(ERR_peek_error(), 0);
}

static void levels_below_the_minimum_are_dropped(void **state)
{
    (void)state;
    ccg_log_eventf(CCG_LOG_DEBUG, "noise", NULL, "{s:i}", "n", 1);
    ccg_log_eventf(CCG_LOG_INFO, "kept", NULL, "{s:i}", "n", 2);
    json_t *o = next_line(); /* the debug line never reached the pipe */
    assert_schema(o, "info", "kept");
    json_decref(o);
    ccg_log_set_level(CCG_LOG_ERROR);
    ccg_log_eventf(CCG_LOG_WARN, "dropped", NULL, "{s:i}", "n", 3);
    ccg_log_eventf(CCG_LOG_ERROR, "failed", NULL, "{s:i}", "n", 4);
    o = next_line();
    assert_schema(o, "error", "failed");
    json_decref(o);
    ccg_log_set_level(CCG_LOG_INFO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_line_has_the_schema_and_its_fields),
        cmocka_unit_test(the_last_error_is_logged_with_its_code),
        cmocka_unit_test(library_messages_keep_the_schema),
        cmocka_unit_test(levels_below_the_minimum_are_dropped),
    };
    return cmocka_run_group_tests_name("log", tests, setup, teardown);
}
