/* NVIDIA RIMs: signature and chain on NVIDIA's own RIMs at pinned times, the refusals of the front
 * end, RIM IDs, the RIM store (directory and a loopback RIM service), and the comparison with the
 * evidence's measurement blocks. */
#include <openssl/evp.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/error.h"
#include "ccgate/gpu_rim.h"
#include "loopback_http.h"

#define V_DRIVER "nvgpu/attestation-sdk/NV_GPU_DRIVER_GH100_550.144.03.xml"
#define V_DRIVER_EXPIRED "nvgpu/attestation-sdk/NV_GPU_DRIVER_GH100_570.124.03_expired.xml"
#define V_BAD_SIGNATURE "nvgpu/attestation-sdk/incorrect_signature_driver_rim.xml"
#define V_BAD_CHAIN "nvgpu/attestation-sdk/incorrect_cert_chain_driver_rim.xml"
#define V_VBIOS "nvgpu/nvtrust/1010_0200_882_96005E0001_PROD.swidtag"
#define V_VBIOS_MISMATCH "nvgpu/attestation-sdk/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml"
#define V_REPORT_535 "nvgpu/attestation-sdk/hopperAttestationReport.txt"

/* Inside every window of the driver RIM 550.144.03's chain (signer 2024-12-30..2026-12-30). */
#define NOW_DRIVER "2025-06-01T00:00:00Z"
/* Inside the VBIOS RIMs' windows (PROD signer 2023-06-23..2025-06-22, mismatch signer ..2025-12-12). */
#define NOW_VBIOS "2025-01-15T00:00:00Z"

/* ---------------------------------------------------------------- helpers */

/* The first failure wins until cleared (error.h), so each expected failure starts clean. */
#define EXPECT_FAIL(call, reason)              \
    do {                                       \
        ccg_error_clear();                     \
        assert_true(ccg_failed(call));         \
        tu_assert_error_reason(reason);        \
    } while (0)

/* noinline: gcc 12 at -O2 otherwise mistakes the returned buffer for the local pointer variable
 * (-Wdangling-pointer). */
__attribute__((noinline)) static char *read_text(const char *rel, size_t *len)
{
    uint8_t *data = NULL;
    tu_read_vector(rel, &data, len);
    return (char *)data;
}

static ccg_result verify_text(const char *xml, size_t len, X509 *root, const char *now, ccg_gpu_rim *rim)
{
    ccg_error_clear();
    return ccg_gpu_rim_verify((const uint8_t *)xml, len, root, tu_time(now), rim);
}

