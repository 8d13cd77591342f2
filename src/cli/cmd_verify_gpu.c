/* ccgate verify gpu: verify NVIDIA GPU evidence (SPDM report and device chain) at an explicit time. */
#include <getopt.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_verify.h"
#include "ccgate/x509util.h"
#include "cli.h"

#define MAX_INPUT_BYTES (4u << 20)

typedef struct {
    const char *report;
    const char *certs;
    const char *evidence;
    const char *nonce;
    const char *now;
    const char *trust_root;
    int json;
} gpu_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ccgate verify gpu --report FILE --certs FILE [--nonce HEX] --now RFC3339 [--json]\n"
            "       ccgate verify gpu --evidence FILE.json [--nonce HEX] --now RFC3339 [--json]\n"
            "                         [--trust-root FILE]\n"
            "\n"
            "Verifies NVIDIA GPU evidence (Hopper, Blackwell): the SPDM 1.1 GET_MEASUREMENTS request and\n"
            "response, the device certificate chain to the pinned NVIDIA Device Identity CA at --now, the\n"
            "leaf's FWID against the report's, and the ECDSA P-384 signature over request and response.\n"
            "\n"
            "  --report FILE      the attestation report (hex text as NVIDIA's samples, or binary)\n"
            "  --certs FILE       the device chain: five PEM certificates, leaf first (its root is ignored)\n"
            "  --evidence FILE    the JSON form [{arch, certificate, evidence, nonce}] for one or more GPUs\n"
            "  --nonce HEX        the 32-byte nonce every report's signed request must carry; without it\n"
            "                     the nonce check is reported as not done, never as passed\n"
            "  --now RFC3339      the verification time, e.g. 2025-01-01T00:00:00Z (required)\n"
            "  --trust-root FILE  also trust this self-signed root (software GPU test roots only; the\n"
            "                     pinned NVIDIA root is always trusted and never replaced)\n"
            "  --json             print each GPU's decision and every claim as JSON\n"
            "\n"
            "Not yet supported (refused until wired): --rim, --rim-dir, --ocsp-dir, --policy.\n"
            "\n"
            "Exit status: 0 allow, 1 deny, 2 bad usage or malformed input.\n");
}

/* HOOK (issue 11): RIM comparison, OCSP collateral and the GPU release policy are wired here. Until
 * then the options are refused, never silently ignored. */
static int not_yet_supported(const char *opt)
{
    fprintf(stderr, "ccgate verify gpu: %s is not yet supported\n", opt);
    return -1;
}

static int parse_args(int argc, char **argv, gpu_args *a)
{
    static const struct option opts[] = {
        {"report", required_argument, 0, 'r'},   {"certs", required_argument, 0, 'c'},
        {"evidence", required_argument, 0, 'e'}, {"nonce", required_argument, 0, 'N'},
        {"now", required_argument, 0, 'n'},      {"trust-root", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},           {"help", no_argument, 0, 'h'},
        {"rim", required_argument, 0, 'R'},      {"rim-dir", required_argument, 0, 'D'},
        {"ocsp-dir", required_argument, 0, 'O'}, {"policy", required_argument, 0, 'P'},
        {0, 0, 0, 0},
    };
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'r': a->report = optarg; break;
        case 'c': a->certs = optarg; break;
        case 'e': a->evidence = optarg; break;
        case 'N': a->nonce = optarg; break;
        case 'n': a->now = optarg; break;
        case 't': a->trust_root = optarg; break;
        case 'j': a->json = 1; break;
        case 'R': return not_yet_supported("--rim");
        case 'D': return not_yet_supported("--rim-dir");
        case 'O': return not_yet_supported("--ocsp-dir");
        case 'P': return not_yet_supported("--policy");
        case 'h': usage(stdout); return 1;
        default: return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ccgate verify gpu: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (a->now == NULL || (a->evidence != NULL) == (a->report != NULL || a->certs != NULL) ||
        (a->evidence == NULL && (a->report == NULL || a->certs == NULL))) {
        fprintf(stderr, "ccgate verify gpu: --now and either --report with --certs, or --evidence, are required\n");
        return -1;
    }
    return 0;
}

typedef struct {
    ccg_gpu_result *results;
    ccg_decision *decisions;
    int *parsed_ok;
    size_t count;
} gpu_outcome;

