/* The per-GPU claims a token and an audit record carry (kbs_gpu.h): a short, fixed summary of each
 * GPU's appraisal claims (docs/gpu-evidence.md, "Appraisal"). Every value comes from the verified
 * chain, the signed report or the appraisal's own outcome; none is secret. */
#include "kbs_gpu.h"

#include <string.h>

static json_t *member_or_null(const json_t *obj, const char *name)
{
    json_t *v = json_object_get(obj, name);
    return v != NULL ? json_incref(v) : json_null();
}

/* The RIM comparison's mismatching indexes, [] when there were none or no comparison. */
static json_t *mismatched(const json_t *gpu)
{
    json_t *list = json_object_get(json_object_get(json_object_get(gpu, "rim"), "match"), "mismatched_indexes");
    return json_is_array(list) ? json_incref(list) : json_array();
}

static json_t *one(const json_t *gpu)
{
    const json_t *checks = json_object_get(gpu, "checks");
    json_t *m = json_object_get(checks, "measurements");
    return json_pack("{s:O?, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "index", json_object_get(gpu, "index"), "arch",
                     member_or_null(gpu, "arch"), "driver_version", member_or_null(gpu, "driver_version"),
                     "vbios_version", member_or_null(gpu, "vbios_version"), "ueid", member_or_null(gpu, "ueid"),
                     "measurements", json_is_string(m) ? json_string_value(m) : "not_done", "mismatched_indexes",
                     mismatched(gpu), "nonce_binding", member_or_null(gpu, "nonce_binding"));
}

json_t *kbs_gpu_claims_summary(const json_t *appraisal_claims)
{
    json_t *out = json_array(), *g;
    size_t i;
    if (out == NULL) {
        return NULL;
    }
    json_array_foreach(json_object_get(appraisal_claims, "gpus"), i, g) {
        if (json_array_append_new(out, one(g)) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

/* A string member the audit record can hold (1..63 printable bytes without spaces), or NULL: evidence
 * never makes the audit append fail, so nothing it carries can keep a denial out of the log. */
static const char *text(const json_t *obj, const char *name)
{
    const char *s = json_string_value(json_object_get(obj, name));
    size_t n = s != NULL ? strlen(s) : 0;
    if (n == 0 || n > CCG_AUDIT_GPU_TEXT_MAX) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] <= 0x20 || s[i] >= 0x7f) {
            return NULL;
        }
    }
    return s;
}

static const char *outcome(const json_t *obj)
{
    const char *m = text(obj, "measurements");
    return m != NULL && (strcmp(m, "passed") == 0 || strcmp(m, "failed") == 0) ? m : "not_done";
}

size_t kbs_audit_gpus(const json_t *summary, ccg_audit_gpu gpus[CCG_AUDIT_MAX_GPUS],
                      uint16_t indexes[CCG_AUDIT_MAX_GPUS][CCG_AUDIT_GPU_MAX_INDEXES])
{
    size_t n = 0, i;
    const json_t *g;
    json_array_foreach(summary, i, g) {
        const json_t *list = json_object_get(g, "mismatched_indexes"), *idx;
        size_t j;
        if (n == CCG_AUDIT_MAX_GPUS) {
            break;
        }
        gpus[n] = (ccg_audit_gpu){.arch = text(g, "arch"),
                                  .driver_version = text(g, "driver_version"),
                                  .vbios_version = text(g, "vbios_version"),
                                  .ueid = text(g, "ueid"),
                                  .measurements = outcome(g),
                                  .nonce_binding = text(g, "nonce_binding"),
                                  .mismatched = indexes[n]};
        json_array_foreach(list, j, idx) {
            json_int_t v = json_integer_value(idx);
            size_t c = gpus[n].mismatched_count;
            if (c < CCG_AUDIT_GPU_MAX_INDEXES && v >= 0 && v < (json_int_t)CCG_AUDIT_GPU_MAX_INDEXES &&
                (c == 0 || v > indexes[n][c - 1])) {
                indexes[n][gpus[n].mismatched_count++] = (uint16_t)v;
            }
        }
        n++;
    }
    return n;
}
