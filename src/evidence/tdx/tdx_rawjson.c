/* The exact bytes of a top-level member's value in a JSON object text. Intel signs the bytes of the
 * "tcbInfo" and "enclaveIdentity" objects as it sent them; re-serialising them (as some verifiers do)
 * would verify a different text than the one received. jansson validates the whole document first
 * (duplicate keys refused), a scan that tracks only strings and nesting finds the member, and jansson
 * confirms that the span it found parses to the very value it decoded for that member. */
#include <string.h>

#include "tdx_internal.h"

static size_t skip_ws(const char *t, size_t len, size_t i)
{
    while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\n' || t[i] == '\r')) {
        i++;
    }
    return i;
}

/* Index just past the string starting at t[i] == '"' (escapes skipped), or len. */
static size_t string_end(const char *t, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (t[i] == '\\') {
            i++;
        } else if (t[i] == '"') {
            return i + 1;
        }
    }
    return len;
}

/* Index just past the value starting at t[i] (the document is known to be valid JSON). */
static size_t value_end(const char *t, size_t len, size_t i)
{
    int depth = 0;
    while (i < len) {
        char c = t[i];
        if (c == '"') {
            i = string_end(t, len, i);
            if (depth == 0) {
                return i;
            }
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) {
                return i; /* end of a scalar that closes its container */
            }
            if (--depth == 0) {
                return i + 1;
            }
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
            return i;
        }
        i++;
    }
    return i;
}

ccg_result tdx_raw_member(const char *text, size_t len, const char *key, const char **value, size_t *value_len)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    json_t *span = NULL;
    size_t klen = strlen(key), found_at = 0, found_end = 0;
    int found = 0;
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_TDX_COLLATERAL_MALFORMED, "not a JSON object: %s",
                   doc == NULL ? err.text : "wrong type");
    json_t *want = json_object_get(doc, key);
    CCG_ENSURE_MSG(want != NULL, CCG_R_TDX_COLLATERAL_MALFORMED, "no member \"%s\"", key);
    size_t i = skip_ws(text, len, 0) + 1; /* past '{' */
    while (i < len) {
        i = skip_ws(text, len, i);
        if (i >= len || text[i] == '}') {
            break;
        }
        size_t kend = string_end(text, len, i);
        int match = kend - i == klen + 2 && memcmp(text + i + 1, key, klen) == 0;
        i = skip_ws(text, len, kend) + 1; /* past ':' */
        size_t vstart = skip_ws(text, len, i);
        size_t vend = value_end(text, len, vstart);
        if (match) {
            found++;
            found_at = vstart;
            found_end = vend;
        }
        i = skip_ws(text, len, vend);
        i += i < len && text[i] == ',';
    }
    /* An escaped spelling of the key is not found here: refused rather than guessed. */
    CCG_ENSURE_MSG(found == 1, CCG_R_TDX_COLLATERAL_MALFORMED, "member \"%s\" not found verbatim", key);
    span = json_loadb(text + found_at, found_end - found_at, JSON_DECODE_ANY, &err);
    CCG_ENSURE_MSG(span != NULL && json_equal(span, want), CCG_R_TDX_COLLATERAL_MALFORMED,
                   "member \"%s\" could not be delimited", key);
    *value = text + found_at;
    *value_len = found_end - found_at;
    result = CCG_SUCCESS;
cleanup:
    json_decref(span);
    json_decref(doc);
    return result;
}
