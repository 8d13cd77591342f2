/* ccgate kbs: the key broker's admin API for each persona (provider, authority, operator), over
 * libcurl, and offline minting of admin tokens. Tokens and keys are never printed (except the token
 * that `token mint` is asked to create). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "ccgate/http_body.h"
#include "ccgate/jose.h"
#include "ccgate/secmem.h"
#include "ccgate/util.h"
#include "cli.h"

#define KBS_CLI_MAX_FILE (8u << 20)

typedef struct {
    const char *group, *verb;
    const char *url, *token_file, *cacert;
    const char *key_id, *policy_id, *set_id, *collateral_id, *file;
    const char *key, *role, *sub, *iss, *aud;
    const char *owner, *owner_issuer;
    int64_t ttl, now, version, key_version;
    int insecure_http, json;
    const char *request_id; /* audit show REQUEST_ID */
    const char *tee;        /* policy explain --tee */
    int explain;            /* policy explain: a "deny" answer is exit 1 */
} kbs_args;

/* One leaf command: its words, its summary, the synopsis of its own options and their help lines. */
typedef struct {
    const char *group, *verb; /* verb NULL for `health` */
    const char *summary, *synopsis, *options;
    int remote;          /* talks to the broker: the common options apply */
    const char *allowed; /* its own options, as parse_leaf's letters */
} kbs_leaf;

static const kbs_leaf LEAVES[] = {
    {"key", "import", "import a model key (wrapped at once; provider)", "--key-id ID --policy-id ID --file KEY",
     "  --key-id ID         the key's ID (repo/type/tag)\n"
     "  --policy-id ID      the release policy that guards it\n"
     "  --file KEY          the key material: a file, '-' for standard input (never on the command line)\n",
     1, "kpf"},
    {"key", "rotate", "a new key version; older ones retire (provider)", "--key-id ID --file KEY",
     "  --key-id ID         the key's ID\n"
     "  --file KEY          the new key material: a file, '-' for standard input\n",
     1, "kf"},
    {"key", "disable", "the kill switch: no release until enabled (provider)", "--key-id ID",
     "  --key-id ID         the key's ID\n", 1, "k"},
    {"key", "enable", "undo disable (provider)", "--key-id ID", "  --key-id ID         the key's ID\n", 1, "k"},
    {"key", "cut-over", "end the rotation grace of retired versions (provider)", "--key-id ID [--key-version N]",
     "  --key-id ID         the key's ID\n"
     "  --key-version N     only this retired version (default: every retired version)\n",
     1, "kV"},
    {"key", "transfer", "give a key to another provider (provider, its owner)",
     "--key-id ID --owner SUBJECT --issuer NAME",
     "  --key-id ID         the key's ID\n"
     "  --owner SUBJECT     the new owner: an admin token subject...\n"
     "  --issuer NAME       ...of this configured admin issuer\n",
     1, "kOI"},
    {"key", "list", "key states and versions, never material (provider, operator)", "[--key-id ID]",
     "  --key-id ID         only this key\n", 1, "k"},
    {"policy", "set", "store a new release policy version (provider)", "--file POLICY.json",
     "  --file FILE         the policy document ('-': standard input)\n", 1, "f"},
    {"policy", "get", "print a release policy (provider)", "--policy-id ID",
     "  --policy-id ID      the policy's ID\n", 1, "p"},
    {"policy", "explain",
     "which checks of a release policy an attestation passes (operator, or the policy's provider; needs "
     "\"explain\" on the broker)",
     "--policy-id ID [--tee snp|tdx] --file ATTESTATION.json",
     "  --policy-id ID      the release policy to explain (its newest version)\n"
     "  --tee T             the evidence's TEE: snp (default) or tdx\n"
     "  --file FILE         the plain attestation: the /kbs/v0/attest body a guest sends,\n"
     "                      {\"runtime-data\":{\"nonce\",\"tee-pubkey\"},\"tee-evidence\":{\"primary_evidence\",\n"
     "                      \"additional_evidence\"}} ('-': standard input). REPORT_DATA is checked against its\n"
     "                      runtime data; nothing is released and no nonce is consumed.\n"
     "                      Prints every check's outcome as JSON. Exit 0 allow, 1 deny (the failed\n"
     "                      checks' codes on standard error), 2 usage, input or an unreachable broker\n",
     1, "fpe"},
    {"refval", "put", "store a signed reference-value set (authority)", "--file SET.json",
     "  --file FILE         the signed set ('-': standard input)\n", 1, "f"},
    {"refval", "get", "print a reference-value set (authority)", "--set-id ID", "  --set-id ID         the set's ID\n",
     1, "s"},
    {"collateral", "put", "store a collateral blob (authority)",
     "--collateral-id ID --collateral-version N --file BLOB",
     "  --collateral-id ID  the blob's ID\n"
     "  --collateral-version N  its version, >= 1 (the older spelling --version N still works)\n"
     "  --file FILE         the blob ('-': standard input)\n",
     1, "cfv"},
    {"audit", "list", "print the broker's audit records (operator)", "", "", 1, ""},
    {"audit", "verify", "verify the broker's audit chain (operator)", "", "", 1, ""},
    {"audit", "show", "why a request was decided so, from its audit records (operator)", "REQUEST_ID",
     "  REQUEST_ID          the request ID (the X-Request-Id the broker answered, or a record's)\n"
     "                      --json prints the records as JSON. Exit 1 when no record names it\n"
     "                      (audit.record_not_found)\n",
     1, ""},
    {"health", NULL, "the broker's health (operator)", "", "", 1, ""},
    {"token", "mint", "mint an admin token offline, signed with the identity provider's key",
     "--key ADMIN.key --role R --sub S --aud AUDIENCE --ttl SECONDS [--iss ID] [--now TIME]",
     "  --key FILE          the P-256 private key (PEM) that signs the token\n"
     "  --role R            provider, authority or operator\n"
     "  --sub S             the subject (a provider's tenant)\n"
     "  --aud AUDIENCE      the broker's \"admin.audience\"\n"
     "  --ttl SECONDS       the lifetime (the broker refuses more than its maximum, 1 h by default)\n"
     "  --iss ID            the issuer claim\n"
     "  --now TIME          the issue time, epoch seconds (default: the current time)\n",
     0, "KrSiatn"},
};
#define KBS_LEAVES (sizeof(LEAVES) / sizeof(LEAVES[0]))

