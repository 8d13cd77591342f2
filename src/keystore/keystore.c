/* The keystore interface: opens a backend from its configuration and turns the backend's AEAD into
 * self-describing wrapped-key blobs (header + ciphertext + tag, the header authenticated together
 * with the caller's additional data). */
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/util.h"
#include "keystore_internal.h"

/* The caller's additional data (key ID and version) is small; this bounds the copy made of it. */
#define MAX_AAD_LEN 65536u

struct ccg_keystore {
    ccg_keystore_backend backend;
    char *kek_label;
    const ccg_ks_ops *ops;
    void *impl;
    ccg_keystore *previous; /* the KEK being rotated away from: unwrap only (config "previous") */
    uint8_t previous_digest[32];
};

ccg_result ccg_keystore_open(const ccg_keystore_config *cfg, ccg_keystore **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore *ks = NULL;
    ccg_error_clear();
    *out = NULL;
    CCG_ENSURE_MSG(cfg != NULL && ccg_ks_label_valid(cfg->kek_label), CCG_R_KMS_CONFIG_INVALID,
                   "keystore configuration has no valid kek_label");
    ks = calloc(1, sizeof(*ks));
    CCG_ENSURE_ALLOC(ks);
    ks->backend = cfg->backend;
    ks->kek_label = strdup(cfg->kek_label);
    CCG_ENSURE_ALLOC(ks->kek_label);
    switch (cfg->backend) {
    case CCG_KEYSTORE_FILE:
        CCG_TRY(ccg_ks_file_open(cfg, &ks->ops, &ks->impl));
        break;
    case CCG_KEYSTORE_PKCS11:
        CCG_TRY(ccg_ks_pkcs11_open(cfg, &ks->ops, &ks->impl));
        break;
    default:
        CCG_BAIL(CCG_R_KMS_CONFIG_INVALID, "keystore backend %d is unknown", (int)cfg->backend);
    }
    if (cfg->previous != NULL) {
        ccg_keystore_config prev = *cfg->previous; /* shallow: only the flag below differs */
        CCG_ENSURE_MSG(prev.previous == NULL && strcmp(prev.kek_label, cfg->kek_label) != 0,
                       CCG_R_KMS_CONFIG_INVALID, "the previous keystore needs another kek_label and no previous");
        prev.allow_unlocked_memory = prev.allow_unlocked_memory || cfg->allow_unlocked_memory;
        CCG_TRY(ccg_keystore_open(&prev, &ks->previous));
        CCG_TRY(ccg_ks_label_digest(prev.kek_label, ks->previous_digest));
    }
    *out = ks;
    ks = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_keystore_close(ks);
    return result;
}

ccg_result ccg_keystore_open_json(const char *json_text, ccg_keystore **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore_config cfg;
    ccg_error_clear();
    *out = NULL;
    CCG_TRY(ccg_keystore_config_parse(json_text, &cfg));
    CCG_TRY(ccg_keystore_open(&cfg, out));
    result = CCG_SUCCESS;
cleanup:
    ccg_keystore_config_free(&cfg);
    return result;
}

void ccg_keystore_close(ccg_keystore *ks)
{
    if (ks == NULL) {
        return;
    }
    if (ks->ops != NULL) {
        ks->ops->close(ks->impl);
    }
    ccg_keystore_close(ks->previous);
    free(ks->kek_label);
    free(ks);
}

ccg_keystore_backend ccg_keystore_backend_of(const ccg_keystore *ks) { return ks->backend; }

const char *ccg_keystore_kek_label(const ccg_keystore *ks) { return ks->kek_label; }

