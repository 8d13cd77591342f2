/* ccgate client ask | proxy: talk to an attested inference endpoint (docs/client.md). The endpoint's
 * evidence is verified with the same verifiers, policies and trust roots as `ccgate verify` before any
 * prompt or API key byte leaves. */
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "ccgate/buf.h"
#include "ccgate/endpoint_client.h"
#include "ccgate/refvalue.h"
#include "ccgate/sse.h"
#include "ccgate/tdx_policy.h"
#include "ccgate/x509util.h"
#include "cli.h"

#define MAX_FILE (4u << 20)
#define ASK_MAX_ANSWER (32u << 20) /* a plain (not streamed) answer */

typedef struct {
    const char *endpoint, *policy, *tdx_policy, *trust_root, *trust_root_product, *tdx_trust_root, *tdx_collateral;
    const char *refvals, *now, *api_key_file, *cert, *key, *cacert;
    const char *issuer_keys[16];
    int issuer_key_count;
    const char *baselines[3];
    int baseline_count;
    int gateway, insecure_gateway_tls, json;
    long timeout_ms;
    ccg_time now_t; /* a pinned --now (RFC 3339 or epoch seconds), when given */
    /* ask */
    const char *model, *prompt;
    long max_tokens;
    int stream, completions;
    /* proxy */
    const char *listen, *port_file;
    long connections;
} client_args;

static const char *g_name = "ccgate client"; /* the full name of the subcommand being run */

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
            "       ccgate client ask   --endpoint URL --policy FILE [trust options] [request options] \"prompt\"\n"
            "       ccgate client proxy --listen 127.0.0.1:PORT --endpoint URL --policy FILE [trust options]\n"
            "                           [--port-file FILE] [--connections N]\n"
            "\n"
            "Fetches the endpoint's evidence (GET /.well-known/ccgate/evidence) with a fresh nonce, verifies it\n"
            "like `ccgate verify` (SNP or TDX) and checks that it binds the nonce and this TLS session (direct\n"
            "mode) or the endpoint's OHTTP key (--gateway). Only then is a request sent: in direct mode on that\n"
            "same TLS connection (a new connection is a new attestation); through a gateway as Oblivious HTTP.\n"
            "The endpoint's certificate is not checked against a PKI in direct mode: the attestation is the trust.\n"
            "\n"
            "  --endpoint URL          https://host:port of the endpoint (or of the gateway, with --gateway)\n"
            "  --policy FILE           the SNP policy (docs/snp-policy.md) or TDX policy (docs/tdx-policy.md)\n"
            "                          that names the approved measurements\n"
            "  --tdx-policy FILE       a TDX policy besides an SNP --policy\n"
            "  --trust-root FILE       also trust this self-signed SNP root (emulator/test roots only)\n"
            "  --trust-root-product P  milan (default), genoa or turin\n"
            "  --tdx-trust-root FILE   also trust this self-signed TDX test root\n"
            "  --tdx-collateral FILE   Intel collateral bundle for TDX quotes (docs/tdx-quote.md)\n"
            "  --refvals FILE, --tcb-baseline FILE..., --issuer-key ID=FILE...   as for `ccgate verify`\n"
            "  --now TIME              the verification time, RFC 3339 or epoch seconds (default: the current\n"
            "                          time at each attestation)\n"
            "  --api-key-file FILE     the API key, sent as Authorization: Bearer after verification only\n"
            "  --cert FILE --key FILE  a client certificate for mTLS (direct mode)\n"
            "  --gateway               gateway mode: evidence bound to the endpoint's HPKE key, requests as OHTTP\n"
            "  --cacert FILE           gateway mode: the CA bundle for the gateway's TLS certificate\n"
            "  --insecure-gateway-tls  gateway mode: do not check the gateway's certificate (OHTTP still protects)\n"
            "  --timeout-ms MS         per request (default 120000)\n"
            "ask:\n"
            "  --model M               the model name (default \"ccgate-model\", the runner's default)\n"
            "  --max-tokens N          (default 64)\n"
            "  --stream                ask for server-sent events and print the text as it arrives\n"
            "  --completions           use /v1/completions (the prompt as is) instead of /v1/chat/completions\n"
            "  --json                  print the endpoint's JSON answer instead of the text\n"
            "proxy:\n"
            "  --listen HOST:PORT      loopback only (127.0.0.1 or [::1]); PORT 0 picks a free one\n"
            "  --port-file FILE        write the bound port here\n"
            "  --connections N         attested upstream connections (default 4)\n"
            "\n"
            "Exit status: 0 success, 1 the endpoint was refused (evidence denied, binding mismatch) or refused\n"
            "the request, 2 bad usage, unreachable endpoint or malformed input.\n");
    fclose(m);
    cli_usage_for(out, g_name, text);
    free(text);
}

