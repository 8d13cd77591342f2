/* The keystore interface over the file backend: the wrapped-blob format, AAD binding, tamper
 * detection, the KEK file's permission rules, and the strict configuration parser. */
#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "ccgate/keystore.h"

typedef struct {
    char dir[256];
    char kek[300];
    char config[1024];
} fixture;

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    snprintf(f->dir, sizeof(f->dir), "%s/ccg-ks-file-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(f->dir) == NULL) {
        free(f);
        return -1;
    }
    snprintf(f->kek, sizeof(f->kek), "%s/kek", f->dir);
    snprintf(f->config, sizeof(f->config), "{\"backend\":\"file\",\"kek_file\":\"%s\",\"kek_label\":\"ccgate-kek\"}",
             f->kek);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static ccg_keystore *open_ok(const char *config)
{
    ccg_keystore *ks = NULL;
    if (ccg_failed(ccg_keystore_open_json(config, &ks))) {
        fail_msg("open: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
    return ks;
}

static ccg_keystore *open_with_kek(fixture *f)
{
    ccg_keystore *ks = open_ok(f->config);
    if (ccg_failed(ccg_keystore_create_kek(ks, NULL))) {
        fail_msg("create_kek: %s", ccg_error_last()->message);
    }
    return ks;
}

static void make_key(ccg_secbuf *key, size_t len, uint8_t seed)
{
    assert_true(ccg_ok(ccg_secbuf_alloc(key, len, 0)));
    for (size_t i = 0; i < len; i++) {
        key->data[i] = (uint8_t)(seed + i * 7);
    }
}

static const uint8_t AAD[] = "model-key:llama-70b:v1";
#define AAD_LEN (sizeof(AAD) - 1)

static void wrap_ok(ccg_keystore *ks, const ccg_secbuf *key, uint8_t **blob, size_t *blob_len)
{
    if (ccg_failed(ccg_keystore_wrap(ks, NULL, key, AAD, AAD_LEN, blob, blob_len))) {
        fail_msg("wrap: %s: %s", ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
    }
}

/* Unwrap must fail with `reason` and leave no plaintext behind. */
static void unwrap_fails(ccg_keystore *ks, const char *label, const uint8_t *blob, size_t len, const uint8_t *aad,
                         size_t aad_len, ccg_reason reason)
{
    ccg_secbuf out;
    memset(&out, 0xAA, sizeof(out));
    assert_true(ccg_failed(ccg_keystore_unwrap(ks, label, blob, len, aad, aad_len, &out)));
    tu_assert_error_reason(reason);
    assert_null(out.data);
    assert_int_equal(out.len, 0);
}

static void round_trip(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_secbuf key, out;
    uint8_t *blob = NULL, *blob2 = NULL;
    size_t blob_len = 0, blob2_len = 0;
    struct stat st;

    assert_int_equal(ccg_keystore_backend_of(ks), CCG_KEYSTORE_FILE);
    assert_string_equal(ccg_keystore_kek_label(ks), "ccgate-kek");
    assert_int_equal(stat(f->kek, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, CCG_KEYSTORE_KEK_LEN);

    make_key(&key, 32, 1);
    wrap_ok(ks, &key, &blob, &blob_len);
    assert_int_equal(blob_len, CCG_KEYSTORE_HEADER_LEN + 32 + CCG_KEYSTORE_TAG_LEN);
    assert_memory_equal(blob, "CCGW\x01\x01\x01\x00", 8);

    ccg_wrapped_key w;
    assert_true(ccg_ok(ccg_wrapped_key_parse(blob, blob_len, &w)));
    assert_int_equal(w.version, 1);
    assert_int_equal(w.backend, CCG_KEYSTORE_FILE);
    assert_int_equal(w.algorithm, CCG_KEYSTORE_ALG_AES256_GCM);
    assert_int_equal(w.ciphertext_len, 32);
    assert_memory_not_equal(w.ciphertext, key.data, 32);

    assert_true(ccg_ok(ccg_keystore_unwrap(ks, NULL, blob, blob_len, AAD, AAD_LEN, &out)));
    assert_int_equal(out.len, 32);
    assert_memory_equal(out.data, key.data, 32);
    ccg_secbuf_free(&out);

    /* a fresh nonce each time */
    wrap_ok(ks, &key, &blob2, &blob2_len);
    assert_int_equal(blob2_len, blob_len);
    assert_memory_not_equal(blob + 40, blob2 + 40, CCG_KEYSTORE_NONCE_LEN);

    /* a reopened keystore reads the same KEK from the file */
    ccg_keystore_close(ks);
    ks = open_ok(f->config);
    assert_true(ccg_ok(ccg_keystore_health(ks)));
    assert_true(ccg_ok(ccg_keystore_unwrap(ks, "ccgate-kek", blob2, blob2_len, AAD, AAD_LEN, &out)));
    assert_memory_equal(out.data, key.data, 32);
    ccg_secbuf_free(&out);

    free(blob);
    free(blob2);
    ccg_secbuf_free(&key);
    ccg_keystore_close(ks);
}

static void key_sizes(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    const size_t sizes[] = {1, 16, 33, 4096, CCG_KEYSTORE_MAX_KEY_LEN};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        ccg_secbuf key, out;
        uint8_t *blob = NULL;
        size_t blob_len = 0;
        make_key(&key, sizes[i], (uint8_t)i);
        assert_true(ccg_ok(ccg_keystore_wrap(ks, NULL, &key, NULL, 0, &blob, &blob_len)));
        assert_true(ccg_ok(ccg_keystore_unwrap(ks, NULL, blob, blob_len, NULL, 0, &out)));
        assert_int_equal(out.len, sizes[i]);
        assert_memory_equal(out.data, key.data, sizes[i]);
        ccg_secbuf_free(&out);
        ccg_secbuf_free(&key);
        free(blob);
    }
    ccg_secbuf big;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&big, CCG_KEYSTORE_MAX_KEY_LEN + 1, 0);
    assert_true(ccg_failed(ccg_keystore_wrap(ks, NULL, &big, NULL, 0, &blob, &blob_len)));
    tu_assert_error_reason(CCG_R_INPUT_TOO_LARGE);
    assert_null(blob);
    ccg_secbuf_free(&big);
    ccg_keystore_close(ks);
}

/* Every byte of the blob flipped in turn: each must be refused, with the reason its field implies. */
static void tampered_blob_is_refused(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_secbuf key;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&key, 32, 9);
    wrap_ok(ks, &key, &blob, &blob_len);
    uint8_t *t = malloc(blob_len);
    assert_non_null(t);
    for (size_t i = 0; i < blob_len; i++) {
        for (int bit = 0; bit < 8; bit += 7) {
            memcpy(t, blob, blob_len);
            t[i] ^= (uint8_t)(1u << bit);
            ccg_reason want;
            if (i < 4) {
                want = CCG_R_INPUT_MALFORMED; /* magic */
            } else if (i == 4) {
                want = CCG_R_INPUT_MALFORMED; /* version */
            } else if (i == 7) {
                want = CCG_R_INPUT_RESERVED_NONZERO;
            } else if (i >= 52 && i < 56) {
                /* the length no longer matches the bytes: the bounded reader refuses it */
                uint32_t n = ((uint32_t)t[52] << 24) | ((uint32_t)t[53] << 16) | ((uint32_t)t[54] << 8) | t[55];
                want = n > CCG_KEYSTORE_MAX_KEY_LEN ? CCG_R_INPUT_TOO_LARGE
                       : n > 32                     ? CCG_R_INPUT_TRUNCATED
                                                    : CCG_R_INPUT_TRAILING_BYTES;
            } else {
                /* backend, algorithm, KEK label digest, nonce, ciphertext, tag */
                want = CCG_R_KMS_UNWRAP_FAILED;
            }
            ccg_secbuf out;
            if (ccg_ok(ccg_keystore_unwrap(ks, NULL, t, blob_len, AAD, AAD_LEN, &out))) {
                fail_msg("byte %zu bit %d flipped: unwrap succeeded", i, bit);
            }
            if (ccg_error_reason() != want) {
                fail_msg("byte %zu bit %d flipped: expected %s, got %s (%s)", i, bit, ccg_reason_code(want),
                         ccg_reason_code(ccg_error_reason()), ccg_error_last()->message);
            }
            assert_null(out.data);
        }
    }
    /* a blob that names the other backend says so */
    memcpy(t, blob, blob_len);
    t[5] = CCG_KEYSTORE_PKCS11;
    unwrap_fails(ks, NULL, t, blob_len, AAD, AAD_LEN, CCG_R_KMS_UNWRAP_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "pkcs11"));
    /* truncation and trailing bytes */
    unwrap_fails(ks, NULL, blob, blob_len - 1, AAD, AAD_LEN, CCG_R_INPUT_TRUNCATED);
    unwrap_fails(ks, NULL, blob, 10, AAD, AAD_LEN, CCG_R_INPUT_TRUNCATED);
    unwrap_fails(ks, NULL, blob, 0, AAD, AAD_LEN, CCG_R_INPUT_TRUNCATED);
    uint8_t *longer = malloc(blob_len + 1);
    assert_non_null(longer);
    memcpy(longer, blob, blob_len);
    longer[blob_len] = 0;
    unwrap_fails(ks, NULL, longer, blob_len + 1, AAD, AAD_LEN, CCG_R_INPUT_TRAILING_BYTES);
    free(longer);
    free(t);
    free(blob);
    ccg_secbuf_free(&key);
    ccg_keystore_close(ks);
}

