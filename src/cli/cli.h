/* Shared pieces of the ccgate command-line programs. Exit codes: 0 allow/success, 1 deny, 2 usage or input. */
#ifndef CCGATE_CLI_H
#define CCGATE_CLI_H

#include <stdio.h>

#include "ccgate/cli_args.h"
#include "ccgate/decision.h"
#include "ccgate/error.h"
#include "ccgate/util.h"

#define CLI_EXIT_OK 0
#define CLI_EXIT_DENY 1
#define CLI_EXIT_USAGE 2

int cmd_reasons(int argc, char **argv);
int cmd_verify(int argc, char **argv);
int cmd_verify_gpu(int argc, char **argv);
int cmd_verify_tdx(int argc, char **argv);
int cmd_kds(int argc, char **argv);
int cmd_emulate(int argc, char **argv);
int cmd_emulate_gpu(int argc, char **argv);
int cmd_emulate_tdx(int argc, char **argv);
int cmd_measure(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_refval(int argc, char **argv);
int cmd_kbs(int argc, char **argv);
int cmd_channel(int argc, char **argv);
int cmd_seal(int argc, char **argv);
int cmd_unseal(int argc, char **argv);
int cmd_artifact(int argc, char **argv);
int cmd_tcb_baseline(int argc, char **argv);
int cmd_client(int argc, char **argv);
int cmd_model(int argc, char **argv);

/* Adds the cached (or, with fetch, KDS-fetched) VCEK and chain for a report to col. A NULL cache_dir
 * does nothing. */
#include <stddef.h>
#include <stdint.h>
#include "ccgate/snp_verify.h"
CCG_MUST_CHECK ccg_result cli_collateral_from_cache(const char *cache_dir, const char *kds_url, int fetch,
                                                    const char *product, const uint8_t *report, size_t report_len,
                                                    ccg_snp_collateral *col);

/* Loads trusted reference-value issuers from "ID=FILE" specs (PEM public keys or certificates). */
#include "ccgate/refvalue.h"
CCG_MUST_CHECK ccg_result cli_load_issuers(const char *const *specs, int count, ccg_refval_issuers **out);

/* Loads TCB baseline files (at most one per product) into an initialised set. */
#include "ccgate/snp_tcb_baseline.h"
CCG_MUST_CHECK ccg_result cli_load_tcb_baselines(const char *const *paths, int count, ccg_snp_tcb_baselines *set);

/* ccg_file_read / ccg_file_write where "-" names standard input / output (the convention's `-`). */
CCG_MUST_CHECK ccg_result cli_file_read(const char *path, size_t max_len, uint8_t **out, size_t *out_len);
CCG_MUST_CHECK ccg_result cli_file_write(const char *path, const uint8_t *data, size_t len);
/* fopen(path, "r"), or a stream on a duplicate of standard input for "-" (fclose it either way). */
FILE *cli_fopen_read(const char *path);

/* Writes doc as indented JSON to path, or to stdout when path is NULL or "-"; returns the exit code. */
int cli_write_json(const json_t *doc, const char *path, const char *context);

/* A group command ("ccgate kbs", "ccgate kbs key", "ccgate verify"): its subcommand words, each with a
 * one-line summary (printed by the group's --help, which the CLI walk test compares with
 * src/cli/commands.list). */
typedef struct {
    const char *word;
    const char *summary;
} cli_sub;

/* The front of a group command: argv[1] is a subcommand word, --help/-h (the list, exit 0) or --version.
 * Returns the index of the chosen subcommand in subs, or -1 with *exit_code set (usage printed, or an
 * unknown option or command reported: "NAME: unknown command 'WORD'", exit 2). */
int cli_group(const char *name, const char *summary, const cli_sub *subs, size_t count, int argc, char **argv,
              int *exit_code);

/* Parse functions return 0 (parsed) or the convention's CCG_CLI_EXIT_0 / CCG_CLI_EXIT_2 (already
 * printed). Returns -1 to go on, else the exit code. The older spelling (1 help shown, -1 bad usage:
 * the usage is printed to stderr) is still understood. */
int cli_parse_result(int parsed, void (*usage)(FILE *));

/* The usage of one subcommand of a command whose subcommands share one help text: `text` starts with the
 * forms of every subcommand ("       ccgate refval create ...", continuation lines indented further),
 * then a blank line and what they share. Prints "Usage: " with NAME's forms (all of them for the group
 * itself), then the rest. */
void cli_usage_for(FILE *out, const char *name, const char *text);

/* For subcommands that share one option table: 0 when option value c is in `allowed` (a string of
 * option values), else "NAME: --OPT does not apply to this command" and CCG_CLI_EXIT_2. NULL allows all. */
int cli_check_option(const ccg_cli *cli, int c, const char *allowed);

/* "PARENT SUB" into buf (the full name of a subcommand that shares its parent's option table). */
const char *cli_subname(char *buf, size_t n, const char *parent, const char *sub);

/* `--now`: RFC 3339 or seconds since the epoch; NULL means the current time, printed to stderr as
 * "NAME: --now=EPOCH (the current time)" (ccg_cli_now). Returns 0, or CCG_CLI_EXIT_2 after printing why. */
int cli_now(const ccg_cli *cli, const char *text, ccg_time *out);

/* An option that was `--version N` before the convention took --version for the program's version
 * (refval's set version, kbs collateral's version): with a value ("--version=N" or a number after it)
 * that value, else the program's version is printed. Returns 0 with *value set, CCG_CLI_EXIT_0 or
 * CCG_CLI_EXIT_2. */
int cli_legacy_version(const ccg_cli *cli, int argc, char **argv, const char **value);

/* The one error object every --json command prints on standard output for an error or a refusal:
 * {"error": CONTEXT, "reason": {"code", "component", "kind", "message", "details": DETAILS}}
 * (docs/cli.md). details may be NULL. */
void cli_print_error_json(const char *context, ccg_reason reason, json_t *details);
/* Prints the last error as "ccgate: <code>: <message>" (or JSON) and returns the exit code for its kind. */
int cli_report_error(const char *context, int json);
/* Exit code for a failed operation's reason kind: input/usage -> 2, deny -> 1, others -> 2. */
int cli_exit_for_reason(ccg_reason reason);
/* Prints a ccg_audit_show answer (offline or from the broker) for a person: what was presented, each
 * failed check with its description, the decision, policy and key versions, the time (cli_audit_show.c). */
void cli_audit_show_print(FILE *out, const json_t *show);

#endif
