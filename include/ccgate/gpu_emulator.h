/* A software NVIDIA GPU for tests and demos only (docs/gpu-emulator.md). It holds a TEST device chain
 * (leaf "GSP FMC LF" with the FWID extension, BROM, provisioner ICA, identity CA, self-signed TEST root,
 * all P-384) and a TEST RIM signer (P-384 leaf under a TEST RIM root), and produces what NVML and
 * NVIDIA's RIM service give a verifier: SPDM 1.1 GET_MEASUREMENTS request ‖ response signed by the leaf
 * over a caller's nonce, and the matching driver and VBIOS RIMs (signed SWID).
 *
 * Nothing it signs is trusted unless a verifier is given its roots explicitly
 * (ccg_gpu_verifier_add_test_root, the root argument of ccg_gpu_rim_verify); the pinned NVIDIA roots
 * never accept it. The emulator lives apart from the verifiers (src/emulator/gpu/). */
#ifndef CCGATE_GPU_EMULATOR_H
#define CCGATE_GPU_EMULATOR_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/gpu_evidence.h"
#include "ccgate/result.h"
#include "ccgate/util.h"

/* ---------------------------------------------------------------- device certificate chain */

#define CCG_GPU_EMU_CERTS 5 /* 0 leaf, 1 BROM, 2 provisioner ICA, 3 identity CA, 4 root */

typedef enum {
    CCG_GPU_EMU_FWID_NONE = 0,
    CCG_GPU_EMU_FWID_HOPPER, /* 2.23.133.5.4.1: SEQUENCE { INTEGER 1, FWID } */
    CCG_GPU_EMU_FWID_DICE,   /* 2.23.133.5.4.1.1: TCG DICE TcbInfo with fwids [6] (Blackwell) */
} ccg_gpu_emu_fwid_form;

typedef struct {
    ccg_gpu_arch arch;                     /* names the chain (GH100 or GB100); UNKNOWN means Hopper */
    ccg_time not_before[CCG_GPU_EMU_CERTS]; /* 0: 2022-01-01 */
    ccg_time not_after[CCG_GPU_EMU_CERTS];  /* 0: 2040-01-01 */
    int fwid_form;                          /* ccg_gpu_emu_fwid_form */
    uint8_t fwid[CCG_GPU_FWID_SIZE];
    const char *identity_cn;                /* NULL: "NVIDIA GH100 Identity (ccgate TEST)" or GB100 */
    long leaf_serial;                       /* the leaf's serial number, NVIDIA's "ueid"; 0: 1000 */
    /* Knobs for negative tests; all zero for a well-formed chain. */
    int leaf_p256;       /* a P-256 leaf key, which NVIDIA never uses */
    int fwid_twice;      /* the FWID extension twice */
    int fwid_sha256_oid; /* the FWID's hashAlg says SHA-256 (the digest stays 48 bytes) */
    int no_aki;          /* no authority key identifiers: issuers are found by name only */
} ccg_gpu_emu_chain_opts;

typedef struct {
    EVP_PKEY *keys[CCG_GPU_EMU_CERTS];
    X509 *certs[CCG_GPU_EMU_CERTS];
} ccg_gpu_emu_chain;

/* Defaults for an arch: its names, the Hopper FWID form for Hopper and the DICE form for Blackwell. */
void ccg_gpu_emu_chain_opts_init(ccg_gpu_emu_chain_opts *o, ccg_gpu_arch arch, const uint8_t fwid[CCG_GPU_FWID_SIZE]);
/* Generates the five keys and certificates (root first). On failure *out is empty. */
CCG_MUST_CHECK ccg_result ccg_gpu_emu_chain_make(const ccg_gpu_emu_chain_opts *o, ccg_gpu_emu_chain *out);
void ccg_gpu_emu_chain_free(ccg_gpu_emu_chain *c);
/* PEM of the certificates at the given indexes, in that order (malloc'd, NUL-terminated). */
CCG_MUST_CHECK ccg_result ccg_gpu_emu_certs_pem(X509 *const *certs, const int *order, int n, char **out,
                                                size_t *len);

/* ---------------------------------------------------------------- SPDM report builder */

