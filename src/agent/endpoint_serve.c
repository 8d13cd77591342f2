/* The inference endpoint (docs/endpoint.md): once the runner the agent started listens on its Unix
 * socket, the agent asks ccgate-endpoint (the network-facing process, front.c) to serve it. The agent
 * keeps the attester: the front's evidence requests come back here. The runner is never reachable from
 * the network. */
#include "agent_internal.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "ccgate/util.h"

static int socket_answers(const char *path)
{
    struct sockaddr_un sa;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
    if (fd < 0) {
        return 0;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

ccg_result agent_runner_wait(const ccg_agent_config *cfg, pid_t pid, int stop_fd, int *stopped, int *wait_status)
{
    ccg_result result = CCG_FAILURE;
    struct timespec t0, now;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *stopped = 0;
    for (;;) {
        struct pollfd p = {.fd = stop_fd, .events = POLLIN};
        pid_t r = waitpid(pid, wait_status, WNOHANG);
        CCG_ENSURE_MSG(r != pid, CCG_R_AGENT_SERVER_FAILED,
                       "the model runner (pid %d) exited before it listened on %.100s", (int)pid,
                       cfg->endpoint->runner_socket);
        if (socket_answers(cfg->endpoint->runner_socket)) {
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        CCG_ENSURE_MSG(now.tv_sec - t0.tv_sec < (time_t)cfg->endpoint->runner_wait_s, CCG_R_AGENT_SERVER_FAILED,
                       "the model runner did not listen on %.100s within %u s", cfg->endpoint->runner_socket,
                       cfg->endpoint->runner_wait_s);
        if (stop_fd >= 0 && poll(&p, 1, 50) > 0) {
            *stopped = 1;
            break;
        }
        if (stop_fd < 0) {
            usleep(50 * 1000);
        }
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result agent_endpoint_start(const ccg_agent_config *cfg, ccg_attester *att, ccg_agent_front *front,
                                ccg_agent_status *st, ccg_agent_ccel *ccel)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(front != NULL, CCG_R_AGENT_ENDPOINT_FAILED, "ccgate-endpoint is not running");
    if (ccg_attester_tee(att) == CCG_TEE_TDX) {
        /* the firmware's log does not change after boot: read once, carried in every evidence document */
        CCG_TRY(ccg_agent_tdx_ccel(cfg, &ccel->table, &ccel->table_len, &ccel->log, &ccel->log_len));
    }
    ccg_agent_front_set_attester(front, att);
    /* the front writes the endpoint's port file once it listens */
    CCG_TRY(ccg_agent_front_serve(front, ccel->table, ccel->table_len, ccel->log, ccel->log_len, &st->endpoint_port));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
