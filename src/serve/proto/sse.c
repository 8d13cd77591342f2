/* The event-stream framing parser (sse.h). */
#include <stdlib.h>
#include <string.h>

#include "ccgate/sse.h"

struct ccg_sse_parser {
    ccg_sse_event_fn fn;
    void *arg;
    char *line; /* the current line, without its terminator */
    size_t line_len, line_cap;
    char *data; /* the event's data so far */
    size_t data_len, data_cap;
    int have_data;
    char event[64];
    char id[256];
    int after_cr;  /* the last byte was CR: a following LF belongs to it */
    int bom_state; /* 0: at the start, 1..2: inside a BOM, 3: past it */
};

ccg_result ccg_sse_parser_new(ccg_sse_event_fn fn, void *arg, ccg_sse_parser **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_sse_parser *p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    p->fn = fn;
    p->arg = arg;
    /* buffers grow on demand up to the bounds */
    p->line_cap = 256;
    p->data_cap = 256;
    p->line = malloc(p->line_cap);
    p->data = malloc(p->data_cap + 1);
    CCG_ENSURE_ALLOC(p->line);
    CCG_ENSURE_ALLOC(p->data);
    *out = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_sse_parser_free(p);
    return result;
}

void ccg_sse_parser_free(ccg_sse_parser *p)
{
    if (p != NULL) {
        free(p->line);
        free(p->data);
        free(p);
    }
}

static ccg_result dispatch(ccg_sse_parser *p)
{
    ccg_result result = CCG_FAILURE;
    if (p->have_data) {
        ccg_sse_event ev = {p->event, p->data, p->data_len, p->id};
        p->data[p->data_len] = 0;
        CCG_ENSURE_MSG(p->fn == NULL || p->fn(p->arg, &ev) == 0, CCG_R_USAGE_INVALID, "sse: stopped by the caller");
    }
    result = CCG_SUCCESS;
cleanup:
    p->data_len = 0;
    p->have_data = 0;
    p->event[0] = 0;
    return result;
}

static void copy_field(char *dst, size_t cap, const char *v, size_t n)
{
    if (n >= cap || memchr(v, 0, n) != NULL) {
        n = 0; /* an oversized or NUL-bearing event/id is ignored rather than truncated */
    }
    memcpy(dst, v, n);
    dst[n] = 0;
}

/* Room for need bytes (data: plus its NUL), doubling up to the bound. */
static ccg_result grow(char **buf, size_t *cap, size_t need, size_t extra)
{
    ccg_result result = CCG_FAILURE;
    if (need > *cap) {
        size_t n = *cap;
        while (n < need) {
            n *= 2;
        }
        char *p = realloc(*buf, n + extra);
        CCG_ENSURE_ALLOC(p);
        *buf = p;
        *cap = n;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* One complete line. */
static ccg_result process_line(ccg_sse_parser *p)
{
    ccg_result result = CCG_FAILURE;
    const char *l = p->line;
    size_t n = p->line_len;
    if (n == 0) {
        CCG_TRY(dispatch(p));
        return CCG_SUCCESS;
    }
    if (l[0] == ':') {
        return CCG_SUCCESS;
    }
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = colon ? n - name_len - 1 : 0;
    if (vlen > 0 && v[0] == ' ') {
        v++, vlen--;
    }
    if (name_len == 4 && memcmp(l, "data", 4) == 0) {
        size_t need = p->data_len + (p->have_data ? 1 : 0) + vlen;
        CCG_ENSURE_MSG(need <= CCG_SSE_MAX_EVENT, CCG_R_CLIENT_SSE_MALFORMED, "sse: an event over %u bytes",
                       CCG_SSE_MAX_EVENT);
        CCG_TRY(grow(&p->data, &p->data_cap, need, 1));
        if (p->have_data) {
            p->data[p->data_len++] = '\n';
        }
        memcpy(p->data + p->data_len, v, vlen);
        p->data_len += vlen;
        p->have_data = 1;
    } else if (name_len == 5 && memcmp(l, "event", 5) == 0) {
        copy_field(p->event, sizeof(p->event), v, vlen);
    } else if (name_len == 2 && memcmp(l, "id", 2) == 0) {
        copy_field(p->id, sizeof(p->id), v, vlen);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sse_feed(ccg_sse_parser *p, const uint8_t *data, size_t len)
{
    ccg_result result = CCG_FAILURE;
    static const uint8_t bom[3] = {0xef, 0xbb, 0xbf};
    for (size_t i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (p->bom_state < 3) {
            if (c == bom[p->bom_state]) {
                p->bom_state++;
                continue;
            }
            /* not a BOM after all: the bytes seen so far are part of the first line */
            for (int k = 0; k < p->bom_state; k++) {
                p->line[p->line_len++] = (char)bom[k]; /* at most 2 bytes: the initial capacity holds them */
            }
            p->bom_state = 3;
        }
        if (c == '\n' && p->after_cr) {
            p->after_cr = 0;
            continue;
        }
        p->after_cr = c == '\r';
        if (c == '\n' || c == '\r') {
            CCG_TRY(process_line(p));
            p->line_len = 0;
            continue;
        }
        CCG_ENSURE_MSG(p->line_len < CCG_SSE_MAX_LINE, CCG_R_CLIENT_SSE_MALFORMED, "sse: a line over %u bytes",
                       CCG_SSE_MAX_LINE);
        CCG_TRY(grow(&p->line, &p->line_cap, p->line_len + 1, 0));
        p->line[p->line_len++] = (char)c;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sse_finish(ccg_sse_parser *p)
{
    /* An unterminated last line and an event without its blank line are discarded. */
    p->line_len = 0;
    p->data_len = 0;
    p->have_data = 0;
    return CCG_SUCCESS;
}
