/* Parsing of reference-value records and sets. Strict: every member known, typed and bounded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/refvalue.h"

#define REFVAL_MAX_BYTES (4u << 20)
#define SNP_MEASUREMENT_BYTES 48
#define TDX_MEASUREMENT_BYTES 48

static const char *const TDX_FIELDS[CCG_REFVAL_TDX_FIELDS] = {"rtmr0",  "rtmr1",   "rtmr2",         "rtmr3",
                                                                "mrconfigid", "mrowner", "mrownerconfig", "mrservicetd"};

const char *ccg_refval_tdx_field_name(size_t i)
{
    return i < CCG_REFVAL_TDX_FIELDS ? TDX_FIELDS[i] : NULL;
}

static ccg_result get_id(const json_t *obj, const char *key, int required, char *out, size_t out_len)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, key);
    out[0] = '\0';
    if (v == NULL && !required) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < out_len,
                   CCG_R_REFVAL_MALFORMED, "'%s' must be a non-empty string under %zu bytes", key, out_len);
    for (const char *c = json_string_value(v); *c; c++) {
        CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_REFVAL_MALFORMED, "'%s' must be printable ASCII", key);
    }
    snprintf(out, out_len, "%s", json_string_value(v));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_time(const json_t *obj, const char *key, ccg_time *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, key);
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_REFVAL_MALFORMED, "'%s' must be an RFC 3339 time", key);
    if (ccg_failed(ccg_time_parse_rfc3339(json_string_value(v), out))) {
        ccg_error_clear(); /* the record's own code says more than the time parser's */
        CCG_BAIL(CCG_R_REFVAL_MALFORMED, "'%s' is not an RFC 3339 time", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_measurement(const json_t *obj, ccg_refval_record *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, "measurement");
    size_t n = json_string_length(v) / 2;
    CCG_ENSURE_MSG(json_is_string(v) && (n == 32 || n == 48 || n == 64) &&
                       ccg_hex_is_valid(json_string_value(v), n),
                   CCG_R_REFVAL_MALFORMED, "'measurement' must be 32, 48 or 64 bytes of hex");
    CCG_TRY(ccg_hex_decode_exact(json_string_value(v), out->measurement, n));
    out->measurement_len = n;
    /* An SNP MEASUREMENT is SHA-384: any other length could never match and only hides a typo. */
    CCG_ENSURE_MSG(strcmp(out->tee, "snp") != 0 || n == SNP_MEASUREMENT_BYTES, CCG_R_REFVAL_MALFORMED,
                   "an \"snp\" record's 'measurement' must be 48 bytes of hex");
    /* A "tdx" record's measurement is MRTD, SHA-384 too. */
    CCG_ENSURE_MSG(strcmp(out->tee, "tdx") != 0 || n == TDX_MEASUREMENT_BYTES, CCG_R_REFVAL_MALFORMED,
                   "a \"tdx\" record's 'measurement' (MRTD) must be 48 bytes of hex");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "tdx": {"rtmr0": "<96 hex>", ...}: the TD registers the record pins beside MRTD; only on "tdx" records. */
static ccg_result get_tdx_fields(const json_t *obj, ccg_refval_record *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *tdx = json_object_get(obj, "tdx");
    const char *key;
    json_t *v;
    if (tdx == NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(strcmp(out->tee, "tdx") == 0, CCG_R_REFVAL_MALFORMED, "only a \"tdx\" record may have 'tdx'");
    CCG_ENSURE_MSG(json_is_object(tdx) && json_object_size(tdx) > 0, CCG_R_REFVAL_MALFORMED,
                   "'tdx' must be an object naming at least one register");
    json_object_foreach((json_t *)tdx, key, v) {
        size_t i = 0;
        while (i < CCG_REFVAL_TDX_FIELDS && strcmp(key, TDX_FIELDS[i]) != 0) {
            i++;
        }
        CCG_ENSURE_MSG(i < CCG_REFVAL_TDX_FIELDS, CCG_R_REFVAL_MALFORMED, "unknown 'tdx' register '%.64s'", key);
        CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) == 96 && ccg_hex_is_valid(json_string_value(v), 48),
                       CCG_R_REFVAL_MALFORMED, "'tdx.%s' must be 48 bytes of hex", key);
        CCG_TRY(ccg_hex_decode_exact(json_string_value(v), out->tdx[i], 48));
        out->tdx_mask |= 1u << i;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_members(const json_t *obj)
{
    static const char *const known[] = {"id",        "tee",       "measurement", "launch_inputs", "build_id",
                                        "not_before", "not_after", "issuer",      "signature",     "tdx"};
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]) && !ok; i++) {
            ok = strcmp(key, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_REFVAL_MALFORMED, "unknown reference-value member '%.64s'", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The record must have signing bytes (docs/reference-values.md): no reals, no integers beyond 2^53,
 * valid UTF-8, bounded nesting. Refused here so that it is malformed, not "signature_invalid". */
static ccg_result check_canonical(const json_t *obj)
{
    ccg_result result = CCG_FAILURE;
    char *bytes = NULL;
    size_t len = 0;
    if (ccg_failed(ccg_refval_signing_bytes(obj, &bytes, &len))) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_REFVAL_MALFORMED, "the record has no canonical form (reals, integers beyond 2^53, "
                                         "invalid UTF-8 or deep nesting)");
    }
    result = CCG_SUCCESS;
cleanup:
    free(bytes);
    return result;
}

