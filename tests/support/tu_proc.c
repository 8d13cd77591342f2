/* The process guard of every test binary; see tu_proc.h. The code that may run in a signal handler
 * (kill_children, unmount_tracked) uses only async-signal-safe calls: open/read/getdents64, kill,
 * waitpid, umount2, fork/execvp/_exit, write. */
#include "tu_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_MOUNTS 32
#define MOUNT_PATH_MAX 256

static pid_t guard_pid;             /* the test process; forked children are not it */
static __thread pid_t fork_parent;  /* set in the forking thread just before fork() */
static char mounts[MAX_MOUNTS][MOUNT_PATH_MAX];

static void say(const char *text)
{
    ssize_t ignored = write(STDERR_FILENO, text, strlen(text));
    (void)ignored;
}

/* ---------------------------------------------------------------- fork children */

static void atfork_prepare(void)
{
    fork_parent = getpid();
}

/* Every fork() child: killed when its parent dies, and the leader of its own group, so killing the
 * group also takes whatever it starts. */
static void atfork_child(void)
{
    (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
    (void)setpgid(0, 0);
    if (getppid() != fork_parent) { /* the parent died before the death signal was armed */
        _exit(127);
    }
}

/* ---------------------------------------------------------------- finding children */

static pid_t parse_pid(const char *s)
{
    pid_t v = 0;
    if (*s == '\0') {
        return 0;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000) {
            return 0;
        }
        v = v * 10 + (*s - '0');
    }
    return v;
}

/* The parent pid from /proc/<pid>/stat ("pid (comm) state ppid ..."; comm may hold spaces and ')'), and
 * the state letter ('Z': exited, not yet reaped). */