static ccg_result outcome_init(gpu_outcome *o, size_t count)
{
    ccg_result result = CCG_FAILURE;
    o->count = count;
    o->results = calloc(count, sizeof(*o->results));
    o->decisions = calloc(count, sizeof(*o->decisions));
    o->parsed_ok = calloc(count, sizeof(*o->parsed_ok));
    CCG_ENSURE_ALLOC(o->results);
    CCG_ENSURE_ALLOC(o->decisions);
    CCG_ENSURE_ALLOC(o->parsed_ok);
    for (size_t i = 0; i < count; i++) {
        ccg_decision_init(&o->decisions[i], "gpu");
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void outcome_free(gpu_outcome *o)
{
    for (size_t i = 0; o->decisions != NULL && i < o->count; i++) {
        ccg_decision_free(&o->decisions[i]);
    }
    free(o->results);
    free(o->decisions);
    free(o->parsed_ok);
}

static ccg_result add_trust_root(const char *path, ccg_gpu_verifier *v)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    CCG_TRY(ccg_file_read(path, MAX_INPUT_BYTES, &data, &len));
    CCG_TRY(ccg_x509_load_bundle(data, len, certs));
    CCG_ENSURE_MSG(sk_X509_num(certs) == 1, CCG_R_USAGE_INVALID, "--trust-root must hold one certificate");
    CCG_TRY(ccg_gpu_verifier_add_test_root(v, sk_X509_value(certs, 0)));
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    free(data);
    return result;
}

static ccg_result verify_report_files(const gpu_args *a, ccg_gpu_verifier *v, const uint8_t *nonce, ccg_time now,
                                      gpu_outcome *o)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL, *report = NULL, *chain = NULL;
    size_t raw_len = 0, report_len = 0, chain_len = 0;
    ccg_gpu_verify_opts opts = {.expected_nonce = nonce};
    CCG_TRY(ccg_file_read(a->report, MAX_INPUT_BYTES, &raw, &raw_len));
    CCG_TRY(ccg_gpu_report_decode(raw, raw_len, &report, &report_len));
    CCG_TRY(ccg_file_read(a->certs, MAX_INPUT_BYTES, &chain, &chain_len));
    CCG_TRY(outcome_init(o, 1));
    ccg_decision_free(&o->decisions[0]);
    o->parsed_ok[0] = ccg_ok(ccg_gpu_verify(v, report, report_len, chain, chain_len, &opts, now, &o->results[0],
                                            &o->decisions[0]));
    result = CCG_SUCCESS;
cleanup:
    free(raw);
    free(report);
    free(chain);
    return result;
}

static ccg_result verify_evidence_file(const gpu_args *a, ccg_gpu_verifier *v, const uint8_t *nonce, ccg_time now,
                                       gpu_outcome *o)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_gpu_evidence_list list = {0};
    CCG_TRY(ccg_file_read(a->evidence, 2 * MAX_INPUT_BYTES, &text, &len));
    CCG_TRY(ccg_gpu_evidence_json_parse((const char *)text, len, &list));
    CCG_TRY(outcome_init(o, list.count));
    for (size_t i = 0; i < list.count; i++) {
        ccg_decision_free(&o->decisions[i]);
        o->parsed_ok[i] =
            ccg_ok(ccg_gpu_verify_item(v, &list.items[i], nonce, now, &o->results[i], &o->decisions[i]));
    }
    result = CCG_SUCCESS;
cleanup:
    ccg_gpu_evidence_list_free(&list);
    free(text);
    return result;
}

