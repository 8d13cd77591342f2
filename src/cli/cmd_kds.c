/* ccgate kds: fill and inspect the SEV-SNP collateral cache (docs/kds-collateral.md).
 * kds has no allow/deny outcome, so every failure exits 2 with its reason code. */
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/snp_kds.h"
#include "cli.h"

#define MAX_REPORT_BYTES (1u << 20)
#define MAX_CERT_BYTES (1u << 20)
#define MAX_ITEMS 3

typedef struct {
    const char *sub;
    const char *product;
    const char *report;
    int hex;
    const char *chip_id;
    const char *tcb;
    const char *signer;
    const char *cache_dir;
    const char *kds_url;
    const char *cert;
    long timeout_s;
    int crl, refresh_crl, json;
} kds_args;

static const char *g_name = "ccgate kds"; /* the full name of the subcommand being run */
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
            "       ccgate kds fetch  --cache-dir DIR (--report FILE [--hex] | --tcb HEX16 [--chip-id HEX])\n"
            "                         [--product milan|genoa|turin] [--signer vcek|vlek] [--crl [--refresh-crl]]\n"
            "                         [--kds-url URL] [--timeout SECONDS] [--json]\n"
            "       ccgate kds show   --cache-dir DIR (--report FILE [--hex] | --tcb HEX16 [--chip-id HEX])\n"
            "                         [--product P] [--signer vcek|vlek] [--crl] [--kds-url URL] [--json]\n"
            "       ccgate kds import --cache-dir DIR --cert FILE [--product P] [--json]\n"
            "\n"
            "Fills a local cache with SEV-SNP collateral from AMD KDS: the VCEK for one chip and TCB, the\n"
            "ASK+ARK chain (ASVK+ARK for VLEK) and, with --crl, the product's CRL. Cached items are never\n"
            "fetched again; `ccgate verify snp --cache-dir DIR` then verifies offline.\n"
            "\n"
            "  fetch               load each item from the cache, fetching only the missing ones\n"
            "  show                list each item's cache path, URL and state; fetches nothing\n"
            "  import              store a VCEK or VLEK certificate (PEM or DER) under the key its\n"
            "                      extensions give; the way VLEKs enter the cache (KDS will not serve them)\n"
            "  --cache-dir DIR     the cache directory (created with mode 0700)\n"
            "  --report FILE       take product, signer, CHIP_ID and REPORTED_TCB from a report\n"
            "                      (binary; with --hex, hex text)\n"
            "  --tcb HEX16         the TCB_VERSION as 16 hex digits, as in the cache file names\n"
            "  --chip-id HEX       the CHIP_ID: 128 hex digits (Turin: 16 also accepted); VCEK only\n"
            "  --product P         milan, genoa or turin; needed with --tcb, and with v2 reports\n"
            "  --signer S          vcek (default) or vlek, with --tcb; a VLEK must be imported first\n"
            "  --crl               also the product's CRL; --refresh-crl fetches it even when cached\n"
            "  --kds-url URL       KDS base URL (default " CCG_SNP_KDS_DEFAULT_URL ")\n"
            "  --timeout SECONDS   per-request timeout (default 30)\n"
            "  --json              print the items as JSON\n"
            "\n"
            "Exit status: 0 success, 2 bad usage, bad input, or a collateral failure (reason code printed).\n");
    fclose(m);
    cli_usage_for(out, g_name, text);
    free(text);
}

