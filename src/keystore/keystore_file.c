/* The file keystore, the embedded default: one KEK of 32 random bytes in a file only the service
 * user can read, and AES-256-GCM through OpenSSL's EVP interface.
 *
 * The KEK is read on first use into secret memory and kept there until close. Reading it checks
 * the opened file (fstat, so no check-then-open race): a regular file, owned by the effective uid,
 * no group or other permission bits, exactly 32 bytes. Anything else is kms.config_invalid; a file
 * that cannot be opened is kms.unavailable.
 *
 * Once loaded, the file is watched: before every use (wrap, unwrap, health) it is stat'ed, and when
 * its identity (device, inode, size, mtime, ctime) differs from the loaded one it is read and checked
 * again and its bytes compared with the loaded KEK in constant time. A file that is gone is
 * kms.kek_missing, other bytes are kms.kek_changed, a mode or owner gone wrong is kms.config_invalid;
 * the loaded KEK is never replaced, so putting the original file back recovers. */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "keystore_internal.h"

typedef struct {
    char *path;
    char *label;
    int allow_unlocked;
    pthread_mutex_t lock;
    ccg_secbuf kek; /* loaded when kek.data != NULL; immutable from then until close */
    struct stat seen; /* the identity of the file the KEK was loaded from (or last matched) */
} file_ks;

static ccg_result read_exact(int fd, uint8_t *buf, size_t n, const char *path)
{
    ccg_result result = CCG_FAILURE;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, buf + got, n - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(r >= 0, CCG_R_KMS_UNAVAILABLE, "cannot read KEK file %s: %s", path, strerror(errno));
        CCG_ENSURE_MSG(r > 0, CCG_R_KMS_CONFIG_INVALID, "KEK file %s is shorter than %u bytes", path,
                       CCG_KEYSTORE_KEK_LEN);
        got += (size_t)r;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Reads and checks the KEK file into a new secret buffer. */
static ccg_result load_kek(const file_ks *f, ccg_secbuf *kek, struct stat *seen)
{
    ccg_result result = CCG_FAILURE;
    int fd = -1;
    struct stat st;
    uint8_t extra = 0;
    memset(kek, 0, sizeof(*kek));
    fd = open(f->path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_KMS_UNAVAILABLE, "cannot open KEK file %s: %s%s", f->path, strerror(errno),
                   errno == ENOENT ? " (create it with the keystore's create_kek)" : "");
    CCG_ENSURE_MSG(fstat(fd, &st) == 0, CCG_R_KMS_UNAVAILABLE, "cannot stat KEK file %s: %s", f->path,
                   strerror(errno));
    CCG_ENSURE_MSG(S_ISREG(st.st_mode), CCG_R_KMS_CONFIG_INVALID, "KEK file %s is not a regular file", f->path);
    CCG_ENSURE_MSG(st.st_uid == geteuid(), CCG_R_KMS_CONFIG_INVALID,
                   "KEK file %s is owned by uid %ld, but the service runs as uid %ld", f->path, (long)st.st_uid,
                   (long)geteuid());
    CCG_ENSURE_MSG((st.st_mode & 077) == 0, CCG_R_KMS_CONFIG_INVALID,
                   "KEK file %s has mode %04o: group or others may access it (chmod 600)", f->path,
                   (unsigned)(st.st_mode & 07777));
    CCG_ENSURE_MSG(st.st_size == (off_t)CCG_KEYSTORE_KEK_LEN, CCG_R_KMS_CONFIG_INVALID,
                   "KEK file %s is %lld bytes, expected %u", f->path, (long long)st.st_size, CCG_KEYSTORE_KEK_LEN);
    CCG_TRY(ccg_secbuf_alloc(kek, CCG_KEYSTORE_KEK_LEN, f->allow_unlocked));
    CCG_TRY(read_exact(fd, kek->data, kek->len, f->path));
    CCG_ENSURE_MSG(read(fd, &extra, 1) == 0, CCG_R_KMS_CONFIG_INVALID, "KEK file %s is longer than %u bytes",
                   f->path, CCG_KEYSTORE_KEK_LEN);
    *seen = st;
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (ccg_failed(result)) {
        ccg_secbuf_free(kek);
    }
    return result;
}

static ccg_result check_label(const file_ks *f, const char *label)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(strcmp(label, f->label) == 0, CCG_R_KMS_KEY_NOT_FOUND,
                   "the file keystore holds one KEK, \"%s\", not \"%s\"", f->label, label);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec &&
           a->st_mode == b->st_mode && a->st_uid == b->st_uid;
}