static const kbs_leaf *g_leaf;
static char g_name[64] = "ccgate kbs";

static void leaf_usage(FILE *out)
{
    const kbs_leaf *l = g_leaf;
    fprintf(out, "Usage: %s %s%s[options]\n%s.\n\nOptions:\n%s", g_name, l->synopsis, l->synopsis[0] ? " " : "",
            l->summary, l->options);
    if (l->remote) {
        fprintf(out,
                "  --url URL           the broker, e.g. https://kbs.example:8443 (default: $CCGATE_KBS_URL)\n"
                "  --token FILE        a file holding one admin token, from 'ccgate kbs token mint'; '-' reads\n"
                "                      it from standard input (default: the file $CCGATE_KBS_TOKEN names).\n"
                "                      The token is never printed and never taken from the command line\n"
                "  --cacert FILE       trust this CA for the broker's TLS certificate (default: $CCGATE_KBS_CACERT)\n"
                "  --insecure-http     allow an http:// URL (tests only)\n"
                "  --json              on denial, print the error object (docs/cli.md) with the broker's answer\n");
    } else {
        fprintf(out, "  --json              print an error as JSON\n");
    }
    fprintf(out,
            "  -h, --help          print this help and exit\n"
            "      --version       print the version and exit\n"
            "\n"
            "Exit status: 0 success, 1 denied (the reason code is printed), 2 usage, input or dependency.\n");
}

static int parse_num(const ccg_cli *cli, const char *opt, const char *text, int64_t min, int64_t *out)
{
    return ccg_cli_int(cli, opt, text, min, INT64_MAX / 4, out);
}

/* The options of every leaf (each leaf ignores the ones it does not use, as before). Returns 0 or a
 * CCG_CLI_EXIT_* outcome (already printed). */
