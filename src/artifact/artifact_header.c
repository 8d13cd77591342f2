/* The sealed-artifact header: encoding, parsing through the bounded reader, and the body layout it implies.
 * Layout (little-endian) in docs/artifact-format.md. */
#include <string.h>

#include <openssl/evp.h>

#include "artifact_internal.h"
#include "ccgate/reader.h"

size_t art_sig_len(uint16_t alg)
{
    switch (alg) {
    case CCG_ARTIFACT_SIG_ES384: return 96;
    case CCG_ARTIFACT_SIG_ED25519: return 64;
    default: return 0;
    }
}

/* Key IDs are printable ASCII without spaces, as the key broker names keys ("provider/model/a"). */
static int key_id_valid(const uint8_t *id, size_t len)
{
    if (len == 0 || len > CCG_ARTIFACT_KEY_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (id[i] < 0x21 || id[i] > 0x7e) {
            return 0;
        }
    }
    return 1;
}

uint64_t art_chunk_len(const ccg_artifact_header *h, uint64_t i)
{
    if (i + 1 < h->chunk_count) {
        return h->chunk_size;
    }
    return h->plaintext_len - (h->chunk_count - 1) * (uint64_t)h->chunk_size;
}

uint64_t art_record_offset(const ccg_artifact_header *h, uint64_t i)
{
    return (uint64_t)h->signed_len + h->signature_len + i * ((uint64_t)h->chunk_size + ART_RECORD_OVERHEAD);
}

