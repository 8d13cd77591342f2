/* HPKE (RFC 9180) built from OpenSSL 3.0 primitives, which lack it.
 *
 * Suites: KEM DHKEM(X25519, HKDF-SHA256) (0x0020); KDF HKDF-SHA256 (0x0001);
 * AEAD AES-128-GCM (0x0001), ChaCha20-Poly1305 (0x0003) and export-only (0xFFFF).
 * Modes: Base (0x00) and PSK (0x01) through ccg_hpke_setup_sender/_receiver; Auth (0x02) and
 * AuthPSK (0x03) through ccg_hpke_setup_auth_sender/_receiver. Every function returns a ccg_result; failures carry
 * hpke.* reason codes. Contexts hold secrets in locked memory and are zeroed by ccg_hpke_ctx_free.
 *
 * The sequence number is the RFC's: seal/open use and increment it; after 2^64-1 messages the
 * context refuses (hpke.message_limit). */
#ifndef CCGATE_HPKE_H
#define CCGATE_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_HPKE_KEM_X25519_SHA256 0x0020
#define CCG_HPKE_KDF_HKDF_SHA256 0x0001
#define CCG_HPKE_AEAD_AES128GCM 0x0001
#define CCG_HPKE_AEAD_CHACHA20POLY1305 0x0003
#define CCG_HPKE_AEAD_EXPORT_ONLY 0xFFFF

#define CCG_HPKE_MODE_BASE 0x00
#define CCG_HPKE_MODE_PSK 0x01
#define CCG_HPKE_MODE_AUTH 0x02     /* additive: through ccg_hpke_setup_auth_* only */
#define CCG_HPKE_MODE_AUTH_PSK 0x03 /* additive: through ccg_hpke_setup_auth_* only */

#define CCG_HPKE_X25519_LEN 32 /* Npk = Nsk = Nenc = Nsecret */
#define CCG_HPKE_TAG_LEN 16    /* Nt of both AEADs */
#define CCG_HPKE_MAX_NK 32
#define CCG_HPKE_NN 12

/* Input bounds (additive to the RFC, which leaves them to implementations): info, psk and psk_id
 * are hashed (LabeledExtract) and may be large; exporter_context goes into one HKDF-Expand info,
 * which OpenSSL 3.0 bounds, so it is kept short. Larger inputs are input.too_large. */
#define CCG_HPKE_MAX_INFO_LEN (1u << 20)
#define CCG_HPKE_MAX_EXPORT_CONTEXT_LEN 512
#define CCG_HPKE_MAX_EXPORT_LEN (255 * 32)
/* The RFC's PSK entropy floor (section 5.1.2): shorter PSKs are hpke.psk_inputs_invalid. */
#define CCG_HPKE_MIN_PSK_LEN 32

typedef struct {
    uint16_t kem_id;
    uint16_t kdf_id;
    uint16_t aead_id;
} ccg_hpke_suite;

/* An X25519 key pair; sk is secret (zero it with ccg_hpke_keypair_clear). */
typedef struct {
    uint8_t sk[CCG_HPKE_X25519_LEN];
    uint8_t pk[CCG_HPKE_X25519_LEN];
} ccg_hpke_keypair;

typedef struct ccg_hpke_ctx ccg_hpke_ctx;

/* Refuses a suite ccgate does not implement (hpke.suite_unsupported). */
CCG_MUST_CHECK ccg_result ccg_hpke_suite_check(ccg_hpke_suite suite);

/* A fresh key pair from the OS RNG. */
CCG_MUST_CHECK ccg_result ccg_hpke_generate_keypair(ccg_hpke_keypair *kp);
/* DeriveKeyPair(ikm) per RFC 9180 section 7.1.3 (for the RFC vectors and deterministic tests). */
CCG_MUST_CHECK ccg_result ccg_hpke_derive_keypair(ccg_hpke_suite suite, const uint8_t *ikm, size_t ikm_len,
                                                  ccg_hpke_keypair *kp);
void ccg_hpke_keypair_clear(ccg_hpke_keypair *kp);

/* SetupBaseS / SetupPSKS. `eph` is the sender's ephemeral key pair, or NULL to generate one
 * (tests pass the RFC's; production passes NULL). Writes enc (CCG_HPKE_X25519_LEN bytes).
 * psk/psk_id are NULL/0 in Base mode. */
