/* One hardened SQLite connection: open, pragmas, error mapping, statement cache, transactions. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sqlite_db.h"

/* PRAGMA application_id takes a literal; this is CCG_STORE_APPLICATION_ID in decimal. */
#define APPLICATION_ID_LITERAL "1128482644"
_Static_assert(CCG_STORE_APPLICATION_ID == 1128482644, "APPLICATION_ID_LITERAL must match");

static ccg_reason reason_for_rc(int rc)
{
    switch (rc & 0xFF) {
    case SQLITE_CONSTRAINT: return CCG_R_STORE_CONFLICT;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: return CCG_R_STORE_CORRUPT;
    default: return CCG_R_STORE_UNAVAILABLE;
    }
}

static void gate_note_failure(ccg_sqlite_gate *g);

/* Failures that say the database cannot be written now, whatever the call: its lock is held elsewhere,
 * the disk fails or is full, the file became read-only or cannot be opened. */
static int outage_rc(int rc)
{
    switch (rc & 0xFF) {
    case SQLITE_BUSY:
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_READONLY:
    case SQLITE_CANTOPEN:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM: return 1;
    default: return 0;
    }
}

ccg_result ccg_sqlite_fail_as(ccg_sqlite *h, ccg_reason reason, int rc, const char *what)
{
    ccg_result result = CCG_FAILURE;
    const char *msg = (h != NULL && h->db != NULL) ? sqlite3_errmsg(h->db) : sqlite3_errstr(rc);
    CCG_BAIL(reason, "%s: %s (SQLite %d)", what, msg, rc);
cleanup:
    if (h != NULL && reason == CCG_R_STORE_UNAVAILABLE && outage_rc(rc)) {
        gate_note_failure(h->gate);
    }
    return result;
}

ccg_result ccg_sqlite_fail(ccg_sqlite *h, int rc, const char *what)
{
    return ccg_sqlite_fail_as(h, reason_for_rc(rc), rc, what);
}

/* Runs a one-off statement with no values and returns the first column of its first row (as an
 * integer and, when text is given, as text). */
static ccg_result pragma(ccg_sqlite *h, const char *sql, int64_t *value, char *text, size_t text_size)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail(h, rc, sql));
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (value != NULL) {
            *value = sqlite3_column_int64(st, 0);
        }
        if (text != NULL && text_size > 0) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(text, text_size, "%s", t ? (const char *)t : "");
        }
    } else if (rc != SQLITE_DONE) {
        CCG_TRY(ccg_sqlite_fail(h, rc, sql));
    }
    result = CCG_SUCCESS;
cleanup:
    sqlite3_finalize(st);
    return result;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Waits for another connection's lock in short steps (50 us growing to 1 ms) up to the busy timeout.
 * SQLite's own handler sleeps 1, 2, 5, 10... up to 100 ms between tries, which turns a lock held for
 * one fsync into tens of milliseconds of latency. A connection is used by one thread at a time. */
static int busy_wait(void *ctx, int count)
{
    ccg_sqlite *h = ctx;
    int64_t now = mono_ns();
    int64_t step_us = 50LL << (count < 5 ? count : 5);
    struct timespec ts;
    if (count == 0) {
        h->busy_start_ns = now;
    }
    if (now - h->busy_start_ns >= (int64_t)h->busy_timeout_ms * 1000000) {
        return 0;
    }
    if (step_us > 1000) {
        step_us = 1000;
    }
    ts.tv_sec = 0;
    ts.tv_nsec = (long)step_us * 1000;
    nanosleep(&ts, NULL);
    return 1;
}

/* ---- the writer gate: one mutex per database file (device, inode), reference-counted ---- */

/* A file by identity; known 0 until it was seen. */
typedef struct {
    dev_t dev;
    ino_t ino;
    int known;
} ccg_sqlite_file_id;

