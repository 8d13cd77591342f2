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

#include "ccgate/error.h"
#include "ccgate/version.h"
#include "ccgate/model.h"
#include "ccgate/runner.h"

#define EXIT_USAGE 2

static void usage(FILE *out)
{
    fprintf(out,
            "usage: ccgate-runner --socket PATH (--model FILE | CCGATE_MODEL_FD/CCGATE_MODEL_LEN in the environment)\n"
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
            "  --version            print the version, the git revision and the OpenSSL in use\n"
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

static int parse(int argc, char **argv, runner_args *a)
{
    static const struct option opts[] = {
        {"socket", required_argument, 0, 's'},      {"model", required_argument, 0, 'm'},
        {"served-name", required_argument, 0, 'n'}, {"max-body", required_argument, 0, 'b'},
        {"max-tokens-cap", required_argument, 0, 'c'}, {"concurrency", required_argument, 0, 'C'},
        {"connections", required_argument, 0, 'k'}, {"timeout", required_argument, 0, 't'},
        {"quiet", no_argument, 0, 'q'},             {"help", no_argument, 0, 'h'}, {"version", no_argument, 0, 'V'},
        {0, 0, 0, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 's': a->cfg.socket_path = optarg; break;
        case 'm': a->model_path = optarg; break;
        case 'n': a->cfg.served_name = optarg; break;
        case 'b': if ((a->cfg.max_body = (size_t)number(optarg, 1ull << 30)) == 0) return -1; break;
        case 'c': if ((a->cfg.max_tokens_cap = (uint32_t)number(optarg, CCG_MODEL_MAX_SEQ)) == 0) return -1; break;
        case 'C': if ((a->cfg.max_concurrency = (unsigned)number(optarg, 1024)) == 0) return -1; break;
        case 'k': if ((a->cfg.max_connections = (unsigned)number(optarg, 65536)) == 0) return -1; break;
        case 't': if ((a->cfg.timeout_s = (unsigned)number(optarg, 86400)) == 0) return -1; break;
        case 'q': a->cfg.quiet = 1; break;
        case 'h': usage(stdout); return 1;
        case 'V': ccg_version_print(stdout, "ccgate-runner"); return 1;
        default: return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "ccgate-runner: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    if (a->cfg.socket_path == NULL) {
        a->cfg.socket_path = getenv("CCGATE_RUNNER_SOCKET");
    }
    if (a->cfg.socket_path == NULL || a->cfg.socket_path[0] == 0) {
        fprintf(stderr, "ccgate-runner: --socket (or CCGATE_RUNNER_SOCKET) is required\n");
        return -1;
    }
    if (a->cfg.served_name != NULL && (a->cfg.served_name[0] == 0 || strlen(a->cfg.served_name) > 128)) {
        fprintf(stderr, "ccgate-runner: --served-name must be 1..128 bytes\n");
        return -1;
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
    const ccg_error *e = ccg_error_last();
    ccg_reason reason = e->reason == CCG_R_OK ? CCG_R_INTERNAL_ERROR : e->reason;
    fprintf(stderr, "ccgate-runner: %s: %s: %s (%s)\n", what, ccg_reason_code(reason), ccg_reason_message(reason),
            e->message);
    return ccg_reason_kind_of(reason) == CCG_KIND_INPUT ? EXIT_USAGE : 1;
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
        fprintf(stderr, "ccgate-runner: prctl(PR_SET_DUMPABLE): %s\n", strerror(errno));
        return 1;
    }
    (void)setrlimit(RLIMIT_CORE, &no_core);
    /* Blocked before any thread exists, so only sigwait below sees them; a closed peer is not a signal. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    memset(&a, 0, sizeof(a));
    if ((rc = parse(argc, argv, &a)) != 0) {
        if (rc < 0) {
            usage(stderr);
        }
        return rc < 0 ? EXIT_USAGE : 0;
    }
    if (a.model_path != NULL && getenv("CCGATE_MODEL_FD") != NULL) {
        fprintf(stderr, "ccgate-runner: --model and CCGATE_MODEL_FD are exclusive\n");
        return EXIT_USAGE;
    }
    if (ccg_failed(a.model_path != NULL ? ccg_model_map_file(a.model_path, &map) : map_contract(&map))) {
        return fail("model");
    }
    if (ccg_failed(ccg_model_parse(map.data, map.len, &model))) {
        rc = fail("model");
        goto done;
    }
    if (ccg_failed(ccg_runner_start(&model, &a.cfg, &runner))) {
        rc = fail("socket");
        goto done;
    }
    fprintf(stderr, "ccgate-runner: serving %s (d_model %u, %u layers) on %s\n",
            a.cfg.served_name != NULL ? a.cfg.served_name : CCG_RUNNER_SERVED_NAME_DEFAULT, model.dims.d_model,
            model.dims.n_layers, a.cfg.socket_path);
    while (sigwait(&stop, &sig) != 0) {
    }
    fprintf(stderr, "ccgate-runner: signal %d, stopping\n", sig);
    rc = 0;
done:
    ccg_runner_stop(runner);
    ccg_model_free(&model);
    ccg_model_unmap(&map);
    return rc;
}
