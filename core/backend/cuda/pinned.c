/* Page-locked host memory for staging batches: a per-device cache of
 * power-of-two blocks (4 KiB and up), so a batch per step does not call
 * cudaHostAlloc each time.
 *
 * Reuse rule: a freed block may still be read by a queued copy: on the
 * copy stream (copy_async.c, the loader's batches) or on the compute
 * stream (memory.c's uploads). Freeing a block records an event on the
 * stream that reads it, and the block is handed out again only after that
 * event: the host never writes a block a queued copy still reads. */
#include <pthread.h>
#include <stdlib.h>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_api.h"
#include "core/backend/cuda/cuda_internal.h"

#define MIN_SHIFT 12
#define N_CLASSES 40

typedef struct pblock {
    void *ptr;
    cudaEvent_t ev; /* NULL: no copy can be reading it */
    struct pblock *next;
} pblock;

typedef struct {
    pblock *free_list[N_CLASSES];
    uint64_t current, cached, host_allocs, hits;
} pinned_cache;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pinned_cache caches[MF_CUDA_MAX_DEVICES];

static int pinned_class(size_t n, size_t *rounded) {
    int k = MIN_SHIFT;
    while (k < MIN_SHIFT + N_CLASSES && ((size_t)1 << k) < n)
        k++;
    *rounded = (size_t)1 << (k < 63 ? k : 63);
    return k - MIN_SHIFT;
}

/* Waits for a block's last copy and gives its event back. */
static cudaError_t settle(int index, pblock *b) {
    cudaError_t e = cudaSuccess;
    if (b->ev) {
        e = cudaEventSynchronize(b->ev);
        mf_cuda_event_put(index, b->ev);
        b->ev = NULL;
    }
    return e;
}

/* Frees every cached block of one device to the driver. */
static void release_cached(int index) {
    pthread_mutex_lock(&lock);
    pinned_cache *c = &caches[index];
    pblock *all = NULL;
    for (int i = 0; i < N_CLASSES; i++) {
        while (c->free_list[i]) {
            pblock *b = c->free_list[i];
            c->free_list[i] = b->next;
            b->next = all;
            all = b;
        }
    }
    c->cached = 0;
    pthread_mutex_unlock(&lock);
    while (all) {
        pblock *b = all;
        all = b->next;
        settle(index, b);
        cudaFreeHost(b->ptr);
        free(b);
    }
}

mf_status mf_cuda_pinned_alloc(mf_device dev, size_t nbytes, void **ptr) {
    cudaStream_t cs;
    MF_TRY(mf_cuda_stream(dev.index, &cs));
    size_t rounded;
    int cls = pinned_class(nbytes, &rounded);
    if (cls >= N_CLASSES)
        return MF_ERR(MF_ERR_NOMEM, "pinned host allocation of %zu bytes is too large", nbytes);
    pthread_mutex_lock(&lock);
    pinned_cache *c = &caches[dev.index];
    pblock *b = c->free_list[cls];
    if (b) {
        c->free_list[cls] = b->next;
        c->cached -= rounded;
        c->hits++;
        c->current += rounded;
    }
    pthread_mutex_unlock(&lock);
    if (b) {
        cudaError_t e = settle(dev.index, b);
        void *p = b->ptr;
        free(b);
        if (e != cudaSuccess) {
            cudaFreeHost(p);
            pthread_mutex_lock(&lock);
            c->current -= rounded;
            pthread_mutex_unlock(&lock);
            return mf_cuda_check(e, "pinned host allocation: waiting for the block's last copy");
        }
        *ptr = p;
        return MF_OK;
    }
    void *p = NULL;
    cudaError_t e = cudaHostAlloc(&p, rounded, cudaHostAllocPortable);
    if (e == cudaErrorMemoryAllocation) {
        (void)cudaGetLastError();
        release_cached(dev.index);
        e = cudaHostAlloc(&p, rounded, cudaHostAllocPortable);
    }
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return MF_ERR(e == cudaErrorMemoryAllocation ? MF_ERR_NOMEM : MF_ERR_DEVICE,
                      "pinned host allocation of %zu bytes failed: %s", rounded, cudaGetErrorString(e));
    }
    pthread_mutex_lock(&lock);
    c->current += rounded;
    c->host_allocs++;
    pthread_mutex_unlock(&lock);
    *ptr = p;
    return MF_OK;
}

void mf_cuda_pinned_free(mf_device dev, void *ptr, size_t nbytes) {
    mf_cuda_pinned_free_after(dev, ptr, nbytes, mf_cuda_copy_stream_if_any(dev.index));
}

void mf_cuda_pinned_free_after(mf_device dev, void *ptr, size_t nbytes, cudaStream_t reader) {
    if (!ptr || dev.index < 0 || dev.index >= MF_CUDA_MAX_DEVICES)
        return;
    size_t rounded;
    int cls = pinned_class(nbytes, &rounded);
    cudaStream_t cs;
    pblock *b = malloc(sizeof *b);
    cudaEvent_t ev = NULL;
    if (reader && mf_cuda_stream(dev.index, &cs) == MF_OK && mf_cuda_event_get(dev.index, &ev) == MF_OK &&
        cudaEventRecord(ev, reader) != cudaSuccess) {
        mf_cuda_event_put(dev.index, ev);
        ev = NULL;
        cudaStreamSynchronize(reader); /* no event: wait here instead */
    }
    pthread_mutex_lock(&lock);
    pinned_cache *c = &caches[dev.index];
    c->current -= rounded;
    if (b) {
        *b = (pblock){ptr, ev, c->free_list[cls]};
        c->free_list[cls] = b;
        c->cached += rounded;
    }
    pthread_mutex_unlock(&lock);
    if (!b) {
        if (ev) {
            cudaEventSynchronize(ev);
            mf_cuda_event_put(dev.index, ev);
        }
        cudaFreeHost(ptr);
    }
}

void mf_cuda_pinned_stats(int index, mf_cuda_mem_stats *s) {
    pthread_mutex_lock(&lock);
    const pinned_cache *c = &caches[index];
    s->pinned_current_bytes = c->current;
    s->pinned_cached_bytes = c->cached;
    s->pinned_host_allocs = c->host_allocs;
    s->pinned_cache_hits = c->hits;
    pthread_mutex_unlock(&lock);
}

void mf_cuda_pinned_empty(int index) { release_cached(index); }