static ccg_result pick_label(const ccg_keystore *ks, const char *kek_label, const char **out)
{
    ccg_result result = CCG_FAILURE;
    const char *label = kek_label != NULL ? kek_label : ks->kek_label;
    CCG_ENSURE_MSG(ccg_ks_label_valid(label), CCG_R_KMS_CONFIG_INVALID,
                   "KEK label must be 1..%u bytes of printable ASCII", CCG_KEYSTORE_MAX_LABEL_LEN);
    *out = label;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* header || caller's aad, the GCM additional data. */
static ccg_result build_aad(const uint8_t *header, const uint8_t *aad, size_t aad_len, uint8_t **out,
                            size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(aad != NULL || aad_len == 0, CCG_R_USAGE_INVALID, "additional data is NULL");
    CCG_ENSURE_MSG(aad_len <= MAX_AAD_LEN, CCG_R_INPUT_TOO_LARGE, "additional data of %zu bytes exceeds %u",
                   aad_len, MAX_AAD_LEN);
    *out = malloc(CCG_KEYSTORE_HEADER_LEN + aad_len);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, header, CCG_KEYSTORE_HEADER_LEN);
    if (aad_len > 0) {
        memcpy(*out + CCG_KEYSTORE_HEADER_LEN, aad, aad_len);
    }
    *out_len = CCG_KEYSTORE_HEADER_LEN + aad_len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_keystore_create_kek(ccg_keystore *ks, const char *kek_label)
{
    ccg_result result = CCG_FAILURE;
    const char *label = NULL;
    ccg_error_clear();
    CCG_TRY(pick_label(ks, kek_label, &label));
    CCG_TRY(ks->ops->create_kek(ks->impl, label));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_keystore_wrap(ccg_keystore *ks, const char *kek_label, const ccg_secbuf *key, const uint8_t *aad,
                             size_t aad_len, uint8_t **wrapped, size_t *wrapped_len)
{
    ccg_result result = CCG_FAILURE;
    const char *label = NULL;
    uint8_t digest[32];
    uint8_t nonce[CCG_KEYSTORE_NONCE_LEN];
    uint8_t *blob = NULL, *full_aad = NULL;
    size_t blob_len = 0, full_aad_len = 0;
    ccg_error_clear();
    *wrapped = NULL;
    *wrapped_len = 0;
    CCG_TRY(pick_label(ks, kek_label, &label));
    CCG_ENSURE_MSG(key != NULL && key->data != NULL && key->len > 0, CCG_R_USAGE_INVALID, "no key to wrap");
    CCG_ENSURE_MSG(key->len <= CCG_KEYSTORE_MAX_KEY_LEN, CCG_R_INPUT_TOO_LARGE,
                   "a key of %zu bytes is larger than the %u that can be wrapped", key->len, CCG_KEYSTORE_MAX_KEY_LEN);
    CCG_TRY(ccg_ks_label_digest(label, digest));
    CCG_ENSURE_OSSL(RAND_bytes(nonce, sizeof(nonce)) == 1, CCG_R_INTERNAL_CRYPTO);
    blob_len = CCG_KEYSTORE_HEADER_LEN + key->len + CCG_KEYSTORE_TAG_LEN;
    blob = malloc(blob_len);
    CCG_ENSURE_ALLOC(blob);
    ccg_ks_header_write(blob, ks->backend, digest, nonce, (uint32_t)key->len);
    CCG_TRY(build_aad(blob, aad, aad_len, &full_aad, &full_aad_len));
    CCG_TRY(ks->ops->seal(ks->impl, label, nonce, full_aad, full_aad_len, key, blob + CCG_KEYSTORE_HEADER_LEN));
    *wrapped = blob;
    *wrapped_len = blob_len;
    blob = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(blob);
    free(full_aad);
    return result;
}

ccg_result ccg_keystore_unwrap(ccg_keystore *ks, const char *kek_label, const uint8_t *wrapped, size_t wrapped_len,
                               const uint8_t *aad, size_t aad_len, ccg_secbuf *key)
{
    ccg_result result = CCG_FAILURE;
    const char *label = NULL;
    ccg_wrapped_key w;
    uint8_t digest[32];
    uint8_t *full_aad = NULL;
    size_t full_aad_len = 0;
    ccg_error_clear();
    memset(key, 0, sizeof(*key));
    CCG_TRY(pick_label(ks, kek_label, &label));
    CCG_TRY(ccg_wrapped_key_parse(wrapped, wrapped_len, &w));
    if (ks->previous != NULL && ccg_memeq_ct(w.kek_label_digest, ks->previous_digest, sizeof(ks->previous_digest)) &&
        (kek_label == NULL || strcmp(kek_label, ks->previous->kek_label) == 0)) {
        /* not re-wrapped yet: the previous KEK opens it */
        return ccg_keystore_unwrap(ks->previous, ks->previous->kek_label, wrapped, wrapped_len, aad, aad_len, key);
    }
    CCG_ENSURE_MSG(w.backend == (uint8_t)ks->backend, CCG_R_KMS_UNWRAP_FAILED,
                   "the key was wrapped by backend %u (%s); this keystore is %s", w.backend,
                   ccg_keystore_backend_name((ccg_keystore_backend)w.backend), ccg_keystore_backend_name(ks->backend));
    CCG_ENSURE_MSG(w.algorithm == CCG_KEYSTORE_ALG_AES256_GCM, CCG_R_KMS_UNWRAP_FAILED,
                   "the key was wrapped with algorithm %u; this keystore knows 1 (AES-256-GCM)", w.algorithm);
    CCG_TRY(ccg_ks_label_digest(label, digest));
    CCG_ENSURE_MSG(ccg_memeq_ct(digest, w.kek_label_digest, sizeof(digest)), CCG_R_KMS_UNWRAP_FAILED,
                   "the key was wrapped under another KEK than \"%s\"", label);
    CCG_TRY(build_aad(w.header, aad, aad_len, &full_aad, &full_aad_len));
    CCG_TRY(ks->ops->open(ks->impl, label, w.nonce, full_aad, full_aad_len, w.ciphertext, w.ciphertext_len, key));
    result = CCG_SUCCESS;
cleanup:
    free(full_aad);
    return result;
}

ccg_result ccg_keystore_health(ccg_keystore *ks)
{
    ccg_result result = CCG_FAILURE;
    ccg_error_clear();
    CCG_TRY(ks->ops->health(ks->impl, ks->kek_label));
    if (ks->previous != NULL && ccg_failed(ccg_keystore_health(ks->previous))) {
        /* keys not yet re-wrapped need it: not ready without it */
        ccg_error now = *ccg_error_last();
        ccg_error_clear();
        ccg_error_set(now.reason, now.file, now.line, "previous KEK \"%s\": %s", ks->previous->kek_label,
                      now.message);
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
