/* The GPU appraisal (gpu_appraise.h): NVIDIA's real vectors at pinned times through the whole
 * pipeline, and every policy check on a generated GPU under test roots the policy names: a fully
 * passing appraisal first, then one check changed at a time, each giving its own reason code. */
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/gpu_appraise.h"
#include "gpu_testgen.h"

#define V_NV_REPORT "nvgpu/nvtrust/hopperAttestationReport.txt"
#define V_NV_CHAIN "nvgpu/nvtrust/hopperCertChain.txt"
#define V_535_REPORT "nvgpu/attestation-sdk/hopperAttestationReport.txt"
#define V_535_CHAIN "nvgpu/attestation-sdk/hopperCertChain.txt"
#define V_TAMPERED "nvgpu/attestation-sdk/hopperAttestationReportInvalidSignature.txt"
#define V_EXPIRED_CHAIN "nvgpu/attestation-sdk/hopperCertChainExpired.txt"
#define V_VBIOS "nvgpu/nvtrust/1010_0200_882_96005E0001_PROD.swidtag"
#define V_VBIOS_MISMATCH "nvgpu/attestation-sdk/NV_GPU_VBIOS_1010_0200_882_96005E0001_measurement_mismatch.xml"
#define V_BAD_SIGNATURE "nvgpu/attestation-sdk/incorrect_signature_driver_rim.xml"
#define V_BAD_CHAIN "nvgpu/attestation-sdk/incorrect_cert_chain_driver_rim.xml"
#define V_JSON "nvgpu/attestation-sdk/evidence_hopper_590_12.json"
#define NOW_535 "2025-01-01T00:00:00Z" /* the VBIOS RIM's chain is valid until 2025-06-22 */
#define NOW_GEN "2030-01-01T00:00:00Z"

/* ------------------------------------------------------------------ helpers */

static ccg_gpu_policy *policy_from(const char *text)
{
    ccg_gpu_policy *p = NULL;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_policy_parse(text, strlen(text), &p))) {
        fail_msg("policy %s: %s", text, ccg_error_last()->message);
    }
    return p;
}

static int has_reason(const ccg_decision *d, ccg_reason r)
{
    return ccg_reasons_has(&d->reasons, r);
}

static void print_reasons(const ccg_decision *d)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *s = json_dumps(d->reasons.items[i].details, JSON_COMPACT);
        print_message("  reason %s %s\n", ccg_reason_code(d->reasons.items[i].reason), s ? s : "");
        free(s);
    }
}

static void assert_only_reason(const ccg_decision *d, ccg_reason r)
{
    if (d->reasons.count != 1 || d->reasons.items[0].reason != r) {
        print_reasons(d);
        fail_msg("wanted exactly %s", ccg_reason_code(r));
    }
    assert_false(d->allow);
}

static void assert_reason(const ccg_decision *d, ccg_reason r)
{
    if (!has_reason(d, r)) {
        print_reasons(d);
        fail_msg("wanted %s", ccg_reason_code(r));
    }
    assert_false(d->allow);
}

static json_t *gpu_claims(const ccg_gpu_appraisal *a, size_t i)
{
    return json_array_get(json_object_get(a->decision.claims, "gpus"), i);
}

static const char *check_of(const ccg_gpu_appraisal *a, size_t i, const char *name)
{
    return json_string_value(json_object_get(json_object_get(gpu_claims(a, i), "checks"), name));
}

/* An evidence item from a vector report and chain; its nonce is the report's own. */
static void item_from_vectors(const char *report_rel, const char *chain_rel, ccg_gpu_evidence_item *item)
{
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    ccg_gpu_report *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    memset(item, 0, sizeof(*item));
    tu_read_vector(report_rel, &raw, &raw_len);
    assert_true(ccg_ok(ccg_gpu_report_decode(raw, raw_len, &item->evidence, &item->evidence_len)));
    tu_read_vector(chain_rel, &item->certificate, &item->certificate_len);
    if (ccg_ok(ccg_gpu_report_parse(item->evidence, item->evidence_len, r))) {
        memcpy(item->nonce, r->nonce, sizeof(item->nonce));
    }
    ccg_error_clear();
    free(r);
    free(raw);
}

static void item_free(ccg_gpu_evidence_item *item)
{
    free(item->evidence);
    free(item->certificate);
}

static void appraise(const ccg_gpu_policy *p, const ccg_gpu_collateral *c, const ccg_gpu_evidence_item *items,
                     size_t n, const uint8_t *const *nonces, const ccg_gpu_host_state *host, const char *now,
                     ccg_gpu_appraisal *out)
{
    ccg_gpu_appraisal_input in = {.items = items, .count = n, .expected_nonces = nonces, .host = host};
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_appraise(p, c, &in, tu_time(now), out))) {
        fail_msg("appraise: %s", ccg_error_last()->message);
    }
}

/* ------------------------------------------------------------------ NVIDIA's vectors */

static const char *const RIMS_NO_OCSP = "{\"policy_id\":\"rims\",\"version\":3,\"require_ocsp\":false}";
static const char *const EVIDENCE_ONLY =
    "{\"policy_id\":\"ev\",\"version\":1,\"require_ocsp\":false,\"require_rim\":false}";

