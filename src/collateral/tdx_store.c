/* TDX collateral from a store of named blobs (tdx_collateral_store.h): one ID per PCS item, joined into
 * the dcap-qvl bundle the file and the cache directory hold, so one parser and one verifier judge every
 * source alike. */
#include <jansson.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ccgate/error.h"
#include "ccgate/tdx_collateral_store.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

enum { ITEM_TCB_INFO, ITEM_QE_IDENTITY, ITEM_PCK_CRL, ITEM_ROOT_CA_CRL };

/* The bundle members each item may hold; an item's blob holds one of its forms (checked by the join's
 * parse, and by item_check at upload). */
static const char *const MEMBERS[CCG_TDX_COLLATERAL_ITEMS][4] = {
    {"tcb_info_response", "tcb_info", "tcb_info_signature", "tcb_info_issuer_chain"},
    {"qe_identity_response", "qe_identity", "qe_identity_signature", "qe_identity_issuer_chain"},
    {"pck_crl", "pck_crl_issuer_chain", NULL, NULL},
    {"root_ca_crl", NULL, NULL, NULL},
};

static int member_of(int item, const char *key)
{
    for (size_t i = 0; i < 4 && MEMBERS[item][i] != NULL; i++) {
        if (strcmp(MEMBERS[item][i], key) == 0) {
            return 1;
        }
    }
    return 0;
}

static void upper_hex(const uint8_t *b, size_t n, char *out)
{
    ccg_hex_encode(b, n, out);
    for (char *c = out; *c; c++) {
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
    }
}

ccg_result ccg_tdx_collateral_ids(const uint8_t *quote, size_t quote_len,
                                  char ids[CCG_TDX_COLLATERAL_ITEMS][CCG_TDX_COLLATERAL_ID_MAX])
{
    ccg_result result = CCG_FAILURE;
    uint8_t fmspc[6];
    char hex[13], ca[16];
    CCG_TRY(ccg_tdx_quote_fmspc(quote, quote_len, fmspc));
    CCG_TRY(ccg_tdx_quote_pck_ca(quote, quote_len, ca));
    upper_hex(fmspc, sizeof(fmspc), hex);
    snprintf(ids[ITEM_TCB_INFO], CCG_TDX_COLLATERAL_ID_MAX, "tdx/tcb_info/%s", hex);
    snprintf(ids[ITEM_QE_IDENTITY], CCG_TDX_COLLATERAL_ID_MAX, "tdx/qe_identity");
    snprintf(ids[ITEM_PCK_CRL], CCG_TDX_COLLATERAL_ID_MAX, "tdx/pck_crl/%.9s", ca);
    snprintf(ids[ITEM_ROOT_CA_CRL], CCG_TDX_COLLATERAL_ID_MAX, "tdx/root_ca_crl");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One item's blob: a JSON object of that item's members only. */
static ccg_result load_item(int item, const char *id, const uint8_t *data, size_t len, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    const char *key;
    json_t *v;
    json_t *doc = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &err);
    *out = NULL;
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_TDX_COLLATERAL_MALFORMED,
                   "collateral %s is not a JSON object of its bundle members (docs/tdx-quote.md)", id);
    json_object_foreach(doc, key, v) {
        CCG_ENSURE_MSG(member_of(item, key), CCG_R_TDX_COLLATERAL_MALFORMED,
                       "collateral %s holds \"%.64s\", not a member of its item", id, key);
        CCG_ENSURE_MSG(json_is_string(v), CCG_R_TDX_COLLATERAL_MALFORMED, "collateral %s: \"%.64s\" is not a string",
                       id, key);
    }
    *out = doc;
    doc = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    return result;
}

/* Appends "id" to a list of absent IDs kept for the message. */
static void note_absent(char *list, size_t n, const char *id)
{
    size_t used = strlen(list);
    snprintf(list + used, n - used, "%s%s", used > 0 ? ", " : "", id);
}

