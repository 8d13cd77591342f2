/* The broker's GPU front ends, each alone: the additional_evidence wire form (Trustee's KBS 0.4.0
 * device_evidence_list), the release policy's gpu section (the GPU policy parser it shares with the
 * standalone document), the configuration's gpu section, the replay memory in the store, and the report
 * digest it is keyed by. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "ccgate/error.h"
#include "ccgate/gpu_emulator.h"
#include "ccgate/kbs.h"
#include "ccgate/store.h"

#include "testutil.h"

#include "../src/kbs/kbs_gpu.h"

#define FAILS_WITH(expr, reason)               \
    do {                                       \
        ccg_error_clear();                     \
        assert_true(ccg_failed(expr));         \
        tu_assert_error_reason(reason);        \
    } while (0)
#define OK(expr)                                                                                          \
    do {                                                                                                  \
        ccg_error_clear();                                                                                \
        if (ccg_failed(expr)) {                                                                           \
            fail_msg("%s: %s: %s", #expr, ccg_reason_code(ccg_error_reason()), ccg_error_last()->message); \
        }                                                                                                 \
    } while (0)

static char *b64(const uint8_t *p, size_t n)
{
    char *out = malloc(4 * (n / 3 + 1) + 1);
    assert_non_null(out);
    EVP_EncodeBlock((unsigned char *)out, p, (int)n);
    return out;
}

/* One software GPU's report and chain as device_evidence_list members (base64). */
typedef struct {
    char *evidence;
    char *certificate;
} device;

static device D;

static int group_setup(void **state)
{
    (void)state;
    ccg_gpu_emu_config cfg;
    ccg_gpu_emulator *emu = NULL;
    uint8_t nonce[CCG_GPU_NONCE_SIZE] = {1, 2, 3}, *report = NULL;
    char *pem = NULL;
    size_t len = 0, pem_len = 0;
    if (ccg_failed(ccg_gpu_emulator_config_init(&cfg, CCG_GPU_ARCH_HOPPER)) ||
        ccg_failed(ccg_gpu_emulator_new(&cfg, &emu)) ||
        ccg_failed(ccg_gpu_emulator_attest(emu, nonce, NULL, &report, &len)) ||
        ccg_failed(ccg_gpu_emulator_chain_pem(emu, &pem, &pem_len))) {
        return -1;
    }
    D.evidence = b64(report, len);
    D.certificate = b64((const uint8_t *)pem, pem_len);
    free(report);
    free(pem);
    ccg_gpu_emulator_free(emu);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    free(D.evidence);
    free(D.certificate);
    return 0;
}

/* ---------------------------------------------------------------- additional_evidence */

/* entry with "@E" replaced by the device's evidence and "@C" by its certificate (base64). */
static void fill(const char *entry, char *out, size_t cap)
{
    size_t n = 0;
    for (const char *p = entry; *p != '\0' && n + 1 < cap; p++) {
        const char *with = p[0] == '@' && p[1] == 'E' ? D.evidence : p[0] == '@' && p[1] == 'C' ? D.certificate : NULL;
        if (with != NULL) {
            size_t w = strlen(with);
            assert_true(n + w < cap);
            memcpy(out + n, with, w);
            n += w;
            p++;
        } else {
            out[n++] = *p;
        }
    }
    out[n] = '\0';
}

/* {"nvidia":{"device_evidence_list":[n entries]}}; entry members from `entry` (a JSON object text with
 * @E for the evidence and @C for the certificate, or NULL for the standard one). */
static char *wire(size_t n, const char *entry)
{
    json_t *list = json_array();
    char text[1 << 15];
    for (size_t i = 0; i < n; i++) {
        if (entry == NULL) {
            json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s}", "arch", "HOPPER", "uuid", "GPU-1234",
                                                  "evidence", D.evidence, "certificate", D.certificate));
        } else {
            fill(entry, text, sizeof(text));
            json_t *e = json_loads(text, 0, NULL);
            assert_non_null(e);
            json_array_append_new(list, e);
        }
    }
    json_t *doc = json_pack("{s:{s:o}}", "nvidia", "device_evidence_list", list);
    char *out = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    return out;
}

