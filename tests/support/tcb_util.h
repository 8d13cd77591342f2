/* Test TCB baselines (docs/snp-tcb-baseline.md) signed by a test authority key. */
#ifndef CCGATE_TCB_UTIL_H
#define CCGATE_TCB_UTIL_H

#include <openssl/evp.h>

#include "ccgate/snp_emulator.h"
#include "ccgate/snp_tcb_baseline.h"
#include "ccgate/snp_verify.h"

/* A fresh ECDSA P-384 key (fails the test otherwise). */
EVP_PKEY *tu_authority_key(void);
/* The public key as PEM (malloc'd). */
char *tu_public_pem(EVP_PKEY *key);
/* Issuers trusting key under id. */
ccg_refval_issuers *tu_issuers_with(EVP_PKEY *key, const char *id);
/* The text of a baseline for product: up_to_date levels, advisories (a JSON array as text, or NULL for
 * none), validity not_before..not_after (RFC 3339), signed by key as issuer (key NULL: unsigned).
 * malloc'd. */
char *tu_tcb_baseline_text(ccg_snp_product product, const ccg_snp_tcb *up_to_date, const char *advisories,
                           const char *not_before, const char *not_after, EVP_PKEY *key, const char *issuer);
/* The same, parsed. */
ccg_snp_tcb_baseline *tu_tcb_baseline(ccg_snp_product product, const ccg_snp_tcb *up_to_date, const char *advisories,
                                      const char *not_before, const char *not_after, EVP_PKEY *key, const char *issuer);

/* ccg_snp_verify_ex with a TCB baseline for the emulator's product whose up_to_date is the emulator's
 * TCB, signed by a throwaway test authority and valid 2024-2049: the TCB status is UpToDate, so the
 * decision rests on every other check. For tests whose subject is not the TCB. */
CCG_MUST_CHECK ccg_result tu_verify_emulated(ccg_snp_verifier *v, const uint8_t *report, size_t len,
                                             const ccg_snp_collateral *col, const ccg_snp_policy *policy,
                                             const ccg_snp_emulator *emu, ccg_time now, ccg_decision *d);

/* A test authority, and per product a signed baseline whose up_to_date is the emulator's default TCB
 * for that product (ccg_snp_emulator_config_init), valid 2024-2049; opts points at them. For tests of
 * emulated evidence whose subject is not the TCB (the default policy requires a baseline). */
typedef struct {
    EVP_PKEY *key;
    ccg_refval_issuers *iss;
    ccg_snp_tcb_baselines set;
    ccg_snp_verify_opts opts;
} tu_tcb_env;
void tu_tcb_env_init(tu_tcb_env *e);
void tu_tcb_env_free(tu_tcb_env *e);

/* Writes a signed baseline per product (the emulator's default TCB, valid 2024-2049) and the test
 * authority's public key into dir, and returns the key broker configuration members naming them:
 * "tcb_baselines":[...],"tcb_baseline_issuers":{...} (malloc'd, no braces). */
char *tu_write_tcb_config(const char *dir);

#endif
