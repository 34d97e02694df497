/* Input checks that run on the device and are reported at the next host
 * read of device data, the way a CUDA device-side assert surfaces in
 * PyTorch.
 *
 * Gather/scatter index bounds and cross-entropy class targets used to be
 * checked with a host wait each (a kernel, a copy back, a stream
 * synchronise): several stalls per LVM-Med step and one per classification
 * step, and a gather could not be captured in a CUDA graph. Now the kernel
 * writes a failure into a record in device memory and the host goes on;
 * the record is copied back with the next host wait (a tensor read to the
 * host, a synchronize, a gradient norm), which then fails with the check's
 * message, and every record is cleared. The kernels never touch memory out
 * of range: a bad index gathers 0 and scatters nothing, a bad target counts
 * as class 0.
 *
 * Records: 4 u64 each, {count, value, position, size}, zero until a check
 * fails. Per device CAP records for the checks since the last host wait,
 * each with its description kept on the host, and one more shared by every
 * check captured in a CUDA graph (replays rewrite it). When CAP checks pile
 * up without a host wait, the next check waits once and reports. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/backend/cuda/cuda_internal.h"

#define CAP 256
#define WORDS 4

typedef struct {
    unsigned long long *dev; /* (CAP + 1) records, the last for graphs */
    unsigned long long host[(CAP + 1) * WORDS];
    char what[CAP + 1][128];
    int kind[CAP + 1];
    int n;           /* records handed out since the last host wait */
    bool graph_used; /* some captured graph writes the last record */
    bool fetched;    /* host[] holds a queued copy of the records */
} dev_checks;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static dev_checks checks[MF_CUDA_MAX_DEVICES];

static mf_status ensure(int dev) {
    dev_checks *c = &checks[dev];
    if (c->dev)
        return MF_OK;
    enum cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
    cudaThreadExchangeStreamCaptureMode(&mode);
    size_t bytes = sizeof(unsigned long long) * (CAP + 1) * WORDS;
    void *p = NULL;
    cudaError_t e = cudaMalloc(&p, bytes);
    if (e == cudaSuccess)
        e = cudaMemset(p, 0, bytes);
    cudaThreadExchangeStreamCaptureMode(&mode);
    if (e != cudaSuccess) {
        if (p)
            cudaFree(p);
        return mf_cuda_check(e, "device-side input checks: allocating their records");
    }
    c->dev = p;
    return MF_OK;
}

/* Queues the copy of the used records to the host (before a wait). */
static mf_status fetch(int dev, cudaStream_t s) {
    dev_checks *c = &checks[dev];
    c->fetched = false;
    if (!c->dev || (c->n == 0 && !c->graph_used))
        return MF_OK;
    size_t rec = sizeof(unsigned long long) * WORDS;
    cudaError_t e = cudaSuccess;
    if (c->n)
        e = cudaMemcpyAsync(c->host, c->dev, rec * (size_t)c->n, cudaMemcpyDeviceToHost, s);
    if (e == cudaSuccess && c->graph_used)
        e = cudaMemcpyAsync(c->host + CAP * WORDS, c->dev + CAP * WORDS, rec, cudaMemcpyDeviceToHost, s);
    MF_TRY(mf_cuda_check(e, "device-side input checks: reading their records"));
    c->fetched = true;
    return MF_OK;
}

static mf_status failure(int dev, const dev_checks *c, int r) {
    const unsigned long long *h = c->host + r * WORDS;
    long long value = (long long)h[1], pos = (long long)h[2], size = (long long)h[3];
    const char *where = r == CAP ? " (inside a replayed CUDA graph)" : "";
    if (c->kind[r] == MF_CUDA_CHECK_TARGET)
        return MF_ERR(MF_ERR_INVALID,
                      "%s: target %lld (at flat position %lld) is out of range for %lld classes [0, %lld)%s; found on cuda:%d "
                      "by a device-side check, reported at this read",
                      c->what[r], value, pos, size, size, where, dev);
    return MF_ERR(MF_ERR_INVALID,
                  "%s: index %lld (at flat position %lld) is out of range for a dim of size %lld (%llu bad "
                  "indices)%s; found on cuda:%d by a device-side check, reported at this read",
                  c->what[r], value, pos, size, h[0], where, dev);
}

/* After the wait: the first failed record as an error; clears them all. */
static mf_status report(int dev, cudaStream_t s) {
    dev_checks *c = &checks[dev];
    if (!c->fetched)
        return MF_OK;
    c->fetched = false;
    mf_status st = MF_OK;
    for (int r = 0; r < c->n && st == MF_OK; r++)
        if (c->host[r * WORDS])
            st = failure(dev, c, r);
    if (st == MF_OK && c->graph_used && c->host[CAP * WORDS])
        st = failure(dev, c, CAP);
    /* checks that passed wrote nothing: only a failure leaves records to clear */
    size_t rec = sizeof(unsigned long long) * WORDS;
    cudaError_t e = cudaSuccess;
    if (c->n && st != MF_OK)
        e = cudaMemsetAsync(c->dev, 0, rec * (size_t)c->n, s);
    if (e == cudaSuccess && c->graph_used && c->host[CAP * WORDS])
        e = cudaMemsetAsync(c->dev + CAP * WORDS, 0, rec, s);
    c->n = 0;
    if (st == MF_OK && e != cudaSuccess)
        st = mf_cuda_check(e, "device-side input checks: clearing their records");
    return st;
}

static mf_status wait_locked(int dev, cudaStream_t s, const char *what) {
    mf_status st = fetch(dev, s);
    cudaError_t e = cudaStreamSynchronize(s);
    if (st == MF_OK)
        st = mf_cuda_check(e, what);
    mf_status r = report(dev, s);
    return st != MF_OK ? st : r;
}

mf_status mf_cuda_host_wait(int dev, cudaStream_t s, const char *what) {
    if (dev < 0 || dev >= MF_CUDA_MAX_DEVICES)
        return mf_cuda_check(cudaStreamSynchronize(s), what);
    pthread_mutex_lock(&lock);
    mf_status st = wait_locked(dev, s, what);
    pthread_mutex_unlock(&lock);
    return st;
}

mf_status mf_cuda_check_record(int dev, int kind, const char *what, unsigned long long **rec) {
    *rec = NULL;
    if (dev < 0 || dev >= MF_CUDA_MAX_DEVICES)
        return MF_ERR(MF_ERR_DEVICE, "device-side input checks: no device cuda:%d", dev);
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev, &s));
    pthread_mutex_lock(&lock);
    dev_checks *c = &checks[dev];
    mf_status st = ensure(dev);
    int r = -1;
    if (st == MF_OK && mf_cuda_capturing(dev)) {
        r = CAP;
        c->graph_used = true;
    } else if (st == MF_OK) {
        if (c->n == CAP)
            st = wait_locked(dev, s, "device-side input checks");
        if (st == MF_OK)
            r = c->n++;
    }
    if (st == MF_OK) {
        snprintf(c->what[r], sizeof c->what[r], "%s", what);
        c->kind[r] = kind;
        *rec = c->dev + (size_t)r * WORDS;
    }
    pthread_mutex_unlock(&lock);
    return st;
}
