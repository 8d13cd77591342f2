/* The one bounded reader for untrusted bytes.
 *
 * A cursor over a borrowed buffer. Every read checks the bytes remaining and fails with
 * input.truncated rather than reading past the end. Multi-byte integers are little-endian
 * (ccg_reader_u32le) or big-endian (ccg_reader_u32be) as the format says. A parser finishes with
 * ccg_reader_expect_end(), so trailing bytes are an error unless the format allows them. */
#ifndef CCGATE_READER_H
#define CCGATE_READER_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

typedef struct {
    const uint8_t *data;
    size_t len;
    size_t pos;
} ccg_reader;

void ccg_reader_init(ccg_reader *r, const uint8_t *data, size_t len);
size_t ccg_reader_remaining(const ccg_reader *r);
size_t ccg_reader_offset(const ccg_reader *r);

CCG_MUST_CHECK ccg_result ccg_reader_u8(ccg_reader *r, uint8_t *out);
CCG_MUST_CHECK ccg_result ccg_reader_u16le(ccg_reader *r, uint16_t *out);
CCG_MUST_CHECK ccg_result ccg_reader_u32le(ccg_reader *r, uint32_t *out);
CCG_MUST_CHECK ccg_result ccg_reader_u64le(ccg_reader *r, uint64_t *out);
CCG_MUST_CHECK ccg_result ccg_reader_u16be(ccg_reader *r, uint16_t *out);
CCG_MUST_CHECK ccg_result ccg_reader_u32be(ccg_reader *r, uint32_t *out);
/* Copies n bytes out. */
CCG_MUST_CHECK ccg_result ccg_reader_copy(ccg_reader *r, void *out, size_t n);
/* Borrows n bytes in place (valid as long as the underlying buffer). */
CCG_MUST_CHECK ccg_result ccg_reader_borrow(ccg_reader *r, const uint8_t **out, size_t n);
CCG_MUST_CHECK ccg_result ccg_reader_skip(ccg_reader *r, size_t n);
/* Consumes n reserved bytes, failing with `reason` (details: the offset) unless all are zero. */
CCG_MUST_CHECK ccg_result ccg_reader_reserved_zero(ccg_reader *r, size_t n, ccg_reason reason);
/* A sub-reader over the next n bytes; the parent advances past them. */
CCG_MUST_CHECK ccg_result ccg_reader_sub(ccg_reader *r, ccg_reader *sub, size_t n);
/* Fails with input.trailing_bytes unless every byte was consumed. */
CCG_MUST_CHECK ccg_result ccg_reader_expect_end(const ccg_reader *r);

#endif
