/* ccgate emulate tdx: a quote from the software TD (src/emulator/tdx) over a chosen REPORT_DATA and TD
 * fields, with its test root, PCK chain and collateral (docs/tdx-emulator.md). For demos and tests
 * only: Intel's pinned root never accepts it; a verifier must name DIR/root.pem. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/tdx_collateral.h"
#include "ccgate/tdx_emulator.h"
#include "ccgate/tdx_eventlog.h"
#include "ccgate/tdx_quote.h"
#include "cli.h"

#define MAX_RTMR_ARGS 8

typedef struct {
    const char *out_dir, *now, *report_data, *mrtd, *mrconfigid, *mrowner, *mrownerconfig, *mrservicetd;
    const char *attributes, *xfam, *tee_tcb_svn, *event_log, *runtime_log, *load_state, *quote_version;
    const char *rtmr[MAX_RTMR_ARGS];
    int n_rtmr, debug, td15, expired, revoke_pck, save_state, json;
} emulate_tdx_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate emulate tdx --out-dir DIR [--now RFC3339] [--report-data HEX]\n"
            "                          [--mrtd HEX] [--rtmr N=HEX]... [--event-log FILE [--runtime-log FILE]]\n"
            "                          [--mrconfigid HEX] [--mrowner HEX] [--mrownerconfig HEX] [--mrservicetd HEX]\n"
            "                          [--attributes 0xHEX] [--debug] [--xfam 0xHEX] [--tee-tcb-svn HEX]\n"
            "                          [--quote-version 4|5] [--td15] [--collateral-expired] [--revoke-pck]\n"
            "                          [--save-state] [--load-state DIR]\n"
            "\n"
            "Writes a TDX quote signed by ccgate's software TD, for demos and tests, with its TEST root, PCK\n"
            "chain and collateral (TCB info, QE identity, CRLs). Intel's pinned root never accepts them: a\n"
            "verifier must name the root (verify tdx --trust-root DIR/root.pem). docs/tdx-emulator.md.\n"
            "\n"
            "  --json                print what was written as JSON (errors as the error object)\n"
            "  --out-dir DIR         writes quote.bin, root.pem, pck-chain.pem, collateral.json (a bundle),\n"
            "                        collateral/<FMSPC>.json (the cache directory form) and pcs/ (Intel PCS\n"
            "                        responses and their issuer chains, for a test PCCS)\n"
            "  --now RFC3339         the time the collateral is issued around (default: the clock); a new\n"
            "                        software TD's certificates are valid a year either side of it\n"
            "  --report-data HEX     1 to 64 bytes of REPORT_DATA, zero-padded (default 64 bytes of 0xDA)\n"
            "  --mrtd HEX, --mrconfigid HEX, --mrowner HEX, --mrownerconfig HEX, --mrservicetd HEX\n"
            "                        48-byte measurements (MRSERVICETD needs --td15)\n"
            "  --rtmr N=HEX          RTMR N (0..3) as 48 bytes of hex; repeatable\n"
            "  --event-log FILE      set RTMR0-2 (and RTMR3 if the log covers it) to this CCEL log's replay\n"
            "  --runtime-log FILE    runtime RTMR3 events replayed into RTMR3 (docs/tdx-eventlog.md)\n"
            "  --attributes 0xHEX    TDATTRIBUTES as a number (default 0x10000000: SEPT_VE_DISABLE)\n"
            "  --debug               also set TDATTRIBUTES.DEBUG (bit 0)\n"
            "  --xfam 0xHEX          XFAM as a number (default 0x602e7)\n"
            "  --tee-tcb-svn HEX     TEE_TCB_SVN, 16 bytes (default 05000200...: the collateral's UpToDate level;\n"
            "                        below it, e.g. 04000200..., the TD is OutOfDate with advisory " CCG_TDX_EMU_PLATFORM_ADVISORY ")\n"
            "  --quote-version N     4 (default) or 5\n"
            "  --td15                a v5 quote with a TD report 1.5 body\n"
            "  --collateral-expired  collateral whose nextUpdate passed an hour before --now\n"
            "  --revoke-pck          a PCK CRL that lists the PCK certificate\n"
            "  --save-state          also save the software TD (keys, chain, TD fields) as DIR/" CCG_TDX_EMU_STATE_FILE "\n"
            "                        (mode 0600), for an attester stand-in; TEST ROOT ONLY\n"
            "  --load-state DIR      reuse a saved software TD (same root and TD fields; options override)\n"
            "\n"
            "Exit status: 0 written, 2 bad usage or a failure.\n");
}

static int parse_args(int argc, char **argv, emulate_tdx_args *a)
{
    static const struct option opts[] = {
        {"out-dir", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},       {"now", required_argument, 0, 'n'},
        {"report-data", required_argument, 0, 'r'},   {"mrtd", required_argument, 0, 'm'},
        {"mrconfigid", required_argument, 0, 'c'},    {"mrowner", required_argument, 0, 'w'},
        {"mrownerconfig", required_argument, 0, 'W'}, {"mrservicetd", required_argument, 0, 'S'},
        {"rtmr", required_argument, 0, 'R'},          {"event-log", required_argument, 0, 'e'},
        {"runtime-log", required_argument, 0, 'E'},   {"attributes", required_argument, 0, 'a'},
        {"debug", no_argument, 0, 'd'},               {"xfam", required_argument, 0, 'x'},
        {"tee-tcb-svn", required_argument, 0, 't'},   {"quote-version", required_argument, 0, 'v'},
        {"td15", no_argument, 0, '5'},                {"collateral-expired", no_argument, 0, 'X'},
        {"revoke-pck", no_argument, 0, 'K'},          {"save-state", no_argument, 0, 's'},
        {"load-state", required_argument, 0, 'l'},    CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate emulate tdx", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'o': a->out_dir = optarg; break;
        case 'j': a->json = 1; break;
        case 'n': a->now = optarg; break;
        case 'r': a->report_data = optarg; break;
        case 'm': a->mrtd = optarg; break;
        case 'c': a->mrconfigid = optarg; break;
        case 'w': a->mrowner = optarg; break;
        case 'W': a->mrownerconfig = optarg; break;
        case 'S': a->mrservicetd = optarg; break;
        case 'R':
            if (a->n_rtmr == MAX_RTMR_ARGS) {
                return ccg_cli_usage_error(&cli, "at most %d --rtmr", MAX_RTMR_ARGS);
            }
            a->rtmr[a->n_rtmr++] = optarg;
            break;
        case 'e': a->event_log = optarg; break;
        case 'E': a->runtime_log = optarg; break;
        case 'a': a->attributes = optarg; break;
        case 'd': a->debug = 1; break;
        case 'x': a->xfam = optarg; break;
        case 't': a->tee_tcb_svn = optarg; break;
        case 'v': a->quote_version = optarg; break;
        case '5': a->td15 = 1; break;
        case 'X': a->expired = 1; break;
        case 'K': a->revoke_pck = 1; break;
        case 's': a->save_state = 1; break;
        case 'l': a->load_state = optarg; break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->out_dir == NULL) {
        return ccg_cli_usage_error(&cli, "--out-dir is required");
    }
    if (a->runtime_log != NULL && a->event_log == NULL) {
        return ccg_cli_usage_error(&cli, "--runtime-log needs --event-log");
    }
    return 0;
}

static ccg_result hex_field(const char *hex, const char *opt, uint8_t *out, size_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(strlen(hex) == 2 * n && ccg_hex_is_valid(hex, n), CCG_R_USAGE_INVALID, "%s must be %zu bytes of hex",
                   opt, n);
    CCG_TRY(ccg_hex_decode_exact(hex, out, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "0x" and 1 to 16 hex digits. */
