/* Admin API: the strict parsers of admin request bodies (fuzz/fuzz_kbs_admin.c) and the ownership
 * map (which provider owns a key or a policy), kept in store settings so the schema is unchanged. */
#include "kbs_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "ccgate/error.h"

#define KBS_ADMIN_DOC_MAX (8u * 1024u * 1024u)

int kbs_admin_id_valid(const char *id)
{
    size_t n = id == NULL ? 0 : strlen(id);
    if (n == 0 || n > CCG_STORE_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* The body as a JSON object whose members are all in `known`. */
static ccg_result load_object(const char *body, size_t len, const char *const *known, size_t n_known, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    const char *name;
    json_t *v;
    *out = NULL;
    CCG_ENSURE(len <= KBS_ADMIN_DOC_MAX, CCG_R_INPUT_TOO_LARGE);
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(*out != NULL && json_is_object(*out), CCG_R_ADMIN_REQUEST_MALFORMED,
                   "the admin request body is not a JSON object");
    json_object_foreach(*out, name, v) {
        int ok = 0;
        for (size_t i = 0; i < n_known; i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_ADMIN_REQUEST_MALFORMED, "unknown member \"%.64s\"", name);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        json_decref(*out);
        *out = NULL;
    }
    return result;
}

static ccg_result take_id(json_t *obj, const char *name, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    CCG_ENSURE_MSG(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
                       kbs_admin_id_valid(json_string_value(v)) && json_string_length(v) < cap,
                   CCG_R_ADMIN_REQUEST_MALFORMED, "\"%s\" must be an ID (1..256 printable characters)", name);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result take_b64(json_t *obj, const char *name, size_t max, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= (max / 3 + 1) * 4,
                   CCG_R_ADMIN_REQUEST_MALFORMED, "\"%s\" must be base64url", name);
    CCG_TRY(ccg_b64url_decode(json_string_value(v), json_string_length(v), CCG_R_ADMIN_REQUEST_MALFORMED, out, len));
    CCG_ENSURE_MSG(*len > 0 && *len <= max, CCG_R_ADMIN_REQUEST_MALFORMED, "\"%s\" has a bad length", name);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && *out != NULL) {
        ccg_secure_zero(*out, *len);
        free(*out);
        *out = NULL;
    }
    return result;
}

static ccg_result take_key(json_t *obj, int allow_unlocked, kbs_admin_key_doc *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL;
    size_t len = 0;
    CCG_TRY(take_b64(obj, "key", KBS_ADMIN_KEY_MAX, &raw, &len));
    CCG_ENSURE_MSG(len >= 16, CCG_R_ADMIN_REQUEST_MALFORMED, "\"key\" must be 16..%u bytes", KBS_ADMIN_KEY_MAX);
    CCG_TRY(ccg_secbuf_alloc(&out->key, len, allow_unlocked));
    memcpy(out->key.data, raw, len);
    result = CCG_SUCCESS;
cleanup:
    if (raw != NULL) {
        ccg_secure_zero(raw, len);
        free(raw);
    }
    return result;
}

/* Scrubs the key text inside the parsed document before it is freed. */
static void scrub_key_member(json_t *obj)
{
    json_t *v = json_object_get(obj, "key");
    if (json_is_string(v)) {
        ccg_secure_zero((void *)json_string_value(v), json_string_length(v));
    }
}

ccg_result kbs_admin_parse_key_import(const char *body, size_t len, int allow_unlocked, kbs_admin_key_doc *out)
{
    static const char *const known[] = {"key_id", "policy_id", "key"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, known, 3, &root));
    CCG_TRY(take_id(root, "key_id", out->key_id, sizeof(out->key_id)));
    CCG_TRY(take_id(root, "policy_id", out->policy_id, sizeof(out->policy_id)));
    CCG_TRY(take_key(root, allow_unlocked, out));
    result = CCG_SUCCESS;
cleanup:
    scrub_key_member(root);
    json_decref(root);
    if (ccg_failed(result)) {
        kbs_admin_key_doc_clear(out);
    }
    return result;
}

ccg_result kbs_admin_parse_key_rotate(const char *body, size_t len, int allow_unlocked, kbs_admin_key_doc *out)
{
    static const char *const known[] = {"key"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, known, 1, &root));
    CCG_TRY(take_key(root, allow_unlocked, out));
    result = CCG_SUCCESS;
