/* The generated TDX suite: a software TD under the project's own test root (src/emulator/tdx) with TCB
 * info, QE identity and CRLs signed in the test. Each case changes one thing from a valid baseline and
 * asserts its specific reason: versions, key types, every signature, every binding, every collateral
 * window, FMSPC and PCE-ID, the QE identity's fields, revoked levels, TCB levels at each boundary,
 * module identities and relaunch advice, reserved bits, and the policy's checks. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"

#define NOW "2026-01-15T00:00:00Z"
#define DAY (24 * 3600)

typedef struct scenario scenario;
struct scenario {
    ccg_time now;                /* verification time */
    ccg_tdx_emu_opts o;
    ccg_tdx_emu_td td;
    json_t *tcb_info, *qe_identity;
    ccg_time root_crl_this, root_crl_next, pck_crl_this, pck_crl_next;
    int revoke_ca, revoke_pck, root_crl_by_ca, pck_crl_by_root;
    int no_test_root, no_collateral, bad_tcb_sig, bad_qe_sig, tcb_chain_is_pck;
    const char *policy;          /* JSON, or NULL: the default policy */
    const uint8_t *expected_report_data;
    void (*patch)(uint8_t *quote, size_t len); /* after signing: breaks what it touches */
    int pcs_form;                /* collateral as PCS responses inside the bundle */
};

static json_t *components(const uint8_t v[16])
{
    json_t *a = json_array();
    for (int i = 0; i < 16; i++) {
        json_array_append_new(a, json_pack("{s:i, s:s}", "svn", v[i], "category", "test"));
    }
    return a;
}

static json_t *level(const uint8_t sgx[16], int pcesvn, const uint8_t tdx[16], const char *status, const char *adv)
{
    json_t *l = json_pack("{s:{s:o, s:i, s:o}, s:s, s:s}", "tcb", "sgxtcbcomponents", components(sgx), "pcesvn",
                          pcesvn, "tdxtcbcomponents", components(tdx), "tcbDate", "2025-01-01T00:00:00Z", "tcbStatus",
                          status);
    if (adv != NULL) {
        json_object_set_new(l, "advisoryIDs", json_pack("[s]", adv));
    }
    return l;
}

static json_t *svn_level(int svn, const char *status, const char *adv)
{
    json_t *l = json_pack("{s:{s:i}, s:s, s:s}", "tcb", "isvsvn", svn, "tcbDate", "2025-01-01T00:00:00Z", "tcbStatus",
                          status);
    if (adv != NULL) {
        json_object_set_new(l, "advisoryIDs", json_pack("[s]", adv));
    }
    return l;
}

static const char *ZERO96 = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

static json_t *module_identity(const char *id)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:[o, o]}", "id", id, "mrsigner", ZERO96, "attributes", "0000000000000000",
                     "attributesMask", "FFFFFFFFFFFFFFFF", "tcbLevels", svn_level(4, "UpToDate", NULL),
                     svn_level(2, "OutOfDate", "INTEL-SA-01111"));
}

/* Levels: L1 = the emulator's defaults (UpToDate); L2 one below everywhere (OutOfDate, an advisory). */
static json_t *default_tcb_info(const ccg_tdx_emu_opts *o, const char *issue, const char *next)
{
    uint8_t sgx1[16], sgx2[16], tdx1[16] = {5, 0, 2}, tdx2[16] = {3, 0, 1};
    char fmspc[13];
    memcpy(sgx1, o->sgx_components, 16);
    memcpy(sgx2, o->sgx_components, 16);
    sgx2[0] = 1;
    ccg_hex_encode(o->fmspc, 6, fmspc);
    return json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:i, s:i, s:{s:s, s:s, s:s}, s:[o, o], s:[o, o]}", "id", "TDX",
                     "version", 3, "issueDate", issue, "nextUpdate", next, "fmspc", fmspc, "pceId", "0000", "tcbType", 0,
                     "tcbEvaluationDataNumber", 17, "tdxModule", "mrsigner", ZERO96, "attributes", "0000000000000000",
                     "attributesMask", "FFFFFFFFFFFFFFFF", "tdxModuleIdentities", module_identity("TDX_01"),
                     module_identity("TDX_03"), "tcbLevels", level(sgx1, o->pcesvn, tdx1, "UpToDate", NULL),
                     level(sgx2, 11, tdx2, "OutOfDate", "INTEL-SA-00837"));
}

static json_t *default_qe_identity(const char *issue, const char *next)
{
    return json_pack("{s:s, s:i, s:s, s:s, s:i, s:s, s:s, s:s, s:s, s:s, s:i, s:[o, o, o]}", "id", "TD_QE", "version", 2,
                     "issueDate", issue, "nextUpdate", next, "tcbEvaluationDataNumber", 17, "miscselect", "00000000",
                     "miscselectMask", "FFFFFFFF", "attributes", "11000000000000000000000000000000", "attributesMask",
                     "FBFFFFFFFFFFFFFF0000000000000000", "mrsigner",
                     "dcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdc", "isvprodid", 2, "tcbLevels",
                     svn_level(8, "UpToDate", NULL), svn_level(6, "OutOfDate", "INTEL-SA-00615"),
                     svn_level(3, "Revoked", NULL));
}