static void run_535(const char *rim_rel, ccg_gpu_appraisal *a)
{
    ccg_gpu_verifier *v = NULL;
    ccg_gpu_evidence_item item;
    uint8_t *rim = NULL;
    size_t rim_len = 0;
    assert_true(ccg_ok(ccg_gpu_verifier_new(&v)));
    item_from_vectors(V_535_REPORT, V_535_CHAIN, &item);
    tu_read_vector(rim_rel, &rim, &rim_len);
    ccg_gpu_rim_doc doc = {rim, rim_len};
    ccg_gpu_collateral c = {.verifier = v, .rims = &doc, .n_rims = 1};
    ccg_gpu_policy *p = policy_from(RIMS_NO_OCSP);
    appraise(p, &c, &item, 1, NULL, NULL, NOW_535, a);
    ccg_gpu_policy_free(p);
    free(rim);
    item_free(&item);
    ccg_gpu_verifier_free(v);
}

static void test_535_vbios_matches_12_indexes(void **state)
{
    (void)state;
    ccg_gpu_appraisal a;
    run_535(V_VBIOS, &a);
    json_t *rim = json_object_get(gpu_claims(&a, 0), "rim");
    json_t *match = json_object_get(rim, "match");
    assert_int_equal(json_integer_value(json_object_get(match, "golden")), 12);
    assert_int_equal(json_integer_value(json_object_get(match, "matched")), 12);
    assert_int_equal(json_array_size(json_object_get(match, "mismatched_indexes")), 0);
    assert_string_equal(json_string_value(json_object_get(rim, "vbios_id")), "NV_GPU_VBIOS_1010_0200_882_96005E0001");
    /* The driver RIM of 535.86.09 is not among the vectors: the only failure, naming its ID. */
    assert_only_reason(&a.decision, CCG_R_GPU_RIM_UNAVAILABLE);
    assert_string_equal(json_string_value(json_object_get(a.decision.reasons.items[0].details, "rim_id")),
                        "NV_GPU_DRIVER_GH100_535.86.09");
    assert_string_equal(check_of(&a, 0, "measurements"), "not_done"); /* one RIM missing: never "passed" */
    assert_string_equal(check_of(&a, 0, "signature"), "passed");
    assert_string_equal(check_of(&a, 0, "nonce"), "not_done");
    ccg_gpu_appraisal_free(&a);
}

static void test_535_mismatch_names_index_9(void **state)
{
    (void)state;
    ccg_gpu_appraisal a;
    run_535(V_VBIOS_MISMATCH, &a);
    assert_reason(&a.decision, CCG_R_GPU_MEASUREMENT_MISMATCH);
    for (size_t i = 0; i < a.decision.reasons.count; i++) {
        if (a.decision.reasons.items[i].reason == CCG_R_GPU_MEASUREMENT_MISMATCH) {
            json_t *idx = json_object_get(a.decision.reasons.items[i].details, "mismatched_indexes");
            assert_int_equal(json_array_size(idx), 1);
            assert_int_equal(json_integer_value(json_array_get(idx, 0)), 9);
        }
    }
    assert_string_equal(check_of(&a, 0, "measurements"), "failed");
    ccg_gpu_appraisal_free(&a);
}

static void test_bad_rim_signature_and_chain(void **state)
{
    (void)state;
    ccg_gpu_appraisal a;
    run_535(V_BAD_SIGNATURE, &a);
    assert_reason(&a.decision, CCG_R_GPU_RIM_SIGNATURE_INVALID);
    assert_false(has_reason(&a.decision, CCG_R_GPU_RIM_CHAIN_INVALID));
    ccg_gpu_appraisal_free(&a);
    run_535(V_BAD_CHAIN, &a);
    assert_reason(&a.decision, CCG_R_GPU_RIM_CHAIN_INVALID);
    assert_false(has_reason(&a.decision, CCG_R_GPU_RIM_SIGNATURE_INVALID));
    ccg_gpu_appraisal_free(&a);
}

static void test_json_form_and_tampered(void **state)
{
    (void)state;
    ccg_gpu_verifier *v = NULL;
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_gpu_evidence_list list = {0};
    ccg_gpu_appraisal a;
    assert_true(ccg_ok(ccg_gpu_verifier_new(&v)));
    ccg_gpu_collateral c = {.verifier = v};
    ccg_gpu_policy *p = policy_from(EVIDENCE_ONLY);
    tu_read_vector(V_JSON, &text, &len);
    assert_true(ccg_ok(ccg_gpu_evidence_json_parse((const char *)text, len, &list)));
    appraise(p, &c, list.items, list.count, NULL, NULL, NOW_535, &a);
    if (!a.decision.allow) {
        print_reasons(&a.decision);
    }
    assert_true(a.decision.allow);
    assert_string_equal(json_string_value(json_object_get(gpu_claims(&a, 0), "driver_version")), "590.12");
    assert_string_equal(json_string_value(json_object_get(gpu_claims(&a, 0), "arch")), "HOPPER");
    assert_string_equal(a.decision.policy_id, "ev");
    ccg_gpu_appraisal_free(&a);

    ccg_gpu_evidence_item item;
    item_from_vectors(V_TAMPERED, V_EXPIRED_CHAIN, &item);
    appraise(p, &c, &item, 1, NULL, NULL, NOW_535, &a);
    assert_reason(&a.decision, CCG_R_GPU_SIGNATURE_INVALID);
    ccg_gpu_appraisal_free(&a);
    item_free(&item);

    /* The nvtrust report: everything the evidence carries passes; a wrong expected nonce does not. */
    item_from_vectors(V_NV_REPORT, V_NV_CHAIN, &item);
    appraise(p, &c, &item, 1, NULL, NULL, NOW_535, &a);
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
    uint8_t wrong[CCG_GPU_NONCE_SIZE] = {0};
    const uint8_t *nonces[] = {wrong};
    appraise(p, &c, &item, 1, nonces, NULL, NOW_535, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_NONCE_MISMATCH);
    ccg_gpu_appraisal_free(&a);
    nonces[0] = item.nonce;
    appraise(p, &c, &item, 1, nonces, NULL, NOW_535, &a);
    assert_true(a.decision.allow);
    assert_string_equal(check_of(&a, 0, "nonce"), "passed");
    ccg_gpu_appraisal_free(&a);
    item_free(&item);

    ccg_gpu_evidence_list_free(&list);
    free(text);
    ccg_gpu_policy_free(p);
    ccg_gpu_verifier_free(v);
}

