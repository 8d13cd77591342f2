/* The TDX event log (docs/tdx-eventlog.md): Google's COS CCEL log and ACPI table (tests/vectors/tdx,
 * google/go-tdx-guest) replay to exactly RTMR0-2 of that COS quote; event descriptions; a tampered,
 * reordered or shortened log is refused naming its RTMR; runtime RTMR3 events; required events; and
 * the parser on every prefix, synthetic logs and malformed headers, each with its code. */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

#include "ccgate/tdx_eventlog.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"

#define LOG_REL "tdx/gotdx-ccel-ccel_data.dat"
#define TABLE_REL "tdx/gotdx-ccel-ccel_table.dat"
#define QUOTE_REL "tdx/gotdx-ccel-cos-113-tdx-quote.dat"
#define NONCE_REL "tdx/gotdx-ccel-nonce.dat"
#define COS_NOW "2025-01-01T00:00:00Z"
#define COS_EVENTS 43
#define COS_END 18101 /* the offset after the last event: 0xFF fill from there */

/* Offsets of events in the COS log (from the log itself: the parser reports them). */
#define EV_SECUREBOOT 2   /* RTMR0 EV_EFI_VARIABLE_DRIVER_CONFIG SecureBoot */
#define EV_SHIM 17        /* RTMR1 EV_EFI_BOOT_SERVICES_APPLICATION \EFI\BOOT\BOOTX64.EFI */
#define EV_MOKLIST 18     /* RTMR2 EV_IPL MokList */
#define EV_CMDLINE 40     /* RTMR2 EV_IPL kernel_cmdline: ... */
#define EV_EXIT_BS 41     /* RTMR1 EV_EFI_ACTION Exit Boot Services Invocation */

