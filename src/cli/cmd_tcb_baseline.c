/* ccgate tcb-baseline: create, sign and verify the signed SEV-SNP TCB baselines the key-release
 * authority maintains (docs/snp-tcb-baseline.md). */
#include <getopt.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_tcb_baseline.h"
#include "cli.h"

#define BASELINE_FILE_MAX (1u << 20)
#define MAX_ADVISORY_ARGS 64

static const char *g_name = "ccgate tcb-baseline"; /* the full name of the subcommand being run */
static const char *g_allowed; /* its options (cli_check_option) */

static void usage(FILE *out)
{
    /* The forms of every subcommand, then what they share; cli_usage_for picks this one's forms. */
    char *text = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&text, &len);
    if (m == NULL) {
        return;
    }
    fprintf(m,
            "       ccgate tcb-baseline create --product milan|genoa|turin --baseline-version N\n"
            "                                  --not-before T --not-after T\n"
            "                                  --up-to-date LEVELS [--advisory ID:LEVELS...] [--out FILE]\n"
            "       ccgate tcb-baseline sign   --in FILE --key PRIVATE.pem --issuer ID [--out FILE]\n"
            "       ccgate tcb-baseline verify --in FILE --issuer-key ID=PUBLIC.pem... [--now T] [--json]\n"
            "\n"
            "A TCB baseline says, for one product, which TCB counts as up to date and which security\n"
            "advisories apply below given component levels (docs/snp-tcb-baseline.md). The key-release\n"
            "authority creates one per product, signs it with an ECDSA P-384 or Ed25519 key over its RFC 8785\n"
            "form (as reference values are signed), and gives it to verifiers: `ccgate verify snp\n"
            "--tcb-baseline FILE --issuer-key ID=PUBLIC.pem`, or the key broker's \"tcb_baselines\".\n"
            "\n"
            "  LEVELS               comma-separated component=level pairs, each level 0-255:\n"
            "                       bootloader, tee, snp, microcode, and fmc on Turin (all of them for\n"
            "                       --up-to-date), e.g. bootloader=10,tee=0,snp=23,microcode=84\n"
            "  --advisory ID:LEVELS the advisory ID applies when a listed component is below its level,\n"
            "                       e.g. AMD-SB-3019:snp=22 (repeat; at most %d)\n"
            "  verify               checks the document, its signature by a trusted issuer and its validity\n"
            "                       at --now\n"
            "  --baseline-version N the baseline's version (the older spelling --version N still works)\n"
            "  --now T              default: the current time, printed to stderr so it can be pinned\n"
            "  --out FILE           write there instead of standard output ('-': standard output)\n"
            "  --json               print the result as JSON\n"
            "\n"
            "Times are RFC 3339 (--now also takes epoch seconds). Exit status: 0 written/valid, 1 refused, 2 bad usage or input.\n",
            MAX_ADVISORY_ARGS);
    fclose(m);
    cli_usage_for(out, g_name, text);
    free(text);
}

typedef struct {
    const char *product, *version, *not_before, *not_after, *up_to_date, *out, *in, *key, *issuer, *now;
    ccg_time now_t; /* --now resolved for verify (cli_now) */
    const char *advisories[MAX_ADVISORY_ARGS];
    int advisory_count;
    const char *issuer_keys[16];
    int issuer_key_count;
    int json;
} baseline_args;

