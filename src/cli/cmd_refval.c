/* ccgate refval: build, sign, bundle and verify reference values. */
#include <getopt.h>
#include <openssl/pem.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/refvalue.h"
#include "cli.h"

#define REFVAL_FILE_MAX (4u << 20)

static const char *g_name = "ccgate refval"; /* the full name of the subcommand being run */
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
            "       ccgate refval create --id ID --measurement HEX --build-id ID --not-before T --not-after T\n"
            "                            [--tee snp|tdx] [--tdx REGISTER=HEX...] [--from-measure FILE] [--out FILE]\n"
            "       ccgate refval sign   --in FILE --key PRIVATE.pem --issuer ID [--out FILE]\n"
            "       ccgate refval set    --set-id ID --set-version N [--out FILE] RECORD.json...\n"
            "       ccgate refval verify --in FILE --issuer-key ID=PUBLIC.pem... [--now T] [--measurement HEX]\n"
            "                            [--tee TEE] [--tdx REGISTER=HEX...] [--json]\n"
            "\n"
            "A reference value is a signed, expiring record of an approved launch measurement\n"
            "(docs/reference-values.md). create writes an unsigned record (--from-measure takes the measurement\n"
            "and launch inputs from `ccgate measure snp --json`); sign signs it with an ECDSA P-384 or Ed25519\n"
            "key over its RFC 8785 form; set bundles signed records into a versioned set; verify checks every\n"
            "record (signature, issuer, validity at --now, and with --tee the TEE) and, with --measurement,\n"
            "that some usable record holds it.\n"
            "For --tee tdx the measurement is MRTD, and --tdx pins (create) or gives (verify) the TD's other\n"
            "registers: rtmr0..rtmr3, mrconfigid, mrowner, mrownerconfig, mrservicetd (48 bytes of hex each).\n"
            "\n"
            "  --set-version N  the set's version (the older spelling --version N still works)\n"
            "  --now T          verify's time; default: the current time, printed to stderr so it can be\n"
            "                   pinned (RFC 3339 or epoch seconds)\n"
            "  --in FILE, --out FILE, RECORD.json  '-' is standard input or output\n"
            "  --json           print verify's decision as JSON\n"
            "Times are RFC 3339. Exit status: 0 valid/approved, 1 refused, 2 bad usage or input.\n");
    fclose(m);
    cli_usage_for(out, g_name, text);
    free(text);
}

static int write_json(const json_t *doc, const char *path)
{
    char *text = json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS);
    int rc = CLI_EXIT_USAGE;
    if (text == NULL) {
        return rc;
    }
    if (path == NULL || ccg_cli_is_stdio(path)) {
        printf("%s\n", text);
        rc = CLI_EXIT_OK;
    } else if (ccg_ok(cli_file_write(path, (const uint8_t *)text, strlen(text)))) {
        rc = CLI_EXIT_OK;
    } else {
        rc = cli_report_error("refval", 0);
    }
    free(text);
    return rc;
}

