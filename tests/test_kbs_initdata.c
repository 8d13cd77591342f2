/* Confidential Containers init-data at the key broker (issue 15): the TOML document's digest (the
 * algorithm it names, over its exact bytes), the padding/truncation to HOST_DATA (32) and MRCONFIGID
 * (48), the Attestation member, the release policy's "init_data" member, and the TDX flow in process
 * (the software TD sets MRCONFIGID): a bound init-data is accepted, a mismatch, a missing one under a
 * policy that requires it and a digest the policy does not list are refused with their codes. The SNP
 * flow runs against the real daemon in tests/cli/test_kbs_interop.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/jose.h"
#include "ccgate/kbs.h"
#include "ccgate/secmem.h"
#include "ccgate/tdx_emulator.h"

#include "testutil.h"
#include "tu_kbs.h"

#define NOW "2026-06-01T00:00:00Z"

static const char toml384[] = "version = \"0.1.0\"\n"
                              "algorithm = \"sha384\" # the digest the host set\n"
                              "\n"
                              "[data]\n"
                              "\"aa.toml\" = '''\n"
                              "[token_configs]\n"
                              "algorithm = \"sha1\"\n"
                              "'''\n";

static void digest_of(const char *md, const char *text, uint8_t *out, unsigned *len)
{
    assert_int_equal(EVP_Digest(text, strlen(text), out, len, EVP_get_digestbyname(md), NULL), 1);
}

static void expect_code(ccg_result r, ccg_reason code)
{
    if (ccg_ok(r) || ccg_error_reason() != code) {
        fail_msg("expected %s, got %s", ccg_reason_code(code), ccg_ok(r) ? "success" : ccg_error_last()->message);
    }
    ccg_error_clear();
}

/* ---- the document ------------------------------------------------------------------------- */

/* Each algorithm hashes the exact bytes; a table's own "algorithm" (inside [data]) is not the top level's. */
static void toml_digests(void **state)
{
    (void)state;
    ccg_kbs_initdata id;
    uint8_t want[64];
    unsigned n = 0;
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(toml384, strlen(toml384), &id)));
    digest_of("SHA384", toml384, want, &n);
    assert_true(id.present);
    assert_string_equal(id.algorithm, "sha384");
    assert_int_equal(id.digest_len, 48);
    assert_memory_equal(id.digest, want, 48);

    const char *t256 = "algorithm='sha256'\r\nversion = \"0.1.0\"\r\n[data]\r\nk = \"v\"\r\n";
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(t256, strlen(t256), &id)));
    digest_of("SHA256", t256, want, &n);
    assert_int_equal(id.digest_len, 32);
    assert_memory_equal(id.digest, want, 32);

    const char *t512 = "# comment\n  algorithm = \"sha512\"\n";
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(t512, strlen(t512), &id)));
    digest_of("SHA512", t512, want, &n);
    assert_int_equal(id.digest_len, 64);
    assert_memory_equal(id.digest, want, 64);
}

static void toml_refused(void **state)
{
    (void)state;
    ccg_kbs_initdata id;
    static const char *const unsupported[] = {"algorithm = \"sha1\"\n", "algorithm = \"sha-384\"\n",
                                              "algorithm = \"SHA384\"\n", "algorithm = \"\"\n"};
    static const char *const malformed[] = {
        "version = \"0.1.0\"\n[data]\nalgorithm = \"sha384\"\n", /* only inside a table */
        "algorithm = \"sha384\"\nalgorithm = \"sha256\"\n",       /* twice */
        "algorithm = sha384\n",                                  /* not a string */
        "algorithm = \"sha384\n",                                /* not closed */
        "algorithm = \"sha384\" x\n",                            /* text after the value */
        "algorithm = \"sha\\u0033\"\n",                          /* an escape */
        "x = \"\"\"\nalgorithm = \"sha384\"\n\"\"\"\n",          /* a multi-line string */
        "\"algorithm\" = \"sha384\"\n",                          /* a quoted key: not read */
    };
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        expect_code(ccg_kbs_initdata_from_toml(unsupported[i], strlen(unsupported[i]), &id),
                    CCG_R_KBS_INITDATA_ALGORITHM_UNSUPPORTED);
        assert_false(id.present);
    }
    for (size_t i = 0; i < sizeof(malformed) / sizeof(malformed[0]); i++) {
        expect_code(ccg_kbs_initdata_from_toml(malformed[i], strlen(malformed[i]), &id), CCG_R_KBS_INITDATA_MALFORMED);
    }
    const char nul[] = "algorithm = \"sha384\"\n\0";
    expect_code(ccg_kbs_initdata_from_toml(nul, sizeof(nul) - 1, &id), CCG_R_KBS_INITDATA_MALFORMED);
    expect_code(ccg_kbs_initdata_from_toml("", 0, &id), CCG_R_KBS_INITDATA_TOO_LARGE);
}