static int parse_args(int argc, char **argv, client_args *a, int proxy)
{
    static const struct option opts[] = {
        {"endpoint", required_argument, 0, 'e'},      {"policy", required_argument, 0, 'p'},
        {"tdx-policy", required_argument, 0, 'X'},    {"trust-root", required_argument, 0, 't'},
        {"trust-root-product", required_argument, 0, 'P'}, {"tdx-trust-root", required_argument, 0, 'T'},
        {"tdx-collateral", required_argument, 0, 'C'}, {"refvals", required_argument, 0, 'V'},
        {"tcb-baseline", required_argument, 0, 'B'},  {"issuer-key", required_argument, 0, 'I'},
        {"now", required_argument, 0, 'n'},           {"api-key-file", required_argument, 0, 'k'},
        {"cert", required_argument, 0, 'c'},          {"key", required_argument, 0, 'K'},
        {"gateway", no_argument, 0, 'g'},             {"cacert", required_argument, 0, 'A'},
        {"insecure-gateway-tls", no_argument, 0, 'G'}, {"timeout-ms", required_argument, 0, 'o'},
        {"model", required_argument, 0, 'm'},         {"max-tokens", required_argument, 0, 'x'},
        {"stream", no_argument, 0, 's'},              {"completions", no_argument, 0, 'l'},
        {"json", no_argument, 0, 'j'},                {"listen", required_argument, 0, 'L'},
        {"port-file", required_argument, 0, 'F'},     {"connections", required_argument, 0, 'N'},
        CCG_CLI_STD_OPTIONS,                {0, 0, 0, 0},
    };
    const ccg_cli cli = {g_name, usage, opts, NULL};
    int c;
    char *end = NULL;
    a->max_tokens = 64;
    a->model = "ccgate-model"; /* ccgate-runner's default --served-name */
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        /* The trust options are common; ask and proxy each have their own. */
        if (cli_check_option(&cli, c, proxy ? "epXtPTCVBInkcKgAGoLFNj" : "epXtPTCVBInkcKgAGomxslj") != 0) {
            return CCG_CLI_EXIT_2;
        }
        switch (c) {
        case 'e': a->endpoint = optarg; break;
        case 'p': a->policy = optarg; break;
        case 'X': a->tdx_policy = optarg; break;
        case 't': a->trust_root = optarg; break;
        case 'P': a->trust_root_product = optarg; break;
        case 'T': a->tdx_trust_root = optarg; break;
        case 'C': a->tdx_collateral = optarg; break;
        case 'V': a->refvals = optarg; break;
        case 'B':
            if (a->baseline_count == 3) {
                return ccg_cli_usage_error(&cli, "at most 3 --tcb-baseline");
            }
            a->baselines[a->baseline_count++] = optarg;
            break;
        case 'I':
            if (a->issuer_key_count == 16) {
                return ccg_cli_usage_error(&cli, "at most 16 --issuer-key");
            }
            a->issuer_keys[a->issuer_key_count++] = optarg;
            break;
        case 'n': a->now = optarg; break;
        case 'k': a->api_key_file = optarg; break;
        case 'c': a->cert = optarg; break;
        case 'K': a->key = optarg; break;
        case 'g': a->gateway = 1; break;
        case 'A': a->cacert = optarg; break;
        case 'G': a->insecure_gateway_tls = 1; break;
        case 'o':
            a->timeout_ms = strtol(optarg, &end, 10);
            if (*end != 0 || a->timeout_ms < 1 || a->timeout_ms > 3600000) {
                return ccg_cli_usage_error(&cli, "--timeout-ms must be 1 to 3600000");
            }
            break;
        case 'm': a->model = optarg; break;
        case 'x':
            a->max_tokens = strtol(optarg, &end, 10);
            if (*end != 0 || a->max_tokens < 1 || a->max_tokens > 1000000) {
                return ccg_cli_usage_error(&cli, "--max-tokens must be 1 to 1000000");
            }
            break;
        case 's': a->stream = 1; break;
        case 'l': a->completions = 1; break;
        case 'j': a->json = 1; break;
        case 'L': a->listen = optarg; break;
        case 'F': a->port_file = optarg; break;
        case 'N':
            a->connections = strtol(optarg, &end, 10);
            if (*end != 0 || a->connections < 1 || a->connections > 64) {
                return ccg_cli_usage_error(&cli, "--connections must be 1 to 64");
            }
            break;
        default: return c; /* help, version or a usage error, already printed */
        }
    }
    if (!proxy) {
        if (optind + 1 != argc) {
            return ccg_cli_usage_error(&cli, "one prompt argument is required");
        }
        a->prompt = argv[optind];
    } else if (optind != argc) {
        return ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]);
    }
    if (a->endpoint == NULL || a->policy == NULL) {
        return ccg_cli_usage_error(&cli, "--endpoint and --policy are required (without a policy naming the approved "
                                         "measurements any genuine endpoint would be accepted)");
    }
    if (proxy && a->listen == NULL) {
        return ccg_cli_usage_error(&cli, "--listen is required");
    }
    if ((a->cert == NULL) != (a->key == NULL)) {
        return ccg_cli_usage_error(&cli, "--cert and --key go together");
    }
    if (a->now != NULL && cli_now(&cli, a->now, &a->now_t) != 0) {
        return CCG_CLI_EXIT_2;
    }
    return 0;
}

