/* The real ccgate-agent (and ccgate-kbs) as child processes, for the agent's end-to-end tests (test_agent_e2e.c,
 * test_agent_gpu.c, test_agent_gpu_e2e.c): its log's "failed" line, its exit status, small files. */
#ifndef CCGATE_TESTS_AGENT_PROC_H
#define CCGATE_TESTS_AGENT_PROC_H

#include <jansson.h>
#include <sys/types.h>

/* argv (found on PATH) with stdout and stderr to /dev/null: its exit status, or -1. */
int tu_run_quiet(char *const argv[]);
/* A text file (at most 8 MiB) NUL-terminated, or NULL when it cannot be read. */
char *tu_read_text(const char *path);
/* The last {"event":"failed",...} line of the agent's stderr log, or NULL. */
json_t *tu_agent_failure_line(const char *err_path);
/* Waits up to timeout_ms for pid: its exit status (128 + signal when killed by one), or -1 when it did
 * not finish (it is then killed with SIGKILL and reaped). */
int tu_agent_wait(pid_t pid, int timeout_ms);
/* Starts `kbs serve --config config --insecure-http --port-file port_file` (stderr to log, NULL: kept)
 * and waits for its port: base gets "http://127.0.0.1:<port>". Fails the test when the daemon exits
 * or reports no port. Returns its pid (the caller stops it with SIGTERM). */
pid_t tu_kbs_daemon_start(const char *kbs, const char *config, const char *port_file, const char *log, char *base,
                          size_t base_len);

#endif
