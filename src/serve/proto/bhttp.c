/* RFC 9292 known-length Binary HTTP messages: encode, and a bounded decode (ohttp.h). */
#include <stdlib.h>
#include <string.h>

#include "ccgate/buf.h"
#include "ccgate/ohttp.h"
#include "ccgate/reader.h"

#define BAD CCG_R_CLIENT_BHTTP_MALFORMED

/* ------------------------------------------------------------------ QUIC variable-length integers */

static ccg_result varint_read(ccg_reader *r, uint64_t *out)
{
    ccg_result result = CCG_FAILURE;
    uint8_t b = 0;
    CCG_TRY_AS(ccg_reader_u8(r, &b), BAD, "bhttp: truncated integer");
    size_t n = (size_t)1 << (b >> 6);
    uint64_t v = b & 0x3f;
    for (size_t i = 1; i < n; i++) {
        CCG_TRY_AS(ccg_reader_u8(r, &b), BAD, "bhttp: truncated integer");
        v = v << 8 | b;
    }
    *out = v;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Encoded messages are bounded as decoded ones are: no larger than an OHTTP message may carry. */
typedef ccg_buf obuf;

static void ob_init(obuf *b)
{
    ccg_buf_init(b, CCG_OHTTP_MAX_MESSAGE);
}

static ccg_result ob_varint(obuf *b, uint64_t v)
{
    ccg_result result = CCG_FAILURE;
    uint8_t t[8];
    size_t n;
    CCG_ENSURE_MSG(v < ((uint64_t)1 << 62), CCG_R_INPUT_TOO_LARGE, "bhttp: integer too large");
    n = v < 64 ? 1 : v < 16384 ? 2 : v < (1u << 30) ? 4 : 8;
    for (size_t i = 0; i < n; i++) {
        t[n - 1 - i] = (uint8_t)(v >> (8 * i));
    }
    t[0] |= (uint8_t)((n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : 3) << 6);
    CCG_TRY(ccg_buf_append(b, t, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result ob_bytes(obuf *b, const void *data, size_t n)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY(ob_varint(b, n));
    CCG_TRY(ccg_buf_append(b, data, n));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* ------------------------------------------------------------------ field validity (RFC 9110 5.1, H2 8.2.1) */

static int tchar_lower(uint8_t c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int name_valid(const uint8_t *n, size_t len)
{
    if (len == 0) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        if (!tchar_lower(n[i])) {
            return 0; /* upper case, ':' (pseudo-fields), controls, separators */
        }
    }
    return 1;
}

static int value_valid(const uint8_t *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (v[i] == 0 || v[i] == '\r' || v[i] == '\n') {
            return 0;
        }
    }
    return len == 0 || (v[0] != ' ' && v[0] != '\t' && v[len - 1] != ' ' && v[len - 1] != '\t');
}

/* ------------------------------------------------------------------ fields */

void ccg_bhttp_fields_free(ccg_bhttp_fields *f)
{
    for (size_t i = 0; f != NULL && i < f->count; i++) {
        free(f->items[i].name);
        free(f->items[i].value);
    }
    if (f != NULL) {
        free(f->items);
        f->items = NULL;
        f->count = 0;
    }
}

static ccg_result fields_push(ccg_bhttp_fields *f, const uint8_t *name, size_t name_len, const uint8_t *value,
                              size_t value_len)
{
    ccg_result result = CCG_FAILURE;
    char *n = NULL, *v = NULL;
    CCG_ENSURE_MSG(f->count < CCG_BHTTP_MAX_FIELDS, BAD, "bhttp: more than %d fields", CCG_BHTTP_MAX_FIELDS);
    CCG_ENSURE_MSG(name_len <= CCG_BHTTP_MAX_FIELD_LEN && value_len <= CCG_BHTTP_MAX_FIELD_LEN, BAD,
                   "bhttp: a field longer than %d bytes", CCG_BHTTP_MAX_FIELD_LEN);
    CCG_ENSURE_MSG(name_valid(name, name_len), BAD, "bhttp: an invalid or pseudo field name");
    CCG_ENSURE_MSG(value_valid(value, value_len), BAD, "bhttp: an invalid field value");
    ccg_bhttp_field *items = realloc(f->items, (f->count + 1) * sizeof(*items));
    CCG_ENSURE_ALLOC(items);
    f->items = items;
    n = malloc(name_len + 1);
    v = malloc(value_len + 1);
    CCG_ENSURE_ALLOC(n);
    CCG_ENSURE_ALLOC(v);
    memcpy(n, name, name_len);
    n[name_len] = 0;
    if (value_len > 0) {
        memcpy(v, value, value_len);
    }
    v[value_len] = 0;
    f->items[f->count++] = (ccg_bhttp_field){n, v, value_len};
    n = v = NULL;
    result = CCG_SUCCESS;
cleanup:
    free(n);
    free(v);
    return result;
}

ccg_result ccg_bhttp_fields_add(ccg_bhttp_fields *f, const char *name, const char *value, size_t value_len)
{
    return fields_push(f, (const uint8_t *)name, strlen(name), (const uint8_t *)value, value_len);
}

const ccg_bhttp_field *ccg_bhttp_fields_get(const ccg_bhttp_fields *f, const char *name)
{
    for (size_t i = 0; i < f->count; i++) {
        if (strcmp(f->items[i].name, name) == 0) {
            return &f->items[i];
        }
    }
    return NULL;
}

/* A length-prefixed byte string; truncated is client.bhttp_malformed. */
static ccg_result read_bytes(ccg_reader *r, size_t max, const uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    uint64_t n = 0;
    CCG_TRY(varint_read(r, &n));
    CCG_ENSURE_MSG(n <= max, BAD, "bhttp: a length of %llu is over the bound", (unsigned long long)n);
    CCG_TRY_AS(ccg_reader_borrow(r, out, (size_t)n), BAD, "bhttp: truncated");
    *out_len = (size_t)n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A known-length field section. At the very end of the message it may be absent (truncation). */
static ccg_result read_fields(ccg_reader *r, ccg_bhttp_fields *f)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *sec = NULL, *name = NULL, *value = NULL;
    size_t sec_len = 0, name_len = 0, value_len = 0;
    ccg_reader sub;
    if (ccg_reader_remaining(r) == 0) {
        return CCG_SUCCESS;
    }
    CCG_TRY(read_bytes(r, CCG_OHTTP_MAX_MESSAGE, &sec, &sec_len));
    ccg_reader_init(&sub, sec, sec_len);
    while (ccg_reader_remaining(&sub) > 0) {
        CCG_TRY(read_bytes(&sub, CCG_BHTTP_MAX_FIELD_LEN, &name, &name_len));
        CCG_TRY(read_bytes(&sub, CCG_BHTTP_MAX_FIELD_LEN, &value, &value_len));
        CCG_TRY(fields_push(f, name, name_len, value, value_len));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_content(ccg_reader *r, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *c = NULL;
    size_t n = 0;
    if (ccg_reader_remaining(r) > 0) {
        CCG_TRY(read_bytes(r, CCG_OHTTP_MAX_MESSAGE, &c, &n));
    }
    *out = malloc(n + 1);
    CCG_ENSURE_ALLOC(*out);
    if (n > 0) {
        memcpy(*out, c, n);
    }
    *out_len = n;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Whatever follows the trailers must be zero padding. */
static ccg_result read_padding(ccg_reader *r)
{
    ccg_result result = CCG_FAILURE;
    CCG_TRY_AS(ccg_reader_reserved_zero(r, ccg_reader_remaining(r), BAD), BAD, "bhttp: non-zero padding");
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result read_cstr(ccg_reader *r, size_t max, int (*valid)(const uint8_t *, size_t), char **out)
{
    ccg_result result = CCG_FAILURE;
    const uint8_t *p = NULL;
    size_t n = 0;
    CCG_TRY(read_bytes(r, max, &p, &n));
    CCG_ENSURE_MSG(valid(p, n), BAD, "bhttp: invalid request control data");
    *out = malloc(n + 1);
    CCG_ENSURE_ALLOC(*out);
    memcpy(*out, p, n);
    (*out)[n] = 0;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int method_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || p[i] == '-' || p[i] == '_')) {
            return 0;
        }
    }
    return n > 0;
}

/* Visible ASCII only: no controls, spaces or NULs can reach a C string or a routing decision. */
static int visible_valid(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] <= 0x20 || p[i] >= 0x7f) {
            return 0;
        }
    }
    return 1;
}

static int nonempty_visible(const uint8_t *p, size_t n) { return n > 0 && visible_valid(p, n); }

ccg_result ccg_bhttp_request_decode(const uint8_t *data, size_t len, ccg_bhttp_request *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    uint64_t framing = 0;
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(data != NULL && len <= CCG_OHTTP_MAX_MESSAGE, CCG_R_INPUT_TOO_LARGE, "bhttp: too large");
    ccg_reader_init(&r, data, len);
    CCG_TRY(varint_read(&r, &framing));
    CCG_ENSURE_MSG(framing == 0, BAD, "bhttp: framing indicator %llu is not a known-length request",
                   (unsigned long long)framing);
    CCG_TRY(read_cstr(&r, 64, method_valid, &out->method));
    CCG_TRY(read_cstr(&r, 64, nonempty_visible, &out->scheme));
    CCG_TRY(read_cstr(&r, 1024, visible_valid, &out->authority));
    CCG_TRY(read_cstr(&r, CCG_BHTTP_MAX_FIELD_LEN, nonempty_visible, &out->path));
    CCG_TRY(read_fields(&r, &out->headers));
    CCG_TRY(read_content(&r, &out->content, &out->content_len));
    CCG_TRY(read_fields(&r, &out->trailers));
    CCG_TRY(read_padding(&r));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_bhttp_request_free(out);
    }
    return result;
}