static void scenario_init(scenario *s)
{
    memset(s, 0, sizeof(*s));
    s->now = tu_time(NOW);
    ccg_tdx_emu_opts_default(s->now, &s->o);
    ccg_tdx_emu_td_default(&s->td);
    s->tcb_info = default_tcb_info(&s->o, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
    s->qe_identity = default_qe_identity("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z");
    s->root_crl_this = s->pck_crl_this = s->now - DAY;
    s->root_crl_next = s->pck_crl_next = s->now + 30 * DAY;
}

static char *crl_hex(ccg_tdx_emu *e, int root, ccg_time t1, ccg_time t2, int revoke)
{
    uint8_t *der = NULL;
    size_t len = 0;
    assert_true(ccg_ok(ccg_tdx_emu_crl(e, root, t1, t2, revoke, &der, &len)));
    char *hex = ccg_hex_alloc(der, len);
    free(der);
    return hex;
}

static void sign_doc(ccg_tdx_emu *e, const char *text, int bad, char sig[129])
{
    assert_true(ccg_ok(ccg_tdx_emu_sign(e, text, strlen(text), sig)));
    if (bad) {
        sig[10] = sig[10] == '0' ? '1' : '0';
    }
}

/* {"tcbInfo": <text>, "signature": "<hex>"} exactly as PCS sends it (key order kept). */
static char *pcs_response(const char *member, const char *text, const char *sig)
{
    size_t n = strlen(member) + strlen(text) + strlen(sig) + 40;
    char *out = malloc(n);
    assert_non_null(out);
    snprintf(out, n, "{\"%s\":%s,\"signature\":\"%s\"}", member, text, sig);
    return out;
}

static char *bundle_text(scenario *s, ccg_tdx_emu *e)
{
    char *tcb = json_dumps(s->tcb_info, JSON_COMPACT);
    char *qe = json_dumps(s->qe_identity, JSON_COMPACT);
    char tcb_sig[129], qe_sig[129];
    char *pck_chain = ccg_tdx_emu_pck_chain_pem(e), *tcb_chain = ccg_tdx_emu_tcb_chain_pem(e);
    char *crl_chain = ccg_tdx_emu_crl_chain_pem(e);
    char *root_crl = crl_hex(e, !s->root_crl_by_ca, s->root_crl_this, s->root_crl_next, s->revoke_ca);
    char *pck_crl = crl_hex(e, s->pck_crl_by_root, s->pck_crl_this, s->pck_crl_next, s->revoke_pck);
    sign_doc(e, tcb, s->bad_tcb_sig, tcb_sig);
    sign_doc(e, qe, s->bad_qe_sig, qe_sig);
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "tcb_info_issuer_chain",
                          s->tcb_chain_is_pck ? pck_chain : tcb_chain, "qe_identity_issuer_chain", tcb_chain,
                          "pck_crl_issuer_chain", crl_chain, "pck_crl", pck_crl, "root_ca_crl", root_crl);
    if (s->pcs_form) {
        char *r1 = pcs_response("tcbInfo", tcb, tcb_sig), *r2 = pcs_response("enclaveIdentity", qe, qe_sig);
        json_object_set_new(b, "tcb_info_response", json_string(r1));
        json_object_set_new(b, "qe_identity_response", json_string(r2));
        free(r1);
        free(r2);
    } else {
        json_object_set_new(b, "tcb_info", json_string(tcb));
        json_object_set_new(b, "tcb_info_signature", json_string(tcb_sig));
        json_object_set_new(b, "qe_identity", json_string(qe));
        json_object_set_new(b, "qe_identity_signature", json_string(qe_sig));
    }
    char *text = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    free(tcb);
    free(qe);
    free(pck_chain);
    free(tcb_chain);
    free(crl_chain);
    free(root_crl);
    free(pck_crl);
    return text;
}

