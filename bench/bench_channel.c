/* Benchmark of the attested channel (not a timed test; scripts/bench-channel.sh runs it).
 *
 *   1. Bulk throughput: a client session streams 16 KiB DATA frames (ChaCha20-Poly1305) over a Unix
 *      socketpair to a server session in another thread, which opens every frame; MB/s of application
 *      bytes over wall time. The in-process anchor is one EVP ChaCha20-Poly1305 seal of 16 KiB buffers in
 *      a loop (what `openssl speed -evp chacha20-poly1305 -bytes 16384` measures); the script adds
 *      `openssl speed` itself from the same run.
 *   2. Handshake latency with emulated evidence: ccg_channel_connect from M1 to a verified SF, the server
 *      (thread) generating a fresh X25519 key and a signed emulated SNP report each time, the client
 *      verifying it (ECDSA P-384, the chain from the verifier's cache), p50 and p99.
 *
 * usage: bench_channel [SECONDS [HANDSHAKES]]   (defaults 3 and 200). The last lines are key=value. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ccgate/channel.h"
#include "ccgate/snp_emulator.h"

#define FRAME 16384u

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct {
    ccg_snp_emulator *emu;
    ccg_channel_emulated em;
    ccg_snp_verifier *verifier;
    ccg_time now;
} bench_world;

typedef struct {
    bench_world *w;
    int fd;
    int sink;         /* 1: receive until close and count bytes */
    uint64_t bytes;
    int ok;
} server_job;

static void *server_main(void *arg)
{
    server_job *j = arg;
    ccg_channel_server_config cfg = {.get_evidence = ccg_channel_emulated_evidence, .evidence_arg = &j->w->em};
    ccg_channel_session *s = NULL;
    static _Thread_local uint8_t buf[CCG_CHANNEL_MAX_PLAINTEXT];
    size_t len = 0;
    int closed = 0;
    ccg_error_clear();
    if (ccg_failed(ccg_channel_accept(j->fd, &cfg, &s))) {
        goto done;
    }
    while (j->sink) {
        if (ccg_failed(ccg_channel_recv(s, buf, sizeof(buf), &len, &closed))) {
            goto done;
        }
        if (closed) {
            break;
        }
        j->bytes += len;
    }
    j->ok = 1;
done:
    if (!j->ok) {
        fprintf(stderr, "bench_channel: server: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    ccg_channel_session_free(s);
    close(j->fd);
    return NULL;
}

/* One handshake over a fresh socketpair; *client is the client's session, *t its duration. */
static int handshake(bench_world *w, server_job *j, pthread_t *th, int *cfd, ccg_channel_session **client, double *t)
{
    int sv[2];
    ccg_channel_client_config cfg = {.verifier = w->verifier, .now = w->now};
    *th = 0;
    *cfd = -1;
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        return -1;
    }
    /* Room for several frames in flight, as a TCP connection's autotuned buffers give. */
    int room = 1 << 20;
    for (int i = 0; i < 2; i++) {
        (void)setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
        (void)setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &room, sizeof(room));
    }
    j->w = w;
    j->fd = sv[1];
    if (pthread_create(th, NULL, server_main, j) != 0) {
        return -1;
    }
    *cfd = sv[0];
    ccg_error_clear();
    double t0 = now_s();
    ccg_result r = ccg_channel_connect(sv[0], &cfg, NULL, client);
    *t = now_s() - t0;
    if (ccg_failed(r)) {
        fprintf(stderr, "bench_channel: client: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
        return -1;
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_handshakes(bench_world *w, int n, double *p50, double *p99)
{
    double *t = calloc((size_t)n, sizeof(double));
    int rc = -1;
    if (t == NULL) {
        return -1;
    }
    for (int i = 0; i < n; i++) {
        server_job j = {0};
        pthread_t th = 0;
        int fd = -1;
        ccg_channel_session *s = NULL;
        int hr = handshake(w, &j, &th, &fd, &s, &t[i]); /* the server side ends right after its SF */
        ccg_channel_session_free(s);
        if (fd >= 0) {
            close(fd);
        }
        if (th != 0) {
            pthread_join(th, NULL);
        }
        if (hr != 0 || !j.ok) {
            goto done;
        }
    }
    qsort(t, (size_t)n, sizeof(double), cmp_double);
    *p50 = t[n / 2] * 1e3;
    *p99 = t[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1] * 1e3;
    rc = 0;
done:
    free(t);
    return rc;
}

static int bench_bulk(bench_world *w, double seconds, double *mb_s)
{
    server_job j = {.sink = 1};
    pthread_t th = 0;
    int fd = -1;
    ccg_channel_session *s = NULL;
    double t_hs = 0;
    uint8_t *buf = malloc(FRAME);
    uint64_t sent = 0;
    int rc = -1;
    if (buf == NULL || handshake(w, &j, &th, &fd, &s, &t_hs) != 0) {
        goto done;
    }
    memset(buf, 0x5a, FRAME);
    double t0 = now_s(), t1 = t0;
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 64; k++) {
            if (ccg_failed(ccg_channel_send(s, buf, FRAME))) {
                goto done;
            }
            sent += FRAME;
        }
        t1 = now_s();
    }
    if (ccg_failed(ccg_channel_close(s))) {
        goto done;
    }
    pthread_join(th, NULL);
    t1 = now_s(); /* until the receiver opened the last frame */
    th = 0;
    if (!j.ok || j.bytes != sent) {
        goto done;
    }
    *mb_s = (double)sent / (t1 - t0) / 1e6;
    rc = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "bench_channel: bulk: %s: %s\n", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    if (th != 0) {
        pthread_join(th, NULL);
    }
    ccg_channel_session_free(s);
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return rc;
}

/* The anchor: EVP ChaCha20-Poly1305 sealing 16 KiB buffers on one thread. */
static double bench_evp(double seconds)
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    uint8_t key[32] = {1}, iv[12] = {2}, tag[16];
    uint8_t *in = calloc(1, FRAME), *out = malloc(FRAME + 16);
    uint64_t bytes = 0;
    int n = 0;
    double t0 = now_s(), t1 = t0;
    if (ctx == NULL || in == NULL || out == NULL ||
        EVP_EncryptInit_ex(ctx, EVP_chacha20_poly1305(), NULL, key, iv) != 1) {
        goto done;
    }
    while (t1 - t0 < seconds) {
        for (int k = 0; k < 64; k++) {
            iv[0]++;
            if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, iv) != 1 || EVP_EncryptUpdate(ctx, out, &n, in, FRAME) != 1 ||
                EVP_EncryptFinal_ex(ctx, out + n, &n) != 1 ||
                EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) != 1) {
                goto done;
            }
            bytes += FRAME;
        }
        t1 = now_s();
    }
