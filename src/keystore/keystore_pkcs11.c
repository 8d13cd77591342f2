/* The PKCS#11 keystore: a non-extractable AES-256 KEK inside an HSM token.
 *
 * The module is dlopen'ed from the configured absolute path and initialised once per process with
 * CKF_OS_LOCKING_OK; keystores that load the same module (by any path: the dlopen handle tells)
 * share it, and the last one to close finalises it. Each keystore holds one read-write session,
 * logged in as the user, behind a mutex.
 * Wrapping is CKM_AES_GCM through C_Encrypt/C_Decrypt (12-byte nonce, 128-bit tag, the blob header
 * and the caller's key ID as additional data); the plaintext comes out of C_Decrypt straight into
 * secret memory. The KEK is looked up by label on every call and its attributes are checked
 * (AES, 32 bytes, token, sensitive, not extractable), so a re-created or replaced KEK is noticed.
 *
 * When a call fails because the session is gone (token removed or re-initialised, device error,
 * logged out), the keystore reconnects once: it finds the token by label again, opens a session and
 * logs in, then repeats the call. If the token is still not found, and this process initialised the
 * module, the module is re-initialised (C_Finalize, C_Initialize: SoftHSM2 reads its token directory
 * only there) and the keystore connects once more, so a token that came back is served again without
 * a restart. The re-initialisation holds the module's lock exclusively (every call on a session holds
 * it shared, so no session of any keystore on the module is in use or kept across it), happens once
 * for all the callers that saw the same failure (a generation counter), and at most once a second.
 * If that fails too, both failures are reported. Every PKCS#11 failure names its return value
 * (CKR_...) in the message. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "keystore_internal.h"

/* Last: in its default compatibility mode p11-kit's header #defines lowercase names such as
 * `value`, `count`, `reserved`, `aad_len` and `iv_len`, so this file avoids those identifiers. */
#include <p11-kit/pkcs11.h>

#ifndef CKR_AEAD_DECRYPT_FAILED
#define CKR_AEAD_DECRYPT_FAILED 0x35UL
#endif

#define TOKEN_LABEL_BYTES 32 /* CK_TOKEN_INFO.label: UTF-8, blank-padded */

/* ---- modules, shared per process ---- */

typedef struct p11_module {
    struct p11_module *next;
    char *path;
    void *dl;
    CK_FUNCTION_LIST_PTR fl;
    unsigned refs;
    int initialized_here; /* 0 when someone else in the process had already called C_Initialize */
    /* Shared by every call that uses a session of this module, exclusive for a re-initialisation. */
    pthread_rwlock_t rw;
    /* Guarded by rw (written under it exclusively): */
    unsigned long generation;  /* bumped by every re-initialisation: older sessions are gone */
    int live;                  /* 0 after a re-initialisation whose C_Initialize failed */
    CK_RV init_rv;             /* what that C_Initialize returned */
    struct timespec last_reinit;
} p11_module;

/* The least time between two re-initialisations of a module, so a long outage probed by every
 * request does not finalise and initialise the module for each one. */
#define REINIT_MIN_INTERVAL_NS 1000000000LL

static pthread_mutex_t modules_lock = PTHREAD_MUTEX_INITIALIZER;
static p11_module *modules;

