/* Oblivious HTTP (RFC 9458) encapsulation over the project's HPKE (hpke.h), and the known-length Binary
 * HTTP messages (RFC 9292) it carries (docs/ohttp.md).
 *
 * The gateway mode of the inference endpoint: the client encapsulates a bhttp request to the endpoint's
 * attested HPKE key (the key config is hashed into REPORT_DATA, endpoint_binding.h); a TLS-terminating
 * gateway sees only ciphertext. KEM DHKEM(X25519, HKDF-SHA256) only; KDF HKDF-SHA256; AEAD AES-128-GCM or
 * ChaCha20-Poly1305. Failures carry client.ohttp_* / client.bhttp_malformed reason codes. */
#ifndef CCGATE_OHTTP_H
#define CCGATE_OHTTP_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/hpke.h"
#include "ccgate/result.h"

#define CCG_OHTTP_MAX_SUITES 16
/* Bound of one encapsulated message (and of its plaintext); larger is input.too_large. */
#define CCG_OHTTP_MAX_MESSAGE (16u << 20)
#define CCG_OHTTP_HDR_LEN 7 /* key_id(1) kem_id(2) kdf_id(2) aead_id(2) */
#define CCG_OHTTP_REQ_LABEL "message/bhttp request"
#define CCG_OHTTP_RES_LABEL "message/bhttp response"
#define CCG_OHTTP_MAX_RESPONSE_NONCE 32 /* max(Nn, Nk) of the AEADs implemented */

typedef struct {
    uint16_t kdf_id;
    uint16_t aead_id;
} ccg_ohttp_sym;

/* One key configuration (RFC 9458 section 3.1). */
typedef struct {
    uint8_t key_id;
    uint16_t kem_id;
    uint8_t pk[CCG_HPKE_X25519_LEN];
    size_t n_suites;
    ccg_ohttp_sym suites[CCG_OHTTP_MAX_SUITES];
} ccg_ohttp_key_config;

/* Encodes a key config (malloc'd). At least one suite; every suite must be one ccgate implements. */
CCG_MUST_CHECK ccg_result ccg_ohttp_key_config_encode(const ccg_ohttp_key_config *kc, uint8_t **out, size_t *out_len);
/* Parses exactly len bytes of one key config. Unknown KEM, a public key of the wrong length, an empty or
 * odd suite list, more than CCG_OHTTP_MAX_SUITES suites, or trailing bytes: client.ohttp_key_config_invalid.
 * Suites ccgate does not implement are kept (a client picks among the supported ones). */
CCG_MUST_CHECK ccg_result ccg_ohttp_key_config_parse(const uint8_t *data, size_t len, ccg_ohttp_key_config *out);
/* The first suite of kc that ccgate implements (client.ohttp_key_config_invalid when none). */
CCG_MUST_CHECK ccg_result ccg_ohttp_key_config_pick(const ccg_ohttp_key_config *kc, ccg_ohttp_sym *out);

typedef struct ccg_ohttp_ctx ccg_ohttp_ctx;

/* Client: encapsulates a request (RFC 9458 4.3) to kc with suite `sym`. eph is the ephemeral key pair,
 * NULL for a fresh one (the RFC vectors pass theirs). *out is hdr || enc || ct (malloc'd); *ctx keeps what
 * decapsulating the response needs. */
CCG_MUST_CHECK ccg_result ccg_ohttp_client_encap_request(const ccg_ohttp_key_config *kc, ccg_ohttp_sym sym,
                                                         const uint8_t *req, size_t req_len, const ccg_hpke_keypair *eph,
                                                         uint8_t **out, size_t *out_len, ccg_ohttp_ctx **ctx);
