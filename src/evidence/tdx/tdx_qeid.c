/* The QE identity, version 2 with id "TD_QE" (Intel PCS "enclaveIdentity" for the TD quoting enclave):
 * MISCSELECT and ATTRIBUTES with masks, MRSIGNER, ISVPRODID, and TCB levels by ISVSVN (document order,
 * as QVL reads them). */
#include <stdio.h>
#include <string.h>

#include "tdx_internal.h"

ccg_result tdx_qe_identity_parse(const char *text, size_t len, tdx_qe_identity *out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    json_t *id = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    uint64_t version = 0, eval = 0, prodid = 0;
    uint8_t b4[4];
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_is_object(id), CCG_R_TDX_COLLATERAL_MALFORMED, "QE identity is not a JSON object: %s",
                   id == NULL ? err.text : "not an object");
    const char *name = json_string_value(json_object_get(id, "id"));
    CCG_TRY(tdx_json_uint(id, "version", 1000, &version));
    CCG_ENSURE_MSG(name != NULL && strcmp(name, "TD_QE") == 0 && version == 2, CCG_R_TDX_QE_IDENTITY_INVALID,
                   "QE identity id \"%s\" version %llu (want TD_QE, 2)", name != NULL ? name : "(none)",
                   (unsigned long long)version);
    out->version = 2;
    CCG_TRY(tdx_json_uint(id, "tcbEvaluationDataNumber", UINT32_MAX, &eval));
    out->tcb_eval_num = (int)eval;
    CCG_TRY(tdx_json_time(id, "issueDate", &out->issue_date));
    CCG_TRY(tdx_json_time(id, "nextUpdate", &out->next_update));
    /* MISCSELECT's hex is its bytes in report order (little-endian), as QVL reads it. */
    CCG_TRY(tdx_json_hex(id, "miscselect", b4, 4));
    out->miscselect = (uint32_t)b4[0] | (uint32_t)b4[1] << 8 | (uint32_t)b4[2] << 16 | (uint32_t)b4[3] << 24;
    CCG_TRY(tdx_json_hex(id, "miscselectMask", b4, 4));
    out->miscselect_mask = (uint32_t)b4[0] | (uint32_t)b4[1] << 8 | (uint32_t)b4[2] << 16 | (uint32_t)b4[3] << 24;
    CCG_TRY(tdx_json_hex(id, "attributes", out->attributes, 16));
    CCG_TRY(tdx_json_hex(id, "attributesMask", out->attributes_mask, 16));
    CCG_TRY(tdx_json_hex(id, "mrsigner", out->mrsigner, 32));
    CCG_TRY(tdx_json_uint(id, "isvprodid", 65535, &prodid));
    out->isvprodid = (uint16_t)prodid;
    CCG_TRY(tdx_json_svn_levels(json_object_get(id, "tcbLevels"), out->levels, &out->n_levels, "QE identity"));
    result = CCG_SUCCESS;
cleanup:
    json_decref(id);
    return result;
}
