/* Internal to the software SNP firmware (snp_emulator*.c). */
#ifndef CCGATE_SNP_EMULATOR_INTERNAL_H
#define CCGATE_SNP_EMULATOR_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ccgate/snp_emulator.h"

struct ccg_snp_emulator {
    ccg_snp_emulator_config cfg;
    EVP_PKEY *ark_key;  /* RSA */
    EVP_PKEY *ask_key;  /* RSA: the ASK or ASVK */
    EVP_PKEY *leaf_key; /* EC P-384: the VCEK or VLEK */
    X509 *ark;
    X509 *ask;
    X509 *leaf;
};

/* Generates the three keys and issues ARK, ASK/ASVK and VCEK/VLEK as configured. */
CCG_MUST_CHECK ccg_result snp_emu_issue_chain(ccg_snp_emulator *emu);
/* Prepares md for an RSA-PSS SHA-384 (MGF1 SHA-384, salt 48) signature with key, as AMD signs. */
CCG_MUST_CHECK ccg_result snp_emu_pss_init(EVP_MD_CTX *md, EVP_PKEY *key);
/* Sets an ASN1_TIME from seconds since the epoch. */
CCG_MUST_CHECK ccg_result snp_emu_set_time(ASN1_TIME *t, ccg_time when);

#endif