static void run(scenario *s, ccg_tdx_result *r)
{
    ccg_tdx_emu *e = NULL;
    ccg_tdx_verifier *v = NULL;
    ccg_tdx_policy *p = NULL;
    ccg_tdx_collateral col;
    uint8_t *quote = NULL;
    size_t len = 0;
    memset(&col, 0, sizeof(col));
    assert_true(ccg_ok(ccg_tdx_emu_new(&s->o, &e)));
    assert_true(ccg_ok(ccg_tdx_emu_quote(e, &s->td, &quote, &len)));
    if (s->patch != NULL) {
        s->patch(quote, len);
    }
    char *text = bundle_text(s, e);
    ccg_error_clear();
    if (!ccg_ok(ccg_tdx_collateral_parse(text, strlen(text), &col))) {
        fail_msg("bundle: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    free(text);
    assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    if (!s->no_test_root) {
        char *pem = ccg_tdx_emu_root_pem(e);
        STACK_OF(X509) *certs = sk_X509_new_null();
        assert_true(ccg_ok(ccg_x509_load_bundle((const uint8_t *)pem, strlen(pem), certs)));
        assert_true(ccg_ok(ccg_tdx_verifier_add_test_root(v, sk_X509_value(certs, 0))));
        sk_X509_pop_free(certs, X509_free);
        free(pem);
    }
    if (s->policy != NULL) {
        ccg_error_clear();
        if (!ccg_ok(ccg_tdx_policy_parse(s->policy, strlen(s->policy), &p))) {
            fail_msg("policy: %s", ccg_error_last()->message);
        }
    }
    ccg_tdx_verify_opts opts = {.expected_report_data = s->expected_report_data};
    assert_true(ccg_ok(ccg_tdx_verify(v, quote, len, s->no_collateral ? NULL : &col, p, &opts, s->now, r)));
    ccg_tdx_policy_free(p);
    ccg_tdx_verifier_free(v);
    ccg_tdx_collateral_free(&col);
    ccg_tdx_emu_free(e);
    free(quote);
    json_decref(s->tcb_info);
    json_decref(s->qe_identity);
}

static void expect(scenario *s, ccg_reason want)
{
    ccg_tdx_result r;
    run(s, &r);
    if (want == CCG_R_OK) {
        if (!r.decision.allow) {
            fail_msg("want allow, got %s (%s)", ccg_reason_code(r.decision.reasons.items[0].reason),
                     json_string_value(json_object_get(r.decision.reasons.items[0].details, "detail")));
        }
    } else if (r.decision.allow || r.decision.reasons.items[0].reason != want) {
        fail_msg("want %s, got %s", ccg_reason_code(want),
                 r.decision.allow ? "allow" : ccg_reason_code(r.decision.reasons.items[0].reason));
    }
    ccg_tdx_result_free(&r);
}

/* Runs s and returns the converged status (the result is freed). */
static ccg_tdx_tcb_status status_of(scenario *s, ccg_reason first)
{
    ccg_tdx_result r;
    run(s, &r);
    ccg_tdx_tcb_status st = r.status;
    if (first != CCG_R_OK) {
        assert_true(r.decision.reasons.count > 0);
        if (r.decision.reasons.items[0].reason != first) {
            fail_msg("want %s, got %s", ccg_reason_code(first), ccg_reason_code(r.decision.reasons.items[0].reason));
        }
    }
    ccg_tdx_result_free(&r);
    return st;
}

#define CASE(name) static void name(void **state)
#define S scenario s; (void)state; scenario_init(&s)

/* --- baseline and versions --- */
CASE(test_baseline_v4_allows) { S; expect(&s, CCG_R_OK); }
CASE(test_v5_td10_allows) { S; s.td.version = 5; s.td.body_type = 2; expect(&s, CCG_R_OK); }
CASE(test_v5_td15_allows) { S; s.td.version = 5; s.td.body_type = 3; expect(&s, CCG_R_OK); }
CASE(test_pcs_form_allows) { S; s.pcs_form = 1; expect(&s, CCG_R_OK); }
CASE(test_trailing_bytes_allowed) { S; s.td.trailing = 333; expect(&s, CCG_R_OK); }

static void p_version3(uint8_t *q, size_t n) { (void)n; q[0] = 3; }
static void p_version6(uint8_t *q, size_t n) { (void)n; q[0] = 6; }
static void p_tee_sgx(uint8_t *q, size_t n) { (void)n; q[4] = 0; }
static void p_key_type3(uint8_t *q, size_t n) { (void)n; q[2] = 3; }
static void p_vendor(uint8_t *q, size_t n) { (void)n; q[12] ^= 1; }
static void p_body_type1(uint8_t *q, size_t n) { (void)n; q[48] = 1; }
static void p_body_size(uint8_t *q, size_t n) { (void)n; q[50] = 0x58; q[51] = 0x02; /* 600 */ }
static void p_sigdata_len(uint8_t *q, size_t n) { (void)n; q[632 + 3] = 0x10; }
static void p_qe_report(uint8_t *q, size_t n) { (void)n; q[770 + 100] ^= 1; }
static void p_auth_len(uint8_t *q, size_t n) { (void)n; q[1218] = 0xff; q[1219] = 0xff; }
static void p_outer_size(uint8_t *q, size_t n) { (void)n; q[766] += 1; }

CASE(test_version_3_refused) { S; s.patch = p_version3; expect(&s, CCG_R_TDX_QUOTE_VERSION_UNSUPPORTED); }
CASE(test_version_6_refused) { S; s.patch = p_version6; expect(&s, CCG_R_TDX_QUOTE_VERSION_UNSUPPORTED); }
CASE(test_tee_type_sgx_refused) { S; s.patch = p_tee_sgx; expect(&s, CCG_R_TDX_TEE_TYPE_UNSUPPORTED); }
CASE(test_att_key_type_refused) { S; s.patch = p_key_type3; expect(&s, CCG_R_TDX_ATT_KEY_TYPE_UNSUPPORTED); }
CASE(test_qe_vendor_refused) { S; s.patch = p_vendor; expect(&s, CCG_R_TDX_QE_VENDOR_UNKNOWN); }
CASE(test_v5_body_type_refused) { S; s.td.version = 5; s.patch = p_body_type1; expect(&s, CCG_R_TDX_BODY_TYPE_UNSUPPORTED); }
CASE(test_v5_body_size_refused) { S; s.td.version = 5; s.patch = p_body_size; expect(&s, CCG_R_TDX_BODY_SIZE_INVALID); }
CASE(test_sig_data_len_refused) { S; s.patch = p_sigdata_len; expect(&s, CCG_R_TDX_SIGNATURE_DATA_MALFORMED); }
CASE(test_auth_len_refused) { S; s.patch = p_auth_len; expect(&s, CCG_R_TDX_SIGNATURE_DATA_MALFORMED); }
CASE(test_outer_size_refused) { S; s.patch = p_outer_size; expect(&s, CCG_R_TDX_SIGNATURE_DATA_MALFORMED); }
CASE(test_outer_cert_type_refused) { S; s.td.outer_cert_type = 5; expect(&s, CCG_R_TDX_CERT_DATA_TYPE_UNSUPPORTED); }
CASE(test_inner_cert_type_refused) { S; s.td.inner_cert_type = 4; expect(&s, CCG_R_TDX_CERT_DATA_TYPE_UNSUPPORTED); }

/* Every prefix of a valid quote is refused with a reason. */
CASE(test_every_prefix_refused)
{
    (void)state;
    ccg_tdx_emu_opts o;
    ccg_tdx_emu_td td;
    ccg_tdx_emu *e = NULL;
    uint8_t *q = NULL;
    size_t len = 0;
    ccg_tdx_quote parsed;
    ccg_tdx_emu_opts_default(tu_time(NOW), &o);
    ccg_tdx_emu_td_default(&td);
    td.version = 5;
    td.body_type = 3;
    assert_true(ccg_ok(ccg_tdx_emu_new(&o, &e)));
    assert_true(ccg_ok(ccg_tdx_emu_quote(e, &td, &q, &len)));
    assert_true(ccg_ok(ccg_tdx_quote_parse(q, len, &parsed)));
    for (size_t n = 0; n < len; n++) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_tdx_quote_parse(q, n, &parsed)));
        assert_int_not_equal(ccg_error_reason(), CCG_R_OK);
    }
    free(q);
    ccg_tdx_emu_free(e);
}

