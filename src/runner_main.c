/* ccgate-runner: the reference model server (docs/runner.md). It keeps the model server contract of
 * docs/agent.md: its first act is prctl(PR_SET_DUMPABLE, 0) (execve made it dumpable again); then it maps the
 * inherited memfd (CCGATE_MODEL_FD, CCGATE_MODEL_LEN) read-only, or a file given with --model, checks the model
 * and serves the API on the Unix socket of --socket (or CCGATE_RUNNER_SOCKET) until SIGTERM or SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ccgate/cli_args.h"
#include "ccgate/error.h"
#include "ccgate/log.h"
#include "ccgate/version.h"
#include "ccgate/model.h"
#include "ccgate/runner.h"

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate-runner --socket PATH (--model FILE | CCGATE_MODEL_FD/CCGATE_MODEL_LEN in the environment)\n"
            "                     [--served-name NAME] [--max-body BYTES] [--max-tokens-cap N] [--concurrency N]\n"
            "                     [--connections N] [--timeout SECONDS] [--quiet]\n"
            "\n"
            "Serves the reference model (a CCGM file, docs/runner.md) on a Unix socket (mode 0600):\n"
            "POST /v1/completions, POST /v1/chat/completions (\"stream\": true for server-sent events),\n"
            "GET /v1/models, GET /healthz. Decoding is greedy; prompts and completions are never logged.\n"
            "\n"
            "  --socket PATH        the socket to listen on (default: $CCGATE_RUNNER_SOCKET)\n"
            "  --model FILE         a plaintext model file (tests, benchmarks). Without it, the model server\n"
            "                       contract of docs/agent.md: the memfd CCGATE_MODEL_FD of CCGATE_MODEL_LEN\n"
            "                       bytes, mapped read-only\n"
            "  --served-name NAME   the model id (default %s)\n"
            "  --max-body BYTES     the largest request body (default %u)\n"
            "  --max-tokens-cap N   the largest max_tokens a request may ask (default %u)\n"
            "  --concurrency N      generations at once; more get 503 runner.busy (default %u)\n"
            "  --connections N      connections at once (default %u)\n"
            "  --timeout SECONDS    idle connection timeout (default %u)\n"
            "  --quiet              no per-request log line (route, status, reason code)\n"
            "  -h, --help           print this help and exit\n"
            "  --version            print the version, the git revision and the OpenSSL in use\n"
            "\n"
            "Logs: one JSON object per line on standard error (docs/logging.md);\n"
            "CCGATE_LOG_LEVEL=debug|info|warn|error sets the least level written. SIGHUP is logged and ignored.\n"
            "\n"
            "Exit status: 0 after SIGTERM/SIGINT, 1 the model or socket is unavailable, 2 bad usage or a\n"
            "malformed model.\n",
            CCG_RUNNER_SERVED_NAME_DEFAULT, CCG_RUNNER_MAX_BODY_DEFAULT, CCG_RUNNER_MAX_TOKENS_CAP_DEFAULT,
            CCG_RUNNER_CONCURRENCY_DEFAULT, CCG_RUNNER_CONNECTIONS_DEFAULT, CCG_RUNNER_TIMEOUT_DEFAULT);
}

/* A decimal number in [1, max]; 0 when it is not one. */
static unsigned long long number(const char *text, unsigned long long max)
{
    char *end = NULL;
    unsigned long long v;
    if (text == NULL || text[0] < '0' || text[0] > '9') {
        return 0;
    }
    errno = 0;
    v = strtoull(text, &end, 10);
    return errno == 0 && *end == 0 && v <= max ? v : 0;
}

typedef struct {
    ccg_runner_config cfg;
    const char *model_path;
} runner_args;

