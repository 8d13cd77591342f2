/* TCB baselines: strict parsing, the signature and validity check (the reference-value signing rules),
 * and the set of baselines a verifier is given, one per product. */
#include "ccgate/snp_tcb_baseline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refvalue_internal.h"

#define BASELINE_MAX_BYTES (1u << 20)

static const char *const STATUS_NAMES[] = {"Unknown", "UpToDate", "OutOfDate", "RolledBack"};

const char *ccg_snp_tcb_status_name(ccg_snp_tcb_status s)
{
    return (unsigned)s < sizeof(STATUS_NAMES) / sizeof(STATUS_NAMES[0]) ? STATUS_NAMES[s] : "Unknown";
}

ccg_snp_tcb_status ccg_snp_tcb_status_from_name(const char *name)
{
    for (unsigned i = CCG_SNP_TCB_UP_TO_DATE; name != NULL && i <= CCG_SNP_TCB_ROLLED_BACK; i++) {
        if (strcmp(name, STATUS_NAMES[i]) == 0) {
            return (ccg_snp_tcb_status)i;
        }
    }
    return CCG_SNP_TCB_UNKNOWN;
}

unsigned ccg_snp_tcb_components(ccg_snp_product p)
{
    unsigned all = CCG_SNP_TCB_C_BOOTLOADER | CCG_SNP_TCB_C_TEE | CCG_SNP_TCB_C_SNP | CCG_SNP_TCB_C_MICROCODE;
    return p == CCG_SNP_PRODUCT_TURIN ? all | CCG_SNP_TCB_C_FMC : all;
}

/* ---- parsing ------------------------------------------------------------------------------ */

