/* Internals of the GPU verifier: the pinned root, the chain facts and their cache, the leaf FWID and
 * the report signature. */
#ifndef CCGATE_GPU_INTERNAL_H
#define CCGATE_GPU_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <pthread.h>

#include "ccgate/decision.h"
#include "ccgate/gpu_verify.h"

/* The NVIDIA Device Identity CA: its certificate and the SHA-256 of its DER. */
extern const char gpu_pinned_root_pem[];
extern const char gpu_pinned_root_sha256[];

/* What a verified chain establishes. leaf_key is a reference the holder frees. */
typedef struct {
    int chain_ok;                /* every link verified to a trusted root at the time given */
    EVP_PKEY *leaf_key;          /* the report signing key (set whenever a leaf was supplied) */
    ccg_gpu_arch arch;           /* from the identity CA's name; UNKNOWN when it names neither */
    char ueid[64];
    char hwmodel[64];
    char root[16];
    int has_leaf_fwid;
    uint8_t leaf_fwid[CCG_GPU_FWID_SIZE];
    ccg_time not_before;         /* latest notBefore on the path */
    ccg_time not_after;          /* earliest notAfter on the path */
} gpu_chain_facts;

void gpu_chain_facts_clear(gpu_chain_facts *f);

#define GPU_CHAIN_CACHE_SLOTS 64

typedef struct {
    int used;
    uint8_t key[32];
    gpu_chain_facts facts;
} gpu_chain_cache_slot;

typedef struct {
    pthread_mutex_t lock;
    gpu_chain_cache_slot slots[GPU_CHAIN_CACHE_SLOTS];
    size_t next;
} gpu_chain_cache;

struct ccg_gpu_verifier {
    X509_STORE *store;  /* the pinned root and any explicitly added test roots */
    X509 *pinned_root;
    gpu_chain_cache cache;
};

/* Builds and verifies the chain (PEM, leaf first) at now, adding every failure to d. Fails only when
 * the PEM cannot be parsed or on an internal error. */
CCG_MUST_CHECK ccg_result gpu_chain_verify(ccg_gpu_verifier *v, const uint8_t *pem, size_t len, ccg_time now,
                                           gpu_chain_facts *facts, ccg_decision *d);

void gpu_chain_cache_init(gpu_chain_cache *c);
void gpu_chain_cache_free(gpu_chain_cache *c);
int gpu_chain_cache_get(gpu_chain_cache *c, const uint8_t key[32], ccg_time now, gpu_chain_facts *out);
void gpu_chain_cache_put(gpu_chain_cache *c, const uint8_t key[32], const gpu_chain_facts *facts);

/* The FWID the leaf certificate carries: the Hopper form (extension 2.23.133.5.4.1, its last element a
 * SEQUENCE {sha384, OCTET STRING}) or the DICE TcbInfo form (2.23.133.5.4.1.1, fwids [6], the first
 * FWID). Returns 1 and fills fwid, or 0 when the leaf has none or it is not well formed. */
int gpu_leaf_fwid(X509 *leaf, uint8_t fwid[CCG_GPU_FWID_SIZE]);

/* 1 valid, 0 invalid (a malformed signature is invalid), -1 internal error. */
int gpu_signature_verify(EVP_PKEY *leaf_key, const uint8_t *report, const ccg_gpu_report *parsed);

#endif
