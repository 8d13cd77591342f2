/* Benchmark: unsealing model artifacts (not a timed test; scripts/bench-unseal.sh runs it).
 *
 * (a) throughput: a sealed model in memory unsealed on every core into memory, best of BENCH_RUNS, against
 *     `openssl speed -evp aes-256-gcm -bytes 16384` (the 16 KiB column) times the core count, measured in
 *     the same run. Unsealing also hashes every byte (SHA-256 leaves of the signed model digest), so the
 *     figure is also given against the combined anchor cores / (1/aes + 1/sha256), both from `openssl
 *     speed`, and the decryption engine alone (no hashing) is measured against the AES anchor.
 * (c) loading a model from disk into memory: ccg_artifact_open + unseal_into a fresh buffer against
 *     read(2) of the plain model into a fresh buffer, with a cold page cache (drop_caches, root only;
 *     skipped with a message otherwise) and warm.
 *
 * usage: bench_unseal [THROUGHPUT_MIB [LOAD_MIB [DIR]]]   (defaults 512, 1024, /tmp)
 * Files are deleted afterwards. The last lines are key=value for scripts/bench-unseal.sh. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "../src/artifact/artifact_internal.h"
#include "ccgate/artifact.h"
#include "ccgate/util.h"

#define MIB (1024.0 * 1024.0)

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* `openssl speed -evp ALG -bytes 16384`: the 16 KiB column in bytes per second, or 0. */
static double openssl_speed(const char *alg, const char *label)
{
    char cmd[160], line[512];
    double v = 0;
    snprintf(cmd, sizeof(cmd), "openssl speed -seconds 2 -evp %s -bytes 16384 2>/dev/null", alg);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return 0;
    }
    while (fgets(line, sizeof(line), p) != NULL) {
        if (strncmp(line, label, strlen(label)) == 0) {
            char *last = strrchr(line, ' ');
            if (last != NULL) {
                v = strtod(last + 1, NULL) * 1000.0; /* "2838105.99k": 1000s of bytes per second */
            }
        }
    }
    pclose(p);
    return v;
}

/* Writes n pseudo-random bytes to path (xorshift: fast, incompressible enough for AES and SHA). */
static int write_model(const char *path, size_t n)
{
    FILE *f = fopen(path, "wb");
    uint64_t x = 0x9e3779b97f4a7c15u, buf[8192];
    if (f == NULL) {
        return -1;
    }
    for (size_t done = 0; done < n; done += sizeof(buf)) {
        for (size_t i = 0; i < sizeof(buf) / 8; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[i] = x;
        }
        size_t take = n - done < sizeof(buf) ? n - done : sizeof(buf);
        if (fwrite(buf, 1, take, f) != take) {
            fclose(f);
            return -1;
        }
    }
    return fclose(f);
}


static int write_pub(EVP_PKEY *k, const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        return -1;
    }
    int ok = PEM_write_PUBKEY(f, k);
    return (fclose(f) == 0 && ok == 1) ? 0 : -1;
}

typedef struct {
    char model[256], sealed[256], pub[256];
    EVP_PKEY *signer;
    uint8_t key[32];
} bench_files;

static int seal_model(bench_files *b, size_t n)
{
    if (write_model(b->model, n) != 0) {
        fprintf(stderr, "bench_unseal: cannot write %s\n", b->model);
        return -1;
    }
    if (ccg_failed(ccg_artifact_seal_file(b->model, b->sealed, b->key, 32, "bench/model", 1, 0, b->signer))) {
        fprintf(stderr, "bench_unseal: seal failed: %s\n", ccg_error_last()->message);
        return -1;
    }
    return 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    uint8_t *d = NULL;
    if (ccg_failed(ccg_file_read(path, SIZE_MAX / 2, &d, len))) {
        return NULL;
    }
    return d;
}

