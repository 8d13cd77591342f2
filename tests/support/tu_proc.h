/* Child processes and mounts of a test never outlive it (issue 10: a failing end-to-end test used to
 * leave its daemons holding ctest's output pipe, a 600-second hang, and stray FUSE mounts).
 *
 * Every test binary links this guard (tests/support/tu_proc.c, installed by a constructor):
 *   - every fork() child gets prctl(PR_SET_PDEATHSIG, SIGKILL) and its own process group, so it dies
 *     with the test even when the test is killed or aborts (ASan), and its own children go with it;
 *   - the test is a child subreaper, so a daemon's orphaned children stay findable;
 *   - at exit and on SIGABRT, SIGTERM, SIGINT and SIGHUP, every remaining child's process group is
 *     killed with SIGKILL and reaped, and every FUSE mount still registered is unmounted.
 * Teardown should still stop what it started; the guard is the net under a failing assertion.
 *
 *   pid_t pid = tu_spawn(argv, out_path, err_path);   // own group, PDEATHSIG, stdout/stderr to files
 *   ...
 *   int status = tu_stop(pid, SIGTERM, 10000);          // the group; SIGKILL after 10 s; exit status */
#ifndef CCGATE_TU_PROC_H
#define CCGATE_TU_PROC_H

#include <sys/types.h>

/* Starts argv[0] (a path, or a name looked up in PATH) in its own process group with PDEATHSIG set.
 * out_path / err_path: NULL keeps the test's stream, else the file is created (0600, truncated).
 * Returns the pid (the group id), or -1. */
pid_t tu_spawn(const char *const argv[], const char *out_path, const char *err_path);
/* Sends sig to pid's process group, waits up to timeout_ms for pid, then SIGKILLs the group. Returns the
 * wait status, or -1 when pid could not be reaped. */
int tu_stop(pid_t pid, int sig, int timeout_ms);
/* Kills and reaps every child of this process (and their process groups) now. Returns how many. */
int tu_kill_children(void);
/* A FUSE mountpoint to unmount at exit if the test did not (fusermount3 -u -z). */
void tu_track_mount(const char *path);
void tu_untrack_mount(const char *path);

#endif
