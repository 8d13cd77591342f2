/* Every claim of a verified GPU report as JSON, for the CLI, the token and the audit record. Nothing
 * here is secret: measurements, versions, serials and nonces are public. */
#include <stdio.h>
#include <stdlib.h>

#include "ccgate/gpu_verify.h"

static json_t *hex_json(const uint8_t *p, size_t n)
{
    char *hex = ccg_hex_alloc(p, n);
    json_t *s = json_string(hex != NULL ? hex : "");
    free(hex);
    return s;
}

static const char *nvdec0_name(ccg_gpu_nvdec0 s)
{
    switch (s) {
    case CCG_GPU_NVDEC0_ENABLED: return "enabled";
    case CCG_GPU_NVDEC0_DISABLED: return "disabled";
    default: return "absent";
    }
}

static const char *mode_name(ccg_gpu_mode m)
{
    switch (m) {
    case CCG_GPU_MODE_SPT: return "spt";
    case CCG_GPU_MODE_MPT: return "mpt";
    case CCG_GPU_MODE_PPCIE: return "ppcie";
    case CCG_GPU_MODE_UNKNOWN: return "unknown";
    default: return "absent";
    }
}

static json_t *checks_json(const ccg_gpu_result *res)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "chain", ccg_gpu_check_name(res->chain), "fwid",
                     ccg_gpu_check_name(res->fwid), "signature", ccg_gpu_check_name(res->signature), "nonce",
                     ccg_gpu_check_name(res->nonce), "arch", ccg_gpu_check_name(res->arch_check));
}

static json_t *measurements_json(const ccg_gpu_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < r->n_measurements; i++) {
        const ccg_gpu_measurement *m = &r->measurements[i];
        json_array_append_new(a, json_pack("{s:i, s:i, s:o}", "index", m->index, "dmtf_type", m->dmtf_type, "value",
                                           hex_json(m->value, m->size)));
    }
    return a;
}

static json_t *opaque_json(const ccg_gpu_report *r)
{
    json_t *a = json_array();
    for (size_t i = 0; a != NULL && i < r->n_opaque_fields; i++) {
        const ccg_gpu_opaque_field *f = &r->opaque_fields[i];
        const char *name = ccg_gpu_opaque_type_name(f->type);
        json_t *o = json_pack("{s:i, s:o}", "type", f->type, "value", hex_json(r->opaque + f->offset, f->len));
        if (o != NULL) {
            json_object_set_new(o, "name", name != NULL ? json_string(name) : json_null());
        }
        json_array_append_new(a, o);
    }
    return a;
}

static void set_optional_uint(json_t *o, const char *key, int has, uint64_t v)
{
    json_object_set_new(o, key, has ? json_integer((json_int_t)v) : json_null());
}

static void add_report(json_t *o, const ccg_gpu_report *r)
{
    char pcie[8];
    json_object_set_new(o, "spdm_version", json_string("1.1"));
    json_object_set_new(o, "slot_id", json_integer(r->slot_id));
    json_object_set_new(o, "nonce", hex_json(r->nonce, sizeof(r->nonce)));
    json_object_set_new(o, "response_nonce", hex_json(r->response_nonce, sizeof(r->response_nonce)));
    json_object_set_new(o, "driver_version", json_string(r->driver_version));
    json_object_set_new(o, "vbios_version", json_string(r->vbios_version));
    json_object_set_new(o, "fwid", r->has_fwid ? hex_json(r->fwid, sizeof(r->fwid)) : json_null());
    json_object_set_new(o, "nvdec0_status", json_string(nvdec0_name(r->nvdec0_status)));
    json_object_set_new(o, "mode", json_string(mode_name(r->mode)));
    set_optional_uint(o, "feature_flag", r->mode != CCG_GPU_MODE_ABSENT, r->feature_flag);
    snprintf(pcie, sizeof(pcie), "0x%02x", r->protected_pcie_status);
    json_object_set_new(o, "protected_pcie_status", r->has_protected_pcie_status ? json_string(pcie) : json_null());
    set_optional_uint(o, "opaque_data_version", r->has_opaque_data_version, r->opaque_data_version);
    set_optional_uint(o, "gpu_info", r->has_gpu_info, r->gpu_info);
    set_optional_uint(o, "board_id", r->has_board_id, r->board_id);
    json_object_set_new(o, "chip_info", json_string(r->chip_info));
    json_object_set_new(o, "project", json_string(r->project));
    json_object_set_new(o, "project_sku", json_string(r->project_sku));
    json_object_set_new(o, "project_sku_mod", json_string(r->project_sku_mod));
    json_object_set_new(o, "chip_sku", json_string(r->chip_sku));
    json_object_set_new(o, "chip_sku_mod", json_string(r->chip_sku_mod));
    json_object_set_new(o, "measurements", measurements_json(r));
    json_object_set_new(o, "opaque", opaque_json(r));
}

json_t *ccg_gpu_result_json(const ccg_gpu_result *res)
{
    char nb[32] = "", na[32] = "";
    json_t *o = json_pack("{s:b, s:s, s:o}", "parsed", res->parsed, "arch", ccg_gpu_arch_name(res->arch), "checks",
                          checks_json(res));
    if (o == NULL || !res->parsed) {
        return o;
    }
    json_object_set_new(o, "ueid", json_string(res->ueid));
    json_object_set_new(o, "hwmodel", json_string(res->hwmodel));
    json_object_set_new(o, "root", json_string(res->root));
    json_object_set_new(o, "leaf_fwid", res->has_leaf_fwid ? hex_json(res->leaf_fwid, CCG_GPU_FWID_SIZE) : json_null());
    if (res->chain == CCG_GPU_CHECK_PASSED) {
        ccg_time_format_rfc3339(res->chain_not_before, nb, sizeof(nb));
        ccg_time_format_rfc3339(res->chain_not_after, na, sizeof(na));
        json_object_set_new(o, "chain_not_before", json_string(nb));
        json_object_set_new(o, "chain_not_after", json_string(na));
    }
    add_report(o, &res->report);
    return o;
}
