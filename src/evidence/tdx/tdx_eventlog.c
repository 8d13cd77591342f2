/* The TCG2 crypto-agile event log of a TD (TCG PC Client PFP 10.2, UEFI CC measurement protocol):
 * the Spec ID header, TCG_PCR_EVENT2 records read through the bounded reader, the fill after the
 * last event, runtime RTMR3 events, and the replay into RTMR0-3 (docs/tdx-eventlog.md). */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/reader.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/util.h"

#define SPEC_ID_SIGNATURE "Spec ID Event03"
#define TPM_ALG_SHA1 0x0004u
#define TPM_ALG_SHA256 0x000bu
#define TPM_ALG_SHA384 0x000cu
#define TPM_ALG_SHA512 0x000du
#define TPM_ALG_SM3_256 0x0012u
#define MAX_MR_INDEX 4u
#define MAX_DIGEST 64u

void ccg_tdx_eventlog_free(ccg_tdx_eventlog *log)
{
    if (log == NULL) {
        return;
    }
    free(log->bytes);
    free(log->runtime_bytes);
    free(log->events);
    memset(log, 0, sizeof(*log));
}

/* The size a known TPM algorithm's digest must have; 0 for one ccgate does not know. */
static uint16_t known_size(uint16_t alg)
{
    switch (alg) {
    case TPM_ALG_SHA1: return 20;
    case TPM_ALG_SHA256: return 32;
    case TPM_ALG_SM3_256: return 32;
    case TPM_ALG_SHA384: return 48;
    case TPM_ALG_SHA512: return 64;
    default: return 0;
    }
}