/* Writers first: a re-initialisation waiting for the lock must not starve behind a stream of calls. */
static int rwlock_init(pthread_rwlock_t *rw)
{
    pthread_rwlockattr_t attr;
    int rc;
    if (pthread_rwlockattr_init(&attr) != 0) {
        return -1;
    }
    (void)pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    rc = pthread_rwlock_init(rw, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc;
}

/* The module loaded already, with refs taken, or NULL. A path names it when it is the one the module
 * was loaded by, and so does a handle: dlopen returns one handle per loaded object, whatever path
 * led to it (on Debian /usr/lib/softhsm/libsofthsm2.so is a symlink to the multiarch copy). Two
 * entries for one library would each take it for their own: one finalising or re-initialising it
 * while calls of the other are in flight under the other entry's lock. Called with modules_lock. */
static p11_module *module_loaded(const char *path, const void *dl)
{
    for (p11_module *it = modules; it != NULL; it = it->next) {
        if ((path != NULL && strcmp(it->path, path) == 0) || (dl != NULL && it->dl == dl)) {
            it->refs++;
            return it;
        }
    }
    return NULL;
}

static ccg_result module_acquire(const char *path, p11_module **out)
{
    ccg_result result = CCG_FAILURE;
    p11_module *m = NULL;
    void *dl = NULL;
    int locked = 0;
    CK_RV rv = CKR_OK;
    CK_C_INITIALIZE_ARGS init;
    CCG_ENSURE(pthread_mutex_lock(&modules_lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    *out = module_loaded(path, NULL);
    if (*out != NULL) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    (void)dlerror();
    dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (dl == NULL) {
        const char *why = dlerror();
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE, "cannot load the PKCS#11 module (CKR_LIBRARY_LOAD_FAILED): %s",
                 why != NULL ? why : path);
    }
    *out = module_loaded(NULL, dl);
    if (*out != NULL) {
        result = CCG_SUCCESS; /* the same library by another path: cleanup drops this extra reference */
        goto cleanup;
    }
    m = calloc(1, sizeof(*m));
    CCG_ENSURE_ALLOC(m);
    CCG_ENSURE(rwlock_init(&m->rw) == 0, CCG_R_INTERNAL_ERROR);
    m->generation = 1;
    m->path = strdup(path);
    CCG_ENSURE_ALLOC(m->path);
    m->dl = dl;
    dl = NULL;
    void *sym = dlsym(m->dl, "C_GetFunctionList");
    CCG_ENSURE_MSG(sym != NULL, CCG_R_KMS_UNAVAILABLE,
                   "%s is not a PKCS#11 module: it has no C_GetFunctionList (CKR_LIBRARY_LOAD_FAILED)", path);
    CK_C_GetFunctionList get_function_list = (CK_C_GetFunctionList)sym;
    rv = get_function_list(&m->fl);
    CCG_ENSURE_MSG(rv == CKR_OK && m->fl != NULL, CCG_R_KMS_UNAVAILABLE, "C_GetFunctionList of %s: %s", path,
                   ccg_pkcs11_rv_name(rv));
    memset(&init, 0, sizeof(init));
    init.flags = CKF_OS_LOCKING_OK;
    rv = m->fl->C_Initialize(&init);
    CCG_ENSURE_MSG(rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED, CCG_R_KMS_UNAVAILABLE,
                   "C_Initialize of %s: %s", path, ccg_pkcs11_rv_name(rv));
    m->initialized_here = rv == CKR_OK;
    m->live = 1;
    m->refs = 1;
    m->next = modules;
    modules = m;
    *out = m;
    m = NULL;
    result = CCG_SUCCESS;
cleanup:
    if (dl != NULL) {
        dlclose(dl);
    }
    if (m != NULL) {
        if (m->dl != NULL) {
            dlclose(m->dl);
        }
        pthread_rwlock_destroy(&m->rw);
        free(m->path);
        free(m);
    }
    if (locked) {
        pthread_mutex_unlock(&modules_lock);
    }
    return result;
}

static void module_release(p11_module *m)
{
    if (m == NULL || pthread_mutex_lock(&modules_lock) != 0) {
        return;
    }
    if (--m->refs == 0) {
        for (p11_module **it = &modules; *it != NULL; it = &(*it)->next) {
            if (*it == m) {
                *it = m->next;
                break;
            }
        }
        if (m->initialized_here && m->live) {
            (void)m->fl->C_Finalize(NULL);
        }
        dlclose(m->dl);
        pthread_rwlock_destroy(&m->rw);
        free(m->path);
        free(m);
    }
    pthread_mutex_unlock(&modules_lock);
}

/* Re-initialises the module (C_Finalize, C_Initialize) so that it looks for its tokens again; every
 * session of it is gone afterwards. Called without holding m->rw. Nothing is done when another
 * caller already re-initialised it since generation `seen` (they saw the same outage), when the last
 * re-initialisation is under REINIT_MIN_INTERVAL_NS old, or when the module was initialised by
 * someone else in the process (finalising it would pull it from under them). */
static void module_reinit(p11_module *m, unsigned long seen)
{
    struct timespec now;
    CK_C_INITIALIZE_ARGS init;
    if (!m->initialized_here || pthread_rwlock_wrlock(&m->rw) != 0) {
        return;
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long since = (long long)(now.tv_sec - m->last_reinit.tv_sec) * 1000000000LL +
                      (now.tv_nsec - m->last_reinit.tv_nsec);
    if (m->generation == seen && (m->last_reinit.tv_sec == 0 || since >= REINIT_MIN_INTERVAL_NS)) {
        if (m->live) {
            (void)m->fl->C_Finalize(NULL);
        }
        memset(&init, 0, sizeof(init));
        init.flags = CKF_OS_LOCKING_OK;
        CK_RV rv = m->fl->C_Initialize(&init);
        m->live = rv == CKR_OK || rv == CKR_CRYPTOKI_ALREADY_INITIALIZED;
        m->init_rv = rv;
        m->generation++;
        m->last_reinit = now;
    }
    pthread_rwlock_unlock(&m->rw);
}

/* ---- one keystore ---- */

typedef struct {
    p11_module *mod;
    char *module_path;
    char *token_label;
    int allow_unlocked;
    ccg_secbuf pin;
    pthread_mutex_t lock; /* guards everything below */
    int connected;
    unsigned long generation; /* the module generation the session was opened in */
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE session;
} p11_ks;

/* Which kms reason a failed call maps to. A decryption that the token refuses means the blob or the
 * KEK is wrong; everything about reaching the token, its session or login means the HSM is
 * unavailable. */
static ccg_reason classify(CK_RV rv, int decrypting)
{
    switch (rv) {
    case CKR_ENCRYPTED_DATA_INVALID:
    case CKR_ENCRYPTED_DATA_LEN_RANGE:
    case CKR_AEAD_DECRYPT_FAILED:
        return decrypting ? CCG_R_KMS_UNWRAP_FAILED : CCG_R_KMS_UNAVAILABLE;
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
        return CCG_R_KMS_KEY_NOT_FOUND;
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
    case CKR_KEY_SIZE_RANGE:
        return CCG_R_KMS_CONFIG_INVALID;
    default:
        return CCG_R_KMS_UNAVAILABLE;
    }
}

/* Return values after which the session cannot be trusted and one reconnect is worth trying. */
static int session_lost(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_DEVICE_ERROR:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_CRYPTOKI_NOT_INITIALIZED: /* a re-initialisation whose C_Initialize failed */
        return 1;
    default:
        return 0;
    }
}

static void p11_fail(CK_RV rv, int decrypting, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static void p11_fail(CK_RV rv, int decrypting, const char *file, int line, const char *fmt, ...)
{
    char what[224];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    ccg_error_set(classify(rv, decrypting), file, line, "%s: %s", what, ccg_pkcs11_rv_name(rv));
}

/* A PKCS#11 call that must return CKR_OK. On failure the CKR name is recorded with the reason of
 * its class, the value is kept in *last_rv (for the reconnect decision) and control goes to cleanup. */
#define P11_ENSURE(call, decrypting, ...)                                        \
    do {                                                                         \
        CK_RV p11_rv_ = (call);                                                  \
        if (p11_rv_ != CKR_OK) {                                                 \
            *last_rv = p11_rv_;                                                  \
            p11_fail(p11_rv_, (decrypting), __FILE__, __LINE__, __VA_ARGS__);    \
            goto cleanup;                                                        \
        }                                                                        \
    } while (0)

/* The slot whose token carries the configured label; exactly one must. */
static ccg_result find_slot(p11_ks *p, CK_SLOT_ID *slot, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG nslots = 0, matches = 0;
    CK_FLAGS token_flags = 0;
    char want[TOKEN_LABEL_BYTES];
    memset(want, ' ', sizeof(want));
    memcpy(want, p->token_label, strlen(p->token_label)); /* at most 32 bytes: checked by the config */
    if (!p->mod->live) {
        /* SoftHSM2 fails C_Initialize while its whole token directory is gone */
        *last_rv = CKR_CRYPTOKI_NOT_INITIALIZED;
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE,
                 "no token labelled \"%s\" (CKR_TOKEN_NOT_PRESENT): re-initialising %s failed: C_Initialize: %s",
                 p->token_label, p->module_path, ccg_pkcs11_rv_name(p->mod->init_rv));
    }
    P11_ENSURE(fl->C_GetSlotList(CK_TRUE, NULL, &nslots), 0, "C_GetSlotList of %s", p->module_path);
    if (nslots > 0) {
        slots = calloc(nslots, sizeof(*slots));
        CCG_ENSURE_ALLOC(slots);
        P11_ENSURE(fl->C_GetSlotList(CK_TRUE, slots, &nslots), 0, "C_GetSlotList of %s", p->module_path);
    }
    for (CK_ULONG i = 0; i < nslots; i++) {
        CK_TOKEN_INFO info;
        if (fl->C_GetTokenInfo(slots[i], &info) != CKR_OK) {
            continue; /* removed since the slot list was read */
        }
        if (memcmp(info.label, want, sizeof(want)) == 0) {
            matches++;
            *slot = slots[i];
            token_flags = info.flags;
        }
    }
    if (matches == 0) {
        *last_rv = CKR_TOKEN_NOT_PRESENT;
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE, "no token labelled \"%s\" among the %lu present in %s (CKR_TOKEN_NOT_PRESENT)",
                 p->token_label, (unsigned long)nslots, p->module_path);
    }
    CCG_ENSURE_MSG(matches == 1, CCG_R_KMS_CONFIG_INVALID, "%lu tokens are labelled \"%s\"; labels must be unique",
                   (unsigned long)matches, p->token_label);
    if ((token_flags & CKF_USER_PIN_INITIALIZED) == 0) {
        *last_rv = CKR_USER_PIN_NOT_INITIALIZED;
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE, "token \"%s\" has no user PIN (CKR_USER_PIN_NOT_INITIALIZED)",
                 p->token_label);
    }
    result = CCG_SUCCESS;
cleanup:
    free(slots);
    return result;
}

