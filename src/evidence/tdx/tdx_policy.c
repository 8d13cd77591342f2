/* The TDX appraisal policy (docs/tdx-policy.md): strict parsing, secure defaults, and the checks of the
 * TD's own fields. The TCB status and advisory rules are applied in the verifier (tdx_verify.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/refvalue.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/policy_json.h"
#include "ccgate/util.h"

#define POLICY_MAX_BYTES (1u << 20)

static const struct {
    const char *name;
    uint64_t bit;
} ATTRS[] = {
    {"DEBUG", CCG_TDX_ATTR_DEBUG},         {"HGS_PLUS_PROF", CCG_TDX_ATTR_HGS_PLUS_PROF},
    {"PERF_PROF", CCG_TDX_ATTR_PERF_PROF}, {"PMT_PROF", CCG_TDX_ATTR_PMT_PROF},
    {"ICSSD", CCG_TDX_ATTR_ICSSD},         {"LASS", CCG_TDX_ATTR_LASS},
    {"SEPT_VE_DISABLE", CCG_TDX_ATTR_SEPT_VE_DISABLE}, {"MIGRATABLE", CCG_TDX_ATTR_MIGRATABLE},
    {"PKS", CCG_TDX_ATTR_PKS},             {"KL", CCG_TDX_ATTR_KL},
    {"TPA", CCG_TDX_ATTR_TPA},             {"PERFMON", CCG_TDX_ATTR_PERFMON},
};

static void set_defaults(ccg_tdx_policy *p)
{
    snprintf(p->policy_id, sizeof(p->policy_id), "%s", "ccgate-default-tdx");
    p->version = 1;
    p->accepted_statuses = 1u << CCG_TDX_STATUS_UP_TO_DATE;
    p->require_sept_ve_disable = 1;
}

ccg_result ccg_tdx_policy_default(ccg_tdx_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_policy *p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    set_defaults(p);
    *out = p;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void allowlist_free(ccg_tdx_allowlist *l)
{
    free(l->values);
    memset(l, 0, sizeof(*l));
}

void ccg_tdx_policy_free(ccg_tdx_policy *p)
{
    if (p == NULL) {
        return;
    }
    free(p->advisories);
    allowlist_free(&p->mrtd);
    for (int i = 0; i < 4; i++) {
        allowlist_free(&p->rtmr[i]);
    }
    allowlist_free(&p->mrconfigid);
    allowlist_free(&p->mrowner);
    allowlist_free(&p->mrownerconfig);
    allowlist_free(&p->mrservicetd);
    free(p->xfam);
    free(p->required_events);
    free(p);
}

static ccg_result get_array(json_t *v, const char *key, size_t max)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_array(v) && json_array_size(v) <= max, CCG_R_POLICY_INVALID_VALUE,
                   "'%s' must be an array of at most %zu entries", key, max);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_allowlist(json_t *v, const char *key, ccg_tdx_allowlist *l)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_TRY(get_array(v, key, CCG_TDX_POLICY_MAX_VALUES));
    l->values = calloc(json_array_size(v) + 1, sizeof(*l->values));
    CCG_ENSURE_ALLOC(l->values);
    json_array_foreach(v, i, item) {
        CCG_TRY(ccg_policy_get_hex(item, key, l->values[i], 48));
    }
    l->count = json_array_size(v);
    l->set = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_statuses(json_t *v, const char *key, ccg_tdx_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_TRY(get_array(v, key, CCG_TDX_STATUS_COUNT));
    p->accepted_statuses = 0;
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        ccg_tdx_tcb_status st = s != NULL ? ccg_tdx_status_from_name(s) : CCG_TDX_STATUS_NONE;
        CCG_ENSURE_MSG(st != CCG_TDX_STATUS_NONE, CCG_R_POLICY_INVALID_VALUE, "'%s': unknown TCB status", key);
        CCG_ENSURE_MSG(st != CCG_TDX_STATUS_REVOKED, CCG_R_POLICY_INVALID_VALUE, "'%s': Revoked is never accepted", key);
        p->accepted_statuses |= 1u << st;
    }
    CCG_ENSURE_MSG(p->accepted_statuses & (1u << CCG_TDX_STATUS_UP_TO_DATE), CCG_R_POLICY_INVALID_VALUE,
                   "'%s' must include UpToDate", key);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_advisories(json_t *v, const char *key, ccg_tdx_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_TRY(get_array(v, key, CCG_TDX_POLICY_MAX_ADVISORIES));
    p->advisories = calloc(json_array_size(v) + 1, sizeof(*p->advisories));
    CCG_ENSURE_ALLOC(p->advisories);
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        CCG_ENSURE_MSG(s != NULL && *s && strlen(s) < sizeof(p->advisories[0]), CCG_R_POLICY_INVALID_VALUE,
                       "'%s' entries must be advisory IDs of 1..63 characters", key);
        for (const char *c = s; *c; c++) {
            CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_POLICY_INVALID_VALUE, "'%s' entries must be printable", key);
        }
        snprintf(p->advisories[i], sizeof(p->advisories[i]), "%s", s);
    }
    p->n_advisories = json_array_size(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_attributes(json_t *v, const char *key, ccg_tdx_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_TRY(get_array(v, key, sizeof(ATTRS) / sizeof(ATTRS[0])));
    p->allowed_attributes = 0;
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        uint64_t bit = 0;
        for (size_t j = 0; s != NULL && j < sizeof(ATTRS) / sizeof(ATTRS[0]); j++) {
            bit = strcmp(s, ATTRS[j].name) == 0 ? ATTRS[j].bit : bit;
        }
        CCG_ENSURE_MSG(bit != 0 && bit != CCG_TDX_ATTR_DEBUG, CCG_R_POLICY_INVALID_VALUE,
                       "'%s': unknown attribute (DEBUG is governed by debug_allowed)", key);
        p->allowed_attributes |= bit;
    }
    p->attributes_set = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* XFAM values as 16 hex digits of the field's bytes in quote order (as the claims show it). */
