/* Forwarding to the runner's Unix socket with libcurl (CURLOPT_UNIX_SOCKET_PATH). The transfer runs on
 * a multi handle driven by the MHD connection's thread: once the runner's headers are in, a
 * text/event-stream answer is passed through as it comes (MHD_create_response_from_callback pulls the
 * transfer forward), anything else is buffered (bounded) and answered whole. The caller's
 * Authorization never reaches the runner; the correlation ID does. A runner that does not answer is
 * 503 endpoint.runner_unavailable; one that is too slow, 504 endpoint.runner_timeout.
 *
 * Each bridged connection keeps its own link to the runner (a multi handle, whose connection cache holds
 * one kept-alive Unix-socket connection, and an easy handle): the requests of a client connection are
 * serial, so the next one reuses the link instead of a new socket, a new runner thread and new handles.
 * A transfer that did not end cleanly drops the link; the next request opens a fresh one. */
#include "ep_internal.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ccgate/error.h"

#define BUFFERED_MAX (16u << 20) /* a non-streaming answer */
#define STREAM_HIGH (256u * 1024) /* pause the runner while the client is this far behind */

/* A connection's kept link to the runner (ep_conn.runner_link). */
typedef struct {
    CURLM *multi;
    CURL *easy;
} runner_link;

typedef struct {
    struct ccg_endpoint *ep;
    ep_conn *conn; /* whose link this transfer took (a reference is held), or NULL */
    CURLM *multi;
    CURL *easy;
    struct curl_slist *hdrs;
    uint8_t *buf;
    size_t len, cap, off;
    long status;
    char ctype[128];
    int headers_done, done, paused, too_large;
    CURLcode rc;
    uint64_t deadline;
} fwd;

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    fwd *f = ud;
    size_t len = sz * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        f->ctype[0] = 0;
        f->headers_done = 0;
    } else if (len == 2 && p[0] == '\r' && p[1] == '\n') {
        curl_easy_getinfo(f->easy, CURLINFO_RESPONSE_CODE, &f->status);
        f->headers_done = f->status >= 200; /* a 1xx is followed by the real answer */
    } else if (len > 13 && strncasecmp(p, "content-type:", 13) == 0) {
        size_t i = 13, j;
        while (i < len && (p[i] == ' ' || p[i] == '\t')) {
            i++;
        }
        j = len;
        while (j > i && (p[j - 1] == '\r' || p[j - 1] == '\n' || p[j - 1] == ' ')) {
            j--;
        }
        snprintf(f->ctype, sizeof(f->ctype), "%.*s", (int)(j - i), p + i);
    }
    return len;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    fwd *f = ud;
    size_t len = sz * n;
    if (f->len - f->off + len > BUFFERED_MAX) {
        f->too_large = 1;
        return 0; /* aborts the transfer */
    }
    if (f->off > 0 && f->off == f->len) {
        f->off = f->len = 0;
    }
    if (f->len + len > f->cap) {
        size_t cap = f->cap == 0 ? 16384 : f->cap;
        uint8_t *b;
        if (f->off > 0) {
            memmove(f->buf, f->buf + f->off, f->len - f->off);
            f->len -= f->off;
            f->off = 0;
        }
        while (cap < f->len + len) {
            cap *= 2;
        }
        if (cap != f->cap) {
            b = realloc(f->buf, cap);
            if (b == NULL) {
                return 0;
            }
            f->buf = b;
            f->cap = cap;
        }
    }
    memcpy(f->buf + f->len, p, len);
    f->len += len;
    return len;
}

void ep_runner_link_free(void *link)
{
    runner_link *l = link;
    if (l != NULL) {
        curl_easy_cleanup(l->easy);
        curl_multi_cleanup(l->multi);
        free(l);
    }
}

static void fwd_free(fwd *f)
{
    if (f == NULL) {
        return;
    }
    if (f->multi != NULL && f->easy != NULL) {
        curl_multi_remove_handle(f->multi, f->easy);
    }
    if (f->conn != NULL && f->done && f->rc == CURLE_OK && f->multi != NULL && f->easy != NULL) {
        /* a clean end: the runner connection stays in the multi's cache for the next request */
        runner_link *l = malloc(sizeof(*l));
        if (l != NULL) {
            l->multi = f->multi;
            l->easy = f->easy;
            f->multi = NULL;
            f->easy = NULL;
            pthread_mutex_lock(&f->conn->lock);
            ep_runner_link_free(f->conn->runner_link);
            f->conn->runner_link = l;
            pthread_mutex_unlock(&f->conn->lock);
        }
    }
    if (f->conn != NULL) {
        ep_conn_release(f->conn);
    }
    curl_easy_cleanup(f->easy);
    curl_multi_cleanup(f->multi);
    curl_slist_free_all(f->hdrs);
    free(f->buf);
    free(f);
}