static void load_log(ccg_tdx_eventlog *log, uint8_t **bytes, size_t *len)
{
    tu_read_vector(LOG_REL, bytes, len);
    ccg_error_clear();
    if (!ccg_ok(ccg_tdx_eventlog_parse(*bytes, *len, log))) {
        fail_msg("COS log: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
}

static void load_quote(uint8_t **quote, size_t *len, ccg_tdx_quote *q)
{
    tu_read_vector(QUOTE_REL, quote, len);
    assert_true(ccg_ok(ccg_tdx_quote_parse(*quote, *len, q)));
}

static void hex48(const char *hex, uint8_t out[48])
{
    assert_true(ccg_ok(ccg_hex_decode_exact(hex, out, 48)));
}

/* --- the real log --- */

static void test_cos_log_replays_rtmr0_2(void **state)
{
    (void)state;
    ccg_tdx_eventlog log;
    ccg_tdx_quote q;
    uint8_t *bytes = NULL, *quote = NULL;
    size_t len = 0, qlen = 0;
    load_log(&log, &bytes, &len);
    load_quote(&quote, &qlen, &q);
    assert_int_equal(log.count, COS_EVENTS);
    assert_int_equal(log.n_algs, 1);
    assert_int_equal(log.alg_ids[0], 0x000c);
    assert_int_equal(log.alg_sizes[0], 48);
    assert_int_equal(log.uintn_size, 2);
    /* Replaying the log gives the quote's RTMR0, RTMR1 and RTMR2 byte for byte. */
    for (int i = 0; i < 3; i++) {
        assert_memory_equal(log.rtmr[i], q.td.rtmr[i], 48);
    }
    assert_int_equal(log.extends[0], 16);
    assert_int_equal(log.extends[1], 7);
    assert_int_equal(log.extends[2], 20);
    /* No RTMR3 events: RTMR3 is not covered by this log, and the quote's is zero. */
    assert_int_equal(log.extends[3], 0);
    assert_false(log.rtmr3_covered);
    assert_true(ccg_is_all_zero(log.rtmr[3], 48));
    assert_true(ccg_is_all_zero(q.td.rtmr[3], 48));
    /* RTMR0 as the quote carries it, spelled out. */
    uint8_t want[48];
    hex48("3fa2f61f395b7f5feefb4ec2df61297f109ad8abcd6410c1b7df60f21f37b19297fc35e544039c7e1edece752afd17f6",
          want);
    assert_memory_equal(log.rtmr[0], want, 48);
    /* The quote's REPORT_DATA is the nonce go-tdx-guest recorded with it. */
    uint8_t *nonce = NULL;
    size_t nlen = 0;
    tu_read_vector(NONCE_REL, &nonce, &nlen);
    assert_int_equal(nlen, 64);
    assert_memory_equal(q.td.report_data, nonce, 64);
    free(nonce);
    ccg_tdx_eventlog_free(&log);
    free(bytes);
    free(quote);
}

static void test_cos_event_descriptions(void **state)
{
    (void)state;
    ccg_tdx_eventlog log;
    uint8_t *bytes = NULL;
    size_t len = 0;
    char desc[128];
    load_log(&log, &bytes, &len);
    struct {
        size_t i;
        uint32_t mr;
        const char *type, *desc;
    } want[] = {
        {0, 1, "EV_EFI_HANDOFF_TABLES2", "TdxTable"},
        {1, 1, "EV_EFI_PLATFORM_FIRMWARE_BLOB2", "Fv(48DB5E17-707C-472D-91CD-1613E7EF51B0)"},
        {EV_SECUREBOOT, 1, "EV_EFI_VARIABLE_DRIVER_CONFIG", "SecureBoot"},
        {7, 1, "EV_SEPARATOR", "separator"},
        {8, 1, "EV_PLATFORM_CONFIG_FLAGS", "ACPI DATA"},
        {11, 1, "EV_EFI_VARIABLE_BOOT", "BootOrder"},
        {14, 2, "EV_EFI_ACTION", "Calling EFI Application from Boot Option"},
        {16, 2, "EV_EFI_GPT_EVENT", "GPT header and partition entries"},
        {EV_SHIM, 2, "EV_EFI_BOOT_SERVICES_APPLICATION", "image of 924688 bytes \\EFI\\BOOT\\BOOTX64.EFI"},
        {20, 1, "EV_EFI_VARIABLE_AUTHORITY", "SbatLevel"},
        {23, 2, "EV_EFI_BOOT_SERVICES_APPLICATION", "image of 743168 bytes \\EFI\\BOOT\\grub-lakitu.efi"},
        {24, 3, "EV_IPL", "/efi/boot/grub.cfg"},
        {39, 3, "EV_IPL", "/syslinux/vmlinuz.A"},
        {EV_EXIT_BS, 2, "EV_EFI_ACTION", "Exit Boot Services Invocation"},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        const ccg_tdx_event *ev = &log.events[want[k].i];
        assert_int_equal(ev->mr_index, want[k].mr);
        assert_string_equal(ccg_tdx_event_type_name(ev->type), want[k].type);
        ccg_tdx_event_describe(ev, desc, sizeof(desc));
        assert_string_equal(desc, want[k].desc);
    }
    ccg_tdx_event_describe(&log.events[EV_CMDLINE], desc, sizeof(desc));
    assert_true(strncmp(desc, "kernel_cmdline: /syslinux/vmlinuz.A init=/usr/lib/systemd/systemd", 65) == 0);
    /* The JSON form. */
    json_t *j = ccg_tdx_event_json(&log.events[EV_MOKLIST], EV_MOKLIST);
    assert_int_equal(json_integer_value(json_object_get(j, "rtmr")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "mr_index")), 3);
    assert_int_equal(json_integer_value(json_object_get(j, "type")), 0x0d);
    assert_string_equal(json_string_value(json_object_get(j, "type_name")), "EV_IPL");
    assert_string_equal(json_string_value(json_object_get(j, "description")), "MokList");
    assert_string_equal(json_string_value(json_object_get(j, "digest")),
                        "80ee2571334a57bf90238d21964447e542079d4805fa87887817a97dcb720906683a09b1ac634c76c0c0be1177f76110");
    assert_false(json_is_true(json_object_get(j, "runtime")));
    json_decref(j);
    assert_null(ccg_tdx_event_type_name(0x7fffffff));
    ccg_tdx_eventlog_free(&log);
    free(bytes);
}

static void test_ccel_table(void **state)
{
    (void)state;
    uint8_t *t = NULL, *bytes = NULL;
    size_t tlen = 0, len = 0;
    ccg_tdx_ccel_table table;
    ccg_tdx_eventlog log;
    tu_read_vector(TABLE_REL, &t, &tlen);
    assert_true(ccg_ok(ccg_tdx_ccel_table_parse(t, tlen, &table)));
    assert_int_equal(table.revision, 1);
    assert_int_equal(table.cc_type, 2);
    assert_int_equal(table.cc_subtype, 0);
    assert_string_equal(table.oem_id, "INTEL ");
    assert_string_equal(table.oem_table_id, "EDK2    ");
    assert_int_equal(table.laml, 0x40000);
    assert_int_equal(table.lasa, 0xbedbf000ull);
    load_log(&log, &bytes, &len);
    assert_true(ccg_ok(ccg_tdx_eventlog_check_ccel(&log, &table)));
    assert_true(log.have_ccel);
    /* A log area one byte smaller than the log file. */
    table.laml = len - 1;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_eventlog_check_ccel(&log, &table)));
    tu_assert_error_reason(CCG_R_TDX_CCEL_TABLE_INVALID);
    ccg_tdx_eventlog_free(&log);

    /* Each defect of the table, with the checksum kept right where the defect is not the checksum. */
    struct {
        size_t off;
        uint8_t value;
        int fix_checksum;
    } defects[] = {
        {0, 'X', 1},     /* signature */
        {4, 55, 1},      /* length field */
        {8, 2, 1},       /* revision */
        {9, 0x00, 0},    /* checksum */
        {36, 1, 1},      /* CC type: SEV */
        {38, 1, 1},      /* reserved */
    };
    for (size_t k = 0; k < sizeof(defects) / sizeof(defects[0]); k++) {
        uint8_t copy[CCG_TDX_CCEL_TABLE_SIZE];
        memcpy(copy, t, sizeof(copy));
        uint8_t old = copy[defects[k].off];
        copy[defects[k].off] = defects[k].value;
        if (defects[k].fix_checksum) {
            copy[9] = (uint8_t)(copy[9] + old - defects[k].value);
        }
        ccg_error_clear();
        if (!ccg_failed(ccg_tdx_ccel_table_parse(copy, sizeof(copy), &table))) {
            fail_msg("table defect at offset %zu was accepted", defects[k].off);
        }
        tu_assert_error_reason(CCG_R_TDX_CCEL_TABLE_INVALID);
    }
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_ccel_table_parse(t, tlen - 1, &table)));
    tu_assert_error_reason(CCG_R_TDX_CCEL_TABLE_INVALID);
    free(t);
    free(bytes);
}

