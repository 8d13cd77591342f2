/* ccgate-agent: the guest agent (docs/agent.md).
 *
 *   ccgate-agent --config FILE     attest, fetch the key, unseal into memory, serve
 *   ccgate-agent --hash-api-key    the "sha256:..." form of an endpoint API key read from stdin
 *   ccgate-agent --help | --version
 *
 * The network-facing work (GET /status, the HTTPS inference endpoint) runs in ccgate-endpoint, which the
 * agent starts (src/endpoint_main.c, docs/agent.md "Privilege separation"): this program links no HTTP
 * server and no SQLite (docs/dependencies.md).
 * SIGTERM/SIGINT stop the model server and the agent. The exit status names the kind of failure. */
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/agent.h"
#include "ccgate/cli_args.h"
#include "ccgate/error.h"
#include "ccgate/log.h"

static int stop_pipe[2] = {-1, -1};

static void on_stop(int sig)
{
    char c = (char)sig;
    (void)!write(stop_pipe[1], &c, 1);
}

static void usage(FILE *f)
{
    fputs("Usage: ccgate-agent --config FILE\n"
          "       ccgate-agent --hash-api-key < key-file\n"
          "\n"
          "Attests this confidential VM to the key broker, receives the model key in memory only, unseals the\n"
          "model into a sealed memfd and starts the model server with it (see docs/agent.md).\n"
          "\n"
          "Options:\n"
          "  --config FILE     the agent's JSON configuration (docs/agent.md)\n"
          "  --hash-api-key    print the \"sha256:...\" form an \"endpoint.api_keys\" entry stores; the key is\n"
          "                    read from standard input (one trailing newline dropped), never from argv\n"
          "  -h, --help        this text\n"
          "  --version         the version, git revision and OpenSSL version\n"
          "\n"
          "With \"gpu\": {\"required\": true} every GPU signs evidence over a nonce derived from the\n"
          "broker session (sent with the CPU evidence, which binds it), and the GPUs' ready state is set\n"
          "only after the key is released and the model unsealed.\n"
          "The status (\"status\") and the HTTPS inference endpoint (\"endpoint\", docs/endpoint.md) are served\n"
          "by ccgate-endpoint, a separate process the agent starts (libexec/ccgate/ccgate-endpoint): this\n"
          "process holds the key and the model and serves no network request itself.\n"
          "Log lines are JSON on standard error (component \"agent\"; $CCGATE_LOG_LEVEL).\n"
          "\n"
          "Exit status: 0 stopped cleanly, 2 usage, 10 no TEE/attester, 11 attestation denied,\n"
          "  12 key refused (disabled, retired, unknown, mismatch), 13 broker/KMS unavailable,\n"
          "  14 artifact integrity, 15 GPU, 16 configuration, 17 memory/hardening,\n"
          "  18 model server or ccgate-endpoint, 19 internal\n",
          f);
}

/* Reads the key from stdin (never argv: other users can read a command line). */
static int hash_api_key(void)
{
    char key[CCG_EP_API_KEY_MAX + 3], out[CCG_EP_KEY_HASH_TEXT_LEN];
    size_t len = fread(key, 1, sizeof(key), stdin);
    int rc = 2;
    if (len < sizeof(key) && len > 0 && key[len - 1] == '\n') {
        len--;
        if (len > 0 && key[len - 1] == '\r') {
            len--;
        }
    }
    if (len < sizeof(key) - 2 && ccg_ok(ccg_endpoint_hash_api_key(key, len, out))) {
        printf("%s\n", out);
        rc = 0;
    } else {
        fprintf(stderr, "ccgate-agent: %s\n",
                len >= sizeof(key) - 2 ? "the key is too long" : ccg_error_last()->message);
    }
    memset(key, 0, sizeof(key));
    return rc;
}

enum { OPT_CONFIG = 1, OPT_HASH_API_KEY };

int main(int argc, char **argv)
{
    static const struct option options[] = {{"config", required_argument, 0, OPT_CONFIG},
                                            {"hash-api-key", no_argument, 0, OPT_HASH_API_KEY},
                                            CCG_CLI_STD_OPTIONS,
                                            {0, 0, 0, 0}};
    const ccg_cli cli = {.name = "ccgate-agent", .usage = usage, .options = options, .short_options = ""};
    const char *config = NULL;
    int hash = 0, c;
    ccg_agent_config cfg;
    struct sigaction sa;
    int rc;
    ccg_log_init("agent", STDERR_FILENO);
    ccg_cli_begin();
    while ((c = ccg_cli_next(&cli, argc, argv)) != CCG_CLI_END) {
        switch (c) {
        case OPT_CONFIG:
            config = optarg;
            break;
        case OPT_HASH_API_KEY:
            hash = 1;
            break;
        default:
            return ccg_cli_exit(c);
        }
    }
    if (optind < argc) {
        return ccg_cli_exit(ccg_cli_usage_error(&cli, "unexpected argument '%s'", argv[optind]));
    }
    if (hash) {
        if (config != NULL) {
            return ccg_cli_exit(ccg_cli_usage_error(&cli, "--hash-api-key takes no --config"));
        }
        return hash_api_key();
    }
    if (config == NULL) {
        return ccg_cli_exit(ccg_cli_usage_error(&cli, "--config FILE is required"));
    }
    if (ccg_failed(ccg_agent_config_load(config, &cfg))) {
        ccg_agent_status st;
        memset(&st, 0, sizeof(st));
        st.state = CCG_AGENT_FAILED;
        st.reason = ccg_error_reason();
        snprintf(st.message, sizeof(st.message), "%s", ccg_error_last()->message);
        ccg_agent_log(&st, "error", "failed", NULL);
        return ccg_agent_exit_status(st.reason);
    }
    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        ccg_agent_config_free(&cfg);
        return CCG_AGENT_EXIT_INTERNAL;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = ccg_agent_run(&cfg, stop_pipe[0]);
    curl_global_cleanup();
    ccg_agent_config_free(&cfg);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    return rc;
}
