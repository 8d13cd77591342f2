/* See agent_proc.h. */
#include "agent_proc.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "ccgate/util.h"

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