/* The loaded KEK is still what the file holds (called with the lock held). A stat per use; the file
 * is read again only when its identity changed (copied back, touched, chmod'ed, replaced). */
static ccg_result watch_kek(file_ks *f)
{
    ccg_result result = CCG_FAILURE;
    struct stat st;
    ccg_secbuf now = {0};
    if (stat(f->path, &st) != 0) {
        CCG_ENSURE_MSG(errno != ENOENT && errno != ENOTDIR, CCG_R_KMS_KEK_MISSING,
                       "KEK file %s is gone (removed or moved away since it was loaded): %s; put it back", f->path,
                       strerror(errno));
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE, "cannot stat KEK file %s: %s", f->path, strerror(errno));
    }
    if (same_file(&st, &f->seen)) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    if (ccg_failed(load_kek(f, &now, &st))) {
        /* removed between stat and open */
        CCG_ENSURE_MSG(access(f->path, F_OK) == 0 || errno != ENOENT, CCG_R_KMS_KEK_MISSING,
                       "KEK file %s is gone (removed or moved away since it was loaded); put it back", f->path);
        goto cleanup;
    }
    CCG_ENSURE_MSG(CRYPTO_memcmp(now.data, f->kek.data, CCG_KEYSTORE_KEK_LEN) == 0, CCG_R_KMS_KEK_CHANGED,
                   "KEK file %s holds another KEK than the one loaded at first use; nothing is wrapped or unwrapped "
                   "until the original file is back",
                   f->path);
    f->seen = st;
    result = CCG_SUCCESS;
cleanup:
    ccg_secbuf_free(&now);
    return result;
}