static int parse_leaf(int argc, char **argv, kbs_args *a)
{
    static const struct option opts[] = {
        {"json", no_argument, 0, 'j'},              {"insecure-http", no_argument, 0, 'H'},
        {"url", required_argument, 0, 'u'},         {"token", required_argument, 0, 'T'},
        {"cacert", required_argument, 0, 'C'},      {"key-id", required_argument, 0, 'k'},
        {"policy-id", required_argument, 0, 'p'},   {"set-id", required_argument, 0, 's'},
        {"collateral-id", required_argument, 0, 'c'}, {"file", required_argument, 0, 'f'},
        {"key", required_argument, 0, 'K'},         {"role", required_argument, 0, 'r'},
        {"sub", required_argument, 0, 'S'},         {"iss", required_argument, 0, 'i'},
        {"aud", required_argument, 0, 'a'},         {"ttl", required_argument, 0, 't'},
        {"now", required_argument, 0, 'n'},         {"collateral-version", required_argument, 0, 'v'},
        {"version", optional_argument, 0, 'v'},     {"key-version", required_argument, 0, 'V'},
        {"owner", required_argument, 0, 'O'},       {"issuer", required_argument, 0, 'I'},
        {"tee", required_argument, 0, 'e'},
        CCG_CLI_STD_OPTIONS,
        {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, leaf_usage, opts, NULL};
    const char *version = NULL;
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        int bad = 0;
        switch (c) {
        case 'j': a->json = 1; break;
        case 'H': a->insecure_http = 1; break;
        case 'u': a->url = optarg; break;
        case 'T': a->token_file = optarg; break;
        case 'C': a->cacert = optarg; break;
        case 'k': a->key_id = optarg; break;
        case 'p': a->policy_id = optarg; break;
        case 's': a->set_id = optarg; break;
        case 'c': a->collateral_id = optarg; break;
        case 'f': a->file = optarg; break;
        case 'e': a->tee = optarg; break;
        case 'K': a->key = optarg; break;
        case 'r': a->role = optarg; break;
        case 'S': a->sub = optarg; break;
        case 'i': a->iss = optarg; break;
        case 'a': a->aud = optarg; break;
        case 't': bad = parse_num(&cli, "--ttl", optarg, 1, &a->ttl); break;
        case 'n': bad = parse_num(&cli, "--now", optarg, 1, &a->now); break;
        case 'V': bad = parse_num(&cli, "--key-version", optarg, 1, &a->key_version); break;
        case 'O': a->owner = optarg; break;
        case 'I': a->owner_issuer = optarg; break;
        case 'v':
            if ((c = cli_legacy_version(&cli, argc, argv, &version)) != 0) {
                return c; /* --version alone: the program's version */
            }
            bad = parse_num(&cli, "--collateral-version", version, 1, &a->version);
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
        if (bad != 0) {
            return CCG_CLI_EXIT_2;
        }
        /* An option of another leaf is a mistake worth naming (e.g. --policy-id on `key rotate`). */
        if (strchr(g_leaf->remote ? "jHuTC" : "j", c) == NULL && strchr(g_leaf->allowed, c) == NULL) {
            const char *opt = "?";
            for (const struct option *o = opts; o->name != NULL; o++) {
                if (o->val == c) {
                    opt = o->name;
                    break;
                }
            }
            return ccg_cli_usage_error(&cli, "--%s does not apply to this command", opt);
        }
    }
    if (g_leaf->verb != NULL && strcmp(g_leaf->group, "audit") == 0 && strcmp(g_leaf->verb, "show") == 0) {
        if (optind != argc - 1) {
            return ccg_cli_usage_error(&cli, "give exactly one REQUEST_ID");
        }
        a->request_id = argv[optind];
    } else if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    /* The environment's defaults for whatever talks to the broker (docs/cli.md). */
    a->url = ccg_cli_env_default(a->url, "CCGATE_KBS_URL");
    a->token_file = ccg_cli_env_default(a->token_file, "CCGATE_KBS_TOKEN");
    a->cacert = ccg_cli_env_default(a->cacert, "CCGATE_KBS_CACERT");
    return 0;
}

/* Picks the leaf from the words: `ccgate kbs GROUP VERB`, each level with its own --help. Returns the
 * number of words consumed (1 or 2), or -1 with *rc set. */
static int pick_leaf(int argc, char **argv, int *rc)
{
    static const cli_sub groups[] = {
        {"key", "model keys: import, rotate, disable, enable, cut-over, transfer, list"},
        {"policy", "release policies: set, get, explain"},
        {"refval", "reference-value sets: put, get"},
        {"collateral", "collateral blobs: put"},
        {"audit", "the broker's audit log: list, verify, show"},
        {"health", "the broker's health"},
        {"token", "admin tokens: mint (offline)"},
    };
    cli_sub verbs[8];
    size_t n = 0;
    const kbs_leaf *first[8];
    char group_name[48];
    int g = cli_group("ccgate kbs", "The key broker's admin API per persona (provider, authority, operator).", groups,
                      sizeof(groups) / sizeof(groups[0]), argc, argv, rc);
    if (g < 0) {
        return -1;
    }
    for (size_t i = 0; i < KBS_LEAVES; i++) {
        if (strcmp(LEAVES[i].group, groups[g].word) == 0 && LEAVES[i].verb != NULL && n < 8) {
            verbs[n].word = LEAVES[i].verb;
            verbs[n].summary = LEAVES[i].summary;
            first[n++] = &LEAVES[i];
        } else if (strcmp(LEAVES[i].group, groups[g].word) == 0) {
            g_leaf = &LEAVES[i]; /* `health`: no verb */
            snprintf(g_name, sizeof(g_name), "ccgate kbs %s", groups[g].word);
            return 1;
        }
    }
    cli_subname(group_name, sizeof(group_name), "ccgate kbs", groups[g].word);
    int v = cli_group(group_name, groups[g].summary, verbs, n, argc - 1, argv + 1, rc);
    if (v < 0) {
        return -1;
    }
    g_leaf = first[v];
    snprintf(g_name, sizeof(g_name), "%s %s", group_name, verbs[v].word);
    return 2;
}

/* ---------------------------------------------------------------- token mint */

static int token_mint(const kbs_args *a)
{
    FILE *f = NULL;
    EVP_PKEY *key = NULL;
    json_t *claims = NULL;
    char *token = NULL;
    int rc = CLI_EXIT_USAGE;
    ccg_time now = a->now != 0 ? a->now : ccg_time_now();
    if (a->key == NULL || a->role == NULL || a->sub == NULL || a->aud == NULL || a->ttl <= 0) {
        fprintf(stderr, "ccgate kbs token mint: --key, --role, --sub, --aud and --ttl are required\n");
        return CLI_EXIT_USAGE;
    }
    if (strcmp(a->role, "provider") != 0 && strcmp(a->role, "authority") != 0 && strcmp(a->role, "operator") != 0) {
        fprintf(stderr, "ccgate kbs token mint: --role must be provider, authority or operator\n");
        return CLI_EXIT_USAGE;
    }
    f = cli_fopen_read(a->key);
    key = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (key == NULL || !EVP_PKEY_is_a(key, "EC") || EVP_PKEY_get_bits(key) != 256) {
        fprintf(stderr, "ccgate kbs token mint: %s is not a P-256 private key (PEM)\n", a->key);
        goto done;
    }
    /* aud: the broker's "admin.audience"; the broker refuses a lifetime above its maximum (1 h default). */
    claims = json_pack("{s:s,s:s,s:s,s:I,s:I}", "sub", a->sub, "role", a->role, "aud", a->aud, "iat", (json_int_t)now,
                       "exp", (json_int_t)(now + a->ttl));
    if (claims != NULL && a->iss != NULL) {
        json_object_set_new(claims, "iss", json_string(a->iss));
    }
    if (claims == NULL || ccg_failed(ccg_jwt_sign_es256(key, claims, &token))) {
        rc = cli_report_error("kbs token mint", a->json);
        goto done;
    }
    printf("%s\n", token);
    rc = CLI_EXIT_OK;
done:
    free(token);
    json_decref(claims);
    EVP_PKEY_free(key);
    if (f != NULL) {
        fclose(f);
    }
    return rc;
}

/* ---------------------------------------------------------------- HTTP */

/* Reads the token file's first line. */
static char *read_token(const char *path)
{
    uint8_t *text = NULL;
    size_t len = 0;
    if (ccg_failed(cli_file_read(path, CCG_JWT_MAX_TEXT, &text, &len))) {
        return NULL;
    }
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ')) {
        text[--len] = 0;
    }
    if (len == 0 || memchr(text, '\n', len) != NULL || strlen((char *)text) != len) {
        ccg_secure_zero(text, len);
        free(text);
        /* Never the file's content: it may be a token. */
        ccg_error_set(CCG_R_USAGE_INVALID, __FILE__, __LINE__, "the token file %s must hold one token on one line", path);
        return NULL;
    }
    return (char *)text;
}