/* ------------------------------------------------------------------ a generated GPU under test roots */

typedef struct {
    gt_chain chain;
    char *chain_pem;
    size_t chain_pem_len;
    gt_report spec;
    uint8_t fwid[48];
    ccg_gpu_evidence_item item;
    EVP_PKEY *rim_root_key, *rim_leaf_key;
    X509 *rim_root, *rim_leaf;
    char dir[64];      /* RIM store */
    char ocsp_dir[80]; /* OCSP cache */
    ccg_gpu_verifier *v;
    ccg_gpu_rim_store store;
    ccg_gpu_ocsp_config ocsp;
    ccg_gpu_collateral c;
} gen;

static EVP_PKEY *p384(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-384");
    assert_non_null(k);
    return k;
}

static X509 *rim_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key, int ca)
{
    static long serial = 100;
    X509 *c = X509_new();
    X509V3_CTX v3;
    assert_non_null(c);
    X509_set_version(c, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(c), serial++);
    X509_NAME *name = X509_get_subject_name(c);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(c, issuer != NULL ? X509_get_subject_name(issuer) : name);
    ASN1_TIME_set(X509_getm_notBefore(c), (time_t)tu_time("2024-01-01T00:00:00Z"));
    ASN1_TIME_set(X509_getm_notAfter(c), (time_t)tu_time("2040-01-01T00:00:00Z"));
    X509_set_pubkey(c, key);
    X509V3_set_ctx(&v3, issuer != NULL ? issuer : c, c, NULL, NULL, 0);
    X509_EXTENSION *bc = X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints,
                                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    X509_EXTENSION *ku = X509V3_EXT_conf_nid(NULL, &v3, NID_key_usage,
                                             ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
    X509_add_ext(c, bc, -1);
    X509_add_ext(c, ku, -1);
    X509_EXTENSION_free(bc);
    X509_EXTENSION_free(ku);
    assert_true(X509_sign(c, issuer_key != NULL ? issuer_key : key, EVP_sha384()) > 0);
    return c;
}

/* A RIM with `indexes` active, each holding block (index+1)'s generated value, saved as <dir>/<id>.xml. */
static void write_rim(gen *g, const char *id, const char *version, unsigned first, unsigned n, int corrupt)
{
    char swid[8192], path[256];
    size_t used = (size_t)snprintf(
        swid, sizeof(swid),
        "<SoftwareIdentity xmlns=\"http://standards.iso.org/iso/19770/-2/2015/schema.xsd\" "
        "xmlns:h=\"http://www.w3.org/2001/04/xmlenc#sha384\" name=\"GH100\" tagId=\"t-%s\" version=\"1.0\">"
        "<Meta colloquialVersion=\"%s\" product=\"GH100\" edition=\"GPU\" revision=\"r1\"/><Payload>",
        id, version);
    for (unsigned i = first; i < first + n; i++) {
        uint8_t v[48];
        char hex[97];
        memset(v, (int)(i + 1) ^ (corrupt && i == first ? 0xff : 0), sizeof(v)); /* gt fills block b with b */
        ccg_hex_encode(v, sizeof(v), hex);
        used += (size_t)snprintf(swid + used, sizeof(swid) - used,
                                 "<Resource type=\"Measurement\" index=\"%u\" active=\"True\" alternatives=\"1\" "
                                 "h:Hash0=\"%s\" name=\"m%u\" size=\"48\"/>",
                                 i, hex, i);
    }
    snprintf(swid + used, sizeof(swid) - used, "</Payload></SoftwareIdentity>");
    STACK_OF(X509) *chain = sk_X509_new_null();
    sk_X509_push(chain, g->rim_leaf);
    sk_X509_push(chain, g->rim_root);
    uint8_t *xml = NULL;
    size_t len = 0;
    ccg_error_clear();
    if (ccg_failed(ccg_gpu_rim_sign((const uint8_t *)swid, strlen(swid), g->rim_leaf_key, chain, &xml, &len))) {
        fail_msg("sign: %s", ccg_error_last()->message);
    }
    snprintf(path, sizeof(path), "%s/%s.xml", g->dir, id);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(xml, 1, len, f), len);
    fclose(f);
    free(xml);
    sk_X509_free(chain);
}