static ccg_result number(const char *text, const char *opt, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    size_t n = strlen(text);
    CCG_ENSURE_MSG(n > 2 && n <= 18 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
                       strspn(text + 2, "0123456789abcdefABCDEF") == n - 2,
                   CCG_R_USAGE_INVALID, "%s must be 0x followed by 1 to 16 hex digits", opt);
    *out = (uint64_t)strtoull(text + 2, NULL, 16);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result apply_rtmr(const char *spec, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(spec[0] >= '0' && spec[0] <= '3' && spec[1] == '=', CCG_R_USAGE_INVALID,
                   "--rtmr takes N=HEX with N 0..3, got '%.16s'", spec);
    CCG_TRY(hex_field(spec + 2, "--rtmr", td->rtmr[spec[0] - '0'], 48));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* RTMRs from a CCEL log's replay (and a runtime log's): the quote then matches the log. */
static ccg_result apply_event_log(const emulate_tdx_args *a, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    ccg_tdx_eventlog log;
    memset(&log, 0, sizeof(log));
    CCG_TRY(cli_file_read(a->event_log, CCG_TDX_EVENTLOG_MAX, &data, &len));
    CCG_TRY(ccg_tdx_eventlog_parse(data, len, &log));
    if (a->runtime_log != NULL) {
        free(data);
        data = NULL;
        CCG_TRY(cli_file_read(a->runtime_log, CCG_TDX_EVENTLOG_MAX, &data, &len));
        CCG_TRY(ccg_tdx_eventlog_add_runtime(&log, data, len));
    }
    for (int i = 0; i < 4; i++) {
        if (i < 3 || log.rtmr3_covered) {
            memcpy(td->rtmr[i], log.rtmr[i], 48);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_eventlog_free(&log);
    free(data);
    return result;
}

static ccg_result apply_quote_shape(const emulate_tdx_args *a, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    if (a->quote_version != NULL) {
        CCG_ENSURE_MSG(strcmp(a->quote_version, "4") == 0 || strcmp(a->quote_version, "5") == 0, CCG_R_USAGE_INVALID,
                       "--quote-version must be 4 or 5");
        td->version = (uint16_t)(a->quote_version[0] - '0');
        td->body_type = 2;
    }
    if (a->td15) {
        CCG_ENSURE_MSG(a->quote_version == NULL || td->version == 5, CCG_R_USAGE_INVALID,
                       "--td15 needs a version 5 quote");
        td->version = 5;
        td->body_type = 3;
    }
    CCG_ENSURE_MSG(a->mrservicetd == NULL || td->body_type == 3, CCG_R_USAGE_INVALID,
                   "--mrservicetd needs a TD report 1.5 body (--td15)");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result build_td(const emulate_tdx_args *a, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(apply_quote_shape(a, td));
    if (a->report_data != NULL) {
        size_t n = strlen(a->report_data);
        CCG_ENSURE_MSG(n > 0 && n % 2 == 0 && n <= 128 && ccg_hex_is_valid(a->report_data, n / 2),
                       CCG_R_USAGE_INVALID, "--report-data must be 1 to 64 bytes of hex");
        memset(td->report_data, 0, sizeof(td->report_data));
        CCG_TRY(ccg_hex_decode_exact(a->report_data, td->report_data, n / 2));
    }
    struct {
        const char *hex, *opt;
        uint8_t *out;
    } fields[] = {{a->mrtd, "--mrtd", td->mrtd},
                  {a->mrconfigid, "--mrconfigid", td->mrconfigid},
                  {a->mrowner, "--mrowner", td->mrowner},
                  {a->mrownerconfig, "--mrownerconfig", td->mrownerconfig},
                  {a->mrservicetd, "--mrservicetd", td->mrservicetd}};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].hex != NULL) {
            CCG_TRY(hex_field(fields[i].hex, fields[i].opt, fields[i].out, 48));
        }
    }
    if (a->event_log != NULL) {
        CCG_TRY(apply_event_log(a, td));
    }
    for (int i = 0; i < a->n_rtmr; i++) {
        CCG_TRY(apply_rtmr(a->rtmr[i], td));
    }
    if (a->attributes != NULL) {
        CCG_TRY(number(a->attributes, "--attributes", &td->td_attributes));
    }
    if (a->debug) {
        td->td_attributes |= CCG_TDX_ATTR_DEBUG;
    }
    if (a->xfam != NULL) {
        CCG_TRY(number(a->xfam, "--xfam", &td->xfam));
    }
    if (a->tee_tcb_svn != NULL) {
        CCG_TRY(hex_field(a->tee_tcb_svn, "--tee-tcb-svn", td->tee_tcb_svn, 16));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result write_file(const char *dir, const char *name, const void *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    int n = snprintf(path, sizeof(path), "%s/%s", dir, name);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(path), CCG_R_USAGE_INVALID, "path too long: %s/%s", dir, name);
    CCG_TRY(cli_file_write(path, data, len));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result make_dir(const char *dir, const char *sub, char *path, size_t cap)
{
    ccg_result result = CCG_FAILURE;
    int n = sub != NULL ? snprintf(path, cap, "%s/%s", dir, sub) : snprintf(path, cap, "%s", dir);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < cap, CCG_R_USAGE_INVALID, "path too long: %s", dir);
    CCG_ENSURE_MSG(mkdir(path, 0755) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", path,
                   strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* What Intel PCS serves, one file per response body or header (docs/tdx-emulator.md, "pcs/"). */
static ccg_result write_pcs(const char *dir, const ccg_tdx_emu_collateral *c)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    char *tcb = NULL, *qe = NULL;
    CCG_TRY(make_dir(dir, "pcs", path, sizeof(path)));
    CCG_TRY(ccg_tdx_emu_pcs_body(c, 0, &tcb));
    CCG_TRY(ccg_tdx_emu_pcs_body(c, 1, &qe));
    CCG_TRY(write_file(path, "tcb-info.json", tcb, strlen(tcb)));
    CCG_TRY(write_file(path, "qe-identity.json", qe, strlen(qe)));
    CCG_TRY(write_file(path, "tcb-info-issuer-chain.pem", c->tcb_chain_pem, strlen(c->tcb_chain_pem)));
    CCG_TRY(write_file(path, "pck-crl.der", c->pck_crl, c->pck_crl_len));
    CCG_TRY(write_file(path, "pck-crl-issuer-chain.pem", c->crl_chain_pem, strlen(c->crl_chain_pem)));
    CCG_TRY(write_file(path, "root-ca-crl.der", c->root_crl, c->root_crl_len));
    result = CCG_SUCCESS;
cleanup:
    free(tcb);
    free(qe);
    return result;
}

static ccg_result write_outputs(const emulate_tdx_args *a, const ccg_tdx_emu *e, const uint8_t *quote, size_t len,
                                ccg_time now)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    char *root = ccg_tdx_emu_root_pem(e), *chain = ccg_tdx_emu_pck_chain_pem(e), *bundle = NULL;
    ccg_tdx_emu_collateral col;
    ccg_tdx_emu_collateral_opts co = {.now = now, .expired = a->expired, .revoke_pck = a->revoke_pck};
    memset(&col, 0, sizeof(col));
    CCG_ENSURE_ALLOC(root);
    CCG_ENSURE_ALLOC(chain);
    CCG_TRY(make_dir(a->out_dir, NULL, path, sizeof(path)));
    CCG_TRY(write_file(a->out_dir, "quote.bin", quote, len));
    CCG_TRY(write_file(a->out_dir, "root.pem", root, strlen(root)));
    CCG_TRY(write_file(a->out_dir, "pck-chain.pem", chain, strlen(chain)));
    CCG_TRY(ccg_tdx_emu_collateral_make(e, &co, &col));
    CCG_TRY(ccg_tdx_emu_collateral_bundle(&col, &bundle));
    CCG_TRY(write_file(a->out_dir, "collateral.json", bundle, strlen(bundle)));
    CCG_TRY(make_dir(a->out_dir, "collateral", path, sizeof(path)));
    CCG_TRY(ccg_tdx_collateral_store_dir(path, bundle, strlen(bundle)));
    CCG_TRY(write_pcs(a->out_dir, &col));
    result = CCG_SUCCESS;
cleanup:
    ccg_tdx_emu_collateral_free(&col);
    free(bundle);
    free(root);
    free(chain);
    return result;
}

static ccg_result new_emulator(const emulate_tdx_args *a, ccg_time now, ccg_tdx_emu **e, ccg_tdx_emu_td *td)
{
    ccg_result result = CCG_FAILURE;
    ccg_tdx_emu_opts o;
    if (a->load_state != NULL) {
        CCG_TRY(ccg_tdx_emu_load(a->load_state, e, td));
    } else {
        ccg_tdx_emu_opts_default(now, &o);
        CCG_TRY(ccg_tdx_emu_new(&o, e));
        ccg_tdx_emu_td_default(td);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int run(const emulate_tdx_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_tdx_emu *e = NULL;
    ccg_tdx_emu_td td;
    uint8_t *quote = NULL;
    size_t len = 0;
    ccg_time now = ccg_time_now();
    char fmspc[13];
    ccg_error_clear();
    if ((a->now != NULL && ccg_failed(ccg_time_parse_rfc3339(a->now, &now))) ||
        ccg_failed(new_emulator(a, now, &e, &td)) || ccg_failed(build_td(a, &td)) ||
        ccg_failed(ccg_tdx_emu_quote(e, &td, &quote, &len)) || ccg_failed(write_outputs(a, e, quote, len, now)) ||
        (a->save_state && ccg_failed(ccg_tdx_emu_save(e, &td, a->out_dir)))) {
        (void)cli_report_error("emulate tdx", a->json);
        goto cleanup;
    }
    ccg_hex_encode(ccg_tdx_emu_opts_of(e)->fmspc, 6, fmspc);
    if (a->json) {
        json_t *doc = json_pack("{s:s, s:s, s:[ssss], s:b}", "out_dir", a->out_dir, "fmspc", fmspc, "files",
                                "quote.bin", "root.pem", "pck-chain.pem", "collateral.json", "test_root", 1);
        rc = doc != NULL ? cli_write_json(doc, NULL, "emulate tdx") : CLI_EXIT_USAGE;
        json_decref(doc);
        goto cleanup;
    }
    printf("emulated TDX quote (v%u, TD report %s%s, TEST ROOT ONLY) written to %s: quote.bin, root.pem, "
           "pck-chain.pem, collateral.json, collateral/, pcs/%s\n",
           td.version, td.body_type == 3 ? "1.5" : "1.0", (td.td_attributes & CCG_TDX_ATTR_DEBUG) ? ", DEBUG" : "",
           a->out_dir, a->save_state ? ", " CCG_TDX_EMU_STATE_FILE : "");
    printf("fmspc %s\n", fmspc);
    printf("verify with: ccgate verify tdx --quote %s/quote.bin --collateral %s/collateral.json --trust-root "
           "%s/root.pem\n",
           a->out_dir, a->out_dir, a->out_dir);
    rc = CLI_EXIT_OK;
cleanup:
    free(quote);
    ccg_tdx_emu_free(e);
    return rc;
}

int cmd_emulate_tdx(int argc, char **argv)
{
    emulate_tdx_args a;
    memset(&a, 0, sizeof(a));
    int rc = cli_parse_result(parse_args(argc, argv, &a), NULL);
    return rc >= 0 ? rc : run(&a);
}
