/* The keystore's private seam between the dispatcher (keystore.c) and its backends. A backend is
 * an AEAD under a named KEK: AES-256-GCM with a 96-bit nonce and a 128-bit tag. The dispatcher
 * owns the blob format (keystore_blob.c), the nonce and the additional data; a backend only seals
 * and opens bytes. */
#ifndef CCGATE_KEYSTORE_INTERNAL_H
#define CCGATE_KEYSTORE_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/keystore.h"

typedef struct {
    /* Creates the KEK labelled `label`; an existing one is never replaced. */
    ccg_result (*create_kek)(void *impl, const char *label);
    /* out receives pt_len ciphertext bytes followed by the CCG_KEYSTORE_TAG_LEN-byte tag. */
    ccg_result (*seal)(void *impl, const char *label, const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN],
                       const uint8_t *aad, size_t aad_len, const ccg_secbuf *pt, uint8_t *out);
    /* ct_tag holds ct_len ciphertext bytes followed by the tag. On success *pt is a new secret
     * buffer of ct_len bytes; on failure it is left zeroed. */
    ccg_result (*open)(void *impl, const char *label, const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN],
                       const uint8_t *aad, size_t aad_len, const uint8_t *ct_tag, size_t ct_len, ccg_secbuf *pt);
    ccg_result (*health)(void *impl, const char *label);
    void (*close)(void *impl);
} ccg_ks_ops;

ccg_result ccg_ks_file_open(const ccg_keystore_config *cfg, const ccg_ks_ops **ops, void **impl);
ccg_result ccg_ks_pkcs11_open(const ccg_keystore_config *cfg, const ccg_ks_ops **ops, void **impl);

/* 1 when label is 1..CCG_KEYSTORE_MAX_LABEL_LEN bytes of printable ASCII. */
int ccg_ks_label_valid(const char *label);
/* SHA-256 of the label's bytes. */
ccg_result ccg_ks_label_digest(const char *label, uint8_t out[32]);
/* Writes the CCG_KEYSTORE_HEADER_LEN-byte header of a version-1 blob. */
void ccg_ks_header_write(uint8_t *hdr, ccg_keystore_backend backend, const uint8_t digest[32],
                         const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN], uint32_t ct_len);

#endif