#define DRIVER_ID "NV_GPU_DRIVER_GH100_550.90.07"
#define VBIOS_ID "NV_GPU_VBIOS_1010_0200_882_96009F0001"

static void gen_build(gen *g)
{
    free(g->item.evidence);
    g->item.evidence = gt_report_build(&g->spec, &g->item.evidence_len);
    assert_non_null(g->item.evidence);
    assert_int_equal(gt_report_sign(g->chain.keys[0], g->item.evidence, g->item.evidence_len), 0);
    memcpy(g->item.nonce, g->spec.nonce, sizeof(g->item.nonce));
}

static int gen_setup(void **state)
{
    gen *g = calloc(1, sizeof(*g));
    gt_chain_opts o;
    assert_non_null(g);
    for (int i = 0; i < 48; i++) {
        g->fwid[i] = (uint8_t)(0x40 + i);
    }
    gt_chain_opts_default(&o, g->fwid);
    assert_int_equal(gt_chain_make(&o, &g->chain), 0);
    g->chain_pem = gt_chain_pem_all(&g->chain, &g->chain_pem_len);
    g->item.certificate = (uint8_t *)g->chain_pem;
    g->item.certificate_len = g->chain_pem_len;
    g->item.arch = CCG_GPU_ARCH_HOPPER;
    gt_report_default(&g->spec, g->fwid);
    gen_build(g);
    g->rim_root_key = p384();
    g->rim_leaf_key = p384();
    g->rim_root = rim_cert("ccgate test RIM root", g->rim_root_key, NULL, NULL, 1);
    g->rim_leaf = rim_cert("ccgate test RIM signer", g->rim_leaf_key, g->rim_root, g->rim_root_key, 0);
    snprintf(g->dir, sizeof(g->dir), "/tmp/ccg-gpu-appraise-XXXXXX");
    assert_non_null(mkdtemp(g->dir));
    snprintf(g->ocsp_dir, sizeof(g->ocsp_dir), "%s/ocsp", g->dir);
    assert_int_equal(mkdir(g->ocsp_dir, 0700), 0);
    /* Driver RIM: indexes 0..3, VBIOS RIM: 4..7 (blocks 1..8 of the generated report). */
    write_rim(g, DRIVER_ID, "550.90.07", 0, 4, 0);
    write_rim(g, VBIOS_ID, "96.00.9F.00.01", 4, 4, 0);
    assert_true(ccg_ok(ccg_gpu_verifier_new(&g->v)));
    assert_true(ccg_ok(ccg_gpu_verifier_add_test_root(g->v, g->chain.certs[4])));
    g->store.dir = g->dir;
    g->ocsp.cache_dir = g->ocsp_dir;
    g->c = (ccg_gpu_collateral){.verifier = g->v, .rim_store = &g->store, .ocsp = &g->ocsp};
    *state = g;
    return 0;
}

static int gen_teardown(void **state)
{
    gen *g = *state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g->dir);
    if (system(cmd) != 0) {
        print_message("could not remove %s\n", g->dir);
    }
    ccg_gpu_verifier_free(g->v);
    free(g->item.evidence);
    free(g->chain_pem);
    gt_chain_free(&g->chain);
    X509_free(g->rim_root);
    X509_free(g->rim_leaf);
    EVP_PKEY_free(g->rim_root_key);
    EVP_PKEY_free(g->rim_leaf_key);
    free(g);
    return 0;
}

static char *pem_of(X509 *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data = NULL;
    assert_true(PEM_write_bio_X509(b, c) == 1);
    long n = BIO_get_mem_data(b, &data);
    char *out = strndup(data, (size_t)n);
    BIO_free(b);
    return out;
}

/* The base policy naming both test roots, with `extra` members merged in. */
static ccg_gpu_policy *gen_policy(const gen *g, const char *extra)
{
    char *gpu_pem = pem_of(g->chain.certs[4]), *rim_pem = pem_of(g->rim_root);
    json_t *doc = json_pack("{s:s, s:i, s:b, s:{s:s, s:s}}", "policy_id", "gen", "version", 7, "require_ocsp", 0,
                            "trusted_roots", "gpu", gpu_pem, "rim", rim_pem);
    json_t *more = json_loads(extra != NULL ? extra : "{}", 0, NULL);
    assert_non_null(doc);
    assert_non_null(more);
    json_object_update(doc, more);
    char *text = json_dumps(doc, JSON_COMPACT);
    ccg_gpu_policy *p = policy_from(text);
    free(text);
    json_decref(more);
    json_decref(doc);
    free(gpu_pem);
    free(rim_pem);
    return p;
}

/* Appraises the generated GPU (count copies) under a policy made of extra. */
static void gen_run(gen *g, const char *extra, size_t count, const ccg_gpu_host_state *host, ccg_gpu_appraisal *a)
{
    ccg_gpu_evidence_item items[3] = {g->item, g->item, g->item};
    const uint8_t *nonces[3] = {g->spec.nonce, g->spec.nonce, g->spec.nonce};
    ccg_gpu_policy *p = gen_policy(g, extra);
    appraise(p, &g->c, items, count, nonces, host, NOW_GEN, a);
    ccg_gpu_policy_free(p);
}

