/* Test control of ccg-tsm-fuse, the configfs-tsm stand-in (tests/support/tsm_fuse.c), and of the
 * saved emulator state behind it.
 *
 *   char state[64];
 *   ccg_snp_emulator *emu = tu_emulator_state_new(state, sizeof(state), NULL); // fresh Milan emulator saved
 *   tu_tsm_fuse *fs = tu_tsm_fuse_start_or_skip(state, NULL);  // mounted; tsm_root = tu_tsm_fuse_root(fs)
 *   ... ccg_attester_config cfg = {.kind = CCG_ATTESTER_CONFIGFS_TSM, .tsm_root = tu_tsm_fuse_root(fs)};
 *   tu_tsm_fuse_stop(fs); tu_remove_tree(state); ccg_snp_emulator_free(emu);
 *
 * The program's path comes from $CCG_TSM_FUSE (set by cmake/attest.cmake for test_attest* and
 * test_agent*). When it or FUSE is unavailable the test is skipped with a message, and fails under
 * CI=true. */
#ifndef CCGATE_TSM_FUSE_CTL_H
#define CCGATE_TSM_FUSE_CTL_H

#include <stddef.h>

#include "ccgate/snp_emulator.h"

typedef struct tu_tsm_fuse tu_tsm_fuse;

typedef struct {
    const char *provider; /* NULL: "sev_guest" */
    const char *fault;    /* NULL, "truncate", "race", "race-once" or "bad-aux" */
} tu_tsm_fuse_opts;

/* Starts the stand-in on a fresh temporary mountpoint and waits until it is mounted. Returns 0, or -1
 * with the reason in why (FUSE unavailable, the program missing or exiting early). */
int tu_tsm_fuse_start(const char *emulator_dir, const tu_tsm_fuse_opts *opts, tu_tsm_fuse **out, char *why,
                      size_t why_len);
/* As above inside a cmocka test: skips (or fails under CI=true) when FUSE is unavailable. */
tu_tsm_fuse *tu_tsm_fuse_start_or_skip(const char *emulator_dir, const tu_tsm_fuse_opts *opts);
/* The mountpoint: use it as ccg_attester_config.tsm_root. */
const char *tu_tsm_fuse_root(const tu_tsm_fuse *fs);
/* Unmounts (fusermount3 -u), reaps the program and removes the mountpoint. NULL is fine. Returns 0
 * when the program exited cleanly (status 0: no sanitizer report either), else -1 with a message. */
int tu_tsm_fuse_stop(tu_tsm_fuse *fs);

/* The /dev/sev-guest stand-in (ccg-sev-guest-fuse from $CCG_SEV_GUEST_FUSE, tests/support/cuse_sev_guest.c):
 * a FUSE file answering SNP_GET_REPORT / SNP_GET_EXT_REPORT. fault: NULL, "big-certs", "huge-certs",
 * "busy", "bad-status" or "short-size". Stop it with tu_tsm_fuse_stop. */
tu_tsm_fuse *tu_sev_guest_fuse_start_or_skip(const char *emulator_dir, const char *fault);
/* The device file: use it as ccg_attester_config.sev_guest_path. */
const char *tu_sev_guest_fuse_path(const tu_tsm_fuse *fs);

/* A fresh emulator (Milan, VCEK) saved with the given launch (NULL: the default one) into a new
 * temporary directory written to dir (at least 64 bytes). Fails the test on error. */
ccg_snp_emulator *tu_emulator_state_new(char *dir, size_t dir_len, const ccg_snp_emulator_launch *launch);
/* rm -r of a temporary directory the test created. */
void tu_remove_tree(const char *dir);

#endif
