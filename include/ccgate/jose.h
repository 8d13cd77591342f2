/* JOSE for the KBS attestation protocol 0.4.0 (Confidential Containers / Trustee): base64url, RFC 8785
 * canonical JSON, the guest's tee-pubkey JWK, the resource JWE (flattened JSON serialisation) and the
 * attestation token (compact JWS, ES256). All cryptography goes through OpenSSL 3 EVP; JSON is jansson.
 *
 * Reason codes: jose.jwk_invalid / jose.jwk_unsupported for keys, jose.jwe_invalid for anything wrong with
 * a JWE, jose.jwt_invalid / jose.jwt_expired for tokens. Canonical JSON refuses what it cannot render
 * exactly with input.malformed. Messages name fields, never key material. See docs/jose.md. */
#ifndef CCGATE_JOSE_H
#define CCGATE_JOSE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <openssl/types.h>

#include "ccgate/reasons.h"
#include "ccgate/result.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"

/* Algorithm names as they appear on the wire. */
#define CCG_JOSE_ALG_ECDH_ES_A256KW "ECDH-ES+A256KW"
#define CCG_JOSE_ALG_RSA_OAEP_256 "RSA-OAEP-256"
#define CCG_JOSE_ALG_ES256 "ES256"
#define CCG_JOSE_ENC_A256GCM "A256GCM"

/* ---------------------------------------------------------------- base64url (RFC 4648 §5, unpadded) */

/* Characters in the encoding of n bytes (the terminating NUL not counted). */
size_t ccg_b64url_len(size_t n);
/* Encodes n bytes into out, which has room for ccg_b64url_len(n) + 1 bytes; NUL-terminates. */
void ccg_b64url_encode_into(const uint8_t *in, size_t n, char *out);
/* The encoding, malloc'd and NUL-terminated; NULL when out of memory. */
char *ccg_b64url_encode(const uint8_t *in, size_t n);
/* Strict decode of in_len characters: only A-Z a-z 0-9 '-' '_'; no padding, no whitespace, no length
 * of 1 mod 4, and the unused low bits of the last character must be zero (one encoding per byte string).
 * Fails with `reason`. *out is malloc'd (never NULL on success, even for an empty result). */
CCG_MUST_CHECK ccg_result ccg_b64url_decode(const char *in, size_t in_len, ccg_reason reason, uint8_t **out,
                                            size_t *out_len);
/* As ccg_b64url_decode into a caller's buffer of exactly n bytes; any other decoded length fails. */
CCG_MUST_CHECK ccg_result ccg_b64url_decode_exact(const char *in, size_t in_len, ccg_reason reason, uint8_t *out,
                                                  size_t n);

/* ---------------------------------------------------------------- RFC 8785 canonical JSON (JCS) */

/* Integers of at most this magnitude are exact IEEE-754 doubles, so their JCS form is their digits. */
#define CCG_JCS_MAX_INTEGER 9007199254740992LL /* 2^53 */
#define CCG_JCS_MAX_DEPTH 64

/* The canonical serialisation of v: object members sorted by their names' UTF-16 code units, no
 * whitespace, strings escaped as ECMAScript's JSON.stringify does. Supported: null, true, false, strings
 * (valid UTF-8, NUL allowed), arrays, objects, and integers with |i| <= 2^53. Refused with
 * input.malformed: reals (ccgate never needs them in signed or hashed JSON), larger integers, invalid
 * UTF-8 and nesting deeper than CCG_JCS_MAX_DEPTH. *out is malloc'd and NUL-terminated. */
CCG_MUST_CHECK ccg_result ccg_jcs_serialize(const json_t *v, char **out, size_t *out_len);

/* ---------------------------------------------------------------- JWK: the guest's public key */

typedef enum {
    CCG_JWK_EC_P256 = 1, /* kty "EC", crv "P-256" */
    CCG_JWK_RSA = 2,     /* kty "RSA", 2048..4096-bit modulus */
    CCG_JWK_EC_P521 = 3, /* kty "EC", crv "P-521" (coordinates of 66 bytes) */
} ccg_jwk_kind;

#define CCG_JWK_RSA_MIN_BITS 2048
/* 4096: a larger modulus costs the broker CPU on every request (issue 10); refused by its length first. */
#define CCG_JWK_RSA_MAX_BITS 4096
#define CCG_JWK_MAX_TEXT (64u * 1024u)

typedef struct ccg_jwk ccg_jwk;

