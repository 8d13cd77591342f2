/* The release policy document and its evaluation against SNP evidence (docs/kbs.md). */
#include "ccgate/kbs.h"
#include "kbs_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ccgate/error.h"
#include "ccgate/snp_verify.h"

#define KBS_POLICY_MAX (1u << 20)

void ccg_kbs_policy_free(ccg_kbs_policy *p)
{
    if (p == NULL) {
        return;
    }
    ccg_snp_policy_free(p->snp);
    ccg_tdx_policy_free(p->tdx);
    ccg_gpu_policy_free(p->gpu);
    for (size_t i = 0; i < p->root_count; i++) {
        X509_free(p->roots[i].root);
    }
    free(p);
}

static ccg_result parse_root(const json_t *entry, ccg_kbs_root *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *product = json_object_get(entry, "product"), *pem = json_object_get(entry, "pem");
    BIO *bio = NULL;
    EVP_PKEY *pub = NULL;
    CCG_ENSURE_MSG(json_is_object(entry) && json_object_size(entry) == 2 && json_is_string(product) &&
                       json_is_string(pem),
                   CCG_R_KBS_POLICY_INVALID, "a trusted_roots entry must be {\"product\",\"pem\"}");
    out->product = ccg_snp_product_from_name(json_string_value(product));
    CCG_ENSURE_MSG(out->product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_KBS_POLICY_INVALID,
                   "trusted_roots: unknown product \"%.32s\"", json_string_value(product));
    bio = BIO_new_mem_buf(json_string_value(pem), (int)json_string_length(pem));
    CCG_ENSURE_ALLOC(bio);
    out->root = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CCG_ENSURE_MSG(out->root != NULL, CCG_R_KBS_POLICY_INVALID, "trusted_roots: the pem is not a certificate");
    pub = X509_get_pubkey(out->root);
    CCG_ENSURE_MSG(pub != NULL && X509_check_issued(out->root, out->root) == X509_V_OK &&
                       X509_verify(out->root, pub) == 1,
                   CCG_R_KBS_POLICY_INVALID, "trusted_roots: the certificate is not a self-signed root");
    result = CCG_SUCCESS;
cleanup:
    EVP_PKEY_free(pub);
    BIO_free(bio);
    if (ccg_failed(result)) {
        X509_free(out->root);
        out->root = NULL;
    }
    return result;
}

/* "gpu" (a GPU policy section: GPUs required under it) and "gpu_required" (true: required under the
 * default GPU policy). A section beside "gpu_required": false contradicts itself and is refused. */
