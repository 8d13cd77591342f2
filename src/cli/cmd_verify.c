/* ccgate verify snp: verify an SEV-SNP report against collateral and a policy at an explicit time. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_verify.h"
#include "ccgate/x509util.h"
#include "cli.h"

#define MAX_CERT_FILES 16
#define MAX_INPUT_BYTES (1u << 20)

typedef struct {
    const char *report;
    int hex;
    const char *certs[MAX_CERT_FILES];
    int cert_count;
    const char *crl;
    const char *policy;
    const char *now;
    ccg_time now_t; /* --now resolved (cli_now) */
    const char *trust_root;
    const char *trust_root_product;
    const char *cache_dir;
    const char *kds_url;
    const char *product;
    const char *refvals;
    const char *issuer_keys[16];
    int issuer_key_count;
    const char *baselines[3];
    int baseline_count;
    int fetch;
    int json;
} verify_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate verify snp --report FILE [--hex] --certs FILE [--certs FILE...] [--crl FILE]\n"
            "                         [--policy FILE] [--now TIME] [--json]\n"
            "                         [--cache-dir DIR [--fetch] [--kds-url URL] [--product NAME]]\n"
            "                         [--trust-root FILE --trust-root-product milan|genoa|turin]\n"
            "                         [--refvals FILE] [--tcb-baseline FILE...] [--issuer-key ID=PUBLIC.pem...]\n"
            "\n"
            "Verifies an AMD SEV-SNP attestation report: its ECDSA P-384 signature, the VCEK->ASK->ARK (or\n"
            "VLEK->ASVK->ARK) chain to AMD's pinned root, certificate and CRL validity at --now, the binding of\n"
            "the VCEK's TCB and hwID to the report, and the policy.\n"
            "\n"
            "  --report FILE        the 1184-byte report (binary; with --hex, hex text)\n"
            "  --certs FILE         a PEM (one or more certificates) or DER file; repeat, any order\n"
            "  --crl FILE           AMD's CRL for the product (PEM or DER)\n"
            "  --policy FILE        an SNP policy (docs/snp-policy.md); default: signature, chain and\n"
            "                       collateral checks, debug and migration-agent guests refused\n"
            "  --now TIME           the verification time: RFC 3339 (2025-01-01T00:00:00Z) or epoch seconds;\n"
            "                       default: the current time, printed to stderr so it can be pinned\n"
            "  --cache-dir DIR      look up the VCEK and chain in a collateral cache (docs/kds-collateral.md)\n"
            "  --fetch              on a cache miss, fetch from AMD KDS (--kds-url overrides the base URL)\n"
            "  --product NAME       milan, genoa or turin: names the cache's product for v2 reports, which\n"
            "                       carry no CPUID\n"
            "  --refvals FILE       a signed reference-value set (docs/reference-values.md), used when the\n"
            "                       policy names it in \"reference_values\"\n"
            "  --tcb-baseline FILE  a signed TCB baseline (docs/snp-tcb-baseline.md); repeat, one per product.\n"
            "                       The default policy requires one for the report's product (otherwise\n"
            "                       snp.tcb_baseline_missing) and accepts the TCB status UpToDate only\n"
            "  --issuer-key ID=FILE trust this issuer's public key for reference values and TCB baselines;\n"
            "                       repeat\n"
            "  --trust-root FILE    also trust this self-signed root (emulator/test roots only; the pinned\n"
            "                       AMD roots are always trusted and never replaced)\n"
            "  --json               print the decision and claims as JSON\n"
            "\n"
            "Exit status: 0 allow, 1 deny (a decision is printed), 2 bad usage or malformed input (an\n"
            "error is printed, no decision).\n");
}

