/* Helpers shared by the JOSE sources; not part of the public API. */
#ifndef CCGATE_JOSE_INTERNAL_H
#define CCGATE_JOSE_INTERNAL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "ccgate/buf.h"
#include "ccgate/jose.h"

/* A string member: present and a string, else `reason`. Returns the borrowed value and its length. */
CCG_MUST_CHECK ccg_result jose_string_member(const json_t *obj, const char *name, ccg_reason reason,
                                             const char **value, size_t *len);

/* An EC curve a JWK may name. */
#define JOSE_EC_MAX_COORD 66 /* P-521 */
typedef struct {
    ccg_jwk_kind kind;
    const char *crv;   /* the JWK "crv" */
    const char *group; /* OpenSSL's group name */
    size_t len;        /* bytes of a coordinate (and of the ECDH shared secret) */
} jose_curve;

/* By JWK "crv" (NULL when not supported), by kind, and of a key (NULL: not EC on a supported curve). */
const jose_curve *jose_curve_by_crv(const char *crv);
const jose_curve *jose_curve_by_kind(ccg_jwk_kind kind);
const jose_curve *jose_curve_of(const EVP_PKEY *pkey);
/* A public key from its affine coordinates (c->len bytes each), checked to be on the curve. */
CCG_MUST_CHECK ccg_result jose_ec_from_xy(const jose_curve *c, const uint8_t *x, const uint8_t *y, ccg_reason reason,
                                          EVP_PKEY **out);
/* The affine coordinates of a key on c, c->len bytes each. */
CCG_MUST_CHECK ccg_result jose_ec_xy(const jose_curve *c, const EVP_PKEY *pkey, uint8_t *x, uint8_t *y);

/* 1 when pkey is an EC key on P-256. */
int jose_is_p256(const EVP_PKEY *pkey);
/* A public P-256 key from its affine coordinates, checked to be on the curve; fails with reason. */
CCG_MUST_CHECK ccg_result jose_p256_from_xy(const uint8_t x[32], const uint8_t y[32], ccg_reason reason,
                                            EVP_PKEY **out);
/* The public check of a P-256 key (OpenSSL's quick check: P-256 has cofactor 1); fails with reason. */
CCG_MUST_CHECK ccg_result jose_p256_check_public(EVP_PKEY *pkey, ccg_reason reason);
/* A fresh P-256 key pair (from P-256's parameters made once). */
CCG_MUST_CHECK ccg_result jose_p256_keygen(EVP_PKEY **out);
/* The affine coordinates of a P-256 key. */
CCG_MUST_CHECK ccg_result jose_p256_xy(const EVP_PKEY *pkey, uint8_t x[32], uint8_t y[32]);

/* ---- JWE key management (jwe_crypto.c) ---- */

/* ECDH on one curve: the x-coordinate shared secret Z of c->len bytes; both keys must be on c and the
 * peer is validated. */
CCG_MUST_CHECK ccg_result jose_ecdh(const jose_curve *c, EVP_PKEY *priv, EVP_PKEY *peer, ccg_reason reason,
                                    uint8_t *z);
/* ECDH on P-256: the x-coordinate shared secret Z; the peer is validated. */
CCG_MUST_CHECK ccg_result jose_ecdh_p256(EVP_PKEY *priv, EVP_PKEY *peer, ccg_reason reason, uint8_t z[32]);
/* The Concat KDF of RFC 7518 §4.6.2 (NIST SP 800-56A single-step KDF with SHA-256, OpenSSL's SSKDF):
 * OtherInfo = AlgorithmID || PartyUInfo || PartyVInfo || SuppPubInfo, each datum length-prefixed
 * (32-bit big-endian) except SuppPubInfo, which is keydatalen in bits. out_len bytes of key. */
CCG_MUST_CHECK ccg_result jose_concat_kdf(const uint8_t *z, size_t z_len, const char *alg, const uint8_t *apu,
                                          size_t apu_len, const uint8_t *apv, size_t apv_len, uint8_t *out,
                                          size_t out_len);
/* AES-256 key wrap (RFC 3394, default IV) of a 32-byte CEK. */
CCG_MUST_CHECK ccg_result jose_a256kw_wrap(const uint8_t kek[32], const uint8_t cek[32], uint8_t out[40]);
/* Unwraps; an integrity failure is jose.jwe_invalid. */
CCG_MUST_CHECK ccg_result jose_a256kw_unwrap(const uint8_t kek[32], const uint8_t in[40], uint8_t cek[32]);
/* RSAES-OAEP with SHA-256 and MGF1-SHA-256. *out is malloc'd (the modulus size). */
CCG_MUST_CHECK ccg_result jose_rsa_oaep256_encrypt(EVP_PKEY *pub, const uint8_t *in, size_t len, uint8_t **out,
                                                   size_t *out_len);
/* Decrypts a 32-byte CEK. When the ciphertext does not decrypt to 32 bytes, cek is filled with random
 * bytes and the call still succeeds (RFC 7516 §11.5): the content decryption then fails, so a caller
 * cannot tell an OAEP failure from a tag failure. */
CCG_MUST_CHECK ccg_result jose_rsa_oaep256_decrypt_cek(EVP_PKEY *priv, const uint8_t *in, size_t len,
                                                       uint8_t cek[32]);

#endif
