/* Parsers for the KBS request bodies: Request, Attestation and the SNP evidence inside it.
 * Every body is untrusted: sizes are bounded, types checked, duplicates refused. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ccgate/error.h"

#define MAX_CERT_LEN (16u * 1024u)

static int known_member(const char *name, const char *const *known, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(name, known[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static ccg_result load_object(const char *body, size_t len, size_t max, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    *out = NULL;
    CCG_ENSURE(len <= max, CCG_R_INPUT_TOO_LARGE);
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(*out != NULL, CCG_R_KBS_REQUEST_MALFORMED, "the body is not JSON (line %d: %s)", jerr.line,
                   jerr.text);
    CCG_ENSURE_MSG(json_is_object(*out), CCG_R_KBS_REQUEST_MALFORMED, "the body is not a JSON object");
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        json_decref(*out);
        *out = NULL;
    }
    return result;
}

static ccg_result copy_string(const json_t *v, const char *what, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" must be a string", what);
    CCG_ENSURE_MSG(json_string_length(v) > 0 && json_string_length(v) < cap &&
                       strlen(json_string_value(v)) == json_string_length(v),
                   CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" is empty or too long", what);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_request_parse(const char *body, size_t len, ccg_kbs_request *out)
{
    static const char *const known[] = {"version", "tee", "extra-params"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL, *v;
    const char *name;
    ccg_error_clear();
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, CCG_KBS_MAX_BODY, &root));
    json_object_foreach(root, name, v) {
        CCG_ENSURE_MSG(known_member(name, known, 3), CCG_R_KBS_REQUEST_MALFORMED, "unknown Request member \"%.64s\"",
                       name);
    }
    CCG_TRY(copy_string(json_object_get(root, "version"), "version", out->version, sizeof(out->version)));
    CCG_TRY(copy_string(json_object_get(root, "tee"), "tee", out->tee, sizeof(out->tee)));
    v = json_object_get(root, "extra-params");
    /* Guests send an object, or (older ones) a string; both are accepted and not interpreted. */
    CCG_ENSURE_MSG(v == NULL || json_is_object(v) || json_is_string(v), CCG_R_KBS_REQUEST_MALFORMED,
                   "\"extra-params\" must be an object or a string");
    CCG_ENSURE_MSG(strcmp(out->version, CCG_KBS_PROTOCOL_VERSION) == 0, CCG_R_KBS_VERSION_UNSUPPORTED,
                   "protocol version %s is not supported (%s is)", out->version, CCG_KBS_PROTOCOL_VERSION);
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    return result;
}

/* Standard base64 (with padding) or an array of byte values. */
ccg_result kbs_decode_bytes(const json_t *v, const char *what, size_t max, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t n = 0;
    *out = NULL;
    *out_len = 0;
    if (json_is_array(v)) {
        n = json_array_size(v);
        CCG_ENSURE_MSG(n > 0 && n <= max, CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" has a bad length", what);
        buf = malloc(n);
        CCG_ENSURE_ALLOC(buf);
        for (size_t i = 0; i < n; i++) {
            const json_t *b = json_array_get(v, i);
            CCG_ENSURE_MSG(json_is_integer(b) && json_integer_value(b) >= 0 && json_integer_value(b) <= 255,
                           CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" must hold byte values", what);
            buf[i] = (uint8_t)json_integer_value(b);
        }
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t slen = json_string_length(v);
        int dec;
        size_t pad = 0;
        CCG_ENSURE_MSG(slen > 0 && slen % 4 == 0 && slen / 4 * 3 <= max + 2 && strlen(s) == slen,
                       CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" is not base64 of an acceptable length", what);
        for (size_t i = 0; i < slen; i++) {
            char c = s[i];
            int alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                        c == '/';
            int padc = c == '=' && i >= slen - 2;
            CCG_ENSURE_MSG(alnum || padc, CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" is not base64", what);
            CCG_ENSURE_MSG(!alnum || pad == 0, CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" is not base64", what);
            pad += padc;
        }
        buf = malloc(slen / 4 * 3);
        CCG_ENSURE_ALLOC(buf);
        dec = EVP_DecodeBlock(buf, (const unsigned char *)s, (int)slen);
        CCG_ENSURE_MSG(dec >= 0 && (size_t)dec >= pad, CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" is not base64", what);
        n = (size_t)dec - pad;
        CCG_ENSURE_MSG(n > 0 && n <= max, CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" has a bad length", what);
    } else {
        CCG_BAIL(CCG_R_KBS_REQUEST_MALFORMED, "\"%s\" must be base64 text or an array of bytes", what);
    }
    *out = buf;
    *out_len = n;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    return result;
}