/* --- key types and signatures --- */
CASE(test_pck_key_p384_refused) { S; s.o.pck_key_p384 = 1; expect(&s, CCG_R_TDX_PCK_KEY_INVALID); }
CASE(test_att_key_off_curve_refused) { S; s.td.att_key_off_curve = 1; expect(&s, CCG_R_TDX_ATTESTATION_KEY_INVALID); }
CASE(test_quote_signature_refused) { S; s.td.sign_with_other_key = 1; expect(&s, CCG_R_TDX_QUOTE_SIGNATURE_INVALID); }
CASE(test_qe_report_signature_refused) { S; s.patch = p_qe_report; expect(&s, CCG_R_TDX_QE_REPORT_SIGNATURE_INVALID); }
CASE(test_tcb_info_signature_refused) { S; s.bad_tcb_sig = 1; expect(&s, CCG_R_TDX_TCB_INFO_SIGNATURE_INVALID); }
CASE(test_qe_identity_signature_refused) { S; s.bad_qe_sig = 1; expect(&s, CCG_R_TDX_QE_IDENTITY_SIGNATURE_INVALID); }
CASE(test_root_crl_wrong_issuer) { S; s.root_crl_by_ca = 1; expect(&s, CCG_R_TDX_CRL_INVALID); }
CASE(test_pck_crl_wrong_issuer) { S; s.pck_crl_by_root = 1; expect(&s, CCG_R_TDX_CRL_INVALID); }

/* --- chains --- */
CASE(test_untrusted_root) { S; s.no_test_root = 1; expect(&s, CCG_R_TDX_UNTRUSTED_ROOT); }
CASE(test_pck_expired) { S; s.o.pck_validity = -1; expect(&s, CCG_R_TDX_CERT_EXPIRED); }
CASE(test_pck_not_yet_valid) { S; s.o.pck_validity = 1; expect(&s, CCG_R_TDX_CERT_NOT_YET_VALID); }
CASE(test_pck_cn_wrong) { S; s.o.pck_cn_wrong = 1; expect(&s, CCG_R_TDX_CERT_CHAIN_INVALID); }
CASE(test_tcb_chain_wrong_role) { S; s.tcb_chain_is_pck = 1; expect(&s, CCG_R_TDX_CERT_CHAIN_INVALID); }
CASE(test_pck_revoked) { S; s.revoke_pck = 1; expect(&s, CCG_R_TDX_PCK_REVOKED); }
CASE(test_ca_revoked) { S; s.revoke_ca = 1; expect(&s, CCG_R_TDX_CA_REVOKED); }

/* --- bindings --- */
CASE(test_qe_binding_refused) { S; s.td.bad_binding = 1; expect(&s, CCG_R_TDX_QE_REPORT_DATA_MISMATCH); }
CASE(test_qe_auth_data_empty_allows) { S; s.td.qe_auth_len = 0; expect(&s, CCG_R_OK); }
CASE(test_report_data_expected)
{
    S;
    uint8_t want[64];
    memset(want, 0xda, 64);
    s.expected_report_data = want;
    expect(&s, CCG_R_OK);
    scenario_init(&s);
    want[63] ^= 1;
    s.expected_report_data = want;
    expect(&s, CCG_R_TDX_REPORT_DATA_MISMATCH);
}

/* --- collateral windows --- */
static void set_dates(json_t *doc, const char *issue, const char *next)
{
    json_object_set_new(doc, "issueDate", json_string(issue));
    json_object_set_new(doc, "nextUpdate", json_string(next));
}
CASE(test_tcb_info_expired) { S; set_dates(s.tcb_info, "2025-12-01T00:00:00Z", "2026-01-14T23:59:59Z"); expect(&s, CCG_R_COLLATERAL_EXPIRED); }
CASE(test_tcb_info_not_yet_valid) { S; set_dates(s.tcb_info, "2026-01-15T00:00:01Z", "2026-02-01T00:00:00Z"); expect(&s, CCG_R_COLLATERAL_NOT_YET_VALID); }
CASE(test_tcb_info_window_edges) { S; set_dates(s.tcb_info, NOW, NOW); expect(&s, CCG_R_OK); }
CASE(test_qe_identity_expired) { S; set_dates(s.qe_identity, "2025-12-01T00:00:00Z", "2026-01-14T00:00:00Z"); expect(&s, CCG_R_COLLATERAL_EXPIRED); }
CASE(test_qe_identity_not_yet_valid) { S; set_dates(s.qe_identity, "2026-01-16T00:00:00Z", "2026-02-01T00:00:00Z"); expect(&s, CCG_R_COLLATERAL_NOT_YET_VALID); }
CASE(test_root_crl_expired) { S; s.root_crl_next = s.now - 1; expect(&s, CCG_R_COLLATERAL_EXPIRED); }
CASE(test_pck_crl_expired) { S; s.pck_crl_next = s.now - 1; expect(&s, CCG_R_COLLATERAL_EXPIRED); }
CASE(test_pck_crl_not_yet_valid) { S; s.pck_crl_this = s.now + 1; expect(&s, CCG_R_COLLATERAL_NOT_YET_VALID); }
CASE(test_collateral_missing) { S; s.no_collateral = 1; expect(&s, CCG_R_COLLATERAL_MISSING); }

/* --- TCB info identity: FMSPC, PCE-ID, PCK extension --- */
CASE(test_fmspc_mismatch) { S; json_object_set_new(s.tcb_info, "fmspc", json_string("00906ED50001")); expect(&s, CCG_R_TDX_FMSPC_MISMATCH); }
CASE(test_pceid_mismatch) { S; json_object_set_new(s.tcb_info, "pceId", json_string("0100")); expect(&s, CCG_R_TDX_PCEID_MISMATCH); }
CASE(test_pck_no_sgx_extension) { S; s.o.omit_sgx_extension = 1; expect(&s, CCG_R_TDX_PCK_EXTENSION_INVALID); }
CASE(test_pck_no_fmspc) { S; s.o.omit_fmspc = 1; expect(&s, CCG_R_TDX_PCK_EXTENSION_INVALID); }
CASE(test_tcb_info_sgx_id) { S; json_object_set_new(s.tcb_info, "id", json_string("SGX")); expect(&s, CCG_R_TDX_TCB_INFO_INVALID); }
CASE(test_tcb_info_version2) { S; json_object_set_new(s.tcb_info, "version", json_integer(2)); expect(&s, CCG_R_TDX_TCB_INFO_INVALID); }
CASE(test_tcb_info_type1) { S; json_object_set_new(s.tcb_info, "tcbType", json_integer(1)); expect(&s, CCG_R_TDX_TCB_INFO_INVALID); }
CASE(test_tcb_info_duplicate_level)
{
    S;
    json_t *levels = json_object_get(s.tcb_info, "tcbLevels");
    json_array_append(levels, json_array_get(levels, 0));
    expect(&s, CCG_R_TDX_COLLATERAL_MALFORMED);
}
CASE(test_tcb_info_unknown_status)
{
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcbStatus", json_string("Fine"));
    expect(&s, CCG_R_TDX_COLLATERAL_MALFORMED);
}

