/* CUDA pool family (kern_pool.h) over pool_kernels.cu: window pooling,
 * linear resampling and the per-dim index gathers of pad, roll and nearest
 * upsampling. Backward kernels scatter with atomic adds into a gradient
 * zeroed first, so f32 sums may differ from the CPU in the last bits.
 * f32 and f64 only (the CPU gather also moves other dtypes). */
#include <stdlib.h>
#include <string.h>

#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/cuda/nn_internal.h"
#include "core/backend/kern_pool.h"

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
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
    MF_TRY(prep("max_pool backward", gx, &s));
    MF_TRY(zero(gx, s));
    mf_pool_args a = args_of(g);
    return mf_cuda_check(
        mf_cuda_launch_maxpool_bwd(s, (int)gx->dtype, &a, mf_tensor_data(gx), mf_tensor_data(gy), mf_tensor_data(idx)),
        "max_pool backward kernel");
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
    MF_TRY(prep("avg_pool backward", gx, &s));
    MF_TRY(zero(gx, s));
    mf_pool_args a = args_of(g);
    return mf_cuda_check(mf_cuda_launch_avgpool(s, (int)gx->dtype, &a, mf_tensor_data(gx), mf_tensor_data(gy), 1),
                         "avg_pool backward kernel");
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
    MF_TRY(prep("upsample backward", gx, &s));
    MF_TRY(zero(gx, s));
    mf_pool_args a = args_of(g);
    a.align_corners = align_corners;
    return mf_cuda_check(mf_cuda_launch_linear(s, (int)gx->dtype, &a, mf_tensor_data(gx), mf_tensor_data(gy), 1),
                         "upsample backward kernel");
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
    MF_TRY(zero(gx, s));
    if (mf_tensor_numel(gy) == 0)
        return MF_OK;
    mf_gather_args a;
    bool owned;
    MF_TRY(gather_args(gy, maps, &a, &owned));
    int64_t st = 1;
    for (int d = gx->ndim - 1; d >= 0; d--) {
        a.xs[d] = st;
        st *= gx->shape[d];
    }
    mf_status r =
        mf_cuda_check(mf_cuda_launch_pool_gather(s, (int)gx->dtype, &a, mf_tensor_data(gx), mf_tensor_data(gy), 1),
                      "pad/roll/upsample backward kernel");
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
};
