/* Shared helpers for the cmocka tests: locating the test vectors (tests/vectors) and reading files.
 * cmocka must be included after the standard headers it needs. */
#ifndef CCGATE_TESTUTIL_H
#define CCGATE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ccgate/util.h"

/* The vectors directory: $CCG_VECTORS, else $CCG_SOURCE_DIR/tests/vectors, else tests/vectors relative to
 * the working directory (the tests run from the source tree). Every set there has a PROVENANCE.json. */
const char *tu_vectors_dir(void);
/* The one rule for a test that cannot run here (a missing tool, program, library feature or
 * system file): it is SKIPPED with a message, except under CI=true, where it FAILS. Call it inside a
 * cmocka test (or a setup); it does not return. */
#define tu_skip_or_fail(...) tu_skip_or_fail_at(__FILE__, __LINE__, __VA_ARGS__)
__attribute__((format(printf, 3, 4), noreturn)) void tu_skip_or_fail_at(const char *file, int line,
                                                                         const char *fmt, ...);
/* The same rule for one part of a test: prints SKIP and returns, or fails the test under CI=true. */
#define tu_skip_part_or_fail(...) tu_skip_part_or_fail_at(__FILE__, __LINE__, __VA_ARGS__)
__attribute__((format(printf, 3, 4))) void tu_skip_part_or_fail_at(const char *file, int line, const char *fmt, ...);
/* The same rule before cmocka runs (in main): prints the reason and returns the exit status, 1 under
 * CI=true, else 0. */
__attribute__((format(printf, 1, 2))) int tu_skip_or_fail_main(const char *fmt, ...);
/* 1 when CI=true. */
int tu_in_ci(void);
/* Reads vectors/<rel>. A missing vector fails the test (the vectors are in the tree): the function then
 * does not return (cmocka longjmps). */
void tu_read_vector(const char *rel, uint8_t **out, size_t *out_len);
/* Path of a vector (static buffer, valid until the next call), checked to exist as above. */
const char *tu_vector_path(const char *rel);
/* Pins "now" from RFC 3339 text; fails the test on a bad literal. */
ccg_time tu_time(const char *rfc3339);
/* Asserts that the last ccgate error has this reason, printing both codes otherwise. */
void tu_assert_error_reason(ccg_reason expected);

#endif