static const struct option OPTIONS[] = {
    {"socket", required_argument, 0, 's'},         {"model", required_argument, 0, 'm'},
    {"served-name", required_argument, 0, 'n'},    {"max-body", required_argument, 0, 'b'},
    {"max-tokens-cap", required_argument, 0, 'c'}, {"concurrency", required_argument, 0, 'C'},
    {"connections", required_argument, 0, 'k'},    {"timeout", required_argument, 0, 't'},
    {"quiet", no_argument, 0, 'q'},                CCG_CLI_STD_OPTIONS,
    {0, 0, 0, 0},
};
static const ccg_cli CLI = {"ccgate-runner", usage, OPTIONS, ""};

/* A numeric option's value in [1, max]. */
static int take_number(const char *opt, unsigned long long max, unsigned long long *out)
{
    int64_t v = 0;
    int rc = ccg_cli_int(&CLI, opt, optarg, 1, (int64_t)max, &v);
    *out = (unsigned long long)v;
    return rc;
}

/* The numeric option c's value (optarg) into a's configuration; 0, or CCG_CLI_EXIT_2 (printed). */
static int take_numeric(int c, runner_args *a)
{
    unsigned long long v = 0;
    switch (c) {
    case 'b':
        if (take_number("--max-body", 1ull << 30, &v) != 0) {
            return CCG_CLI_EXIT_2;
        }
        a->cfg.max_body = (size_t)v;
        return 0;
    case 'c':
        if (take_number("--max-tokens-cap", CCG_MODEL_MAX_SEQ, &v) != 0) {
            return CCG_CLI_EXIT_2;
        }
        a->cfg.max_tokens_cap = (uint32_t)v;
        return 0;
    case 'C':
        if (take_number("--concurrency", 1024, &v) != 0) {
            return CCG_CLI_EXIT_2;
        }
        a->cfg.max_concurrency = (unsigned)v;
        return 0;
    case 'k':
        if (take_number("--connections", 65536, &v) != 0) {
            return CCG_CLI_EXIT_2;
        }
        a->cfg.max_connections = (unsigned)v;
        return 0;
    default: /* 't' */
        if (take_number("--timeout", 86400, &v) != 0) {
            return CCG_CLI_EXIT_2;
        }
        a->cfg.timeout_s = (unsigned)v;
        return 0;
    }
}