/* Performs one request and reports its outcome; returns the exit code. body may be NULL. */
static int call(const kbs_args *a, const char *method, const char *path, const char *body, int needs_token)
{
    CURL *curl = NULL;
    struct curl_slist *headers = NULL;
    char *token = NULL, *auth = NULL, *url = NULL;
    ccg_http_body out = {0};
    long status = 0;
    int rc = CLI_EXIT_USAGE;
    size_t n;
    CURLcode cc;
    json_t *doc = NULL;

    if (a->url == NULL) {
        fprintf(stderr, "%s: --url (or CCGATE_KBS_URL) is required\n", g_name);
        return CLI_EXIT_USAGE;
    }
    if (strncmp(a->url, "https://", 8) != 0 && !(a->insecure_http && strncmp(a->url, "http://", 7) == 0)) {
        fprintf(stderr, "%s: --url must be https:// (http:// only with --insecure-http)\n", g_name);
        return CLI_EXIT_USAGE;
    }
    if (needs_token) {
        if (a->token_file == NULL) {
            fprintf(stderr, "%s: --token FILE (or CCGATE_KBS_TOKEN=FILE) with one admin token is required\n", g_name);
            return CLI_EXIT_USAGE;
        }
        if ((token = read_token(a->token_file)) == NULL) {
            return cli_report_error(g_name + strlen("ccgate "), a->json);
        }
        n = strlen(token) + 32;
        auth = malloc(n);
        if (auth == NULL) {
            goto done;
        }
        snprintf(auth, n, "Authorization: Bearer %s", token);
        ccg_secure_zero(token, strlen(token));
    }
    n = strlen(a->url) + strlen(path) + 1;
    url = malloc(n);
    curl = curl_easy_init();
    if (url == NULL || curl == NULL) {
        goto done;
    }
    snprintf(url, n, "%s%s", a->url, path);
    headers = curl_slist_append(headers, "Content-Type: application/json");
    if (auth != NULL) {
        headers = curl_slist_append(headers, auth);
    }
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, a->insecure_http ? "http,https" : "https");
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, ccg_http_body_collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &out);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    if (a->cacert != NULL) {
        curl_easy_setopt(curl, CURLOPT_CAINFO, a->cacert);
    }
    if (body != NULL) {
        curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method);
    cc = curl_easy_perform(curl);
    if (cc != CURLE_OK) {
        fprintf(stderr, "%s: the broker is unreachable: %s\n", g_name, curl_easy_strerror(cc));
        if (a->json) {
            json_t *details = json_pack("{s:s}", "detail", curl_easy_strerror(cc));
            cli_print_error_json(g_name + strlen("ccgate "), CCG_R_ADMIN_BROKER_UNREACHABLE, details);
            json_decref(details);
        }
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    doc = out.data != NULL ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    if (status >= 200 && status < 300 && a->explain) {
        /* Explain: the checks as JSON; a deny is exit 1 with the failed checks' codes named. */
        const char *decision = json_string_value(json_object_get(doc, "decision"));
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        printf("%s\n", text != NULL ? text : (out.data != NULL ? out.data : ""));
        free(text);
        rc = decision != NULL && strcmp(decision, "allow") == 0 ? CLI_EXIT_OK : CLI_EXIT_DENY;
        if (decision == NULL) {
            fprintf(stderr, "%s: the broker's answer names no decision\n", g_name);
            rc = CLI_EXIT_USAGE;
        } else if (rc == CLI_EXIT_DENY) {
            size_t i;
            json_t *r;
            fprintf(stderr, "%s: deny:", g_name);
            json_array_foreach(json_object_get(doc, "reasons"), i, r) {
                fprintf(stderr, " %s", json_string_value(json_object_get(r, "code")));
            }
            fprintf(stderr, "\n");
        }
    } else if (status >= 200 && status < 300 && a->request_id != NULL && !a->json && doc != NULL) {
        cli_audit_show_print(stdout, doc); /* audit show: for a person */
        rc = CLI_EXIT_OK;
    } else if (status >= 200 && status < 300) {
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        printf("%s\n", text != NULL ? text : (out.data != NULL ? out.data : ""));
        free(text);
        rc = CLI_EXIT_OK;
    } else {
        const char *code = json_string_value(json_array_get(json_object_get(doc, "reasons"), 0));
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        ccg_reason r = code != NULL ? ccg_reason_from_code(code) : CCG_R__COUNT;
        if (a->json) {
            /* The one error shape (docs/cli.md), with the broker's own answer inside. */
            json_t *details = json_pack("{s:s, s:I}", "detail", detail != NULL ? detail : "no detail", "http_status",
                                        (json_int_t)status);
            if (details != NULL && doc != NULL) {
                json_object_set(details, "broker", doc);
            }
            cli_print_error_json(g_name + strlen("ccgate "), r == CCG_R__COUNT ? CCG_R_ADMIN_BROKER_UNREACHABLE : r,
                                 details);
            json_decref(details);
        }
        fprintf(stderr, "%s: HTTP %ld: %s: %s\n", g_name, status, code != NULL ? code : "unknown",
                detail != NULL ? detail : "no detail");
        rc = r == CCG_R__COUNT ? CLI_EXIT_USAGE : cli_exit_for_reason(r);
    }
done:
    if (auth != NULL) {
        ccg_secure_zero(auth, strlen(auth));
    }
    json_decref(doc);
    free(out.data);
    free(auth);
    free(token);
    free(url);
    curl_slist_free_all(headers);
    curl_easy_cleanup(curl);
    return rc;
}