static void parse_ok(const char *text, size_t count)
{
    ccg_gpu_evidence_list l;
    OK(ccg_kbs_gpu_evidence_parse(text, strlen(text), &l));
    assert_int_equal(l.count, count);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(l.items[i].nonce_absent, 1);
        assert_int_equal(l.items[i].arch, CCG_GPU_ARCH_HOPPER);
        assert_true(l.items[i].evidence_len > 96 && l.items[i].certificate_len > 0);
    }
    ccg_gpu_evidence_list_free(&l);
}

static void parse_fails(const char *text, ccg_reason reason)
{
    ccg_gpu_evidence_list l;
    FAILS_WITH(ccg_kbs_gpu_evidence_parse(text, strlen(text), &l), reason);
    assert_int_equal(l.count, 0);
    assert_null(l.items);
}

static void wire_form_is_accepted(void **state)
{
    (void)state;
    char *t = wire(1, NULL);
    parse_ok(t, 1);
    free(t);
    /* uuid is optional; arch in any case (guest-components serialises NVML's "Hopper"). */
    t = wire(2, "{\"arch\":\"Hopper\",\"evidence\":\"@E\",\"certificate\":\"@C\"}");
    parse_ok(t, 2);
    free(t);
    t = wire(CCG_GPU_MAX_GPUS, NULL);
    parse_ok(t, CCG_GPU_MAX_GPUS);
    free(t);
    parse_ok("", 0);
    parse_ok("{}", 0);
}

