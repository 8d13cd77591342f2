/* ccgate-kbs: the key broker daemon, and its host provisioning commands (docs/kbs.md).
 *
 *   ccgate-kbs [serve] --config FILE [--insecure-http] [--port-file FILE]
 *   ccgate-kbs kek create    --config FILE
 *   ccgate-kbs kek rewrap    --config FILE [--file NEW-KEYSTORE.json]
 *   ccgate-kbs policy set    --config FILE --file POLICY.json
 *   ccgate-kbs key import    --config FILE --key-id REPO/TYPE/TAG --policy-id ID --file KEY
 *   ccgate-kbs key rotate    --config FILE --key-id REPO/TYPE/TAG --file KEY
 *   ccgate-kbs key disable|enable|retire --config FILE --key-id REPO/TYPE/TAG
 *   ccgate-kbs key state     --config FILE --key-id REPO/TYPE/TAG --state active|disabled|retired
 *
 * The verbs are the remote admin client's (`ccgate kbs key import ...`). The earlier one-word verbs stay
 * as aliases: create-kek, set-policy, import-key, rotate-key, key-state.
 *
 * The provisioning commands are audited as the host operator (kbs_host.c): each change is recorded
 * before it is made, so with the audit log unwritable nothing changes (audit.write_failed, exit 1).
 * Every log line is one JSON object of the one schema (include/ccgate/log.h, docs/logging.md).
 *
 * Exit status: 0 success, 1 refused (a store or keystore said no), 2 bad usage or input. */
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ccgate/cli_args.h"
#include "ccgate/error.h"
#include "ccgate/kbs.h"
#include "ccgate/keystore.h"
#include "ccgate/log.h"
#include "ccgate/secmem.h"
#include "ccgate/version.h"

typedef struct {
    const char *config;
    const char *file;
    const char *key_id;
    const char *policy_id;
    const char *state;
    const char *port_file;
    int insecure_http;
} options;

/* What a subcommand needs besides --config, and how it runs. */
enum { NEED_FILE = 1, NEED_KEY_ID = 2, NEED_POLICY_ID = 4, NEED_STATE = 8 };
typedef struct verb verb;
struct verb {
    const char *group;  /* "key", or NULL for a one-word verb */
    const char *name;   /* "import" */
    const char *alias;  /* the earlier one-word verb ("import-key"), or NULL */
    const char *fixed_state; /* key disable/enable/retire */
    unsigned needs;
    const char *synopsis; /* after "Usage: FULL NAME " */
    const char *what;
    int (*run)(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg, json_t **config_json);
};

static const struct option OPTIONS[] = {
    {"config", required_argument, 0, 'c'},    {"file", required_argument, 0, 'f'},
    {"key-id", required_argument, 0, 'k'},    {"policy-id", required_argument, 0, 'p'},
    {"state", required_argument, 0, 's'},     {"port-file", required_argument, 0, 'P'},
    {"insecure-http", no_argument, 0, 'I'},   CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};

static void usage_top(FILE *f)
{
    fprintf(f,
            "Usage: ccgate-kbs [serve] --config FILE [--insecure-http] [--port-file FILE]\n"
            "  or:  ccgate-kbs COMMAND [SUBCOMMAND] --config FILE [OPTIONS]\n"
            "The key broker: a KBS protocol (0.4.0) server releasing model keys to attested guests, and its\n"
            "host provisioning commands. Every command takes --help.\n"
            "\n"
            "Commands:\n"
            "  serve            serve the broker (the default command)\n"
            "  kek create       create the key-encryption key in the configured keystore\n"
            "  kek rewrap       re-wrap every stored key under a new KEK ([--file NEW-KEYSTORE.json])\n"
            "  policy set       store a release policy document (--file POLICY.json)\n"
            "  key import       import a key (--key-id REPO/TYPE/TAG --policy-id ID --file KEY)\n"
            "  key rotate       add a new version of a key (--key-id --file)\n"
            "  key disable      stop releasing a key (--key-id)\n"
            "  key enable       release a disabled key again (--key-id)\n"
            "  key retire       retire a key for good (--key-id)\n"
            "  key state        set a key's state (--key-id --state active|disabled|retired)\n"
            "Aliases kept for existing scripts: create-kek, set-policy, import-key, rotate-key, key-state;\n"
            "rewrap is `kek rewrap`.\n"
            "\n"
            "Options of serve:\n"
            "  --config FILE      the JSON configuration (docs/kbs.md)\n"
            "  --insecure-http    plain HTTP, on a loopback address only (tests); TLS otherwise\n"
            "  --port-file FILE   write the bound port there once listening (with \"port\": 0)\n"
            "  -h, --help         print this help and exit\n"
            "  --version          print the version, the git revision and the OpenSSL in use\n"
            "\n"
            "The broker listens on the configured address (IPv4, IPv6, a host name) and port, default %d.\n"
            "SIGHUP reloads the TLS certificate and key (and checks the configuration) without dropping\n"
            "connections; SIGTERM or SIGINT stops it. Logs: one JSON object per line on standard error\n"
            "(docs/logging.md); CCGATE_LOG_LEVEL=debug|info|warn|error.\n"
            "\n"
            "Exit status: 0 success, 1 refused (a store or keystore said no), 2 bad usage or input.\n",
            CCG_KBS_DEFAULT_PORT);
}