ccg_result art_header_layout(ccg_artifact_header *h)
{
    ccg_result result = CCG_FAILURE;
    size_t id_len = strnlen(h->key_id, sizeof(h->key_id));
    CCG_ENSURE_MSG(h->chunk_size >= CCG_ARTIFACT_CHUNK_MIN && h->chunk_size <= CCG_ARTIFACT_CHUNK_MAX,
                   CCG_R_ARTIFACT_HEADER_MALFORMED, "chunk size %u is outside [%u, %u]", h->chunk_size,
                   CCG_ARTIFACT_CHUNK_MIN, CCG_ARTIFACT_CHUNK_MAX);
    CCG_ENSURE_MSG(h->plaintext_len <= ART_PLAINTEXT_MAX, CCG_R_ARTIFACT_HEADER_MALFORMED, "plaintext length too large");
    CCG_ENSURE_MSG(key_id_valid((const uint8_t *)h->key_id, id_len), CCG_R_ARTIFACT_HEADER_MALFORMED,
                   "the key ID must be 1..%d printable ASCII characters", CCG_ARTIFACT_KEY_ID_MAX);
    CCG_ENSURE_MSG(h->key_version >= 1, CCG_R_ARTIFACT_HEADER_MALFORMED, "key version 0");
    h->signature_len = art_sig_len(h->sig_alg);
    CCG_ENSURE_MSG(h->signature_len != 0, CCG_R_ARTIFACT_SUITE_UNSUPPORTED, "signature algorithm %u", h->sig_alg);
    h->chunk_count = h->plaintext_len == 0 ? 1 : (h->plaintext_len + h->chunk_size - 1) / h->chunk_size;
    h->signed_len = ART_FIXED_LEN + id_len;
    /* Bounded: chunk_count <= 2^38 and plaintext_len <= 2^50, so this cannot overflow. */
    h->total_len = (uint64_t)h->signed_len + h->signature_len + h->plaintext_len + h->chunk_count * ART_RECORD_OVERHEAD;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

ccg_result art_header_encode(const ccg_artifact_header *h, uint8_t *out, size_t cap, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    size_t id_len = strnlen(h->key_id, sizeof(h->key_id));
    CCG_ENSURE(cap >= ART_FIXED_LEN + id_len && id_len <= CCG_ARTIFACT_KEY_ID_MAX, CCG_R_INTERNAL_ERROR);
    memset(out, 0, ART_FIXED_LEN);
    memcpy(out, ART_MAGIC, ART_MAGIC_LEN);
    put16(out + 8, h->version);
    put16(out + 10, h->suite);
    put16(out + 12, h->sig_alg);
    put16(out + 14, (uint16_t)id_len);
    put32(out + 16, h->key_version);
    put32(out + 20, h->chunk_size);
    put64(out + 24, h->plaintext_len);
    put64(out + 32, h->chunk_count);
    memcpy(out + 40, h->salt, CCG_ARTIFACT_SALT_LEN);
    memcpy(out + 72, h->key_check, CCG_ARTIFACT_KEY_CHECK_LEN);
    memcpy(out + 104, h->plaintext_digest, CCG_ARTIFACT_DIGEST_LEN);
    /* 152..159 reserved, zero */
    memcpy(out + ART_FIXED_LEN, h->key_id, id_len);
    *len = ART_FIXED_LEN + id_len;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* magic, version, suite, signature algorithm: the fields that decide whether we can read the rest. */
static ccg_result parse_prologue(ccg_reader *r, ccg_artifact_header *h, uint16_t *id_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t magic[ART_MAGIC_LEN];
    CCG_TRY(ccg_reader_copy(r, magic, sizeof(magic)));
    CCG_ENSURE_MSG(memcmp(magic, ART_MAGIC, ART_MAGIC_LEN) == 0, CCG_R_ARTIFACT_MAGIC_INVALID, "bad magic");
    CCG_TRY(ccg_reader_u16le(r, &h->version));
    CCG_ENSURE_MSG(h->version == ART_VERSION, CCG_R_ARTIFACT_VERSION_UNSUPPORTED, "version %u", h->version);
    CCG_TRY(ccg_reader_u16le(r, &h->suite));
    CCG_ENSURE_MSG(h->suite == CCG_ARTIFACT_SUITE_AES256GCM, CCG_R_ARTIFACT_SUITE_UNSUPPORTED, "suite %u", h->suite);
    CCG_TRY(ccg_reader_u16le(r, &h->sig_alg));
    CCG_ENSURE_MSG(art_sig_len(h->sig_alg) != 0, CCG_R_ARTIFACT_SUITE_UNSUPPORTED, "signature algorithm %u",
                   h->sig_alg);
    CCG_TRY(ccg_reader_u16le(r, id_len));
    CCG_ENSURE_MSG(*id_len >= 1 && *id_len <= CCG_ARTIFACT_KEY_ID_MAX, CCG_R_ARTIFACT_HEADER_MALFORMED,
                   "key ID length %u", *id_len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_fields(ccg_reader *r, ccg_artifact_header *h, uint16_t id_len)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *id = NULL;
    uint64_t count = 0;
    CCG_TRY(ccg_reader_u32le(r, &h->key_version));
    CCG_TRY(ccg_reader_u32le(r, &h->chunk_size));
    CCG_TRY(ccg_reader_u64le(r, &h->plaintext_len));
    CCG_TRY(ccg_reader_u64le(r, &count));
    CCG_TRY(ccg_reader_copy(r, h->salt, sizeof(h->salt)));
    CCG_TRY(ccg_reader_copy(r, h->key_check, sizeof(h->key_check)));
    CCG_TRY(ccg_reader_copy(r, h->plaintext_digest, sizeof(h->plaintext_digest)));
    CCG_TRY(ccg_reader_reserved_zero(r, 8, CCG_R_ARTIFACT_HEADER_MALFORMED));
    CCG_TRY(ccg_reader_borrow(r, &id, id_len));
    CCG_ENSURE_MSG(key_id_valid(id, id_len), CCG_R_ARTIFACT_HEADER_MALFORMED, "key ID is not printable ASCII");
    memcpy(h->key_id, id, id_len);
    h->key_id[id_len] = '\0';
    CCG_TRY(art_header_layout(h));
    CCG_ENSURE_MSG(count == h->chunk_count, CCG_R_ARTIFACT_HEADER_MALFORMED,
                   "chunk count %llu disagrees with the length and chunk size (%llu)", (unsigned long long)count,
                   (unsigned long long)h->chunk_count);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_artifact_parse_header(const uint8_t *data, size_t len, ccg_artifact_header *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    ccg_artifact_header h;
    uint16_t id_len = 0;
    unsigned int dlen = 0;
    memset(&h, 0, sizeof(h));
    ccg_reader_init(&r, data, len);
    CCG_TRY(parse_prologue(&r, &h, &id_len));
    CCG_TRY(parse_fields(&r, &h, id_len));
    /* The signature must be there too; its bytes are checked by art_verify. */
    CCG_ENSURE_MSG(ccg_reader_remaining(&r) >= h.signature_len, CCG_R_INPUT_TRUNCATED, "the signature is cut off");
    CCG_ENSURE_OSSL(EVP_Digest(data, h.signed_len, h.header_digest, &dlen, EVP_sha384(), NULL) == 1 &&
                        dlen == CCG_ARTIFACT_DIGEST_LEN,
                    CCG_R_INTERNAL_CRYPTO);
    *out = h;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
