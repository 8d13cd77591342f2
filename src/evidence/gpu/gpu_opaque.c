/* NVIDIA's opaque data in the MEASUREMENTS response: a sequence of TLVs, each a little-endian
 * 16-bit type, a 16-bit length and that many bytes. Every TLV is listed; the known ones are also
 * decoded, and a known type that appears twice, or whose size or value is wrong, is malformed
 * (two driver versions would leave the RIM lookup ambiguous). Unknown types stay raw claims. */
#include <stdio.h>
#include <string.h>

#include "ccgate/gpu_evidence.h"
#include "ccgate/reader.h"

#define NVDEC0_ENABLED 0xAA
#define NVDEC0_DISABLED 0x55
#define MSRSCNT_ELEMENT 4
#define SWITCH_PDI_ELEMENT 8

static const struct {
    uint16_t type;
    const char *name;
} opaque_names[] = {
    {CCG_GPU_OPAQUE_CERT_ISSUER_NAME, "cert_issuer_name"},
    {CCG_GPU_OPAQUE_CERT_AUTHORITY_KEY_IDENTIFIER, "cert_authority_key_identifier"},
    {CCG_GPU_OPAQUE_DRIVER_VERSION, "driver_version"},
    {CCG_GPU_OPAQUE_GPU_INFO, "gpu_info"},
    {CCG_GPU_OPAQUE_SKU, "sku"},
    {CCG_GPU_OPAQUE_VBIOS_VERSION, "vbios_version"},
    {CCG_GPU_OPAQUE_MANUFACTURER_ID, "manufacturer_id"},
    {CCG_GPU_OPAQUE_TAMPER_DETECTION, "tamper_detection"},
    {CCG_GPU_OPAQUE_SMC, "smc"},
    {CCG_GPU_OPAQUE_VPR, "vpr"},
    {CCG_GPU_OPAQUE_NVDEC0_STATUS, "nvdec0_status"},
    {CCG_GPU_OPAQUE_MSRSCNT, "msrscnt"},
    {CCG_GPU_OPAQUE_CPRINFO, "cprinfo"},
    {CCG_GPU_OPAQUE_BOARD_ID, "board_id"},
    {CCG_GPU_OPAQUE_CHIP_SKU, "chip_sku"},
    {CCG_GPU_OPAQUE_CHIP_SKU_MOD, "chip_sku_mod"},
    {CCG_GPU_OPAQUE_PROJECT, "project"},
    {CCG_GPU_OPAQUE_PROJECT_SKU, "project_sku"},
    {CCG_GPU_OPAQUE_PROJECT_SKU_MOD, "project_sku_mod"},
    {CCG_GPU_OPAQUE_FWID, "fwid"},
    {CCG_GPU_OPAQUE_PROTECTED_PCIE_STATUS, "protected_pcie_status"},
    {CCG_GPU_OPAQUE_SWITCH_PDI, "switch_pdi"},
    {CCG_GPU_OPAQUE_FLOORSWEPT_PORTS, "floorswept_ports"},
    {CCG_GPU_OPAQUE_POSITION_ID, "position_id"},
    {CCG_GPU_OPAQUE_LOCK_SWITCH_STATUS, "lock_switch_status"},
    {CCG_GPU_OPAQUE_GPU_LINK_CONN, "gpu_link_conn"},
    {CCG_GPU_OPAQUE_SYS_ENABLE_STATUS, "sys_enable_status"},
    {CCG_GPU_OPAQUE_OPAQUE_DATA_VERSION, "opaque_data_version"},
    {CCG_GPU_OPAQUE_CHIP_INFO, "chip_info"},
    {CCG_GPU_OPAQUE_FEATURE_FLAG, "feature_flag"},
};

const char *ccg_gpu_opaque_type_name(uint16_t type)
{
    for (size_t i = 0; i < sizeof(opaque_names) / sizeof(opaque_names[0]); i++) {
        if (opaque_names[i].type == type) {
            return opaque_names[i].name;
        }
    }
    return NULL;
}

