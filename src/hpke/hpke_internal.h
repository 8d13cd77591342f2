/* HPKE internals shared by the src/hpke sources and the primitive tests (Wycheproof, RFC 9180 KEM values).
 * The functions here are the exact code paths the public API uses: the Wycheproof test calls
 * ccg_hpke_x25519_dh and ccg_hpke_aead_* so it checks what HPKE runs, not a parallel copy. */
#ifndef CCGATE_HPKE_INTERNAL_H
#define CCGATE_HPKE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "ccgate/hpke.h"
#include "ccgate/secmem.h"

#define CCG_HPKE_NH 32     /* HKDF-SHA256 output (Nh) = Nsecret of the X25519 KEM */
#define CCG_HPKE_MAX_SUITE_ID 10

/* A suite_id: "KEM" || I2OSP(kem_id, 2) for the KEM, "HPKE" || kem || kdf || aead for the rest. */
typedef struct {
    uint8_t bytes[CCG_HPKE_MAX_SUITE_ID];
    size_t len;
} ccg_hpke_suite_id;

void ccg_hpke_kem_suite_id(uint16_t kem_id, ccg_hpke_suite_id *sid);
void ccg_hpke_full_suite_id(ccg_hpke_suite suite, ccg_hpke_suite_id *sid);

/* Plain HKDF-SHA256 (RFC 5869), the KDF under the labeled steps, for the protocols that use it unlabeled
 * (OHTTP's response keys, RFC 9458 4.4). An empty salt is Nh zero bytes. */
CCG_MUST_CHECK ccg_result ccg_hpke_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm, size_t ikm_len,
                                                uint8_t prk[CCG_HPKE_NH]);
CCG_MUST_CHECK ccg_result ccg_hpke_hkdf_expand(const uint8_t prk[CCG_HPKE_NH], const uint8_t *info, size_t info_len,
                                               uint8_t *out, size_t out_len);

/* RFC 9180 section 4: LabeledExtract(salt, label, ikm) -> prk (Nh bytes) and
 * LabeledExpand(prk, label, info, L). An empty salt is Nh zero bytes (RFC 5869). */
CCG_MUST_CHECK ccg_result ccg_hpke_labeled_extract(const ccg_hpke_suite_id *sid, const uint8_t *salt, size_t salt_len,
                                                   const char *label, const uint8_t *ikm, size_t ikm_len,
                                                   uint8_t prk[CCG_HPKE_NH]);
CCG_MUST_CHECK ccg_result ccg_hpke_labeled_expand(const ccg_hpke_suite_id *sid, const uint8_t prk[CCG_HPKE_NH],
                                                  const char *label, const uint8_t *info, size_t info_len, uint8_t *out,
                                                  size_t out_len);

/* X25519: the public key of sk, and DH(sk, pk). An all-zero result (a low-order pk) is hpke.dh_zero. */
CCG_MUST_CHECK ccg_result ccg_hpke_x25519_public(const uint8_t sk[CCG_HPKE_X25519_LEN], uint8_t pk[CCG_HPKE_X25519_LEN]);
CCG_MUST_CHECK ccg_result ccg_hpke_x25519_dh(const uint8_t sk[CCG_HPKE_X25519_LEN], const uint8_t pk[CCG_HPKE_X25519_LEN],
                                             uint8_t out[CCG_HPKE_X25519_LEN]);

/* DHKEM(X25519, HKDF-SHA256) Encap with a given ephemeral key pair, and Decap (RFC 9180 4.1). */
CCG_MUST_CHECK ccg_result ccg_hpke_encap(const uint8_t pk_r[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *eph,
                                         uint8_t shared_secret[CCG_HPKE_NH], uint8_t enc[CCG_HPKE_X25519_LEN]);
CCG_MUST_CHECK ccg_result ccg_hpke_decap(const uint8_t enc[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_r,
                                         uint8_t shared_secret[CCG_HPKE_NH]);

/* AuthEncap / AuthDecap (RFC 9180 4.1): the sender's static key pair is mixed in as a second DH. */
CCG_MUST_CHECK ccg_result ccg_hpke_auth_encap(const uint8_t pk_r[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_s,
                                              const ccg_hpke_keypair *eph, uint8_t shared_secret[CCG_HPKE_NH],
                                              uint8_t enc[CCG_HPKE_X25519_LEN]);
CCG_MUST_CHECK ccg_result ccg_hpke_auth_decap(const uint8_t enc[CCG_HPKE_X25519_LEN], const ccg_hpke_keypair *kp_r,
                                              const uint8_t pk_s[CCG_HPKE_X25519_LEN], uint8_t shared_secret[CCG_HPKE_NH]);

/* AEAD primitives. Nk of the AEAD (0 for export-only); hpke.suite_unsupported otherwise. */
CCG_MUST_CHECK ccg_result ccg_hpke_aead_key_len(uint16_t aead_id, size_t *nk);
/* A cipher context keyed once; each seal/open only sets the 12-byte nonce. */
CCG_MUST_CHECK ccg_result ccg_hpke_aead_new(uint16_t aead_id, const uint8_t *key, size_t key_len, EVP_CIPHER_CTX **out);
/* ct receives pt_len bytes of ciphertext followed by the 16-byte tag. pt and ct may be the same buffer. */
CCG_MUST_CHECK ccg_result ccg_hpke_aead_seal(EVP_CIPHER_CTX *c, const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
                                             size_t aad_len, const uint8_t *pt, size_t pt_len, uint8_t *ct);
/* ct is ct_len bytes including the tag; pt receives ct_len - 16 bytes, and is zeroed when the tag fails
 * (hpke.open_failed). A nonce that is not 12 bytes is refused (usage.invalid). */
CCG_MUST_CHECK ccg_result ccg_hpke_aead_open(EVP_CIPHER_CTX *c, const uint8_t *nonce, size_t nonce_len, const uint8_t *aad,
                                             size_t aad_len, const uint8_t *ct, size_t ct_len, uint8_t *pt);

/* The context: secrets in one locked page, the keyed AEAD, and the sequence number. */
struct ccg_hpke_ctx {
    ccg_hpke_suite suite;
    size_t nk;           /* 0 for export-only */
    ccg_secbuf secrets;  /* key[nk] | base_nonce[Nn] | exporter_secret[Nh] */
    EVP_CIPHER_CTX *aead; /* NULL for export-only */
    uint64_t seq;
};

/* VerifyPSKInputs for any of the four modes (RFC 9180 5.1), plus the 32-byte PSK floor. */
CCG_MUST_CHECK ccg_result ccg_hpke_verify_psk_inputs(uint8_t mode, const uint8_t *psk, size_t psk_len, const uint8_t *psk_id,
                                                     size_t psk_id_len);

/* KeySchedule (RFC 9180 5.1) from a KEM shared secret; checks the suite, mode and PSK inputs. */
CCG_MUST_CHECK ccg_result ccg_hpke_key_schedule(ccg_hpke_suite suite, uint8_t mode, const uint8_t shared_secret[CCG_HPKE_NH],
                                                const uint8_t *info, size_t info_len, const uint8_t *psk, size_t psk_len,
                                                const uint8_t *psk_id, size_t psk_id_len, ccg_hpke_ctx **out);

/* Test hook: sets the sequence number (for the message-limit test). */
void ccg_hpke_ctx_set_seq(ccg_hpke_ctx *ctx, uint64_t seq);

#endif