/* --- against the quote --- */

static int has_reason(const ccg_decision *d, ccg_reason r)
{
    for (size_t i = 0; i < d->reasons.count; i++) {
        if (d->reasons.items[i].reason == r) {
            return 1;
        }
    }
    return 0;
}

/* Verifies the COS quote (no collateral: collateral.missing first) with this log and policy. */
static void verify_cos(const ccg_tdx_eventlog *log, const char *policy, ccg_tdx_result *r)
{
    uint8_t *quote = NULL;
    size_t qlen = 0;
    ccg_tdx_verifier *v = NULL;
    ccg_tdx_policy *p = NULL;
    tu_read_vector(QUOTE_REL, &quote, &qlen);
    assert_true(ccg_ok(ccg_tdx_verifier_new(&v)));
    if (policy != NULL) {
        ccg_error_clear();
        if (!ccg_ok(ccg_tdx_policy_parse(policy, strlen(policy), &p))) {
            fail_msg("policy: %s", ccg_error_last()->message);
        }
    }
    ccg_tdx_verify_opts opts = {.event_log = log};
    assert_true(ccg_ok(ccg_tdx_verify(v, quote, qlen, NULL, p, &opts, tu_time(COS_NOW), r)));
    assert_true(r->parsed);
    assert_false(r->decision.allow);
    assert_int_equal(r->decision.reasons.items[0].reason, CCG_R_COLLATERAL_MISSING);
    ccg_tdx_policy_free(p);
    ccg_tdx_verifier_free(v);
    free(quote);
}

static int count_log_mismatches(const ccg_decision *d)
{
    return has_reason(d, CCG_R_TDX_RTMR0_LOG_MISMATCH) + has_reason(d, CCG_R_TDX_RTMR1_LOG_MISMATCH) +
           has_reason(d, CCG_R_TDX_RTMR2_LOG_MISMATCH) + has_reason(d, CCG_R_TDX_RTMR3_LOG_MISMATCH);
}

static void test_verify_with_cos_log(void **state)
{
    (void)state;
    ccg_tdx_eventlog log;
    ccg_tdx_result r;
    uint8_t *bytes = NULL;
    size_t len = 0;
    load_log(&log, &bytes, &len);
    verify_cos(&log, NULL, &r);
    assert_int_equal(count_log_mismatches(&r.decision), 0);
    assert_int_equal(r.decision.reasons.count, 1); /* collateral.missing only */
    json_t *el = json_object_get(r.decision.claims, "event_log");
    assert_non_null(el);
    assert_int_equal(json_integer_value(json_object_get(el, "events")), COS_EVENTS);
    assert_int_equal(json_array_size(json_object_get(el, "event_list")), COS_EVENTS);
    json_t *rtmrs = json_object_get(el, "rtmrs");
    for (size_t i = 0; i < 3; i++) {
        assert_true(json_is_true(json_object_get(json_array_get(rtmrs, i), "match")));
    }
    assert_true(json_is_null(json_object_get(json_array_get(rtmrs, 3), "match")));
    ccg_tdx_result_free(&r);
    ccg_tdx_eventlog_free(&log);
    free(bytes);
}

