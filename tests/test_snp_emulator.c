/* The software SNP firmware: the serializer inverts the parser for every version and product, the
 * report signature verifies with plain OpenSSL, and the chain looks like AMD's (names, RSA-PSS,
 * extensions with the configured values). */
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/snp_emulator.h"
#include "ccgate/snp_report_write.h"
#include "ccgate/snp_vcek.h"
#include "ccgate/x509util.h"

enum { EMU_MILAN, EMU_GENOA, EMU_TURIN, EMU_MILAN_VLEK, EMU_COUNT };

typedef struct {
    ccg_snp_emulator *emu[EMU_COUNT];
} fixture;

static const ccg_snp_product products[] = {CCG_SNP_PRODUCT_MILAN, CCG_SNP_PRODUCT_GENOA, CCG_SNP_PRODUCT_TURIN};

static ccg_snp_emulator *new_emulator(ccg_snp_product product, ccg_snp_signer signer, uint32_t version)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator *emu = NULL;
    ccg_snp_emulator_config_init(&cfg, product, signer);
    cfg.report_version = version;
    ccg_error_clear();
    if (ccg_failed(ccg_snp_emulator_new(&cfg, &emu))) {
        fail_msg("emulator: %s", ccg_error_last()->message);
    }
    return emu;
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->emu[EMU_MILAN] = new_emulator(CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK, 3);
    f->emu[EMU_GENOA] = new_emulator(CCG_SNP_PRODUCT_GENOA, CCG_SNP_SIGNER_VCEK, 3);
    f->emu[EMU_TURIN] = new_emulator(CCG_SNP_PRODUCT_TURIN, CCG_SNP_SIGNER_VCEK, 5);
    f->emu[EMU_MILAN_VLEK] = new_emulator(CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VLEK, 3);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < EMU_COUNT; i++) {
        ccg_snp_emulator_free(f->emu[i]);
    }
    free(f);
    return 0;
}

/* ---- serializer ---------------------------------------------------------------------------- */

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++) {
        p[i] = (uint8_t)(seed + 3 * i + 1);
    }
}

/* Every field distinct and non-zero, within what the parser accepts. */
static void busy_report(uint32_t version, ccg_snp_product product, ccg_snp_report *r)
{
    ccg_snp_tcb tcb = {.fmc = 5, .bootloader = 6, .tee = 7, .snp = 8, .microcode = 9};
    memset(r, 0, sizeof(*r));
    r->version = version;
    r->guest_svn = 0x01020304;
    r->policy = 0x03FF0000ull | CCG_SNP_POLICY_RESERVED_ONE | 0x1234;
    fill(r->family_id, sizeof(r->family_id), 0x10);
    fill(r->image_id, sizeof(r->image_id), 0x20);
    r->vmpl = 2;
    r->signature_algo = 1;
    r->current_tcb = 0x1122334455667788ull;
    r->platform_info = CCG_SNP_PLATFORM_KNOWN_MASK;
    r->flags = 0x1F;
    fill(r->report_data, sizeof(r->report_data), 0x30);
    fill(r->measurement, sizeof(r->measurement), 0x40);
    fill(r->host_data, sizeof(r->host_data), 0x50);
    fill(r->id_key_digest, sizeof(r->id_key_digest), 0x60);
    fill(r->author_key_digest, sizeof(r->author_key_digest), 0x70);
    fill(r->report_id, sizeof(r->report_id), 0x80);
    fill(r->report_id_ma, sizeof(r->report_id_ma), 0x90);
    r->reported_tcb = ccg_snp_tcb_encode(product, &tcb);
    if (version >= 3) {
        r->cpuid_fam_id = product == CCG_SNP_PRODUCT_TURIN ? 0x1A : 0x19;
        r->cpuid_mod_id = product == CCG_SNP_PRODUCT_GENOA ? 0x11 : 0x02;
        r->cpuid_step = 0x03;
    }
    fill(r->chip_id, sizeof(r->chip_id), 0xA0);
    r->committed_tcb = 0x0102030405060708ull;
    r->current_build = 11, r->current_minor = 12, r->current_major = 13;
    r->committed_build = 14, r->committed_minor = 15, r->committed_major = 16;
    r->launch_tcb = 0x8877665544332211ull;
    if (version >= 5) {
        r->launch_mit_vector = 0xAABBCCDDEEFF0011ull;
        r->current_mit_vector = 0x1100FFEEDDCCBBAAull;
    }
    fill(r->sig_r, sizeof(r->sig_r), 0xB0);
    fill(r->sig_s, sizeof(r->sig_s), 0xC0);
}

