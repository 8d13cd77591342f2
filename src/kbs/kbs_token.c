/* The attestation token: ES256 JWTs signed by a key that is generated once, wrapped by the keystore
 * and kept in the store (setting kbs.token-signing-key), so every broker start and every replica
 * signs with the same key. It is never regenerated while the setting exists. */
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ccgate/error.h"

static const uint8_t TOKEN_KEY_AAD[] = KBS_TOKEN_KEY_AAD;

typedef struct {
    ccg_keystore *ks;
    int allow_unlocked;
} gen_ctx;

/* Generates a P-256 key and returns its PKCS#8 DER wrapped under the KEK. */
static ccg_result generate_token_key(void *vctx, uint8_t **value, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    gen_ctx *ctx = vctx;
    EVP_PKEY *key = NULL;
    ccg_secbuf der = {0};
    unsigned char *p;
    int n;
    *value = NULL;
    *len = 0;
    key = EVP_EC_gen("P-256");
    CCG_ENSURE_OSSL(key != NULL, CCG_R_INTERNAL_CRYPTO);
    n = i2d_PrivateKey(key, NULL);
    CCG_ENSURE_OSSL(n > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_secbuf_alloc(&der, (size_t)n, ctx->allow_unlocked));
    p = der.data;
    CCG_ENSURE_OSSL(i2d_PrivateKey(key, &p) == n, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_keystore_wrap(ctx->ks, NULL, &der, TOKEN_KEY_AAD, sizeof(TOKEN_KEY_AAD) - 1, value, len));
    result = CCG_SUCCESS;
cleanup:
    ccg_secbuf_free(&der);
    EVP_PKEY_free(key);
    return result;
}

ccg_result kbs_token_key(ccg_kbs *k, EVP_PKEY **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_keystore *ks = NULL;
    uint8_t *wrapped = NULL;
    size_t wrapped_len = 0;
    ccg_secbuf der = {0};
    const unsigned char *p;
    gen_ctx g;
    int locked = 0;

    *out = NULL;
    CCG_ENSURE(pthread_mutex_lock(&k->lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    if (k->token_key == NULL) {
        pthread_mutex_unlock(&k->lock);
        locked = 0;
        CCG_TRY(kbs_keystore(k, &ks));
        g.ks = ks;
        g.allow_unlocked = k->allow_unlocked;
        CCG_TRY(ccg_store_setting_get_or_create(k->store, CCG_KBS_TOKEN_KEY_SETTING, generate_token_key, &g,
                                                kbs_now(k), &wrapped, &wrapped_len, NULL));
        CCG_TRY(ccg_keystore_unwrap(ks, NULL, wrapped, wrapped_len, TOKEN_KEY_AAD, sizeof(TOKEN_KEY_AAD) - 1, &der));
        CCG_ENSURE(pthread_mutex_lock(&k->lock) == 0, CCG_R_INTERNAL_ERROR);
        locked = 1;
        if (k->token_key == NULL) {
            p = der.data;
            k->token_key = d2i_AutoPrivateKey(NULL, &p, (long)der.len);
            CCG_ENSURE_OSSL(k->token_key != NULL, CCG_R_INTERNAL_CRYPTO);
        }
    }
    *out = k->token_key;
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&k->lock);
    }
    ccg_secbuf_free(&der);
    free(wrapped);
    return result;
}

ccg_result kbs_token_jwk(ccg_kbs *k, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *key = NULL;
    ccg_jwk *pub = NULL;
    json_t *made = NULL;
    *out = NULL;
    CCG_TRY(kbs_token_key(k, &key));
    pthread_mutex_lock(&k->lock);
    if (k->token_jwk != NULL) {
        *out = json_deep_copy(k->token_jwk); /* a private copy: claims are built per thread */
    }
    pthread_mutex_unlock(&k->lock);
    if (*out == NULL) {
        CCG_TRY(ccg_jwk_from_pkey(key, CCG_JOSE_ALG_ES256, &pub));
        made = ccg_jwk_to_json(pub);
        CCG_ENSURE_ALLOC(made);
        *out = json_deep_copy(made);
        CCG_ENSURE_ALLOC(*out);
        pthread_mutex_lock(&k->lock);
        if (k->token_jwk == NULL) {
            k->token_jwk = made;
            made = NULL;
        }
        pthread_mutex_unlock(&k->lock);
    }
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    json_decref(made);
    ccg_jwk_free(pub);
    return result;
}

ccg_result kbs_token_issue(ccg_kbs *k, const char *session_id, const json_t *tee_pubkey, const ccg_decision *d,
                           ccg_time now, char **token)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *key = NULL;
    json_t *claims = NULL, *jwk_json = NULL;
    *token = NULL;
    CCG_TRY(kbs_token_key(k, &key));
    claims = json_pack("{s:s,s:I,s:I,s:I,s:s,s:O,s:s,s:s,s:I,s:s}", "iss", k->issuer, "iat", (json_int_t)now, "nbf",
                       (json_int_t)now, "exp", (json_int_t)(now + k->token_ttl), "sid", session_id, "tee-pubkey",
                       tee_pubkey, "tee", strcmp(d->evidence_type, "tdx") == 0 ? "tdx" : "snp", "policy_id", d->policy_id, "policy_version",
                       (json_int_t)d->policy_version, "evidence_digest", d->evidence_digest);
    CCG_ENSURE_ALLOC(claims);
    /* "jwk": the public key that verifies this token (a registered claim in Trustee's token). */
    CCG_TRY(kbs_token_jwk(k, &jwk_json));
    CCG_ENSURE_ALLOC(json_object_set(claims, "jwk", jwk_json) == 0 ? claims : NULL);
    if (d->claims != NULL) {
        CCG_ENSURE_ALLOC(json_object_set(claims, "tcb-status", d->claims) == 0 ? claims : NULL);
    }
    CCG_TRY(ccg_jwt_sign_es256(key, claims, token));
    result = CCG_SUCCESS;
cleanup:
    json_decref(jwk_json);
    json_decref(claims);
    return result;
}

ccg_result kbs_token_verify(ccg_kbs *k, const char *token, ccg_time now, char **session_id)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *key = NULL;
    json_t *claims = NULL;
    const json_t *sid, *iss;
    *session_id = NULL;
    CCG_TRY(kbs_token_key(k, &key));
    CCG_TRY(ccg_jwt_verify_es256(key, token, strlen(token), now, 0, &claims));
    iss = json_object_get(claims, "iss");
    CCG_ENSURE_MSG(json_is_string(iss) && strcmp(json_string_value(iss), k->issuer) == 0, CCG_R_JOSE_JWT_INVALID,
                   "the token's issuer is not this broker");
    sid = json_object_get(claims, "sid");
    CCG_ENSURE_MSG(json_is_string(sid), CCG_R_JOSE_JWT_INVALID, "the token names no session");
    *session_id = strdup(json_string_value(sid));
    CCG_ENSURE_ALLOC(*session_id);
    result = CCG_SUCCESS;
cleanup:
    json_decref(claims);
    return result;
}