/* TCG_EfiSpecIDEvent: signature, platform class, spec version 2.0, uintn size, the digest table. */
static ccg_result parse_spec_id(ccg_reader *r, ccg_tdx_eventlog *log)
{
    ccg_result result = CCG_FAILURE;
    uint8_t sig[16], minor = 0, major = 0, errata = 0, vendor_len = 0;
    uint32_t platform_class = 0, n_algs = 0;
    int have_sha384 = 0;
    CCG_TRY(ccg_reader_copy(r, sig, sizeof(sig)));
    CCG_ENSURE_MSG(memcmp(sig, SPEC_ID_SIGNATURE, sizeof(sig)) == 0, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "the first event is not a TCG2 Spec ID event (\"Spec ID Event03\")");
    CCG_TRY(ccg_reader_u32le(r, &platform_class));
    CCG_TRY(ccg_reader_u8(r, &minor));
    CCG_TRY(ccg_reader_u8(r, &major));
    CCG_TRY(ccg_reader_u8(r, &errata));
    CCG_TRY(ccg_reader_u8(r, &log->uintn_size));
    CCG_ENSURE_MSG(major == 2, CCG_R_TDX_EVENT_LOG_MALFORMED, "Spec ID version %u.%u (the crypto-agile log is 2.0)",
                   major, minor);
    CCG_ENSURE_MSG(log->uintn_size == 1 || log->uintn_size == 2, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "Spec ID uintnSize %u (1 or 2)", log->uintn_size);
    CCG_TRY(ccg_reader_u32le(r, &n_algs));
    CCG_ENSURE_MSG(n_algs >= 1 && n_algs <= sizeof(log->alg_ids) / sizeof(log->alg_ids[0]),
                   CCG_R_TDX_EVENT_LOG_MALFORMED, "Spec ID lists %u digest algorithms (1 to 8)", n_algs);
    for (uint32_t i = 0; i < n_algs; i++) {
        CCG_TRY(ccg_reader_u16le(r, &log->alg_ids[i]));
        CCG_TRY(ccg_reader_u16le(r, &log->alg_sizes[i]));
        uint16_t want = known_size(log->alg_ids[i]);
        CCG_ENSURE_MSG(want == 0 || want == log->alg_sizes[i], CCG_R_TDX_EVENT_LOG_MALFORMED,
                       "Spec ID gives algorithm 0x%04x a %u-byte digest (it has %u)", log->alg_ids[i],
                       log->alg_sizes[i], want);
        CCG_ENSURE_MSG(log->alg_sizes[i] > 0 && log->alg_sizes[i] <= MAX_DIGEST, CCG_R_TDX_EVENT_LOG_MALFORMED,
                       "Spec ID digest size %u for algorithm 0x%04x", log->alg_sizes[i], log->alg_ids[i]);
        for (uint32_t j = 0; j < i; j++) {
            CCG_ENSURE_MSG(log->alg_ids[j] != log->alg_ids[i], CCG_R_TDX_EVENT_LOG_MALFORMED,
                           "Spec ID lists algorithm 0x%04x twice", log->alg_ids[i]);
        }
        have_sha384 |= log->alg_ids[i] == TPM_ALG_SHA384;
    }
    log->n_algs = n_algs;
    CCG_ENSURE_MSG(have_sha384, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "the log has no SHA-384 digests, which RTMRs are extended with");
    CCG_TRY(ccg_reader_u8(r, &vendor_len));
    CCG_TRY(ccg_reader_skip(r, vendor_len));
    CCG_TRY(ccg_reader_expect_end(r));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The first record: TCG_PCR_EVENT (SHA-1 format) of type EV_NO_ACTION with a zero digest, holding the
 * Spec ID event. Its MR index is not judged: it extends nothing. */
static ccg_result parse_header(ccg_reader *r, ccg_tdx_eventlog *log)
{
    ccg_result result = CCG_FAILURE;
    uint32_t index = 0, type = 0, size = 0;
    uint8_t digest[20];
    ccg_reader body;
    CCG_TRY(ccg_reader_u32le(r, &index));
    CCG_TRY(ccg_reader_u32le(r, &type));
    CCG_TRY(ccg_reader_copy(r, digest, sizeof(digest)));
    CCG_TRY(ccg_reader_u32le(r, &size));
    CCG_ENSURE_MSG(type == CCG_TDX_EV_NO_ACTION && ccg_is_all_zero(digest, sizeof(digest)),
                   CCG_R_TDX_EVENT_LOG_MALFORMED, "the log does not start with an EV_NO_ACTION Spec ID event");
    CCG_ENSURE_MSG(size <= ccg_reader_remaining(r), CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "the Spec ID event's size %u passes the end of the log", size);
    CCG_TRY(ccg_reader_sub(r, &body, size));
    CCG_TRY(parse_spec_id(&body, log));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int alg_index(const ccg_tdx_eventlog *log, uint16_t alg)
{
    for (size_t i = 0; i < log->n_algs; i++) {
        if (log->alg_ids[i] == alg) {
            return (int)i;
        }
    }
    return -1;
}

/* TPML_DIGEST_VALUES: one digest per algorithm of the Spec ID header, each once; SHA-384 is kept. */
static ccg_result parse_digests(ccg_reader *r, const ccg_tdx_eventlog *log, uint8_t sha384[48])
{
    ccg_result result = CCG_FAILURE;
    uint32_t count = 0;
    unsigned seen = 0;
    CCG_TRY(ccg_reader_u32le(r, &count));
    CCG_ENSURE_MSG(count == log->n_algs, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "an event has %u digests; the Spec ID header names %zu algorithms", count, log->n_algs);
    for (uint32_t i = 0; i < count; i++) {
        uint16_t alg = 0;
        CCG_TRY(ccg_reader_u16le(r, &alg));
        int k = alg_index(log, alg);
        CCG_ENSURE_MSG(k >= 0, CCG_R_TDX_EVENT_LOG_MALFORMED,
                       "an event has a digest of algorithm 0x%04x, which the Spec ID header does not name", alg);
        CCG_ENSURE_MSG((seen & (1u << k)) == 0, CCG_R_TDX_EVENT_LOG_MALFORMED,
                       "an event has two digests of algorithm 0x%04x", alg);
        seen |= 1u << k;
        if (alg == TPM_ALG_SHA384) {
            CCG_TRY(ccg_reader_copy(r, sha384, 48));
        } else {
            CCG_TRY(ccg_reader_skip(r, log->alg_sizes[k]));
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result add_event(ccg_tdx_eventlog *log, const ccg_tdx_event *ev)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(log->count < CCG_TDX_EVENTLOG_MAX_EVENTS, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "more than %u events", CCG_TDX_EVENTLOG_MAX_EVENTS);
    ccg_tdx_event *grown = ccg_array_grow(log->events, &log->cap, log->count, sizeof(*log->events));
    CCG_ENSURE_ALLOC(grown);
    log->events = grown;
    log->events[log->count++] = *ev;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One TCG_PCR_EVENT2 record. Reading is all-or-nothing: a record cut short is malformed, never skipped. */
static ccg_result parse_event(ccg_reader *r, const ccg_tdx_eventlog *log, int runtime, ccg_tdx_event *ev)
{
    ccg_result result = CCG_FAILURE;
    uint32_t size = 0;
    memset(ev, 0, sizeof(*ev));
    ev->offset = ccg_reader_offset(r);
    ev->runtime = runtime;
    CCG_TRY(ccg_reader_u32le(r, &ev->mr_index));
    CCG_TRY(ccg_reader_u32le(r, &ev->type));
    CCG_ENSURE_MSG(ev->mr_index <= MAX_MR_INDEX, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "the event at offset %zu names MR index %u (0 MRTD, 1..4 RTMR0..3)", ev->offset, ev->mr_index);
    CCG_ENSURE_MSG(!runtime || ev->mr_index == MAX_MR_INDEX, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "the runtime event at offset %zu names MR index %u; runtime events extend RTMR3 (index 4)",
                   ev->offset, ev->mr_index);
    CCG_TRY(parse_digests(r, log, ev->digest));
    CCG_TRY(ccg_reader_u32le(r, &size));
    CCG_ENSURE_MSG(size <= ccg_reader_remaining(r), CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "the event at offset %zu has %u bytes of data, past the end of the log", ev->offset, size);
    CCG_TRY(ccg_reader_borrow(r, &ev->data, size));
    ev->data_len = size;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && ccg_error_reason() == CCG_R_INPUT_TRUNCATED) {
        ccg_error_clear();
        ccg_error_set(CCG_R_TDX_EVENT_LOG_MALFORMED, __FILE__, __LINE__, "the event at offset %zu is cut short",
                      ev->offset);
    }
    return result;
}

static int all_bytes(const uint8_t *p, size_t n, uint8_t b)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != b) {
            return 0;
        }
    }
    return 1;
}

/* The log area after the last event is unused: one fill byte to the end (firmware fills it with 0xFF;
 * a zeroed area is accepted too). Anything else is data the replay would not account for. */
static int at_fill(const ccg_reader *r, int *is_fill)
{
    size_t n = ccg_reader_remaining(r);
    const uint8_t *p = r->data + r->pos;
    *is_fill = 0;
    if (n == 0) {
        *is_fill = 1;
        return 1;
    }
    if (n >= 8 && !all_bytes(p, 8, 0xff) && !all_bytes(p, 8, 0x00)) {
        return 0; /* another event */
    }
    *is_fill = all_bytes(p, n, p[0]) && (p[0] == 0xff || p[0] == 0x00);
    return 1;
}

static void extend(ccg_tdx_eventlog *log, const ccg_tdx_event *ev)
{
    uint8_t buf[96];
    unsigned int n = 0;
    if (ev->type == CCG_TDX_EV_NO_ACTION || ev->mr_index == 0) {
        return; /* EV_NO_ACTION extends nothing; MRTD is not built from events */
    }
    uint8_t *rtmr = log->rtmr[ev->mr_index - 1];
    memcpy(buf, rtmr, 48);
    memcpy(buf + 48, ev->digest, 48);
    /* SHA-384 of 96 bytes in memory cannot fail short of a broken library; the RTMR then stays wrong and
     * the comparison with the quote refuses it. */
    (void)EVP_Digest(buf, sizeof(buf), rtmr, &n, EVP_sha384(), NULL);
    log->extends[ev->mr_index - 1]++;
    if (ev->mr_index == MAX_MR_INDEX) {
        log->rtmr3_covered = 1;
    }
}

static ccg_result copy_in(const uint8_t *data, size_t len, uint8_t **out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(len <= CCG_TDX_EVENTLOG_MAX, CCG_R_INPUT_TOO_LARGE, "an event log of %zu bytes (at most %u)", len,
                   CCG_TDX_EVENTLOG_MAX);
    *out = malloc(len + 1);
    CCG_ENSURE_ALLOC(*out);
    if (len > 0) {
        memcpy(*out, data, len);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_tdx_eventlog_parse(const uint8_t *data, size_t len, ccg_tdx_eventlog *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    ccg_tdx_event ev;
    int is_fill = 0;
    memset(out, 0, sizeof(*out));
    CCG_TRY(copy_in(data, len, &out->bytes));
    out->len = len;
    ccg_reader_init(&r, out->bytes, len);
    if (ccg_failed(parse_header(&r, out))) {
        if (ccg_error_reason() == CCG_R_INPUT_TRUNCATED) {
            ccg_error_clear();
            CCG_BAIL(CCG_R_TDX_EVENT_LOG_MALFORMED, "the log ends inside its Spec ID header");
        }
        goto cleanup;
    }
    while (!at_fill(&r, &is_fill)) {
        CCG_TRY(parse_event(&r, out, 0, &ev));
        CCG_TRY(add_event(out, &ev));
        extend(out, &ev);
    }
    CCG_ENSURE_MSG(is_fill, CCG_R_TDX_EVENT_LOG_MALFORMED,
                   "%zu bytes after the last event (offset %zu) are neither an event nor fill",
                   ccg_reader_remaining(&r), ccg_reader_offset(&r));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_tdx_eventlog_free(out);
    }
    return result;
}

ccg_result ccg_tdx_eventlog_add_runtime(ccg_tdx_eventlog *log, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    ccg_tdx_event ev;
    /* All or nothing: a runtime log that fails leaves the boot log as it was. */
    size_t count = log->count, extends = log->extends[3];
    int covered = log->rtmr3_covered, copied = 0;
    uint8_t rtmr3[48];
    memcpy(rtmr3, log->rtmr[3], 48);
    CCG_ENSURE_MSG(log->runtime_bytes == NULL, CCG_R_USAGE_INVALID, "a runtime log was already added");
    CCG_TRY(copy_in(data, len, &log->runtime_bytes));
    copied = 1;
    log->runtime_len = len;
    ccg_reader_init(&r, log->runtime_bytes, len);
    while (ccg_reader_remaining(&r) > 0) {
        CCG_TRY(parse_event(&r, log, 1, &ev));
        CCG_TRY(add_event(log, &ev));
        extend(log, &ev);
    }
    log->rtmr3_covered = 1; /* even an empty runtime log says RTMR3 was never extended */
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && copied) {
        free(log->runtime_bytes);
        log->runtime_bytes = NULL;
        log->runtime_len = 0;
        log->count = count;
        log->extends[3] = extends;
        log->rtmr3_covered = covered;
        memcpy(log->rtmr[3], rtmr3, 48);
    }
    return result;
}