/* Takes the connection's kept link (with a reference on the connection), or makes new handles. */
static ccg_result fwd_handles(fwd *f, ep_conn *conn)
{
    ccg_result result = CCG_FAILURE;
    runner_link *l = NULL;
    if (conn != NULL) {
        pthread_mutex_lock(&conn->lock);
        l = conn->runner_link;
        conn->runner_link = NULL;
        pthread_mutex_unlock(&conn->lock);
        ep_conn_retain(conn);
        f->conn = conn;
    }
    if (l != NULL) {
        f->multi = l->multi;
        f->easy = l->easy;
        free(l);
        curl_easy_reset(f->easy); /* the options of the last request go; the cached connection stays */
    } else {
        f->multi = curl_multi_init();
        f->easy = curl_easy_init();
        CCG_ENSURE_ALLOC(f->multi);
        CCG_ENSURE_ALLOC(f->easy);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result fwd_new(struct ccg_endpoint *ep, const ep_fwd_request *rq, long timeout_ms, fwd **out)
{
    ccg_result result = CCG_FAILURE;
    char url[128], hdr[96];
    fwd *f = calloc(1, sizeof(*f));
    CCG_ENSURE_ALLOC(f);
    f->ep = ep;
    f->deadline = ep_now_ms() + (uint64_t)timeout_ms;
    CCG_TRY(fwd_handles(f, rq->conn));
    snprintf(url, sizeof(url), "http://runner%s", rq->path);
    snprintf(hdr, sizeof(hdr), "ccgate-correlation-id: %s", rq->cid);
    f->hdrs = curl_slist_append(f->hdrs, hdr);
    f->hdrs = f->hdrs != NULL ? curl_slist_append(f->hdrs, "Expect:") : NULL;
    if (f->hdrs != NULL && rq->content_type != NULL) {
        f->hdrs = curl_slist_append(f->hdrs, "Content-Type: application/json");
    }
    CCG_ENSURE_ALLOC(f->hdrs);
    curl_easy_setopt(f->easy, CURLOPT_URL, url);
    curl_easy_setopt(f->easy, CURLOPT_UNIX_SOCKET_PATH, ep->cfg->runner_socket);
    curl_easy_setopt(f->easy, CURLOPT_HTTPHEADER, f->hdrs);
    curl_easy_setopt(f->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(f->easy, CURLOPT_CONNECTTIMEOUT_MS, 2000L);
    curl_easy_setopt(f->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(f->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(f->easy, CURLOPT_HEADERDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(f->easy, CURLOPT_WRITEDATA, f);
    curl_easy_setopt(f->easy, CURLOPT_PROTOCOLS_STR, "http");
    curl_easy_setopt(f->easy, CURLOPT_FOLLOWLOCATION, 0L);
    if (strcmp(rq->method, "POST") == 0) {
        curl_easy_setopt(f->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDS, rq->body != NULL ? (const char *)rq->body : "");
        curl_easy_setopt(f->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    CCG_ENSURE(curl_multi_add_handle(f->multi, f->easy) == CURLM_OK, CCG_R_INTERNAL_OUT_OF_MEMORY);
    *out = f;
    f = NULL;
    result = CCG_SUCCESS;
cleanup:
    fwd_free(f);
    return result;
}

/* One step of the transfer (waits up to ms). */
static void fwd_step(fwd *f, int ms)
{
    int running = 0, left = 0;
    CURLMsg *m;
    curl_multi_perform(f->multi, &running);
    while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE) {
            f->done = 1;
            f->rc = m->data.result;
        }
    }
    if (!f->done && ms > 0) {
        curl_multi_poll(f->multi, NULL, 0, ms, NULL);
    }
}

/* The reason for a transfer that ended without an answer. */
static ccg_reason failure_of(const fwd *f, unsigned *status)
{
    if (f->too_large) {
        *status = 502;
        return CCG_R_ENDPOINT_RUNNER_ERROR;
    }
    if (f->rc == CURLE_OPERATION_TIMEDOUT) {
        *status = 504;
        return CCG_R_ENDPOINT_RUNNER_TIMEOUT;
    }
    if (f->rc == CURLE_COULDNT_CONNECT || f->status == 0) {
        *status = 503;
        return CCG_R_ENDPOINT_RUNNER_UNAVAILABLE;
    }
    *status = 502;
    return CCG_R_ENDPOINT_RUNNER_ERROR;
}

/* Runs until the headers are in (or the end). */
static void until_headers(fwd *f)
{
    while (!f->done && !f->headers_done && !f->ep->stopping) {
        fwd_step(f, 100);
    }
}

static void until_done(fwd *f)
{
    while (!f->done && !f->ep->stopping) {
        fwd_step(f, 100);
    }
}

ccg_result ep_forward_buffered(struct ccg_endpoint *ep, const ep_fwd_request *rq, long timeout_ms, unsigned *status,
                               uint8_t **body, size_t *body_len, char *ctype, size_t ctype_len)
{
    ccg_result result = CCG_FAILURE;
    fwd *f = NULL;
    CCG_TRY(fwd_new(ep, rq, timeout_ms, &f));
    until_done(f);
    if (!f->done || f->rc != CURLE_OK) {
        ccg_reason r = f->done ? failure_of(f, status) : CCG_R_ENDPOINT_RUNNER_UNAVAILABLE;
        CCG_BAIL(r, "the runner's answer is missing (curl %d)", (int)f->rc);
    }
    *status = (unsigned)f->status;
    snprintf(ctype, ctype_len, "%s", f->ctype);
    *body_len = f->len - f->off;
    *body = malloc(*body_len + 1);
    CCG_ENSURE_ALLOC(*body);
    if (*body_len > 0) {
        memcpy(*body, f->buf + f->off, *body_len);
    }
    (*body)[*body_len] = 0;
    result = CCG_SUCCESS;
cleanup:
    fwd_free(f);
    return result;
}

/* MHD pulls the stream: each call hands over what the runner sent, waiting for more when there is none. */
static ssize_t stream_read(void *cls, uint64_t pos, char *out, size_t max)
{
    fwd *f = cls;
    (void)pos;
    for (;;) {
        if (f->off < f->len) {
            size_t n = f->len - f->off < max ? f->len - f->off : max;
            memcpy(out, f->buf + f->off, n);
            f->off += n;
            return (ssize_t)n;
        }
        if (f->done) {
            return f->rc == CURLE_OK ? MHD_CONTENT_READER_END_OF_STREAM : MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (f->ep->stopping || ep_now_ms() > f->deadline + 1000) {
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        fwd_step(f, 100);
    }
}

static void stream_free(void *cls) { fwd_free(cls); }

static struct MHD_Response *answer_headers(struct MHD_Response *r, const fwd *f, const char *cid)
{
    if (r == NULL) {
        return NULL;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->ctype[0] != 0 ? f->ctype : "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header(r, "ccgate-correlation-id", cid);
    return r;
}

enum MHD_Result ep_forward(struct ccg_endpoint *ep, struct MHD_Connection *mc, const ep_fwd_request *rq,
                           ccg_reason *outcome, unsigned *status)
{
    fwd *f = NULL;
    struct MHD_Response *r;
    enum MHD_Result ret;
    if (ccg_failed(fwd_new(ep, rq, (long)ep->cfg->runner_timeout_s * 1000, &f))) {
        ccg_error_clear();
        return MHD_NO;
    }
    until_headers(f);
    if (!f->headers_done || (f->done && f->rc != CURLE_OK)) {
        *outcome = failure_of(f, status);
        fwd_free(f);
        r = ep_error_response(*outcome, rq->cid);
        ret = r != NULL ? MHD_queue_response(mc, *status, r) : MHD_NO;
        MHD_destroy_response(r);
        return ret;
    }
    *status = (unsigned)f->status;
    if (strncmp(f->ctype, "text/event-stream", 17) == 0) {
        r = answer_headers(MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, f, stream_free), f,
                           rq->cid);
        if (r == NULL) {
            fwd_free(f);
            return MHD_NO;
        }
        MHD_add_response_header(r, "X-Accel-Buffering", "no");
        ret = MHD_queue_response(mc, *status, r);
        MHD_destroy_response(r);
        return ret;
    }
    until_done(f);
    if (f->rc != CURLE_OK) {
        *outcome = failure_of(f, status);
        fwd_free(f);
        r = ep_error_response(*outcome, rq->cid);
        ret = r != NULL ? MHD_queue_response(mc, *status, r) : MHD_NO;
        MHD_destroy_response(r);
        return ret;
    }
    r = answer_headers(MHD_create_response_from_buffer(f->len - f->off, f->buf + f->off, MHD_RESPMEM_MUST_COPY), f,
                       rq->cid);
    fwd_free(f);
    if (r == NULL) {
        return MHD_NO;
    }
    ret = MHD_queue_response(mc, *status, r);
    MHD_destroy_response(r);
    return ret;
}
