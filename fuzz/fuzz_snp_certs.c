/* libFuzzer target: attacker-chosen certificates and CRLs through the WHOLE SEV-SNP verifier (chain to the
 * trusted root, CRL signature and revocation, validity at now, the VCEK's binding to the report, the
 * report signature and the policy), with a fixed report made by the emulator and the emulator's test
 * root trusted (fuzz/fuzz_snp_certs_fixture.h, from scripts/make-fuzz-snp-certs.sh).
 *
 * Input: records of type u8 | length u16 big-endian | bytes (a record that claims more than is left takes
 * the rest). Type 1: certificates (one DER certificate or a PEM bundle: VCEK, ASK, ARK, VLEK, ASVK, in any
 * order); 2: the CRL (PEM or DER; the last one counts); 3: the policy (first byte: 0 default, 1 the
 * report's measurement pinned and a CRL required, 2 VLEK-signed reports only, 3 an explicit empty
 * policy); 4: the time (first byte: 0 inside every validity window, 1 before, 2 after). The seeds in
 * fuzz/corpus/fuzz_snp_certs are the valid chain and CRL and variants.
 *
 * Besides no crash, leak or undefined behaviour, the decision must be coherent: allow exactly when no
 * reason was given, a refusal always names one, and an allow needs the fixture's own VCEK (the report is
 * signed by its key), a time inside the validity windows, and, under policy 1, a CRL. */
#include <openssl/sha.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/snp_policy.h"
#include "ccgate/snp_report.h"
#include "ccgate/snp_verify.h"
#include "fuzz_snp_certs_fixture.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORDS 16
#define N_POLICIES 4

static ccg_snp_verifier *verifier;
static ccg_snp_policy *policies[N_POLICIES]; /* [0] NULL: the verifier's default */
static uint8_t vcek_digest[SHA256_DIGEST_LENGTH];
static const char *const times[] = {"2026-06-01T00:00:00Z", "2020-01-01T00:00:00Z", "2055-01-01T00:00:00Z"};
static ccg_time nows[3];
static int verbose; /* FUZZ_SNP_CERTS_VERBOSE=1: print each decision (for checking the seeds) */

static void die(const char *what)
{
    fprintf(stderr, "fuzz_snp_certs: %s: %s\n", what, ccg_error_last()->message);
    abort();
}

static ccg_snp_policy *policy_from(const char *json)
{
    ccg_snp_policy *p = NULL;
    if (ccg_failed(ccg_snp_policy_parse(json, strlen(json), &p))) {
        die("a fixed policy does not parse");
    }
    return p;
}

static void init_once(void)
{
    ccg_snp_report r;
    X509 *ark = NULL;
    const unsigned char *p = fixture_ark_der;
    char meas[2 * sizeof(r.measurement) + 1], json[512];
    if (ccg_failed(ccg_snp_verifier_new(&verifier))) {
        die("verifier");
    }
    ark = d2i_X509(NULL, &p, (long)sizeof(fixture_ark_der));
    if (ark == NULL || ccg_failed(ccg_snp_verifier_add_root(verifier, CCG_SNP_PRODUCT_MILAN, ark))) {
        die("the fixture's test root");
    }
    X509_free(ark);
    if (ccg_failed(ccg_snp_report_parse(fixture_report, sizeof(fixture_report), &r))) {
        die("the fixture's report");
    }
    for (size_t i = 0; i < sizeof(r.measurement); i++) {
        snprintf(meas + 2 * i, 3, "%02x", r.measurement[i]);
    }
    snprintf(json, sizeof(json),
             "{\"policy_id\":\"fuzz-pinned\",\"version\":1,\"allowed_measurements\":[\"%s\"],\"require_crl\":true}",
             meas);
    policies[1] = policy_from(json);
    policies[2] = policy_from("{\"policy_id\":\"fuzz-vlek\",\"version\":1,\"allowed_signers\":[\"vlek\"]}");
    policies[3] = policy_from("{\"policy_id\":\"fuzz-empty\",\"version\":1}");
    SHA256(fixture_vcek_der, sizeof(fixture_vcek_der), vcek_digest);
    verbose = getenv("FUZZ_SNP_CERTS_VERBOSE") != NULL;
    for (size_t i = 0; i < sizeof(times) / sizeof(times[0]); i++) {
        if (ccg_failed(ccg_time_parse_rfc3339(times[i], &nows[i]))) {
            die("a fixed time");
        }
    }
}

/* 1 when the collateral holds the fixture's VCEK, byte for byte. */
static int has_fixture_vcek(const ccg_snp_collateral *col)
{
    for (int i = 0; i < sk_X509_num(col->certs); i++) {
        unsigned char *der = NULL, digest[SHA256_DIGEST_LENGTH];
        int n = i2d_X509(sk_X509_value(col->certs, i), &der);
        if (n > 0) {
            SHA256(der, (size_t)n, digest);
        }
        OPENSSL_free(der);
        if (n > 0 && memcmp(digest, vcek_digest, sizeof(digest)) == 0) {
            return 1;
        }
    }
    return 0;
}

/* A refused piece of collateral must say why; the rest of the input still runs. */
static void must_have_reason(ccg_result r)
{
    if (ccg_failed(r) && ccg_error_reason() == CCG_R_OK) {
        abort();
    }
    ccg_error_clear();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_snp_collateral col;
    ccg_decision d;
    int policy = 0, when = 0, records = 0;
    if (verifier == NULL) {
        init_once();
    }
    ccg_error_clear();
    if (ccg_failed(ccg_snp_collateral_init(&col))) {
        die("collateral");
    }
    while (size >= 3 && records++ < MAX_RECORDS) {
        uint8_t type = data[0];
        size_t len = ((size_t)data[1] << 8) | data[2];
        data += 3;
        size -= 3;
        if (len > size) {
            len = size;
        }
        if (type == 1) {
            must_have_reason(ccg_snp_collateral_add_certs(&col, data, len));
        } else if (type == 2) {
            must_have_reason(ccg_snp_collateral_set_crl(&col, data, len));
        } else if (type == 3 && len > 0) {
            policy = data[0] % N_POLICIES;
        } else if (type == 4 && len > 0) {
            when = data[0] % 3;
        }
        data += len;
        size -= len;
    }
    ccg_result vr = ccg_snp_verify_ex(verifier, fixture_report, sizeof(fixture_report), &col, policies[policy], NULL,
                                      nows[when], &d);
    if (ccg_failed(vr) && d.reasons.count == 0) {
        abort(); /* a failure names its reason in the decision */
    }
    if (d.allow != (d.reasons.count == 0) || (d.allow && ccg_failed(vr))) {
        abort(); /* allow exactly when nothing was refused */
    }
    if (d.allow && (!has_fixture_vcek(&col) || when != 0 || (policy == 1 && col.crl == NULL) || policy == 2)) {
        abort(); /* accepted without the key that signed the report, outside validity, or against the policy */
    }
    if (verbose) {
        fprintf(stderr, "fuzz_snp_certs: policy %d, time %d, %d certificates, %s CRL: %s", policy, when,
                sk_X509_num(col.certs), col.crl != NULL ? "a" : "no", d.allow ? "allow" : "deny");
        for (size_t i = 0; i < d.reasons.count; i++) {
            fprintf(stderr, " %s", ccg_reason_code(d.reasons.items[i].reason));
        }
        fprintf(stderr, "\n");
    }
    ccg_decision_free(&d);
    ccg_snp_collateral_free(&col);
    return 0;
}
