/* Internals of the sealed-artifact module (docs/artifact-format.md). */
#ifndef CCGATE_ARTIFACT_INTERNAL_H
#define CCGATE_ARTIFACT_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ccgate/artifact.h"
#include "ccgate/result.h"

#define ART_MAGIC "CCGART\0\n"
#define ART_MAGIC_LEN 8
#define ART_VERSION 1
#define ART_FIXED_LEN 160 /* the header before the key ID */
#define ART_PREFIX_LEN 32 /* each chunk's clear framing: artifact tag, index, flags */
#define ART_TAG_LEN 16
#define ART_RECORD_OVERHEAD (ART_PREFIX_LEN + ART_TAG_LEN)
#define ART_ARTIFACT_TAG_LEN 16 /* the first bytes of the header digest, repeated in every chunk */
#define ART_FLAG_FINAL 0x01u
#define ART_ENC_KEY_LEN 32
#define ART_NONCE_LEN 12
#define ART_PLAINTEXT_MAX (UINT64_C(1) << 50)
#define ART_LEAF_LEN 32 /* SHA-256 of each plaintext chunk: the leaves of the signed SHA-384 digest */
#define ART_SLICE (64u << 10) /* decrypt and hash in slices that stay in cache */

/* The per-artifact secrets derived from the model key: the AES-256-GCM key and the key check value. */
typedef struct {
    uint8_t enc_key[ART_ENC_KEY_LEN];
    uint8_t key_check[CCG_ARTIFACT_KEY_CHECK_LEN];
} art_keys;

/* --- header (artifact_header.c) --- */
/* Encodes the signed part of h (the header proper, no signature) into out (cap >= CCG_ARTIFACT_HEADER_MAX). */
CCG_MUST_CHECK ccg_result art_header_encode(const ccg_artifact_header *h, uint8_t *out, size_t cap, size_t *len);
/* Fills in chunk_count, signed_len, signature_len and total_len from the other fields; checks bounds. */
CCG_MUST_CHECK ccg_result art_header_layout(ccg_artifact_header *h);
/* Length of chunk i's ciphertext, and its record's offset in the file. */
uint64_t art_chunk_len(const ccg_artifact_header *h, uint64_t i);
uint64_t art_record_offset(const ccg_artifact_header *h, uint64_t i);

/* --- signatures (artifact_sign.c) --- */
/* The algorithm for a signing or verifying key, 0 when it is neither P-384 nor Ed25519. */
uint16_t art_sig_alg_of(EVP_PKEY *key);
size_t art_sig_len(uint16_t alg);
CCG_MUST_CHECK ccg_result art_sign(EVP_PKEY *key, const uint8_t *msg, size_t msg_len, uint8_t *sig, size_t sig_len);
/* artifact.signature_invalid unless sig verifies under key with alg. */
CCG_MUST_CHECK ccg_result art_verify(EVP_PKEY *key, uint16_t alg, const uint8_t *msg, size_t msg_len,
                                     const uint8_t *sig, size_t sig_len);
/* A PEM public key or certificate. */
CCG_MUST_CHECK ccg_result art_load_public_key(const char *path, EVP_PKEY **out);

/* --- key schedule (artifact_kdf.c) --- */
CCG_MUST_CHECK ccg_result art_derive_keys(const uint8_t *model_key, size_t model_key_len, const ccg_artifact_header *h,
                                          art_keys *out);

/* --- chunk crypto (artifact_chunk.c) --- */
typedef struct {
    EVP_CIPHER_CTX *cipher;
    EVP_MD_CTX *md;
    EVP_CIPHER *aes;
    EVP_MD *leaf_md;
} art_chunk_ctx;

CCG_MUST_CHECK ccg_result art_chunk_ctx_init(art_chunk_ctx *c);
void art_chunk_ctx_free(art_chunk_ctx *c);
/* The clear prefix a chunk at index i of the artifact with header h carries. */
void art_chunk_prefix(const ccg_artifact_header *h, uint64_t i, uint8_t prefix[ART_PREFIX_LEN]);
/* Encrypts chunk i (len bytes) into ct and tag. */
CCG_MUST_CHECK ccg_result art_chunk_seal(art_chunk_ctx *c, const art_keys *k, const ccg_artifact_header *h, uint64_t i,
                                         const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[ART_TAG_LEN]);
