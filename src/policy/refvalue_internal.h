/* Internal to the reference-value module. */
#ifndef CCGATE_REFVALUE_INTERNAL_H
#define CCGATE_REFVALUE_INTERNAL_H

#include <jansson.h>
#include <openssl/evp.h>

/* 1 when the record's signature verifies under key with the key's own algorithm. Sets no error. */
int refval_signature_valid(const json_t *record, EVP_PKEY *key);
/* The trusted key of an issuer ID, or NULL (borrowed). */
struct ccg_refval_issuers;
EVP_PKEY *refval_issuer_key(const struct ccg_refval_issuers *iss, const char *id);

#endif
