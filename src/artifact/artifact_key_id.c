/* Key IDs as the key broker names resources: repo/type/tag, the three segments of a KBS 0.4.0
 * resource path (/kbs/v0/resource/<repo>/<type>/<tag>). One rule for the broker's release path, its
 * host and admin imports, and `ccgate seal --key-id`, so a key that can be imported can be asked for
 * and a sealed artifact names a key that can exist. */
#include "ccgate/artifact.h"

#include <string.h>

#include "ccgate/error.h"

static int segment_ok(const char *s, size_t n)
{
    if (n == 0 || n > CCG_KEY_ID_SEGMENT_MAX || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
              c == '-')) {
            return 0;
        }
    }
    return 1;
}

int ccg_key_id_valid(const char *key_id)
{
    size_t len, start = 0, segments = 0;
    if (key_id == NULL) {
        return 0;
    }
    len = strnlen(key_id, CCG_KEY_ID_MAX + 1);
    if (len == 0 || len > CCG_KEY_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i <= len; i++) {
        if (i == len || key_id[i] == '/') {
            if (!segment_ok(key_id + start, i - start)) {
                return 0;
            }
            segments++;
            start = i + 1;
        }
    }
    return segments == 3;
}

ccg_result ccg_key_id_check(const char *key_id)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ccg_key_id_valid(key_id), CCG_R_KEY_ID_INVALID,
                   "key ID \"%.80s\" is not repo/type/tag: three non-empty segments of [A-Za-z0-9._-] "
                   "(not . or ..), at most %u bytes each",
                   key_id != NULL ? key_id : "", CCG_KEY_ID_SEGMENT_MAX);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