/* Called with the module lock held (shared). */
static void p11_disconnect(p11_ks *p)
{
    if (p->connected) {
        /* No C_Logout: login state is per application and token, and another keystore of this
         * process may share it. Closing the last session logs the user out. A session of an
         * earlier module generation died with C_Finalize: its handle may name someone else's. */
        if (p->generation == p->mod->generation) {
            (void)p->mod->fl->C_CloseSession(p->session);
        }
        p->connected = 0;
        p->session = CK_INVALID_HANDLE;
    }
}

static ccg_result p11_connect(p11_ks *p, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_SLOT_ID slot = 0;
    CK_SESSION_HANDLE session = CK_INVALID_HANDLE;
    CK_RV rv = CKR_OK;
    int opened = 0;
    CCG_TRY(find_slot(p, &slot, last_rv));
    P11_ENSURE(fl->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &session), 0,
               "C_OpenSession on token \"%s\"", p->token_label);
    opened = 1;
    rv = fl->C_Login(session, CKU_USER, p->pin.data, p->pin.len);
    if (rv != CKR_USER_ALREADY_LOGGED_IN) {
        P11_ENSURE(rv, 0, "C_Login as user on token \"%s\"", p->token_label);
    }
    p->slot = slot;
    p->session = session;
    p->generation = p->mod->generation;
    p->connected = 1;
    opened = 0;
    result = CCG_SUCCESS;