static void log_error(const char *event)
{
    ccg_log_error_last(CCG_LOG_ERROR, event, NULL, NULL);
    ccg_log_openssl_errors(CCG_LOG_WARN, NULL); /* OpenSSL's own account, if it left one */
}

static int exit_for_error(void)
{
    ccg_reason_kind kind = ccg_reason_kind_of(ccg_error_reason());
    return kind == CCG_KIND_INPUT ? 2 : 1;
}

static int write_port_file(const char *path, uint16_t port_value)
{
    char port[16], tmp[4096];
    int n = snprintf(port, sizeof(port), "%u\n", (unsigned)port_value);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp)) {
        ccg_log_eventf(CCG_LOG_ERROR, "start_failed", NULL, "{s:s,s:s}", "reason",
                       ccg_reason_code(CCG_R_INPUT_TOO_LARGE), "detail", "--port-file path too long");
        return -1;
    }
    if (ccg_failed(ccg_file_write(tmp, (const uint8_t *)port, (size_t)n)) || rename(tmp, path) != 0) {
        log_error("start_failed");
        return -1;
    }
    return 0;
}

/* One SIGHUP: the outcome is logged (error with its reason when refused) and audited. */
static void reload(ccg_kbs_server *srv, ccg_kbs *k, const char *config_path, json_t **config_json)
{
    ccg_reason why = CCG_R_OK;
    if (ccg_failed(ccg_kbs_reload(srv, config_path, config_json))) {
        why = ccg_error_reason() != CCG_R_OK ? ccg_error_reason() : CCG_R_INTERNAL_ERROR;
        ccg_log_error_last(CCG_LOG_ERROR, "reload_failed", NULL,
                           NULL); /* the old configuration and certificate stay in service */
        ccg_log_openssl_errors(CCG_LOG_WARN, NULL);
    } else {
        ccg_log_eventf(CCG_LOG_INFO, "reloaded", NULL, "{s:s}", "config", config_path);
    }
    if (ccg_failed(ccg_kbs_host_record_reload(k, why))) {
        log_error("reload_audit_failed");
    }
}

static int run_serve(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg, json_t **config_json)
{
    ccg_kbs_server *srv = NULL;
    sigset_t set;
    int sig = 0;
    (void)v;

    /* Signals are taken synchronously below; the server's threads inherit the mask. */
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (ccg_failed(ccg_kbs_server_start(k, cfg, o->insecure_http, &srv))) {
        log_error("start_failed");
        return exit_for_error();
    }
    {
        /* What a core dump would need, as the process itself sees it (docs/kbs.md). */
        struct rlimit core = {1, 1};
        (void)getrlimit(RLIMIT_CORE, &core);
        ccg_log_eventf(CCG_LOG_INFO, "listening", NULL, "{s:s,s:i,s:b,s:i,s:I,s:i}", "address",
                       ccg_kbs_server_address(srv), "port", (int)ccg_kbs_server_port(srv), "tls", !o->insecure_http,
                       "dumpable", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), "core_limit", (json_int_t)core.rlim_cur,
                       "pid", (int)getpid());
    }
    if (o->port_file != NULL && write_port_file(o->port_file, ccg_kbs_server_port(srv)) != 0) {
        ccg_kbs_server_stop(srv);
        return 1;
    }
    for (;;) {
        if (sigwait(&set, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP) {
            break;
        }
        reload(srv, k, o->config, config_json);
    }
    ccg_log_eventf(CCG_LOG_INFO, "stopping", NULL, "{s:i}", "signal", sig);
    ccg_kbs_server_stop(srv);
    return 0;
}