ccg_result ccg_tdx_collateral_from_lookup(ccg_tdx_collateral_lookup lookup, void *ctx, const uint8_t *quote,
                                          size_t quote_len, ccg_tdx_collateral *out, int *found)
{
    ccg_result result = CCG_FAILURE;
    char ids[CCG_TDX_COLLATERAL_ITEMS][CCG_TDX_COLLATERAL_ID_MAX];
    char absent[CCG_TDX_COLLATERAL_ITEMS * CCG_TDX_COLLATERAL_ID_MAX + 16] = "";
    json_t *bundle = json_object(), *part = NULL;
    char *text = NULL;
    uint8_t *blob = NULL;
    size_t blob_len = 0, have = 0;
    memset(out, 0, sizeof(*out));
    *found = 0;
    CCG_ENSURE_ALLOC(bundle);
    if (ccg_failed(ccg_tdx_collateral_ids(quote, quote_len, ids))) {
        /* no PCK to name the items by: nothing uploaded can serve, and the verifier names the quote's
         * defect with its own code, as it would for a file */
        ccg_error_clear();
        result = CCG_SUCCESS;
        goto cleanup;
    }
    for (int i = 0; i < CCG_TDX_COLLATERAL_ITEMS; i++) {
        int hit = 0;
        CCG_TRY(lookup(ctx, ids[i], &blob, &blob_len, &hit));
        if (!hit) {
            note_absent(absent, sizeof(absent), ids[i]);
            continue;
        }
        have++;
        CCG_TRY(load_item(i, ids[i], blob, blob_len, &part));
        CCG_ENSURE(json_object_update(bundle, part) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
        json_decref(part);
        part = NULL;
        free(blob);
        blob = NULL;
    }
    if (have == 0) {
        result = CCG_SUCCESS; /* nothing uploaded for this quote: other sources may serve */
        goto cleanup;
    }
    CCG_ENSURE_MSG(have == CCG_TDX_COLLATERAL_ITEMS, CCG_R_COLLATERAL_MISSING,
                   "uploaded TDX collateral is incomplete: upload %s (docs/kbs.md, \"Uploaded collateral\")", absent);
    text = json_dumps(bundle, JSON_COMPACT);
    CCG_ENSURE_ALLOC(text);
    CCG_TRY(ccg_tdx_collateral_parse(text, strlen(text), out));
    *found = 1;
    result = CCG_SUCCESS;
cleanup:
    free(blob);
    free(text);
    json_decref(part);
    json_decref(bundle);
    return result;
}

int ccg_tdx_collateral_id_is_tdx(const char *collateral_id)
{
    return strncmp(collateral_id, "tdx/", 4) == 0;
}

/* The item an upload's ID names, or -1. */
static int item_of(const char *id)
{
    size_t n = strlen(id);
    if (strcmp(id, "tdx/qe_identity") == 0) {
        return ITEM_QE_IDENTITY;
    }
    if (strcmp(id, "tdx/root_ca_crl") == 0) {
        return ITEM_ROOT_CA_CRL;
    }
    if (strcmp(id, "tdx/pck_crl/platform") == 0 || strcmp(id, "tdx/pck_crl/processor") == 0) {
        return ITEM_PCK_CRL;
    }
    if (n == 13 + 12 && strncmp(id, "tdx/tcb_info/", 13) == 0) {
        for (size_t i = 13; i < n; i++) {
            if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'A' && id[i] <= 'F'))) {
                return -1;
            }
        }
        return ITEM_TCB_INFO;
    }
    return -1;
}

static const char *string_of(json_t *doc, const char *key) { return json_string_value(json_object_get(doc, key)); }

/* A PEM bundle of certificates: at least the signer and the root. */
static ccg_result check_chain(const char *id, const char *pem)
{
    ccg_result result = CCG_FAILURE;
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    if (pem == NULL || ccg_failed(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs)) ||
        sk_X509_num(certs) < 2) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_TDX_COLLATERAL_MALFORMED, "collateral %s: the issuer chain is not PEM certificates (signer, root)",
                 id);
    }
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    return result;
}

static ccg_result check_next_update(const char *id, const char *what, ccg_time next, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    char when[32];
    ccg_time_format_rfc3339(next, when, sizeof(when));
    CCG_ENSURE_MSG(now <= next, CCG_R_COLLATERAL_EXPIRED, "collateral %s: the %s is past its nextUpdate (%s)", id, what,
                   when);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A CRL, PEM or hex of its DER (the bundle's forms), current at now. */
static ccg_result check_crl(const char *id, const char *text, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *der = NULL;
    size_t der_len = 0;
    X509_CRL *crl = NULL;
    ccg_time next = 0;
    int ok = text != NULL;
    if (ok && strncmp(text, "-----BEGIN", 10) == 0) {
        ok = ccg_ok(ccg_x509_load_crl((const uint8_t *)text, strlen(text), &crl));
    } else if (ok) {
        ok = ccg_ok(ccg_hex_decode_text(text, strlen(text), &der, &der_len)) &&
             ccg_ok(ccg_x509_load_crl(der, der_len, &crl));
    }
    ok = ok && X509_CRL_get0_nextUpdate(crl) != NULL && ccg_ok(ccg_x509_time(X509_CRL_get0_nextUpdate(crl), &next));
    if (!ok) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_TDX_COLLATERAL_MALFORMED, "collateral %s: not a CRL with a nextUpdate (PEM or hex DER)", id);
    }
    CCG_TRY(check_next_update(id, "CRL", next, now));
    result = CCG_SUCCESS;
cleanup:
    X509_CRL_free(crl);
    free(der);
    return result;
}