cleanup:
    if (opened) {
        (void)fl->C_CloseSession(session);
    }
    return result;
}

/* The token is still in its slot under its label. SoftHSM2 keeps sessions of a token whose storage
 * was removed, finds no objects in it, and answers C_GetTokenInfo with CKR_GENERAL_ERROR; a real
 * reader answers CKR_TOKEN_NOT_PRESENT or CKR_DEVICE_REMOVED. Either way the token is gone, and
 * *last_rv says so to trigger a reconnect. */
static ccg_result check_token(p11_ks *p, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    CK_TOKEN_INFO info;
    char want[TOKEN_LABEL_BYTES];
    CK_RV rv = p->mod->fl->C_GetTokenInfo(p->slot, &info);
    if (rv != CKR_OK) {
        *last_rv = CKR_TOKEN_NOT_PRESENT;
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE, "token \"%s\" is gone: C_GetTokenInfo on slot %lu: %s", p->token_label,
                 (unsigned long)p->slot, ccg_pkcs11_rv_name(rv));
    }
    memset(want, ' ', sizeof(want));
    memcpy(want, p->token_label, strlen(p->token_label));
    if (memcmp(info.label, want, sizeof(want)) != 0) {
        *last_rv = CKR_TOKEN_NOT_PRESENT;
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE, "the token in slot %lu is no longer labelled \"%s\" (CKR_TOKEN_NOT_PRESENT)",
                 (unsigned long)p->slot, p->token_label);
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Secret-key objects labelled `label`: up to two handles, and how many were found (0, 1 or 2). */
static ccg_result find_keys(p11_ks *p, const char *label, CK_OBJECT_HANDLE found[2], CK_ULONG *nfound,
                            CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, (void *)label, strlen(label)},
    };
    int searching = 0;
    *nfound = 0;
    P11_ENSURE(fl->C_FindObjectsInit(p->session, tmpl, 2), 0, "C_FindObjectsInit for KEK \"%s\"", label);
    searching = 1;
    P11_ENSURE(fl->C_FindObjects(p->session, found, 2, nfound), 0, "C_FindObjects for KEK \"%s\"", label);
    result = CCG_SUCCESS;
cleanup:
    if (searching) {
        (void)fl->C_FindObjectsFinal(p->session);
    }
    return result;
}

/* The KEK's handle, after checking it is a 32-byte AES token key, sensitive, not extractable, and
 * allowed to encrypt and decrypt. */