static int run_kek(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg, json_t **config_json)
{
    (void)v, (void)o, (void)cfg, (void)config_json;
    if (ccg_failed(ccg_kbs_host_create_kek(k))) {
        log_error("kek_not_created");
        return exit_for_error();
    }
    return 0;
}

static int run_policy_set(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg,
                          json_t **config_json)
{
    uint8_t *text = NULL;
    size_t len = 0;
    int rc = 0;
    (void)v, (void)cfg, (void)config_json;
    if (ccg_failed(ccg_file_read(o->file, 1u << 20, &text, &len)) ||
        ccg_failed(ccg_kbs_host_set_policy(k, (const char *)text, len))) {
        log_error("policy_not_stored");
        rc = exit_for_error();
    }
    free(text);
    return rc;
}

static int run_key_import(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg,
                          json_t **config_json)
{
    int rotate = strcmp(v->name, "rotate") == 0;
    int64_t version = 1;
    uint8_t *raw = NULL;
    size_t len = 0;
    ccg_secbuf key = {0};
    int rc = 2;
    (void)cfg, (void)config_json;
    if (ccg_failed(ccg_file_read(o->file, CCG_KEYSTORE_MAX_KEY_LEN, &raw, &len)) || len == 0 ||
        ccg_failed(ccg_secbuf_alloc(&key, len, 1))) {
        log_error("key_file_unreadable");
        goto cleanup;
    }
    memcpy(key.data, raw, len);
    if (rotate ? ccg_failed(ccg_kbs_host_rotate_key(k, o->key_id, &key, &version))
               : ccg_failed(ccg_kbs_host_import_key(k, o->key_id, o->policy_id, &key))) {
        log_error(rotate ? "key_not_rotated" : "key_not_imported");
        rc = exit_for_error();
        goto cleanup;
    }
    printf("{\"%s\":\"%s\",\"version\":%lld}\n", rotate ? "rotated" : "imported", o->key_id, (long long)version);
    rc = 0;
cleanup:
    if (raw != NULL) {
        ccg_secure_zero(raw, len);
    }
    free(raw);
    ccg_secbuf_free(&key);
    return rc;
}

static int run_key_state(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg,
                         json_t **config_json)
{
    const char *state = v->fixed_state != NULL ? v->fixed_state : o->state;
    (void)cfg, (void)config_json;
    if (ccg_failed(ccg_kbs_host_set_key_state(k, o->key_id, state))) {
        log_error("key_state_not_changed");
        return exit_for_error();
    }
    return 0;
}

static int run_rewrap(const verb *v, const options *o, ccg_kbs *k, const ccg_kbs_config *cfg, json_t **config_json)
{
    uint8_t *text = NULL;
    size_t len = 0;
    ccg_kbs_rewrap_report r;
    int rc = 0;
    static const char *const token_key[] = {"none", "rewrapped", "already"};
    (void)v, (void)cfg, (void)config_json;
    if ((o->file != NULL && ccg_failed(ccg_file_read(o->file, CCG_KEYSTORE_MAX_CONFIG_LEN, &text, &len))) ||
        ccg_failed(ccg_kbs_host_rewrap(k, (const char *)text, &r))) {
        log_error("kek_not_rewrapped");
        rc = exit_for_error();
    } else {
        printf("{\"rewrapped\":%zu,\"already\":%zu,\"token_key\":\"%s\"}\n", r.rewrapped, r.already,
               token_key[r.token_key]);
    }
    free(text);
    return rc;
}

static const verb VERBS[] = {
    {NULL, "serve", NULL, NULL, 0, "--config FILE [--insecure-http] [--port-file FILE]", "serve the broker",
     run_serve},
    {"kek", "create", "create-kek", NULL, 0, "--config FILE", "create the key-encryption key in the keystore",
     run_kek},
    {"kek", "rewrap", "rewrap", NULL, 0, "--config FILE [--file NEW-KEYSTORE.json]",
     "re-wrap every stored key under a new key-encryption key (resumable, audited)", run_rewrap},
    {"policy", "set", "set-policy", NULL, NEED_FILE, "--config FILE --file POLICY.json",
     "store a release policy document (audited)", run_policy_set},
    {"key", "import", "import-key", NULL, NEED_FILE | NEED_KEY_ID | NEED_POLICY_ID,
     "--config FILE --key-id REPO/TYPE/TAG --policy-id ID --file KEY", "import a key under a release policy",
     run_key_import},
    {"key", "rotate", "rotate-key", NULL, NEED_FILE | NEED_KEY_ID, "--config FILE --key-id REPO/TYPE/TAG --file KEY",
     "add a new version of a key", run_key_import},
    {"key", "state", "key-state", NULL, NEED_KEY_ID | NEED_STATE,
     "--config FILE --key-id REPO/TYPE/TAG --state active|disabled|retired", "set a key's state", run_key_state},
    {"key", "disable", NULL, "disabled", NEED_KEY_ID, "--config FILE --key-id REPO/TYPE/TAG",
     "stop releasing a key", run_key_state},
    {"key", "enable", NULL, "active", NEED_KEY_ID, "--config FILE --key-id REPO/TYPE/TAG",
     "release a disabled key again", run_key_state},
    {"key", "retire", NULL, "retired", NEED_KEY_ID, "--config FILE --key-id REPO/TYPE/TAG", "retire a key for good",
     run_key_state},
};
#define VERB_COUNT (sizeof(VERBS) / sizeof(VERBS[0]))

