/* libFuzzer target: tee-evidence.primary_evidence of a "tdx" session as the key broker reads it
 * (Trustee's TdxEvidence: {"cc_eventlog": base64 | null, "quote": base64, "aa_eventlog": text | null}),
 * then its serialisation for the session record, read back.
 * Invariants: a failure carries a reason and leaves nothing owned; an accepted evidence has a quote of
 * 1..CCG_KBS_TDX_MAX_QUOTE bytes, an event log either absent or of 1..CCG_KBS_TDX_MAX_EVENTLOG bytes,
 * and reads back from its own JSON to the same bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "ccgate/error.h"
#include "ccgate/kbs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int same(const ccg_kbs_tdx_evidence *a, const ccg_kbs_tdx_evidence *b)
{
    return a->quote_len == b->quote_len && memcmp(a->quote, b->quote, a->quote_len) == 0 &&
           a->cc_eventlog_len == b->cc_eventlog_len && (a->cc_eventlog == NULL) == (b->cc_eventlog == NULL) &&
           (a->cc_eventlog == NULL || memcmp(a->cc_eventlog, b->cc_eventlog, a->cc_eventlog_len) == 0) &&
           (a->aa_eventlog == NULL) == (b->aa_eventlog == NULL) &&
           (a->aa_eventlog == NULL || strcmp(a->aa_eventlog, b->aa_eventlog) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_kbs_tdx_evidence ev, back;
    json_error_t jerr;
    json_t *doc = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &jerr), *out = NULL;
    if (doc == NULL) {
        return 0;
    }
    if (ccg_failed(ccg_kbs_tdx_evidence_from_json(doc, &ev))) {
        if (ccg_error_reason() == CCG_R_OK || ev.quote != NULL || ev.cc_eventlog != NULL || ev.aa_eventlog != NULL) {
            abort();
        }
        json_decref(doc);
        return 0;
    }
    if (ev.quote == NULL || ev.quote_len == 0 || ev.quote_len > CCG_KBS_TDX_MAX_QUOTE ||
        (ev.cc_eventlog == NULL) != (ev.cc_eventlog_len == 0) || ev.cc_eventlog_len > CCG_KBS_TDX_MAX_EVENTLOG) {
        abort();
    }
    out = ccg_kbs_tdx_evidence_to_json(&ev);
    if (out != NULL) {
        if (ccg_failed(ccg_kbs_tdx_evidence_from_json(out, &back)) || !same(&ev, &back)) {
            abort();
        }
        ccg_kbs_tdx_evidence_free(&back);
    }
    json_decref(out);
    ccg_kbs_tdx_evidence_free(&ev);
    json_decref(doc);
    return 0;
}
