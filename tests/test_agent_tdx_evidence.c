/* The agent's TdxEvidence (src/agent/tdx_evidence.c, docs/agent.md "TDX guests"): the quote as sent, the
 * CCEL log area cut after its last event and bounded by the ACPI CCEL table's LAML, null without a log
 * area, and a table that is not a TDX CCEL table refused. Uses go-tdx-guest's COS log area and table
 * ($CCG_VECTORS/tdx). The end to end is tests/cli/test_agent_tdx.sh. */
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/agent.h"
#include "ccgate/error.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/util.h"

#include "../src/agent/agent_internal.h"
#include "testutil.h"

static char log_path[512], table_path[512];
static uint8_t fake_quote[] = {4, 0, 2, 0, 0x81, 0, 0, 0, 'q', 'u', 'o', 't', 'e'};

static int setup(void **state)
{
    (void)state;
    const char *vec = getenv("CCG_VECTORS");
    snprintf(log_path, sizeof(log_path), "%s/tdx/gotdx-ccel-ccel_data.dat", vec != NULL ? vec : "tests/vectors");
    snprintf(table_path, sizeof(table_path), "%s/tdx/gotdx-ccel-ccel_table.dat", vec != NULL ? vec : "tests/vectors");
    return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    buf = malloc((size_t)n);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void spit(const char *path, const uint8_t *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

/* Builds the evidence with these paths; returns the decoded cc_eventlog (NULL for null) or fails. */
static ccg_result evidence(const char *ccel, const char *table, json_t **doc)
{
    ccg_agent_config cfg;
    ccg_evidence ev;
    memset(&cfg, 0, sizeof(cfg));
    memset(&ev, 0, sizeof(ev));
    cfg.ccel_path = (char *)ccel;
    cfg.ccel_table_path = (char *)table;
    ev.tee = CCG_TEE_TDX;
    ev.report = fake_quote;
    ev.report_len = sizeof(fake_quote);
    return ccg_agent_tdx_evidence(&cfg, &ev, doc);
}

static uint8_t *b64_member(const json_t *doc, const char *name, size_t *len)
{
    const char *text = json_string_value(json_object_get(doc, name));
    size_t n, pad = 0;
    uint8_t *out;
    int got;
    if (text == NULL) {
        return NULL;
    }
    n = strlen(text);
    assert_true(n > 0 && n % 4 == 0);
    pad = text[n - 1] == '=' ? (text[n - 2] == '=' ? 2 : 1) : 0;
    out = malloc(n / 4 * 3);
    assert_non_null(out);
    got = EVP_DecodeBlock(out, (const unsigned char *)text, (int)n);
    assert_true(got >= 0);
    *len = (size_t)got - pad;
    return out;
}

static void the_log_is_cut_after_its_events(void **state)
{
    (void)state;
    json_t *doc = NULL;
    size_t area_len = 0, sent_len = 0, q_len = 0;
    uint8_t *area = slurp(log_path, &area_len), *sent, *q;
    ccg_tdx_eventlog a, b;
    assert_true(ccg_ok(evidence(log_path, table_path, &doc)));
    assert_true(json_is_null(json_object_get(doc, "aa_eventlog")));
    q = b64_member(doc, "quote", &q_len);
    assert_int_equal(q_len, sizeof(fake_quote));
    assert_memory_equal(q, fake_quote, sizeof(fake_quote));
    sent = b64_member(doc, "cc_eventlog", &sent_len);
    assert_non_null(sent);
    /* A prefix of the area, far smaller than it, holding every event: the replay is the same. */
    assert_true(sent_len > 0 && sent_len < area_len / 4);
    assert_memory_equal(sent, area, sent_len);
    memset(&a, 0, sizeof(a));
    memset(&b, 0, sizeof(b));
    assert_true(ccg_ok(ccg_tdx_eventlog_parse(area, area_len, &a)));
    assert_true(ccg_ok(ccg_tdx_eventlog_parse(sent, sent_len, &b)));
    assert_int_equal(a.count, b.count);
    assert_memory_equal(a.rtmr, b.rtmr, sizeof(a.rtmr));
    /* One byte less is no longer the whole last event. */
    ccg_tdx_eventlog_free(&b);
    memset(&b, 0, sizeof(b));
    assert_true(ccg_failed(ccg_tdx_eventlog_parse(sent, sent_len - 1, &b)));
    ccg_error_clear();
    ccg_tdx_eventlog_free(&a);
    free(area);
    free(sent);
    free(q);
    json_decref(doc);
}

static void no_log_area_is_null(void **state)
{
    (void)state;
    json_t *doc = NULL;
    assert_true(ccg_ok(evidence("/nonexistent/ccel", table_path, &doc)));
    assert_true(json_is_null(json_object_get(doc, "cc_eventlog")));
    assert_true(json_is_string(json_object_get(doc, "quote")));
    json_decref(doc);
}

/* The table's LAML bounds what is sent: a table naming a smaller area than the log's events cuts there. */
static void the_table_bounds_the_area(void **state)
{
    (void)state;
    char dir[] = "/tmp/ccg-agent-tdx-XXXXXX", path[600];
    json_t *doc = NULL;
    size_t tlen = 0, sent_len = 0;
    uint8_t *table = slurp(table_path, &tlen), *sent, sum = 0;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/CCEL", dir);
    assert_int_equal(tlen, 56);
    memset(table + 40, 0, 8);
    table[40] = 100; /* LAML = 100 bytes: inside the Spec ID header */
    table[9] = 0;
    for (size_t i = 0; i < tlen; i++) {
        sum = (uint8_t)(sum + table[i]);
    }
    table[9] = (uint8_t)(0x100 - sum);
    spit(path, table, tlen);
    assert_true(ccg_ok(evidence(log_path, path, &doc)));
    sent = b64_member(doc, "cc_eventlog", &sent_len);
    assert_int_equal(sent_len, 100); /* not a log any more: sent as it is, the broker names the defect */
    free(sent);
    json_decref(doc);
    doc = NULL;
    /* Not a CCEL table: refused before anything is sent. */
    table[0] = 'X';
    spit(path, table, tlen);
    assert_true(ccg_failed(evidence(log_path, path, &doc)));
    assert_int_equal(ccg_error_reason(), CCG_R_TDX_CCEL_TABLE_INVALID);
    ccg_error_clear();
    assert_null(doc);
    unlink(path);
    rmdir(dir);
    free(table);
}

static void the_config_names_the_paths(void **state)
{
    (void)state;
    static const char text[] =
        "{\"attester\":{\"kind\":\"configfs-tsm\",\"ccel_path\":\"/x/data/CCEL\",\"ccel_table_path\":\"/x/CCEL\"},"
        "\"broker\":{\"url\":\"https://kbs.example:8443\",\"ca_file\":\"/etc/ccgate/kbs-ca.pem\"},"
        "\"key\":{\"resource\":\"default/model/a\",\"version\":1},"
        "\"artifact\":{\"location\":\"/models/a.ccgm\",\"provider_key\":\"/etc/ccgate/provider.pub\"},"
        "\"server\":{\"argv\":[\"/usr/bin/model-server\"]}}";
    ccg_agent_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    assert_true(ccg_ok(ccg_agent_config_parse(text, sizeof(text) - 1, &cfg)));
    assert_string_equal(cfg.ccel_path, "/x/data/CCEL");
    assert_string_equal(cfg.ccel_table_path, "/x/CCEL");
    ccg_agent_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_log_is_cut_after_its_events),
        cmocka_unit_test(no_log_area_is_null),
        cmocka_unit_test(the_table_bounds_the_area),
        cmocka_unit_test(the_config_names_the_paths),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
