/* The software TD's collateral (docs/tdx-emulator.md): TCB info and QE identity signed by its TCB
 * signing key, the root CA and PCK CRLs, as a dcap-qvl bundle and as Intel PCS response bodies. The
 * levels are fixed relative to the software TD's defaults, so a TD below them is OutOfDate with known
 * advisories. TEST ROOT ONLY. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdx_emu_internal.h"

#define DAY (24 * 3600)
#define ZERO96 "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"

void ccg_tdx_emu_collateral_free(ccg_tdx_emu_collateral *c)
{
    if (c == NULL) {
        return;
    }
    free(c->tcb_info);
    free(c->qe_identity);
    free(c->tcb_chain_pem);
    free(c->crl_chain_pem);
    free(c->pck_crl);
    free(c->root_crl);
    memset(c, 0, sizeof(*c));
}

static json_t *components(const uint8_t v[16])
{
    json_t *a = json_array();
    for (int i = 0; a != NULL && i < 16; i++) {
        json_array_append_new(a, json_pack("{s:i}", "svn", v[i]));
    }
    return a;
}

static json_t *advisories(const char *id)
{
    return id != NULL ? json_pack("[s]", id) : json_array();
}

static json_t *platform_level(const uint8_t sgx[16], int pcesvn, const uint8_t tdx[16], const char *status,
                              const char *adv)
{
    return json_pack("{s:{s:o, s:i, s:o}, s:s, s:s, s:o}", "tcb", "sgxtcbcomponents", components(sgx), "pcesvn",
                     pcesvn, "tdxtcbcomponents", components(tdx), "tcbDate", CCG_TDX_EMU_TCB_DATE, "tcbStatus", status,
                     "advisoryIDs", advisories(adv));
}

static json_t *svn_level(int svn, const char *status, const char *adv)
{
    return json_pack("{s:{s:i}, s:s, s:s, s:o}", "tcb", "isvsvn", svn, "tcbDate", CCG_TDX_EMU_TCB_DATE, "tcbStatus",
                     status, "advisoryIDs", advisories(adv));
}

static json_t *module_identity(const char *id)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[o, o]}", "id", id, "mrsigner", ZERO96, "attributes", "0000000000000000",
                     "attributesMask", "FFFFFFFFFFFFFFFF", "tcbLevels",
                     svn_level(CCG_TDX_EMU_MODULE_SVN, "UpToDate", NULL),
                     svn_level(CCG_TDX_EMU_MODULE_SVN - 2, "OutOfDate", CCG_TDX_EMU_MODULE_ADVISORY));
}

static void uppercase(char *s)
{
    for (; *s; s++) {
        *s = (char)(*s >= 'a' && *s <= 'f' ? *s - 32 : *s);
    }
}

/* Two platform levels: UpToDate at the software TD's platform (its SGX components and PCESVN, and
 * TDX components CCG_TDX_EMU_TDX_SVN), and OutOfDate one step below everywhere with an advisory. */
static json_t *tcb_info(const ccg_tdx_emu *e, const char *issue, const char *next)
{
    const ccg_tdx_emu_opts *o = &e->opts;
    uint8_t sgx2[16], tdx1[16] = CCG_TDX_EMU_TDX_SVN, tdx2[16] = CCG_TDX_EMU_TDX_SVN_OLD;
    char fmspc[13], pce[5];
    memcpy(sgx2, o->sgx_components, 16);
    sgx2[0] = sgx2[0] > 0 ? (uint8_t)(sgx2[0] - 1) : 0;
    ccg_hex_encode(o->fmspc, 6, fmspc);
    ccg_hex_encode(o->pce_id, 2, pce);
    uppercase(fmspc);
    uppercase(pce);
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:{s:s, s:s, s:s}, s:[o, o, o], s:[o, o]}", "id", "TDX",
                     "version", 3, "issueDate", issue, "nextUpdate", next, "fmspc", fmspc, "pceId", pce, "tcbType", 0,
                     "tcbEvaluationDataNumber", CCG_TDX_EMU_EVAL_NUMBER, "tdxModule", "mrsigner", ZERO96,
                     "attributes", "0000000000000000", "attributesMask", "FFFFFFFFFFFFFFFF", "tdxModuleIdentities",
                     module_identity("TDX_01"), module_identity("TDX_02"), module_identity("TDX_03"), "tcbLevels",
                     platform_level(o->sgx_components, o->pcesvn, tdx1, "UpToDate", NULL),
                     platform_level(sgx2, o->pcesvn > 0 ? o->pcesvn - 1 : 0, tdx2, "OutOfDate",
                                    CCG_TDX_EMU_PLATFORM_ADVISORY));
}