static void unknown_version_is_refused(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_secbuf key;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&key, 32, 3);
    wrap_ok(ks, &key, &blob, &blob_len);
    blob[4] = 2;
    unwrap_fails(ks, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_INPUT_MALFORMED);
    assert_non_null(strstr(ccg_error_last()->message, "version 2 is not supported"));
    ccg_wrapped_key w;
    assert_true(ccg_failed(ccg_wrapped_key_parse(blob, blob_len, &w)));
    tu_assert_error_reason(CCG_R_INPUT_MALFORMED);
    blob[4] = 0;
    unwrap_fails(ks, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_INPUT_MALFORMED);
    free(blob);
    ccg_secbuf_free(&key);
    ccg_keystore_close(ks);
}

static void wrong_aad_is_refused(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_secbuf key;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&key, 32, 5);
    wrap_ok(ks, &key, &blob, &blob_len);
    static const uint8_t other_version[] = "model-key:llama-70b:v2";
    static const uint8_t other_key[] = "model-key:mistral-7b:v1";
    unwrap_fails(ks, NULL, blob, blob_len, other_version, sizeof(other_version) - 1, CCG_R_KMS_UNWRAP_FAILED);
    unwrap_fails(ks, NULL, blob, blob_len, other_key, sizeof(other_key) - 1, CCG_R_KMS_UNWRAP_FAILED);
    unwrap_fails(ks, NULL, blob, blob_len, AAD, AAD_LEN - 1, CCG_R_KMS_UNWRAP_FAILED);
    unwrap_fails(ks, NULL, blob, blob_len, NULL, 0, CCG_R_KMS_UNWRAP_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "tag does not verify"));
    free(blob);
    ccg_secbuf_free(&key);
    ccg_keystore_close(ks);
}

