/* TDX collateral: the dcap-qvl JSON bundle, Intel PCS responses inside it, and the cache directory
 * keyed by FMSPC (docs/tdx-quote.md, "Collateral"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/x509util.h"
#include "tdx_internal.h"

void ccg_tdx_collateral_free(ccg_tdx_collateral *c)
{
    if (c == NULL) {
        return;
    }
    free(c->tcb_info);
    free(c->tcb_info_issuer_chain);
    free(c->qe_identity);
    free(c->qe_identity_issuer_chain);
    free(c->pck_crl);
    free(c->pck_crl_issuer_chain);
    free(c->root_ca_crl);
    memset(c, 0, sizeof(*c));
}

static ccg_result dup_bytes(const char *s, size_t n, char **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    *out = malloc(n + 1);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, s, n);
    (*out)[n] = '\0';
    *out_len = n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_string(json_t *doc, const char *key, const char **s, size_t *n)
{
    ccg_result result = CCG_FAILURE;
    json_t *v = json_object_get(doc, key);
    CCG_ENSURE_MSG(json_is_string(v) && json_string_length(v) > 0, CCG_R_TDX_COLLATERAL_MALFORMED,
                   "collateral member \"%s\" is missing or not a non-empty string", key);
    *s = json_string_value(v);
    *n = json_string_length(v);
    CCG_ENSURE_MSG(strlen(*s) == *n, CCG_R_TDX_COLLATERAL_MALFORMED, "collateral member \"%s\" holds a NUL", key);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result get_sig(json_t *doc, const char *key, uint8_t sig[64])
{
    ccg_result result = CCG_FAILURE;
    const char *s = NULL;
    size_t n = 0;
    CCG_TRY(get_string(doc, key, &s, &n));
    CCG_ENSURE_MSG(n == 128 && ccg_hex_is_valid(s, 64), CCG_R_TDX_COLLATERAL_MALFORMED,
                   "\"%s\" is not 128 hex digits (ECDSA P-256 R||S)", key);
    CCG_TRY(ccg_hex_decode_exact(s, sig, 64));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A CRL as PEM text, or as hex of its DER (dcap-qvl's form). */