done:
    EVP_CIPHER_CTX_free(ctx);
    free(in);
    free(out);
    return t1 > t0 ? (double)bytes / (t1 - t0) / 1e6 : 0;
}

static int world_init(bench_world *w)
{
    ccg_snp_emulator_config cfg;
    ccg_snp_report r;
    memset(w, 0, sizeof(*w));
    ccg_snp_emulator_config_init(&cfg, CCG_SNP_PRODUCT_MILAN, CCG_SNP_SIGNER_VCEK);
    if (ccg_failed(ccg_snp_emulator_new(&cfg, &w->emu)) || ccg_failed(ccg_snp_verifier_new(&w->verifier)) ||
        ccg_failed(ccg_snp_verifier_add_root(w->verifier, CCG_SNP_PRODUCT_MILAN, ccg_snp_emulator_ark(w->emu)))) {
        return -1;
    }
    w->em.emu = w->emu;
    ccg_snp_emulator_default_report(w->emu, &r);
    memcpy(w->em.measurement, r.measurement, sizeof(w->em.measurement));
    w->now = (ccg_time)1780272000; /* 2026-06-01T00:00:00Z, inside the emulator's default validity */
    return 0;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 3.0;
    int n = argc > 2 ? atoi(argv[2]) : 200;
    bench_world w;
    memset(&w, 0, sizeof(w));
    double mb_s = 0, evp = 0, p50 = 0, p99 = 0;
    int rc = 1;
    if (seconds <= 0 || n < 2 || world_init(&w) != 0) {
        fprintf(stderr, "usage: bench_channel [SECONDS [HANDSHAKES]]\n");
        goto done;
    }
    if (bench_bulk(&w, seconds, &mb_s) != 0) {
        fprintf(stderr, "bench_channel: the bulk run failed\n");
        goto done;
    }
    if (bench_handshakes(&w, n, &p50, &p99) != 0) {
        fprintf(stderr, "bench_channel: a handshake failed: %s: %s\n", ccg_reason_code(ccg_error_reason()),
                ccg_error_last()->message);
        goto done;
    }
    evp = bench_evp(seconds);
    printf("channel bulk, 16 KiB ChaCha20-Poly1305 frames over a socketpair: %.1f MB/s\n", mb_s);
    printf("EVP ChaCha20-Poly1305 seal of 16 KiB, one thread (in-process anchor): %.1f MB/s | ratio %.2f\n", evp,
           evp > 0 ? mb_s / evp : 0);
    printf("handshake with emulated SNP evidence (%d runs): p50 %.3f ms, p99 %.3f ms\n", n, p50, p99);
    printf("channel_mb_s=%.1f\nevp_mb_s=%.1f\nhandshake_p50_ms=%.3f\nhandshake_p99_ms=%.3f\n", mb_s, evp, p50, p99);
    rc = 0;
done:
    ccg_snp_verifier_free(w.verifier);
    ccg_snp_emulator_free(w.emu);
    return rc;
}