static ccg_result find_kek(p11_ks *p, const char *label, CK_OBJECT_HANDLE *kek, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_OBJECT_HANDLE found[2] = {CK_INVALID_HANDLE, CK_INVALID_HANDLE};
    CK_ULONG nfound = 0;
    CK_KEY_TYPE key_type = 0;
    CK_ULONG key_len = 0;
    CK_BBOOL on_token = CK_FALSE, sensitive = CK_FALSE, extractable = CK_TRUE, can_encrypt = CK_FALSE,
             can_decrypt = CK_FALSE;
    CCG_TRY(find_keys(p, label, found, &nfound, last_rv));
    if (nfound == 0) {
        CCG_TRY(check_token(p, last_rv)); /* a vanished token also shows no objects */
    }
    CCG_ENSURE_MSG(nfound > 0, CCG_R_KMS_KEY_NOT_FOUND, "no secret key labelled \"%s\" in token \"%s\"", label,
                   p->token_label);
    CCG_ENSURE_MSG(nfound == 1, CCG_R_KMS_CONFIG_INVALID,
                   "more than one secret key is labelled \"%s\" in token \"%s\"; KEK labels must be unique", label,
                   p->token_label);
    CK_ATTRIBUTE attrs[] = {
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},  {CKA_VALUE_LEN, &key_len, sizeof(key_len)},
        {CKA_TOKEN, &on_token, sizeof(on_token)},     {CKA_SENSITIVE, &sensitive, sizeof(sensitive)},
        {CKA_EXTRACTABLE, &extractable, sizeof(extractable)}, {CKA_ENCRYPT, &can_encrypt, sizeof(can_encrypt)},
        {CKA_DECRYPT, &can_decrypt, sizeof(can_decrypt)},
    };
    P11_ENSURE(fl->C_GetAttributeValue(p->session, found[0], attrs, sizeof(attrs) / sizeof(attrs[0])), 0,
               "C_GetAttributeValue of KEK \"%s\"", label);
    CCG_ENSURE_MSG(key_type == CKK_AES && key_len == CCG_KEYSTORE_KEK_LEN && on_token && sensitive && !extractable,
                   CCG_R_KMS_CONFIG_INVALID,
                   "KEK \"%s\" must be a 32-byte AES token key that is sensitive and not extractable (key type "
                   "0x%lx, %lu bytes, token %d, sensitive %d, extractable %d)",
                   label, (unsigned long)key_type, (unsigned long)key_len, on_token, sensitive, extractable);
    CCG_ENSURE_MSG(can_encrypt && can_decrypt, CCG_R_KMS_CONFIG_INVALID,
                   "KEK \"%s\" must allow CKA_ENCRYPT and CKA_DECRYPT", label);
    *kek = found[0];
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* 1 when the token still answers and the session is logged in as the user (SoftHSM2 keeps a
 * session "logged in" after its token is gone, so the token is asked too). */
static int session_healthy(p11_ks *p)
{
    CK_SESSION_INFO info;
    CK_TOKEN_INFO token;
    if (p->mod->fl->C_GetTokenInfo(p->slot, &token) != CKR_OK ||
        p->mod->fl->C_GetSessionInfo(p->session, &info) != CKR_OK) {
        return 0;
    }
    return info.state == CKS_RW_USER_FUNCTIONS || info.state == CKS_RO_USER_FUNCTIONS;
}

/* ---- operations, each run under the session lock by with_session ---- */

typedef ccg_result (*p11_op)(p11_ks *p, void *arg, CK_RV *last_rv);

typedef struct {
    const char *label;
    const uint8_t *nonce;
    const uint8_t *aad;
    size_t aadn;
    const uint8_t *in;
    size_t in_len; /* plaintext length (seal) or ciphertext length without the tag (open) */
    uint8_t *out;  /* seal: in_len + tag bytes */
    ccg_secbuf *pt; /* open */
} crypt_arg;

static void gcm_params(CK_GCM_PARAMS *gcm, const crypt_arg *a)
{
    memset(gcm, 0, sizeof(*gcm));
    gcm->pIv = (CK_BYTE_PTR)a->nonce;
    gcm->ulIvLen = CCG_KEYSTORE_NONCE_LEN;
    gcm->ulIvBits = CCG_KEYSTORE_NONCE_LEN * 8;
    gcm->pAAD = (CK_BYTE_PTR)a->aad;
    gcm->ulAADLen = a->aadn;
    gcm->ulTagBits = CCG_KEYSTORE_TAG_LEN * 8;
}

