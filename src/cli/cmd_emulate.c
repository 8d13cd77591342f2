/* ccgate emulate snp: an emulated SEV-SNP report and its test chain, for demos and tests only. */
#include <errno.h>
#include <getopt.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ccgate/snp_emulator.h"
#include "ccgate/x509util.h"
#include "cli.h"

typedef struct {
    const char *out_dir;
    const char *product;
    int vlek;
    int debug;
    const char *report_data;
    const char *measurement;
    const char *host_data;     /* HOST_DATA as hex, e.g. an init-data digest */
    const char *platform_info; /* PLATFORM_INFO as hex, e.g. 0x65 (a genuine Turin's) */
    int save_state;         /* also persist keys and launch into out_dir (for ccgate-agent, channel serve) */
    const char *load_state; /* reuse a saved emulator's keys (same test root) instead of new ones */
    const char *crl;        /* also write an ARK-signed CRL here */
    int revoke_ask;         /* ... listing the ASK (ASVK) */
    int json;
} emulate_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate emulate snp --out-dir DIR [--product milan|genoa|turin] [--vlek] [--debug]\n"
            "                          [--report-data HEX] [--measurement HEX] [--host-data HEX]\n"
            "                          [--platform-info HEX]\n"
            "                          [--save-state] [--load-state DIR] [--crl FILE [--revoke-ask]]\n"
            "\n"
            "Writes an SEV-SNP report signed by ccgate's software SNP firmware, for demos and tests. The\n"
            "ARK, ASK and VCEK (or ASVK and VLEK) are generated for this run; AMD's pinned roots never accept\n"
            "them, so a verifier must name the test root: verify snp --trust-root DIR/ark.pem.\n"
            "\n"
            "  --json               print what was written as JSON (errors as the error object)\n"
            "  --out-dir DIR        where to write report.bin, certs.pem (VCEK and ASK) and ark.pem\n"
            "  --product NAME       milan (default), genoa or turin\n"
            "  --vlek               sign with a VLEK (chain VLEK -> ASVK -> ARK) instead of a VCEK\n"
            "  --debug              set the guest policy's DEBUG bit\n"
            "  --report-data HEX    up to 64 bytes of REPORT_DATA, zero-padded (default zeros)\n"
            "  --measurement HEX    the 48-byte launch MEASUREMENT (default a fixed test value)\n"
            "  --host-data HEX      the 32-byte HOST_DATA the host set at launch, e.g. an init-data digest\n"
            "                       (default zeros)\n"
            "  --platform-info HEX  the 64-bit PLATFORM_INFO, e.g. 0x65 as genuine Turin firmware reports it\n"
            "                       (default 0x3: SMT_EN, TSME_EN)\n"
            "  --save-state         also save the emulated firmware (keys, chain, launch) into --out-dir, for\n"
            "                       the emulator attester of ccgate-agent (docs/attester.md); TEST ROOT ONLY\n"
            "  --load-state DIR     sign with a saved emulator's keys (same test root) instead of new ones\n"
            "  --crl FILE           also write a CRL signed by this test root's ARK (PEM; valid from the\n"
            "                       ARK's notBefore to its notAfter), for verify snp --crl\n"
            "  --revoke-ask         list the ASK (ASVK with --vlek) on that CRL\n"
            "\n"
            "Exit status: 0 written, 2 bad usage or a failure.\n");
}