/* --- QE identity fields --- */
CASE(test_qe_miscselect) { S; s.td.qe_miscselect = 1; expect(&s, CCG_R_TDX_QE_MISCSELECT_MISMATCH); }
CASE(test_qe_attributes) { S; s.td.qe_attributes[0] = 0x13; expect(&s, CCG_R_TDX_QE_ATTRIBUTES_MISMATCH); }
CASE(test_qe_attributes_masked_bit_ignored) { S; s.td.qe_attributes[0] = 0x15; /* bit 2 is outside the mask FB */ expect(&s, CCG_R_OK); }
CASE(test_qe_mrsigner) { S; s.td.qe_mrsigner[5] ^= 1; expect(&s, CCG_R_TDX_QE_MRSIGNER_MISMATCH); }
CASE(test_qe_isvprodid) { S; s.td.qe_isvprodid = 1; expect(&s, CCG_R_TDX_QE_ISVPRODID_MISMATCH); }
CASE(test_qe_identity_id) { S; json_object_set_new(s.qe_identity, "id", json_string("QE")); expect(&s, CCG_R_TDX_QE_IDENTITY_INVALID); }
CASE(test_qe_identity_version1) { S; json_object_set_new(s.qe_identity, "version", json_integer(1)); expect(&s, CCG_R_TDX_QE_IDENTITY_INVALID); }
CASE(test_qe_level_not_found) { S; s.td.qe_isvsvn = 2; expect(&s, CCG_R_TDX_QE_TCB_LEVEL_NOT_FOUND); }
CASE(test_qe_revoked) { S; s.td.qe_isvsvn = 3; expect(&s, CCG_R_TDX_TCB_REVOKED); }
CASE(test_qe_out_of_date)
{
    S;
    s.td.qe_isvsvn = 7; /* between the levels: the lower one, OutOfDate */
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
    scenario_init(&s);
    s.td.qe_isvsvn = 7;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"accepted_tcb_statuses\":[\"UpToDate\",\"OutOfDate\"],"
               "\"allowed_advisories\":[\"INTEL-SA-00615\"]}";
    expect(&s, CCG_R_OK);
    scenario_init(&s);
    s.td.qe_isvsvn = 7;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"accepted_tcb_statuses\":[\"UpToDate\",\"OutOfDate\"]}";
    expect(&s, CCG_R_TDX_ADVISORY_NOT_ALLOWED);
}

/* --- platform TCB levels at each boundary --- */
CASE(test_pcesvn_at_level) { S; expect(&s, CCG_R_OK); }
CASE(test_pcesvn_below_level)
{
    S;
    s.o.pcesvn = 12; /* below L1 (13), at least L2 (11): OutOfDate */
    s.tcb_info = (json_decref(s.tcb_info), default_tcb_info(&s.o, "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"));
    json_object_set_new(json_object_get(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcb"), "pcesvn",
                        json_integer(13));
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
}
CASE(test_sgx_component_below_level)
{
    S;
    json_t *c = json_object_get(json_object_get(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcb"),
                                "sgxtcbcomponents");
    json_object_set_new(json_array_get(c, 7), "svn", json_integer(3)); /* L1 needs 3 at component 7; the PCK has 2 */
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
}
CASE(test_below_every_level) { S; s.o.pcesvn = 10; expect(&s, CCG_R_TDX_TCB_LEVEL_NOT_FOUND); }
CASE(test_tee_tcb_svn_below_l1)
{
    S;
    s.td.tee_tcb_svn[0] = 4; /* L1 needs 5: L2 */
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
}
CASE(test_tee_tcb_svn_below_all) { S; s.td.tee_tcb_svn[2] = 0; expect(&s, CCG_R_TDX_TCB_LEVEL_NOT_FOUND); }
CASE(test_platform_revoked)
{
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcbStatus", json_string("Revoked"));
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"accepted_tcb_statuses\":[\"UpToDate\",\"OutOfDate\","
               "\"ConfigurationNeeded\",\"SWHardeningNeeded\"]}";
    expect(&s, CCG_R_TDX_TCB_REVOKED);
}
CASE(test_platform_statuses)
{
    const char *names[] = {"SWHardeningNeeded", "ConfigurationNeeded", "ConfigurationAndSWHardeningNeeded",
                           "OutOfDateConfigurationNeeded"};
    for (size_t i = 0; i < 4; i++) {
        S;
        json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcbStatus",
                            json_string(names[i]));
        assert_string_equal(ccg_tdx_status_name(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED)), names[i]);
    }
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcbStatus",
                        json_string("SWHardeningNeeded"));
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"accepted_tcb_statuses\":[\"UpToDate\",\"SWHardeningNeeded\"]}";
    expect(&s, CCG_R_OK);
}
/* QE OutOfDate converges a ConfigurationNeeded platform to OutOfDateConfigurationNeeded (QVL). */
CASE(test_qe_convergence)
{
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "tcbStatus",
                        json_string("ConfigurationNeeded"));
    s.td.qe_isvsvn = 6;
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE_CONFIGURATION_NEEDED);
}
CASE(test_advisory_needs_allowlist)
{
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "advisoryIDs",
                        json_pack("[s]", "INTEL-SA-00999"));
    expect(&s, CCG_R_TDX_ADVISORY_NOT_ALLOWED);
    scenario_init(&s);
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tcbLevels"), 0), "advisoryIDs",
                        json_pack("[s]", "INTEL-SA-00999"));
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"allowed_advisories\":[\"INTEL-SA-00999\"]}";
    expect(&s, CCG_R_OK);
}

