/* An HTTP load generator for the endpoint benchmarks (scripts/bench-endpoint.sh; not a timed test).
 *
 * N concurrent clients (libcurl multi, one easy handle each, connections kept alive) repeat one request
 * for S seconds, each starting its next request as soon as its last one ends. It prints requests per
 * second and the p50 and p99 latency of the completed requests. A request that fails (transport error
 * or a status other than 200) counts as an error; any error makes the exit status 1, so a figure is
 * never printed for a broken path.
 *
 * usage: bench_http_load --url URL [--unix-socket PATH] [--body FILE] [--header H]... [--concurrency N]
 *                        [--seconds S] [--insecure]
 * The last lines are key=value: requests, errors, rps, p50_ms, p99_ms. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLIENTS 256
#define MAX_HEADERS 8
#define MAX_SAMPLES (1u << 22)

typedef struct {
    const char *url;
    const char *unix_socket;
    const char *body_file;
    const char *headers[MAX_HEADERS];
    int header_count;
    int concurrency;
    double seconds;
    int insecure;
} load_options;

typedef struct {
    CURL *easy;
    double started;
} client;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t discard(char *p, size_t size, size_t n, void *u)
{
    (void)p;
    (void)u;
    return size * n;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static char *read_all(const char *path, long *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (*len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        goto done;
    }
    buf = malloc((size_t)*len + 1);
    if (buf != NULL && fread(buf, 1, (size_t)*len, f) != (size_t)*len) {
        free(buf);
        buf = NULL;
    }
done:
    if (f != NULL) {
        fclose(f);
    }
    return buf;
}

static int parse_options(int argc, char **argv, load_options *o)
{
    *o = (load_options){.concurrency = 4, .seconds = 5};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--insecure") == 0) {
            o->insecure = 1;
            continue;
        }
        if (v == NULL) {
            return -1;
        }
        i++;
        if (strcmp(a, "--url") == 0) {
            o->url = v;
        } else if (strcmp(a, "--unix-socket") == 0) {
            o->unix_socket = v;
        } else if (strcmp(a, "--body") == 0) {
            o->body_file = v;
        } else if (strcmp(a, "--header") == 0 && o->header_count < MAX_HEADERS) {
            o->headers[o->header_count++] = v;
        } else if (strcmp(a, "--concurrency") == 0) {
            o->concurrency = atoi(v);
        } else if (strcmp(a, "--seconds") == 0) {
            o->seconds = atof(v);
        } else {
            return -1;
        }
    }
    return o->url != NULL && o->concurrency > 0 && o->concurrency <= MAX_CLIENTS && o->seconds > 0 ? 0 : -1;
}

static void setup_client(client *c, const load_options *o, const char *body, long body_len,
                         struct curl_slist *headers)
{
    c->easy = curl_easy_init();
    curl_easy_setopt(c->easy, CURLOPT_URL, o->url);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_TIMEOUT, 60L);
    if (o->unix_socket != NULL) {
        curl_easy_setopt(c->easy, CURLOPT_UNIX_SOCKET_PATH, o->unix_socket);
    }
    if (body != NULL) {
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, body_len);
    }
    if (headers != NULL) {
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
    }
    if (o->insecure) {
        curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c->easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

int main(int argc, char **argv)
{
    load_options o;
    static client clients[MAX_CLIENTS];
    struct curl_slist *headers = NULL;
    double *samples = NULL, t0, end;
    size_t count = 0, errors = 0;
    long body_len = 0;
    char *body = NULL;
    CURLM *multi;
    int running = 0;
    if (parse_options(argc, argv, &o) != 0) {
        fprintf(stderr, "usage: bench_http_load --url URL [--unix-socket PATH] [--body FILE] [--header H]... "
                        "[--concurrency N] [--seconds S] [--insecure]\n");
        return 2;
    }
    if (o.body_file != NULL && (body = read_all(o.body_file, &body_len)) == NULL) {
        fprintf(stderr, "bench_http_load: cannot read %s\n", o.body_file);
        return 2;
    }
    for (int i = 0; i < o.header_count; i++) {
        headers = curl_slist_append(headers, o.headers[i]);
    }
    samples = malloc(MAX_SAMPLES * sizeof(*samples));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    multi = curl_multi_init();
    if (samples == NULL || multi == NULL) {
        return 1;
    }
    t0 = now_s();
    end = t0 + o.seconds;
    for (int i = 0; i < o.concurrency; i++) {
        setup_client(&clients[i], &o, body, body_len, headers);
        clients[i].started = now_s();
        curl_multi_add_handle(multi, clients[i].easy);
    }
    do {
        CURLMsg *m;
        int left;
        curl_multi_perform(multi, &running);
        while ((m = curl_multi_info_read(multi, &left)) != NULL) {
            client *c = NULL;
            long status = 0;
            double t = now_s();
            if (m->msg != CURLMSG_DONE) {
                continue;
            }
            curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&c);
            curl_easy_getinfo(m->easy_handle, CURLINFO_RESPONSE_CODE, &status);
            if (m->data.result != CURLE_OK || status != 200) {
                errors++;
            } else if (count < MAX_SAMPLES) {
                samples[count++] = t - c->started;
            }
            curl_multi_remove_handle(multi, c->easy);
            if (t < end) {
                c->started = t;
                curl_multi_add_handle(multi, c->easy);
            }
        }
        if (running > 0) {
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        }
    } while (running > 0 || now_s() < end);
    {
        double elapsed = now_s() - t0;
        qsort(samples, count, sizeof(*samples), compare_double);
        printf("requests=%zu\nerrors=%zu\nrps=%.1f\n", count, errors, (double)count / elapsed);
        if (count > 0) {
            printf("p50_ms=%.3f\np99_ms=%.3f\n", samples[count / 2] * 1e3,
                   samples[(size_t)((double)(count - 1) * 0.99)] * 1e3);
        }
    }
    for (int i = 0; i < o.concurrency; i++) {
        curl_easy_cleanup(clients[i].easy);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(headers);
    free(samples);
    free(body);
    curl_global_cleanup();
    return errors == 0 && count > 0 ? 0 : 1;
}
