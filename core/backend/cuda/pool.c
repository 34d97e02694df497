/* CUDA pool family (kern_pool.h) over pool_kernels.cu: window pooling,
 * linear resampling and the per-dim index gathers of pad, roll and nearest
 * upsampling. Backward kernels scatter with atomic adds into a gradient
 * zeroed first, so f32 sums may differ from the CPU in the last bits.
 * Dtypes f32, f64, bf16 and f16 (the CPU gather also moves others). bf16
 * and f16 compute in f32 and round once on store, as the CPU backend's f32
 * twins do; their backward kernels add into an f32 scratch gradient that is
 * rounded into gx afterwards (no 16-bit atomics). Max and average pooling
 * also run on channels-last data (the geometry says so). */
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/cuda/nn_internal.h"
#include "core/backend/kern_pool.h"

static bool lowp(mf_dtype dt) { return dt == MF_BF16 || dt == MF_F16; }

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64 && !lowp(t->dtype))
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: dtype %s not supported on the cuda backend", op,
                      mf_dtype_name(t->dtype));
    return MF_OK;
}

static mf_pool_args args_of(const mf_pool_geom *g) {
    mf_pool_args a;
    memset(&a, 0, sizeof a);
    a.planes = g->planes;
    for (int d = 0; d < 3; d++) {
        a.in[d] = g->in[d];
        a.out[d] = g->out[d];
        a.k[d] = g->kernel[d];
        a.st[d] = g->stride[d];
        a.pad[d] = g->pad[d];
        a.dil[d] = g->dilation[d];
    }
    a.include_pad = g->count_include_pad;
    a.adaptive = g->adaptive;
    a.cl = g->channels_last;
    a.C = g->channels;
    return a;
}

static mf_status prep(const char *op, const mf_tensor *t, cudaStream_t *s) {
    MF_TRY(need_float(op, t));
    return mf_cuda_stream(t->storage->device.index, s);
}

static mf_status zero(mf_tensor *t, cudaStream_t s) {
    size_t n = (size_t)mf_tensor_numel(t) * mf_dtype_size(t->dtype);
    return n ? mf_cuda_check(cudaMemsetAsync(mf_tensor_data(t), 0, n, s), "pool: zeroing the gradient") : MF_OK;
}

/* Where a backward kernel adds: gx itself, or for bf16/f16 gx an f32
 * scratch of gx's size (*acc != gx's data); zeroed either way. */
static mf_status grad_begin(mf_tensor *gx, cudaStream_t s, void **acc) {
    *acc = mf_tensor_data(gx);
    if (!lowp(gx->dtype))
        return zero(gx, s);
    size_t bytes = (size_t)(mf_tensor_numel(gx) > 0 ? mf_tensor_numel(gx) : 1) * sizeof(float);
    MF_TRY(mf_cuda_alloc(gx->storage->device, bytes, acc));
    mf_status st = mf_cuda_check(cudaMemsetAsync(*acc, 0, bytes, s), "pool: zeroing the gradient");
    if (st != MF_OK) {
        mf_cuda_free(gx->storage->device, *acc, bytes);
        *acc = NULL;
    }
    return st;
}

/* After the kernel that adds into acc (st: its launch status): rounds an
 * f32 scratch into gx and frees it (stream-ordered). Returns st or the
 * conversion's error. */
static mf_status grad_end(mf_tensor *gx, cudaStream_t s, void *acc, mf_status st) {
    if (acc == mf_tensor_data(gx))
        return st;
    int64_t n = mf_tensor_numel(gx);
    if (st == MF_OK && n > 0) {
        int64_t one = 1;
        const int64_t *strides[2] = {&one, &one};
        mf_cuda_layout L;
        mf_cuda_layout_build(&L, 1, &n, 2, strides);
        st = mf_cuda_check(mf_cuda_launch_copy(s, &L, mf_tensor_data(gx), (int)gx->dtype, acc, MF_F32),
                           "pool: rounding the gradient");
    }
    mf_cuda_free(gx->storage->device, acc, (size_t)(n > 0 ? n : 1) * sizeof(float));
    return st;
}

static mf_status cuda_max_forward(const mf_pool_geom *g, mf_tensor *y, mf_tensor *idx, const mf_tensor *x) {
    cudaStream_t s;
    MF_TRY(prep("max_pool", x, &s));
    mf_pool_args a = args_of(g);
    return mf_cuda_check(
        mf_cuda_launch_maxpool(s, (int)x->dtype, &a, mf_tensor_data(y), mf_tensor_data(idx), mf_tensor_data(x)),
        "max_pool kernel");
}

static mf_status cuda_max_backward(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy, const mf_tensor *idx) {
    cudaStream_t s;
    void *acc;
    MF_TRY(prep("max_pool backward", gx, &s));
    MF_TRY(grad_begin(gx, s, &acc));
    mf_pool_args a = args_of(g);
    return grad_end(gx, s, acc,
                    mf_cuda_check(mf_cuda_launch_maxpool_bwd(s, (int)gx->dtype, &a, acc, mf_tensor_data(gy),
                                                             mf_tensor_data(idx)),
                                  "max_pool backward kernel"));
}

static mf_status cuda_avg_forward(const mf_pool_geom *g, mf_tensor *y, const mf_tensor *x) {
    cudaStream_t s;
    MF_TRY(prep("avg_pool", x, &s));
    mf_pool_args a = args_of(g);
    return mf_cuda_check(mf_cuda_launch_avgpool(s, (int)x->dtype, &a, mf_tensor_data(y), mf_tensor_data(x), 0),
                         "avg_pool kernel");
}