/* A signed document in either form: the PCS response {"<member>": {...}, "signature"} or the pair
 * (document, signature). Returns the document (borrowed from *holder) for its own checks. */
static ccg_result signed_member(const char *id, json_t *doc, const char *name, const char *member, json_t **holder,
                                json_t **signed_obj)
{
    ccg_result result = CCG_FAILURE;
    char key[48];
    const char *text, *sig;
    snprintf(key, sizeof(key), "%s_response", name);
    text = string_of(doc, key);
    if (text != NULL) {
        CCG_ENSURE_MSG(json_object_get(doc, name) == NULL, CCG_R_TDX_COLLATERAL_MALFORMED,
                       "collateral %s: %s and %s are exclusive", id, name, key);
        *holder = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        CCG_ENSURE_MSG(json_is_object(*holder) && json_object_size(*holder) == 2, CCG_R_TDX_COLLATERAL_MALFORMED,
                       "collateral %s: %s is not {\"%s\", \"signature\"}", id, key, member);
        *signed_obj = json_object_get(*holder, member);
        sig = string_of(*holder, "signature");
    } else {
        snprintf(key, sizeof(key), "%s_signature", name);
        text = string_of(doc, name);
        CCG_ENSURE_MSG(text != NULL, CCG_R_TDX_COLLATERAL_MALFORMED, "collateral %s: neither %s_response nor %s", id,
                       name, name);
        *holder = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
        *signed_obj = *holder;
        sig = string_of(doc, key);
    }
    CCG_ENSURE_MSG(json_is_object(*signed_obj), CCG_R_TDX_COLLATERAL_MALFORMED, "collateral %s: %s is not an object",
                   id, member);
    CCG_ENSURE_MSG(sig != NULL && strlen(sig) == 128 && ccg_hex_is_valid(sig, 64), CCG_R_TDX_COLLATERAL_MALFORMED,
                   "collateral %s: the %s signature is not 128 hex digits (ECDSA P-256 R||S)", id, name);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result check_signed(const char *id, json_t *doc, const char *name, const char *member, ccg_time now,
                               const char *fmspc)
{
    ccg_result result = CCG_FAILURE;
    json_t *holder = NULL, *obj = NULL;
    ccg_time next = 0;
    char chain_key[48];
    CCG_TRY(signed_member(id, doc, name, member, &holder, &obj));
    CCG_ENSURE_MSG(json_is_string(json_object_get(obj, "nextUpdate")) &&
                       ccg_ok(ccg_time_parse_rfc3339(string_of(obj, "nextUpdate"), &next)),
                   CCG_R_TDX_COLLATERAL_MALFORMED, "collateral %s: %s has no nextUpdate", id, member);
    if (fmspc != NULL) {
        const char *named = string_of(obj, "fmspc");
        CCG_ENSURE_MSG(named != NULL && strcasecmp(named, fmspc) == 0, CCG_R_TDX_COLLATERAL_MALFORMED,
                       "collateral %s: the TCB info is for FMSPC %.16s", id, named != NULL ? named : "(none)");
    }
    CCG_TRY(check_next_update(id, member, next, now));
    snprintf(chain_key, sizeof(chain_key), "%s_issuer_chain", name);
    CCG_TRY(check_chain(id, string_of(doc, chain_key)));
    result = CCG_SUCCESS;
cleanup:
    json_decref(holder);
    return result;
}

ccg_result ccg_tdx_collateral_item_check(const char *collateral_id, const uint8_t *data, size_t len, ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    json_t *doc = NULL;
    int item = item_of(collateral_id);
    CCG_ENSURE_MSG(item >= 0, CCG_R_ADMIN_REQUEST_MALFORMED,
                   "a TDX collateral ID is tdx/tcb_info/{FMSPC, 12 uppercase hex}, tdx/qe_identity, "
                   "tdx/pck_crl/{platform|processor} or tdx/root_ca_crl (docs/kbs.md)");
    CCG_TRY(load_item(item, collateral_id, data, len, &doc));
    switch (item) {
    case ITEM_TCB_INFO:
        CCG_TRY(check_signed(collateral_id, doc, "tcb_info", "tcbInfo", now, collateral_id + 13));
        break;
    case ITEM_QE_IDENTITY:
        CCG_TRY(check_signed(collateral_id, doc, "qe_identity", "enclaveIdentity", now, NULL));
        break;
    case ITEM_PCK_CRL:
        CCG_TRY(check_crl(collateral_id, string_of(doc, "pck_crl"), now));
        CCG_TRY(check_chain(collateral_id, string_of(doc, "pck_crl_issuer_chain")));
        break;
    default:
        CCG_TRY(check_crl(collateral_id, string_of(doc, "root_ca_crl"), now));
        break;
    }
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    return result;
}