/* The KEK, loading it on first use and checking the file still holds it on every later use. */
static ccg_result get_kek(file_ks *f, const char *label, const uint8_t **kek)
{
    ccg_result result = CCG_FAILURE;
    int locked = 0;
    CCG_TRY(check_label(f, label));
    CCG_ENSURE(pthread_mutex_lock(&f->lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    if (f->kek.data == NULL) {
        CCG_TRY(load_kek(f, &f->kek, &f->seen));
    } else {
        CCG_TRY(watch_kek(f));
    }
    *kek = f->kek.data;
    result = CCG_SUCCESS;
cleanup:
    if (locked) {
        pthread_mutex_unlock(&f->lock);
    }
    return result;
}

static ccg_result file_seal(void *impl, const char *label, const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN],
                            const uint8_t *aad, size_t aad_len, const ccg_secbuf *pt, uint8_t *out)
{
    ccg_result result = CCG_FAILURE;
    file_ks *f = impl;
    const uint8_t *kek = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    int n = 0, fin = 0;
    CCG_TRY(get_kek(f, label, &kek));
    ctx = EVP_CIPHER_CTX_new();
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CCG_KEYSTORE_NONCE_LEN, NULL) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_EncryptInit_ex(ctx, NULL, NULL, kek, nonce) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_EncryptUpdate(ctx, out, &n, pt->data, (int)pt->len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_EncryptFinal_ex(ctx, out + n, &fin) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE((size_t)n + (size_t)fin == pt->len, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, CCG_KEYSTORE_TAG_LEN, out + pt->len) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(ctx); /* cleanses the key schedule */
    return result;
}

static ccg_result file_open_blob(void *impl, const char *label, const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN],
                                 const uint8_t *aad, size_t aad_len, const uint8_t *ct_tag, size_t ct_len,
                                 ccg_secbuf *pt)
{
    ccg_result result = CCG_FAILURE;
    file_ks *f = impl;
    const uint8_t *kek = NULL;
    EVP_CIPHER_CTX *ctx = NULL;
    uint8_t tag[CCG_KEYSTORE_TAG_LEN];
    int n = 0, fin = 0;
    memset(pt, 0, sizeof(*pt));
    CCG_TRY(get_kek(f, label, &kek));
    CCG_TRY(ccg_secbuf_alloc(pt, ct_len, f->allow_unlocked));
    memcpy(tag, ct_tag + ct_len, sizeof(tag));
    ctx = EVP_CIPHER_CTX_new();
    CCG_ENSURE_ALLOC(ctx);
    CCG_ENSURE_OSSL(EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, CCG_KEYSTORE_NONCE_LEN, NULL) == 1,
                    CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DecryptInit_ex(ctx, NULL, NULL, kek, nonce) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_DecryptUpdate(ctx, pt->data, &n, ct_tag, (int)ct_len) == 1, CCG_R_INTERNAL_CRYPTO);
    CCG_ENSURE_OSSL(EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, sizeof(tag), tag) == 1, CCG_R_INTERNAL_CRYPTO);
    if (EVP_DecryptFinal_ex(ctx, pt->data + n, &fin) != 1) {
        ERR_clear_error();
        CCG_BAIL(CCG_R_KMS_UNWRAP_FAILED,
                 "the GCM tag does not verify under KEK \"%s\" (wrong KEK, wrong key ID/version, or a tampered "
                 "wrapped key)",
                 label);
    }
    CCG_ENSURE((size_t)n + (size_t)fin == ct_len, CCG_R_INTERNAL_CRYPTO);
    result = CCG_SUCCESS;
cleanup:
    EVP_CIPHER_CTX_free(ctx);
    if (ccg_failed(result)) {
        ccg_secbuf_free(pt); /* zeroes whatever was decrypted before the tag failed */
    }
    return result;
}

static ccg_result file_health(void *impl, const char *label)
{
    const uint8_t *kek = NULL;
    return get_kek(impl, label, &kek);
}

/* fsync of the directory that holds path, so a new link survives a crash. */
static ccg_result sync_parent_dir(const char *path)
{
    ccg_result result = CCG_FAILURE;
    char *copy = strdup(path);
    int dfd = -1;
    CCG_ENSURE_ALLOC(copy);
    dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    CCG_ENSURE_MSG(dfd >= 0 && fsync(dfd) == 0, CCG_R_IO_WRITE_FAILED, "cannot sync the directory of %s: %s", path,
                   strerror(errno));
    result = CCG_SUCCESS;
cleanup:
    if (dfd >= 0) {
        close(dfd);
    }
    free(copy);
    return result;
}

/* Writes 32 fresh random bytes to a new temporary file (O_EXCL, 0600), syncs it and links it to
 * the KEK path. link() never replaces an existing file, so an existing KEK survives, and a crash
 * leaves either no KEK or a whole one. */
