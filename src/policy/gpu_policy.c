/* Parsing of GPU policy documents (docs/gpu-policy.md). Strict: every member must be known, every
 * value of its type and range. Absent members take the secure defaults of ccg_gpu_policy_default. */
#include "ccgate/gpu_policy.h"

#include <ctype.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_verify.h"
#include "ccgate/policy_json.h"
#include "ccgate/util.h"

#define POLICY_MAX_BYTES (1u << 20)

static void set_defaults(ccg_gpu_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->min_count = 1;
    p->max_count = CCG_GPU_MAX_GPUS;
    p->allow_hopper = 1;
    p->allow_blackwell = 1;
    p->require_rim = 1;
    p->require_ocsp = 1;
    p->allow_hold = 0;
    p->require_fwid = 0;
    p->single_gpu = p->multi_gpu = p->protected_pcie = CCG_GPU_MODE_RULE_ALLOWED;
}

ccg_result ccg_gpu_policy_default(ccg_gpu_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_policy *p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    set_defaults(p);
    snprintf(p->policy_id, sizeof(p->policy_id), "ccgate-default-gpu");
    p->version = 1;
    *out = p;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_gpu_policy_free(ccg_gpu_policy *p)
{
    if (p == NULL) {
        return;
    }
    X509_free(p->gpu_test_root);
    X509_free(p->rim_test_root);
    free(p);
}

/* ------------------------------------------------------------------ versions */

/* Splits "550.90.07" (decimal) or "96.00.9F.00.01" (hex) into numeric parts. */
static ccg_result version_parts(const char *s, int hex, uint64_t parts[CCG_GPU_POLICY_MAX_PARTS], size_t *n)
{
    ccg_result result = CCG_FAILURE;
    size_t count = 0, digits = 0;
    uint64_t cur = 0;
    CCG_ENSURE_MSG(s != NULL && *s != '\0', CCG_R_GPU_VERSION_UNREADABLE, "an empty version");
    for (const char *c = s;; c++) {
        if (*c == '.' || *c == '\0') {
            CCG_ENSURE_MSG(digits > 0 && count < CCG_GPU_POLICY_MAX_PARTS, CCG_R_GPU_VERSION_UNREADABLE,
                           "'%.40s' is not a dotted %s version", s, hex ? "hex" : "decimal");
            parts[count++] = cur;
            cur = 0;
            digits = 0;
            if (*c == '\0') {
                break;
            }
            continue;
        }
        int ok = hex ? isxdigit((unsigned char)*c) : isdigit((unsigned char)*c);
        CCG_ENSURE_MSG(ok && digits < 8, CCG_R_GPU_VERSION_UNREADABLE, "'%.40s' is not a dotted %s version", s,
                       hex ? "hex" : "decimal");
        int v = isdigit((unsigned char)*c) ? *c - '0' : tolower((unsigned char)*c) - 'a' + 10;
        cur = cur * (hex ? 16u : 10u) + (uint64_t)v;
        digits++;
    }
    *n = count;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_version_compare(const char *a, const char *b, int hex, int *cmp)
{
    ccg_result result = CCG_FAILURE;
    uint64_t pa[CCG_GPU_POLICY_MAX_PARTS], pb[CCG_GPU_POLICY_MAX_PARTS];
    size_t na = 0, nb = 0;
    CCG_TRY(version_parts(a, hex, pa, &na));
    CCG_TRY(version_parts(b, hex, pb, &nb));
    *cmp = 0;
    for (size_t i = 0; i < CCG_GPU_POLICY_MAX_PARTS && *cmp == 0; i++) {
        uint64_t x = i < na ? pa[i] : 0, y = i < nb ? pb[i] : 0;
        *cmp = x < y ? -1 : x > y ? 1 : 0;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ------------------------------------------------------------------ members */

static ccg_result get_count(json_t *v, const char *key, unsigned *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 1 && json_integer_value(v) <= CCG_GPU_MAX_GPUS,
                   CCG_R_POLICY_INVALID_VALUE, "'%s' must be an integer from 1 to %d", key, CCG_GPU_MAX_GPUS);
    *out = (unsigned)json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A version string, checked to be comparable now so appraisal never meets a bad policy value. */
static ccg_result get_version(json_t *v, const char *key, int hex, char out[CCG_GPU_POLICY_VERSION_MAX])
{
    ccg_result result = CCG_FAILURE;
    uint64_t parts[CCG_GPU_POLICY_MAX_PARTS];
    size_t n = 0;
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) < CCG_GPU_POLICY_VERSION_MAX,
                   CCG_R_POLICY_INVALID_VALUE, "'%s' must be a version string under %d bytes", key,
                   CCG_GPU_POLICY_VERSION_MAX);
    if (ccg_failed(version_parts(json_string_value(v), hex, parts, &n))) {
        ccg_error_clear(); /* the policy's own reason, not the evidence's gpu.version_unreadable */
        CCG_BAIL(CCG_R_POLICY_INVALID_VALUE, "'%s' must be a dotted %s version", key, hex ? "hex" : "decimal");
    }
    snprintf(out, CCG_GPU_POLICY_VERSION_MAX, "%s", json_string_value(v));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_version_list(json_t *v, const char *key, int hex, ccg_gpu_version_rule *rule)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) > 0 && json_array_size(v) <= CCG_GPU_POLICY_MAX_VERSIONS,
                   CCG_R_POLICY_INVALID_VALUE, "'%s' must be an array of 1 to %d versions", key,
                   CCG_GPU_POLICY_MAX_VERSIONS);
    json_array_foreach(v, i, item) {
        CCG_TRY(get_version(item, key, hex, rule->allowed[i]));
    }
    rule->allowed_count = json_array_size(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_archs(json_t *v, ccg_gpu_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) > 0, CCG_R_POLICY_INVALID_VALUE,
                   "'allowed_architectures' must be a non-empty array of \"hopper\" and \"blackwell\"");
    p->allow_hopper = p->allow_blackwell = 0;
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        CCG_ENSURE_MSG(s != NULL && (strcmp(s, "hopper") == 0 || strcmp(s, "blackwell") == 0),
                       CCG_R_POLICY_INVALID_VALUE,
                       "'allowed_architectures' entries must be \"hopper\" or \"blackwell\"");
        *(strcmp(s, "hopper") == 0 ? &p->allow_hopper : &p->allow_blackwell) = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_mode_rule(json_t *v, const char *key, ccg_gpu_mode_rule *out)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(v);
    CCG_ENSURE_MSG(s != NULL, CCG_R_POLICY_INVALID_VALUE, "'modes.%s' must be \"allowed\", \"required\" or \"refused\"",
                   key);
    if (strcmp(s, "allowed") == 0) {
        *out = CCG_GPU_MODE_RULE_ALLOWED;
    } else if (strcmp(s, "required") == 0) {
        *out = CCG_GPU_MODE_RULE_REQUIRED;
    } else if (strcmp(s, "refused") == 0) {
        *out = CCG_GPU_MODE_RULE_REFUSED;
    } else {
        CCG_BAIL(CCG_R_POLICY_INVALID_VALUE, "'modes.%s' must be \"allowed\", \"required\" or \"refused\"", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_modes(json_t *v, ccg_gpu_policy *p)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *item;
    int required = 0, refused = 0;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_POLICY_INVALID_VALUE, "'modes' must be an object");
    json_object_foreach(v, key, item) {
        ccg_gpu_mode_rule *rule = strcmp(key, "single_gpu") == 0       ? &p->single_gpu
                                  : strcmp(key, "multi_gpu") == 0      ? &p->multi_gpu
                                  : strcmp(key, "protected_pcie") == 0 ? &p->protected_pcie
                                                                       : NULL;
        CCG_ENSURE_MSG(rule != NULL, CCG_R_POLICY_UNKNOWN_KEY, "unknown key 'modes.%.64s'", key);
        CCG_TRY(get_mode_rule(item, key, rule));
    }
    const ccg_gpu_mode_rule all[] = {p->single_gpu, p->multi_gpu, p->protected_pcie};
    for (size_t i = 0; i < 3; i++) {
        required += all[i] == CCG_GPU_MODE_RULE_REQUIRED;
        refused += all[i] == CCG_GPU_MODE_RULE_REFUSED;
    }
    /* Two required modes, or every mode refused, could never pass: a mistake, not a policy. */
    CCG_ENSURE_MSG(required <= 1 && refused < 3, CCG_R_POLICY_INVALID_VALUE,
                   "'modes' may require at most one mode and must allow at least one");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_root(json_t *v, const char *key, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = NULL;
    EVP_PKEY *pub = NULL;
    X509 *root = NULL;
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_POLICY_INVALID_VALUE, "'trusted_roots.%s' must be a PEM certificate", key);
    bio = BIO_new_mem_buf(json_string_value(v), (int)json_string_length(v));
    CCG_ENSURE_ALLOC(bio);
    root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CCG_ENSURE_MSG(root != NULL, CCG_R_POLICY_INVALID_VALUE, "'trusted_roots.%s' is not a PEM certificate", key);
    pub = X509_get_pubkey(root);
    CCG_ENSURE_MSG(pub != NULL && X509_check_issued(root, root) == X509_V_OK && X509_verify(root, pub) == 1,
                   CCG_R_POLICY_INVALID_VALUE, "'trusted_roots.%s' is not a self-signed root", key);
    X509_free(*out);
    *out = root;
    root = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_free(root);
    EVP_PKEY_free(pub);
    BIO_free(bio);
    return result;
}

static ccg_result parse_roots(json_t *v, ccg_gpu_policy *p)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *item;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_POLICY_INVALID_VALUE,
                   "'trusted_roots' must be {\"gpu\": PEM, \"rim\": PEM}");
    json_object_foreach(v, key, item) {
        if (strcmp(key, "gpu") == 0) {
            CCG_TRY(get_root(item, key, &p->gpu_test_root));
        } else if (strcmp(key, "rim") == 0) {
            CCG_TRY(get_root(item, key, &p->rim_test_root));
        } else {
            CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown key 'trusted_roots.%.64s'", key);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One member of the policy. The identity members belong to a standalone document only: a release
 * policy's section takes its identity from the release policy. */
static ccg_result parse_key(const char *key, json_t *v, int standalone, ccg_gpu_policy *p)
{
    ccg_result result = CCG_FAILURE;
    if (strcmp(key, "policy_id") == 0 || strcmp(key, "version") == 0) {
        CCG_ENSURE_MSG(standalone, CCG_R_POLICY_UNKNOWN_KEY,
                       "'%s': a release policy's gpu section takes the release policy's identity", key);
        /* handled by ccg_policy_get_identity */
    } else if (strcmp(key, "count") == 0) {
        CCG_TRY(get_count(v, key, &p->min_count));
        p->max_count = p->min_count;
    } else if (strcmp(key, "min_count") == 0) {
        CCG_TRY(get_count(v, key, &p->min_count));
    } else if (strcmp(key, "max_count") == 0) {
        CCG_TRY(get_count(v, key, &p->max_count));
    } else if (strcmp(key, "allowed_architectures") == 0) {
        CCG_TRY(parse_archs(v, p));
    } else if (strcmp(key, "minimum_driver_version") == 0) {
        CCG_TRY(get_version(v, key, 0, p->driver.minimum));
    } else if (strcmp(key, "allowed_driver_versions") == 0) {
        CCG_TRY(get_version_list(v, key, 0, &p->driver));
    } else if (strcmp(key, "minimum_vbios_version") == 0) {
        CCG_TRY(get_version(v, key, 1, p->vbios.minimum));
    } else if (strcmp(key, "allowed_vbios_versions") == 0) {
        CCG_TRY(get_version_list(v, key, 1, &p->vbios));
    } else if (strcmp(key, "require_rim") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->require_rim));
    } else if (strcmp(key, "require_ocsp") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->require_ocsp));
    } else if (strcmp(key, "allow_hold") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->allow_hold));
    } else if (strcmp(key, "require_fwid") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->require_fwid));
    } else if (strcmp(key, "modes") == 0) {
        CCG_TRY(parse_modes(v, p));
    } else if (strcmp(key, "trusted_roots") == 0) {
        CCG_TRY(parse_roots(v, p));
    } else if (strcmp(key, "devtools_allowed") == 0 || strcmp(key, "allow_devtools") == 0) {
        CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "'%s': DevTools mode is always refused and is not a policy option", key);
    } else {
        CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown policy key '%.64s'", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The members of a policy object and the checks across them, shared by the standalone document and a
 * release policy's gpu section (one parser for both). *out is owned by the caller on success. */
static ccg_result parse_members(json_t *root, int standalone, ccg_gpu_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_policy *p = NULL;
    const char *key;
    json_t *value;
    CCG_ENSURE_MSG(json_is_object(root), CCG_R_POLICY_MALFORMED, "the policy must be a JSON object");
    p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    set_defaults(p);
    if (standalone) {
        CCG_TRY(ccg_policy_get_identity(root, p->policy_id, sizeof(p->policy_id), &p->version));
    }
    json_object_foreach(root, key, value) {
        CCG_TRY(parse_key(key, value, standalone, p));
    }
    CCG_ENSURE_MSG(json_object_get(root, "count") == NULL ||
                       (json_object_get(root, "min_count") == NULL && json_object_get(root, "max_count") == NULL),
                   CCG_R_POLICY_INVALID_VALUE, "'count' excludes 'min_count' and 'max_count'");
    CCG_ENSURE_MSG(p->min_count <= p->max_count, CCG_R_POLICY_INVALID_VALUE, "'min_count' exceeds 'max_count'");
    CCG_ENSURE_MSG(p->require_ocsp || !p->allow_hold, CCG_R_POLICY_INVALID_VALUE,
                   "'allow_hold' means nothing without 'require_ocsp'");
    *out = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_gpu_policy_free(p);
    return result;
}

ccg_result ccg_gpu_policy_parse(const char *text, size_t len, ccg_gpu_policy **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;

    CCG_ENSURE_MSG(len <= POLICY_MAX_BYTES, CCG_R_POLICY_MALFORMED, "policy is larger than %u bytes", POLICY_MAX_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_POLICY_MALFORMED, "line %d column %d: %.120s", jerr.line, jerr.column,
                   jerr.text);
    CCG_TRY(parse_members(root, 1, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    return result;
}

ccg_result ccg_gpu_policy_from_section(const json_t *section, const char *policy_id, int64_t version,
                                       ccg_gpu_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_policy *p = NULL;
    *out = NULL;
    CCG_ENSURE_MSG(policy_id != NULL && strlen(policy_id) < sizeof(p->policy_id) && version >= 1,
                   CCG_R_POLICY_VERSION_INVALID, "the gpu section needs its release policy's id and version");
    CCG_TRY(parse_members((json_t *)section, 0, &p));
    snprintf(p->policy_id, sizeof(p->policy_id), "%s", policy_id);
    p->version = version;
    *out = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_gpu_policy_free(p);
    return result;
}
