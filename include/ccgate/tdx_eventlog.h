/* The TDX event log (docs/tdx-eventlog.md): the ACPI CCEL table, the TCG2 crypto-agile event log it
 * points to (SHA-384), runtime RTMR3 events, and the replay of both to RTMR0-3.
 *
 * The log's MR index follows the TDX mapping of the UEFI CC measurement protocol: 0 is MRTD (never
 * extended by an event), 1..4 are RTMR0..RTMR3. An event extends RTMR[index - 1] with its SHA-384
 * digest (RTMR = SHA-384(RTMR || digest), from 48 zero bytes); EV_NO_ACTION events extend nothing.
 * The log owns a copy of its bytes; every event points into it. */
#ifndef CCGATE_TDX_EVENTLOG_H
#define CCGATE_TDX_EVENTLOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_TDX_EVENTLOG_MAX (16u << 20)   /* bytes of a log or a runtime log */
#define CCG_TDX_EVENTLOG_MAX_EVENTS 65536u
#define CCG_TDX_CCEL_TABLE_SIZE 56
#define CCG_TDX_EV_NO_ACTION 0x00000003u

/* The ACPI CCEL table (ACPI 6.5, 5.2.34): its header and the log area it names. */
typedef struct {
    uint8_t revision;
    uint8_t cc_type;    /* 2: TDX */
    uint8_t cc_subtype;
    char oem_id[7];
    char oem_table_id[9];
    uint64_t laml;      /* log area minimum length */
    uint64_t lasa;      /* log area start address (guest physical) */
} ccg_tdx_ccel_table;

typedef struct {
    uint32_t mr_index;      /* as in the log: 0 MRTD, 1..4 RTMR0..3 */
    uint32_t type;          /* TCG event type */
    uint8_t digest[48];     /* the SHA-384 digest */
    const uint8_t *data;    /* the event data (into the log's copy) */
    size_t data_len;
    size_t offset;          /* of the event in its log */
    int runtime;            /* 1: from the runtime log */
} ccg_tdx_event;

typedef struct ccg_tdx_eventlog {
    uint8_t *bytes;         /* the log's own copy */
    size_t len;
    uint8_t *runtime_bytes; /* the runtime log's copy, or NULL */
    size_t runtime_len;
    uint8_t uintn_size;     /* from the Spec ID header */
    size_t n_algs;
    uint16_t alg_ids[8];
    uint16_t alg_sizes[8];
    ccg_tdx_event *events;  /* the boot log's events, then the runtime events; the header is not one */
    size_t count;
    size_t cap;
    int have_ccel;          /* a CCEL table was checked (ccg_tdx_eventlog_check_ccel) */
    ccg_tdx_ccel_table ccel;
    uint8_t rtmr[4][48];    /* replayed */
    size_t extends[4];      /* events extended into each RTMR */
    int rtmr3_covered;      /* RTMR3 events were logged, or a runtime log was added */
} ccg_tdx_eventlog;

/* The 56-byte ACPI CCEL table (binary, as /sys/firmware/acpi/tables/CCEL). Fails with
 * tdx.ccel_table_invalid: signature, length, checksum, revision, or a CC type other than TDX. */
CCG_MUST_CHECK ccg_result ccg_tdx_ccel_table_parse(const uint8_t *data, size_t len, ccg_tdx_ccel_table *out);

/* The log area (as /sys/firmware/acpi/tables/data/CCEL): the Spec ID header (TCG_EfiSpecIDEvent,
 * SHA-384 among its algorithms), then TCG_PCR_EVENT2 records until the unused area, which must be
 * one fill byte (0xFF or 0x00) to the end. Replays RTMR0-3. Fails with tdx.event_log_malformed or
 * input.too_large. */
CCG_MUST_CHECK ccg_result ccg_tdx_eventlog_parse(const uint8_t *data, size_t len, ccg_tdx_eventlog *out);
/* The log must fit the table's log area (its length at most LAML); records the table in log. */
CCG_MUST_CHECK ccg_result ccg_tdx_eventlog_check_ccel(ccg_tdx_eventlog *log, const ccg_tdx_ccel_table *table);
/* Runtime RTMR3 events: TCG_PCR_EVENT2 records with the boot log's digest layout, MR index 4 only,
 * back to back with nothing after them. Appended and replayed into RTMR3. */
CCG_MUST_CHECK ccg_result ccg_tdx_eventlog_add_runtime(ccg_tdx_eventlog *log, const uint8_t *data, size_t len);
void ccg_tdx_eventlog_free(ccg_tdx_eventlog *log);

/* "EV_SEPARATOR", "EV_EFI_VARIABLE_BOOT", ...; NULL for a type ccgate does not know. */
const char *ccg_tdx_event_type_name(uint32_t type);
/* A short, printable description of a known event's data (a variable's name, an image's path, a
 * firmware blob's description, an action's text) into out; "" when there is nothing to say. The
 * data is not authenticated: only the digest is measured. */
void ccg_tdx_event_describe(const ccg_tdx_event *ev, char *out, size_t out_len);
/* {"seq", "mr_index", "rtmr" (null for MRTD), "type", "type_name", "digest", "description", "runtime"} */
json_t *ccg_tdx_event_json(const ccg_tdx_event *ev, size_t seq);

#endif
