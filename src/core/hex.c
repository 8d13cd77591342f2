/* Hex encoding and decoding. */
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "ccgate/util.h"

static const char digits[] = "0123456789abcdef";

void ccg_hex_encode(const uint8_t *in, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

char *ccg_hex_alloc(const uint8_t *in, size_t n)
{
    char *out = malloc(2 * n + 1);
    if (out != NULL) {
        ccg_hex_encode(in, n, out);
    }
    return out;
}

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ccg_hex_is_valid(const char *hex, size_t n)
{
    if (hex == NULL || strlen(hex) != 2 * n) {
        return 0;
    }
    for (size_t i = 0; i < 2 * n; i++) {
        if (nibble(hex[i]) < 0) {
            return 0;
        }
    }
    return 1;
}

ccg_result ccg_hex_decode_exact(const char *hex, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(hex != NULL && strlen(hex) == 2 * n, CCG_R_INPUT_BAD_HEX, "expected %zu hex digits", 2 * n);
    for (size_t i = 0; i < n; i++) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        CCG_ENSURE_MSG(hi >= 0 && lo >= 0, CCG_R_INPUT_BAD_HEX, "non-hex character at position %zu", 2 * i);
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_hex_decode_text(const char *text, size_t text_len, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = malloc(text_len / 2 + 1);
    size_t n = 0;
    int hi = -1;
    CCG_ENSURE_ALLOC(buf);
    for (size_t i = 0; i < text_len; i++) {
        char c = text[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
            continue;
        }
        int v = nibble(c);
        CCG_ENSURE_MSG(v >= 0, CCG_R_INPUT_BAD_HEX, "non-hex character at position %zu", i);
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    CCG_ENSURE_MSG(hi < 0, CCG_R_INPUT_BAD_HEX, "odd number of hex digits");
    *out = buf;
    *out_len = n;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

void *ccg_array_grow(void *items, size_t *cap, size_t count, size_t elem_size)
{
    if (count < *cap && items != NULL) {
        return items;
    }
    size_t grown_cap = *cap ? *cap * 2 : 8;
    if (grown_cap <= *cap || grown_cap > SIZE_MAX / elem_size) {
        return NULL;
    }
    void *grown = realloc(items, grown_cap * elem_size);
    if (grown != NULL) {
        *cap = grown_cap;
    }
    return grown;
}

int ccg_memeq_ct(const void *a, const void *b, size_t n)
{
    const volatile uint8_t *x = a, *y = b;
    uint8_t diff = 0;
    for (size_t i = 0; i < n; i++) {
        diff |= x[i] ^ y[i];
    }
    return diff == 0;
}

int ccg_is_all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++) {
        acc |= p[i];
    }
    return acc == 0;
}