/* A blob made under one KEK does not open under another, even with the same label. */
static void other_kek_is_refused(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_secbuf key;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&key, 32, 6);
    wrap_ok(ks, &key, &blob, &blob_len);

    char other_config[1024];
    snprintf(other_config, sizeof(other_config), "{\"backend\":\"file\",\"kek_file\":\"%s/kek2\"}", f->dir);
    ccg_keystore *other = open_ok(other_config);
    assert_true(ccg_ok(ccg_keystore_create_kek(other, CCG_KEYSTORE_DEFAULT_KEK_LABEL)));
    unwrap_fails(other, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_KMS_UNWRAP_FAILED);

    /* a label this keystore does not hold: wrapping finds no KEK; unwrapping sees the blob names
     * another label before any KEK is asked */
    uint8_t *none = NULL;
    size_t none_len = 0;
    assert_true(ccg_failed(ccg_keystore_wrap(ks, "another-kek", &key, AAD, AAD_LEN, &none, &none_len)));
    tu_assert_error_reason(CCG_R_KMS_KEY_NOT_FOUND);
    assert_null(none);
    unwrap_fails(ks, "another-kek", blob, blob_len, AAD, AAD_LEN, CCG_R_KMS_UNWRAP_FAILED);
    ccg_secbuf_free(&key);
    free(blob);
    blob = NULL;

    /* the same KEK file under another label: the label is bound into the blob */
    char relabelled[1024];
    snprintf(relabelled, sizeof(relabelled), "{\"backend\":\"file\",\"kek_file\":\"%s\",\"kek_label\":\"renamed\"}",
             f->kek);
    ccg_keystore *renamed = open_ok(relabelled);
    make_key(&key, 32, 7);
    wrap_ok(ks, &key, &blob, &blob_len);
    unwrap_fails(renamed, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_KMS_UNWRAP_FAILED);
    assert_non_null(strstr(ccg_error_last()->message, "another KEK"));

    ccg_keystore_close(renamed);
    ccg_keystore_close(other);
    ccg_keystore_close(ks);
    free(blob);
    ccg_secbuf_free(&key);
}

