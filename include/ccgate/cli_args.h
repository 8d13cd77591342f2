/* One command-line convention for every ccgate program and subcommand (docs/cli.md):
 *   - options through getopt_long: `--opt value` and `--opt=value` both work, everywhere;
 *   - `--help`/`-h` prints the usage to standard output and exits 0; `--version` prints the version;
 *   - an unknown option, a missing value or a bad number prints "FULL NAME: why" and "Try 'FULL NAME
 *     --help'." to standard error and exits 2;
 *   - `-` names standard input or output where a file is read or written;
 *   - secrets (keys, tokens) never come from the command line: a file, a descriptor or standard input.
 * Exit status everywhere: 0 success or allow, 1 deny or refused, 2 usage, input or dependency error. */
#ifndef CCGATE_CLI_ARGS_H
#define CCGATE_CLI_ARGS_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#define CCG_EXIT_OK 0
#define CCG_EXIT_DENY 1
#define CCG_EXIT_USAGE 2

/* Option values the convention handles itself; put CCG_CLI_STD_OPTIONS at the end of every table
 * (before the zero terminator). */
#define CCG_CLI_OPT_HELP 0x10001
#define CCG_CLI_OPT_VERSION 0x10002
#define CCG_CLI_STD_OPTIONS                                                                                            \
    {"help", no_argument, 0, CCG_CLI_OPT_HELP}, {"version", no_argument, 0, CCG_CLI_OPT_VERSION}

/* What ccg_cli_next returns besides an option's value. */
#define CCG_CLI_END (-1)    /* no more options: argv[optind..argc) are the operands */
#define CCG_CLI_EXIT_0 (-2) /* help or version printed: return CCG_EXIT_OK */
#define CCG_CLI_EXIT_2 (-3) /* a usage error printed: return CCG_EXIT_USAGE */

typedef struct {
    const char *name;              /* the full command name: "ccgate kbs key import" */
    void (*usage)(FILE *out);      /* "Usage: NAME ..." then the options, one per line */
    const struct option *options;  /* ends with CCG_CLI_STD_OPTIONS and {0, 0, 0, 0} */
    const char *short_options;     /* "" or e.g. "o:"; "-h" is always help */
} ccg_cli;

/* Starts a parse of argv (argv[0] is the command word, skipped). */
void ccg_cli_begin(void);
/* The next option: its value (optarg holds its argument), or one of CCG_CLI_END, CCG_CLI_EXIT_0,
 * CCG_CLI_EXIT_2 (the message is already printed). */
int ccg_cli_next(const ccg_cli *cli, int argc, char **argv);

/* Prints "NAME: MESSAGE" and the --help hint to stderr; returns CCG_CLI_EXIT_2. */
int ccg_cli_usage_error(const ccg_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a decimal integer in [min, max] for option `opt`; on failure prints why and returns
 * CCG_CLI_EXIT_2, else 0. */
int ccg_cli_int(const ccg_cli *cli, const char *opt, const char *text, int64_t min, int64_t max, int64_t *out);
/* An unknown subcommand word: prints "NAME: unknown command 'WORD'" and the hint; returns CCG_CLI_EXIT_2. */
int ccg_cli_unknown_command(const ccg_cli *cli, const char *word);

/* Maps the three CCG_CLI_* outcomes to an exit status (CCG_CLI_EXIT_0 -> 0, CCG_CLI_EXIT_2 -> 2). */
int ccg_cli_exit(int outcome);

/* `value` when set, else the environment variable `env` when set and non-empty, else NULL. */
const char *ccg_cli_env_default(const char *value, const char *env);

/* `--now`: the pinned time when given (pinned != 0), else the current time, which is printed to stderr
 * as "NAME: --now=EPOCH (the current time)" so the verification can be repeated. */
int64_t ccg_cli_now(const ccg_cli *cli, int pinned, int64_t pinned_value);

/* True when `path` names standard input or output ("-"). */
int ccg_cli_is_stdio(const char *path);

#endif