/* URL-escapes an ID path segment, keeping '/' (key IDs are repo/type/tag). malloc'd. */
static char *escape_id(const char *id)
{
    size_t n = strlen(id);
    char *out = malloc(3 * n + 1), *p = out;
    if (out == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)id[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~' || c == '/') {
            *p++ = (char)c;
        } else {
            snprintf(p, 4, "%%%02X", c);
            p += 3;
        }
    }
    *p = 0;
    return out;
}

static int call_with_id(const kbs_args *a, const char *method, const char *prefix, const char *id,
                        const char *suffix, const char *body)
{
    char *esc = escape_id(id), *path;
    size_t n;
    int rc;
    if (esc == NULL) {
        return CLI_EXIT_USAGE;
    }
    n = strlen(prefix) + strlen(esc) + strlen(suffix) + 1;
    path = malloc(n);
    if (path == NULL) {
        free(esc);
        return CLI_EXIT_USAGE;
    }
    snprintf(path, n, "%s%s%s", prefix, esc, suffix);
    rc = call(a, method, path, body, 1);
    free(path);
    free(esc);
    return rc;
}

/* Reads a text document file (NUL-free). malloc'd, NULL after printing why. */
static char *read_doc(const char *path)
{
    uint8_t *text = NULL;
    size_t len = 0;
    if (path == NULL) {
        fprintf(stderr, "%s: --file is required\n", g_name);
        return NULL;
    }
    if (ccg_failed(cli_file_read(path, KBS_CLI_MAX_FILE, &text, &len)) || strlen((char *)text) != len) {
        fprintf(stderr, "%s: cannot read %s as a text document\n", g_name, path);
        free(text);
        return NULL;
    }
    return (char *)text;
}

