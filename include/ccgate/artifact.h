/* Sealed model artifacts (docs/artifact-format.md).
 *
 * A provider seals a model under its model key: a signed header (key ID and version, suite, chunk size,
 * plaintext length and digest, salt), then AES-256-GCM chunks under a per-artifact key derived from the
 * model key with HKDF-SHA256 and the header's random salt. Each chunk's nonce and AAD bind the header
 * digest, the chunk index and a final-chunk flag, so reordering, truncation and splicing are detected.
 *
 * Unsealing streams: chunks are decrypted in parallel straight into the caller's destination memory
 * (for the agent, a memfd mapping), so a model never needs twice its size in RAM. */
#ifndef CCGATE_ARTIFACT_H
#define CCGATE_ARTIFACT_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ccgate/result.h"

#define CCG_ARTIFACT_KEY_ID_MAX 128
/* Key IDs are repo/type/tag (docs/kbs.md "Key lifecycle"): three non-empty segments of [A-Za-z0-9._-],
 * none "." or "..", each at most CCG_KEY_ID_SEGMENT_MAX bytes, the whole at most CCG_KEY_ID_MAX (an
 * artifact header holds at most CCG_ARTIFACT_KEY_ID_MAX of them). */
#define CCG_KEY_ID_SEGMENT_MAX 128u
#define CCG_KEY_ID_MAX 256u
#define CCG_ARTIFACT_DIGEST_LEN 48 /* SHA-384 */
#define CCG_ARTIFACT_MODEL_KEY_LEN 32
#define CCG_ARTIFACT_DEFAULT_CHUNK (1u << 20)
#define CCG_ARTIFACT_CHUNK_MIN 4096u
#define CCG_ARTIFACT_CHUNK_MAX (64u << 20)
#define CCG_ARTIFACT_SALT_LEN 32
#define CCG_ARTIFACT_KEY_CHECK_LEN 32
#define CCG_ARTIFACT_HEADER_MAX 512 /* header + signature, an upper bound */
#define CCG_ARTIFACT_SUITE_AES256GCM 1 /* AES-256-GCM chunks, HKDF-SHA256, SHA-384 over per-chunk SHA-256 */
#define CCG_ARTIFACT_SIG_ES384 1
#define CCG_ARTIFACT_SIG_ED25519 2

typedef struct {
    char key_id[CCG_ARTIFACT_KEY_ID_MAX + 1];
    uint32_t key_version;
    uint16_t suite;
    uint32_t chunk_size;
    uint64_t plaintext_len;
    uint8_t plaintext_digest[CCG_ARTIFACT_DIGEST_LEN];
    uint8_t header_digest[CCG_ARTIFACT_DIGEST_LEN]; /* SHA-384 of the signed header bytes */
    /* Added after the first API cut (docs/artifact-format.md has the byte layout). */
    uint16_t version;      /* format version (1) */
    uint16_t sig_alg;      /* CCG_ARTIFACT_SIG_ES384 or CCG_ARTIFACT_SIG_ED25519 */
    uint64_t chunk_count;  /* >= 1: an empty model still has one (empty) final chunk */
    uint8_t salt[CCG_ARTIFACT_SALT_LEN];
    uint8_t key_check[CCG_ARTIFACT_KEY_CHECK_LEN];
    size_t signed_len;     /* bytes covered by the signature (the header proper) */
    size_t signature_len;  /* 96 (ES384 R||S) or 64 (Ed25519) */
    uint64_t total_len;    /* the whole artifact's size in bytes: header, signature and every chunk */
} ccg_artifact_header;

typedef struct ccg_artifact ccg_artifact;

typedef struct {
    const char *provider_key_path; /* PEM public key (or certificate) that must have signed the header */
    const char *ca_file;           /* for https:// locations; NULL = system trust */
    long timeout_seconds;          /* for http(s); 0 = default */
} ccg_artifact_open_opts;

/* Progress of a seal or an unseal: bytes processed so far of `total`. Unsealing calls it from every
 * decryption thread, concurrently, so it must be thread-safe; each call's `done` is a snapshot of a
 * shared counter, and snapshots may arrive out of order (keep the largest). ccg_progress_callback
 * (include/ccgate/progress.h) fits. */
