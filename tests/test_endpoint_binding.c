/* The endpoint binding: REPORT_DATA against a preimage built here byte by byte, the evidence document's
 * strict decode, and the client's binding check with its distinct codes. */
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "ccgate/endpoint_binding.h"
#include "ccgate/jose.h"
#include "testutil.h"

static const uint8_t kc[] = {1, 0, 0x20, 9, 9, 9};

static void fill(uint8_t *b, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++) {
        b[i] = (uint8_t)(v + i);
    }
}

static void test_report_data_formula(void **state)
{
    (void)state;
    uint8_t nonce[32], exporter[32], got[64], want[64], pre[18 + 1 + 32 + 32 + 32];
    fill(nonce, 32, 1);
    fill(exporter, 32, 100);
    /* "ccgate endpoint v1" || 1 || nonce || exporter || SHA-256(key_config) */
    memcpy(pre, "ccgate endpoint v1", 18);
    pre[18] = 1;
    memcpy(pre + 19, nonce, 32);
    memcpy(pre + 51, exporter, 32);
    SHA256(kc, sizeof(kc), pre + 83);
    SHA512(pre, sizeof(pre), want);
    assert_true(ccg_ok(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, exporter, kc, sizeof(kc), got)));
    assert_memory_equal(got, want, 64);
    /* hpke: tag 2 and 32 zero bytes in the exporter's place */
    pre[18] = 2;
    memset(pre + 51, 0, 32);
    SHA512(pre, sizeof(pre), want);
    assert_true(ccg_ok(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, kc, sizeof(kc), got)));
    assert_memory_equal(got, want, 64);
    /* the exporter goes with tls-exporter only */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_HPKE, nonce, exporter, kc, sizeof(kc), got)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, NULL, kc, sizeof(kc), got)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_report_data((ccg_endpoint_binding)3, nonce, NULL, kc, sizeof(kc), got)));
    tu_assert_error_reason(CCG_R_USAGE_INVALID);
}

static ccg_endpoint_evidence sample(uint8_t *report, size_t report_len)
{
    ccg_endpoint_evidence d = {0};
    d.version = 1;
    d.tee = CCG_ENDPOINT_TEE_SNP;
    d.binding = CCG_ENDPOINT_BINDING_TLS_EXPORTER;
    fill(d.nonce, 32, 7);
    d.key_config = (uint8_t *)kc;
    d.key_config_len = sizeof(kc);
    d.report = report;
    d.report_len = report_len;
    return d;
}

static void expect_malformed(const char *json)
{
    ccg_endpoint_evidence d;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_evidence_decode(json, strlen(json), &d)));
    tu_assert_error_reason(CCG_R_CLIENT_EVIDENCE_MALFORMED);
    assert_null(d.report);
}

static void test_evidence_round_trip(void **state)
{
    (void)state;
    uint8_t report[1184];
    fill(report, sizeof(report), 3);
    ccg_endpoint_evidence d = sample(report, sizeof(report)), back;
    uint8_t ccel[56], log[100];
    fill(ccel, sizeof(ccel), 9);
    fill(log, sizeof(log), 11);
    d.ccel = ccel, d.ccel_len = sizeof(ccel), d.ccel_data = log, d.ccel_data_len = sizeof(log);
    d.tee = CCG_ENDPOINT_TEE_TDX;
    char *text = NULL;
    assert_true(ccg_ok(ccg_endpoint_evidence_encode(&d, &text)));
    assert_null(strchr(text, '=')); /* unpadded */
    assert_true(ccg_ok(ccg_endpoint_evidence_decode(text, strlen(text), &back)));
    assert_int_equal(back.version, 1);
    assert_int_equal(back.tee, CCG_ENDPOINT_TEE_TDX);
    assert_int_equal(back.binding, CCG_ENDPOINT_BINDING_TLS_EXPORTER);
    assert_memory_equal(back.nonce, d.nonce, 32);
    assert_int_equal(back.report_len, sizeof(report));
    assert_memory_equal(back.report, report, sizeof(report));
    assert_int_equal(back.key_config_len, sizeof(kc));
    assert_int_equal(back.ccel_data_len, sizeof(log));
    assert_null(back.certs);
    ccg_endpoint_evidence_free(&back);
    free(text);
}

