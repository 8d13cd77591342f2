/* NVIDIA GPU evidence: what NVML returns as the GPU's attestation report, parsed.
 *
 * The report is an SPDM 1.1 GET_MEASUREMENTS request (37 bytes) followed by the MEASUREMENTS
 * response; the response ends in a 96-byte ECDSA P-384 signature (raw r||s) over request ‖
 * response-without-signature. docs/gpu-evidence.md has the byte layout and the opaque-data table.
 *
 * The parsed report is a plain value (no pointers): it can be copied, and every byte it holds was
 * covered by the signature. Parsing checks the structure only; ccg_gpu_verify (gpu_verify.h) checks
 * the signature, the chain and the FWID. Nothing here is trusted before that. */
#ifndef CCGATE_GPU_EVIDENCE_H
#define CCGATE_GPU_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_GPU_SPDM_VERSION_11 0x11
#define CCG_GPU_REQUEST_SIZE 37          /* version, code, param1, param2, nonce[32], slot */
#define CCG_GPU_NONCE_SIZE 32
#define CCG_GPU_SIGNATURE_SIZE 96        /* ECDSA P-384 r||s, big-endian halves */
#define CCG_GPU_MEASUREMENT_VALUE_MAX 64 /* a digest up to SHA-512; Hopper/Blackwell use SHA-384 (48) */
#define CCG_GPU_MAX_MEASUREMENTS 255     /* NumberOfBlocks is one byte */
#define CCG_GPU_OPAQUE_MAX 1024          /* SPDM 1.1: OpaqueLength shall not exceed 1024 */
#define CCG_GPU_MAX_OPAQUE_FIELDS (CCG_GPU_OPAQUE_MAX / 4)
#define CCG_GPU_FWID_SIZE 48             /* SHA-384 */
#define CCG_GPU_MAX_REPORT_SIZE (1u << 20)

typedef enum {
    CCG_GPU_ARCH_UNKNOWN = 0,
    CCG_GPU_ARCH_HOPPER,
    CCG_GPU_ARCH_BLACKWELL,
} ccg_gpu_arch;

/* "HOPPER", "BLACKWELL" (the JSON evidence form's spelling), "UNKNOWN". */
const char *ccg_gpu_arch_name(ccg_gpu_arch arch);
/* Case-insensitive; CCG_GPU_ARCH_UNKNOWN for anything else. */
ccg_gpu_arch ccg_gpu_arch_from_name(const char *name);

/* NVIDIA opaque-data field types (type numbers as NVIDIA's verifiers define them). */
enum {
    CCG_GPU_OPAQUE_CERT_ISSUER_NAME = 1,
    CCG_GPU_OPAQUE_CERT_AUTHORITY_KEY_IDENTIFIER = 2,
    CCG_GPU_OPAQUE_DRIVER_VERSION = 3,
    CCG_GPU_OPAQUE_GPU_INFO = 4,
    CCG_GPU_OPAQUE_SKU = 5,
    CCG_GPU_OPAQUE_VBIOS_VERSION = 6,
    CCG_GPU_OPAQUE_MANUFACTURER_ID = 7,
    CCG_GPU_OPAQUE_TAMPER_DETECTION = 8,
    CCG_GPU_OPAQUE_SMC = 9,
    CCG_GPU_OPAQUE_VPR = 10,
    CCG_GPU_OPAQUE_NVDEC0_STATUS = 11,
    CCG_GPU_OPAQUE_MSRSCNT = 12,
    CCG_GPU_OPAQUE_CPRINFO = 13,
    CCG_GPU_OPAQUE_BOARD_ID = 14,
    CCG_GPU_OPAQUE_CHIP_SKU = 15,
    CCG_GPU_OPAQUE_CHIP_SKU_MOD = 16,
    CCG_GPU_OPAQUE_PROJECT = 17,
    CCG_GPU_OPAQUE_PROJECT_SKU = 18,
    CCG_GPU_OPAQUE_PROJECT_SKU_MOD = 19,
    CCG_GPU_OPAQUE_FWID = 20,
    CCG_GPU_OPAQUE_PROTECTED_PCIE_STATUS = 21,
    CCG_GPU_OPAQUE_SWITCH_PDI = 22,
    CCG_GPU_OPAQUE_FLOORSWEPT_PORTS = 23,
    CCG_GPU_OPAQUE_POSITION_ID = 24,
    CCG_GPU_OPAQUE_LOCK_SWITCH_STATUS = 25,
    CCG_GPU_OPAQUE_GPU_LINK_CONN = 32,
    CCG_GPU_OPAQUE_SYS_ENABLE_STATUS = 33,
    CCG_GPU_OPAQUE_OPAQUE_DATA_VERSION = 34,
    CCG_GPU_OPAQUE_CHIP_INFO = 35,
    CCG_GPU_OPAQUE_FEATURE_FLAG = 36,
};
/* "driver_version", "vbios_version", ... for a known type; NULL for an unknown one. */
const char *ccg_gpu_opaque_type_name(uint16_t type);

