/* Chunk crypto: AES-256-GCM per chunk under the per-artifact key.
 *
 * nonce (12 bytes) = header digest[0..4) || big-endian u64 (index | final << 63)
 * AAD             = the chunk's expected prefix (artifact tag, index, flags) || header digest (48 bytes)
 *
 * The clear prefix each chunk carries repeats the artifact tag, index and final flag. It is only a
 * diagnosis aid: art_chunk_open compares it with the values this position must have (and names the
 * attack: spliced, reordered, truncated), but acceptance rests on GCM alone, computed from the expected
 * values, never from the prefix. Rewriting a prefix to match therefore changes only which code a forgery
 * fails with (artifact.chunk_auth_failed), never whether it fails. */
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "artifact_internal.h"
#include "ccgate/secmem.h"

#define DIGEST_LABEL "ccgate/artifact/v1 digest"

ccg_result art_chunk_ctx_init(art_chunk_ctx *c)
{
    ccg_result result = CCG_FAILURE;
    memset(c, 0, sizeof(*c));
    c->cipher = EVP_CIPHER_CTX_new();
    c->md = EVP_MD_CTX_new();
    c->aes = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
    c->leaf_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    CCG_ENSURE_OSSL(c->cipher != NULL && c->md != NULL && c->aes != NULL && c->leaf_md != NULL, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        art_chunk_ctx_free(c);
    }
    return result;
}

void art_chunk_ctx_free(art_chunk_ctx *c)
{
    EVP_CIPHER_CTX_free(c->cipher);
    EVP_MD_CTX_free(c->md);
    EVP_CIPHER_free(c->aes);
    EVP_MD_free(c->leaf_md);
    memset(c, 0, sizeof(*c));
}

static int is_final(const ccg_artifact_header *h, uint64_t i) { return i + 1 == h->chunk_count; }

void art_chunk_prefix(const ccg_artifact_header *h, uint64_t i, uint8_t prefix[ART_PREFIX_LEN])
{
    memset(prefix, 0, ART_PREFIX_LEN);
    memcpy(prefix, h->header_digest, ART_ARTIFACT_TAG_LEN);
    for (int b = 0; b < 8; b++) {
        prefix[ART_ARTIFACT_TAG_LEN + b] = (uint8_t)(i >> (8 * b));
    }
    prefix[ART_ARTIFACT_TAG_LEN + 8] = is_final(h, i) ? ART_FLAG_FINAL : 0;
}

static void build_nonce(const ccg_artifact_header *h, uint64_t i, uint8_t nonce[ART_NONCE_LEN])
{
    uint64_t v = i | ((uint64_t)is_final(h, i) << 63);
    memcpy(nonce, h->header_digest, 4);
    for (int b = 0; b < 8; b++) {
        nonce[4 + b] = (uint8_t)(v >> (8 * (7 - b)));
    }
}

