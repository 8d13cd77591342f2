/* The attester handle: backend choice (AUTO probes configfs-tsm, then /dev/sev-guest, and never
 * picks the emulator), dispatch, and the final REPORT_DATA check every backend's evidence passes. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "attest_internal.h"
#include "ccgate/secmem.h"

static ccg_result set_path(ccg_attester *a, const char *given, const char *dflt)
{
    ccg_result result = CCG_FAILURE;
    a->path = strdup(given != NULL && *given ? given : dflt);
    CCG_ENSURE_ALLOC(a->path);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* AUTO: the first kernel interface present, else attest.no_tee. */
static ccg_result choose(const ccg_attester_config *cfg, ccg_attester_kind *kind)
{
    ccg_result result = CCG_FAILURE;
    const char *tsm = cfg->tsm_root != NULL && *cfg->tsm_root ? cfg->tsm_root : CCG_TSM_ROOT_DEFAULT;
    const char *dev = cfg->sev_guest_path != NULL && *cfg->sev_guest_path ? cfg->sev_guest_path : CCG_SEV_GUEST_DEFAULT;
    if (attest_tsm_present(tsm)) {
        *kind = CCG_ATTESTER_CONFIGFS_TSM;
    } else if (attest_sev_guest_present(dev)) {
        *kind = CCG_ATTESTER_SEV_GUEST;
    } else {
        CCG_BAIL(CCG_R_ATTEST_NO_TEE, "no TEE: %s is not a writable configfs-tsm report directory and %s cannot be opened",
                 tsm, dev);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_attester_open(const ccg_attester_config *cfg, ccg_attester **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_attester *a = NULL;
    ccg_attester_kind kind = cfg->kind;
    *out = NULL;
    CCG_ENSURE_MSG(cfg->vmpl <= 3, CCG_R_USAGE_INVALID, "VMPL/privlevel %u is above 3", cfg->vmpl);
    if (kind == CCG_ATTESTER_AUTO) {
        CCG_TRY(choose(cfg, &kind));
    }
    a = calloc(1, sizeof(*a));
    CCG_ENSURE_ALLOC(a);
    a->fd = -1;
    a->kind = kind;
    a->vmpl = cfg->vmpl;
    switch (kind) {
    case CCG_ATTESTER_CONFIGFS_TSM:
        CCG_TRY(set_path(a, cfg->tsm_root, CCG_TSM_ROOT_DEFAULT));
        CCG_TRY(attest_tsm_open(a));
        break;
    case CCG_ATTESTER_SEV_GUEST:
        CCG_TRY(set_path(a, cfg->sev_guest_path, CCG_SEV_GUEST_DEFAULT));
        CCG_TRY(attest_sev_guest_open(a));
        break;
    case CCG_ATTESTER_EMULATOR:
        CCG_ENSURE_MSG(cfg->emulator_dir != NULL && *cfg->emulator_dir, CCG_R_ATTEST_EMULATOR_NOT_CONFIGURED,
                       "the emulator attester needs an emulator state directory");
        CCG_TRY(set_path(a, cfg->emulator_dir, ""));
        CCG_TRY(attest_emulator_open(a));
        break;
    default: CCG_BAIL(CCG_R_USAGE_INVALID, "unknown attester kind %d", (int)kind);
    }
    *out = a;
    a = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_attester_close(a);
    return result;
}

static const char *const kind_names[] = {
    [CCG_ATTESTER_AUTO] = "auto",
    [CCG_ATTESTER_CONFIGFS_TSM] = "configfs-tsm",
    [CCG_ATTESTER_SEV_GUEST] = "sev-guest",
    [CCG_ATTESTER_EMULATOR] = "emulator",
};

const char *ccg_attester_kind_name(ccg_attester_kind kind)
{
    return (size_t)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "unknown";
}

ccg_result ccg_attester_kind_from_name(const char *name, ccg_attester_kind *out)
{
    ccg_result result = CCG_FAILURE;
    for (size_t i = 0; name != NULL && i < sizeof(kind_names) / sizeof(kind_names[0]); i++) {
        if (strcmp(name, kind_names[i]) == 0) {
            *out = (ccg_attester_kind)i;
            return CCG_SUCCESS;
        }
    }
    CCG_BAIL(CCG_R_USAGE_INVALID, "unknown attester \"%s\" (auto, configfs-tsm, sev-guest, emulator)",
             name ? name : "");
cleanup:
    return result;
}

const char *ccg_attester_name(const ccg_attester *a)
{
    switch (a->kind) {
    case CCG_ATTESTER_CONFIGFS_TSM: return "configfs-tsm";
    case CCG_ATTESTER_SEV_GUEST: return "sev-guest";
    case CCG_ATTESTER_EMULATOR: return "emulator";
    case CCG_ATTESTER_AUTO: break;
    }
    return "auto";
}

ccg_tee_type ccg_attester_tee(const ccg_attester *a) { return a->tee; }

ccg_result ccg_attester_get_evidence(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                     ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    memset(out, 0, sizeof(*out));
    CCG_TRY(a->get(a, report_data, out));
    /* Whatever the backend, the evidence must carry exactly what was asked for. */
    CCG_TRY(ccg_attest_check_report(out->tee, out->report, out->report_len, report_data));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_evidence_free(out);
    }
    return result;
}

void ccg_evidence_free(ccg_evidence *ev)
{
    if (ev == NULL) {
        return;
    }
    free(ev->report);
    free(ev->certs);
    memset(ev, 0, sizeof(*ev));
}

void ccg_attester_close(ccg_attester *a)
{
    if (a == NULL) {
        return;
    }
    if (a->fd >= 0) {
        close(a->fd);
    }
    ccg_snp_emulator_free(a->emu);
    ccg_tdx_emu_free(a->tdx);
    ccg_secure_zero(&a->td, sizeof(a->td));
    ccg_secure_zero(&a->launch, sizeof(a->launch));
    free(a->path);
    free(a);
}

ccg_result attest_dup(const uint8_t *p, size_t len, uint8_t **out)
{
    ccg_result result = CCG_FAILURE;
    *out = NULL;
    if (len == 0) {
        return CCG_SUCCESS;
    }
    *out = malloc(len);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, p, len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}