static void expect_vector(const char *rel, const char *now, ccg_reason expected)
{
    size_t len = 0;
    char *xml = read_text(rel, &len);
    ccg_gpu_rim rim;
    ccg_result r = verify_text(xml, len, NULL, now, &rim);
    if (expected == CCG_R_OK) {
        if (ccg_failed(r)) {
            fail_msg("%s at %s: %s (%s)", rel, now, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        }
        ccg_gpu_rim_free(&rim);
    } else {
        assert_true(ccg_failed(r));
        tu_assert_error_reason(expected);
        assert_null(rim.resources);
        assert_null(rim.chain);
    }
    free(xml);
}

/* Replaces the first occurrence of from by to; fails the test when absent. */
static char *replace(const char *text, const char *from, const char *to)
{
    const char *at = strstr(text, from);
    if (at == NULL) {
        fail_msg("'%s' not found", from);
    }
    size_t head = (size_t)(at - text), flen = strlen(from), tlen = strlen(to), len = strlen(text);
    char *out = malloc(len - flen + tlen + 1);
    assert_non_null(out);
    memcpy(out, text, head);
    memcpy(out + head, to, tlen);
    memcpy(out + head + tlen, at + flen, len - head - flen + 1);
    return out;
}

static void expect_mutated(const char *from, const char *to, ccg_reason expected)
{
    size_t len = 0;
    char *xml = read_text(V_DRIVER, &len);
    char *bad = replace(xml, from, to);
    ccg_gpu_rim rim;
    ccg_error_clear();
    assert_true(ccg_failed(verify_text(bad, strlen(bad), NULL, NOW_DRIVER, &rim)));
    tu_assert_error_reason(expected);
    free(bad);
    free(xml);
}

static size_t active_count(const ccg_gpu_rim *rim)
{
    size_t n = 0;
    for (size_t i = 0; i < rim->n_resources; i++) {
        n += rim->resources[i].active != 0;
    }
    return n;
}

static const ccg_gpu_rim_resource *resource_at(const ccg_gpu_rim *rim, unsigned index)
{
    for (size_t i = 0; i < rim->n_resources; i++) {
        if (rim->resources[i].index == index) {
            return &rim->resources[i];
        }
    }
    return NULL;
}

static void load_vector(const char *rel, const char *now, ccg_gpu_rim *rim)
{
    size_t len = 0;
    char *xml = read_text(rel, &len);
    if (ccg_failed(verify_text(xml, len, NULL, now, rim))) {
        fail_msg("%s: %s (%s)", rel, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    free(xml);
}

/* ---------------------------------------------------------------- NVIDIA's RIMs */

static void test_driver_rim_valid_inside_window(void **state)
{
    ccg_gpu_rim rim;
    load_vector(V_DRIVER, NOW_DRIVER, &rim);
    assert_string_equal(rim.version, "550.144.03");
    assert_string_equal(rim.product, "GH100");
    assert_non_null(strstr(rim.signer, "CN=HCC RIM L4 Signer"));
    assert_int_equal(sk_X509_num(rim.chain), 4);
    assert_int_equal(rim.n_resources, 64);
    /* Active: index 7 and 21..40 (21 indexes), each one SHA-384 alternative. */
    assert_int_equal(active_count(&rim), 21);
    const ccg_gpu_rim_resource *r7 = resource_at(&rim, 7);
    assert_non_null(r7);
    assert_true(r7->active);
    assert_int_equal(r7->size, 48);
    assert_int_equal(r7->alternatives, 1);
    assert_int_equal(r7->values[0][0], 0x4a);
    assert_int_equal(r7->values[0][47], 0x49);
    assert_false(resource_at(&rim, 8)->active);
    json_t *claims = ccg_gpu_rim_claims_json(&rim);
    assert_non_null(claims);
    assert_string_equal(json_string_value(json_object_get(claims, "version")), "550.144.03");
    assert_int_equal(json_array_size(json_object_get(claims, "active_indexes")), 21);
    json_decref(claims);
    ccg_gpu_rim_free(&rim);
    /* Both edges of the signer's window. */
    expect_vector(V_DRIVER, "2024-12-30T16:56:51Z", CCG_R_OK);
    expect_vector(V_DRIVER, "2026-12-30T16:56:49Z", CCG_R_OK);
}

static void test_driver_rim_refused_outside_window(void **state)
{
    expect_vector(V_DRIVER, "2026-12-30T16:56:51Z", CCG_R_GPU_RIM_CERT_EXPIRED);
    expect_vector(V_DRIVER, "2027-06-01T00:00:00Z", CCG_R_GPU_RIM_CERT_EXPIRED);
    expect_vector(V_DRIVER, "2024-12-30T16:56:49Z", CCG_R_GPU_RIM_CERT_NOT_YET_VALID);
}

static void test_incorrect_signature_rim(void **state)
{
    expect_vector(V_BAD_SIGNATURE, NOW_DRIVER, CCG_R_GPU_RIM_SIGNATURE_INVALID);
}

static void test_incorrect_cert_chain_rim(void **state)
{
    /* Signed under "NVIDIA CoRIM L1 Root CA Debug Only", not the pinned root. */
    expect_vector(V_BAD_CHAIN, NOW_DRIVER, CCG_R_GPU_RIM_CHAIN_INVALID);
}

static void test_expired_rim_refused_now(void **state)
{
    /* Its signer was valid 2025-01-01..2025-01-02 only. */
    expect_vector(V_DRIVER_EXPIRED, "2026-01-15T00:00:00Z", CCG_R_GPU_RIM_CERT_EXPIRED);
}

static void test_vbios_rim_valid_until_2025_06_22(void **state)
{
    ccg_gpu_rim rim;
    load_vector(V_VBIOS, NOW_VBIOS, &rim);
    assert_string_equal(rim.version, "96.00.5E.00.01");
    assert_int_equal(active_count(&rim), 12);
    ccg_gpu_rim_free(&rim);
    expect_vector(V_VBIOS, "2025-06-23T00:00:00Z", CCG_R_GPU_RIM_CERT_EXPIRED);
}

/* ---------------------------------------------------------------- refusals of the front end */

static void test_tampered_hash_refused(void **state)
{
    expect_mutated("ns2:Hash0=\"4a5e4b3d", "ns2:Hash0=\"4a5e4b3e", CCG_R_GPU_RIM_SIGNATURE_INVALID);
    expect_mutated("colloquialVersion=\"550.144.03\"", "colloquialVersion=\"550.144.04\"",
                   CCG_R_GPU_RIM_SIGNATURE_INVALID);
}

static void test_doctype_refused_before_entities(void **state)
{
    size_t len = 0;
    char *xml = read_text(V_DRIVER, &len);
    const char *dtd = "<!DOCTYPE SoftwareIdentity [<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;\">]>\n";
    char *bad = malloc(strlen(dtd) + len + 1);
    assert_non_null(bad);
    strcpy(bad, dtd);
    strcat(bad, xml);
    ccg_gpu_rim rim;
    ccg_error_clear();
    EXPECT_FAIL(verify_text(bad, strlen(bad), NULL, NOW_DRIVER, &rim), CCG_R_GPU_RIM_MALFORMED);
    /* Stopped by the SAX hook at the DOCTYPE itself, before any declaration was read. */
    assert_non_null(strstr(ccg_error_last()->message, "has a DOCTYPE"));
    free(bad);
    free(xml);
    /* An external entity would need a DTD as well: refused the same way, never fetched. */
    const char *xxe = "<!DOCTYPE x [<!ENTITY e SYSTEM \"http://127.0.0.1:9/x\">]><x>&e;</x>";
    EXPECT_FAIL(verify_text(xxe, strlen(xxe), NULL, NOW_DRIVER, &rim), CCG_R_GPU_RIM_MALFORMED);
}

static void test_size_bound(void **state)
{
    size_t len = CCG_GPU_RIM_MAX_BYTES + 1;
    char *big = malloc(len);
    assert_non_null(big);
    memset(big, ' ', len);
    ccg_gpu_rim rim;
    EXPECT_FAIL(verify_text(big, len, NULL, NOW_DRIVER, &rim), CCG_R_GPU_RIM_TOO_LARGE);
    free(big);
    EXPECT_FAIL(verify_text("<a/", 3, NULL, NOW_DRIVER, &rim), CCG_R_GPU_RIM_MALFORMED);
}

static void test_signature_structure_refused(void **state)
{
    size_t len = 0;
    char *xml = read_text(V_DRIVER, &len);
    /* Unsigned: the Signature element cut out. */
    char *sig = strstr(xml, "<ds:Signature");
    char *end = strstr(xml, "</ds:Signature>");
    assert_non_null(sig);
    assert_non_null(end);
    char *unsigned_xml = strdup(xml);
    assert_non_null(unsigned_xml);
    memmove(unsigned_xml + (sig - xml), unsigned_xml + (end - xml) + strlen("</ds:Signature>"),
            strlen(end + strlen("</ds:Signature>")) + 1);
    ccg_gpu_rim rim;
    EXPECT_FAIL(verify_text(unsigned_xml, strlen(unsigned_xml), NULL, NOW_DRIVER, &rim),
                CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED);
    /* A second Signature, nested in the Payload. */
    size_t sig_len = (size_t)(end - sig) + strlen("</ds:Signature>");
    char *copy = strndup(sig, sig_len);
    char *payload_end = strstr(xml, "</ns0:Payload>");
    assert_non_null(payload_end);
    char *two = malloc(len + sig_len + 1);
    assert_non_null(two);
    memcpy(two, xml, (size_t)(payload_end - xml));
    memcpy(two + (payload_end - xml), copy, sig_len);
    strcpy(two + (payload_end - xml) + sig_len, payload_end);
    EXPECT_FAIL(verify_text(two, strlen(two), NULL, NOW_DRIVER, &rim), CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED);
    free(two);
    free(copy);
    free(unsigned_xml);
    free(xml);
    /* A reference to something other than the whole document, and algorithms outside the allow-list. */
    expect_mutated("<ds:Reference URI=\"\">", "<ds:Reference URI=\"#x\">", CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED);
    expect_mutated("xmldsig-more#ecdsa-sha384", "xmldsig-more#ecdsa-sha256", CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED);
    expect_mutated("<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
                   "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xslt-19991116\"/>",
                   CCG_R_GPU_RIM_SIGNATURE_UNSUPPORTED);
}

/* ---------------------------------------------------------------- a test root, trusted only when named */

static EVP_PKEY *p384_key(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-384");
    assert_non_null(k);
    return k;
}

static void add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer, cert, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(cert, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* A P-384 certificate; issuer NULL makes it self-signed. */
static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca, ccg_time nb,
                       ccg_time na)
{
    static long serial = 1;
    X509 *c = X509_new();
    assert_non_null(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name);
    ASN1_TIME_set(X509_getm_notBefore(c), (time_t)nb);
    ASN1_TIME_set(X509_getm_notAfter(c), (time_t)na);
    X509_set_pubkey(c, key);
    add_ext(c, issuer != NULL ? issuer : c, NID_basic_constraints, ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    add_ext(c, issuer != NULL ? issuer : c, NID_key_usage,
            ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    assert_true(X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha384()) > 0);
    return c;
}

typedef struct {
    EVP_PKEY *root_key, *leaf_key;
    X509 *root, *leaf;
    STACK_OF(X509) *chain; /* leaf, root */
} test_pki;

static void pki_init(test_pki *p)
{
    ccg_time nb = tu_time("2024-01-01T00:00:00Z"), na = tu_time("2034-01-01T00:00:00Z");
    p->root_key = p384_key();
    p->leaf_key = p384_key();
    p->root = make_cert("ccgate test RIM root", p->root_key, NULL, NULL, 1, nb, na);
    p->leaf = make_cert("ccgate test RIM signer", p->leaf_key, p->root, p->root_key, 0, nb, na);
    p->chain = sk_X509_new_null();
    assert_non_null(p->chain);
    sk_X509_push(p->chain, p->leaf);
    sk_X509_push(p->chain, p->root);
}

static void pki_free(test_pki *p)
{
    sk_X509_free(p->chain);
    X509_free(p->leaf);
    X509_free(p->root);
    EVP_PKEY_free(p->leaf_key);
    EVP_PKEY_free(p->root_key);
}

/* An unsigned SWID: indexes[i] active or not, each with one alternative of 48 bytes of fill[i]. */
static char *swid_text(const char *version, size_t n, const unsigned *indexes, const int *active, const uint8_t *fill)
{
    size_t cap = 4096 + n * 256;
    char *s = malloc(cap);
    assert_non_null(s);
    size_t used = (size_t)snprintf(
        s, cap,
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "xmlns:h=\"http://www.w3.org/2001/04/xmlenc#sha384\" name=\"GH100\" tagId=\"ccgate-test-%s\" version=\"1.0\">"
        "<Meta colloquialVersion=\"%s\" product=\"GH100\" edition=\"GPU\" revision=\"r1\"/><Payload>",
        version, version);
    for (size_t i = 0; i < n; i++) {
        char hex[97];
        uint8_t v[48];
        memset(v, fill[i], sizeof(v));
        ccg_hex_encode(v, sizeof(v), hex);
        used += (size_t)snprintf(s + used, cap - used,
                                 "<Resource type=\"Measurement\" index=\"%u\" active=\"%s\" alternatives=\"1\" "
                                 "h:Hash0=\"%s\" name=\"m%u\" size=\"48\"/>",
                                 indexes[i], active[i] ? "True" : "False", hex, indexes[i]);
    }
    snprintf(s + used, cap - used, "</Payload></SoftwareIdentity>");
    return s;
}

static void sign_swid(const test_pki *p, EVP_PKEY *key, STACK_OF(X509) *chain, const char *swid, uint8_t **out,
                      size_t *len)
{
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_rim_sign((const uint8_t *)swid, strlen(swid), key, chain, out, len))) {
        fail_msg("signing: %s", ccg_error_last()->message);
    }
}

static void test_test_root_trusted_only_when_named(void **state)
{
    test_pki p;
    pki_init(&p);
    unsigned idx[] = {1, 2};
    int act[] = {1, 0};
    uint8_t fill[] = {0x11, 0x22};
    char *swid = swid_text("550.90.07", 2, idx, act, fill);
    uint8_t *signed_xml = NULL;
    size_t len = 0;
    sign_swid(&p, p.leaf_key, p.chain, swid, &signed_xml, &len);
    ccg_gpu_rim rim;
    /* Not trusted by default: only the pinned NVIDIA root is. */
    EXPECT_FAIL(verify_text((char *)signed_xml, len, NULL, NOW_DRIVER, &rim), CCG_R_GPU_RIM_CHAIN_INVALID);
    /* Trusted when named; the document's own copy of the root changes nothing. */
    assert_true(ccg_ok(verify_text((char *)signed_xml, len, p.root, NOW_DRIVER, &rim)));
    assert_string_equal(rim.version, "550.90.07");
    assert_int_equal(rim.n_resources, 2);
    assert_true(resource_at(&rim, 1)->active);
    assert_int_equal(resource_at(&rim, 1)->values[0][0], 0x11);
    ccg_gpu_rim_free(&rim);
    /* And NVIDIA's RIM does not verify under the test root. */
    size_t nv_len = 0;
    char *nv = read_text(V_DRIVER, &nv_len);
    EXPECT_FAIL(verify_text(nv, nv_len, p.root, NOW_DRIVER, &rim), CCG_R_GPU_RIM_CHAIN_INVALID);
    free(nv);
    free(signed_xml);
    free(swid);
    pki_free(&p);
}

static void test_signer_must_be_end_entity(void **state)
{
    test_pki p;
    pki_init(&p);
    unsigned idx[] = {1};
    int act[] = {1};
    uint8_t fill[] = {0x11};
    char *swid = swid_text("550.90.07", 1, idx, act, fill);
    STACK_OF(X509) *root_only = sk_X509_new_null();
    sk_X509_push(root_only, p.root);
    uint8_t *signed_xml = NULL;
    size_t len = 0;
    /* Signed by the root's own key, the root as the "signer" certificate. */
    sign_swid(&p, p.root_key, root_only, swid, &signed_xml, &len);
    ccg_gpu_rim rim;
    EXPECT_FAIL(verify_text((char *)signed_xml, len, p.root, NOW_DRIVER, &rim), CCG_R_GPU_RIM_CHAIN_INVALID);
    assert_non_null(strstr(ccg_error_last()->message, "CA"));
    free(signed_xml);
    /* A leaf certificate presented with another key's signature. */
    EVP_PKEY *other = p384_key();
    sign_swid(&p, other, p.chain, swid, &signed_xml, &len);
    EXPECT_FAIL(verify_text((char *)signed_xml, len, p.root, NOW_DRIVER, &rim), CCG_R_GPU_RIM_SIGNATURE_INVALID);
    EVP_PKEY_free(other);
    free(signed_xml);
    sk_X509_free(root_only);
    free(swid);
    pki_free(&p);
}

static void test_signer_key_must_be_p384(void **state)
{
    test_pki p;
    pki_init(&p);
    EVP_PKEY *p256 = EVP_EC_gen("P-256");
    assert_non_null(p256);
    X509 *leaf = make_cert("ccgate P-256 signer", p256, p.root, p.root_key, 0, tu_time("2024-01-01T00:00:00Z"),
                           tu_time("2034-01-01T00:00:00Z"));
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, leaf);
    sk_X509_push(chain, p.root);
    unsigned idx[] = {1};
    int act[] = {1};
    uint8_t fill[] = {0x11};
    char *swid = swid_text("550.90.07", 1, idx, act, fill);
    uint8_t *signed_xml = NULL;
    size_t len = 0;
    sign_swid(&p, p256, chain, swid, &signed_xml, &len);
    ccg_gpu_rim rim;
    EXPECT_FAIL(verify_text((char *)signed_xml, len, p.root, NOW_DRIVER, &rim), CCG_R_GPU_RIM_CHAIN_INVALID);
    assert_non_null(strstr(ccg_error_last()->message, "P-384"));
    free(signed_xml);
    free(swid);
    sk_X509_free(chain);
    X509_free(leaf);
    EVP_PKEY_free(p256);
    pki_free(&p);
}

/* A signed SWID with one textual change: must be refused as malformed, after a valid signature. */
static void expect_swid_malformed(const test_pki *p, const char *from, const char *to)
{
    unsigned idx[] = {1, 2};
    int act[] = {1, 0};
    uint8_t fill[] = {0x11, 0x22};
    char *swid = swid_text("550.90.07", 2, idx, act, fill);
    char *bad = replace(swid, from, to);
    uint8_t *signed_xml = NULL;
    size_t len = 0;
    sign_swid(p, p->leaf_key, p->chain, bad, &signed_xml, &len);
    ccg_gpu_rim rim;
    ccg_error_clear();
    assert_true(ccg_failed(verify_text((char *)signed_xml, len, p->root, NOW_DRIVER, &rim)));
    if (ccg_error_reason() != CCG_R_GPU_RIM_MALFORMED) {
        fail_msg("'%s' -> '%s': %s (%s)", from, to, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    free(signed_xml);
    free(bad);
    free(swid);
}

static void test_swid_content_rules(void **state)
{
    test_pki p;
    pki_init(&p);
    expect_swid_malformed(&p, "index=\"2\"", "index=\"1\"");                 /* an index twice */
    expect_swid_malformed(&p, "index=\"2\"", "index=\"254\"");               /* beyond SPDM's 254 blocks */
    expect_swid_malformed(&p, "index=\"2\"", "index=\"-2\"");
    expect_swid_malformed(&p, "active=\"True\"", "active=\"yes\"");
    expect_swid_malformed(&p, "alternatives=\"1\"", "alternatives=\"2\"");   /* Hash1 missing */
    expect_swid_malformed(&p, "alternatives=\"1\"", "alternatives=\"0\"");
    /* 32 bytes of hex with size 32, but in the SHA-384 namespace: not that digest's length. */
#define HEX_32_BYTES "1111111111111111111111111111111111111111111111111111111111111111"
#define HEX_16_BYTES "11111111111111111111111111111111"
    expect_swid_malformed(&p, HEX_32_BYTES HEX_16_BYTES "\" name=\"m1\" size=\"48\"",
                          HEX_32_BYTES "\" name=\"m1\" size=\"32\"");
    expect_swid_malformed(&p, "h:Hash0=\"1111", "h:Hash0=\"111");              /* odd hex */
    expect_swid_malformed(&p, "h:Hash0=\"1111", "h:Hash1=\"1111");             /* Hash1 of 1 alternative */
    expect_swid_malformed(&p, "xmlenc#sha384", "xmlenc#md5");                    /* unknown digest */
    expect_swid_malformed(&p, "<Payload>", "<Payload/><Payload>");               /* two Payloads */
    expect_swid_malformed(&p, "<Meta colloquialVersion=\"550.90.07\"", "<Meta/><Meta colloquialVersion=\"550.90.07\"");
    expect_swid_malformed(&p, "colloquialVersion=\"550.90.07\"", "colloquialVersion=\"\"");
    expect_swid_malformed(&p, "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\"",
                          "<SoftwareIdentity xmlns=\"urn:other\"");
    pki_free(&p);
}

/* ---------------------------------------------------------------- RIM IDs */

static void test_rim_ids(void **state)
{
    char id[CCG_GPU_RIM_ID_MAX];
    assert_true(ccg_ok(ccg_gpu_rim_driver_id("HOPPER", NULL, "550.144.03", id)));
    assert_string_equal(id, "NV_GPU_DRIVER_GH100_550.144.03");
    assert_true(ccg_ok(ccg_gpu_rim_driver_id("blackwell", "GB100", "570.124.03", id)));
    assert_string_equal(id, "NV_GPU_CC_DRIVER_GB100_570.124.03");
    assert_true(ccg_ok(ccg_gpu_rim_driver_id("BLACKWELL", "", "570.124.03", id)));
    assert_string_equal(id, "NV_GPU_CC_DRIVER_GB100_570.124.03");
    /* Opaque-data strings carry NUL padding; the VBIOS version's hex is upper-cased. */
    assert_true(ccg_ok(ccg_gpu_rim_vbios_id("1010\0\0", "0200 ", "882", "96.00.5e.00.01", id)));
    assert_string_equal(id, "NV_GPU_VBIOS_1010_0200_882_96005E0001");
    ccg_error_clear();
    EXPECT_FAIL(ccg_gpu_rim_vbios_id("../..", "0200", "882", "96.00.5E.00.01", id), CCG_R_GPU_RIM_ID_INVALID);
    EXPECT_FAIL(ccg_gpu_rim_vbios_id("1010", "", "882", "96.00.5E.00.01", id), CCG_R_GPU_RIM_ID_INVALID);
    EXPECT_FAIL(ccg_gpu_rim_driver_id("HOPPER", NULL, "550/../../etc", id), CCG_R_GPU_RIM_ID_INVALID);
    EXPECT_FAIL(ccg_gpu_rim_driver_id("AMPERE", NULL, "550.144.03", id), CCG_R_GPU_RIM_ID_INVALID);
}

/* ---------------------------------------------------------------- the RIM store */

typedef struct {
    char dir[256];
    const char *rim_text;   /* served as {"rim": base64} at /rims/<ID> */
    size_t rim_len;
    const char *rim_id;
    unsigned delay_ms;
} rim_service;

static void serve_rim(void *ctx, const char *method, const char *path, const uint8_t *body, size_t len,
                      lh_answer *out)
{
    rim_service *s = ctx;
    char want[256];
    snprintf(want, sizeof(want), "/rims/%s", s->rim_id);
    out->delay_ms = s->delay_ms;
    if (strcmp(method, "GET") != 0 || strcmp(path, want) != 0) {
        out->status = 404;
        return;
    }
    int b64_len = 4 * (((int)s->rim_len + 2) / 3);
    unsigned char *b64 = malloc((size_t)b64_len + 1);
    EVP_EncodeBlock(b64, (const unsigned char *)s->rim_text, (int)s->rim_len);
    json_t *doc = json_pack("{s:s, s:s, s:s}", "id", s->rim_id, "rim", (char *)b64, "rim_format", "SWID");
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    free(b64);
    out->status = 200;
    out->content_type = "application/json";
    out->body = (uint8_t *)text;
    out->len = strlen(text);
}

static void make_temp_dir(char *out, size_t len)
{
    snprintf(out, len, "/tmp/ccg-gpu-rim-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void test_store_directory(void **state)
{
    char dir[256], path[512];
    size_t len = 0;
    char *xml = read_text(V_DRIVER, &len);
    make_temp_dir(dir, sizeof(dir));
    snprintf(path, sizeof(path), "%s/NV_GPU_DRIVER_GH100_550.144.03.xml", dir);
    assert_true(ccg_ok(ccg_file_write(path, (const uint8_t *)xml, len)));
    ccg_gpu_rim_store store = {.dir = dir};
    ccg_gpu_rim rim;
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_rim_store_load(&store, "NV_GPU_DRIVER_GH100_550.144.03", NULL, tu_time(NOW_DRIVER),
                                              &rim)));
    assert_string_equal(rim.version, "550.144.03");
    ccg_gpu_rim_free(&rim);
    /* The .swidtag spelling is found too. */
    char swid_path[512];
    snprintf(swid_path, sizeof(swid_path), "%s/NV_GPU_VBIOS_X.swidtag", dir);
    assert_true(ccg_ok(ccg_file_write(swid_path, (const uint8_t *)xml, len)));
    uint8_t *got = NULL;
    size_t got_len = 0;
    assert_true(ccg_ok(ccg_gpu_rim_store_get(&store, "NV_GPU_VBIOS_X", &got, &got_len)));
    assert_int_equal(got_len, len);
    free(got);
    /* Missing, and no service: fails closed naming the RIM ID. */
    EXPECT_FAIL(ccg_gpu_rim_store_load(&store, "NV_GPU_DRIVER_GH100_550.90.07", NULL, tu_time(NOW_DRIVER),
                                                  &rim), CCG_R_GPU_RIM_UNAVAILABLE);
    assert_non_null(strstr(ccg_error_last()->message, "NV_GPU_DRIVER_GH100_550.90.07"));
    /* An ID that is not a plain file name never reaches the file system. */
    EXPECT_FAIL(ccg_gpu_rim_store_get(&store, "../etc/passwd", &got, &got_len), CCG_R_GPU_RIM_ID_INVALID);
    unlink(path);
    unlink(swid_path);
    rmdir(dir);
    free(xml);
}

static void test_store_service(void **state)
{
    size_t len = 0;
    char *xml = read_text(V_DRIVER, &len);
    rim_service svc = {.rim_text = xml, .rim_len = len, .rim_id = "NV_GPU_DRIVER_GH100_550.144.03"};
    char base[64], url[128];
    lh_server *srv = lh_start(serve_rim, &svc, base, sizeof(base));
    assert_non_null(srv);
    snprintf(url, sizeof(url), "%s/rims/", base);
    ccg_gpu_rim_store store = {.dir = "/nonexistent-ccgate-rim-dir", .service_url = url, .timeout_s = 5};
    ccg_gpu_rim rim;
    ccg_error_clear();
    ccg_result r = ccg_gpu_rim_store_load(&store, svc.rim_id, NULL, tu_time(NOW_DRIVER), &rim);
    if (ccg_failed(r)) {
        lh_stop(srv);
        fail_msg("%s", ccg_error_last()->message);
    }
    assert_string_equal(rim.version, "550.144.03");
    ccg_gpu_rim_free(&rim);
    /* The service does not have it: fails closed naming the ID. */
    EXPECT_FAIL(ccg_gpu_rim_store_load(&store, "NV_GPU_VBIOS_1010_0200_882_96005E0001", NULL, tu_time(NOW_DRIVER),
                                       &rim),
                CCG_R_GPU_RIM_UNAVAILABLE);
    assert_non_null(strstr(ccg_error_last()->message, "NV_GPU_VBIOS_1010_0200_882_96005E0001"));
    assert_int_equal(lh_requests(srv), 2);
    /* A service slower than the timeout is unavailable, not waited for. */
    svc.delay_ms = 2500;
    store.timeout_s = 1;
    EXPECT_FAIL(ccg_gpu_rim_store_load(&store, svc.rim_id, NULL, tu_time(NOW_DRIVER), &rim), CCG_R_GPU_RIM_UNAVAILABLE);
    lh_stop(srv);
    /* Nobody listening. */
    store.timeout_s = 5;
    EXPECT_FAIL(ccg_gpu_rim_store_load(&store, svc.rim_id, NULL, tu_time(NOW_DRIVER), &rim), CCG_R_GPU_RIM_UNAVAILABLE);
    free(xml);
}

/* ---------------------------------------------------------------- comparison */

/* Runtime blocks equal to the golden values of the active resources of both RIMs. */
typedef struct {
    ccg_gpu_rim_block blocks[CCG_GPU_RIM_INDEX_COUNT];
    uint8_t values[CCG_GPU_RIM_INDEX_COUNT][CCG_GPU_RIM_MAX_DIGEST];
    size_t n;
} runtime_copy;

static void runtime_from_rims(runtime_copy *rt, const ccg_gpu_rim *a, const ccg_gpu_rim *b)
{
    memset(rt, 0, sizeof(*rt));
    const ccg_gpu_rim *rims[] = {a, b};
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < rims[k]->n_resources; i++) {
            const ccg_gpu_rim_resource *r = &rims[k]->resources[i];
            if (!r->active) {
                continue;
            }
            memcpy(rt->values[rt->n], r->values[0], r->size);
            rt->blocks[rt->n] = (ccg_gpu_rim_block){(uint8_t)(r->index + 1), r->size, rt->values[rt->n]};
            rt->n++;
        }
    }
}

static ccg_gpu_rim_block *block_for(runtime_copy *rt, unsigned rim_index)
{
    for (size_t i = 0; i < rt->n; i++) {
        if (rt->blocks[i].index == rim_index + 1) {
            return &rt->blocks[i];
        }
    }
    fail_msg("no block for RIM index %u", rim_index);
    return NULL;
}

static void test_compare_driver_and_vbios(void **state)
{
    ccg_gpu_rim driver, vbios;
    load_vector(V_DRIVER, NOW_DRIVER, &driver);
    load_vector(V_VBIOS, NOW_VBIOS, &vbios);
    runtime_copy rt;
    runtime_from_rims(&rt, &driver, &vbios);
    ccg_gpu_rim_runtime in = {rt.blocks, rt.n, "550.144.03", "96.00.5e.00.01", 0};
    ccg_gpu_rim_match m;
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_rim_compare(&driver, &vbios, &in, &m)));
    assert_int_equal(m.golden_count, 33);
    assert_int_equal(m.matched_count, 33);
    assert_int_equal(m.n_mismatched, 0);

    /* Block i+1 holds RIM index i: shifting the blocks by one breaks every index. */
    for (size_t i = 0; i < rt.n; i++) {
        rt.blocks[i].index++;
    }
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 33);
    for (size_t i = 0; i < rt.n; i++) {
        rt.blocks[i].index--;
    }

    /* Two wrong values: both reported, with their RIM. */
    block_for(&rt, 7)->size = 47; /* same bytes, wrong size */
    block_for(&rt, 9)->value = (const uint8_t *)"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                                                "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"
                                                "\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 2);
    assert_int_equal(m.mismatched[0], 7);
    assert_int_equal(m.mismatched_source[0], 'D');
    assert_int_equal(m.mismatched[1], 9);
    assert_int_equal(m.mismatched_source[1], 'V');
    assert_non_null(strstr(ccg_error_last()->message, "7, 9"));
    json_t *j = ccg_gpu_rim_match_json(&m);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(j, "mismatched_indexes"), 1)), 9);
    json_decref(j);

    /* A missing block is a mismatch of its index too. */
    runtime_from_rims(&rt, &driver, &vbios);
    in.n_blocks = rt.n - 1; /* the last VBIOS index, 12 */
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 1);
    assert_int_equal(m.mismatched[0], 12);
    ccg_gpu_rim_free(&vbios);
    ccg_gpu_rim_free(&driver);
}