static void create_kek_never_replaces(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    uint8_t *before = NULL, *after = NULL;
    size_t before_len = 0, after_len = 0;
    assert_true(ccg_ok(ccg_file_read(f->kek, 64, &before, &before_len)));
    assert_true(ccg_failed(ccg_keystore_create_kek(ks, NULL)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_non_null(strstr(ccg_error_last()->message, "already exists"));
    assert_true(ccg_failed(ccg_keystore_create_kek(ks, "some-other-label")));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_true(ccg_ok(ccg_file_read(f->kek, 64, &after, &after_len)));
    assert_int_equal(before_len, 32);
    assert_int_equal(after_len, 32);
    assert_memory_equal(before, after, 32);
    /* no temporary file is left behind: the directory holds the KEK only */
    DIR *d = opendir(f->dir);
    assert_non_null(d);
    int entries = 0;
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            assert_string_equal(e->d_name, "kek");
            entries++;
        }
    }
    closedir(d);
    assert_int_equal(entries, 1);
    free(before);
    free(after);
    ccg_keystore_close(ks);
}

static void write_kek_file(const char *path, size_t len, mode_t mode)
{
    uint8_t buf[64];
    memset(buf, 0x42, sizeof(buf));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void kek_file_mode_is_checked(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_ok(f->config);
    ccg_secbuf key;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&key, 32, 8);

    write_kek_file(f->kek, 32, 0644);
    assert_true(ccg_failed(ccg_keystore_wrap(ks, NULL, &key, AAD, AAD_LEN, &blob, &blob_len)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_non_null(strstr(ccg_error_last()->message, "0644"));
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);

    const mode_t refused[] = {0640, 0604, 0660, 0601, 0610};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        assert_int_equal(chmod(f->kek, refused[i]), 0);
        assert_true(ccg_failed(ccg_keystore_health(ks)));
        tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    }
    /* 0400 is stricter than 0600: accepted */
    assert_int_equal(chmod(f->kek, 0400), 0);
    assert_true(ccg_ok(ccg_keystore_health(ks)));
    assert_true(ccg_ok(ccg_keystore_wrap(ks, NULL, &key, AAD, AAD_LEN, &blob, &blob_len)));
    free(blob);
    ccg_keystore_close(ks);

    /* wrong size */
    ks = open_ok(f->config);
    assert_int_equal(unlink(f->kek), 0);
    write_kek_file(f->kek, 31, 0600);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_int_equal(unlink(f->kek), 0);
    write_kek_file(f->kek, 33, 0600);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_int_equal(unlink(f->kek), 0);

    /* not a regular file */
    assert_int_equal(mkdir(f->kek, 0700), 0);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_int_equal(rmdir(f->kek), 0);

    /* owned by another user (only root can arrange this) */
    if (geteuid() == 0) {
        write_kek_file(f->kek, 32, 0600);
        assert_int_equal(chown(f->kek, 65534, 65534), 0);
        assert_true(ccg_failed(ccg_keystore_health(ks)));
        tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
        assert_non_null(strstr(ccg_error_last()->message, "owned by uid 65534"));
    } else {
        tu_skip_part_or_fail("a KEK file owned by another user needs root to arrange");
    }
    ccg_keystore_close(ks);
    ccg_secbuf_free(&key);
}