static int parse_args(int argc, char **argv, verify_args *a)
{
    static const struct option opts[] = {
        {"report", required_argument, 0, 'r'}, {"hex", no_argument, 0, 'x'},
        {"certs", required_argument, 0, 'c'},  {"crl", required_argument, 0, 'l'},
        {"policy", required_argument, 0, 'p'}, {"now", required_argument, 0, 'n'},
        {"json", no_argument, 0, 'j'},         {"trust-root", required_argument, 0, 't'},
        {"trust-root-product", required_argument, 0, 'P'},
        {"cache-dir", required_argument, 0, 'C'}, {"kds-url", required_argument, 0, 'K'},
        {"fetch", no_argument, 0, 'F'},        {"product", required_argument, 0, 'R'},
        {"refvals", required_argument, 0, 'V'}, {"issuer-key", required_argument, 0, 'I'},
        {"tcb-baseline", required_argument, 0, 'T'},
        CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate verify snp", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'r': a->report = optarg; break;
        case 'x': a->hex = 1; break;
        case 'c':
            if (a->cert_count == MAX_CERT_FILES) {
                return ccg_cli_usage_error(&cli, "at most %d --certs files", MAX_CERT_FILES);
            }
            a->certs[a->cert_count++] = optarg;
            break;
        case 'l': a->crl = optarg; break;
        case 'p': a->policy = optarg; break;
        case 'n': a->now = optarg; break;
        case 'j': a->json = 1; break;
        case 't': a->trust_root = optarg; break;
        case 'P': a->trust_root_product = optarg; break;
        case 'C': a->cache_dir = optarg; break;
        case 'K': a->kds_url = optarg; break;
        case 'F': a->fetch = 1; break;
        case 'R': a->product = optarg; break;
        case 'V': a->refvals = optarg; break;
        case 'I':
            if (a->issuer_key_count == 16) {
                return ccg_cli_usage_error(&cli, "at most 16 --issuer-key");
            }
            a->issuer_keys[a->issuer_key_count++] = optarg;
            break;
        case 'T':
            if (a->baseline_count == 3) {
                return ccg_cli_usage_error(&cli, "at most 3 --tcb-baseline (one per product)");
            }
            a->baselines[a->baseline_count++] = optarg;
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->report == NULL || (a->cert_count == 0 && a->cache_dir == NULL)) {
        return ccg_cli_usage_error(&cli, "--report and --certs (or --cache-dir) are required");
    }
    if ((a->trust_root == NULL) != (a->trust_root_product == NULL)) {
        return ccg_cli_usage_error(&cli, "--trust-root and --trust-root-product go together");
    }
    if (a->fetch && a->cache_dir == NULL) {
        return ccg_cli_usage_error(&cli, "--fetch needs --cache-dir");
    }
    return cli_now(&cli, a->now, &a->now_t);
}

static ccg_result load_report(const verify_args *a, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    CCG_TRY(cli_file_read(a->report, a->hex ? 2 * MAX_INPUT_BYTES : MAX_INPUT_BYTES, &raw, &raw_len));
    if (a->hex) {
        CCG_TRY(ccg_hex_decode_text((const char *)raw, raw_len, out, len));
    } else {
        *out = raw;
        *len = raw_len;
        raw = NULL;
    }
    result = CCG_SUCCESS;
cleanup:
    free(raw);
    return result;
}

static ccg_result load_file_into(const char *path, ccg_snp_collateral *col, int is_crl)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    CCG_TRY(cli_file_read(path, is_crl ? 4 * MAX_INPUT_BYTES : MAX_INPUT_BYTES, &data, &len));
    if (is_crl) {
        CCG_TRY(ccg_snp_collateral_set_crl(col, data, len));
    } else {
        CCG_TRY(ccg_snp_collateral_add_certs(col, data, len));
    }
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

static ccg_result add_trust_root(const verify_args *a, ccg_snp_verifier *v)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_collateral tmp = {0};
    ccg_snp_product product = ccg_snp_product_from_name(a->trust_root_product);
    CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown product '%s'",
                   a->trust_root_product);
    CCG_TRY(ccg_snp_collateral_init(&tmp));
    CCG_TRY(load_file_into(a->trust_root, &tmp, 0));
    CCG_ENSURE_MSG(sk_X509_num(tmp.certs) == 1, CCG_R_USAGE_INVALID, "--trust-root must hold one certificate");
    CCG_TRY(ccg_snp_verifier_add_root(v, product, sk_X509_value(tmp.certs, 0)));
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_collateral_free(&tmp);
    return result;
}

