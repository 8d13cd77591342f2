/* A software SEV-SNP "firmware" for tests and demos only. It signs reports in the exact hardware
 * layout with a test ARK -> ASK -> VCEK (or ARK -> ASVK -> VLEK) chain generated at run time, named
 * and extended like AMD's. Nothing it signs is trusted unless a verifier is told to trust its ARK
 * (ccg_snp_verifier_add_root); the pinned AMD roots never accept it. */
#ifndef CCGATE_SNP_EMULATOR_H
#define CCGATE_SNP_EMULATOR_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/x509.h>

#include "ccgate/result.h"
#include "ccgate/snp_report.h"
#include "ccgate/snp_verify.h"
#include "ccgate/util.h"

/* The window used when a config leaves one at zero: 2024-01-01T00:00:00Z .. 2049-12-31T23:59:59Z. */
#define CCG_SNP_EMU_DEFAULT_NOT_BEFORE ((ccg_time)1704067200)
#define CCG_SNP_EMU_DEFAULT_NOT_AFTER ((ccg_time)2524607999)

typedef struct {
    ccg_time not_before; /* both zero: the default window */
    ccg_time not_after;
} ccg_snp_emu_validity;

typedef struct {
    ccg_snp_product product;     /* Milan, Genoa or Turin */
    ccg_snp_signer signer;       /* VCEK or VLEK */
    uint8_t chip_id[64];         /* a Turin VCEK's hwID carries only the first 8 bytes */
    ccg_snp_tcb tcb;             /* REPORTED_TCB, and the VCEK/VLEK's SPL extensions */
    uint32_t report_version;     /* of ccg_snp_emulator_default_report: 2, 3 or 5; 0 means 3 */
    ccg_snp_emu_validity key;    /* the VCEK or VLEK */
    ccg_snp_emu_validity ask;    /* the ASK or ASVK */
} ccg_snp_emulator_config;

typedef struct ccg_snp_emulator ccg_snp_emulator;

/* A plausible config for a product: a fixed, non-zero chip ID and a recent-looking TCB. */
void ccg_snp_emulator_config_init(ccg_snp_emulator_config *cfg, ccg_snp_product product, ccg_snp_signer signer);

/* Generates the keys and the certificate chain. */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_new(const ccg_snp_emulator_config *cfg, ccg_snp_emulator **out);
/* Frees the emulator; OpenSSL's free functions clear the private keys' memory. */
void ccg_snp_emulator_free(ccg_snp_emulator *emu);

/* Borrowed certificates, valid until the emulator is freed. */
X509 *ccg_snp_emulator_ark(const ccg_snp_emulator *emu);
X509 *ccg_snp_emulator_ask(const ccg_snp_emulator *emu);  /* the ASK, or the ASVK for a VLEK emulator */
X509 *ccg_snp_emulator_vcek(const ccg_snp_emulator *emu); /* the VCEK, or the VLEK */
const ccg_snp_emulator_config *ccg_snp_emulator_config_of(const ccg_snp_emulator *emu);

/* Appends the endorsement key and its intermediate to an initialised collateral (the ARK is not
 * added: a verifier gets it through ccg_snp_verifier_add_root). */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_collateral(const ccg_snp_emulator *emu, ccg_snp_collateral *col);

/* A plausible unsigned report for the emulator's product: guest policy 0x30000, VMPL 0, ECDSA
 * P-384, the product's CPUID, the config's chip ID and TCB in every TCB field, the signing key. */
void ccg_snp_emulator_default_report(const ccg_snp_emulator *emu, ccg_snp_report *r);

/* Serializes r and signs it: ECDSA P-384 over SHA-384 of bytes 0x000-0x29F with the VCEK/VLEK key;
 * R and S are written as 72-byte little-endian integers (r's own sig_r/sig_s are ignored). */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_sign(const ccg_snp_emulator *emu, const ccg_snp_report *r,
                                                uint8_t out[CCG_SNP_REPORT_SIZE]);
/* Signs already-serialized bytes in place (bytes 0x000-0x29F as given, so tests can sign reports
 * the parser would refuse); the rest of the signature area is left as it is. */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_sign_bytes(const ccg_snp_emulator *emu, uint8_t report[CCG_SNP_REPORT_SIZE]);

/* A CRL issued and signed by the ARK (RSA-PSS SHA-384) listing the given serial numbers, revoked at
 * this_update. A next_update of 0 omits nextUpdate. */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_crl(const ccg_snp_emulator *emu, const ASN1_INTEGER *const *revoked_serials,
                                               size_t n, ccg_time this_update, ccg_time next_update,
                                               X509_CRL **out);

/* Persistence (snp_emulator_state.c): the guest side and the key broker run in different processes,
 * so the emulated "firmware" is saved to a directory: ark.pem, ask.pem, vcek.pem (the ASVK/VLEK for
 * a VLEK emulator), ark.key.pem, ask.key.pem, vcek.key.pem (PKCS#8, mode 0600) and emulator.json
 * (product, signer, chip ID, TCB, report version, and the launch below). A TEST ROOT ONLY. */
typedef struct {
    uint8_t measurement[48]; /* the launch digest the emulated guest reports */
    uint8_t host_data[32];
    uint64_t policy;         /* guest policy; CCG_SNP_POLICY_DEBUG marks a debug guest */
    uint32_t guest_svn;
} ccg_snp_emulator_launch;

/* The launch of ccg_snp_emulator_default_report (its measurement, policy 0x30000, SVN 1). */
void ccg_snp_emulator_launch_init(const ccg_snp_emulator *emu, ccg_snp_emulator_launch *launch);
/* Writes the state into dir (created 0700 when missing; existing files are replaced). */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_save(const ccg_snp_emulator *emu, const ccg_snp_emulator_launch *launch,
                                                const char *dir);
/* Loads a saved state; launch may be NULL. Fails with attest.emulator_state_invalid when a file is
 * missing or malformed, or a certificate does not belong to its key. */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_load(const char *dir, ccg_snp_emulator **out,
                                                ccg_snp_emulator_launch *launch);
/* The default report with the launch's fields, the given VMPL and REPORT_DATA, signed. */
CCG_MUST_CHECK ccg_result ccg_snp_emulator_attest(const ccg_snp_emulator *emu, const ccg_snp_emulator_launch *launch,
                                                  uint32_t vmpl, const uint8_t report_data[64],
                                                  uint8_t out[CCG_SNP_REPORT_SIZE]);

#endif
