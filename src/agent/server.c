/* Starting and supervising the model server. The child gets the sealed memfd as an inherited
 * descriptor and its facts in the environment (never the plaintext):
 *   CCGATE_MODEL_FD      the descriptor number (read-only mappable; writes are sealed)
 *   CCGATE_MODEL_LEN     the plaintext length in bytes
 *   CCGATE_MODEL_DIGEST  the provider-signed chunk-tree digest (hex; docs/artifact-format.md, "Digest")
 *   CCGATE_MODEL_DIGEST_ALG  "ccgate-artifact-v1" (SHA-384 over the per-chunk SHA-256s)
 *   CCGATE_MODEL_CHUNK_SIZE  the chunk size the digest is computed over
 *   CCGATE_KEY_ID        the model key's ID (not the key)
 *   CCGATE_RUNNER_SOCKET where the runner listens (only with an "endpoint" section)
 * Before exec the child is hardened like the agent (non-dumpable, no cores, no_new_privs) and gets
 * the seccomp filter, which exec keeps. exec resets the dumpable flag, so the server's first act must
 * be prctl(PR_SET_DUMPABLE, 0) (docs/agent.md, "model server contract"). */
#include "agent_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ccgate/error.h"

extern char **environ;

/* Closes every descriptor above 2 except keep (async-signal-safe: runs between fork and exec), so the
 * server inherits nothing the agent or its own parent left open without close-on-exec. */
static void close_others(int keep)
{
    if (keep > 3) {
        if (syscall(SYS_close_range, 3u, (unsigned)keep - 1u, 0u) != 0) {
            for (int fd = 3; fd < keep; fd++) {
                (void)close(fd);
            }
        }
    }
    if (syscall(SYS_close_range, (unsigned)keep + 1u, ~0u, 0u) != 0) {
        long max = sysconf(_SC_OPEN_MAX);
        for (long fd = keep + 1; fd < (max > 0 && max < 65536 ? max : 65536); fd++) {
            (void)close((int)fd);
        }
    }
}

#define ENV_SLOTS 7

/* environ without CCGATE_MODEL_* / CCGATE_KEY_ID, plus ours; strings in vars. */
static char **child_env(char vars[ENV_SLOTS][160])
{
    size_t n = 0, k = 0;
    char **env;
    while (environ[n] != NULL) {
        n++;
    }
    env = calloc(n + ENV_SLOTS + 1, sizeof(*env));
    if (env == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], "CCGATE_MODEL_", 13) != 0 && strncmp(environ[i], "CCGATE_KEY_ID=", 14) != 0 &&
            strncmp(environ[i], "CCGATE_RUNNER_SOCKET=", 21) != 0) {
            env[k++] = environ[i];
        }
    }
    for (size_t i = 0; i < ENV_SLOTS; i++) {
        if (vars[i][0] != 0) {
            env[k++] = vars[i];
        }
    }
    env[k] = NULL;
    return env;
}

ccg_result agent_server_start(const ccg_agent_config *cfg, const ccg_agent_memfd *m, const ccg_agent_status *st,
                              pid_t *pid_out)
{
    ccg_result result = CCG_FAILURE;
    char vars[ENV_SLOTS][160];
    char **env = NULL;
    pid_t pid;
    int fd_flags;
    snprintf(vars[0], sizeof(vars[0]), "CCGATE_MODEL_FD=%d", m->fd);
    snprintf(vars[1], sizeof(vars[1]), "CCGATE_MODEL_LEN=%zu", m->len);
    snprintf(vars[2], sizeof(vars[2]), "CCGATE_MODEL_DIGEST=%s", st->model_digest);
    snprintf(vars[3], sizeof(vars[3]), "CCGATE_KEY_ID=%.140s", cfg->key_id);
    snprintf(vars[4], sizeof(vars[4]), "CCGATE_MODEL_DIGEST_ALG=ccgate-artifact-v1");
    snprintf(vars[5], sizeof(vars[5]), "CCGATE_MODEL_CHUNK_SIZE=%u", st->model_chunk_size);
    /* With an endpoint, the runner listens where the endpoint forwards (docs/endpoint.md). */
    vars[6][0] = 0;
    if (cfg->endpoint != NULL) {
        snprintf(vars[6], sizeof(vars[6]), "CCGATE_RUNNER_SOCKET=%.130s", cfg->endpoint->runner_socket);
    }
    env = child_env(vars);
    CCG_ENSURE_ALLOC(env);
    CCG_ENSURE_MSG(m->fd > STDERR_FILENO, CCG_R_AGENT_SERVER_FAILED,
                   "the model's descriptor is %d: start the agent with stdin, stdout and stderr open", m->fd);
    fd_flags = fcntl(m->fd, F_GETFD);
    CCG_ENSURE_MSG(fd_flags >= 0, CCG_R_AGENT_SERVER_FAILED, "F_GETFD: %s", strerror(errno));
    fflush(NULL);
    pid = fork();
    CCG_ENSURE_MSG(pid >= 0, CCG_R_AGENT_SERVER_FAILED, "fork: %s", strerror(errno));
    if (pid == 0) {
        /* The child: the memfd is the only descriptor it keeps besides stdin, stdout and stderr. */
        close_others(m->fd);
        if (fcntl(m->fd, F_SETFD, fd_flags & ~FD_CLOEXEC) != 0 || ccg_failed(ccg_agent_harden_process()) ||
            (cfg->seccomp && ccg_failed(ccg_agent_seccomp_install(0)))) {
            _exit(126);
        }
        execve(cfg->server_argv[0], cfg->server_argv, env);
        _exit(127);
    }
    *pid_out = pid;
    result = CCG_SUCCESS;
cleanup:
    free(env);
    return result;
}

/* Exit statuses the child uses before exec. */
static const char *child_failure(int code)
{
    return code == 126 ? "hardening before exec failed" : code == 127 ? "exec failed" : NULL;
}

ccg_result agent_server_status(pid_t pid, int status)
{
    ccg_result result = CCG_FAILURE;
    if (WIFEXITED(status)) {
        int code = WEXITSTATUS(status);
        const char *why = child_failure(code);
        CCG_ENSURE_MSG(code == 0, CCG_R_AGENT_SERVER_FAILED, "the model server (pid %d) exited with status %d%s%s",
                       (int)pid, code, why != NULL ? ": " : "", why != NULL ? why : "");
    } else if (WIFSIGNALED(status)) {
        CCG_ENSURE_MSG(WTERMSIG(status) == SIGTERM, CCG_R_AGENT_SERVER_FAILED,
                       "the model server (pid %d) was killed by signal %d", (int)pid, WTERMSIG(status));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int agent_server_stop(pid_t pid)
{
    int status = 0;
    kill(pid, SIGTERM);
    for (int i = 0; i < 100; i++) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            return status;
        }
        if (r < 0 && errno != EINTR) {
            return 0;
        }
        usleep(50 * 1000);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return status;
}