static ccg_result load_refvals(const verify_args *a, ccg_refval_set **set, ccg_refval_issuers **iss)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    CCG_TRY(cli_load_issuers(a->issuer_keys, a->issuer_key_count, iss));
    if (a->refvals != NULL) {
        CCG_TRY(cli_file_read(a->refvals, 4 * MAX_INPUT_BYTES, &text, &len));
        CCG_TRY(ccg_refval_set_parse((const char *)text, len, set));
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static ccg_result load_inputs(const verify_args *a, ccg_snp_verifier *v, ccg_snp_collateral *col,
                              ccg_snp_policy **policy)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    for (int i = 0; i < a->cert_count; i++) {
        CCG_TRY(load_file_into(a->certs[i], col, 0));
    }
    if (a->crl != NULL) {
        CCG_TRY(load_file_into(a->crl, col, 1));
    }
    if (a->policy != NULL) {
        CCG_TRY(cli_file_read(a->policy, MAX_INPUT_BYTES, &text, &len));
        CCG_TRY(ccg_snp_policy_parse((const char *)text, len, policy));
    }
    if (a->trust_root != NULL) {
        CCG_TRY(add_trust_root(a, v));
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static void print_decision(const ccg_decision *d, int json)
{
    if (json) {
        json_t *obj = ccg_decision_to_json(d);
        if (obj != NULL && d->claims != NULL) {
            json_object_set(obj, "claims", d->claims);
        }
        char *text = obj ? json_dumps(obj, JSON_INDENT(2)) : NULL;
        if (text != NULL) {
            printf("%s\n", text);
        }
        free(text);
        json_decref(obj);
        return;
    }
    printf("decision: %s\npolicy: %s v%lld\nevidence: %s\n", d->allow ? "allow" : "deny", d->policy_id,
           (long long)d->policy_version, d->evidence_digest);
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *details = json_dumps(d->reasons.items[i].details, JSON_COMPACT | JSON_SORT_KEYS);
        printf("reason: %s: %s %s\n", ccg_reason_code(d->reasons.items[i].reason),
               ccg_reason_message(d->reasons.items[i].reason), details ? details : "");
        free(details);
    }
}

static int run(const verify_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_snp_verifier *v = NULL;
    ccg_snp_collateral col = {0};
    ccg_snp_policy *policy = NULL;
    uint8_t *report = NULL;
    size_t report_len = 0;
    ccg_time now = a->now_t;
    ccg_refval_set *refvals = NULL;
    ccg_refval_issuers *issuers = NULL;
    ccg_snp_verify_opts opts = {0};
    ccg_snp_tcb_baselines baselines;
    ccg_decision d;
    ccg_decision_init(&d, "snp");
    ccg_snp_tcb_baselines_init(&baselines);

    ccg_error_clear();
    if (ccg_failed(ccg_snp_verifier_new(&v)) ||
        ccg_failed(ccg_snp_collateral_init(&col)) || ccg_failed(load_report(a, &report, &report_len)) ||
        ccg_failed(load_inputs(a, v, &col, &policy)) || ccg_failed(load_refvals(a, &refvals, &issuers)) ||
        ccg_failed(cli_load_tcb_baselines(a->baselines, a->baseline_count, &baselines)) ||
        ccg_failed(cli_collateral_from_cache(a->cache_dir, a->kds_url, a->fetch, a->product, report, report_len,
                                             &col))) {
        rc = cli_report_error("verify snp", a->json);
        goto cleanup;
    }
    ccg_decision_free(&d);
    opts.refvals = refvals;
    opts.issuers = issuers;
    opts.tcb_baselines = &baselines;
    opts.tcb_issuers = issuers; /* the operator names the keys it trusts, for both */
    if (ccg_failed(ccg_snp_verify_ex(v, report, report_len, &col, policy, &opts, now, &d))) {
        /* Unparseable evidence is bad input: exit 2 with the error, and no decision line, so what is
         * printed and the exit status agree (a decision is printed only for exit 0 and 1). */
        (void)cli_report_error("verify snp", a->json);
        rc = CLI_EXIT_USAGE; /* unparseable evidence */
        goto cleanup;
    }
    print_decision(&d, a->json);
    rc = d.allow ? CLI_EXIT_OK : CLI_EXIT_DENY;
cleanup:
    ccg_decision_free(&d);
    ccg_refval_set_free(refvals);
    ccg_refval_issuers_free(issuers);
    ccg_snp_tcb_baselines_free(&baselines);
    free(report);
    ccg_snp_policy_free(policy);
    ccg_snp_collateral_free(&col);
    ccg_snp_verifier_free(v);
    return rc;
}

int cmd_verify(int argc, char **argv)
{
    verify_args a;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"snp", "an AMD SEV-SNP attestation report against collateral and a policy"},
        {"gpu", "NVIDIA GPU evidence (SPDM report, device chain, RIMs)"},
        {"tdx", "an Intel TDX quote against Intel's collateral and a TDX policy"},
    };
    int rc = CLI_EXIT_USAGE;
    switch (cli_group("ccgate verify", "Verify attestation evidence at a given time (default: now).", subs, 3, argc,
                      argv, &rc)) {
    case 0: break;
    case 1: return cmd_verify_gpu(argc - 1, argv + 1);
    case 2: return cmd_verify_tdx(argc - 1, argv + 1);
    default: return rc;
    }
    rc = cli_parse_result(parse_args(argc - 1, argv + 1, &a), NULL);
    if (rc >= 0) {
        return rc;
    }
    return run(&a);
}
