/* Server-sent events framing (the WHATWG "text/event-stream" format) as an incremental, bounded parser:
 * the OpenAI streaming answers ("data: {...}\n\n" ... "data: [DONE]\n\n") are read with it by
 * `ccgate client ask --stream` and replayed by the proxy in gateway mode (docs/client.md). */
#ifndef CCGATE_SSE_H
#define CCGATE_SSE_H

#include <stddef.h>
#include <stdint.h>

#include "ccgate/result.h"

#define CCG_SSE_MAX_LINE (256u << 10)  /* one line */
#define CCG_SSE_MAX_EVENT (1u << 20)   /* the data of one event */

typedef struct {
    const char *event; /* the "event" field, "" when none (then "message") */
    const char *data;  /* the data lines joined with '\n', NUL-terminated */
    size_t data_len;
    const char *id;    /* the last "id" field seen, "" when none */
} ccg_sse_event;

/* Called once per dispatched event; a non-zero return stops the parser (ccg_sse_feed then fails with
 * usage.invalid, so a caller can stop early). */
typedef int (*ccg_sse_event_fn)(void *arg, const ccg_sse_event *ev);

typedef struct ccg_sse_parser ccg_sse_parser;

CCG_MUST_CHECK ccg_result ccg_sse_parser_new(ccg_sse_event_fn fn, void *arg, ccg_sse_parser **out);
void ccg_sse_parser_free(ccg_sse_parser *p);
/* Feeds bytes in any split. Lines end in CRLF, LF or CR; a blank line dispatches the event; lines
 * starting with ':' are comments; "retry" and unknown fields are ignored; a leading BOM is skipped.
 * A line or an event's data over the bounds is client.sse_malformed. */
CCG_MUST_CHECK ccg_result ccg_sse_feed(ccg_sse_parser *p, const uint8_t *data, size_t len);
/* The end of the stream: an event without its blank line is dropped, as the format says. */
CCG_MUST_CHECK ccg_result ccg_sse_finish(ccg_sse_parser *p);

#endif