/* Client: decapsulates the response (RFC 9458 4.4) under ctx. A short or tampered response, or one for
 * another request, is client.ohttp_decrypt_failed / client.ohttp_malformed. *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_ohttp_client_decap_response(const ccg_ohttp_ctx *ctx, const uint8_t *res, size_t res_len,
                                                          uint8_t **out, size_t *out_len);

/* Server: decapsulates a request with its key config and key pair. An unknown key ID, KEM or a suite not
 * listed in kc is client.ohttp_malformed; a failed open is client.ohttp_decrypt_failed. */
CCG_MUST_CHECK ccg_result ccg_ohttp_server_decap_request(const ccg_ohttp_key_config *kc, const ccg_hpke_keypair *kp,
                                                         const uint8_t *msg, size_t msg_len, uint8_t **req,
                                                         size_t *req_len, ccg_ohttp_ctx **ctx);
/* Server: encapsulates the response under the request's context. response_nonce is max(Nn, Nk) bytes for
 * tests (the RFC vector), NULL for a fresh random one. *out is response_nonce || ct (malloc'd). */
CCG_MUST_CHECK ccg_result ccg_ohttp_server_encap_response(const ccg_ohttp_ctx *ctx, const uint8_t *res, size_t res_len,
                                                          const uint8_t *response_nonce, uint8_t **out, size_t *out_len);

/* Zeroes the HPKE context and frees. NULL is fine. */
void ccg_ohttp_ctx_free(ccg_ohttp_ctx *ctx);

/* ---------------------------------------------------------------- RFC 9292 known-length messages */

#define CCG_BHTTP_MAX_FIELDS 128
#define CCG_BHTTP_MAX_FIELD_LEN 8192 /* one name or value */

typedef struct {
    char *name; /* NUL-terminated, lower case */
    char *value;
    size_t value_len;
} ccg_bhttp_field;

typedef struct {
    ccg_bhttp_field *items;
    size_t count;
} ccg_bhttp_fields;

typedef struct {
    char *method, *scheme, *authority, *path; /* NUL-terminated; authority may be "" */
    ccg_bhttp_fields headers;
    uint8_t *content;
    size_t content_len;
    ccg_bhttp_fields trailers;
} ccg_bhttp_request;

typedef struct {
    int status; /* the final status, 200..599 */
    size_t informational; /* how many 1xx responses preceded it (their fields are dropped) */
    ccg_bhttp_fields headers;
    uint8_t *content;
    size_t content_len;
    ccg_bhttp_fields trailers;
} ccg_bhttp_response;

/* Appends a header (copies name and value; the name must be a lower-case token). */
CCG_MUST_CHECK ccg_result ccg_bhttp_fields_add(ccg_bhttp_fields *f, const char *name, const char *value, size_t value_len);
/* The first field named `name` (lower case), or NULL. */
const ccg_bhttp_field *ccg_bhttp_fields_get(const ccg_bhttp_fields *f, const char *name);

/* Encoders (known length, framing 0 and 1, no truncation, no padding). *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_bhttp_request_encode(const ccg_bhttp_request *req, uint8_t **out, size_t *out_len);
CCG_MUST_CHECK ccg_result ccg_bhttp_response_encode(const ccg_bhttp_response *res, uint8_t **out, size_t *out_len);
/* Decoders through the bounded reader: known-length only (framing 0 / 1; indeterminate length is refused),
 * truncation and zero padding as RFC 9292 section 3.8 allows; pseudo-fields, invalid names or values
 * (H2 8.2.1), a status outside 100..599, non-zero padding: client.bhttp_malformed. */
CCG_MUST_CHECK ccg_result ccg_bhttp_request_decode(const uint8_t *data, size_t len, ccg_bhttp_request *out);
CCG_MUST_CHECK ccg_result ccg_bhttp_response_decode(const uint8_t *data, size_t len, ccg_bhttp_response *out);
void ccg_bhttp_request_free(ccg_bhttp_request *req);
void ccg_bhttp_response_free(ccg_bhttp_response *res);
void ccg_bhttp_fields_free(ccg_bhttp_fields *f);

#endif
