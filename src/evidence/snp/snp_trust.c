/* The set of roots an SNP verifier trusts: the pinned AMD ARKs, plus roots a caller names explicitly. */
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "snp_chain.h"
#include "snp_roots.h"

ccg_result snp_roots_add(snp_root_set *set, ccg_snp_product product, X509 *cert)
{
    ccg_result result = CCG_FAILURE;
    snp_trusted_root *grown = realloc(set->items, (set->count + 1) * sizeof(*grown));
    CCG_ENSURE_ALLOC(grown);
    set->items = grown;
    CCG_ENSURE_OSSL(X509_up_ref(cert) == 1, CCG_R_INTERNAL_CRYPTO);
    set->items[set->count].product = product;
    set->items[set->count].cert = cert;
    set->count++;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result load_pinned_root(const ccg_snp_pinned_root *pin, X509 **out)
{
    ccg_result result = CCG_FAILURE;
    BIO *bio = BIO_new_mem_buf(pin->pem, -1);
    X509 *cert = NULL;
    uint8_t digest[32];
    char hex[65];
    CCG_ENSURE_ALLOC(bio);
    cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CCG_ENSURE_OSSL(cert != NULL, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_x509_sha256(cert, digest));
    ccg_hex_encode(digest, sizeof(digest), hex);
    CCG_ENSURE_MSG(strcmp(hex, pin->sha256_hex) == 0, CCG_R_INTERNAL_ERROR, "pinned %s ARK fingerprint mismatch",
                   ccg_snp_product_name(pin->product));
    *out = cert;
    cert = NULL;
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    BIO_free(bio);
    return result;
}

ccg_result snp_roots_load_pinned(snp_root_set *set)
{
    ccg_result result = CCG_FAILURE;
    X509 *cert = NULL;
    for (size_t i = 0; i < ccg_snp_pinned_root_count; i++) {
        CCG_TRY(load_pinned_root(&ccg_snp_pinned_roots[i], &cert));
        CCG_TRY(snp_roots_add(set, ccg_snp_pinned_roots[i].product, cert));
        X509_free(cert);
        cert = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    X509_free(cert);
    return result;
}

void snp_roots_free(snp_root_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        X509_free(set->items[i].cert);
    }
    free(set->items);
    memset(set, 0, sizeof(*set));
}