static mf_status cuda_avg_backward(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy) {
    cudaStream_t s;
    void *acc;
    MF_TRY(prep("avg_pool backward", gx, &s));
    MF_TRY(grad_begin(gx, s, &acc));
    mf_pool_args a = args_of(g);
    return grad_end(gx, s, acc,
                    mf_cuda_check(mf_cuda_launch_avgpool(s, (int)gx->dtype, &a, acc, mf_tensor_data(gy), 1),
                                  "avg_pool backward kernel"));
}

static mf_status cuda_linear_forward(const mf_pool_geom *g, bool align_corners, mf_tensor *y, const mf_tensor *x) {
    cudaStream_t s;
    MF_TRY(prep("upsample", x, &s));
    mf_pool_args a = args_of(g);
    a.align_corners = align_corners;
    return mf_cuda_check(mf_cuda_launch_linear(s, (int)x->dtype, &a, mf_tensor_data(y), mf_tensor_data(x), 0),
                         "upsample kernel");
}

static mf_status cuda_linear_backward(const mf_pool_geom *g, bool align_corners, mf_tensor *gx, const mf_tensor *gy) {
    cudaStream_t s;
    void *acc;
    MF_TRY(prep("upsample backward", gx, &s));
    MF_TRY(grad_begin(gx, s, &acc));
    mf_pool_args a = args_of(g);
    a.align_corners = align_corners;
    return grad_end(gx, s, acc,
                    mf_cuda_check(mf_cuda_launch_linear(s, (int)gx->dtype, &a, acc, mf_tensor_data(gy), 1),
                                  "upsample backward kernel"));
}

/* The maps of y's dims, concatenated, on the device (gather_maps.c);
 * *owned: the caller frees a->maps with cudaFree once its kernel ran. */
static mf_status gather_args(const mf_tensor *y, const int64_t *const *maps, mf_gather_args *a, bool *owned) {
    memset(a, 0, sizeof *a);
    a->ndim = y->ndim;
    int64_t total = 0;
    for (int d = 0; d < y->ndim; d++) {
        a->shape[d] = y->shape[d];
        a->moff[d] = total;
        total += y->shape[d];
    }
    size_t bytes = (size_t)(total > 0 ? total : 1) * sizeof(int64_t);
    int64_t *host = calloc(1, bytes);
    if (!host)
        return MF_ERR(MF_ERR_NOMEM, "pad/roll/upsample: out of host memory");
    for (int d = 0; d < y->ndim; d++)
        memcpy(host + a->moff[d], maps[d], (size_t)y->shape[d] * sizeof(int64_t));
    const void *dev;
    mf_status st = mf_cuda_gather_maps(y->storage->device.index, host, bytes, &dev, owned);
    free(host);
    a->maps = (const int64_t *)dev;
    return st;
}

/* Frees an uncached map copy after the kernel that reads it. */
static void release_maps(cudaStream_t s, const mf_gather_args *a, bool owned) {
    if (owned) {
        cudaStreamSynchronize(s);
        cudaFree((void *)a->maps);
    }
}

static mf_status cuda_gather(mf_tensor *y, const mf_tensor *x, const int64_t *const *maps, double fill) {
    cudaStream_t s;
    MF_TRY(prep("pad/roll/upsample", x, &s));
    if (mf_tensor_numel(y) == 0)
        return MF_OK;
    mf_gather_args a;
    bool owned;
    MF_TRY(gather_args(y, maps, &a, &owned));
    for (int d = 0; d < x->ndim; d++)
        a.xs[d] = x->stride[d];
    a.fill = fill;
    mf_status st =
        mf_cuda_check(mf_cuda_launch_pool_gather(s, (int)y->dtype, &a, mf_tensor_data(y), mf_tensor_data(x), 0),
                      "pad/roll/upsample kernel");
    release_maps(s, &a, owned);
    return st;
}

static mf_status cuda_gather_backward(mf_tensor *gx, const mf_tensor *gy, const int64_t *const *maps) {
    cudaStream_t s;
    MF_TRY(prep("pad/roll/upsample backward", gx, &s));
    if (mf_tensor_numel(gy) == 0)
        return zero(gx, s);
    mf_gather_args a;
    bool owned;
    MF_TRY(gather_args(gy, maps, &a, &owned));
    int64_t st = 1;
    for (int d = gx->ndim - 1; d >= 0; d--) {
        a.xs[d] = st;
        st *= gx->shape[d];
    }
    void *acc;
    mf_status r = grad_begin(gx, s, &acc);
    if (r == MF_OK)
        r = grad_end(gx, s, acc,
                     mf_cuda_check(mf_cuda_launch_pool_gather(s, (int)gx->dtype, &a, acc, mf_tensor_data(gy), 1),
                                   "pad/roll/upsample backward kernel"));
    release_maps(s, &a, owned);
    return r;
}

const struct mf_kern_pool mf_cuda_pool = {
    .max_forward = cuda_max_forward,
    .max_backward = cuda_max_backward,
    .avg_forward = cuda_avg_forward,
    .avg_backward = cuda_avg_backward,
    .linear_forward = cuda_linear_forward,
    .linear_backward = cuda_linear_backward,
    .gather = cuda_gather,
    .gather_backward = cuda_gather_backward,
    .channels_last = true,
};
