/* Secret memory: usable, kept out of core dumps, zeroed on release. */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

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

/* A released locked page is kept for the next secret: it comes back zeroed, still locked and still
 * out of dumps. Locking can fail here (RLIMIT_MEMLOCK): then nothing is pooled and the page is new. */
static void released_page_comes_back_zeroed_and_locked(void **state)
{
    (void)state;
    ccg_secbuf a, b;
    assert_true(ccg_ok(ccg_secbuf_alloc(&a, 64, 1)));
    int locked = a.locked;
    unsigned char *first = a.data;
    memset(a.data, 0xA5, a.mapped);
    ccg_secbuf_free(&a);
    assert_true(ccg_ok(ccg_secbuf_alloc(&b, 200, 1)));
    if (locked) {
        assert_ptr_equal(b.data, first);
        assert_true(b.locked); /* (smaps' "lo" cannot be checked: ASan turns mlock into a no-op) */
    }
    for (size_t i = 0; i < b.mapped; i++) {
        assert_int_equal(b.data[i], 0);
    }
    assert_int_equal(b.len, 200);
    assert_true(mapping_has_flag(b.data, "dd"));
    ccg_secbuf_free(&b);
}

/* A forked child's memory locks are not inherited, so it never takes a page its parent pooled. */
static void forked_child_does_not_reuse_the_parents_pages(void **state)
{
    (void)state;
    ccg_secbuf a;
    int status = 0;
    assert_true(ccg_ok(ccg_secbuf_alloc(&a, 32, 1)));
    unsigned char *pooled = a.data;
    ccg_secbuf_free(&a);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        ccg_secbuf c;
        int ok = ccg_ok(ccg_secbuf_alloc(&c, 32, 1)) && c.data != pooled;
        ccg_secbuf_free(&c);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(secret_buffer_is_excluded_from_dumps),
        cmocka_unit_test(secure_zero_clears),
        cmocka_unit_test(zero_length_is_refused),
        cmocka_unit_test(released_page_comes_back_zeroed_and_locked),
        cmocka_unit_test(forked_child_does_not_reuse_the_parents_pages),
    };
    return cmocka_run_group_tests_name("secmem", tests, NULL, NULL);
}
