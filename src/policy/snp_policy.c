/* Parsing of SEV-SNP policy documents (docs/snp-policy.md). Strict: every key must be known,
 * every value of its type and range. Absent keys take the secure defaults of ccg_snp_policy_default. */
#include "ccgate/snp_policy.h"
#include "ccgate/snp_tcb_baseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/policy_json.h"
#include "ccgate/util.h"

#define POLICY_MAX_BYTES (1u << 20)

static void set_defaults(ccg_snp_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->debug_allowed = 0;
    p->migration_agent_allowed = 0;
    p->smt_allowed = 1;
    p->vmpl = -1;
    p->allow_vcek = 1;
    p->allow_vlek = 1;
    p->platform = (ccg_snp_platform_req){-1, -1, -1, -1, -1, -1, -1, -1};
    /* UpToDate only, no advisory, and a baseline to say so: a policy silent on "tcb" fails closed. */
    p->tcb.require_baseline = 1;
}

ccg_result ccg_snp_policy_default(ccg_snp_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_policy *p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    set_defaults(p);
    snprintf(p->policy_id, sizeof(p->policy_id), "ccgate-default-snp");
    p->version = 1;
    *out = p;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_snp_policy_free(ccg_snp_policy *p)
{
    if (p == NULL) {
        return;
    }
    free(p->measurements);
    free(p->id_key_digests);
    free(p->author_key_digests);
    free(p->tcb.allowed_advisories);
    free(p);
}

static ccg_result get_uint(json_t *v, const char *key, json_int_t max, json_int_t *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max,
                   CCG_R_POLICY_INVALID_VALUE, "'%s' must be an integer from 0 to %lld", key, (long long)max);
    *out = json_integer_value(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_u8(json_t *v, const char *key, uint8_t *out)
{
    json_int_t n = 0;
    ccg_result r = get_uint(v, key, 255, &n);
    *out = (uint8_t)n;
    return r;
}

static ccg_result get_digest_list(json_t *v, const char *key, ccg_digest48 **out, size_t *count)
{
    ccg_result result = CCG_FAILURE;
    size_t n = json_array_size(v);
    ccg_digest48 *list = NULL;
    CCG_ENSURE_MSG(json_is_array(v) && n <= CCG_SNP_POLICY_MAX_DIGESTS, CCG_R_POLICY_INVALID_VALUE,
                   "'%s' must be an array of at most %d hex digests", key, CCG_SNP_POLICY_MAX_DIGESTS);
    list = calloc(n ? n : 1, sizeof(*list));
    CCG_ENSURE_ALLOC(list);
    for (size_t i = 0; i < n; i++) {
        CCG_TRY(ccg_policy_get_hex(json_array_get(v, i), key, list[i].bytes, sizeof(list[i].bytes)));
    }
    free(*out);
    *out = list;
    *count = n;
    list = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(list);
    return result;
}

static ccg_result parse_signers(json_t *v, ccg_snp_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) > 0, CCG_R_POLICY_INVALID_VALUE,
                   "'allowed_signers' must be a non-empty array of \"vcek\" and \"vlek\"");
    p->allow_vcek = p->allow_vlek = 0;
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        CCG_ENSURE_MSG(s != NULL && (strcmp(s, "vcek") == 0 || strcmp(s, "vlek") == 0),
                       CCG_R_POLICY_INVALID_VALUE, "'allowed_signers' entries must be \"vcek\" or \"vlek\"");
        *(strcmp(s, "vcek") == 0 ? &p->allow_vcek : &p->allow_vlek) = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A member of a nested policy object: a byte (u8) or a boolean requirement (flag). */
typedef struct {
    const char *name;
    uint8_t *u8;
    int *flag;
} member_ref;

static ccg_result parse_members(json_t *v, const char *parent, const member_ref *members, size_t n)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *item;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_POLICY_INVALID_VALUE, "'%s' must be an object", parent);
    json_object_foreach(v, key, item) {
        const member_ref *m = NULL;
        for (size_t i = 0; i < n && m == NULL; i++) {
            m = strcmp(key, members[i].name) == 0 ? &members[i] : NULL;
        }
        CCG_ENSURE_MSG(m != NULL, CCG_R_POLICY_UNKNOWN_KEY, "unknown key '%s.%.64s'", parent, key);
        if (m->u8 != NULL) {
            CCG_TRY(get_u8(item, key, m->u8));
        } else {
            CCG_TRY(ccg_policy_get_bool(item, key, m->flag));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_tcb(json_t *v, ccg_snp_tcb *t)
{
    const member_ref members[] = {{"bootloader", &t->bootloader, NULL}, {"tee", &t->tee, NULL},
                                  {"snp", &t->snp, NULL},               {"microcode", &t->microcode, NULL},
                                  {"fmc", &t->fmc, NULL}};
    return parse_members(v, "minimum_tcb", members, sizeof(members) / sizeof(members[0]));
}

static ccg_result parse_abi(json_t *v, ccg_snp_policy *p)
{
    const member_ref members[] = {{"major", &p->minimum_major, NULL}, {"minor", &p->minimum_minor, NULL}};
    return parse_members(v, "minimum_abi", members, sizeof(members) / sizeof(members[0]));
}

static ccg_result parse_platform(json_t *v, ccg_snp_platform_req *req)
{
    const member_ref members[] = {
        {"smt_enabled", NULL, &req->smt_enabled},
        {"tsme_enabled", NULL, &req->tsme_enabled},
        {"ecc_enabled", NULL, &req->ecc_enabled},
        {"rapl_disabled", NULL, &req->rapl_disabled},
        {"ciphertext_hiding_enabled", NULL, &req->ciphertext_hiding_enabled},
        {"alias_check_complete", NULL, &req->alias_check_complete},
        {"iommu_write_safe", NULL, &req->iommu_write_safe},
        {"tio_enabled", NULL, &req->tio_enabled},
    };
    return parse_members(v, "platform_info", members, sizeof(members) / sizeof(members[0]));
}

static ccg_result parse_refvals(json_t *v, ccg_snp_policy *p)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *item;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_POLICY_INVALID_VALUE,
                   "'reference_values' must be {\"set_id\": ..., \"minimum_version\": N}");
    p->refval_min_version = 1;
    json_object_foreach(v, key, item) {
        if (strcmp(key, "set_id") == 0) {
            CCG_ENSURE_MSG(json_is_string(item) && json_string_length(item) > 0 &&
                               json_string_length(item) < sizeof(p->refval_set_id),
                           CCG_R_POLICY_INVALID_VALUE, "'reference_values.set_id' must be a non-empty string");
            snprintf(p->refval_set_id, sizeof(p->refval_set_id), "%s", json_string_value(item));
        } else if (strcmp(key, "minimum_version") == 0) {
            json_int_t n = 0;
            CCG_TRY(get_uint(item, "reference_values.minimum_version", INT64_MAX, &n));
            p->refval_min_version = n;
        } else {
            CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown key 'reference_values.%.64s'", key);
        }
    }
    CCG_ENSURE_MSG(p->refval_set_id[0] != '\0', CCG_R_POLICY_INVALID_VALUE, "'reference_values' needs 'set_id'");
    p->has_refval_set = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_statuses(json_t *v, ccg_snp_tcb_req *q)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    int up_to_date = 0;
    CCG_ENSURE_MSG(json_is_array(v), CCG_R_POLICY_INVALID_VALUE,
                   "'tcb.accepted_statuses' must be an array of \"UpToDate\", \"OutOfDate\", \"RolledBack\"");
    q->accept_out_of_date = q->accept_rolled_back = 0;
    json_array_foreach(v, i, item) {
        ccg_snp_tcb_status s = CCG_SNP_TCB_UNKNOWN;
        if (json_is_string(item)) {
            s = strcmp(json_string_value(item), "UpToDate") == 0     ? CCG_SNP_TCB_UP_TO_DATE
                : strcmp(json_string_value(item), "OutOfDate") == 0  ? CCG_SNP_TCB_OUT_OF_DATE
                : strcmp(json_string_value(item), "RolledBack") == 0 ? CCG_SNP_TCB_ROLLED_BACK
                                                                      : CCG_SNP_TCB_UNKNOWN;
        }
        CCG_ENSURE_MSG(s != CCG_SNP_TCB_UNKNOWN, CCG_R_POLICY_INVALID_VALUE,
                       "'tcb.accepted_statuses' entries are \"UpToDate\", \"OutOfDate\" or \"RolledBack\"");
        up_to_date |= s == CCG_SNP_TCB_UP_TO_DATE;
        q->accept_out_of_date |= s == CCG_SNP_TCB_OUT_OF_DATE;
        q->accept_rolled_back |= s == CCG_SNP_TCB_ROLLED_BACK;
    }
    /* Accepting less than UpToDate would refuse the very platforms the baseline approves. */
    CCG_ENSURE_MSG(up_to_date, CCG_R_POLICY_INVALID_VALUE, "'tcb.accepted_statuses' must include \"UpToDate\"");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_advisory_ids(json_t *v, ccg_snp_tcb_req *q)
{
    ccg_result result = CCG_FAILURE;
    size_t n = json_array_size(v);
    char(*list)[CCG_SNP_ADVISORY_ID_MAX] = NULL;
    CCG_ENSURE_MSG(json_is_array(v) && n <= CCG_SNP_POLICY_MAX_ADVISORIES, CCG_R_POLICY_INVALID_VALUE,
                   "'tcb.allowed_advisories' must be an array of at most %d advisory IDs",
                   CCG_SNP_POLICY_MAX_ADVISORIES);
    list = calloc(n ? n : 1, sizeof(*list));
    CCG_ENSURE_ALLOC(list);
    for (size_t i = 0; i < n; i++) {
        json_t *item = json_array_get(v, i);
        CCG_ENSURE_MSG(json_is_string(item) && json_string_length(item) > 0 &&
                           json_string_length(item) < CCG_SNP_ADVISORY_ID_MAX,
                       CCG_R_POLICY_INVALID_VALUE, "'tcb.allowed_advisories' holds IDs of 1 to %d characters",
                       CCG_SNP_ADVISORY_ID_MAX - 1);
        for (const char *c = json_string_value(item); *c; c++) {
            CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_POLICY_INVALID_VALUE,
                           "'tcb.allowed_advisories' IDs are printable ASCII without spaces");
        }
        snprintf(list[i], sizeof(list[i]), "%s", json_string_value(item));
    }
    free(q->allowed_advisories);
    q->allowed_advisories = list;
    q->allowed_advisory_count = n;
    list = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(list);
    return result;
}