static int need(const char *value, const char *what);

/* key cut-over ({"version"}?) and key transfer ({"issuer","subject"}): docs/kbs.md "Key lifecycle". */
static int key_lifecycle(const kbs_args *a, int transfer)
{
    json_t *doc;
    char *body;
    int rc;
    if (!need(a->key_id, "--key-id") ||
        (transfer && (!need(a->owner, "--owner") || !need(a->owner_issuer, "--issuer")))) {
        return CLI_EXIT_USAGE;
    }
    doc = transfer ? json_pack("{s:s,s:s}", "issuer", a->owner_issuer, "subject", a->owner)
          : a->key_version > 0 ? json_pack("{s:I}", "version", (json_int_t)a->key_version)
                               : json_object();
    body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    json_decref(doc);
    if (body == NULL) {
        return CLI_EXIT_USAGE;
    }
    rc = call_with_id(a, "POST", "/admin/v0/keys/", a->key_id, transfer ? "/transfer" : "/cut-over", body);
    free(body);
    return rc;
}

/* {"key_id"?, "policy_id"?, "key": b64url(file)} with the key bytes scrubbed after use. */
static int key_upload(const kbs_args *a, int import)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    char *b64 = NULL, *body = NULL;
    json_t *doc = NULL;
    int rc = CLI_EXIT_USAGE;
    if (a->key_id == NULL || a->file == NULL || (import && a->policy_id == NULL)) {
        fprintf(stderr, "ccgate kbs key %s: --key-id%s and --file are required\n", import ? "import" : "rotate",
                import ? ", --policy-id" : "");
        return CLI_EXIT_USAGE;
    }
    if (ccg_failed(cli_file_read(a->file, 4096, &raw, &len))) {
        return cli_report_error("kbs key", a->json);
    }
    b64 = ccg_b64url_encode(raw, len);
    doc = import ? json_pack("{s:s,s:s,s:s}", "key_id", a->key_id, "policy_id", a->policy_id, "key", b64)
                 : json_pack("{s:s}", "key", b64);
    body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (body != NULL) {
        rc = import ? call(a, "POST", "/admin/v0/keys", body, 1)
                    : call_with_id(a, "POST", "/admin/v0/keys/", a->key_id, "/rotate", body);
    }
    ccg_secure_zero(raw, len);
    if (b64 != NULL) {
        ccg_secure_zero(b64, strlen(b64));
    }
    if (body != NULL) {
        ccg_secure_zero(body, strlen(body));
    }
    if (json_is_string(json_object_get(doc, "key"))) {
        json_t *k = json_object_get(doc, "key");
        ccg_secure_zero((void *)json_string_value(k), json_string_length(k));
    }
    json_decref(doc);
    free(raw);
    free(b64);
    free(body);
    return rc;
}