static int parse(int argc, char **argv, baseline_args *a)
{
    static const struct option opts[] = {
        {"product", required_argument, 0, 'p'},    {"baseline-version", required_argument, 0, 'v'}, {"version", optional_argument, 0, 'v'},
        {"not-before", required_argument, 0, 'B'}, {"not-after", required_argument, 0, 'A'},
        {"up-to-date", required_argument, 0, 'u'}, {"advisory", required_argument, 0, 'a'},
        {"out", required_argument, 0, 'o'},        {"in", required_argument, 0, 'I'},
        {"key", required_argument, 0, 'k'},        {"issuer", required_argument, 0, 's'},
        {"now", required_argument, 0, 'n'},        {"issuer-key", required_argument, 0, 'K'},
        {"json", no_argument, 0, 'j'},             CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        if ((c != 'v' || optarg != NULL) && cli_check_option(&cli, c, g_allowed) != 0) { /* bare --version: below */
            return CCG_CLI_EXIT_2;
        }
        switch (c) {
        case 'p': a->product = optarg; break;
        case 'v':
            if ((c = cli_legacy_version(&cli, argc, argv, &a->version)) != 0) {
                return c; /* --version alone: the program's version */
            }
            break;
        case 'B': a->not_before = optarg; break;
        case 'A': a->not_after = optarg; break;
        case 'u': a->up_to_date = optarg; break;
        case 'a':
            if (a->advisory_count == MAX_ADVISORY_ARGS) {
                return ccg_cli_usage_error(&cli, "at most %d --advisory", MAX_ADVISORY_ARGS);
            }
            a->advisories[a->advisory_count++] = optarg;
            break;
        case 'o': a->out = optarg; break;
        case 'I': a->in = optarg; break;
        case 'k': a->key = optarg; break;
        case 's': a->issuer = optarg; break;
        case 'n': a->now = optarg; break;
        case 'K':
            if (a->issuer_key_count == 16) {
                return ccg_cli_usage_error(&cli, "at most 16 --issuer-key");
            }
            a->issuer_keys[a->issuer_key_count++] = optarg;
            break;
        case 'j': a->json = 1; break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

/* "name=level,name=level": an object of integers; names and ranges are the baseline parser's to check. */
static ccg_result parse_levels(const char *text, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    char buf[256], *save = NULL, *item;
    json_t *obj = json_object();
    *out = NULL;
    CCG_ENSURE_ALLOC(obj);
    CCG_ENSURE_MSG(strlen(text) < sizeof(buf), CCG_R_USAGE_INVALID, "component levels are too long");
    snprintf(buf, sizeof(buf), "%s", text);
    for (item = strtok_r(buf, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '='), *end = NULL;
        long level = eq != NULL ? strtol(eq + 1, &end, 10) : -1;
        CCG_ENSURE_MSG(eq != NULL && eq > item && end != eq + 1 && *end == '\0' && level >= 0 && level <= 255,
                       CCG_R_USAGE_INVALID, "'%.64s' is not component=level (0-255)", item);
        *eq = '\0';
        CCG_ENSURE_ALLOC(json_object_set_new(obj, item, json_integer(level)) == 0 ? obj : NULL);
    }
    *out = obj;
    obj = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(obj);
    return result;
}

/* "ID:levels" */
static ccg_result parse_advisory(const char *text, json_t *arr)
{
    ccg_result result = CCG_FAILURE;
    const char *colon = strchr(text, ':');
    char id[CCG_SNP_ADVISORY_ID_MAX];
    json_t *below = NULL;
    CCG_ENSURE_MSG(colon != NULL && colon > text && (size_t)(colon - text) < sizeof(id), CCG_R_USAGE_INVALID,
                   "--advisory takes ID:component=level,..., got '%.64s'", text);
    snprintf(id, sizeof(id), "%.*s", (int)(colon - text), text);
    CCG_TRY(parse_levels(colon + 1, &below));
    CCG_ENSURE_ALLOC(json_array_append_new(arr, json_pack("{s:s, s:o}", "id", id, "below", below)) == 0 ? arr : NULL);
    below = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(below);
    return result;
}

/* Checks doc is a baseline by parsing its text. */
static ccg_result validate(const json_t *doc)
{
    ccg_result result = CCG_FAILURE;
    char *text = json_dumps(doc, JSON_COMPACT);
    ccg_snp_tcb_baseline *b = NULL;
    CCG_ENSURE_ALLOC(text);
    CCG_TRY(ccg_snp_tcb_baseline_parse(text, strlen(text), &b));
    result = CCG_SUCCESS;
cleanup:
    ccg_snp_tcb_baseline_free(b);
    free(text);
    return result;
}

static ccg_result build(const baseline_args *a, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    char *end = NULL;
    long long version = strtoll(a->version, &end, 10);
    ccg_snp_product product = ccg_snp_product_from_name(a->product);
    json_t *doc = NULL, *levels = NULL, *advisories = json_array();
    *out = NULL;
    CCG_ENSURE_ALLOC(advisories);
    CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown product '%s'", a->product);
    CCG_ENSURE_MSG(end != a->version && *end == '\0' && version >= 1, CCG_R_USAGE_INVALID, "--version must be >= 1");
    CCG_TRY(parse_levels(a->up_to_date, &levels));
    for (int i = 0; i < a->advisory_count; i++) {
        CCG_TRY(parse_advisory(a->advisories[i], advisories));
    }
    doc = json_pack("{s:s, s:I, s:s, s:s, s:O, s:O}", "product", ccg_snp_product_name(product), "version",
                    (json_int_t)version, "not_before", a->not_before, "not_after", a->not_after, "up_to_date", levels,
                    "advisories", advisories);
    CCG_ENSURE_ALLOC(doc);
    CCG_TRY(validate(doc));
    *out = doc;
    doc = NULL;
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    json_decref(levels);
    json_decref(advisories);
    return result;
}

static int do_create(const baseline_args *a)
{
    json_t *doc = NULL;
    int rc = CLI_EXIT_USAGE;
    ccg_error_clear();
    if (a->product == NULL || a->version == NULL || a->not_before == NULL || a->not_after == NULL ||
        a->up_to_date == NULL) {
        fprintf(stderr, "ccgate tcb-baseline create: --product, --version, --not-before, --not-after and "
                        "--up-to-date are required\n");
        return rc;
    }
    if (ccg_failed(build(a, &doc))) {
        rc = cli_report_error("tcb-baseline create", a->json);
    } else {
        rc = cli_write_json(doc, a->out, "tcb-baseline create");
    }
    json_decref(doc);
    return rc;
}

static ccg_result load_doc(const char *path, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    json_error_t err;
    CCG_TRY(cli_file_read(path, BASELINE_FILE_MAX, &text, &len));
    *out = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(*out != NULL, CCG_R_SNP_TCB_BASELINE_MALFORMED, "%s line %d: %.100s", path, err.line, err.text);
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static int do_sign(const baseline_args *a)
{
    json_t *doc = NULL;
    EVP_PKEY *key = NULL;
    FILE *f = a->key ? cli_fopen_read(a->key) : NULL;
    int rc = CLI_EXIT_USAGE;
    if (f != NULL) {
        setvbuf(f, NULL, _IONBF, 0); /* no copy of the private key left in a freed stdio buffer */
    }
    ccg_error_clear();
    if (a->in == NULL || a->issuer == NULL || a->key == NULL) {
        fprintf(stderr, "ccgate tcb-baseline sign: --in, --key and --issuer are required\n");
        goto cleanup;
    }
    if (f == NULL) {
        ccg_error_set(CCG_R_IO_READ_FAILED, __FILE__, __LINE__, "cannot open the key %s", a->key);
        rc = cli_report_error("tcb-baseline sign", a->json);
        goto cleanup;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (key == NULL) {
        fprintf(stderr, "ccgate tcb-baseline sign: %s is not a PEM private key\n", a->key);
        goto cleanup;
    }
    /* Signed after checking, and checked again: a signature only ever covers a valid baseline. */
    if (ccg_failed(load_doc(a->in, &doc)) || ccg_failed(validate(doc)) ||
        ccg_failed(ccg_refval_sign(doc, key, a->issuer)) || ccg_failed(validate(doc))) {
        rc = cli_report_error("tcb-baseline sign", a->json);
        goto cleanup;
    }
    rc = cli_write_json(doc, a->out, "tcb-baseline sign");
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    EVP_PKEY_free(key);
    json_decref(doc);
    return rc;
}

static void print_check(const ccg_decision *d, const ccg_snp_tcb_baseline *b, int json)
{
    if (json) {
        json_t *obj = ccg_decision_to_json(d);
        char *text = NULL;
        if (obj != NULL) {
            json_object_set_new(obj, "decision", json_string(d->allow ? "valid" : "refused"));
            json_object_set_new(obj, "product", json_string(ccg_snp_product_name(b->product)));
            json_object_set_new(obj, "version", json_integer(b->version));
            text = json_dumps(obj, JSON_INDENT(2));
        }
        if (text != NULL) {
            printf("%s\n", text);
        }
        free(text);
        json_decref(obj);
        return;
    }
    printf("decision: %s\nbaseline: %s v%lld, issuer %s, %zu advisories\n", d->allow ? "valid" : "refused",
           ccg_snp_product_name(b->product), (long long)b->version, b->issuer[0] ? b->issuer : "(none)",
           b->advisory_count);
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *det = json_dumps(d->reasons.items[i].details, JSON_COMPACT | JSON_SORT_KEYS);
        printf("reason: %s: %s %s\n", ccg_reason_code(d->reasons.items[i].reason),
               ccg_reason_message(d->reasons.items[i].reason), det ? det : "");
        free(det);
    }
}

static int do_verify(const baseline_args *a)
{
    ccg_refval_issuers *iss = NULL;
    ccg_snp_tcb_baseline *b = NULL;
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_time now = 0;
    ccg_decision d;
    int rc = CLI_EXIT_USAGE;
    ccg_decision_init(&d, "tcb-baseline");
    ccg_error_clear();
    if (a->in == NULL) {
        fprintf(stderr, "ccgate tcb-baseline verify: --in is required\n");
        goto cleanup;
    }
    now = a->now_t;
    if (
        ccg_failed(cli_load_issuers(a->issuer_keys, a->issuer_key_count, &iss)) ||
        ccg_failed(cli_file_read(a->in, BASELINE_FILE_MAX, &text, &len)) ||
        ccg_failed(ccg_snp_tcb_baseline_parse((const char *)text, len, &b))) {
        rc = cli_report_error("tcb-baseline verify", a->json);
        goto cleanup;
    }
    d.allow = ccg_snp_tcb_baseline_check(b, iss, now, &d);
    print_check(&d, b, a->json);
    rc = d.allow ? CLI_EXIT_OK : CLI_EXIT_DENY;
cleanup:
    ccg_decision_free(&d);
    ccg_snp_tcb_baseline_free(b);
    ccg_refval_issuers_free(iss);
    free(text);
    return rc;
}

int cmd_tcb_baseline(int argc, char **argv)
{
    baseline_args a;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"create", "write an unsigned TCB baseline for one product"},
        {"sign", "sign a baseline with the authority's key"},
        {"verify", "check a signed baseline's signature and validity at --now"},
    };
    char name[64];
    int rc = CLI_EXIT_USAGE;
    int k = cli_group("ccgate tcb-baseline", "Create, sign and verify the authority's signed SEV-SNP TCB baselines.",
                      subs, 3, argc, argv, &rc);
    if (k < 0) {
        return rc;
    }
    const char *sub = subs[k].word;
    g_name = cli_subname(name, sizeof(name), "ccgate tcb-baseline", sub);
    static const char *const allowed[][2] = {{"create", "pvBAuaoj"}, {"sign", "Iksoj"}, {"verify", "IKnj"}};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strcmp(allowed[i][0], sub) == 0) {
            g_allowed = allowed[i][1];
        }
    }
    rc = cli_parse_result(parse(argc - 1, argv + 1, &a), NULL);
    if (rc >= 0) {
        return rc;
    }
    if (strcmp(sub, "verify") == 0) {
        const ccg_cli cli = {g_name, usage, NULL, NULL};
        if (cli_now(&cli, a.now, &a.now_t) != 0) {
            return CLI_EXIT_USAGE;
        }
    }
    if (strcmp(sub, "create") == 0) {
        return do_create(&a);
    }
    if (strcmp(sub, "sign") == 0) {
        return do_sign(&a);
    }
    if (strcmp(sub, "verify") == 0) {
        return do_verify(&a);
    }
    return CLI_EXIT_USAGE; /* not reached: cli_group knows the words */
}