static void test_compare_nvdec0_skip(void **state)
{
    ccg_gpu_rim driver, vbios;
    load_vector(V_DRIVER, NOW_DRIVER, &driver);
    load_vector(V_VBIOS, NOW_VBIOS, &vbios);
    runtime_copy rt;
    runtime_from_rims(&rt, &driver, &vbios);
    block_for(&rt, 35)->value = rt.values[0]; /* index 35 now holds index 7's value */
    ccg_gpu_rim_runtime in = {rt.blocks, rt.n, "550.144.03", "96.00.5E.00.01", 0};
    ccg_gpu_rim_match m;
    ccg_error_clear();
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 1);
    assert_int_equal(m.mismatched[0], 35);
    assert_false(m.nvdec0_skipped);
    in.nvdec0_disabled = 1;
    assert_true(ccg_ok(ccg_gpu_rim_compare(&driver, &vbios, &in, &m)));
    assert_true(m.nvdec0_skipped);
    assert_int_equal(m.matched_count, 32);
    /* Only index 35 is skipped: another wrong index still fails with NVDEC0 disabled. */
    block_for(&rt, 34)->value = rt.values[0];
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 1);
    assert_int_equal(m.mismatched[0], 34);
    ccg_gpu_rim_free(&vbios);
    ccg_gpu_rim_free(&driver);
}

