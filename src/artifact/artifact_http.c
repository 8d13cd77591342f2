/* Artifacts at http(s):// locations, streamed with libcurl. The header is fetched first (open verifies
 * it); unsealing fetches the whole artifact again and streams each chunk's ciphertext straight into its
 * place in the destination, keeping only each chunk's 48 bytes of framing aside, so memory stays bounded
 * by the destination itself. The header bytes of the second fetch must equal those verified at open. */
#include <string.h>

#include <curl/curl.h>

#include "artifact_internal.h"

#define DEFAULT_CONNECT_TIMEOUT 30L

typedef struct {
    ccg_artifact *a;
    uint8_t *dest;
    art_chunk_meta *meta;
    uint64_t pos;
    ccg_reason reason; /* set when the callback stopped the transfer */
    int header_only;
    int aborted; /* a decryption thread failed: the transfer was stopped */
    art_progress *progress;
    uint64_t published;
} art_stream;

static CURL *new_handle(const ccg_artifact *a, art_stream *st, curl_write_callback cb)
{
    CURL *c = curl_easy_init();
    if (c == NULL) {
        return NULL;
    }
    long t = a->timeout > 0 ? a->timeout : DEFAULT_CONNECT_TIMEOUT;
    int ok = curl_easy_setopt(c, CURLOPT_URL, a->url) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_FAILONERROR, 1L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, t) == CURLE_OK &&
             /* A stalled transfer (under 1 KiB/s for the timeout) fails; a large model may take long. */
             curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, t) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cb) == CURLE_OK &&
             curl_easy_setopt(c, CURLOPT_WRITEDATA, st) == CURLE_OK &&
             (a->ca_file == NULL || curl_easy_setopt(c, CURLOPT_CAINFO, a->ca_file) == CURLE_OK);
    if (!ok) {
        curl_easy_cleanup(c);
        return NULL;
    }
    return c;
}

static size_t header_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    art_stream *st = arg;
    size_t n = size * nmemb, room = sizeof(st->a->header_bytes) - st->a->header_bytes_len;
    size_t take = n < room ? n : room;
    memcpy(st->a->header_bytes + st->a->header_bytes_len, ptr, take);
    st->a->header_bytes_len += take;
    if (take < n || st->a->header_bytes_len == sizeof(st->a->header_bytes)) {
        st->header_only = 1; /* enough: stop the transfer */
        return 0;
    }
    return n;
}

/* Places n bytes at artifact offset st->pos: header bytes are compared, chunk bytes land in dest/meta. */
static size_t place(art_stream *st, const uint8_t *p, size_t n)
{
    const ccg_artifact_header *h = &st->a->h;
    uint64_t hlen = st->a->header_bytes_len, rec_size = (uint64_t)h->chunk_size + ART_RECORD_OVERHEAD;
    if (st->pos < hlen) {
        size_t take = (size_t)(hlen - st->pos) < n ? (size_t)(hlen - st->pos) : n;
        if (memcmp(st->a->header_bytes + st->pos, p, take) != 0) {
            st->reason = CCG_R_ARTIFACT_SOURCE_CHANGED;
            return 0;
        }
        return take;
    }
    if (st->pos >= h->total_len) {
        st->reason = CCG_R_ARTIFACT_TRAILING_DATA;
        return 0;
    }
    uint64_t rel = st->pos - hlen, rec = rel / rec_size, within = rel % rec_size, len = art_chunk_len(h, rec);
    uint8_t *to;
    uint64_t room;
    if (within < ART_PREFIX_LEN) {
        to = st->meta[rec].prefix + within;
        room = ART_PREFIX_LEN - within;
    } else if (within < ART_PREFIX_LEN + len) {
        to = st->dest + rec * h->chunk_size + (within - ART_PREFIX_LEN);
        room = ART_PREFIX_LEN + len - within;
    } else {
        to = st->meta[rec].tag + (within - ART_PREFIX_LEN - len);
        room = ART_RECORD_OVERHEAD + len - within;
    }
    size_t take = room < n ? (size_t)room : n;
    memcpy(to, p, take);
    return take;
}

