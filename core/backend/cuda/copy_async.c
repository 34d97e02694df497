/* Asynchronous host->device copies (the loader's batches): one copy stream
 * per device beside the compute stream of backend.c, events that order the
 * two, and a pool of events so a batch per step does not create and destroy
 * them. Kernels stay on the one compute stream; only these copies and the
 * pinned cache (pinned.c) ever touch the copy stream. */
#include <pthread.h>
#include <stdlib.h>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_internal.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static cudaStream_t copy_streams[MF_CUDA_MAX_DEVICES];
static cudaEvent_t *pool[MF_CUDA_MAX_DEVICES];
static int pool_n[MF_CUDA_MAX_DEVICES], pool_cap[MF_CUDA_MAX_DEVICES];

mf_status mf_cuda_copy_stream(int index, cudaStream_t *out) {
    cudaStream_t compute;
    MF_TRY(mf_cuda_stream(index, &compute)); /* checks the index and makes the device current */
    pthread_mutex_lock(&lock);
    cudaError_t e = cudaSuccess;
    if (!copy_streams[index])
        e = cudaStreamCreateWithFlags(&copy_streams[index], cudaStreamNonBlocking);
    *out = copy_streams[index];
    pthread_mutex_unlock(&lock);
    return mf_cuda_check(e, "creating the CUDA copy stream");
}

cudaStream_t mf_cuda_copy_stream_if_any(int index) {
    if (index < 0 || index >= MF_CUDA_MAX_DEVICES)
        return NULL;
    pthread_mutex_lock(&lock);
    cudaStream_t s = copy_streams[index];
    pthread_mutex_unlock(&lock);
    return s;
}

mf_status mf_cuda_event_get(int index, cudaEvent_t *out) {
    pthread_mutex_lock(&lock);
    if (pool_n[index] > 0) {
        *out = pool[index][--pool_n[index]];
        pthread_mutex_unlock(&lock);
        return MF_OK;
    }
    pthread_mutex_unlock(&lock);
    MF_TRY(mf_cuda_check(cudaSetDevice(index), "selecting the CUDA device"));
    return mf_cuda_check(cudaEventCreateWithFlags(out, cudaEventDisableTiming), "creating a CUDA event");
}

void mf_cuda_event_put(int index, cudaEvent_t ev) {
    pthread_mutex_lock(&lock);
    if (pool_n[index] == pool_cap[index]) {
        int cap = pool_cap[index] ? 2 * pool_cap[index] : 16;
        cudaEvent_t *p = realloc(pool[index], sizeof *p * (size_t)cap);
        if (!p) {
            pthread_mutex_unlock(&lock);
            cudaEventDestroy(ev);
            return;
        }
        pool[index] = p;
        pool_cap[index] = cap;
    }
    pool[index][pool_n[index]++] = ev;
    pthread_mutex_unlock(&lock);
}

mf_status mf_cuda_copy_async(mf_tensor *dst, const mf_tensor *src, void **ticket) {
    *ticket = NULL;
    mf_device dd = dst->storage->device, sd = src->storage->device;
    if (dd.type != MF_CUDA || sd.type != MF_CPU || !mf_tensor_same_shape(dst, src) || dst->dtype != src->dtype ||
        !mf_tensor_is_contiguous(dst) || !mf_tensor_is_contiguous(src))
        return MF_ERR(MF_ERR_INVALID,
                      "copy_async: needs a contiguous CPU source and a contiguous CUDA destination of one shape "
                      "and dtype (got %s %s on %s -> %s %s on %s)",
                      mf_dtype_name(src->dtype), MF_SHAPE(src), mf_device_name(sd), mf_dtype_name(dst->dtype),
                      MF_SHAPE(dst), mf_device_name(dd));
    int ix = dd.index;
    cudaStream_t cs, ps;
    cudaEvent_t before, done;
    MF_TRY(mf_cuda_stream(ix, &cs));
    MF_TRY(mf_cuda_copy_stream(ix, &ps));
    MF_TRY(mf_cuda_event_get(ix, &before));
    /* dst comes from the caching allocator, which hands out a block as soon
     * as the compute stream frees it: kernels queued there may still read
     * it. So the copy starts only after all work queued on the compute
     * stream so far. A wait captures the event as recorded when it is
     * issued, so the event can go back to the pool at once. */
    cudaError_t e = cudaEventRecord(before, cs);
    if (e == cudaSuccess)
        e = cudaStreamWaitEvent(ps, before, 0);
    mf_cuda_event_put(ix, before);
    MF_TRY(mf_cuda_check(e, "copy_async: ordering the copy stream after the compute stream"));
    MF_TRY(mf_cuda_event_get(ix, &done));
    size_t n = mf_tensor_nbytes(src);
    if (n > 0)
        e = cudaMemcpyAsync(mf_tensor_data(dst), mf_tensor_data(src), n, cudaMemcpyHostToDevice, ps);
    if (e == cudaSuccess)
        e = cudaEventRecord(done, ps);
    if (e != cudaSuccess) {
        /* Leave nothing in flight: the caller frees dst on failure. */
        cudaStreamSynchronize(ps);
        mf_cuda_event_put(ix, done);
        return mf_cuda_check(e, "copy_async: copy to the device");
    }
    *ticket = done;
    return MF_OK;
}

mf_status mf_cuda_copy_wait(mf_device dev, void *ticket) {
    cudaEvent_t ev = ticket;
    if (!ev)
        return MF_OK;
    cudaStream_t cs;
    mf_status st = mf_cuda_stream(dev.index, &cs);
    cudaError_t e = st == MF_OK ? cudaStreamWaitEvent(cs, ev, 0) : cudaSuccess;
    if (st != MF_OK || e != cudaSuccess)
        cudaEventSynchronize(ev); /* the host waits instead, so dst may be freed safely */
    if (dev.index >= 0 && dev.index < MF_CUDA_MAX_DEVICES)
        mf_cuda_event_put(dev.index, ev);
    else
        cudaEventDestroy(ev);
    MF_TRY(st);
    return mf_cuda_check(e, "copy_wait: ordering the compute stream after a copy");
}
