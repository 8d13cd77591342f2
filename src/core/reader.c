/* The bounded reader: every read is checked against the bytes remaining. */
#include "ccgate/reader.h"

#include <string.h>

void ccg_reader_init(ccg_reader *r, const uint8_t *data, size_t len)
{
    r->data = data;
    r->len = data ? len : 0;
    r->pos = 0;
}

size_t ccg_reader_remaining(const ccg_reader *r) { return r->len - r->pos; }

size_t ccg_reader_offset(const ccg_reader *r) { return r->pos; }

ccg_result ccg_reader_borrow(ccg_reader *r, const uint8_t **out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(n <= ccg_reader_remaining(r), CCG_R_INPUT_TRUNCATED,
                   "need %zu bytes at offset %zu, %zu remain", n, r->pos, ccg_reader_remaining(r));
    *out = r->data + r->pos;
    r->pos += n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_reader_copy(ccg_reader *r, void *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *p = NULL;
    CCG_TRY(ccg_reader_borrow(r, &p, n));
    if (n > 0) {
        memcpy(out, p, n);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_reader_skip(ccg_reader *r, size_t n)
{
    const uint8_t *ignored = NULL;
    return ccg_reader_borrow(r, &ignored, n);
}

static ccg_result read_uint(ccg_reader *r, size_t n, int big_endian, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *p = NULL;
    uint64_t v = 0;
    CCG_TRY(ccg_reader_borrow(r, &p, n));
    for (size_t i = 0; i < n; i++) {
        size_t idx = big_endian ? i : n - 1 - i;
        v = (v << 8) | p[idx];
    }
    *out = v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_reader_u8(ccg_reader *r, uint8_t *out)
{
    uint64_t v = 0;
    ccg_result res = read_uint(r, 1, 0, &v);
    *out = (uint8_t)v;
    return res;
}

ccg_result ccg_reader_u16le(ccg_reader *r, uint16_t *out)
{
    uint64_t v = 0;
    ccg_result res = read_uint(r, 2, 0, &v);
    *out = (uint16_t)v;
    return res;
}

ccg_result ccg_reader_u32le(ccg_reader *r, uint32_t *out)
{
    uint64_t v = 0;
    ccg_result res = read_uint(r, 4, 0, &v);
    *out = (uint32_t)v;
    return res;
}

ccg_result ccg_reader_u64le(ccg_reader *r, uint64_t *out) { return read_uint(r, 8, 0, out); }

ccg_result ccg_reader_u16be(ccg_reader *r, uint16_t *out)
{
    uint64_t v = 0;
    ccg_result res = read_uint(r, 2, 1, &v);
    *out = (uint16_t)v;
    return res;
}

ccg_result ccg_reader_u32be(ccg_reader *r, uint32_t *out)
{
    uint64_t v = 0;
    ccg_result res = read_uint(r, 4, 1, &v);
    *out = (uint32_t)v;
    return res;
}

ccg_result ccg_reader_reserved_zero(ccg_reader *r, size_t n, ccg_reason reason)
{
    ccg_result result = CCG_FAILURE;
    size_t start = r->pos;
    const uint8_t *p = NULL;
    CCG_TRY(ccg_reader_borrow(r, &p, n));
    for (size_t i = 0; i < n; i++) {
        CCG_ENSURE_MSG(p[i] == 0, reason, "reserved byte at offset 0x%zx is 0x%02x", start + i, p[i]);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_reader_sub(ccg_reader *r, ccg_reader *sub, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *p = NULL;
    CCG_TRY(ccg_reader_borrow(r, &p, n));
    ccg_reader_init(sub, p, n);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_reader_expect_end(const ccg_reader *r)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ccg_reader_remaining(r) == 0, CCG_R_INPUT_TRAILING_BYTES, "%zu trailing bytes at offset %zu",
                   ccg_reader_remaining(r), r->pos);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