/* --- TDX module identities (TEE_TCB_SVN[1] is the module major version) --- */
CASE(test_module_v1_up_to_date) { S; s.td.tee_tcb_svn[1] = 1; expect(&s, CCG_R_OK); }
CASE(test_module_v1_components_0_1_skipped)
{
    S;
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 4; /* below L1's component 0 (5), but judged by TDX_01 (4: UpToDate) */
    expect(&s, CCG_R_OK);
}
CASE(test_module_out_of_date)
{
    S;
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 3;
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
}
CASE(test_module_level_not_found) { S; s.td.tee_tcb_svn[1] = 1; s.td.tee_tcb_svn[0] = 1; expect(&s, CCG_R_TDX_MODULE_TCB_LEVEL_NOT_FOUND); }
CASE(test_module_identity_not_found) { S; s.td.tee_tcb_svn[1] = 2; expect(&s, CCG_R_TDX_MODULE_IDENTITY_NOT_FOUND); }
CASE(test_module_id_case_insensitive)
{
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tdxModuleIdentities"), 0), "id", json_string("tdx_01"));
    s.td.tee_tcb_svn[1] = 1;
    expect(&s, CCG_R_OK);
}
CASE(test_module_revoked)
{
    S;
    json_t *lv = json_array_get(json_object_get(json_array_get(json_object_get(s.tcb_info, "tdxModuleIdentities"), 0),
                                                "tcbLevels"), 1);
    json_object_set_new(lv, "tcbStatus", json_string("Revoked"));
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 3;
    expect(&s, CCG_R_TDX_TCB_REVOKED);
}
CASE(test_mrsignerseam_mismatch) { S; s.td.mrsignerseam[0] = 1; expect(&s, CCG_R_TDX_MODULE_MISMATCH); }
CASE(test_seam_attributes_nonzero) { S; s.td.seam_attributes[3] = 1; expect(&s, CCG_R_TDX_MODULE_MISMATCH); }
CASE(test_module_identity_mrsigner)
{
    S;
    json_object_set_new(json_array_get(json_object_get(s.tcb_info, "tdxModuleIdentities"), 0), "mrsigner",
                        json_string("01000000000000000000000000000000000000000000000000000000000000000000000000000000"
                                    "0000000000000000"));
    s.td.tee_tcb_svn[1] = 1;
    expect(&s, CCG_R_TDX_MODULE_MISMATCH);
}
/* TD 1.5: an out-of-date module whose TD-preserving update (TEE_TCB_SVN2) reaches the latest levels:
 * QVL advises a TD relaunch rather than OutOfDate. */
CASE(test_td_relaunch_advised)
{
    S;
    s.td.version = 5;
    s.td.body_type = 3;
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 3;
    memcpy(s.td.tee_tcb_svn2, (uint8_t[16]){4, 1, 2}, 16);
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_TD_RELAUNCH_ADVISED);
    scenario_init(&s);
    s.td.version = 5;
    s.td.body_type = 3;
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 3;
    memcpy(s.td.tee_tcb_svn2, (uint8_t[16]){3, 1, 2}, 16); /* the update is not the latest: OutOfDate */
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
    scenario_init(&s);
    s.td.version = 4; /* a TD 1.0 body has no TEE_TCB_SVN2: no advice */
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 3;
    assert_int_equal(status_of(&s, CCG_R_TDX_TCB_STATUS_NOT_ALLOWED), CCG_TDX_STATUS_OUT_OF_DATE);
}
CASE(test_td_relaunch_unknown_module2)
{
    S;
    s.td.version = 5;
    s.td.body_type = 3;
    s.td.tee_tcb_svn[1] = 1;
    s.td.tee_tcb_svn[0] = 3;
    memcpy(s.td.tee_tcb_svn2, (uint8_t[16]){4, 2, 2}, 16);
    expect(&s, CCG_R_TDX_MODULE_IDENTITY_NOT_FOUND);
}

/* --- TD attributes and the policy --- */
CASE(test_debug_refused) { S; s.td.td_attributes |= 1; expect(&s, CCG_R_TDX_DEBUG); }
CASE(test_debug_allowed_by_policy)
{
    S;
    s.td.td_attributes |= 1;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"debug_allowed\":true}";
    expect(&s, CCG_R_OK);
}
CASE(test_sept_ve_disable_required) { S; s.td.td_attributes = 0; expect(&s, CCG_R_TDX_SEPT_VE_DISABLE_REQUIRED); }
CASE(test_sept_ve_disable_optional)
{
    S;
    s.td.td_attributes = 0;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"require_sept_ve_disable\":false}";
    expect(&s, CCG_R_OK);
}
CASE(test_reserved_attribute_bits)
{
    const int bits[] = {1, 2, 3, 7, 8, 15, 17, 26, 32, 61};
    for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++) {
        S;
        s.td.td_attributes |= 1ull << bits[i];
        expect(&s, CCG_R_TDX_TD_ATTRIBUTES_RESERVED);
    }
}
CASE(test_attribute_not_allowed)
{
    S;
    s.td.td_attributes |= 1ull << 30; /* PKS */
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"allowed_attributes\":[\"SEPT_VE_DISABLE\"]}";
    expect(&s, CCG_R_TDX_TD_ATTRIBUTE_NOT_ALLOWED);
    scenario_init(&s);
    s.td.td_attributes |= 1ull << 30;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"allowed_attributes\":[\"SEPT_VE_DISABLE\",\"PKS\"]}";
    expect(&s, CCG_R_OK);
}