/* The limit is exact: CCG_KBS_INITDATA_MAX bytes pass, one more is kbs.initdata_too_large. */
static void toml_size_limit(void **state)
{
    (void)state;
    ccg_kbs_initdata id;
    char *big = malloc(CCG_KBS_INITDATA_MAX + 2);
    const char head[] = "algorithm = \"sha256\"\n[data]\nk = '";
    assert_non_null(big);
    memset(big, 'a', CCG_KBS_INITDATA_MAX + 1);
    memcpy(big, head, strlen(head));
    big[CCG_KBS_INITDATA_MAX - 2] = '\'';
    big[CCG_KBS_INITDATA_MAX - 1] = '\n';
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(big, CCG_KBS_INITDATA_MAX, &id)));
    expect_code(ccg_kbs_initdata_from_toml(big, CCG_KBS_INITDATA_MAX + 1, &id), CCG_R_KBS_INITDATA_TOO_LARGE);
    free(big);
}

/* Trustee's rule: shorter digests are zero-padded, longer ones truncated, to the field. */
static void field_padding_and_truncation(void **state)
{
    (void)state;
    ccg_kbs_initdata id;
    uint8_t field[48], zero[48] = {0};
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(toml384, strlen(toml384), &id)));
    ccg_kbs_initdata_field(&id, field, 32); /* SNP HOST_DATA: the first 32 bytes */
    assert_memory_equal(field, id.digest, 32);
    ccg_kbs_initdata_field(&id, field, 48); /* TDX MRCONFIGID: all 48 */
    assert_memory_equal(field, id.digest, 48);
    const char *t256 = "algorithm = \"sha256\"\n";
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(t256, strlen(t256), &id)));
    ccg_kbs_initdata_field(&id, field, 48); /* 32 bytes, then 16 zeros */
    assert_memory_equal(field, id.digest, 32);
    assert_memory_equal(field + 32, zero, 16);
}

/* The Attestation member: {"format":"toml","body"} exactly. */
static void attestation_member(void **state)
{
    (void)state;
    ccg_kbs_initdata id;
    json_t *m = json_pack("{s:s,s:s}", "format", "toml", "body", toml384);
    assert_true(ccg_ok(ccg_kbs_initdata_parse(m, &id)));
    assert_true(id.present);
    json_decref(m);
    static const char *const bad[] = {"{\"format\":\"json\",\"body\":\"algorithm='sha256'\"}", "{\"body\":\"algorithm='sha256'\"}",
                                      "{\"format\":\"toml\",\"body\":1}", "\"algorithm='sha256'\"",
                                      "{\"format\":\"toml\",\"body\":\"algorithm='sha256'\",\"x\":1}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m = json_loads(bad[i], JSON_DECODE_ANY, NULL);
        assert_non_null(m);
        expect_code(ccg_kbs_initdata_parse(m, &id), CCG_R_KBS_INITDATA_MALFORMED);
        json_decref(m);
    }
}

