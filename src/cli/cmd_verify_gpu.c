/* ccgate verify gpu: appraise NVIDIA GPU evidence (SPDM report and device chain, RIMs, OCSP) against a
 * GPU policy at an explicit time (gpu_appraise.h). */
#include <getopt.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/gpu_appraise.h"
#include "ccgate/x509util.h"
#include "cli.h"

#define MAX_INPUT_BYTES (4u << 20)
#define MAX_RIMS 16

typedef struct {
    const char *report;
    const char *certs;
    const char *evidence;
    const char *nonce;
    const char *now;
    ccg_time now_t; /* --now resolved (cli_now) */
    const char *trust_root;
    const char *rim_dir;
    const char *ocsp_dir;
    const char *policy;
    const char *rims[MAX_RIMS];
    size_t n_rims;
    int json;
} gpu_args;

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate verify gpu --report FILE --certs FILE [--rim FILE]... [--rim-dir DIR]\n"
            "                         [--ocsp-dir DIR] [--nonce HEX] [--now TIME] [--policy FILE] [--json]\n"
            "       ccgate verify gpu --evidence FILE.json [same options]\n"
            "\n"
            "Appraises NVIDIA GPU evidence (Hopper, Blackwell): the SPDM 1.1 GET_MEASUREMENTS request and\n"
            "response, the device certificate chain to the pinned NVIDIA Device Identity CA at --now, the\n"
            "leaf's FWID, the ECDSA P-384 signature, OCSP for the device chain, the driver and VBIOS RIMs\n"
            "(signed to the pinned NVIDIA RIM root) against the measurements, and the GPU policy.\n"
            "\n"
            "  --report FILE      the attestation report (hex text as NVIDIA's samples, or binary)\n"
            "  --certs FILE       the device chain: five PEM certificates, leaf first (its root is ignored)\n"
            "  --evidence FILE    the JSON form [{arch, certificate, evidence, nonce}] for one or more GPUs\n"
            "  --rim FILE         a RIM (signed SWID XML), used for the GPU whose driver or VBIOS version it\n"
            "                     names; may be repeated (up to %d). Each is verified; a bad one denies\n"
            "  --rim-dir DIR      the RIM store: DIR/<RIM ID>.xml or .swidtag\n"
            "  --ocsp-dir DIR     cached OCSP responses (docs/gpu-rim.md names the files)\n"
            "  --nonce HEX        the 32-byte nonce every report's signed request must carry; without it\n"
            "                     the nonce check is reported as not done, never as passed\n"
            "  --now TIME         the verification time: RFC 3339 or epoch seconds; default: the current\n"
            "                     time, printed to stderr so it can be pinned\n"
            "  --policy FILE      the GPU policy (docs/gpu-policy.md); default: ccgate-default-gpu, which\n"
            "                     requires the RIMs and OCSP\n"
            "  --trust-root FILE  trust this self-signed device root as if the policy named it in\n"
            "                     trusted_roots.gpu (software GPU test roots only)\n"
            "  --json             print the decision and every claim as JSON\n"
            "\n"
            "Exit status: 0 allow, 1 deny, 2 bad usage or malformed input.\n",
            MAX_RIMS);
}