/* The verb being parsed, for its usage callback (the convention's usage takes only the stream). */
static const verb *g_verb;
static char g_name[64];

static void usage_verb(FILE *f)
{
    const verb *v = g_verb;
    fprintf(f, "Usage: %s %s\n%c%s.\n\nOptions:\n", g_name, v->synopsis, toupper((unsigned char)v->what[0]),
            v->what + 1);
    fprintf(f, "  --config FILE        the broker's JSON configuration (docs/kbs.md)\n");
    if (v->run == run_serve) {
        fprintf(f, "  --insecure-http      plain HTTP, on a loopback address only (tests); TLS otherwise\n"
                   "  --port-file FILE     write the bound port there once listening\n");
    }
    if (v->needs & NEED_KEY_ID) {
        fprintf(f, "  --key-id ID          the key, REPO/TYPE/TAG\n");
    }
    if (v->needs & NEED_POLICY_ID) {
        fprintf(f, "  --policy-id ID       the release policy that guards it\n");
    }
    if (v->needs & NEED_STATE) {
        fprintf(f, "  --state STATE        active, disabled or retired\n");
    }
    if (v->run == run_rewrap) {
        fprintf(f, "  --file FILE          the new keystore's configuration (JSON, a new kek_label);\n"
                   "                       without it, into the configured keystore (its \"previous\"\n"
                   "                       member names the old KEK)\n");
    }
    if (v->needs & NEED_FILE) {
        fprintf(f, "  --file FILE          %s\n",
                v->run == run_policy_set ? "the policy document (JSON)"
                                         : "the key's bytes (never on the command line)");
    }
    fprintf(f, "  -h, --help           print this help and exit\n"
               "  --version            print the version, the git revision and the OpenSSL in use\n");
    if (v->alias != NULL) {
        fprintf(f, "\nAlias: ccgate-kbs %s.\n", v->alias);
    }
    fprintf(f, "\nExit status: 0 success, 1 refused (a store or keystore said no), 2 bad usage or input.\n");
}

static void usage_group(FILE *f)
{
    fprintf(f, "Usage: %s SUBCOMMAND --config FILE [OPTIONS]\n\nSubcommands:\n", g_name);
    for (size_t i = 0; i < VERB_COUNT; i++) {
        if (VERBS[i].group != NULL && strcmp(g_name + strlen("ccgate-kbs "), VERBS[i].group) == 0) {
            fprintf(f, "  %-10s %s\n", VERBS[i].name, VERBS[i].what);
        }
    }
    fprintf(f, "\nEach subcommand takes --help.\n");
}