static void test_compare_versions_and_conflict(void **state)
{
    ccg_gpu_rim driver, vbios, vbios2;
    load_vector(V_DRIVER, NOW_DRIVER, &driver);
    load_vector(V_VBIOS, NOW_VBIOS, &vbios);
    load_vector(V_VBIOS_MISMATCH, NOW_VBIOS, &vbios2);
    runtime_copy rt;
    runtime_from_rims(&rt, &driver, &vbios);
    ccg_gpu_rim_match m;
    ccg_error_clear();
    /* A RIM for another driver or VBIOS version than the evidence's is fatal. */
    ccg_gpu_rim_runtime in = {rt.blocks, rt.n, "550.90.07", "96.00.5E.00.01", 0};
    ccg_error_clear();
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_RIM_VERSION_MISMATCH);
    assert_non_null(strstr(ccg_error_last()->message, "driver"));
    in.driver_version = "550.144.03";
    in.vbios_version = "96.00.74.00.1C";
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_RIM_VERSION_MISMATCH);
    assert_non_null(strstr(ccg_error_last()->message, "VBIOS"));
    in.vbios_version = NULL;
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_RIM_VERSION_MISMATCH);
    /* Two RIMs active at the same indexes (both VBIOS RIMs, indexes 0..12): a conflict. */
    in.driver_version = "96.00.5E.00.01";
    in.vbios_version = "96.00.5E.00.01";
    EXPECT_FAIL(ccg_gpu_rim_compare(&vbios, &vbios2, &in, &m), CCG_R_GPU_RIM_CONFLICT);
    assert_int_equal(m.conflict_index, 0);
    /* Both RIMs are required. */
    EXPECT_FAIL(ccg_gpu_rim_compare(NULL, &vbios, &in, &m), CCG_R_INTERNAL_ERROR);
    ccg_gpu_rim_free(&vbios2);
    ccg_gpu_rim_free(&vbios);
    ccg_gpu_rim_free(&driver);
}