struct ccg_sqlite_gate {
    dev_t dev;
    ino_t ino;
    pthread_mutex_t lock;
    unsigned refs;
    struct ccg_sqlite_gate *next;
    /* Group commit: durable transactions counted in commit order (under lock), and how far the WAL is
     * known to be on disk; one fdatasync covers every frame written before it. */
    pthread_mutex_t sync_lock;
    _Atomic uint64_t commits;
    uint64_t synced; /* under sync_lock */
    char wal_path[4096];
    char db_path[4096];
    ccg_sqlite_checkpointer *checkpointer; /* this file's WAL checkpoints (sqlite_checkpoint.c) */
    int wal_fd; /* the WAL, open for syncing (under sync_lock); -1 until it exists. SQLite removes the
                 * WAL only when a file's last connection closes, and this process holds one while the
                 * gate exists, so the descriptor stays the WAL's */
    /* Outages (docs/store.md, "Outages of the SQLite store"). The files this process has open, by
     * identity: a file removed, renamed or replaced at its path keeps taking this process's writes, which
     * nobody will ever read again, so a sync first checks that the paths still name them. */
    char shm_path[4096];
    ccg_sqlite_file_id wal_id, shm_id;
    _Atomic int moved;   /* the last check found a file gone from its path: autocommit writes refuse */
    int failed;          /* a write failed since the last durable commit: /readyz probes with a write
                          * (under sync_lock) */
};

static pthread_mutex_t g_gates_lock = PTHREAD_MUTEX_INITIALIZER;
static ccg_sqlite_gate *g_gates;

/* Remembers what path names now, the first time it exists. */
static void file_id_learn(ccg_sqlite_file_id *id, const char *path)
{
    struct stat st;
    if (!id->known && stat(path, &st) == 0) {
        id->dev = st.st_dev;
        id->ino = st.st_ino;
        id->known = 1;
    }
}

/* Whether path still names the file (a file not yet seen is not checked). */
static int file_id_at(const ccg_sqlite_file_id *id, const char *path, const char **why)
{
    struct stat st;
    if (!id->known) {
        return 1;
    }
    if (stat(path, &st) != 0) {
        /* ENOENT/ENOTDIR: gone from its path; anything else (EACCES, EIO, ESTALE): it cannot be shown to
         * be there, which fails closed the same way but is not called a removal. */
        *why = errno == ENOENT || errno == ENOTDIR ? "was removed or renamed" : "could not be checked (stat failed)";
        return 0;
    }
    if (st.st_dev != id->dev || st.st_ino != id->ino) {
        *why = "was replaced by another file";
        return 0;
    }
    return 1;
}

/* The database, its WAL and its shared-memory index are still at their paths (under sync_lock). A file
 * gone from its path is store.unavailable until it is back: this process would write into a file nobody
 * reads again (its WAL frames are lost at the next start, a new opener makes a fresh database or WAL). */
