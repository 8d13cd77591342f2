/* Shared helpers for the cmocka tests: locating ../shared/vectors and reading files.
 * cmocka must be included after the standard headers it needs. */
#ifndef CCGATE_TESTUTIL_H
#define CCGATE_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "ccgate/util.h"

/* The vectors directory: $CCG_VECTORS, else ../shared/vectors relative to the working directory.
 * Sets copied into the tree (nvgpu/) are read from $CCG_SOURCE_DIR/tests/vectors instead. */
const char *tu_vectors_dir(void);
/* Reads vectors/<rel>. When missing: skips the test with a message, or fails it when CI=true.
 * Returns 0 when loaded; on skip the function does not return (cmocka longjmps). */
void tu_read_vector(const char *rel, uint8_t **out, size_t *out_len);
/* Absolute path of a vector (static buffer, valid until the next call), checked to exist as above. */
const char *tu_vector_path(const char *rel);
/* Pins "now" from RFC 3339 text; fails the test on a bad literal. */
ccg_time tu_time(const char *rfc3339);
/* Asserts that the last ccgate error has this reason, printing both codes otherwise. */
void tu_assert_error_reason(ccg_reason expected);

#endif