ccg_result ccg_kbs_snp_evidence_from_json(const json_t *ev, ccg_kbs_snp_evidence *out)
{
    static const char *const known[] = {"attestation_report", "cert_chain"};
    ccg_result result = CCG_FAILURE;
    uint8_t *report = NULL;
    size_t report_len = 0;
    const json_t *chain, *v;
    const char *name;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_is_object(ev), CCG_R_KBS_REQUEST_MALFORMED, "the SNP evidence must be a JSON object");
    json_object_foreach((json_t *)ev, name, v) {
        CCG_ENSURE_MSG(known_member(name, known, 2), CCG_R_KBS_REQUEST_MALFORMED,
                       "unknown SNP evidence member \"%.64s\"", name);
    }
    v = json_object_get(ev, "attestation_report");
    if (json_is_object(v)) {
        /* The sev crate's field-wise serialisation (what guest-components' SNP attester sends). */
        CCG_TRY(kbs_sev_report_from_json(v, out->report));
    } else {
        CCG_TRY(kbs_decode_bytes(v, "attestation_report", CCG_SNP_REPORT_SIZE, &report, &report_len));
        CCG_ENSURE_MSG(report_len == CCG_SNP_REPORT_SIZE, CCG_R_SNP_REPORT_SIZE_INVALID,
                       "the attestation report is %zu bytes, not %u", report_len, CCG_SNP_REPORT_SIZE);
        memcpy(out->report, report, CCG_SNP_REPORT_SIZE);
    }
    chain = json_object_get(ev, "cert_chain");
    if (chain != NULL && !json_is_null(chain)) {
        size_t i;
        const json_t *entry;
        CCG_ENSURE_MSG(json_is_array(chain) && json_array_size(chain) <= 8, CCG_R_KBS_REQUEST_MALFORMED,
                       "\"cert_chain\" must be an array of at most 8 entries");
        json_array_foreach(chain, i, entry) {
            const json_t *type;
            CCG_ENSURE_MSG(json_is_object(entry) && json_object_size(entry) == 2, CCG_R_KBS_REQUEST_MALFORMED,
                           "a cert_chain entry must be {\"cert_type\",\"data\"}");
            type = json_object_get(entry, "cert_type");
            CCG_ENSURE_MSG(json_is_string(type) || json_is_object(type), CCG_R_KBS_REQUEST_MALFORMED,
                           "a cert_chain entry's cert_type must be a string");
            CCG_TRY(kbs_decode_bytes(json_object_get(entry, "data"), "cert_chain.data", MAX_CERT_LEN, &out->certs[i],
                                 &out->cert_lens[i]));
            out->cert_count = i + 1;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    free(report);
    if (ccg_failed(result)) {
        ccg_kbs_snp_evidence_free(out);
    }
    return result;
}

char *kbs_b64_std(const uint8_t *in, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    }
    return out;
}

json_t *ccg_kbs_snp_evidence_to_json(const ccg_kbs_snp_evidence *e)
{
    json_t *chain = json_array(), *obj = NULL;
    char *report = kbs_b64_std(e->report, CCG_SNP_REPORT_SIZE);
    if (chain == NULL || report == NULL) {
        goto cleanup;
    }
    for (size_t i = 0; i < e->cert_count; i++) {
        char *d = kbs_b64_std(e->certs[i], e->cert_lens[i]);
        if (d == NULL || json_array_append_new(chain, json_pack("{s:s,s:s}", "cert_type", "cert", "data", d)) != 0) {
            free(d);
            goto cleanup;
        }
        free(d);
    }
    obj = json_pack("{s:s,s:O}", "attestation_report", report, "cert_chain", chain);
cleanup:
    free(report);
    json_decref(chain);
    return obj;
}