/* 0: parsed; otherwise a CCG_CLI_* outcome (already printed). */
static int parse(int argc, char **argv, runner_args *a)
{
    int c;
    ccg_cli_begin();
    while ((c = ccg_cli_next(&CLI, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case 's': a->cfg.socket_path = optarg; break;
        case 'm': a->model_path = optarg; break;
        case 'n': a->cfg.served_name = optarg; break;
        case 'b':
        case 'c':
        case 'C':
        case 'k':
        case 't':
            if (take_numeric(c, a) != 0) {
                return CCG_CLI_EXIT_2;
            }
            break;
        case 'q': a->cfg.quiet = 1; break;
        default: return c; /* CCG_CLI_EXIT_0 or CCG_CLI_EXIT_2 */
        }
    }
    if (optind != argc) {
        return ccg_cli_usage_error(&CLI, "unexpected argument '%s'", argv[optind]);
    }
    a->cfg.socket_path = ccg_cli_env_default(a->cfg.socket_path, "CCGATE_RUNNER_SOCKET");
    if (a->cfg.socket_path == NULL) {
        return ccg_cli_usage_error(&CLI, "--socket (or CCGATE_RUNNER_SOCKET) is required");
    }
    if (a->cfg.served_name != NULL && (a->cfg.served_name[0] == 0 || strlen(a->cfg.served_name) > 128)) {
        return ccg_cli_usage_error(&CLI, "--served-name must be 1..128 bytes");
    }
    return 0;
}

/* The model server contract: the memfd and its length from the environment, mapped read-only. The descriptor
 * is closed once mapped (the mapping keeps the pages). */
static ccg_result map_contract(ccg_model_mapping *map)
{
    ccg_result result = CCG_FAILURE;
    const char *fd_s = getenv("CCGATE_MODEL_FD"), *len_s = getenv("CCGATE_MODEL_LEN");
    unsigned long long fd = number(fd_s, 1u << 20), len = number(len_s, SIZE_MAX);
    CCG_ENSURE_MSG(fd_s != NULL && len_s != NULL, CCG_R_RUNNER_MODEL_UNAVAILABLE,
                   "neither --model nor CCGATE_MODEL_FD and CCGATE_MODEL_LEN");
    CCG_ENSURE_MSG(fd > 2 && len > 0, CCG_R_RUNNER_MODEL_UNAVAILABLE,
                   "CCGATE_MODEL_FD must be a descriptor above 2 and CCGATE_MODEL_LEN a length above 0");
    CCG_TRY(ccg_model_map_fd((int)fd, (size_t)len, map));
    (void)close((int)fd);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int fail(const char *what)
{
    ccg_reason reason = ccg_error_last()->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : ccg_error_last()->reason;
    /* A startup failure: level error, with its reason code. */
    ccg_log_error_last(CCG_LOG_ERROR, what, NULL, NULL);
    return ccg_reason_kind_of(reason) == CCG_KIND_INPUT ? CCG_EXIT_USAGE : 1;
}

int main(int argc, char **argv)
{
    struct rlimit no_core = {0, 0};
    runner_args a;
    ccg_model_mapping map = {0};
    ccg_model model = {0};
    ccg_runner *runner = NULL;
    sigset_t stop;
    int rc, sig = 0;
    /* First: execve reset the dumpable flag; clear it before touching the model. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        ccg_log_init("runner", 2);
        ccg_log_eventf(CCG_LOG_ERROR, "start_failed", NULL, "{s:s,s:s,s:s}", "reason",
                       ccg_reason_code(CCG_R_INTERNAL_ERROR), "detail", "prctl(PR_SET_DUMPABLE)", "error",
                       strerror(errno));
        return 1;
    }
    (void)setrlimit(RLIMIT_CORE, &no_core);
    ccg_log_init("runner", 2);
    /* Blocked before any thread exists, so only sigwait below sees them; a closed peer is not a signal. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof(a));
    if ((rc = parse(argc, argv, &a)) != 0) {
        return ccg_cli_exit(rc);
    }
    if (a.model_path != NULL && getenv("CCGATE_MODEL_FD") != NULL) {
        return ccg_cli_exit(ccg_cli_usage_error(&CLI, "--model and CCGATE_MODEL_FD are exclusive"));
    }
    if (ccg_failed(a.model_path != NULL ? ccg_model_map_file(a.model_path, &map) : map_contract(&map))) {
        return fail("model_unavailable");
    }
    if (ccg_failed(ccg_model_parse(map.data, map.len, &model))) {
        rc = fail("model_invalid");
        goto done;
    }
    if (ccg_failed(ccg_runner_start(&model, &a.cfg, &runner))) {
        rc = fail("socket_failed");
        goto done;
    }
    ccg_log_eventf(CCG_LOG_INFO, "listening", NULL, "{s:s,s:i,s:i,s:s}", "model",
                   a.cfg.served_name != NULL ? a.cfg.served_name : CCG_RUNNER_SERVED_NAME_DEFAULT, "d_model",
                   (int)model.dims.d_model, "layers", (int)model.dims.n_layers, "socket", a.cfg.socket_path);
    /* SIGHUP (a closed terminal, a reflexive `systemctl reload`) does not stop it: nothing to reload. */
    while (sigwait(&stop, &sig) != 0 || sig == SIGHUP) {
        if (sig == SIGHUP) {
            ccg_log_eventf(CCG_LOG_INFO, "reload_ignored", NULL, "{s:s}", "detail",
                           "the runner has no configuration to reload; SIGTERM or SIGINT stops it");
            sig = 0;
        }
    }
    ccg_log_eventf(CCG_LOG_INFO, "stopping", NULL, "{s:i}", "signal", sig);
    rc = 0;
done:
    ccg_runner_stop(runner);
    ccg_model_free(&model);
    ccg_model_unmap(&map);
    return rc;
}
