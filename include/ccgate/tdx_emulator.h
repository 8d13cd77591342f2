/* A software TD's signing core (src/emulator/tdx): a test root, a PCK chain with the SGX extension, a
 * TCB signing certificate, CRLs and quotes, all under keys made here. Its root is trusted only when a
 * verifier names it (ccg_tdx_verifier_add_test_root). The generated negative tests and the fuzz
 * fixtures use it; every option exists to produce one specific defect. Never for production. */
#ifndef CCGATE_TDX_EMULATOR_H
#define CCGATE_TDX_EMULATOR_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"
#include "ccgate/util.h"

typedef struct {
    ccg_time now;               /* certificates are valid from now - 1 year to now + 1 year */
    uint8_t fmspc[6];
    uint8_t pce_id[2];
    uint8_t sgx_components[16];
    uint16_t pcesvn;
    int omit_sgx_extension;     /* a PCK without the SGX extension */
    int omit_fmspc;             /* an SGX extension without the FMSPC */
    int pck_validity;           /* 0 valid; -1 expired before now; 1 not yet valid at now */
    int pck_key_p384;           /* a PCK key on P-384 (not the P-256 Intel uses) */
    int pck_cn_wrong;           /* a PCK whose CN lacks "SGX PCK Certificate" */
} ccg_tdx_emu_opts;

/* The TD and QE the quote describes, and the defects to build into it. */
typedef struct {
    uint16_t version;           /* 4 or 5 */
    uint16_t body_type;         /* v5: 2 (TD 1.0) or 3 (TD 1.5) */
    uint8_t tee_tcb_svn[16];
    uint8_t tee_tcb_svn2[16];
    uint8_t mrseam[48], mrsignerseam[48], seam_attributes[8];
    uint64_t td_attributes, xfam;
    uint8_t mrtd[48], mrconfigid[48], mrowner[48], mrownerconfig[48], rtmr[4][48], report_data[64];
    uint8_t mrservicetd[48];
    uint32_t qe_miscselect;
    uint8_t qe_attributes[16];
    uint8_t qe_mrsigner[32];
    uint16_t qe_isvprodid, qe_isvsvn;
    size_t qe_auth_len;          /* bytes of QE authentication data */
    int bad_binding;             /* QE REPORT_DATA not the attestation key's hash */
    int att_key_off_curve;       /* an attestation key that is not a P-256 point */
    int sign_with_other_key;     /* quote signed by a key other than the attestation key */
    uint16_t outer_cert_type;    /* default 6 */
    uint16_t inner_cert_type;    /* default 5 */
    size_t trailing;             /* zero bytes appended after the signature data */
} ccg_tdx_emu_td;

typedef struct ccg_tdx_emu ccg_tdx_emu;

/* Sensible defaults: FMSPC 00906ED50000, PCE-ID 0000, components 2..., PCESVN 13. */
void ccg_tdx_emu_opts_default(ccg_time now, ccg_tdx_emu_opts *o);
/* A TD 1.0 v4 quote of a TD with SEPT_VE_DISABLE, module version 0, QE ISVSVN 8, ISVPRODID 2. */
void ccg_tdx_emu_td_default(ccg_tdx_emu_td *td);
CCG_MUST_CHECK ccg_result ccg_tdx_emu_new(const ccg_tdx_emu_opts *opts, ccg_tdx_emu **out);
void ccg_tdx_emu_free(ccg_tdx_emu *e);

/* PEM texts (malloc'd): the test root; PCK, PCK CA, root; TCB signing, root; PCK CA, root. */
char *ccg_tdx_emu_root_pem(const ccg_tdx_emu *e);
char *ccg_tdx_emu_pck_chain_pem(const ccg_tdx_emu *e);
char *ccg_tdx_emu_tcb_chain_pem(const ccg_tdx_emu *e);
char *ccg_tdx_emu_crl_chain_pem(const ccg_tdx_emu *e);
/* ECDSA P-256 over the bytes with the TCB signing key, as 128 hex digits (R||S) into hex[129]. */
CCG_MUST_CHECK ccg_result ccg_tdx_emu_sign(const ccg_tdx_emu *e, const void *data, size_t len, char hex[129]);
/* A CRL (DER) of the root (root = 1: may list the PCK CA) or of the PCK CA (root = 0: may list the PCK),
 * with thisUpdate and nextUpdate as given. */
CCG_MUST_CHECK ccg_result ccg_tdx_emu_crl(const ccg_tdx_emu *e, int root, ccg_time this_update,
                                          ccg_time next_update, int revoke, uint8_t **der, size_t *len);
