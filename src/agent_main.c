/* ccgate-agent: the guest agent (docs/agent.md).
 *
 *   ccgate-agent --config FILE     attest, fetch the key, unseal into memory, serve
 *   ccgate-agent --hash-api-key    the "sha256:..." form of an endpoint API key read from stdin
 *   ccgate-agent --help
 *
 * SIGTERM/SIGINT stop the model server and the agent. The exit status names the kind of failure. */
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "ccgate/agent.h"
#include "ccgate/error.h"
#include "ccgate/version.h"

static int stop_pipe[2] = {-1, -1};

static void on_stop(int sig)
{
    char c = (char)sig;
    (void)!write(stop_pipe[1], &c, 1);
}

static void usage(FILE *f)
{
    fputs("usage: ccgate-agent --config FILE\n"
          "       ccgate-agent --hash-api-key < key-file\n"
          "       ccgate-agent --version\n"
          "\n"
          "Attests this confidential VM to the key broker, receives the model key in memory only, unseals the\n"
          "model into a sealed memfd and starts the model server with it (see docs/agent.md).\n"
          "With \"gpu\": {\"required\": true} every GPU signs evidence over a nonce derived from the\n"
          "broker session (sent with the CPU evidence, which binds it), and the GPUs' ready state is set\n"
          "only after the key is released and the model unsealed.\n"
          "With an \"endpoint\" section the agent serves the HTTPS inference endpoint (docs/endpoint.md)\n"
          "once the runner listens; --hash-api-key prints the hash an \"endpoint.api_keys\" entry stores\n"
          "(the key is read from stdin, one trailing newline dropped, so it is never in argv).\n"
          "\n"
          "exit status: 0 stopped cleanly, 2 usage, 10 no TEE/attester, 11 attestation denied,\n"
          "  12 key refused (disabled, retired, unknown, mismatch), 13 broker/KMS unavailable,\n"
          "  14 artifact integrity, 15 GPU, 16 configuration, 17 memory/hardening, 18 model server,\n"
          "  19 internal\n",
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

int main(int argc, char **argv)
{
    const char *config = NULL;
    ccg_agent_config cfg;
    struct sigaction sa;
    int rc;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            ccg_version_print(stdout, "ccgate-agent");
            return 0;
        }
        if (strcmp(argv[i], "--hash-api-key") == 0 && argc == 2) {
            return hash_api_key();
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (config == NULL) {
        usage(stderr);
        return 2;
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