/* The release policy's "init_data" member. */
static void policy_member(void **state)
{
    (void)state;
    ccg_kbs_policy *p = NULL;
    char text[1024], hex[97];
    uint8_t d[48];
    memset(d, 0xab, sizeof(d));
    ccg_hex_encode(d, sizeof(d), hex);
#define POLICY(member)                                                                                                \
    snprintf(text, sizeof(text),                                                                                      \
             "{\"policy_id\":\"p\",\"version\":1,\"allowed_tees\":[\"snp\"],\"snp_policy\":{\"policy_id\":\"s\","      \
             "\"version\":1,\"allowed_measurements\":[\"%s\"]},\"init_data\":%s}",                                     \
             hex, member)
    char member[256];
    snprintf(member, sizeof(member), "{\"digests\":[\"%s\"]}", hex);
    POLICY(member);
    assert_true(ccg_ok(ccg_kbs_policy_parse(text, strlen(text), &p)));
    assert_true(p->initdata_required);
    assert_int_equal(p->initdata_digest_count, 1);
    assert_int_equal(p->initdata_digests[0].len, 48);
    assert_memory_equal(p->initdata_digests[0].digest, d, 48);
    ccg_kbs_policy_free(p);
    POLICY("{\"required\":true}");
    assert_true(ccg_ok(ccg_kbs_policy_parse(text, strlen(text), &p)));
    assert_true(p->initdata_required);
    assert_int_equal(p->initdata_digest_count, 0);
    ccg_kbs_policy_free(p);
    POLICY("{\"required\":false}");
    assert_true(ccg_ok(ccg_kbs_policy_parse(text, strlen(text), &p)));
    assert_false(p->initdata_required);
    ccg_kbs_policy_free(p);
    static const char *const bad[] = {"true", "{\"required\":1}", "{\"x\":1}", "{\"digests\":[]}",
                                      "{\"digests\":[\"abcd\"]}", "{\"digests\":[\"zz\"]}"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        POLICY(bad[i]);
        expect_code(ccg_kbs_policy_parse(text, strlen(text), &p), CCG_R_KBS_POLICY_INVALID);
    }
    snprintf(member, sizeof(member), "{\"required\":false,\"digests\":[\"%s\"]}", hex);
    POLICY(member);
    expect_code(ccg_kbs_policy_parse(text, strlen(text), &p), CCG_R_KBS_POLICY_INVALID);
#undef POLICY
}

/* ---- the TDX flow, in process ---------------------------------------------------------------- */

/* A broker appraising the software TD, with a P-521 tee key: the init-data flow and the P-521 binding
 * together. */
typedef tu_tdx_broker fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    tu_tdx_broker_open(f, "kbs-initdata", NOW, "P-521");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    tu_tdx_broker_close(*state);
    free(*state);
    return 0;
}

/* Policy `id` (version given) allowing tdx, pinning the TD's MRTD, with an "init_data" member or none. */
static void put_policy(fixture *f, const char *id, int version, const char *init_data)
{
    char text[1024], mrtd[104];
    tu_tdx_broker_mrtd_list(mrtd);
    snprintf(text, sizeof(text),
             "{\"policy_id\":\"%s\",\"version\":%d,\"allowed_tees\":[\"tdx\"],\"tdx\":{\"allowed_mrtd\":%s}"
             "%s%s}",
             id, version, mrtd, init_data != NULL ? ",\"init_data\":" : "", init_data != NULL ? init_data : "");
    if (ccg_failed(ccg_kbs_set_policy(f->kbs, text, strlen(text)))) {
        fail_msg("policy: %s", ccg_error_last()->message);
    }
}

/* /auth, then /attest with the TD's quote (MRCONFIGID as the fixture TD has it) and, when given, the
 * init-data document. */
static void attest(fixture *f, const char *init_toml, ccg_kbs_http_response *resp)
{
    ccg_jwk *jwk = NULL;
    uint8_t *quote = NULL;
    size_t quote_len = 0;
    json_t *doc;
    char *qb64, *text;
    tu_kbs_auth(&f->s, "tdx", 200);
    assert_true(ccg_ok(ccg_jwk_parse(f->jwk, &jwk)));
    assert_true(ccg_ok(ccg_jose_kbs_report_data("sha384", f->s.nonce, jwk, "", f->td.report_data)));
    ccg_jwk_free(jwk);
    assert_true(ccg_ok(ccg_tdx_emu_quote(f->emu, &f->td, &quote, &quote_len)));
    qb64 = tu_b64(quote, quote_len);
    doc = json_pack("{s:{s:s,s:O},s:{s:{s:s},s:s}}", "runtime-data", "nonce", f->s.nonce, "tee-pubkey", f->jwk,
                    "tee-evidence", "primary_evidence", "quote", qb64, "additional_evidence", "");
    if (init_toml != NULL) {
        json_object_set_new(doc, "init-data", json_pack("{s:s,s:s}", "format", "toml", "body", init_toml));
    }
    text = json_dumps(doc, JSON_COMPACT);
    tu_kbs_call(&f->s, "POST", "/kbs/v0/attest", text, resp);
    free(text);
    json_decref(doc);
    free(qb64);
    free(quote);
}

/* The TD launched with the sha384 document's digest in MRCONFIGID. */
static void launch_with(fixture *f, const char *toml)
{
    ccg_kbs_initdata id;
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(toml, strlen(toml), &id)));
    ccg_kbs_initdata_field(&id, f->td.mrconfigid, sizeof(f->td.mrconfigid));
}

/* Bound on TDX (sha384: all 48 bytes of MRCONFIGID; sha256: 32 and zeros), with a P-521 tee key: the
 * token, and the key released as a P-521 JWE under a key policy that pins the digest. */
