/* TDX TCB info, version 3 (Intel PCS "tcbInfo" with id "TDX"): the platform TCB levels (16 SGX
 * components, PCESVN, 16 TDX components), the TDX module and the module identities TDX_xx.
 * The levels are sorted highest first, as QVL orders them, and duplicates are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdx_internal.h"

static ccg_result components(json_t *tcb, const char *key, uint8_t out[16])
{
    ccg_result result = CCG_FAILURE;
    json_t *arr = json_object_get(tcb, key);
    size_t i;
    json_t *c;
    uint64_t svn = 0;
    CCG_ENSURE_MSG(json_is_array(arr) && json_array_size(arr) == 16, CCG_R_TDX_COLLATERAL_MALFORMED,
                   "\"%s\" is not an array of 16 components", key);
    json_array_foreach(arr, i, c) {
        CCG_ENSURE_MSG(json_is_object(c), CCG_R_TDX_COLLATERAL_MALFORMED, "%s[%zu] is not an object", key, i);
        CCG_TRY(tdx_json_uint(c, "svn", 255, &svn));
        out[i] = (uint8_t)svn;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_level(json_t *lv, size_t i, tdx_tcb_level *l)
{
    ccg_result result = CCG_FAILURE;
    json_t *tcb = json_object_get(lv, "tcb");
    uint64_t pcesvn = 0;
    ccg_time t = 0;
    CCG_ENSURE_MSG(json_is_object(lv) && json_is_object(tcb), CCG_R_TDX_COLLATERAL_MALFORMED,
                   "TCB level %zu has no tcb object", i);
    CCG_TRY(components(tcb, "sgxtcbcomponents", l->sgx));
    CCG_TRY(components(tcb, "tdxtcbcomponents", l->tdx));
    CCG_TRY(tdx_json_uint(tcb, "pcesvn", 65535, &pcesvn));
    l->pcesvn = (uint16_t)pcesvn;
    CCG_TRY(tdx_json_status(lv, 0, &l->status));
    CCG_TRY(tdx_json_time(lv, "tcbDate", &t));
    snprintf(l->tcb_date, sizeof(l->tcb_date), "%s", json_string_value(json_object_get(lv, "tcbDate")));
    CCG_TRY(tdx_json_advisories(lv, &l->advisories));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* QVL's order: SGX components (lexicographic), then PCESVN, then TDX components; highest first. */
static int level_cmp_desc(const void *a, const void *b)
{
    const tdx_tcb_level *x = a, *y = b;
    int c = memcmp(y->sgx, x->sgx, 16);
    if (c == 0) {
        c = (int)y->pcesvn - (int)x->pcesvn;
    }
    if (c == 0) {
        c = memcmp(y->tdx, x->tdx, 16);
    }
    return c;
}

static ccg_result parse_module(json_t *m, int with_levels, tdx_module_identity *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_object(m), CCG_R_TDX_COLLATERAL_MALFORMED, "a TDX module is not an object");
    CCG_TRY(tdx_json_hex(m, "mrsigner", out->mrsigner, 48));
    CCG_TRY(tdx_json_hex(m, "attributes", out->attributes, 8));
    CCG_TRY(tdx_json_hex(m, "attributesMask", out->attributes_mask, 8));
    if (with_levels) {
        const char *id = json_string_value(json_object_get(m, "id"));
        CCG_ENSURE_MSG(id != NULL && strlen(id) > 0 && strlen(id) < sizeof(out->id), CCG_R_TDX_COLLATERAL_MALFORMED,
                       "a TDX module identity has no id");
        snprintf(out->id, sizeof(out->id), "%s", id);
        CCG_TRY(tdx_json_svn_levels(json_object_get(m, "tcbLevels"), out->levels, &out->n_levels, out->id));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_modules(json_t *info, tdx_tcb_info *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *arr = json_object_get(info, "tdxModuleIdentities");
    size_t i;
    json_t *m;
    CCG_TRY(parse_module(json_object_get(info, "tdxModule"), 0, &out->module));
    if (arr == NULL) {
        return CCG_SUCCESS; /* optional: a TD 1.0-only platform */
    }
    CCG_ENSURE_MSG(json_is_array(arr) && json_array_size(arr) > 0 && json_array_size(arr) <= TDX_MAX_MODULES,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "\"tdxModuleIdentities\" is not an array of 1..%d identities",
                   TDX_MAX_MODULES);
    json_array_foreach(arr, i, m) {
        CCG_TRY(parse_module(m, 1, &out->modules[i]));
        out->n_modules = i + 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_levels(json_t *info, tdx_tcb_info *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *arr = json_object_get(info, "tcbLevels");
    size_t i;
    json_t *lv;
    CCG_ENSURE_MSG(json_is_array(arr) && json_array_size(arr) > 0 && json_array_size(arr) <= TDX_MAX_LEVELS,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "\"tcbLevels\" is not an array of 1..%d levels", TDX_MAX_LEVELS);
    json_array_foreach(arr, i, lv) {
        CCG_TRY(parse_level(lv, i, &out->levels[i]));
        out->n_levels = i + 1;
    }
    qsort(out->levels, out->n_levels, sizeof(out->levels[0]), level_cmp_desc);
    for (i = 1; i < out->n_levels; i++) {
        CCG_ENSURE_MSG(level_cmp_desc(&out->levels[i - 1], &out->levels[i]) != 0, CCG_R_TDX_COLLATERAL_MALFORMED,
                       "two TCB levels have the same components");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result tdx_tcb_info_parse(const char *text, size_t len, tdx_tcb_info *out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    json_t *info = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    uint64_t version = 0, tcb_type = 0, eval = 0;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_is_object(info), CCG_R_TDX_COLLATERAL_MALFORMED, "TCB info is not a JSON object: %s",
                   info == NULL ? err.text : "not an object");
    const char *id = json_string_value(json_object_get(info, "id"));
    CCG_TRY(tdx_json_uint(info, "version", 1000, &version));
    CCG_ENSURE_MSG(id != NULL && strcmp(id, "TDX") == 0 && version == 3, CCG_R_TDX_TCB_INFO_INVALID,
                   "TCB info id \"%s\" version %llu (want TDX, 3)", id != NULL ? id : "(none)",
                   (unsigned long long)version);
    out->version = (int)version;
    CCG_TRY(tdx_json_uint(info, "tcbType", 1000, &tcb_type));
    CCG_ENSURE_MSG(tcb_type == 0, CCG_R_TDX_TCB_INFO_INVALID, "TCB info tcbType %llu (want 0)",
                   (unsigned long long)tcb_type);
    CCG_TRY(tdx_json_uint(info, "tcbEvaluationDataNumber", UINT32_MAX, &eval));
    out->tcb_eval_num = (int)eval;
    CCG_TRY(tdx_json_time(info, "issueDate", &out->issue_date));
    CCG_TRY(tdx_json_time(info, "nextUpdate", &out->next_update));
    CCG_TRY(tdx_json_hex(info, "fmspc", out->fmspc, 6));
    CCG_TRY(tdx_json_hex(info, "pceId", out->pce_id, 2));
    CCG_TRY(parse_modules(info, out));
    CCG_TRY(parse_levels(info, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(info);
    return result;
}
