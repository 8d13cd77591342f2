/* Pinned AMD root keys (internal to the SNP verifier). */
#ifndef CCGATE_SNP_ROOTS_H
#define CCGATE_SNP_ROOTS_H

#include <stddef.h>

#include "ccgate/snp_report.h"

typedef struct {
    ccg_snp_product product;
    const char *sha256_hex; /* of the certificate's DER */
    const char *pem;
} ccg_snp_pinned_root;

extern const ccg_snp_pinned_root ccg_snp_pinned_roots[];
extern const size_t ccg_snp_pinned_root_count;

#endif