/* The QE identity of the software TD's quoting enclave (ccg_tdx_emu_td_default's QE fields). */
static json_t *qe_identity(const char *issue, const char *next)
{
    ccg_tdx_emu_td td;
    char mrsigner[65], attrs[33];
    ccg_tdx_emu_td_default(&td);
    ccg_hex_encode(td.qe_mrsigner, 32, mrsigner);
    ccg_hex_encode(td.qe_attributes, 16, attrs);
    uppercase(mrsigner);
    uppercase(attrs);
    return json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:[o, o]}", "id", "TD_QE", "version", 2,
                     "issueDate", issue, "nextUpdate", next, "tcbEvaluationDataNumber", CCG_TDX_EMU_EVAL_NUMBER,
                     "miscselect", "00000000", "miscselectMask", "FFFFFFFF", "attributes", attrs, "attributesMask",
                     "FBFFFFFFFFFFFFFF0000000000000000", "mrsigner", mrsigner, "isvprodid", td.qe_isvprodid,
                     "tcbLevels", svn_level(td.qe_isvsvn, "UpToDate", NULL),
                     svn_level(td.qe_isvsvn - 2, "OutOfDate", CCG_TDX_EMU_QE_ADVISORY));
}

/* Compact JSON text of doc (consumed), signed by the TCB signing key. */
static ccg_result signed_text(const ccg_tdx_emu *e, json_t *doc, char **text, char sig[129])
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_ALLOC(doc);
    *text = json_dumps(doc, JSON_COMPACT);
    CCG_ENSURE_ALLOC(*text);
    CCG_TRY(ccg_tdx_emu_sign(e, *text, strlen(*text), sig));
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    return result;
}

ccg_result ccg_tdx_emu_collateral_make(const ccg_tdx_emu *e, const ccg_tdx_emu_collateral_opts *o,
                                       ccg_tdx_emu_collateral *out)
{
    ccg_result result = CCG_FAILURE;
    char issue[32], next[32];
    /* Current: issued a day ago, next update in 30 days. Expired: issued 31 days ago, due an hour ago. */
    ccg_time t1 = o->expired ? o->now - 31 * DAY : o->now - DAY;
    ccg_time t2 = o->expired ? o->now - 3600 : o->now + 30 * DAY;
    memset(out, 0, sizeof(*out));
    ccg_time_format_rfc3339(t1, issue, sizeof(issue));
    ccg_time_format_rfc3339(t2, next, sizeof(next));
    CCG_TRY(signed_text(e, tcb_info(e, issue, next), &out->tcb_info, out->tcb_info_sig));
    CCG_TRY(signed_text(e, qe_identity(issue, next), &out->qe_identity, out->qe_identity_sig));
    out->tcb_chain_pem = ccg_tdx_emu_tcb_chain_pem(e);
    out->crl_chain_pem = ccg_tdx_emu_crl_chain_pem(e);
    CCG_ENSURE_ALLOC(out->tcb_chain_pem);
    CCG_ENSURE_ALLOC(out->crl_chain_pem);
    CCG_TRY(ccg_tdx_emu_crl(e, 1, t1, t2, 0, &out->root_crl, &out->root_crl_len));
    CCG_TRY(ccg_tdx_emu_crl(e, 0, t1, t2, o->revoke_pck, &out->pck_crl, &out->pck_crl_len));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_tdx_emu_collateral_free(out);
    }
    return result;
}

ccg_result ccg_tdx_emu_collateral_bundle(const ccg_tdx_emu_collateral *c, char **out)
{
    ccg_result result = CCG_FAILURE;
    char *pck_crl = ccg_hex_alloc(c->pck_crl, c->pck_crl_len);
    char *root_crl = ccg_hex_alloc(c->root_crl, c->root_crl_len);
    json_t *b = NULL;
    *out = NULL;
    CCG_ENSURE_ALLOC(pck_crl);
    CCG_ENSURE_ALLOC(root_crl);
    b = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "tcb_info", c->tcb_info, "tcb_info_signature",
                  c->tcb_info_sig, "tcb_info_issuer_chain", c->tcb_chain_pem, "qe_identity", c->qe_identity,
                  "qe_identity_signature", c->qe_identity_sig, "qe_identity_issuer_chain", c->tcb_chain_pem,
                  "pck_crl", pck_crl, "pck_crl_issuer_chain", c->crl_chain_pem, "root_ca_crl", root_crl);
    CCG_ENSURE_ALLOC(b);
    *out = json_dumps(b, JSON_INDENT(2));
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    json_decref(b);
    free(pck_crl);
    free(root_crl);
    return result;
}

/* {"tcbInfo":<bytes as signed>,"signature":"<hex>"}: written around the signed text, never re-serialised. */
ccg_result ccg_tdx_emu_pcs_body(const ccg_tdx_emu_collateral *c, int qe_identity, char **out)
{
    ccg_result result = CCG_FAILURE;
    const char *member = qe_identity ? "enclaveIdentity" : "tcbInfo";
    const char *text = qe_identity ? c->qe_identity : c->tcb_info;
    const char *sig = qe_identity ? c->qe_identity_sig : c->tcb_info_sig;
    size_t n = strlen(member) + strlen(text) + strlen(sig) + 32;
    *out = malloc(n);
    CCG_ENSURE_ALLOC(*out);
    snprintf(*out, n, "{\"%s\":%s,\"signature\":\"%s\"}", member, text, sig);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
