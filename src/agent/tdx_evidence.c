/* Trustee's TdxEvidence as the agent sends it for a TDX guest (docs/agent.md, docs/kbs.md):
 *
 *   {"cc_eventlog": base64 of the CCEL log area | null, "quote": base64 of the quote, "aa_eventlog": null}
 *
 * The log area comes from /sys/firmware/acpi/tables/data/CCEL (configurable). When the ACPI CCEL table
 * (/sys/firmware/acpi/tables/CCEL) is present it bounds the area to its LAML; the area is then cut after
 * its last event, so the broker's body limit holds the log and not the unused fill. A guest without a
 * log area sends null: the broker then appraises the quote without a replay. A log the agent cannot
 * parse is sent as it is, cut only by the table, so the broker names the defect (tdx.event_log_malformed). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent_internal.h"
#include "ccgate/error.h"
#include "ccgate/tdx_eventlog.h"

#define CCEL_DATA_DEFAULT "/sys/firmware/acpi/tables/data/CCEL"
#define CCEL_TABLE_DEFAULT "/sys/firmware/acpi/tables/CCEL"
#define CCEL_TABLE_MAX 4096u

/* Reads at most max bytes of path; *missing = 1 (and success) when it does not exist. */
static ccg_result read_bounded(const char *path, size_t max, uint8_t **out, size_t *out_len, int *missing)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *buf = NULL;
    size_t len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *out = NULL;
    *out_len = 0;
    *missing = 0;
    if (fd < 0 && errno == ENOENT) {
        *missing = 1;
        return CCG_SUCCESS;
    }
    CCG_ENSURE_MSG(fd >= 0, CCG_R_ATTEST_KERNEL_ERROR, "cannot open %s: %s", path, strerror(errno));
    buf = malloc(max + 1);
    CCG_ENSURE_ALLOC(buf);
    for (;;) {
        ssize_t n = read(fd, buf + len, max + 1 - len);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(n >= 0, CCG_R_ATTEST_KERNEL_ERROR, "cannot read %s: %s", path, strerror(errno));
        if (n == 0) {
            break;
        }
        len += (size_t)n;
        CCG_ENSURE_MSG(len <= max, CCG_R_INPUT_TOO_LARGE, "%s is larger than %zu bytes", path, max);
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return result;
}

/* The bytes the log's header and events span (len when the log does not parse). */
static size_t used_length(const uint8_t *log, size_t len)
{
    ccg_tdx_eventlog parsed;
    size_t used = len;
    memset(&parsed, 0, sizeof(parsed));
    if (ccg_failed(ccg_tdx_eventlog_parse(log, len, &parsed))) {
        ccg_error_clear();
        return len;
    }
    if (parsed.count > 0) {
        const ccg_tdx_event *last = &parsed.events[parsed.count - 1];
        used = (size_t)(last->data - parsed.bytes) + last->data_len;
    }
    ccg_tdx_eventlog_free(&parsed);
    return used <= len ? used : len;
}

/* The log area to send (NULL when the guest has none), bounded by the table and cut after its events. */
/* The log area cut after its last event (NULL when there is none); with table_out, the ACPI table too. */
static ccg_result read_ccel2(const ccg_agent_config *cfg, uint8_t **log, size_t *log_len, uint8_t **table_out,
                             size_t *table_out_len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *table = NULL;
    size_t table_len = 0;
    int missing = 0, no_table = 0;
    ccg_tdx_ccel_table t;
    CCG_TRY(read_bounded(cfg->ccel_path != NULL ? cfg->ccel_path : CCEL_DATA_DEFAULT, CCG_AGENT_CCEL_MAX, log,
                         log_len, &missing));
    if (missing) {
        return CCG_SUCCESS;
    }
    CCG_TRY(read_bounded(cfg->ccel_table_path != NULL ? cfg->ccel_table_path : CCEL_TABLE_DEFAULT, CCEL_TABLE_MAX,
                         &table, &table_len, &no_table));
    if (!no_table) {
        CCG_TRY(ccg_tdx_ccel_table_parse(table, table_len, &t)); /* tdx.ccel_table_invalid */
        if (t.laml < *log_len) {
            *log_len = (size_t)t.laml;
        }
    }
    *log_len = used_length(*log, *log_len);
    if (*log_len == 0) {
        free(*log);
        *log = NULL;
    }
    if (table_out != NULL && !no_table) {
        *table_out = table;
        *table_out_len = table_len;
        table = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    free(table);
    return result;
}

static ccg_result read_ccel(const ccg_agent_config *cfg, uint8_t **log, size_t *log_len)
{
    return read_ccel2(cfg, log, log_len, NULL, NULL);
}

ccg_result ccg_agent_tdx_ccel(const ccg_agent_config *cfg, uint8_t **table, size_t *table_len, uint8_t **log,
                              size_t *log_len)
{
    *table = *log = NULL;
    *table_len = *log_len = 0;
    return read_ccel2(cfg, log, log_len, table, table_len);
}

static char *b64(const uint8_t *in, size_t n)
{
    char *out = n <= (1u << 28) ? malloc(4 * ((n + 2) / 3) + 1) : NULL;
    if (out != NULL) {
        EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    }
    return out;
}

ccg_result ccg_agent_tdx_evidence(const ccg_agent_config *cfg, const ccg_evidence *ev, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *log = NULL;
    size_t log_len = 0;
    char *quote_b64 = NULL, *log_b64 = NULL;
    *out = NULL;
    CCG_ENSURE_MSG(ev->tee == CCG_TEE_TDX && ev->report != NULL && ev->report_len > 0, CCG_R_INTERNAL_ERROR,
                   "TdxEvidence needs a TDX quote");
    CCG_TRY(read_ccel(cfg, &log, &log_len));
    quote_b64 = b64(ev->report, ev->report_len);
    CCG_ENSURE_ALLOC(quote_b64);
    if (log != NULL) {
        log_b64 = b64(log, log_len);
        CCG_ENSURE_ALLOC(log_b64);
    }
    *out = json_pack("{s:s,s:o,s:n}", "quote", quote_b64, "cc_eventlog",
                     log_b64 != NULL ? json_string(log_b64) : json_null(), "aa_eventlog");
    CCG_ENSURE_ALLOC(*out);
    result = CCG_SUCCESS;
cleanup:
    free(log);
    free(quote_b64);
    free(log_b64);
    return result;
}