static int parse_args(int argc, char **argv, kds_args *a)
{
    static const struct option opts[] = {
        {"product", required_argument, 0, 'p'},   {"report", required_argument, 0, 'r'},
        {"hex", no_argument, 0, 'x'},             {"chip-id", required_argument, 0, 'c'},
        {"tcb", required_argument, 0, 't'},       {"signer", required_argument, 0, 's'},
        {"cache-dir", required_argument, 0, 'C'}, {"kds-url", required_argument, 0, 'K'},
        {"cert", required_argument, 0, 'e'},      {"timeout", required_argument, 0, 'T'},
        {"crl", no_argument, 0, 'l'},             {"refresh-crl", no_argument, 0, 'R'},
        {"json", no_argument, 0, 'j'},            CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, usage, opts, NULL};
    int c;
    char *end = NULL;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        if (cli_check_option(&cli, c, g_allowed) != 0) {
            return CCG_CLI_EXIT_2;
        }
        switch (c) {
        case 'p': a->product = optarg; break;
        case 'r': a->report = optarg; break;
        case 'x': a->hex = 1; break;
        case 'c': a->chip_id = optarg; break;
        case 't': a->tcb = optarg; break;
        case 's': a->signer = optarg; break;
        case 'C': a->cache_dir = optarg; break;
        case 'K': a->kds_url = optarg; break;
        case 'e': a->cert = optarg; break;
        case 'T':
            a->timeout_s = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || a->timeout_s <= 0 || a->timeout_s > 3600) {
                return ccg_cli_usage_error(&cli, "--timeout takes 1 to 3600 seconds");
            }
            break;
        case 'l': a->crl = 1; break;
        case 'R': a->refresh_crl = 1; break;
        case 'j': a->json = 1; break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

static const char *check_target_args(const kds_args *a)
{
    if (a->cache_dir == NULL) {
        return "--cache-dir is required";
    }
    if (strcmp(a->sub, "import") == 0) {
        return a->cert == NULL ? "import needs --cert" : NULL;
    }
    if ((a->report != NULL) == (a->tcb != NULL)) {
        return "give either --report or --tcb";
    }
    if (a->report != NULL && (a->chip_id != NULL || a->signer != NULL)) {
        return "--chip-id and --signer go with --tcb; a report names its own";
    }
    if (a->tcb != NULL && a->product == NULL) {
        return "--tcb needs --product";
    }
    if (a->refresh_crl && !a->crl) {
        return "--refresh-crl needs --crl";
    }
    return NULL;
}

static ccg_result parse_product(const char *name, ccg_snp_product *out)
{
    ccg_result result = CCG_FAILURE;
    *out = CCG_SNP_PRODUCT_UNKNOWN;
    for (ccg_snp_product p = CCG_SNP_PRODUCT_MILAN; name != NULL && p <= CCG_SNP_PRODUCT_TURIN; p++) {
        if (strcmp(name, ccg_snp_kds_product_dir(p)) == 0) {
            *out = p;
        }
    }
    CCG_ENSURE_MSG(name == NULL || *out != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID,
                   "--product must be milan, genoa or turin");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result key_from_report(const kds_args *a, ccg_snp_product product, ccg_snp_kds_item *key)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *raw = NULL, *bin = NULL;
    size_t raw_len = 0, bin_len = 0;
    CCG_TRY(cli_file_read(a->report, a->hex ? 2 * MAX_REPORT_BYTES : MAX_REPORT_BYTES, &raw, &raw_len));
    if (a->hex) {
        CCG_TRY(ccg_hex_decode_text((const char *)raw, raw_len, &bin, &bin_len));
        CCG_TRY(ccg_snp_kds_item_from_report(product, bin, bin_len, key));
    } else {
        CCG_TRY(ccg_snp_kds_item_from_report(product, raw, raw_len, key));
    }
    result = CCG_SUCCESS;
cleanup:
    free(raw);
    free(bin);
    return result;
}

static ccg_result parse_chip_id(const char *hex, ccg_snp_product product, uint8_t chip_id[64])
{
    ccg_result result = CCG_FAILURE;
    size_t short_len = ccg_snp_hwid_len(product);
    memset(chip_id, 0, 64);
    if (short_len < 64 && ccg_hex_is_valid(hex, short_len)) {
        CCG_TRY(ccg_hex_decode_exact(hex, chip_id, short_len));
    } else {
        CCG_ENSURE_MSG(ccg_hex_is_valid(hex, 64), CCG_R_INPUT_BAD_HEX, "--chip-id must be 128 hex digits%s",
                       short_len < 64 ? " (or 16 on Turin)" : "");
        CCG_TRY(ccg_hex_decode_exact(hex, chip_id, 64));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result key_from_args(const kds_args *a, ccg_snp_product product, ccg_snp_kds_item *key)
{
    ccg_result result = CCG_FAILURE;
    uint8_t raw[8];
    memset(key, 0, sizeof(*key));
    key->kind = CCG_SNP_KDS_KEY;
    key->product = product;
    CCG_ENSURE_MSG(a->signer == NULL || strcmp(a->signer, "vcek") == 0 || strcmp(a->signer, "vlek") == 0,
                   CCG_R_USAGE_INVALID, "--signer must be vcek or vlek");
    key->signer = a->signer && strcmp(a->signer, "vlek") == 0 ? CCG_SNP_SIGNER_VLEK : CCG_SNP_SIGNER_VCEK;
    CCG_ENSURE_MSG(ccg_hex_is_valid(a->tcb, 8), CCG_R_INPUT_BAD_HEX, "--tcb must be 16 hex digits");
    CCG_TRY(ccg_hex_decode_exact(a->tcb, raw, 8));
    uint64_t tcb = 0;
    for (int i = 0; i < 8; i++) {
        tcb = tcb << 8 | raw[i];
    }
    CCG_TRY(ccg_snp_tcb_decode(product, tcb, &key->tcb));
    CCG_ENSURE_MSG(key->signer == CCG_SNP_SIGNER_VLEK || a->chip_id != NULL, CCG_R_USAGE_INVALID,
                   "a VCEK needs --chip-id");
    if (a->chip_id != NULL) {
        CCG_TRY(parse_chip_id(a->chip_id, product, key->chip_id));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The items the command works on: the key, its chain, and with --crl the CRL. */
static ccg_result build_items(const kds_args *a, ccg_snp_kds_item items[MAX_ITEMS], int *count)
{
    ccg_result result = CCG_FAILURE;
    ccg_snp_product product;
    CCG_TRY(parse_product(a->product, &product));
    if (a->report != NULL) {
        CCG_TRY(key_from_report(a, product, &items[0]));
    } else {
        CCG_TRY(key_from_args(a, product, &items[0]));
    }
    items[1] = items[0];
    items[1].kind = CCG_SNP_KDS_CHAIN;
    items[2] = items[0];
    items[2].kind = CCG_SNP_KDS_CRL;
    *count = a->crl ? 3 : 2;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static json_t *item_json(const ccg_snp_kds_item *item, const char *path, const char *state, size_t bytes)
{
    return json_pack("{s:s, s:s, s:s, s:I}", "item", ccg_snp_kds_item_name(item), "path", path, "state", state,
                     "bytes", (json_int_t)bytes);
}

static void print_item(json_t *list, const ccg_snp_kds_item *item, const char *path, const char *state, size_t bytes)
{
    if (list != NULL) {
        json_array_append_new(list, item_json(item, path, state, bytes));
    } else {
        printf("%-15s %-8s %s\n", ccg_snp_kds_item_name(item), state, path);
    }
}

static void print_json(const ccg_snp_kds_item *key, json_t *list)
{
    json_t *obj = json_pack("{s:s, s:s, s:O}", "product", ccg_snp_kds_product_dir(key->product), "signer",
                            key->signer == CCG_SNP_SIGNER_VLEK ? "vlek" : "vcek", "items", list);
    char *text = obj ? json_dumps(obj, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    if (text != NULL) {
        printf("%s\n", text);
    }
    free(text);
    json_decref(obj);
}

static ccg_result fetch_item(const ccg_snp_kds_config *cfg, const kds_args *a, const ccg_snp_kds_item *item,
                             json_t *list)
{
    ccg_result result = CCG_FAILURE;
    char path[CCG_SNP_KDS_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    int fetched = 0;
    if (item->kind == CCG_SNP_KDS_CRL && a->refresh_crl) {
        CCG_TRY(ccg_snp_kds_refresh(cfg, item));
    }
    CCG_TRY(ccg_snp_kds_load(cfg, item, &data, &len, &fetched));
    CCG_TRY(ccg_snp_cache_path(cfg->cache_dir, item, path, sizeof(path)));
    print_item(list, item, path, fetched || (item->kind == CCG_SNP_KDS_CRL && a->refresh_crl) ? "fetched" : "cached",
               len);
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

static ccg_result show_item(const ccg_snp_kds_config *cfg, const ccg_snp_kds_item *item, json_t *list)
{
    ccg_result result = CCG_FAILURE;
    char path[CCG_SNP_KDS_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    int found = 0;
    const char *state = "absent";
    CCG_TRY(ccg_snp_cache_path(cfg->cache_dir, item, path, sizeof(path)));
    if (ccg_failed(ccg_snp_cache_read(cfg->cache_dir, item, &data, &len, &found))) {
        state = "unreadable";
    } else if (found) {
        state = ccg_ok(ccg_snp_kds_validate(item, data, len)) ? "cached" : "corrupt";
    }
    ccg_error_clear(); /* show reports states, not failures */
    print_item(list, item, path, state, len);
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

static int run_items(const kds_args *a, ccg_snp_kds_config *cfg)
{
    ccg_snp_kds_item items[MAX_ITEMS];
    int count = 0, fetch = strcmp(a->sub, "fetch") == 0;
    json_t *list = a->json ? json_array() : NULL;
    ccg_result r = build_items(a, items, &count);
    for (int i = 0; ccg_ok(r) && i < count; i++) {
        r = fetch ? fetch_item(cfg, a, &items[i], list) : show_item(cfg, &items[i], list);
    }
    if (ccg_ok(r) && list != NULL) {
        print_json(&items[0], list);
    }
    json_decref(list);
    if (ccg_failed(r)) {
        (void)cli_report_error(fetch ? "kds fetch" : "kds show", a->json);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

static int run_import(const kds_args *a)
{
    ccg_snp_kds_item item;
    ccg_snp_product product;
    char path[CCG_SNP_KDS_PATH_MAX];
    uint8_t *data = NULL;
    size_t len = 0;
    json_t *list = a->json ? json_array() : NULL;
    ccg_result r = parse_product(a->product, &product);
    if (ccg_ok(r)) {
        r = cli_file_read(a->cert, MAX_CERT_BYTES, &data, &len);
    }
    if (ccg_ok(r)) {
        r = ccg_snp_kds_import_key(a->cache_dir, product, data, len, &item);
    }
    if (ccg_ok(r)) {
        r = ccg_snp_cache_path(a->cache_dir, &item, path, sizeof(path));
    }
    if (ccg_ok(r)) {
        print_item(list, &item, path, "imported", len);
        if (list != NULL) {
            print_json(&item, list);
        }
    }
    free(data);
    json_decref(list);
    if (ccg_failed(r)) {
        (void)cli_report_error("kds import", a->json);
        return CLI_EXIT_USAGE;
    }
    return CLI_EXIT_OK;
}

int cmd_kds(int argc, char **argv)
{
    kds_args a = {0};
    static const cli_sub subs[] = {
        {"fetch", "load each item from the cache, fetching only the missing ones"},
        {"show", "list each item's cache path, URL and state; fetches nothing"},
        {"import", "store a VCEK or VLEK certificate under the key its extensions give"},
    };
    char name[64];
    int rc = CLI_EXIT_USAGE;
    int k = cli_group("ccgate kds", "Fill a local cache with SEV-SNP collateral from AMD KDS.", subs, 3, argc, argv, &rc);
    if (k < 0) {
        return rc;
    }
    a.sub = subs[k].word;
    g_name = cli_subname(name, sizeof(name), "ccgate kds", a.sub);
    static const char *const allowed[][2] = {{"fetch", "CrxtcpslRKTj"}, {"show", "CrxtcpslKj"}, {"import", "Cepj"}};
    for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
        if (strcmp(allowed[i][0], a.sub) == 0) {
            g_allowed = allowed[i][1];
        }
    }
    rc = cli_parse_result(parse_args(argc - 1, argv + 1, &a), NULL);
    if (rc >= 0) {
        return rc;
    }
    const char *problem = check_target_args(&a);
    if (problem != NULL) {
        fprintf(stderr, "ccgate kds %s: %s (see --help)\n", a.sub, problem);
        return CLI_EXIT_USAGE;
    }
    if (strcmp(a.sub, "import") == 0) {
        return run_import(&a);
    }
    ccg_snp_kds_config cfg;
    ccg_snp_kds_config_init(&cfg);
    cfg.cache_dir = a.cache_dir;
    cfg.allow_fetch = strcmp(a.sub, "fetch") == 0;
    if (a.kds_url != NULL) {
        cfg.base_url = a.kds_url;
    }
    if (a.timeout_s > 0) {
        cfg.timeout_s = a.timeout_s;
    }
    return run_items(&a, &cfg);
}
