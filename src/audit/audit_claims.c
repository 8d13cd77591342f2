/* The presented claims of a format-6 record: a JSON object whose members come from a fixed list, each
 * of a fixed type. Only identifiers, measurements, versions and policy bits fit: a string is at most
 * CCG_AUDIT_CLAIM_TEXT_MAX bytes of lowercase hex (measurements, TCB versions, policy bits) or of the
 * ID alphabet, so no key, token or raw evidence has a place to go (docs/audit.md, "Claims"). */
#include <string.h>

#include "audit_internal.h"

typedef enum { CLAIM_TOKEN, CLAIM_HEX, CLAIM_INT, CLAIM_BOOL, CLAIM_HEX_LIST } claim_type;

static const struct {
    const char *name;
    claim_type type;
} claim_members[] = {
    {"tee", CLAIM_TOKEN},           {"measurement", CLAIM_HEX},        {"report_version", CLAIM_INT},
    {"policy", CLAIM_HEX},          {"reported_tcb", CLAIM_HEX},       {"committed_tcb", CLAIM_HEX},
    {"current_tcb", CLAIM_HEX},     {"launch_tcb", CLAIM_HEX},         {"chip_family", CLAIM_TOKEN},
    {"host_data", CLAIM_HEX},       {"refval_set_id", CLAIM_TOKEN},    {"refval_set_version", CLAIM_INT},
    {"refval_record", CLAIM_TOKEN}, {"refval_match", CLAIM_BOOL},      {"mrtd", CLAIM_HEX},
    {"rtmrs", CLAIM_HEX_LIST},      {"mrconfigid", CLAIM_HEX},         {"td_attributes", CLAIM_HEX},
    {"tee_tcb_svn", CLAIM_HEX},     {"key_version_requested", CLAIM_INT}, {"gpu_count", CLAIM_INT},
    /* An ownership transfer: the owner it gives the key to (the issuer null when unbound). */
    {"new_owner_issuer", CLAIM_TOKEN}, {"new_owner_subject", CLAIM_TOKEN},
};

static int text_ok(const char *s, claim_type t)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > CCG_AUDIT_CLAIM_TEXT_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int ok = t == CLAIM_TOKEN ? (c >= 0x21 && c <= 0x7E) : ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static int value_ok(const json_t *v, claim_type t)
{
    const json_t *item;
    size_t i;
    if (json_is_null(v)) {
        return 1;
    }
    switch (t) {
    case CLAIM_TOKEN:
    case CLAIM_HEX: return json_is_string(v) && text_ok(json_string_value(v), t);
    case CLAIM_INT: return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= ((json_int_t)1 << 53);
    case CLAIM_BOOL: return json_is_boolean(v);
    case CLAIM_HEX_LIST:
        if (!json_is_array(v) || json_array_size(v) > CCG_AUDIT_CLAIM_LIST_MAX) {
            return 0;
        }
        json_array_foreach(v, i, item) {
            if (!json_is_string(item) || !text_ok(json_string_value(item), CLAIM_HEX)) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

ccg_result ccg_audit_claims_check(const json_t *claims, ccg_reason reason)
{
    ccg_result result = CCG_FAILURE;
    const char *name;
    const json_t *v;
    CCG_ENSURE_MSG(json_is_object(claims) && json_object_size(claims) >= 1, reason,
                   "audit claims are not a non-empty object");
    json_object_foreach((json_t *)claims, name, v) {
        size_t i = 0, n = sizeof(claim_members) / sizeof(claim_members[0]);
        while (i < n && strcmp(claim_members[i].name, name) != 0) {
            i++;
        }
        CCG_ENSURE_MSG(i < n, reason, "audit claim %.40s is not a known claim", name);
        CCG_ENSURE_MSG(value_ok(v, claim_members[i].type), reason, "audit claim %s is not of its type and length",
                       name);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
