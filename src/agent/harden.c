/* Process hardening for the agent and, before exec, the model server's process:
 *   - PR_SET_DUMPABLE 0: no ptrace attach and no /proc/<pid>/mem or /proc/<pid>/fd access for another
 *     process of the same uid without CAP_SYS_PTRACE, and no core dump;
 *   - RLIMIT_CORE 0; PR_SET_NO_NEW_PRIVS 1 (required for an unprivileged seccomp filter, and stops
 *     set-uid escalation through exec);
 *   - a seccomp filter, written as classic BPF, returning EPERM for the calls that read or change
 *     another process's memory or the kernel: ptrace, process_vm_readv/writev, perf_event_open, bpf,
 *     userfaultfd, kcmp, kexec, module loading, mount, swap. Everything else is allowed, so it does not
 *     get in a model server's way. The filter is inherited across fork and exec.
 * execve resets the dumpable flag for an ordinary binary, so the model server must clear it again
 * itself (the contract in docs/agent.md). */
#include "ccgate/agent.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>

#include "ccgate/error.h"

#if defined(__x86_64__)
#define CCG_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define CCG_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "ccgate-agent's seccomp filter knows x86-64 and aarch64"
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

/* The denied system calls (those this architecture has). */
static const int DENIED[] = {
    SYS_ptrace,        SYS_process_vm_readv, SYS_process_vm_writev, SYS_perf_event_open, SYS_bpf,
    SYS_userfaultfd,   SYS_kcmp,             SYS_kexec_load,        SYS_init_module,     SYS_finit_module,
    SYS_delete_module, SYS_mount,            SYS_umount2,           SYS_swapon,          SYS_swapoff,
#ifdef SYS_kexec_file_load
    SYS_kexec_file_load,
#endif
#ifdef SYS_open_tree
    SYS_open_tree,     SYS_move_mount,       SYS_fsopen,            SYS_fsmount,
#endif
};

#define N_DENIED (sizeof(DENIED) / sizeof(DENIED[0]))

ccg_result ccg_agent_seccomp_install(int allow_ptrace)
{
    ccg_result result = CCG_FAILURE;
    struct sock_filter prog[8 + 2 * N_DENIED];
    size_t n = 0;
    struct sock_fprog fprog;
    /* Wrong architecture: kill (a 32-bit entry point would bypass the numbers below). */
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, CCG_AUDIT_ARCH, 1, 0);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#if defined(__x86_64__)
    /* x32 system calls (bit 30) are refused as a whole. */
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
#endif
    for (size_t i = 0; i < N_DENIED; i++) {
        if (allow_ptrace && DENIED[i] == SYS_ptrace) {
            continue;
        }
        prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)DENIED[i], 0, 1);
        prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA));
    }
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    fprog.len = (unsigned short)n;
    fprog.filter = prog;
    CCG_ENSURE_MSG(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1, CCG_R_AGENT_HARDENING_FAILED,
                   "no_new_privs must be set before the seccomp filter");
    CCG_ENSURE_MSG(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog, 0, 0) == 0, CCG_R_AGENT_HARDENING_FAILED,
                   "PR_SET_SECCOMP: %s", strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    return result;
}