static void missing_kek_file_is_unavailable(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_ok(f->config); /* opening does not need the file */
    ccg_secbuf key, out;
    uint8_t *blob = NULL;
    size_t blob_len = 0;
    make_key(&key, 32, 2);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_UNAVAILABLE);
    assert_non_null(strstr(ccg_error_last()->message, "No such file"));
    assert_true(ccg_failed(ccg_keystore_wrap(ks, NULL, &key, AAD, AAD_LEN, &blob, &blob_len)));
    tu_assert_error_reason(CCG_R_KMS_UNAVAILABLE);
    assert_null(blob);

    /* a blob made elsewhere cannot be opened while the KEK file is missing */
    ccg_keystore *maker = open_with_kek(f);
    wrap_ok(maker, &key, &blob, &blob_len);
    ccg_keystore_close(maker);
    char moved[400];
    snprintf(moved, sizeof(moved), "%s.moved", f->kek);
    assert_int_equal(rename(f->kek, moved), 0);
    ccg_keystore *late = open_ok(f->config);
    memset(&out, 0, sizeof(out));
    unwrap_fails(late, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_KMS_UNAVAILABLE);
    /* the file is back: the same keystore recovers */
    assert_int_equal(rename(moved, f->kek), 0);
    assert_true(ccg_ok(ccg_keystore_unwrap(late, NULL, blob, blob_len, AAD, AAD_LEN, &out)));
    assert_memory_equal(out.data, key.data, 32);
    ccg_secbuf_free(&out);
    ccg_keystore_close(late);
    ccg_keystore_close(ks);
    free(blob);
    ccg_secbuf_free(&key);
}

/* Copies src to dst (mode 0600), as an operator restoring a backup would: a new inode, new times. */
static void copy_file(const char *src, const char *dst)
{
    uint8_t buf[64];
    FILE *in = fopen(src, "rb");
    assert_non_null(in);
    size_t n = fread(buf, 1, sizeof(buf), in);
    fclose(in);
    int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, n), (ssize_t)n);
    close(fd);
}

/* A loaded KEK is watched: the file moved away is kms.kek_missing, other bytes in its place are
 * kms.kek_changed, a mode gone wrong is kms.config_invalid, for health, wrap and unwrap alike; the
 * original back (a copy, so a new inode) serves again. The loaded KEK is never replaced by the file's
 * new bytes. */