/* A NUL-terminated, NUL-padded ASCII string: printable characters, then only NULs; it must fit out. */
static ccg_result decode_string(uint16_t type, const uint8_t *v, uint16_t len, char *out, size_t out_size)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    while (n < len && v[n] != 0) {
        CCG_ENSURE_MSG(v[n] > 0x20 && v[n] < 0x7F, CCG_R_GPU_EVIDENCE_MALFORMED,
                       "opaque %s has a non-printable byte 0x%02x", ccg_gpu_opaque_type_name(type), v[n]);
        n++;
    }
    for (size_t i = n; i < len; i++) {
        CCG_ENSURE_MSG(v[i] == 0, CCG_R_GPU_EVIDENCE_MALFORMED, "opaque %s has bytes after its terminator",
                       ccg_gpu_opaque_type_name(type));
    }
    CCG_ENSURE_MSG(n < out_size, CCG_R_GPU_EVIDENCE_MALFORMED, "opaque %s is longer than %zu characters",
                   ccg_gpu_opaque_type_name(type), out_size - 1);
    memcpy(out, v, n);
    out[n] = '\0';
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A little-endian unsigned integer of 1..max_len bytes. */
static ccg_result decode_uint(uint16_t type, const uint8_t *v, uint16_t len, uint16_t max_len, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    uint64_t x = 0;
    CCG_ENSURE_MSG(len >= 1 && len <= max_len, CCG_R_GPU_EVIDENCE_MALFORMED, "opaque %s has %u bytes, not 1..%u",
                   ccg_gpu_opaque_type_name(type), len, max_len);
    for (uint16_t i = len; i > 0; i--) {
        x = x << 8 | v[i - 1];
    }
    *out = x;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result expect_len(uint16_t type, uint16_t len, uint16_t want)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(len == want, CCG_R_GPU_EVIDENCE_MALFORMED, "opaque %s has %u bytes, not %u",
                   ccg_gpu_opaque_type_name(type), len, want);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result expect_multiple(uint16_t type, uint16_t len, uint16_t unit)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(len % unit == 0, CCG_R_GPU_EVIDENCE_MALFORMED, "opaque %s has %u bytes, not a multiple of %u",
                   ccg_gpu_opaque_type_name(type), len, unit);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* NVIDIA's VBIOS version: a little-endian 64-bit value shown as the bytes 3.2.1.0.4 ("96.00.9F.00.01"),
 * the spelling NVIDIA's RIM IDs use. */
static void format_vbios(const uint8_t v[8], char out[32])
{
    snprintf(out, 32, "%02X.%02X.%02X.%02X.%02X", v[3], v[2], v[1], v[0], v[4]);
}

static ccg_result decode_nvdec0(const uint8_t *v, uint16_t len, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(expect_len(CCG_GPU_OPAQUE_NVDEC0_STATUS, len, 1));
    /* Only 0x55 lets the RIM comparison skip index 35, so any other value must not pass as "enabled"
     * silently either: it is refused. */
    CCG_ENSURE_MSG(v[0] == NVDEC0_ENABLED || v[0] == NVDEC0_DISABLED, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "opaque nvdec0_status is 0x%02x, not 0xAA or 0x55", v[0]);
    out->nvdec0_status = v[0] == NVDEC0_DISABLED ? CCG_GPU_NVDEC0_DISABLED : CCG_GPU_NVDEC0_ENABLED;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result decode_feature_flag(const uint8_t *v, uint16_t len, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(decode_uint(CCG_GPU_OPAQUE_FEATURE_FLAG, v, len, 8, &out->feature_flag));
    switch (out->feature_flag) {
    case 0: out->mode = CCG_GPU_MODE_SPT; break;
    case 1: out->mode = CCG_GPU_MODE_MPT; break;
    case 2: out->mode = CCG_GPU_MODE_PPCIE; break;
    default: out->mode = CCG_GPU_MODE_UNKNOWN; break;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result decode_known(uint16_t type, const uint8_t *v, uint16_t len, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    uint64_t x = 0;
    switch (type) {
    case CCG_GPU_OPAQUE_DRIVER_VERSION:
        CCG_TRY(decode_string(type, v, len, out->driver_version, sizeof(out->driver_version)));
        CCG_ENSURE_MSG(out->driver_version[0] != '\0', CCG_R_GPU_EVIDENCE_MALFORMED, "opaque driver_version is empty");
        break;
    case CCG_GPU_OPAQUE_VBIOS_VERSION:
        CCG_TRY(expect_len(type, len, 8));
        format_vbios(v, out->vbios_version);
        break;
    case CCG_GPU_OPAQUE_FWID:
        CCG_TRY(expect_len(type, len, CCG_GPU_FWID_SIZE));
        memcpy(out->fwid, v, CCG_GPU_FWID_SIZE);
        out->has_fwid = 1;
        break;
    case CCG_GPU_OPAQUE_NVDEC0_STATUS: CCG_TRY(decode_nvdec0(v, len, out)); break;
    case CCG_GPU_OPAQUE_PROTECTED_PCIE_STATUS:
        CCG_TRY(expect_len(type, len, 1));
        out->protected_pcie_status = v[0];
        out->has_protected_pcie_status = 1;
        break;
    case CCG_GPU_OPAQUE_FEATURE_FLAG: CCG_TRY(decode_feature_flag(v, len, out)); break;
    case CCG_GPU_OPAQUE_OPAQUE_DATA_VERSION:
        CCG_TRY(decode_uint(type, v, len, 8, &out->opaque_data_version));
        out->has_opaque_data_version = 1;
        break;
    case CCG_GPU_OPAQUE_GPU_INFO:
        CCG_TRY(decode_uint(type, v, len, 8, &out->gpu_info));
        out->has_gpu_info = 1;
        break;
    case CCG_GPU_OPAQUE_BOARD_ID:
        CCG_TRY(decode_uint(type, v, len, 4, &x));
        out->board_id = (uint32_t)x;
        out->has_board_id = 1;
        break;
    case CCG_GPU_OPAQUE_CHIP_INFO: CCG_TRY(decode_string(type, v, len, out->chip_info, sizeof(out->chip_info))); break;
    case CCG_GPU_OPAQUE_PROJECT: CCG_TRY(decode_string(type, v, len, out->project, sizeof(out->project))); break;
    case CCG_GPU_OPAQUE_PROJECT_SKU:
        CCG_TRY(decode_string(type, v, len, out->project_sku, sizeof(out->project_sku)));
        break;
    case CCG_GPU_OPAQUE_PROJECT_SKU_MOD:
        CCG_TRY(decode_string(type, v, len, out->project_sku_mod, sizeof(out->project_sku_mod)));
        break;
    case CCG_GPU_OPAQUE_CHIP_SKU: CCG_TRY(decode_string(type, v, len, out->chip_sku, sizeof(out->chip_sku))); break;
    case CCG_GPU_OPAQUE_CHIP_SKU_MOD:
        CCG_TRY(decode_string(type, v, len, out->chip_sku_mod, sizeof(out->chip_sku_mod)));
        break;
    case CCG_GPU_OPAQUE_MSRSCNT: CCG_TRY(expect_multiple(type, len, MSRSCNT_ELEMENT)); break;
    case CCG_GPU_OPAQUE_SWITCH_PDI: CCG_TRY(expect_multiple(type, len, SWITCH_PDI_ELEMENT)); break;
    default: break; /* known by name, kept raw */
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int seen_before(const ccg_gpu_report *out, uint16_t type)
{
    for (size_t i = 0; i + 1 < out->n_opaque_fields; i++) {
        if (out->opaque_fields[i].type == type) {
            return 1;
        }
    }
    return 0;
}

static ccg_result parse_field(ccg_reader *r, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_opaque_field *f = &out->opaque_fields[out->n_opaque_fields];
    const uint8_t *value = NULL;
    size_t offset = ccg_reader_offset(r);
    CCG_ENSURE_MSG(ccg_reader_remaining(r) >= 4, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "opaque data ends inside a field header at offset %zu", offset);
    CCG_TRY(ccg_reader_u16le(r, &f->type));
    CCG_TRY(ccg_reader_u16le(r, &f->len));
    CCG_ENSURE_MSG(f->len <= ccg_reader_remaining(r), CCG_R_GPU_EVIDENCE_MALFORMED,
                   "opaque field of type %u at offset %zu overruns the opaque data by %zu bytes", f->type, offset,
                   f->len - ccg_reader_remaining(r));
    f->offset = (uint16_t)ccg_reader_offset(r);
    CCG_TRY(ccg_reader_borrow(r, &value, f->len));
    out->n_opaque_fields++;
    if (ccg_gpu_opaque_type_name(f->type) != NULL) {
        CCG_ENSURE_MSG(!seen_before(out, f->type), CCG_R_GPU_EVIDENCE_MALFORMED, "opaque %s appears twice",
                       ccg_gpu_opaque_type_name(f->type));
        CCG_TRY(decode_known(f->type, value, f->len, out));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void reset_opaque(ccg_gpu_report *out)
{
    out->opaque_len = 0;
    memset(out->opaque, 0, sizeof(out->opaque));
    out->n_opaque_fields = 0;
    memset(out->driver_version, 0, sizeof(out->driver_version));
    memset(out->vbios_version, 0, sizeof(out->vbios_version));
    out->has_fwid = 0;
    memset(out->fwid, 0, sizeof(out->fwid));
    out->nvdec0_status = CCG_GPU_NVDEC0_ABSENT;
    out->has_protected_pcie_status = 0;
    out->protected_pcie_status = 0;
    out->mode = CCG_GPU_MODE_ABSENT;
    out->feature_flag = 0;
    out->has_opaque_data_version = 0;
    out->opaque_data_version = 0;
    out->has_gpu_info = 0;
    out->gpu_info = 0;
    out->has_board_id = 0;
    out->board_id = 0;
    memset(out->chip_info, 0, sizeof(out->chip_info));
    memset(out->project, 0, sizeof(out->project));
    memset(out->project_sku, 0, sizeof(out->project_sku));
    memset(out->project_sku_mod, 0, sizeof(out->project_sku_mod));
    memset(out->chip_sku, 0, sizeof(out->chip_sku));
    memset(out->chip_sku_mod, 0, sizeof(out->chip_sku_mod));
}

ccg_result ccg_gpu_opaque_parse(const uint8_t *data, size_t len, ccg_gpu_report *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    reset_opaque(out);
    CCG_ENSURE_MSG(len <= CCG_GPU_OPAQUE_MAX, CCG_R_GPU_EVIDENCE_MALFORMED, "opaque data of %zu bytes exceeds 1024",
                   len);
    if (len > 0) {
        memcpy(out->opaque, data, len);
    }
    out->opaque_len = (uint16_t)len;
    ccg_reader_init(&r, out->opaque, len);
    while (ccg_reader_remaining(&r) > 0) {
        CCG_TRY(parse_field(&r, out));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}
