/* The agent's seccomp filter (src/agent/harden.c, built with libseccomp). Each case runs in a forked
 * child, because a filter cannot be removed: the child hardens itself, installs the filter, tries the
 * denied calls (EPERM) and ordinary ones (they work), and exits with the number of the first check
 * that failed. The other-ABI cases expect the child to be killed by SIGSYS. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/agent.h"

/* Runs fn in a child and returns its wait status. */
static int in_child(int (*fn)(void))
{
    int status = 0;
    pid_t pid;
    fflush(NULL);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(fn());
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_exit0(int status)
{
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fail_msg("child: %s %d", WIFEXITED(status) ? "check failed" : "signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    }
}

static int harden_and_filter(int allow_ptrace)
{
    if (ccg_failed(ccg_agent_harden_process())) {
        return 100;
    }
    return ccg_failed(ccg_agent_seccomp_install(allow_ptrace)) ? 101 : 0;
}

/* -1 with EPERM, as the filter answers. */
static int denied(long rc)
{
    return rc == -1 && errno == EPERM;
}

static int denied_calls_child(void)
{
    char buf[8] = {0}, dst[8];
    struct iovec local = {dst, sizeof(dst)}, remote = {buf, sizeof(buf)};
    int rc = harden_and_filter(0), fd;
    if (rc != 0) {
        return rc;
    }
    errno = 0;
    if (!denied(ptrace(PTRACE_TRACEME, 0, NULL, NULL))) {
        return 1;
    }
    errno = 0;
    if (!denied(process_vm_readv(getppid(), &local, 1, &remote, 1, 0))) {
        return 2;
    }
    errno = 0;
    if (!denied(process_vm_writev(getppid(), &local, 1, &remote, 1, 0))) {
        return 3;
    }
    errno = 0;
    if (!denied(syscall(SYS_bpf, 0, NULL, 0))) {
        return 4;
    }
    errno = 0;
    if (!denied(syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0))) {
        return 5;
    }
    errno = 0;
    if (!denied(syscall(SYS_userfaultfd, 0)) || !denied(syscall(SYS_kcmp, getpid(), getpid(), 0, 0, 0))) {
        return 6;
    }
    errno = 0;
    if (!denied(syscall(SYS_init_module, NULL, 0, "")) || !denied(syscall(SYS_mount, "x", "/", "tmpfs", 0, NULL)) ||
        !denied(syscall(SYS_swapoff, "/x")) || !denied(syscall(SYS_kexec_load, 0, 0, NULL, 0))) {
        return 7;
    }
    errno = 0;
    if (!denied(syscall(SYS_pidfd_getfd, 0, 0, 0)) || !denied(syscall(SYS_process_madvise, 0, NULL, 0, 0, 0))) {
        return 9;
    }
    /* Ordinary calls still work. */
    fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (getpid() <= 0 || fd < 0 || write(fd, "x", 1) != 1 || close(fd) != 0) {
        return 8;
    }
    return 0;
}

static void denied_calls_fail_with_eperm_and_others_work(void **state)
{
    (void)state;
    assert_exit0(in_child(denied_calls_child));
}

/* allow_ptrace (sanitizer builds): ptrace reaches the kernel, the rest stays denied. */
static int allow_ptrace_child(void)
{
    char buf[8] = {0}, dst[8];
    struct iovec local = {dst, sizeof(dst)}, remote = {buf, sizeof(buf)};
    int rc = harden_and_filter(1);
    if (rc != 0) {
        return rc;
    }
    errno = 0;
    /* Not traced by the parent: the kernel says ESRCH, not the filter's EPERM. */
    if (ptrace(PTRACE_PEEKDATA, getppid(), NULL, NULL) != -1 || errno != ESRCH) {
        return 1;
    }
    errno = 0;
    return denied(process_vm_readv(getppid(), &local, 1, &remote, 1, 0)) ? 0 : 2;
}

static void allow_ptrace_keeps_only_ptrace(void **state)
{
    (void)state;
    assert_exit0(in_child(allow_ptrace_child));
}

/* Without no_new_privs the filter is refused by us (not silently set by libseccomp). */
static int needs_nnp_child(void)
{
    if (prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 0) {
        return 0; /* the test runner already set it: nothing to check */
    }
    if (ccg_ok(ccg_agent_seccomp_install(0)) || ccg_error_reason() != CCG_R_AGENT_HARDENING_FAILED) {
        return 1;
    }
    return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0 ? 0 : 2;
}

static void install_requires_no_new_privs(void **state)
{
    (void)state;
    assert_exit0(in_child(needs_nnp_child));
}

static void the_program_is_compiled_once_and_small(void **state)
{
    (void)state;
    assert_true(ccg_ok(ccg_agent_seccomp_prepare()));
    assert_true(ccg_agent_seccomp_program_len(0) > 20); /* the arch check and 20-odd rules */
    assert_true(ccg_agent_seccomp_program_len(0) < 512);
    assert_true(ccg_agent_seccomp_program_len(1) < ccg_agent_seccomp_program_len(0));
}

#if defined(__x86_64__)
/* getpid through the i386 entry point (int 0x80, i386 number 20). */
static long int80_getpid(void)
{
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
    return ret;
}

static int int80_unfiltered_child(void)
{
    return int80_getpid() == getpid() ? 0 : 1;
}

static int int80_filtered_child(void)
{
    int rc = harden_and_filter(0);
    if (rc != 0) {
        return rc;
    }
    (void)int80_getpid();
    return 3; /* not killed: the i386 ABI got through */
}

/* The classic bypass: ptrace is 101 on x86-64 but 26 on i386, and a filter that ignores the
 * architecture would compare the wrong numbers. Every i386 call kills the process. */
static void i386_int80_kills_the_process(void **state)
{
    int status;
    (void)state;
    status = in_child(int80_unfiltered_child);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        /* The kernel has no IA32 emulation (CONFIG_IA32_EMULATION off or ia32_emulation=0):
         * int 0x80 faults before any filter runs, so there is no i386 path to close. */
        skip();
    }
    status = in_child(int80_filtered_child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}

static int x32_child(void)
{
    int rc = harden_and_filter(0);
    if (rc != 0) {
        return rc;
    }
    (void)syscall(0x40000000L | SYS_getpid); /* the x32 number space (bit 30) */
    return 3;
}

/* x32 numbers arrive with the x86-64 arch value; libseccomp's x86-64 filter refuses them as a
 * whole, whether or not the kernel has x32 enabled (seccomp runs before dispatch). */
static void x32_numbers_kill_the_process(void **state)
{
    int status;
    (void)state;
    status = in_child(x32_child);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGSYS);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_program_is_compiled_once_and_small),
        cmocka_unit_test(denied_calls_fail_with_eperm_and_others_work),
        cmocka_unit_test(allow_ptrace_keeps_only_ptrace),
        cmocka_unit_test(install_requires_no_new_privs),
#if defined(__x86_64__)
        cmocka_unit_test(i386_int80_kills_the_process),
        cmocka_unit_test(x32_numbers_kill_the_process),
#endif
    };
    return cmocka_run_group_tests_name("harden", tests, NULL, NULL);
}
