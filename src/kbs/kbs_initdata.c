/* Confidential Containers init-data at /attest: the guest presents the TOML document it was launched
 * with ("init-data": {"format":"toml","body":...}, KBS 0.4.0); the broker hashes the body's exact bytes
 * with the algorithm the document names, as Trustee's attestation service does, and the result, padded
 * with zeros or truncated to the field, must equal HOST_DATA (SNP, 32 bytes) or MRCONFIGID (TDX, 48
 * bytes) of the verified evidence. A release policy may require init-data and pin its digests.
 *
 * Debian has no C TOML library, so the document is opaque bytes for the binding: only its top level is
 * read, and only as far as the one key the binding needs (algorithm). See docs/kbs.md, "Init-data". */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/snp_report.h"
#include "ccgate/tdx_quote.h"

static int is_space(char c) { return c == ' ' || c == '\t'; }

static int is_bare_key_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* One top-level line (no newline): blank or a comment gives *key_len 0; otherwise it must be
 * bare_key = "text" or 'text' (no escapes, no newline), optionally followed by a comment. */
static ccg_result top_level_line(const char *p, size_t n, const char **key, size_t *key_len, const char **val,
                                 size_t *val_len)
{
    ccg_result result = CCG_FAILURE;
    size_t i = 0;
    char quote;
    *key_len = 0;
    if (n > 0 && p[n - 1] == '\r') {
        n--;
    }
    while (i < n && is_space(p[i])) {
        i++;
    }
    if (i == n || p[i] == '#') {
        return CCG_SUCCESS;
    }
    *key = p + i;
    while (i < n && is_bare_key_char(p[i])) {
        i++;
    }
    *key_len = (size_t)(p + i - *key);
    CCG_ENSURE_MSG(*key_len > 0, CCG_R_KBS_INITDATA_MALFORMED,
                   "an init-data top-level line before the first table is not key = \"string\"");
    while (i < n && is_space(p[i])) {
        i++;
    }
    CCG_ENSURE_MSG(i < n && p[i] == '=', CCG_R_KBS_INITDATA_MALFORMED,
                   "an init-data top-level line before the first table is not key = \"string\"");
    i++;
    while (i < n && is_space(p[i])) {
        i++;
    }
    CCG_ENSURE_MSG(i < n && (p[i] == '"' || p[i] == '\''), CCG_R_KBS_INITDATA_MALFORMED,
                   "an init-data top-level value is not a one-line string");
    quote = p[i++];
    *val = p + i;
    while (i < n && p[i] != quote) {
        CCG_ENSURE_MSG(p[i] != '\\' && (unsigned char)p[i] >= 0x20, CCG_R_KBS_INITDATA_MALFORMED,
                       "an init-data top-level string holds an escape or a control character");
        i++;
    }
    CCG_ENSURE_MSG(i < n, CCG_R_KBS_INITDATA_MALFORMED, "an init-data top-level string is not closed");
    *val_len = (size_t)(p + i - *val);
    CCG_ENSURE_MSG(*val_len > 0 || (i + 1 < n && p[i + 1] != quote) || i + 1 == n, CCG_R_KBS_INITDATA_MALFORMED,
                   "an init-data top-level value is a multi-line string");
    i++;
    while (i < n && is_space(p[i])) {
        i++;
    }
    CCG_ENSURE_MSG(i == n || p[i] == '#', CCG_R_KBS_INITDATA_MALFORMED,
                   "an init-data top-level line has text after its value");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The top-level "algorithm" value: exactly once, before the first table header. */
static ccg_result find_algorithm(const char *body, size_t len, char out[8])
{
    ccg_result result = CCG_FAILURE;
    size_t pos = 0;
    int found = 0;
    while (pos < len) {
        const char *line = body + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl != NULL ? (size_t)(nl - line) : len - pos;
        const char *key = NULL, *val = NULL;
        size_t key_len = 0, val_len = 0, lead = 0;
        while (lead < n && is_space(line[lead])) {
            lead++;
        }
        if (lead < n && line[lead] == '[') {
            break; /* the first table ([data]): the top level ends */
        }
        CCG_TRY(top_level_line(line, n, &key, &key_len, &val, &val_len));
        if (key_len == 9 && memcmp(key, "algorithm", 9) == 0) {
            CCG_ENSURE_MSG(!found, CCG_R_KBS_INITDATA_MALFORMED, "the init-data names its algorithm twice");
            found = 1;
            CCG_ENSURE_MSG((val_len == 6 && (memcmp(val, "sha256", 6) == 0 || memcmp(val, "sha384", 6) == 0 ||
                                             memcmp(val, "sha512", 6) == 0)),
                           CCG_R_KBS_INITDATA_ALGORITHM_UNSUPPORTED,
                           "the init-data algorithm \"%.*s\" is not sha256, sha384 or sha512",
                           (int)(val_len < 16 ? val_len : 16), val);
            memcpy(out, val, 6);
            out[6] = 0;
        }
        pos += n + 1;
    }
    CCG_ENSURE_MSG(found, CCG_R_KBS_INITDATA_MALFORMED,
                   "the init-data names no algorithm (algorithm = \"sha256\" | \"sha384\" | \"sha512\")");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_initdata_from_toml(const char *body, size_t len, ccg_kbs_initdata *out)
{
    ccg_result result = CCG_FAILURE;
    const char *md_name;
    unsigned int md_len = 0;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(body != NULL && len > 0 && len <= CCG_KBS_INITDATA_MAX, CCG_R_KBS_INITDATA_TOO_LARGE,
                   "the init-data body is %zu bytes (1 to %u)", len, CCG_KBS_INITDATA_MAX);
    CCG_ENSURE_MSG(memchr(body, 0, len) == NULL, CCG_R_KBS_INITDATA_MALFORMED, "the init-data body holds a NUL");
    CCG_TRY(find_algorithm(body, len, out->algorithm));
    md_name = strcmp(out->algorithm, "sha256") == 0 ? "SHA256" : strcmp(out->algorithm, "sha384") == 0 ? "SHA384"
                                                                                                       : "SHA512";
    /* The body's exact bytes, not a re-serialisation: what the host hashed into the launch. */
    CCG_ENSURE_OSSL(EVP_Digest(body, len, out->digest, &md_len, EVP_get_digestbyname(md_name), NULL) == 1 &&
                        md_len <= sizeof(out->digest),
                    CCG_R_INTERNAL_CRYPTO);
    out->digest_len = md_len;
    out->present = 1;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        memset(out, 0, sizeof(*out));
    }
    return result;
}

ccg_result ccg_kbs_initdata_parse(const json_t *member, ccg_kbs_initdata *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *format = json_object_get(member, "format"), *body = json_object_get(member, "body");
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_is_object(member) && json_object_size(member) == 2 && json_is_string(format) &&
                       json_is_string(body),
                   CCG_R_KBS_INITDATA_MALFORMED, "\"init-data\" must be {\"format\":\"toml\",\"body\":<string>}");
    CCG_ENSURE_MSG(strcmp(json_string_value(format), "toml") == 0, CCG_R_KBS_INITDATA_MALFORMED,
                   "init-data format \"%.16s\" is not supported (toml is)", json_string_value(format));
    CCG_TRY(ccg_kbs_initdata_from_toml(json_string_value(body), json_string_length(body), out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_kbs_initdata_field(const ccg_kbs_initdata *id, uint8_t *field, size_t field_len)
{
    size_t n = id->digest_len < field_len ? id->digest_len : field_len;
    memset(field, 0, field_len);
    memcpy(field, id->digest, n);
}

/* The TEE field of the evidence: HOST_DATA of an SNP report, MRCONFIGID of a TDX quote's TD report. */
static ccg_result evidence_field(const char *tee, const ccg_kbs_snp_evidence *snp, const ccg_kbs_tdx_evidence *tdx,
                                 uint8_t field[48], size_t *field_len, const char **name)
{
    ccg_result result = CCG_FAILURE;
    if (strcmp(tee, "tdx") == 0) {
        ccg_tdx_quote q;
        CCG_ENSURE(tdx != NULL && tdx->quote != NULL, CCG_R_USAGE_INVALID);
        CCG_TRY(ccg_tdx_quote_parse(tdx->quote, tdx->quote_len, &q));
        memcpy(field, q.td.mrconfigid, 48);
        *field_len = 48;
        *name = "mrconfigid";
    } else {
        ccg_snp_report r;
        CCG_ENSURE(snp != NULL, CCG_R_USAGE_INVALID);
        CCG_TRY(ccg_snp_report_parse(snp->report, CCG_SNP_REPORT_SIZE, &r));
        memcpy(field, r.host_data, 32);
        *field_len = 32;
        *name = "host_data";
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void kbs_initdata_check_binding(const char *tee, const ccg_kbs_snp_evidence *snp, const ccg_kbs_tdx_evidence *tdx,
                                const ccg_kbs_initdata *id, ccg_decision *d)
{
    uint8_t field[48], want[48];
    size_t field_len = 0;
    const char *name = NULL;
    if (!id->present) {
        return;
    }
    if (ccg_failed(evidence_field(tee, snp, tdx, field, &field_len, &name))) {
        /* Evidence that cannot be parsed is denied by its verifier already; this names it too. */
        ccg_decision_deny(d, ccg_error_reason(), NULL);
        ccg_error_clear();
        return;
    }
    ccg_kbs_initdata_field(id, want, field_len);
    if (CRYPTO_memcmp(want, field, field_len) != 0) {
        ccg_decision_deny(d, CCG_R_KBS_INITDATA_MISMATCH, json_pack("{s:s,s:s}", "field", name, "algorithm",
                                                                   id->algorithm));
    }
}

void kbs_initdata_check_policy(const ccg_kbs_policy *p, const ccg_kbs_initdata *id, ccg_decision *d)
{
    int listed = p->initdata_digest_count == 0;
    if (!id->present) {
        if (p->initdata_required) {
            ccg_decision_deny(d, CCG_R_KBS_INITDATA_MISSING, NULL);
        }
        return;
    }
    for (size_t i = 0; i < p->initdata_digest_count; i++) {
        listed |= p->initdata_digests[i].len == id->digest_len &&
                  memcmp(p->initdata_digests[i].digest, id->digest, id->digest_len) == 0;
    }
    if (!listed) {
        char hex[129];
        ccg_hex_encode(id->digest, id->digest_len, hex);
        ccg_decision_deny(d, CCG_R_KBS_INITDATA_NOT_ALLOWED, json_pack("{s:s,s:s}", "algorithm", id->algorithm,
                                                                      "digest", hex));
    }
}

void kbs_initdata_check(const ccg_kbs_policy *p, const char *tee, const ccg_kbs_attestation *att, ccg_decision *d)
{
    kbs_initdata_check_binding(tee, &att->snp, &att->tdx, &att->init_data, d);
    kbs_initdata_check_policy(p, &att->init_data, d);
    if (att->init_data.present && json_is_object(d->claims)) {
        char hex[129];
        ccg_hex_encode(att->init_data.digest, att->init_data.digest_len, hex);
        json_object_set_new(d->claims, "init_data", json_pack("{s:s,s:s}", "algorithm", att->init_data.algorithm,
                                                              "digest", hex));
    }
}

json_t *kbs_initdata_to_json(const ccg_kbs_initdata *id)
{
    char hex[129];
    if (!id->present) {
        return json_null();
    }
    ccg_hex_encode(id->digest, id->digest_len, hex);
    return json_pack("{s:s,s:s}", "algorithm", id->algorithm, "digest", hex);
}

ccg_result kbs_initdata_from_json(const json_t *v, ccg_kbs_initdata *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *alg = json_object_get(v, "algorithm"), *digest = json_object_get(v, "digest");
    size_t n;
    memset(out, 0, sizeof(*out));
    if (v == NULL || json_is_null(v)) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE(json_is_string(alg) && json_string_length(alg) == 6 && json_is_string(digest), CCG_R_STORE_CORRUPT);
    n = json_string_length(digest) / 2;
    CCG_ENSURE((n == 32 || n == 48 || n == 64) && json_string_length(digest) == 2 * n, CCG_R_STORE_CORRUPT);
    CCG_TRY(ccg_hex_decode_exact(json_string_value(digest), out->digest, n));
    memcpy(out->algorithm, json_string_value(alg), 7);
    out->digest_len = n;
    out->present = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void kbs_initdata_check_record(const ccg_kbs_policy *p, const json_t *rec, ccg_decision *d)
{
    ccg_kbs_initdata id;
    if (ccg_failed(kbs_initdata_from_json(json_object_get(rec, "init_data"), &id))) {
        ccg_decision_deny(d, ccg_error_reason(), NULL);
        ccg_error_clear();
        return;
    }
    kbs_initdata_check_policy(p, &id, d);
}

/* "digests": hex of 32, 48 or 64 bytes (lower or upper case), at most CCG_KBS_MAX_INITDATA_DIGESTS. */
static ccg_result parse_digests(const json_t *v, ccg_kbs_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    const json_t *entry;
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= CCG_KBS_MAX_INITDATA_DIGESTS,
                   CCG_R_KBS_POLICY_INVALID, "init_data.digests must be an array of 1 to %u hex digests",
                   CCG_KBS_MAX_INITDATA_DIGESTS);
    json_array_foreach(v, i, entry) {
        size_t n = json_is_string(entry) ? json_string_length(entry) / 2 : 0;
        CCG_ENSURE_MSG((n == 32 || n == 48 || n == 64) && json_string_length(entry) == 2 * n &&
                           ccg_hex_is_valid(json_string_value(entry), n),
                       CCG_R_KBS_POLICY_INVALID,
                       "init_data.digests[%zu] is not the hex of a sha256, sha384 or sha512 digest", i);
        CCG_TRY(ccg_hex_decode_exact(json_string_value(entry), p->initdata_digests[i].digest, n));
        p->initdata_digests[i].len = n;
        p->initdata_digest_count = i + 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_initdata_policy_parse(const json_t *section, ccg_kbs_policy *p)
{
    ccg_result result = CCG_FAILURE;
    const json_t *required, *digests, *v;
    const char *name;
    if (section == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_object(section), CCG_R_KBS_POLICY_INVALID,
                   "init_data must be an object {\"required\":bool,\"digests\":[hex..]}");
    json_object_foreach((json_t *)section, name, v) {
        CCG_ENSURE_MSG(strcmp(name, "required") == 0 || strcmp(name, "digests") == 0, CCG_R_KBS_POLICY_INVALID,
                       "unknown init_data member \"%.64s\"", name);
    }
    required = json_object_get(section, "required");
    digests = json_object_get(section, "digests");
    CCG_ENSURE_MSG(required == NULL || json_is_boolean(required), CCG_R_KBS_POLICY_INVALID,
                   "init_data.required must be a boolean");
    /* A list of digests with required false would release to a guest that hides its init-data. */
    CCG_ENSURE_MSG(digests == NULL || !json_is_false(required), CCG_R_KBS_POLICY_INVALID,
                   "init_data.digests requires init-data: it contradicts \"required\": false");
    if (digests != NULL) {
        CCG_TRY(parse_digests(digests, p));
    }
    p->initdata_required = json_is_true(required) || digests != NULL;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