static ccg_result get_crl(json_t *doc, const char *key, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    const char *s = NULL;
    size_t n = 0;
    CCG_TRY(get_string(doc, key, &s, &n));
    if (strncmp(s, "-----BEGIN", 10) == 0) {
        CCG_TRY(dup_bytes(s, n, (char **)out, out_len));
    } else if (ccg_failed(ccg_hex_decode_text(s, n, out, out_len))) {
        CCG_BAIL(CCG_R_TDX_COLLATERAL_MALFORMED, "\"%s\" is neither PEM nor hex DER", key);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* An Intel PCS response {"<member>": {...}, "signature": "<hex>"}: the member's raw bytes are kept. */
static ccg_result pcs_response(json_t *doc, const char *key, const char *member, char **body, size_t *body_len,
                               uint8_t sig[64])
{
    ccg_result result = CCG_FAILURE;
    const char *s = NULL, *raw = NULL;
    size_t n = 0, raw_len = 0;
    json_error_t err;
    json_t *resp = NULL;
    CCG_TRY(get_string(doc, key, &s, &n));
    resp = json_loadb(s, n, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(json_is_object(resp) && json_object_size(resp) == 2, CCG_R_TDX_COLLATERAL_MALFORMED,
                   "\"%s\" is not {\"%s\", \"signature\"}", key, member);
    CCG_TRY(get_sig(resp, "signature", sig));
    CCG_TRY(tdx_raw_member(s, n, member, &raw, &raw_len));
    CCG_ENSURE_MSG(raw_len > 0 && raw[0] == '{', CCG_R_TDX_COLLATERAL_MALFORMED, "\"%s\".%s is not an object", key,
                   member);
    CCG_TRY(dup_bytes(raw, raw_len, body, body_len));
    result = CCG_SUCCESS;
cleanup:
    json_decref(resp);
    return result;
}

static const char *const KNOWN[] = {"tcb_info", "tcb_info_signature", "tcb_info_issuer_chain", "qe_identity",
                                    "qe_identity_signature", "qe_identity_issuer_chain", "pck_crl",
                                    "pck_crl_issuer_chain", "root_ca_crl", "tcb_info_response",
                                    "qe_identity_response"};

static ccg_result check_keys(json_t *doc)
{
    ccg_result result = CCG_FAILURE;
    const char *key;
    json_t *v;
    json_object_foreach(doc, key, v) {
        int known = 0;
        for (size_t i = 0; i < sizeof(KNOWN) / sizeof(KNOWN[0]) && !known; i++) {
            known = strcmp(key, KNOWN[i]) == 0;
        }
        CCG_ENSURE_MSG(known, CCG_R_TDX_COLLATERAL_MALFORMED, "unknown collateral member \"%s\"", key);
    }
    /* Either the dcap-qvl pair or the PCS response, never both. */
    CCG_ENSURE_MSG(json_object_get(doc, "tcb_info_response") == NULL || json_object_get(doc, "tcb_info") == NULL,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "tcb_info and tcb_info_response are exclusive");
    CCG_ENSURE_MSG(json_object_get(doc, "qe_identity_response") == NULL || json_object_get(doc, "qe_identity") == NULL,
                   CCG_R_TDX_COLLATERAL_MALFORMED, "qe_identity and qe_identity_response are exclusive");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result signed_doc(json_t *doc, const char *name, const char *member, char **body, size_t *len,
                             uint8_t sig[64])
{
    ccg_result result = CCG_FAILURE;
    char resp_key[64], sig_key[64];
    const char *s = NULL;
    size_t n = 0;
    snprintf(resp_key, sizeof(resp_key), "%s_response", name);
    snprintf(sig_key, sizeof(sig_key), "%s_signature", name);
    if (json_object_get(doc, resp_key) != NULL) {
        CCG_TRY(pcs_response(doc, resp_key, member, body, len, sig));
    } else {
        CCG_TRY(get_string(doc, name, &s, &n));
        CCG_TRY(get_sig(doc, sig_key, sig));
        CCG_TRY(dup_bytes(s, n, body, len));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_collateral_parse(const char *text, size_t len, ccg_tdx_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    json_t *doc = NULL;
    const char *s = NULL;
    size_t n = 0;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(len <= CCG_TDX_COLLATERAL_MAX, CCG_R_INPUT_TOO_LARGE, "collateral of %zu bytes", len);
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_TDX_COLLATERAL_MALFORMED, "collateral is not a JSON object: %s",
                   doc == NULL ? err.text : "wrong type");
    CCG_TRY(check_keys(doc));
    CCG_TRY(signed_doc(doc, "tcb_info", "tcbInfo", &out->tcb_info, &out->tcb_info_len, out->tcb_info_sig));
    CCG_TRY(signed_doc(doc, "qe_identity", "enclaveIdentity", &out->qe_identity, &out->qe_identity_len,
                       out->qe_identity_sig));
    CCG_TRY(get_string(doc, "tcb_info_issuer_chain", &s, &n));
    CCG_TRY(dup_bytes(s, n, &out->tcb_info_issuer_chain, &out->tcb_info_issuer_chain_len));
    CCG_TRY(get_string(doc, "qe_identity_issuer_chain", &s, &n));
    CCG_TRY(dup_bytes(s, n, &out->qe_identity_issuer_chain, &out->qe_identity_issuer_chain_len));
    CCG_TRY(get_string(doc, "pck_crl_issuer_chain", &s, &n));
    CCG_TRY(dup_bytes(s, n, &out->pck_crl_issuer_chain, &out->pck_crl_issuer_chain_len));
    CCG_TRY(get_crl(doc, "pck_crl", &out->pck_crl, &out->pck_crl_len));
    CCG_TRY(get_crl(doc, "root_ca_crl", &out->root_ca_crl, &out->root_ca_crl_len));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_tdx_collateral_free(out);
    }
    json_decref(doc);
    return result;
}

static void cache_path(const char *dir, const uint8_t fmspc[6], char *out, size_t n)
{
    char hex[13];
    ccg_hex_encode(fmspc, 6, hex);
    for (char *c = hex; *c; c++) {
        *c = (char)(*c >= 'a' && *c <= 'f' ? *c - 32 : *c);
    }
    snprintf(out, n, "%s/%s.json", dir, hex);
}

/* The nextUpdate of a signed document in the bundle, read without judging its signature (that is
 * the verifier's job): an expired cache entry is refused before it is used. */
static ccg_result check_next_update(const char *json, size_t len, const char *item, ccg_time now, const char *path)
{
    ccg_result result = CCG_FAILURE;
    json_error_t err;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &err);
    ccg_time next = 0;
    CCG_ENSURE_MSG(json_is_object(doc), CCG_R_TDX_COLLATERAL_MALFORMED, "%s in %s is not a JSON object", item, path);
    CCG_TRY(tdx_json_time(doc, "nextUpdate", &next));
    CCG_ENSURE_MSG(now <= next, CCG_R_COLLATERAL_EXPIRED, "cached %s (%s) is past its nextUpdate: refresh the cache",
                   item, path);
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    return result;
}

/* A CRL's nextUpdate, likewise: a cached CRL that expired must be refreshed too. */
static ccg_result check_crl_next_update(const uint8_t *der, size_t len, const char *item, ccg_time now,
                                        const char *path)
{
    ccg_result result = CCG_FAILURE;
    X509_CRL *crl = NULL;
    ccg_time next = 0;
    if (ccg_failed(ccg_x509_load_crl(der, len, &crl))) {
        ccg_error_clear();
        CCG_BAIL(CCG_R_TDX_COLLATERAL_MALFORMED, "%s in %s is not a CRL", item, path);
    }
    CCG_ENSURE_MSG(X509_CRL_get0_nextUpdate(crl) != NULL && ccg_ok(ccg_x509_time(X509_CRL_get0_nextUpdate(crl), &next)),
                   CCG_R_TDX_COLLATERAL_MALFORMED, "%s in %s has no nextUpdate", item, path);
    CCG_ENSURE_MSG(now <= next, CCG_R_COLLATERAL_EXPIRED, "cached %s (%s) is past its nextUpdate: refresh the cache",
                   item, path);
    result = CCG_SUCCESS;
cleanup:
    X509_CRL_free(crl);
    return result;
}

ccg_result ccg_tdx_collateral_load_dir(const char *dir, const uint8_t fmspc[6], ccg_time now,
                                       ccg_tdx_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    uint8_t *text = NULL;
    size_t len = 0;
    memset(out, 0, sizeof(*out));
    cache_path(dir, fmspc, path, sizeof(path));
    CCG_ENSURE_MSG(access(path, F_OK) == 0, CCG_R_COLLATERAL_MISSING, "no cached TDX collateral %s", path);
    CCG_TRY(ccg_file_read(path, CCG_TDX_COLLATERAL_MAX, &text, &len));
    CCG_TRY(ccg_tdx_collateral_parse((const char *)text, len, out));
    CCG_TRY(check_next_update(out->tcb_info, out->tcb_info_len, "tcb_info", now, path));
    CCG_TRY(check_next_update(out->qe_identity, out->qe_identity_len, "qe_identity", now, path));
    CCG_TRY(check_crl_next_update(out->pck_crl, out->pck_crl_len, "pck_crl", now, path));
    CCG_TRY(check_crl_next_update(out->root_ca_crl, out->root_ca_crl_len, "root_ca_crl", now, path));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_tdx_collateral_free(out);
    }
    free(text);
    return result;
}

ccg_result ccg_tdx_collateral_fmspc(const ccg_tdx_collateral *c, uint8_t fmspc[6])
{
    ccg_result result = CCG_FAILURE;
    tdx_tcb_info *info = calloc(1, sizeof(*info));
    CCG_ENSURE_ALLOC(info);
    CCG_TRY(tdx_tcb_info_parse(c->tcb_info, c->tcb_info_len, info));
    memcpy(fmspc, info->fmspc, 6);
    result = CCG_SUCCESS;
cleanup:
    free(info);
    return result;
}

ccg_result ccg_tdx_collateral_store_dir(const char *dir, const char *text, size_t len)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_collateral col;
    tdx_tcb_info *info = calloc(1, sizeof(*info));
    char path[4096], tmp[4200];
    memset(&col, 0, sizeof(col));
    CCG_ENSURE_ALLOC(info);
    CCG_TRY(ccg_tdx_collateral_parse(text, len, &col));
    CCG_TRY(tdx_tcb_info_parse(col.tcb_info, col.tcb_info_len, info));
    cache_path(dir, info->fmspc, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    CCG_TRY(ccg_file_write(tmp, (const uint8_t *)text, len));
    if (rename(tmp, path) != 0) {
        (void)unlink(tmp);
        CCG_BAIL(CCG_R_COLLATERAL_CACHE_ERROR, "cannot rename into %s: %s", path, strerror(errno));
    }
    result = CCG_SUCCESS;
cleanup:
    free(info);
    ccg_tdx_collateral_free(&col);
    return result;
}