#define SAME(field) assert_true(a->field == b->field)
#define SAME_BYTES(field) assert_memory_equal(a->field, b->field, sizeof(a->field))

static void assert_reports_equal(const ccg_snp_report *a, const ccg_snp_report *b)
{
    SAME(version), SAME(guest_svn), SAME(policy), SAME(vmpl), SAME(signature_algo);
    SAME_BYTES(family_id), SAME_BYTES(image_id);
    SAME(current_tcb), SAME(platform_info), SAME(flags);
    SAME_BYTES(report_data), SAME_BYTES(measurement), SAME_BYTES(host_data), SAME_BYTES(id_key_digest);
    SAME_BYTES(author_key_digest), SAME_BYTES(report_id), SAME_BYTES(report_id_ma);
    SAME(reported_tcb), SAME(cpuid_fam_id), SAME(cpuid_mod_id), SAME(cpuid_step);
    SAME_BYTES(chip_id), SAME(committed_tcb);
    SAME(current_build), SAME(current_minor), SAME(current_major);
    SAME(committed_build), SAME(committed_minor), SAME(committed_major);
    SAME(launch_tcb), SAME(launch_mit_vector), SAME(current_mit_vector);
    SAME_BYTES(sig_r), SAME_BYTES(sig_s);
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

/* Spot checks of the raw offsets, independent of the parser. */
static void assert_offsets(const ccg_snp_report *r, const uint8_t *b)
{
    assert_int_equal(b[0x000], r->version);
    assert_true(le64(b + 0x008) == r->policy);
    assert_int_equal(b[0x030], r->vmpl);
    assert_int_equal(b[0x034], 1);
    assert_true(le64(b + 0x040) == r->platform_info);
    assert_int_equal(b[0x048], r->flags);
    assert_memory_equal(b + 0x090, r->measurement, 48);
    assert_true(le64(b + 0x180) == r->reported_tcb);
    assert_int_equal(b[0x188], r->version >= 3 ? r->cpuid_fam_id : 0);
    assert_memory_equal(b + 0x1A0, r->chip_id, 64);
    assert_int_equal(b[0x1EA], r->current_major);
    assert_true(le64(b + 0x1F0) == r->launch_tcb);
    assert_true(le64(b + 0x1F8) == (r->version >= 5 ? r->launch_mit_vector : 0));
    assert_true(le64(b + 0x200) == (r->version >= 5 ? r->current_mit_vector : 0));
    assert_memory_equal(b + 0x2A0, r->sig_r, 72);
    assert_memory_equal(b + 0x2E8, r->sig_s, 72);
    for (size_t i = 0x330; i < CCG_SNP_REPORT_SIZE; i++) {
        assert_int_equal(b[i], 0);
    }
}

static void round_trip(uint32_t version, ccg_snp_product product)
{
    ccg_snp_report in, parsed;
    uint8_t bytes[CCG_SNP_REPORT_SIZE], again[CCG_SNP_REPORT_SIZE];
    busy_report(version, product, &in);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_snp_report_serialize(&in, bytes)));
    assert_offsets(&in, bytes);
    if (ccg_failed(ccg_snp_report_parse(bytes, sizeof(bytes), &parsed))) {
        fail_msg("v%u %s: %s", version, ccg_snp_product_name(product), ccg_error_last()->message);
    }
    assert_reports_equal(&in, &parsed);
    assert_int_equal(ccg_snp_product_from_cpuid(&parsed), version >= 3 ? product : CCG_SNP_PRODUCT_UNKNOWN);
    assert_true(ccg_ok(ccg_snp_report_serialize(&parsed, again)));
    assert_memory_equal(bytes, again, sizeof(bytes));
}

static void serializer_round_trips_every_version_and_product(void **state)
{
    static const uint32_t versions[] = {2, 3, 5};
    (void)state;
    for (size_t v = 0; v < 3; v++) {
        for (size_t p = 0; p < 3; p++) {
            round_trip(versions[v], products[p]);
        }
    }
}