static ccg_result gate_files_intact(ccg_sqlite_gate *g)
{
    ccg_result result = CCG_FAILURE;
    const ccg_sqlite_file_id db = {g->dev, g->ino, 1};
    const char *why = NULL, *path = NULL;
    file_id_learn(&g->wal_id, g->wal_path);
    file_id_learn(&g->shm_id, g->shm_path);
    if (!file_id_at(&db, g->db_path, &why)) {
        path = g->db_path;
    } else if (!file_id_at(&g->wal_id, g->wal_path, &why)) {
        path = g->wal_path;
    } else if (!file_id_at(&g->shm_id, g->shm_path, &why)) {
        path = g->shm_path;
    }
    atomic_store(&g->moved, path != NULL);
    CCG_ENSURE_MSG(path == NULL, CCG_R_STORE_UNAVAILABLE,
                   "%s %s while the broker had it open, so its writes would be lost: put it back (the broker "
                   "serves again once it is there), or restore the database and restart the broker",
                   path, why);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* A write failed for a reason outside the call (a lock held too long, an I/O error, a full disk): noted
 * for /readyz until a durable commit on the file succeeds again. */
static void gate_note_failure(ccg_sqlite_gate *g)
{
    if (g == NULL) {
        return;
    }
    pthread_mutex_lock(&g->sync_lock);
    g->failed = 1;
    pthread_mutex_unlock(&g->sync_lock);
}

static ccg_sqlite_gate *gate_get(const char *path)
{
    struct stat st;
    ccg_sqlite_gate *g;
    if (stat(path, &st) != 0) {
        return NULL; /* no gate: SQLite's locks alone */
    }
    pthread_mutex_lock(&g_gates_lock);
    for (g = g_gates; g != NULL; g = g->next) {
        if (g->dev == st.st_dev && g->ino == st.st_ino) {
            g->refs++;
            break;
        }
    }
    if (g == NULL && (g = calloc(1, sizeof(*g))) != NULL) {
        if (pthread_mutex_init(&g->lock, NULL) != 0) {
            free(g);
            g = NULL;
        } else if (pthread_mutex_init(&g->sync_lock, NULL) != 0) {
            pthread_mutex_destroy(&g->lock);
            free(g);
            g = NULL;
        } else {
            /* Absolute, so a later chdir does not redirect the sync. */
            char *abs = realpath(path, NULL);
            snprintf(g->db_path, sizeof(g->db_path), "%s", abs != NULL ? abs : path);
            snprintf(g->wal_path, sizeof(g->wal_path), "%s-wal", abs != NULL ? abs : path);
            snprintf(g->shm_path, sizeof(g->shm_path), "%s-shm", abs != NULL ? abs : path);
            free(abs);
            file_id_learn(&g->wal_id, g->wal_path);
            file_id_learn(&g->shm_id, g->shm_path);
            g->checkpointer = ccg_sqlite_checkpointer_new(g->db_path, 5000, &g->lock);
            g->wal_fd = -1;
            g->dev = st.st_dev;
            g->ino = st.st_ino;
            g->refs = 1;
            g->next = g_gates;
            g_gates = g;
        }
    }
    pthread_mutex_unlock(&g_gates_lock);
    return g;
}

static void gate_put(ccg_sqlite_gate *gate)
{
    if (gate == NULL) {
        return;
    }
    pthread_mutex_lock(&g_gates_lock);
    if (--gate->refs == 0) {
        for (ccg_sqlite_gate **p = &g_gates; *p != NULL; p = &(*p)->next) {
            if (*p == gate) {
                *p = gate->next;
                break;
            }
        }
        ccg_sqlite_checkpointer_free(gate->checkpointer); /* its connection, closing last, checkpoints */
        if (gate->wal_fd >= 0) {
            close(gate->wal_fd);
        }
        pthread_mutex_destroy(&gate->lock);
        pthread_mutex_destroy(&gate->sync_lock);
        free(gate);
    }
    pthread_mutex_unlock(&g_gates_lock);
}

void ccg_sqlite_gate_enter(ccg_sqlite *h)
{
    struct timespec deadline;
    if (h == NULL || h->gate == NULL || h->gate_held) {
        return;
    }
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += h->busy_timeout_ms / 1000;
    deadline.tv_nsec += (long)(h->busy_timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    h->gate_held = pthread_mutex_timedlock(&h->gate->lock, &deadline) == 0;
}

void ccg_sqlite_gate_leave(ccg_sqlite *h)
{
    if (h != NULL && h->gate_held) {
        h->gate_held = 0;
        pthread_mutex_unlock(&h->gate->lock);
    }
}

static int sync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    int rc;
    if (fd < 0) {
        return errno == ENOENT ? 1 : -1;
    }
    rc = fdatasync(fd);
    close(fd);
    return rc == 0 ? 0 : -1;
}

/* Makes the transaction committed as number `mine` durable: fdatasync of the WAL, unless a sync that
 * began after that commit already covered it. mine 0: no number (the gate was not held), sync. */
static ccg_result durable_barrier(ccg_sqlite *h, uint64_t mine)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite_gate *g = h->gate;
    int rc;
    int locked = 0;
    CCG_ENSURE(pthread_mutex_lock(&g->sync_lock) == 0, CCG_R_INTERNAL_ERROR);
    locked = 1;
    if (mine == 0 || g->synced < mine) {
        /* Every commit counted so far has its frames in the WAL already (counted after COMMIT). */
        uint64_t target = atomic_load(&g->commits);
        /* Synced files that are no longer at their paths would make this commit durable nowhere. */
        CCG_TRY(gate_files_intact(g));
        if (g->wal_fd < 0) {
            g->wal_fd = open(g->wal_path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        }
        rc = g->wal_fd >= 0 ? (fdatasync(g->wal_fd) == 0 ? 0 : -1) : (errno == ENOENT ? 1 : -1);
        if (rc == 1) {
            /* No WAL: it was checkpointed into the database and removed; sync the database. */
            rc = sync_file(g->db_path);
        }
        CCG_ENSURE_MSG(rc == 0, CCG_R_STORE_UNAVAILABLE, "cannot sync the write-ahead log: %s", strerror(errno));
        if (target > g->synced) {
            g->synced = target;
        }
        g->failed = 0; /* a durable commit: writes work again */
    }
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result) && locked) {
        g->failed = 1;
    }
    if (locked) {
        pthread_mutex_unlock(&g->sync_lock);
    }
    return result;
}

ccg_result ccg_sqlite_open(const char *path, int busy_timeout_ms, int create, ccg_sqlite **out)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite *h = NULL;
    int64_t app_id = 0, objects = 0;
    char mode[16] = "";
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX;
    int rc;

    CCG_ENSURE(path != NULL && *path != '\0' && out != NULL, CCG_R_INPUT_MALFORMED);
    *out = NULL;
