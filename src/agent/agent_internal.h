/* Internal to src/agent: the model server's process. */
#ifndef CCGATE_AGENT_INTERNAL_H
#define CCGATE_AGENT_INTERNAL_H

#include <jansson.h>
#include <sys/types.h>

#include "ccgate/agent.h"

/* Forks and execs the model server with the memfd inherited (see server.c for the environment). */
CCG_MUST_CHECK ccg_result agent_server_start(const ccg_agent_config *cfg, const ccg_agent_memfd *m,
                                             const ccg_agent_status *st, pid_t *pid);
/* Maps a wait status to success (exit 0 or SIGTERM) or agent.server_failed. */
CCG_MUST_CHECK ccg_result agent_server_status(pid_t pid, int status);
/* SIGTERM, then SIGKILL after 5 s; returns the wait status. */
int agent_server_stop(pid_t pid);

/* With an "endpoint" section (endpoint_serve.c): waits until the runner accepts connections on its socket
 * (agent.server_failed when it exits first or runner_wait_s passes; *stopped when a stop came first). */
CCG_MUST_CHECK ccg_result agent_runner_wait(const ccg_agent_config *cfg, pid_t pid, int stop_fd, int *stopped,
                                            int *wait_status);
/* The TDX CCEL table and log the endpoint's evidence carries (freed by the agent after the endpoint). */
typedef struct {
    uint8_t *table, *log;
    size_t table_len, log_len;
} ccg_agent_ccel;
/* Has ccgate-endpoint serve the HTTPS endpoint, its evidence answered with the agent's attester (and on
 * TDX the CCEL, read into ccel and sent once); st->endpoint_port receives its port. */
CCG_MUST_CHECK ccg_result agent_endpoint_start(const ccg_agent_config *cfg, ccg_attester *att, ccg_agent_front *front,
                                               ccg_agent_status *st, ccg_agent_ccel *ccel);

/* The CCEL log area read for Trustee's TdxEvidence: at most this many bytes (Google's COS area is 256 KiB). */
#define CCG_AGENT_CCEL_MAX (1u << 20)
/* The ACPI CCEL table and the CCEL log area (cut after its last event) for the endpoint's evidence document;
 * each NULL when the guest has none. */
CCG_MUST_CHECK ccg_result ccg_agent_tdx_ccel(const ccg_agent_config *cfg, uint8_t **table, size_t *table_len,
                                             uint8_t **log, size_t *log_len);
/* Trustee's TdxEvidence {"quote","cc_eventlog","aa_eventlog"} for a TDX quote (tdx_evidence.c). */
CCG_MUST_CHECK ccg_result ccg_agent_tdx_evidence(const ccg_agent_config *cfg, const ccg_evidence *ev, json_t **out);

#endif
