/* The keystore configuration: a small, strict JSON object.
 *   {"backend":"file","kek_file":"/var/lib/ccgate/kek"}
 *   {"backend":"pkcs11","module":"/usr/lib/softhsm/libsofthsm2.so","token_label":"ccgate",
 *    "pin_file":"/run/secrets/pin","kek_label":"ccgate-kek"}
 * Every member is checked; unknown members, members of the other backend, wrong types and empty
 * strings fail with kms.config_invalid. The PIN itself is never in the configuration. */
#include <stdlib.h>
#include <string.h>

#include "keystore_internal.h"

#define PATH_LIMIT 4095u
#define TOKEN_LABEL_LIMIT 32u /* CK_TOKEN_INFO.label is 32 blank-padded bytes */
#define ENV_NAME_LIMIT 255u

const char *ccg_keystore_backend_name(ccg_keystore_backend backend)
{
    switch (backend) {
    case CCG_KEYSTORE_FILE:
        return "file";
    case CCG_KEYSTORE_PKCS11:
        return "pkcs11";
    }
    return "unknown";
}

void ccg_keystore_config_free(ccg_keystore_config *cfg)
{
    if (cfg == NULL) {
        return;
    }
    free(cfg->kek_label);
    free(cfg->kek_file);
    free(cfg->module);
    free(cfg->token_label);
    free(cfg->pin_file);
    free(cfg->pin_env);
    if (cfg->previous != NULL) {
        ccg_keystore_config_free(cfg->previous);
        free(cfg->previous);
    }
    memset(cfg, 0, sizeof(*cfg));
}

/* The members each backend accepts ("backend" is accepted by both). */
static const char *const file_members[] = {"backend", "kek_file", "kek_label", "allow_unlocked_memory", "previous",
                                           NULL};
static const char *const pkcs11_members[] = {"backend",   "module",    "token_label",           "pin_file",
                                             "pin_env",   "kek_label", "allow_unlocked_memory", "previous",
                                             NULL};

