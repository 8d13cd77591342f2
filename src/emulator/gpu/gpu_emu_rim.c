/* The software GPU's TEST RIM signer and the driver and VBIOS RIMs matching its measurements: SWID
 * tags as NVIDIA publishes them (docs/gpu-rim.md), signed by ccg_gpu_rim_sign under a TEST RIM root.
 * Their IDs are the ones the verifier derives from the emulated evidence. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_rim.h"
#include "gpu_emu_internal.h"

#define SWID_ROOM (64u << 10)
#define RIM_ROOT_CN "ccgate TEST RIM Root (software GPU, not NVIDIA)"
#define RIM_SIGNER_CN "ccgate TEST RIM signer (software GPU)"

ccg_result gpu_emu_rim_signer_make(ccg_gpu_emulator *emu)
{
    ccg_result result = CCG_FAILURE;
    EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    gpu_emu_cert_spec root = {.cn = RIM_ROOT_CN, .serial = 2000, .not_before = GPU_EMU_T_2022,
                              .not_after = GPU_EMU_T_2040, .ca = 1};
    gpu_emu_cert_spec signer = {.cn = RIM_SIGNER_CN, .serial = 2001, .not_before = GPU_EMU_T_2022,
                                .not_after = GPU_EMU_T_2040};
    CCG_ENSURE_OSSL(root_key != NULL, CCG_R_INTERNAL_CRYPTO);
    emu->rim_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    CCG_ENSURE_OSSL(emu->rim_key != NULL, CCG_R_INTERNAL_CRYPTO);
    emu->rim_root = gpu_emu_cert(&root, root_key, NULL, NULL);
    CCG_ENSURE_OSSL(emu->rim_root != NULL, CCG_R_INTERNAL_CRYPTO);
    emu->rim_signer = gpu_emu_cert(&signer, emu->rim_key, emu->rim_root, root_key);
    CCG_ENSURE_OSSL(emu->rim_signer != NULL, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_free(root_key); /* nothing else is ever signed by the RIM root */
    return result;
}

/* An unsigned SWID for one RIM: every measured index, active where this RIM owns it. */
static ccg_result swid_text(const ccg_gpu_emulator *emu, int vbios, const char *id, char **out)
{
    ccg_result result = CCG_FAILURE;
    const ccg_gpu_emu_config *c = &emu->cfg;
    const char *version = vbios ? c->vbios_version : c->driver_version;
    char *s = malloc(SWID_ROOM);
    size_t used = 0;
    CCG_ENSURE_ALLOC(s);
    used = (size_t)snprintf(s, SWID_ROOM,
                            "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
                            "xmlns:h=\"http://www.w3.org/2001/04/xmlenc#sha384\" name=\"%s\" tagId=\"%s\" "
                            "version=\"%s\"><Meta colloquialVersion=\"%s\" product=\"ccgate TEST software GPU\" "
                            "edition=\"%s\" revision=\"1\"/><Payload>",
                            c->chip_info, id, version, version, vbios ? "vbios" : "driver");
    for (unsigned i = 0; i < CCG_GPU_EMU_BLOCKS; i++) {
        uint8_t v[48];
        char hex[97];
        int is_vbios = gpu_emu_is_vbios_index(i);
        ccg_gpu_emulator_measurement(emu, i, c->driver_version, CCG_GPU_EMU_CC_ON, v);
        ccg_hex_encode(v, sizeof(v), hex);
        used += (size_t)snprintf(s + used, SWID_ROOM - used,
                                 "<Resource type=\"Measurement\" index=\"%u\" active=\"%s\" alternatives=\"1\" "
                                 "h:Hash0=\"%s\" name=\"m%u\" size=\"48\"/>",
                                 i, is_vbios == vbios ? "True" : "False", hex, i);
    }
    used += (size_t)snprintf(s + used, SWID_ROOM - used, "</Payload></SoftwareIdentity>");
    CCG_ENSURE_MSG(used < SWID_ROOM, CCG_R_INTERNAL_ERROR, "the emulated SWID does not fit");
    *out = s;
    s = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(s);
    return result;
}

static ccg_result sign_rim(const ccg_gpu_emulator *emu, int vbios, const char *id, uint8_t **xml, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    char *swid = NULL;
    STACK_OF(X509) *chain = sk_X509_new_null();
    CCG_ENSURE_ALLOC(chain);
    CCG_ENSURE(sk_X509_push(chain, emu->rim_signer) > 0 && sk_X509_push(chain, emu->rim_root) > 0,
               CCG_R_INTERNAL_OUT_OF_MEMORY);
    CCG_TRY(swid_text(emu, vbios, id, &swid));
    CCG_TRY(ccg_gpu_rim_sign((const uint8_t *)swid, strlen(swid), emu->rim_key, chain, xml, len));
    result = CCG_SUCCESS;
cleanup:
    sk_X509_free(chain);
    free(swid);
    return result;
}

ccg_result gpu_emu_rim_ids(const ccg_gpu_emu_config *c, char driver_id[CCG_GPU_RIM_ID_MAX],
                           char vbios_id[CCG_GPU_RIM_ID_MAX])
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_gpu_rim_driver_id(ccg_gpu_arch_name(c->arch), c->chip_info, c->driver_version, driver_id));
    CCG_TRY(ccg_gpu_rim_vbios_id(c->project, c->project_sku, c->chip_sku, c->vbios_version, vbios_id));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_emulator_rims(const ccg_gpu_emulator *emu, ccg_gpu_emu_rims *out)
{
    ccg_result result = CCG_FAILURE;
    memset(out, 0, sizeof(*out));
    CCG_TRY(gpu_emu_rim_ids(&emu->cfg, out->driver_id, out->vbios_id));
    CCG_TRY(sign_rim(emu, 0, out->driver_id, &out->driver_xml, &out->driver_len));
    CCG_TRY(sign_rim(emu, 1, out->vbios_id, &out->vbios_xml, &out->vbios_len));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_gpu_emu_rims_free(out);
    }
    return result;
}

void ccg_gpu_emu_rims_free(ccg_gpu_emu_rims *r)
{
    free(r->driver_xml);
    free(r->vbios_xml);
    memset(r, 0, sizeof(*r));
}