/* Checks the clear prefix against the expected position, then decrypts (ct may equal out) and
 * authenticates under the expected index and final flag. The reason says which check failed. With leaf
 * non-NULL, also hashes the plaintext (slice by slice, while it is in cache) into the chunk's leaf. */
CCG_MUST_CHECK ccg_result art_chunk_open(art_chunk_ctx *c, const art_keys *k, const ccg_artifact_header *h, uint64_t i,
                                         const uint8_t prefix[ART_PREFIX_LEN], const uint8_t *ct, size_t len,
                                         const uint8_t tag[ART_TAG_LEN], uint8_t *out, uint8_t *leaf);
/* The model digest: SHA-384(label || len || chunk size || SHA-256(chunk 0) || ... || SHA-256(chunk n-1)). */
CCG_MUST_CHECK ccg_result art_digest_root(const uint8_t *leaves, uint64_t count, uint64_t plaintext_len,
                                          uint32_t chunk_size, uint8_t out[CCG_ARTIFACT_DIGEST_LEN]);
CCG_MUST_CHECK ccg_result art_leaf_hash(art_chunk_ctx *c, const uint8_t *data, size_t len, uint8_t out[ART_LEAF_LEN]);

/* --- the opened artifact (artifact_open.c) and its sources --- */
enum art_source { ART_SRC_FD, ART_SRC_MEM, ART_SRC_HTTP };

struct ccg_artifact {
    ccg_artifact_header h;
    enum art_source kind;
    int fd;
    const uint8_t *mem;
    size_t mem_len;
    char *url;
    char *ca_file;
    long timeout;
    uint8_t header_bytes[CCG_ARTIFACT_HEADER_MAX]; /* header + signature as verified */
    size_t header_bytes_len;
    ccg_artifact_progress_fn progress; /* optional: plaintext bytes done, from every decryption thread */
    void *progress_ctx;
    _Atomic uint64_t progress_done;
};

/* One chunk's clear framing when the ciphertext already sits in the destination (http sources). */
typedef struct {
    uint8_t prefix[ART_PREFIX_LEN];
    uint8_t tag[ART_TAG_LEN];
} art_chunk_meta;

/* Download progress shared by the http writer (libcurl's callback, on the caller's thread) and the
 * decryption threads, so chunks are decrypted while later ones are still arriving. */
typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t complete; /* chunk records fully received */
    int finished;      /* the transfer has ended, successfully or not */
    atomic_int *stop;  /* set by a failing decryption thread: the transfer is stopped */
} art_progress;

/* --- http(s) (artifact_http.c) --- */
/* Fetches the first bytes of url (at most CCG_ARTIFACT_HEADER_MAX) into a->header_bytes. */
CCG_MUST_CHECK ccg_result art_http_fetch_header(ccg_artifact *a);
/* Streams the whole artifact: header bytes compared with those verified at open, each chunk's
 * ciphertext into its place in dest, and its prefix and tag into meta[chunk_count]. With progress,
 * publishes each completed record to the decryption threads and stops when they fail. */
CCG_MUST_CHECK ccg_result art_http_fetch_body(ccg_artifact *a, uint8_t *dest, art_chunk_meta *meta,
                                              art_progress *progress);

/* --- parallel decryption (artifact_unseal.c) --- */
/* Decrypts and authenticates every chunk into dest; chunk_digests (chunk_count * ART_LEAF_LEN) receives the
 * leaves, or NULL skips hashing (the benchmark's decrypt-only figure; never for a model that is used). */
CCG_MUST_CHECK ccg_result art_unseal_chunks(ccg_artifact *a, const art_keys *k, uint8_t *dest,
                                            const art_chunk_meta *meta, unsigned threads,
                                            uint8_t *chunk_digests);

/* --- the seal writer (artifact_seal.c) --- */
typedef struct {
    const uint8_t *model_key;
    size_t model_key_len;
    const char *key_id;
    uint32_t key_version;
    uint32_t chunk_size;
    EVP_PKEY *signer;
    const uint8_t *digest_override; /* tests only: sign this digest instead of the model's (NULL normally) */
    ccg_artifact_progress_fn progress;
    void *progress_ctx;
} art_seal_params;

CCG_MUST_CHECK ccg_result art_seal_fd(int in_fd, int out_fd, const art_seal_params *p);

/* Reads exactly n bytes at off; a short read is artifact.truncated. */
CCG_MUST_CHECK ccg_result art_pread_full(int fd, void *buf, size_t n, uint64_t off);

#endif