ccg_result ccg_bhttp_response_decode(const uint8_t *data, size_t len, ccg_bhttp_response *out)
{
    ccg_result result = CCG_FAILURE;
    ccg_reader r;
    uint64_t framing = 0, status = 0;
    ccg_bhttp_fields info = {0};
    memset(out, 0, sizeof(*out));
    CCG_ENSURE_MSG(data != NULL && len <= CCG_OHTTP_MAX_MESSAGE, CCG_R_INPUT_TOO_LARGE, "bhttp: too large");
    ccg_reader_init(&r, data, len);
    CCG_TRY(varint_read(&r, &framing));
    CCG_ENSURE_MSG(framing == 1, BAD, "bhttp: framing indicator %llu is not a known-length response",
                   (unsigned long long)framing);
    for (;;) {
        CCG_TRY(varint_read(&r, &status));
        CCG_ENSURE_MSG(status >= 100 && status <= 599, BAD, "bhttp: status %llu", (unsigned long long)status);
        if (status >= 200) {
            break;
        }
        /* An informational response: its header section is required (no truncation before a final status). */
        CCG_ENSURE_MSG(ccg_reader_remaining(&r) > 0, BAD, "bhttp: truncated after an informational status");
        CCG_ENSURE_MSG(out->informational < 16, BAD, "bhttp: too many informational responses");
        CCG_TRY(read_fields(&r, &info));
        ccg_bhttp_fields_free(&info);
        out->informational++;
    }
    out->status = (int)status;
    CCG_TRY(read_fields(&r, &out->headers));
    CCG_TRY(read_content(&r, &out->content, &out->content_len));
    CCG_TRY(read_fields(&r, &out->trailers));
    CCG_TRY(read_padding(&r));
    result = CCG_SUCCESS;
cleanup:
    ccg_bhttp_fields_free(&info);
    if (ccg_failed(result)) {
        ccg_bhttp_response_free(out);
    }
    return result;
}