cleanup:
    scrub_key_member(root);
    json_decref(root);
    if (ccg_failed(result)) {
        kbs_admin_key_doc_clear(out);
    }
    return result;
}

void kbs_admin_key_doc_clear(kbs_admin_key_doc *d)
{
    ccg_secbuf_free(&d->key);
    memset(d, 0, sizeof(*d));
}

ccg_result kbs_admin_parse_collateral(const char *body, size_t len, kbs_admin_collateral_doc *out)
{
    static const char *const known[] = {"collateral_id", "version", "data"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL, *v;
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, known, 3, &root));
    CCG_TRY(take_id(root, "collateral_id", out->id, sizeof(out->id)));
    v = json_object_get(root, "version");
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 1, CCG_R_ADMIN_REQUEST_MALFORMED,
                   "\"version\" must be an integer >= 1");
    out->version = json_integer_value(v);
    CCG_TRY(take_b64(root, "data", CCG_STORE_BLOB_MAX, &out->data, &out->len));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        kbs_admin_collateral_doc_clear(out);
    }
    return result;
}

void kbs_admin_collateral_doc_clear(kbs_admin_collateral_doc *d)
{
    free(d->data);
    memset(d, 0, sizeof(*d));
}

/* ---------------------------------------------------------------- ownership */

/* "kbs.owner.<kind>.<hex SHA-256 of the ID>": setting names are [a-z0-9._-]. */
static ccg_result owner_setting(const char *kind, const char *id, char name[CCG_STORE_SETTING_NAME_MAX + 1])
{
    ccg_result result = CCG_FAILURE;
    uint8_t digest[32];
    char hex[65];
    unsigned int dlen = 0;
    CCG_ENSURE(kbs_admin_id_valid(id), CCG_R_ADMIN_REQUEST_MALFORMED);
    CCG_ENSURE_OSSL(EVP_Digest(id, strlen(id), digest, &dlen, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    ccg_hex_encode(digest, sizeof(digest), hex);
    hex[64] = 0;
    snprintf(name, CCG_STORE_SETTING_NAME_MAX + 1, "kbs.owner.%s.%s", kind, hex);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_admin_owner_get(ccg_kbs *k, const char *kind, const char *id, char owner[KBS_ADMIN_NAME_MAX + 1],
                               int *found)
{
    ccg_result result = CCG_FAILURE;
    char name[CCG_STORE_SETTING_NAME_MAX + 1];
    uint8_t *value = NULL;
    size_t len = 0;
    owner[0] = 0;
    *found = 0;
    CCG_TRY(owner_setting(kind, id, name));
    CCG_TRY(ccg_store_setting_get(k->store, name, &value, &len, found));
    if (*found) {
        CCG_ENSURE(len > 0 && len <= KBS_ADMIN_NAME_MAX, CCG_R_STORE_CORRUPT);
        memcpy(owner, value, len);
        owner[len] = 0;
    }
    result = CCG_SUCCESS;
cleanup:
    free(value);
    return result;
}

ccg_result kbs_admin_owner_put(ccg_kbs *k, const char *kind, const char *id, const char *owner)
{
    ccg_result result = CCG_FAILURE;
    char name[CCG_STORE_SETTING_NAME_MAX + 1];
    CCG_TRY(owner_setting(kind, id, name));
    CCG_TRY(ccg_store_setting_put(k->store, name, (const uint8_t *)owner, strlen(owner), kbs_now(k)));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result owner_generate(void *ctx, uint8_t **value, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    const char *owner = ctx;
    *value = (uint8_t *)strdup(owner);
    CCG_ENSURE_ALLOC(*value);
    *len = strlen(owner);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_admin_owner_claim(ccg_kbs *k, const char *kind, const char *id, const char *owner, int *mine)
{
    ccg_result result = CCG_FAILURE;
    char name[CCG_STORE_SETTING_NAME_MAX + 1];
    uint8_t *value = NULL;
    size_t len = 0;
    *mine = 0;
    CCG_TRY(owner_setting(kind, id, name));
    CCG_TRY(ccg_store_setting_get_or_create(k->store, name, owner_generate, (void *)owner, kbs_now(k), &value, &len,
                                            NULL));
    *mine = len == strlen(owner) && memcmp(value, owner, len) == 0;
    result = CCG_SUCCESS;
cleanup:
    free(value);
    return result;
}