CCG_MUST_CHECK ccg_result ccg_hpke_setup_sender(ccg_hpke_suite suite, uint8_t mode, const uint8_t pk_r[CCG_HPKE_X25519_LEN],
                                                const uint8_t *info, size_t info_len, const uint8_t *psk, size_t psk_len,
                                                const uint8_t *psk_id, size_t psk_id_len, const ccg_hpke_keypair *eph,
                                                uint8_t enc[CCG_HPKE_X25519_LEN], ccg_hpke_ctx **out);

/* SetupBaseR / SetupPSKR. */
CCG_MUST_CHECK ccg_result ccg_hpke_setup_receiver(ccg_hpke_suite suite, uint8_t mode, const uint8_t enc[CCG_HPKE_X25519_LEN],
                                                  const ccg_hpke_keypair *kp_r, const uint8_t *info, size_t info_len,
                                                  const uint8_t *psk, size_t psk_len, const uint8_t *psk_id,
                                                  size_t psk_id_len, ccg_hpke_ctx **out);

/* Additive: SetupAuthS / SetupAuthPSKS (mode CCG_HPKE_MODE_AUTH or _AUTH_PSK). The sender also
 * proves possession of its static key pair kp_s (RFC 9180 5.1.3). Other arguments as above. */
CCG_MUST_CHECK ccg_result ccg_hpke_setup_auth_sender(ccg_hpke_suite suite, uint8_t mode, const uint8_t pk_r[CCG_HPKE_X25519_LEN],
                                                     const uint8_t *info, size_t info_len, const uint8_t *psk,
                                                     size_t psk_len, const uint8_t *psk_id, size_t psk_id_len,
                                                     const ccg_hpke_keypair *kp_s, const ccg_hpke_keypair *eph,
                                                     uint8_t enc[CCG_HPKE_X25519_LEN], ccg_hpke_ctx **out);

/* Additive: SetupAuthR / SetupAuthPSKR, given the sender's static public key pk_s. */
CCG_MUST_CHECK ccg_result ccg_hpke_setup_auth_receiver(ccg_hpke_suite suite, uint8_t mode,
                                                       const uint8_t enc[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_r,
                                                       const uint8_t pk_s[CCG_HPKE_X25519_LEN], const uint8_t *info,
                                                       size_t info_len, const uint8_t *psk, size_t psk_len,
                                                       const uint8_t *psk_id, size_t psk_id_len, ccg_hpke_ctx **out);

/* ContextS.Seal: ct has room for pt_len + CCG_HPKE_TAG_LEN bytes; *ct_len is set. */
CCG_MUST_CHECK ccg_result ccg_hpke_seal(ccg_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *pt,
                                        size_t pt_len, uint8_t *ct, size_t *ct_len);
/* ContextR.Open: pt has room for ct_len - CCG_HPKE_TAG_LEN bytes. A bad tag is hpke.open_failed
 * and does not advance the sequence number. */
CCG_MUST_CHECK ccg_result ccg_hpke_open(ccg_hpke_ctx *ctx, const uint8_t *aad, size_t aad_len, const uint8_t *ct,
                                        size_t ct_len, uint8_t *pt, size_t *pt_len);
/* Context.Export (exporter_context, L); L <= 255 * 32. */
CCG_MUST_CHECK ccg_result ccg_hpke_export(const ccg_hpke_ctx *ctx, const uint8_t *exporter_context, size_t ctx_len,
                                          uint8_t *out, size_t out_len);

/* The next sequence number seal/open will use (additive; for callers that log or check it). */
uint64_t ccg_hpke_ctx_seq(const ccg_hpke_ctx *ctx);

/* Zeroes the key, base nonce and exporter secret, then frees. NULL is fine. */
void ccg_hpke_ctx_free(ccg_hpke_ctx *ctx);

/* Test hook: the context's key, base_nonce and exporter_secret (for the RFC key-schedule vectors). */
CCG_MUST_CHECK ccg_result ccg_hpke_ctx_secrets(const ccg_hpke_ctx *ctx, const uint8_t **key, size_t *key_len,
                                               const uint8_t **base_nonce, const uint8_t **exporter_secret);

#endif