static ccg_result check_signature_shape(const json_t *sig)
{
    ccg_result result = CCG_FAILURE;
    const char *alg = json_string_value(json_object_get(sig, "alg"));
    CCG_ENSURE_MSG(json_is_object(sig) && json_object_size(sig) == 2 && alg != NULL &&
                       (strcmp(alg, "ES384") == 0 || strcmp(alg, "Ed25519") == 0) &&
                       json_is_string(json_object_get(sig, "value")),
                   CCG_R_REFVAL_MALFORMED, "'signature' must be {\"alg\": \"ES384\"|\"Ed25519\", \"value\": base64url}");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_refval_record_parse(const json_t *obj, ccg_refval_record *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *sig = NULL, *inputs = NULL;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_is_object(obj), CCG_R_REFVAL_MALFORMED, "a reference value must be a JSON object");
    CCG_TRY(check_members(obj));
    CCG_TRY(get_id(obj, "id", 1, out->id, sizeof(out->id)));
    CCG_TRY(get_id(obj, "tee", 1, out->tee, sizeof(out->tee)));
    CCG_TRY(get_measurement(obj, out));
    CCG_TRY(get_tdx_fields(obj, out));
    CCG_TRY(get_id(obj, "build_id", 1, out->build_id, sizeof(out->build_id)));
    CCG_TRY(get_time(obj, "not_before", &out->not_before));
    CCG_TRY(get_time(obj, "not_after", &out->not_after));
    CCG_ENSURE_MSG(out->not_before <= out->not_after, CCG_R_REFVAL_MALFORMED, "'not_before' is after 'not_after'");
    inputs = json_object_get(obj, "launch_inputs");
    CCG_ENSURE_MSG(inputs == NULL || json_is_object(inputs), CCG_R_REFVAL_MALFORMED, "'launch_inputs' must be an object");
    CCG_TRY(get_id(obj, "issuer", 0, out->issuer, sizeof(out->issuer)));
    CCG_TRY(check_canonical(obj));
    sig = json_object_get(obj, "signature");
    if (sig != NULL) {
        CCG_TRY(check_signature_shape(sig));
        CCG_ENSURE_MSG(out->issuer[0] != '\0', CCG_R_REFVAL_MALFORMED, "a signed record must name its 'issuer'");
        out->has_signature = 1;
    }
    out->doc = json_deep_copy(obj);
    CCG_ENSURE_ALLOC(out->doc);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_refval_record_free(ccg_refval_record *r)
{
    json_decref(r->doc);
    memset(r, 0, sizeof(*r));
}

void ccg_refval_set_free(ccg_refval_set *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < set->count; i++) {
        ccg_refval_record_free(&set->records[i]);
    }
    free(set->records);
    free(set);
}

static ccg_result parse_records(const json_t *arr, ccg_refval_set *set)
{
    ccg_result result = CCG_FAILURE;
    size_t n = json_array_size(arr);
    CCG_ENSURE_MSG(json_is_array(arr) && n > 0 && n <= CCG_REFVAL_MAX_RECORDS, CCG_R_REFVAL_MALFORMED,
                   "'records' must hold 1 to %d records", CCG_REFVAL_MAX_RECORDS);
    set->records = calloc(n, sizeof(*set->records));
    CCG_ENSURE_ALLOC(set->records);
    for (size_t i = 0; i < n; i++) {
        CCG_TRY(ccg_refval_record_parse(json_array_get(arr, i), &set->records[i]));
        set->count++;
        /* Denials name a record by ID and issuer, so that pair must name one record. One ID under two
         * issuers is allowed: the same record signed by an old and a new key during a rotation. */
        for (size_t j = 0; j < i; j++) {
            CCG_ENSURE_MSG(strcmp(set->records[j].id, set->records[i].id) != 0 ||
                               strcmp(set->records[j].issuer, set->records[i].issuer) != 0,
                           CCG_R_REFVAL_MALFORMED, "record '%s' of issuer '%s' occurs twice in the set",
                           set->records[i].id, set->records[i].issuer);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_refval_set_parse(const char *text, size_t len, ccg_refval_set **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *root = NULL, *single = NULL;
    ccg_refval_set *set = calloc(1, sizeof(*set));
    CCG_ENSURE_ALLOC(set);
    CCG_ENSURE_MSG(len <= REFVAL_MAX_BYTES, CCG_R_REFVAL_MALFORMED, "reference values larger than %u bytes",
                   REFVAL_MAX_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(json_is_object(root), CCG_R_REFVAL_MALFORMED, "line %d: %.120s", jerr.line,
                   root ? "not a JSON object" : jerr.text);
    if (json_object_get(root, "records") == NULL) {
        /* A lone record is a set of one, named after the record. */
        single = json_pack("[O]", root);
        CCG_ENSURE_ALLOC(single);
        CCG_TRY(parse_records(single, set));
        snprintf(set->set_id, sizeof(set->set_id), "%s", set->records[0].id);
        set->version = 1;
    } else {
        const json_t *version = json_object_get(root, "version");
        CCG_ENSURE_MSG(json_object_size(root) == 3 && json_is_integer(version) && json_integer_value(version) >= 1,
                       CCG_R_REFVAL_MALFORMED, "a set is {\"set_id\", \"version\" (>= 1), \"records\"}");
        CCG_TRY(get_id(root, "set_id", 1, set->set_id, sizeof(set->set_id)));
        set->version = json_integer_value(version);
        CCG_TRY(parse_records(json_object_get(root, "records"), set));
    }
    *out = set;
    set = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_refval_set_free(set);
    json_decref(single);
    json_decref(root);
    return result;
}
