/* The CPU thread pool behind mf_parallel_for. One job runs at a time; a
 * caller that finds the pool busy (another thread, or a nested call) runs
 * its range inline, so there is never a deadlock and never oversubscription. */
#include "medfm/parallel.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <unistd.h>

#define MF_POOL_MAX 256

typedef struct {
    pthread_mutex_t busy; /* held by the thread that owns the current job */
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    pthread_t threads[MF_POOL_MAX];
    int nthreads;  /* workers started, excluding the caller */
    int wanted;    /* requested total threads, including the caller */
    uint64_t generation;
    /* current job */
    mf_range_fn fn;
    void *ctx;
    int64_t n, chunk;
    atomic_llong next;
    int active; /* workers still inside the job */
} mf_pool;

static mf_pool pool = {.busy = PTHREAD_MUTEX_INITIALIZER,
                       .lock = PTHREAD_MUTEX_INITIALIZER,
                       .wake = PTHREAD_COND_INITIALIZER,
                       .done = PTHREAD_COND_INITIALIZER};
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static _Thread_local bool in_region;

static void run_chunks(void) {
    for (;;) {
        int64_t b = atomic_fetch_add(&pool.next, pool.chunk);
        if (b >= pool.n)
            break;
        int64_t e = b + pool.chunk < pool.n ? b + pool.chunk : pool.n;
        pool.fn(pool.ctx, b, e);
    }
}

static void *worker(void *arg) {
    (void)arg;
    in_region = true;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.lock);
    for (;;) {
        while (pool.generation == seen)
            pthread_cond_wait(&pool.wake, &pool.lock);
        seen = pool.generation;
        pthread_mutex_unlock(&pool.lock);
        run_chunks();
        pthread_mutex_lock(&pool.lock);
        if (--pool.active == 0)
            pthread_cond_signal(&pool.done);
    }
    return NULL;
}

static int default_threads(void) {
    const char *env = getenv("MEDFM_NUM_THREADS");
    if (env && *env) {
        int v = atoi(env);
        if (v >= 1)
            return v > MF_POOL_MAX ? MF_POOL_MAX : v;
    }
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (n > MF_POOL_MAX ? MF_POOL_MAX : (int)n);
}

static void pool_init(void) { pool.wanted = default_threads(); }

static void ensure_workers(int want) {
    /* Workers are only ever added; extra ones simply stay idle. */
    while (pool.nthreads < want - 1) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        int rc = pthread_create(&pool.threads[pool.nthreads], &attr, worker, NULL);
        pthread_attr_destroy(&attr);
        if (rc != 0)
            break;
        pool.nthreads++;
    }
}

int mf_num_threads(void) {
    pthread_once(&pool_once, pool_init);
    return pool.wanted;
}

void mf_set_num_threads(int n) {
    pthread_once(&pool_once, pool_init);
    pthread_mutex_lock(&pool.busy);
    pool.wanted = n < 1 ? 1 : (n > MF_POOL_MAX ? MF_POOL_MAX : n);
    pthread_mutex_unlock(&pool.busy);
}

void mf_parallel_for(int64_t n, int64_t grain, mf_range_fn fn, void *ctx) {
    if (n <= 0)
        return;
    if (grain < 1)
        grain = 1;
    pthread_once(&pool_once, pool_init);
    int want = pool.wanted;
    if (in_region || want <= 1 || n <= grain || pthread_mutex_trylock(&pool.busy) != 0) {
        fn(ctx, 0, n);
        return;
    }
    pthread_mutex_lock(&pool.lock);
    ensure_workers(want);
    int workers = pool.nthreads < want - 1 ? pool.nthreads : want - 1;
    int64_t parts = (int64_t)(workers + 1) * 4;
    int64_t chunk = (n + parts - 1) / parts;
    if (chunk < grain)
        chunk = grain;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.chunk = chunk;
    atomic_store(&pool.next, 0);
    /* Every started worker wakes on a new generation, so all are counted. */
    pool.active = pool.nthreads;
    pool.generation++;
    pthread_cond_broadcast(&pool.wake);
    pthread_mutex_unlock(&pool.lock);

    in_region = true;
    run_chunks();
    in_region = false;

    pthread_mutex_lock(&pool.lock);
    while (pool.active > 0)
        pthread_cond_wait(&pool.done, &pool.lock);
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
}