static void serializer_leaves_version_specific_bytes_zero(void **state)
{
    ccg_snp_report r;
    uint8_t b[CCG_SNP_REPORT_SIZE];
    (void)state;
    busy_report(5, CCG_SNP_PRODUCT_GENOA, &r);
    r.version = 2; /* CPUID and MIT vectors are set in the struct but have no place in a v2 report */
    assert_true(ccg_ok(ccg_snp_report_serialize(&r, b)));
    for (size_t i = 0x188; i < 0x1A0; i++) {
        assert_int_equal(b[i], 0);
    }
    for (size_t i = 0x1F8; i < 0x2A0; i++) {
        assert_int_equal(b[i], 0);
    }
    r.version = 3;
    assert_true(ccg_ok(ccg_snp_report_serialize(&r, b)));
    assert_int_equal(b[0x188], 0x19);
    for (size_t i = 0x1F8; i < 0x2A0; i++) {
        assert_int_equal(b[i], 0);
    }
}

static void serializer_refuses_unknown_versions(void **state)
{
    static const uint32_t bad[] = {0, 1, 4, 6, 0x103};
    ccg_snp_report r;
    uint8_t b[CCG_SNP_REPORT_SIZE];
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        busy_report(3, CCG_SNP_PRODUCT_MILAN, &r);
        r.version = bad[i];
        ccg_error_clear();
        assert_true(ccg_failed(ccg_snp_report_serialize(&r, b)));
        tu_assert_error_reason(CCG_R_SNP_REPORT_VERSION_UNSUPPORTED);
    }
}

/* ---- the default report and its signature ------------------------------------------------- */

static void default_report_is_plausible(void **state)
{
    static const uint8_t cpuid[][3] = {{0x19, 0x01, 0x01}, {0x19, 0x11, 0x01}, {0x1A, 0x02, 0x00}};
    fixture *f = *state;
    for (int i = 0; i < EMU_COUNT; i++) {
        const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(f->emu[i]);
        uint64_t tcb = ccg_snp_tcb_encode(cfg->product, &cfg->tcb);
        ccg_snp_report r;
        ccg_snp_emulator_default_report(f->emu[i], &r);
        assert_int_equal(r.version, i == EMU_TURIN ? 5 : 3);
        assert_true(r.policy == 0x30000);
        assert_int_equal(r.vmpl, 0);
        assert_int_equal(r.signature_algo, 1);
        assert_int_equal(ccg_snp_report_signer(&r), cfg->signer);
        assert_int_equal(ccg_snp_report_mask_chip_key(&r), 0);
        const uint8_t *want = cpuid[cfg->product - CCG_SNP_PRODUCT_MILAN];
        assert_true(r.cpuid_fam_id == want[0] && r.cpuid_mod_id == want[1] && r.cpuid_step == want[2]);
        assert_int_equal(ccg_snp_product_from_cpuid(&r), cfg->product);
        assert_true(r.reported_tcb == tcb && r.current_tcb == tcb && r.committed_tcb == tcb && r.launch_tcb == tcb);
        assert_memory_equal(r.chip_id, cfg->chip_id, 64);
        assert_false(ccg_snp_report_chip_id_masked(&r));
        assert_true(r.current_build != 0 && r.current_minor != 0 && r.current_major != 0);
        assert_false(ccg_is_all_zero(r.measurement, sizeof(r.measurement)));
    }
}

/* Verifies the stored signature with OpenSSL alone: R and S little-endian, SHA-384 of 0x000-0x29F. */
static int openssl_verifies(X509 *vcek, const uint8_t *report)
{
    ECDSA_SIG *sig = ECDSA_SIG_new();
    BIGNUM *r = BN_lebin2bn(report + 0x2A0, 72, NULL);
    BIGNUM *s = BN_lebin2bn(report + 0x2E8, 72, NULL);
    unsigned char *der = NULL;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = 0;
    assert_true(sig != NULL && r != NULL && s != NULL && md != NULL);
    assert_int_equal(ECDSA_SIG_set0(sig, r, s), 1);
    int der_len = i2d_ECDSA_SIG(sig, &der);
    assert_true(der_len > 0);
    assert_int_equal(EVP_DigestVerifyInit_ex(md, NULL, "SHA384", NULL, NULL, X509_get0_pubkey(vcek), NULL), 1);
    ok = EVP_DigestVerify(md, der, (size_t)der_len, report, 0x2A0) == 1;
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    ECDSA_SIG_free(sig);
    return ok;
}