static void loaded_kek_is_watched(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_secbuf key, out;
    uint8_t *blob = NULL, *blob2 = NULL;
    size_t blob_len = 0, blob2_len = 0;
    char aside[400];
    make_key(&key, 32, 9);
    wrap_ok(ks, &key, &blob, &blob_len);
    assert_true(ccg_ok(ccg_keystore_health(ks)));
    snprintf(aside, sizeof(aside), "%s.aside", f->kek);
    assert_int_equal(rename(f->kek, aside), 0);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_KEK_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, f->kek));
    unwrap_fails(ks, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_KMS_KEK_MISSING);
    assert_true(ccg_failed(ccg_keystore_wrap(ks, NULL, &key, AAD, AAD_LEN, &blob2, &blob2_len)));
    tu_assert_error_reason(CCG_R_KMS_KEK_MISSING);
    assert_null(blob2);

    /* another KEK in its place */
    write_kek_file(f->kek, 32, 0600);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_KEK_CHANGED);
    unwrap_fails(ks, NULL, blob, blob_len, AAD, AAD_LEN, CCG_R_KMS_KEK_CHANGED);
    assert_true(ccg_failed(ccg_keystore_wrap(ks, NULL, &key, AAD, AAD_LEN, &blob2, &blob2_len)));
    tu_assert_error_reason(CCG_R_KMS_KEK_CHANGED);

    /* the original back, as a copy */
    assert_int_equal(unlink(f->kek), 0);
    copy_file(aside, f->kek);
    assert_true(ccg_ok(ccg_keystore_health(ks)));
    assert_true(ccg_ok(ccg_keystore_unwrap(ks, NULL, blob, blob_len, AAD, AAD_LEN, &out)));
    assert_memory_equal(out.data, key.data, 32);
    ccg_secbuf_free(&out);

    /* a mode gone wrong is noticed too, and fixing it recovers */
    assert_int_equal(chmod(f->kek, 0644), 0);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    assert_int_equal(chmod(f->kek, 0600), 0);
    assert_true(ccg_ok(ccg_keystore_health(ks)));
    /* a truncated file */
    assert_int_equal(truncate(f->kek, 16), 0);
    assert_true(ccg_failed(ccg_keystore_health(ks)));
    tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
    ccg_keystore_close(ks);
    free(blob);
    ccg_secbuf_free(&key);
}

/* KEK rotation: a keystore whose "previous" names the old KEK opens blobs wrapped under it (given its
 * label, or none: the blob's header says which), wraps only under its own, and is not ready while the
 * previous KEK is unusable. */
static void previous_kek_opens_what_is_not_rewrapped(void **state)
{
    fixture *f = *state;
    ccg_keystore *old_ks = open_with_kek(f), *new_ks = NULL, *both = NULL;
    ccg_secbuf key, out;
    uint8_t *old_blob = NULL, *new_blob = NULL;
    size_t old_len = 0, new_len = 0;
    char cfg_new[1200], cfg_both[2400], aside[400];
    make_key(&key, 32, 5);
    wrap_ok(old_ks, &key, &old_blob, &old_len);
    snprintf(cfg_new, sizeof(cfg_new), "{\"backend\":\"file\",\"kek_file\":\"%s/kek2\",\"kek_label\":\"kek-2\"}", f->dir);
    new_ks = open_ok(cfg_new);
    assert_true(ccg_ok(ccg_keystore_create_kek(new_ks, NULL)));
    snprintf(cfg_both, sizeof(cfg_both),
             "{\"backend\":\"file\",\"kek_file\":\"%s/kek2\",\"kek_label\":\"kek-2\",\"previous\":%s}", f->dir,
             f->config);
    both = open_ok(cfg_both);
    assert_true(ccg_ok(ccg_keystore_health(both)));
    assert_true(ccg_ok(ccg_keystore_unwrap(both, "ccgate-kek", old_blob, old_len, AAD, AAD_LEN, &out)));
    assert_memory_equal(out.data, key.data, 32);
    ccg_secbuf_free(&out);
    assert_true(ccg_ok(ccg_keystore_unwrap(both, NULL, old_blob, old_len, AAD, AAD_LEN, &out)));
    ccg_secbuf_free(&out);
    /* a label that is neither */
    unwrap_fails(both, "kek-9", old_blob, old_len, AAD, AAD_LEN, CCG_R_KMS_UNWRAP_FAILED);
    /* wraps go under the new KEK only: the old keystore cannot open them, the new one alone can */
    wrap_ok(both, &key, &new_blob, &new_len);
    unwrap_fails(old_ks, NULL, new_blob, new_len, AAD, AAD_LEN, CCG_R_KMS_UNWRAP_FAILED);
    assert_true(ccg_ok(ccg_keystore_unwrap(new_ks, NULL, new_blob, new_len, AAD, AAD_LEN, &out)));
    ccg_secbuf_free(&out);
    /* the previous KEK gone: not ready, and its blobs fail with its reason */
    snprintf(aside, sizeof(aside), "%s.aside", f->kek);
    assert_int_equal(rename(f->kek, aside), 0);
    assert_true(ccg_failed(ccg_keystore_health(both)));
    tu_assert_error_reason(CCG_R_KMS_KEK_MISSING);
    assert_non_null(strstr(ccg_error_last()->message, "previous KEK \"ccgate-kek\""));
    unwrap_fails(both, NULL, old_blob, old_len, AAD, AAD_LEN, CCG_R_KMS_KEK_MISSING);
    assert_true(ccg_ok(ccg_keystore_unwrap(both, NULL, new_blob, new_len, AAD, AAD_LEN, &out)));
    ccg_secbuf_free(&out);
    assert_int_equal(rename(aside, f->kek), 0);
    assert_true(ccg_ok(ccg_keystore_health(both)));
    ccg_keystore_close(both);
    ccg_keystore_close(new_ks);
    ccg_keystore_close(old_ks);
    free(old_blob);
    free(new_blob);
    ccg_secbuf_free(&key);
}