static void wire_form_is_strict(void **state)
{
    (void)state;
    static const char *const bad_entries[] = {
        "{\"arch\":\"LS10\",\"evidence\":\"@E\",\"certificate\":\"@C\"}",
        "{\"arch\":\"ls10\",\"evidence\":\"@E\",\"certificate\":\"@C\"}",
        "{\"arch\":\"AMPERE\",\"evidence\":\"@E\",\"certificate\":\"@C\"}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\",\"nonce\":\"00\"}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\",\"uuid\":\"\"}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\",\"uuid\":\"GPU 1\"}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\",\"uuid\":7}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":7,\"x\":\"@C\"}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"@E!\",\"certificate\":\"@C\"}",
        "{\"arch\":\"HOPPER\",\"evidence\":\"\",\"certificate\":\"@E@C\"}",
        "{\"evidence\":\"@E\",\"certificate\":\"@C\"}",
    };
    for (size_t i = 0; i < sizeof(bad_entries) / sizeof(bad_entries[0]); i++) {
        char *t = wire(1, bad_entries[i]);
        parse_fails(t, CCG_R_GPU_EVIDENCE_MALFORMED);
        free(t);
    }
    /* An NVSwitch is named as one, not as an unknown architecture. */
    char *t = wire(1, bad_entries[1]);
    parse_fails(t, CCG_R_GPU_EVIDENCE_MALFORMED);
    assert_non_null(strstr(ccg_error_last()->message, "NVSwitch"));
    free(t);
    t = wire(CCG_GPU_MAX_GPUS + 1, NULL);
    parse_fails(t, CCG_R_GPU_EVIDENCE_MALFORMED);
    free(t);
    parse_fails("not json", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("[]", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("{\"nvidia\":[]}", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("{\"nvidia\":{}}", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("{\"nvidia\":{\"device_evidence_list\":[]}}", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("{\"nvidia\":{\"device_evidence_list\":[],\"x\":1}}", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("{\"nvidia\":{\"device_evidence_list\":[1]}}", CCG_R_GPU_EVIDENCE_MALFORMED);
    parse_fails("{\"nvidia\":{},\"nvidia\":{}}", CCG_R_GPU_EVIDENCE_MALFORMED); /* duplicate keys */
    /* Another TEE is refused, not passed over, with or beside NVIDIA's. */
    parse_fails("{\"tdx\":{}}", CCG_R_KBS_ADDITIONAL_EVIDENCE_UNSUPPORTED);
    t = wire(1, NULL);
    char both[1 << 16];
    snprintf(both, sizeof(both), "{\"sample\":{},%s", t + 1);
    parse_fails(both, CCG_R_KBS_ADDITIONAL_EVIDENCE_UNSUPPORTED);
    free(t);
}

/* ccgate's "host_state" extension: exactly {"cc":"on"|"off","devtools":"on"|"off"}, per device. */
static void host_state_is_parsed_strictly(void **state)
{
    (void)state;
    ccg_gpu_evidence_list l;
    ccg_gpu_host_state hosts[CCG_GPU_MAX_GPUS];
    char *t = wire(2, "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\","
                      "\"host_state\":{\"cc\":\"off\",\"devtools\":\"on\"}}");
    OK(kbs_gpu_evidence_parse(t, strlen(t), &l, hosts));
    assert_int_equal(l.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(hosts[i].reported, 1);
        assert_int_equal(hosts[i].cc_on, 0);
        assert_int_equal(hosts[i].devtools_on, 1);
    }
    assert_int_equal(hosts[2].reported, 0);
    ccg_gpu_evidence_list_free(&l);
    free(t);
    t = wire(1, "{\"arch\":\"HOPPER\",\"uuid\":\"GPU-1\",\"evidence\":\"@E\",\"certificate\":\"@C\","
                "\"host_state\":{\"devtools\":\"off\",\"cc\":\"on\"}}");
    OK(kbs_gpu_evidence_parse(t, strlen(t), &l, hosts));
    assert_int_equal(hosts[0].reported, 1);
    assert_int_equal(hosts[0].cc_on, 1);
    assert_int_equal(hosts[0].devtools_on, 0);
    ccg_gpu_evidence_list_free(&l);
    free(t);
    t = wire(1, NULL); /* Trustee's form: nothing reported */
    OK(kbs_gpu_evidence_parse(t, strlen(t), &l, hosts));
    assert_int_equal(hosts[0].reported, 0);
    ccg_gpu_evidence_list_free(&l);
    free(t);
    static const char *const bad[] = {
        "\"host_state\":\"off\"",
        "\"host_state\":{}",
        "\"host_state\":{\"cc\":\"off\"}",
        "\"host_state\":{\"cc\":\"off\",\"devtools\":\"off\",\"x\":1}",
        "\"host_state\":{\"cc\":\"OFF\",\"devtools\":\"off\"}",
        "\"host_state\":{\"cc\":false,\"devtools\":\"off\"}",
        "\"host_state\":{\"cc\":\"on\",\"devtools\":\"of\"}",
        "\"host_state\":{\"cc\":\"on \",\"devtools\":\"off\"}",
        "\"host_state\":[\"on\",\"off\"]",
        "\"host_state\":{\"cc\":\"on\",\"devtools\":\"off\"},\"x\":1",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char entry[256];
        snprintf(entry, sizeof(entry), "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\",%s}", bad[i]);
        t = wire(1, entry);
        parse_fails(t, CCG_R_GPU_EVIDENCE_MALFORMED);
        free(t);
    }
}

/* The replay memory's key ignores the signature bytes: ECDSA's (r, n - s) does not make a report new. */
static void report_digest_covers_the_signed_bytes(void **state)
{
    (void)state;
    char *t = wire(1, NULL), a[112], b[112], c[112];
    ccg_gpu_evidence_list l;
    OK(ccg_kbs_gpu_evidence_parse(t, strlen(t), &l));
    OK(kbs_gpu_report_digest(&l.items[0], a));
    l.items[0].evidence[l.items[0].evidence_len - 1] ^= 1;
    OK(kbs_gpu_report_digest(&l.items[0], b));
    assert_string_equal(a, b);
    l.items[0].evidence[l.items[0].evidence_len - 97] ^= 1;
    OK(kbs_gpu_report_digest(&l.items[0], c));
    assert_string_not_equal(a, c);
    assert_int_equal(strncmp(a, "sha384:", 7), 0);
    assert_int_equal(strlen(a), 7 + 96);
    ccg_gpu_evidence_list_free(&l);
    free(t);
}

/* ---------------------------------------------------------------- the release policy's gpu section */

static const char SNP[] = "\"snp_policy\":{\"policy_id\":\"s\",\"version\":1,\"allowed_measurements\":[]}";

static ccg_result release_policy(const char *extra, ccg_kbs_policy **out)
{
    char text[2048];
    snprintf(text, sizeof(text), "{\"policy_id\":\"rp\",\"version\":7,\"allowed_tees\":[\"snp\"],%s%s%s}", SNP,
             extra[0] ? "," : "", extra);
    return ccg_kbs_policy_parse(text, strlen(text), out);
}

/* A policy without GPUs appraises no GPU evidence, yet the host's CC off or DevTools on still refuses. */
static void host_state_refuses_without_a_gpu_policy(void **state)
{
    (void)state;
    ccg_kbs_policy *p = NULL;
    ccg_decision d;
    kbs_gpu_binding b = {.nonce = "n", .additional_evidence = NULL};
    OK(release_policy("", &p));
    assert_false(p->gpu_required);
    char *t = wire(2, "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\","
                      "\"host_state\":{\"cc\":\"off\",\"devtools\":\"off\"}}");
    b.additional_evidence = t;
    ccg_decision_init(&d, "snp");
    kbs_gpu_evaluate(NULL, NULL, p, &b, 0, &d);
    assert_int_equal(d.reasons.count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_int_equal(d.reasons.items[i].reason, CCG_R_GPU_CC_MODE_OFF);
        assert_int_equal(json_integer_value(json_object_get(d.reasons.items[i].details, "gpu")), (json_int_t)i);
        assert_string_equal(json_string_value(json_object_get(d.reasons.items[i].details, "source")), "host");
    }
    ccg_decision_free(&d);
    free(t);
    t = wire(1, "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\","
                "\"host_state\":{\"cc\":\"on\",\"devtools\":\"on\"}}");
    b.additional_evidence = t;
    ccg_decision_init(&d, "snp");
    kbs_gpu_evaluate(NULL, NULL, p, &b, 0, &d);
    assert_int_equal(d.reasons.count, 1);
    assert_int_equal(d.reasons.items[0].reason, CCG_R_GPU_DEVTOOLS_ON);
    ccg_decision_free(&d);
    free(t);
    t = wire(1, "{\"arch\":\"HOPPER\",\"evidence\":\"@E\",\"certificate\":\"@C\","
                "\"host_state\":{\"cc\":\"on\",\"devtools\":\"off\"}}");
    b.additional_evidence = t;
    ccg_decision_init(&d, "snp");
    kbs_gpu_evaluate(NULL, NULL, p, &b, 0, &d);
    assert_int_equal(d.reasons.count, 0);
    ccg_decision_free(&d);
    free(t);
    ccg_kbs_policy_free(p);
}

static void gpu_section_is_the_gpu_policy(void **state)
{
    (void)state;
    ccg_kbs_policy *p = NULL;
    OK(release_policy("\"gpu\":{\"count\":2,\"allowed_architectures\":[\"hopper\"],\"require_ocsp\":false,"
                      "\"minimum_driver_version\":\"550.90.07\",\"modes\":{\"protected_pcie\":\"refused\"}}",
                      &p));
    assert_true(p->gpu_required);
    assert_non_null(p->gpu);
    assert_string_equal(p->gpu->policy_id, "rp"); /* the release policy's identity */
    assert_int_equal(p->gpu->version, 7);
    assert_int_equal(p->gpu->min_count, 2);
    assert_int_equal(p->gpu->max_count, 2);
    assert_false(p->gpu->allow_blackwell);
    assert_false(p->gpu->require_ocsp);
    assert_true(p->gpu->require_rim);
    assert_string_equal(p->gpu->driver.minimum, "550.90.07");
    assert_int_equal(p->gpu->protected_pcie, CCG_GPU_MODE_RULE_REFUSED);
    ccg_kbs_policy_free(p);
    /* An empty section requires GPUs under every default; gpu_required: true is the default policy. */
    OK(release_policy("\"gpu\":{},\"gpu_required\":true", &p));
    assert_true(p->gpu_required && p->gpu->require_rim && p->gpu->require_ocsp && !p->gpu->allow_hold);
    ccg_kbs_policy_free(p);
    OK(release_policy("\"gpu_required\":true", &p));
    assert_true(p->gpu_required);
    assert_string_equal(p->gpu->policy_id, "ccgate-default-gpu");
    ccg_kbs_policy_free(p);
    OK(release_policy("\"gpu_required\":false", &p));
    assert_false(p->gpu_required);
    assert_null(p->gpu);
    ccg_kbs_policy_free(p);
}

static void gpu_section_is_strict(void **state)
{
    (void)state;
    ccg_kbs_policy *p = NULL;
    FAILS_WITH(release_policy("\"gpu\":{},\"gpu_required\":false", &p), CCG_R_KBS_POLICY_INVALID);
    FAILS_WITH(release_policy("\"gpu\":[]", &p), CCG_R_KBS_POLICY_INVALID);
    FAILS_WITH(release_policy("\"gpu\":{\"policy_id\":\"x\"}", &p), CCG_R_POLICY_UNKNOWN_KEY);
    FAILS_WITH(release_policy("\"gpu\":{\"version\":2}", &p), CCG_R_POLICY_UNKNOWN_KEY);
    FAILS_WITH(release_policy("\"gpu\":{\"allow_devtools\":true}", &p), CCG_R_POLICY_UNKNOWN_KEY);
    FAILS_WITH(release_policy("\"gpu\":{\"colour\":1}", &p), CCG_R_POLICY_UNKNOWN_KEY);
    FAILS_WITH(release_policy("\"gpu\":{\"count\":17}", &p), CCG_R_POLICY_INVALID_VALUE);
    FAILS_WITH(release_policy("\"gpu\":{\"require_ocsp\":false,\"allow_hold\":true}", &p),
               CCG_R_POLICY_INVALID_VALUE);
    FAILS_WITH(release_policy("\"gpu\":{\"trusted_roots\":{\"gpu\":\"not a pem\"}}", &p), CCG_R_POLICY_INVALID_VALUE);
    assert_null(p);
    /* The standalone document goes through the same parser and still needs its identity. */
    ccg_gpu_policy *g = NULL;
    static const char anonymous[] = "{\"count\":1}", named[] = "{\"policy_id\":\"g\",\"version\":2,\"count\":1}";
    FAILS_WITH(ccg_gpu_policy_parse(anonymous, strlen(anonymous), &g), CCG_R_POLICY_VERSION_INVALID);
    OK(ccg_gpu_policy_parse(named, strlen(named), &g));
    assert_int_equal(g->version, 2);
    ccg_gpu_policy_free(g);
}

/* ---------------------------------------------------------------- the configuration's gpu section */

static ccg_result config(const char *gpu, ccg_kbs_config *out)
{
    char text[1024];
    snprintf(text, sizeof(text), "{\"store\":\"/tmp/x.db\",\"keystore\":{}%s%s}", gpu[0] ? ",\"gpu\":" : "", gpu);
    return ccg_kbs_config_parse(text, strlen(text), out);
}

static void gpu_config(void **state)
{
    (void)state;
    ccg_kbs_config c;
    OK(config("", &c));
    assert_null(c.gpu.rim_dir);
    assert_null(c.gpu.ocsp_responder_url);
    assert_int_equal(c.gpu.report_retention, CCG_KBS_GPU_RETENTION);
    assert_int_equal(c.gpu.rim_timeout, 15);
    ccg_kbs_config_free(&c);
    OK(config("{\"rim_dir\":\"/r\",\"rim_service_url\":\"https://rim.example/v1/rim/\",\"rim_timeout_seconds\":9,"
              "\"rim_connect_timeout_seconds\":3,\"ocsp_cache_dir\":\"/o\",\"ocsp_responder_url\":\"http://127.0.0.1:1\","
              "\"ocsp_timeout_seconds\":4,\"ocsp_skew_seconds\":0,\"ocsp_max_age_seconds\":600,"
              "\"report_retention_seconds\":7200}",
              &c));
    assert_string_equal(c.gpu.rim_dir, "/r");
    assert_string_equal(c.gpu.rim_service_url, "https://rim.example/v1/rim/");
    assert_int_equal(c.gpu.rim_connect_timeout, 3);
    assert_string_equal(c.gpu.ocsp_cache_dir, "/o");
    assert_int_equal(c.gpu.ocsp_skew, 0);
    assert_int_equal(c.gpu.report_retention, 7200);
    ccg_kbs_config_free(&c);
    static const char *const bad[] = {
        "[]", "{\"rim\":\"/r\"}", "{\"rim_dir\":\"r\"}", "{\"ocsp_cache_dir\":\"o\"}", "{\"rim_service_url\":\"ftp://x\"}",
        "{\"ocsp_responder_url\":\"file:///etc/passwd\"}", "{\"rim_timeout_seconds\":0}",
        "{\"report_retention_seconds\":60}", "{\"ocsp_max_age_seconds\":\"1\"}", "{\"rim_dir\":\"\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        FAILS_WITH(config(bad[i], &c), CCG_R_KBS_CONFIG_INVALID);
    }
}

/* ---------------------------------------------------------------- the replay memory */

typedef struct {
    char dir[64];
    char path[128];
    ccg_store *s;
} store_fixture;

static int store_setup(void **state)
{
    store_fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/ccg-gpu-seen-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
    OK(ccg_store_open(f->path, NULL, &f->s));
    *state = f;
    return 0;
}

static int store_teardown(void **state)
{
    store_fixture *f = *state;
    char cmd[128];
    ccg_store_close(f->s);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static void first_session_keeps_the_report(void **state)
{
    store_fixture *f = *state;
    int replayed = -1;
    ccg_time first = 0;
    OK(ccg_store_gpu_report_find(f->s, "sha384:aa", "s1", &replayed, &first));
    assert_int_equal(replayed, 0);
    assert_int_equal(first, 0);
    OK(ccg_store_gpu_report_claim(f->s, "sha384:aa", "s1", 1000, &replayed, &first));
    assert_int_equal(replayed, 0);
    OK(ccg_store_gpu_report_claim(f->s, "sha384:aa", "s1", 1005, &replayed, &first)); /* its own: not a replay */
    assert_int_equal(replayed, 0);
    OK(ccg_store_gpu_report_claim(f->s, "sha384:aa", "s2", 1010, &replayed, &first));
    assert_int_equal(replayed, 1);
    assert_int_equal(first, 1000);
    OK(ccg_store_gpu_report_find(f->s, "sha384:aa", "s1", &replayed, &first));
    assert_int_equal(replayed, 0);
    OK(ccg_store_gpu_report_find(f->s, "sha384:aa", NULL, &replayed, &first)); /* no session: any is another */
    assert_int_equal(replayed, 1);
    /* Purged by first sighting, not by later ones. */
    OK(ccg_store_gpu_report_claim(f->s, "sha384:bb", "s3", 2000, &replayed, &first));
    int64_t removed = -1;
    OK(ccg_store_gpu_report_purge(f->s, 1500, &removed));
    assert_int_equal(removed, 1);
    OK(ccg_store_gpu_report_find(f->s, "sha384:aa", NULL, &replayed, &first));
    assert_int_equal(replayed, 0);
    OK(ccg_store_gpu_report_find(f->s, "sha384:bb", NULL, &replayed, &first));
    assert_int_equal(replayed, 1);
    FAILS_WITH(ccg_store_gpu_report_claim(f->s, "sha384 aa", "s1", 1, &replayed, NULL), CCG_R_INPUT_MALFORMED);
    FAILS_WITH(ccg_store_gpu_report_claim(f->s, "sha384:aa", NULL, 1, &replayed, NULL), CCG_R_INPUT_MALFORMED);
    FAILS_WITH(ccg_store_gpu_report_find(f->s, "", "s1", &replayed, NULL), CCG_R_INPUT_MALFORMED);
}

typedef struct {
    const char *path;
    int id;
    int replayed;
    int failed;
} claimant;

static void *claim_thread(void *arg)
{
    claimant *c = arg;
    ccg_store *s = NULL;
    char session[32];
    snprintf(session, sizeof(session), "session-%d", c->id);
    if (ccg_failed(ccg_store_open(c->path, NULL, &s)) ||
        ccg_failed(ccg_store_gpu_report_claim(s, "sha384:contested", session, 1, &c->replayed, NULL))) {
        c->failed = 1;
    }
    ccg_store_close(s);
    return NULL;
}

/* Sessions racing with one report (threads with their own handles, as broker replicas): one keeps it. */
static void racing_sessions_have_one_winner(void **state)
{
    store_fixture *f = *state;
    pthread_t t[8];
    claimant c[8];
    int winners = 0;
    for (int i = 0; i < 8; i++) {
        c[i] = (claimant){.path = f->path, .id = i};
        assert_int_equal(pthread_create(&t[i], NULL, claim_thread, &c[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        assert_int_equal(pthread_join(t[i], NULL), 0);
        assert_int_equal(c[i].failed, 0);
        winners += !c[i].replayed;
    }
    assert_int_equal(winners, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wire_form_is_accepted),
        cmocka_unit_test(wire_form_is_strict),
        cmocka_unit_test(report_digest_covers_the_signed_bytes),
        cmocka_unit_test(host_state_is_parsed_strictly),
        cmocka_unit_test(host_state_refuses_without_a_gpu_policy),
        cmocka_unit_test(gpu_section_is_the_gpu_policy),
        cmocka_unit_test(gpu_section_is_strict),
        cmocka_unit_test(gpu_config),
        cmocka_unit_test_setup_teardown(first_session_keeps_the_report, store_setup, store_teardown),
        cmocka_unit_test_setup_teardown(racing_sessions_have_one_winner, store_setup, store_teardown),
    };
    return cmocka_run_group_tests_name("kbs_gpu_wire", tests, group_setup, group_teardown);
}