static ccg_result load_json(const char *path, json_t **out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    json_error_t err;
    CCG_TRY(cli_file_read(path, REFVAL_FILE_MAX, &text, &len));
    *out = json_loadb((const char *)text, len, JSON_REJECT_DUPLICATES, &err);
    CCG_ENSURE_MSG(*out != NULL, CCG_R_REFVAL_MALFORMED, "%s line %d: %.100s", path, err.line, err.text);
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

typedef struct {
    const char *id, *measurement, *build_id, *not_before, *not_after, *tee, *from_measure, *out, *in, *key,
        *issuer, *set_id, *version, *now;
    ccg_time now_t; /* --now resolved for verify (cli_now) */
    const char *issuer_keys[16];
    int issuer_key_count;
    const char *tdx[CCG_REFVAL_TDX_FIELDS];
    int tdx_count;
    int json;
} refval_args;

static int parse(int argc, char **argv, refval_args *a)
{
    static const struct option opts[] = {
        {"id", required_argument, 0, 'i'},         {"measurement", required_argument, 0, 'm'},
        {"build-id", required_argument, 0, 'b'},   {"not-before", required_argument, 0, 'B'},
        {"not-after", required_argument, 0, 'A'},  {"tee", required_argument, 0, 't'},
        {"from-measure", required_argument, 0, 'f'}, {"out", required_argument, 0, 'o'},
        {"in", required_argument, 0, 'I'},         {"key", required_argument, 0, 'k'},
        {"issuer", required_argument, 0, 's'},     {"set-id", required_argument, 0, 'S'},
        {"set-version", required_argument, 0, 'v'}, {"version", optional_argument, 0, 'v'},    {"now", required_argument, 0, 'n'},
        {"issuer-key", required_argument, 0, 'K'}, {"json", no_argument, 0, 'j'},
        {"tdx", required_argument, 0, 'T'},
        CCG_CLI_STD_OPTIONS,             {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, usage, opts, NULL};
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        if ((c != 'v' || optarg != NULL) && cli_check_option(&cli, c, g_allowed) != 0) { /* bare --version: below */
            return CCG_CLI_EXIT_2;
        }
        switch (c) {
        case 'i': a->id = optarg; break;
        case 'm': a->measurement = optarg; break;
        case 'b': a->build_id = optarg; break;
        case 'B': a->not_before = optarg; break;
        case 'A': a->not_after = optarg; break;
        case 't': a->tee = optarg; break;
        case 'f': a->from_measure = optarg; break;
        case 'o': a->out = optarg; break;
        case 'I': a->in = optarg; break;
        case 'k': a->key = optarg; break;
        case 's': a->issuer = optarg; break;
        case 'S': a->set_id = optarg; break;
        case 'v':
            if ((c = cli_legacy_version(&cli, argc, argv, &a->version)) != 0) {
                return c; /* --version alone: the program's version */
            }
            break;
        case 'n': a->now = optarg; break;
        case 'K':
            if (a->issuer_key_count == 16) {
                return ccg_cli_usage_error(&cli, "at most 16 --issuer-key");
            }
            a->issuer_keys[a->issuer_key_count++] = optarg;
            break;
        case 'j': a->json = 1; break;
        case 'T':
            if (a->tdx_count == CCG_REFVAL_TDX_FIELDS) {
                return ccg_cli_usage_error(&cli, "at most %d --tdx", CCG_REFVAL_TDX_FIELDS);
            }
            a->tdx[a->tdx_count++] = optarg;
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    return 0;
}

/* Takes "measurement" and the launch inputs from `ccgate measure snp --json` output. */
static ccg_result add_measure_doc(json_t *rec, const char *path)
{
    ccg_result result = CCG_FAILURE;
    json_t *doc = NULL;
    CCG_TRY(load_json(path, &doc));
    json_t *m = json_object_get(doc, "measurement");
    CCG_ENSURE_MSG(json_is_string(m), CCG_R_REFVAL_MALFORMED, "%s has no \"measurement\" (use measure --json)", path);
    json_object_set(rec, "measurement", m);
    json_object_del(doc, "measurement");
    json_object_set(rec, "launch_inputs", doc);
    result = CCG_SUCCESS;
cleanup:
    json_decref(doc);
    return result;
}

/* "NAME=HEX" of a TDX register: its index, and its 48 bytes. */
static ccg_result tdx_spec(const char *spec, size_t *index, uint8_t value[48])
{
    ccg_result result = CCG_FAILURE;
    const char *eq = strchr(spec, '=');
    size_t i = 0;
    while (eq != NULL && ccg_refval_tdx_field_name(i) != NULL &&
           (strlen(ccg_refval_tdx_field_name(i)) != (size_t)(eq - spec) ||
            strncmp(spec, ccg_refval_tdx_field_name(i), (size_t)(eq - spec)) != 0)) {
        i++;
    }
    CCG_ENSURE_MSG(eq != NULL && ccg_refval_tdx_field_name(i) != NULL, CCG_R_USAGE_INVALID,
                   "--tdx takes REGISTER=HEX (rtmr0..rtmr3, mrconfigid, mrowner, mrownerconfig, mrservicetd)");
    CCG_ENSURE_MSG(strlen(eq + 1) == 96 && ccg_hex_is_valid(eq + 1, 48), CCG_R_USAGE_INVALID,
                   "--tdx %.*s needs 48 bytes of hex", (int)(eq - spec), spec);
    CCG_TRY(ccg_hex_decode_exact(eq + 1, value, 48));
    *index = i;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The "tdx" member of a record from --tdx options. */
static ccg_result add_tdx_fields(json_t *rec, const refval_args *a)
{
    ccg_result result = CCG_FAILURE;
    json_t *tdx = NULL;
    uint8_t v[48];
    size_t i = 0;
    if (a->tdx_count == 0) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    tdx = json_object();
    CCG_ENSURE_ALLOC(tdx);
    for (int k = 0; k < a->tdx_count; k++) {
        CCG_TRY(tdx_spec(a->tdx[k], &i, v));
        char hex[97];
        ccg_hex_encode(v, 48, hex);
        CCG_ENSURE(json_object_set_new(tdx, ccg_refval_tdx_field_name(i), json_string(hex)) == 0,
                   CCG_R_INTERNAL_OUT_OF_MEMORY);
    }
    CCG_ENSURE(json_object_set(rec, "tdx", tdx) == 0, CCG_R_INTERNAL_OUT_OF_MEMORY);
    result = CCG_SUCCESS;
cleanup:
    json_decref(tdx);
    return result;
}

static int do_create(const refval_args *a)
{
    json_t *rec = json_pack("{s:s?, s:s, s:s?, s:s?, s:s?, s:s?}", "id", a->id, "tee", a->tee ? a->tee : "snp",
                            "measurement", a->measurement, "build_id", a->build_id, "not_before", a->not_before,
                            "not_after", a->not_after);
    ccg_refval_record check;
    int rc = CLI_EXIT_USAGE;
    memset(&check, 0, sizeof(check));
    ccg_error_clear();
    if (a->measurement != NULL && a->from_measure != NULL) {
        fprintf(stderr, "ccgate refval create: give --measurement or --from-measure, not both\n");
    } else if (rec == NULL || (a->from_measure != NULL && ccg_failed(add_measure_doc(rec, a->from_measure))) ||
               ccg_failed(add_tdx_fields(rec, a)) || ccg_failed(ccg_refval_record_parse(rec, &check))) {
        rc = cli_report_error("refval create", a->json);
    } else {
        rc = write_json(rec, a->out);
    }
    ccg_refval_record_free(&check);
    json_decref(rec);
    return rc;
}

static int do_sign(const refval_args *a)
{
    json_t *rec = NULL;
    EVP_PKEY *key = NULL;
    FILE *f = a->key ? cli_fopen_read(a->key) : NULL;
    if (f != NULL) {
        setvbuf(f, NULL, _IONBF, 0); /* no copy of the private key left in a freed stdio buffer */
    }
    int rc = CLI_EXIT_USAGE;
    ccg_refval_record check;
    memset(&check, 0, sizeof(check));
    ccg_error_clear();
    if (a->in == NULL || a->issuer == NULL || a->key == NULL) {
        fprintf(stderr, "ccgate refval sign: --in, --key and --issuer are required\n");
        goto cleanup;
    }
    if (f == NULL) {
        ccg_error_set(CCG_R_IO_READ_FAILED, __FILE__, __LINE__, "cannot open the key %s", a->key);
        rc = cli_report_error("refval sign", a->json);
        goto cleanup;
    }
    key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    if (key == NULL) {
        fprintf(stderr, "ccgate refval sign: %s is not a PEM private key\n", a->key);
        goto cleanup;
    }
    if (ccg_failed(load_json(a->in, &rec)) || ccg_failed(ccg_refval_record_parse(rec, &check)) ||
        ccg_failed(ccg_refval_sign(rec, key, a->issuer))) {
        rc = cli_report_error("refval sign", a->json);
        goto cleanup;
    }
    rc = write_json(rec, a->out);
cleanup:
    if (f != NULL) {
        fclose(f);
    }
    ccg_refval_record_free(&check);
    EVP_PKEY_free(key);
    json_decref(rec);
    return rc;
}

static int do_set(const refval_args *a, int argc, char **argv)
{
    json_t *records = json_array(), *rec = NULL, *set = NULL;
    char *end = NULL;
    long long version = a->version ? strtoll(a->version, &end, 10) : 0;
    int rc = CLI_EXIT_USAGE;
    ccg_error_clear();
    if (a->set_id == NULL || a->version == NULL || *end != '\0' || version < 1 || optind >= argc) {
        fprintf(stderr, "ccgate refval set: --set-id, --set-version (>= 1) and at least one record are required\n");
        goto cleanup;
    }
    for (int i = optind; i < argc; i++) {
        if (ccg_failed(load_json(argv[i], &rec))) {
            rc = cli_report_error("refval set", a->json);
            goto cleanup;
        }
        json_array_append_new(records, rec);
        rec = NULL;
    }
    set = json_pack("{s:s, s:I, s:O}", "set_id", a->set_id, "version", (json_int_t)version, "records", records);
    char *text = set ? json_dumps(set, JSON_COMPACT) : NULL;
    ccg_refval_set *parsed = NULL;
    if (text == NULL || ccg_failed(ccg_refval_set_parse(text, strlen(text), &parsed))) {
        rc = cli_report_error("refval set", a->json);
    } else {
        rc = write_json(set, a->out);
    }
    ccg_refval_set_free(parsed);
    free(text);
cleanup:
    json_decref(set);
    json_decref(records);
    return rc;
}

/* Loads "ID=FILE" issuer keys. */
ccg_result cli_load_issuers(const char *const *specs, int count, ccg_refval_issuers **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_refval_issuers *iss = NULL;
    uint8_t *pem = NULL;
    size_t len = 0;
    char id[CCG_REFVAL_ID_MAX];
    CCG_TRY(ccg_refval_issuers_new(&iss));
    for (int i = 0; i < count; i++) {
        const char *eq = strchr(specs[i], '=');
        CCG_ENSURE_MSG(eq != NULL && eq > specs[i] && (size_t)(eq - specs[i]) < sizeof(id), CCG_R_USAGE_INVALID,
                       "--issuer-key takes ID=FILE, got '%.64s'", specs[i]);
        snprintf(id, sizeof(id), "%.*s", (int)(eq - specs[i]), specs[i]);
        CCG_TRY(cli_file_read(eq + 1, 1u << 20, &pem, &len));
        CCG_TRY(ccg_refval_issuers_add_pem(iss, id, pem, len));
        free(pem);
        pem = NULL;
    }
    *out = iss;
    iss = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(pem);
    ccg_refval_issuers_free(iss);
    return result;
}

static void print_reasons(const ccg_decision *d, int json)
{
    if (json) {
        json_t *obj = ccg_decision_to_json(d);
        char *text = obj ? json_dumps(obj, JSON_INDENT(2)) : NULL;
        if (text != NULL) {
            printf("%s\n", text);
        }
        free(text);
        json_decref(obj);
        return;
    }
    printf("decision: %s\n", d->allow ? "valid" : "refused");
    for (size_t i = 0; i < d->reasons.count; i++) {
        char *det = json_dumps(d->reasons.items[i].details, JSON_COMPACT | JSON_SORT_KEYS);
        printf("reason: %s: %s %s\n", ccg_reason_code(d->reasons.items[i].reason),
               ccg_reason_message(d->reasons.items[i].reason), det ? det : "");
        free(det);
    }
}

static int do_verify(const refval_args *a)
{
    ccg_refval_issuers *iss = NULL;
    ccg_refval_set *set = NULL;
    uint8_t *text = NULL, m[64];
    size_t len = 0, mlen = a->measurement ? strlen(a->measurement) / 2 : 0;
    ccg_time now = 0;
    ccg_decision d;
    int rc = CLI_EXIT_USAGE;
    ccg_decision_init(&d, "refval");
    ccg_error_clear();
    if (a->in == NULL) {
        fprintf(stderr, "ccgate refval verify: --in is required\n");
        goto cleanup;
    }
    now = a->now_t;
    if ((a->measurement && (mlen > sizeof(m) || ccg_failed(ccg_hex_decode_exact(a->measurement, m, mlen)))) ||
        ccg_failed(cli_load_issuers(a->issuer_keys, a->issuer_key_count, &iss)) ||
        ccg_failed(cli_file_read(a->in, REFVAL_FILE_MAX, &text, &len)) ||
        ccg_failed(ccg_refval_set_parse((const char *)text, len, &set))) {
        rc = cli_report_error("refval verify", a->json);
        goto cleanup;
    }
    snprintf(d.policy_id, sizeof(d.policy_id), "%s", set->set_id);
    d.policy_version = set->version;
    if (a->measurement != NULL && a->tee != NULL && strcmp(a->tee, "tdx") == 0) {
        /* MRTD and the registers given; any a record pins but --tdx does not give reads as zero. */
        ccg_refval_td td;
        size_t i = 0;
        uint8_t v[48];
        memset(&td, 0, sizeof(td));
        if (mlen != 48) {
            fprintf(stderr, "ccgate refval verify: a tdx --measurement (MRTD) is 48 bytes of hex\n");
            rc = CLI_EXIT_USAGE;
            goto cleanup;
        }
        memcpy(td.mrtd, m, 48);
        for (int k = 0; k < a->tdx_count; k++) {
            if (ccg_failed(tdx_spec(a->tdx[k], &i, v))) {
                rc = cli_report_error("refval verify", a->json);
                goto cleanup;
            }
            memcpy(td.fields[i], v, 48);
        }
        (void)ccg_refval_set_match_tdx(set, &td, iss, now, &d);
    } else if (a->measurement != NULL) {
        (void)ccg_refval_set_match(set, a->tee, m, mlen, iss, now, &d);
    } else {
        for (size_t i = 0; i < set->count; i++) {
            (void)ccg_refval_record_check(&set->records[i], a->tee, iss, now, &d);
        }
    }
    d.allow = d.reasons.count == 0;
    print_reasons(&d, a->json);
    rc = d.allow ? CLI_EXIT_OK : CLI_EXIT_DENY;
cleanup:
    ccg_decision_free(&d);
    ccg_refval_set_free(set);
    ccg_refval_issuers_free(iss);
    free(text);
    return rc;
}

int cmd_refval(int argc, char **argv)
{
    refval_args a;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"create", "write an unsigned reference-value record"},
        {"sign", "sign a record with an issuer's key"},
        {"set", "bundle signed records into a versioned set"},
        {"verify", "check a set's records (signature, issuer, validity at --now)"},
    };
    char name[64];
    int rc = CLI_EXIT_USAGE;
    int k = cli_group("ccgate refval", "Create, sign, bundle and verify signed reference values.", subs, 4, argc, argv,
                      &rc);
    if (k < 0) {
        return rc;
    }
    const char *sub = subs[k].word;
    g_name = cli_subname(name, sizeof(name), "ccgate refval", sub);
    static const char *const allowed[][2] = {{"create", "imbBAtfoTj"}, {"sign", "Iksoj"}, {"set", "Svoj"}, {"verify", "IKnmtTj"}};
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
    if (strcmp(sub, "set") == 0) {
        return do_set(&a, argc - 1, argv + 1);
    }
    if (strcmp(sub, "verify") == 0) {
        return do_verify(&a);
    }
    return CLI_EXIT_USAGE; /* not reached: cli_group knows the words */
}
