/* Process hardening for the agent and, before exec, the model server's process:
 *   - PR_SET_DUMPABLE 0: no ptrace attach and no /proc/<pid>/mem or /proc/<pid>/fd access for another
 *     process of the same uid without CAP_SYS_PTRACE, and no core dump;
 *   - RLIMIT_CORE 0; PR_SET_NO_NEW_PRIVS 1 (required for an unprivileged seccomp filter, and stops
 *     set-uid escalation through exec);
 *   - a seccomp filter, built with libseccomp, returning EPERM for the calls that read or change
 *     another process's memory or the kernel: ptrace, process_vm_readv/writev, perf_event_open, bpf,
 *     userfaultfd, kcmp, pidfd_getfd, process_madvise, kexec, module loading, mount (and the new mount
 *     API), swap. Everything else is allowed, so it does not get in a model server's way. The filter
 *     is inherited across fork and exec.
 *
 * The filter names only the native architecture. Any other ABI the kernel offers this process (i386
 * through `int 0x80` on x86-64, x32 system call numbers, AArch32 on arm64) kills the process: those
 * ABIs number the system calls differently, and a filter that matched numbers without the architecture
 * would let `int 0x80` reach ptrace under its i386 number. libseccomp checks seccomp_data.arch first and
 * rejects x32 numbers (bit 30) in an x86-64-only filter; SCMP_FLTATR_ACT_BADARCH makes both a kill.
 *
 * libseccomp allocates, so the program is compiled once (both variants, with and without ptrace) in
 * the first call, exported to memory and cached: a later install, e.g. in the model server's child
 * between fork and exec where only async-signal-safe calls belong, is then a single prctl.
 * execve resets the dumpable flag for an ordinary binary, so the model server must clear it again
 * itself (the contract in docs/agent.md). */
#include "ccgate/agent.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ccgate/error.h"

#if !defined(__x86_64__) && !defined(__aarch64__)
#error "ccgate-agent's seccomp filter is tested on x86-64 and aarch64"
#endif

#ifndef __has_feature
#define __has_feature(x) 0
#endif

int ccg_agent_sanitizer_build(void)
{
#if defined(__SANITIZE_ADDRESS__) || __has_feature(address_sanitizer) || __has_feature(leak_sanitizer)
    return 1;
#else
    return 0;
#endif
}

