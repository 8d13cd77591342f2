/* The SGX extension of a PCK certificate (OID 1.2.840.113741.1.13.1), read with OpenSSL's generic
 * ASN.1 types: a SEQUENCE of SEQUENCE { OID, value }. ccgate needs the TCB (.2: SGX components .2.1 to
 * .2.16, PCESVN .2.17, CPUSVN .2.18), the PCE-ID (.3) and the FMSPC (.4); each must appear once. */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

#include "ccgate/x509util.h"
#include "tdx_internal.h"

#define SGX_EXT_OID "1.2.840.113741.1.13.1"

/* Each member of a SEQUENCE { OID, value } list, by the last arc of its OID under `parent`. */
typedef int (*member_fn)(int arc, const ASN1_TYPE *value, void *ctx);

static int arc_of(const ASN1_OBJECT *obj, const char *parent)
{
    char text[80];
    size_t plen = strlen(parent);
    int n = OBJ_obj2txt(text, sizeof(text), obj, 1);
    if (n <= 0 || (size_t)n >= sizeof(text) || strncmp(text, parent, plen) != 0 || text[plen] != '.') {
        return -1;
    }
    char *end = NULL;
    long arc = strtol(text + plen + 1, &end, 10);
    return *end == '\0' && arc > 0 && arc < 64 ? (int)arc : -1;
}

static ccg_result walk(const unsigned char *der, long len, const char *parent, member_fn fn, void *ctx)
{
    ccg_result result = CCG_FAILURE;
    const unsigned char *p = der;
    STACK_OF(ASN1_TYPE) *seq = d2i_ASN1_SEQUENCE_ANY(NULL, &p, len);
    STACK_OF(ASN1_TYPE) *pair = NULL;
    CCG_ENSURE_MSG(seq != NULL && p == der + len, CCG_R_TDX_PCK_EXTENSION_INVALID, "%s is not a DER SEQUENCE", parent);
    for (int i = 0; i < sk_ASN1_TYPE_num(seq); i++) {
        const ASN1_TYPE *item = sk_ASN1_TYPE_value(seq, i);
        CCG_ENSURE_MSG(item->type == V_ASN1_SEQUENCE, CCG_R_TDX_PCK_EXTENSION_INVALID, "member %d of %s", i, parent);
        const unsigned char *q = item->value.sequence->data;
        long qlen = item->value.sequence->length;
        pair = d2i_ASN1_SEQUENCE_ANY(NULL, &q, qlen);
        CCG_ENSURE_MSG(pair != NULL && q == item->value.sequence->data + qlen && sk_ASN1_TYPE_num(pair) == 2 &&
                           sk_ASN1_TYPE_value(pair, 0)->type == V_ASN1_OBJECT,
                       CCG_R_TDX_PCK_EXTENSION_INVALID, "member %d of %s is not { OID, value }", i, parent);
        int arc = arc_of(sk_ASN1_TYPE_value(pair, 0)->value.object, parent);
        CCG_ENSURE_MSG(arc > 0, CCG_R_TDX_PCK_EXTENSION_INVALID, "member %d of %s has a foreign OID", i, parent);
        CCG_ENSURE_MSG(fn(arc, sk_ASN1_TYPE_value(pair, 1), ctx), CCG_R_TDX_PCK_EXTENSION_INVALID,
                       "member %s.%d is malformed or repeated", parent, arc);
        sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
        pair = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    ERR_clear_error();
    sk_ASN1_TYPE_pop_free(pair, ASN1_TYPE_free);
    sk_ASN1_TYPE_pop_free(seq, ASN1_TYPE_free);
    return result;
}

typedef struct {
    tdx_pck_tcb *out;
    uint32_t seen;   /* top-level arcs */
    uint32_t tcb_seen; /* TCB arcs 1..18 */
} pck_ctx;

static int small_int(const ASN1_TYPE *v, long max, long *out)
{
    int64_t x = 0;
    if (v->type != V_ASN1_INTEGER || ASN1_INTEGER_get_int64(&x, v->value.integer) != 1 || x < 0 ||
        x > max) {
        return 0;
    }
    *out = (long)x;
    return 1;
}

static int octets(const ASN1_TYPE *v, uint8_t *out, int n)
{
    if (v->type != V_ASN1_OCTET_STRING || v->value.octet_string->length != n) {
        return 0;
    }
    memcpy(out, v->value.octet_string->data, (size_t)n);
    return 1;
}

static int tcb_member(int arc, const ASN1_TYPE *v, void *vctx)
{
    pck_ctx *c = vctx;
    long x = 0;
    if (arc > 18) {
        return 1; /* unknown TCB members are ignored (future components) */
    }
    if ((c->tcb_seen & (1u << arc)) != 0) {
        return 0;
    }
    c->tcb_seen |= 1u << arc;
    if (arc <= 16) {
        if (!small_int(v, 255, &x)) {
            return 0;
        }
        c->out->sgx_components[arc - 1] = (uint8_t)x;
        return 1;
    }
    if (arc == 17) {
        if (!small_int(v, 65535, &x)) {
            return 0;
        }
        c->out->pcesvn = (uint16_t)x;
        return 1;
    }
    return octets(v, c->out->cpusvn, 16);
}

static int top_member(int arc, const ASN1_TYPE *v, void *vctx)
{
    pck_ctx *c = vctx;
    if (arc < 32 && (c->seen & (1u << arc)) != 0) {
        return 0;
    }
    if (arc < 32) {
        c->seen |= 1u << arc;
    }
    switch (arc) {
    case 2:
        return v->type == V_ASN1_SEQUENCE &&
               ccg_ok(walk(v->value.sequence->data, v->value.sequence->length, SGX_EXT_OID ".2", tcb_member, c));
    case 3: return octets(v, c->out->pce_id, 2);
    case 4: return octets(v, c->out->fmspc, 6);
    default: return 1; /* PPID, SGX type, platform instance, configuration: not used */
    }
}

ccg_result tdx_pck_extension(X509 *pck, tdx_pck_tcb *out)
{
    ccg_result result = CCG_FAILURE;
    ASN1_OBJECT *oid = OBJ_txt2obj(SGX_EXT_OID, 1);
    pck_ctx c = {.out = out};
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_ALLOC(oid);
    int idx = X509_get_ext_by_OBJ(pck, oid, -1);
    CCG_ENSURE_MSG(idx >= 0, CCG_R_TDX_PCK_EXTENSION_INVALID, "the PCK certificate has no SGX extension");
    CCG_ENSURE_MSG(X509_get_ext_by_OBJ(pck, oid, idx) < 0, CCG_R_TDX_PCK_EXTENSION_INVALID,
                   "the PCK certificate has two SGX extensions");
    const ASN1_OCTET_STRING *data = X509_EXTENSION_get_data(X509_get_ext(pck, idx));
    CCG_ENSURE_MSG(data != NULL, CCG_R_TDX_PCK_EXTENSION_INVALID, "empty SGX extension");
    CCG_TRY(walk(data->data, data->length, SGX_EXT_OID, top_member, &c));
    CCG_ENSURE_MSG((c.seen & 0x1c) == 0x1c, CCG_R_TDX_PCK_EXTENSION_INVALID,
                   "the SGX extension lacks the TCB, PCE-ID or FMSPC");
    CCG_ENSURE_MSG(c.tcb_seen == 0x7fffe, CCG_R_TDX_PCK_EXTENSION_INVALID,
                   "the SGX extension's TCB lacks a component, the PCESVN or the CPUSVN");
    result = CCG_SUCCESS;
cleanup:
    ASN1_OBJECT_free(oid);
    return result;
}

ccg_result ccg_tdx_quote_fmspc(const uint8_t *quote, size_t quote_len, uint8_t fmspc[6])
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_quote q;
    tdx_pck_tcb tcb;
    STACK_OF(X509) *chain = sk_X509_new_null();
    CCG_ENSURE_ALLOC(chain);
    CCG_TRY(ccg_tdx_quote_parse(quote, quote_len, &q));
    CCG_TRY(ccg_x509_load_bundle(q.pck_chain, q.pck_chain_len, chain));
    CCG_TRY(tdx_pck_extension(sk_X509_value(chain, 0), &tcb));
    memcpy(fmspc, tcb.fmspc, 6);
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(chain, X509_free);
    return result;
}