static void tdx_bound_released(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    ccg_kbs_initdata id;
    ccg_secbuf plain = {0};
    char member[256], hex[97];
    assert_true(ccg_ok(ccg_kbs_initdata_from_toml(toml384, strlen(toml384), &id)));
    ccg_hex_encode(id.digest, id.digest_len, hex);
    snprintf(member, sizeof(member), "{\"digests\":[\"%s\"]}", hex);
    put_policy(f, "attest", 1, NULL);
    put_policy(f, "model", 1, member);
    tu_kbs_import_key(f->kbs, "acme/model/a", "model", 0x42);
    launch_with(f, toml384);
    attest(f, toml384, &resp);
    tu_kbs_expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    tu_kbs_call(&f->s, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    tu_kbs_expect(&resp, 200, "\"protected\"");
    assert_true(ccg_ok(ccg_jwe_decrypt_text(f->guest, resp.body, strlen(resp.body), 1, &plain)));
    assert_int_equal(plain.len, 32);
    assert_int_equal(plain.data[0], 0x42);
    ccg_secbuf_free(&plain);
    assert_non_null(strstr(resp.body, "\"protected\""));
    ccg_kbs_response_free(&resp);

    const char *t256 = "algorithm = \"sha256\"\nversion = \"0.1.0\"\n[data]\n";
    launch_with(f, t256);
    attest(f, t256, &resp);
    tu_kbs_expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
    /* Bound, but not the digest the key's policy pins. */
    tu_kbs_call(&f->s, "GET", "/kbs/v0/resource/acme/model/a", NULL, &resp);
    tu_kbs_expect(&resp, 403, "kbs.initdata_not_allowed");
    ccg_kbs_response_free(&resp);
}

/* MRCONFIGID from another document (or the right digest under another algorithm): refused. */
static void tdx_mismatch_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "attest", 1, NULL);
    launch_with(f, "algorithm = \"sha384\"\n[data]\nk = 'other'\n");
    attest(f, toml384, &resp);
    tu_kbs_expect(&resp, 401, "kbs.initdata_mismatch");
    assert_null(strstr(resp.body, "\"token\""));
    ccg_kbs_response_free(&resp);
    /* The same bytes with the algorithm line changed: a different document and a different digest. */
    const char *a = "algorithm = \"sha256\"\n", *b = "algorithm = \"sha512\"\n";
    launch_with(f, a);
    attest(f, b, &resp);
    tu_kbs_expect(&resp, 401, "kbs.initdata_mismatch");
    ccg_kbs_response_free(&resp);
}

/* Required by the attestation policy and absent: refused; an unsupported algorithm and an oversized
 * body are refused at parse, before the nonce is spent. */
static void tdx_missing_and_bad_refused(void **state)
{
    fixture *f = *state;
    ccg_kbs_http_response resp;
    put_policy(f, "attest", 1, "{\"required\":true}");
    attest(f, NULL, &resp);
    tu_kbs_expect(&resp, 401, "kbs.initdata_missing");
    ccg_kbs_response_free(&resp);
    attest(f, "algorithm = \"md5\"\n", &resp);
    tu_kbs_expect(&resp, 400, "kbs.initdata_algorithm_unsupported");
    ccg_kbs_response_free(&resp);
    char *big = malloc(CCG_KBS_INITDATA_MAX + 2);
    assert_non_null(big);
    memset(big, '#', CCG_KBS_INITDATA_MAX + 1);
    big[CCG_KBS_INITDATA_MAX + 1] = 0;
    attest(f, big, &resp);
    tu_kbs_expect(&resp, 400, "kbs.initdata_too_large");
    ccg_kbs_response_free(&resp);
    free(big);
    /* Without the requirement, a guest that presents none is appraised as before. */
    put_policy(f, "attest", 2, NULL);
    attest(f, NULL, &resp);
    tu_kbs_expect(&resp, 200, "\"token\"");
    ccg_kbs_response_free(&resp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(toml_digests),
        cmocka_unit_test(toml_refused),
        cmocka_unit_test(toml_size_limit),
        cmocka_unit_test(field_padding_and_truncation),
        cmocka_unit_test(attestation_member),
        cmocka_unit_test(policy_member),
        cmocka_unit_test_setup_teardown(tdx_bound_released, setup, teardown),
        cmocka_unit_test_setup_teardown(tdx_mismatch_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(tdx_missing_and_bad_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