/* The 535.86.09 report's measurement blocks and versions: through the SPDM parser (gpu_evidence.h). */
typedef struct {
    uint8_t *raw;
    ccg_gpu_rim_block blocks[CCG_GPU_RIM_INDEX_COUNT + 1];
    ccg_gpu_rim_runtime rt;
    ccg_gpu_report *report;
} report_blocks;

static void load_report(const char *rel, report_blocks *out)
{
    size_t text_len = 0, len = 0;
    char *text = read_text(rel, &text_len);
    memset(out, 0, sizeof(*out));
    out->report = calloc(1, sizeof(*out->report));
    assert_non_null(out->report);
    ccg_error_clear();
    assert_true(ccg_ok(ccg_gpu_report_decode((const uint8_t *)text, text_len, &out->raw, &len)));
    if (ccg_failed(ccg_gpu_report_parse(out->raw, len, out->report))) {
        fail_msg("%s: %s", rel, ccg_error_last()->message);
    }
    free(text);
    ccg_gpu_rim_runtime_from_report(out->report, out->blocks, &out->rt);
    /* The versions come from the evidence itself. */
    assert_string_equal(out->rt.driver_version, "535.86.09");
    assert_string_equal(out->rt.vbios_version, "96.00.5E.00.01");
}

static void free_report(report_blocks *rb)
{
    free(rb->report);
    free(rb->raw);
}