static void signature_verifies_with_plain_openssl(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < EMU_COUNT; i++) {
        ccg_snp_report r, parsed;
        uint8_t b[CCG_SNP_REPORT_SIZE];
        ccg_snp_emulator_default_report(f->emu[i], &r);
        assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu[i], &r, b)));
        assert_true(ccg_ok(ccg_snp_report_parse(b, sizeof(b), &parsed)));
        assert_true(openssl_verifies(ccg_snp_emulator_vcek(f->emu[i]), b));
        /* Anything else in the signed bytes breaks it, and another emulator's key does not verify it. */
        b[0x90] ^= 1;
        assert_false(openssl_verifies(ccg_snp_emulator_vcek(f->emu[i]), b));
        b[0x90] ^= 1;
        assert_false(openssl_verifies(ccg_snp_emulator_vcek(f->emu[(i + 1) % EMU_COUNT]), b));
    }
}

static void signatures_differ_and_sign_bytes_keeps_the_signed_area(void **state)
{
    fixture *f = *state;
    ccg_snp_report r;
    uint8_t a[CCG_SNP_REPORT_SIZE], b[CCG_SNP_REPORT_SIZE];
    ccg_snp_emulator_default_report(f->emu[EMU_MILAN], &r);
    assert_true(ccg_ok(ccg_snp_emulator_sign(f->emu[EMU_MILAN], &r, a)));
    memcpy(b, a, sizeof(b));
    b[0x04C] = 0x01; /* reserved: the parser refuses it, the emulator still signs what it is given */
    assert_true(ccg_ok(ccg_snp_emulator_sign_bytes(f->emu[EMU_MILAN], b)));
    assert_int_equal(b[0x04C], 1);
    assert_true(openssl_verifies(ccg_snp_emulator_vcek(f->emu[EMU_MILAN]), b));
    assert_memory_not_equal(a + 0x2A0, b + 0x2A0, 144);
}

/* ---- the certificate chain ---------------------------------------------------------------- */

static void assert_amd_name(const X509_NAME *name, const char *cn)
{
    static const int nids[] = {NID_organizationalUnitName, NID_countryName, NID_localityName,
                               NID_stateOrProvinceName, NID_organizationName, NID_commonName};
    const char *values[] = {"Engineering", "US", "Santa Clara", "CA", "Advanced Micro Devices", cn};
    assert_int_equal(X509_NAME_entry_count(name), 6);
    for (int i = 0; i < 6; i++) {
        const X509_NAME_ENTRY *e = X509_NAME_get_entry(name, i);
        const ASN1_STRING *v = X509_NAME_ENTRY_get_data(e);
        assert_int_equal(OBJ_obj2nid(X509_NAME_ENTRY_get_object(e)), nids[i]);
        assert_int_equal(ASN1_STRING_length(v), (int)strlen(values[i]));
        assert_memory_equal(ASN1_STRING_get0_data(v), values[i], strlen(values[i]));
    }
}

/* Signed by issuer with RSA-PSS, SHA-384, MGF1-SHA-384, salt 48, as AMD's chain is. */
static void assert_pss_signed(X509 *cert, X509 *issuer)
{
    const X509_ALGOR *alg = NULL;
    X509_get0_signature(NULL, &alg, cert);
    assert_int_equal(X509_get_signature_nid(cert), NID_rsassaPss);
    assert_int_equal(X509_verify(cert, X509_get0_pubkey(issuer)), 1);
    /* RSASSA-PSS-params: SHA-384 twice and saltLength 48 (0x30). */
    const ASN1_STRING *params = NULL;
    int ptype = 0;
    X509_ALGOR_get0(NULL, &ptype, (const void **)&params, alg);
    assert_int_equal(ptype, V_ASN1_SEQUENCE);
    const unsigned char *p = ASN1_STRING_get0_data(params);
    int n = ASN1_STRING_length(params);
    static const unsigned char salt48[] = {0xA2, 0x03, 0x02, 0x01, 0x30};
    int found = 0;
    for (int i = 0; i + 5 <= n; i++) {
        found |= memcmp(p + i, salt48, sizeof(salt48)) == 0;
    }
    assert_true(found);
}