static int parse_args(int argc, char **argv, emulate_args *a)
{
    static const struct option opts[] = {
        {"out-dir", required_argument, 0, 'o'}, {"json", no_argument, 0, 'j'},     {"product", required_argument, 0, 'p'},
        {"vlek", no_argument, 0, 'v'},              {"debug", no_argument, 0, 'd'},
        {"report-data", required_argument, 0, 'r'}, {"measurement", required_argument, 0, 'm'},
        {"save-state", no_argument, 0, 's'},        {"load-state", required_argument, 0, 'l'},
        {"crl", required_argument, 0, 'c'},         {"revoke-ask", no_argument, 0, 'R'},
        {"platform-info", required_argument, 0, 'i'}, {"host-data", required_argument, 0, 'H'},
        CCG_CLI_STD_OPTIONS,              {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate emulate snp", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'o': a->out_dir = optarg; break;
        case 'j': a->json = 1; break;
        case 'p': a->product = optarg; break;
        case 'v': a->vlek = 1; break;
        case 'd': a->debug = 1; break;
        case 'r': a->report_data = optarg; break;
        case 'm': a->measurement = optarg; break;
        case 's': a->save_state = 1; break;
        case 'l': a->load_state = optarg; break;
        case 'c': a->crl = optarg; break;
        case 'R': a->revoke_ask = 1; break;
        case 'i': a->platform_info = optarg; break;
        case 'H': a->host_data = optarg; break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->out_dir == NULL) {
        return ccg_cli_usage_error(&cli, "--out-dir is required");
    }
    if (a->revoke_ask && a->crl == NULL) {
        return ccg_cli_usage_error(&cli, "--revoke-ask needs --crl");
    }
    return 0;
}

/* REPORT_DATA: 1 to 64 bytes of hex, zero-padded on the right as guests pad a shorter digest. */
static ccg_result apply_report_data(const char *hex, ccg_snp_report *r)
{
    ccg_result result = CCG_FAILURE;
    size_t n = strlen(hex);
    CCG_ENSURE_MSG(n > 0 && n % 2 == 0 && n <= 2 * sizeof(r->report_data) && ccg_hex_is_valid(hex, n / 2),
                   CCG_R_USAGE_INVALID, "--report-data must be 1 to 64 bytes of hex");
    memset(r->report_data, 0, sizeof(r->report_data));
    CCG_TRY(ccg_hex_decode_exact(hex, r->report_data, n / 2));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* "0x" and 1 to 16 hex digits. */
static ccg_result parse_platform_info(const char *text, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    size_t n = strlen(text);
    *out = 0;
    CCG_ENSURE_MSG(n > 2 && n <= 18 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X') &&
                       strspn(text + 2, "0123456789abcdefABCDEF") == n - 2,
                   CCG_R_USAGE_INVALID, "--platform-info must be 0x followed by 1 to 16 hex digits");
    *out = (uint64_t)strtoull(text + 2, NULL, 16); /* only hex digits, at most 64 bits: no overflow */
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result build_report(const emulate_args *a, const ccg_snp_emulator *emu, ccg_snp_report *r)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_emulator_default_report(emu, r);
    if (a->debug) {
        r->policy |= CCG_SNP_POLICY_DEBUG;
    }
    if (a->report_data != NULL) {
        CCG_TRY(apply_report_data(a->report_data, r));
    }
    if (a->platform_info != NULL) {
        CCG_TRY(parse_platform_info(a->platform_info, &r->platform_info));
    }
    if (a->measurement != NULL) {
        CCG_ENSURE_MSG(ccg_hex_is_valid(a->measurement, sizeof(r->measurement)), CCG_R_USAGE_INVALID,
                       "--measurement must be 48 bytes of hex");
        CCG_TRY(ccg_hex_decode_exact(a->measurement, r->measurement, sizeof(r->measurement)));
    }
    if (a->host_data != NULL) {
        CCG_ENSURE_MSG(strlen(a->host_data) == 2 * sizeof(r->host_data) &&
                           ccg_hex_is_valid(a->host_data, sizeof(r->host_data)),
                       CCG_R_USAGE_INVALID, "--host-data must be 32 bytes of hex");
        CCG_TRY(ccg_hex_decode_exact(a->host_data, r->host_data, sizeof(r->host_data)));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result new_emulator(const emulate_args *a, ccg_snp_emulator **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_emulator_config cfg;
    if (a->load_state != NULL) {
        CCG_ENSURE_MSG(a->product == NULL && !a->vlek, CCG_R_USAGE_INVALID,
                       "--product and --vlek come from the saved state with --load-state");
        CCG_TRY(ccg_snp_emulator_load(a->load_state, out, NULL));
        result = CCG_SUCCESS;
        goto cleanup;
    }
    ccg_snp_product product = ccg_snp_product_from_name(a->product ? a->product : "milan");
    CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown product '%s'", a->product);
    ccg_snp_emulator_config_init(&cfg, product, a->vlek ? CCG_SNP_SIGNER_VLEK : CCG_SNP_SIGNER_VCEK);
    /* A fresh chip ID per run, so two emulated machines never look alike. */
    CCG_ENSURE_OSSL(RAND_bytes(cfg.chip_id, (int)ccg_snp_hwid_len(product)) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(ccg_snp_emulator_new(&cfg, out));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result write_pem(const char *dir, const char *name, X509 *first, X509 *second)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long len;
    CCG_ENSURE_ALLOC(bio);
    CCG_ENSURE_OSSL(PEM_write_bio_X509(bio, first) == 1, CCG_R_INTERNAL_CRYPTO);
    if (second != NULL) {
        CCG_ENSURE_OSSL(PEM_write_bio_X509(bio, second) == 1, CCG_R_INTERNAL_CRYPTO);
    }
    len = BIO_get_mem_data(bio, &data);
    CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    CCG_TRY(cli_file_write(path, (const uint8_t *)data, (size_t)len));
    result = CCG_SUCCESS;
cleanup:
    BIO_free(bio);
    return result;
}

static ccg_result write_outputs(const char *dir, const ccg_snp_emulator *emu, const uint8_t *report)
{
    ccg_result result = CCG_FAILURE;
    char path[4096];
    CCG_ENSURE_MSG(mkdir(dir, 0755) == 0 || errno == EEXIST, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", dir,
                   strerror(errno));
    snprintf(path, sizeof(path), "%s/report.bin", dir);
    CCG_TRY(cli_file_write(path, report, CCG_SNP_REPORT_SIZE));
    CCG_TRY(write_pem(dir, "certs.pem", ccg_snp_emulator_vcek(emu), ccg_snp_emulator_ask(emu)));
    CCG_TRY(write_pem(dir, "ark.pem", ccg_snp_emulator_ark(emu), NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The test root's CRL, valid while the ARK is, optionally revoking the intermediate (AMD's CRLs list ASKs). */
static ccg_result write_crl(const char *path, const ccg_snp_emulator *emu, int revoke_ask)
{
    ccg_result result = CCG_FAILURE;
    X509 *ark = ccg_snp_emulator_ark(emu);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(ccg_snp_emulator_ask(emu));
    X509_CRL *crl = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    ccg_time from = 0, until = 0;
    long len;
    CCG_ENSURE_ALLOC(bio);
    CCG_TRY(ccg_x509_time(X509_get0_notBefore(ark), &from));
    CCG_TRY(ccg_x509_time(X509_get0_notAfter(ark), &until));
    CCG_TRY(ccg_snp_emulator_crl(emu, revoke_ask ? &serial : NULL, revoke_ask ? 1 : 0, from, until, &crl));
    CCG_ENSURE_OSSL(PEM_write_bio_X509_CRL(bio, crl) == 1, CCG_R_INTERNAL_CRYPTO);
    len = BIO_get_mem_data(bio, &data);
    CCG_ENSURE_OSSL(len > 0, CCG_R_INTERNAL_CRYPTO);
    CCG_TRY(cli_file_write(path, (const uint8_t *)data, (size_t)len));
    result = CCG_SUCCESS;
cleanup:
    X509_CRL_free(crl);
    BIO_free(bio);
    return result;
}

/* The saved launch is the report's: its measurement, guest policy (DEBUG included) and SVN. */
static ccg_result save_state(const char *dir, const ccg_snp_emulator *emu, const ccg_snp_report *r)
{
    ccg_snp_emulator_launch launch;
    ccg_snp_emulator_launch_init(emu, &launch);
    memcpy(launch.measurement, r->measurement, sizeof(launch.measurement));
    launch.policy = r->policy;
    return ccg_snp_emulator_save(emu, &launch, dir);
}

static int run(const emulate_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_snp_emulator *emu = NULL;
    ccg_snp_report r;
    uint8_t report[CCG_SNP_REPORT_SIZE];
    ccg_error_clear();
    if (ccg_failed(new_emulator(a, &emu)) || ccg_failed(build_report(a, emu, &r)) ||
        ccg_failed(ccg_snp_emulator_sign(emu, &r, report)) || ccg_failed(write_outputs(a->out_dir, emu, report)) ||
        (a->save_state && ccg_failed(save_state(a->out_dir, emu, &r))) ||
        (a->crl != NULL && ccg_failed(write_crl(a->crl, emu, a->revoke_ask)))) {
        (void)cli_report_error("emulate snp", a->json);
        goto cleanup;
    }
    ccg_snp_product product = ccg_snp_emulator_config_of(emu)->product;
    if (a->json) {
        json_t *doc = json_pack("{s:s, s:s, s:s, s:[sss], s:b}", "out_dir", a->out_dir, "product",
                                ccg_snp_product_name(product), "signer", a->vlek ? "vlek" : "vcek", "files",
                                "report.bin", "certs.pem", "ark.pem", "test_root", 1);
        rc = doc != NULL ? cli_write_json(doc, NULL, "emulate snp") : CLI_EXIT_USAGE;
        json_decref(doc);
        goto cleanup;
    }
    printf("emulated %s report (%s-signed, TEST ROOT ONLY) written to %s: report.bin, certs.pem, ark.pem\n",
           ccg_snp_product_name(product), a->vlek ? "VLEK" : "VCEK", a->out_dir);
    printf("verify with: ccgate verify snp --report %s/report.bin --certs %s/certs.pem --trust-root %s/ark.pem "
           "--trust-root-product %s\n",
           a->out_dir, a->out_dir, a->out_dir,
           product == CCG_SNP_PRODUCT_GENOA ? "genoa" : product == CCG_SNP_PRODUCT_TURIN ? "turin" : "milan");
    rc = CLI_EXIT_OK;
cleanup:
    ccg_snp_emulator_free(emu);
    return rc;
}

int cmd_emulate(int argc, char **argv)
{
    emulate_args a;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"snp", "a report from the software SNP firmware (test root)"},
        {"gpu", "evidence and RIMs from the software GPU (test roots)"},
        {"tdx", "a quote and collateral from the software TD (test root)"},
    };
    int rc = CLI_EXIT_USAGE;
    switch (cli_group("ccgate emulate", "Software TEEs for demos and tests only (their roots are test roots).", subs,
                      3, argc, argv, &rc)) {
    case 0: break;
    case 1: return cmd_emulate_gpu(argc - 1, argv + 1);
    case 2: return cmd_emulate_tdx(argc - 1, argv + 1);
    default: return rc;
    }
    rc = cli_parse_result(parse_args(argc - 1, argv + 1, &a), NULL);
    if (rc >= 0) {
        return rc;
    }
    return run(&a);
}