static void config_is_strict(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "not json",
        "{\"backend\":\"vault\"}",
        "{\"backend\":7}",
        "{\"backend\":\"file\"}",
        "{\"backend\":\"file\",\"kek_file\":\"relative/kek\"}",
        "{\"backend\":\"file\",\"kek_file\":\"\"}",
        "{\"backend\":\"file\",\"kek_file\":5}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"colour\":\"blue\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"module\":\"/m.so\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"kek_file\":\"/j\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"kek_label\":\"tab\\there\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"kek_label\":\"\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"allow_unlocked_memory\":\"yes\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"previous\":{\"backend\":\"file\",\"kek_file\":\"/j\"}}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"kek_label\":\"b\",\"previous\":{\"backend\":\"file\","
        "\"kek_file\":\"/j\",\"previous\":{\"backend\":\"file\",\"kek_file\":\"/i\",\"kek_label\":\"c\"}}}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"kek_label\":\"b\",\"previous\":\"/j\"}",
        "{\"backend\":\"file\",\"kek_file\":\"/k\",\"kek_label\":\"b\",\"previous\":{\"backend\":\"file\"}}",
        "{\"backend\":\"pkcs11\",\"module\":\"/m.so\",\"token_label\":\"t\"}",
        "{\"backend\":\"pkcs11\",\"module\":\"/m.so\",\"token_label\":\"t\",\"pin_file\":\"/p\",\"pin_env\":\"P\"}",
        "{\"backend\":\"pkcs11\",\"module\":\"m.so\",\"token_label\":\"t\",\"pin_env\":\"P\"}",
        "{\"backend\":\"pkcs11\",\"module\":\"/m.so\",\"token_label\":\"t\",\"pin_env\":\"1P\"}",
        ("{\"backend\":\"pkcs11\",\"module\":\"/m.so\",\"token_label\":\"123456789012345678901234567890123\","
         "\"pin_env\":\"P\"}"),
        "{\"backend\":\"pkcs11\",\"module\":\"/m.so\",\"token_label\":\"t\",\"pin_env\":\"P\",\"kek_file\":\"/k\"}",
        "{\"backend\":\"pkcs11\",\"module\":\"/m.so\",\"token_label\":\"t\",\"pin\":\"1234\"}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ccg_keystore_config cfg;
        ccg_error_clear();
        if (ccg_ok(ccg_keystore_config_parse(bad[i], &cfg))) {
            fail_msg("accepted: %s", bad[i]);
        }
        tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
        assert_null(cfg.kek_label);
        ccg_keystore *ks = NULL;
        assert_true(ccg_failed(ccg_keystore_open_json(bad[i], &ks)));
        tu_assert_error_reason(CCG_R_KMS_CONFIG_INVALID);
        assert_null(ks);
    }
    ccg_keystore_config cfg;
    assert_true(ccg_ok(ccg_keystore_config_parse(
        "{\"backend\":\"pkcs11\",\"module\":\"/usr/lib/softhsm/libsofthsm2.so\",\"token_label\":\"ccgate\","
        "\"pin_file\":\"/run/secrets/pin\",\"kek_label\":\"ccgate-kek\",\"allow_unlocked_memory\":true}",
        &cfg)));
    assert_int_equal(cfg.backend, CCG_KEYSTORE_PKCS11);
    assert_string_equal(cfg.module, "/usr/lib/softhsm/libsofthsm2.so");
    assert_string_equal(cfg.token_label, "ccgate");
    assert_string_equal(cfg.pin_file, "/run/secrets/pin");
    assert_null(cfg.pin_env);
    assert_null(cfg.kek_file);
    assert_true(cfg.allow_unlocked_memory);
    ccg_keystore_config_free(&cfg);
    assert_true(ccg_ok(ccg_keystore_config_parse("{\"backend\":\"file\",\"kek_file\":\"/var/lib/ccgate/kek\"}", &cfg)));
    assert_int_equal(cfg.backend, CCG_KEYSTORE_FILE);
    assert_string_equal(cfg.kek_label, CCG_KEYSTORE_DEFAULT_KEK_LABEL);
    assert_false(cfg.allow_unlocked_memory);
    ccg_keystore_config_free(&cfg);
    ccg_keystore_config_free(&cfg); /* twice is harmless */
}