static void expect_only(gen *g, const char *extra, ccg_reason r)
{
    ccg_gpu_appraisal a;
    gen_run(g, extra, 1, NULL, &a);
    assert_only_reason(&a.decision, r);
    ccg_gpu_appraisal_free(&a);
}

static void test_gen_allowed(void **state)
{
    gen *g = *state;
    ccg_gpu_appraisal a;
    gen_run(g, NULL, 1, NULL, &a);
    if (!a.decision.allow) {
        print_reasons(&a.decision);
    }
    assert_true(a.decision.allow);
    assert_string_equal(a.decision.policy_id, "gen");
    assert_int_equal(a.decision.policy_version, 7);
    const char *checks[] = {"chain", "trust_root", "fwid", "signature", "nonce", "measurements", "policy"};
    for (size_t i = 0; i < sizeof(checks) / sizeof(checks[0]); i++) {
        assert_string_equal(check_of(&a, 0, checks[i]), "passed");
    }
    json_t *match = json_object_get(json_object_get(gpu_claims(&a, 0), "rim"), "match");
    assert_int_equal(json_integer_value(json_object_get(match, "golden")), 8);
    assert_int_equal(json_integer_value(json_object_get(match, "matched")), 8);
    char serial[64];
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(g->chain.certs[0]), NULL);
    char *dec = BN_bn2dec(bn);
    snprintf(serial, sizeof(serial), "%s", dec);
    OPENSSL_free(dec);
    BN_free(bn);
    assert_string_equal(json_string_value(json_object_get(gpu_claims(&a, 0), "ueid")), serial); /* the leaf serial */
    assert_string_equal(json_string_value(json_object_get(gpu_claims(&a, 0), "driver_version")), "550.90.07");
    assert_string_equal(json_string_value(json_object_get(gpu_claims(&a, 0), "vbios_version")), "96.00.9F.00.01");
    assert_non_null(json_object_get(gpu_claims(&a, 0), "evidence"));
    assert_int_equal(strncmp(a.decision.evidence_digest, "sha384:", 7), 0);
    ccg_gpu_appraisal_free(&a);
}

static void test_gen_test_roots_only_when_named(void **state)
{
    gen *g = *state;
    ccg_gpu_appraisal a;
    /* The verifier trusts the device test root, but a policy that does not name it refuses it. */
    ccg_gpu_policy *p = policy_from("{\"policy_id\":\"p\",\"version\":1,\"require_ocsp\":false}");
    const uint8_t *nonces[] = {g->spec.nonce};
    appraise(p, &g->c, &g->item, 1, nonces, NULL, NOW_GEN, &a);
    assert_reason(&a.decision, CCG_R_GPU_TEST_ROOT_NOT_NAMED);
    /* And its test-signed RIMs do not chain to NVIDIA's RIM root. */
    assert_reason(&a.decision, CCG_R_GPU_RIM_CHAIN_INVALID);
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_policy_free(p);
    /* A policy naming another device root refuses it too. */
    gt_chain other;
    gt_chain_opts o;
    gt_chain_opts_default(&o, g->fwid);
    assert_int_equal(gt_chain_make(&o, &other), 0);
    char *pem = pem_of(other.certs[4]), *rim_pem = pem_of(g->rim_root);
    json_t *doc = json_pack("{s:s, s:i, s:b, s:{s:s, s:s}}", "policy_id", "o", "version", 1, "require_ocsp", 0,
                            "trusted_roots", "gpu", pem, "rim", rim_pem);
    char *text = json_dumps(doc, 0);
    p = policy_from(text);
    appraise(p, &g->c, &g->item, 1, nonces, NULL, NOW_GEN, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_TEST_ROOT_NOT_NAMED);
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_policy_free(p);
    free(text);
    json_decref(doc);
    free(pem);
    free(rim_pem);
    gt_chain_free(&other);
}

static void test_gen_count(void **state)
{
    gen *g = *state;
    ccg_gpu_appraisal a;
    gen_run(g, "{\"count\":2}", 1, NULL, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_COUNT_MISMATCH);
    ccg_gpu_appraisal_free(&a);
    gen_run(g, "{\"count\":2}", 2, NULL, &a);
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
    gen_run(g, "{\"min_count\":1,\"max_count\":2}", 3, NULL, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_COUNT_MISMATCH);
    ccg_gpu_appraisal_free(&a);
    gen_run(g, "{\"min_count\":2,\"max_count\":3}", 3, NULL, &a);
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
    gen_run(g, NULL, 0, NULL, &a); /* no GPU at all is never enough */
    assert_only_reason(&a.decision, CCG_R_GPU_COUNT_MISMATCH);
    ccg_gpu_appraisal_free(&a);
}

static void test_gen_arch(void **state)
{
    expect_only(*state, "{\"allowed_architectures\":[\"blackwell\"]}", CCG_R_GPU_ARCH_NOT_ALLOWED);
    ccg_gpu_appraisal a;
    gen_run(*state, "{\"allowed_architectures\":[\"hopper\"]}", 1, NULL, &a);
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
}

