/* ccgate verify tdx: verify an Intel TDX quote against Intel's collateral and a TDX policy at an explicit
 * time (tdx_verify.h, docs/tdx-quote.md, docs/tdx-policy.md). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/refvalue.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/tdx_pcs.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/tdx_verify.h"
#include "ccgate/x509util.h"
#include "cli.h"

#define MAX_INPUT_BYTES (4u << 20)

typedef struct {
    const char *quote;
    const char *collateral;
    const char *collateral_dir;
    const char *policy;
    const char *now;
    ccg_time now_t; /* --now resolved (cli_now) */
    const char *trust_root;
    const char *report_data;
    const char *event_log;
    const char *ccel;
    const char *runtime_log;
    const char *pccs;
    const char *refvals;
    const char *issuer_keys[16];
    int issuer_key_count;
    int json;
} tdx_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate verify tdx --quote FILE [--collateral FILE.json | --collateral-dir DIR [--pccs URL]]\n"
            "                         [--event-log FILE [--ccel FILE] [--runtime-log FILE]]\n"
            "                         [--policy FILE] [--refvals FILE --issuer-key ID=PUBLIC.pem...]\n"
            "                         [--now TIME] [--report-data HEX] [--trust-root FILE] [--json]\n"
            "\n"
            "Verifies an Intel TDX DCAP quote (v4 or v5; TD report 1.0 or 1.5) in Intel QVL's order: the PCK\n"
            "chain to the pinned Intel SGX Root CA key, the root CA and PCK CRLs, the PCK extension, the QE\n"
            "report signature and its binding of the attestation key, the QE identity, the quote signature,\n"
            "the platform TCB level, the TDX module identity, the converged TCB status and advisories; then\n"
            "the TDX policy.\n"
            "\n"
            "  --quote FILE           the quote, binary or hex text\n"
            "  --collateral FILE      Intel collateral as a JSON bundle (dcap-qvl's shape; docs/tdx-quote.md)\n"
            "  --collateral-dir DIR   the collateral cache: DIR/<FMSPC>.json, refused once past nextUpdate\n"
            "  --pccs URL             fetch missing or stale collateral from this Intel PCS v4 compatible\n"
            "                         service (a PCCS) into --collateral-dir: at most once per FMSPC a minute,\n"
            "                         10 s to connect, 30 s per request (docs/tdx-quote.md)\n"
            "  --policy FILE          the TDX policy (docs/tdx-policy.md); default: ccgate-default-tdx\n"
            "                         (UpToDate only, no advisories, no debug TD, SEPT_VE_DISABLE required)\n"
            "  --refvals FILE         a signed reference-value set (docs/reference-values.md), used when the\n"
            "                         policy's \"reference_values\" names it: MRTD and the registers a \"tdx\"\n"
            "                         record pins must match a usable record\n"
            "  --issuer-key ID=FILE   trust this issuer's public key for reference values (repeatable)\n"
            "  --now TIME             the verification time: RFC 3339 or epoch seconds; default: the\n"
            "                         current time, printed to stderr so it can be pinned\n"
            "  --report-data HEX      the 64-byte REPORT_DATA the TD must carry (128 hex digits)\n"
            "  --trust-root FILE      also trust this self-signed test root (a software TD's); never Intel's\n"
            "  --event-log FILE       the TD's CCEL event log (TCG2, SHA-384; /sys/firmware/acpi/tables/data/CCEL):\n"
            "                         replayed, RTMR0-2 must equal the quote's (docs/tdx-eventlog.md)\n"
            "  --ccel FILE            the ACPI CCEL table (/sys/firmware/acpi/tables/CCEL): the log must fit it\n"
            "  --runtime-log FILE     runtime RTMR3 events (TCG_PCR_EVENT2 records, MR index 4): with them,\n"
            "                         RTMR3 must equal the quote's too\n"
            "  --json                 print the decision, the TCB status, advisories, platform, module and QE\n"
            "                         statuses, the FMSPC and every TD field as JSON\n"
            "\n"
            "Without collateral the quote's own chain and signatures are checked and the decision is a\n"
            "denial (collateral.missing). Exit status: 0 allow, 1 deny, 2 bad usage or malformed input.\n");
}

