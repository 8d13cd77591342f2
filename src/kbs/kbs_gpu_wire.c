/* tee-evidence.additional_evidence as Trustee's KBS 0.4.0 carries NVIDIA evidence (docs/gpu-evidence.md,
 * "Wire form in the KBS Attestation"): a string holding a JSON object that maps each additional TEE to
 * its evidence; the "nvidia" member is {"device_evidence_list": [{"arch", "uuid"?, "evidence",
 * "certificate", "host_state"?}]}. Untrusted: bounded by the request body, duplicate keys refused, every
 * member known; each entry is decoded by the GPU verifier's own entry decoder. "host_state" is ccgate's
 * extension: the host's (NVML's) word on CC and DevTools mode, which can only refuse. Fuzzed by
 * fuzz_kbs_gpu_evidence. */
#include "kbs_gpu.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ccgate/error.h"

#define UUID_MAX 128u

/* "uuid" is only reported: a string of 1..128 printable ASCII bytes when present. */
static ccg_result check_uuid(const json_t *v, size_t index)
{
    ccg_result result = CCG_FAILURE;
    const char *s = json_string_value(v);
    size_t n = s != NULL ? strlen(s) : 0;
    CCG_ENSURE_MSG(s != NULL && n >= 1 && n <= UUID_MAX && n == json_string_length(v), CCG_R_GPU_EVIDENCE_MALFORMED,
                   "device %zu: uuid must be a string of 1..%u characters", index, UUID_MAX);
    for (size_t i = 0; i < n; i++) {
        CCG_ENSURE_MSG(s[i] > 0x20 && s[i] < 0x7f, CCG_R_GPU_EVIDENCE_MALFORMED,
                       "device %zu: uuid holds a character outside printable ASCII", index);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "on" -> 1, "off" -> 0, anything else -> -1. */
static int on_off(const json_t *v)
{
    const char *s = json_string_value(v);
    if (s == NULL || json_string_length(v) != strlen(s)) {
        return -1;
    }
    return strcmp(s, "on") == 0 ? 1 : strcmp(s, "off") == 0 ? 0 : -1;
}

/* The optional "host_state": exactly {"cc":"on"|"off","devtools":"on"|"off"}. */
static ccg_result parse_host_state(const json_t *v, size_t index, ccg_gpu_host_state *host)
{
    ccg_result result = CCG_FAILURE;
    int cc = on_off(json_object_get(v, "cc")), devtools = on_off(json_object_get(v, "devtools"));
    CCG_ENSURE_MSG(json_is_object(v) && json_object_size(v) == 2 && cc >= 0 && devtools >= 0,
                   CCG_R_GPU_EVIDENCE_MALFORMED,
                   "device %zu: host_state must be {\"cc\":\"on\"|\"off\",\"devtools\":\"on\"|\"off\"}", index);
    host->reported = 1;
    host->cc_on = cc;
    host->devtools_on = devtools;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One device_evidence_list entry: arch, evidence, certificate, an optional uuid and an optional
 * host_state; nothing else. */
static ccg_result parse_device(const json_t *obj, size_t index, ccg_gpu_evidence_item *item, ccg_gpu_host_state *host)
{
    ccg_result result = CCG_FAILURE;
    const char *arch = json_string_value(json_object_get(obj, "arch"));
    const char *evidence = json_string_value(json_object_get(obj, "evidence"));
    const char *cert = json_string_value(json_object_get(obj, "certificate"));
    const json_t *uuid = json_object_get(obj, "uuid");
    const json_t *hs = json_object_get(obj, "host_state");
    CCG_ENSURE_MSG(json_is_object(obj) && arch != NULL && evidence != NULL && cert != NULL &&
                       json_object_size(obj) == 3u + (uuid != NULL) + (hs != NULL),
                   CCG_R_GPU_EVIDENCE_MALFORMED,
                   "device %zu is not an object of arch, evidence and certificate strings, an optional uuid and an "
                   "optional host_state",
                   index);
    if (uuid != NULL) {
        CCG_TRY(check_uuid(uuid, index));
    }
    if (hs != NULL) {
        CCG_TRY(parse_host_state(hs, index, host));
    }
    /* NVML names an NVSwitch LS10; its evidence is not a GPU's and no GPU policy can judge it. */
    CCG_ENSURE_MSG(strcasecmp(arch, "LS10") != 0, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "device %zu is an NVSwitch (LS10), not a GPU: switch evidence is not accepted", index);
    item->nonce_absent = 1; /* this form carries no nonce of its own: only the signed one counts */
    CCG_TRY(ccg_gpu_evidence_item_decode(index, arch, evidence, cert, item));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The "nvidia" member: {"device_evidence_list": [1..CCG_GPU_MAX_GPUS entries]}. */
static ccg_result parse_nvidia(const json_t *nv, ccg_gpu_evidence_list *out, ccg_gpu_host_state *hosts)
{
    ccg_result result = CCG_FAILURE;
    const json_t *list = json_object_get(nv, "device_evidence_list");
    CCG_ENSURE_MSG(json_is_object(nv) && json_object_size(nv) == 1 && json_is_array(list),
                   CCG_R_GPU_EVIDENCE_MALFORMED, "\"nvidia\" must be {\"device_evidence_list\": [...]}");
    CCG_ENSURE_MSG(json_array_size(list) >= 1 && json_array_size(list) <= CCG_GPU_MAX_GPUS,
                   CCG_R_GPU_EVIDENCE_MALFORMED, "device_evidence_list must hold 1..%d devices (it holds %zu)",
                   CCG_GPU_MAX_GPUS, json_array_size(list));
    out->items = calloc(json_array_size(list), sizeof(*out->items));
    CCG_ENSURE_ALLOC(out->items);
    for (size_t i = 0; i < json_array_size(list); i++) {
        out->count = i + 1;
        CCG_TRY(parse_device(json_array_get(list, i), i, &out->items[i], &hosts[i]));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_gpu_evidence_parse(const char *text, size_t len, ccg_gpu_evidence_list *out,
                                  ccg_gpu_host_state hosts[CCG_GPU_MAX_GPUS])
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *tee;
    memset(out, 0, sizeof(*out));
    memset(hosts, 0, CCG_GPU_MAX_GPUS * sizeof(*hosts));
    if (len == 0) {
        return CCG_SUCCESS; /* no additional evidence: no GPU */
    }
    CCG_ENSURE(len <= CCG_KBS_MAX_BODY, CCG_R_INPUT_TOO_LARGE);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_GPU_EVIDENCE_MALFORMED, "additional_evidence is not JSON (line %d: %s)",
                   jerr.line, jerr.text);
    CCG_ENSURE_MSG(json_is_object(root), CCG_R_GPU_EVIDENCE_MALFORMED,
                   "additional_evidence is not a JSON object of TEE evidence");
    /* Evidence of a device this broker cannot verify is refused, never passed over: a policy could
     * otherwise be satisfied while part of the guest's TCB went unexamined. */
    json_object_foreach(root, tee, v) {
        CCG_ENSURE_MSG(strcmp(tee, "nvidia") == 0, CCG_R_KBS_ADDITIONAL_EVIDENCE_UNSUPPORTED,
                       "additional_evidence names \"%.32s\"; only \"nvidia\" is verified", tee);
    }
    v = json_object_get(root, "nvidia");
    if (v != NULL) {
        CCG_TRY(parse_nvidia(v, out, hosts));
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        ccg_gpu_evidence_list_free(out);
    }
    return result;
}

ccg_result ccg_kbs_gpu_evidence_parse(const char *text, size_t len, ccg_gpu_evidence_list *out)
{
    ccg_gpu_host_state hosts[CCG_GPU_MAX_GPUS];
    return kbs_gpu_evidence_parse(text, len, out, hosts);
}