typedef struct {
    ccg_keystore *ks;
    int failures;
    int index;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 40; i++) {
        ccg_secbuf key, out;
        uint8_t *blob = NULL;
        size_t blob_len = 0;
        uint8_t aad[16];
        int n = snprintf((char *)aad, sizeof(aad), "k%d:%d", w->index, i);
        if (ccg_failed(ccg_secbuf_alloc(&key, 32, 0))) {
            w->failures++;
            continue;
        }
        memset(key.data, w->index * 40 + i, key.len);
        if (ccg_failed(ccg_keystore_wrap(w->ks, NULL, &key, aad, (size_t)n, &blob, &blob_len)) ||
            ccg_failed(ccg_keystore_unwrap(w->ks, NULL, blob, blob_len, aad, (size_t)n, &out))) {
            w->failures++;
        } else {
            if (out.len != key.len || memcmp(out.data, key.data, key.len) != 0) {
                w->failures++;
            }
            ccg_secbuf_free(&out);
        }
        free(blob);
        ccg_secbuf_free(&key);
    }
    return NULL;
}

static void concurrent_use(void **state)
{
    fixture *f = *state;
    ccg_keystore *ks = open_with_kek(f);
    ccg_keystore_close(ks);
    ks = open_ok(f->config); /* the KEK is loaded by whichever thread comes first */
    pthread_t threads[4];
    worker workers[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (worker){.ks = ks, .failures = 0, .index = i};
        assert_int_equal(pthread_create(&threads[i], NULL, work, &workers[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(threads[i], NULL), 0);
        assert_int_equal(workers[i].failures, 0);
    }
    ccg_keystore_close(ks);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(key_sizes, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_blob_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_version_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_aad_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(other_kek_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(create_kek_never_replaces, setup, teardown),
        cmocka_unit_test_setup_teardown(kek_file_mode_is_checked, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_kek_file_is_unavailable, setup, teardown),
        cmocka_unit_test_setup_teardown(loaded_kek_is_watched, setup, teardown),
        cmocka_unit_test_setup_teardown(previous_kek_opens_what_is_not_rewrapped, setup, teardown),
        cmocka_unit_test(config_is_strict),
        cmocka_unit_test_setup_teardown(concurrent_use, setup, teardown),
    };
    return cmocka_run_group_tests_name("keystore_file", tests, NULL, NULL);
}
