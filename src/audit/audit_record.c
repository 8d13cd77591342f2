/* The audit record codec: checking an event, the record's JSON form, the canonical serialisation and
 * its hash. The canonical form is jansson's JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII output
 * of the record without "hash". Every string in a record is printable ASCII and every number an
 * integer below 2^53, so this output is also the record's RFC 8785 (JCS) serialisation, and Python's
 * json.dumps(r, sort_keys=True, separators=(",", ":")) reproduces it byte for byte. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_internal.h"

#define MAX_SAFE_INT ((int64_t)1 << 53)
/* 9999-12-31T23:59:59Z: RFC 3339 has four-digit years. */
#define MAX_TIME ((ccg_time)253402300799LL)

const char *ccg_audit_decision_name(ccg_audit_decision d)
{
    switch (d) {
    case CCG_AUDIT_ALLOW: return "allow";
    case CCG_AUDIT_DENY: return "deny";
    case CCG_AUDIT_ERROR: return "error";
    }
    return "unknown";
}

const char *ccg_persona_name(ccg_persona p)
{
    switch (p) {
    case CCG_PERSONA_WORKLOAD: return "workload";
    case CCG_PERSONA_PROVIDER: return "provider";
    case CCG_PERSONA_AUTHORITY: return "authority";
    case CCG_PERSONA_OPERATOR: return "operator";
    case CCG_PERSONA_SYSTEM: return "system";
    case CCG_PERSONA_HOST_OPERATOR: return "host-operator";
    }
    return "unknown";
}

void ccg_audit_event_from_decision(ccg_audit_event *ev, const ccg_decision *d)
{
    if (ev == NULL || d == NULL) {
        return;
    }
    ev->policy_id = d->policy_id[0] ? d->policy_id : NULL;
    ev->policy_version = d->policy_version > 0 ? d->policy_version : 0;
    ev->evidence_digest = d->evidence_digest[0] ? d->evidence_digest : NULL;
    ev->reasons = &d->reasons;
    if (d->allow) {
        ev->decision = CCG_AUDIT_ALLOW;
        return;
    }
    ev->decision = CCG_AUDIT_DENY;
    for (size_t i = 0; i < d->reasons.count; i++) {
        ccg_reason_kind k = ccg_reason_kind_of(d->reasons.items[i].reason);
        if (k == CCG_KIND_DEPENDENCY || k == CCG_KIND_INTERNAL) {
            ev->decision = CCG_AUDIT_ERROR;
        }
    }
}

/* ---- field checks ---- */

typedef enum { ALPHA_REQUEST_ID, ALPHA_ACTION, ALPHA_ID } alphabet;

static int char_ok(alphabet a, unsigned char c)
{
    int digit = c >= '0' && c <= '9';
    int lower = c >= 'a' && c <= 'z';
    int upper = c >= 'A' && c <= 'Z';
    switch (a) {
    case ALPHA_REQUEST_ID: return digit || lower || upper || c == '.' || c == '_' || c == ':' || c == '-';
    case ALPHA_ACTION: return digit || lower || c == '.' || c == '_' || c == '-';
    case ALPHA_ID: return c >= 0x21 && c <= 0x7E;
    }
    return 0;
}

