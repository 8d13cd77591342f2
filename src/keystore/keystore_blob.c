/* The wrapped-key blob: a 56-byte versioned header, the ciphertext and the GCM tag
 * (layout in include/ccgate/keystore.h). Parsed with the bounded reader only. */
#include <openssl/evp.h>
#include <string.h>

#include "ccgate/reader.h"
#include "keystore_internal.h"

int ccg_ks_label_valid(const char *label)
{
    if (label == NULL) {
        return 0;
    }
    size_t n = strnlen(label, CCG_KEYSTORE_MAX_LABEL_LEN + 1);
    if (n == 0 || n > CCG_KEYSTORE_MAX_LABEL_LEN) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)label[i];
        if (c < 0x20 || c > 0x7e) {
            return 0;
        }
    }
    return 1;
}

ccg_result ccg_ks_label_digest(const char *label, uint8_t out[32])
{
    ccg_result result = CCG_FAILURE;
    unsigned int len = 0;
    CCG_ENSURE_OSSL(EVP_Digest(label, strlen(label), out, &len, EVP_sha256(), NULL) == 1 && len == 32,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_ks_header_write(uint8_t *hdr, ccg_keystore_backend backend, const uint8_t digest[32],
                         const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN], uint32_t ct_len)
{
    memcpy(hdr, CCG_KEYSTORE_MAGIC, 4);
    hdr[4] = CCG_KEYSTORE_BLOB_VERSION;
    hdr[5] = (uint8_t)backend;
    hdr[6] = CCG_KEYSTORE_ALG_AES256_GCM;
    hdr[7] = 0;
    memcpy(hdr + 8, digest, 32);
    memcpy(hdr + 40, nonce, CCG_KEYSTORE_NONCE_LEN);
    hdr[52] = (uint8_t)(ct_len >> 24);
    hdr[53] = (uint8_t)(ct_len >> 16);
    hdr[54] = (uint8_t)(ct_len >> 8);
    hdr[55] = (uint8_t)ct_len;
}

ccg_result ccg_wrapped_key_parse(const uint8_t *blob, size_t len, ccg_wrapped_key *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    uint8_t magic[4];
    memset(out, 0, sizeof(*out));
    ccg_reader_init(&r, blob, len);
    CCG_TRY(ccg_reader_copy(&r, magic, sizeof(magic)));
    CCG_ENSURE_MSG(memcmp(magic, CCG_KEYSTORE_MAGIC, 4) == 0, CCG_R_INPUT_MALFORMED,
                   "not a ccgate wrapped key: magic is %02x%02x%02x%02x, expected \"%s\"", magic[0], magic[1],
                   magic[2], magic[3], CCG_KEYSTORE_MAGIC);
    CCG_TRY(ccg_reader_u8(&r, &out->version));
    CCG_ENSURE_MSG(out->version == CCG_KEYSTORE_BLOB_VERSION, CCG_R_INPUT_MALFORMED,
                   "wrapped key version %u is not supported (this build reads version %u)", out->version,
                   CCG_KEYSTORE_BLOB_VERSION);
    CCG_TRY(ccg_reader_u8(&r, &out->backend));
    CCG_TRY(ccg_reader_u8(&r, &out->algorithm));
    CCG_TRY(ccg_reader_reserved_zero(&r, 1, CCG_R_INPUT_RESERVED_NONZERO));
    CCG_TRY(ccg_reader_copy(&r, out->kek_label_digest, sizeof(out->kek_label_digest)));
    CCG_TRY(ccg_reader_copy(&r, out->nonce, sizeof(out->nonce)));
    CCG_TRY(ccg_reader_u32be(&r, &out->ciphertext_len));
    CCG_ENSURE_MSG(out->ciphertext_len > 0, CCG_R_INPUT_MALFORMED, "wrapped key has an empty ciphertext");
    CCG_ENSURE_MSG(out->ciphertext_len <= CCG_KEYSTORE_MAX_KEY_LEN, CCG_R_INPUT_TOO_LARGE,
                   "wrapped key ciphertext of %u bytes exceeds %u", out->ciphertext_len, CCG_KEYSTORE_MAX_KEY_LEN);
    out->header = blob;
    CCG_TRY(ccg_reader_borrow(&r, &out->ciphertext, out->ciphertext_len));
    CCG_TRY(ccg_reader_borrow(&r, &out->tag, CCG_KEYSTORE_TAG_LEN));
    CCG_TRY(ccg_reader_expect_end(&r));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        memset(out, 0, sizeof(*out));
    }
    return result;
}