/* Everything the trust configuration owns. */
typedef struct {
    ccg_snp_verifier *snp;
    ccg_snp_policy *snp_policy;
    ccg_snp_tcb_baselines baselines;
    ccg_snp_verify_opts snp_opts;
    ccg_tdx_verifier *tdx;
    ccg_tdx_policy *tdx_policy;
    ccg_tdx_collateral tdx_col;
    int have_tdx_col;
    ccg_refval_set *refvals;
    ccg_refval_issuers *issuers;
    char *api_key;
    ccg_client_trust trust;
} trust_state;

static void trust_free(trust_state *s)
{
    ccg_snp_verifier_free(s->snp);
    ccg_snp_policy_free(s->snp_policy);
    ccg_snp_tcb_baselines_free(&s->baselines);
    ccg_tdx_verifier_free(s->tdx);
    ccg_tdx_policy_free(s->tdx_policy);
    if (s->have_tdx_col) {
        ccg_tdx_collateral_free(&s->tdx_col);
    }
    ccg_refval_set_free(s->refvals);
    ccg_refval_issuers_free(s->issuers);
    if (s->api_key != NULL) {
        explicit_bzero(s->api_key, strlen(s->api_key));
        free(s->api_key);
    }
}

static ccg_result load_root(const char *path, STACK_OF(X509) **certs)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *data = NULL;
    size_t len = 0;
    *certs = sk_X509_new_null();
    CCG_ENSURE_ALLOC(*certs);
    CCG_TRY(cli_file_read(path, MAX_FILE, &data, &len));
    CCG_TRY(ccg_x509_load_bundle(data, len, *certs));
    CCG_ENSURE_MSG(sk_X509_num(*certs) == 1, CCG_R_USAGE_INVALID, "%s must hold one certificate", path);
    result = CCG_SUCCESS;
cleanup:
    free(data);
    return result;
}

/* The policy file is an SNP policy or, failing that, a TDX policy. */
static ccg_result load_policy(const char *path, trust_state *s)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    CCG_TRY(cli_file_read(path, MAX_FILE, &text, &len));
    if (ccg_failed(ccg_snp_policy_parse((const char *)text, len, &s->snp_policy))) {
        ccg_error_clear();
        CCG_TRY(ccg_tdx_policy_parse((const char *)text, len, &s->tdx_policy));
    }
    result = CCG_SUCCESS;
cleanup:
    free(text);
    return result;
}