static pid_t parent_of(pid_t pid, char *state)
{
    char path[64], buf[512];
    int n = snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if (n <= 0 || (size_t)n >= sizeof(path)) {
        return 0;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t len = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (len <= 0) {
        return 0;
    }
    buf[len] = '\0';
    char *p = strrchr(buf, ')');
    if (p == NULL || p[1] != ' ' || p[2] == '\0' || p[3] != ' ') {
        return 0;
    }
    *state = p[2];
    p += 4;
    pid_t v = 0;
    for (; *p >= '0' && *p <= '9'; p++) {
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* Kills every child's process group and the child itself with SIGKILL, reaps it, and repeats: a killed
 * daemon's orphans come back to this process (child subreaper). Returns the number of children that
 * were still running (exited ones are only reaped). */
static int kill_children(void)
{
    pid_t self = getpid();
    int total = 0;
    for (int round = 0; round < 16; round++) {
        char buf[8192];
        int found = 0, running = 0;
        int dfd = open("/proc", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            return total;
        }
        for (;;) {
            ssize_t got = getdents64(dfd, buf, sizeof(buf));
            if (got <= 0) {
                break;
            }
            for (ssize_t off = 0; off < got;) {
                const struct dirent64 *d = (const struct dirent64 *)(buf + off);
                off += d->d_reclen;
                pid_t pid = parse_pid(d->d_name);
                char state = '?';
                if (pid <= 0 || pid == self || parent_of(pid, &state) != self) {
                    continue;
                }
                (void)kill(-pid, SIGKILL);
                (void)kill(pid, SIGKILL);
                (void)waitpid(pid, NULL, 0);
                found++;
                running += state != 'Z';
            }
        }
        close(dfd);
        total += running;
        if (found == 0) {
            break;
        }
    }
    return total;
}

/* ---------------------------------------------------------------- mounts */

static int is_mountpoint(const char *path)
{
    struct stat a, b;
    char parent[MOUNT_PATH_MAX + 4];
    size_t n = strlen(path);
    if (n == 0 || n >= MOUNT_PATH_MAX) {
        return 0;
    }
    memcpy(parent, path, n);
    memcpy(parent + n, "/..", 4);
    return stat(path, &a) == 0 && stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static void fusermount_lazy(const char *path)
{
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) {
            (void)dup2(devnull, STDOUT_FILENO);
            (void)dup2(devnull, STDERR_FILENO);
        }
        execlp("fusermount3", "fusermount3", "-u", "-z", "-q", path, (char *)NULL);
        _exit(127);
    }
    if (pid > 0) {
        (void)waitpid(pid, NULL, 0);
    }
}

/* A stale FUSE mount (its daemon killed) answers stat with ENOTCONN: unmount it too. */
static void unmount_tracked(void)
{
    for (int i = 0; i < MAX_MOUNTS; i++) {
        struct stat st;
        if (mounts[i][0] == '\0') {
            continue;
        }
        if (is_mountpoint(mounts[i]) || (stat(mounts[i], &st) != 0 && errno == ENOTCONN)) {
            if (umount2(mounts[i], MNT_DETACH) != 0) {
                fusermount_lazy(mounts[i]);
            }
            (void)rmdir(mounts[i]);
            say("tu_proc: unmounted a FUSE mount the test left behind: ");
            say(mounts[i]);
            say("\n");
        }
        mounts[i][0] = '\0';
    }
}

void tu_track_mount(const char *path)
{
    for (int i = 0; i < MAX_MOUNTS; i++) {
        if (mounts[i][0] == '\0') {
            snprintf(mounts[i], sizeof(mounts[i]), "%s", path);
            return;
        }
    }
}

void tu_untrack_mount(const char *path)
{
    for (int i = 0; i < MAX_MOUNTS; i++) {
        if (strcmp(mounts[i], path) == 0) {
            mounts[i][0] = '\0';
        }
    }
}

/* ---------------------------------------------------------------- the guard */

static void cleanup_now(void)
{
    if (getpid() == guard_pid) {
        unmount_tracked(); /* first: killing a FUSE daemon's group could take its unmount helper */
    }
    if (kill_children() > 0 && getpid() == guard_pid) {
        say("tu_proc: killed child processes the test left running\n");
    }
}

static void on_fatal(int sig)
{
    int saved = errno;
    cleanup_now();
    errno = saved;
    (void)raise(sig); /* SA_RESETHAND: the default action, once this handler returns */
}

__attribute__((constructor)) static void tu_proc_guard(void)
{
    static const int sigs[] = {SIGABRT, SIGTERM, SIGINT, SIGHUP};
    guard_pid = getpid();
    (void)prctl(PR_SET_CHILD_SUBREAPER, 1);
    (void)pthread_atfork(atfork_prepare, NULL, atfork_child);
    (void)atexit(cleanup_now);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        struct sigaction old, sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_fatal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_DFL) {
            (void)sigaction(sigs[i], &sa, NULL);
        }
    }
}

int tu_kill_children(void)
{
    return kill_children();
}

/* ---------------------------------------------------------------- spawning and stopping */

static int redirect(const char *path, int target)
{
    if (path == NULL) {
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || dup2(fd, target) < 0) {
        return -1;
    }
    close(fd);
    return 0;
}

pid_t tu_spawn(const char *const argv[], const char *out_path, const char *err_path)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        (void)prctl(PR_SET_PDEATHSIG, SIGKILL);
        (void)setpgid(0, 0);
        if (getppid() != parent || redirect(out_path, STDOUT_FILENO) != 0 || redirect(err_path, STDERR_FILENO) != 0) {
            _exit(127);
        }
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    if (pid > 0) {
        (void)setpgid(pid, pid); /* also from this side: no window where a group kill misses it */
    }
    return pid;
}

int tu_stop(pid_t pid, int sig, int timeout_ms)
{
    int status = 0;
    if (pid <= 0) {
        return -1;
    }
    if (kill(-pid, sig) != 0) {
        (void)kill(pid, sig);
    }
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid) {
            (void)kill(-pid, SIGKILL); /* whatever it started goes too */
            return status;
        }
        if (r < 0) {
            return -1;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    (void)kill(-pid, SIGKILL);
    (void)kill(pid, SIGKILL);
    return waitpid(pid, &status, 0) == pid ? status : -1;
}
