/* The entry of one command executable, ccgate-cmd-<command> (docs/startup.md), compiled once per command
 * with -DCCG_CMD_ENTRY=cmd_<command> -DCCG_CMD_WORD="<command>" (cmake/cli.cmake). The `ccgate` dispatcher
 * (main.c) execs it as: PATH <command> [arguments...]; it calls cmd_<command>(argc - 1, argv + 1), as
 * ccgate's main did when every command was linked into one program. Built with CCG_CMD_VERSION instead,
 * it is ccgate-cmd-version, which prints `ccgate --version` (the only part that needs libcrypto). */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "ccgate/cli_args.h"

#ifdef CCG_CMD_VERSION
#include "ccgate/version.h"
#define CCG_CMD_WORD "--version"
static int entry(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ccg_version_print(stdout, "ccgate");
    return CCG_EXIT_OK;
}
#else
#if !defined(CCG_CMD_ENTRY) || !defined(CCG_CMD_WORD)
#error "cmd_entry.c is compiled with -DCCG_CMD_ENTRY=cmd_<command> -DCCG_CMD_WORD=\"<command>\""
#endif
#include "cli.h" /* declares CCG_CMD_ENTRY, so a wrong name or signature does not compile */
#define entry CCG_CMD_ENTRY
#endif

/* No core dumps (one could hold evidence or keys) and not dumpable: execve reset what the dispatcher set. */
static void harden_process(void)
{
    struct rlimit no_core = {0, 0};
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

int main(int argc, char **argv)
{
    harden_process();
    /* Only the dispatcher's form: the command word first, as `ccgate` passes it. */
    if (argc < 2 || strcmp(argv[1], CCG_CMD_WORD) != 0) {
        fprintf(stderr, "%s: run it as 'ccgate %s' (this is one of ccgate's command executables)\n",
                argc > 0 ? argv[0] : "ccgate-cmd", CCG_CMD_WORD);
        return CCG_EXIT_USAGE;
    }
    return entry(argc - 1, argv + 1);
}