static void test_gen_versions(void **state)
{
    gen *g = *state;
    ccg_gpu_appraisal a;
    expect_only(g, "{\"minimum_driver_version\":\"550.90.8\"}", CCG_R_GPU_DRIVER_VERSION_TOO_OLD);
    expect_only(g, "{\"minimum_driver_version\":\"550.100\"}", CCG_R_GPU_DRIVER_VERSION_TOO_OLD);
    expect_only(g, "{\"allowed_driver_versions\":[\"550.90.08\",\"535.86.09\"]}", CCG_R_GPU_DRIVER_VERSION_NOT_ALLOWED);
    expect_only(g, "{\"minimum_vbios_version\":\"96.00.A0.00.00\"}", CCG_R_GPU_VBIOS_VERSION_TOO_OLD);
    expect_only(g, "{\"allowed_vbios_versions\":[\"96.00.9F.00.02\"]}", CCG_R_GPU_VBIOS_VERSION_NOT_ALLOWED);
    /* Equal versions pass, whatever the spelling of the parts. */
    gen_run(g,
            "{\"minimum_driver_version\":\"550.90.07\",\"allowed_driver_versions\":[\"550.90.7\"],"
            "\"minimum_vbios_version\":\"96.00.9f.00.01\",\"allowed_vbios_versions\":[\"96.0.9F.0.1\"]}",
            1, NULL, &a);
    if (!a.decision.allow) {
        print_reasons(&a.decision);
    }
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
    gen_run(g, "{\"minimum_driver_version\":\"550.9\",\"minimum_vbios_version\":\"96.00.9E\"}", 1, NULL, &a);
    assert_true(a.decision.allow); /* 90 > 9 numerically, 9F > 9E */
    ccg_gpu_appraisal_free(&a);
}

static void test_gen_version_unreadable(void **state)
{
    gen *g = *state;
    gt_report saved = g->spec;
    /* A report without a driver version, under a policy that constrains it. */
    gt_report_default(&g->spec, g->fwid);
    g->spec.opaque_len = 0;
    static const uint8_t vbios[8] = {0x00, 0x9f, 0x00, 0x96, 0x01, 0x00, 0x00, 0x00};
    gt_opaque_add(&g->spec, CCG_GPU_OPAQUE_VBIOS_VERSION, vbios, sizeof(vbios));
    gt_opaque_add(&g->spec, CCG_GPU_OPAQUE_FWID, g->fwid, 48);
    gen_build(g);
    ccg_gpu_appraisal a;
    gen_run(g, "{\"minimum_driver_version\":\"1.0\",\"require_rim\":false}", 1, NULL, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_VERSION_UNREADABLE);
    ccg_gpu_appraisal_free(&a);
    g->spec = saved;
    gen_build(g);
}

static void with_mode(gen *g, uint8_t flag)
{
    uint8_t v[4] = {flag, 0, 0, 0};
    gt_opaque_add(&g->spec, CCG_GPU_OPAQUE_FEATURE_FLAG, v, sizeof(v));
    gen_build(g);
}

static void test_gen_modes(void **state)
{
    gen *g = *state;
    gt_report saved = g->spec;
    ccg_gpu_appraisal a;
    /* No feature flag: fine while every mode is allowed, unknown once one is required or refused. */
    expect_only(g, "{\"modes\":{\"protected_pcie\":\"refused\"}}", CCG_R_GPU_MODE_UNKNOWN);
    with_mode(g, 2); /* protected PCIe */
    expect_only(g, "{\"modes\":{\"protected_pcie\":\"refused\"}}", CCG_R_GPU_MODE_REFUSED);
    expect_only(g, "{\"modes\":{\"multi_gpu\":\"required\"}}", CCG_R_GPU_MODE_REQUIRED);
    gen_run(g, "{\"modes\":{\"protected_pcie\":\"required\",\"single_gpu\":\"refused\"}}", 1, NULL, &a);
    assert_true(a.decision.allow);
    assert_string_equal(json_string_value(json_object_get(gpu_claims(&a, 0), "mode")), "protected_pcie");
    ccg_gpu_appraisal_free(&a);
    g->spec = saved;
    with_mode(g, 7); /* a value no driver defines */
    expect_only(g, "{\"modes\":{\"single_gpu\":\"required\"}}", CCG_R_GPU_MODE_UNKNOWN);
    g->spec = saved;
    gen_build(g);
}

static void test_gen_fwid_required(void **state)
{
    gen *g = *state;
    gt_report saved = g->spec;
    gt_report_default(&g->spec, NULL);
    gen_build(g);
    ccg_gpu_appraisal a;
    gen_run(g, NULL, 1, NULL, &a);
    assert_true(a.decision.allow); /* older drivers carry no FWID */
    assert_string_equal(check_of(&a, 0, "fwid"), "not_in_report");
    ccg_gpu_appraisal_free(&a);
    expect_only(g, "{\"require_fwid\":true}", CCG_R_GPU_FWID_MISSING);
    g->spec = saved;
    gen_build(g);
}

