/* The endorsement-key codes no vector reaches: hand-made VCEKs, signed by the emulator's ASK the way
 * the emulator signs (RSA-PSS SHA-384), carrying the emulator VCEK's own public key (so the report
 * signature stays valid) with one thing wrong each:
 *   an AMD SPL extension removed           -> snp.vcek_extension_missing
 *   an SPL extension that is not an INTEGER -> snp.vcek_extension_malformed
 *   a P-256 public key instead of P-384    -> snp.vcek_key_invalid
 * and the untouched copy, re-signed the same way, passes (the test's own control). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "ccgate/error.h"
#include "ccgate/snp_emulator.h"
#include "ccgate/snp_verify.h"

#include "testutil.h"
#include "tcb_util.h"

#define NOW ((ccg_time)1790000000) /* 2026-09-21, inside the emulator's default validity */
#define AMD_OID "1.3.6.1.4.1.3704.1."

typedef struct {
    char dir[64];
    ccg_snp_emulator *emu;
    EVP_PKEY *ask_key;
    uint8_t report[CCG_SNP_REPORT_SIZE];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    ccg_snp_emulator_config cfg;
    ccg_snp_report r;
    char path[128];
    FILE *fp;
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-vcek-codes-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    assert_true(ccg_ok(ccg_snp_emulator_new(&cfg, &f->emu)));
    /* The ASK's private key, from the emulator's saved state (a test root only). */
    assert_true(ccg_ok(ccg_snp_emulator_save(f->emu, NULL, f->dir)));
    snprintf(path, sizeof(path), "%s/ask.key.pem", f->dir);
    fp = fopen(path, "r");
    assert_non_null(fp);
    f->ask_key = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
    fclose(fp);
    assert_non_null(f->ask_key);
    ccg_snp_emulator_default_report(f->emu, &r);
    assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu, &r, f->report)));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    char cmd[128];
    ccg_snp_emulator_free(f->emu);
    EVP_PKEY_free(f->ask_key);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

/* Re-signs cert with the ASK key: RSA-PSS, SHA-384, MGF1 SHA-384, salt 48, as AMD and the emulator. */
static void sign_as_ask(const fixture *f, X509 *cert)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    assert_non_null(md);
    assert_int_equal(EVP_DigestSignInit_ex(md, &pctx, "SHA384", NULL, NULL, f->ask_key, NULL), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, 48), 1);
    assert_int_equal(EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, EVP_sha384()), 1);
    assert_true(X509_sign_ctx(cert, md) > 0);
    EVP_MD_CTX_free(md);
}

static int ext_index(X509 *cert, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    int idx;
    assert_non_null(obj);
    idx = X509_get_ext_by_OBJ(cert, obj, -1);
    ASN1_OBJECT_free(obj);
    return idx;
}

static void remove_ext(X509 *cert, const char *oid)
{
    int idx = ext_index(cert, oid);
    assert_true(idx >= 0);
    X509_EXTENSION_free(X509_delete_ext(cert, idx));
}

/* Replaces an extension's value by raw DER bytes. */
static void replace_ext(X509 *cert, const char *oid, const uint8_t *der, size_t len)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *value = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    assert_non_null(obj);
    assert_non_null(value);
    assert_int_equal(ASN1_OCTET_STRING_set(value, der, (int)len), 1);
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, value);
    assert_non_null(ext);
    remove_ext(cert, oid);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(value);
    ASN1_OBJECT_free(obj);
}

/* Verifies the fixture's report with leaf as the VCEK and the emulator's ASK; returns the decision. */
static void verify_with(const fixture *f, X509 *leaf, ccg_decision *d)
{
    ccg_snp_verifier *v = NULL;
    ccg_snp_collateral col;
    assert_true(ccg_ok(ccg_snp_verifier_new(&v)));
    assert_true(ccg_ok(ccg_snp_verifier_add_root(v, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(f->emu))));
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&col, leaf)));
    assert_true(ccg_ok(ccg_snp_collateral_add_x509(&col, ccg_snp_emulator_ask(f->emu))));
    if (ccg_failed(tu_verify_emulated(v, f->report, sizeof(f->report), &col, NULL, f->emu, NOW, d))) {
        ccg_error_clear(); /* the reason is in d */
    }
    ccg_snp_collateral_free(&col);
    ccg_snp_verifier_free(v);
}