void ccg_kbs_snp_evidence_free(ccg_kbs_snp_evidence *e)
{
    for (size_t i = 0; i < e->cert_count && i < 8; i++) {
        free(e->certs[i]);
    }
    memset(e, 0, sizeof(*e));
}

/* The primary evidence in the form of the session's TEE. */
static ccg_result primary_from_json(const json_t *primary, const char *tee, ccg_kbs_attestation *out)
{
    if (strcmp(tee, "tdx") == 0) {
        out->is_tdx = 1;
        return ccg_kbs_tdx_evidence_from_json(primary, &out->tdx);
    }
    return ccg_kbs_snp_evidence_from_json(primary, &out->snp);
}

ccg_result ccg_kbs_attestation_parse_shape(const char *body, size_t len, ccg_kbs_attestation *out)
{
    return ccg_kbs_attestation_parse_shape_tee(body, len, "snp", out);
}

ccg_result ccg_kbs_attestation_parse_shape_tee(const char *body, size_t len, const char *tee,
                                               ccg_kbs_attestation *out)
{
    static const char *const known[] = {"runtime-data", "tee-evidence", "init-data"};
    static const char *const rt_known[] = {"nonce", "tee-pubkey"};
    static const char *const te_known[] = {"primary_evidence", "additional_evidence"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL, *rt, *te, *v, *primary;
    const char *name;
    ccg_error_clear();
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(strcmp(tee, "snp") == 0 || strcmp(tee, "tdx") == 0, CCG_R_KBS_TEE_NOT_ALLOWED,
                   "no evidence form for TEE \"%.32s\"", tee);
    CCG_TRY(load_object(body, len, CCG_KBS_MAX_ATTEST_BODY, &root));
    json_object_foreach(root, name, v) {
        CCG_ENSURE_MSG(known_member(name, known, 3), CCG_R_KBS_REQUEST_MALFORMED,
                       "unknown Attestation member \"%.64s\"", name);
    }
    rt = json_object_get(root, "runtime-data");
    CCG_ENSURE_MSG(json_is_object(rt), CCG_R_KBS_REQUEST_MALFORMED, "\"runtime-data\" must be an object");
    json_object_foreach(rt, name, v) {
        CCG_ENSURE_MSG(known_member(name, rt_known, 2), CCG_R_KBS_REQUEST_MALFORMED,
                       "unknown runtime-data member \"%.64s\"", name);
    }
    CCG_TRY(copy_string(json_object_get(rt, "nonce"), "runtime-data.nonce", out->nonce, sizeof(out->nonce)));
    v = json_object_get(rt, "tee-pubkey");
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_KBS_REQUEST_MALFORMED, "\"runtime-data.tee-pubkey\" must be a JWK");
    out->tee_pubkey_json = json_incref(v); /* parsed by ccg_kbs_attestation_parse_key, after the nonce */

    v = json_object_get(root, "init-data");
    if (v != NULL && !json_is_null(v)) {
        CCG_TRY(ccg_kbs_initdata_parse(v, &out->init_data));
    }

    te = json_object_get(root, "tee-evidence");
    CCG_ENSURE_MSG(json_is_object(te), CCG_R_KBS_REQUEST_MALFORMED, "\"tee-evidence\" must be an object");
    json_object_foreach(te, name, v) {
        CCG_ENSURE_MSG(known_member(name, te_known, 2), CCG_R_KBS_REQUEST_MALFORMED,
                       "unknown tee-evidence member \"%.64s\"", name);
    }
    v = json_object_get(te, "additional_evidence");
    CCG_ENSURE_MSG(v == NULL || json_is_string(v), CCG_R_KBS_REQUEST_MALFORMED,
                   "\"additional_evidence\" must be a string");
    out->additional_evidence = strdup(v == NULL ? "" : json_string_value(v));
    CCG_ENSURE_ALLOC(out->additional_evidence);
    CCG_ENSURE_MSG(v == NULL || strlen(out->additional_evidence) == json_string_length(v),
                   CCG_R_KBS_REQUEST_MALFORMED, "\"additional_evidence\" holds a NUL");
    primary = json_object_get(te, "primary_evidence");
    /* The attester's evidence is a JSON document; a guest may send it as an object or as text. */
    if (json_is_string(primary)) {
        json_error_t jerr;
        json_t *parsed = json_loadb(json_string_value(primary), json_string_length(primary), JSON_REJECT_DUPLICATES,
                                    &jerr);
        CCG_ENSURE_MSG(parsed != NULL, CCG_R_KBS_REQUEST_MALFORMED, "\"primary_evidence\" text is not JSON");
        result = primary_from_json(parsed, tee, out);
        json_decref(parsed);
        CCG_TRY(result);
        result = CCG_FAILURE;
    } else {
        CCG_TRY(primary_from_json(primary, tee, out));
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        ccg_kbs_attestation_free(out);
    }
    return result;
}

