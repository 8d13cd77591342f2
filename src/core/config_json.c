/* Member readers shared by the configuration files (include/ccgate/config_json.h). */
#include "ccgate/config_json.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

ccg_result ccg_config_only_known(const json_t *obj, const char *where, const char *const *known, ccg_reason bad)
{
    ccg_result result = CCG_FAILURE;
    const char *name;
    json_t *v;
    CCG_ENSURE_MSG(json_is_object(obj), bad, "\"%s\" must be an object", where);
    json_object_foreach((json_t *)obj, name, v) {
        int ok = 0;
        for (size_t i = 0; known[i] != NULL; i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, bad, "unknown member \"%.64s\" in \"%s\"", name, where);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_config_get_str(const json_t *obj, const char *where, const char *name, int flags, ccg_reason bad,
                              char **out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || ((flags & CCG_CONFIG_NULL_ABSENT) && json_is_null(v))) {
        CCG_ENSURE_MSG(!(flags & CCG_CONFIG_REQUIRED), bad, "\"%s.%s\" is required", where, name);
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= CCG_CONFIG_STR_MAX &&
                       strlen(json_string_value(v)) == json_string_length(v),
                   bad, "\"%s.%s\" must be a non-empty string", where, name);
    free(*out);
    *out = strdup(json_string_value(v));
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_config_get_bool(const json_t *obj, const char *where, const char *name, ccg_reason bad, int *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_boolean(v), bad, "\"%s.%s\" must be true or false", where, name);
    *out = json_is_true(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_config_get_uint(const json_t *obj, const char *where, const char *name, uint64_t min, uint64_t max,
                               ccg_reason bad, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) >= min &&
                       (uint64_t)json_integer_value(v) <= max,
                   bad, "\"%s.%s\" must be an integer in [%llu, %llu]", where, name, (unsigned long long)min,
                   (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