static ccg_result file_create_kek(void *impl, const char *label)
{
    ccg_result result = CCG_FAILURE;
    file_ks *f = impl;
    ccg_secbuf kek = {0};
    char tmp[4200];
    uint32_t suffix = 0;
    int fd = -1, tmp_made = 0;
    struct stat st;
    size_t done = 0;
    CCG_ENSURE_MSG(strcmp(label, f->label) == 0, CCG_R_KMS_CONFIG_INVALID,
                   "the file keystore holds one KEK, \"%s\"; it cannot create \"%s\"", f->label, label);
    if (lstat(f->path, &st) == 0) {
        CCG_BAIL(CCG_R_KMS_CONFIG_INVALID, "KEK file %s already exists; refusing to replace a KEK", f->path);
    }
    CCG_ENSURE_MSG(errno == ENOENT, CCG_R_IO_WRITE_FAILED, "cannot stat %s: %s", f->path, strerror(errno));
    CCG_ENSURE_OSSL(RAND_bytes((uint8_t *)&suffix, sizeof(suffix)) == 1, CCG_R_INTERNAL_CRYPTO);
    int n = snprintf(tmp, sizeof(tmp), "%s.tmp-%ld-%08x", f->path, (long)getpid(), suffix);
    CCG_ENSURE_MSG(n > 0 && (size_t)n < sizeof(tmp), CCG_R_KMS_CONFIG_INVALID, "KEK path is too long");
    CCG_TRY(ccg_secbuf_alloc(&kek, CCG_KEYSTORE_KEK_LEN, f->allow_unlocked));
    CCG_ENSURE_OSSL(RAND_priv_bytes(kek.data, (int)kek.len) == 1, CCG_R_INTERNAL_CRYPTO);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_IO_WRITE_FAILED, "cannot create %s: %s", tmp, strerror(errno));
    tmp_made = 1;
    CCG_ENSURE_MSG(fchmod(fd, 0600) == 0, CCG_R_IO_WRITE_FAILED, "cannot chmod %s: %s", tmp, strerror(errno));
    while (done < kek.len) {
        ssize_t w = write(fd, kek.data + done, kek.len - done);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(w > 0, CCG_R_IO_WRITE_FAILED, "cannot write %s: %s", tmp, strerror(errno));
        done += (size_t)w;
    }
    CCG_ENSURE_MSG(fsync(fd) == 0, CCG_R_IO_WRITE_FAILED, "cannot sync %s: %s", tmp, strerror(errno));
    CCG_ENSURE_MSG(close(fd) == 0, CCG_R_IO_WRITE_FAILED, "cannot close %s: %s", tmp, strerror(errno));
    fd = -1;
    if (link(tmp, f->path) != 0) {
        CCG_BAIL(errno == EEXIST ? CCG_R_KMS_CONFIG_INVALID : CCG_R_IO_WRITE_FAILED, "cannot link %s: %s%s", f->path,
                 strerror(errno), errno == EEXIST ? "; refusing to replace a KEK" : "");
    }
    CCG_TRY(sync_parent_dir(f->path));
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp_made) {
        unlink(tmp);
    }
    ccg_secbuf_free(&kek);
    return result;
}

static void file_close(void *impl)
{
    file_ks *f = impl;
    if (f == NULL) {
        return;
    }
    ccg_secbuf_free(&f->kek);
    pthread_mutex_destroy(&f->lock);
    free(f->path);
    free(f->label);
    free(f);
}

static const ccg_ks_ops file_ops = {
    .create_kek = file_create_kek,
    .seal = file_seal,
    .open = file_open_blob,
    .health = file_health,
    .close = file_close,
};

ccg_result ccg_ks_file_open(const ccg_keystore_config *cfg, const ccg_ks_ops **ops, void **impl)
{
    ccg_result result = CCG_FAILURE;
    file_ks *f = NULL;
    CCG_ENSURE_MSG(cfg->kek_file != NULL && cfg->kek_file[0] == '/', CCG_R_KMS_CONFIG_INVALID,
                   "the file keystore needs an absolute kek_file");
    f = calloc(1, sizeof(*f));
    CCG_ENSURE_ALLOC(f);
    CCG_ENSURE(pthread_mutex_init(&f->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    f->allow_unlocked = cfg->allow_unlocked_memory;
    f->path = strdup(cfg->kek_file);
    f->label = strdup(cfg->kek_label);
    CCG_ENSURE_ALLOC(f->path);
    CCG_ENSURE_ALLOC(f->label);
    *ops = &file_ops;
    *impl = f;
    f = NULL;
    result = CCG_SUCCESS;
cleanup:
    file_close(f);
    return result;
}