/* One SPDM measurement block (DMTF measurement specification). */
typedef struct {
    uint8_t index;     /* 1..254 */
    uint8_t dmtf_type; /* DMTFSpecMeasurementValueType: bit 7 raw bit stream, bits 0-6 the component kind */
    uint16_t size;     /* bytes of value used */
    uint8_t value[CCG_GPU_MEASUREMENT_VALUE_MAX];
} ccg_gpu_measurement;

/* One opaque-data TLV, as an offset into ccg_gpu_report.opaque. Every TLV is listed, known or not. */
typedef struct {
    uint16_t type;
    uint16_t len;
    uint16_t offset;
} ccg_gpu_opaque_field;

typedef enum {
    CCG_GPU_NVDEC0_ABSENT = 0, /* the report carries no NVDEC0 status */
    CCG_GPU_NVDEC0_ENABLED,    /* 0xAA: the NVDEC0 measurement (index 35) is checked */
    CCG_GPU_NVDEC0_DISABLED,   /* 0x55: index 35 is skipped when comparing with the RIMs */
} ccg_gpu_nvdec0;

/* The GPU's confidential-computing topology from FEATURE_FLAG (opaque data version >= 1). */
typedef enum {
    CCG_GPU_MODE_ABSENT = 0,
    CCG_GPU_MODE_SPT,     /* 0: single GPU passthrough */
    CCG_GPU_MODE_MPT,     /* 1: multi-GPU passthrough */
    CCG_GPU_MODE_PPCIE,   /* 2: protected PCIe */
    CCG_GPU_MODE_UNKNOWN, /* another value: kept in feature_flag */
} ccg_gpu_mode;

typedef struct {
    /* The signed GET_MEASUREMENTS request. */
    uint8_t spdm_version;   /* 0x11 */
    uint8_t request_param1; /* bit 0: signature requested (must be set) */
    uint8_t request_param2; /* 0xFF: all measurements */
    uint8_t slot_id;        /* SlotIDParam: the certificate slot that signed */
    uint8_t nonce[CCG_GPU_NONCE_SIZE]; /* the requester's nonce, from the signed request */

    /* The MEASUREMENTS response. */
    uint8_t response_param1;
    uint8_t response_param2;
    uint8_t response_nonce[CCG_GPU_NONCE_SIZE]; /* the responder's own nonce */
    size_t n_measurements;                      /* in the order of the record; indexes unique */
    ccg_gpu_measurement measurements[CCG_GPU_MAX_MEASUREMENTS];

    /* Opaque data: the bytes as signed, and every TLV in order. */
    uint16_t opaque_len;
    uint8_t opaque[CCG_GPU_OPAQUE_MAX];
    size_t n_opaque_fields;
    ccg_gpu_opaque_field opaque_fields[CCG_GPU_MAX_OPAQUE_FIELDS];

    /* Known opaque fields, decoded ("" / 0 / ABSENT when the report does not carry them). */
    char driver_version[32];   /* "550.90.07" */
    char vbios_version[32];    /* "96.00.9F.00.01" (uppercase hex, as RIM IDs use it) */
    int has_fwid;
    uint8_t fwid[CCG_GPU_FWID_SIZE];
    ccg_gpu_nvdec0 nvdec0_status;
    int has_protected_pcie_status;
    uint8_t protected_pcie_status; /* raw byte: 0xAA enabled, 0x55 disabled in the reports seen */
    ccg_gpu_mode mode;
    uint64_t feature_flag;
    int has_opaque_data_version;
    uint64_t opaque_data_version;
    int has_gpu_info;
    uint64_t gpu_info;         /* the chip's architecture/implementation (0x180 GH100, 0x1A0 GB100) */
    int has_board_id;
    uint32_t board_id;
    char chip_info[32];        /* "GB100" (opaque data version >= 1) */
    char project[16];          /* "1010" */
    char project_sku[16];      /* "0200" */
    char project_sku_mod[16];
    char chip_sku[16];         /* "882" */
    char chip_sku_mod[16];

    uint8_t signature[CCG_GPU_SIGNATURE_SIZE];
    size_t signed_len; /* bytes the signature covers: request ‖ response up to the signature */
} ccg_gpu_report;

/* Parses request ‖ response. Fails with input.truncated (the input ends inside a field),
 * input.trailing_bytes (bytes after the signature), gpu.spdm_version_unsupported (not SPDM 1.1) or
 * gpu.evidence_malformed (wrong codes or params, a bad measurement block or opaque TLV). Unknown
 * opaque types are kept as raw fields, never an error. */
CCG_MUST_CHECK ccg_result ccg_gpu_report_parse(const uint8_t *data, size_t len, ccg_gpu_report *out);

/* Parses just the opaque-data TLVs (opaque_len bytes) into out's opaque fields and decoded values. */
CCG_MUST_CHECK ccg_result ccg_gpu_opaque_parse(const uint8_t *data, size_t len, ccg_gpu_report *out);

/* The measurement block with this index, or NULL. */
const ccg_gpu_measurement *ccg_gpu_report_measurement(const ccg_gpu_report *r, uint8_t index);

/* Reads the evidence as NVIDIA ships it: hex text (whitespace ignored) or binary. *out is malloc'd. */
CCG_MUST_CHECK ccg_result ccg_gpu_report_decode(const uint8_t *raw, size_t raw_len, uint8_t **out, size_t *out_len);

#endif