static void test_535_report_matches_vbios_rim(void **state)
{
    /* The driver RIM of 535.86.09 is not among the vectors: an empty one (no active index) stands in,
     * so exactly the VBIOS RIM's indexes are compared. */
    ccg_gpu_rim driver, vbios;
    memset(&driver, 0, sizeof(driver));
    snprintf(driver.version, sizeof(driver.version), "535.86.09");
    load_vector(V_VBIOS, NOW_VBIOS, &vbios);
    report_blocks rb;
    load_report(V_REPORT_535, &rb);
    assert_int_equal(rb.rt.n_blocks, 64);
    ccg_gpu_rim_runtime in = rb.rt;
    ccg_gpu_rim_match m;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_rim_compare(&driver, &vbios, &in, &m))) {
        fail_msg("%s", ccg_error_last()->message);
    }
    assert_int_equal(m.golden_count, 12);
    assert_int_equal(m.matched_count, 12);
    ccg_gpu_rim_free(&vbios);

    /* NVIDIA's mismatch RIM for the same VBIOS names index 9. */
    load_vector(V_VBIOS_MISMATCH, NOW_VBIOS, &vbios);
    ccg_error_clear();
    EXPECT_FAIL(ccg_gpu_rim_compare(&driver, &vbios, &in, &m), CCG_R_GPU_MEASUREMENT_MISMATCH);
    assert_int_equal(m.n_mismatched, 1);
    assert_int_equal(m.mismatched[0], 9);
    assert_int_equal(m.matched_count, 11);
    ccg_gpu_rim_free(&vbios);
    free_report(&rb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_driver_rim_valid_inside_window),
        cmocka_unit_test(test_driver_rim_refused_outside_window),
        cmocka_unit_test(test_incorrect_signature_rim),
        cmocka_unit_test(test_incorrect_cert_chain_rim),
        cmocka_unit_test(test_expired_rim_refused_now),
        cmocka_unit_test(test_vbios_rim_valid_until_2025_06_22),
        cmocka_unit_test(test_tampered_hash_refused),
        cmocka_unit_test(test_doctype_refused_before_entities),
        cmocka_unit_test(test_size_bound),
        cmocka_unit_test(test_signature_structure_refused),
        cmocka_unit_test(test_test_root_trusted_only_when_named),
        cmocka_unit_test(test_signer_must_be_end_entity),
        cmocka_unit_test(test_signer_key_must_be_p384),
        cmocka_unit_test(test_swid_content_rules),
        cmocka_unit_test(test_rim_ids),
        cmocka_unit_test(test_store_directory),
        cmocka_unit_test(test_store_service),
        cmocka_unit_test(test_compare_driver_and_vbios),
        cmocka_unit_test(test_compare_nvdec0_skip),
        cmocka_unit_test(test_compare_versions_and_conflict),
        cmocka_unit_test(test_535_report_matches_vbios_rim),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
