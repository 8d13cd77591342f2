/* The control channel between ccgate-agent and ccgate-endpoint (src/agent/control.c, docs/agent.md
 * "Control channel"): one JSON object with a string "op" per line, bounded per direction. Malformed lines
 * (not JSON, not an object, no op, duplicate members, a NUL, too long with or without a newline) are
 * agent.control_invalid; the peer's end is agent.endpoint_failed; lines split across reads and several
 * lines in one read come out whole and in order. The processes themselves: tests/cli/test_agent_front.sh. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ccgate/agent.h"
#include "ccgate/error.h"

#include "testutil.h"

static void refused(const char *line, size_t max)
{
    json_t *o = NULL;
    ccg_error_clear();
    if (!ccg_failed(ccg_ctl_parse(line, strlen(line), max, &o))) {
        fail_msg("accepted: %s", line);
    }
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONTROL_INVALID);
    assert_null(o);
    ccg_error_clear();
}

static void parse_refuses_malformed_lines(void **state)
{
    json_t *o = NULL;
    (void)state;
    refused("", 1024);
    refused("not json", 1024);
    refused("[1,2]", 1024);
    refused("\"op\"", 1024);
    refused("{}", 1024);
    refused("{\"op\":1}", 1024);
    refused("{\"op\":\"\"}", 1024);
    refused("{\"op\":\"status\",\"op\":\"serve\"}", 1024); /* one meaning per message */
    refused("{\"op\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}", 1024);
    refused("{\"op\":\"status\"} trailing", 1024);
    refused("{\"op\":\"status\",\"x\":\"0123456789\"}", 20); /* longer than the bound */
    {
        const char nul[] = "{\"op\":\"a\"}\0{}";
        assert_true(ccg_failed(ccg_ctl_parse(nul, sizeof(nul) - 1, 1024, &o)));
        assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONTROL_INVALID);
        ccg_error_clear();
    }
    assert_true(ccg_ok(ccg_ctl_parse("{\"op\":\"ready\",\"status_port\":1}", 30, 1024, &o)));
    assert_string_equal(json_string_value(json_object_get(o, "op")), "ready");
    json_decref(o);
}

static void recv_reassembles_and_splits(void **state)
{
    int sv[2];
    ccg_ctl_reader r;
    json_t *m = NULL;
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ccg_ctl_reader_init(&r, sv[0], 1024);
    /* nothing yet: success, no message */
    assert_true(ccg_ok(ccg_ctl_recv(&r, 10, &m)));
    assert_null(m);
    /* half a line, then the rest with a second line */
    assert_int_equal(write(sv[1], "{\"op\":\"st", 9), 9);
    assert_true(ccg_ok(ccg_ctl_recv(&r, 100, &m)));
    assert_null(m);
    assert_int_equal(write(sv[1], "atus\"}\n{\"op\":\"serve\"}\n", 23), 23);
    assert_true(ccg_ok(ccg_ctl_recv(&r, 100, &m)));
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "op")), "status");
    json_decref(m);
    assert_true(ccg_ok(ccg_ctl_recv(&r, 0, &m)));
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "op")), "serve");
    json_decref(m);
    /* the peer closes: agent.endpoint_failed */
    close(sv[1]);
    assert_true(ccg_failed(ccg_ctl_recv(&r, 100, &m)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_ENDPOINT_FAILED);
    ccg_error_clear();
    ccg_ctl_reader_free(&r);
    close(sv[0]);
}

static void recv_refuses_a_line_without_end(void **state)
{
    int sv[2];
    ccg_ctl_reader r;
    json_t *m = NULL;
    char big[3000];
    int refused_at = 0;
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ccg_ctl_reader_init(&r, sv[0], 1024);
    memset(big, 'a', sizeof(big));
    assert_int_equal(write(sv[1], big, sizeof(big)), (ssize_t)sizeof(big));
    /* the reader never holds more than the bound: it refuses once 1024 bytes came without a newline */
    for (int i = 0; i < 10 && !refused_at; i++) {
        if (ccg_failed(ccg_ctl_recv(&r, 100, &m))) {
            refused_at = 1;
        } else {
            assert_null(m);
        }
    }
    assert_true(refused_at);
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_CONTROL_INVALID);
    assert_true(r.cap <= 1024 + 2);
    ccg_error_clear();
    ccg_ctl_reader_free(&r);
    close(sv[0]);
    close(sv[1]);
}

static void send_is_one_line(void **state)
{
    int sv[2];
    ccg_ctl_reader r;
    json_t *m = NULL, *msg = json_pack("{s:s,s:s}", "op", "status", "text", "line\nbreak");
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ccg_ctl_reader_init(&r, sv[0], 1024);
    /* a newline inside a value is escaped by JSON: the message stays one line */
    assert_true(ccg_ok(ccg_ctl_send(sv[1], msg, 1000)));
    assert_true(ccg_ok(ccg_ctl_recv(&r, 1000, &m)));
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "text")), "line\nbreak");
    json_decref(m);
    json_decref(msg);
    /* the reader is gone: the sender fails instead of dying of SIGPIPE */
    close(sv[0]);
    msg = json_pack("{s:s}", "op", "status");
    assert_true(ccg_failed(ccg_ctl_send(sv[1], msg, 1000)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_ENDPOINT_FAILED);
    ccg_error_clear();
    json_decref(msg);
    ccg_ctl_reader_free(&r);
    close(sv[1]);
}

static void the_front_is_never_looked_up_on_path(void **state)
{
    ccg_agent_config cfg;
    char *path = NULL;
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint_program = "/nonexistent/ccgate-endpoint";
    assert_true(ccg_failed(ccg_agent_front_find(&cfg, &path)));
    assert_int_equal(ccg_error_reason(), CCG_R_AGENT_ENDPOINT_FAILED);
    ccg_error_clear();
    /* without the member: beside /proc/self/exe (this test's directory), where the build puts it */
    cfg.endpoint_program = NULL;
    assert_true(ccg_ok(ccg_agent_front_find(&cfg, &path)));
    assert_non_null(strstr(path, "/ccgate-endpoint"));
    assert_int_equal(path[0], '/');
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_refuses_malformed_lines),
        cmocka_unit_test(recv_reassembles_and_splits),
        cmocka_unit_test(recv_refuses_a_line_without_end),
        cmocka_unit_test(send_is_one_line),
        cmocka_unit_test(the_front_is_never_looked_up_on_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
