/* WAL checkpoints off the request path. SQLite's default checkpoints inside the COMMIT that crosses
 * 1000 WAL pages, while that connection still holds the writer gate: the request and every writer
 * queued behind it wait for 1000 pages to be copied and for two fsyncs, about one flow in a hundred,
 * which is exactly the broker's p99. Here every connection of a process to one file hands the
 * checkpoint to one background thread with its own connection:
 *   - at 1000 pages and after, a PASSIVE checkpoint without any lock: it copies what it can and never
 *     blocks a writer or a reader;
 *   - at RESTART_PAGES, the same again while holding the writer gate (sqlite_db.c), so no writer of this
 *     process slips in between: the checkpoint ends with the whole WAL copied, and the next write starts
 *     the WAL over. Only the few frames written since the unlocked pass are copied under the gate.
 * Should the thread fall behind (or another process keep the WAL busy), a committing connection
 * checkpoints inline again past INLINE_PAGES, once per further 1000 pages, so the WAL stays bounded. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "sqlite_db.h"

#define CHECKPOINT_PAGES 1000 /* SQLite's own default threshold */
#define RESTART_PAGES 8000    /* ~32 MiB: the WAL is started over about once per this many pages */
#define INLINE_PAGES 24000    /* the thread is not keeping up */

struct ccg_sqlite_checkpointer {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    pthread_mutex_t *gate; /* the file's writer gate, held for the restarting pass */
    int started;           /* under lock */
    int pending;           /* a checkpoint was asked for (under lock) */
    int pages;             /* the WAL's size in pages at the last request (under lock) */
    int stopping;          /* under lock */
    _Atomic int inline_at; /* the WAL size of the last inline checkpoint */
    _Atomic int asked_at;  /* the WAL size (in 1000s of pages) of the last request to the thread */
    int busy_timeout_ms;
    char path[4096];
};

ccg_sqlite_checkpointer *ccg_sqlite_checkpointer_new(const char *db_path, int busy_timeout_ms, pthread_mutex_t *gate)
{
    ccg_sqlite_checkpointer *c = calloc(1, sizeof(*c));
    if (c == NULL || strlen(db_path) >= sizeof(c->path)) {
        free(c);
        return NULL;
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c);
        return NULL;
    }
    if (pthread_cond_init(&c->wake, NULL) != 0) {
        pthread_mutex_destroy(&c->lock);
        free(c);
        return NULL;
    }
    memcpy(c->path, db_path, strlen(db_path) + 1);
    c->busy_timeout_ms = busy_timeout_ms;
    c->gate = gate;
    return c;
}

/* The thread's connection. Its first read makes it see the database as WAL: a connection that has
 * read nothing checkpoints nothing. */
static sqlite3 *checkpointer_connect(const ccg_sqlite_checkpointer *c)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(c->path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL) != SQLITE_OK ||
        sqlite3_busy_timeout(db, c->busy_timeout_ms) != SQLITE_OK ||
        sqlite3_exec(db, "SELECT count(*) FROM sqlite_schema", NULL, NULL, NULL) != SQLITE_OK) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static void checkpoint(const ccg_sqlite_checkpointer *c, sqlite3 *db, int pages)
{
    (void)sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (pages >= RESTART_PAGES && c->gate != NULL) {
        pthread_mutex_lock(c->gate);
        (void)sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        pthread_mutex_unlock(c->gate);
    }
}

/* One connection for the thread's life, opened at its first checkpoint; a failure is retried at the
 * next request (meanwhile the inline fallback bounds the WAL). */
static void *checkpointer_main(void *arg)
{
    ccg_sqlite_checkpointer *c = arg;
    sqlite3 *db = NULL;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        while (!c->pending && !c->stopping) {
            pthread_cond_wait(&c->wake, &c->lock);
        }
        if (c->stopping) {
            break;
        }
        int pages = c->pages;
        c->pending = 0;
        pthread_mutex_unlock(&c->lock);
        if (db == NULL) {
            db = checkpointer_connect(c);
        }
        if (db != NULL) {
            checkpoint(c, db, pages);
        }
        pthread_mutex_lock(&c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    sqlite3_close(db);
    return NULL;
}

int ccg_sqlite_checkpointer_hook(void *arg, sqlite3 *db, const char *name, int pages)
{
    ccg_sqlite_checkpointer *c = arg;
    int started;
    if (pages < CHECKPOINT_PAGES) {
        atomic_store(&c->inline_at, 0); /* the WAL was started over */
        atomic_store(&c->asked_at, 0);
        return SQLITE_OK;
    }
    if (pages >= INLINE_PAGES && pages - atomic_load(&c->inline_at) >= CHECKPOINT_PAGES) {
        atomic_store(&c->inline_at, pages);
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
        return SQLITE_OK;
    }
    /* Once per 1000 new pages, as SQLite's own: every checkpoint syncs the WAL and the database, so one
     * per commit would cost more than the copying. */
    if (atomic_exchange(&c->asked_at, pages / CHECKPOINT_PAGES) == pages / CHECKPOINT_PAGES) {
        return SQLITE_OK;
    }
    pthread_mutex_lock(&c->lock);
    if (!c->started && !c->stopping) {
        c->started = pthread_create(&c->thread, NULL, checkpointer_main, c) == 0;
    }
    started = c->started;
    c->pending = 1;
    c->pages = pages;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (!started) {
        (void)sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL); /* no thread: inline */
    }
    return SQLITE_OK;
}

void ccg_sqlite_checkpointer_free(ccg_sqlite_checkpointer *c)
{
    int started;
    if (c == NULL) {
        return;
    }
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    started = c->started;
    pthread_cond_signal(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (started) {
        pthread_join(c->thread, NULL);
    }
    pthread_cond_destroy(&c->wake);
    pthread_mutex_destroy(&c->lock);
    free(c);
}
