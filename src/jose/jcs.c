/* RFC 8785 JSON Canonicalization Scheme over jansson values.
 *
 * Object members are sorted by their names as arrays of UTF-16 code units, strings are escaped the way
 * ECMAScript's JSON.stringify escapes them (only '"', '\\' and the C0 controls; \b \t \n \f \r by name,
 * the others as \u00xx in lowercase), and nothing is written between tokens. Numbers: ccgate hashes and
 * signs only integers, so integers of magnitude <= 2^53 (exact doubles, printed as their digits by
 * ECMAScript) are supported and reals are refused rather than risk a different rendering. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jose_internal.h"

#define JCS_MAX_OUTPUT (64u * 1024u * 1024u)

/* Decodes one code point of valid UTF-8 at s[*i]; returns 0 (and leaves *i) on invalid UTF-8. */
static int utf8_decode(const unsigned char *s, size_t len, size_t *i, uint32_t *cp)
{
    size_t p = *i;
    unsigned char c = s[p];
    uint32_t v;
    size_t extra;
    uint32_t min;
    if (c < 0x80) {
        *cp = c;
        *i = p + 1;
        return 1;
    }
    if (c >= 0xC2 && c <= 0xDF) {
        v = c & 0x1F;
        extra = 1;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        v = c & 0x0F;
        extra = 2;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        v = c & 0x07;
        extra = 3;
        min = 0x10000;
    } else {
        return 0;
    }
    if (len - p - 1 < extra) {
        return 0;
    }
    for (size_t k = 1; k <= extra; k++) {
        unsigned char cc = s[p + k];
        if ((cc & 0xC0) != 0x80) {
            return 0;
        }
        v = v << 6 | (cc & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        return 0;
    }
    *cp = v;
    *i = p + 1 + extra;
    return 1;
}

static int utf8_valid(const char *s, size_t len)
{
    size_t i = 0;
    uint32_t cp;
    while (i < len) {
        if (!utf8_decode((const unsigned char *)s, len, &i, &cp)) {
            return 0;
        }
    }
    return 1;
}

/* Walks valid UTF-8 as UTF-16 code units. */
typedef struct {
    const unsigned char *s;
    size_t len;
    size_t i;
    uint16_t pending;
} u16_iter;

static int u16_next(u16_iter *it, uint16_t *unit)
{
    uint32_t cp = 0;
    if (it->pending != 0) {
        *unit = it->pending;
        it->pending = 0;
        return 1;
    }
    if (it->i >= it->len || !utf8_decode(it->s, it->len, &it->i, &cp)) {
        return 0;
    }
    if (cp >= 0x10000) {
        cp -= 0x10000;
        *unit = (uint16_t)(0xD800 + (cp >> 10));
        it->pending = (uint16_t)(0xDC00 + (cp & 0x3FF));
    } else {
        *unit = (uint16_t)cp;
    }
    return 1;
}

typedef struct {
    const char *key;
    size_t len;
    json_t *value;
} jcs_member;

static int member_cmp(const void *pa, const void *pb)
{
    const jcs_member *a = pa;
    const jcs_member *b = pb;
    u16_iter ia = {(const unsigned char *)a->key, a->len, 0, 0};
    u16_iter ib = {(const unsigned char *)b->key, b->len, 0, 0};
    for (;;) {
        uint16_t ua = 0;
        uint16_t ub = 0;
        int ha = u16_next(&ia, &ua);
        int hb = u16_next(&ib, &ub);
        if (!ha || !hb) {
            return ha - hb;
        }
        if (ua != ub) {
            return ua < ub ? -1 : 1;
        }
    }
}

static ccg_result jcs_string(ccg_buf *out, const char *s, size_t len)
{
    ccg_result result = CCG_FAILURE;
    size_t run = 0; /* start of the pending run of bytes copied verbatim */
    CCG_ENSURE_MSG(utf8_valid(s, len), CCG_R_INPUT_MALFORMED, "a JSON string is not valid UTF-8");
    CCG_TRY(ccg_buf_append(out, "\"", 1));
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        const char *e = NULL;
        if (c == '"') {
            e = "\\\"";
        } else if (c == '\\') {
            e = "\\\\";
        } else if (c == '\b') {
            e = "\\b";
        } else if (c == '\t') {
            e = "\\t";
        } else if (c == '\n') {
            e = "\\n";
        } else if (c == '\f') {
            e = "\\f";
        } else if (c == '\r') {
            e = "\\r";
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04x", c);
            e = esc;
        }
        if (e != NULL) {
            CCG_TRY(ccg_buf_append(out, s + run, i - run));
            CCG_TRY(ccg_buf_append_str(out, e));
            run = i + 1;
        }
    }
    CCG_TRY(ccg_buf_append(out, s + run, len - run));
    CCG_TRY(ccg_buf_append(out, "\"", 1));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result jcs_value(ccg_buf *out, const json_t *v, int depth);

static ccg_result jcs_object(ccg_buf *out, const json_t *obj, int depth)
{
    ccg_result result = CCG_FAILURE;
    size_t n = json_object_size(obj);
    size_t k = 0;
    jcs_member *members = NULL;
    if (n > 0) {
        members = calloc(n, sizeof(*members));
        CCG_ENSURE_ALLOC(members);
        /* jansson has no const iterator; iteration does not modify the object. */
        for (void *it = json_object_iter((json_t *)obj); it != NULL && k < n;
             it = json_object_iter_next((json_t *)obj, it)) {
            members[k].key = json_object_iter_key(it);
            members[k].len = json_object_iter_key_len(it);
            members[k].value = json_object_iter_value(it);
            CCG_ENSURE_MSG(utf8_valid(members[k].key, members[k].len), CCG_R_INPUT_MALFORMED,
                           "a JSON member name is not valid UTF-8");
            k++;
        }
        CCG_ENSURE(k == n, CCG_R_INTERNAL_ERROR);
        qsort(members, n, sizeof(*members), member_cmp);
    }
    CCG_TRY(ccg_buf_append(out, "{", 1));
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            CCG_TRY(ccg_buf_append(out, ",", 1));
        }
        CCG_TRY(jcs_string(out, members[i].key, members[i].len));
        CCG_TRY(ccg_buf_append(out, ":", 1));
        CCG_TRY(jcs_value(out, members[i].value, depth + 1));
    }
    CCG_TRY(ccg_buf_append(out, "}", 1));
    result = CCG_SUCCESS;