/* Starts GCM for chunk i: key, nonce and the AAD. */
static ccg_result gcm_begin(art_chunk_ctx *c, const art_keys *k, const ccg_artifact_header *h, uint64_t i, int enc)
{
    ccg_result result = CCG_FAILURE;
    uint8_t nonce[ART_NONCE_LEN], prefix[ART_PREFIX_LEN];
    int n = 0;
    build_nonce(h, i, nonce);
    art_chunk_prefix(h, i, prefix);
    CCG_ENSURE_OSSL(EVP_CipherInit_ex2(c->cipher, c->aes, k->enc_key, nonce, enc, NULL) == 1 &&
                        EVP_CipherUpdate(c->cipher, NULL, &n, prefix, sizeof(prefix)) == 1 &&
                        EVP_CipherUpdate(c->cipher, NULL, &n, h->header_digest, sizeof(h->header_digest)) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result art_chunk_seal(art_chunk_ctx *c, const art_keys *k, const ccg_artifact_header *h, uint64_t i,
                          const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[ART_TAG_LEN])
{
    ccg_result result = CCG_FAILURE;
    int n = 0;
    CCG_ENSURE(len <= CCG_ARTIFACT_CHUNK_MAX, CCG_R_INTERNAL_ERROR);
    CCG_TRY(gcm_begin(c, k, h, i, 1));
    if (len > 0) {
        CCG_ENSURE_OSSL(EVP_EncryptUpdate(c->cipher, ct, &n, pt, (int)len) == 1 && (size_t)n == len,
                        CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_EncryptFinal_ex(c->cipher, ct + len, &n) == 1 &&
                        EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_GET_TAG, ART_TAG_LEN, tag) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Names what the clear prefix says happened; see the file comment for why this is safe. */
static ccg_result check_prefix(const ccg_artifact_header *h, uint64_t i, const uint8_t prefix[ART_PREFIX_LEN])
{
    ccg_result result = CCG_FAILURE;
    uint8_t want[ART_PREFIX_LEN];
    art_chunk_prefix(h, i, want);
    CCG_ENSURE_MSG(memcmp(prefix, want, ART_ARTIFACT_TAG_LEN) == 0, CCG_R_ARTIFACT_SPLICED,
                   "chunk %llu belongs to another artifact", (unsigned long long)i);
    CCG_ENSURE_MSG(memcmp(prefix + ART_ARTIFACT_TAG_LEN, want + ART_ARTIFACT_TAG_LEN, 8) == 0,
                   CCG_R_ARTIFACT_CHUNK_REORDERED, "the chunk at position %llu was sealed for another position",
                   (unsigned long long)i);
    CCG_ENSURE_MSG(prefix[ART_ARTIFACT_TAG_LEN + 8] == want[ART_ARTIFACT_TAG_LEN + 8] || is_final(h, i) == 0,
                   CCG_R_ARTIFACT_TRUNCATED, "the last chunk (%llu) is not marked final", (unsigned long long)i);
    CCG_ENSURE_MSG(prefix[ART_ARTIFACT_TAG_LEN + 8] == want[ART_ARTIFACT_TAG_LEN + 8], CCG_R_ARTIFACT_TRAILING_DATA,
                   "chunk %llu is marked final but more chunks follow", (unsigned long long)i);
    CCG_ENSURE_MSG(memcmp(prefix, want, ART_PREFIX_LEN) == 0, CCG_R_ARTIFACT_CHUNK_AUTH_FAILED,
                   "chunk %llu has non-zero reserved framing bytes", (unsigned long long)i);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result art_chunk_open(art_chunk_ctx *c, const art_keys *k, const ccg_artifact_header *h, uint64_t i,
                          const uint8_t prefix[ART_PREFIX_LEN], const uint8_t *ct, size_t len,
                          const uint8_t tag[ART_TAG_LEN], uint8_t *out, uint8_t *leaf)
{
    ccg_result result = CCG_FAILURE;
    uint8_t t[ART_TAG_LEN], scratch[16];
    int n = 0;
    unsigned int dlen = 0;
    CCG_ENSURE(len <= CCG_ARTIFACT_CHUNK_MAX, CCG_R_INTERNAL_ERROR);
    CCG_TRY(check_prefix(h, i, prefix));
    CCG_TRY(gcm_begin(c, k, h, i, 0));
    CCG_ENSURE_OSSL(leaf == NULL || EVP_DigestInit_ex2(c->md, c->leaf_md, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    for (size_t off = 0; off < len; off += ART_SLICE) {
        size_t s = len - off < ART_SLICE ? len - off : ART_SLICE;
        CCG_ENSURE_OSSL(EVP_DecryptUpdate(c->cipher, out + off, &n, ct + off, (int)s) == 1 && (size_t)n == s,
                        CCG_R_INTERNAL_CRYPTO);
        CCG_ENSURE_OSSL(leaf == NULL || EVP_DigestUpdate(c->md, out + off, s) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(leaf == NULL || (EVP_DigestFinal_ex(c->md, leaf, &dlen) == 1 && dlen == ART_LEAF_LEN),
                    CCG_R_INTERNAL_CRYPTO);
    memcpy(t, tag, sizeof(t));
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(c->cipher, EVP_CTRL_GCM_SET_TAG, ART_TAG_LEN, t) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_DecryptFinal_ex(c->cipher, scratch, &n) != 1) {
        ERR_clear_error();
        CCG_BAIL(CCG_R_ARTIFACT_CHUNK_AUTH_FAILED, "chunk %llu failed authentication", (unsigned long long)i);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result art_leaf_hash(art_chunk_ctx *c, const uint8_t *data, size_t len, uint8_t out[ART_LEAF_LEN])
{
    ccg_result result = CCG_FAILURE;
    unsigned int n = 0;
    CCG_ENSURE_OSSL(EVP_DigestInit_ex2(c->md, c->leaf_md, NULL) == 1 && EVP_DigestUpdate(c->md, data, len) == 1 &&
                        EVP_DigestFinal_ex(c->md, out, &n) == 1 && n == ART_LEAF_LEN,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result art_digest_root(const uint8_t *leaves, uint64_t count, uint64_t plaintext_len, uint32_t chunk_size,
                           uint8_t out[CCG_ARTIFACT_DIGEST_LEN])
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t le[12];
    unsigned int n = 0;
    for (int b = 0; b < 8; b++) {
        le[b] = (uint8_t)(plaintext_len >> (8 * b));
    }
    for (int b = 0; b < 4; b++) {
        le[8 + b] = (uint8_t)(chunk_size >> (8 * b));
    }
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex2(md, EVP_sha384(), NULL) == 1 &&
                        EVP_DigestUpdate(md, DIGEST_LABEL, sizeof(DIGEST_LABEL)) == 1 &&
                        EVP_DigestUpdate(md, le, sizeof(le)) == 1 &&
                        EVP_DigestUpdate(md, leaves, (size_t)count * ART_LEAF_LEN) == 1 &&
                        EVP_DigestFinal_ex(md, out, &n) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}
