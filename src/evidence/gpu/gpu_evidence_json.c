/* The JSON evidence form of NVIDIA's attestation SDK: [{"arch", "certificate", "evidence", "nonce"}].
 * certificate is base64 of the PEM chain, evidence base64 of the binary report, nonce the hex nonce the
 * attester says it asked for. Parsed strictly with jansson (duplicate keys refused, no other members);
 * base64 is decoded by OpenSSL. */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_verify.h"

#define MAX_JSON_BYTES (8u << 20)
#define MAX_CERTIFICATE_BYTES (64u << 10)

static ccg_result base64_decode(const char *name, size_t index, const char *text, size_t max_out, uint8_t **out,
                                size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    EVP_ENCODE_CTX *ctx = EVP_ENCODE_CTX_new();
    size_t len = strlen(text);
    uint8_t *buf = NULL;
    int n = 0, tail = 0;
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_MSG(len > 0 && len <= max_out / 3 * 4 + 4 && len <= (size_t)INT32_MAX, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "entry %zu: %s is empty or too long", index, name);
    buf = malloc(len / 4 * 3 + 3);
    CCG_ENSURE_ALLOC(buf);
    EVP_DecodeInit(ctx);
    CCG_ENSURE_MSG(EVP_DecodeUpdate(ctx, buf, &n, (const unsigned char *)text, (int)len) >= 0 &&
                       EVP_DecodeFinal(ctx, buf + n, &tail) == 1,
                   CCG_R_GPU_EVIDENCE_MALFORMED, "entry %zu: %s is not base64", index, name);
    *out_len = (size_t)n + (size_t)tail;
    CCG_ENSURE_MSG(*out_len > 0 && *out_len <= max_out, CCG_R_GPU_EVIDENCE_MALFORMED, "entry %zu: %s decodes to %zu bytes",
                   index, name, *out_len);
    *out = buf;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(buf);
    EVP_ENCODE_CTX_free(ctx);
    return result;
}

static const char *member_string(json_t *obj, const char *key, size_t index)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

ccg_result ccg_gpu_evidence_item_decode(size_t index, const char *arch, const char *evidence, const char *certificate,
                                        ccg_gpu_evidence_item *item)
{
    ccg_result result = CCG_FAILURE;
    item->arch = ccg_gpu_arch_from_name(arch);
    CCG_ENSURE_MSG(item->arch != CCG_GPU_ARCH_UNKNOWN, CCG_R_GPU_EVIDENCE_MALFORMED,
                   "entry %zu: arch is not HOPPER or BLACKWELL", index);
    CCG_TRY(base64_decode("evidence", index, evidence, CCG_GPU_MAX_REPORT_SIZE, &item->evidence,
                          &item->evidence_len));
    CCG_TRY(base64_decode("certificate", index, certificate, MAX_CERTIFICATE_BYTES, &item->certificate,
                          &item->certificate_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_item(json_t *obj, size_t index, ccg_gpu_evidence_item *item)
{
    ccg_result result = CCG_FAILURE;
    const char *arch = member_string(obj, "arch", index);
    const char *cert = member_string(obj, "certificate", index);
    const char *evidence = member_string(obj, "evidence", index);
    const char *nonce = member_string(obj, "nonce", index);
    CCG_ENSURE_MSG(json_is_object(obj) && json_object_size(obj) == 4 && arch && cert && evidence && nonce,
                   CCG_R_GPU_EVIDENCE_MALFORMED,
                   "entry %zu is not an object of exactly arch, certificate, evidence and nonce strings", index);
    CCG_ENSURE_MSG(strlen(nonce) == 2 * CCG_GPU_NONCE_SIZE && ccg_hex_is_valid(nonce, CCG_GPU_NONCE_SIZE),
                   CCG_R_GPU_EVIDENCE_MALFORMED, "entry %zu: nonce is not 64 hex digits", index);
    CCG_TRY(ccg_hex_decode_exact(nonce, item->nonce, CCG_GPU_NONCE_SIZE));
    CCG_TRY(ccg_gpu_evidence_item_decode(index, arch, evidence, cert, item));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_evidence_json_parse(const char *text, size_t len, ccg_gpu_evidence_list *out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(len <= MAX_JSON_BYTES, CCG_R_INPUT_TOO_LARGE, "GPU evidence JSON of %zu bytes", len);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(root != NULL, CCG_R_GPU_EVIDENCE_MALFORMED, "not JSON: %s (line %d)", err.text, err.line);
    CCG_ENSURE_MSG(json_is_array(root) && json_array_size(root) >= 1 && json_array_size(root) <= CCG_GPU_MAX_GPUS,
                   CCG_R_GPU_EVIDENCE_MALFORMED, "the GPU evidence is not an array of 1..%d entries", CCG_GPU_MAX_GPUS);
    out->items = calloc(json_array_size(root), sizeof(*out->items));
    CCG_ENSURE_ALLOC(out->items);
    for (size_t i = 0; i < json_array_size(root); i++) {
        out->count = i + 1;
        CCG_TRY(parse_item(json_array_get(root, i), i, &out->items[i]));
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        ccg_gpu_evidence_list_free(out);
    }
    return result;
}

void ccg_gpu_evidence_list_free(ccg_gpu_evidence_list *l)
{
    for (size_t i = 0; l->items != NULL && i < l->count; i++) {
        free(l->items[i].evidence);
        free(l->items[i].certificate);
    }
    free(l->items);
    memset(l, 0, sizeof(*l));
}

ccg_result ccg_gpu_verify_item_opts(ccg_gpu_verifier *v, const ccg_gpu_evidence_item *item,
                                    const ccg_gpu_verify_opts *opts, ccg_time now, ccg_gpu_result *res, ccg_decision *d)
{
    ccg_result result = CCG_FAILURE;
    ccg_gpu_verify_opts o = {0};
    if (opts != NULL) {
        o = *opts;
    }
    o.declared_arch = item->arch;
    CCG_TRY(ccg_gpu_verify(v, item->evidence, item->evidence_len, item->certificate, item->certificate_len, &o, now,
                           res, d));
    /* The entry's nonce is the attester's word; the report's signed request is what counts, and the two
     * must agree or the entry was assembled from another report. */
    if (!item->nonce_absent && !ccg_memeq_ct(item->nonce, res->report.nonce, CCG_GPU_NONCE_SIZE)) {
        char *claimed = ccg_hex_alloc(item->nonce, CCG_GPU_NONCE_SIZE);
        char *signed_nonce = ccg_hex_alloc(res->report.nonce, CCG_GPU_NONCE_SIZE);
        ccg_decision_deny(d, CCG_R_GPU_NONCE_MISMATCH,
                          json_pack("{s:s, s:s, s:s}", "detail", "the entry's nonce is not the report's signed nonce",
                                    "entry", claimed ? claimed : "", "report", signed_nonce ? signed_nonce : ""));
        free(claimed);
        free(signed_nonce);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_gpu_verify_item(ccg_gpu_verifier *v, const ccg_gpu_evidence_item *item, const uint8_t *expected_nonce,
                               ccg_time now, ccg_gpu_result *res, ccg_decision *d)
{
    ccg_gpu_verify_opts opts = {.expected_nonce = expected_nonce};
    return ccg_gpu_verify_item_opts(v, item, &opts, now, res, d);
}
