/* libFuzzer target: the TDX event log (docs/tdx-eventlog.md). The first byte selects what the rest is:
 * 0 a CCEL log area (TCG2 crypto-agile), 1 an ACPI CCEL table, 2 a log area and a runtime RTMR3 log
 * (the next two bytes give the log area's length). Every event found is described and turned into
 * JSON, so the description code sees the same untrusted data. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/tdx_eventlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_log(const ccg_tdx_eventlog *log)
{
    char desc[128];
    for (size_t i = 0; i < log->count; i++) {
        const ccg_tdx_event *ev = &log->events[i];
        const uint8_t *base = ev->runtime ? log->runtime_bytes : log->bytes;
        size_t len = ev->runtime ? log->runtime_len : log->len;
        /* Every event's data lies inside its own copy of the input. */
        if (ev->mr_index > 4 || ev->data < base || ev->data + ev->data_len > base + len || ev->offset >= len) {
            abort();
        }
        ccg_tdx_event_describe(ev, desc, sizeof(desc));
        if (memchr(desc, 0, sizeof(desc)) == NULL) {
            abort();
        }
        json_decref(ccg_tdx_event_json(ev, i));
    }
    size_t extends = log->extends[0] + log->extends[1] + log->extends[2] + log->extends[3];
    if (extends > log->count) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ccg_tdx_eventlog log;
    ccg_tdx_ccel_table table;
    if (size < 1) {
        return 0;
    }
    ccg_error_clear();
    uint8_t kind = data[0] % 3;
    data++;
    size--;
    if (kind == 1) {
        if (ccg_failed(ccg_tdx_ccel_table_parse(data, size, &table)) && ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    size_t split = size;
    if (kind == 2) {
        if (size < 2) {
            return 0;
        }
        split = ((size_t)data[0] | ((size_t)data[1] << 8));
        data += 2;
        size -= 2;
        split = split > size ? size : split;
    }
    if (ccg_failed(ccg_tdx_eventlog_parse(data, split, &log))) {
        if (ccg_error_reason() == CCG_R_OK) {
            abort();
        }
        return 0;
    }
    if (kind == 2) {
        size_t before = log.count;
        ccg_error_clear();
        if (ccg_failed(ccg_tdx_eventlog_add_runtime(&log, data + split, size - split))) {
            /* A refused runtime log leaves the boot log as it was. */
            if (ccg_error_reason() == CCG_R_OK || log.count != before || log.runtime_bytes != NULL) {
                abort();
            }
        }
    }
    check_log(&log);
    ccg_tdx_eventlog_free(&log);
    return 0;
}