static int member_allowed(const char *const *members, const char *key)
{
    for (size_t i = 0; members[i] != NULL; i++) {
        if (strcmp(members[i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A string member: present (when required), a JSON string without NUL, 1..limit bytes. */
static ccg_result get_string(const json_t *obj, const char *key, int required, size_t limit, char **out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, key);
    *out = NULL;
    if (v == NULL) {
        CCG_ENSURE_MSG(!required, CCG_R_KMS_CONFIG_INVALID, "keystore configuration: \"%s\" is required", key);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_KMS_CONFIG_INVALID, "keystore configuration: \"%s\" must be a string",
                   key);
    size_t len = json_string_length(v);
    const char *s = json_string_value(v);
    CCG_ENSURE_MSG(len > 0 && len <= limit && strlen(s) == len, CCG_R_KMS_CONFIG_INVALID,
                   "keystore configuration: \"%s\" must be 1..%zu bytes without NUL", key, limit);
    *out = strdup(s);
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_path(const json_t *obj, const char *key, int required, char **out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(get_string(obj, key, required, PATH_LIMIT, out));
    CCG_ENSURE_MSG(*out == NULL || (*out)[0] == '/', CCG_R_KMS_CONFIG_INVALID,
                   "keystore configuration: \"%s\" must be an absolute path", key);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int env_name_valid(const char *s)
{
    for (size_t i = 0; s[i] != 0; i++) {
        char c = s[i];
        int ok = c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (i > 0 && c >= '0' && c <= '9');
        if (!ok) {
            return 0;
        }
    }
    return 1;
}

static ccg_result config_from_json(const json_t *obj, int nested, ccg_keystore_config *out);

/* "previous": one level, another label than the current one. */
static ccg_result get_previous(const json_t *obj, const ccg_keystore_config *cfg, ccg_keystore_config **out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, "previous");
    ccg_keystore_config *prev = NULL;
    *out = NULL;
    if (v == NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    prev = calloc(1, sizeof(*prev));
    CCG_ENSURE_ALLOC(prev);
    CCG_TRY(config_from_json(v, 1, prev));
    CCG_ENSURE_MSG(strcmp(prev->kek_label, cfg->kek_label) != 0, CCG_R_KMS_CONFIG_INVALID,
                   "keystore configuration: \"previous\" must name another kek_label than \"%s\"", cfg->kek_label);
    *out = prev;
    prev = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (prev != NULL) {
        ccg_keystore_config_free(prev);
        free(prev);
    }
    return result;
}

ccg_result ccg_keystore_config_from_json(const json_t *obj, ccg_keystore_config *out)
{
    return config_from_json(obj, 0, out);
}

static ccg_result config_from_json(const json_t *obj, int nested, ccg_keystore_config *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore_config cfg;
    const char *backend = NULL;
    const char *key = NULL;
    json_t *v = NULL;
    memset(&cfg, 0, sizeof(cfg));
    memset(out, 0, sizeof(*out));

    CCG_ENSURE_MSG(json_is_object(obj), CCG_R_KMS_CONFIG_INVALID, "keystore configuration must be a JSON object");
    v = json_object_get(obj, "backend");
    CCG_ENSURE_MSG(v != NULL, CCG_R_KMS_CONFIG_INVALID,
                   "keystore configuration: \"backend\" is required (\"file\" or \"pkcs11\")");
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_KMS_CONFIG_INVALID, "keystore configuration: \"backend\" must be a string");
    backend = json_string_value(v);
    if (strcmp(backend, "file") == 0) {
        cfg.backend = CCG_KEYSTORE_FILE;
    } else if (strcmp(backend, "pkcs11") == 0) {
        cfg.backend = CCG_KEYSTORE_PKCS11;
    } else {
        CCG_BAIL(CCG_R_KMS_CONFIG_INVALID, "keystore configuration: backend \"%.32s\" is not \"file\" or \"pkcs11\"",
                 backend);
    }
    const char *const *members = cfg.backend == CCG_KEYSTORE_FILE ? file_members : pkcs11_members;
    json_object_foreach((json_t *)obj, key, v) {
        CCG_ENSURE_MSG(member_allowed(members, key), CCG_R_KMS_CONFIG_INVALID,
                       "keystore configuration: unknown member \"%.64s\" for the %s backend", key,
                       ccg_keystore_backend_name(cfg.backend));
        CCG_ENSURE_MSG(!nested || strcmp(key, "previous") != 0, CCG_R_KMS_CONFIG_INVALID,
                       "keystore configuration: a \"previous\" keystore has no \"previous\" of its own");
    }

    CCG_TRY(get_string(obj, "kek_label", 0, CCG_KEYSTORE_MAX_LABEL_LEN, &cfg.kek_label));
    if (cfg.kek_label == NULL) {
        cfg.kek_label = strdup(CCG_KEYSTORE_DEFAULT_KEK_LABEL);
        CCG_ENSURE_ALLOC(cfg.kek_label);
    }
    CCG_ENSURE_MSG(ccg_ks_label_valid(cfg.kek_label), CCG_R_KMS_CONFIG_INVALID,
                   "keystore configuration: \"kek_label\" must be printable ASCII");
    v = json_object_get(obj, "allow_unlocked_memory");
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_boolean(v), CCG_R_KMS_CONFIG_INVALID,
                       "keystore configuration: \"allow_unlocked_memory\" must be true or false");
        cfg.allow_unlocked_memory = json_is_true(v);
    }

    if (cfg.backend == CCG_KEYSTORE_FILE) {
        CCG_TRY(get_path(obj, "kek_file", 1, &cfg.kek_file));
    } else {
        CCG_TRY(get_path(obj, "module", 1, &cfg.module));
        CCG_TRY(get_string(obj, "token_label", 1, TOKEN_LABEL_LIMIT, &cfg.token_label));
        CCG_TRY(get_path(obj, "pin_file", 0, &cfg.pin_file));
        CCG_TRY(get_string(obj, "pin_env", 0, ENV_NAME_LIMIT, &cfg.pin_env));
        CCG_ENSURE_MSG((cfg.pin_file != NULL) != (cfg.pin_env != NULL), CCG_R_KMS_CONFIG_INVALID,
                       "keystore configuration: give exactly one of \"pin_file\" and \"pin_env\"");
        CCG_ENSURE_MSG(cfg.pin_env == NULL || env_name_valid(cfg.pin_env), CCG_R_KMS_CONFIG_INVALID,
                       "keystore configuration: \"pin_env\" must be an environment variable name");
    }
    CCG_TRY(get_previous(obj, &cfg, &cfg.previous));
    *out = cfg;
    memset(&cfg, 0, sizeof(cfg));
    result = CCG_SUCCESS;
cleanup:
    ccg_keystore_config_free(&cfg);
    return result;
}

ccg_result ccg_keystore_config_parse(const char *json_text, ccg_keystore_config *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(json_text != NULL, CCG_R_KMS_CONFIG_INVALID, "keystore configuration is missing");
    CCG_ENSURE_MSG(strnlen(json_text, CCG_KEYSTORE_MAX_CONFIG_LEN + 1) <= CCG_KEYSTORE_MAX_CONFIG_LEN,
                   CCG_R_KMS_CONFIG_INVALID, "keystore configuration is larger than %u bytes",
                   CCG_KEYSTORE_MAX_CONFIG_LEN);
    root = json_loads(json_text, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_KMS_CONFIG_INVALID, "keystore configuration is not JSON: %s (line %d)",
                   jerr.text, jerr.line);
    CCG_TRY(ccg_keystore_config_from_json(root, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    return result;
}
