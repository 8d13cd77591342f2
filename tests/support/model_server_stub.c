/* A model server for the agent's tests, keeping the contract of docs/agent.md: its first act is
 * prctl(PR_SET_DUMPABLE, 0) (execve made it dumpable again); then it maps the inherited sealed memfd
 * (CCGATE_MODEL_FD) read-only, computes its SHA-384 (compared with $CCG_STUB_EXPECT_SHA384, which the
 * test puts in the agent's environment and the agent passes on), and checks the seals by trying to write, grow and map it
 * writable. It writes a report (no plaintext) to argv[1]:
 *   {"pid":N,"dumpable":0,"sha384":"..","match":1,"digest":"<CCGATE_MODEL_DIGEST>","len":N,"seals":N,"write_errno":N,
 *    "truncate_errno":N,"mmap_write_errno":N,"no_new_privs":1,"extra_fds":0}
 * prints the digest on stdout, and serves (sleeps) until SIGTERM. With argv[2] "exit" it exits at once. */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <dirent.h>
#include <unistd.h>

static int fail(const char *what)
{
    fprintf(stderr, "model-server-stub: %s\n", what);
    return 3;
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = 0;
}

static char extra_names[2048];

/* Descriptors open besides 0, 1, 2 and the model's: the agent must hand over nothing else. */
static int extra_fds(int model_fd)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;
    if (d == NULL) {
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        int fd = atoi(e->d_name);
        if (e->d_name[0] != '.' && fd > 2 && fd != model_fd && fd != dirfd(d)) {
            char path[64], link[256];
            ssize_t len;
            snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
            len = readlink(path, link, sizeof(link) - 1);
            link[len > 0 ? len : 0] = 0;
            fprintf(stderr, "model-server-stub: inherited fd %d -> %s\n", fd, link);
            snprintf(extra_names + strlen(extra_names), sizeof(extra_names) - strlen(extra_names), "%d=%s ", fd,
                     link);
            n++;
        }
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    const char *fd_s = getenv("CCGATE_MODEL_FD"), *len_s = getenv("CCGATE_MODEL_LEN");
    const char *signed_digest = getenv("CCGATE_MODEL_DIGEST"), *chunk_s = getenv("CCGATE_MODEL_CHUNK_SIZE");
    const char *want = getenv("CCG_STUB_EXPECT_SHA384");
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    char digest[2 * EVP_MAX_MD_SIZE + 1], tmp[4200];
    struct stat sb;
    int fd, seals, write_errno = 0, trunc_errno = 0, mmap_errno = 0, fds;
    size_t len;
    void *p, *w;
    FILE *f;
    sigset_t set;
    int sig = 0;

    /* First: execve reset the dumpable flag; clear it before touching the model. */
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
        return fail("PR_SET_DUMPABLE");
    }
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    if (argc < 2 || fd_s == NULL || len_s == NULL || signed_digest == NULL || chunk_s == NULL ||
        strlen(signed_digest) != 96) {
        return fail("usage: CCGATE_MODEL_FD/LEN/DIGEST/CHUNK_SIZE in the environment, report path as argv[1]");
    }
    fd = atoi(fd_s);
    len = (size_t)strtoull(len_s, NULL, 10);
    if (fstat(fd, &sb) != 0 || (size_t)sb.st_size != len || len == 0) {
        return fail("the descriptor is not the announced model");
    }
    seals = fcntl(fd, F_GET_SEALS);
    p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
        return fail("mmap");
    }
    if (EVP_Digest(p, len, md, &md_len, EVP_sha384(), NULL) != 1) {
        return fail("SHA-384");
    }
    hex(md, md_len, digest);
    /* The seals: every way to change the model must fail. */
    if (pwrite(fd, "x", 1, 0) < 0) {
        write_errno = errno;
    }
    if (ftruncate(fd, (off_t)len + 4096) != 0) {
        trunc_errno = errno;
    }
    w = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (w == MAP_FAILED) {
        mmap_errno = errno;
    } else {
        munmap(w, len);
    }
    fds = extra_fds(fd); /* before the report file is opened */
    snprintf(tmp, sizeof(tmp), "%s.tmp", argv[1]);
    f = fopen(tmp, "w");
    if (f == NULL) {
        return fail("report");
    }
    fprintf(f,
            "{\"pid\":%d,\"dumpable\":%d,\"sha384\":\"%s\",\"digest\":\"%s\",\"match\":%d,\"len\":%zu,\"seals\":%d,\"write_errno\":%d,"
            "\"truncate_errno\":%d,\"mmap_write_errno\":%d,\"no_new_privs\":%d,\"extra_fds\":%d,\"extra\":\"%s\"}\n",
            (int)getpid(), prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), digest, signed_digest, want != NULL && strcmp(digest, want) == 0, len, seals,
            write_errno, trunc_errno, mmap_errno, prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0), fds, extra_names);
    if (fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
        return fail("report");
    }
    printf("%s\n", digest);
    fflush(stdout);
    if (argc > 2 && strcmp(argv[2], "exit") == 0) {
        _exit(want != NULL && strcmp(digest, want) == 0 ? 0 : 4);
    }
    sigwait(&set, &sig);
    munmap(p, len);
    _exit(0); /* no sanitizer exit hooks: the agent's seccomp filter refuses ptrace */
}