static ccg_result parse_gpu(const json_t *root, ccg_kbs_policy *p)
{
    ccg_result result = CCG_FAILURE;
    const json_t *required = json_object_get(root, "gpu_required"), *section = json_object_get(root, "gpu");
    CCG_ENSURE_MSG(required == NULL || json_is_boolean(required), CCG_R_KBS_POLICY_INVALID,
                   "gpu_required must be a boolean");
    CCG_ENSURE_MSG(section == NULL || json_is_object(section), CCG_R_KBS_POLICY_INVALID,
                   "gpu must be an object of GPU policy members (docs/gpu-policy.md)");
    CCG_ENSURE_MSG(section == NULL || !json_is_false(required), CCG_R_KBS_POLICY_INVALID,
                   "a gpu section requires GPUs: it contradicts \"gpu_required\": false");
    if (section != NULL) {
        CCG_TRY(ccg_gpu_policy_from_section(section, p->policy_id, p->version, &p->gpu));
    } else if (json_is_true(required)) {
        CCG_TRY(ccg_gpu_policy_default(&p->gpu));
    }
    p->gpu_required = p->gpu != NULL;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "tdx": the TDX appraisal policy's members (the one TDX policy parser), for a policy allowing tdx. Absent,
 * the default TDX policy, which pins nothing: the caller refuses it as unpinned. The broker binds
 * REPORT_DATA to the challenge, so the section may not fix it. */
static ccg_result parse_tdx(const json_t *section, ccg_kbs_policy *p)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(section == NULL || p->allow_tdx, CCG_R_KBS_POLICY_INVALID,
                   "a tdx section for a TEE that allowed_tees does not name");
    if (!p->allow_tdx) {
        return CCG_SUCCESS;
    }
    if (section == NULL) {
        CCG_TRY(ccg_tdx_policy_default(&p->tdx));
    } else {
        CCG_ENSURE_MSG(json_is_object(section), CCG_R_KBS_POLICY_INVALID,
                       "tdx must be an object of TDX policy members (docs/tdx-policy.md)");
        CCG_TRY(ccg_tdx_policy_from_section(section, p->policy_id, p->version, &p->tdx));
    }
    CCG_ENSURE_MSG(!p->tdx->report_data_set, CCG_R_KBS_POLICY_INVALID,
                   "tdx must not fix report_data: the broker binds it to the challenge");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "rotation": {"previous_grace_seconds": N} (0..CCG_KBS_GRACE_MAX) or {"previous_until_cut_over": true}:
 * exactly one of them. */
static ccg_result parse_rotation(const json_t *section, ccg_kbs_policy *p)
{
    ccg_result result = CCG_FAILURE;
    const json_t *grace, *until;
    if (section == NULL) {
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(json_is_object(section) && json_object_size(section) == 1, CCG_R_KBS_POLICY_INVALID,
                   "rotation must be {\"previous_grace_seconds\": N} or {\"previous_until_cut_over\": true}");
    grace = json_object_get(section, "previous_grace_seconds");
    until = json_object_get(section, "previous_until_cut_over");
    if (grace != NULL) {
        CCG_ENSURE_MSG(json_is_integer(grace) && json_integer_value(grace) >= 0 &&
                           json_integer_value(grace) <= CCG_KBS_GRACE_MAX,
                       CCG_R_KBS_POLICY_INVALID, "rotation.previous_grace_seconds must be an integer 0..%d",
                       CCG_KBS_GRACE_MAX);
        p->previous_grace = json_integer_value(grace);
    } else {
        CCG_ENSURE_MSG(json_is_true(until), CCG_R_KBS_POLICY_INVALID,
                       "rotation: the member is previous_grace_seconds or previous_until_cut_over (true)");
        p->previous_grace = CCG_KBS_GRACE_UNTIL_CUT_OVER;
    }
    p->rotation_grace = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_kbs_policy_parse(const char *json_text, size_t len, ccg_kbs_policy **out)
{
    static const char *const known[] = {"policy_id", "version", "allowed_tees", "snp_policy", "trusted_roots",
                                        "gpu_required", "gpu", "tdx", "rotation",
                                        "init_data"};
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *root = NULL, *v;
    const char *name;
    ccg_kbs_policy *p = NULL;
    char *snp_text = NULL;
    size_t i;
    json_t *entry;
    ccg_error_clear();

    *out = NULL;
    CCG_ENSURE(len <= KBS_POLICY_MAX, CCG_R_INPUT_TOO_LARGE);
    root = json_loadb(json_text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL && json_is_object(root), CCG_R_KBS_POLICY_INVALID,
                   "the release policy is not a JSON object (line %d: %s)", jerr.line, jerr.text);
    json_object_foreach(root, name, v) {
        int ok = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            ok |= strcmp(name, known[k]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_KBS_POLICY_INVALID, "unknown release policy member \"%.64s\"", name);
    }
    p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    v = json_object_get(root, "policy_id");
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < sizeof(p->policy_id),
                   CCG_R_POLICY_VERSION_INVALID, "the release policy needs a policy_id");
    for (const char *c = json_string_value(v); *c != 0; c++) {
        CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_POLICY_VERSION_INVALID,
                       "policy_id must be printable ASCII without spaces");
    }
    memcpy(p->policy_id, json_string_value(v), json_string_length(v) + 1);
    v = json_object_get(root, "version");
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 1, CCG_R_POLICY_VERSION_INVALID,
                   "the release policy needs a positive integer version");
    p->version = json_integer_value(v);

    v = json_object_get(root, "allowed_tees");
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) > 0, CCG_R_KBS_POLICY_INVALID,
                   "allowed_tees must be a non-empty array");
    json_array_foreach(v, i, entry) {
        CCG_ENSURE_MSG(json_is_string(entry), CCG_R_KBS_POLICY_INVALID, "allowed_tees holds strings");
        if (strcmp(json_string_value(entry), "snp") == 0) {
            p->allow_snp = 1;
        } else if (strcmp(json_string_value(entry), "tdx") == 0) {
            p->allow_tdx = 1;
        } else {
            CCG_BAIL(CCG_R_KBS_POLICY_INVALID, "allowed_tees: \"%.32s\" is not supported (snp and tdx are)",
                     json_string_value(entry));
        }
    }
    CCG_ENSURE_MSG(json_object_get(root, "snp_policy") == NULL || p->allow_snp, CCG_R_KBS_POLICY_INVALID,
                   "an snp_policy for a TEE that allowed_tees does not name");
    CCG_TRY(parse_tdx(json_object_get(root, "tdx"), p));

    CCG_TRY(parse_gpu(root, p));
    CCG_TRY(parse_rotation(json_object_get(root, "rotation"), p));
    CCG_TRY(kbs_initdata_policy_parse(json_object_get(root, "init_data"), p));

    v = json_object_get(root, "snp_policy");
    if (v == NULL) {
        CCG_TRY(ccg_snp_policy_default(&p->snp));
    } else {
        CCG_ENSURE_MSG(json_is_object(v), CCG_R_KBS_POLICY_INVALID, "snp_policy must be an object");
        snp_text = json_dumps(v, JSON_COMPACT);
        CCG_ENSURE_ALLOC(snp_text);
        CCG_TRY(ccg_snp_policy_parse(snp_text, strlen(snp_text), &p->snp));
    }
    CCG_ENSURE_MSG(!p->snp->has_report_data, CCG_R_KBS_POLICY_INVALID,
                   "snp_policy must not fix report_data: the broker binds it to the challenge");

    v = json_object_get(root, "trusted_roots");
    if (v != NULL) {
        CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) <= CCG_KBS_MAX_ROOTS, CCG_R_KBS_POLICY_INVALID,
                       "trusted_roots must be an array of at most %u entries", CCG_KBS_MAX_ROOTS);
        json_array_foreach(v, i, entry) {
            CCG_TRY(parse_root(entry, &p->roots[i]));
            p->root_count = i + 1;
        }
    }
    /* Last, so a malformed document names its own problem first. Without a pin, any genuine guest
     * (any image, any vCPU count) would pass: refused whether set now or stored long ago. */
    CCG_ENSURE_MSG(!p->allow_snp || p->snp->measurements != NULL || p->snp->has_refval_set, CCG_R_KBS_POLICY_UNPINNED,
                   "release policy \"%.64s\" v%lld pins no measurement: give snp_policy.allowed_measurements or "
                   "snp_policy.reference_values",
                   p->policy_id, (long long)p->version);
    CCG_ENSURE_MSG(!p->allow_tdx || p->tdx->mrtd.set || p->tdx->has_refval_set, CCG_R_KBS_POLICY_UNPINNED,
                   "release policy \"%.64s\" v%lld allows tdx but pins no measurement: give tdx.allowed_mrtd or "
                   "tdx.reference_values",
                   p->policy_id, (long long)p->version);
    *out = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(snp_text);
    json_decref(root);
    ccg_kbs_policy_free(p);
    return result;
}
