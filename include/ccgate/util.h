/* Small helpers shared by every module: hex, bounded file reads, RFC 3339 time, constant-time compare. */
#ifndef CCGATE_UTIL_H
#define CCGATE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

/* Seconds since the Unix epoch, UTC. Every verification takes one explicitly. */
typedef int64_t ccg_time;

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void ccg_hex_encode(const uint8_t *in, size_t n, char *out);
/* Allocates the hex string; NULL when out of memory. */
char *ccg_hex_alloc(const uint8_t *in, size_t n);
/* Decodes exactly n bytes from a hex string of length 2n (either case). */
CCG_MUST_CHECK ccg_result ccg_hex_decode_exact(const char *hex, uint8_t *out, size_t n);
/* 1 when hex is exactly 2n hex digits (either case); sets no error. */
int ccg_hex_is_valid(const char *hex, size_t n);
/* Decodes a hex text blob of any length, ignoring ASCII whitespace. *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_hex_decode_text(const char *text, size_t text_len, uint8_t **out, size_t *out_len);

/* Reads a whole file of at most max_len bytes. *out is malloc'd (and NUL-terminated past len). */
CCG_MUST_CHECK ccg_result ccg_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len);
CCG_MUST_CHECK ccg_result ccg_file_write(const char *path, const uint8_t *data, size_t len);

/* Parses "YYYY-MM-DDTHH:MM:SSZ" (fractional seconds and numeric offsets accepted). */
CCG_MUST_CHECK ccg_result ccg_time_parse_rfc3339(const char *s, ccg_time *out);
/* Formats as "YYYY-MM-DDTHH:MM:SSZ" into out (at least 21 bytes). */
void ccg_time_format_rfc3339(ccg_time t, char *out, size_t out_len);
/* The wall clock; only programs call it, never verification code. */
ccg_time ccg_time_now(void);

/* Makes room for one more element in a malloc'd array of count elements (doubling, from 8). Returns
 * the array, moved if it grew (and *cap updated), or NULL when out of memory, the old array intact. */
void *ccg_array_grow(void *items, size_t *cap, size_t count, size_t elem_size);

/* Constant-time equality of two equal-length buffers. */
int ccg_memeq_ct(const void *a, const void *b, size_t n);
int ccg_is_all_zero(const uint8_t *p, size_t n);

#endif
