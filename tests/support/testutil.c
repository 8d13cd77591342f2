/* Test helpers: the skip-or-fail rule, vector lookup, file reads, time literals. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/error.h"

const char *tu_vectors_dir(void)
{
    static char dir[4096];
    const char *env = getenv("CCG_VECTORS");
    const char *src = getenv("CCG_SOURCE_DIR");
    if (env != NULL && *env != '\0') {
        return env;
    }
    snprintf(dir, sizeof(dir), "%s/tests/vectors", src != NULL && *src != '\0' ? src : ".");
    return dir;
}

int tu_in_ci(void)
{
    const char *ci = getenv("CI");
    return ci != NULL && strcmp(ci, "true") == 0;
}

void tu_skip_or_fail_at(const char *file, int line, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (tu_in_ci()) {
        print_error("FAIL (CI=true, so this cannot be skipped): %s\n", why);
        _fail(file, line);
    } else {
        print_message("SKIP: %s\n", why);
        _skip(file, line);
    }
    abort(); /* both longjmp back into cmocka */
}

void tu_skip_part_or_fail_at(const char *file, int line, const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    if (tu_in_ci()) {
        print_error("FAIL (CI=true, so this cannot be skipped): %s\n", why);
        _fail(file, line);
    }
    print_message("SKIP (this part): %s\n", why);
}

int tu_skip_or_fail_main(const char *fmt, ...)
{
    char why[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s: %s\n", tu_in_ci() ? "FAIL (CI=true, so this cannot be skipped)" : "SKIP", why);
    return tu_in_ci() ? 1 : 0;
}

/* The vectors are in the tree (tests/vectors/<set>/PROVENANCE.json), so a missing one is a broken tree or a
 * wrong CCG_VECTORS: a failure, never a skip. */
const char *tu_vector_path(const char *rel)
{
    static char path[4096];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s", tu_vectors_dir(), rel);
    if (stat(path, &st) != 0) {
        fail_msg("vector %s is missing (the vectors are in tests/vectors; CCG_VECTORS overrides)", path);
    }
    return path;
}

void tu_read_vector(const char *rel, uint8_t **out, size_t *out_len)
{
    const char *path = tu_vector_path(rel);
    ccg_error_clear();
    if (ccg_failed(ccg_file_read(path, 64u << 20, out, out_len))) {
        fail_msg("cannot read %s: %s", path, ccg_error_last()->message);
    }
}

ccg_time tu_time(const char *rfc3339)
{
    ccg_time t = 0;
    if (ccg_failed(ccg_time_parse_rfc3339(rfc3339, &t))) {
        fail_msg("bad time literal %s", rfc3339);
    }
    return t;
}

void tu_assert_error_reason(ccg_reason expected)
{
    ccg_reason got = ccg_error_reason();
    if (got != expected) {
        fail_msg("expected reason %s, got %s (%s)", ccg_reason_code(expected), ccg_reason_code(got),
                 ccg_error_last()->message);
    }
}