static ccg_result load_trust(const client_args *a, trust_state *s)
{
    ccg_result result = CCG_FAILURE;
    uint8_t *text = NULL;
    size_t len = 0;
    STACK_OF(X509) *certs = NULL;
    ccg_snp_tcb_baselines_init(&s->baselines);
    CCG_TRY(load_policy(a->policy, s));
    if (a->tdx_policy != NULL) {
        CCG_ENSURE_MSG(s->tdx_policy == NULL, CCG_R_USAGE_INVALID, "--policy is already a TDX policy");
        CCG_TRY(cli_file_read(a->tdx_policy, MAX_FILE, &text, &len));
        CCG_TRY(ccg_tdx_policy_parse((const char *)text, len, &s->tdx_policy));
        free(text);
        text = NULL;
    }
    if (a->now != NULL) {
        s->trust.now = a->now_t;
    }
    CCG_TRY(cli_load_issuers(a->issuer_keys, a->issuer_key_count, &s->issuers));
    if (a->refvals != NULL) {
        CCG_TRY(cli_file_read(a->refvals, MAX_FILE, &text, &len));
        CCG_TRY(ccg_refval_set_parse((const char *)text, len, &s->refvals));
        free(text);
        text = NULL;
    }
    if (s->snp_policy != NULL) {
        CCG_TRY(ccg_snp_verifier_new(&s->snp));
        CCG_TRY(cli_load_tcb_baselines(a->baselines, a->baseline_count, &s->baselines));
        if (a->trust_root != NULL) {
            ccg_snp_product product = ccg_snp_product_from_name(a->trust_root_product ? a->trust_root_product : "milan");
            CCG_ENSURE_MSG(product != CCG_SNP_PRODUCT_UNKNOWN, CCG_R_USAGE_INVALID, "unknown --trust-root-product");
            CCG_TRY(load_root(a->trust_root, &certs));
            CCG_TRY(ccg_snp_verifier_add_root(s->snp, product, sk_X509_value(certs, 0)));
            sk_X509_pop_free(certs, X509_free);
            certs = NULL;
        }
        s->snp_opts.refvals = s->refvals;
        s->snp_opts.issuers = s->issuers;
        s->snp_opts.tcb_baselines = &s->baselines;
        s->snp_opts.tcb_issuers = s->issuers;
    }
    if (s->tdx_policy != NULL) {
        CCG_TRY(ccg_tdx_verifier_new(&s->tdx));
        if (a->tdx_trust_root != NULL) {
            CCG_TRY(load_root(a->tdx_trust_root, &certs));
            CCG_TRY(ccg_tdx_verifier_add_test_root(s->tdx, sk_X509_value(certs, 0)));
        }
        if (a->tdx_collateral != NULL) {
            CCG_TRY(cli_file_read(a->tdx_collateral, CCG_TDX_COLLATERAL_MAX, &text, &len));
            CCG_TRY(ccg_tdx_collateral_parse((const char *)text, len, &s->tdx_col));
            s->have_tdx_col = 1;
        }
    }
    if (a->api_key_file != NULL) {
        uint8_t *key = NULL;
        CCG_TRY(cli_file_read(a->api_key_file, 4096, &key, &len));
        while (len > 0 && (key[len - 1] == '\n' || key[len - 1] == '\r')) {
            len--;
        }
        s->api_key = malloc(len + 1);
        if (s->api_key != NULL) {
            memcpy(s->api_key, key, len);
            s->api_key[len] = 0;
        }
        explicit_bzero(key, len);
        free(key);
        CCG_ENSURE_ALLOC(s->api_key);
        CCG_ENSURE_MSG(len > 0 && strpbrk(s->api_key, "\r\n ") == NULL && memchr(s->api_key, 0, len) == NULL,
                       CCG_R_USAGE_INVALID, "the API key file must hold one key on one line");
    }
    s->trust.snp = s->snp;
    s->trust.snp_policy = s->snp_policy;
    s->trust.snp_opts = &s->snp_opts;
    s->trust.tdx = s->tdx;
    s->trust.tdx_policy = s->tdx_policy;
    s->trust.tdx_col = s->have_tdx_col ? &s->tdx_col : NULL;
    s->trust.refvals = s->refvals;
    s->trust.issuers = s->issuers;
    result = CCG_SUCCESS;
cleanup:
    sk_X509_pop_free(certs, X509_free);
    free(text);
    return result;
}