cleanup:
    free(members);
    return result;
}

static ccg_result jcs_value(ccg_buf *out, const json_t *v, int depth)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(depth <= CCG_JCS_MAX_DEPTH, CCG_R_INPUT_MALFORMED, "JSON nests deeper than %d levels",
                   CCG_JCS_MAX_DEPTH);
    CCG_ENSURE(v != NULL, CCG_R_INTERNAL_ERROR);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        CCG_TRY(jcs_object(out, v, depth));
        break;
    case JSON_ARRAY: {
        size_t n = json_array_size(v);
        CCG_TRY(ccg_buf_append(out, "[", 1));
        for (size_t i = 0; i < n; i++) {
            if (i > 0) {
                CCG_TRY(ccg_buf_append(out, ",", 1));
            }
            CCG_TRY(jcs_value(out, json_array_get(v, i), depth + 1));
        }
        CCG_TRY(ccg_buf_append(out, "]", 1));
        break;
    }
    case JSON_STRING:
        CCG_TRY(jcs_string(out, json_string_value(v), json_string_length(v)));
        break;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        char digits[32];
        CCG_ENSURE_MSG(i >= -CCG_JCS_MAX_INTEGER && i <= CCG_JCS_MAX_INTEGER, CCG_R_INPUT_MALFORMED,
                       "integer %lld is beyond 2^53 and has no exact canonical form", (long long)i);
        int w = snprintf(digits, sizeof(digits), "%lld", (long long)i);
        CCG_ENSURE(w > 0 && (size_t)w < sizeof(digits), CCG_R_INTERNAL_ERROR);
        CCG_TRY(ccg_buf_append(out, digits, (size_t)w));
        break;
    }
    case JSON_REAL:
        CCG_BAIL(CCG_R_INPUT_MALFORMED, "canonical JSON here supports integers only, not reals");
    case JSON_TRUE:
        CCG_TRY(ccg_buf_append_str(out, "true"));
        break;
    case JSON_FALSE:
        CCG_TRY(ccg_buf_append_str(out, "false"));
        break;
    case JSON_NULL:
        CCG_TRY(ccg_buf_append_str(out, "null"));
        break;
    default:
        CCG_BAIL(CCG_R_INTERNAL_ERROR, "unknown JSON type");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_jcs_serialize(const json_t *v, char **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    ccg_buf buf;
    ccg_buf_init(&buf, JCS_MAX_OUTPUT);
    *out = NULL;
    if (out_len != NULL) {
        *out_len = 0;
    }
    CCG_TRY(jcs_value(&buf, v, 0));
    CCG_TRY(ccg_buf_take_str(&buf, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    ccg_buf_free(&buf);
    return result;
}
