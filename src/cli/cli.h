/* Shared pieces of the ccgate command-line programs. Exit codes: 0 allow/success, 1 deny, 2 usage or input. */
#ifndef CCGATE_CLI_H
#define CCGATE_CLI_H

#include <stdio.h>

#include "ccgate/decision.h"
#include "ccgate/error.h"

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

/* Writes doc as indented JSON to path, or to stdout when path is NULL; returns the exit code. */
int cli_write_json(const json_t *doc, const char *path, const char *context);

/* The shared front of `ccgate <cmd> snp ...`: returns an exit code when argv[1] is not "snp" (or is
 * --help), else -1 to go on. */
int cli_expect_snp(const char *cmd, int argc, char **argv, void (*usage)(FILE *));
/* Maps a parse_args result (0 parsed, 1 help shown, < 0 bad usage) to -1 (go on) or an exit code. */
int cli_parse_result(int parsed, void (*usage)(FILE *));

/* Prints the last error as "ccgate: <code>: <message>" (or JSON) and returns the exit code for its kind. */
int cli_report_error(const char *context, int json);
/* Exit code for a failed operation's reason kind: input/usage -> 2, deny -> 1, others -> 2. */
int cli_exit_for_reason(ccg_reason reason);

#endif