CCG_MUST_CHECK ccg_result ccg_tdx_emu_quote(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, uint8_t **quote,
                                            size_t *len);
/* The platform's options (FMSPC, PCE-ID, components, PCESVN, creation time). */
const ccg_tdx_emu_opts *ccg_tdx_emu_opts_of(const ccg_tdx_emu *e);

/* ---- collateral (tdx_emu_collateral.c; docs/tdx-emulator.md) ----
 * The TCB info has two platform levels: UpToDate at the emulator's SGX components and PCESVN with TDX
 * components CCG_TDX_EMU_TDX_SVN (the default TD's TEE_TCB_SVN), and OutOfDate one step below everywhere
 * (TDX components CCG_TDX_EMU_TDX_SVN_OLD, advisory CCG_TDX_EMU_PLATFORM_ADVISORY); module identities
 * TDX_01..TDX_03 (UpToDate from ISVSVN CCG_TDX_EMU_MODULE_SVN, OutOfDate two below with
 * CCG_TDX_EMU_MODULE_ADVISORY). The QE identity is the default TD's QE (UpToDate at ISVSVN 8, OutOfDate at
 * 6 with CCG_TDX_EMU_QE_ADVISORY). */
#define CCG_TDX_EMU_TDX_SVN {5, 0, 2}
#define CCG_TDX_EMU_TDX_SVN_OLD {3, 0, 1}
#define CCG_TDX_EMU_MODULE_SVN 4
#define CCG_TDX_EMU_PLATFORM_ADVISORY "INTEL-SA-00837"
#define CCG_TDX_EMU_MODULE_ADVISORY "INTEL-SA-01111"
#define CCG_TDX_EMU_QE_ADVISORY "INTEL-SA-00615"
#define CCG_TDX_EMU_TCB_DATE "2025-01-01T00:00:00Z"
#define CCG_TDX_EMU_EVAL_NUMBER 17

typedef struct {
    ccg_time now;   /* issued (thisUpdate) a day before, next update 30 days after */
    int expired;    /* issued 31 days before now, next update an hour before now */
    int revoke_pck; /* the PCK CRL lists the PCK certificate */
} ccg_tdx_emu_collateral_opts;

typedef struct {
    char *tcb_info;            /* the signed tcbInfo JSON text */
    char tcb_info_sig[129];    /* R||S hex */
    char *qe_identity;         /* the signed enclaveIdentity JSON text */
    char qe_identity_sig[129];
    char *tcb_chain_pem;       /* TCB signing certificate, root: both documents' issuer chain */
    char *crl_chain_pem;       /* PCK CA, root: the PCK CRL's issuer chain */
    uint8_t *pck_crl, *root_crl; /* DER */
    size_t pck_crl_len, root_crl_len;
} ccg_tdx_emu_collateral;

CCG_MUST_CHECK ccg_result ccg_tdx_emu_collateral_make(const ccg_tdx_emu *e, const ccg_tdx_emu_collateral_opts *o,
                                                      ccg_tdx_emu_collateral *out);
void ccg_tdx_emu_collateral_free(ccg_tdx_emu_collateral *c);
/* The dcap-qvl bundle (docs/tdx-quote.md, "Collateral"), malloc'd JSON text. */
CCG_MUST_CHECK ccg_result ccg_tdx_emu_collateral_bundle(const ccg_tdx_emu_collateral *c, char **out);
/* Intel PCS's response body: {"tcbInfo":...,"signature":"..."} (qe_identity = 0) or
 * {"enclaveIdentity":...,"signature":"..."}, around the signed bytes. malloc'd. */
CCG_MUST_CHECK ccg_result ccg_tdx_emu_pcs_body(const ccg_tdx_emu_collateral *c, int qe_identity, char **out);

/* ---- state (tdx_emu_state.c) ----
 * DIR/tdx-emulator.json (mode 0600): the platform options, every key and certificate (PEM), and the TD
 * (its measurements and attributes), so a later process (an attester stand-in) signs quotes over fresh
 * REPORT_DATA under the same test root. */
#define CCG_TDX_EMU_STATE_FILE "tdx-emulator.json"
CCG_MUST_CHECK ccg_result ccg_tdx_emu_save(const ccg_tdx_emu *e, const ccg_tdx_emu_td *td, const char *dir);
/* Fails with attest.emulator_state_invalid when the file is missing, malformed or inconsistent (a
 * certificate that is not its key's). td may be NULL. */
CCG_MUST_CHECK ccg_result ccg_tdx_emu_load(const char *dir, ccg_tdx_emu **out, ccg_tdx_emu_td *td);

#endif