#define CCG_GPU_EMU_VALUE_MAX 80 /* room for values longer than SPDM allows, for negative tests */
#define CCG_GPU_EMU_OPAQUE_ROOM 2048

/* The fields of a GET_MEASUREMENTS request ‖ response (DMTF DSP0274 1.1, as NVIDIA's GPUs send it). */
typedef struct {
    uint8_t nonce[CCG_GPU_NONCE_SIZE];          /* the requester's nonce, in the request */
    uint8_t response_nonce[CCG_GPU_NONCE_SIZE]; /* the responder's nonce */
    int n_blocks;                               /* block k has index k + 1 */
    int value_len;                              /* bytes of every value */
    uint8_t values[CCG_GPU_MAX_MEASUREMENTS][CCG_GPU_EMU_VALUE_MAX];
    uint8_t opaque[CCG_GPU_EMU_OPAQUE_ROOM];
    size_t opaque_len;
} ccg_gpu_emu_spdm;

/* Appends one opaque TLV (little-endian type and length). Fails when it does not fit. */
CCG_MUST_CHECK ccg_result ccg_gpu_emu_opaque_add(ccg_gpu_emu_spdm *s, uint16_t type, const void *value,
                                                 uint16_t len);
/* The unsigned report (the 96 signature bytes zero) into a malloc'd buffer. */
CCG_MUST_CHECK ccg_result ccg_gpu_emu_spdm_build(const ccg_gpu_emu_spdm *s, uint8_t **out, size_t *len);
/* Offset of the OpaqueLength field in a report built from s. */
size_t ccg_gpu_emu_spdm_opaque_len_offset(const ccg_gpu_emu_spdm *s);
/* (Re)signs bytes [0, len-96) with key (ECDSA with SHA-384), writing r||s into the last 96 bytes. */
CCG_MUST_CHECK ccg_result ccg_gpu_emu_spdm_sign(EVP_PKEY *key, uint8_t *report, size_t len);

/* ---------------------------------------------------------------- the software GPU */

#define CCG_GPU_EMU_BLOCKS 40       /* measurement blocks 1..40 = RIM indexes 0..39 */
#define CCG_GPU_EMU_VBIOS_FIRST 0   /* RIM indexes 0..11 are the VBIOS RIM's */
#define CCG_GPU_EMU_VBIOS_COUNT 12
#define CCG_GPU_EMU_CC_INDEX 20     /* the driver RIM index that measures the CC mode register */
#define CCG_GPU_EMU_DEFAULT_DRIVER "550.90.07"
#define CCG_GPU_EMU_DEFAULT_VBIOS "96.00.9F.00.01"

/* The confidential-computing mode the emulated GPU runs in. It is measured (RIM index
 * CCG_GPU_EMU_CC_INDEX; the driver RIM holds only the CC-on value) and reported through the stub NVML. */
typedef enum {
    CCG_GPU_EMU_CC_ON = 0,
    CCG_GPU_EMU_CC_OFF,
    CCG_GPU_EMU_CC_DEVTOOLS,
} ccg_gpu_emu_cc;

typedef struct {
    ccg_gpu_arch arch;         /* HOPPER or BLACKWELL */
    char driver_version[32];   /* "550.90.07" */
    char vbios_version[32];    /* five hex bytes "96.00.9F.00.01" */
    char project[16];          /* "1010" */
    char project_sku[16];      /* "0200" */
    char chip_sku[16];         /* "882" */
    char chip_info[16];        /* "GH100" / "GB100" */
    uint8_t fwid[CCG_GPU_FWID_SIZE];
} ccg_gpu_emu_config;

/* Deviations from an honest report, for negative tests. */
typedef enum {
    CCG_GPU_EMU_TAMPER_NONE = 0,
    CCG_GPU_EMU_TAMPER_CC_OFF,      /* CC mode off: the CC register measurement differs */
    CCG_GPU_EMU_TAMPER_DEVTOOLS,    /* CC DevTools mode: the CC register measurement differs */
    CCG_GPU_EMU_TAMPER_MEASUREMENT, /* RIM index `index` measures something else */
    CCG_GPU_EMU_TAMPER_FWID,        /* the report's FWID differs from the leaf's */
    CCG_GPU_EMU_TAMPER_DRIVER,      /* the GPU runs driver `driver` (its blocks and version follow) */
    CCG_GPU_EMU_TAMPER_SIGNATURE,   /* one signed byte changed after signing */
    CCG_GPU_EMU_TAMPER_NONCE,       /* signed over another nonce than the one asked for */
} ccg_gpu_emu_tamper_kind;