static int parse_args(int argc, char **argv, gpu_args *a)
{
    static const struct option opts[] = {
        {"report", required_argument, 0, 'r'},   {"certs", required_argument, 0, 'c'},
        {"evidence", required_argument, 0, 'e'}, {"nonce", required_argument, 0, 'N'},
        {"now", required_argument, 0, 'n'},      {"trust-root", required_argument, 0, 't'},
        {"json", no_argument, 0, 'j'},           CCG_CLI_STD_OPTIONS,
        {"rim", required_argument, 0, 'R'},      {"rim-dir", required_argument, 0, 'D'},
        {"ocsp-dir", required_argument, 0, 'O'}, {"policy", required_argument, 0, 'P'},
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {"ccgate verify gpu", usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'r': a->report = optarg; break;
        case 'c': a->certs = optarg; break;
        case 'e': a->evidence = optarg; break;
        case 'N': a->nonce = optarg; break;
        case 'n': a->now = optarg; break;
        case 't': a->trust_root = optarg; break;
        case 'j': a->json = 1; break;
        case 'D': a->rim_dir = optarg; break;
        case 'O': a->ocsp_dir = optarg; break;
        case 'P': a->policy = optarg; break;
        case 'R':
            if (a->n_rims == MAX_RIMS) {
                return ccg_cli_usage_error(&cli, "at most %d --rim files", MAX_RIMS);
            }
            a->rims[a->n_rims++] = optarg;
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if ((a->evidence != NULL) == (a->report != NULL || a->certs != NULL) ||
        (a->evidence == NULL && (a->report == NULL || a->certs == NULL))) {
        return ccg_cli_usage_error(&cli, "either --report with --certs, or --evidence, is required");
    }
    return cli_now(&cli, a->now, &a->now_t);
}

/* Everything read from files, owned here. */
typedef struct {
    ccg_gpu_policy *policy;
    ccg_gpu_verifier *verifier;
    ccg_gpu_evidence_list list;
    uint8_t *rim_bytes[MAX_RIMS];
    ccg_gpu_rim_doc rims[MAX_RIMS];
    size_t n_rims;
} gpu_inputs;

static void inputs_free(gpu_inputs *in)
{
    ccg_gpu_policy_free(in->policy);
    ccg_gpu_verifier_free(in->verifier);
    ccg_gpu_evidence_list_free(&in->list);
    for (size_t i = 0; i < in->n_rims; i++) {
        free(in->rim_bytes[i]);
    }
}

static ccg_result load_policy(const gpu_args *a, gpu_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    if (a->policy == NULL) {
        CCG_TRY(ccg_gpu_policy_default(&in->policy));
    } else {
        CCG_TRY(cli_file_read(a->policy, MAX_INPUT_BYTES, &text, &len));
        CCG_TRY(ccg_gpu_policy_parse((const char *)text, len, &in->policy));
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

/* --trust-root: the policy's GPU test root, named on the command line. */
static ccg_result load_trust_root(const char *path, ccg_gpu_policy *p)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(certs);
    CCG_TRY(cli_file_read(path, MAX_INPUT_BYTES, &data, &len));
    CCG_TRY(ccg_x509_load_bundle(data, len, certs));
    CCG_ENSURE_MSG(sk_X509_num(certs) == 1, CCG_R_USAGE_INVALID, "--trust-root must hold one certificate");
    X509_free(p->gpu_test_root);
    p->gpu_test_root = sk_X509_shift(certs);
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    free(data);
    return result;
}

/* --report and --certs as one evidence item; its nonce is the report's own signed nonce. */
static ccg_result load_report_files(const gpu_args *a, ccg_gpu_evidence_list *list)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    ccg_gpu_report *parsed = calloc(1, sizeof(*parsed));
    CCG_ENSURE_ALLOC(parsed);
    list->items = calloc(1, sizeof(*list->items));
    CCG_ENSURE_ALLOC(list->items);
    list->count = 1;
    ccg_gpu_evidence_item *item = &list->items[0];
    CCG_TRY(cli_file_read(a->report, MAX_INPUT_BYTES, &raw, &raw_len));
    CCG_TRY(ccg_gpu_report_decode(raw, raw_len, &item->evidence, &item->evidence_len));
    CCG_TRY(cli_file_read(a->certs, MAX_INPUT_BYTES, &item->certificate, &item->certificate_len));
    /* An unparsable report keeps a zero nonce: the appraisal reports why it cannot be parsed. */
    if (ccg_ok(ccg_gpu_report_parse(item->evidence, item->evidence_len, parsed))) {
        memcpy(item->nonce, parsed->nonce, CCG_GPU_NONCE_SIZE);
    }
    ccg_error_clear();
    result = CCG_SUCCESS;
cleanup:
    free(raw);
    free(parsed);
    return result;
}

static ccg_result load_inputs(const gpu_args *a, gpu_inputs *in)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    CCG_TRY(load_policy(a, in));
    if (a->trust_root != NULL) {
        CCG_TRY(load_trust_root(a->trust_root, in->policy));
    }
    CCG_TRY(ccg_gpu_verifier_new(&in->verifier));
    if (in->policy->gpu_test_root != NULL) {
        CCG_TRY(ccg_gpu_verifier_add_test_root(in->verifier, in->policy->gpu_test_root));
    }
    for (size_t i = 0; i < a->n_rims; i++) {
        CCG_TRY(cli_file_read(a->rims[i], CCG_GPU_RIM_MAX_BYTES + 1, &in->rim_bytes[i], &in->rims[i].len));
        in->rims[i].xml = in->rim_bytes[i];
        in->n_rims = i + 1;
    }
    if (a->evidence != NULL) {
        CCG_TRY(cli_file_read(a->evidence, 2 * MAX_INPUT_BYTES, &text, &len));
        CCG_TRY(ccg_gpu_evidence_json_parse((const char *)text, len, &in->list));
    } else {
        CCG_TRY(load_report_files(a, &in->list));
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static const char *claim(json_t *gpu, const char *key)
{
    const char *s = json_string_value(json_object_get(gpu, key));
    return s != NULL && *s ? s : "-";
}

static const char *check(json_t *gpu, const char *key)
{
    const char *s = json_string_value(json_object_get(json_object_get(gpu, "checks"), key));
    return s != NULL ? s : "not_done";
}

static void print_text(const ccg_gpu_appraisal *ap)
{
    const ccg_decision *d = &ap->decision;
    size_t i;
    json_t *gpu;
    printf("decision: %s\npolicy: %s version %lld\nevidence: %s\n", d->allow ? "allow" : "deny", d->policy_id,
           (long long)d->policy_version, d->evidence_digest);
    json_array_foreach(json_object_get(d->claims, "gpus"), i, gpu) {
        printf("gpu %zu: %s driver %s vbios %s ueid %s mode %s\n", i, claim(gpu, "arch"), claim(gpu, "driver_version"),
               claim(gpu, "vbios_version"), claim(gpu, "ueid"), claim(gpu, "mode"));
        printf("  chain: %s, trust root: %s, fwid: %s, signature: %s, nonce: %s\n", check(gpu, "chain"),
               check(gpu, "trust_root"), check(gpu, "fwid"), check(gpu, "signature"),
               strcmp(check(gpu, "nonce"), "not_done") == 0 ? "not done (no --nonce)" : check(gpu, "nonce"));
        json_t *match = json_object_get(json_object_get(gpu, "rim"), "match");
        printf("  ocsp: %s, measurements: %s", check(gpu, "ocsp"), check(gpu, "measurements"));
        if (match != NULL) {
            char *idx = json_dumps(json_object_get(match, "mismatched_indexes"), JSON_COMPACT);
            printf(" (%lld of %lld golden matched, mismatched %s)",
                   (long long)json_integer_value(json_object_get(match, "matched")),
                   (long long)json_integer_value(json_object_get(match, "golden")), idx ? idx : "[]");
            free(idx);
        }
        printf(", policy: %s\n", check(gpu, "policy"));
    }
    for (size_t j = 0; j < d->reasons.count; j++) {
        char *details = json_dumps(d->reasons.items[j].details, JSON_COMPACT | JSON_SORT_KEYS);
        printf("reason: %s: %s %s\n", ccg_reason_code(d->reasons.items[j].reason),
               ccg_reason_message(d->reasons.items[j].reason), details ? details : "");
        free(details);
    }
}

static void print_json(const ccg_gpu_appraisal *ap)
{
    json_t *top = ccg_decision_to_json(&ap->decision);
    if (top != NULL) {
        json_object_set(top, "claims", ap->decision.claims);
    }
    char *text = top != NULL ? json_dumps(top, JSON_INDENT(2)) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
    }
    free(text);
    json_decref(top);
}

/* 2 when a GPU's evidence could not be parsed (its first reason decides), else 1 deny, 0 allow. */
static int finish(const gpu_args *a, const ccg_gpu_appraisal *ap)
{
    const ccg_decision *d = &ap->decision;
    if (a->json) {
        print_json(ap);
    } else {
        print_text(ap);
    }
    if (ap->unparsed >= 0) {
        ccg_reason reason = CCG_R_INTERNAL_ERROR;
        for (size_t j = 0; j < d->reasons.count && reason == CCG_R_INTERNAL_ERROR; j++) {
            json_t *g = json_object_get(d->reasons.items[j].details, "gpu");
            reason = json_integer_value(g) == ap->unparsed && g != NULL ? d->reasons.items[j].reason : reason;
        }
        fprintf(stderr, "ccgate: verify gpu: gpu %d: %s: %s\n", ap->unparsed, ccg_reason_code(reason),
                ccg_reason_message(reason));
        return cli_exit_for_reason(reason);
    }
    return d->allow ? CLI_EXIT_OK : CLI_EXIT_DENY;
}

static int run(const gpu_args *a)
{
    int rc = CLI_EXIT_USAGE;
    ccg_time now = 0;
    uint8_t nonce[CCG_GPU_NONCE_SIZE];
    const uint8_t *nonces[CCG_GPU_MAX_GPUS];
    gpu_inputs in;
    ccg_gpu_appraisal ap;
    memset(&in, 0, sizeof(in));
    memset(&ap, 0, sizeof(ap));
    ccg_error_clear();
    now = a->now_t;
    if (a->nonce != NULL && (strlen(a->nonce) != 2 * CCG_GPU_NONCE_SIZE ||
                             ccg_failed(ccg_hex_decode_exact(a->nonce, nonce, sizeof(nonce))))) {
        ccg_error_set(CCG_R_USAGE_INVALID, __FILE__, __LINE__, "--nonce must be 64 hex digits");
        rc = cli_report_error("verify gpu", a->json);
        goto cleanup;
    }
    if (ccg_failed(load_inputs(a, &in))) {
        rc = cli_report_error("verify gpu", a->json);
        goto cleanup;
    }
    for (size_t i = 0; i < CCG_GPU_MAX_GPUS; i++) {
        nonces[i] = a->nonce != NULL ? nonce : NULL;
    }
    ccg_gpu_rim_store store = {.dir = a->rim_dir};
    ccg_gpu_ocsp_config ocsp = {.cache_dir = a->ocsp_dir};
    ccg_gpu_collateral col = {.verifier = in.verifier,
                              .rim_store = a->rim_dir != NULL ? &store : NULL,
                              .rims = in.rims,
                              .n_rims = in.n_rims,
                              .ocsp = a->ocsp_dir != NULL ? &ocsp : NULL};
    ccg_gpu_appraisal_input input = {.items = in.list.items, .count = in.list.count, .expected_nonces = nonces};
    if (ccg_failed(ccg_gpu_appraise(in.policy, &col, &input, now, &ap))) {
        rc = cli_report_error("verify gpu", a->json);
        goto cleanup;
    }
    rc = finish(a, &ap);
cleanup:
    ccg_gpu_appraisal_free(&ap);
    inputs_free(&in);
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