static void print_text(const gpu_outcome *o, int allow)
{
    printf("decision: %s\n", allow ? "allow" : "deny");
    for (size_t i = 0; i < o->count; i++) {
        const ccg_gpu_result *r = &o->results[i];
        const ccg_decision *d = &o->decisions[i];
        printf("gpu %zu: %s %s", i, d->allow ? "allow" : "deny", ccg_gpu_arch_name(r->arch));
        if (r->parsed) {
            printf(" driver %s vbios %s ueid %s", r->report.driver_version[0] ? r->report.driver_version : "-",
                   r->report.vbios_version[0] ? r->report.vbios_version : "-", r->ueid[0] ? r->ueid : "-");
        }
        printf("\n  chain: %s, fwid: %s, signature: %s, nonce: %s\n  evidence: %s\n", ccg_gpu_check_name(r->chain),
               ccg_gpu_check_name(r->fwid), ccg_gpu_check_name(r->signature),
               r->nonce == CCG_GPU_CHECK_NOT_DONE ? "not done (no --nonce)" : ccg_gpu_check_name(r->nonce),
               d->evidence_digest);
        for (size_t j = 0; j < d->reasons.count; j++) {
            char *details = json_dumps(d->reasons.items[j].details, JSON_COMPACT | JSON_SORT_KEYS);
            printf("  reason: %s: %s %s\n", ccg_reason_code(d->reasons.items[j].reason),
                   ccg_reason_message(d->reasons.items[j].reason), details ? details : "");
            free(details);
        }
    }
}

static void print_json(const gpu_outcome *o, int allow)
{
    json_t *gpus = json_array();
    for (size_t i = 0; gpus != NULL && i < o->count; i++) {
        json_t *entry = ccg_decision_to_json(&o->decisions[i]);
        if (entry != NULL) {
            json_object_set_new(entry, "claims", ccg_gpu_result_json(&o->results[i]));
        }
        json_array_append_new(gpus, entry);
    }
    json_t *top = json_pack("{s:s, s:o}", "decision", allow ? "allow" : "deny", "gpus", gpus);
    char *text = top != NULL ? json_dumps(top, JSON_INDENT(2)) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
    }
    free(text);
    json_decref(top);
}

/* The exit code: 2 when any GPU's evidence could not be parsed, else 1 when any was denied. */
static int finish(const gpu_args *a, const gpu_outcome *o)
{
    int allow = o->count > 0, unparsed = -1;
    for (size_t i = 0; i < o->count; i++) {
        allow = allow && o->decisions[i].allow;
        if (!o->parsed_ok[i] && unparsed < 0) {
            unparsed = (int)i;
        }
    }
    if (a->json) {
        print_json(o, allow);
    } else {
        print_text(o, allow);
    }
    if (unparsed >= 0) {
        const ccg_decision *d = &o->decisions[unparsed];
        ccg_reason reason = d->reasons.count > 0 ? d->reasons.items[0].reason : CCG_R_INTERNAL_ERROR;
        fprintf(stderr, "ccgate: verify gpu: gpu %d: %s: %s\n", unparsed, ccg_reason_code(reason),
                ccg_reason_message(reason));
        return cli_exit_for_reason(reason);
    }
    return allow ? CLI_EXIT_OK : CLI_EXIT_DENY;
}

static int run(const gpu_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_gpu_verifier *v = NULL;
    ccg_time now = 0;
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    gpu_outcome o = {0};
    ccg_error_clear();
    if (ccg_failed(ccg_time_parse_rfc3339(a->now, &now)) || ccg_failed(ccg_gpu_verifier_new(&v))) {
        rc = cli_report_error("verify gpu", a->json);
        goto cleanup;
    }
    if (a->nonce != NULL && (strlen(a->nonce) != 2 * CCG_GPU_NONCE_SIZE ||
                             ccg_failed(ccg_hex_decode_exact(a->nonce, nonce, sizeof(nonce))))) {
        ccg_error_set(CCG_R_USAGE_INVALID, __FILE__, __LINE__, "--nonce must be 64 hex digits");
        rc = cli_report_error("verify gpu", a->json);
        goto cleanup;
    }
    if ((a->trust_root != NULL && ccg_failed(add_trust_root(a->trust_root, v))) ||
        ccg_failed(a->evidence != NULL ? verify_evidence_file(a, v, a->nonce ? nonce : NULL, now, &o)
                                       : verify_report_files(a, v, a->nonce ? nonce : NULL, now, &o))) {
        rc = cli_report_error("verify gpu", a->json);
        goto cleanup;
    }
    rc = finish(a, &o);
cleanup:
    outcome_free(&o);
    ccg_gpu_verifier_free(v);
    return rc;
}

int cmd_verify_gpu(int argc, char **argv)
{
    gpu_args a;
    memset(&a, 0, sizeof(a));
    int rc = cli_parse_result(parse_args(argc, argv, &a), usage);
    if (rc >= 0) {
        return rc;
    }
    return run(&a);
}