#ifdef SQLITE_OPEN_NOFOLLOW
    flags |= SQLITE_OPEN_NOFOLLOW;
#endif
#ifdef SQLITE_OPEN_EXRESCODE
    flags |= SQLITE_OPEN_EXRESCODE;
#endif
    if (create) {
        /* Create the file ourselves so it is 0600 from the start; SQLite gives its -wal and -shm
         * files the same mode. */
        int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd >= 0) {
            close(fd);
        } else {
            CCG_ENSURE_MSG(errno == EEXIST, CCG_R_STORE_UNAVAILABLE, "cannot create %s: %s", path, strerror(errno));
        }
    }
    h = calloc(1, sizeof(*h));
    CCG_ENSURE_ALLOC(h);
    rc = sqlite3_open_v2(path, &h->db, flags, NULL);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail(h, rc, "cannot open the database"));
    }
    sqlite3_extended_result_codes(h->db, 1);
    h->busy_timeout_ms = busy_timeout_ms > 0 ? busy_timeout_ms : 5000;
    sqlite3_busy_handler(h->db, busy_wait, h);
    /* Defensive mode: no writable_schema, no direct edits of shadow tables; schema code is not
     * trusted to call functions with side effects. */
    sqlite3_db_config(h->db, SQLITE_DBCONFIG_DEFENSIVE, 1, NULL);
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    sqlite3_db_config(h->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, NULL);
#endif
    /* Reading the header is the first access: a file that is not a database fails here. */
    CCG_TRY(pragma(h, "PRAGMA application_id", &app_id, NULL, 0));
    CCG_ENSURE_MSG(app_id == 0 || app_id == CCG_STORE_APPLICATION_ID, CCG_R_STORE_CORRUPT,
                   "%s is another application's SQLite database (application_id 0x%llx)", path,
                   (unsigned long long)app_id);
    if (app_id == 0) {
        /* Only an empty database may become a ccgate database, and only when asked to create one:
         * nothing is ever written into somebody else's file. */
        CCG_TRY(pragma(h, "SELECT count(*) FROM sqlite_schema", &objects, NULL, 0));
        CCG_ENSURE_MSG(objects == 0, CCG_R_STORE_CORRUPT, "%s is another application's SQLite database", path);
        CCG_ENSURE_MSG(create, CCG_R_STORE_UNAVAILABLE, "%s holds no ccgate database", path);
    }
    CCG_TRY(pragma(h, "PRAGMA journal_mode=WAL", NULL, mode, sizeof(mode)));
    CCG_ENSURE_MSG(strcmp(mode, "wal") == 0, CCG_R_STORE_UNAVAILABLE, "cannot enable WAL mode (journal_mode %s)",
                   mode);
    CCG_TRY(pragma(h, "PRAGMA synchronous=FULL", NULL, NULL, 0));
    CCG_TRY(pragma(h, "PRAGMA foreign_keys=ON", NULL, NULL, 0));
    CCG_TRY(pragma(h, "PRAGMA secure_delete=ON", NULL, NULL, 0));
    CCG_TRY(pragma(h, "PRAGMA cell_size_check=ON", NULL, NULL, 0));
    if (app_id == 0) {
        CCG_TRY(pragma(h, "PRAGMA application_id=" APPLICATION_ID_LITERAL, NULL, NULL, 0));
    }
    h->gate = gate_get(path);
    if (h->gate != NULL && h->gate->checkpointer != NULL) {
        sqlite3_wal_hook(h->db, ccg_sqlite_checkpointer_hook, h->gate->checkpointer);
    }
    *out = h;
    h = NULL;
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_close(h);
    return result;
}

void ccg_sqlite_close(ccg_sqlite *h)
{
    if (h == NULL) {
        return;
    }
    for (size_t i = 0; i < h->ncache; i++) {
        sqlite3_finalize(h->cache[i].st);
    }
    free(h->cache);
    if (h->db != NULL) {
        sqlite3_close_v2(h->db);
    }
    ccg_sqlite_gate_leave(h);
    gate_put(h->gate);
    free(h);
}

