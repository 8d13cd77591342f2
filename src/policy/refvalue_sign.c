/* Signatures over reference values: RFC 8785 canonical JSON of the record without "signature", signed
 * with ECDSA P-384/SHA-384 (R||S, 96 bytes, as JWS ES384) or Ed25519, value in base64url. */
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/ecdsa_raw.h"
#include "ccgate/jose.h"
#include "ccgate/refvalue.h"
#include "refvalue_internal.h"

#define ES384_COMPONENT 48

ccg_result ccg_refval_signing_bytes(const json_t *record, char **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    json_t *copy = json_deep_copy(record);
    CCG_ENSURE_ALLOC(copy);
    (void)json_object_del(copy, "signature");
    CCG_TRY(ccg_jcs_serialize(copy, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    json_decref(copy);
    return result;
}

static const char *alg_of(EVP_PKEY *key)
{
    char group[32] = "";
    size_t n = 0;
    if (EVP_PKEY_is_a(key, "ED25519")) {
        return "Ed25519";
    }
    if (EVP_PKEY_is_a(key, "EC") && EVP_PKEY_get_group_name(key, group, sizeof(group), &n) == 1 &&
        strcmp(group, "secp384r1") == 0) {
        return "ES384";
    }
    return NULL;
}

/* ES384 hashes with SHA-384; Ed25519 signs the message itself. */
static const EVP_MD *md_for(const char *alg) { return strcmp(alg, "ES384") == 0 ? EVP_sha384() : NULL; }

ccg_result ccg_refval_sign(json_t *record, EVP_PKEY *key, const char *issuer)
{
    ccg_result result = CCG_FAILURE;
    const char *alg = alg_of(key);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char *msg = NULL, *value = NULL;
    size_t msg_len = 0, sig_len = 0;
    uint8_t sig[128], raw[2 * ES384_COMPONENT];
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_MSG(alg != NULL, CCG_R_USAGE_INVALID, "the signing key must be ECDSA P-384 or Ed25519");
    CCG_ENSURE_MSG(json_is_object(record) && issuer != NULL && *issuer, CCG_R_USAGE_INVALID, "a record and an issuer");
    CCG_ENSURE_ALLOC(json_object_set_new(record, "issuer", json_string(issuer)) == 0 ? record : NULL);
    CCG_TRY(ccg_refval_signing_bytes(record, &msg, &msg_len));
    sig_len = sizeof(sig);
    CCG_ENSURE_OSSL(EVP_DigestSignInit(md, NULL, md_for(alg), NULL, key) == 1 &&
                        EVP_DigestSign(md, sig, &sig_len, (const unsigned char *)msg, msg_len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    if (strcmp(alg, "ES384") == 0) {
        CCG_TRY(ccg_ecdsa_der_to_raw(sig, sig_len, ES384_COMPONENT, raw));
        value = ccg_b64url_encode(raw, sizeof(raw));
    } else {
        value = ccg_b64url_encode(sig, sig_len);
    }
    CCG_ENSURE_ALLOC(value);
    CCG_ENSURE_ALLOC(json_object_set_new(record, "signature", json_pack("{s:s, s:s}", "alg", alg, "value", value)) == 0
                         ? record
                         : NULL);
    result = CCG_SUCCESS;
cleanup:
    free(value);
    free(msg);
    EVP_MD_CTX_free(md);
    return result;
}

/* Signatures that verified, remembered (issue 15): the broker checks the configured TCB baseline's and
 * the reference-value records' signatures at every appraisal, each a P-384 verify as costly as the
 * report's own, over bytes that do not change. An entry is the SHA-256 of (alg, the exact signed bytes,
 * the exact signature) and the key object that verified it, which the entry holds a reference to, so
 * the pointer cannot name another key while the entry lives. Only successes are kept; a changed byte
 * of the record or signature, or another key, is verified afresh. Validity (not_before, not_after),
 * issuer and TEE are still checked by the callers on every use. 64 entries, replaced round-robin. */
#define MEMO_SLOTS 64

typedef struct {
    EVP_PKEY *key; /* a reference held by the memo; NULL: a free slot */
    uint8_t digest[SHA256_DIGEST_LENGTH];
} memo_entry;

static memo_entry g_memo[MEMO_SLOTS];
static size_t g_memo_next;
static pthread_mutex_t g_memo_lock = PTHREAD_MUTEX_INITIALIZER;

/* 0 when the digest could not be made (then nothing is looked up or remembered). */
static int memo_digest(const char *alg, const char *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
                       uint8_t out[SHA256_DIGEST_LENGTH])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    uint64_t lens[2] = {msg_len, sig_len}; /* lengths first: no two splits of one byte string collide */
    int ok = c != NULL && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(c, alg, strlen(alg) + 1) == 1 && EVP_DigestUpdate(c, lens, sizeof(lens)) == 1 &&
             EVP_DigestUpdate(c, msg, msg_len) == 1 && EVP_DigestUpdate(c, sig, sig_len) == 1 &&
             EVP_DigestFinal_ex(c, out, NULL) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

static int memo_holds(EVP_PKEY *key, const uint8_t digest[SHA256_DIGEST_LENGTH])
{
    int hit = 0;
    pthread_mutex_lock(&g_memo_lock);
    for (size_t i = 0; i < MEMO_SLOTS && !hit; i++) {
        hit = g_memo[i].key == key && memcmp(g_memo[i].digest, digest, SHA256_DIGEST_LENGTH) == 0;
    }
    pthread_mutex_unlock(&g_memo_lock);
    return hit;
}

static void memo_add(EVP_PKEY *key, const uint8_t digest[SHA256_DIGEST_LENGTH])
{
    EVP_PKEY *old;
    if (EVP_PKEY_up_ref(key) != 1) {
        return; /* not remembered: verified again next time */
    }
    pthread_mutex_lock(&g_memo_lock);
    old = g_memo[g_memo_next].key;
    g_memo[g_memo_next].key = key;
    memcpy(g_memo[g_memo_next].digest, digest, SHA256_DIGEST_LENGTH);
    g_memo_next = (g_memo_next + 1) % MEMO_SLOTS;
    pthread_mutex_unlock(&g_memo_lock);
    EVP_PKEY_free(old);
}

int refval_signature_valid(const json_t *record, EVP_PKEY *key)
{
    const json_t *sig = json_object_get(record, "signature");
    const char *alg = json_string_value(json_object_get(sig, "alg"));
    const char *value = json_string_value(json_object_get(sig, "value"));
    const char *key_alg = alg_of(key);
    uint8_t *bytes = NULL, *der = NULL;
    size_t len = 0, der_len = 0, msg_len = 0;
    char *msg = NULL;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = 0, have_digest = 0;
    /* A key verifies only signatures of its own algorithm: no downgrade by relabelling. */
    if (md == NULL || alg == NULL || value == NULL || key_alg == NULL || strcmp(alg, key_alg) != 0 ||
        ccg_failed(ccg_b64url_decode(value, strlen(value), CCG_R_REFVAL_SIGNATURE_INVALID, &bytes, &len)) ||
        ccg_failed(ccg_refval_signing_bytes(record, &msg, &msg_len))) {
        goto cleanup;
    }
    if (strcmp(alg, "ES384") == 0) {
        if (len != 2 * ES384_COMPONENT || ccg_failed(ccg_ecdsa_raw_to_der(bytes, ES384_COMPONENT, &der, &der_len))) {
            goto cleanup;
        }
    }
    have_digest = memo_digest(alg, msg, msg_len, bytes, len, digest);
    if (have_digest && memo_holds(key, digest)) {
        ok = 1;
        goto cleanup;
    }
    ok = EVP_DigestVerifyInit(md, NULL, md_for(alg), NULL, key) == 1 &&
         EVP_DigestVerify(md, der ? der : bytes, der ? der_len : len, (const unsigned char *)msg, msg_len) == 1;
    if (ok && have_digest) {
        memo_add(key, digest);
    }
cleanup:
    ERR_clear_error();
    EVP_MD_CTX_free(md);
    OPENSSL_free(der);
    free(bytes);
    free(msg);
    return ok;
}