static void client_config(const client_args *a, const trust_state *s, ccg_client_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->endpoint = a->endpoint;
    cfg->trust = &s->trust;
    cfg->gateway = a->gateway;
    cfg->api_key = s->api_key;
    cfg->client_cert = a->cert;
    cfg->client_key = a->key;
    cfg->cacert = a->cacert;
    cfg->insecure_gateway_tls = a->insecure_gateway_tls;
    cfg->timeout_ms = a->timeout_ms;
}

/* Prints the refusal: the client code, the message, then the verifier's reasons. */
static int report_refusal(const char *context, const ccg_decision *d, int json)
{
    ccg_reason reason = ccg_error_reason();
    int rc = cli_report_error(context, json);
    for (size_t i = 0; i < d->reasons.count; i++) {
        fprintf(stderr, "reason: %s: %s\n", ccg_reason_code(d->reasons.items[i].reason),
                ccg_reason_message(d->reasons.items[i].reason));
    }
    return reason == CCG_R_OK ? CLI_EXIT_USAGE : rc;
}

/* ------------------------------------------------------------------ ask */

typedef struct {
    int status;
    int json;
    int stream;
    int completions;
    ccg_buf body; /* a plain answer, up to ASK_MAX_ANSWER */
    ccg_sse_parser *sse;
    int printed;
} ask_out;

static void ask_head(void *arg, int status, const char *ct)
{
    ask_out *o = arg;
    (void)ct;
    o->status = status;
}

/* One streamed chunk: print its delta (chat) or text (completions). */
static int ask_event(void *arg, const ccg_sse_event *ev)
{
    ask_out *o = arg;
    if (strcmp(ev->data, "[DONE]") == 0) {
        return 0;
    }
    json_t *j = json_loads(ev->data, 0, NULL);
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    const char *text = o->completions ? json_string_value(json_object_get(c0, "text"))
                                      : json_string_value(json_object_get(json_object_get(c0, "delta"), "content"));
    if (text != NULL) {
        fputs(text, stdout);
        fflush(stdout);
        o->printed = 1;
    }
    json_decref(j);
    return 0;
}

static int ask_body(void *arg, const uint8_t *data, size_t len)
{
    ask_out *o = arg;
    if (o->stream && o->status == 200 && !o->json && o->sse != NULL) {
        return ccg_failed(ccg_sse_feed(o->sse, data, len)) ? 1 : 0;
    }
    return ccg_failed(ccg_buf_append(&o->body, data, len)) ? 1 : 0;
}

static char *ask_request_body(const client_args *a)
{
    json_t *req = a->completions
                      ? json_pack("{s:s,s:s,s:I,s:b}", "model", a->model, "prompt", a->prompt, "max_tokens",
                                  (json_int_t)a->max_tokens, "stream", a->stream)
                      : json_pack("{s:s,s:[{s:s,s:s}],s:I,s:b}", "model", a->model, "messages", "role", "user", "content",
                                  a->prompt, "max_tokens", (json_int_t)a->max_tokens, "stream", a->stream);
    char *text = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    return text;
}

static int print_answer(const ask_out *o)
{
    const char *body = o->body.p ? (const char *)o->body.p : "";
    if (o->status != 200) {
        fprintf(stderr, "ccgate client ask: the endpoint answered HTTP %d: %s\n", o->status, body);
        return CLI_EXIT_DENY;
    }
    if (o->stream && !o->json) {
        if (o->printed) {
            putchar('\n');
        }
        return CLI_EXIT_OK;
    }
    if (o->json) {
        printf("%s\n", body);
        return CLI_EXIT_OK;
    }
    json_t *j = o->body.p ? json_loads(body, 0, NULL) : NULL;
    json_t *c0 = json_array_get(json_object_get(j, "choices"), 0);
    const char *text = o->completions ? json_string_value(json_object_get(c0, "text"))
                                      : json_string_value(json_object_get(json_object_get(c0, "message"), "content"));
    int rc = CLI_EXIT_OK;
    if (text == NULL) {
        fprintf(stderr, "ccgate client ask: the answer has no choices[0] text\n");
        rc = CLI_EXIT_USAGE;
    } else {
        printf("%s\n", text);
    }
    json_decref(j);
    return rc;
}