/* Parses a changed copy of the COS log and returns the first log mismatch reason (OK when none). */
static ccg_reason tampered(void (*change)(uint8_t *bytes, const ccg_tdx_eventlog *orig), int mismatches,
                           size_t *out_len)
{
    ccg_tdx_eventlog orig, log;
    ccg_tdx_result r;
    uint8_t *bytes = NULL;
    size_t len = 0;
    load_log(&orig, &bytes, &len);
    change(bytes, &orig);
    ccg_tdx_eventlog_free(&orig);
    ccg_error_clear();
    if (!ccg_ok(ccg_tdx_eventlog_parse(bytes, len, &log))) {
        fail_msg("tampered log: %s", ccg_error_last()->message);
    }
    verify_cos(&log, NULL, &r);
    ccg_reason got = CCG_R_OK;
    assert_int_equal(count_log_mismatches(&r.decision), mismatches);
    for (size_t i = 0; i < r.decision.reasons.count && got == CCG_R_OK; i++) {
        ccg_reason x = r.decision.reasons.items[i].reason;
        if (x == CCG_R_TDX_RTMR0_LOG_MISMATCH || x == CCG_R_TDX_RTMR1_LOG_MISMATCH ||
            x == CCG_R_TDX_RTMR2_LOG_MISMATCH || x == CCG_R_TDX_RTMR3_LOG_MISMATCH) {
            got = x;
            json_t *det = r.decision.reasons.items[i].details;
            assert_non_null(json_object_get(det, "replayed"));
            assert_non_null(json_object_get(det, "quote"));
        }
    }
    if (out_len != NULL) {
        *out_len = log.count;
    }
    ccg_tdx_result_free(&r);
    ccg_tdx_eventlog_free(&log);
    free(bytes);
    return got;
}

/* The SHA-384 digest of event i starts 14 bytes into it (index, type, count, algorithm). */
static void flip_digest_secureboot(uint8_t *b, const ccg_tdx_eventlog *o) { b[o->events[EV_SECUREBOOT].offset + 14] ^= 1; }
static void flip_digest_shim(uint8_t *b, const ccg_tdx_eventlog *o) { b[o->events[EV_SHIM].offset + 14 + 47] ^= 0x80; }
static void flip_digest_cmdline(uint8_t *b, const ccg_tdx_eventlog *o) { b[o->events[EV_CMDLINE].offset + 30] ^= 4; }
/* Two RTMR2 events swap places (same sizes: grub_cmd lines 25 and 26 are 21 bytes of data each). */
static void swap_grub_lines(uint8_t *b, const ccg_tdx_eventlog *o)
{
    size_t a = o->events[25].offset, c = o->events[26].offset, n = c - a;
    assert_int_equal(o->events[27].offset - c, n);
    uint8_t tmp[256];
    assert_true(n <= sizeof(tmp));
    memcpy(tmp, b + a, n);
    memmove(b + a, b + c, n);
    memcpy(b + c, tmp, n);
}
/* The last event (RTMR1 Exit Boot Services Returned) overwritten with fill: a shortened log. */
static void drop_last(uint8_t *b, const ccg_tdx_eventlog *o)
{
    memset(b + o->events[COS_EVENTS - 1].offset, 0xff, COS_END - o->events[COS_EVENTS - 1].offset);
}
/* An RTMR0 event relabelled to RTMR1 (MR index 1 -> 2). */
static void move_to_rtmr1(uint8_t *b, const ccg_tdx_eventlog *o) { b[o->events[EV_SECUREBOOT].offset] = 2; }
/* An extended event relabelled EV_NO_ACTION: it would silently drop out of the replay. */
static void relabel_no_action(uint8_t *b, const ccg_tdx_eventlog *o)
{
    size_t off = o->events[EV_MOKLIST].offset + 4;
    b[off] = 3;
    b[off + 1] = b[off + 2] = b[off + 3] = 0;
}

static void test_tampered_logs_name_their_rtmr(void **state)
{
    (void)state;
    size_t n = 0;
    assert_int_equal(tampered(flip_digest_secureboot, 1, NULL), CCG_R_TDX_RTMR0_LOG_MISMATCH);
    assert_int_equal(tampered(flip_digest_shim, 1, NULL), CCG_R_TDX_RTMR1_LOG_MISMATCH);
    assert_int_equal(tampered(flip_digest_cmdline, 1, NULL), CCG_R_TDX_RTMR2_LOG_MISMATCH);
    assert_int_equal(tampered(swap_grub_lines, 1, NULL), CCG_R_TDX_RTMR2_LOG_MISMATCH);
    assert_int_equal(tampered(drop_last, 1, &n), CCG_R_TDX_RTMR1_LOG_MISMATCH);
    assert_int_equal(n, COS_EVENTS - 1);
    assert_int_equal(tampered(relabel_no_action, 1, NULL), CCG_R_TDX_RTMR2_LOG_MISMATCH);
    /* Moved from RTMR0 to RTMR1: both are wrong; the first named is RTMR0. */
    assert_int_equal(tampered(move_to_rtmr1, 2, NULL), CCG_R_TDX_RTMR0_LOG_MISMATCH);
}

/* --- required events --- */

