/* TDX evidence as Trustee's TDX attester sends it (its verifier's TdxEvidence): the quote, the CCEL
 * event log and the Attestation Agent's event log, each base64 text (docs/kbs.md, "TDX evidence").
 * Untrusted: every member is typed and bounded, unknown members are refused. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

void ccg_kbs_tdx_evidence_free(ccg_kbs_tdx_evidence *e)
{
    if (e == NULL) {
        return;
    }
    free(e->quote);
    free(e->cc_eventlog);
    free(e->aa_eventlog);
    memset(e, 0, sizeof(*e));
}

/* Base64 text only: Trustee's members are Strings (an array of byte values is SNP's alternative). */
static ccg_result b64_member(const json_t *v, const char *what, size_t max, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_KBS_REQUEST_MALFORMED, "TDX evidence \"%s\" must be base64 text", what);
    CCG_TRY(kbs_decode_bytes(v, what, max, out, len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_tdx_evidence_from_json(const json_t *ev, ccg_kbs_tdx_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v;
    const char *name;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_is_object(ev), CCG_R_KBS_REQUEST_MALFORMED, "the TDX evidence must be a JSON object");
    json_object_foreach((json_t *)ev, name, v) {
        CCG_ENSURE_MSG(strcmp(name, "quote") == 0 || strcmp(name, "cc_eventlog") == 0 ||
                           strcmp(name, "aa_eventlog") == 0,
                       CCG_R_KBS_REQUEST_MALFORMED, "unknown TDX evidence member \"%.64s\"", name);
    }
    CCG_TRY(b64_member(json_object_get(ev, "quote"), "quote", CCG_KBS_TDX_MAX_QUOTE, &out->quote, &out->quote_len));
    v = json_object_get(ev, "cc_eventlog");
    if (v != NULL && !json_is_null(v)) {
        CCG_TRY(b64_member(v, "cc_eventlog", CCG_KBS_TDX_MAX_EVENTLOG, &out->cc_eventlog, &out->cc_eventlog_len));
    }
    v = json_object_get(ev, "aa_eventlog");
    if (v != NULL && !json_is_null(v)) {
        CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) <= CCG_KBS_TDX_MAX_AA_EVENTLOG &&
                           strlen(json_string_value(v)) == json_string_length(v),
                       CCG_R_KBS_REQUEST_MALFORMED, "TDX evidence \"aa_eventlog\" must be text of at most %u bytes",
                       CCG_KBS_TDX_MAX_AA_EVENTLOG);
        out->aa_eventlog = strdup(json_string_value(v));
        CCG_ENSURE_ALLOC(out->aa_eventlog);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_kbs_tdx_evidence_free(out);
    }
    return result;
}

json_t *ccg_kbs_tdx_evidence_to_json(const ccg_kbs_tdx_evidence *e)
{
    json_t *obj = NULL;
    char *quote = kbs_b64_std(e->quote, e->quote_len);
    char *log = e->cc_eventlog == NULL ? NULL : kbs_b64_std(e->cc_eventlog, e->cc_eventlog_len);
    if (quote != NULL && (e->cc_eventlog == NULL || log != NULL)) {
        obj = json_pack("{s:s, s:s?, s:s?}", "quote", quote, "cc_eventlog", log, "aa_eventlog", e->aa_eventlog);
        if (obj != NULL && log == NULL) {
            json_object_set_new(obj, "cc_eventlog", json_null());
        }
    }
    free(quote);
    free(log);
    return obj;
}
