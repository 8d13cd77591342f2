/* Member readers shared by the policy documents (include/ccgate/policy_json.h). */
#include "ccgate/policy_json.h"

#include <stdio.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/util.h"

ccg_result ccg_policy_get_bool(const json_t *v, const char *key, int *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_boolean(v), CCG_R_POLICY_INVALID_VALUE, "'%s' must be true or false", key);
    *out = json_is_true(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_policy_get_hex(const json_t *v, const char *key, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(v);
    CCG_ENSURE_MSG(s != NULL && strlen(s) == 2 * n && ccg_hex_is_valid(s, n), CCG_R_POLICY_INVALID_VALUE,
                   "'%s' must be %zu hex digits", key, 2 * n);
    CCG_TRY(ccg_hex_decode_exact(s, out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_policy_get_identity(const json_t *root, char *id, size_t id_cap, int64_t *version)
{
    ccg_result result = CCG_FAILURE;
    const json_t *id_v = json_object_get(root, "policy_id");
    const json_t *version_v = json_object_get(root, "version");
    CCG_ENSURE_MSG(json_is_string(id_v) && json_string_length(id_v) > 0 && json_string_length(id_v) < id_cap,
                   CCG_R_POLICY_VERSION_INVALID, "'policy_id' must be a non-empty string under %zu bytes", id_cap);
    CCG_ENSURE_MSG(json_is_integer(version_v) && json_integer_value(version_v) >= 1, CCG_R_POLICY_VERSION_INVALID,
                   "'version' must be a positive integer");
    for (const char *c = json_string_value(id_v); *c; c++) {
        CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_POLICY_VERSION_INVALID, "'policy_id' must be printable ASCII");
    }
    snprintf(id, id_cap, "%s", json_string_value(id_v));
    *version = json_integer_value(version_v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
