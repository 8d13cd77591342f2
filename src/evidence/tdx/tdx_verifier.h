/* The verifier object: the trusted root keys and the cache of verified chains and collateral. */
#ifndef CCGATE_TDX_VERIFIER_H
#define CCGATE_TDX_VERIFIER_H

#include <openssl/evp.h>

#include "ccgate/x509util.h"

#define TDX_MAX_TEST_ROOTS 4

struct tdx_cache;

struct ccg_tdx_verifier {
    EVP_PKEY *intel_root;
    size_t n_test_roots;
    EVP_PKEY *test_roots[TDX_MAX_TEST_ROOTS];
    struct tdx_cache *cache; /* what it verified already (tdx_cache.c) */
};

#endif