static ccg_result check_text(const char *field, const char *s, size_t max, alphabet a, int required)
{
    ccg_result result = CCG_FAILURE;
    size_t n = 0;
    if (s == NULL) {
        CCG_ENSURE_MSG(!required, CCG_R_INPUT_MALFORMED, "audit field %s is required", field);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    n = strnlen(s, max + 1);
    CCG_ENSURE_MSG(n >= 1 && n <= max, CCG_R_INPUT_MALFORMED, "audit field %s must be 1..%zu bytes", field, max);
    for (size_t i = 0; i < n; i++) {
        CCG_ENSURE_MSG(char_ok(a, (unsigned char)s[i]), CCG_R_INPUT_MALFORMED,
                       "audit field %s has a character outside its alphabet at offset %zu", field, i);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "<alg>:<lowercase hex>", alg of [a-z0-9-]. */
static ccg_result check_digest(const char *s)
{
    ccg_result result = CCG_FAILURE;
    const char *colon = NULL;
    size_t n = 0;
    if (s == NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    n = strnlen(s, CCG_AUDIT_DIGEST_MAX + 1);
    colon = memchr(s, ':', n);
    CCG_ENSURE_MSG(n <= CCG_AUDIT_DIGEST_MAX && colon != NULL && colon > s && colon[1] != '\0', CCG_R_INPUT_MALFORMED,
                   "audit field evidence_digest must be <alg>:<hex> of at most %u bytes", CCG_AUDIT_DIGEST_MAX);
    for (const char *p = s; p < colon; p++) {
        CCG_ENSURE_MSG((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-', CCG_R_INPUT_MALFORMED,
                       "audit field evidence_digest has a bad algorithm name");
    }
    for (const char *p = colon + 1; *p != '\0'; p++) {
        CCG_ENSURE_MSG((*p >= 'a' && *p <= 'f') || (*p >= '0' && *p <= '9'), CCG_R_INPUT_MALFORMED,
                       "audit field evidence_digest must be lowercase hex after the colon");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static const char *const tdx_statuses[] = {"None", "UpToDate", "SWHardeningNeeded", "ConfigurationNeeded",
                                           "ConfigurationAndSWHardeningNeeded", "OutOfDate",
                                           "OutOfDateConfigurationNeeded", "TDRelaunchAdvised",
                                           "TDRelaunchAdvisedConfigurationNeeded", "Revoked"};

static int tdx_status_ok(const char *s)
{
    for (size_t i = 0; s != NULL && i < sizeof(tdx_statuses) / sizeof(tdx_statuses[0]); i++) {
        if (strcmp(s, tdx_statuses[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* n lowercase or uppercase hex digits. */
static int hex_ok(const char *s, size_t n)
{
    if (s == NULL || strlen(s) != n) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F'))) {
            return 0;
        }
    }
    return 1;
}

/* A TDX record's statuses (Intel's names), FMSPC and MRTD (format 5). */
static ccg_result check_tdx(const ccg_audit_tdx *t)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(tdx_status_ok(t->platform_status) && tdx_status_ok(t->module_status) && tdx_status_ok(t->qe_status),
                   CCG_R_INPUT_MALFORMED, "audit fields tcb.platform_status, module_status and qe_status are TDX statuses");
    CCG_ENSURE_MSG(hex_ok(t->fmspc, 12) && hex_ok(t->mrtd, 96), CCG_R_INPUT_MALFORMED,
                   "audit fields tcb.fmspc and tcb.mrtd are 12 and 96 hex digits");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A TCB status from the fixed set (Intel's TDX statuses with tdx), and advisory IDs of the ID alphabet
 * (only with a status). */
static ccg_result check_tcb(const ccg_audit_event *ev)
{
    static const char *const statuses[] = {"UpToDate", "OutOfDate", "RolledBack", "Unknown"};
    ccg_result result = CCG_FAILURE;
    int known = 0;
    if (ev->tcb_status == NULL) {
        CCG_ENSURE_MSG(ev->advisory_count == 0, CCG_R_INPUT_MALFORMED, "audit advisories need a tcb_status");
        CCG_ENSURE_MSG(ev->tdx == NULL, CCG_R_INPUT_MALFORMED, "audit TDX statuses need a tcb_status");
        result = CCG_SUCCESS;
        goto cleanup;
    }
    for (size_t i = 0; ev->tdx == NULL && i < sizeof(statuses) / sizeof(statuses[0]); i++) {
        known |= strcmp(ev->tcb_status, statuses[i]) == 0;
    }
    if (ev->tdx != NULL) {
        known = tdx_status_ok(ev->tcb_status);
        CCG_TRY(check_tdx(ev->tdx));
    }
    CCG_ENSURE_MSG(known, CCG_R_INPUT_MALFORMED, "audit field tcb_status is not a TCB status");
    CCG_ENSURE_MSG(ev->advisory_count <= CCG_AUDIT_MAX_ADVISORIES && (ev->advisory_count == 0 || ev->advisories),
                   CCG_R_INPUT_TOO_LARGE, "%zu advisories, at most %u", ev->advisory_count, CCG_AUDIT_MAX_ADVISORIES);
    for (size_t i = 0; i < ev->advisory_count; i++) {
        CCG_TRY(check_text("advisories", ev->advisories[i], CCG_AUDIT_ADVISORY_MAX, ALPHA_ID, 1));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The GPUs of a format-4 record: a bounded list, each claim a short token or NULL, the measurement
 * outcome one of three, and mismatched indexes ascending RIM indexes. */
static ccg_result check_gpu(const ccg_audit_gpu *g)
{
    ccg_result result = CCG_FAILURE;
    const char *m = g->measurements;
    CCG_TRY(check_text("gpus.arch", g->arch, CCG_AUDIT_GPU_TEXT_MAX, ALPHA_ID, 0));
    CCG_TRY(check_text("gpus.driver_version", g->driver_version, CCG_AUDIT_GPU_TEXT_MAX, ALPHA_ID, 0));
    CCG_TRY(check_text("gpus.vbios_version", g->vbios_version, CCG_AUDIT_GPU_TEXT_MAX, ALPHA_ID, 0));
    CCG_TRY(check_text("gpus.ueid", g->ueid, CCG_AUDIT_GPU_TEXT_MAX, ALPHA_ID, 0));
    CCG_TRY(check_text("gpus.nonce_binding", g->nonce_binding, CCG_AUDIT_GPU_TEXT_MAX, ALPHA_ID, 0));
    CCG_ENSURE_MSG(m != NULL && (strcmp(m, "passed") == 0 || strcmp(m, "failed") == 0 || strcmp(m, "not_done") == 0),
                   CCG_R_INPUT_MALFORMED, "audit field gpus.measurements is not passed, failed or not_done");
    CCG_ENSURE_MSG(g->mismatched_count <= CCG_AUDIT_GPU_MAX_INDEXES && (g->mismatched_count == 0 || g->mismatched),
                   CCG_R_INPUT_TOO_LARGE, "%zu mismatched indexes, at most %u", g->mismatched_count,
                   CCG_AUDIT_GPU_MAX_INDEXES);
    for (size_t i = 0; i < g->mismatched_count; i++) {
        CCG_ENSURE_MSG(g->mismatched[i] < CCG_AUDIT_GPU_MAX_INDEXES && (i == 0 || g->mismatched[i] > g->mismatched[i - 1]),
                       CCG_R_INPUT_MALFORMED, "audit field gpus.mismatched_indexes must be ascending RIM indexes");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_gpus(const ccg_audit_event *ev)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(ev->gpu_count <= CCG_AUDIT_MAX_GPUS && (ev->gpu_count == 0 || ev->gpus != NULL),
                   CCG_R_INPUT_TOO_LARGE, "%zu GPUs, at most %u", ev->gpu_count, CCG_AUDIT_MAX_GPUS);
    for (size_t i = 0; i < ev->gpu_count; i++) {
        CCG_TRY(check_gpu(&ev->gpus[i]));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_audit_event_check(const ccg_audit_event *ev)
{
    ccg_result result = CCG_FAILURE;
    size_t nreasons = 0;
    CCG_ENSURE(ev != NULL, CCG_R_INPUT_MALFORMED);
    CCG_ENSURE_MSG(ev->time >= 0 && ev->time <= MAX_TIME, CCG_R_INPUT_MALFORMED, "audit time %lld is out of range",
                   (long long)ev->time);
    CCG_TRY(check_text("request_id", ev->request_id, CCG_AUDIT_REQUEST_ID_MAX, ALPHA_REQUEST_ID, 1));
    CCG_ENSURE_MSG(ev->persona >= CCG_PERSONA_WORKLOAD && ev->persona <= CCG_PERSONA_HOST_OPERATOR,
                   CCG_R_INPUT_MALFORMED, "unknown persona %d", (int)ev->persona);
    CCG_TRY(check_text("action", ev->action, CCG_AUDIT_ACTION_MAX, ALPHA_ACTION, 1));
    CCG_TRY(check_text("key_id", ev->key_id, CCG_AUDIT_ID_MAX, ALPHA_ID, 0));
    CCG_TRY(check_text("policy_id", ev->policy_id, CCG_AUDIT_ID_MAX, ALPHA_ID, 0));
    CCG_ENSURE_MSG(ev->key_version >= 0 && ev->key_version <= MAX_SAFE_INT, CCG_R_INPUT_MALFORMED,
                   "key_version out of range");
    CCG_ENSURE_MSG(ev->policy_version >= 0 && ev->policy_version <= MAX_SAFE_INT, CCG_R_INPUT_MALFORMED,
                   "policy_version out of range");
    CCG_TRY(check_digest(ev->evidence_digest));
    CCG_ENSURE_MSG(ev->decision >= CCG_AUDIT_ALLOW && ev->decision <= CCG_AUDIT_ERROR, CCG_R_INPUT_MALFORMED,
                   "unknown audit decision %d", (int)ev->decision);
    CCG_ENSURE_MSG(ev->count >= 0 && ev->count <= MAX_SAFE_INT, CCG_R_INPUT_MALFORMED, "count out of range");
    nreasons = ev->reasons ? ev->reasons->count : 0;
    CCG_ENSURE_MSG(nreasons <= CCG_AUDIT_MAX_REASONS, CCG_R_INPUT_TOO_LARGE, "%zu reasons, at most %u", nreasons,
                   CCG_AUDIT_MAX_REASONS);
    for (size_t i = 0; i < nreasons; i++) {
        ccg_reason r = ev->reasons->items[i].reason;
        CCG_ENSURE_MSG(r > CCG_R_OK && r < CCG_R__COUNT, CCG_R_INPUT_MALFORMED, "reason %zu is not a registry code", i);
    }
    CCG_TRY(check_tcb(ev));
    CCG_ENSURE_MSG(ev->count == 0 || ev->tcb_status == NULL, CCG_R_INPUT_MALFORMED,
                   "a counted record (format 2) carries no tcb_status (format 3)");
    CCG_TRY(check_gpus(ev));
    CCG_ENSURE_MSG(ev->count == 0 || ev->gpu_count == 0, CCG_R_INPUT_MALFORMED,
                   "a counted record (format 2) carries no GPUs (format 4)");
    CCG_ENSURE_MSG(ev->count == 0 || ev->tdx == NULL, CCG_R_INPUT_MALFORMED,
                   "a counted record (format 2) carries no TDX statuses (format 5)");
    if (ev->claims != NULL) {
        CCG_ENSURE_MSG(ev->count == 0, CCG_R_INPUT_MALFORMED, "a counted record (format 2) carries no claims (format 6)");
        CCG_TRY(ccg_audit_claims_check(ev->claims, CCG_R_INPUT_MALFORMED));
    }
    if (ev->decision == CCG_AUDIT_ALLOW) {
        CCG_ENSURE_MSG(nreasons == 0, CCG_R_INPUT_MALFORMED, "an allow decision carries no reasons");
    } else {
        CCG_ENSURE_MSG(nreasons > 0, CCG_R_INPUT_MALFORMED, "a %s decision names at least one reason",
                       ccg_audit_decision_name(ev->decision));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ---- records ---- */

static json_t *opt_string(const char *s) { return s ? json_string(s) : json_null(); }
static json_t *opt_version(int64_t v) { return v > 0 ? json_integer((json_int_t)v) : json_null(); }

static ccg_result set(json_t *obj, const char *key, json_t *value)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_ALLOC(value);
    CCG_ENSURE(json_object_set_new(obj, key, value) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A counted record is format 2, a record with claims format 6, a TDX decision's format 5, a record with GPUs format 4, one with a TCB
 * status (and no GPU) format 3 (ccg_audit_event_check refuses a count beside any of them); any other
 * record keeps format 1, byte for byte. */
static int format_of(const ccg_audit_event *ev)
{
    if (ev->count > 0) {
        return CCG_AUDIT_FORMAT_COUNTED;
    }
    if (ev->claims != NULL) {
        return CCG_AUDIT_FORMAT_CLAIMS;
    }
    if (ev->tdx != NULL) {
        return CCG_AUDIT_FORMAT_TDX;
    }
    if (ev->gpu_count > 0) {
        return CCG_AUDIT_FORMAT_GPU;
    }
    return ev->tcb_status != NULL ? CCG_AUDIT_FORMAT_TCB : CCG_AUDIT_FORMAT;
}

static json_t *gpu_json(size_t index, const ccg_audit_gpu *g)
{
    json_t *idx = json_array();
    for (size_t i = 0; idx != NULL && i < g->mismatched_count; i++) {
        if (json_array_append_new(idx, json_integer(g->mismatched[i])) != 0) {
            json_decref(idx);
            idx = NULL;
        }
    }
    return json_pack("{s:I, s:o, s:o, s:o, s:o, s:s, s:o, s:o}", "index", (json_int_t)index, "arch",
                     opt_string(g->arch), "driver_version", opt_string(g->driver_version), "vbios_version",
                     opt_string(g->vbios_version), "ueid", opt_string(g->ueid), "measurements", g->measurements,
                     "mismatched_indexes", idx, "nonce_binding", opt_string(g->nonce_binding));
}

/* The "tcb" member ({"status", "advisories"}) and, for format 4, "gpus" (and "tcb" null without a
 * status). */
static ccg_result set_tcb_and_gpus(json_t *rec, const ccg_audit_event *ev)
{
    ccg_result result = CCG_FAILURE;
    json_t *adv = NULL, *gpus = NULL;
    if (ev->tcb_status != NULL) {
        adv = json_array();
        CCG_ENSURE_ALLOC(adv);
        for (size_t i = 0; i < ev->advisory_count; i++) {
            json_array_append_new(adv, json_string(ev->advisories[i]));
        }
        CCG_ENSURE_ALLOC(json_array_size(adv) == ev->advisory_count ? adv : NULL);
        if (ev->tdx != NULL) {
            CCG_TRY(set(rec, "tcb", json_pack("{s:s, s:O, s:s, s:s, s:s, s:s, s:s}", "status", ev->tcb_status,
                                              "advisories", adv, "platform_status", ev->tdx->platform_status,
                                              "module_status", ev->tdx->module_status, "qe_status",
                                              ev->tdx->qe_status, "fmspc", ev->tdx->fmspc, "mrtd", ev->tdx->mrtd)));
        } else {
            CCG_TRY(set(rec, "tcb", json_pack("{s:s, s:O}", "status", ev->tcb_status, "advisories", adv)));
        }
    } else if (ev->gpu_count > 0 || ev->claims != NULL) {
        CCG_TRY(set(rec, "tcb", json_null()));
    }
    if (ev->claims != NULL) { /* format 6 has every optional member, null when absent */
        CCG_TRY(set(rec, "claims", json_deep_copy(ev->claims)));
        if (ev->gpu_count == 0) {
            CCG_TRY(set(rec, "gpus", json_null()));
        }
    }
    if (ev->gpu_count > 0) {
        gpus = json_array();
        CCG_ENSURE_ALLOC(gpus);
        for (size_t i = 0; i < ev->gpu_count; i++) {
            CCG_ENSURE(json_array_append_new(gpus, gpu_json(i, &ev->gpus[i])) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        }
        CCG_TRY(set(rec, "gpus", json_incref(gpus)));
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(adv);
    json_decref(gpus);
    return result;
}

ccg_result ccg_audit_record_from_event(const ccg_audit_event *ev, int64_t seq, const char *prev_hash,
                                       json_t **record, char **reasons_text)
{
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL, *reasons = NULL;
    char time_text[32];
    size_t nreasons = ev->reasons ? ev->reasons->count : 0;

    *record = NULL;
    *reasons_text = NULL;
    ccg_time_format_rfc3339(ev->time, time_text, sizeof(time_text));
    reasons = json_array();
    CCG_ENSURE_ALLOC(reasons);
    for (size_t i = 0; i < nreasons; i++) {
        json_t *code = json_string(ccg_reason_code(ev->reasons->items[i].reason));
        CCG_ENSURE_ALLOC(code);
        CCG_ENSURE(json_array_append_new(reasons, code) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    }
    *reasons_text = json_dumps(reasons, JSON_COMPACT | JSON_ENSURE_ASCII);
    CCG_ENSURE_ALLOC(*reasons_text);
    rec = json_object();
    CCG_ENSURE_ALLOC(rec);
    CCG_TRY(set(rec, "seq", json_integer((json_int_t)seq)));
    CCG_TRY(set(rec, "v", json_integer(format_of(ev))));
    if (ev->count > 0) {
        CCG_TRY(set(rec, "count", json_integer((json_int_t)ev->count)));
    }
    CCG_TRY(set(rec, "time", json_string(time_text)));
    CCG_TRY(set(rec, "request_id", json_string(ev->request_id)));
    CCG_TRY(set(rec, "persona", json_string(ccg_persona_name(ev->persona))));
    CCG_TRY(set(rec, "action", json_string(ev->action)));
    CCG_TRY(set(rec, "key_id", opt_string(ev->key_id)));
    CCG_TRY(set(rec, "key_version", opt_version(ev->key_version)));
    CCG_TRY(set(rec, "policy_id", opt_string(ev->policy_id)));
    CCG_TRY(set(rec, "policy_version", opt_version(ev->policy_version)));
    CCG_TRY(set(rec, "evidence_digest", opt_string(ev->evidence_digest)));
    CCG_TRY(set(rec, "decision", json_string(ccg_audit_decision_name(ev->decision))));
    CCG_TRY(set(rec, "reasons", json_incref(reasons)));
    CCG_TRY(set(rec, "prev_hash", json_string(prev_hash)));
    CCG_TRY(set_tcb_and_gpus(rec, ev));
    *record = rec;
    rec = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(rec);
    json_decref(reasons);
    if (ccg_failed(result)) {
        free(*reasons_text);
        *reasons_text = NULL;
    }
    return result;
}

int ccg_audit_hash_text_ok(const char *s)
{
    if (s == NULL || strlen(s) != 64) {
        return 0;
    }
    for (size_t i = 0; i < 64; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

/* One column as JSON: its stored type must be `type`, or NULL when nullable. */
static ccg_result column(const ccg_audit_col *c, const char *name, ccg_audit_col_type type, int nullable,
                         json_t **out)
{
    ccg_result result = CCG_FAILURE;
    *out = NULL;
    if (c->type == CCG_AUDIT_COL_NULL) {
        CCG_ENSURE_MSG(nullable, CCG_R_AUDIT_CHAIN_BROKEN, "column %s is NULL", name);
        *out = json_null();
    } else if (type == CCG_AUDIT_COL_INT) {
        CCG_ENSURE_MSG(c->type == CCG_AUDIT_COL_INT, CCG_R_AUDIT_CHAIN_BROKEN, "column %s is not an integer", name);
        *out = json_integer((json_int_t)c->i);
    } else {
        CCG_ENSURE_MSG(c->type == CCG_AUDIT_COL_TEXT && c->text != NULL, CCG_R_AUDIT_CHAIN_BROKEN,
                       "column %s is not text", name);
        CCG_ENSURE_MSG(strlen(c->text) == c->len, CCG_R_AUDIT_CHAIN_BROKEN, "column %s holds a NUL byte", name);
        *out = json_string(c->text);
        /* json_string refuses invalid UTF-8: a tampered column, not an allocation failure. */
        CCG_ENSURE_MSG(*out != NULL, CCG_R_AUDIT_CHAIN_BROKEN, "column %s is not valid UTF-8", name);
    }
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The tcb column: {"status": string, "advisories": [strings]}, exactly; in a format-5 record also the
 * strings "platform_status", "module_status", "qe_status", "fmspc" and "mrtd", exactly. */
static ccg_result tcb_from_column(const json_t *text, json_int_t v, json_t **out)
{
    static const char *const tdx_members[] = {"platform_status", "module_status", "qe_status", "fmspc", "mrtd"};
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *tcb = json_loads(json_string_value(text), JSON_REJECT_DUPLICATES, &jerr), *adv, *item;
    size_t j, want = v == CCG_AUDIT_FORMAT_TDX ? 7 : 2;
    *out = NULL;
    if (v == CCG_AUDIT_FORMAT_CLAIMS && json_object_size(tcb) == 7) {
        want = 7; /* a TDX decision's claims record holds Intel's statuses too */
    }
    adv = json_object_get(tcb, "advisories");
    CCG_ENSURE_MSG(json_is_object(tcb) && json_object_size(tcb) == want &&
                       json_is_string(json_object_get(tcb, "status")) && json_is_array(adv),
                   CCG_R_AUDIT_CHAIN_BROKEN, "column tcb is not {\"status\", \"advisories\"%s}",
                   want == 7 ? " and the TDX statuses" : "");
    for (j = 0; want == 7 && j < sizeof(tdx_members) / sizeof(tdx_members[0]); j++) {
        CCG_ENSURE_MSG(json_is_string(json_object_get(tcb, tdx_members[j])), CCG_R_AUDIT_CHAIN_BROKEN,
                       "column tcb of a format-5 record lacks %s", tdx_members[j]);
    }
    json_array_foreach(adv, j, item) {
        CCG_ENSURE_MSG(json_is_string(item), CCG_R_AUDIT_CHAIN_BROKEN, "column tcb holds a non-string advisory");
    }
    *out = tcb;
    tcb = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(tcb);
    return result;
}

/* One entry of the gpus column: exactly the members ccg_audit_record_from_event writes, of their types. */
static int gpu_entry_ok(const json_t *g)
{
    static const char *const texts[] = {"arch", "driver_version", "vbios_version", "ueid", "nonce_binding"};
    const json_t *idx = json_object_get(g, "mismatched_indexes"), *item;
    size_t i;
    if (!json_is_object(g) || json_object_size(g) != 8 || !json_is_integer(json_object_get(g, "index")) ||
        !json_is_string(json_object_get(g, "measurements")) || !json_is_array(idx)) {
        return 0;
    }
    for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        const json_t *v = json_object_get(g, texts[i]);
        if (!json_is_string(v) && !json_is_null(v)) {
            return 0;
        }
    }
    json_array_foreach(idx, i, item) {
        if (!json_is_integer(item)) {
            return 0;
        }
    }
    return 1;
}

/* The gpus column: a JSON array of 1..CCG_AUDIT_MAX_GPUS entries of the format-4 shape. */
static ccg_result gpus_from_column(const json_t *text, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *gpus = json_loads(json_string_value(text), JSON_REJECT_DUPLICATES, &jerr), *item;
    size_t i;
    *out = NULL;
    CCG_ENSURE_MSG(json_is_array(gpus) && json_array_size(gpus) >= 1 && json_array_size(gpus) <= CCG_AUDIT_MAX_GPUS,
                   CCG_R_AUDIT_CHAIN_BROKEN, "column gpus is not an array of 1..%u GPUs", CCG_AUDIT_MAX_GPUS);
    json_array_foreach(gpus, i, item) {
        CCG_ENSURE_MSG(gpu_entry_ok(item), CCG_R_AUDIT_CHAIN_BROKEN, "column gpus holds a malformed entry %zu", i);
    }
    *out = gpus;
    gpus = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(gpus);
    return result;
}

/* Each format's optional members, exactly: "count" (>= 1) in format 2 only; "tcb" in format 3 and 5 (an
 * object) and 4 (an object or null) only; "gpus" in format 4 (always) and 5 (when GPUs were appraised)
 * only. A format-1 record has none, so its
 * canonical form stays the 14 members it always had. (A record of an unknown format has none either;
 * the verifier reports its format.) */
static ccg_result check_format_members(json_t *rec)
{
    ccg_result result = CCG_FAILURE;
    json_int_t v = json_integer_value(json_object_get(rec, "v"));
    const json_t *count = json_object_get(rec, "count");
    const json_t *tcb = json_object_get(rec, "tcb");
    const json_t *gpus = json_object_get(rec, "gpus");
    const json_t *claims = json_object_get(rec, "claims");
    if (v == CCG_AUDIT_FORMAT_CLAIMS) {
        /* Format 6 holds every optional member but count; a NULL column is a null member. */
        CCG_ENSURE_MSG(claims != NULL, CCG_R_AUDIT_CHAIN_BROKEN, "column claims of a format-6 record is NULL");
        CCG_TRY(ccg_audit_claims_check(claims, CCG_R_AUDIT_CHAIN_BROKEN));
        CCG_ENSURE(tcb != NULL || json_object_set_new(rec, "tcb", json_null()) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        CCG_ENSURE(gpus != NULL || json_object_set_new(rec, "gpus", json_null()) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        CCG_ENSURE_MSG(json_is_null(count), CCG_R_AUDIT_CHAIN_BROKEN, "column count is set on a record not of format 2");
        json_object_del(rec, "count");
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(claims == NULL, CCG_R_AUDIT_CHAIN_BROKEN, "column claims is set on a record not of format 6");
    if (v == CCG_AUDIT_FORMAT_COUNTED) {
        CCG_ENSURE_MSG(json_is_integer(count) && json_integer_value(count) >= 1, CCG_R_AUDIT_CHAIN_BROKEN,
                       "column count of a format-2 record is not an integer >= 1");
    } else {
        CCG_ENSURE_MSG(json_is_null(count), CCG_R_AUDIT_CHAIN_BROKEN, "column count is set on a record not of format 2");
        json_object_del(rec, "count");
    }
    if (v == CCG_AUDIT_FORMAT_TCB || v == CCG_AUDIT_FORMAT_TDX) {
        CCG_ENSURE_MSG(tcb != NULL, CCG_R_AUDIT_CHAIN_BROKEN, "column tcb of a format-%d record is NULL", (int)v);
    } else if (v == CCG_AUDIT_FORMAT_GPU) {
        CCG_ENSURE_MSG(gpus != NULL, CCG_R_AUDIT_CHAIN_BROKEN, "column gpus of a format-4 record is NULL");
        CCG_ENSURE(tcb != NULL || json_object_set_new(rec, "tcb", json_null()) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    } else {
        CCG_ENSURE_MSG(tcb == NULL, CCG_R_AUDIT_CHAIN_BROKEN, "column tcb is set on a record not of format 3, 4 or 5");
    }
    CCG_ENSURE_MSG(v == CCG_AUDIT_FORMAT_GPU || v == CCG_AUDIT_FORMAT_TDX || gpus == NULL, CCG_R_AUDIT_CHAIN_BROKEN,
                   "column gpus is set on a record not of format 4 or 5");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

#define T CCG_AUDIT_COL_TEXT
#define I CCG_AUDIT_COL_INT
static const struct {
    const char *name;
    ccg_audit_col_type type;
    int nullable;
} row_cols[CCG_AUDIT_NCOLS] = {
    {"seq", I, 0},       {"v", I, 0},           {"time", T, 0},        {"request_id", T, 0},
    {"persona", T, 0},   {"action", T, 0},      {"key_id", T, 1},      {"key_version", I, 1},
    {"policy_id", T, 1}, {"policy_version", I, 1}, {"evidence_digest", T, 1}, {"decision", T, 0},
    {"reasons", T, 0},   {"prev_hash", T, 0},   {"hash", T, 0},        {"count", I, 1},
    {"tcb", T, 1},       {"gpus", T, 1},        {"claims", T, 1},
};
#undef T
#undef I

/* The claims column: a JSON object (its members are checked with the record's format). */
static ccg_result claims_from_column(const json_t *text, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *claims = json_loads(json_string_value(text), JSON_REJECT_DUPLICATES, &jerr);
    *out = NULL;
    CCG_ENSURE_MSG(json_is_object(claims), CCG_R_AUDIT_CHAIN_BROKEN, "column claims is not a JSON object");
    *out = claims;
    claims = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(claims);
    return result;
}

ccg_result ccg_audit_record_from_row(const ccg_audit_col row[CCG_AUDIT_NCOLS], json_t **record)
{
    ccg_result result = CCG_FAILURE;
    json_t *rec = NULL, *value = NULL, *reasons = NULL;
    json_error_t jerr;
    size_t i = 0, j = 0;
    json_t *item = NULL;

    *record = NULL;
    rec = json_object();
    CCG_ENSURE_ALLOC(rec);
    for (i = 0; i < CCG_AUDIT_NCOLS; i++) {
        const char *name = row_cols[i].name;
        CCG_TRY(column(&row[i], name, row_cols[i].type, row_cols[i].nullable, &value));
        if (strcmp(name, "reasons") == 0) {
            reasons = json_loads(json_string_value(value), JSON_REJECT_DUPLICATES, &jerr);
            json_decref(value);
            value = NULL;
            CCG_ENSURE_MSG(json_is_array(reasons), CCG_R_AUDIT_CHAIN_BROKEN,
                           "column reasons is not a JSON array");
            json_array_foreach(reasons, j, item) {
                CCG_ENSURE_MSG(json_is_string(item), CCG_R_AUDIT_CHAIN_BROKEN,
                               "column reasons holds a non-string");
            }
            value = reasons;
            reasons = NULL;
        } else if (strcmp(name, "tcb") == 0) {
            json_t *tcb = NULL;
            if (json_is_null(value)) { /* a record without a TCB status has no "tcb" member at all */
                json_decref(value);
                value = NULL;
                continue;
            }
            CCG_TRY(tcb_from_column(value, json_integer_value(json_object_get(rec, "v")), &tcb));
            json_decref(value);
            value = tcb;
        } else if (strcmp(name, "gpus") == 0 || strcmp(name, "claims") == 0) {
            json_t *gpus = NULL;
            if (json_is_null(value)) { /* a record without GPUs has no "gpus" member at all */
                json_decref(value);
                value = NULL;
                continue;
            }
            if (strcmp(name, "gpus") == 0) {
                CCG_TRY(gpus_from_column(value, &gpus));
            } else {
                CCG_TRY(claims_from_column(value, &gpus));
            }
            json_decref(value);
            value = gpus;
        }
        int rc = json_object_set_new(rec, name, value);
        value = NULL; /* stolen, even on failure */
        CCG_ENSURE(rc == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    }
    CCG_ENSURE_MSG(ccg_audit_hash_text_ok(json_string_value(json_object_get(rec, "prev_hash"))) &&
                       ccg_audit_hash_text_ok(json_string_value(json_object_get(rec, "hash"))),
                   CCG_R_AUDIT_CHAIN_BROKEN, "prev_hash or hash is not 64 lowercase hex digits");
    CCG_TRY(check_format_members(rec));
    *record = rec;
    rec = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(rec);
    json_decref(value);
    json_decref(reasons);
    return result;
}

/* A JSON member's column text: NULL for an absent or null member. */
static ccg_result json_column(const json_t *v, ccg_audit_col *c, char **text)
{
    ccg_result result = CCG_FAILURE;
    *text = NULL;
    memset(c, 0, sizeof(*c));
    if (v != NULL && !json_is_null(v)) {
        *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        CCG_ENSURE_ALLOC(*text);
        c->type = CCG_AUDIT_COL_TEXT;
        c->text = *text;
        c->len = strlen(*text);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_audit_cols_from_record(const json_t *rec, const char *reasons_text, const char *hash,
                                      ccg_audit_col cols[CCG_AUDIT_NCOLS], char *texts[3])
{
    ccg_result result = CCG_FAILURE;
    texts[0] = texts[1] = texts[2] = NULL;
    for (size_t i = 0; i < CCG_AUDIT_NCOLS; i++) {
        const char *name = row_cols[i].name;
        const json_t *v = json_object_get(rec, name);
        ccg_audit_col *c = &cols[i];
        memset(c, 0, sizeof(*c));
        if (strcmp(name, "reasons") == 0 || strcmp(name, "hash") == 0) {
            const char *t = name[0] == 'r' ? reasons_text : hash;
            c->type = CCG_AUDIT_COL_TEXT;
            c->text = t;
            c->len = strlen(t);
        } else if (strcmp(name, "tcb") == 0) {
            CCG_TRY(json_column(v, c, &texts[0]));
        } else if (strcmp(name, "gpus") == 0) {
            CCG_TRY(json_column(v, c, &texts[1]));
        } else if (strcmp(name, "claims") == 0) {
            CCG_TRY(json_column(v, c, &texts[2]));
        } else if (json_is_integer(v)) {
            c->type = CCG_AUDIT_COL_INT;
            c->i = (int64_t)json_integer_value(v);
        } else if (json_is_string(v)) {
            c->type = CCG_AUDIT_COL_TEXT;
            c->text = json_string_value(v);
            c->len = strlen(c->text);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_audit_cols_free(texts);
    }
    return result;
}

void ccg_audit_cols_free(char *texts[3])
{
    for (int i = 0; i < 3; i++) {
        free(texts[i]);
        texts[i] = NULL;
    }
}

char *ccg_audit_canonical(const json_t *record)
{
    json_t *copy = NULL;
    char *text = NULL;
    if (!json_is_object(record)) {
        return NULL;
    }
    copy = json_copy((json_t *)record);
    if (copy == NULL) {
        return NULL;
    }
    json_object_del(copy, "hash");
    text = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
    json_decref(copy);
    return text;
}

ccg_result ccg_audit_record_hash(const json_t *record, char hash[CCG_AUDIT_HASH_HEX])
{
    ccg_result result = CCG_FAILURE;
    char *text = ccg_audit_canonical(record);
    uint8_t md[32];
    unsigned int md_len = 0;
    CCG_ENSURE_ALLOC(text);
    CCG_ENSURE_OSSL(EVP_Digest(text, strlen(text), md, &md_len, EVP_sha256(), NULL) == 1 && md_len == 32,
                    CCG_R_INTERNAL_CRYPTO);
    ccg_hex_encode(md, 32, hash);
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}
