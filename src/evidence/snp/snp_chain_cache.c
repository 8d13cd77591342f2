/* The verified-chain cache. */
#include "snp_chain_cache.h"

#include <openssl/evp.h>
#include <string.h>

#include "ccgate/x509util.h"

void snp_chain_cache_init(snp_chain_cache *c)
{
    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
}

void snp_chain_cache_free(snp_chain_cache *c)
{
    for (size_t i = 0; i < SNP_CHAIN_CACHE_SLOTS; i++) {
        snp_chain_facts_free(&c->slots[i].facts);
    }
    pthread_mutex_destroy(&c->lock);
}

ccg_result snp_chain_cache_key(const ccg_snp_collateral *col, ccg_snp_signer signer, ccg_snp_product hint,
                               uint8_t key[32])
{
    ccg_result result = CCG_FAILURE;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    uint8_t digest[32];
    unsigned int n = 0;
    uint8_t context[2] = {(uint8_t)signer, (uint8_t)hint};
    CCG_ENSURE_ALLOC(md);
    CCG_ENSURE_OSSL(EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DigestUpdate(md, context, sizeof(context)) == 1, CCG_R_INTERNAL_CRYPTO);
    for (int i = 0; i < sk_X509_num(col->certs); i++) {
        CCG_TRY(ccg_x509_sha256(sk_X509_value(col->certs, i), digest));
        CCG_ENSURE_OSSL(EVP_DigestUpdate(md, digest, sizeof(digest)) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    if (col->crl != NULL) {
        CCG_ENSURE_OSSL(X509_CRL_digest(col->crl, EVP_sha256(), digest, &n) == 1, CCG_R_INTERNAL_CRYPTO);
        CCG_ENSURE_OSSL(EVP_DigestUpdate(md, digest, n) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    CCG_ENSURE_OSSL(EVP_DigestFinal_ex(md, key, &n) == 1 && n == 32, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_MD_CTX_free(md);
    return result;
}

int snp_chain_cache_get(snp_chain_cache *c, const uint8_t key[32], snp_chain_facts *out)
{
    int found = 0;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < SNP_CHAIN_CACHE_SLOTS && !found; i++) {
        if (c->slots[i].used && memcmp(c->slots[i].key, key, 32) == 0) {
            snp_chain_facts_copy(out, &c->slots[i].facts);
            found = out->leaf_key != NULL;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return found;
}

void snp_chain_cache_put(snp_chain_cache *c, const uint8_t key[32], const snp_chain_facts *facts)
{
    pthread_mutex_lock(&c->lock);
    snp_chain_cache_slot *slot = &c->slots[c->next];
    c->next = (c->next + 1) % SNP_CHAIN_CACHE_SLOTS;
    snp_chain_facts_free(&slot->facts);
    memcpy(slot->key, key, 32);
    snp_chain_facts_copy(&slot->facts, facts);
    slot->used = slot->facts.leaf_key != NULL;
    pthread_mutex_unlock(&c->lock);
}
