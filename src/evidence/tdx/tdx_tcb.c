/* TCB evaluation in Intel QVL's order and with its rules (docs/tdx-quote.md, "Status"):
 * the TDX module identity, the QE identity's level, the platform TCB level (SGX components and PCESVN
 * from the PCK certificate, then TDX components from TEE_TCB_SVN), the module's level, convergence of
 * the three statuses, and QVL's TD relaunch advice for TD 1.5 quotes. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "tdx_internal.h"

typedef ccg_tdx_tcb_status st;

/* "TDX_" and the module major version in two uppercase hex digits; ids compare case-insensitively. */
static const tdx_module_identity *find_module(const tdx_tcb_info *info, uint8_t version)
{
    char want[16];
    snprintf(want, sizeof(want), "TDX_%02X", version);
    for (size_t i = 0; i < info->n_modules; i++) {
        if (strcasecmp(info->modules[i].id, want) == 0) {
            return &info->modules[i];
        }
    }
    return NULL;
}

ccg_result tdx_module_check(const tdx_tcb_info *info, const ccg_tdx_quote *q, tdx_tcb_eval *ev)
{
    ccg_result result = CCG_FAILURE;
    uint8_t version = q->td.tee_tcb_svn[1];
    const tdx_module_identity *m = &info->module;
    snprintf(ev->module_id, sizeof(ev->module_id), "%s", "tdxModule");
    /* Module major version 0 (TDX 1.0 modules) is checked against "tdxModule"; later modules against
     * their identity TDX_<version>, whose MRSIGNER and attributes replace tdxModule's. */
    if (version > 0) {
        m = find_module(info, version);
        CCG_ENSURE_MSG(m != NULL, CCG_R_TDX_MODULE_IDENTITY_NOT_FOUND,
                       "the TCB info has no TDX module identity TDX_%02X", version);
        snprintf(ev->module_id, sizeof(ev->module_id), "%s", m->id);
    }
    ev->module = m;
    CCG_ENSURE_MSG(memcmp(q->td.mrsignerseam, m->mrsigner, 48) == 0, CCG_R_TDX_MODULE_MISMATCH,
                   "MRSIGNERSEAM differs from %s's mrsigner", ev->module_id);
    /* QVL: every SEAMATTRIBUTES byte must be zero and equal the identity's attributes (no mask). */
    for (int i = 0; i < 8; i++) {
        CCG_ENSURE_MSG(q->td.seam_attributes[i] == 0 && m->attributes[i] == 0, CCG_R_TDX_MODULE_MISMATCH,
                       "SEAMATTRIBUTES byte %d is %u, %s's attributes %u (both must be zero)", i,
                       q->td.seam_attributes[i], ev->module_id, m->attributes[i]);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The first level (in document order) whose ISVSVN the given SVN reaches. */
static const tdx_svn_level *svn_level(const tdx_svn_level *levels, size_t n, uint16_t svn)
{
    for (size_t i = 0; i < n; i++) {
        if (svn >= levels[i].isvsvn) {
            return &levels[i];
        }
    }
    return NULL;
}

ccg_result tdx_qe_identity_check(const tdx_qe_identity *id, const ccg_tdx_qe_report *qe, tdx_tcb_eval *ev)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG((qe->miscselect & id->miscselect_mask) == id->miscselect, CCG_R_TDX_QE_MISCSELECT_MISMATCH,
                   "QE MISCSELECT 0x%08x masked 0x%08x, identity 0x%08x", qe->miscselect, id->miscselect_mask,
                   id->miscselect);
    for (int i = 0; i < 16; i++) {
        CCG_ENSURE_MSG((qe->attributes[i] & id->attributes_mask[i]) == id->attributes[i], CCG_R_TDX_QE_ATTRIBUTES_MISMATCH,
                       "QE ATTRIBUTES byte %d differs from the identity under its mask", i);
    }
    CCG_ENSURE_MSG(memcmp(qe->mrsigner, id->mrsigner, 32) == 0, CCG_R_TDX_QE_MRSIGNER_MISMATCH,
                   "QE MRSIGNER differs from the QE identity");
    CCG_ENSURE_MSG(qe->isvprodid == id->isvprodid, CCG_R_TDX_QE_ISVPRODID_MISMATCH, "QE ISVPRODID %u, identity %u",
                   qe->isvprodid, id->isvprodid);
    ev->qe_level = svn_level(id->levels, id->n_levels, qe->isvsvn);
    CCG_ENSURE_MSG(ev->qe_level != NULL, CCG_R_TDX_QE_TCB_LEVEL_NOT_FOUND, "no QE identity level for ISVSVN %u",
                   qe->isvsvn);
    ev->qe_status = ev->qe_level->status;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Every SGX component and the PCESVN at least the level's (QVL 4.1.2.4.17.1-2). */
static int sgx_reaches(const tdx_pck_tcb *pck, const tdx_tcb_level *l)
{
    for (int i = 0; i < 16; i++) {
        if (pck->sgx_components[i] < l->sgx[i]) {
            return 0;
        }
    }
    return pck->pcesvn >= l->pcesvn;
}

/* Every TDX component at least the level's; when TEE_TCB_SVN[1] (the module major version) is set,
 * components 0 and 1 are the module's and are judged by its identity instead (QVL's rule). */
static int tdx_reaches(const uint8_t svn[16], const tdx_tcb_level *l)
{
    for (int i = svn[1] > 0 ? 2 : 0; i < 16; i++) {
        if (svn[i] < l->tdx[i]) {
            return 0;
        }
    }
    return 1;
}

static st converge_module(st tcb, st module)
{
    if (module == CCG_TDX_STATUS_OUT_OF_DATE) {
        if (tcb == CCG_TDX_STATUS_UP_TO_DATE || tcb == CCG_TDX_STATUS_SW_HARDENING_NEEDED) {
            return CCG_TDX_STATUS_OUT_OF_DATE;
        }
        if (tcb == CCG_TDX_STATUS_CONFIGURATION_NEEDED || tcb == CCG_TDX_STATUS_CONFIGURATION_AND_SW_HARDENING_NEEDED) {
            return CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED;
        }
    }
    return module == CCG_TDX_STATUS_REVOKED ? CCG_TDX_STATUS_REVOKED : tcb;
}

static st converge_qe(st tcb, st qe)
{
    if (qe == CCG_TDX_STATUS_OUT_OF_DATE) {
        if (tcb == CCG_TDX_STATUS_UP_TO_DATE || tcb == CCG_TDX_STATUS_SW_HARDENING_NEEDED) {
            return CCG_TDX_STATUS_OUT_OF_DATE;
        }
        if (tcb == CCG_TDX_STATUS_CONFIGURATION_NEEDED || tcb == CCG_TDX_STATUS_CONFIGURATION_AND_SW_HARDENING_NEEDED) {
            return CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED;
        }
    }
    return qe == CCG_TDX_STATUS_REVOKED ? CCG_TDX_STATUS_REVOKED : tcb;
}

static int config_needed(st s)
{
    return s == CCG_TDX_STATUS_CONFIGURATION_NEEDED || s == CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED ||
           s == CCG_TDX_STATUS_CONFIGURATION_AND_SW_HARDENING_NEEDED ||
           s == CCG_TDX_STATUS_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED;
}

/* QVL's TD relaunch advice (TD 1.5): the platform is current except for a TDX module that is out of
 * date, and TEE_TCB_SVN2 (the module the TD would run after relaunch, following a TD-preserving update)
 * reaches the latest level: relaunching the TD brings it up to date. */
static ccg_result relaunch(const tdx_tcb_info *info, const ccg_tdx_quote *q, tdx_tcb_eval *ev, st tdx_status,
                           st *out)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *svn2 = q->td.tee_tcb_svn2;
    const tdx_tcb_level *latest = &info->levels[0];
    int reaches = 0;
    *out = tdx_status;
    if (ev->qe_status != CCG_TDX_STATUS_UP_TO_DATE ||
        !(ev->sgx_status == CCG_TDX_STATUS_UP_TO_DATE || ev->sgx_status == CCG_TDX_STATUS_SW_HARDENING_NEEDED ||
          ev->sgx_status == CCG_TDX_STATUS_CONFIGURATION_NEEDED ||
          ev->sgx_status == CCG_TDX_STATUS_CONFIGURATION_AND_SW_HARDENING_NEEDED) ||
        !(tdx_status == CCG_TDX_STATUS_OUT_OF_DATE || tdx_status == CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED) ||
        ev->module_status != CCG_TDX_STATUS_OUT_OF_DATE) {
        return CCG_SUCCESS;
    }
    if (svn2[1] == 0) {
        reaches = svn2[0] >= latest->tdx[0] && svn2[2] >= latest->tdx[2];
    } else {
        const tdx_module_identity *m2 = find_module(info, svn2[1]);
        CCG_ENSURE_MSG(m2 != NULL, CCG_R_TDX_MODULE_IDENTITY_NOT_FOUND,
                       "the TCB info has no TDX module identity TDX_%02X for TEE_TCB_SVN2", svn2[1]);
        reaches = svn2[0] >= m2->levels[0].isvsvn && svn2[2] >= latest->tdx[2];
    }
    if (reaches) {
        *out = config_needed(ev->sgx_status) || config_needed(tdx_status)
                   ? CCG_TDX_STATUS_TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED
                   : CCG_TDX_STATUS_TD_RELAUNCH_ADVISED;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result match_platform(const tdx_tcb_info *info, const tdx_pck_tcb *pck, const ccg_tdx_quote *q,
                                 tdx_tcb_eval *ev)
{
    ccg_result result = CCG_FAILURE;
    const tdx_tcb_level *sgx = NULL;
    for (size_t i = 0; i < info->n_levels && ev->platform_level == NULL; i++) {
        const tdx_tcb_level *l = &info->levels[i];
        if (!sgx_reaches(pck, l)) {
            continue;
        }
        sgx = sgx != NULL ? sgx : l;
        if (tdx_reaches(q->td.tee_tcb_svn, l)) {
            ev->platform_level = l;
        }
    }
    CCG_ENSURE_MSG(sgx != NULL, CCG_R_TDX_TCB_LEVEL_NOT_FOUND,
                   "no TCB level matches the PCK's SGX components and PCESVN %u", pck->pcesvn);
    ev->sgx_status = sgx->status;
    CCG_ENSURE_MSG(ev->platform_level != NULL, CCG_R_TDX_TCB_LEVEL_NOT_FOUND,
                   "no TCB level matches the TD's TEE_TCB_SVN (SGX level found)");
    ev->platform_status = ev->platform_level->status;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result tdx_tcb_evaluate(const tdx_tcb_info *info, const tdx_pck_tcb *pck, const ccg_tdx_quote *q,
                            tdx_tcb_eval *ev)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(match_platform(info, pck, q, ev));
    ev->module_status = CCG_TDX_STATUS_UP_TO_DATE;
    if (q->td.tee_tcb_svn[1] > 0) {
        CCG_ENSURE(ev->module != NULL && ev->module->n_levels > 0, CCG_R_INTERNAL_ERROR);
        ev->module_level = svn_level(ev->module->levels, ev->module->n_levels, q->td.tee_tcb_svn[0]);
        CCG_ENSURE_MSG(ev->module_level != NULL, CCG_R_TDX_MODULE_TCB_LEVEL_NOT_FOUND,
                       "no level of %s for the module's ISVSVN %u", ev->module->id, q->td.tee_tcb_svn[0]);
        ev->module_status = ev->module_level->status;
    }
    st tdx_status = converge_module(ev->platform_status, ev->module_status);
    if (tdx_status == CCG_TDX_STATUS_REVOKED) {
        ev->status = tdx_status;
        return CCG_SUCCESS;
    }
    if (q->td.is_td15) {
        CCG_TRY(relaunch(info, q, ev, tdx_status, &tdx_status));
    }
    ev->status = converge_qe(tdx_status, ev->qe_status);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void add_all(tdx_advisory_set *out, const tdx_advisories *in)
{
    for (size_t i = 0; i < in->count; i++) {
        int seen = 0;
        for (size_t j = 0; j < out->count && !seen; j++) {
            seen = strcmp(out->ids[j], in->ids[i]) == 0;
        }
        if (!seen) { /* room: three levels of at most TDX_MAX_ADVISORIES each */
            memcpy(out->ids[out->count++], in->ids[i], TDX_ADVISORY_MAX);
        }
    }
}

void tdx_tcb_advisories(const tdx_tcb_eval *ev, tdx_advisory_set *out)
{
    out->count = 0;
    if (ev->platform_level != NULL) {
        add_all(out, &ev->platform_level->advisories);
    }
    if (ev->module_level != NULL) {
        add_all(out, &ev->module_level->advisories);
    }
    if (ev->qe_level != NULL) {
        add_all(out, &ev->qe_level->advisories);
    }
}