/* Intel names the PCK's issuer "Intel SGX PCK Platform CA" or "Intel SGX PCK Processor CA", and PCS
 * serves a PCK CRL per CA (ca=platform, ca=processor). Read from the quote's (not yet trusted) chain:
 * it only picks which CRL to fetch; the verifier checks the CRL's issuer. */
ccg_result ccg_tdx_quote_pck_ca(const uint8_t *quote, size_t quote_len, char ca[16])
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_quote q;
    char cn[256];
    STACK_OF(X509) *chain = sk_X509_new_null();
    CCG_ENSURE_ALLOC(chain);
    CCG_TRY(ccg_tdx_quote_parse(quote, quote_len, &q));
    CCG_TRY(ccg_x509_load_bundle(q.pck_chain, q.pck_chain_len, chain));
    CCG_ENSURE_MSG(sk_X509_num(chain) >= 1 &&
                       X509_NAME_get_text_by_NID(X509_get_issuer_name(sk_X509_value(chain, 0)), NID_commonName, cn,
                                                 sizeof(cn)) > 0,
                   CCG_R_TDX_CERT_CHAIN_INVALID, "the quote's PCK certificate names no issuer");
    if (strstr(cn, "PCK Platform CA") != NULL) {
        snprintf(ca, 16, "platform");
    } else if (strstr(cn, "PCK Processor CA") != NULL) {
        snprintf(ca, 16, "processor");
    } else {
        CCG_BAIL(CCG_R_TDX_CERT_CHAIN_INVALID, "the PCK's CA \"%.64s\" is neither a PCK Platform nor a Processor CA", cn);
    }
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(chain, X509_free);
    return result;
}
