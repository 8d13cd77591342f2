/* See agent_proc.h. */
#include "agent_proc.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "ccgate/util.h"

#include "testutil.h"

extern char **environ;

int tu_run_quiet(char *const argv[])
{
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status = -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0 || waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *tu_read_text(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    if (ccg_failed(ccg_file_read(path, 8u << 20, &data, &len))) {
        ccg_error_clear();
        return NULL;
    }
    return (char *)data;
}

json_t *tu_agent_failure_line(const char *err_path)
{
    char *text = tu_read_text(err_path), *line, *save = NULL;
    json_t *found = NULL;
    if (text == NULL) {
        return NULL;
    }
    for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        json_t *o = line[0] == '{' ? json_loads(line, 0, NULL) : NULL;
        const char *ev = json_string_value(json_object_get(o, "event"));
        if (ev != NULL && strcmp(ev, "failed") == 0) {
            json_decref(found);
            found = o;
        } else {
            json_decref(o);
        }
    }
    free(text);
    return found;
}

int tu_agent_wait(pid_t pid, int timeout_ms)
{
    int status = 0;
    for (int waited = 0; waited <= timeout_ms; waited += 100) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        }
        usleep(100 * 1000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

pid_t tu_kbs_daemon_start(const char *kbs, const char *config, const char *port_file, const char *log, char *base,
                          size_t base_len)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = log != NULL ? open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600) : STDERR_FILENO;
        if (fd < 0 || dup2(fd, STDERR_FILENO) < 0) {
            _exit(126);
        }
        execl(kbs, kbs, "serve", "--config", config, "--insecure-http", "--port-file", port_file, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 400; i++) {
        char *text = tu_read_text(port_file);
        unsigned port = 0;
        int status;
        if (text != NULL && sscanf(text, "%u", &port) == 1 && port > 0) {
            snprintf(base, base_len, "http://127.0.0.1:%u", port);
            free(text);
            return pid;
        }
        free(text);
        assert_int_equal(waitpid(pid, &status, WNOHANG), 0);
        usleep(50 * 1000);
    }
    fail_msg("the broker did not report its port");
    return pid;
}