static void chain_is_named_and_signed_like_amds(void **state)
{
    static const char *const names[] = {"Milan", "Genoa", "Turin"};
    fixture *f = *state;
    char cn[64];
    for (int i = 0; i < EMU_COUNT; i++) {
        ccg_snp_emulator *e = f->emu[i];
        int vlek = i == EMU_MILAN_VLEK;
        const char *product = names[i == EMU_MILAN_VLEK ? 0 : i];
        X509 *ark = ccg_snp_emulator_ark(e), *ask = ccg_snp_emulator_ask(e), *leaf = ccg_snp_emulator_vcek(e);
        snprintf(cn, sizeof(cn), "ARK-%s", product);
        assert_amd_name(X509_get_subject_name(ark), cn);
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ark), X509_get_issuer_name(ark)), 0);
        assert_pss_signed(ark, ark);
        snprintf(cn, sizeof(cn), vlek ? "SEV-VLEK-%s" : "SEV-%s", product);
        assert_amd_name(X509_get_subject_name(ask), cn);
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ark), X509_get_issuer_name(ask)), 0);
        assert_pss_signed(ask, ark);
        assert_amd_name(X509_get_subject_name(leaf), vlek ? "SEV-VLEK" : "SEV-VCEK");
        assert_int_equal(X509_NAME_cmp(X509_get_subject_name(ask), X509_get_issuer_name(leaf)), 0);
        assert_pss_signed(leaf, ask);
        assert_true(EVP_PKEY_is_a(X509_get0_pubkey(leaf), "EC"));
        assert_int_equal(EVP_PKEY_get_bits(X509_get0_pubkey(leaf)), 384);
        assert_true(EVP_PKEY_is_a(X509_get0_pubkey(ark), "RSA"));
        assert_true(X509_check_ca(ark) && X509_check_ca(ask));
    }
}

/* The DER INTEGER inside an AMD extension, read with OpenSSL alone. */
static int64_t int_ext(X509 *cert, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    int idx = X509_get_ext_by_OBJ(cert, obj, -1);
    ASN1_OBJECT_free(obj);
    if (idx < 0) {
        return -1;
    }
    const ASN1_OCTET_STRING *v = X509_EXTENSION_get_data(X509_get_ext(cert, idx));
    const unsigned char *p = ASN1_STRING_get0_data(v);
    ASN1_INTEGER *n = d2i_ASN1_INTEGER(NULL, &p, ASN1_STRING_length(v));
    int64_t out = -2;
    assert_non_null(n);
    assert_ptr_equal(p, ASN1_STRING_get0_data(v) + ASN1_STRING_length(v));
    assert_int_equal(ASN1_INTEGER_get_int64(&out, n), 1);
    ASN1_INTEGER_free(n);
    return out;
}

static const ASN1_OCTET_STRING *raw_ext(X509 *cert, const char *oid)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    int idx = X509_get_ext_by_OBJ(cert, obj, -1);
    ASN1_OBJECT_free(obj);
    return idx < 0 ? NULL : X509_EXTENSION_get_data(X509_get_ext(cert, idx));
}

static void assert_product_name(X509 *cert, const char *want)
{
    const ASN1_OCTET_STRING *v = raw_ext(cert, "1.3.6.1.4.1.3704.1.2");
    assert_non_null(v);
    const unsigned char *p = ASN1_STRING_get0_data(v);
    assert_int_equal(p[0], V_ASN1_IA5STRING);
    assert_int_equal(p[1], (int)strlen(want));
    assert_int_equal(ASN1_STRING_length(v), 2 + (int)strlen(want));
    assert_memory_equal(p + 2, want, strlen(want));
}