static ccg_result check_members(const json_t *obj, const char *const *known, size_t n, const char *where)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)obj, key, v) {
        int ok = 0;
        for (size_t i = 0; i < n && !ok; i++) {
            ok = strcmp(key, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_SNP_TCB_BASELINE_MALFORMED, "unknown member '%s%.64s'", where, key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A printable ASCII identifier without spaces, 1 .. cap-1 bytes. */
static ccg_result get_id(const json_t *v, const char *what, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < cap,
                   CCG_R_SNP_TCB_BASELINE_MALFORMED, "'%s' must be a non-empty string under %zu bytes", what, cap);
    for (const char *c = json_string_value(v); *c; c++) {
        CCG_ENSURE_MSG(*c > 0x20 && *c < 0x7f, CCG_R_SNP_TCB_BASELINE_MALFORMED, "'%s' must be printable ASCII", what);
    }
    snprintf(out, cap, "%s", json_string_value(v));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_time(const json_t *obj, const char *key, ccg_time *out)
{
    ccg_result result = CCG_FAILURE;
    const json_t *v = json_object_get(obj, key);
    CCG_ENSURE_MSG(json_is_string(v), CCG_R_SNP_TCB_BASELINE_MALFORMED, "'%s' must be an RFC 3339 time", key);
    if (ccg_failed(ccg_time_parse_rfc3339(json_string_value(v), out))) {
        ccg_error_clear(); /* the baseline's own code says more than the time parser's */
        CCG_BAIL(CCG_R_SNP_TCB_BASELINE_MALFORMED, "'%s' is not an RFC 3339 time", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A components object {"bootloader", "tee", "snp", "microcode", "fmc"} of levels 0-255: only the
 * product's components, all of them when `all` (up_to_date), at least one otherwise (an advisory). */
static ccg_result get_levels(const json_t *v, ccg_snp_product product, int all, const char *what, ccg_snp_tcb *out,
                             unsigned *listed)
{
    static const struct {
        const char *name;
        unsigned bit;
        size_t off;
    } comps[] = {
        {"bootloader", CCG_SNP_TCB_C_BOOTLOADER, offsetof(ccg_snp_tcb, bootloader)},
        {"tee", CCG_SNP_TCB_C_TEE, offsetof(ccg_snp_tcb, tee)},
        {"snp", CCG_SNP_TCB_C_SNP, offsetof(ccg_snp_tcb, snp)},
        {"microcode", CCG_SNP_TCB_C_MICROCODE, offsetof(ccg_snp_tcb, microcode)},
        {"fmc", CCG_SNP_TCB_C_FMC, offsetof(ccg_snp_tcb, fmc)},
    };
    ccg_result result = CCG_FAILURE;
    unsigned want = ccg_snp_tcb_components(product);
    const char *key;
    json_t *item;
    memset(out, 0, sizeof(*out));
    *listed = 0;
    CCG_ENSURE_MSG(json_is_object(v), CCG_R_SNP_TCB_BASELINE_MALFORMED, "'%s' must be an object of TCB levels", what);
    json_object_foreach((json_t *)v, key, item) {
        size_t i = 0;
        while (i < sizeof(comps) / sizeof(comps[0]) && strcmp(key, comps[i].name) != 0) {
            i++;
        }
        CCG_ENSURE_MSG(i < sizeof(comps) / sizeof(comps[0]), CCG_R_SNP_TCB_BASELINE_MALFORMED,
                       "unknown TCB component '%s.%.32s'", what, key);
        CCG_ENSURE_MSG(want & comps[i].bit, CCG_R_SNP_TCB_BASELINE_MALFORMED, "%s has no '%s' component (in '%s')",
                       ccg_snp_product_name(product), key, what);
        CCG_ENSURE_MSG(json_is_integer(item) && json_integer_value(item) >= 0 && json_integer_value(item) <= 255,
                       CCG_R_SNP_TCB_BASELINE_MALFORMED, "'%s.%s' must be an integer from 0 to 255", what, key);
        *((uint8_t *)out + comps[i].off) = (uint8_t)json_integer_value(item);
        *listed |= comps[i].bit;
    }
    CCG_ENSURE_MSG(all ? *listed == want : *listed != 0, CCG_R_SNP_TCB_BASELINE_MALFORMED,
                   all ? "'%s' must give every TCB component of the product" : "'%s' must name a TCB component",
                   what);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result parse_advisories(const json_t *arr, ccg_snp_tcb_baseline *b)
{
    static const char *const known[] = {"id", "below"};
    ccg_result result = CCG_FAILURE;
    size_t n = json_array_size(arr);
    CCG_ENSURE_MSG(json_is_array(arr) && n <= CCG_SNP_BASELINE_MAX_ADVISORIES, CCG_R_SNP_TCB_BASELINE_MALFORMED,
                   "'advisories' must be an array of at most %d advisories", CCG_SNP_BASELINE_MAX_ADVISORIES);
    b->advisories = calloc(n ? n : 1, sizeof(*b->advisories));
    CCG_ENSURE_ALLOC(b->advisories);
    for (size_t i = 0; i < n; i++) {
        const json_t *a = json_array_get(arr, i);
        ccg_snp_advisory *adv = &b->advisories[i];
        CCG_ENSURE_MSG(json_is_object(a), CCG_R_SNP_TCB_BASELINE_MALFORMED,
                       "an advisory is {\"id\": ..., \"below\": {component: level}}");
        CCG_TRY(check_members(a, known, 2, "advisories[]."));
        CCG_TRY(get_id(json_object_get(a, "id"), "advisories[].id", adv->id, sizeof(adv->id)));
        CCG_TRY(get_levels(json_object_get(a, "below"), b->product, 0, "advisories[].below", &adv->below,
                           &adv->components));
        for (size_t j = 0; j < i; j++) {
            CCG_ENSURE_MSG(strcmp(b->advisories[j].id, adv->id) != 0, CCG_R_SNP_TCB_BASELINE_MALFORMED,
                           "advisory '%s' occurs twice", adv->id);
        }
        b->advisory_count = i + 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The document must have signing bytes (no reals, no integers beyond 2^53, valid UTF-8, bounded
 * nesting), refused here so that it is malformed, not "signature_invalid". */
static ccg_result check_canonical(const json_t *doc)
{
    ccg_result result = CCG_FAILURE;
    char *bytes = NULL;
    size_t len = 0;
    if (ccg_failed(ccg_refval_signing_bytes(doc, &bytes, &len))) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_SNP_TCB_BASELINE_MALFORMED, "the baseline has no canonical form");
    }
    result = CCG_SUCCESS;
cleanup:
    free(bytes);
    return result;
}

static ccg_result parse_doc(const json_t *doc, ccg_snp_tcb_baseline *b)
{
    static const char *const known[] = {"product",    "version",   "not_before", "not_after",
                                        "up_to_date", "advisories", "issuer",     "signature"};
    ccg_result result = CCG_FAILURE;
    const json_t *v, *sig;
    unsigned listed = 0;
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_SNP_TCB_BASELINE_MALFORMED, "a TCB baseline is a JSON object");
    CCG_TRY(check_members(doc, known, sizeof(known) / sizeof(known[0]), ""));
    v = json_object_get(doc, "product");
    b->product = json_is_string(v) ? ccg_snp_product_from_name(json_string_value(v)) : CCG_SNP_PRODUCT_UNKNOWN;
    CCG_ENSURE_MSG(b->product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_SNP_TCB_BASELINE_MALFORMED,
                   "'product' must be \"Milan\", \"Genoa\" or \"Turin\"");
    v = json_object_get(doc, "version");
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 1, CCG_R_SNP_TCB_BASELINE_MALFORMED,
                   "'version' must be an integer >= 1");
    b->version = json_integer_value(v);
    CCG_TRY(get_time(doc, "not_before", &b->not_before));
    CCG_TRY(get_time(doc, "not_after", &b->not_after));
    CCG_ENSURE_MSG(b->not_before <= b->not_after, CCG_R_SNP_TCB_BASELINE_MALFORMED,
                   "'not_before' is after 'not_after'");
    CCG_TRY(get_levels(json_object_get(doc, "up_to_date"), b->product, 1, "up_to_date", &b->up_to_date, &listed));
    v = json_object_get(doc, "advisories");
    if (v == NULL) {
        b->advisories = calloc(1, sizeof(*b->advisories));
        CCG_ENSURE_ALLOC(b->advisories);
    } else {
        CCG_TRY(parse_advisories(v, b));
    }
    v = json_object_get(doc, "issuer");
    if (v != NULL) {
        CCG_TRY(get_id(v, "issuer", b->issuer, sizeof(b->issuer)));
    }
    CCG_TRY(check_canonical(doc));
    sig = json_object_get(doc, "signature");
    if (sig != NULL) {
        const char *alg = json_string_value(json_object_get(sig, "alg"));
        CCG_ENSURE_MSG(json_is_object(sig) && json_object_size(sig) == 2 && alg != NULL &&
                           (strcmp(alg, "ES384") == 0 || strcmp(alg, "Ed25519") == 0) &&
                           json_is_string(json_object_get(sig, "value")),
                       CCG_R_SNP_TCB_BASELINE_MALFORMED,
                       "'signature' must be {\"alg\": \"ES384\"|\"Ed25519\", \"value\": base64url}");
        CCG_ENSURE_MSG(b->issuer[0] != '\0', CCG_R_SNP_TCB_BASELINE_MALFORMED,
                       "a signed baseline must name its 'issuer'");
        b->has_signature = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_snp_tcb_baseline_parse(const char *text, size_t len, ccg_snp_tcb_baseline **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    json_t *doc = NULL;
    ccg_snp_tcb_baseline *b = calloc(1, sizeof(*b));
    *out = NULL;
    CCG_ENSURE_ALLOC(b);
    CCG_ENSURE_MSG(len <= BASELINE_MAX_BYTES, CCG_R_SNP_TCB_BASELINE_MALFORMED, "a baseline larger than %u bytes",
                   BASELINE_MAX_BYTES);
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(doc != NULL, CCG_R_SNP_TCB_BASELINE_MALFORMED, "line %d: %.120s", jerr.line, jerr.text);
    CCG_TRY(parse_doc(doc, b));
    b->doc = doc;
    doc = NULL;
    *out = b;
    b = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    ccg_snp_tcb_baseline_free(b);
    return result;
}

void ccg_snp_tcb_baseline_free(ccg_snp_tcb_baseline *b)
{
    if (b == NULL) {
        return;
    }
    free(b->advisories);
    json_decref(b->doc);
    free(b);
}

/* ---- use at now --------------------------------------------------------------------------- */

static void deny_baseline(ccg_decision *d, ccg_reason reason, const ccg_snp_tcb_baseline *b)
{
    ccg_decision_deny(d, reason, json_pack("{s:s, s:I, s:s}", "product", ccg_snp_product_name(b->product), "version",
                                           (json_int_t)b->version, "issuer", b->issuer[0] ? b->issuer : "(none)"));
}

int ccg_snp_tcb_baseline_check(const ccg_snp_tcb_baseline *b, const ccg_refval_issuers *iss, ccg_time now,
                               ccg_decision *d)
{
    EVP_PKEY *key = NULL;
    size_t before = d->reasons.count;
    if (!b->has_signature) {
        deny_baseline(d, CCG_R_SNP_TCB_BASELINE_UNSIGNED, b);
    } else if ((key = refval_issuer_key(iss, b->issuer)) == NULL) {
        deny_baseline(d, CCG_R_SNP_TCB_BASELINE_ISSUER_UNKNOWN, b);
    } else if (!refval_signature_valid(b->doc, key)) {
        deny_baseline(d, CCG_R_SNP_TCB_BASELINE_SIGNATURE_INVALID, b);
    }
    if (now < b->not_before) {
        deny_baseline(d, CCG_R_SNP_TCB_BASELINE_NOT_YET_VALID, b);
    }
    if (now > b->not_after) {
        deny_baseline(d, CCG_R_SNP_TCB_BASELINE_EXPIRED, b);
    }
    return d->reasons.count == before;
}

/* ---- the set ------------------------------------------------------------------------------ */

void ccg_snp_tcb_baselines_init(ccg_snp_tcb_baselines *set) { memset(set, 0, sizeof(*set)); }

void ccg_snp_tcb_baselines_free(ccg_snp_tcb_baselines *set)
{
    if (set == NULL) {
        return;
    }
    for (size_t i = 0; i < sizeof(set->by_product) / sizeof(set->by_product[0]); i++) {
        ccg_snp_tcb_baseline_free(set->by_product[i]);
    }
    memset(set, 0, sizeof(*set));
}

ccg_result ccg_snp_tcb_baselines_add(ccg_snp_tcb_baselines *set, ccg_snp_tcb_baseline *b)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(b != NULL && b->product > CCG_SNP_PRODUCT_UNKNOWN && b->product <= CCG_SNP_PRODUCT_TURIN,
                   CCG_R_USAGE_INVALID, "a baseline names its product");
    /* One per product: which of two the verifier used would otherwise be a guess. */
    CCG_ENSURE_MSG(set->by_product[b->product] == NULL, CCG_R_USAGE_INVALID, "two TCB baselines for %s",
                   ccg_snp_product_name(b->product));
    set->by_product[b->product] = b;
    b = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_tcb_baseline_free(b);
    return result;
}

ccg_result ccg_snp_tcb_baselines_load(ccg_snp_tcb_baselines *set, const char *path)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_snp_tcb_baseline *b = NULL;
    CCG_TRY(ccg_file_read(path, BASELINE_MAX_BYTES, &text, &len));
    CCG_TRY(ccg_snp_tcb_baseline_parse((const char *)text, len, &b));
    CCG_TRY(ccg_snp_tcb_baselines_add(set, b));
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

ccg_time ccg_snp_tcb_baselines_valid_until(const ccg_snp_tcb_baselines *set)
{
    ccg_time until = INT64_MAX;
    for (size_t i = 0; set != NULL && i < sizeof(set->by_product) / sizeof(set->by_product[0]); i++) {
        const ccg_snp_tcb_baseline *b = set->by_product[i];
        until = b != NULL && b->not_after < until ? b->not_after : until;
    }
    return until;
}