typedef struct {
    ccg_gpu_emu_tamper_kind kind;
    unsigned index;   /* MEASUREMENT: the RIM index (0..CCG_GPU_EMU_BLOCKS-1) */
    char driver[32];  /* DRIVER: the version the GPU reports */
} ccg_gpu_emu_tamper;

/* "cc_off", "devtools", "measurement=N", "fwid", "driver=VER", "signature", "nonce". */
CCG_MUST_CHECK ccg_result ccg_gpu_emu_tamper_parse(const char *text, ccg_gpu_emu_tamper *out);

typedef struct ccg_gpu_emulator ccg_gpu_emulator;

/* Plausible values for an arch (project/SKU as NVIDIA's H100 sample), the default versions and a
 * random FWID. */
CCG_MUST_CHECK ccg_result ccg_gpu_emulator_config_init(ccg_gpu_emu_config *cfg, ccg_gpu_arch arch);
/* Generates the device chain and the RIM signer chain. */
CCG_MUST_CHECK ccg_result ccg_gpu_emulator_new(const ccg_gpu_emu_config *cfg, ccg_gpu_emulator **out);
void ccg_gpu_emulator_free(ccg_gpu_emulator *emu);

const ccg_gpu_emu_config *ccg_gpu_emulator_config_of(const ccg_gpu_emulator *emu);
/* Borrowed: the device chain's TEST root and the RIM TEST root. */
X509 *ccg_gpu_emulator_root(const ccg_gpu_emulator *emu);
X509 *ccg_gpu_emulator_rim_root(const ccg_gpu_emulator *emu);
/* The five-certificate device chain, leaf first, as NVML returns it (malloc'd PEM). */
CCG_MUST_CHECK ccg_result ccg_gpu_emulator_chain_pem(const ccg_gpu_emulator *emu, char **out, size_t *len);

/* The measurement value of a RIM index for the given versions and CC mode: SHA-384 over a label, the
 * index and the version of the RIM it belongs to. The RIMs hold the CC-on values. */
void ccg_gpu_emulator_measurement(const ccg_gpu_emulator *emu, unsigned rim_index, const char *driver_version,
                                  ccg_gpu_emu_cc cc, uint8_t out[48]);

/* SPDM evidence for this nonce, signed by the leaf; tamper may be NULL. *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_gpu_emulator_attest(const ccg_gpu_emulator *emu, const uint8_t nonce[CCG_GPU_NONCE_SIZE],
                                                  const ccg_gpu_emu_tamper *tamper, uint8_t **out, size_t *len);

/* The driver and VBIOS RIMs for the configured versions (signed SWID XML, malloc'd) and their RIM IDs
 * as ccg_gpu_rim_driver_id / ccg_gpu_rim_vbios_id derive them from the evidence. */
typedef struct {
    char driver_id[128];
    char vbios_id[128];
    uint8_t *driver_xml;
    size_t driver_len;
    uint8_t *vbios_xml;
    size_t vbios_len;
} ccg_gpu_emu_rims;

CCG_MUST_CHECK ccg_result ccg_gpu_emulator_rims(const ccg_gpu_emulator *emu, ccg_gpu_emu_rims *out);
void ccg_gpu_emu_rims_free(ccg_gpu_emu_rims *r);

/* Persistence: one file, DIR/gpu-emulator.json (mode 0600: it holds the leaf and RIM signer keys),
 * with the config, both chains and both signing keys. A TEST ROOT ONLY. */
#define CCG_GPU_EMU_STATE_FILE "gpu-emulator.json"
CCG_MUST_CHECK ccg_result ccg_gpu_emulator_save(const ccg_gpu_emulator *emu, const char *dir);
/* Fails with attest.emulator_state_invalid when the file is missing or malformed, or a key does not
 * belong to its certificate. */
CCG_MUST_CHECK ccg_result ccg_gpu_emulator_load(const char *dir, ccg_gpu_emulator **out);

#endif