ccg_result ccg_sqlite_check(ccg_sqlite *h, int full)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    const char *sql = full ? "PRAGMA integrity_check(1)" : "PRAGMA quick_check(1)";
    int rc = sqlite3_prepare_v2(h->db, sql, -1, &st, NULL);
    const unsigned char *text = NULL;
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail(h, rc, "integrity check"));
    }
    rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        CCG_TRY(ccg_sqlite_fail(h, rc, "integrity check"));
    }
    text = sqlite3_column_text(st, 0);
    CCG_ENSURE_MSG(text != NULL && strcmp((const char *)text, "ok") == 0, CCG_R_STORE_CORRUPT,
                   "the integrity check failed: %.200s", text ? (const char *)text : "(no answer)");
    result = CCG_SUCCESS;
cleanup:
    sqlite3_finalize(st);
    return result;
}

static ccg_result restore_full(ccg_sqlite *h);

ccg_result ccg_sqlite_stmt(ccg_sqlite *h, const char *sql, sqlite3_stmt **st)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *fresh = NULL;
    int rc;
    *st = NULL;
    if (h->full_pending && sqlite3_get_autocommit(h->db)) {
        CCG_TRY(restore_full(h)); /* a statement outside a group commit: FULL again first */
    }
    for (size_t i = 0; i < h->ncache; i++) {
        if (h->cache[i].sql == sql) {
            sqlite3_reset(h->cache[i].st);
            sqlite3_clear_bindings(h->cache[i].st);
            *st = h->cache[i].st;
            result = CCG_SUCCESS;
            goto cleanup;
        }
    }
    if (h->ncache == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 32;
        ccg_sqlite_cached *grown = realloc(h->cache, cap * sizeof(*grown));
        CCG_ENSURE_ALLOC(grown);
        h->cache = grown;
        h->cap = cap;
    }
    rc = sqlite3_prepare_v3(h->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &fresh, NULL);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail(h, rc, "prepare"));
    }
    h->cache[h->ncache].sql = sql;
    h->cache[h->ncache].st = fresh;
    h->ncache++;
    *st = fresh;
    fresh = NULL;
    result = CCG_SUCCESS;
cleanup:
    sqlite3_finalize(fresh);
    return result;
}

void ccg_sqlite_done(sqlite3_stmt *st)
{
    if (st != NULL) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
}

ccg_result ccg_sqlite_step_done(ccg_sqlite *h, sqlite3_stmt *st, const char *what)
{
    ccg_result result = CCG_FAILURE;
    int rc;
    /* A single autocommit write (a session's) is never synced by itself: while a file of the database
     * is known to be gone from its path, it is refused rather than written where nobody reads it. */
    CCG_ENSURE_MSG(!(h->gate != NULL && atomic_load(&h->gate->moved) && sqlite3_get_autocommit(h->db)),
                   CCG_R_STORE_UNAVAILABLE, "%s: a file of the database was removed, renamed or replaced (see /readyz)",
                   what);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
        CCG_TRY(ccg_sqlite_fail(h, rc == SQLITE_ROW ? SQLITE_MISUSE : rc, what));
    }
    result = CCG_SUCCESS;
cleanup:
    sqlite3_reset(st);
    return result;
}

