/* Showing a request's records: what was presented (format 6 claims), each failed check with its
 * registry description, the decision, the policy and key with their versions, and the time. Built from
 * the stored records only, so it answers "why was this denied" without the broker's logs. */
#include <string.h>

#include "audit_internal.h"

static json_t *id_version(const json_t *rec, const char *id, const char *version)
{
    return json_pack("{s:O, s:O}", "id", json_object_get(rec, id), "version", json_object_get(rec, version));
}

static json_t *failed_checks(const json_t *reasons)
{
    json_t *out = json_array(), *code;
    size_t i;
    json_array_foreach(reasons, i, code) {
        ccg_reason r = ccg_reason_from_code(json_string_value(code));
        const char *what = r == CCG_R__COUNT ? "(a code this ccgate does not know)" : ccg_reason_message(r);
        if (out == NULL || json_array_append_new(out, json_pack("{s:O, s:s}", "code", code, "description", what)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

static json_t *shown(const json_t *rec)
{
    const json_t *claims = json_object_get(rec, "claims");
    const json_t *count = json_object_get(rec, "count");
    return json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:o, s:o, s:O, s:O, s:O, s:O, s:O, s:O}", "seq",
                     json_object_get(rec, "seq"), "v", json_object_get(rec, "v"), "time", json_object_get(rec, "time"),
                     "action", json_object_get(rec, "action"), "persona", json_object_get(rec, "persona"), "decision",
                     json_object_get(rec, "decision"), "policy", id_version(rec, "policy_id", "policy_version"), "key",
                     id_version(rec, "key_id", "key_version"), "failed_checks",
                     failed_checks(json_object_get(rec, "reasons")), "presented", claims ? claims : json_null(),
                     "tcb", json_object_get(rec, "tcb") ? json_object_get(rec, "tcb") : json_null(), "gpus",
                     json_object_get(rec, "gpus") ? json_object_get(rec, "gpus") : json_null(), "evidence_digest",
                     json_object_get(rec, "evidence_digest"), "count", count ? count : json_null(), "hash",
                     json_object_get(rec, "hash"));
}

ccg_result ccg_audit_show(ccg_audit *a, const char *request_id, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *records = NULL, *list = NULL, *rec;
    size_t i;
    CCG_ENSURE(out != NULL, CCG_R_INPUT_MALFORMED);
    *out = NULL;
    CCG_TRY(ccg_audit_find(a, request_id, &records));
    CCG_ENSURE_MSG(json_array_size(records) > 0, CCG_R_AUDIT_RECORD_NOT_FOUND, "no audit record of request %s",
                   request_id);
    list = json_array();
    CCG_ENSURE_ALLOC(list);
    json_array_foreach(records, i, rec) {
        CCG_ENSURE(json_array_append_new(list, shown(rec)) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    }
    *out = json_pack("{s:s, s:O}", "request_id", request_id, "records", list);
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    json_decref(records);
    json_decref(list);
    return result;
}