static char *policy_requiring(const ccg_tdx_eventlog *log, size_t event, int rtmr, int flip)
{
    char hex[97];
    uint8_t d[48];
    memcpy(d, log->events[event].digest, 48);
    d[0] ^= (uint8_t)flip;
    ccg_hex_encode(d, 48, hex);
    json_t *e = json_pack("{s:s, s:s}", "name", "kernel command line", "digest", hex);
    if (rtmr >= 0) {
        json_object_set_new(e, "rtmr", json_integer(rtmr));
    }
    json_t *p = json_pack("{s:s, s:i, s:[o]}", "policy_id", "ev", "version", 1, "required_events", e);
    char *text = json_dumps(p, JSON_COMPACT);
    json_decref(p);
    return text;
}

static void test_required_events(void **state)
{
    (void)state;
    ccg_tdx_eventlog log, bad;
    ccg_tdx_result r;
    uint8_t *bytes = NULL;
    size_t len = 0;
    load_log(&log, &bytes, &len);
    /* Present, in RTMR2: satisfied. */
    char *p = policy_requiring(&log, EV_CMDLINE, 2, 0);
    verify_cos(&log, p, &r);
    assert_false(has_reason(&r.decision, CCG_R_TDX_EVENT_MISSING));
    assert_int_equal(r.decision.reasons.count, 1);
    ccg_tdx_result_free(&r);
    free(p);
    /* Any RTMR: satisfied. */
    p = policy_requiring(&log, EV_CMDLINE, -1, 0);
    verify_cos(&log, p, &r);
    assert_false(has_reason(&r.decision, CCG_R_TDX_EVENT_MISSING));
    ccg_tdx_result_free(&r);
    free(p);
    /* The right digest in the wrong RTMR. */
    p = policy_requiring(&log, EV_CMDLINE, 1, 0);
    verify_cos(&log, p, &r);
    assert_true(has_reason(&r.decision, CCG_R_TDX_EVENT_MISSING));
    ccg_tdx_result_free(&r);
    free(p);
    /* A digest the log does not hold; the denial names the event. */
    p = policy_requiring(&log, EV_CMDLINE, 2, 1);
    verify_cos(&log, p, &r);
    assert_int_equal(r.decision.reasons.items[1].reason, CCG_R_TDX_EVENT_MISSING);
    assert_string_equal(json_string_value(json_object_get(r.decision.reasons.items[1].details, "event")),
                        "kernel command line");
    assert_int_equal(json_integer_value(json_object_get(r.decision.reasons.items[1].details, "rtmr")), 2);
    ccg_tdx_result_free(&r);
    free(p);
    /* No log at all. */
    p = policy_requiring(&log, EV_CMDLINE, 2, 0);
    verify_cos(NULL, p, &r);
    assert_true(has_reason(&r.decision, CCG_R_TDX_EVENT_LOG_MISSING));
    ccg_tdx_result_free(&r);
    /* The event is in the log, but its RTMR's replay does not match the quote: it proves nothing. */
    bytes[log.events[EV_MOKLIST].offset + 20] ^= 1;
    assert_true(ccg_ok(ccg_tdx_eventlog_parse(bytes, len, &bad)));
    verify_cos(&bad, p, &r);
    assert_true(has_reason(&r.decision, CCG_R_TDX_RTMR2_LOG_MISMATCH));
    assert_true(has_reason(&r.decision, CCG_R_TDX_EVENT_MISSING));
    ccg_tdx_result_free(&r);
    free(p);
    /* An event of a matching RTMR still satisfies (RTMR1 is untouched). */
    p = policy_requiring(&log, EV_SHIM, 1, 0);
    verify_cos(&bad, p, &r);
    assert_false(has_reason(&r.decision, CCG_R_TDX_EVENT_MISSING));
    ccg_tdx_result_free(&r);
    free(p);
    ccg_tdx_eventlog_free(&bad);
    ccg_tdx_eventlog_free(&log);
    free(bytes);
}