static char *hex48_list(const char *key, uint8_t byte)
{
    uint8_t v[48];
    char hex[97];
    static char buf[512];
    memset(v, byte, 48);
    ccg_hex_encode(v, 48, hex);
    snprintf(buf, sizeof(buf), "{\"policy_id\":\"p\",\"version\":1,\"%s\":[\"%s\"]}", key, hex);
    return buf;
}

CASE(test_allowlists)
{
    static const struct {
        const char *key;
        uint8_t good;
        ccg_reason reason;
    } L[] = {
        {"allowed_mrtd", 0x7d, CCG_R_TDX_MRTD_NOT_ALLOWED},
        {"allowed_rtmr0", 0x10, CCG_R_TDX_RTMR0_NOT_ALLOWED},
        {"allowed_rtmr1", 0x11, CCG_R_TDX_RTMR1_NOT_ALLOWED},
        {"allowed_rtmr2", 0x12, CCG_R_TDX_RTMR2_NOT_ALLOWED},
        {"allowed_rtmr3", 0x13, CCG_R_TDX_RTMR3_NOT_ALLOWED},
        {"allowed_mrconfigid", 0x00, CCG_R_TDX_MRCONFIGID_NOT_ALLOWED},
        {"allowed_mrowner", 0x00, CCG_R_TDX_MROWNER_NOT_ALLOWED},
        {"allowed_mrownerconfig", 0x00, CCG_R_TDX_MROWNERCONFIG_NOT_ALLOWED},
        {"allowed_mrservicetd", 0x00, CCG_R_TDX_MRSERVICETD_NOT_ALLOWED},
    };
    for (size_t i = 0; i < sizeof(L) / sizeof(L[0]); i++) {
        S;
        s.policy = hex48_list(L[i].key, L[i].good);
        expect(&s, CCG_R_OK);
        scenario_init(&s);
        s.policy = hex48_list(L[i].key, (uint8_t)(L[i].good + 1));
        expect(&s, L[i].reason);
    }
}
CASE(test_xfam_allowlist)
{
    S;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"allowed_xfam\":[\"e702060000000000\"]}";
    expect(&s, CCG_R_OK);
    scenario_init(&s);
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"allowed_xfam\":[\"e700060000000000\"]}";
    expect(&s, CCG_R_TDX_XFAM_NOT_ALLOWED);
}
CASE(test_minimum_tee_tcb_svn)
{
    S;
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"minimum_tee_tcb_svn\":\"05000200000000000000000000000000\"}";
    expect(&s, CCG_R_OK);
    scenario_init(&s);
    s.policy = "{\"policy_id\":\"p\",\"version\":1,\"minimum_tee_tcb_svn\":\"05000300000000000000000000000000\"}";
    expect(&s, CCG_R_TDX_TEE_TCB_SVN_TOO_LOW);
}

/* --- collateral and policy documents --- */
CASE(test_bundle_malformed)
{
    (void)state;
    ccg_tdx_collateral col;
    const char *bad[] = {
        "[]",
        "{\"tcb_info\":\"{}\"}",
        "{\"tcb_info\":\"{}\",\"tcb_info\":\"{}\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_tdx_collateral_parse(bad[i], strlen(bad[i]), &col)));
        tu_assert_error_reason(CCG_R_TDX_COLLATERAL_MALFORMED);
    }
}
CASE(test_policy_documents)
{
    (void)state;
    ccg_tdx_policy *p = NULL;
    const struct {
        const char *doc;
        ccg_reason reason;
    } B[] = {
        {"{\"policy_id\":\"p\",\"version\":1,\"mystery\":1}", CCG_R_POLICY_UNKNOWN_KEY},
        {"{\"policy_id\":\"p\",\"version\":1,\"accepted_tcb_statuses\":[\"UpToDate\",\"Revoked\"]}", CCG_R_POLICY_INVALID_VALUE},
        {"{\"policy_id\":\"p\",\"version\":1,\"accepted_tcb_statuses\":[\"OutOfDate\"]}", CCG_R_POLICY_INVALID_VALUE},
        {"{\"policy_id\":\"p\",\"version\":1,\"allowed_mrtd\":[\"00\"]}", CCG_R_POLICY_INVALID_VALUE},
        {"{\"policy_id\":\"p\",\"version\":1,\"allowed_attributes\":[\"DEBUG\"]}", CCG_R_POLICY_INVALID_VALUE},
        {"{\"policy_id\":\"p\",\"version\":1,\"tee\":\"snp\"}", CCG_R_POLICY_INVALID_VALUE},
        {"{\"policy_id\":\"p\",\"version\":0}", CCG_R_POLICY_VERSION_INVALID},
        {"{\"policy_id\":\"p\",\"version\":1,\"version\":2}", CCG_R_POLICY_MALFORMED},
    };
    for (size_t i = 0; i < sizeof(B) / sizeof(B[0]); i++) {
        ccg_error_clear();
        assert_true(ccg_failed(ccg_tdx_policy_parse(B[i].doc, strlen(B[i].doc), &p)));
        tu_assert_error_reason(B[i].reason);
    }
}

