/* The CUDA backend table and the module's entry point. One compute stream
 * per device carries every kernel and copy, so work is ordered without
 * events and the caching allocator can reuse a block as soon as it is
 * freed. The one exception, batches copied ahead on a copy stream, is
 * ordered with events in copy_async.c. Kernel families live in their own files (elementwise.c,
 * reduce_sum.c, optim.c) over the kernels in *.cu. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "core/backend/backend.h"
#include "core/backend/cuda/cuda_internal.h"

#define EXPORT __attribute__((visibility("default")))

extern const struct mf_kern_elementwise mf_cuda_elementwise;
extern const struct mf_kern_reduce mf_cuda_reduce;
extern const struct mf_kern_optim mf_cuda_optim;
extern const struct mf_kern_linalg mf_cuda_linalg;
extern const struct mf_kern_conv mf_cuda_conv;
extern const struct mf_kern_norm mf_cuda_norm;
extern const struct mf_kern_loss mf_cuda_loss;
extern const struct mf_kern_pool mf_cuda_pool;
extern const struct mf_kern_index mf_cuda_index;
extern const struct mf_kern_random mf_cuda_random;
extern const struct mf_kern_attention mf_cuda_attention;
extern const struct mf_kern_sort mf_cuda_sort;

static pthread_mutex_t stream_lock = PTHREAD_MUTEX_INITIALIZER;
static cudaStream_t streams[MF_CUDA_MAX_DEVICES];
static int sm_count[MF_CUDA_MAX_DEVICES];
static int device_count;

mf_status mf_cuda_check(cudaError_t e, const char *what) {
    if (e == cudaSuccess)
        return MF_OK;
    (void)cudaGetLastError(); /* clear a sticky launch error so later calls see their own */
    return MF_ERR(MF_ERR_DEVICE, "%s: CUDA error %s: %s", what, cudaGetErrorName(e), cudaGetErrorString(e));
}

mf_status mf_cuda_stream(int index, cudaStream_t *out) {
    if (index < 0 || index >= device_count)
        return MF_ERR(MF_ERR_DEVICE, "device cuda:%d does not exist (this machine has %d CUDA device%s)", index,
                      device_count, device_count == 1 ? "" : "s");
    MF_TRY(mf_cuda_check(cudaSetDevice(index), "selecting the CUDA device"));
    pthread_mutex_lock(&stream_lock);
    cudaError_t e = cudaSuccess;
    if (!streams[index]) {
        e = cudaStreamCreateWithFlags(&streams[index], cudaStreamNonBlocking);
        if (e == cudaSuccess)
            e = cudaDeviceGetAttribute(&sm_count[index], cudaDevAttrMultiProcessorCount, index);
    }
    *out = streams[index];
    pthread_mutex_unlock(&stream_lock);
    return mf_cuda_check(e, "creating the CUDA compute stream");
}

int mf_cuda_sm_count(int index) {
    return index >= 0 && index < MF_CUDA_MAX_DEVICES && sm_count[index] > 0 ? sm_count[index] : 132;
}

static mf_status cuda_synchronize(mf_device dev) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev.index, &s));
    return mf_cuda_host_wait(dev.index, s, "synchronize");
}

/* Appends a dim of `size` (strides st[k] per operand) after L's first *n
 * dims, merged into the last of them when contiguous with it in every
 * operand. */
static void push_dim(mf_cuda_layout *L, int *n, int64_t size, const int64_t *st) {
    bool merge = *n > 0;
    for (int k = 0; k < L->nops && merge; k++)
        merge = L->stride[k][*n - 1] == st[k] * size;
    if (merge) {
        L->shape[*n - 1] *= size;
    } else {
        L->shape[*n] = size;
        (*n)++;
    }
    for (int k = 0; k < L->nops; k++)
        L->stride[k][*n - 1] = st[k];
}

void mf_cuda_layout_build(mf_cuda_layout *L, int ndim, const int64_t *shape, int nops,
                          const int64_t *const *strides) {
    memset(L, 0, sizeof *L);
    L->nops = nops;
    L->n = 1;
    int n = 0;
    for (int d = 0; d < ndim; d++) {
        L->n *= shape[d];
        if (shape[d] == 1)
            continue;
        int64_t st[MF_CUDA_MAX_OPS];
        for (int k = 0; k < nops; k++)
            st[k] = strides[k][d];
        push_dim(L, &n, shape[d], st);
    }
    L->ndim = n;
}

void mf_cuda_layout_build_memory_order(mf_cuda_layout *L, int ndim, const int64_t *shape, int nops,
                                       const int64_t *const *strides) {
    mf_cuda_layout_build(L, ndim, shape, nops, strides);
    int n = L->ndim;
    /* Outer to inner by the output's strides (a stable insertion sort), so
     * a channels-last or otherwise permuted dense output is written in
     * memory order and merges into one dim where every operand shares its
     * layout. */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && L->stride[0][j - 1] < L->stride[0][j]; j--) {
            int64_t t = L->shape[j];
            L->shape[j] = L->shape[j - 1];
            L->shape[j - 1] = t;
            for (int k = 0; k < nops; k++) {
                t = L->stride[k][j];
                L->stride[k][j] = L->stride[k][j - 1];
                L->stride[k][j - 1] = t;
            }
        }
    /* merge again: dims the sort brought together (dim d is read before
     * push_dim writes at index m <= d) */
    int m = 0;
    for (int d = 0; d < n; d++) {
        int64_t st[MF_CUDA_MAX_OPS];
        for (int k = 0; k < nops; k++)
            st[k] = L->stride[k][d];
        push_dim(L, &m, L->shape[d], st);
    }
    L->ndim = m;
}

static const mf_backend mf_cuda_backend = {
    .size = sizeof(mf_backend),
    .name = "cuda",
    .device_type = MF_CUDA,
    .alloc = mf_cuda_alloc,
    .free = mf_cuda_free,
    .copy = mf_cuda_copy,
    .fill = mf_cuda_fill,
    .synchronize = cuda_synchronize,
    .elementwise = &mf_cuda_elementwise,
    .reduce = &mf_cuda_reduce,
    .optim = &mf_cuda_optim,
    .linalg = &mf_cuda_linalg,
    .conv = &mf_cuda_conv,
    .norm = &mf_cuda_norm,
    .loss = &mf_cuda_loss,
    .pool = &mf_cuda_pool,
    .index = &mf_cuda_index,
    .random = &mf_cuda_random,
    .attention = &mf_cuda_attention,
    .sort = &mf_cuda_sort,
    .pinned_alloc = mf_cuda_pinned_alloc,
    .pinned_free = mf_cuda_pinned_free,
    .copy_async = mf_cuda_copy_async,
    .copy_wait = mf_cuda_copy_wait,
};

/* Called once by core/backend/registry.c. Without a device or driver it
 * fails with a message saying why, and the caller reports MF_ERR_DEVICE. */
EXPORT mf_status mf_cuda_backend_init(const mf_backend **out, char *err, size_t errlen) {
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(err, errlen, "no CUDA device: %s (%s)", cudaGetErrorString(e), cudaGetErrorName(e));
        (void)cudaGetLastError();
        return MF_ERR_DEVICE;
    }
    if (n <= 0) {
        snprintf(err, errlen, "no CUDA device: the driver reports 0 devices");
        return MF_ERR_DEVICE;
    }
    device_count = n < MF_CUDA_MAX_DEVICES ? n : MF_CUDA_MAX_DEVICES;
    *out = &mf_cuda_backend;
    return MF_OK;
}
