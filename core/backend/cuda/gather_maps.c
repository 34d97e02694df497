/* Device copies of the per-dim index maps of pad, roll and nearest
 * upsampling (pool.c), cached by content: a shape seen before reuses its
 * copy, so the gather costs no upload and no host wait. A new copy is
 * filled at once on the device's copy stream and waited for there, also
 * inside a CUDA graph capture (in relaxed mode: the copy is not part of
 * the graph), so replays and later calls read valid maps. Entries live as
 * long as the process (a few KiB per distinct shape); past MAX_ENTRIES a
 * map is not cached and its copy is freed after use (never in a capture). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/cuda_internal.h"

#define MAX_ENTRIES 4096

typedef struct entry {
    int dev;
    size_t bytes;
    int64_t *host;
    void *ptr;
    struct entry *next;
} entry;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static entry *head;
static int n_entries;

/* Uploads `bytes` of `host` into fresh device memory, synchronously on the
 * copy stream; allowed while the compute stream captures. */
static mf_status upload(int dev, const void *host, size_t bytes, void **out) {
    cudaStream_t cs;
    MF_TRY(mf_cuda_copy_stream(dev, &cs));
    enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    cudaThreadExchangeStreamCaptureMode(&mode);
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaSuccess)
        e = cudaMemcpyAsync(p, host, bytes, cudaMemcpyHostToDevice, cs);
    if (e == cudaSuccess)
        e = cudaStreamSynchronize(cs);
    if (e != cudaSuccess && p)
        cudaFree(p);
    cudaThreadExchangeStreamCaptureMode(&mode);
    MF_TRY(mf_cuda_check(e, "pad/roll/upsample: index maps"));
    *out = p;
    return MF_OK;
}

mf_status mf_cuda_gather_maps(int dev, const int64_t *host, size_t bytes, const void **out, bool *owned) {
    *owned = false;
    pthread_mutex_lock(&lock);
    for (entry *e = head; e; e = e->next)
        if (e->dev == dev && e->bytes == bytes && !memcmp(e->host, host, bytes)) {
            *out = e->ptr;
            pthread_mutex_unlock(&lock);
            return MF_OK;
        }
    bool cache = n_entries < MAX_ENTRIES;
    entry *e = cache ? calloc(1, sizeof *e) : NULL;
    int64_t *copy = e ? malloc(bytes) : NULL;
    if (cache && (!e || !copy)) {
        free(e);
        pthread_mutex_unlock(&lock);
        return MF_ERR(MF_ERR_NOMEM, "pad/roll/upsample: out of host memory");
    }
    if (!cache && mf_cuda_capturing(dev)) {
        pthread_mutex_unlock(&lock);
        return MF_ERR(MF_ERR_UNSUPPORTED, "pad/roll/upsample: more than %d distinct shapes; cannot capture a new "
                                          "one in a CUDA graph", MAX_ENTRIES);
    }
    void *p;
    mf_status st = upload(dev, host, bytes, &p);
    if (st == MF_OK && cache) {
        memcpy(copy, host, bytes);
        *e = (entry){dev, bytes, copy, p, head};
        head = e;
        n_entries++;
    } else {
        free(copy);
        free(e);
    }
    pthread_mutex_unlock(&lock);
    if (st == MF_OK) {
        *out = p;
        *owned = !cache;
    }
    return st;
}
