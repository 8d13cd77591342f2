/* The launch-inputs JSON document: what `ccgate measure snp --json` writes and `--from-json` reads, so a
 * verifier can keep the inputs of a measurement without the firmware or kernel files (docs/measurement.md).
 * Addresses and feature bits are written as "0x..." strings; integers are accepted as well. Parsing is
 * strict: unknown keys, wrong types and out-of-range values are measure.input_invalid. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ccgate/util.h"
#include "snp_internal.h"

static const char *const known_keys[] = {
    "ovmf_sha256", "ovmf_hash", "ovmf_sections", "sev_hashes_table_gpa", "sev_es_reset_eip", "kernel_hash",
    "initrd_hash", "cmdline",   "vcpus",         "vcpu_type",            "vcpu_sig",         "guest_features",
    "vmm_type",    "measurement",
};
static const char *const required_keys[] = {"ovmf_hash", "ovmf_sections", "sev_es_reset_eip", "vcpus",
                                            "guest_features", "vmm_type"};

/* ---- writing ---- */

static json_t *hex_bytes(const uint8_t *p, size_t n)
{
    char buf[2 * CCG_SNP_LD_SIZE + 1];
    ccg_hex_encode(p, n, buf);
    return json_string(buf);
}

static json_t *hex_uint(uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "0x%" PRIx64, v);
    return json_string(buf);
}

static json_t *sections_json(const ccg_snp_launch_inputs *in)
{
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < in->section_count; i++) {
        const ccg_snp_ovmf_section *s = &in->sections[i];
        if (json_array_append_new(list, json_pack("{s:o, s:o, s:I}", "gpa", hex_uint(s->gpa), "size",
                                                  hex_uint(s->size), "section_type", (json_int_t)s->section_type))) {
            json_decref(list);
            return NULL;
        }
    }
    return list;
}

static json_t *kernel_json(const ccg_snp_launch_inputs *in, const char *key)
{
    if (!in->has_kernel) {
        return json_null();
    }
    if (strcmp(key, "cmdline") == 0) {
        return json_string(in->cmdline != NULL ? in->cmdline : "");
    }
    return hex_bytes(strcmp(key, "kernel_hash") == 0 ? in->kernel_hash : in->initrd_hash, 32);
}

ccg_result ccg_snp_launch_inputs_to_json(const ccg_snp_launch_inputs *in, const uint8_t *measurement, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *doc = NULL, *cmdline = kernel_json(in, "cmdline");
    CCG_ENSURE_MSG(cmdline != NULL, CCG_R_MEASURE_INPUT_INVALID, "the cmdline is not valid UTF-8");
    doc = json_pack("{s:o?, s:o, s:o, s:o?, s:o, s:o, s:o, s:O, s:I, s:s?, s:o?, s:o, s:s?}",
                    "ovmf_sha256", in->has_ovmf_sha256 ? hex_bytes(in->ovmf_sha256, 32) : NULL,
                    "ovmf_hash", hex_bytes(in->ovmf_hash, CCG_SNP_LD_SIZE),
                    "ovmf_sections", sections_json(in),
                    "sev_hashes_table_gpa", in->sev_hashes_table_gpa ? hex_uint(in->sev_hashes_table_gpa) : NULL,
                    "sev_es_reset_eip", hex_uint(in->sev_es_reset_eip),
                    "kernel_hash", kernel_json(in, "kernel_hash"),
                    "initrd_hash", kernel_json(in, "initrd_hash"),
                    "cmdline", cmdline,
                    "vcpus", (json_int_t)in->vcpus,
                    "vcpu_type", in->vcpu_type[0] ? in->vcpu_type : NULL,
                    "vcpu_sig", in->has_vcpu_sig ? hex_uint(in->vcpu_sig) : NULL,
                    "guest_features", hex_uint(in->guest_features),
                    "vmm_type", ccg_snp_vmm_type_name(in->vmm_type));
    CCG_ENSURE_ALLOC(doc);
    CCG_ENSURE(measurement == NULL ||
                   json_object_set_new(doc, "measurement", hex_bytes(measurement, CCG_SNP_LD_SIZE)) == 0,
               CCG_R_INTERNAL_OUT_OF_MEMORY);
    *out = doc;
    doc = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(cmdline);
    json_decref(doc);
    return result;
}

/* ---- reading ---- */

