/* The inference endpoint's attestation binding (docs/endpoint.md, docs/client.md): the evidence document
 * served at GET /.well-known/ccgate/evidence and the REPORT_DATA that ties the evidence to the client's
 * nonce, to the TLS session (RFC 9266 tls-exporter) and to the endpoint's OHTTP key configuration.
 *
 *   REPORT_DATA = SHA-512("ccgate endpoint v1" || binding u8 (1 tls-exporter, 2 hpke) || nonce[32]
 *                         || exporter[32] (zeros for hpke) || SHA-256(key_config))
 *
 * Both sides use this header: the endpoint computes REPORT_DATA and encodes the document, the client
 * decodes it and checks REPORT_DATA against what it knows itself. */
#ifndef CCGATE_ENDPOINT_BINDING_H
#define CCGATE_ENDPOINT_BINDING_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_ENDPOINT_NONCE_LEN 32
#define CCG_ENDPOINT_EXPORTER_LEN 32
#define CCG_ENDPOINT_REPORT_DATA_LEN 64
#define CCG_ENDPOINT_DOMAIN "ccgate endpoint v1"
/* RFC 9266: the TLS 1.3 exporter label, empty context, 32 bytes. */
#define CCG_ENDPOINT_EXPORTER_LABEL "EXPORTER-Channel-Binding"
#define CCG_ENDPOINT_EVIDENCE_PATH "/.well-known/ccgate/evidence"
#define CCG_ENDPOINT_OHTTP_PATH "/.well-known/ccgate/ohttp"
/* Bounds of the evidence document (a TDX quote with its chain is about 5 KiB; the CCEL log is the largest
 * member). The whole JSON text is refused above CCG_ENDPOINT_EVIDENCE_MAX. */
#define CCG_ENDPOINT_EVIDENCE_MAX (4u << 20)
#define CCG_ENDPOINT_KEY_CONFIG_MAX 1024

typedef enum {
    CCG_ENDPOINT_BINDING_TLS_EXPORTER = 1,
    CCG_ENDPOINT_BINDING_HPKE = 2,
} ccg_endpoint_binding;

typedef enum {
    CCG_ENDPOINT_TEE_SNP = 1,
    CCG_ENDPOINT_TEE_TDX = 2,
} ccg_endpoint_tee;

/* "tls-exporter" / "hpke"; NULL for another value. */
const char *ccg_endpoint_binding_name(ccg_endpoint_binding b);
/* Parses the query's binding value; anything else is client.evidence_malformed. */
CCG_MUST_CHECK ccg_result ccg_endpoint_binding_parse(const char *name, ccg_endpoint_binding *out);
/* "snp" / "tdx"; NULL for another value. */
const char *ccg_endpoint_tee_name(ccg_endpoint_tee t);

/* REPORT_DATA per the formula above. exporter must be NULL for the hpke binding (zeros are hashed) and
 * non-NULL for tls-exporter; anything else is usage.invalid. */
CCG_MUST_CHECK ccg_result ccg_endpoint_report_data(ccg_endpoint_binding binding, const uint8_t nonce[CCG_ENDPOINT_NONCE_LEN],
                                                   const uint8_t *exporter, const uint8_t *key_config,
                                                   size_t key_config_len, uint8_t out[CCG_ENDPOINT_REPORT_DATA_LEN]);

/* The query's nonce: unpadded base64url of exactly 32 bytes, else client.evidence_malformed. */
CCG_MUST_CHECK ccg_result ccg_endpoint_nonce_decode(const char *b64url, uint8_t out[CCG_ENDPOINT_NONCE_LEN]);

/* The TLS 1.3 exporter of an OpenSSL connection (RFC 9266): SSL_export_keying_material with the label
 * above, no context, 32 bytes. `ssl` is an SSL *; a connection that is not TLS 1.3 is usage.invalid. */
CCG_MUST_CHECK ccg_result ccg_endpoint_tls_exporter(void *ssl, uint8_t out[CCG_ENDPOINT_EXPORTER_LEN]);

/* The decoded document. Byte members are malloc'd; absent optional members are NULL/0. */
typedef struct {
    int version; /* 1 */
    ccg_endpoint_tee tee;
    ccg_endpoint_binding binding;
    uint8_t nonce[CCG_ENDPOINT_NONCE_LEN];
    uint8_t *key_config; /* required */
    size_t key_config_len;
    uint8_t *report; /* required: the SNP report or the TDX quote */
    size_t report_len;
    uint8_t *certs; /* optional: the SNP certificate table */
    size_t certs_len;
    uint8_t *ccel; /* optional: the ACPI CCEL table (TDX) */
    size_t ccel_len;
    uint8_t *ccel_data; /* optional: the CCEL event log (TDX) */
    size_t ccel_data_len;
} ccg_endpoint_evidence;

/* The JSON text (malloc'd, NUL-terminated) of a document; version is always written as 1. */
CCG_MUST_CHECK ccg_result ccg_endpoint_evidence_encode(const ccg_endpoint_evidence *doc, char **json_out);
/* Strict decode of len bytes of JSON: an object with exactly the members above (certs, ccel, ccel_data
 * optional), version 1, a known tee and binding, unpadded base64url everywhere, a 32-byte nonce, bounded
 * sizes. Any other input is client.evidence_malformed and *out is left empty. */
CCG_MUST_CHECK ccg_result ccg_endpoint_evidence_decode(const char *text, size_t len, ccg_endpoint_evidence *out);
void ccg_endpoint_evidence_free(ccg_endpoint_evidence *doc);

/* The client's check of a decoded document against its own request, given the REPORT_DATA that the
 * verified report carries:
 *  - binding differs from the one asked for, or the document's nonce is not ours: client.binding_mismatch
 *    (replayed evidence, from another session);
 *  - REPORT_DATA differs from the formula over our nonce, our exporter and the document's key config:
 *    client.exporter_mismatch for tls-exporter (bound to another session's exporter: relayed),
 *    client.binding_mismatch for hpke (another key). Comparisons are constant-time. */
CCG_MUST_CHECK ccg_result ccg_endpoint_check_binding(const ccg_endpoint_evidence *doc, ccg_endpoint_binding want,
                                                     const uint8_t nonce[CCG_ENDPOINT_NONCE_LEN],
                                                     const uint8_t *exporter,
                                                     const uint8_t report_data[CCG_ENDPOINT_REPORT_DATA_LEN]);

#endif