static int collateral_put(const kbs_args *a)
{
    uint8_t *raw = NULL;
    size_t len = 0;
    char *b64 = NULL, *body = NULL;
    json_t *doc;
    int rc = CLI_EXIT_USAGE;
    if (a->collateral_id == NULL || a->version <= 0 || a->file == NULL) {
        fprintf(stderr, "ccgate kbs collateral put: --collateral-id, --collateral-version and --file are required\n");
        return CLI_EXIT_USAGE;
    }
    if (ccg_failed(cli_file_read(a->file, KBS_CLI_MAX_FILE, &raw, &len))) {
        return cli_report_error("kbs collateral put", a->json);
    }
    b64 = ccg_b64url_encode(raw, len);
    doc = json_pack("{s:s,s:I,s:s}", "collateral_id", a->collateral_id, "version", (json_int_t)a->version, "data", b64);
    body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (body != NULL) {
        rc = call(a, "POST", "/admin/v0/collateral", body, 1);
    }
    json_decref(doc);
    free(raw);
    free(b64);
    free(body);
    return rc;
}

static int doc_post(const kbs_args *a, const char *path, int needs_token)
{
    char *text = read_doc(a->file);
    int rc;
    if (text == NULL) {
        return CLI_EXIT_USAGE;
    }
    rc = call(a, "POST", path, text, needs_token);
    free(text);
    return rc;
}

/* GET /admin/v0/audit/<request-id> (operator). */
static int audit_show(const kbs_args *a)
{
    return call_with_id(a, "GET", "/admin/v0/audit/", a->request_id, "", NULL);
}

/* POST /kbs/v0/explain: the plain attestation file wrapped with the policy ID and TEE (a file already in
 * the wrapped form, with "attestation", is sent as it is). */
static int policy_explain(kbs_args *a)
{
    char *text = NULL, *body = NULL;
    json_t *att = NULL, *doc = NULL;
    int rc = CLI_EXIT_USAGE;
    const char *tee = a->tee != NULL ? a->tee : "snp";
    if (strcmp(tee, "snp") != 0 && strcmp(tee, "tdx") != 0) {
        fprintf(stderr, "%s: --tee is snp or tdx\n", g_name);
        return CLI_EXIT_USAGE;
    }
    if ((text = read_doc(a->file)) == NULL) {
        return CLI_EXIT_USAGE;
    }
    att = json_loads(text, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(att)) {
        fprintf(stderr, "%s: %s is not a JSON object (the /kbs/v0/attest body)\n", g_name, a->file);
    } else if (json_object_get(att, "attestation") != NULL) {
        body = strdup(text);
    } else if (a->policy_id == NULL) {
        fprintf(stderr, "%s: --policy-id is required\n", g_name);
    } else {
        doc = json_pack("{s:s, s:s, s:O}", "policy_id", a->policy_id, "tee", tee, "attestation", att);
        body = doc != NULL ? json_dumps(doc, JSON_COMPACT) : NULL;
    }
    if (body != NULL) {
        a->explain = 1;
        rc = call(a, "POST", "/kbs/v0/explain", body, 1);
    }
    json_decref(att);
    json_decref(doc);
    free(text);
    free(body);
    return rc;
}

