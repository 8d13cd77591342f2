/* Admin API: the strict parsers of admin request bodies (fuzz/fuzz_kbs_admin.c) and the ownership
 * checks: a key or policy belongs to the pair (issuer, subject) that created it (store owners). */
#include "kbs_admin.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_kds.h"

#define KBS_ADMIN_DOC_MAX (8u * 1024u * 1024u)

int kbs_admin_id_valid(const char *id)
{
    size_t n = id == NULL ? 0 : strlen(id);
    if (n == 0 || n > CCG_STORE_ID_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (id[i] <= 0x20 || id[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

/* The body as a JSON object whose members are all in `known`. */
static ccg_result load_object(const char *body, size_t len, const char *const *known, size_t n_known, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t jerr;
    const char *name;
    json_t *v;
    *out = NULL;
    CCG_ENSURE(len <= KBS_ADMIN_DOC_MAX, CCG_R_INPUT_TOO_LARGE);
    *out = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    CCG_ENSURE_MSG(*out != NULL && json_is_object(*out), CCG_R_ADMIN_REQUEST_MALFORMED,
                   "the admin request body is not a JSON object");
    json_object_foreach(*out, name, v) {
        int ok = 0;
        for (size_t i = 0; i < n_known; i++) {
            ok |= strcmp(name, known[i]) == 0;
        }
        CCG_ENSURE_MSG(ok, CCG_R_ADMIN_REQUEST_MALFORMED, "unknown member \"%.64s\"", name);
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        json_decref(*out);
        *out = NULL;
    }
    return result;
}

static ccg_result take_id(json_t *obj, const char *name, char *out, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    CCG_ENSURE_MSG(json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v) &&
                       kbs_admin_id_valid(json_string_value(v)) && json_string_length(v) < cap,
                   CCG_R_ADMIN_REQUEST_MALFORMED, "\"%s\" must be an ID (1..256 printable characters)", name);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result take_b64(json_t *obj, const char *name, size_t max, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) <= (max / 3 + 1) * 4,
                   CCG_R_ADMIN_REQUEST_MALFORMED, "\"%s\" must be base64url", name);
    CCG_TRY(ccg_b64url_decode(json_string_value(v), json_string_length(v), CCG_R_ADMIN_REQUEST_MALFORMED, out, len));
    CCG_ENSURE_MSG(*len > 0 && *len <= max, CCG_R_ADMIN_REQUEST_MALFORMED, "\"%s\" has a bad length", name);
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && *out != NULL) {
        ccg_secure_zero(*out, *len);
        free(*out);
        *out = NULL;
    }
    return result;
}

static ccg_result take_key(json_t *obj, int allow_unlocked, kbs_admin_key_doc *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL;
    size_t len = 0;
    CCG_TRY(take_b64(obj, "key", KBS_ADMIN_KEY_MAX, &raw, &len));
    CCG_ENSURE_MSG(len >= 16, CCG_R_ADMIN_REQUEST_MALFORMED, "\"key\" must be 16..%u bytes", KBS_ADMIN_KEY_MAX);
    CCG_TRY(ccg_secbuf_alloc(&out->key, len, allow_unlocked));
    memcpy(out->key.data, raw, len);
    result = CCG_SUCCESS;
cleanup:
    if (raw != NULL) {
        ccg_secure_zero(raw, len);
        free(raw);
    }
    return result;
}

/* Scrubs the key text inside the parsed document before it is freed. */
static void scrub_key_member(json_t *obj)
{
    json_t *v = json_object_get(obj, "key");
    if (json_is_string(v)) {
        ccg_secure_zero((void *)json_string_value(v), json_string_length(v));
    }
}

ccg_result kbs_admin_parse_key_import(const char *body, size_t len, int allow_unlocked, kbs_admin_key_doc *out)
{
    static const char *const known[] = {"key_id", "policy_id", "key"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, known, 3, &root));
    CCG_TRY(take_id(root, "key_id", out->key_id, sizeof(out->key_id)));
    CCG_TRY(take_id(root, "policy_id", out->policy_id, sizeof(out->policy_id)));
    CCG_TRY(take_key(root, allow_unlocked, out));
    result = CCG_SUCCESS;
cleanup:
    scrub_key_member(root);
    json_decref(root);
    if (ccg_failed(result)) {
        kbs_admin_key_doc_clear(out);
    }
    return result;
}

ccg_result kbs_admin_parse_key_rotate(const char *body, size_t len, int allow_unlocked, kbs_admin_key_doc *out)
{
    static const char *const known[] = {"key"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL;
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, known, 1, &root));
    CCG_TRY(take_key(root, allow_unlocked, out));
    result = CCG_SUCCESS;
cleanup:
    scrub_key_member(root);
    json_decref(root);
    if (ccg_failed(result)) {
        kbs_admin_key_doc_clear(out);
    }
    return result;
}

void kbs_admin_key_doc_clear(kbs_admin_key_doc *d)
{
    ccg_secbuf_free(&d->key);
    memset(d, 0, sizeof(*d));
}

/* Collateral under "snp/" is what SNP verification reads (kbs_collateral.c): its ID must name an item
 * (snp_kds.h) and its bytes must be that item (one certificate, a chain, a CRL), so nothing that cannot
 * serve is stored under a name verification looks up. Other IDs stay opaque blobs. */
