/* ccgate: the dispatcher (docs/startup.md). It links only libc and execs one executable per command,
 * ccgate-cmd-<command> (src/cli/cmd_entry.c), so `ccgate measure snp` loads what measuring needs and not
 * libcurl, SQLite or libmicrohttpd. The executables are found next to this program, never on $PATH:
 * <dir>/libexec/ccgate/ in the build tree, <dir>/CCG_LIBEXEC_REL/ once installed. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "ccgate/cli_args.h"

#ifndef CCG_LIBEXEC_REL
#define CCG_LIBEXEC_REL "../libexec/ccgate" /* bin/ -> libexec/ccgate/ (GNUInstallDirs defaults) */
#endif
#define CCG_CMD_PREFIX "ccgate-cmd-"

/* The commands: the only words that become an executable's name (no path ever comes from argv). */
static const char *const commands[] = {
    "verify", "kds",   "emulate", "measure", "refval", "tcb-baseline", "audit",    "kbs",
    "reasons", "channel", "client", "seal", "unseal",  "artifact",     "model",
};

static void usage(FILE *out)
{
    fprintf(out,
            "Usage: ccgate <command> [options]\n"
            "       ccgate --help | --version\n"
            "\n"
            "commands:\n"
            "  verify snp   verify an AMD SEV-SNP attestation report against collateral and a policy\n"
            "  verify gpu   verify NVIDIA GPU evidence (SPDM report, device chain) at a given time\n"
            "  verify tdx   verify an Intel TDX quote against Intel's collateral and a TDX policy\n"
            "  kds          fetch SEV-SNP collateral from AMD KDS into a local cache\n"
            "  emulate snp  write a report from the software SNP firmware (test root; demos and tests only)\n"
            "  emulate gpu  write evidence and RIMs from the software GPU (test roots; demos and tests only)\n"
            "  emulate tdx  write a quote and collateral from the software TD (test root; demos and tests only)\n"
            "  measure snp  compute an SEV-SNP launch measurement from OVMF, kernel and vCPU inputs\n"
            "  refval       create, sign, bundle and verify signed reference values\n"
            "  tcb-baseline create, sign and verify the authority's signed SEV-SNP TCB baselines\n"
            "  audit        verify, list or anchor the key broker's hash-chained audit log\n"
            "  kbs          the key broker's admin API per persona (keys, policies, refvals, audit, tokens)\n"
            "  reasons      list the reason-code registry (--json, --markdown)\n"
            "  channel      the attested secure channel: serve (emulated evidence) and send\n"
            "  client       ask an attested inference endpoint, or proxy OpenAI-compatible requests to it\n"
            "  seal         seal a model into a signed, chunked AES-256-GCM artifact (providers)\n"
            "  unseal       check and decrypt a sealed artifact to a file (providers checking their own)\n"
            "  artifact     inspect a sealed artifact's header (JSON) or compute a model's digest\n"
            "  model        generate, run (greedy, the endpoint's reference) or inspect the runner's model\n"
            "\n"
            "  -h, --help   print this help and exit\n"
            "  --version    print the version, the git revision and the OpenSSL version, and exit\n"
            "\n"
            "Run 'ccgate <command> --help' for a command's options.\n"
            "Exit status: 0 allow or success, 1 deny, 2 bad usage or bad input.\n");
}

/* ccgate never needs a core dump, and one could hold evidence or keys. execve resets the dumpable flag,
 * so every command executable does this again (cmd_entry.c); the core limit is inherited. */
static void harden_process(void)
{
    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

static int known_command(const char *word)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(word, commands[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The directory this program runs from, from /proc/self/exe (symlinks resolved): 0 on success. */
static int self_dir(char *dir, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", dir, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1) {
        return -1;
    }
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (slash == NULL || slash == dir) {
        return -1;
    }
    *slash = '\0';
    return 0;
}

/* Runs ccgate-cmd-<exe_word> with argv[1..] unchanged: argv[0] becomes the executable's path, so the
 * command still sees its word at argv[1]. Returns only on failure, with the exit status. */
static int run_command(const char *word, const char *exe_word, char **argv)
{
    static const char *const places[] = {"libexec/ccgate", CCG_LIBEXEC_REL};
    char dir[PATH_MAX];
    char path[PATH_MAX];
    if (self_dir(dir, sizeof(dir)) != 0) {
        fprintf(stderr, "ccgate: cannot find the directory of this program (/proc/self/exe): %s\n",
                strerror(errno));
        return CCG_EXIT_USAGE;
    }
    for (size_t i = 0; i < sizeof(places) / sizeof(places[0]); i++) {
        int n = snprintf(path, sizeof(path), "%s/%s/" CCG_CMD_PREFIX "%s", dir, places[i], exe_word);
        if (n < 0 || (size_t)n >= sizeof(path)) {
            continue; /* a directory this deep cannot hold it */
        }
        argv[0] = path;
        execv(path, argv);
        if (errno != ENOENT) {
            fprintf(stderr, "ccgate: cannot run the '%s' command (%s): %s\n", word, path, strerror(errno));
            return CCG_EXIT_USAGE;
        }
    }
    fprintf(stderr, "ccgate: the '%s' command is not installed: no %s%s in %s/libexec/ccgate or %s/%s\n", word,
            CCG_CMD_PREFIX, exe_word, dir, dir, CCG_LIBEXEC_REL);
    return CCG_EXIT_USAGE;
}

int main(int argc, char **argv)
{
    harden_process();
    if (argc < 2) {
        usage(stderr);
        return CCG_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return CCG_EXIT_OK;
    }
    /* The OpenSSL version is the one that runs: ccgate-cmd-version links libcrypto so this program
     * does not load it before every command. */
    if (strcmp(cmd, "--version") == 0) {
        return run_command(cmd, "version", argv);
    }
    if (known_command(cmd)) {
        return run_command(cmd, cmd, argv);
    }
    /* The convention's message (include/ccgate/cli_args.h), written here: ccg_cli_unknown_command's file
     * also prints --version, which would link libcrypto into this program. */
    if (cmd[0] == '-') {
        fprintf(stderr, "ccgate: unknown option '%s'\n", cmd);
    } else {
        fprintf(stderr, "ccgate: unknown command '%s'\n", cmd);
    }
    fprintf(stderr, "Try 'ccgate --help'.\n");
    return CCG_EXIT_USAGE;
}