static void test_gen_rim_required_missing(void **state)
{
    gen *g = *state;
    char path[256], moved[256];
    snprintf(path, sizeof(path), "%s/%s.xml", g->dir, DRIVER_ID);
    snprintf(moved, sizeof(moved), "%s/moved.bak", g->dir);
    assert_int_equal(rename(path, moved), 0);
    ccg_gpu_appraisal a;
    gen_run(g, NULL, 1, NULL, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_RIM_UNAVAILABLE);
    assert_string_equal(json_string_value(json_object_get(a.decision.reasons.items[0].details, "rim_id")), DRIVER_ID);
    assert_string_equal(check_of(&a, 0, "measurements"), "not_done");
    ccg_gpu_appraisal_free(&a);
    gen_run(g, "{\"require_rim\":false}", 1, NULL, &a); /* not required: not looked for */
    assert_true(a.decision.allow);
    assert_string_equal(check_of(&a, 0, "measurements"), "not_done");
    ccg_gpu_appraisal_free(&a);
    assert_int_equal(rename(moved, path), 0);
    /* No RIM store at all. */
    const ccg_gpu_rim_store *store = g->c.rim_store;
    g->c.rim_store = NULL;
    gen_run(g, NULL, 1, NULL, &a);
    assert_reason(&a.decision, CCG_R_GPU_RIM_UNAVAILABLE);
    assert_int_equal(a.decision.reasons.count, 2); /* driver and VBIOS, each named */
    ccg_gpu_appraisal_free(&a);
    g->c.rim_store = store;
}

static void test_gen_measurement_mismatch(void **state)
{
    gen *g = *state;
    write_rim(g, VBIOS_ID, "96.00.9F.00.01", 4, 4, 1); /* index 4 holds a wrong value */
    ccg_gpu_appraisal a;
    gen_run(g, NULL, 1, NULL, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_MEASUREMENT_MISMATCH);
    json_t *idx = json_object_get(a.decision.reasons.items[0].details, "mismatched_indexes");
    assert_int_equal(json_array_size(idx), 1);
    assert_int_equal(json_integer_value(json_array_get(idx, 0)), 4);
    ccg_gpu_appraisal_free(&a);
    write_rim(g, VBIOS_ID, "96.00.9F.00.01", 4, 4, 0);
}

static void test_gen_host_state(void **state)
{
    gen *g = *state;
    ccg_gpu_appraisal a;
    ccg_gpu_host_state devtools = {.reported = 1, .cc_on = 1, .devtools_on = 1};
    gen_run(g, NULL, 1, &devtools, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_DEVTOOLS_ON);
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_host_state off = {.reported = 1, .cc_on = 0, .devtools_on = 0};
    gen_run(g, NULL, 1, &off, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_CC_MODE_OFF);
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_host_state fine = {.reported = 1, .cc_on = 1, .devtools_on = 0};
    gen_run(g, NULL, 1, &fine, &a);
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
}

static void test_gen_nonce_per_gpu(void **state)
{
    gen *g = *state;
    ccg_gpu_evidence_item items[2] = {g->item, g->item};
    uint8_t wrong[CCG_GPU_NONCE_SIZE];
    memset(wrong, 0x5a, sizeof(wrong));
    const uint8_t *nonces[2] = {g->spec.nonce, wrong};
    ccg_gpu_policy *p = gen_policy(g, NULL);
    ccg_gpu_appraisal a;
    appraise(p, &g->c, items, 2, nonces, NULL, NOW_GEN, &a);
    assert_only_reason(&a.decision, CCG_R_GPU_NONCE_MISMATCH);
    assert_int_equal(json_integer_value(json_object_get(a.decision.reasons.items[0].details, "gpu")), 1);
    assert_string_equal(check_of(&a, 0, "nonce"), "passed");
    assert_string_equal(check_of(&a, 1, "nonce"), "failed");
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_policy_free(p);
}

