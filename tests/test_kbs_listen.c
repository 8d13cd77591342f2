/* The broker's listening socket (src/kbs/kbs_listen.c, docs/kbs.md "Addresses and the default port"):
 * IPv4 and IPv6 literals, bracketed IPv6 with a port, host names, the default port, the loopback rule of
 * --insecure-http, and the malformed forms refused with kbs.config_invalid. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "ccgate/error.h"
#include "ccgate/kbs.h"
#include "testutil.h"
#include "../src/kbs/kbs_internal.h"

static int have_ipv6(void)
{
    struct sockaddr_in6 a;
    int fd = socket(AF_INET6, SOCK_STREAM, 0), ok;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_loopback;
    ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0) {
        close(fd);
    }
    return ok;
}

/* Opens `address` (default port 0), expects success, and returns what the log would show. */
static void opens(const char *address, int loopback_only, const char *shown_prefix)
{
    int fd = -1;
    uint16_t port = 0;
    char shown[80];
    if (ccg_failed(kbs_listen_open(address, 0, loopback_only, &fd, &port, shown, sizeof(shown)))) {
        fail_msg("%s: %s", address, ccg_error_last()->message);
    }
    assert_true(fd >= 0);
    assert_true(port > 0);
    if (strncmp(shown, shown_prefix, strlen(shown_prefix)) != 0) {
        fail_msg("%s: shown as %s, want %s...", address, shown, shown_prefix);
    }
    close(fd);
}

static void refused(const char *address, int loopback_only)
{
    int fd = -1;
    uint16_t port = 0;
    char shown[80];
    if (ccg_ok(kbs_listen_open(address, 0, loopback_only, &fd, &port, shown, sizeof(shown)))) {
        close(fd);
        fail_msg("%s was accepted (%s)", address, shown);
    }
    tu_assert_error_reason(CCG_R_KBS_CONFIG_INVALID);
    assert_int_equal(fd, -1);
}

static void ipv4_forms(void **state)
{
    (void)state;
    opens("127.0.0.1", 1, "127.0.0.1:");
    opens("127.0.0.1:0", 1, "127.0.0.1:");
    opens("localhost:0", 1, "");
}

static void ipv6_forms(void **state)
{
    (void)state;
    if (!have_ipv6()) {
        skip();
    }
    opens("::1", 1, "[::1]:");
    opens("[::1]:0", 1, "[::1]:");
    opens("[::1]", 1, "[::1]:");
}

static void malformed_forms_are_refused(void **state)
{
    (void)state;
    refused("", 0);
    refused("[::1", 0);
    refused("[::1]x", 0);
    refused("[]:0", 0);
    refused("127.0.0.1:", 0);
    refused("127.0.0.1:99999", 0);
    refused("127.0.0.1:-1", 0);
    refused("127.0.0.1:8x", 0);
    refused(":0", 0);
    refused("no-such-host.invalid:0", 0);
    refused("999.1.1.1:0", 0);
}

static void insecure_http_only_on_loopback(void **state)
{
    (void)state;
    refused("0.0.0.0:0", 1);
    refused("[::]:0", 1);
    refused("::", 1);
}

static void the_default_port_is_8080(void **state)
{
    static const char text[] = "{\"store\":\"/x\",\"keystore\":{}}";
    static const char zero[] = "{\"store\":\"/x\",\"keystore\":{},\"port\":0}";
    ccg_kbs_config c;
    (void)state;
    assert_int_equal(CCG_KBS_DEFAULT_PORT, 8080);
    assert_true(ccg_ok(ccg_kbs_config_parse(text, strlen(text), &c)));
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.bind_address, "127.0.0.1");
    ccg_kbs_config_free(&c);
    assert_true(ccg_ok(ccg_kbs_config_parse(zero, strlen(zero), &c)));
    assert_int_equal(c.port, 0);
    ccg_kbs_config_free(&c);
}

static void the_port_in_the_address_wins(void **state)
{
    int fd = -1;
    uint16_t port = 0;
    char shown[80];
    (void)state;
    /* Default 1 (privileged, unlikely to bind in a test) is overridden by ":0". */
    assert_true(ccg_ok(kbs_listen_open("127.0.0.1:0", 1, 1, &fd, &port, shown, sizeof(shown))));
    assert_true(port != 1);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_forms),
        cmocka_unit_test(ipv6_forms),
        cmocka_unit_test(malformed_forms_are_refused),
        cmocka_unit_test(insecure_http_only_on_loopback),
        cmocka_unit_test(the_default_port_is_8080),
        cmocka_unit_test(the_port_in_the_address_wins),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
