/* Building and checking the SEV-SNP endorsement chain (internal to the SNP verifier).
 * VCEK -> ASK -> ARK, or VLEK -> ASVK -> ARK; every link must be RSASSA-PSS with SHA-384 (other
 * algorithms are refused as cert.signature_invalid); the ARK pinned per product. */
#ifndef CCGATE_SNP_CHAIN_H
#define CCGATE_SNP_CHAIN_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ccgate/decision.h"
#include "ccgate/snp_vcek.h"
#include "ccgate/snp_verify.h"

#define SNP_CHAIN_MAX_CERTS 3

typedef struct {
    char cn[64];
    ccg_time not_before;
    ccg_time not_after;
} snp_cert_window;

/* What a verified chain establishes, independent of the verification time. Cached by digest. */
typedef struct {
    ccg_snp_product product;
    ccg_snp_signer signer;
    EVP_PKEY *leaf_key; /* owned reference; NULL when no usable endorsement key was found */
    ccg_snp_vcek_ext ext;
    snp_cert_window windows[SNP_CHAIN_MAX_CERTS];
    size_t window_count;
    int has_crl;
    ccg_time crl_last_update;
    ccg_time crl_next_update; /* 0: the CRL has no nextUpdate */
    int chain_ok;             /* every link verified to a trusted root, and nothing revoked */
} snp_chain_facts;

typedef struct {
    ccg_snp_product product;
    X509 *cert; /* owned reference */
} snp_trusted_root;

typedef struct {
    snp_trusted_root *items;
    size_t count;
} snp_root_set;

/* Loads the pinned AMD ARKs, checking each against its pinned fingerprint. */
CCG_MUST_CHECK ccg_result snp_roots_load_pinned(snp_root_set *set);
CCG_MUST_CHECK ccg_result snp_roots_add(snp_root_set *set, ccg_snp_product product, X509 *cert);
void snp_roots_free(snp_root_set *set);

/* Establishes the chain facts for a report signed by `signer`, whose CPUID names `product_hint`
 * (UNKNOWN for v2). Every structural failure is added to `d`; facts are filled as far as possible. */
CCG_MUST_CHECK ccg_result snp_chain_build(const snp_root_set *roots, const ccg_snp_collateral *col,
                                          ccg_snp_signer signer, ccg_snp_product product_hint,
                                          snp_chain_facts *facts, ccg_decision *d);
/* Applies the verification time to the facts: certificate and CRL validity. */
void snp_chain_check_time(const snp_chain_facts *facts, ccg_time now, ccg_decision *d);
void snp_chain_facts_free(snp_chain_facts *facts);
/* Copies facts (taking a new reference to the key). */
void snp_chain_facts_copy(snp_chain_facts *dst, const snp_chain_facts *src);

#endif