static ccg_result check_snp_collateral(const kbs_admin_collateral_doc *d)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_kds_item item;
    memset(&item, 0, sizeof(item));
    if (strncmp(d->id, "snp/", 4) != 0) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(ccg_snp_kds_id_kind(d->id, &item.kind, &item.signer), CCG_R_ADMIN_REQUEST_MALFORMED,
                   "an SNP collateral ID is snp/{milan|genoa|turin}/ followed by vcek/{hwid hex}/{tcb, 16 hex}, "
                   "vlek/{tcb}, cert_chain, vlek_cert_chain, crl or vlek_crl (docs/kbs.md)");
    CCG_TRY(ccg_snp_kds_validate(&item, d->data, d->len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result kbs_admin_parse_collateral(const char *body, size_t len, kbs_admin_collateral_doc *out)
{
    static const char *const known[] = {"collateral_id", "version", "data"};
    ccg_result result = CCG_FAILURE;
    json_t *root = NULL, *v;
    memset(out, 0, sizeof(*out));
    CCG_TRY(load_object(body, len, known, 3, &root));
    CCG_TRY(take_id(root, "collateral_id", out->id, sizeof(out->id)));
    v = json_object_get(root, "version");
    CCG_ENSURE_MSG(json_is_integer(v) && json_integer_value(v) >= 1, CCG_R_ADMIN_REQUEST_MALFORMED,
                   "\"version\" must be an integer >= 1");
    out->version = json_integer_value(v);
    CCG_TRY(take_b64(root, "data", CCG_STORE_BLOB_MAX, &out->data, &out->len));
    CCG_TRY(check_snp_collateral(out));
    result = CCG_SUCCESS;
cleanup:
    json_decref(root);
    if (ccg_failed(result)) {
        kbs_admin_collateral_doc_clear(out);
    }
    return result;
}

void kbs_admin_collateral_doc_clear(kbs_admin_collateral_doc *d)
{
    free(d->data);
    memset(d, 0, sizeof(*d));
}

/* ---------------------------------------------------------------- ownership */

static int is_caller(const kbs_admin_call *c, const ccg_store_owner *o)
{
    return strcmp(o->issuer, c->who.issuer) == 0 && strcmp(o->subject, c->who.sub) == 0;
}

/* 1 when an object with this ID exists (its absence leaves the lookup's error, e.g. key.not_found). */
static int object_exists(kbs_admin_call *c, ccg_store_owned kind, const char *id)
{
    ccg_store_key key;
    ccg_store_doc doc;
    ccg_result r;
    memset(&key, 0, sizeof(key));
    memset(&doc, 0, sizeof(doc));
    r = kind == CCG_OWNED_KEY ? ccg_store_key_get(c->k->store, id, 0, &key)
                              : ccg_store_policy_get(c->k->store, id, 0, &doc);
    ccg_store_key_free(&key);
    ccg_store_doc_free(&doc);
    return ccg_ok(r);
}

/* -1 after answering (a lookup failed, or another's or a legacy object), 0 no owner, 1 the caller. */
static int owner_check(kbs_admin_call *c, ccg_store_owned kind, const char *id)
{
    ccg_store_owner o;
    int found = 0;
    if (ccg_failed(ccg_store_owner_get(c->k->store, kind, id, &o, &found))) {
        kbs_admin_fail(c);
        return -1;
    }
    if (!found) {
        return 0;
    }
    if (o.issuer[0] == 0) {
        kbs_admin_deny(c, CCG_R_ADMIN_OWNER_UNBOUND);
        return -1;
    }
    /* The owner is the pair: the same subject asserted by another issuer is someone else. */
    if (!is_caller(c, &o)) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
        return -1;
    }
    return 1;
}

int kbs_admin_owns(kbs_admin_call *c, ccg_store_owned kind, const char *id)
{
    int mine = owner_check(c, kind, id);
    if (mine != 0) {
        return mine == 1;
    }
    /* No owner recorded: provisioned outside the admin API (no provider may act on it) or absent. */
    if (object_exists(c, kind, id)) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN);
    } else {
        kbs_admin_fail(c);
    }
    return 0;
}

int kbs_admin_may_create(kbs_admin_call *c, ccg_store_owned kind, const char *id)
{
    int mine = owner_check(c, kind, id);
    if (mine != 0) {
        return mine == 1 ? 0 : -1;
    }
    if (object_exists(c, kind, id)) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN); /* provisioned outside the admin API */
        return -1;
    }
    ccg_error_clear();
    return 0;
}

int kbs_admin_claim(kbs_admin_call *c, ccg_store_owned kind, const char *id)
{
    ccg_store_owner me;
    int mine = 0;
    memset(&me, 0, sizeof(me));
    snprintf(me.issuer, sizeof(me.issuer), "%s", c->who.issuer);
    snprintf(me.subject, sizeof(me.subject), "%s", c->who.sub);
    if (ccg_failed(ccg_store_owner_claim(c->k->store, kind, id, &me, c->now, &mine))) {
        kbs_admin_fail(c);
        return 0;
    }
    if (!mine) {
        kbs_admin_deny(c, CCG_R_ADMIN_FORBIDDEN); /* another provider claimed it first */
        return 0;
    }
    return 1;
}

int kbs_admin_policy_reserved(const ccg_kbs *k, const char *policy_id)
{
    return k->attestation_policy != NULL && policy_id != NULL && strcmp(k->attestation_policy, policy_id) == 0;
}