static ccg_result parse_tcb_req(json_t *v, ccg_snp_tcb_req *q)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *item;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_POLICY_INVALID_VALUE,
                   "'tcb' must be {\"require_baseline\", \"accepted_statuses\", \"allowed_advisories\"}");
    json_object_foreach(v, key, item) {
        if (strcmp(key, "require_baseline") == 0) {
            CCG_TRY(ccg_policy_get_bool(item, "tcb.require_baseline", &q->require_baseline));
        } else if (strcmp(key, "accepted_statuses") == 0) {
            CCG_TRY(parse_statuses(item, q));
        } else if (strcmp(key, "allowed_advisories") == 0) {
            CCG_TRY(parse_advisory_ids(item, q));
        } else {
            CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown key 'tcb.%.64s'", key);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_key(const char *key, json_t *v, ccg_snp_policy *p)
{
    ccg_result result = CCG_FAILURE;
    json_int_t n = 0;
    if (strcmp(key, "policy_id") == 0 || strcmp(key, "version") == 0) {
        /* handled by ccg_policy_get_identity */
    } else if (strcmp(key, "tee") == 0) {
        CCG_ENSURE_MSG(json_is_string(v) && strcmp(json_string_value(v), "snp") == 0, CCG_R_POLICY_INVALID_VALUE,
                       "'tee' must be \"snp\" in an SNP policy");
    } else if (strcmp(key, "debug_allowed") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->debug_allowed));
    } else if (strcmp(key, "migration_agent_allowed") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->migration_agent_allowed));
    } else if (strcmp(key, "smt_allowed") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->smt_allowed));
    } else if (strcmp(key, "allow_masked_chip_id") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->allow_masked_chip_id));
    } else if (strcmp(key, "require_crl") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->require_crl));
    } else if (strcmp(key, "vmpl") == 0) {
        CCG_TRY(get_uint(v, key, 3, &n));
        p->vmpl = (int)n;
    } else if (strcmp(key, "minimum_build") == 0) {
        CCG_TRY(get_u8(v, key, &p->minimum_build));
    } else if (strcmp(key, "minimum_guest_svn") == 0) {
        CCG_TRY(get_uint(v, key, UINT32_MAX, &n));
        p->minimum_guest_svn = (uint32_t)n;
    } else if (strcmp(key, "allowed_signers") == 0) {
        CCG_TRY(parse_signers(v, p));
    } else if (strcmp(key, "minimum_tcb") == 0) {
        CCG_TRY(parse_tcb(v, &p->minimum_tcb));
    } else if (strcmp(key, "minimum_abi") == 0) {
        CCG_TRY(parse_abi(v, p));
    } else if (strcmp(key, "platform_info") == 0) {
        CCG_TRY(parse_platform(v, &p->platform));
    } else if (strcmp(key, "allowed_measurements") == 0) {
        CCG_TRY(get_digest_list(v, key, &p->measurements, &p->measurement_count));
    } else if (strcmp(key, "allowed_id_key_digests") == 0) {
        CCG_TRY(get_digest_list(v, key, &p->id_key_digests, &p->id_key_digest_count));
    } else if (strcmp(key, "allowed_author_key_digests") == 0) {
        CCG_TRY(get_digest_list(v, key, &p->author_key_digests, &p->author_key_digest_count));
    } else if (strcmp(key, "tcb") == 0) {
        CCG_TRY(parse_tcb_req(v, &p->tcb));
    } else if (strcmp(key, "reference_values") == 0) {
        CCG_TRY(parse_refvals(v, p));
    } else if (strcmp(key, "report_data") == 0) {
        CCG_TRY(ccg_policy_get_hex(v, key, p->report_data, sizeof(p->report_data)));
        p->has_report_data = 1;
    } else if (strcmp(key, "host_data") == 0) {
        CCG_TRY(ccg_policy_get_hex(v, key, p->host_data, sizeof(p->host_data)));
        p->has_host_data = 1;
    } else {
        CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown policy key '%.64s'", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_policy_parse(const char *text, size_t len, ccg_snp_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_policy *p = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    const char *key;
    json_t *value;

    CCG_ENSURE_MSG(len <= POLICY_MAX_BYTES, CCG_R_POLICY_MALFORMED, "policy is larger than %u bytes", POLICY_MAX_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_POLICY_MALFORMED, "line %d column %d: %.120s", jerr.line, jerr.column, jerr.text);
    CCG_ENSURE_MSG(json_is_object(root), CCG_R_POLICY_MALFORMED, "the policy must be a JSON object");
    p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    set_defaults(p);
    CCG_TRY(ccg_policy_get_identity(root, p->policy_id, sizeof(p->policy_id), &p->version));
    json_object_foreach(root, key, value) {
        CCG_TRY(parse_key(key, value, p));
    }
    *out = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_policy_free(p);
    json_decref(root);
    return result;
}