static int run_ask(const client_args *a)
{
    int rc = CLI_EXIT_USAGE;
    trust_state s;
    ccg_client_config cfg;
    ccg_client *c = NULL;
    ccg_decision d;
    ask_out o;
    char *body = NULL;
    memset(&s, 0, sizeof(s));
    memset(&o, 0, sizeof(o));
    ccg_decision_init(&d, "endpoint");
    o.json = a->json;
    o.stream = a->stream;
    o.completions = a->completions;
    ccg_buf_init(&o.body, ASK_MAX_ANSWER);
    ccg_error_clear();
    if (ccg_failed(load_trust(a, &s))) {
        rc = cli_report_error("client ask", a->json);
        goto cleanup;
    }
    client_config(a, &s, &cfg);
    body = ask_request_body(a);
    if (body == NULL || ccg_failed(ccg_client_new(&cfg, &c)) ||
        (a->stream && ccg_failed(ccg_sse_parser_new(ask_event, &o, &o.sse)))) {
        rc = cli_report_error("client ask", a->json);
        goto cleanup;
    }
    ccg_client_sink sink = {ask_head, ask_body, &o};
    if (ccg_failed(ccg_client_request(c, "POST", a->completions ? "/v1/completions" : "/v1/chat/completions",
                                      "application/json", (const uint8_t *)body, strlen(body), &sink, &d))) {
        rc = report_refusal("client ask", &d, a->json);
        goto cleanup;
    }
    rc = print_answer(&o);
cleanup:
    if (body != NULL) {
        explicit_bzero(body, strlen(body));
        free(body);
    }
    ccg_buf_free(&o.body);
    ccg_sse_parser_free(o.sse);
    ccg_decision_free(&d);
    ccg_client_free(c);
    trust_free(&s);
    return rc;
}

/* ------------------------------------------------------------------ proxy */

static volatile int g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int run_proxy(const client_args *a)
{
    int rc = CLI_EXIT_USAGE;
    trust_state s;
    ccg_client_config cfg;
    ccg_client_proxy_config pc;
    char host[64];
    memset(&s, 0, sizeof(s));
    memset(&pc, 0, sizeof(pc));
    ccg_error_clear();
    const char *colon = strrchr(a->listen, ':');
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    size_t hl = colon ? (size_t)(colon - a->listen) : 0;
    if (colon == NULL || *end != 0 || port < 0 || port > 65535 || hl == 0 || hl >= sizeof(host)) {
        fprintf(stderr, "ccgate client proxy: --listen must be HOST:PORT\n");
        return CLI_EXIT_USAGE;
    }
    const char *h = a->listen;
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++, hl -= 2;
    }
    memcpy(host, h, hl);
    host[hl] = 0;
    if (ccg_failed(load_trust(a, &s))) {
        rc = cli_report_error("client proxy", a->json);
        goto cleanup;
    }
    client_config(a, &s, &cfg);
    pc.listen_host = host;
    pc.port = (unsigned)port;
    pc.port_file = a->port_file;
    pc.client = &cfg;
    pc.connections = (unsigned)a->connections;
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);
    if (ccg_failed(ccg_client_proxy_run(&pc, &g_stop))) {
        rc = cli_report_error("client proxy", a->json);
        goto cleanup;
    }
    rc = CLI_EXIT_OK;
cleanup:
    trust_free(&s);
    return rc;
}

int cmd_client(int argc, char **argv)
{
    client_args a;
    memset(&a, 0, sizeof(a));
    static const cli_sub subs[] = {
        {"ask", "attest an inference endpoint, then send it one prompt"},
        {"proxy", "a local OpenAI-compatible proxy to an attested endpoint"},
    };
    char name[64];
    int rc = CLI_EXIT_USAGE;
    int k = cli_group("ccgate client", "Ask an attested inference endpoint, or proxy requests to it.", subs, 2, argc,
                      argv, &rc);
    if (k < 0) {
        return rc;
    }
    int proxy = k == 1;
    g_name = cli_subname(name, sizeof(name), "ccgate client", subs[k].word);
    rc = cli_parse_result(parse_args(argc - 1, argv + 1, &a, proxy), NULL);
    if (rc >= 0) {
        return rc;
    }
    return proxy ? run_proxy(&a) : run_ask(&a);
}
