/* libFuzzer target: the event-stream framing parser (sse.h). The input is fed in pieces whose sizes come
 * from the first byte, so every split point is tried. Invariants: no crash or overread; every event's
 * data is NUL-terminated at data_len and holds no CR or LF other than the '\n' joins; the same input fed
 * in one piece yields the same events. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"
#include "ccgate/sse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    uint64_t hash;
    size_t events;
} tally;

static int on_event(void *arg, const ccg_sse_event *ev)
{
    tally *t = arg;
    if (ev->data[ev->data_len] != 0 || memchr(ev->data, '\r', ev->data_len) != NULL) {
        abort();
    }
    for (size_t i = 0; i < ev->data_len; i++) {
        t->hash = t->hash * 1099511628211u ^ (uint8_t)ev->data[i];
    }
    t->hash ^= strlen(ev->event) * 31 + strlen(ev->id);
    t->events++;
    return 0;
}

static tally run(const uint8_t *data, size_t size, size_t step)
{
    tally t = {14695981039346656037u, 0};
    ccg_sse_parser *p = NULL;
    if (ccg_failed(ccg_sse_parser_new(on_event, &t, &p))) {
        abort();
    }
    int ok = 1;
    for (size_t off = 0; off < size && ok; off += step) {
        size_t n = size - off < step ? size - off : step;
        ok = ccg_ok(ccg_sse_feed(p, data + off, n));
    }
    if (ok && ccg_failed(ccg_sse_finish(p))) {
        abort();
    }
    if (!ok) {
        t.events = (size_t)-1;
    }
    ccg_sse_parser_free(p);
    ccg_error_clear();
    return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0) {
        return 0;
    }
    size_t step = (size_t)data[0] % 17 + 1;
    tally a = run(data + 1, size - 1, step);
    tally b = run(data + 1, size - 1, size);
    if (a.events != b.events || a.hash != b.hash) {
        abort(); /* the framing must not depend on how the bytes arrive */
    }
    return 0;
}