static ccg_result op_seal(p11_ks *p, void *arg, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    const crypt_arg *a = arg;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
    CK_GCM_PARAMS gcm;
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    CK_ULONG out_len = a->in_len + CCG_KEYSTORE_TAG_LEN;
    CCG_TRY(find_kek(p, a->label, &kek, last_rv));
    gcm_params(&gcm, a);
    P11_ENSURE(fl->C_EncryptInit(p->session, &mech, kek), 0, "C_EncryptInit(CKM_AES_GCM) with KEK \"%s\"", a->label);
    P11_ENSURE(fl->C_Encrypt(p->session, (CK_BYTE_PTR)a->in, a->in_len, a->out, &out_len), 0,
               "C_Encrypt with KEK \"%s\"", a->label);
    CCG_ENSURE_MSG(out_len == a->in_len + CCG_KEYSTORE_TAG_LEN, CCG_R_KMS_UNAVAILABLE,
                   "C_Encrypt(CKM_AES_GCM) returned %lu bytes for %zu (the module's GCM is not the standard's)",
                   (unsigned long)out_len, a->in_len);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result op_open(p11_ks *p, void *arg, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    const crypt_arg *a = arg;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
    CK_GCM_PARAMS gcm;
    CK_MECHANISM mech = {CKM_AES_GCM, &gcm, sizeof(gcm)};
    size_t room = a->in_len + CCG_KEYSTORE_TAG_LEN; /* modules may ask for room for the tag too */
    CK_ULONG out_len = room;
    memset(a->pt, 0, sizeof(*a->pt));
    CCG_TRY(find_kek(p, a->label, &kek, last_rv));
    gcm_params(&gcm, a);
    /* Allocated before C_DecryptInit, so no failure can leave a decryption active in the session. */
    CCG_TRY(ccg_secbuf_alloc(a->pt, room, p->allow_unlocked));
    P11_ENSURE(fl->C_DecryptInit(p->session, &mech, kek), 1, "C_DecryptInit(CKM_AES_GCM) with KEK \"%s\"", a->label);
    CK_RV rv = fl->C_Decrypt(p->session, (CK_BYTE_PTR)a->in, room, a->pt->data, &out_len);
    if ((rv == CKR_GENERAL_ERROR || rv == CKR_FUNCTION_FAILED) && session_healthy(p)) {
        /* SoftHSM2 (2.6) answers a GCM tag mismatch with CKR_GENERAL_ERROR. When the session and
         * its login are still fine right after, the token did refuse the tag, not fail. */
        CCG_BAIL(CCG_R_KMS_UNWRAP_FAILED,
                 "C_Decrypt with KEK \"%s\": %s with a healthy session: the GCM tag does not verify (wrong KEK, "
                 "wrong key ID/version, or a tampered wrapped key)",
                 a->label, ccg_pkcs11_rv_name(rv));
    }
    P11_ENSURE(rv, 1, "C_Decrypt with KEK \"%s\" (wrong KEK, wrong key ID/version, or a tampered wrapped key)",
               a->label);
    CCG_ENSURE_MSG(out_len == a->in_len, CCG_R_KMS_UNWRAP_FAILED, "C_Decrypt returned %lu bytes, expected %zu",
                   (unsigned long)out_len, a->in_len);
    ccg_secure_zero(a->pt->data + a->in_len, CCG_KEYSTORE_TAG_LEN);
    a->pt->len = a->in_len; /* the mapping (a->pt->mapped) is unchanged and is zeroed whole on free */
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        ccg_secbuf_free(a->pt);
    }
    return result;
}

