/* Typed members of Intel's signed JSON (TCB info, QE identity): each required member must be present
 * with its type; Intel may add members, which are ignored (the document is signed by Intel). */
#include <stdio.h>
#include <string.h>

#include "tdx_internal.h"

ccg_result tdx_json_hex(json_t *obj, const char *key, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(json_object_get(obj, key));
    CCG_ENSURE_MSG(s != NULL && strlen(s) == 2 * n && ccg_hex_is_valid(s, n), CCG_R_TDX_COLLATERAL_MALFORMED,
                   "\"%s\" is not %zu hex digits", key, 2 * n);
    CCG_TRY(ccg_hex_decode_exact(s, out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result tdx_json_time(json_t *obj, const char *key, ccg_time *out)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(json_object_get(obj, key));
    CCG_ENSURE_MSG(s != NULL, CCG_R_TDX_COLLATERAL_MALFORMED, "\"%s\" is not a date", key);
    if (ccg_failed(ccg_time_parse_rfc3339(s, out))) {
        CCG_BAIL(CCG_R_TDX_COLLATERAL_MALFORMED, "\"%s\" is not an RFC 3339 date", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result tdx_json_uint(json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, key);
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 0 && (uint64_t)json_integer_value(v) <= max,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "\"%s\" is not an integer 0..%llu", key, (unsigned long long)max);
    *out = (uint64_t)json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Platform levels take Intel's seven statuses; module and QE levels only UpToDate, OutOfDate, Revoked. */
ccg_result tdx_json_status(json_t *obj, int module_or_qe, ccg_tdx_tcb_status *out)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(json_object_get(obj, "tcbStatus"));
    ccg_tdx_tcb_status st = s != NULL ? ccg_tdx_status_from_name(s) : CCG_TDX_STATUS_NONE;
    int ok = st != CCG_TDX_STATUS_NONE && st != CCG_TDX_STATUS_TD_RELAUNCH_ADVISED &&
             st != CCG_TDX_STATUS_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
    if (module_or_qe) {
        ok = st == CCG_TDX_STATUS_UP_TO_DATE || st == CCG_TDX_STATUS_OUT_OF_DATE || st == CCG_TDX_STATUS_REVOKED;
    }
    CCG_ENSURE_MSG(ok, CCG_R_TDX_COLLATERAL_MALFORMED, "unknown tcbStatus \"%s\"", s != NULL ? s : "(none)");
    *out = st;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result tdx_json_advisories(json_t *obj, tdx_advisories *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *arr = json_object_get(obj, "advisoryIDs");
    size_t i;
    json_t *item;
    out->count = 0;
    if (arr == NULL) {
        return CCG_SUCCESS; /* optional */
    }
    CCG_ENSURE_MSG(json_is_array(arr) && json_array_size(arr) <= TDX_MAX_ADVISORIES, CCG_R_TDX_COLLATERAL_MALFORMED,
                   "\"advisoryIDs\" is not an array of at most %d strings", TDX_MAX_ADVISORIES);
    json_array_foreach(arr, i, item) {
        const char *s = json_string_value(item);
        CCG_ENSURE_MSG(s != NULL && *s != '\0' && strlen(s) < TDX_ADVISORY_MAX, CCG_R_TDX_COLLATERAL_MALFORMED,
                       "advisory ID %zu is not a string of 1..%d characters", i, TDX_ADVISORY_MAX - 1);
        for (const char *c = s; *c; c++) {
            CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_TDX_COLLATERAL_MALFORMED, "advisory ID %zu is not printable", i);
        }
        snprintf(out->ids[out->count++], TDX_ADVISORY_MAX, "%s", s);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* [{"tcb": {"isvsvn": N}, "tcbDate": "...", "tcbStatus": "...", "advisoryIDs": [...]}], non-empty. */
ccg_result tdx_json_svn_levels(json_t *arr, tdx_svn_level *levels, size_t *n, const char *what)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *lv;
    uint64_t svn = 0;
    *n = 0;
    CCG_ENSURE_MSG(json_is_array(arr) && json_array_size(arr) > 0 && json_array_size(arr) <= TDX_MAX_SVN_LEVELS,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "%s tcbLevels is not an array of 1..%d levels", what,
                   TDX_MAX_SVN_LEVELS);
    json_array_foreach(arr, i, lv) {
        tdx_svn_level *l = &levels[i];
        const char *date = json_string_value(json_object_get(lv, "tcbDate"));
        ccg_time t = 0;
        CCG_ENSURE_MSG(json_is_object(lv) && json_is_object(json_object_get(lv, "tcb")), CCG_R_TDX_COLLATERAL_MALFORMED,
                       "%s level %zu has no tcb", what, i);
        CCG_TRY(tdx_json_uint(json_object_get(lv, "tcb"), "isvsvn", 65535, &svn));
        l->isvsvn = (uint16_t)svn;
        CCG_TRY(tdx_json_status(lv, 1, &l->status));
        CCG_TRY(tdx_json_time(lv, "tcbDate", &t));
        snprintf(l->tcb_date, sizeof(l->tcb_date), "%s", date);
        CCG_TRY(tdx_json_advisories(lv, &l->advisories));
        for (size_t j = 0; j < i; j++) {
            CCG_ENSURE_MSG(levels[j].isvsvn != l->isvsvn, CCG_R_TDX_COLLATERAL_MALFORMED,
                           "%s has two levels for ISVSVN %u", what, l->isvsvn);
        }
        *n = i + 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
