/* The emulator backend: ccgate's software SNP firmware, or its software TD when the state directory
 * holds a TD's state (tdx-emulator.json, written by `ccgate emulate tdx --save-state`), loaded from a
 * saved state directory. Chosen only when the configuration names it (never by AUTO); its root is a
 * test root nobody trusts unless a verifier is told to. */
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attest_internal.h"

/* The certificate table a host would serve with an extended report: VCEK/VLEK, ASK/ASVK, ARK. */
static ccg_result emulator_certs(const ccg_snp_emulator *emu, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    X509 *certs[3] = {ccg_snp_emulator_vcek(emu), ccg_snp_emulator_ask(emu), ccg_snp_emulator_ark(emu)};
    unsigned char *der[3] = {NULL, NULL, NULL};
    ccg_snp_cert_entry entries[3];
    memset(entries, 0, sizeof(entries));
    entries[0].kind = ccg_snp_emulator_config_of(emu)->signer == CCG_SNP_SIGNER_VLEK ? CCG_SNP_CERT_VLEK : CCG_SNP_CERT_VCEK;
    entries[1].kind = CCG_SNP_CERT_ASK;
    entries[2].kind = CCG_SNP_CERT_ARK;
    for (size_t i = 0; i < 3; i++) {
        int n = i2d_X509(certs[i], &der[i]);
        CCG_ENSURE_OSSL(n > 0, CCG_R_INTERNAL_CRYPTO);
        entries[i].der = der[i];
        entries[i].der_len = (size_t)n;
    }
    CCG_TRY(ccg_snp_cert_table_build(entries, 3, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    for (size_t i = 0; i < 3; i++) {
        OPENSSL_free(der[i]);
    }
    return result;
}

static ccg_result emulator_get(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                               ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    out->report = malloc(CCG_SNP_REPORT_SIZE);
    CCG_ENSURE_ALLOC(out->report);
    out->report_len = CCG_SNP_REPORT_SIZE;
    out->tee = CCG_TEE_SNP;
    CCG_TRY(ccg_snp_emulator_attest(a->emu, &a->launch, a->vmpl, report_data, out->report));
    CCG_TRY(emulator_certs(a->emu, &out->certs, &out->certs_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The saved TD's quote over report_data, as configfs-tsm's outblob would carry it (no auxblob). */
static ccg_result emulator_tdx_get(ccg_attester *a, const uint8_t report_data[CCG_ATTESTER_REPORT_DATA_LEN],
                                   ccg_evidence *out)
{
    ccg_result result = CCG_FAILURE;
    memcpy(a->td.report_data, report_data, CCG_ATTESTER_REPORT_DATA_LEN);
    out->tee = CCG_TEE_TDX;
    CCG_TRY(ccg_tdx_emu_quote(a->tdx, &a->td, &out->report, &out->report_len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* 1 when DIR/tdx-emulator.json exists: the directory is a software TD's, not the SNP firmware's. */
static ccg_result is_tdx_state(const char *dir, int *yes)
{
    ccg_result result = CCG_FAILURE;
    char path[4200];
    struct stat st;
    int n = snprintf(path, sizeof(path), "%s/%s", dir, CCG_TDX_EMU_STATE_FILE);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(path), CCG_R_USAGE_INVALID, "the emulator directory path is too long");
    *yes = stat(path, &st) == 0;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result attest_emulator_open(ccg_attester *a)
{
    ccg_result result = CCG_FAILURE;
    int tdx = 0;
    CCG_TRY(is_tdx_state(a->path, &tdx));
    if (tdx) {
        CCG_TRY(ccg_tdx_emu_load(a->path, &a->tdx, &a->td));
        a->tee = CCG_TEE_TDX;
        a->get = emulator_tdx_get;
        return CCG_SUCCESS;
    }
    CCG_TRY(ccg_snp_emulator_load(a->path, &a->emu, &a->launch));
    a->tee = CCG_TEE_SNP;
    a->get = emulator_get;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