static void test_required_events_policy_parse(void **state)
{
    (void)state;
    static const char *const BAD[] = {
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":{}}",
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"name\":\"k\"}]}",
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"digest\":\"00\"}]}",
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"name\":\"k\",\"digest\":\"0011\"}]}",
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"name\":\"\",\"digest\":\"@\"}]}",
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"name\":\"k\",\"digest\":\"@\",\"rtmr\":4}]}",
        "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"name\":\"k\",\"digest\":\"@\",\"rtmr\":\"1\"}]}",
    };
    char zero96[97], text[512];
    memset(zero96, '0', 96);
    zero96[96] = 0;
    ccg_tdx_policy *p = NULL;
    for (size_t i = 0; i < sizeof(BAD) / sizeof(BAD[0]); i++) {
        const char *at = strchr(BAD[i], '@'); /* where the 96 zero digits go */
        if (at == NULL) {
            snprintf(text, sizeof(text), "%s", BAD[i]);
        } else {
            snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - BAD[i]), BAD[i], zero96, at + 1);
        }
        ccg_error_clear();
        if (!ccg_failed(ccg_tdx_policy_parse(text, strlen(text), &p))) {
            fail_msg("accepted: %s", text);
        }
        tu_assert_error_reason(CCG_R_POLICY_INVALID_VALUE);
    }
    snprintf(text, sizeof(text),
             "{\"policy_id\":\"p\",\"version\":1,\"required_events\":[{\"name\":\"k\",\"digest\":\"%s\",\"pcr\":1}]}",
             zero96);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_policy_parse(text, strlen(text), &p)));
    tu_assert_error_reason(CCG_R_POLICY_UNKNOWN_KEY);
    /* 65 entries: one too many. */
    json_t *arr = json_array();
    for (int i = 0; i < CCG_TDX_POLICY_MAX_EVENTS + 1; i++) {
        json_array_append_new(arr, json_pack("{s:s, s:s}", "name", "k", "digest", zero96));
    }
    json_t *doc = json_pack("{s:s, s:i, s:o}", "policy_id", "p", "version", 1, "required_events", arr);
    char *big = json_dumps(doc, JSON_COMPACT);
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_policy_parse(big, strlen(big), &p)));
    tu_assert_error_reason(CCG_R_POLICY_INVALID_VALUE);
    free(big);
    json_array_remove(arr, 0);
    big = json_dumps(doc, JSON_COMPACT);
    assert_true(ccg_ok(ccg_tdx_policy_parse(big, strlen(big), &p)));
    assert_int_equal(p->n_required_events, CCG_TDX_POLICY_MAX_EVENTS);
    assert_int_equal(p->required_events[0].rtmr, -1);
    ccg_tdx_policy_free(p);
    free(big);
    json_decref(doc);
}

/* --- synthetic logs --- */

typedef struct {
    uint8_t b[4096];
    size_t n;
} buf;