/* The decryption engine alone: every chunk decrypted and authenticated on all cores, no digest. */
static ccg_result decrypt_only(ccg_artifact *a, const uint8_t *key, uint8_t *dest)
{
    ccg_result result = CCG_FAILURE;
    art_keys k;
    CCG_TRY(art_derive_keys(key, 32, ccg_artifact_header_of(a), &k));
    CCG_TRY(art_unseal_chunks(a, &k, dest, NULL, 0, NULL));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* (a) best wall time of `runs` unseals of the in-memory artifact into a pre-faulted buffer. */
static double throughput(bench_files *b, size_t n, int runs, int hash)
{
    size_t len = 0;
    uint8_t *sealed = read_file(b->sealed, &len), *dest = malloc(n);
    ccg_artifact_open_opts opts = {.provider_key_path = b->pub};
    double best = 0;
    if (sealed == NULL || dest == NULL) {
        free(sealed);
        free(dest);
        return 0;
    }
    memset(dest, 0, n);
    for (int r = 0; r < runs; r++) {
        ccg_artifact *a = NULL;
        double t0 = now_s();
        if (ccg_failed(ccg_artifact_open_memory(sealed, len, &opts, &a)) ||
            ccg_failed(hash ? ccg_artifact_unseal_into(a, b->key, 32, 1, dest, n, 0) : decrypt_only(a, b->key, dest))) {
            fprintf(stderr, "bench_unseal: unseal failed: %s\n", ccg_error_last()->message);
            ccg_artifact_close(a);
            best = 0;
            break;
        }
        double t = now_s() - t0;
        ccg_artifact_close(a);
        if (best == 0 || t < best) {
            best = t;
        }
    }
    free(sealed);
    free(dest);
    return best;
}

static int drop_caches(void)
{
    sync();
    FILE *f = fopen("/proc/sys/vm/drop_caches", "w");
    if (f == NULL) {
        return -1;
    }
    int ok = fputs("3\n", f) >= 0;
    return (fclose(f) == 0 && ok) ? 0 : -1;
}

/* read(2) of the whole plain model into a fresh buffer. */
static double load_plain(const char *path, size_t n)
{
    uint8_t *buf = malloc(n);
    int fd = open(path, O_RDONLY);
    double t0 = now_s(), t = 0;
    size_t done = 0;
    if (buf == NULL || fd < 0) {
        goto out;
    }
    (void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    while (done < n) {
        ssize_t got = read(fd, buf + done, n - done > (64u << 20) ? (64u << 20) : n - done);
        if (got <= 0) {
            goto out;
        }
        done += (size_t)got;
    }
    t = now_s() - t0;
out:
    if (fd >= 0) {
        close(fd);
    }
    free(buf);
    return t;
}

/* ccg_artifact_open + unseal_into a fresh buffer on every core. */
static double load_sealed(bench_files *b, size_t n)
{
    uint8_t *buf = malloc(n);
    ccg_artifact_open_opts opts = {.provider_key_path = b->pub};
    ccg_artifact *a = NULL;
    double t0 = now_s(), t = 0;
    if (buf != NULL && ccg_ok(ccg_artifact_open(b->sealed, &opts, &a)) &&
        ccg_ok(ccg_artifact_unseal_into(a, b->key, 32, 1, buf, n, 0))) {
        t = now_s() - t0;
    } else {
        fprintf(stderr, "bench_unseal: load failed: %s\n", ccg_error_last()->message);
    }
    ccg_artifact_close(a);
    free(buf);
    return t;
}

static void load_figures(bench_files *b, size_t n)
{
    double plain, sealed;
    if (drop_caches() == 0) {
        plain = load_plain(b->model, n);
        (void)drop_caches();
        sealed = load_sealed(b, n);
        printf("load %zu MiB, cold cache: plain read %.3f s (%.0f MB/s), unseal %.3f s (%.0f MB/s), unseal/read %.2fx "
               "(aim <= 1.1x)\n",
               n >> 20, plain, n / plain / 1e6, sealed, n / sealed / 1e6, sealed / plain);
        printf("load_cold_ratio=%.3f\n", sealed / plain);
    } else {
        printf("load cold cache: skipped (dropping the page cache needs root)\n");
        printf("load_cold_ratio=skipped\n");
    }
    (void)load_plain(b->model, n); /* warm both files */
    (void)load_sealed(b, n);
    plain = load_plain(b->model, n);
    sealed = load_sealed(b, n);
    printf("load %zu MiB, warm cache: plain read %.3f s (%.0f MB/s), unseal %.3f s (%.0f MB/s), unseal/read %.2fx\n",
           n >> 20, plain, n / plain / 1e6, sealed, n / sealed / 1e6, sealed / plain);
    printf("load_warm_ratio=%.3f\n", sealed / plain);
}

int main(int argc, char **argv)
{
    size_t tp_mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 512, load_mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 1024;
    const char *dir = argc > 3 ? argv[3] : "/tmp";
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    bench_files b;
    int rc = 1;
    memset(&b, 0, sizeof(b));
    snprintf(b.model, sizeof(b.model), "%s/ccg-bench-model-%d.bin", dir, (int)getpid());
    snprintf(b.sealed, sizeof(b.sealed), "%s/ccg-bench-model-%d.ccga", dir, (int)getpid());
    snprintf(b.pub, sizeof(b.pub), "%s/ccg-bench-provider-%d.pub", dir, (int)getpid());
    for (int i = 0; i < 32; i++) {
        b.key[i] = (uint8_t)(i + 1);
    }
    b.signer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    if (b.signer == NULL || write_pub(b.signer, b.pub) != 0) {
        fprintf(stderr, "bench_unseal: key setup failed\n");
        goto out;
    }

    double aes = openssl_speed("aes-256-gcm", "AES-256-GCM"), sha = openssl_speed("sha256", "sha256");
    if (tp_mib > 0) {
        size_t n = tp_mib << 20;
        if (seal_model(&b, n) != 0) {
            goto out;
        }
        double t = throughput(&b, n, 3, 1), t_dec = throughput(&b, n, 3, 0);
        if (t <= 0 || t_dec <= 0) {
            goto out;
        }
        double rate = (double)n / t, aes_all = aes * (double)cores, combined = 0;
        if (sha > 0 && aes > 0) {
            combined = (double)cores / (1.0 / aes + 1.0 / sha);
        }
        printf("unseal %zu MiB in memory on %ld cores: %.0f MB/s (best of 3); decryption alone (no digest) %.0f MB/s\n",
               tp_mib, cores, rate / 1e6, (double)n / t_dec / 1e6);
        printf("openssl speed -evp aes-256-gcm -bytes 16384: %.0f MB/s per core, x %ld = %.0f MB/s; ratio %.2f "
               "(aim 0.8)\n",
               aes / 1e6, cores, aes_all / 1e6, aes_all > 0 ? rate / aes_all : 0);
        if (combined > 0) {
            printf("openssl speed -evp sha256 -bytes 16384: %.0f MB/s per core; AES-GCM + SHA-256 anchor x %ld = "
                   "%.0f MB/s; ratio %.2f\n",
                   sha / 1e6, cores, combined / 1e6, rate / combined);
        }
        if (aes_all > 0) {
            printf("decryption alone vs the AES-GCM anchor: ratio %.2f\n", (double)n / t_dec / aes_all);
        }
        printf("unseal_mb_s=%.1f\naes_anchor_mb_s=%.1f\nratio_aes=%.3f\nratio_aes_sha=%.3f\nratio_decrypt_only=%.3f\n",
               rate / 1e6, aes_all / 1e6, aes_all > 0 ? rate / aes_all : 0, combined > 0 ? rate / combined : 0,
               aes_all > 0 ? (double)n / t_dec / aes_all : 0);
        unlink(b.sealed);
        unlink(b.model);
    }
    if (load_mib > 0) {
        size_t n = load_mib << 20;
        if (seal_model(&b, n) != 0) {
            goto out;
        }
        load_figures(&b, n);
    }
    rc = 0;
out:
    unlink(b.sealed);
    unlink(b.model);
    unlink(b.pub);
    EVP_PKEY_free(b.signer);
    return rc;
}