/* An OCSP response for cert, signed by its issuer, into the cache directory. */
static void cache_ocsp(gen *g, int i, int status, int reason)
{
    X509 *cert = g->chain.certs[i], *issuer = g->chain.certs[i + 1];
    OCSP_CERTID *id = OCSP_cert_to_id(EVP_sha1(), cert, issuer);
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    ccg_time now = tu_time(NOW_GEN);
    ASN1_TIME *tu = ASN1_TIME_set(NULL, (time_t)(now - 60)), *nu = ASN1_TIME_set(NULL, (time_t)(now + 3600));
    ASN1_TIME *rt = ASN1_TIME_set(NULL, (time_t)(now - 3600));
    assert_non_null(id);
    assert_non_null(bs);
    assert_non_null(OCSP_basic_add1_status(bs, id, status, reason, status == V_OCSP_CERTSTATUS_REVOKED ? rt : NULL,
                                           tu, nu));
    assert_int_equal(OCSP_basic_sign(bs, issuer, g->chain.keys[i + 1], EVP_sha384(), NULL, 0), 1);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    unsigned char *der = NULL;
    int len = i2d_OCSP_RESPONSE(resp, &der);
    assert_true(len > 0);
    char name[CCG_GPU_OCSP_CACHE_NAME_MAX], path[512];
    assert_true(ccg_ok(ccg_gpu_ocsp_cache_name(cert, issuer, name)));
    snprintf(path, sizeof(path), "%s/%s", g->ocsp_dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(der, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    OCSP_CERTID_free(id);
    ASN1_TIME_free(tu);
    ASN1_TIME_free(nu);
    ASN1_TIME_free(rt);
}

static void test_gen_ocsp(void **state)
{
    gen *g = *state;
    ccg_gpu_appraisal a;
    /* Required, and nothing cached. */
    expect_only(g, "{\"require_ocsp\":true}", CCG_R_GPU_OCSP_UNAVAILABLE);
    /* Required, and no OCSP collateral configured at all. */
    const ccg_gpu_ocsp_config *cfg = g->c.ocsp;
    g->c.ocsp = NULL;
    expect_only(g, "{\"require_ocsp\":true}", CCG_R_GPU_OCSP_UNAVAILABLE);
    g->c.ocsp = cfg;
    for (int i = 0; i < GT_CERTS - 1; i++) {
        cache_ocsp(g, i, V_OCSP_CERTSTATUS_GOOD, -1);
    }
    gen_run(g, "{\"require_ocsp\":true}", 1, NULL, &a);
    if (!a.decision.allow) {
        print_reasons(&a.decision);
    }
    assert_true(a.decision.allow);
    assert_string_equal(check_of(&a, 0, "ocsp"), "passed");
    assert_int_equal(json_array_size(json_object_get(gpu_claims(&a, 0), "ocsp")), GT_CERTS - 1);
    ccg_gpu_appraisal_free(&a);
    /* The leaf on hold: refused unless the policy allows hold. */
    cache_ocsp(g, 0, V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_CERTIFICATEHOLD);
    expect_only(g, "{\"require_ocsp\":true}", CCG_R_GPU_CERT_ON_HOLD);
    gen_run(g, "{\"require_ocsp\":true,\"allow_hold\":true}", 1, NULL, &a);
    assert_true(a.decision.allow);
    ccg_gpu_appraisal_free(&a);
    /* Revoked is refused whatever allow_hold says. */
    cache_ocsp(g, 1, V_OCSP_CERTSTATUS_REVOKED, OCSP_REVOKED_STATUS_KEYCOMPROMISE);
    expect_only(g, "{\"require_ocsp\":true,\"allow_hold\":true}", CCG_R_GPU_CERT_REVOKED);
    /* Not required: not consulted. */
    gen_run(g, NULL, 1, NULL, &a);
    assert_true(a.decision.allow);
    assert_string_equal(check_of(&a, 0, "ocsp"), "not_done");
    ccg_gpu_appraisal_free(&a);
    for (int i = 0; i < GT_CERTS - 1; i++) {
        cache_ocsp(g, i, V_OCSP_CERTSTATUS_GOOD, -1);
    }
}

static void test_gen_rim_cache(void **state)
{
    gen *g = *state;
    ccg_gpu_rim_cache *cache = NULL;
    size_t hits = 0, misses = 0;
    assert_true(ccg_ok(ccg_gpu_rim_cache_new(&cache)));
    g->c.rim_cache = cache;
    for (int i = 0; i < 3; i++) {
        ccg_gpu_appraisal a;
        gen_run(g, NULL, 1, NULL, &a);
        assert_true(a.decision.allow);
        ccg_gpu_appraisal_free(&a);
    }
    ccg_gpu_rim_cache_stats(cache, &hits, &misses);
    /* The first run verifies both RIMs; the two later runs find them. */
    assert_int_equal(hits, 4);
    assert_int_equal(misses, 2);
    /* A RIM cached under the test root is not served to a policy that does not name that root. */
    ccg_gpu_appraisal a;
    const uint8_t *nonces[] = {g->spec.nonce};
    ccg_gpu_policy *p = policy_from("{\"policy_id\":\"n\",\"version\":1,\"require_ocsp\":false}");
    appraise(p, &g->c, &g->item, 1, nonces, NULL, NOW_GEN, &a);
    assert_reason(&a.decision, CCG_R_GPU_RIM_CHAIN_INVALID);
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_policy_free(p);
    /* A cached RIM is still held to its chain's validity: after 2040 it is refused. */
    p = gen_policy(g, "{\"require_rim\":true}");
    appraise(p, &g->c, &g->item, 1, nonces, NULL, "2041-01-01T00:00:00Z", &a);
    assert_reason(&a.decision, CCG_R_GPU_RIM_CERT_EXPIRED);
    ccg_gpu_appraisal_free(&a);
    ccg_gpu_policy_free(p);
    g->c.rim_cache = NULL;
    ccg_gpu_rim_cache_free(cache);
}

int main(void)
{
    const struct CMUnitTest vectors[] = {
        cmocka_unit_test(test_535_vbios_matches_12_indexes),
        cmocka_unit_test(test_535_mismatch_names_index_9),
        cmocka_unit_test(test_bad_rim_signature_and_chain),
        cmocka_unit_test(test_json_form_and_tampered),
    };
    const struct CMUnitTest generated[] = {
        cmocka_unit_test(test_gen_allowed),
        cmocka_unit_test(test_gen_test_roots_only_when_named),
        cmocka_unit_test(test_gen_count),
        cmocka_unit_test(test_gen_arch),
        cmocka_unit_test(test_gen_versions),
        cmocka_unit_test(test_gen_version_unreadable),
        cmocka_unit_test(test_gen_modes),
        cmocka_unit_test(test_gen_fwid_required),
        cmocka_unit_test(test_gen_rim_required_missing),
        cmocka_unit_test(test_gen_measurement_mismatch),
        cmocka_unit_test(test_gen_host_state),
        cmocka_unit_test(test_gen_nonce_per_gpu),
        cmocka_unit_test(test_gen_ocsp),
        cmocka_unit_test(test_gen_rim_cache),
    };
    int failed = cmocka_run_group_tests_name("vectors", vectors, NULL, NULL);
    return failed + cmocka_run_group_tests_name("generated", generated, gen_setup, gen_teardown);
}
