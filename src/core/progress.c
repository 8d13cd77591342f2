/* Progress lines on a terminal (include/ccgate/progress.h, docs/progress.md). The rate is the average
 * since the start (bytes done / elapsed), which is steady for the long sequential jobs it is used for
 * and needs no history; the time left is the remaining bytes at that rate. */
#include "ccgate/progress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/error.h"

struct ccg_progress {
    char label[32];
    FILE *out;
    int active;
    int64_t (*now_ms)(void *clock);
    void *clock;
    int64_t interval_ms;
    int64_t start_ms;
    _Atomic uint64_t done;
    _Atomic uint64_t total;
    _Atomic int64_t next_ms;       /* no line before this time */
    pthread_mutex_t draw;          /* held by the one caller drawing */
    int drawn;                     /* a line is on the screen (finish ends it) */
};

static int64_t monotonic_ms(void *clock)
{
    struct timespec ts;
    (void)clock;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ccg_progress_bytes(char *buf, size_t cap, double bytes)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    size_t u = 0;
    while (bytes >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        bytes /= 1024.0;
        u++;
    }
    if (u == 0) {
        snprintf(buf, cap, "%.0f B", bytes);
    } else {
        snprintf(buf, cap, "%.1f %s", bytes, units[u]);
    }
}

/* "0:07", "12:34", "1:02:03". */
static void duration(char *buf, size_t cap, uint64_t seconds)
{
    if (seconds >= 3600) {
        snprintf(buf, cap, "%llu:%02llu:%02llu", (unsigned long long)(seconds / 3600),
                 (unsigned long long)(seconds / 60 % 60), (unsigned long long)(seconds % 60));
    } else {
        snprintf(buf, cap, "%llu:%02llu", (unsigned long long)(seconds / 60), (unsigned long long)(seconds % 60));
    }
}

size_t ccg_progress_format(char *buf, size_t cap, const char *label, uint64_t done, uint64_t total,
                           int64_t elapsed_ms, int finished)
{
    char d[24], t[24], r[24], left[24];
    double rate = elapsed_ms > 0 ? (double)done * 1000.0 / (double)elapsed_ms : 0.0;
    int n;
    ccg_progress_bytes(d, sizeof(d), (double)done);
    ccg_progress_bytes(r, sizeof(r), rate);
    if (finished) {
        duration(left, sizeof(left), (uint64_t)(elapsed_ms > 0 ? elapsed_ms : 0) / 1000);
    } else if (total > done && rate > 0.0) {
        duration(left, sizeof(left), (uint64_t)((double)(total - done) / rate + 0.5));
    } else if (total > 0 && done >= total) {
        duration(left, sizeof(left), 0);
    } else {
        snprintf(left, sizeof(left), "-:--");
    }
    if (total > 0) {
        unsigned pct = done >= total ? 100u : (unsigned)((double)done * 100.0 / (double)total);
        ccg_progress_bytes(t, sizeof(t), (double)total);
        n = snprintf(buf, cap, "%s  %s / %s  %3u%%  %s/s  %s %s", label, d, t, pct, rate > 0.0 ? r : "-",
                     left, finished ? "total" : "left");
    } else {
        n = snprintf(buf, cap, "%s  %s  %s/s%s%s%s", label, d, rate > 0.0 ? r : "-", finished ? "  " : "",
                     finished ? left : "", finished ? " total" : "");
    }
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

ccg_result ccg_progress_new(const ccg_progress_opts *opts, uint64_t total, ccg_progress **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_progress *p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    snprintf(p->label, sizeof(p->label), "%s", opts != NULL && opts->label != NULL ? opts->label : "progress");
    p->out = opts != NULL && opts->out != NULL ? opts->out : stderr;
    p->now_ms = opts != NULL && opts->now_ms != NULL ? opts->now_ms : monotonic_ms;
    p->clock = opts != NULL ? opts->clock : NULL;
    p->interval_ms = opts != NULL && opts->interval_ms > 0 ? opts->interval_ms : CCG_PROGRESS_DEFAULT_INTERVAL_MS;
    switch (opts != NULL ? opts->mode : CCG_PROGRESS_AUTO) {
    case CCG_PROGRESS_ON: p->active = 1; break;
    case CCG_PROGRESS_OFF: p->active = 0; break;
    default: p->active = isatty(fileno(p->out)) == 1; break;
    }
    pthread_mutex_init(&p->draw, NULL);
    p->start_ms = p->now_ms(p->clock);
    atomic_init(&p->done, 0);
    atomic_init(&p->total, total);
    atomic_init(&p->next_ms, p->start_ms); /* the first update draws at once */
    *out = p;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

int ccg_progress_active(const ccg_progress *p)
{
    return p != NULL && p->active;
}

/* "\r" + the line + erase to the end of the line (a shorter line leaves no leftovers). */
static void draw(ccg_progress *p, int64_t now, int finished)
{
    char line[CCG_PROGRESS_LINE_MAX];
    ccg_progress_format(line, sizeof(line), p->label, atomic_load(&p->done), atomic_load(&p->total),
                        now - p->start_ms, finished);
    fprintf(p->out, "\r%s\033[K%s", line, finished ? "\n" : "");
    fflush(p->out);
    p->drawn = !finished;
}

void ccg_progress_update(ccg_progress *p, uint64_t done)
{
    uint64_t seen;
    int64_t now;
    if (p == NULL) {
        return;
    }
    seen = atomic_load(&p->done);
    while (done > seen && !atomic_compare_exchange_weak(&p->done, &seen, done)) {
    }
    if (!p->active) {
        return;
    }
    now = p->now_ms(p->clock);
    if (now < atomic_load(&p->next_ms) || pthread_mutex_trylock(&p->draw) != 0) {
        return;
    }
    if (now >= atomic_load(&p->next_ms)) { /* another thread may have drawn meanwhile */
        atomic_store(&p->next_ms, now + p->interval_ms);
        draw(p, now, 0);
    }
    pthread_mutex_unlock(&p->draw);
}

void ccg_progress_callback(void *ctx, uint64_t done, uint64_t total)
{
    ccg_progress *p = ctx;
    if (p != NULL && total != atomic_load(&p->total)) {
        atomic_store(&p->total, total);
    }
    ccg_progress_update(p, done);
}

void ccg_progress_finish(ccg_progress *p, int ok)
{
    if (p == NULL || !p->active) {
        return;
    }
    pthread_mutex_lock(&p->draw);
    if (ok) {
        draw(p, p->now_ms(p->clock), 1);
    } else if (p->drawn) {
        fputc('\n', p->out); /* keep the last line as it was; the error follows on its own line */
        fflush(p->out);
        p->drawn = 0;
    }
    pthread_mutex_unlock(&p->draw);
}

void ccg_progress_free(ccg_progress *p)
{
    if (p != NULL) {
        pthread_mutex_destroy(&p->draw);
        free(p);
    }
}
