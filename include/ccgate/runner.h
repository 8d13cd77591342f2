/* The runner's HTTP API on a Unix socket (docs/runner.md, "API"): an OpenAI-compatible subset served by
 * libmicrohttpd over the model of model.h. POST /v1/completions and /v1/chat/completions (JSON, or server-sent
 * events with "stream": true), GET /v1/models, GET /healthz. Errors are {"error":{"code":"runner.*",...}}.
 * Prompts and completions are never logged. */
#ifndef CCGATE_RUNNER_H
#define CCGATE_RUNNER_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/model.h"
#include "ccgate/result.h"

#define CCG_RUNNER_SERVED_NAME_DEFAULT "ccgate-model"
#define CCG_RUNNER_MAX_BODY_DEFAULT (1u << 20)
#define CCG_RUNNER_MAX_TOKENS_DEFAULT 16u  /* when a request names none */
#define CCG_RUNNER_MAX_TOKENS_CAP_DEFAULT 256u
#define CCG_RUNNER_CONCURRENCY_DEFAULT 4u  /* generations at once; more get 503 runner.busy */
#define CCG_RUNNER_CONNECTIONS_DEFAULT 64u
#define CCG_RUNNER_TIMEOUT_DEFAULT 30u     /* idle seconds before a connection is closed */

typedef struct {
    const char *socket_path;  /* bound with mode 0600 (umask 077); an existing socket there is replaced */
    const char *served_name;  /* the model id of /v1/models; NULL: CCG_RUNNER_SERVED_NAME_DEFAULT */
    size_t max_body;          /* 0: default */
    uint32_t max_tokens_cap;  /* 0: default */
    unsigned max_concurrency; /* 0: default */
    unsigned max_connections; /* 0: default */
    unsigned timeout_s;       /* 0: default */
    int quiet;                /* no per-request log line */
} ccg_runner_config;

typedef struct ccg_runner ccg_runner;

/* Starts serving m (borrowed: it must outlive the runner) on cfg->socket_path. */
CCG_MUST_CHECK ccg_result ccg_runner_start(const ccg_model *m, const ccg_runner_config *cfg, ccg_runner **out);
/* Stops the server, closes and unlinks the socket. Safe on NULL. */
void ccg_runner_stop(ccg_runner *r);

#endif