static int parse_args(int argc, char **argv, tdx_args *a)
{
    static const struct option opts[] = {
        {"quote", required_argument, 0, 'q'},       {"collateral", required_argument, 0, 'c'},
        {"collateral-dir", required_argument, 0, 'D'}, {"policy", required_argument, 0, 'P'},
        {"now", required_argument, 0, 'n'},         {"trust-root", required_argument, 0, 't'},
        {"report-data", required_argument, 0, 'r'}, {"json", no_argument, 0, 'j'},
        {"event-log", required_argument, 0, 'e'},   {"ccel", required_argument, 0, 'C'},
        {"runtime-log", required_argument, 0, 'R'}, {"pccs", required_argument, 0, 'p'},
        {"refvals", required_argument, 0, 'V'},     {"issuer-key", required_argument, 0, 'I'},
        CCG_CLI_STD_OPTIONS,              {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate verify tdx", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'q': a->quote = optarg; break;
        case 'c': a->collateral = optarg; break;
        case 'D': a->collateral_dir = optarg; break;
        case 'P': a->policy = optarg; break;
        case 'n': a->now = optarg; break;
        case 't': a->trust_root = optarg; break;
        case 'r': a->report_data = optarg; break;
        case 'j': a->json = 1; break;
        case 'e': a->event_log = optarg; break;
        case 'C': a->ccel = optarg; break;
        case 'R': a->runtime_log = optarg; break;
        case 'p': a->pccs = optarg; break;
        case 'V': a->refvals = optarg; break;
        case 'I':
            if (a->issuer_key_count == 16) {
                return ccg_cli_usage_error(&cli, "at most 16 --issuer-key");
            }
            a->issuer_keys[a->issuer_key_count++] = optarg;
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->quote == NULL) {
        return ccg_cli_usage_error(&cli, "--quote is required");
    }
    if ((a->ccel != NULL || a->runtime_log != NULL) && a->event_log == NULL) {
        return ccg_cli_usage_error(&cli, "--ccel and --runtime-log need --event-log");
    }
    if (a->pccs != NULL && a->collateral_dir == NULL) {
        return ccg_cli_usage_error(&cli, "--pccs needs --collateral-dir (the cache it fills)");
    }
    if (a->collateral != NULL && a->collateral_dir != NULL) {
        return ccg_cli_usage_error(&cli, "--collateral and --collateral-dir are exclusive");
    }
    return cli_now(&cli, a->now, &a->now_t);
}

typedef struct {
    uint8_t *quote;
    size_t quote_len;
    ccg_tdx_collateral col;
    int have_col;
    ccg_tdx_policy *policy;
    ccg_tdx_verifier *verifier;
    uint8_t report_data[64];
    ccg_tdx_eventlog log;
    int have_log;
    ccg_refval_set *refvals;
    ccg_refval_issuers *issuers;
} tdx_inputs;

static void inputs_free(tdx_inputs *in)
{
    free(in->quote);
    ccg_tdx_collateral_free(&in->col);
    ccg_tdx_policy_free(in->policy);
    ccg_tdx_verifier_free(in->verifier);
    ccg_tdx_eventlog_free(&in->log);
    ccg_refval_set_free(in->refvals);
    ccg_refval_issuers_free(in->issuers);
}

/* The event log, its ACPI table and the runtime RTMR3 events. */
static ccg_result load_event_log(const tdx_args *a, tdx_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    ccg_tdx_ccel_table table;
    CCG_TRY(cli_file_read(a->event_log, CCG_TDX_EVENTLOG_MAX, &data, &len));
    CCG_TRY(ccg_tdx_eventlog_parse(data, len, &in->log));
    in->have_log = 1;
    free(data);
    data = NULL;
    if (a->ccel != NULL) {
        CCG_TRY(cli_file_read(a->ccel, 4096, &data, &len));
        CCG_TRY(ccg_tdx_ccel_table_parse(data, len, &table));
        CCG_TRY(ccg_tdx_eventlog_check_ccel(&in->log, &table));
        free(data);
        data = NULL;
    }
    if (a->runtime_log != NULL) {
        CCG_TRY(cli_file_read(a->runtime_log, CCG_TDX_EVENTLOG_MAX, &data, &len));
        CCG_TRY(ccg_tdx_eventlog_add_runtime(&in->log, data, len));
    }
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

static ccg_result load_trust_root(const char *path, ccg_tdx_verifier *v)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    CCG_TRY(cli_file_read(path, MAX_INPUT_BYTES, &data, &len));
    CCG_TRY(ccg_x509_load_bundle(data, len, certs));
    CCG_ENSURE_MSG(sk_X509_num(certs) == 1, CCG_R_USAGE_INVALID, "--trust-root must hold one certificate");
    CCG_TRY(ccg_tdx_verifier_add_test_root(v, sk_X509_value(certs, 0)));
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    free(data);
    return result;
}

static ccg_result load_inputs(const tdx_args *a, ccg_time now, tdx_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL, *text = NULL;
    size_t raw_len = 0, len = 0;
    CCG_TRY(cli_file_read(a->quote, MAX_INPUT_BYTES, &raw, &raw_len));
    CCG_TRY(ccg_tdx_quote_decode(raw, raw_len, &in->quote, &in->quote_len));
    if (a->policy == NULL) {
        CCG_TRY(ccg_tdx_policy_default(&in->policy));
    } else {
        CCG_TRY(cli_file_read(a->policy, MAX_INPUT_BYTES, &text, &len));
        CCG_TRY(ccg_tdx_policy_parse((const char *)text, len, &in->policy));
        free(text);
        text = NULL;
    }
    CCG_TRY(ccg_tdx_verifier_new(&in->verifier));
    if (a->trust_root != NULL) {
        CCG_TRY(load_trust_root(a->trust_root, in->verifier));
    }
    if (a->report_data != NULL) {
        CCG_ENSURE_MSG(strlen(a->report_data) == 128 && ccg_hex_is_valid(a->report_data, 64), CCG_R_USAGE_INVALID,
                       "--report-data must be 128 hex digits");
        CCG_TRY(ccg_hex_decode_exact(a->report_data, in->report_data, 64));
    }
    if (a->event_log != NULL) {
        CCG_TRY(load_event_log(a, in));
    }
    CCG_TRY(cli_load_issuers(a->issuer_keys, a->issuer_key_count, &in->issuers));
    if (a->refvals != NULL) {
        CCG_TRY(cli_file_read(a->refvals, 4 * MAX_INPUT_BYTES, &text, &len));
        CCG_TRY(ccg_refval_set_parse((const char *)text, len, &in->refvals));
        free(text);
        text = NULL;
    }
    if (a->collateral != NULL) {
        CCG_TRY(cli_file_read(a->collateral, CCG_TDX_COLLATERAL_MAX, &text, &len));
        CCG_TRY(ccg_tdx_collateral_parse((const char *)text, len, &in->col));
        in->have_col = 1;
    } else if (a->collateral_dir != NULL) {
        ccg_tdx_pcs_config cfg;
        ccg_tdx_pcs_config_init(&cfg);
        cfg.cache_dir = a->collateral_dir;
        cfg.base_url = a->pccs; /* NULL: the cache only */
        CCG_TRY(ccg_tdx_collateral_for_quote(&cfg, in->quote, in->quote_len, now, &in->col, NULL));
        in->have_col = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    free(raw);
    free(text);
    return result;
}

/* One line per event, then the replay against the quote. */
static void print_event_log(json_t *log)
{
    size_t i;
    json_t *e;
    if (log == NULL) {
        return;
    }
    json_array_foreach(json_object_get(log, "event_list"), i, e) {
        json_t *rtmr = json_object_get(e, "rtmr");
        const char *name = json_string_value(json_object_get(e, "type_name"));
        char type[24], reg[16];
        snprintf(type, sizeof(type), "0x%08llx", (unsigned long long)json_integer_value(json_object_get(e, "type")));
        if (json_is_integer(rtmr)) {
            snprintf(reg, sizeof(reg), "RTMR%lld", (long long)json_integer_value(rtmr));
        } else {
            snprintf(reg, sizeof(reg), "MRTD");
        }
        printf("event %zu: %s %s %s %s\n", i, reg, name != NULL ? name : type,
               json_string_value(json_object_get(e, "digest")),
               json_string_value(json_object_get(e, "description")));
    }
    json_array_foreach(json_object_get(log, "rtmrs"), i, e) {
        json_t *match = json_object_get(e, "match");
        printf("event log: RTMR%zu %s (%lld events)\n", i,
               json_is_null(match) ? "not covered (no RTMR3 events)" : json_is_true(match) ? "matches the quote" : "MISMATCH",
               (long long)json_integer_value(json_object_get(e, "events")));
    }
}

static void print_text(const ccg_tdx_result *r)
{
    const ccg_decision *d = &r->decision;
    json_t *tcb = json_object_get(d->claims, "tcb");
    json_t *td = json_object_get(d->claims, "td");
    printf("decision: %s\npolicy: %s version %lld\nevidence: %s\n", d->allow ? "allow" : "deny", d->policy_id,
           (long long)d->policy_version, d->evidence_digest);
    if (td != NULL) {
        printf("td: %s mrtd %s attributes %s\n", json_string_value(json_object_get(td, "body")),
               json_string_value(json_object_get(td, "mrtd")), json_string_value(json_object_get(td, "td_attributes")));
    }
    if (r->fmspc[0] != '\0') {
        printf("fmspc: %s\n", r->fmspc);
    }
    if (tcb != NULL) {
        char *adv = json_dumps(json_object_get(tcb, "advisory_ids"), JSON_COMPACT);
        printf("tcb: %s (platform %s, module %s, qe %s) advisories %s\n", ccg_tdx_status_name(r->status),
               ccg_tdx_status_name(r->platform_status), ccg_tdx_status_name(r->module_status),
               ccg_tdx_status_name(r->qe_status), adv != NULL ? adv : "[]");
        free(adv);
    }
    print_event_log(json_object_get(d->claims, "event_log"));
    for (size_t j = 0; j < d->reasons.count; j++) {
        char *details = json_dumps(d->reasons.items[j].details, JSON_COMPACT | JSON_SORT_KEYS);
        printf("reason: %s: %s %s\n", ccg_reason_code(d->reasons.items[j].reason),
               ccg_reason_message(d->reasons.items[j].reason), details ? details : "");
        free(details);
    }
}

static void print_json(const ccg_tdx_result *r)
{
    json_t *top = ccg_decision_to_json(&r->decision);
    if (top != NULL && r->decision.claims != NULL) {
        json_object_set(top, "claims", r->decision.claims);
    }
    char *text = top != NULL ? json_dumps(top, JSON_INDENT(2)) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
    }
    free(text);
    json_decref(top);
}

static int run(const tdx_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_time now = a->now_t;
    tdx_inputs in;
    ccg_tdx_result r;
    memset(&in, 0, sizeof(in));
    memset(&r, 0, sizeof(r));
    ccg_error_clear();
    if (ccg_failed(load_inputs(a, now, &in))) {
        rc = cli_report_error("verify tdx", a->json);
        goto cleanup;
    }
    ccg_tdx_verify_opts opts = {.expected_report_data = a->report_data != NULL ? in.report_data : NULL,
                                .event_log = in.have_log ? &in.log : NULL,
                                .refvals = in.refvals,
                                .issuers = in.issuers};
    if (ccg_failed(ccg_tdx_verify(in.verifier, in.quote, in.quote_len, in.have_col ? &in.col : NULL, in.policy,
                                  &opts, now, &r))) {
        rc = cli_report_error("verify tdx", a->json);
        goto cleanup;
    }
    if (a->json) {
        print_json(&r);
    } else {
        print_text(&r);
    }
    if (!r.parsed) {
        ccg_reason reason = r.decision.reasons.count > 0 ? r.decision.reasons.items[0].reason : CCG_R_INTERNAL_ERROR;
        fprintf(stderr, "ccgate: verify tdx: %s: %s\n", ccg_reason_code(reason), ccg_reason_message(reason));
        rc = cli_exit_for_reason(reason);
    } else {
        rc = r.decision.allow ? CLI_EXIT_OK : CLI_EXIT_DENY;
    }
cleanup:
    ccg_tdx_result_free(&r);
    inputs_free(&in);
    return rc;
}

int cmd_verify_tdx(int argc, char **argv)
{
    tdx_args a;
    memset(&a, 0, sizeof(a));
    int rc = cli_parse_result(parse_args(argc, argv, &a), usage);
    if (rc >= 0) {
        return rc;
    }
    return run(&a);
}