/* Parses a public JWK for key encryption (the KBS `tee-pubkey`), strictly:
 *   EC:  "kty":"EC", "crv":"P-256" or "P-521", "x" and "y" of exactly 32 (P-256) or 66 (P-521) bytes
 *        each, a point on the curve;
 *   RSA: "kty":"RSA", "n" of 2048..4096 bits and "e" (odd, >= 3), both minimal (no leading zero byte),
 *        passing OpenSSL's public-key check; a longer "n" is jose.jwk_too_large, by its length alone.
 * "alg", when present, must be ECDH-ES+A256KW (EC) or RSA-OAEP-256 (RSA); "use", when present, "enc".
 * Private members (d, p, q, dp, dq, qi, oth, k) are refused: a private key must never be sent. Other
 * members (kid, key_ops, x5c, ...) are ignored as RFC 7517 §4 says (the key broker refuses them in a
 * tee-pubkey: ccg_kbs_attestation_parse_key).
 * Errors: jose.jwk_invalid (malformed, private, off-curve, a coordinate of another length),
 * jose.jwk_too_large (RSA above 4096 bits) or jose.jwk_unsupported (other kty, crv, alg or use). */
CCG_MUST_CHECK ccg_result ccg_jwk_parse(const json_t *jwk, ccg_jwk **out);
/* As ccg_jwk_parse over JSON text (at most CCG_JWK_MAX_TEXT bytes, duplicate members refused). */
CCG_MUST_CHECK ccg_result ccg_jwk_parse_text(const char *text, size_t len, ccg_jwk **out);
/* The JWK of an OpenSSL key's public half (EC P-256 or P-521, or RSA of 2048..4096 bits; a private key is fine,
 * only its public part is kept). alg NULL means the key kind's encryption algorithm; "ES256" is allowed
 * for a P-256 signing key (publishing a token key). */
CCG_MUST_CHECK ccg_result ccg_jwk_from_pkey(EVP_PKEY *pkey, const char *alg, ccg_jwk **out);
void ccg_jwk_free(ccg_jwk *jwk);
/* A copy that shares the OpenSSL key (a new reference to it): an immutable parse handed to another holder. */
CCG_MUST_CHECK ccg_result ccg_jwk_dup(const ccg_jwk *jwk, ccg_jwk **out);

ccg_jwk_kind ccg_jwk_type(const ccg_jwk *jwk);
/* The algorithm: as sent, or the kind's default (ECDH-ES+A256KW, RSA-OAEP-256) when "alg" was absent. */
const char *ccg_jwk_alg(const ccg_jwk *jwk);
/* The public key (borrowed; valid until ccg_jwk_free). */
EVP_PKEY *ccg_jwk_pkey(const ccg_jwk *jwk);
/* A new object with the members Trustee's TeePubKey carries, in its order:
 * EC {"kty","crv","alg","x","y"}, RSA {"kty","alg","n","e"}; "alg" only when the JWK had one.
 * NULL when out of memory. */
json_t *ccg_jwk_to_json(const ccg_jwk *jwk);
/* RFC 7638 thumbprint (SHA-256 over the required members), e.g. to name a key in an audit record. */
CCG_MUST_CHECK ccg_result ccg_jwk_thumbprint(const ccg_jwk *jwk, uint8_t out[32]);

/* ---------------------------------------------------------------- KBS REPORT_DATA binding */

/* The runtime data a KBS 0.4.0 guest binds into its evidence, in RFC 8785 form:
 *   {"additional-evidence":<string>,"nonce":<string>,"tee-pubkey":<ccg_jwk_to_json(tee_pubkey)>}
 * additional_evidence is the Attestation's tee-evidence.additional_evidence string ("" when the guest
 * has no additional devices). *out is malloc'd and NUL-terminated. */
CCG_MUST_CHECK ccg_result ccg_jose_kbs_runtime_data(const char *nonce, const ccg_jwk *tee_pubkey,
                                                    const char *additional_evidence, char **out, size_t *out_len);
/* REPORT_DATA = hash(runtime data above), zero-padded to 64 bytes. hash is the Challenge's
 * "selected-hash-algorithm": "sha256", "sha384" (the protocol's default) or "sha512". */
CCG_MUST_CHECK ccg_result ccg_jose_kbs_report_data(const char *hash, const char *nonce, const ccg_jwk *tee_pubkey,
                                                   const char *additional_evidence, uint8_t out[64]);

/* ---------------------------------------------------------------- JWE (flattened JSON serialisation) */

#define CCG_JWE_MAX_PLAINTEXT (16u * 1024u * 1024u)
#define CCG_JWE_MAX_TEXT (24u * 1024u * 1024u)

