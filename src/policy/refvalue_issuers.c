/* Trusted reference-value issuers: key ID -> public key. */
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/refvalue.h"
#include "refvalue_internal.h"

typedef struct {
    char id[CCG_REFVAL_ID_MAX];
    EVP_PKEY *key;
} issuer;

struct ccg_refval_issuers {
    issuer *items;
    size_t count;
};

ccg_result ccg_refval_issuers_new(ccg_refval_issuers **out)
{
    ccg_result result = CCG_FAILURE;
    *out = calloc(1, sizeof(**out));
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_refval_issuers_free(ccg_refval_issuers *iss)
{
    if (iss == NULL) {
        return;
    }
    for (size_t i = 0; i < iss->count; i++) {
        EVP_PKEY_free(iss->items[i].key);
    }
    free(iss->items);
    free(iss);
}

/* A PUBLIC KEY block, or the key of a CERTIFICATE block. */
static EVP_PKEY *read_public_key(const uint8_t *pem, size_t len)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *key = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    if (key == NULL && bio != NULL && BIO_reset(bio) == 1) {
        X509 *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
        if (cert != NULL) {
            key = X509_get_pubkey(cert);
            X509_free(cert);
        }
    }
    BIO_free(bio);
    return key;
}

ccg_result ccg_refval_issuers_add_pem(ccg_refval_issuers *iss, const char *id, const uint8_t *pem, size_t len)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *key = NULL;
    issuer *grown = NULL;
    CCG_ENSURE_MSG(id != NULL && *id && strlen(id) < CCG_REFVAL_ID_MAX && len > 0 && len < (1u << 20),
                   CCG_R_USAGE_INVALID, "an issuer needs an ID and a PEM key");
    for (size_t i = 0; i < iss->count; i++) {
        CCG_ENSURE_MSG(strcmp(iss->items[i].id, id) != 0, CCG_R_USAGE_INVALID, "issuer '%s' given twice", id);
    }
    key = read_public_key(pem, len);
    CCG_ENSURE_OSSL(key != NULL, CCG_R_CERT_PARSE_FAILED);
    grown = realloc(iss->items, (iss->count + 1) * sizeof(*grown));
    CCG_ENSURE_ALLOC(grown);
    iss->items = grown;
    snprintf(iss->items[iss->count].id, CCG_REFVAL_ID_MAX, "%s", id);
    iss->items[iss->count].key = key;
    iss->count++;
    key = NULL;
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_free(key);
    return result;
}

EVP_PKEY *refval_issuer_key(const ccg_refval_issuers *iss, const char *id)
{
    for (size_t i = 0; iss != NULL && i < iss->count; i++) {
        if (strcmp(iss->items[i].id, id) == 0) {
            return iss->items[i].key;
        }
    }
    return NULL;
}