static void put(buf *x, const void *p, size_t n)
{
    assert_true(x->n + n <= sizeof(x->b));
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void put32(buf *x, uint32_t v)
{
    uint8_t t[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(x, t, 4);
}

static void put16(buf *x, uint16_t v)
{
    uint8_t t[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    put(x, t, 2);
}

/* A header naming n algorithms (ids, sizes). */
static void header(buf *x, size_t n, const uint16_t *ids, const uint16_t *sizes)
{
    static const uint8_t zero[20];
    put32(x, 0);
    put32(x, 3);
    put(x, zero, 20);
    put32(x, (uint32_t)(16 + 4 + 4 + 4 + 4 * n + 1));
    put(x, "Spec ID Event03", 16);
    put32(x, 0);
    uint8_t ver[4] = {0, 2, 0, 2};
    put(x, ver, 4);
    put32(x, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        put16(x, ids[i]);
        put16(x, sizes[i]);
    }
    uint8_t vendor = 0;
    put(x, &vendor, 1);
}

/* An event with one digest per algorithm, each filled with fill + index; SHA-384's is d384. */
static void event(buf *x, uint32_t mr, uint32_t type, size_t n, const uint16_t *ids, const uint16_t *sizes,
                  const uint8_t d384[48], const char *data)
{
    put32(x, mr);
    put32(x, type);
    put32(x, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        uint8_t d[64];
        put16(x, ids[i]);
        memset(d, 0x40 + (int)i, sizeof(d));
        put(x, ids[i] == 0x000c ? d384 : d, sizes[i]);
    }
    put32(x, (uint32_t)strlen(data));
    put(x, data, strlen(data));
}

static void extend(uint8_t rtmr[48], const uint8_t d[48])
{
    uint8_t in[96];
    unsigned int n = 0;
    memcpy(in, rtmr, 48);
    memcpy(in + 48, d, 48);
    assert_int_equal(EVP_Digest(in, 96, rtmr, &n, EVP_sha384(), NULL), 1);
}

static const uint16_t IDS2[2] = {0x000b, 0x000c}, SIZES2[2] = {32, 48};

static void test_synthetic_two_banks(void **state)
{
    (void)state;
    buf x = {.n = 0};
    uint8_t d1[48], d2[48], want[4][48];
    ccg_tdx_eventlog log;
    memset(d1, 0xa1, 48);
    memset(d2, 0xb2, 48);
    memset(want, 0, sizeof(want));
    header(&x, 2, IDS2, SIZES2);
    event(&x, 1, 0x80000007, 2, IDS2, SIZES2, d1, "one");
    event(&x, 3, 0x0000000d, 2, IDS2, SIZES2, d2, "two");
    event(&x, 3, CCG_TDX_EV_NO_ACTION, 2, IDS2, SIZES2, d2, "not extended");
    event(&x, 0, CCG_TDX_EV_NO_ACTION, 2, IDS2, SIZES2, d1, "MRTD, no action");
    event(&x, 4, 0x0000000d, 2, IDS2, SIZES2, d1, "rtmr3");
    extend(want[0], d1);
    extend(want[2], d2);
    extend(want[3], d1);
    /* A zero-filled log area is fine too. */
    memset(x.b + x.n, 0, 64);
    size_t len = x.n + 64;
    ccg_error_clear();
    if (!ccg_ok(ccg_tdx_eventlog_parse(x.b, len, &log))) {
        fail_msg("%s", ccg_error_last()->message);
    }
    assert_int_equal(log.count, 5);
    assert_memory_equal(log.rtmr, want, sizeof(want));
    assert_int_equal(log.extends[2], 1);
    assert_true(log.rtmr3_covered);
    assert_memory_equal(log.events[1].data, "two", 3);
    ccg_tdx_eventlog_free(&log);
    /* No fill at all: the log ends exactly after its last event. */
    assert_true(ccg_ok(ccg_tdx_eventlog_parse(x.b, x.n, &log)));
    ccg_tdx_eventlog_free(&log);
}

static ccg_reason parse_reason(const uint8_t *p, size_t n)
{
    ccg_tdx_eventlog log;
    ccg_error_clear();
    if (ccg_ok(ccg_tdx_eventlog_parse(p, n, &log))) {
        ccg_tdx_eventlog_free(&log);
        return CCG_R_OK;
    }
    return ccg_error_reason();
}

static void test_synthetic_malformed(void **state)
{
    (void)state;
    uint8_t d[48];
    memset(d, 0x11, 48);
    const uint16_t ids1[1] = {0x000c}, sizes1[1] = {48};
    const uint16_t no384[1] = {0x000b}, no384s[1] = {32};
    const uint16_t bad_size[1] = {0x000c}, bad_sizes[1] = {32};
    const uint16_t twice[2] = {0x000c, 0x000c}, twice_s[2] = {48, 48};
    buf x;
    /* No SHA-384 bank. */
    x.n = 0;
    header(&x, 1, no384, no384s);
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* SHA-384 with a 32-byte size. */
    x.n = 0;
    header(&x, 1, bad_size, bad_sizes);
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* An algorithm twice. */
    x.n = 0;
    header(&x, 2, twice, twice_s);
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* Zero algorithms. */
    x.n = 0;
    header(&x, 0, ids1, sizes1);
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* Not a Spec ID event. */
    x.n = 0;
    header(&x, 1, ids1, sizes1);
    x.b[32] = 'X';
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* A header that is not EV_NO_ACTION. */
    x.n = 0;
    header(&x, 1, ids1, sizes1);
    x.b[4] = 4;
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* Spec version 1.2. */
    x.n = 0;
    header(&x, 1, ids1, sizes1);
    x.b[32 + 16 + 5] = 1;
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* The well-formed single-bank base, then one defect each. */
    x.n = 0;
    header(&x, 1, ids1, sizes1);
    size_t ev = x.n;
    event(&x, 2, 0x80000007, 1, ids1, sizes1, d, "ok");
    assert_int_equal(parse_reason(x.b, x.n), CCG_R_OK);
    buf y = x;
    y.b[ev] = 5; /* MR index 5 */
    assert_int_equal(parse_reason(y.b, y.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    y = x;
    y.b[ev + 8] = 2; /* two digests where the header names one */
    assert_int_equal(parse_reason(y.b, y.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    y = x;
    y.b[ev + 12] = 0x0b; /* a SHA-256 digest the header does not name */
    assert_int_equal(parse_reason(y.b, y.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    y = x;
    y.b[ev + 14 + 48 + 3] = 0x10; /* event size far past the end */
    assert_int_equal(parse_reason(y.b, y.n), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* Fill that is not one byte to the end, or junk after the last event. */
    y = x;
    memset(y.b + y.n, 0xff, 40);
    y.b[y.n + 39] = 0x00;
    assert_int_equal(parse_reason(y.b, y.n + 40), CCG_R_TDX_EVENT_LOG_MALFORMED);
    y = x;
    y.b[y.n] = 0x01;
    y.b[y.n + 1] = 0x02;
    assert_int_equal(parse_reason(y.b, y.n + 2), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* Empty input. */
    assert_int_equal(parse_reason(x.b, 0), CCG_R_TDX_EVENT_LOG_MALFORMED);
    /* Larger than the cap. */
    uint8_t *huge = calloc(CCG_TDX_EVENTLOG_MAX + 1, 1);
    assert_non_null(huge);
    assert_int_equal(parse_reason(huge, CCG_TDX_EVENTLOG_MAX + 1), CCG_R_INPUT_TOO_LARGE);
    free(huge);
}

/* Every prefix of the real log either ends on an event boundary (a valid, shorter log) or is refused
 * as malformed; never a crash, never another code. */
static void test_every_prefix(void **state)
{
    (void)state;
    ccg_tdx_eventlog log;
    uint8_t *bytes = NULL;
    size_t len = 0;
    load_log(&log, &bytes, &len);
    size_t boundaries = 0;
    for (size_t n = 0; n <= COS_END + 16; n++) {
        ccg_reason got = parse_reason(bytes, n);
        int boundary = n == COS_END;
        for (size_t i = 0; i < log.count && !boundary; i++) {
            boundary = log.events[i].offset == n;
        }
        if (got == CCG_R_OK) {
            boundaries++;
            if (!boundary && n < COS_END) {
                fail_msg("prefix of %zu bytes parsed", n);
            }
        } else if (got != CCG_R_TDX_EVENT_LOG_MALFORMED) {
            fail_msg("prefix of %zu bytes: %s", n, ccg_reason_code(got));
        }
    }
    assert_true(boundaries >= COS_EVENTS);
    ccg_tdx_eventlog_free(&log);
    free(bytes);
}

/* --- runtime RTMR3 events --- */

static void runtime_event(buf *x, uint32_t mr, const uint8_t d[48], const char *data)
{
    static const uint16_t ids[1] = {0x000c}, sizes[1] = {48};
    event(x, mr, 0x0000000d, 1, ids, sizes, d, data);
}

static void test_runtime_rtmr3(void **state)
{
    (void)state;
    ccg_tdx_eventlog log;
    ccg_tdx_result r;
    uint8_t *bytes = NULL;
    size_t len = 0;
    uint8_t d1[48], d2[48], want[48];
    buf rt = {.n = 0};
    memset(d1, 0x31, 48);
    memset(d2, 0x32, 48);
    memset(want, 0, 48);
    runtime_event(&rt, 4, d1, "github.com/confidential-containers PullImage {}");
    runtime_event(&rt, 4, d2, "ccgate model-loaded sha384:...");
    extend(want, d1);
    extend(want, d2);

    load_log(&log, &bytes, &len);
    /* A runtime event for another RTMR is refused and leaves the log as it was. */
    buf bad = rt;
    bad.b[0] = 3;
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_eventlog_add_runtime(&log, bad.b, bad.n)));
    tu_assert_error_reason(CCG_R_TDX_EVENT_LOG_MALFORMED);
    assert_int_equal(log.count, COS_EVENTS);
    assert_false(log.rtmr3_covered);
    assert_null(log.runtime_bytes);
    /* A cut-short runtime log too. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_eventlog_add_runtime(&log, rt.b, rt.n - 1)));
    tu_assert_error_reason(CCG_R_TDX_EVENT_LOG_MALFORMED);
    assert_int_equal(log.count, COS_EVENTS);
    assert_true(ccg_is_all_zero(log.rtmr[3], 48));

    assert_true(ccg_ok(ccg_tdx_eventlog_add_runtime(&log, rt.b, rt.n)));
    assert_int_equal(log.count, COS_EVENTS + 2);
    assert_true(log.events[COS_EVENTS].runtime);
    assert_memory_equal(log.rtmr[3], want, 48);
    assert_true(log.rtmr3_covered);
    /* Only once. */
    ccg_error_clear();
    assert_true(ccg_failed(ccg_tdx_eventlog_add_runtime(&log, rt.b, rt.n)));
    assert_int_equal(log.count, COS_EVENTS + 2);
    /* The COS quote's RTMR3 is zero: these events are not what it measured. */
    verify_cos(&log, NULL, &r);
    assert_true(has_reason(&r.decision, CCG_R_TDX_RTMR3_LOG_MISMATCH));
    assert_int_equal(count_log_mismatches(&r.decision), 1);
    ccg_tdx_result_free(&r);
    ccg_tdx_eventlog_free(&log);
    free(bytes);

    /* An empty runtime log says RTMR3 was never extended, which the quote confirms. */
    load_log(&log, &bytes, &len);
    free(bytes);
    assert_true(ccg_ok(ccg_tdx_eventlog_add_runtime(&log, rt.b, 0)));
    assert_true(log.rtmr3_covered);
    verify_cos(&log, NULL, &r);
    assert_int_equal(count_log_mismatches(&r.decision), 0);
    assert_true(json_is_true(json_object_get(
        json_array_get(json_object_get(json_object_get(r.decision.claims, "event_log"), "rtmrs"), 3), "match")));
    ccg_tdx_result_free(&r);
    ccg_tdx_eventlog_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cos_log_replays_rtmr0_2),
        cmocka_unit_test(test_cos_event_descriptions),
        cmocka_unit_test(test_ccel_table),
        cmocka_unit_test(test_verify_with_cos_log),
        cmocka_unit_test(test_tampered_logs_name_their_rtmr),
        cmocka_unit_test(test_required_events),
        cmocka_unit_test(test_required_events_policy_parse),
        cmocka_unit_test(test_synthetic_two_banks),
        cmocka_unit_test(test_synthetic_malformed),
        cmocka_unit_test(test_every_prefix),
        cmocka_unit_test(test_runtime_rtmr3),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