static ccg_result get_xfam(json_t *v, const char *key, ccg_tdx_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    uint8_t b[8];
    CCG_TRY(get_array(v, key, CCG_TDX_POLICY_MAX_VALUES));
    p->xfam = calloc(json_array_size(v) + 1, sizeof(*p->xfam));
    CCG_ENSURE_ALLOC(p->xfam);
    json_array_foreach(v, i, item) {
        CCG_TRY(ccg_policy_get_hex(item, key, b, 8));
        for (int k = 0; k < 8; k++) {
            p->xfam[i] |= (uint64_t)b[k] << (8 * k);
        }
    }
    p->n_xfam = json_array_size(v);
    p->xfam_set = 1;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* {"name": "kernel", "digest": "<96 hex>", "rtmr": 0..3 (optional: any)} */
static ccg_result get_required_event(json_t *v, ccg_tdx_required_event *e)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *item;
    int have_name = 0, have_digest = 0;
    e->rtmr = -1;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_POLICY_INVALID_VALUE,
                   "'required_events' entries must be {\"name\", \"digest\", \"rtmr\"}");
    json_object_foreach(v, key, item) {
        if (strcmp(key, "name") == 0) {
            const char *s = json_string_value(item);
            CCG_ENSURE_MSG(s != NULL && *s && strlen(s) < sizeof(e->name), CCG_R_POLICY_INVALID_VALUE,
                           "'required_events[].name' must be 1..63 characters");
            for (const char *c = s; *c; c++) {
                CCG_ENSURE_MSG(*c >= 0x20 && *c < 0x7f, CCG_R_POLICY_INVALID_VALUE,
                               "'required_events[].name' must be printable ASCII");
            }
            snprintf(e->name, sizeof(e->name), "%s", s);
            have_name = 1;
        } else if (strcmp(key, "digest") == 0) {
            CCG_TRY(ccg_policy_get_hex(item, "required_events[].digest", e->digest, 48));
            have_digest = 1;
        } else if (strcmp(key, "rtmr") == 0) {
            CCG_ENSURE_MSG(json_is_integer(item) && json_integer_value(item) >= 0 && json_integer_value(item) <= 3,
                           CCG_R_POLICY_INVALID_VALUE, "'required_events[].rtmr' must be 0..3");
            e->rtmr = (int)json_integer_value(item);
        } else {
            CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown policy key 'required_events[].%.64s'", key);
        }
    }
    CCG_ENSURE_MSG(have_name && have_digest, CCG_R_POLICY_INVALID_VALUE,
                   "'required_events' entries need a name and a digest");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_required_events(json_t *v, const char *key, ccg_tdx_policy *p)
{
    ccg_result result = CCG_FAILURE;
    size_t i;
    json_t *item;
    CCG_TRY(get_array(v, key, CCG_TDX_POLICY_MAX_EVENTS));
    p->required_events = calloc(json_array_size(v) + 1, sizeof(*p->required_events));
    CCG_ENSURE_ALLOC(p->required_events);
    json_array_foreach(v, i, item) {
        CCG_TRY(get_required_event(item, &p->required_events[i]));
    }
    p->n_required_events = json_array_size(v);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* {"set_id": "...", "minimum_version": N}, as the SNP policy's. */
static ccg_result get_refvals(json_t *v, ccg_tdx_policy *p)
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
            CCG_ENSURE_MSG(json_is_integer(item) && json_integer_value(item) >= 1, CCG_R_POLICY_INVALID_VALUE,
                           "'reference_values.minimum_version' must be an integer >= 1");
            p->refval_min_version = json_integer_value(item);
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

static ccg_result parse_key(const char *key, json_t *v, ccg_tdx_policy *p)
{
    ccg_result result = CCG_FAILURE;
    static const char *const RTMR[4] = {"allowed_rtmr0", "allowed_rtmr1", "allowed_rtmr2", "allowed_rtmr3"};
    int rtmr = -1;
    for (int i = 0; i < 4; i++) {
        rtmr = strcmp(key, RTMR[i]) == 0 ? i : rtmr;
    }
    if (strcmp(key, "policy_id") == 0 || strcmp(key, "version") == 0) {
        /* handled by ccg_policy_get_identity */
    } else if (strcmp(key, "tee") == 0) {
        CCG_ENSURE_MSG(json_is_string(v) && strcmp(json_string_value(v), "tdx") == 0, CCG_R_POLICY_INVALID_VALUE,
                       "'tee' must be \"tdx\"");
    } else if (strcmp(key, "accepted_tcb_statuses") == 0) {
        CCG_TRY(get_statuses(v, key, p));
    } else if (strcmp(key, "allowed_advisories") == 0) {
        CCG_TRY(get_advisories(v, key, p));
    } else if (strcmp(key, "debug_allowed") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->debug_allowed));
    } else if (strcmp(key, "require_sept_ve_disable") == 0) {
        CCG_TRY(ccg_policy_get_bool(v, key, &p->require_sept_ve_disable));
    } else if (strcmp(key, "allowed_attributes") == 0) {
        CCG_TRY(get_attributes(v, key, p));
    } else if (strcmp(key, "allowed_mrtd") == 0) {
        CCG_TRY(get_allowlist(v, key, &p->mrtd));
    } else if (rtmr >= 0) {
        CCG_TRY(get_allowlist(v, key, &p->rtmr[rtmr]));
    } else if (strcmp(key, "allowed_mrconfigid") == 0) {
        CCG_TRY(get_allowlist(v, key, &p->mrconfigid));
    } else if (strcmp(key, "allowed_mrowner") == 0) {
        CCG_TRY(get_allowlist(v, key, &p->mrowner));
    } else if (strcmp(key, "allowed_mrownerconfig") == 0) {
        CCG_TRY(get_allowlist(v, key, &p->mrownerconfig));
    } else if (strcmp(key, "allowed_mrservicetd") == 0) {
        CCG_TRY(get_allowlist(v, key, &p->mrservicetd));
    } else if (strcmp(key, "allowed_xfam") == 0) {
        CCG_TRY(get_xfam(v, key, p));
    } else if (strcmp(key, "minimum_tee_tcb_svn") == 0) {
        CCG_TRY(ccg_policy_get_hex(v, key, p->min_tee_tcb_svn, 16));
        p->min_svn_set = 1;
    } else if (strcmp(key, "reference_values") == 0) {
        CCG_TRY(get_refvals(v, p));
    } else if (strcmp(key, "required_events") == 0) {
        CCG_TRY(get_required_events(v, key, p));
    } else if (strcmp(key, "report_data") == 0) {
        CCG_TRY(ccg_policy_get_hex(v, key, p->report_data, 64));
        p->report_data_set = 1;
    } else {
        CCG_BAIL(CCG_R_POLICY_UNKNOWN_KEY, "unknown policy key '%.64s'", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The one parser of the policy's members: a document's own policy_id and version (policy_id NULL), or
 * a release policy's section, whose identity is the release policy's and which names none itself. */
static ccg_result parse_members(json_t *root, const char *policy_id, int64_t version, ccg_tdx_policy **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_policy *p = NULL;
    const char *key;
    json_t *value;
    p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    set_defaults(p);
    if (policy_id == NULL) {
        CCG_TRY(ccg_policy_get_identity(root, p->policy_id, sizeof(p->policy_id), &p->version));
    } else {
        CCG_ENSURE_MSG(json_object_get(root, "policy_id") == NULL && json_object_get(root, "version") == NULL,
                       CCG_R_POLICY_UNKNOWN_KEY, "a tdx section takes policy_id and version from its release policy");
        snprintf(p->policy_id, sizeof(p->policy_id), "%s", policy_id);
        p->version = version;
    }
    json_object_foreach(root, key, value) {
        CCG_TRY(parse_key(key, value, p));
    }
    *out = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_policy_free(p);
    return result;
}

ccg_result ccg_tdx_policy_parse(const char *text, size_t len, ccg_tdx_policy **out)
{
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    json_error_t jerr;
    *out = NULL;
    CCG_ENSURE_MSG(len <= POLICY_MAX_BYTES, CCG_R_POLICY_MALFORMED, "policy is larger than %u bytes", POLICY_MAX_BYTES);
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(root != NULL, CCG_R_POLICY_MALFORMED, "line %d column %d: %.120s", jerr.line, jerr.column,
                   jerr.text);
    CCG_ENSURE_MSG(json_is_object(root), CCG_R_POLICY_MALFORMED, "the policy must be a JSON object");
    CCG_TRY(parse_members(root, NULL, 0, out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    return result;
}

ccg_result ccg_tdx_policy_from_section(const json_t *section, const char *policy_id, int64_t version,
                                       ccg_tdx_policy **out)
{
    ccg_result result = CCG_FAILURE;
    *out = NULL;
    CCG_ENSURE_MSG(json_is_object(section), CCG_R_POLICY_MALFORMED, "the tdx section must be a JSON object");
    CCG_TRY(parse_members((json_t *)section, policy_id, version, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void check_list(const ccg_tdx_allowlist *l, const uint8_t v[48], ccg_reason reason, ccg_decision *d)
{
    if (!l->set) {
        return;
    }
    for (size_t i = 0; i < l->count; i++) {
        if (memcmp(l->values[i], v, 48) == 0) {
            return;
        }
    }
    char hex[97];
    ccg_hex_encode(v, 48, hex);
    ccg_decision_deny(d, reason, json_pack("{s:s}", "got", hex));
}

static void check_attributes(const ccg_tdx_policy *p, uint64_t attrs, ccg_decision *d)
{
    if ((attrs & CCG_TDX_ATTR_DEBUG) && !p->debug_allowed) {
        ccg_decision_deny(d, CCG_R_TDX_DEBUG, NULL);
    }
    if (p->require_sept_ve_disable && !(attrs & CCG_TDX_ATTR_SEPT_VE_DISABLE)) {
        ccg_decision_deny(d, CCG_R_TDX_SEPT_VE_DISABLE_REQUIRED, NULL);
    }
    if (attrs & ~CCG_TDX_ATTR_DEFINED) {
        char hex[17];
        snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)(attrs & ~CCG_TDX_ATTR_DEFINED));
        ccg_decision_deny(d, CCG_R_TDX_TD_ATTRIBUTES_RESERVED, json_pack("{s:s}", "reserved_bits", hex));
    }
    if (p->attributes_set) {
        uint64_t extra = attrs & CCG_TDX_ATTR_DEFINED & ~CCG_TDX_ATTR_DEBUG & ~p->allowed_attributes;
        for (size_t j = 0; j < sizeof(ATTRS) / sizeof(ATTRS[0]); j++) {
            if (extra & ATTRS[j].bit) {
                ccg_decision_deny(d, CCG_R_TDX_TD_ATTRIBUTE_NOT_ALLOWED, json_pack("{s:s}", "attribute", ATTRS[j].name));
            }
        }
    }
}

void ccg_tdx_policy_appraise_td(const ccg_tdx_policy *p, const ccg_tdx_td_report *td, ccg_decision *d)
{
    static const ccg_reason RTMR_REASONS[4] = {CCG_R_TDX_RTMR0_NOT_ALLOWED, CCG_R_TDX_RTMR1_NOT_ALLOWED,
                                               CCG_R_TDX_RTMR2_NOT_ALLOWED, CCG_R_TDX_RTMR3_NOT_ALLOWED};
    check_attributes(p, td->td_attributes, d);
    check_list(&p->mrtd, td->mrtd, CCG_R_TDX_MRTD_NOT_ALLOWED, d);
    for (int i = 0; i < 4; i++) {
        check_list(&p->rtmr[i], td->rtmr[i], RTMR_REASONS[i], d);
    }
    check_list(&p->mrconfigid, td->mrconfigid, CCG_R_TDX_MRCONFIGID_NOT_ALLOWED, d);
    check_list(&p->mrowner, td->mrowner, CCG_R_TDX_MROWNER_NOT_ALLOWED, d);
    check_list(&p->mrownerconfig, td->mrownerconfig, CCG_R_TDX_MROWNERCONFIG_NOT_ALLOWED, d);
    check_list(&p->mrservicetd, td->mrservicetd, CCG_R_TDX_MRSERVICETD_NOT_ALLOWED, d);
    if (p->xfam_set) {
        int ok = 0;
        for (size_t i = 0; i < p->n_xfam && !ok; i++) {
            ok = p->xfam[i] == td->xfam;
        }
        if (!ok) {
            ccg_decision_deny(d, CCG_R_TDX_XFAM_NOT_ALLOWED, NULL);
        }
    }
    if (p->min_svn_set) {
        for (int i = 0; i < 16; i++) {
            if (td->tee_tcb_svn[i] < p->min_tee_tcb_svn[i]) {
                ccg_decision_deny(d, CCG_R_TDX_TEE_TCB_SVN_TOO_LOW,
                                  json_pack("{s:i, s:i, s:i}", "component", i, "minimum", p->min_tee_tcb_svn[i], "got",
                                            td->tee_tcb_svn[i]));
                break;
            }
        }
    }
    if (p->report_data_set && !ccg_memeq_ct(p->report_data, td->report_data, 64)) {
        ccg_decision_deny(d, CCG_R_TDX_REPORT_DATA_MISMATCH, NULL);
    }
}

void ccg_tdx_policy_appraise_refvals(const ccg_tdx_policy *p, const ccg_tdx_td_report *td, const ccg_refval_set *set,
                                     const ccg_refval_issuers *iss, ccg_time now, ccg_decision *d)
{
    if (!p->has_refval_set) {
        return;
    }
    if (set == NULL || strcmp(set->set_id, p->refval_set_id) != 0 || set->version < p->refval_min_version) {
        json_t *det = json_pack("{s:s, s:I}", "set_id", p->refval_set_id, "minimum_version",
                                (json_int_t)p->refval_min_version);
        if (det != NULL && set != NULL) {
            json_object_set_new(det, "supplied_set_id", json_string(set->set_id));
            json_object_set_new(det, "supplied_version", json_integer(set->version));
        }
        ccg_decision_deny(d, CCG_R_REFVAL_SET_MISSING, det);
        return;
    }
    ccg_refval_td m;
    memcpy(m.mrtd, td->mrtd, 48);
    for (int i = 0; i < 4; i++) {
        memcpy(m.fields[i], td->rtmr[i], 48);
    }
    memcpy(m.fields[4], td->mrconfigid, 48);
    memcpy(m.fields[5], td->mrowner, 48);
    memcpy(m.fields[6], td->mrownerconfig, 48);
    memcpy(m.fields[7], td->mrservicetd, 48);
    (void)ccg_refval_set_match_tdx(set, &m, iss, now, d);
}
