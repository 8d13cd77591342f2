/* The software GPU: its configuration, measurements and signed SPDM evidence for a nonce. */
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_rim.h"
#include "gpu_emu_internal.h"

#define MEASUREMENT_LABEL "ccgate software GPU measurement"
#define GPU_INFO_GH100 0x180u
#define GPU_INFO_GB100 0x1A0u
#define NVDEC0_ENABLED 0xAA
#define OPAQUE_DATA_VERSION 1
#define FEATURE_FLAG_SPT 0 /* single-GPU passthrough */
#define VBIOS_BYTES 5

static void copy_text(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src);
}

ccg_result ccg_gpu_emulator_config_init(ccg_gpu_emu_config *cfg, ccg_gpu_arch arch)
{
    ccg_result result = CCG_FAILURE;
    memset(cfg, 0, sizeof(*cfg));
    CCG_ENSURE_MSG(arch == CCG_GPU_ARCH_HOPPER || arch == CCG_GPU_ARCH_BLACKWELL, CCG_R_USAGE_INVALID,
                   "the software GPU is a Hopper or a Blackwell");
    cfg->arch = arch;
    copy_text(cfg->driver_version, sizeof(cfg->driver_version), CCG_GPU_EMU_DEFAULT_DRIVER);
    copy_text(cfg->vbios_version, sizeof(cfg->vbios_version), CCG_GPU_EMU_DEFAULT_VBIOS);
    copy_text(cfg->project, sizeof(cfg->project), arch == CCG_GPU_ARCH_HOPPER ? "1010" : "1070");
    copy_text(cfg->project_sku, sizeof(cfg->project_sku), arch == CCG_GPU_ARCH_HOPPER ? "0200" : "0205");
    copy_text(cfg->chip_sku, sizeof(cfg->chip_sku), arch == CCG_GPU_ARCH_HOPPER ? "882" : "890");
    copy_text(cfg->chip_info, sizeof(cfg->chip_info), arch == CCG_GPU_ARCH_HOPPER ? "GH100" : "GB100");
    /* A fresh FWID per emulated GPU, so two of them never look alike. */
    CCG_ENSURE_OSSL(RAND_bytes(cfg->fwid, sizeof(cfg->fwid)) == 1, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

const ccg_gpu_emu_config *ccg_gpu_emulator_config_of(const ccg_gpu_emulator *emu)
{
    return &emu->cfg;
}

X509 *ccg_gpu_emulator_root(const ccg_gpu_emulator *emu)
{
    return emu->chain.certs[CCG_GPU_EMU_CERTS - 1];
}

X509 *ccg_gpu_emulator_rim_root(const ccg_gpu_emulator *emu)
{
    return emu->rim_root;
}

ccg_result ccg_gpu_emulator_chain_pem(const ccg_gpu_emulator *emu, char **out, size_t *len)
{
    static const int leaf_first[CCG_GPU_EMU_CERTS] = {0, 1, 2, 3, 4};
    return ccg_gpu_emu_certs_pem(emu->chain.certs, leaf_first, CCG_GPU_EMU_CERTS, out, len);
}

/* "96.00.9F.00.01" -> the five bytes in the order written. */
ccg_result gpu_emu_vbios_bytes(const char *text, uint8_t out[VBIOS_BYTES])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(strlen(text) == 3 * VBIOS_BYTES - 1, CCG_R_USAGE_INVALID,
                   "a VBIOS version is five hex bytes joined by dots (96.00.9F.00.01), not '%.40s'", text);
    for (int i = 0; i < VBIOS_BYTES; i++) {
        CCG_ENSURE_MSG(i == VBIOS_BYTES - 1 || text[3 * i + 2] == '.', CCG_R_USAGE_INVALID,
                       "a VBIOS version is five hex bytes joined by dots, not '%.40s'", text);
        char pair[3] = {text[3 * i], text[3 * i + 1], 0};
        CCG_ENSURE_MSG(ccg_hex_is_valid(pair, 1), CCG_R_USAGE_INVALID,
                       "a VBIOS version is five hex bytes joined by dots, not '%.40s'", text);
        CCG_TRY(ccg_hex_decode_exact(pair, &out[i], 1));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static const char *cc_name(ccg_gpu_emu_cc cc)
{
    return cc == CCG_GPU_EMU_CC_OFF ? "off" : cc == CCG_GPU_EMU_CC_DEVTOOLS ? "devtools" : "on";
}

void ccg_gpu_emulator_measurement(const ccg_gpu_emulator *emu, unsigned rim_index, const char *driver_version,
                                  ccg_gpu_emu_cc cc, uint8_t out[48])
{
    char text[256];
    unsigned int n = 0;
    int vbios = gpu_emu_is_vbios_index(rim_index);
    int len = snprintf(text, sizeof(text), "%s|%s|%u|%s|%s", MEASUREMENT_LABEL, vbios ? "vbios" : "driver",
                       rim_index, vbios ? emu->cfg.vbios_version : driver_version,
                       rim_index == CCG_GPU_EMU_CC_INDEX ? cc_name(cc) : "");
    if (len < 0 || (size_t)len >= sizeof(text) || EVP_Digest(text, (size_t)len, out, &n, EVP_sha384(), NULL) != 1) {
        memset(out, 0, 48); /* unreachable: the inputs are bounded; a zero value never matches a RIM */
    }
}

/* NUL-terminated strings, as NVIDIA's opaque data carries them. */
static ccg_result add_string(ccg_gpu_emu_spdm *s, uint16_t type, const char *text)
{
    return ccg_gpu_emu_opaque_add(s, type, text, (uint16_t)(strlen(text) + 1));
}

static ccg_result add_uint(ccg_gpu_emu_spdm *s, uint16_t type, uint32_t v)
{
    uint8_t le[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    return ccg_gpu_emu_opaque_add(s, type, le, sizeof(le));
}

/* The VBIOS opaque field: a little-endian 64-bit value whose bytes 3.2.1.0.4 spell the version. */
static ccg_result add_vbios(ccg_gpu_emu_spdm *s, const char *version)
{
    ccg_result result = CCG_FAILURE;
    uint8_t b[VBIOS_BYTES], v[8] = {0};
    CCG_TRY(gpu_emu_vbios_bytes(version, b));
    v[3] = b[0];
    v[2] = b[1];
    v[1] = b[2];
    v[0] = b[3];
    v[4] = b[4];
    CCG_TRY(ccg_gpu_emu_opaque_add(s, CCG_GPU_OPAQUE_VBIOS_VERSION, v, sizeof(v)));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result add_opaque(const ccg_gpu_emulator *emu, const char *driver, const uint8_t *fwid,
                             ccg_gpu_emu_spdm *s)
{
    ccg_result result = CCG_FAILURE;
    const ccg_gpu_emu_config *c = &emu->cfg;
    static const uint8_t nvdec0 = NVDEC0_ENABLED;
    CCG_TRY(add_string(s, CCG_GPU_OPAQUE_DRIVER_VERSION, driver));
    CCG_TRY(add_uint(s, CCG_GPU_OPAQUE_GPU_INFO, c->arch == CCG_GPU_ARCH_BLACKWELL ? GPU_INFO_GB100 : GPU_INFO_GH100));
    CCG_TRY(add_vbios(s, c->vbios_version));
    CCG_TRY(ccg_gpu_emu_opaque_add(s, CCG_GPU_OPAQUE_NVDEC0_STATUS, &nvdec0, 1));
    CCG_TRY(add_string(s, CCG_GPU_OPAQUE_CHIP_SKU, c->chip_sku));
    CCG_TRY(add_string(s, CCG_GPU_OPAQUE_PROJECT, c->project));
    CCG_TRY(add_string(s, CCG_GPU_OPAQUE_PROJECT_SKU, c->project_sku));
    CCG_TRY(ccg_gpu_emu_opaque_add(s, CCG_GPU_OPAQUE_FWID, fwid, CCG_GPU_FWID_SIZE));
    CCG_TRY(add_uint(s, CCG_GPU_OPAQUE_OPAQUE_DATA_VERSION, OPAQUE_DATA_VERSION));
    CCG_TRY(add_string(s, CCG_GPU_OPAQUE_CHIP_INFO, c->chip_info));
    CCG_TRY(add_uint(s, CCG_GPU_OPAQUE_FEATURE_FLAG, FEATURE_FLAG_SPT));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_gpu_emu_cc tamper_cc(const ccg_gpu_emu_tamper *t)
{
    return t->kind == CCG_GPU_EMU_TAMPER_CC_OFF     ? CCG_GPU_EMU_CC_OFF
           : t->kind == CCG_GPU_EMU_TAMPER_DEVTOOLS ? CCG_GPU_EMU_CC_DEVTOOLS
                                                    : CCG_GPU_EMU_CC_ON;
}

static ccg_result fill_spec(const ccg_gpu_emulator *emu, const uint8_t nonce[CCG_GPU_NONCE_SIZE],
                            const ccg_gpu_emu_tamper *t, ccg_gpu_emu_spdm *s)
{
    ccg_result result = CCG_FAILURE;
    const char *driver = t->kind == CCG_GPU_EMU_TAMPER_DRIVER ? t->driver : emu->cfg.driver_version;
    uint8_t fwid[CCG_GPU_FWID_SIZE];
    memcpy(s->nonce, nonce, CCG_GPU_NONCE_SIZE);
    if (t->kind == CCG_GPU_EMU_TAMPER_NONCE) {
        s->nonce[0] ^= 0xFF; /* the GPU answered another request */
    }
    CCG_ENSURE_OSSL(RAND_bytes(s->response_nonce, sizeof(s->response_nonce)) == 1, CCG_R_INTERNAL_CRYPTO);
    s->n_blocks = CCG_GPU_EMU_BLOCKS;
    s->value_len = 48;
    for (unsigned k = 0; k < CCG_GPU_EMU_BLOCKS; k++) {
        ccg_gpu_emulator_measurement(emu, k, driver, tamper_cc(t), s->values[k]);
    }
    if (t->kind == CCG_GPU_EMU_TAMPER_MEASUREMENT) {
        CCG_ENSURE_MSG(t->index < CCG_GPU_EMU_BLOCKS, CCG_R_USAGE_INVALID,
                       "the software GPU measures RIM indexes 0..%d, not %u", CCG_GPU_EMU_BLOCKS - 1, t->index);
        s->values[t->index][0] ^= 0xFF;
    }
    memcpy(fwid, emu->cfg.fwid, sizeof(fwid));
    if (t->kind == CCG_GPU_EMU_TAMPER_FWID) {
        fwid[0] ^= 0xFF;
    }
    CCG_TRY(add_opaque(emu, driver, fwid, s));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_emulator_attest(const ccg_gpu_emulator *emu, const uint8_t nonce[CCG_GPU_NONCE_SIZE],
                                   const ccg_gpu_emu_tamper *tamper, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    static const ccg_gpu_emu_tamper none = {.kind = CCG_GPU_EMU_TAMPER_NONE};
    const ccg_gpu_emu_tamper *t = tamper != NULL ? tamper : &none;
    ccg_gpu_emu_spdm *s = calloc(1, sizeof(*s));
    uint8_t *report = NULL;
    size_t report_len = 0;
    *out = NULL;
    CCG_ENSURE_ALLOC(s);
    CCG_TRY(fill_spec(emu, nonce, t, s));
    CCG_TRY(ccg_gpu_emu_spdm_build(s, &report, &report_len));
    CCG_TRY(ccg_gpu_emu_spdm_sign(emu->chain.keys[0], report, report_len));
    if (t->kind == CCG_GPU_EMU_TAMPER_SIGNATURE) {
        /* The first byte of the first measurement value (request, response header, block count, record
         * length, block header), changed after signing. */
        report[CCG_GPU_REQUEST_SIZE + 4 + 1 + 3 + 7] ^= 0x01;
    }
    *out = report;
    *len = report_len;
    report = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(report);
    free(s);
    return result;
}

ccg_result ccg_gpu_emu_tamper_parse(const char *text, ccg_gpu_emu_tamper *out)
{
    ccg_result result = CCG_FAILURE;
    static const struct {
        const char *name;
        ccg_gpu_emu_tamper_kind kind;
    } plain[] = {
        {"cc_off", CCG_GPU_EMU_TAMPER_CC_OFF}, {"devtools", CCG_GPU_EMU_TAMPER_DEVTOOLS},
        {"fwid", CCG_GPU_EMU_TAMPER_FWID},     {"signature", CCG_GPU_EMU_TAMPER_SIGNATURE},
        {"nonce", CCG_GPU_EMU_TAMPER_NONCE},
    };
    char *end = NULL;
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        if (strcmp(text, plain[i].name) == 0) {
            out->kind = plain[i].kind;
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    if (strncmp(text, "measurement=", 12) == 0) {
        unsigned long index = strtoul(text + 12, &end, 10);
        CCG_ENSURE_MSG(text[12] >= '0' && text[12] <= '9' && *end == 0 && index < CCG_GPU_EMU_BLOCKS,
                       CCG_R_USAGE_INVALID, "--tamper measurement=N takes a RIM index 0..%d", CCG_GPU_EMU_BLOCKS - 1);
        out->kind = CCG_GPU_EMU_TAMPER_MEASUREMENT;
        out->index = (unsigned)index;
    } else if (strncmp(text, "driver=", 7) == 0) {
        char id[CCG_GPU_RIM_ID_MAX];
        /* The version must make a RIM ID, as a real driver's does. */
        CCG_TRY(ccg_gpu_rim_driver_id("HOPPER", NULL, text + 7, id));
        CCG_ENSURE_MSG(strlen(text + 7) < sizeof(out->driver), CCG_R_USAGE_INVALID, "--tamper driver=VER is too long");
        out->kind = CCG_GPU_EMU_TAMPER_DRIVER;
        copy_text(out->driver, sizeof(out->driver), text + 7);
    } else {
        CCG_BAIL(CCG_R_USAGE_INVALID,
                 "unknown tamper '%.60s' (cc_off, devtools, measurement=N, fwid, driver=VER, signature, nonce)", text);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A config the evidence and the RIM IDs can carry. */
ccg_result gpu_emu_config_check(const ccg_gpu_emu_config *c)
{
    ccg_result result = CCG_FAILURE;
    uint8_t vbios[VBIOS_BYTES];
    char driver_id[CCG_GPU_RIM_ID_MAX], vbios_id[CCG_GPU_RIM_ID_MAX];
    CCG_ENSURE_MSG(c->arch == CCG_GPU_ARCH_HOPPER || c->arch == CCG_GPU_ARCH_BLACKWELL, CCG_R_USAGE_INVALID,
                   "the software GPU is a Hopper or a Blackwell");
    CCG_TRY(gpu_emu_vbios_bytes(c->vbios_version, vbios));
    CCG_TRY(gpu_emu_rim_ids(c, driver_id, vbios_id));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_emulator_new(const ccg_gpu_emu_config *cfg, ccg_gpu_emulator **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_emu_chain_opts o;
    ccg_gpu_emulator *emu = calloc(1, sizeof(*emu));
    *out = NULL;
    CCG_ENSURE_ALLOC(emu);
    CCG_TRY(gpu_emu_config_check(cfg));
    emu->cfg = *cfg;
    ccg_gpu_emu_chain_opts_init(&o, cfg->arch, cfg->fwid);
    /* Each software GPU its own ueid: 48 bits of its (random) FWID. */
    o.leaf_serial = 1;
    for (int i = 0; i < 6; i++) {
        o.leaf_serial = o.leaf_serial << 8 | cfg->fwid[i];
    }
    CCG_TRY(ccg_gpu_emu_chain_make(&o, &emu->chain));
    CCG_TRY(gpu_emu_rim_signer_make(emu));
    *out = emu;
    emu = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_gpu_emulator_free(emu);
    return result;
}

void ccg_gpu_emulator_free(ccg_gpu_emulator *emu)
{
    if (emu == NULL) {
        return;
    }
    ccg_gpu_emu_chain_free(&emu->chain);
    EVP_PKEY_free(emu->rim_key);
    X509_free(emu->rim_signer);
    X509_free(emu->rim_root);
    free(emu);
}
