/* The report signature (internal to the SNP verifier). */
#ifndef CCGATE_SNP_SIGNATURE_H
#define CCGATE_SNP_SIGNATURE_H

#include <openssl/evp.h>

#include "ccgate/snp_report.h"

/* 1 when the ECDSA P-384/SHA-384 signature (R, S little-endian in the report) over bytes
 * 0x000-0x29F verifies under key; 0 when it does not; -1 on an internal error. */
int snp_signature_verify(EVP_PKEY *key, const uint8_t report[CCG_SNP_REPORT_SIZE], const ccg_snp_report *parsed);

#endif
