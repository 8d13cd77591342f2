/* A bounded response body for libcurl's write callback: every HTTP client in ccgate (KDS fetches, the
 * `ccgate kbs` CLI, tests, benchmarks) collects bodies through this one place. */
#ifndef CCGATE_HTTP_BODY_H
#define CCGATE_HTTP_BODY_H

#include <stddef.h>

typedef struct {
    char *data;        /* NUL-terminated past len; malloc'd, the caller frees */
    size_t len;
    size_t cap;        /* bytes allocated */
    size_t max;        /* the largest body accepted; 0 means CCG_HTTP_BODY_DEFAULT_MAX */
    int too_large;     /* set when the body passed max: the transfer was aborted */
    int out_of_memory; /* set when growing failed: the transfer was aborted */
} ccg_http_body;

#define CCG_HTTP_BODY_DEFAULT_MAX (16u << 20)

/* CURLOPT_WRITEFUNCTION with CURLOPT_WRITEDATA = a ccg_http_body. */
size_t ccg_http_body_collect(char *ptr, size_t size, size_t nmemb, void *body);
/* Frees the data and empties the body, keeping its max. */
void ccg_http_body_reset(ccg_http_body *b);

#endif