static void vcek_carries_amd_extensions(void **state)
{
    static const char *const names[] = {"Milan-B0", "Genoa", "Turin-B0", "Milan-B0"};
    fixture *f = *state;
    for (int i = 0; i < EMU_COUNT; i++) {
        const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(f->emu[i]);
        X509 *leaf = ccg_snp_emulator_vcek(f->emu[i]);
        int turin = cfg->product == CCG_SNP_PRODUCT_TURIN;
        assert_int_equal(int_ext(leaf, "1.3.6.1.4.1.3704.1.1"), 0);
        assert_product_name(leaf, names[i]);
        assert_int_equal(int_ext(leaf, "1.3.6.1.4.1.3704.1.3.1"), cfg->tcb.bootloader);
        assert_int_equal(int_ext(leaf, "1.3.6.1.4.1.3704.1.3.2"), cfg->tcb.tee);
        assert_int_equal(int_ext(leaf, "1.3.6.1.4.1.3704.1.3.3"), cfg->tcb.snp);
        assert_int_equal(int_ext(leaf, "1.3.6.1.4.1.3704.1.3.8"), cfg->tcb.microcode);
        assert_int_equal(int_ext(leaf, "1.3.6.1.4.1.3704.1.3.9"), turin ? cfg->tcb.fmc : -1);
        const ASN1_OCTET_STRING *hwid = raw_ext(leaf, "1.3.6.1.4.1.3704.1.4");
        if (cfg->signer == CCG_SNP_SIGNER_VLEK) {
            assert_null(hwid); /* a VLEK is per cloud provider, not per chip */
            assert_non_null(raw_ext(leaf, "1.3.6.1.4.1.3704.1.5"));
            continue;
        }
        /* The raw chip ID bytes are the extension value: 64 bytes, 8 on Turin. */
        assert_non_null(hwid);
        assert_int_equal(ASN1_STRING_length(hwid), turin ? 8 : 64);
        assert_memory_equal(ASN1_STRING_get0_data(hwid), cfg->chip_id, turin ? 8 : 64);
    }
}

static void vcek_extensions_read_back_through_the_verifier_parser(void **state)
{
    fixture *f = *state;
    for (int i = 0; i < EMU_COUNT; i++) {
        const ccg_snp_emulator_config *cfg = ccg_snp_emulator_config_of(f->emu[i]);
        ccg_snp_vcek_ext ext;
        assert_true(ccg_ok(ccg_snp_vcek_ext_parse(ccg_snp_emulator_vcek(f->emu[i]), &ext)));
        assert_int_equal(ccg_snp_product_from_name(ext.product_name), cfg->product);
        assert_true(ext.has_bl && ext.has_tee && ext.has_snp && ext.has_ucode);
        assert_int_equal(ext.has_fmc, cfg->product == CCG_SNP_PRODUCT_TURIN);
        assert_int_equal(ext.tcb.bootloader, cfg->tcb.bootloader);
        assert_int_equal(ext.tcb.microcode, cfg->tcb.microcode);
        assert_int_equal(ext.tcb.fmc, cfg->tcb.fmc);
        assert_int_equal(ext.has_hwid, cfg->signer == CCG_SNP_SIGNER_VCEK);
    }
}

static void validity_windows_are_as_configured(void **state)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator *emu = NULL;
    ccg_time nb = 0, na = 0;
    (void)state;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_GENOA, CCG_SNP_SIGNER_VCEK);
    cfg.key = (ccg_snp_emu_validity){tu_time("2021-03-04T05:06:07Z"), tu_time("2022-03-04T05:06:07Z")};
    cfg.ask = (ccg_snp_emu_validity){tu_time("2020-01-01T00:00:00Z"), tu_time("2060-01-01T00:00:00Z")};
    assert_true(ccg_ok(ccg_snp_emulator_new(&cfg, &emu)));
    assert_true(ccg_ok(ccg_x509_validity(ccg_snp_emulator_vcek(emu), &nb, &na)));
    assert_true(nb == cfg.key.not_before && na == cfg.key.not_after);
    assert_true(ccg_ok(ccg_x509_validity(ccg_snp_emulator_ask(emu), &nb, &na)));
    assert_true(nb == cfg.ask.not_before && na == cfg.ask.not_after); /* past 2049: GeneralizedTime */
    assert_true(ccg_ok(ccg_x509_validity(ccg_snp_emulator_ark(emu), &nb, &na)));
    assert_true(nb == CCG_SNP_EMU_DEFAULT_NOT_BEFORE && na == CCG_SNP_EMU_DEFAULT_NOT_AFTER);
    ccg_snp_emulator_free(emu);
}

