/* A scratch PostgreSQL for cmocka tests (pg_scratch.h). */
#include "pg_scratch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

static const char *script_path(void)
{
    static char path[4096];
    const char *src = getenv("CCG_SOURCE_DIR");
    snprintf(path, sizeof(path), "%s/tests/support/pg_scratch.sh", src != NULL && *src != '\0' ? src : ".");
    return path;
}

/* Runs the script with verb and DIR (and the owner pid for start); stdout into out (may be NULL). */
static int run_script(const char *verb, const char *dir, char *out, size_t cap)
{
    int fds[2];
    char owner[24];
    pid_t pid;
    int status = 0;
    size_t n = 0;
    snprintf(owner, sizeof(owner), "%ld", (long)getpid());
    if (pipe(fds) != 0) {
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return 1;
    }
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execlp("bash", "bash", script_path(), verb, dir, owner, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        char buf[256];
        ssize_t got = read(fds[0], buf, sizeof(buf));
        if (got <= 0) {
            break;
        }
        for (ssize_t i = 0; i < got; i++) {
            if (out != NULL && n + 1 < cap) {
                out[n++] = buf[i];
            }
        }
    }
    close(fds[0]);
    if (out != NULL && cap > 0) {
        while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == '\r')) {
            n--;
        }
        out[n] = '\0';
    }
    while (waitpid(pid, &status, 0) < 0) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

int tu_pg_start(tu_pg *pg)
{
    int rc;
    memset(pg, 0, sizeof(*pg));
    snprintf(pg->dir, sizeof(pg->dir), "/tmp/ccg-pg-XXXXXX");
    if (mkdtemp(pg->dir) == NULL || chmod(pg->dir, 0755) != 0) {
        fprintf(stderr, "pg_scratch: cannot make a temp directory\n");
        return 1;
    }
    rc = run_script("start", pg->dir, pg->url, sizeof(pg->url));
    if (rc != 0) {
        if (rc != 77) {
            fprintf(stderr, "pg_scratch.sh start failed (exit %d)\n", rc);
        }
        rmdir(pg->dir);
        return rc == 77 ? 77 : 1;
    }
    if (strncmp(pg->url, "postgresql://", 13) != 0) {
        fprintf(stderr, "pg_scratch.sh printed no URL: '%s'\n", pg->url);
        return 1;
    }
    pg->started = 1;
    return 0;
}

int tu_pg_ctl(tu_pg *pg, const char *verb) { return run_script(verb, pg->dir, NULL, 0); }

void tu_pg_stop(tu_pg *pg)
{
    char cmd[128];
    if (!pg->started) {
        return;
    }
    (void)tu_pg_ctl(pg, "stop");
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", pg->dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "pg_scratch: cannot remove %s\n", pg->dir);
    }
    pg->started = 0;
}

int tu_pg_exec(const char *url, const char *sql)
{
    PGconn *c = PQconnectdb(url);
    int ok = 0;
    if (PQstatus(c) == CONNECTION_OK) {
        PQclear(PQexec(c, "SET client_min_messages = warning"));
        PGresult *r = PQexec(c, sql);
        ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
        if (!ok) {
            fprintf(stderr, "tu_pg_exec: %s: %s", sql, PQresultErrorMessage(r));
        }
        PQclear(r);
    } else {
        fprintf(stderr, "tu_pg_exec: %s", PQerrorMessage(c));
    }
    PQfinish(c);
    return ok ? 0 : 1;
}

int tu_pg_fresh_schema(tu_pg *pg, const char *schema, char *url, size_t cap)
{
    char sql[256];
    for (const char *p = schema; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
            return 1;
        }
    }
    snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE; CREATE SCHEMA %s", schema, schema);
    if (tu_pg_exec(pg->url, sql) != 0) {
        return 1;
    }
    if ((size_t)snprintf(url, cap, "%s&options=-csearch_path%%3D%s", pg->url, schema) >= cap) {
        return 1;
    }
    return 0;
}