/* Records fully received at st->pos: all but the last are full size; the last ends the artifact. */
static uint64_t records_complete(const art_stream *st)
{
    const ccg_artifact_header *h = &st->a->h;
    uint64_t hlen = st->a->header_bytes_len;
    if (st->pos >= h->total_len) {
        return h->chunk_count;
    }
    if (st->pos < hlen) {
        return 0;
    }
    uint64_t c = (st->pos - hlen) / ((uint64_t)h->chunk_size + ART_RECORD_OVERHEAD);
    return c < h->chunk_count - 1 ? c : h->chunk_count - 1;
}

/* Wakes the decryption threads when more records are complete (the mutex orders the writes to dest). */
static void publish(art_stream *st)
{
    uint64_t c = records_complete(st);
    if (st->progress != NULL && c != st->published) {
        pthread_mutex_lock(&st->progress->mu);
        st->progress->complete = c;
        pthread_cond_broadcast(&st->progress->cv);
        pthread_mutex_unlock(&st->progress->mu);
        st->published = c;
    }
}

static size_t body_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    art_stream *st = arg;
    size_t n = size * nmemb, done = 0;
    if (st->progress != NULL && atomic_load(st->progress->stop) != 0) {
        st->aborted = 1;
        return 0;
    }
    while (done < n) {
        size_t took = place(st, (const uint8_t *)ptr + done, n - done);
        if (took == 0) {
            return 0;
        }
        done += took;
        st->pos += took;
    }
    publish(st);
    return n;
}

static ccg_result perform(CURL *c, art_stream *st, const char *url)
{
    ccg_result result = CCG_FAILURE;
    CURLcode rc = curl_easy_perform(c);
    /* The decryption thread's own error is what the caller reports. */
    CCG_ENSURE_MSG(!st->aborted, CCG_R_INTERNAL_ERROR, "the transfer was stopped after a chunk failed");
    CCG_ENSURE_MSG(st->reason == CCG_R_OK, st->reason, "while fetching %s (at byte %llu)", url,
                   (unsigned long long)st->pos);
    if (rc == CURLE_WRITE_ERROR && st->header_only) {
        rc = CURLE_OK;
    }
    CCG_ENSURE_MSG(rc != CURLE_PARTIAL_FILE, CCG_R_ARTIFACT_TRUNCATED, "%s: the transfer ended early", url);
    CCG_ENSURE_MSG(rc == CURLE_OK, CCG_R_ARTIFACT_FETCH_FAILED, "%s: %s", url, curl_easy_strerror(rc));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result art_http_fetch_header(ccg_artifact *a)
{
    ccg_result result = CCG_FAILURE;
    art_stream st = {.a = a};
    CURL *c = new_handle(a, &st, header_cb);
    CCG_ENSURE_ALLOC(c);
    a->header_bytes_len = 0;
    CCG_TRY(perform(c, &st, a->url));
    result = CCG_SUCCESS;
cleanup:
    curl_easy_cleanup(c);
    return result;
}

ccg_result art_http_fetch_body(ccg_artifact *a, uint8_t *dest, art_chunk_meta *meta, art_progress *progress)
{
    ccg_result result = CCG_FAILURE;
    art_stream st = {.a = a, .dest = dest, .meta = meta, .progress = progress};
    CURL *c = new_handle(a, &st, body_cb);
    CCG_ENSURE_ALLOC(c);
    CCG_TRY(perform(c, &st, a->url));
    CCG_ENSURE_MSG(st.pos == a->h.total_len, CCG_R_ARTIFACT_TRUNCATED, "%s ended after %llu of %llu bytes", a->url,
                   (unsigned long long)st.pos, (unsigned long long)a->h.total_len);
    result = CCG_SUCCESS;
cleanup:
    curl_easy_cleanup(c);
    return result;
}