static void crl_is_signed_by_the_ark_and_lists_serials(void **state)
{
    fixture *f = *state;
    ccg_snp_emulator *e = f->emu[EMU_GENOA];
    const ASN1_INTEGER *serials[] = {X509_get0_serialNumber(ccg_snp_emulator_ask(e))};
    X509_CRL *crl = NULL;
    X509_REVOKED *entry = NULL;
    ccg_time t = 0;
    assert_true(ccg_ok(ccg_snp_emulator_crl(e, serials, 1, tu_time("2026-01-01T00:00:00Z"),
                                            tu_time("2026-12-01T00:00:00Z"), &crl)));
    assert_int_equal(X509_CRL_verify(crl, X509_get0_pubkey(ccg_snp_emulator_ark(e))), 1);
    assert_int_equal(X509_CRL_get_signature_nid(crl), NID_rsassaPss);
    assert_int_equal(X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(ccg_snp_emulator_ark(e))), 0);
    assert_int_equal(X509_CRL_get0_by_cert(crl, &entry, ccg_snp_emulator_ask(e)), 1);
    assert_int_equal(X509_CRL_get0_by_cert(crl, &entry, ccg_snp_emulator_vcek(e)), 0);
    assert_true(ccg_ok(ccg_x509_time(X509_CRL_get0_nextUpdate(crl), &t)));
    assert_true(t == tu_time("2026-12-01T00:00:00Z"));
    assert_int_not_equal(X509_CRL_verify(crl, X509_get0_pubkey(ccg_snp_emulator_ark(f->emu[EMU_MILAN]))), 1);
    X509_CRL_free(crl);
    /* An empty CRL without nextUpdate. */
    assert_true(ccg_ok(ccg_snp_emulator_crl(e, NULL, 0, tu_time("2026-01-01T00:00:00Z"), 0, &crl)));
    assert_null(X509_CRL_get0_nextUpdate(crl));
    assert_true(sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) <= 0); /* no revokedCertificates at all */
    X509_CRL_free(crl);
}

static void collateral_holds_the_key_and_its_intermediate(void **state)
{
    fixture *f = *state;
    ccg_snp_collateral col;
    assert_true(ccg_ok(ccg_snp_collateral_init(&col)));
    assert_true(ccg_ok(ccg_snp_emulator_collateral(f->emu[EMU_MILAN_VLEK], &col)));
    assert_int_equal(sk_X509_num(col.certs), 2);
    assert_ptr_equal(sk_X509_value(col.certs, 0), ccg_snp_emulator_vcek(f->emu[EMU_MILAN_VLEK]));
    assert_ptr_equal(sk_X509_value(col.certs, 1), ccg_snp_emulator_ask(f->emu[EMU_MILAN_VLEK]));
    assert_null(col.crl);
    ccg_snp_collateral_free(&col);
}

static void emulator_refuses_bad_configs(void **state)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator *emu = NULL;
    (void)state;
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_UNKNOWN, CCG_SNP_SIGNER_VCEK);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_snp_emulator_new(&cfg, &emu)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_NONE);
    assert_true(ccg_failed(ccg_snp_emulator_new(&cfg, &emu)));
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    cfg.report_version = 4;
    assert_true(ccg_failed(ccg_snp_emulator_new(&cfg, &emu)));
    assert_null(emu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(serializer_round_trips_every_version_and_product),
        cmocka_unit_test(serializer_leaves_version_specific_bytes_zero),
        cmocka_unit_test(serializer_refuses_unknown_versions),
        cmocka_unit_test(default_report_is_plausible),
        cmocka_unit_test(signature_verifies_with_plain_openssl),
        cmocka_unit_test(signatures_differ_and_sign_bytes_keeps_the_signed_area),
        cmocka_unit_test(chain_is_named_and_signed_like_amds),
        cmocka_unit_test(vcek_carries_amd_extensions),
        cmocka_unit_test(vcek_extensions_read_back_through_the_verifier_parser),
        cmocka_unit_test(validity_windows_are_as_configured),
        cmocka_unit_test(crl_is_signed_by_the_ark_and_lists_serials),
        cmocka_unit_test(collateral_holds_the_key_and_its_intermediate),
        cmocka_unit_test(emulator_refuses_bad_configs),
    };
    return cmocka_run_group_tests_name("snp_emulator", tests, setup, teardown);
}