ccg_result ccg_sqlite_step_row(ccg_sqlite *h, sqlite3_stmt *st, int *row, const char *what)
{
    ccg_result result = CCG_FAILURE;
    int rc = sqlite3_step(st);
    *row = 0;
    if (rc == SQLITE_ROW) {
        *row = 1;
    } else if (rc != SQLITE_DONE) {
        CCG_TRY(ccg_sqlite_fail(h, rc, what));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_exec_script(ccg_sqlite *h, const char *script, const char *what)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    const char *p = script;
    if (h->full_pending && sqlite3_get_autocommit(h->db)) {
        CCG_TRY(restore_full(h));
    }
    while (p != NULL && *p != '\0') {
        const char *tail = NULL;
        int rc = sqlite3_prepare_v2(h->db, p, -1, &st, &tail);
        if (rc != SQLITE_OK) {
            CCG_TRY(ccg_sqlite_fail(h, rc, what));
        }
        if (st == NULL) { /* only whitespace or comments remained */
            break;
        }
        rc = sqlite3_step(st);
        while (rc == SQLITE_ROW) {
            rc = sqlite3_step(st);
        }
        if (rc != SQLITE_DONE) {
            CCG_TRY(ccg_sqlite_fail(h, rc, what));
        }
        sqlite3_finalize(st);
        st = NULL;
        p = tail;
    }
    result = CCG_SUCCESS;
cleanup:
    sqlite3_finalize(st);
    return result;
}

ccg_result ccg_sqlite_bind_text(ccg_sqlite *h, sqlite3_stmt *st, int i, const char *s)
{
    ccg_result result = CCG_FAILURE;
    int rc = s ? sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC) : sqlite3_bind_null(st, i);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail_as(h, CCG_R_STORE_UNAVAILABLE, rc, "bind"));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_bind_blob(ccg_sqlite *h, sqlite3_stmt *st, int i, const void *p, size_t n)
{
    ccg_result result = CCG_FAILURE;
    static const uint8_t empty = 0;
    int rc = sqlite3_bind_blob64(st, i, p ? p : &empty, (sqlite3_uint64)n, SQLITE_STATIC);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail_as(h, CCG_R_STORE_UNAVAILABLE, rc, "bind"));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_bind_int(ccg_sqlite *h, sqlite3_stmt *st, int i, int64_t v)
{
    ccg_result result = CCG_FAILURE;
    int rc = sqlite3_bind_int64(st, i, (sqlite3_int64)v);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail_as(h, CCG_R_STORE_UNAVAILABLE, rc, "bind"));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_bind_null(ccg_sqlite *h, sqlite3_stmt *st, int i)
{
    ccg_result result = CCG_FAILURE;
    int rc = sqlite3_bind_null(st, i);
    if (rc != SQLITE_OK) {
        CCG_TRY(ccg_sqlite_fail_as(h, CCG_R_STORE_UNAVAILABLE, rc, "bind"));
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_col_text(sqlite3_stmt *st, int i, char *out, size_t out_size)
{
    ccg_result result = CCG_FAILURE;
    const unsigned char *t = NULL;
    size_t n = 0;
    out[0] = '\0';
    CCG_ENSURE_MSG(sqlite3_column_type(st, i) == SQLITE_TEXT, CCG_R_STORE_CORRUPT, "column %s is not text",
                   sqlite3_column_name(st, i));
    t = sqlite3_column_text(st, i);
    n = (size_t)sqlite3_column_bytes(st, i);
    CCG_ENSURE_ALLOC(t);
    CCG_ENSURE_MSG(n < out_size && strlen((const char *)t) == n, CCG_R_STORE_CORRUPT,
                   "column %s holds %zu bytes, at most %zu", sqlite3_column_name(st, i), n, out_size - 1);
    memcpy(out, t, n + 1);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_col_int(sqlite3_stmt *st, int i, int64_t *out)
{
    ccg_result result = CCG_FAILURE;
    CCG_ENSURE_MSG(sqlite3_column_type(st, i) == SQLITE_INTEGER, CCG_R_STORE_CORRUPT, "column %s is not an integer",
                   sqlite3_column_name(st, i));
    *out = sqlite3_column_int64(st, i);
    result = CCG_SUCCESS;
cleanup:
    return result;
}

ccg_result ccg_sqlite_col_bytes(sqlite3_stmt *st, int i, size_t max, int allow_null, uint8_t **out, size_t *len)
{
    ccg_result result = CCG_FAILURE;
    int type = sqlite3_column_type(st, i);
    const void *p = NULL;
    size_t n = 0;
    *out = NULL;
    *len = 0;
    if (type == SQLITE_NULL && allow_null) {
        result = CCG_SUCCESS;
        goto cleanup;
    }
    CCG_ENSURE_MSG(type == SQLITE_BLOB || type == SQLITE_TEXT, CCG_R_STORE_CORRUPT, "column %s is not a blob",
                   sqlite3_column_name(st, i));
    p = type == SQLITE_BLOB ? sqlite3_column_blob(st, i) : (const void *)sqlite3_column_text(st, i);
    n = (size_t)sqlite3_column_bytes(st, i);
    CCG_ENSURE_MSG(n <= max, CCG_R_STORE_CORRUPT, "column %s holds %zu bytes, at most %zu",
                   sqlite3_column_name(st, i), n, max);
    *out = malloc(n + 1);
    CCG_ENSURE_ALLOC(*out);
    if (n > 0) {
        CCG_ENSURE_ALLOC(p);
        memcpy(*out, p, n);
    }
    (*out)[n] = 0;
    *len = n;
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        free(*out);
        *out = NULL;
        *len = 0;
    }
    return result;
}

static const char SQL_BEGIN_IMMEDIATE[] = "BEGIN IMMEDIATE";
static const char SQL_BEGIN[] = "BEGIN";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";

/* One statement without rows: the transaction-control statements. */
static ccg_result exec_simple(ccg_sqlite *h, const char *sql, const char *what)
{
    ccg_result result = CCG_FAILURE;
    sqlite3_stmt *st = NULL;
    CCG_TRY(ccg_sqlite_stmt(h, sql, &st));
    CCG_TRY(ccg_sqlite_step_done(h, st, what));
    result = CCG_SUCCESS;
cleanup:
    ccg_sqlite_done(st);
    return result;
}

static const char SQL_SYNC_FULL[] = "PRAGMA synchronous=FULL";
static const char SQL_SYNC_NORMAL[] = "PRAGMA synchronous=NORMAL";

/* After a group-committed transaction the connection stays in NORMAL (full_pending) and goes back to
 * synchronous=FULL lazily: before the next statement outside a transaction (ccg_sqlite_stmt,
 * ccg_sqlite_exec_script: autocommit writes sync themselves) or the next transaction that is not
 * group-committed. The next group commit, the audit connection's steady state, then needs no PRAGMA
 * at all: SQLite prepares a PRAGMA again at every run, and the two per durable transaction were ~3% of
 * the broker's CPU. */
static ccg_result restore_full(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    h->full_pending = 0;
    if (ccg_failed(exec_simple(h, SQL_SYNC_FULL, "end the group commit"))) {
        h->full_pending = 1; /* still NORMAL: tried again before the next statement */
        goto cleanup;
    }
    result = CCG_SUCCESS;
cleanup:
    return result;
}

static void end_group_commit(ccg_sqlite *h)
{
    if (h != NULL && h->group_commit) {
        h->group_commit = 0;
        h->full_pending = 1;
    }
}

ccg_result ccg_sqlite_begin(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    ccg_sqlite_gate_enter(h);
    if (h->sync_restore) {
        CCG_TRY(exec_simple(h, h->sync_normal ? SQL_SYNC_NORMAL : SQL_SYNC_FULL, "restore the synchronous mode"));
        h->sync_restore = 0;
    }
    /* Group commit: a durable (synchronous=FULL) connection commits its write transactions with
     * NORMAL and then waits for a WAL fdatasync that covers them (durable_barrier), which threads
     * committing at the same time share. The answer is the same as FULL's: COMMIT returns once the
     * transaction is on disk. Needs the gate (commit order); without it SQLite's own FULL sync stays. */
    if (h->gate_held && !h->sync_normal) {
        if (!h->full_pending) {
            CCG_TRY(exec_simple(h, SQL_SYNC_NORMAL, "group commit"));
        }
        h->full_pending = 0; /* NORMAL, on purpose, until this transaction's end */
        h->group_commit = 1;
    } else if (h->full_pending) {
        CCG_TRY(restore_full(h));
    }
    CCG_TRY(exec_simple(h, SQL_BEGIN_IMMEDIATE, "begin a write transaction"));
    result = CCG_SUCCESS;
cleanup:
    if (ccg_failed(result)) {
        end_group_commit(h);
        ccg_sqlite_gate_leave(h);
    }
    return result;
}

ccg_result ccg_sqlite_begin_read(ccg_sqlite *h) { return exec_simple(h, SQL_BEGIN, "begin a read transaction"); }

ccg_result ccg_sqlite_commit_ordered(ccg_sqlite *h, uint64_t *ticket)
{
    ccg_result result = exec_simple(h, SQL_COMMIT, "commit");
    int group = h->group_commit;
    *ticket = 0;
    if (sqlite3_get_autocommit(h->db)) {
        if (ccg_ok(result) && group) {
            /* Counted after COMMIT, so a sync that reads this count covers these frames. Without the
             * gate there is no count to share: CCG_SQLITE_SYNC_ALWAYS makes ccg_sqlite_durable sync. */
            *ticket = h->gate_held ? atomic_fetch_add(&h->gate->commits, 1) + 1 : CCG_SQLITE_SYNC_ALWAYS;
        } else if (ccg_ok(result) && h->gate != NULL && !h->gate_held && !h->sync_normal) {
            /* A durable commit made without the gate (its wait timed out): SQLite's FULL synced it, but
             * only the barrier checks that the files are still at their paths (a moved directory would
             * hold this record where nobody reads it). The rare path pays one more sync. */
            *ticket = CCG_SQLITE_SYNC_ALWAYS;
        }
        end_group_commit(h);
        ccg_sqlite_gate_leave(h); /* no transaction is left open (a failed COMMIT may keep it: rollback) */
    }
    return result;
}

ccg_result ccg_sqlite_durable(ccg_sqlite *h, uint64_t ticket)
{
    if (ticket == 0) {
        return CCG_SUCCESS; /* SQLite's own synchronous=FULL already synced it, or nothing was written */
    }
    return durable_barrier(h, ticket == CCG_SQLITE_SYNC_ALWAYS ? 0 : ticket);
}

ccg_result ccg_sqlite_commit(ccg_sqlite *h)
{
    ccg_result result = CCG_FAILURE;
    uint64_t ticket = 0;
    CCG_TRY(ccg_sqlite_commit_ordered(h, &ticket));
    CCG_TRY(ccg_sqlite_durable(h, ticket));
    result = CCG_SUCCESS;
cleanup:
    return result;
}

void ccg_sqlite_rollback(ccg_sqlite *h)
{
    if (h == NULL || h->db == NULL || sqlite3_get_autocommit(h->db)) {
        end_group_commit(h);
        ccg_sqlite_gate_leave(h);
        return; /* no transaction is open (SQLite may have rolled it back itself) */
    }
    /* Reset every cached statement first: a pending statement would keep the transaction open. */
    for (size_t i = 0; i < h->ncache; i++) {
        sqlite3_reset(h->cache[i].st);
    }
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(h->db, SQL_ROLLBACK, -1, &st, NULL) == SQLITE_OK) {
        (void)sqlite3_step(st);
    }
    sqlite3_finalize(st);
    end_group_commit(h);
    ccg_sqlite_gate_leave(h);
}

/* The probe of readiness (docs/store.md, "Outages of the SQLite store"). */
ccg_result ccg_sqlite_ready(ccg_sqlite *h, const char *write_probe)
{
    ccg_result result = CCG_FAILURE;
    int failed = 0, in_tx = 0;
    if (h->gate != NULL) {
        CCG_ENSURE(pthread_mutex_lock(&h->gate->sync_lock) == 0, CCG_R_INTERNAL_ERROR);
        result = gate_files_intact(h->gate);
        failed = h->gate->failed;
        pthread_mutex_unlock(&h->gate->sync_lock);
        CCG_TRY(result);
        result = CCG_FAILURE;
    }
    if (failed) {
        CCG_TRY(ccg_sqlite_set_full_sync(h, 1)); /* the probe's commit is synced, as a key's would be */
    }
    /* The write lock, within the busy timeout, as every write needs it. */
    CCG_TRY(ccg_sqlite_begin(h));
    in_tx = 1;
    if (failed && write_probe != NULL) {
        /* A write failed since the last durable commit: only a durable commit shows that writes work. */
        CCG_TRY(ccg_sqlite_exec_script(h, write_probe, "write probe"));
        CCG_TRY(ccg_sqlite_commit(h));
    }
    result = CCG_SUCCESS;
cleanup:
    if (in_tx) {
        ccg_sqlite_rollback(h); /* ends the lock probe; after a COMMIT, only what a failed one left open */
    }
    return result;
}

ccg_result ccg_sqlite_set_full_sync(ccg_sqlite *h, int full)
{
    ccg_result result = CCG_FAILURE;
    if (full < 0 || (h->sync_normal == !full && !h->sync_restore)) {
        return CCG_SUCCESS; /* a read, or already in that mode */
    }
    CCG_TRY(exec_simple(h, full ? SQL_SYNC_FULL : SQL_SYNC_NORMAL, "set the synchronous mode"));
    h->sync_normal = !full;
    h->sync_restore = 0;
    h->full_pending = 0;
    result = CCG_SUCCESS;
cleanup:
    return result;
}

/* The column readers behind ccg_store_row: a statement has one current row, so the index is unused. */
static ccg_result row_text(const void *src, int row, int col, char *out, size_t out_size)
{
    (void)row;
    return ccg_sqlite_col_text((sqlite3_stmt *)src, col, out, out_size);
}

static ccg_result row_int(const void *src, int row, int col, int64_t *out)
{
    (void)row;
    return ccg_sqlite_col_int((sqlite3_stmt *)src, col, out);
}

static ccg_result row_bytes(const void *src, int row, int col, size_t max, int allow_null, uint8_t **out,
                            size_t *len)
{
    (void)row;
    return ccg_sqlite_col_bytes((sqlite3_stmt *)src, col, max, allow_null, out, len);
}

static const ccg_store_col_ops SQLITE_COLS = {row_text, row_int, row_bytes};

ccg_store_row ccg_sqlite_row(sqlite3_stmt *st)
{
    ccg_store_row row = {&SQLITE_COLS, st, 0};
    return row;
}