typedef void (*ccg_artifact_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct {
    const uint8_t *model_key;
    size_t model_key_len;
    const char *key_id;
    uint32_t key_version;
    uint32_t chunk_size;               /* 0 = CCG_ARTIFACT_DEFAULT_CHUNK */
    EVP_PKEY *signer;                  /* the provider's private key (P-384 or Ed25519) */
    ccg_artifact_progress_fn progress; /* optional; total = 2 x the model's size (hashed, then encrypted) */
    void *progress_ctx;
} ccg_artifact_seal_opts;

/* 1 when key_id is repo/type/tag as above. */
int ccg_key_id_valid(const char *key_id);
/* The same as a result: key.id_invalid naming the rule. */
CCG_MUST_CHECK ccg_result ccg_key_id_check(const char *key_id);

/* Seals the model read from in_fd (a regular file or a memfd: it is read twice, with pread) to out_fd,
 * written sequentially, so out_fd may be a pipe. On failure, what was written is not removed (the
 * reader of a cut artifact gets artifact.truncated). */
CCG_MUST_CHECK ccg_result ccg_artifact_seal_fds(int in_fd, int out_fd, const ccg_artifact_seal_opts *opts);

/* Seals in_path to out_path. signer is the provider's private key (P-384 or Ed25519). */
CCG_MUST_CHECK ccg_result ccg_artifact_seal_file(const char *in_path, const char *out_path, const uint8_t *model_key,
                                                 size_t model_key_len, const char *key_id, uint32_t key_version,
                                                 uint32_t chunk_size, EVP_PKEY *signer);

/* Opens a sealed artifact from a local path or an http(s):// URL, parses the header through the bounded
 * reader and verifies the provider's signature. Nothing is decrypted yet. */
CCG_MUST_CHECK ccg_result ccg_artifact_open(const char *location, const ccg_artifact_open_opts *opts, ccg_artifact **out);
const ccg_artifact_header *ccg_artifact_header_of(const ccg_artifact *a);

/* Decrypts every chunk into dest (dest_len >= plaintext_len) on `threads` threads (0 = all cores),
 * then checks the plaintext digest. model_key_version must equal the header's (artifact.key_version_mismatch).
 * On any failure dest is zeroed. */
CCG_MUST_CHECK ccg_result ccg_artifact_unseal_into(ccg_artifact *a, const uint8_t *model_key, size_t model_key_len,
                                                   uint32_t model_key_version, uint8_t *dest, size_t dest_len,
                                                   unsigned threads);
void ccg_artifact_close(ccg_artifact *a);
/* Reports the bytes of plaintext decrypted and authenticated during ccg_artifact_unseal_into (total =
 * plaintext_len) to fn; NULL stops reporting. */
void ccg_artifact_set_progress(ccg_artifact *a, ccg_artifact_progress_fn fn, void *ctx);

/* As ccg_artifact_open over a sealed artifact already in memory (borrowed: it must outlive the handle). */
CCG_MUST_CHECK ccg_result ccg_artifact_open_memory(const uint8_t *data, size_t len, const ccg_artifact_open_opts *opts,
                                                   ccg_artifact **out);

/* Parses a header (and the signature's length) from the first bytes of an artifact through the bounded
 * reader, without verifying anything cryptographic. data may hold more than the header. Fails with
 * input.truncated when len is too short to hold it; out->total_len tells how long the whole file must be. */
CCG_MUST_CHECK ccg_result ccg_artifact_parse_header(const uint8_t *data, size_t len, ccg_artifact_header *out);

/* The model digest a seal of path with this chunk size would sign (SHA-384 over the per-chunk SHA-256s,
 * docs/artifact-format.md), so a provider can compare a registry's figure without unsealing. */
CCG_MUST_CHECK ccg_result ccg_artifact_digest_file(const char *path, uint32_t chunk_size,
                                                   uint8_t digest[CCG_ARTIFACT_DIGEST_LEN], uint64_t *len);
/* As ccg_artifact_digest_file over an open regular file or memfd (read with pread from offset 0). */
CCG_MUST_CHECK ccg_result ccg_artifact_digest_fd(int fd, uint32_t chunk_size, uint8_t digest[CCG_ARTIFACT_DIGEST_LEN],
                                                 uint64_t *len);

#endif
