/* Starting and stopping ccg-tsm-fuse for tests, and temporary emulator state. See tsm_fuse_ctl.h. */
#include "tsm_fuse_ctl.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/error.h"
#include "testutil.h"
#include "tu_proc.h"

extern char **environ;

struct tu_tsm_fuse {
    char mnt[64];
    char dev[96]; /* the sev-guest stand-in's device file */
    pid_t pid;
};

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int is_mounted(const char *mnt)
{
    struct stat a, b;
    return stat(mnt, &a) == 0 && stat("/tmp", &b) == 0 && a.st_dev != b.st_dev;
}

/* Waits up to ms for the child to exit; 1 when it did. */
static int reap(pid_t pid, long ms, int *status)
{
    for (long waited = 0; waited <= ms; waited += 20) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD)) {
            return 1;
        }
        sleep_ms(20);
    }
    return 0;
}

static int run_fusermount(const char *mnt)
{
    char *argv[] = {"fusermount3", "-u", "-q", (char *)mnt, NULL};
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, "fusermount3", NULL, NULL, argv, environ) != 0) {
        return -1;
    }
    if (waitpid(pid, &status, 0) != pid) {
        return -1;
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

__attribute__((format(printf, 3, 4))) static int fail_with(char *why, size_t why_len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, why_len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Starts the program named by $env with --state, optional --provider/--fault, and a fresh mountpoint. */
static int start_program(const char *env, const char *emulator_dir, const char *provider, const char *fault,
                         tu_tsm_fuse **out, char *why, size_t why_len)
{
    const char *prog = getenv(env);
    tu_tsm_fuse *fs = NULL;
    int fd, status = 0;
    *out = NULL;
    if (prog == NULL || *prog == '\0' || access(prog, X_OK) != 0) {
        return fail_with(why, why_len, "%s (%s) is not an executable stand-in", env, prog ? prog : "unset");
    }
    if ((fd = open("/dev/fuse", O_RDWR | O_CLOEXEC)) < 0) {
        return fail_with(why, why_len, "FUSE is unavailable: cannot open /dev/fuse: %s", strerror(errno));
    }
    close(fd);
    fs = calloc(1, sizeof(*fs));
    if (fs == NULL) {
        return fail_with(why, why_len, "%s", "out of memory");
    }
    snprintf(fs->mnt, sizeof(fs->mnt), "/tmp/ccg-tsm-XXXXXX");
    if (mkdtemp(fs->mnt) == NULL) {
        free(fs);
        return fail_with(why, why_len, "mkdtemp: %s", strerror(errno));
    }
    snprintf(fs->dev, sizeof(fs->dev), "%s/sev-guest", fs->mnt);
    char *argv[10];
    int n = 0;
    argv[n++] = (char *)prog;
    argv[n++] = "--state";
    argv[n++] = (char *)emulator_dir;
    if (provider != NULL) {
        argv[n++] = "--provider";
        argv[n++] = (char *)provider;
    }
    if (fault != NULL) {
        argv[n++] = "--fault";
        argv[n++] = (char *)fault;
    }
    argv[n++] = fs->mnt;
    argv[n] = NULL;
    /* Its own group, killed with the test; the mount is unmounted at exit if the test does not. */
    tu_track_mount(fs->mnt);
    if ((fs->pid = tu_spawn((const char *const *)argv, NULL, NULL)) < 0) {
        tu_untrack_mount(fs->mnt);
        rmdir(fs->mnt);
        free(fs);
        return fail_with(why, why_len, "cannot start %s", prog);
    }
    for (int waited = 0; waited < 15000; waited += 20) {
        if (is_mounted(fs->mnt)) {
            *out = fs;
            return 0;
        }
        if (waitpid(fs->pid, &status, WNOHANG) == fs->pid) {
            tu_untrack_mount(fs->mnt);
            rmdir(fs->mnt);
            free(fs);
            return fail_with(why, why_len, "%s exited before mounting (FUSE mounts not permitted here?)", prog);
        }
        sleep_ms(20);
    }
    tu_tsm_fuse_stop(fs);
    return fail_with(why, why_len, "%s did not mount within 15 s", prog);
}

int tu_tsm_fuse_start(const char *emulator_dir, const tu_tsm_fuse_opts *opts, tu_tsm_fuse **out, char *why,
                      size_t why_len)
{
    return start_program("CCG_TSM_FUSE", emulator_dir, opts ? opts->provider : NULL, opts ? opts->fault : NULL, out,
                         why, why_len);
}

static tu_tsm_fuse *skip_unless(int rc, tu_tsm_fuse *fs, const char *what, const char *why)
{
    if (rc != 0) {
        tu_skip_or_fail("the %s stand-in cannot run: %s", what, why);
    }
    return fs;
}

tu_tsm_fuse *tu_tsm_fuse_start_or_skip(const char *emulator_dir, const tu_tsm_fuse_opts *opts)
{
    tu_tsm_fuse *fs = NULL;
    char why[512];
    int rc = tu_tsm_fuse_start(emulator_dir, opts, &fs, why, sizeof(why));
    return skip_unless(rc, fs, "configfs-tsm", why);
}

tu_tsm_fuse *tu_sev_guest_fuse_start_or_skip(const char *emulator_dir, const char *fault)
{
    tu_tsm_fuse *fs = NULL;
    char why[512];
    int rc = start_program("CCG_SEV_GUEST_FUSE", emulator_dir, NULL, fault, &fs, why, sizeof(why));
    return skip_unless(rc, fs, "/dev/sev-guest", why);
}

const char *tu_sev_guest_fuse_path(const tu_tsm_fuse *fs) { return fs->dev; }

const char *tu_tsm_fuse_root(const tu_tsm_fuse *fs) { return fs->mnt; }

int tu_tsm_fuse_stop(tu_tsm_fuse *fs)
{
    int status = 0, rc = 0;
    if (fs == NULL) {
        return 0;
    }
    if (is_mounted(fs->mnt) && run_fusermount(fs->mnt) != 0) {
        (void)umount2(fs->mnt, MNT_DETACH);
    }
    /* The program leaves fuse_main once unmounted; make sure nothing is left behind. */
    if (!reap(fs->pid, 10000, &status)) {
        print_message("the stand-in on %s did not exit after unmounting; killed\n", fs->mnt);
        kill(fs->pid, SIGKILL);
        (void)reap(fs->pid, 5000, &status);
        rc = -1;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        print_message("the stand-in on %s exited with status 0x%x\n", fs->mnt, (unsigned)status);
        rc = -1;
    }
    if (is_mounted(fs->mnt)) {
        (void)umount2(fs->mnt, MNT_DETACH);
    }
    tu_untrack_mount(fs->mnt);
    rmdir(fs->mnt);
    free(fs);
    return rc;
}

ccg_snp_emulator *tu_emulator_state_new(char *dir, size_t dir_len, const ccg_snp_emulator_launch *launch)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_emulator *emu = NULL;
    assert_true(dir_len >= 64);
    snprintf(dir, dir_len, "/tmp/ccg-emu-XXXXXX");
    assert_non_null(mkdtemp(dir));
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&cfg, &emu)) || ccg_failed(ccg_snp_emulator_save(emu, launch, dir))) {
        fail_msg("cannot create the emulator state: %s", ccg_error_last()->message);
    }
    return emu;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void tu_remove_tree(const char *dir)
{
    if (dir != NULL && *dir) {
        (void)nftw(dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}