/* The members a tee-pubkey may carry: TeePubKey's (kty, crv, x, y / kty, n, e, and alg) and "use".
 * REPORT_DATA binds the canonical key only, so any other member would be signed unattested. */
static ccg_result tee_pubkey_members(const json_t *jwk)
{
    static const char *const ec[] = {"kty", "crv", "x", "y", "alg", "use"};
    static const char *const rsa[] = {"kty", "n", "e", "alg", "use"};
    ccg_result result = CCG_FAILURE;
    const json_t *kty = json_object_get(jwk, "kty");
    int is_rsa = json_is_string(kty) && strcmp(json_string_value(kty), "RSA") == 0;
    const char *name;
    json_t *v;
    json_object_foreach((json_t *)jwk, name, v) {
        CCG_ENSURE_MSG(is_rsa ? known_member(name, rsa, 5) : known_member(name, ec, 6),
                       CCG_R_KBS_TEE_PUBKEY_MEMBER_UNKNOWN, "tee-pubkey member \"%.64s\" is not accepted", name);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_attestation_parse_key(ccg_kbs_attestation *a)
{
    ccg_result result = CCG_FAILURE;
    json_t *canonical = NULL;
    ccg_error_clear();
    CCG_ENSURE(a->tee_pubkey == NULL && json_is_object(a->tee_pubkey_json), CCG_R_USAGE_INVALID);
    CCG_TRY(tee_pubkey_members(a->tee_pubkey_json));
    CCG_TRY(ccg_jwk_parse(a->tee_pubkey_json, &a->tee_pubkey));
    /* From here on the key is what was parsed: the token and the session carry nothing else. */
    canonical = ccg_jwk_to_json(a->tee_pubkey);
    CCG_ENSURE_ALLOC(canonical);
    json_decref(a->tee_pubkey_json);
    a->tee_pubkey_json = canonical;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_attestation_parse(const char *body, size_t len, ccg_kbs_attestation *out)
{
    return ccg_kbs_attestation_parse_tee(body, len, "snp", out);
}

ccg_result ccg_kbs_attestation_parse_tee(const char *body, size_t len, const char *tee, ccg_kbs_attestation *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_kbs_attestation_parse_shape_tee(body, len, tee, out));
    CCG_TRY(ccg_kbs_attestation_parse_key(out));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_kbs_attestation_free(out);
    }
    return result;
}

void ccg_kbs_attestation_free(ccg_kbs_attestation *a)
{
    ccg_jwk_free(a->tee_pubkey);
    json_decref(a->tee_pubkey_json);
    free(a->additional_evidence);
    ccg_kbs_snp_evidence_free(&a->snp);
    ccg_kbs_tdx_evidence_free(&a->tdx);
    memset(a, 0, sizeof(*a));
}
