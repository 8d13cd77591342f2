/* The emulator backend: ccgate's software SNP firmware loaded from a saved state directory. Chosen
 * only when the configuration names it (never by AUTO); its ARK is a test root nobody trusts unless
 * a verifier is told to. */
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

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

ccg_result attest_emulator_open(ccg_attester *a)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ccg_snp_emulator_load(a->path, &a->emu, &a->launch));
    a->tee = CCG_TEE_SNP;
    a->get = emulator_get;
    result = CCG_SUCCESS;
cleanup:
    return result;
}
