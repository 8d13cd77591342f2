/* Secret memory: usable, kept out of core dumps, zeroed on release. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "testutil.h"

#include "ccgate/secmem.h"

/* The VmFlags line of this mapping in /proc/self/smaps: "dd" marks do-not-dump. */
static int mapping_has_flag(const void *addr, const char *flag)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in_mapping = 0, found = 0;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') == line + strcspn(line, "-")) {
            in_mapping = (unsigned long)addr >= lo && (unsigned long)addr < hi;
        } else if (in_mapping && strncmp(line, "VmFlags:", 8) == 0) {
            char needle[8];
            snprintf(needle, sizeof(needle), " %s", flag);
            found = strstr(line, needle) != NULL;
        }
    }
    fclose(f);
    return found;
}

static void secret_buffer_is_excluded_from_dumps(void **state)
{
    (void)state;
    ccg_secbuf b;
    assert_true(ccg_ok(ccg_secbuf_alloc(&b, 100, 1)));
    assert_non_null(b.data);
    assert_int_equal(b.len, 100);
    assert_true(b.mapped >= 100);
    memset(b.data, 0xA5, b.len);
    assert_true(mapping_has_flag(b.data, "dd"));
    ccg_secbuf_free(&b);
    assert_null(b.data);
    ccg_secbuf_free(&b); /* freeing twice is harmless */
}

static void secure_zero_clears(void **state)
{
    (void)state;
    unsigned char key[32];
    memset(key, 0x5A, sizeof(key));
    ccg_secure_zero(key, sizeof(key));
    for (size_t i = 0; i < sizeof(key); i++) {
        assert_int_equal(key[i], 0);
    }
}

static void zero_length_is_refused(void **state)
{
    (void)state;
    ccg_secbuf b;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_secbuf_alloc(&b, 0, 1)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secret_buffer_is_excluded_from_dumps),
        cmocka_unit_test(secure_zero_clears),
        cmocka_unit_test(zero_length_is_refused),
    };
    return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
