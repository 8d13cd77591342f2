/* Progress of a long byte-counting operation (seal, unseal, the agent's fetch and unseal;
 * docs/progress.md): bytes done of the total, the rate and the time left, drawn on a terminal as one
 * line that is redrawn in place at most every `interval_ms`, and nothing at all when the stream is not
 * a terminal (a log file or a pipe gets no carriage returns).
 *
 * ccg_progress_update may be called from any thread, concurrently (unseal decrypts on every core): it
 * keeps the largest `done` it was given and at most one caller draws, the others return at once.
 * The clock and the stream are injectable so tests assert the exact text without real time. */
#ifndef CCGATE_PROGRESS_H
#define CCGATE_PROGRESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ccgate/result.h"

#define CCG_PROGRESS_AUTO (-1) /* draw only when the stream is a terminal */
#define CCG_PROGRESS_OFF 0
#define CCG_PROGRESS_ON 1
#define CCG_PROGRESS_DEFAULT_INTERVAL_MS 250
#define CCG_PROGRESS_LINE_MAX 160

typedef struct ccg_progress ccg_progress;

typedef struct {
    const char *label;                /* "seal", "unseal": the line's first word */
    FILE *out;                        /* NULL = stderr */
    int mode;                         /* CCG_PROGRESS_AUTO (isatty), _OFF or _ON */
    int64_t (*now_ms)(void *clock);   /* a monotonic clock in milliseconds; NULL = CLOCK_MONOTONIC */
    void *clock;
    int64_t interval_ms;              /* least time between two lines; 0 = the default */
} ccg_progress_opts;

/* total is the expected byte count (0 when unknown: no percentage or time left is shown). */
CCG_MUST_CHECK ccg_result ccg_progress_new(const ccg_progress_opts *opts, uint64_t total, ccg_progress **out);
/* 1 when this progress draws anything (mode ON, or AUTO on a terminal). */
int ccg_progress_active(const ccg_progress *p);
/* Records `done` bytes (thread-safe) and draws when the interval has passed since the last line. */
void ccg_progress_update(ccg_progress *p, uint64_t done);
/* The callback shape of the artifact API (ccg_artifact_progress_fn): ctx is a ccg_progress. A total
 * differing from the one given at creation replaces it. */
void ccg_progress_callback(void *ctx, uint64_t done, uint64_t total);
/* ok: draws the final line (the total time instead of the time left) and ends it with a newline;
 * failed: only ends the line on screen, so an error message starts on its own line. Nothing when the
 * progress is not active. Call it once, from one thread, after every update has returned. */
void ccg_progress_finish(ccg_progress *p, int ok);
void ccg_progress_free(ccg_progress *p);

/* The text of one line (no carriage return), e.g.
 *   "unseal  1.5 GiB / 4.0 GiB  37%  812.3 MiB/s  0:03 left"
 * elapsed_ms is the time since the start; finished replaces the time left by the total time. */
size_t ccg_progress_format(char *buf, size_t cap, const char *label, uint64_t done, uint64_t total,
                           int64_t elapsed_ms, int finished);
/* "812.3 MiB", "12 B": binary units, one decimal above bytes. */
void ccg_progress_bytes(char *buf, size_t cap, double bytes);

#endif