static X509 *copy_of_vcek(const fixture *f)
{
    X509 *c = X509_dup(ccg_snp_emulator_vcek(f->emu));
    assert_non_null(c);
    return c;
}

static void expect_reason(ccg_decision *d, ccg_reason r)
{
    if (d->allow || !ccg_reasons_has(&d->reasons, r)) {
        json_t *j = ccg_decision_to_json(d);
        char *text = json_dumps(j, JSON_COMPACT);
        fail_msg("expected %s, got %s", ccg_reason_code(r), text != NULL ? text : "?");
    }
}

static void resigned_copy_passes(void **state)
{
    fixture *f = *state;
    ccg_decision d;
    X509 *c = copy_of_vcek(f);
    sign_as_ask(f, c);
    verify_with(f, c, &d);
    if (!d.allow) {
        char *text = json_dumps(ccg_reasons_to_json(&d.reasons), JSON_COMPACT);
        fail_msg("the re-signed VCEK should pass: %s", text);
    }
    ccg_decision_free(&d);
    X509_free(c);
}

static void spl_extension_missing(void **state)
{
    fixture *f = *state;
    ccg_decision d;
    X509 *c = copy_of_vcek(f);
    remove_ext(c, AMD_OID "3.3"); /* snpSPL */
    sign_as_ask(f, c);
    verify_with(f, c, &d);
    expect_reason(&d, CCG_R_SNP_VCEK_EXTENSION_MISSING);
    ccg_decision_free(&d);
    X509_free(c);
}

static void hwid_extension_missing(void **state)
{
    fixture *f = *state;
    ccg_decision d;
    X509 *c = copy_of_vcek(f);
    remove_ext(c, AMD_OID "4"); /* hwID */
    sign_as_ask(f, c);
    verify_with(f, c, &d);
    expect_reason(&d, CCG_R_SNP_VCEK_EXTENSION_MISSING);
    ccg_decision_free(&d);
    X509_free(c);
}

static void spl_extension_malformed(void **state)
{
    fixture *f = *state;
    ccg_decision d;
    static const uint8_t octets[] = {0x04, 0x01, 0x03};     /* an OCTET STRING, not an INTEGER */
    static const uint8_t too_big[] = {0x02, 0x02, 0x01, 0x00}; /* INTEGER 256: not one byte */
    X509 *c = copy_of_vcek(f);
    replace_ext(c, AMD_OID "3.1", octets, sizeof(octets)); /* blSPL */
    sign_as_ask(f, c);
    verify_with(f, c, &d);
    expect_reason(&d, CCG_R_SNP_VCEK_EXTENSION_MALFORMED);
    ccg_decision_free(&d);
    X509_free(c);
    c = copy_of_vcek(f);
    replace_ext(c, AMD_OID "3.2", too_big, sizeof(too_big)); /* teeSPL */
    sign_as_ask(f, c);
    verify_with(f, c, &d);
    expect_reason(&d, CCG_R_SNP_VCEK_EXTENSION_MALFORMED);
    ccg_decision_free(&d);
    X509_free(c);
}

static void key_not_p384(void **state)
{
    fixture *f = *state;
    ccg_decision d;
    X509 *c = copy_of_vcek(f);
    EVP_PKEY *p256 = EVP_EC_gen("P-256");
    assert_non_null(p256);
    assert_int_equal(X509_set_pubkey(c, p256), 1);
    sign_as_ask(f, c);
    verify_with(f, c, &d);
    expect_reason(&d, CCG_R_SNP_VCEK_KEY_INVALID);
    ccg_decision_free(&d);
    EVP_PKEY_free(p256);
    X509_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(resigned_copy_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(spl_extension_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(hwid_extension_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(spl_extension_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(key_not_p384, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
