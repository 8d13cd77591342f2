/* A scratch PostgreSQL for cmocka tests: a C wrapper over tests/support/pg_scratch.sh (Debian's server
 * binaries, a Unix socket in a fresh temp directory, trust authentication). The server is stopped when
 * the test process exits (the script's watchdog) even if the test dies. */
#ifndef CCGATE_PG_SCRATCH_H
#define CCGATE_PG_SCRATCH_H

#include <stddef.h>

typedef struct {
    char dir[64];   /* the mkdtemp directory (chmod 0755) */
    char url[512];  /* postgresql:///ccgate?host=DIR/sock&user=ccgate */
    int started;
} tu_pg;

/* Starts a server. Returns 0, or 77 when PostgreSQL's server binaries are missing (the caller skips,
 * or fails under CI=true: tu_skip_or_fail), or 1 on any other failure (printed). */
int tu_pg_start(tu_pg *pg);
/* Runs `pg_scratch.sh VERB DIR` (stop, kill, restart); returns its exit status. */
int tu_pg_ctl(tu_pg *pg, const char *verb);
/* Stops the server and removes the directory. */
void tu_pg_stop(tu_pg *pg);
/* Drops and creates schema `schema` (an identifier of [a-z0-9_]) and writes into url a store URL whose
 * search_path is that schema only, so each test case starts from an empty database of its own. Returns 0. */
int tu_pg_fresh_schema(tu_pg *pg, const char *schema, char *url, size_t cap);
/* Runs one SQL command (no values) on the URL's database; returns 0 when it succeeded. */
int tu_pg_exec(const char *url, const char *sql);

#endif