static ccg_result put_fields(obuf *b, const ccg_bhttp_fields *f)
{
    ccg_result result = CCG_FAILURE;
    obuf sec;
    ob_init(&sec);
    for (size_t i = 0; i < f->count; i++) {
        size_t nl = strlen(f->items[i].name);
        CCG_ENSURE_MSG(name_valid((const uint8_t *)f->items[i].name, nl) &&
                           value_valid((const uint8_t *)f->items[i].value, f->items[i].value_len),
                       BAD, "bhttp: an invalid field");
        CCG_TRY(ob_bytes(&sec, f->items[i].name, nl));
        CCG_TRY(ob_bytes(&sec, f->items[i].value, f->items[i].value_len));
    }
    CCG_TRY(ob_bytes(b, sec.p, sec.len));
    result = CCG_SUCCESS;
cleanup:
    free(sec.p);
    return result;
}

ccg_result ccg_bhttp_request_encode(const ccg_bhttp_request *req, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    obuf b;
    ob_init(&b);
    const char *auth = req->authority ? req->authority : "";
    CCG_ENSURE_MSG(req->method && req->scheme && req->path &&
                       method_valid((const uint8_t *)req->method, strlen(req->method)) &&
                       nonempty_visible((const uint8_t *)req->path, strlen(req->path)) &&
                       nonempty_visible((const uint8_t *)req->scheme, strlen(req->scheme)) &&
                       visible_valid((const uint8_t *)auth, strlen(auth)),
                   BAD, "bhttp: invalid request control data");
    CCG_TRY(ob_varint(&b, 0));
    CCG_TRY(ob_bytes(&b, req->method, strlen(req->method)));
    CCG_TRY(ob_bytes(&b, req->scheme, strlen(req->scheme)));
    CCG_TRY(ob_bytes(&b, auth, strlen(auth)));
    CCG_TRY(ob_bytes(&b, req->path, strlen(req->path)));
    CCG_TRY(put_fields(&b, &req->headers));
    CCG_TRY(ob_bytes(&b, req->content, req->content_len));
    CCG_TRY(put_fields(&b, &req->trailers));
    CCG_TRY(ccg_buf_take(&b, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    ccg_buf_free(&b);
    return result;
}

ccg_result ccg_bhttp_response_encode(const ccg_bhttp_response *res, uint8_t **out, size_t *out_len)
{
    ccg_result result = CCG_FAILURE;
    obuf b;
    ob_init(&b);
    CCG_ENSURE_MSG(res->status >= 200 && res->status <= 599, BAD, "bhttp: final status %d", res->status);
    CCG_TRY(ob_varint(&b, 1));
    CCG_TRY(ob_varint(&b, (uint64_t)res->status));
    CCG_TRY(put_fields(&b, &res->headers));
    CCG_TRY(ob_bytes(&b, res->content, res->content_len));
    CCG_TRY(put_fields(&b, &res->trailers));
    CCG_TRY(ccg_buf_take(&b, out, out_len));
    result = CCG_SUCCESS;
cleanup:
    ccg_buf_free(&b);
    return result;
}

void ccg_bhttp_request_free(ccg_bhttp_request *req)
{
    if (req == NULL) {
        return;
    }
    free(req->method);
    free(req->scheme);
    free(req->authority);
    free(req->path);
    ccg_bhttp_fields_free(&req->headers);
    ccg_bhttp_fields_free(&req->trailers);
    free(req->content);
    memset(req, 0, sizeof(*req));
}

void ccg_bhttp_response_free(ccg_bhttp_response *res)
{
    if (res == NULL) {
        return;
    }
    ccg_bhttp_fields_free(&res->headers);
    ccg_bhttp_fields_free(&res->trailers);
    free(res->content);
    memset(res, 0, sizeof(*res));
}
