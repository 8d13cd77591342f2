/* A small cache of verified chains, keyed by the digest of the certificates, CRL and report context.
 * Only chains whose every link verified are stored. Thread-safe. */
#ifndef CCGATE_SNP_CHAIN_CACHE_H
#define CCGATE_SNP_CHAIN_CACHE_H

#include <pthread.h>

#include "snp_chain.h"

#define SNP_CHAIN_CACHE_SLOTS 64

typedef struct {
    int used;
    uint8_t key[32];
    snp_chain_facts facts;
} snp_chain_cache_slot;

typedef struct {
    pthread_mutex_t lock;
    snp_chain_cache_slot slots[SNP_CHAIN_CACHE_SLOTS];
    size_t next; /* round-robin eviction */
} snp_chain_cache;

void snp_chain_cache_init(snp_chain_cache *c);
void snp_chain_cache_free(snp_chain_cache *c);
/* The cache key for a collateral set and the report context it is used with. */
CCG_MUST_CHECK ccg_result snp_chain_cache_key(const ccg_snp_collateral *col, ccg_snp_signer signer,
                                              ccg_snp_product hint, uint8_t key[32]);
/* Copies cached facts into *out (a new key reference) and returns 1, or returns 0. */
int snp_chain_cache_get(snp_chain_cache *c, const uint8_t key[32], snp_chain_facts *out);
void snp_chain_cache_put(snp_chain_cache *c, const uint8_t key[32], const snp_chain_facts *facts);

#endif