ccg_result ccg_agent_harden_process(void)
{
    ccg_result result = CCG_FAILURE;
    struct rlimit none = {0, 0};
    CCG_ENSURE_MSG(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0, CCG_R_AGENT_HARDENING_FAILED, "PR_SET_DUMPABLE: %s",
                   strerror(errno));
    CCG_ENSURE_MSG(setrlimit(RLIMIT_CORE, &none) == 0, CCG_R_AGENT_HARDENING_FAILED, "RLIMIT_CORE: %s",
                   strerror(errno));
    CCG_ENSURE_MSG(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0, CCG_R_AGENT_HARDENING_FAILED,
                   "PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
    CCG_ENSURE_MSG(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0, CCG_R_AGENT_HARDENING_FAILED,
                   "the process is still dumpable");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The denied system calls, by name: a name this architecture lacks (libseccomp resolves it to
 * __NR_SCMP_ERROR) is skipped. */
static const char *const DENIED[] = {
    "ptrace",     "process_vm_readv", "process_vm_writev", "perf_event_open", "bpf",
    "userfaultfd", "kcmp",            "kexec_load",        "kexec_file_load", "init_module",
    "finit_module", "delete_module",  "mount",             "umount2",         "swapon",
    "swapoff",    "open_tree",        "move_mount",        "fsopen",          "fsmount",
    "fsconfig",   "fspick",           "mount_setattr",
    /* ptrace-gated reach into another process: its descriptors, its memory's paging. */
    "pidfd_getfd", "process_madvise",
};

#define N_DENIED (sizeof(DENIED) / sizeof(DENIED[0]))
#define PROG_MAX 512 /* instructions; the filter needs far fewer (tests/test_harden.c checks) */

/* The compiled programs: [0] denies ptrace, [1] keeps it (sanitizer builds). */
static struct {
    int ready;
    struct sock_filter insns[2][PROG_MAX];
    unsigned short len[2];
} g_prog;

/* Builds one variant with libseccomp and exports its BPF into insns. */
static ccg_result compile(int allow_ptrace, struct sock_filter *insns, unsigned short *len)
{
    ccg_result result = CCG_FAILURE;
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
    int fd = -1, rc = 0;
    off_t size = 0;
    CCG_ENSURE_MSG(ctx != NULL, CCG_R_AGENT_HARDENING_FAILED, "seccomp_init failed");
    /* Any architecture but the native one (i386, x32, AArch32) kills the process. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
    CCG_ENSURE_MSG(rc == 0, CCG_R_AGENT_HARDENING_FAILED, "SCMP_FLTATR_ACT_BADARCH: %s", strerror(-rc));
    /* no_new_privs is ccg_agent_harden_process's job; install checks it rather than set it silently. */
    rc = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
    CCG_ENSURE_MSG(rc == 0, CCG_R_AGENT_HARDENING_FAILED, "SCMP_FLTATR_CTL_NNP: %s", strerror(-rc));
    for (size_t i = 0; i < N_DENIED; i++) {
        int nr = seccomp_syscall_resolve_name(DENIED[i]);
        if (nr == __NR_SCMP_ERROR || (allow_ptrace && strcmp(DENIED[i], "ptrace") == 0)) {
            continue;
        }
        rc = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
        CCG_ENSURE_MSG(rc == 0, CCG_R_AGENT_HARDENING_FAILED, "seccomp rule for %s: %s", DENIED[i], strerror(-rc));
    }
    fd = memfd_create("ccgate-seccomp", MFD_CLOEXEC);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_AGENT_HARDENING_FAILED, "memfd_create: %s", strerror(errno));
    rc = seccomp_export_bpf(ctx, fd);
    CCG_ENSURE_MSG(rc == 0, CCG_R_AGENT_HARDENING_FAILED, "seccomp_export_bpf: %s", strerror(-rc));
    size = lseek(fd, 0, SEEK_END);
    CCG_ENSURE_MSG(size > 0 && size % (off_t)sizeof(struct sock_filter) == 0 &&
                       size <= (off_t)(PROG_MAX * sizeof(struct sock_filter)),
                   CCG_R_AGENT_HARDENING_FAILED, "the seccomp program is %lld bytes", (long long)size);
    CCG_ENSURE_MSG(pread(fd, insns, (size_t)size, 0) == (ssize_t)size, CCG_R_AGENT_HARDENING_FAILED,
                   "reading the seccomp program: %s", strerror(errno));
    *len = (unsigned short)(size / (off_t)sizeof(struct sock_filter));
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    seccomp_release(ctx);
    return result;
}

ccg_result ccg_agent_seccomp_prepare(void)
{
    ccg_result result = CCG_FAILURE;
    if (!g_prog.ready) {
        CCG_TRY(compile(0, g_prog.insns[0], &g_prog.len[0]));
        CCG_TRY(compile(1, g_prog.insns[1], &g_prog.len[1]));
        g_prog.ready = 1;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

size_t ccg_agent_seccomp_program_len(int allow_ptrace)
{
    return g_prog.ready ? g_prog.len[allow_ptrace ? 1 : 0] : 0;
}

ccg_result ccg_agent_seccomp_install(int allow_ptrace)
{
    ccg_result result = CCG_FAILURE;
    struct sock_fprog fprog;
    int v = allow_ptrace ? 1 : 0;
    CCG_ENSURE_MSG(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, CCG_R_AGENT_HARDENING_FAILED,
                   "no_new_privs must be set before the seccomp filter");
    CCG_TRY(ccg_agent_seccomp_prepare());
    fprog.len = g_prog.len[v];
    fprog.filter = g_prog.insns[v];
    CCG_ENSURE_MSG(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) == 0, CCG_R_AGENT_HARDENING_FAILED,
                   "PR_SET_SECCOMP: %s", strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