static void test_evidence_strict(void **state)
{
    (void)state;
    /* A valid base: version 1, snp, hpke; nonce 32 bytes of 'A' (0x00), key config "AQ" (0x01), report "Ag". */
    const char *n = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
    char buf[1024];
    ccg_endpoint_evidence d;
    snprintf(buf, sizeof(buf), "{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\"}", n);
    assert_true(ccg_ok(ccg_endpoint_evidence_decode(buf, strlen(buf), &d)));
    assert_int_equal(d.binding, CCG_ENDPOINT_BINDING_HPKE);
    ccg_endpoint_evidence_free(&d);
#define BAD(fmt) do { snprintf(buf, sizeof(buf), fmt, n); expect_malformed(buf); } while (0)
    BAD("{\"version\":2,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\"}");
    BAD("{\"version\":\"1\",\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\"}");
    BAD("{\"version\":1,\"tee\":\"sev\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"tls-unique\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\",\"extra\":1}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag==\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"A+\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%sAAAA\",\"key_config\":\"AQ\",\"report\":\"Ag\"}");
    BAD("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"%s\",\"key_config\":\"AQ\",\"report\":\"Ag\",\"report\":\"Ag\"}");
    BAD("[\"%s\"]");
    expect_malformed("{\"version\":1,\"tee\":\"snp\",\"binding\":\"hpke\",\"nonce\":\"AAAA\",\"key_config\":\"AQ\",\"report\":\"Ag\"}");
    expect_malformed("{\"version\":1,\"tee\":\"snp\\u0000x\",\"binding\":\"hpke\"}");
    expect_malformed("not json");
    /* the query nonce: exactly 43 characters of base64url */
    uint8_t out[32];
    assert_true(ccg_ok(ccg_endpoint_nonce_decode(n, out)));
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_nonce_decode("AAAA", out)));
    tu_assert_error_reason(CCG_R_CLIENT_EVIDENCE_MALFORMED);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_nonce_decode("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", out)));
    tu_assert_error_reason(CCG_R_CLIENT_EVIDENCE_MALFORMED);
    ccg_endpoint_binding b;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_binding_parse("TLS-EXPORTER", &b)));
    tu_assert_error_reason(CCG_R_CLIENT_EVIDENCE_MALFORMED);
}

static void test_check_binding(void **state)
{
    (void)state;
    uint8_t report[4] = {1, 2, 3, 4}, exporter[32], other_exporter[32], rd[64], nonce[32];
    ccg_endpoint_evidence d = sample(report, sizeof(report));
    memcpy(nonce, d.nonce, 32);
    fill(exporter, 32, 50);
    fill(other_exporter, 32, 51);
    assert_true(ccg_ok(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, exporter, kc, sizeof(kc), rd)));
    assert_true(ccg_ok(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, exporter, rd)));
    /* the connection's exporter is another: relayed from another session */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, other_exporter, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_EXPORTER_MISMATCH);
    /* another key config in the document than the one REPORT_DATA hashed */
    uint8_t kc2[sizeof(kc)];
    memcpy(kc2, kc, sizeof(kc));
    kc2[5] ^= 1;
    d.key_config = kc2;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, exporter, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_EXPORTER_MISMATCH);
    d.key_config = (uint8_t *)kc;
    /* another nonce: replayed */
    uint8_t fresh[32];
    fill(fresh, 32, 200);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_TLS_EXPORTER, fresh, exporter, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_BINDING_MISMATCH);
    /* the document rewritten to claim our nonce: REPORT_DATA still names the old one */
    memcpy(d.nonce, fresh, 32);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_TLS_EXPORTER, fresh, exporter, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_EXPORTER_MISMATCH);
    memcpy(d.nonce, nonce, 32);
    /* a binding other than asked */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_BINDING_MISMATCH);
    /* hpke */
    d.binding = CCG_ENDPOINT_BINDING_HPKE;
    assert_true(ccg_ok(ccg_endpoint_report_data(CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, kc, sizeof(kc), rd)));
    assert_true(ccg_ok(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, rd)));
    /* genuine hpke-bound evidence offered to a direct client: the binding kind is refused as such (it binds
     * no TLS session), not found out later as an exporter mismatch */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_TLS_EXPORTER, nonce, exporter, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_BINDING_MISMATCH);
    d.key_config = kc2;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_endpoint_check_binding(&d, CCG_ENDPOINT_BINDING_HPKE, nonce, NULL, rd)));
    tu_assert_error_reason(CCG_R_CLIENT_BINDING_MISMATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_data_formula),
        cmocka_unit_test(test_evidence_round_trip),
        cmocka_unit_test(test_evidence_strict),
        cmocka_unit_test(test_check_binding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