/* Parses the verb's options (argv[0] is the verb's last word); 0 or a CCG_CLI_* outcome. */
static int parse_options(const ccg_cli *cli, const verb *v, int argc, char **argv, options *o)
{
    int c;
    memset(o, 0, sizeof(*o));
    ccg_cli_begin();
    while ((c = ccg_cli_next(cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 'c': o->config = optarg; break;
        case 'f': o->file = optarg; break;
        case 'k': o->key_id = optarg; break;
        case 'p': o->policy_id = optarg; break;
        case 's': o->state = optarg; break;
        case 'P': o->port_file = optarg; break;
        case 'I': o->insecure_http = 1; break;
        default: return c;
        }
    }
    if (optind < argc) {
        return ccg_cli_usage_error(cli, "unexpected argument '%s'", argv[optind]);
    }
    if (o->config == NULL) {
        return ccg_cli_usage_error(cli, "--config is required");
    }
    if (v->run != run_serve && (o->port_file != NULL || o->insecure_http)) {
        return ccg_cli_usage_error(cli, "--port-file and --insecure-http belong to serve");
    }
    if (((v->needs & NEED_FILE) && o->file == NULL) || ((v->needs & NEED_KEY_ID) && o->key_id == NULL) ||
        ((v->needs & NEED_POLICY_ID) && o->policy_id == NULL) || ((v->needs & NEED_STATE) && o->state == NULL)) {
        return ccg_cli_usage_error(cli, "missing a required option: %s", v->synopsis);
    }
    return 0;
}

/* Opens the broker's state and runs the verb. */
static int run(const verb *v, const options *o)
{
    ccg_kbs_config cfg;
    json_t *config_json = NULL;
    ccg_kbs *k = NULL;
    int rc;
    if (ccg_failed(ccg_kbs_config_load_json(o->config, &cfg, &config_json))) {
        log_error("config_invalid");
        return 2;
    }
    if (ccg_failed(ccg_kbs_new(&cfg, NULL, NULL, &k))) {
        log_error("state_unavailable");
        ccg_kbs_config_free(&cfg);
        json_decref(config_json);
        return 1;
    }
    rc = v->run(v, o, k, &cfg, &config_json);
    ccg_kbs_free(k);
    ccg_kbs_config_free(&cfg);
    json_decref(config_json);
    return rc;
}

static const verb *find_verb(const char *group, const char *name)
{
    for (size_t i = 0; i < VERB_COUNT; i++) {
        const verb *v = &VERBS[i];
        int hit = group == NULL ? (v->group == NULL && strcmp(v->name, name) == 0) ||
                                      (v->alias != NULL && strcmp(v->alias, name) == 0)
                                : (v->group != NULL && strcmp(v->group, group) == 0 && strcmp(v->name, name) == 0);
        if (hit) {
            return v;
        }
    }
    return NULL;
}

static int is_group(const char *word)
{
    return strcmp(word, "key") == 0 || strcmp(word, "policy") == 0 || strcmp(word, "kek") == 0;
}

int main(int argc, char **argv)
{
    static const ccg_cli top = {"ccgate-kbs", usage_top, OPTIONS, ""};
    const verb *v = NULL;
    ccg_cli cli = {g_name, usage_verb, OPTIONS, ""};
    options o;
    int shift = 0, outcome;

    ccg_log_init("kbs", 2);
    /* Before anything holds a secret, and before any JSON value exists. */
    if (ccg_failed(ccg_kbs_process_harden())) {
        log_error("start_failed");
        return 1;
    }
    if (argc < 2 || argv[1][0] == '-') {
        /* `ccgate-kbs --config ...`: serve, with the program's own help. */
        v = find_verb(NULL, "serve");
        g_verb = v;
        snprintf(g_name, sizeof(g_name), "ccgate-kbs");
        cli.usage = usage_top;
    } else if (strcmp(argv[1], "help") == 0) {
        usage_top(stdout);
        return 0;
    } else if (is_group(argv[1])) {
        snprintf(g_name, sizeof(g_name), "ccgate-kbs %s", argv[1]);
        if (argc < 3 || argv[2][0] == '-') {
            ccg_cli group = {g_name, usage_group, OPTIONS, ""};
            ccg_cli_begin();
            outcome = argc < 3 ? CCG_CLI_END : ccg_cli_next(&group, argc - 1, argv + 1);
            if (outcome == CCG_CLI_END || outcome >= 0) {
                outcome = ccg_cli_usage_error(&group, "a subcommand is required");
            }
            return ccg_cli_exit(outcome);
        }
        v = find_verb(argv[1], argv[2]);
        if (v == NULL) {
            ccg_cli group = {g_name, usage_group, OPTIONS, ""};
            return ccg_cli_exit(ccg_cli_unknown_command(&group, argv[2]));
        }
        snprintf(g_name, sizeof(g_name), "ccgate-kbs %s %s", argv[1], argv[2]);
        shift = 2;
    } else {
        v = find_verb(NULL, argv[1]);
        if (v == NULL) {
            return ccg_cli_exit(ccg_cli_unknown_command(&top, argv[1]));
        }
        snprintf(g_name, sizeof(g_name), "ccgate-kbs %s", argv[1]);
        shift = 1;
    }
    g_verb = v;
    if (v->run == run_serve) {
        /* A SIGHUP while the state opens must not kill the daemon (systemd may reload early): from
         * here on the signals wait for serve's sigwait. */
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGHUP);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    outcome = parse_options(&cli, v, argc - shift, argv + shift, &o);
    if (outcome != 0) {
        return ccg_cli_exit(outcome);
    }
    return run(v, &o);
}