/* The cache directory: stored by FMSPC, loaded while current, refused past nextUpdate. */
CASE(test_cache_dir)
{
    S;
    char dir[] = "/tmp/ccg-tdx-cacheXXXXXX";
    ccg_tdx_emu *e = NULL;
    ccg_tdx_collateral col;
    assert_non_null(mkdtemp(dir));
    assert_true(ccg_ok(ccg_tdx_emu_new(&s.o, &e)));
    char *text = bundle_text(&s, e);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_collateral_load_dir(dir, s.o.fmspc, s.now, &col)));
    tu_assert_error_reason(CCG_R_COLLATERAL_MISSING);
    assert_true(ccg_ok(ccg_tdx_collateral_store_dir(dir, text, strlen(text))));
    assert_true(ccg_ok(ccg_tdx_collateral_load_dir(dir, s.o.fmspc, s.now, &col)));
    ccg_tdx_collateral_free(&col);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_collateral_load_dir(dir, s.o.fmspc, tu_time("2026-02-01T00:00:01Z"), &col)));
    tu_assert_error_reason(CCG_R_COLLATERAL_EXPIRED);
    assert_non_null(strstr(ccg_error_last()->message, "tcb_info"));
    char path[128];
    snprintf(path, sizeof(path), "%s/00906ED50000.json", dir);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(dir), 0);
    free(text);
    ccg_tdx_emu_free(e);
    json_decref(s.tcb_info);
    json_decref(s.qe_identity);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_baseline_v4_allows), cmocka_unit_test(test_v5_td10_allows),
        cmocka_unit_test(test_v5_td15_allows), cmocka_unit_test(test_pcs_form_allows),
        cmocka_unit_test(test_trailing_bytes_allowed), cmocka_unit_test(test_version_3_refused),
        cmocka_unit_test(test_version_6_refused), cmocka_unit_test(test_tee_type_sgx_refused),
        cmocka_unit_test(test_att_key_type_refused), cmocka_unit_test(test_qe_vendor_refused),
        cmocka_unit_test(test_v5_body_type_refused), cmocka_unit_test(test_v5_body_size_refused),
        cmocka_unit_test(test_sig_data_len_refused), cmocka_unit_test(test_auth_len_refused),
        cmocka_unit_test(test_outer_size_refused), cmocka_unit_test(test_outer_cert_type_refused),
        cmocka_unit_test(test_inner_cert_type_refused), cmocka_unit_test(test_every_prefix_refused),
        cmocka_unit_test(test_pck_key_p384_refused), cmocka_unit_test(test_att_key_off_curve_refused),
        cmocka_unit_test(test_quote_signature_refused), cmocka_unit_test(test_qe_report_signature_refused),
        cmocka_unit_test(test_tcb_info_signature_refused), cmocka_unit_test(test_qe_identity_signature_refused),
        cmocka_unit_test(test_root_crl_wrong_issuer), cmocka_unit_test(test_pck_crl_wrong_issuer),
        cmocka_unit_test(test_untrusted_root), cmocka_unit_test(test_pck_expired),
        cmocka_unit_test(test_pck_not_yet_valid), cmocka_unit_test(test_pck_cn_wrong),
        cmocka_unit_test(test_tcb_chain_wrong_role), cmocka_unit_test(test_pck_revoked),
        cmocka_unit_test(test_ca_revoked), cmocka_unit_test(test_qe_binding_refused),
        cmocka_unit_test(test_qe_auth_data_empty_allows), cmocka_unit_test(test_report_data_expected),
        cmocka_unit_test(test_tcb_info_expired), cmocka_unit_test(test_tcb_info_not_yet_valid),
        cmocka_unit_test(test_tcb_info_window_edges), cmocka_unit_test(test_qe_identity_expired),
        cmocka_unit_test(test_qe_identity_not_yet_valid), cmocka_unit_test(test_root_crl_expired),
        cmocka_unit_test(test_pck_crl_expired), cmocka_unit_test(test_pck_crl_not_yet_valid),
        cmocka_unit_test(test_collateral_missing), cmocka_unit_test(test_fmspc_mismatch),
        cmocka_unit_test(test_pceid_mismatch), cmocka_unit_test(test_pck_no_sgx_extension),
        cmocka_unit_test(test_pck_no_fmspc), cmocka_unit_test(test_tcb_info_sgx_id),
        cmocka_unit_test(test_tcb_info_version2), cmocka_unit_test(test_tcb_info_type1),
        cmocka_unit_test(test_tcb_info_duplicate_level), cmocka_unit_test(test_tcb_info_unknown_status),
        cmocka_unit_test(test_qe_miscselect), cmocka_unit_test(test_qe_attributes),
        cmocka_unit_test(test_qe_attributes_masked_bit_ignored), cmocka_unit_test(test_qe_mrsigner),
        cmocka_unit_test(test_qe_isvprodid), cmocka_unit_test(test_qe_identity_id),
        cmocka_unit_test(test_qe_identity_version1), cmocka_unit_test(test_qe_level_not_found),
        cmocka_unit_test(test_qe_revoked), cmocka_unit_test(test_qe_out_of_date),
        cmocka_unit_test(test_pcesvn_at_level), cmocka_unit_test(test_pcesvn_below_level),
        cmocka_unit_test(test_sgx_component_below_level), cmocka_unit_test(test_below_every_level),
        cmocka_unit_test(test_tee_tcb_svn_below_l1), cmocka_unit_test(test_tee_tcb_svn_below_all),
        cmocka_unit_test(test_platform_revoked), cmocka_unit_test(test_platform_statuses),
        cmocka_unit_test(test_qe_convergence), cmocka_unit_test(test_advisory_needs_allowlist),
        cmocka_unit_test(test_module_v1_up_to_date), cmocka_unit_test(test_module_v1_components_0_1_skipped),
        cmocka_unit_test(test_module_out_of_date), cmocka_unit_test(test_module_level_not_found),
        cmocka_unit_test(test_module_identity_not_found), cmocka_unit_test(test_module_id_case_insensitive),
        cmocka_unit_test(test_module_revoked), cmocka_unit_test(test_mrsignerseam_mismatch),
        cmocka_unit_test(test_seam_attributes_nonzero), cmocka_unit_test(test_module_identity_mrsigner),
        cmocka_unit_test(test_td_relaunch_advised), cmocka_unit_test(test_td_relaunch_unknown_module2),
        cmocka_unit_test(test_debug_refused), cmocka_unit_test(test_debug_allowed_by_policy),
        cmocka_unit_test(test_sept_ve_disable_required), cmocka_unit_test(test_sept_ve_disable_optional),
        cmocka_unit_test(test_reserved_attribute_bits), cmocka_unit_test(test_attribute_not_allowed),
        cmocka_unit_test(test_allowlists), cmocka_unit_test(test_xfam_allowlist),
        cmocka_unit_test(test_minimum_tee_tcb_svn), cmocka_unit_test(test_bundle_malformed),
        cmocka_unit_test(test_policy_documents), cmocka_unit_test(test_cache_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