static ccg_result op_create(p11_ks *p, void *arg, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    const char *label = arg;
    CK_FUNCTION_LIST_PTR fl = p->mod->fl;
    CK_OBJECT_HANDLE found[2], kek = CK_INVALID_HANDLE;
    CK_ULONG nfound = 0;
    CK_MECHANISM mech = {CKM_AES_KEY_GEN, NULL, 0};
    CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
    CK_KEY_TYPE key_type = CKK_AES;
    CK_ULONG key_len = CCG_KEYSTORE_KEK_LEN;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    uint8_t digest[32];
    CCG_TRY(find_keys(p, label, found, &nfound, last_rv));
    CCG_ENSURE_MSG(nfound == 0, CCG_R_KMS_CONFIG_INVALID,
                   "a secret key labelled \"%s\" already exists in token \"%s\"; refusing to create another", label,
                   p->token_label);
    CCG_TRY(ccg_ks_label_digest(label, digest));
    CK_ATTRIBUTE tmpl[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_KEY_TYPE, &key_type, sizeof(key_type)},
        {CKA_VALUE_LEN, &key_len, sizeof(key_len)},
        {CKA_LABEL, (void *)label, strlen(label)},
        {CKA_ID, digest, 16},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_SENSITIVE, &yes, sizeof(yes)},
        {CKA_EXTRACTABLE, &no, sizeof(no)},
        {CKA_ENCRYPT, &yes, sizeof(yes)},
        {CKA_DECRYPT, &yes, sizeof(yes)},
        {CKA_WRAP, &no, sizeof(no)},
        {CKA_UNWRAP, &no, sizeof(no)},
        {CKA_SIGN, &no, sizeof(no)},
        {CKA_VERIFY, &no, sizeof(no)},
        {CKA_DERIVE, &no, sizeof(no)},
        {CKA_MODIFIABLE, &no, sizeof(no)},
    };
    P11_ENSURE(fl->C_GenerateKey(p->session, &mech, tmpl, sizeof(tmpl) / sizeof(tmpl[0]), &kek), 0,
               "C_GenerateKey(CKM_AES_KEY_GEN) of KEK \"%s\" in token \"%s\"", label, p->token_label);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static ccg_result op_health(p11_ks *p, void *arg, CK_RV *last_rv)
{
    ccg_result result = CCG_FAILURE;
    const char *label = arg;
    CK_SESSION_INFO info;
    CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
    CCG_TRY(check_token(p, last_rv));
    P11_ENSURE(p->mod->fl->C_GetSessionInfo(p->session, &info), 0, "C_GetSessionInfo on token \"%s\"",
               p->token_label);
    if (info.state != CKS_RW_USER_FUNCTIONS && info.state != CKS_RO_USER_FUNCTIONS) {
        *last_rv = CKR_USER_NOT_LOGGED_IN;
        CCG_BAIL(CCG_R_KMS_UNAVAILABLE,
                 "the session on token \"%s\" is not logged in (state %lu, CKR_USER_NOT_LOGGED_IN)", p->token_label,
                 (unsigned long)info.state);
    }
    CCG_TRY(find_kek(p, label, &kek, last_rv));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* Reports the current failure as "<earlier>; after reconnecting: <current>", keeping its reason. */
static void prefix_error(const char *earlier)
{
    ccg_error now = *ccg_error_last();
    ccg_error_clear();
    ccg_error_set(now.reason, now.file, now.line, "%s; after reconnecting: %s", earlier, now.message);
}

/* Runs op under the session lock and the module lock (shared), connecting first when needed. When
 * the session was lost it reconnects once, and when that fails too it re-initialises the module
 * (module_reinit) and connects once more. */
static ccg_result with_session(p11_ks *p, p11_op op, void *arg)
{
    ccg_result result = CCG_FAILURE;
    char earlier[160] = "";
    int locked = 0, shared = 0;
    CCG_ENSURE(pthread_mutex_lock(&p->lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    CCG_ENSURE(pthread_rwlock_rdlock(&p->mod->rw) == 0, CCG_R_INTERNAL_ERROR);
    shared = 1;
    for (int attempt = 0;; attempt++) {
        CK_RV last_rv = CKR_OK;
        if (p->connected && p->generation != p->mod->generation) {
            p11_disconnect(p); /* the module was re-initialised for another keystore */
        }
        if ((p->connected || ccg_ok(p11_connect(p, &last_rv))) && ccg_ok(op(p, arg, &last_rv))) {
            break;
        }
        if (attempt >= 2 || !session_lost(last_rv)) {
            goto cleanup;
        }
        if (earlier[0] == 0) {
            snprintf(earlier, sizeof(earlier), "%.*s", (int)sizeof(earlier) - 1, ccg_error_last()->message);
        }
        ccg_error_clear();
        p11_disconnect(p);
        if (attempt == 1) {
            unsigned long seen = p->mod->generation;
            pthread_rwlock_unlock(&p->mod->rw);
            shared = 0;
            module_reinit(p->mod, seen);
            CCG_ENSURE(pthread_rwlock_rdlock(&p->mod->rw) == 0, CCG_R_INTERNAL_ERROR);
            shared = 1;
        }
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && earlier[0] != 0) {
        prefix_error(earlier);
    }
    if (shared) {
        pthread_rwlock_unlock(&p->mod->rw);
    }
    if (locked) {
        pthread_mutex_unlock(&p->lock);
    }
    return result;
}

static ccg_result p11_seal(void *impl, const char *label, const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN],
                           const uint8_t *aad, size_t aadn, const ccg_secbuf *pt, uint8_t *out)
{
    crypt_arg a = {.label = label, .nonce = nonce, .aad = aad, .aadn = aadn, .in = pt->data, .in_len = pt->len,
                   .out = out};
    return with_session(impl, op_seal, &a);
}

static ccg_result p11_open_blob(void *impl, const char *label, const uint8_t nonce[CCG_KEYSTORE_NONCE_LEN],
                                const uint8_t *aad, size_t aadn, const uint8_t *ct_tag, size_t ct_len,
                                ccg_secbuf *pt)
{
    crypt_arg a = {.label = label, .nonce = nonce, .aad = aad, .aadn = aadn, .in = ct_tag, .in_len = ct_len,
                   .pt = pt};
    return with_session(impl, op_open, &a);
}

static ccg_result p11_create_kek(void *impl, const char *label) { return with_session(impl, op_create, (void *)label); }

static ccg_result p11_health(void *impl, const char *label) { return with_session(impl, op_health, (void *)label); }

static void p11_close(void *impl)
{
    p11_ks *p = impl;
    if (p == NULL) {
        return;
    }
    if (p->mod != NULL) {
        if (pthread_mutex_lock(&p->lock) == 0) {
            if (pthread_rwlock_rdlock(&p->mod->rw) == 0) {
                p11_disconnect(p);
                pthread_rwlock_unlock(&p->mod->rw);
            }
            pthread_mutex_unlock(&p->lock);
        }
        module_release(p->mod);
    }
    ccg_secbuf_free(&p->pin);
    pthread_mutex_destroy(&p->lock);
    free(p->module_path);
    free(p->token_label);
    free(p);
}

/* Reads the user PIN from the configured file or environment variable into secret memory. A
 * trailing newline of the file is not part of the PIN. */
static ccg_result load_pin(const ccg_keystore_config *cfg, int allow_unlocked, ccg_secbuf *pin)
{
    ccg_result result = CCG_FAILURE;
    int fd = -1;
    struct stat st;
    size_t got = 0, n = 0;
    memset(pin, 0, sizeof(*pin));
    if (cfg->pin_env != NULL) {
        const char *env = getenv(cfg->pin_env);
        CCG_ENSURE_MSG(env != NULL && env[0] != 0, CCG_R_KMS_CONFIG_INVALID,
                       "the PIN environment variable %s is not set or empty", cfg->pin_env);
        n = strnlen(env, CCG_KEYSTORE_MAX_PIN_LEN + 1);
        CCG_ENSURE_MSG(n <= CCG_KEYSTORE_MAX_PIN_LEN, CCG_R_KMS_CONFIG_INVALID,
                       "the PIN in %s is longer than %u bytes", cfg->pin_env, CCG_KEYSTORE_MAX_PIN_LEN);
        CCG_TRY(ccg_secbuf_alloc(pin, n, allow_unlocked));
        memcpy(pin->data, env, n);
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(cfg->pin_file != NULL, CCG_R_KMS_CONFIG_INVALID, "the PKCS#11 keystore needs pin_file or pin_env");
    fd = open(cfg->pin_file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    CCG_ENSURE_MSG(fd >= 0, CCG_R_KMS_CONFIG_INVALID, "cannot open the PIN file %s: %s", cfg->pin_file,
                   strerror(errno));
    CCG_ENSURE_MSG(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), CCG_R_KMS_CONFIG_INVALID,
                   "the PIN file %s is not a regular file", cfg->pin_file);
    CCG_ENSURE_MSG(st.st_size > 0 && st.st_size <= (off_t)CCG_KEYSTORE_MAX_PIN_LEN + 2, CCG_R_KMS_CONFIG_INVALID,
                   "the PIN file %s must hold 1..%u bytes", cfg->pin_file, CCG_KEYSTORE_MAX_PIN_LEN);
    CCG_TRY(ccg_secbuf_alloc(pin, (size_t)st.st_size, allow_unlocked));
    while (got < pin->len) {
        ssize_t r = read(fd, pin->data + got, pin->len - got);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        CCG_ENSURE_MSG(r > 0, CCG_R_KMS_CONFIG_INVALID, "cannot read the PIN file %s", cfg->pin_file);
        got += (size_t)r;
    }
    n = pin->len;
    if (n > 0 && pin->data[n - 1] == '\n') {
        n--;
        if (n > 0 && pin->data[n - 1] == '\r') {
            n--;
        }
    }
    ccg_secure_zero(pin->data + n, pin->len - n);
    pin->len = n;
    CCG_ENSURE_MSG(n > 0 && n <= CCG_KEYSTORE_MAX_PIN_LEN, CCG_R_KMS_CONFIG_INVALID,
                   "the PIN file %s must hold 1..%u bytes", cfg->pin_file, CCG_KEYSTORE_MAX_PIN_LEN);
    result = CCG_SUCCESS;
cleanup:
    if (fd >= 0) {
        close(fd);
    }
    if (ccg_failed(result)) {
        ccg_secbuf_free(pin);
    }
    return result;
}

static const ccg_ks_ops pkcs11_ops = {
    .create_kek = p11_create_kek,
    .seal = p11_seal,
    .open = p11_open_blob,
    .health = p11_health,
    .close = p11_close,
};

ccg_result ccg_ks_pkcs11_open(const ccg_keystore_config *cfg, const ccg_ks_ops **ops, void **impl)
{
    ccg_result result = CCG_FAILURE;
    p11_ks *p = NULL;
    CK_RV last_rv = CKR_OK;
    ccg_result rc = CCG_FAILURE;
    CCG_ENSURE_MSG(cfg->module != NULL && cfg->module[0] == '/', CCG_R_KMS_CONFIG_INVALID,
                   "the PKCS#11 keystore needs an absolute module path");
    CCG_ENSURE_MSG(cfg->token_label != NULL && cfg->token_label[0] != 0 &&
                       strlen(cfg->token_label) <= TOKEN_LABEL_BYTES,
                   CCG_R_KMS_CONFIG_INVALID, "the PKCS#11 keystore needs a token_label of 1..32 bytes");
    p = calloc(1, sizeof(*p));
    CCG_ENSURE_ALLOC(p);
    CCG_ENSURE(pthread_mutex_init(&p->lock, NULL) == 0, CCG_R_INTERNAL_ERROR);
    p->allow_unlocked = cfg->allow_unlocked_memory;
    p->module_path = strdup(cfg->module);
    p->token_label = strdup(cfg->token_label);
    CCG_ENSURE_ALLOC(p->module_path);
    CCG_ENSURE_ALLOC(p->token_label);
    CCG_TRY(load_pin(cfg, p->allow_unlocked, &p->pin));
    CCG_TRY(module_acquire(p->module_path, &p->mod));
    CCG_ENSURE(pthread_rwlock_rdlock(&p->mod->rw) == 0, CCG_R_INTERNAL_ERROR);
    rc = p11_connect(p, &last_rv);
    pthread_rwlock_unlock(&p->mod->rw);
    CCG_TRY(rc);
    *ops = &pkcs11_ops;
    *impl = p;
    p = NULL;
    result = CCG_SUCCESS;
cleanup:
    p11_close(p);
    return result;
}
