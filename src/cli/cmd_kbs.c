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
    int64_t ttl, now, version;
    int insecure_http, json;
} kbs_args;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ccgate kbs <group> <verb> [options]\n"
            "\n"
            "provider (a token with role \"provider\"; acts only on its own keys and policies):\n"
            "  key import  --key-id ID --policy-id ID --file KEY   import a model key (wrapped at once)\n"
            "  key disable|enable --key-id ID                      the kill switch\n"
            "  key rotate  --key-id ID --file KEY                  a new version; older ones retire\n"
            "  key list    [--key-id ID]                           states and versions, never material\n"
            "  policy set  --file POLICY.json                      a new release policy version\n"
            "  policy get  --policy-id ID\n"
            "  policy explain --file ATTESTATION.json              which checks pass (needs \"explain\")\n"
            "authority (role \"authority\"):\n"
            "  refval put  --file SET.json                         a signed reference-value set\n"
            "  refval get  --set-id ID\n"
            "  collateral put --collateral-id ID --version N --file BLOB\n"
            "operator (role \"operator\"):\n"
            "  audit list | audit verify | health | key list\n"
            "offline:\n"
            "  token mint  --key ADMIN.key --role R --sub S --aud AUDIENCE --ttl SECONDS [--iss ID] [--now EPOCH]\n"
            "\n"
            "common options:\n"
            "  --url URL          the broker, e.g. https://kbs.example:8080\n"
            "  --token FILE       the admin token (from 'ccgate kbs token mint')\n"
            "  --cacert FILE      trust this CA for the broker's TLS certificate\n"
            "  --insecure-http    allow an http:// URL (tests only)\n"
            "  --json             print the broker's JSON answer (also on denial)\n"
            "\n"
            "Exit status: 0 success, 1 denied (the reason code is printed), 2 usage, input or dependency.\n");
}

static int parse_int(const char *s, int64_t min, int64_t *out)
{
    char *end = NULL;
    long long v;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (s[0] == '\0' || *end != '\0' || errno != 0 || v < min) {
        return -1;
    }
    *out = v;
    return 0;
}

/* 0 parsed, 1 help, -1 bad usage. */
static int parse_args(int argc, char **argv, kbs_args *a)
{
    memset(a, 0, sizeof(*a));
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        return argc < 2 ? -1 : 1;
    }
    a->group = argv[1];
    int i = 2;
    if (strcmp(a->group, "health") != 0) {
        if (argc < 3 || argv[2][0] == '-') {
            return strcmp(argv[argc - 1], "--help") == 0 ? 1 : -1;
        }
        a->verb = argv[2];
        i = 3;
    }
    for (; i < argc; i++) {
        const char *o = argv[i];
        const char **slot = NULL;
        int64_t *num = NULL;
        int64_t min = 0;
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            return 1;
        } else if (strcmp(o, "--json") == 0) {
            a->json = 1;
            continue;
        } else if (strcmp(o, "--insecure-http") == 0) {
            a->insecure_http = 1;
            continue;
        }
        if (strcmp(o, "--url") == 0) slot = &a->url;
        else if (strcmp(o, "--token") == 0) slot = &a->token_file;
        else if (strcmp(o, "--cacert") == 0) slot = &a->cacert;
        else if (strcmp(o, "--key-id") == 0) slot = &a->key_id;
        else if (strcmp(o, "--policy-id") == 0) slot = &a->policy_id;
        else if (strcmp(o, "--set-id") == 0) slot = &a->set_id;
        else if (strcmp(o, "--collateral-id") == 0) slot = &a->collateral_id;
        else if (strcmp(o, "--file") == 0) slot = &a->file;
        else if (strcmp(o, "--key") == 0) slot = &a->key;
        else if (strcmp(o, "--role") == 0) slot = &a->role;
        else if (strcmp(o, "--sub") == 0) slot = &a->sub;
        else if (strcmp(o, "--iss") == 0) slot = &a->iss;
        else if (strcmp(o, "--aud") == 0) slot = &a->aud;
        else if (strcmp(o, "--ttl") == 0) { num = &a->ttl; min = 1; }
        else if (strcmp(o, "--now") == 0) { num = &a->now; min = 1; }
        else if (strcmp(o, "--version") == 0) { num = &a->version; min = 1; }
        else {
            fprintf(stderr, "ccgate kbs: unknown option '%s'\n", o);
            return -1;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ccgate kbs: %s needs a value\n", o);
            return -1;
        }
        if (slot != NULL) {
            *slot = argv[++i];
        } else if (parse_int(argv[++i], min, num) != 0) {
            fprintf(stderr, "ccgate kbs: %s needs an integer >= %lld\n", o, (long long)min);
            return -1;
        }
    }
    return 0;
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
    f = fopen(a->key, "r");
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
        free(text);
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
        fprintf(stderr, "ccgate kbs: --url is required\n");
        return CLI_EXIT_USAGE;
    }
    if (strncmp(a->url, "https://", 8) != 0 && !(a->insecure_http && strncmp(a->url, "http://", 7) == 0)) {
        fprintf(stderr, "ccgate kbs: --url must be https:// (http:// only with --insecure-http)\n");
        return CLI_EXIT_USAGE;
    }
    if (needs_token) {
        if (a->token_file == NULL || (token = read_token(a->token_file)) == NULL) {
            fprintf(stderr, "ccgate kbs: --token FILE with one admin token is required\n");
            return CLI_EXIT_USAGE;
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
        fprintf(stderr, "ccgate kbs: the broker is unreachable: %s\n", curl_easy_strerror(cc));
        goto done;
    }
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    doc = out.data != NULL ? json_loadb(out.data, out.len, 0, NULL) : NULL;
    if (status >= 200 && status < 300) {
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        printf("%s\n", text != NULL ? text : (out.data != NULL ? out.data : ""));
        free(text);
        rc = CLI_EXIT_OK;
    } else {
        const char *code = json_string_value(json_array_get(json_object_get(doc, "reasons"), 0));
        const char *detail = json_string_value(json_object_get(doc, "detail"));
        ccg_reason r = code != NULL ? ccg_reason_from_code(code) : CCG_R__COUNT;
        if (a->json && out.data != NULL) {
            printf("%s\n", out.data);
        }
        fprintf(stderr, "ccgate kbs: HTTP %ld: %s: %s\n", status, code != NULL ? code : "unknown",
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
        fprintf(stderr, "ccgate kbs: --file is required\n");
        return NULL;
    }
    if (ccg_failed(cli_file_read(path, KBS_CLI_MAX_FILE, &text, &len)) || strlen((char *)text) != len) {
        fprintf(stderr, "ccgate kbs: cannot read %s as a text document\n", path);
        free(text);
        return NULL;
    }
    return (char *)text;
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
        fprintf(stderr, "ccgate kbs collateral put: --collateral-id, --version and --file are required\n");
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

static int need(const char *value, const char *what)
{
    if (value == NULL) {
        fprintf(stderr, "ccgate kbs: %s is required\n", what);
        return 0;
    }
    return 1;
}

int cmd_kbs(int argc, char **argv)
{
    kbs_args a;
    int parsed = parse_args(argc, argv, &a);
    int go = cli_parse_result(parsed, usage);
    const char *g, *v;
    if (go != -1) {
        return go;
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
            return doc_post(&a, "/kbs/v0/explain", 0);
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
    } else if (strcmp(g, "health") == 0) {
        return call(&a, "GET", "/admin/v0/health", NULL, 1);
    }
    fprintf(stderr, "ccgate kbs: unknown subcommand '%s %s'\n", g, v);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
