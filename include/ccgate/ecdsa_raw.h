/* ECDSA signatures in the fixed-width R||S form (IEEE P1363, as JOSE and ccgate's signed documents use)
 * converted to and from the DER ECDSA-Sig-Value that OpenSSL signs and verifies. */
#ifndef CCGATE_ECDSA_RAW_H
#define CCGATE_ECDSA_RAW_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

/* DER to R||S, each half `half` bytes big-endian (32 for P-256, 48 for P-384). */
CCG_MUST_CHECK ccg_result ccg_ecdsa_der_to_raw(const uint8_t *der, size_t der_len, size_t half, uint8_t *raw);
/* R||S (2 * half bytes) to DER, allocated with OPENSSL_malloc (free with OPENSSL_free). Out-of-range
 * values still convert: they are signatures that will not verify. */
CCG_MUST_CHECK ccg_result ccg_ecdsa_raw_to_der(const uint8_t *raw, size_t half, uint8_t **der, size_t *der_len);

#endif