static int nibble(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* "0x" and 1..16 hex digits. */
static int parse_hex_uint(const char *s, uint64_t *out)
{
    size_t n = strlen(s);
    uint64_t v = 0;
    if (n < 3 || n > 18 || s[0] != '0' || (s[1] != 'x' && s[1] != 'X')) {
        return -1;
    }
    for (size_t i = 2; i < n; i++) {
        int d = nibble(s[i]);
        if (d < 0) {
            return -1;
        }
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return 0;
}

static ccg_result get_uint(json_t *v, const char *key, uint64_t max, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    uint64_t n = 0;
    int ok = 0;
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        n = (uint64_t)json_integer_value(v);
        ok = 1;
    } else if (json_is_string(v)) {
        ok = parse_hex_uint(json_string_value(v), &n) == 0;
    }
    CCG_ENSURE_MSG(ok && n <= max, CCG_R_MEASURE_INPUT_INVALID,
                   "'%s' must be an integer or a \"0x...\" string from 0 to 0x%" PRIx64, key, max);
    *out = n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_u32(json_t *v, const char *key, uint32_t *out)
{
    uint64_t n = 0;
    ccg_result r = get_uint(v, key, UINT32_MAX, &n);
    *out = (uint32_t)n;
    return r;
}

static ccg_result get_hex(json_t *v, const char *key, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_string(v) && ccg_hex_is_valid(json_string_value(v), n), CCG_R_MEASURE_INPUT_INVALID,
                   "'%s' must be %zu bytes of hex", key, n);
    CCG_TRY(ccg_hex_decode_exact(json_string_value(v), out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_keys(json_t *root)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        int known = 0;
        for (size_t i = 0; i < sizeof(known_keys) / sizeof(known_keys[0]); i++) {
            known |= strcmp(key, known_keys[i]) == 0;
        }
        CCG_ENSURE_MSG(known, CCG_R_MEASURE_INPUT_INVALID, "unknown launch-inputs key '%.64s'", key);
    }
    for (size_t i = 0; i < sizeof(required_keys) / sizeof(required_keys[0]); i++) {
        CCG_ENSURE_MSG(json_object_get(root, required_keys[i]) != NULL, CCG_R_MEASURE_INPUT_INVALID,
                       "launch inputs lack '%s'", required_keys[i]);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_section(json_t *v, ccg_snp_ovmf_section *s)
{
    ccg_result result = CCG_FAILURE;
    json_t *gpa = json_object_get(v, "gpa"), *size = json_object_get(v, "size"), *type = json_object_get(v, "section_type");
    CCG_ENSURE_MSG(json_is_object(v) && json_object_size(v) == 3 && gpa && size && type, CCG_R_MEASURE_INPUT_INVALID,
                   "each of 'ovmf_sections' must be exactly {gpa, size, section_type}");
    CCG_TRY(get_u32(gpa, "gpa", &s->gpa));
    CCG_TRY(get_u32(size, "size", &s->size));
    CCG_TRY(get_u32(type, "section_type", &s->section_type));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_sections(json_t *v, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    size_t n = json_array_size(v);
    CCG_ENSURE_MSG(json_is_array(v) && n <= CCG_SNP_MAX_SECTIONS, CCG_R_MEASURE_INPUT_INVALID,
                   "'ovmf_sections' must be an array of at most %d sections", CCG_SNP_MAX_SECTIONS);
    for (size_t i = 0; i < n; i++) {
        CCG_TRY(get_section(json_array_get(v, i), &in->sections[i]));
    }
    in->section_count = n;
    CCG_TRY(snp_sections_check(in->sections, n, CCG_R_MEASURE_INPUT_INVALID));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int present(json_t *root, const char *key)
{
    json_t *v = json_object_get(root, key);
    return v != NULL && !json_is_null(v);
}

static ccg_result get_cmdline(json_t *root, const char **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(root, "cmdline");
    *out = NULL;
    if (present(root, "cmdline")) {
        CCG_ENSURE_MSG(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v),
                       CCG_R_MEASURE_INPUT_INVALID, "'cmdline' must be a string without NUL characters");
        *out = json_string_value(v);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* kernel_hash turns direct boot on; initrd_hash and cmdline default to empty. */
static ccg_result get_kernel(json_t *root, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t kernel[32], initrd[32];
    const char *cmdline = NULL;
    int has_initrd = present(root, "initrd_hash");
    if (!present(root, "kernel_hash")) {
        CCG_ENSURE_MSG(!has_initrd && !present(root, "cmdline"), CCG_R_MEASURE_INPUT_INVALID,
                       "'initrd_hash' and 'cmdline' need 'kernel_hash'");
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_TRY(get_hex(json_object_get(root, "kernel_hash"), "kernel_hash", kernel, 32));
    if (has_initrd) {
        CCG_TRY(get_hex(json_object_get(root, "initrd_hash"), "initrd_hash", initrd, 32));
    }
    CCG_TRY(get_cmdline(root, &cmdline));
    CCG_TRY(ccg_snp_launch_inputs_set_kernel(in, kernel, has_initrd ? initrd : NULL, cmdline));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* vcpu_type names a model; vcpu_sig alone is a raw signature; both must agree. */
static ccg_result get_vcpu(json_t *root, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint32_t sig = 0;
    int has_sig = present(root, "vcpu_sig");
    if (has_sig) {
        CCG_TRY(get_u32(json_object_get(root, "vcpu_sig"), "vcpu_sig", &sig));
    }
    if (present(root, "vcpu_type")) {
        json_t *t = json_object_get(root, "vcpu_type");
        CCG_ENSURE_MSG(json_is_string(t), CCG_R_MEASURE_INPUT_INVALID, "'vcpu_type' must be a string");
        CCG_TRY(ccg_snp_launch_inputs_set_vcpu_type(in, json_string_value(t)));
        CCG_ENSURE_MSG(!has_sig || sig == in->vcpu_sig, CCG_R_MEASURE_INPUT_INVALID,
                       "'vcpu_sig' 0x%x is not the signature of %s (0x%x)", sig, in->vcpu_type, in->vcpu_sig);
    } else if (has_sig) {
        in->vcpu_sig = sig;
        in->has_vcpu_sig = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_platform(json_t *root, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint64_t n = 0;
    json_t *vmm = json_object_get(root, "vmm_type");
    CCG_TRY(get_uint(json_object_get(root, "vcpus"), "vcpus", CCG_SNP_MAX_VCPUS, &n));
    in->vcpus = (uint32_t)n;
    CCG_TRY(get_uint(json_object_get(root, "guest_features"), "guest_features", UINT64_MAX, &in->guest_features));
    CCG_ENSURE_MSG(json_is_string(vmm), CCG_R_MEASURE_VMM_TYPE_UNSUPPORTED, "'vmm_type' must be a string");
    CCG_TRY(ccg_snp_vmm_type_from_name(json_string_value(vmm), &in->vmm_type));
    CCG_TRY(get_vcpu(root, in));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_ovmf(json_t *root, ccg_snp_launch_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(get_hex(json_object_get(root, "ovmf_hash"), "ovmf_hash", in->ovmf_hash, CCG_SNP_LD_SIZE));
    CCG_TRY(get_sections(json_object_get(root, "ovmf_sections"), in));
    CCG_TRY(get_u32(json_object_get(root, "sev_es_reset_eip"), "sev_es_reset_eip", &in->sev_es_reset_eip));
    if (present(root, "sev_hashes_table_gpa")) {
        CCG_TRY(get_u32(json_object_get(root, "sev_hashes_table_gpa"), "sev_hashes_table_gpa",
                        &in->sev_hashes_table_gpa));
    }
    if (present(root, "ovmf_sha256")) {
        CCG_TRY(get_hex(json_object_get(root, "ovmf_sha256"), "ovmf_sha256", in->ovmf_sha256, 32));
        in->has_ovmf_sha256 = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_launch_inputs_from_json(const char *text, size_t len, ccg_snp_launch_inputs *in,
                                           int *has_measurement, uint8_t *measurement)
{
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;
    uint8_t digest[CCG_SNP_LD_SIZE];
    ccg_snp_launch_inputs_init(in);
    CCG_ENSURE_MSG(len <= CCG_SNP_JSON_MAX_BYTES, CCG_R_MEASURE_INPUT_INVALID, "launch inputs exceed %u bytes",
                   CCG_SNP_JSON_MAX_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_MEASURE_INPUT_INVALID, "line %d column %d: %.120s", jerr.line, jerr.column,
                   jerr.text);
    CCG_ENSURE_MSG(json_is_object(root), CCG_R_MEASURE_INPUT_INVALID, "launch inputs must be a JSON object");
    CCG_TRY(check_keys(root));
    CCG_TRY(get_ovmf(root, in));
    CCG_TRY(get_kernel(root, in));
    CCG_TRY(get_platform(root, in));
    if (has_measurement != NULL) {
        *has_measurement = present(root, "measurement");
    }
    if (present(root, "measurement")) {
        CCG_TRY(get_hex(json_object_get(root, "measurement"), "measurement", digest, sizeof(digest)));
        if (measurement != NULL) {
            memcpy(measurement, digest, sizeof(digest));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_snp_launch_inputs_free(in);
    }
    json_decref(root);
    return result;
}