/* Encrypts to the recipient with a fresh random CEK: ECDH-ES+A256KW (an ephemeral key on the recipient's
 * curve, P-256 or P-521, Concat KDF with SHA-256 over the x-coordinate secret, AES-256 key wrap) for an
 * EC key, RSA-OAEP-256 for an RSA key; content A256GCM with a random 96-bit IV and
 * AAD = ASCII(BASE64URL(protected header)). The protected header is exactly
 *   {"alg":"ECDH-ES+A256KW","enc":"A256GCM","epk":{"crv":"P-256","kty":"EC","x":"...","y":"..."}}
 *   (crv "P-521" with 66-byte coordinates for a P-521 recipient)
 *   {"alg":"RSA-OAEP-256","enc":"A256GCM"}
 * (the bytes a KBS guest rebuilds to compute the AAD). *out is a new object with the members
 * "protected", "encrypted_key", "iv", "ciphertext", "tag", in that order. */
CCG_MUST_CHECK ccg_result ccg_jwe_encrypt(const ccg_jwk *recipient, const uint8_t *plaintext, size_t len,
                                          json_t **out);
/* As ccg_jwe_encrypt, serialised compactly; *out is malloc'd and NUL-terminated. */
CCG_MUST_CHECK ccg_result ccg_jwe_encrypt_text(const ccg_jwk *recipient, const uint8_t *plaintext, size_t len,
                                               char **out, size_t *out_len);
/* Decrypts with the recipient's private key (EC P-256 or P-521, or RSA): the alg must match the key, enc must be
 * A256GCM, and "aad", "unprotected", "header", "crit", "zip", "apu" and "apv" are refused. The plaintext
 * goes to secret memory (see secmem.h for allow_unlocked); free it with ccg_secbuf_free. Every failure is
 * jose.jwe_invalid. */
CCG_MUST_CHECK ccg_result ccg_jwe_decrypt(EVP_PKEY *priv, const json_t *jwe, int allow_unlocked,
                                          ccg_secbuf *plaintext);
/* As ccg_jwe_decrypt over JSON text of at most CCG_JWE_MAX_TEXT bytes. */
CCG_MUST_CHECK ccg_result ccg_jwe_decrypt_text(EVP_PKEY *priv, const char *text, size_t len, int allow_unlocked,
                                               ccg_secbuf *plaintext);

/* The JWE content cipher, AES-256-GCM with a 96-bit IV and a 128-bit tag (exposed for vector tests).
 * ct/pt may alias their input. Open fails with jose.jwe_invalid when the tag does not verify. */
CCG_MUST_CHECK ccg_result ccg_jose_a256gcm_seal(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
                                                size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct,
                                                uint8_t tag[16]);
CCG_MUST_CHECK ccg_result ccg_jose_a256gcm_open(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
                                                size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                                                uint8_t *pt);

/* ---------------------------------------------------------------- JWS ES256 and the attestation JWT */

#define CCG_JWT_MAX_TEXT (64u * 1024u)

/* ECDSA P-256 with SHA-256; the signature in JWS form, R || S, 32 bytes each (RFC 7518 §3.4). */
CCG_MUST_CHECK ccg_result ccg_es256_sign(EVP_PKEY *key, const uint8_t *msg, size_t len, uint8_t sig[64]);
/* Fails with jose.jwt_invalid unless sig is 64 bytes and verifies (R and S in [1, n-1]). */
CCG_MUST_CHECK ccg_result ccg_es256_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig,
                                           size_t sig_len);

/* Signs claims (a JSON object) as a compact JWS with the header {"alg":"ES256","typ":"JWT"}; the
 * claims are serialised compactly with sorted keys. *out is malloc'd and NUL-terminated. */
CCG_MUST_CHECK ccg_result ccg_jwt_sign_es256(EVP_PKEY *key, const json_t *claims, char **out);
/* Verifies a compact JWS signed with ES256 by pub and checks its times against now:
 *   - the header must name "alg":"ES256" (anything else, "none" included, is refused), "typ" if present
 *     must be "JWT", and "crit" is refused;
 *   - the signature must verify; the claims must be a JSON object;
 *   - "exp" is required: now >= exp + leeway is expired; "nbf" > now + leeway and "iat" > now + leeway
 *     are not yet valid (jose.jwt_expired). Time claims must be numbers.
 * Other failures are jose.jwt_invalid. On success *claims is a new reference. */
CCG_MUST_CHECK ccg_result ccg_jwt_verify_es256(EVP_PKEY *pub, const char *token, size_t len, ccg_time now,
                                               int64_t leeway, json_t **claims);

#endif
