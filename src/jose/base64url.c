/* base64url without padding (RFC 4648 §5, RFC 7515 §2): a strict decoder that accepts exactly one
 * encoding for each byte string. */
#include <stdlib.h>
#include <string.h>

#include "ccgate/jose.h"

static const char b64url_alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t ccg_b64url_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

void ccg_b64url_encode_into(const uint8_t *in, size_t n, char *out)
{
    size_t i = 0;
    size_t o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
}

char *ccg_b64url_encode(const uint8_t *in, size_t n)
{
    if (n > (SIZE_MAX - 4) / 4 * 3) {
        return NULL;
    }
    char *out = malloc(ccg_b64url_len(n) + 1);
    if (out != NULL) {
        ccg_b64url_encode_into(in, n, out);
    }
    return out;
}

/* The 6-bit value of an alphabet character, or -1. */
static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }
    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }
    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }
    if (c == '-') {
        return 62;
    }
    if (c == '_') {
        return 63;
    }
    return -1;
}

/* Decodes into out (room for in_len / 4 * 3 + 2 bytes); *n gets the length. */
static ccg_result b64url_decode_raw(const char *in, size_t in_len, ccg_reason reason, uint8_t *out, size_t *n)
{
    ccg_result result = CCG_FAILURE;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    CCG_ENSURE_MSG(in_len % 4 != 1, reason, "base64url text of %zu characters is not a valid length", in_len);
    for (size_t i = 0; i < in_len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        CCG_ENSURE_MSG(v >= 0, reason, "base64url text has a character outside the alphabet at offset %zu", i);
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
        }
    }
    /* 2 or 4 bits are left over after a partial group; they must be zero. */
    CCG_ENSURE_MSG((acc & ((1u << bits) - 1)) == 0, reason, "base64url text has non-zero trailing bits");
    *n = o;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_b64url_decode(const char *in, size_t in_len, ccg_reason reason, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    CCG_ENSURE(in != NULL || in_len == 0, reason);
    buf = malloc(in_len / 4 * 3 + 3);
    CCG_ENSURE_ALLOC(buf);
    CCG_TRY(b64url_decode_raw(in, in_len, reason, buf, &n));
    *out = buf;
    *out_len = n;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result ccg_b64url_decode_exact(const char *in, size_t in_len, ccg_reason reason, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t got = 0;
    /* Check the length first, so a wrong-sized value costs no allocation. */
    CCG_ENSURE_MSG(in_len == ccg_b64url_len(n), reason, "base64url value decodes to the wrong length (want %zu bytes)",
                   n);
    CCG_TRY(ccg_b64url_decode(in, in_len, reason, &buf, &got));
    CCG_ENSURE_MSG(got == n, reason, "base64url value decodes to %zu bytes, want %zu", got, n);
    if (n > 0) {
        memcpy(out, buf, n);
    }
    result = CCG_SUCCESS;
cleanup:
    if (buf != NULL) {
        ccg_secure_zero(buf, got);
        free(buf);
    }
    return result;
}