static int need(const char *value, const char *what)
{
    if (value == NULL) {
        fprintf(stderr, "%s: %s is required\n", g_name, what);
        return 0;
    }
    return 1;
}

int cmd_kbs(int argc, char **argv)
{
    kbs_args a;
    int rc = CLI_EXIT_USAGE;
    int words = pick_leaf(argc, argv, &rc);
    const char *g, *v;
    memset(&a, 0, sizeof(a));
    if (words < 0) {
        return rc;
    }
    a.group = g_leaf->group;
    a.verb = g_leaf->verb;
    rc = cli_parse_result(parse_leaf(argc - words, argv + words, &a), NULL);
    if (rc >= 0) {
        return rc;
    }
    g = a.group;
    v = a.verb != NULL ? a.verb : "";
    if (strcmp(g, "token") == 0 && strcmp(v, "mint") == 0) {
        return token_mint(&a);
    }
    if (strcmp(g, "key") == 0) {
        if (strcmp(v, "import") == 0 || strcmp(v, "rotate") == 0) {
            return key_upload(&a, strcmp(v, "import") == 0);
        }
        if (strcmp(v, "disable") == 0 || strcmp(v, "enable") == 0) {
            if (!need(a.key_id, "--key-id")) {
                return CLI_EXIT_USAGE;
            }
            return call_with_id(&a, "POST", "/admin/v0/keys/", a.key_id,
                                strcmp(v, "disable") == 0 ? "/disable" : "/enable", NULL);
        }
        if (strcmp(v, "cut-over") == 0 || strcmp(v, "transfer") == 0) {
            return key_lifecycle(&a, strcmp(v, "transfer") == 0);
        }
        if (strcmp(v, "list") == 0) {
            return a.key_id != NULL ? call_with_id(&a, "GET", "/admin/v0/keys/", a.key_id, "", NULL)
                                    : call(&a, "GET", "/admin/v0/keys", NULL, 1);
        }
    } else if (strcmp(g, "policy") == 0) {
        if (strcmp(v, "set") == 0) {
            return doc_post(&a, "/admin/v0/policies", 1);
        }
        if (strcmp(v, "get") == 0) {
            return need(a.policy_id, "--policy-id")
                       ? call_with_id(&a, "GET", "/admin/v0/policies/", a.policy_id, "", NULL)
                       : CLI_EXIT_USAGE;
        }
        if (strcmp(v, "explain") == 0) {
            return policy_explain(&a);
        }
    } else if (strcmp(g, "refval") == 0) {
        if (strcmp(v, "put") == 0) {
            return doc_post(&a, "/admin/v0/refvals", 1);
        }
        if (strcmp(v, "get") == 0) {
            return need(a.set_id, "--set-id") ? call_with_id(&a, "GET", "/admin/v0/refvals/", a.set_id, "", NULL)
                                              : CLI_EXIT_USAGE;
        }
    } else if (strcmp(g, "collateral") == 0 && strcmp(v, "put") == 0) {
        return collateral_put(&a);
    } else if (strcmp(g, "audit") == 0) {
        if (strcmp(v, "list") == 0) {
            return call(&a, "GET", "/admin/v0/audit", NULL, 1);
        }
        if (strcmp(v, "verify") == 0) {
            return call(&a, "GET", "/admin/v0/audit/verify", NULL, 1);
        }
        if (strcmp(v, "show") == 0) {
            return audit_show(&a);
        }
    } else if (strcmp(g, "health") == 0) {
        return call(&a, "GET", "/admin/v0/health", NULL, 1);
    }
    fprintf(stderr, "%s: not implemented\n", g_name); /* not reached: every leaf is handled above */
    return CLI_EXIT_USAGE;
}
