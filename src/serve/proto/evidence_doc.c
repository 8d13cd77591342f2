/* The endpoint's evidence document: JSON encode and strict, bounded decode (endpoint_binding.h). */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "ccgate/endpoint_binding.h"
#include "ccgate/jose.h"

#define MAX_REPORT (64u << 10)   /* an SNP report is 1184 bytes, a TDX quote with its chain ~5-8 KiB */
#define MAX_CERTS (64u << 10)    /* the SNP certificate table */
#define MAX_CCEL 4096u           /* the ACPI CCEL table */
#define MAX_CCEL_DATA (2u << 20) /* the event log */

static const char *const k_members[] = {"version", "tee", "binding", "nonce", "key_config",
                                        "report",  "certs", "ccel",  "ccel_data"};

static ccg_result put_b64(json_t *obj, const char *name, const uint8_t *data, size_t len, int optional)
{
    ccg_result result = CCG_FAILURE;
    char *text = NULL;
    if (optional && data == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(data != NULL || len == 0, CCG_R_USAGE_INVALID, "evidence: %s missing", name);
    text = ccg_b64url_encode(data ? data : (const uint8_t *)"", len);
    CCG_ENSURE_ALLOC(text);
    CCG_ENSURE_ALLOC(json_object_set_new(obj, name, json_string(text)) == 0 ? obj : NULL);
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

ccg_result ccg_endpoint_evidence_encode(const ccg_endpoint_evidence *doc, char **json_out)
{
    ccg_result result = CCG_FAILURE;
    json_t *obj = json_object();
    const char *tee = ccg_endpoint_tee_name(doc->tee);
    const char *binding = ccg_endpoint_binding_name(doc->binding);
    CCG_ENSURE_ALLOC(obj);
    CCG_ENSURE_MSG(tee != NULL && binding != NULL, CCG_R_USAGE_INVALID, "evidence: unknown tee or binding");
    CCG_ENSURE_MSG(doc->key_config != NULL && doc->report != NULL && doc->report_len > 0, CCG_R_USAGE_INVALID,
                   "evidence: key_config and report are required");
    CCG_ENSURE_ALLOC(json_object_set_new(obj, "version", json_integer(1)) == 0 ? obj : NULL);
    CCG_ENSURE_ALLOC(json_object_set_new(obj, "tee", json_string(tee)) == 0 ? obj : NULL);
    CCG_ENSURE_ALLOC(json_object_set_new(obj, "binding", json_string(binding)) == 0 ? obj : NULL);
    CCG_TRY(put_b64(obj, "nonce", doc->nonce, CCG_ENDPOINT_NONCE_LEN, 0));
    CCG_TRY(put_b64(obj, "key_config", doc->key_config, doc->key_config_len, 0));
    CCG_TRY(put_b64(obj, "report", doc->report, doc->report_len, 0));
    CCG_TRY(put_b64(obj, "certs", doc->certs, doc->certs_len, 1));
    CCG_TRY(put_b64(obj, "ccel", doc->ccel, doc->ccel_len, 1));
    CCG_TRY(put_b64(obj, "ccel_data", doc->ccel_data, doc->ccel_data_len, 1));
    *json_out = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
    CCG_ENSURE_ALLOC(*json_out);
    result = CCG_SUCCESS;
cleanup:
    json_decref(obj);
    return result;
}

/* A base64url member: required ones must be present, every one non-empty and within max bytes. */
static ccg_result get_b64(json_t *obj, const char *name, int required, size_t max, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        CCG_ENSURE_MSG(!required, CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: no \"%s\"", name);
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: \"%s\" is not a string", name);
    size_t n = json_string_length(v);
    CCG_ENSURE_MSG(n > 0 && n <= (max / 3 + 1) * 4, CCG_R_CLIENT_EVIDENCE_MALFORMED,
                   "evidence: \"%s\" is empty or longer than %zu bytes", name, max);
    CCG_TRY(ccg_b64url_decode(json_string_value(v), n, CCG_R_CLIENT_EVIDENCE_MALFORMED, out, out_len));
    CCG_ENSURE_MSG(*out_len > 0 && *out_len <= max, CCG_R_CLIENT_EVIDENCE_MALFORMED,
                   "evidence: \"%s\" is empty or longer than %zu bytes", name, max);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_members(json_t *obj)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *val;
    json_object_foreach(obj, key, val) {
        int known = 0;
        for (size_t i = 0; i < sizeof(k_members) / sizeof(k_members[0]); i++) {
            known |= strcmp(key, k_members[i]) == 0;
        }
        CCG_ENSURE_MSG(known, CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: unknown member");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result decode_obj(json_t *obj, ccg_endpoint_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v;
    uint8_t *nonce = NULL;
    size_t nonce_len = 0;
    CCG_ENSURE_MSG(json_is_object(obj), CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: not a JSON object");
    CCG_TRY(check_members(obj));
    v = json_object_get(obj, "version");
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) == 1, CCG_R_CLIENT_EVIDENCE_MALFORMED,
                   "evidence: version is not 1");
    out->version = 1;
    v = json_object_get(obj, "tee");
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: no tee");
    if (strcmp(json_string_value(v), "snp") == 0 && json_string_length(v) == 3) {
        out->tee = CCG_ENDPOINT_TEE_SNP;
    } else if (strcmp(json_string_value(v), "tdx") == 0 && json_string_length(v) == 3) {
        out->tee = CCG_ENDPOINT_TEE_TDX;
    } else {
        CCG_BAIL(CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: tee is neither snp nor tdx");
    }
    v = json_object_get(obj, "binding");
    CCG_ENSURE_MSG(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v),
                   CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: no binding");
    CCG_TRY(ccg_endpoint_binding_parse(json_string_value(v), &out->binding));
    CCG_TRY(get_b64(obj, "nonce", 1, CCG_ENDPOINT_NONCE_LEN, &nonce, &nonce_len));
    CCG_ENSURE_MSG(nonce_len == CCG_ENDPOINT_NONCE_LEN, CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: nonce is not 32 bytes");
    memcpy(out->nonce, nonce, CCG_ENDPOINT_NONCE_LEN);
    CCG_TRY(get_b64(obj, "key_config", 1, CCG_ENDPOINT_KEY_CONFIG_MAX, &out->key_config, &out->key_config_len));
    CCG_TRY(get_b64(obj, "report", 1, MAX_REPORT, &out->report, &out->report_len));
    CCG_TRY(get_b64(obj, "certs", 0, MAX_CERTS, &out->certs, &out->certs_len));
    CCG_TRY(get_b64(obj, "ccel", 0, MAX_CCEL, &out->ccel, &out->ccel_len));
    CCG_TRY(get_b64(obj, "ccel_data", 0, MAX_CCEL_DATA, &out->ccel_data, &out->ccel_data_len));
    result = CCG_SUCCESS;
cleanup:
    free(nonce);
    return result;
}

ccg_result ccg_endpoint_evidence_decode(const char *text, size_t len, ccg_endpoint_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *obj = NULL;
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(text != NULL && len <= CCG_ENDPOINT_EVIDENCE_MAX, CCG_R_CLIENT_EVIDENCE_MALFORMED,
                   "evidence: larger than %u bytes", CCG_ENDPOINT_EVIDENCE_MAX);
    obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(obj != NULL, CCG_R_CLIENT_EVIDENCE_MALFORMED, "evidence: not JSON (line %d)", jerr.line);
    CCG_TRY(decode_obj(obj, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(obj);
    if (ccg_failed(result)) {
        ccg_endpoint_evidence_free(out);
    }
    return result;
}

void ccg_endpoint_evidence_free(ccg_endpoint_evidence *doc)
{
    if (doc == NULL) {
        return;
    }
    free(doc->key_config);
    free(doc->report);
    free(doc->certs);
    free(doc->ccel);
    free(doc->ccel_data);
    memset(doc, 0, sizeof(*doc));
}
