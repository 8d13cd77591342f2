/* The key broker's configuration: one strict JSON document (docs/kbs.md). */
#include "ccgate/kbs.h"

#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define KBS_CONFIG_MAX (64u * 1024u)

static ccg_result take_string(json_t *obj, const char *name, char **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < 4096 &&
                       strlen(json_string_value(v)) == json_string_length(v),
                   CCG_R_KBS_CONFIG_INVALID, "config member \"%s\" must be a non-empty string", name);
    free(*out);
    *out = strdup(json_string_value(v));
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result take_int(json_t *obj, const char *name, int64_t min, int64_t max, int64_t *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    if (v == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= min && json_integer_value(v) <= max,
                   CCG_R_KBS_CONFIG_INVALID, "config member \"%s\" must be an integer in [%lld, %lld]", name,
                   (long long)min, (long long)max);
    *out = json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "tcb_baselines": at most one file per product, absolute paths; "tcb_baseline_issuers": ID -> PEM. The
 * files are read when the broker starts (ccg_kbs_new). */
static ccg_result take_baselines(json_t *root, ccg_kbs_config *out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(root, "tcb_baselines"), *item;
    const char *id;
    size_t i;
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) <= 3, CCG_R_KBS_CONFIG_INVALID,
                       "tcb_baselines must be an array of at most 3 baseline files (one per product)");
        json_array_foreach(v, i, item) {
            CCG_ENSURE_MSG(json_is_string(item) && json_string_value(item)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "tcb_baselines[%zu] must be an absolute path", i);
        }
        out->tcb_baselines = json_incref(v);
    }
    v = json_object_get(root, "tcb_baseline_issuers");
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_object(v), CCG_R_KBS_CONFIG_INVALID,
                       "tcb_baseline_issuers must be an object of issuer ID -> PEM file");
        json_object_foreach(v, id, item) {
            CCG_ENSURE_MSG(json_is_string(item) && json_string_value(item)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "tcb_baseline_issuers.%.64s must be an absolute path", id);
        }
        out->tcb_baseline_issuers = json_incref(v);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_config_parse(const char *json_text, size_t len, ccg_kbs_config *out)
{
    static const char *const known[] = {"address", "port",  "store",     "audit",   "keystore",
                                        "tls",     "issuer", "nonce_ttl", "token_ttl", "attestation_policy",
                                        "threads", "allow_unlocked_memory", "explain", "refval_issuers", "collateral",
                                        "admin_issuers", "tcb_baselines", "tcb_baseline_issuers"};
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *root = NULL;
    const char *name;
    json_t *value;
    int64_t port = 0, threads = 4;
    ccg_error_clear();

    memset(out, 0, sizeof(*out));
    out->nonce_ttl = 300;
    out->token_ttl = 3600;
    CCG_ENSURE(len <= KBS_CONFIG_MAX, CCG_R_INPUT_TOO_LARGE);
    root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL && json_is_object(root), CCG_R_KBS_CONFIG_INVALID,
                   "the configuration is not a JSON object (line %d: %s)", jerr.line, jerr.text);
    json_object_foreach(root, name, value) {
        int ok = 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_KBS_CONFIG_INVALID, "unknown config member \"%.64s\"", name);
    }
    CCG_TRY(take_string(root, "address", &out->bind_address));
    CCG_TRY(take_int(root, "port", 0, 65535, &port));
    out->port = (uint16_t)port;
    CCG_TRY(take_string(root, "store", &out->store));
    CCG_TRY(take_string(root, "audit", &out->audit));
    CCG_TRY(take_string(root, "issuer", &out->issuer));
    CCG_TRY(take_string(root, "attestation_policy", &out->attestation_policy));
    CCG_TRY(take_int(root, "nonce_ttl", 1, 86400, &out->nonce_ttl));
    CCG_TRY(take_int(root, "token_ttl", 1, 7 * 86400, &out->token_ttl));
    CCG_TRY(take_int(root, "threads", 1, 256, &threads));
    out->threads = (unsigned)threads;
    value = json_object_get(root, "allow_unlocked_memory");
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_boolean(value), CCG_R_KBS_CONFIG_INVALID, "allow_unlocked_memory must be a boolean");
        out->allow_unlocked_memory = json_is_true(value);
    }
    value = json_object_get(root, "explain");
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_boolean(value), CCG_R_KBS_CONFIG_INVALID, "explain must be a boolean");
        out->explain = json_is_true(value);
    }
    value = json_object_get(root, "refval_issuers");
    if (value != NULL) {
        const char *iid;
        json_t *path;
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                       "refval_issuers must be an object of issuer ID -> PEM file");
        json_object_foreach(value, iid, path) {
            CCG_ENSURE_MSG(json_is_string(path) && json_string_value(path)[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                           "refval_issuers.%.64s must be an absolute path", iid);
        }
        out->refval_issuers = json_incref(value);
    }
    CCG_TRY(take_baselines(root, out));
    value = json_object_get(root, "admin_issuers");
    if (value != NULL) {
        const char *aid;
        json_t *path;
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                       "admin_issuers must be an object of issuer ID -> PEM public key file");
        json_object_foreach(value, aid, path) {
            CCG_ENSURE_MSG(aid[0] != 0 && strlen(aid) <= 128 && json_is_string(path) &&
                               json_string_value(path)[0] == '/',
                           CCG_R_KBS_CONFIG_INVALID, "admin_issuers.%.64s must be an absolute path", aid);
        }
        out->admin_issuers = json_incref(value);
    }
    value = json_object_get(root, "collateral");
    if (value != NULL) {
        const char *cname;
        json_t *cv;
        CCG_ENSURE_MSG(json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                       "collateral must be {\"cache_dir\", \"fetch\", \"kds_url\"}");
        json_object_foreach(value, cname, cv) {
            CCG_ENSURE_MSG(strcmp(cname, "cache_dir") == 0 || strcmp(cname, "fetch") == 0 ||
                               strcmp(cname, "kds_url") == 0,
                           CCG_R_KBS_CONFIG_INVALID, "unknown config member \"collateral.%.64s\"", cname);
        }
        CCG_TRY(take_string(value, "cache_dir", &out->collateral_dir));
        CCG_TRY(take_string(value, "kds_url", &out->kds_url));
        CCG_ENSURE_MSG(out->collateral_dir != NULL && out->collateral_dir[0] == '/', CCG_R_KBS_CONFIG_INVALID,
                       "collateral.cache_dir must be an absolute path");
        cv = json_object_get(value, "fetch");
        CCG_ENSURE_MSG(cv == NULL || json_is_boolean(cv), CCG_R_KBS_CONFIG_INVALID,
                       "collateral.fetch must be a boolean");
        out->collateral_fetch = json_is_true(cv);
    }
    value = json_object_get(root, "tls");
    if (value != NULL) {
        CCG_ENSURE_MSG(json_is_object(value) && json_object_size(value) == 2, CCG_R_KBS_CONFIG_INVALID,
                       "tls must be {\"cert_file\",\"key_file\"}");
        CCG_TRY(take_string(value, "cert_file", &out->tls_cert));
        CCG_TRY(take_string(value, "key_file", &out->tls_key));
        CCG_ENSURE_MSG(out->tls_cert != NULL && out->tls_key != NULL, CCG_R_KBS_CONFIG_INVALID,
                       "tls must be {\"cert_file\",\"key_file\"}");
    }
    value = json_object_get(root, "keystore");
    CCG_ENSURE_MSG(value != NULL && json_is_object(value), CCG_R_KBS_CONFIG_INVALID,
                   "config member \"keystore\" (an object) is required");
    out->keystore = json_incref(value);
    CCG_ENSURE_MSG(out->store != NULL, CCG_R_KBS_CONFIG_INVALID, "config member \"store\" is required");
    if (out->bind_address == NULL) {
        out->bind_address = strdup("127.0.0.1");
        CCG_ENSURE_ALLOC(out->bind_address);
    }
    if (out->issuer == NULL) {
        out->issuer = strdup("ccgate-kbs");
        CCG_ENSURE_ALLOC(out->issuer);
    }
    if (out->audit == NULL) {
        const char *p = strncmp(out->store, "sqlite:", 7) == 0 ? out->store + 7 : out->store;
        out->audit = strdup(p);
        CCG_ENSURE_ALLOC(out->audit);
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        ccg_kbs_config_free(out);
    }
    return result;
}

ccg_result ccg_kbs_config_load(const char *path, ccg_kbs_config *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    CCG_TRY(ccg_file_read(path, KBS_CONFIG_MAX, &text, &len));
    CCG_TRY(ccg_kbs_config_parse((const char *)text, len, out));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

void ccg_kbs_config_free(ccg_kbs_config *c)
{
    if (c == NULL) {
        return;
    }
    free(c->bind_address);
    free(c->store);
    free(c->audit);
    json_decref(c->keystore);
    json_decref(c->refval_issuers);
    json_decref(c->admin_issuers);
    json_decref(c->tcb_baselines);
    json_decref(c->tcb_baseline_issuers);
    free(c->collateral_dir);
    free(c->kds_url);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->issuer);
    free(c->attestation_policy);
    memset(c, 0, sizeof(*c));
}
