/* CUDA norm family (kern_norm.h): batch norm over blocks of (range of a
 * channel, channel) in two passes (batch_norm_kernels.cu; channels-last
 * data over tiles of channels by a range of rows), layer and group
 * norm with one block per row (norm_loss_kernels.cu). 1-D parameter and statistics tensors may be strided. */
#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/cuda/nn_internal.h"
#include "core/backend/kern_norm.h"

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: dtype %s not supported on the cuda backend", op,
                      mf_dtype_name(t->dtype));
    return MF_OK;
}

static void *ptr(const mf_tensor *t) { return t ? mf_tensor_data(t) : NULL; }
static int64_t st0(const mf_tensor *t) { return t && t->ndim > 0 ? t->stride[0] : 1; }

/* The fields forward and backward share: geometry, x, weight, statistics. */
static mf_bn_args bn_args(const mf_tensor *x, const mf_tensor *w, const mf_tensor *mean, const mf_tensor *invstd) {
    return (mf_bn_args){.N = x->shape[0],
                        .C = x->shape[1],
                        .S = x->shape[2],
                        .x = ptr(x),
                        .w = ptr(w),
                        .mean = ptr(mean),
                        .invstd = ptr(invstd),
                        .w_st = st0(w),
                        .mean_st = st0(mean),
                        .invstd_st = st0(invstd),
                        .dt = (int32_t)x->dtype};
}

/* Values per block range: enough blocks for a GPU on the large layers,
 * one range for small ones. */
#define BN_RANGE 8192
#define BN_MAX_PARTS 256
/* Channels-last: rows per range (a block covers a tile of channels of them). */
#define BN_CL_ROWS 256
#define BN_CL_MAX_PARTS 1024

int64_t mf_cuda_bn_parts(int64_t M) {
    int64_t p = (M + BN_RANGE - 1) / BN_RANGE;
    return p < 1 ? 1 : p > BN_MAX_PARTS ? BN_MAX_PARTS : p;
}

int64_t mf_cuda_bn_cl_parts(int64_t M) {
    int64_t p = (M + BN_CL_ROWS - 1) / BN_CL_ROWS;
    return p < 1 ? 1 : p > BN_CL_MAX_PARTS ? BN_CL_MAX_PARTS : p;
}

/* Whether the (N, C, S) data t is in the channels-last layout, strides
 * (S * C, 1, C): where C or S is 1 both layouts are the same memory. */
static bool is_cl(const mf_tensor *t) { return t && t->shape[1] > 1 && t->shape[2] > 1 && t->stride[1] == 1; }

/* Every data tensor (NULL ones aside) in x's layout: contiguous, or
 * channels-last with its exact strides. */
static mf_status same_layout(const char *op, const mf_tensor *x, int n, const mf_tensor *const *t) {
    bool cl = is_cl(x);
    for (int i = -1; i < n; i++) {
        const mf_tensor *u = i < 0 ? x : t[i];
        if (!u)
            continue;
        int64_t S = u->shape[2], C = u->shape[1];
        bool ok = cl ? is_cl(u) && u->stride[2] == C && (u->shape[0] == 1 || u->stride[0] == S * C)
                     : mf_tensor_is_contiguous(u);
        if (!ok)
            return MF_ERR(MF_ERR_INVALID, "%s: cuda kernels need contiguous or channels-last (N, C, S) data, got %s",
                          op, MF_SHAPE(u));
    }
    return MF_OK;
}

/* Ranges and their scratch sums (when `sums`), and for channels-last data
 * the per-channel constants; *buf and *bytes: the scratch to free after
 * the launch (stream order keeps it alive for the kernels). */
static mf_status bn_partition(mf_device dev, mf_bn_args *a, bool sums, void **buf, size_t *bytes) {
    int64_t M = a->N * a->S;
    a->parts = a->cl ? mf_cuda_bn_cl_parts(M) : mf_cuda_bn_parts(M);
    a->narrow = M <= (int64_t)UINT32_MAX;
    a->partial = NULL;
    a->coef = NULL;
    *buf = NULL;
    *bytes = 0;
    if (a->C == 0 || M == 0 || (!sums && !a->cl))
        return MF_OK;
    size_t coef = a->cl ? 4 * (size_t)a->C : 0, part = sums ? 2 * (size_t)(a->C * a->parts) : 0;
    *bytes = sizeof(double) * (coef + part);
    MF_TRY(mf_cuda_alloc(dev, *bytes, buf));
    a->coef = a->cl ? (double *)*buf : NULL;
    a->partial = sums ? (double *)*buf + coef : NULL;
    return MF_OK;
}

static mf_row_args row_args(const mf_rownorm_geom *g, const mf_tensor *x, const mf_tensor *w, const mf_tensor *mean,
                            const mf_tensor *rstd) {
    return (mf_row_args){.rows = g->rows,
                         .groups = g->groups,
                         .cg = g->cg,
                         .s = g->s,
                         .x = ptr(x),
                         .w = ptr(w),
                         .mean = ptr(mean),
                         .rstd = ptr(rstd),
                         .w_st = st0(w),
                         .mean_st = st0(mean),
                         .rstd_st = st0(rstd)};
}

/* Batch norm data: f32/f64, or bf16/f16 with f32 parameters and statistics. */
static mf_status need_bn_dtype(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_BF16 && t->dtype != MF_F16)
        return need_float(op, t);
    return MF_OK;
}

static mf_status cuda_batch_forward(mf_tensor *y, mf_tensor *mean, mf_tensor *invstd, const mf_tensor *x,
                                    const mf_tensor *w, const mf_tensor *b, mf_tensor *running_mean,
                                    mf_tensor *running_var, bool training, double momentum, double eps,
                                    bool relu) {
    MF_TRY(need_bn_dtype("batch_norm", x));
    if (mf_tensor_numel(x) == 0 && training)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    mf_bn_args a = bn_args(x, w, mean, invstd);
    a.b = ptr(b);
    a.y = ptr(y);
    a.rm = ptr(running_mean);
    a.rv = ptr(running_var);
    a.b_st = st0(b);
    a.rm_st = st0(running_mean);
    a.rv_st = st0(running_var);
    a.training = training;
    a.momentum = momentum;
    a.eps = eps;
    a.relu = relu;
    a.cl = is_cl(x);
    MF_TRY(same_layout("batch_norm", x, 1, (const mf_tensor *const[]){y}));
    size_t bytes;
    void *buf;
    MF_TRY(bn_partition(x->storage->device, &a, training, &buf, &bytes));
    mf_status st = mf_cuda_check(mf_cuda_launch_bn(s, (int)x->dtype, 0, &a), "batch_norm kernel");
    if (buf)
        mf_cuda_free(x->storage->device, buf, bytes);
    return st;
}

static mf_status cuda_batch_backward(mf_tensor *gx, mf_tensor *gw, mf_tensor *gb, const mf_tensor *gy,
                                     const mf_tensor *x, const mf_tensor *mean, const mf_tensor *invstd,
                                     const mf_tensor *w, bool training, const mf_tensor *ry) {
    MF_TRY(need_bn_dtype("batch_norm backward", x));
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    mf_bn_args a = bn_args(x, w, mean, invstd);
    a.g = ptr(gy);
    a.ry = ptr(ry);
    a.gx = ptr(gx);
    a.gw = ptr(gw);
    a.gb = ptr(gb);
    a.gw_st = st0(gw);
    a.gb_st = st0(gb);
    a.training = training;
    a.cl = is_cl(x);
    MF_TRY(same_layout("batch_norm backward", x, 3, (const mf_tensor *const[]){gx, gy, ry}));
    size_t bytes;
    void *buf;
    MF_TRY(bn_partition(x->storage->device, &a, gw || gb || (gx && training), &buf, &bytes));
    mf_status st = mf_cuda_check(mf_cuda_launch_bn(s, (int)x->dtype, 1, &a), "batch_norm backward kernel");
    if (buf)
        mf_cuda_free(x->storage->device, buf, bytes);
    return st;
}

static mf_status cuda_row_forward(const mf_rownorm_geom *g, mf_tensor *y, mf_tensor *mean, mf_tensor *rstd,
                                  const mf_tensor *x, const mf_tensor *w, const mf_tensor *b, double eps) {
    MF_TRY(need_float("norm", x));
    if (g->cg * g->s == 0)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    mf_row_args a = row_args(g, x, w, mean, rstd);
    a.b = ptr(b);
    a.y = ptr(y);
    a.b_st = st0(b);
    a.eps = eps;
    return mf_cuda_check(mf_cuda_launch_rownorm(s, (int)x->dtype, 0, &a), "norm kernel");
}

static mf_status cuda_row_backward(const mf_rownorm_geom *g, mf_tensor *gx, mf_tensor *gw, mf_tensor *gb,
                                   const mf_tensor *gy, const mf_tensor *x, const mf_tensor *mean,
                                   const mf_tensor *rstd, const mf_tensor *w) {
    MF_TRY(need_float("norm backward", x));
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    if (g->cg * g->s == 0 || g->rows == 0) {
        if (gw && mf_tensor_numel(gw))
            MF_TRY(mf_cuda_fill(gw, 0.0));
        if (gb && mf_tensor_numel(gb))
            MF_TRY(mf_cuda_fill(gb, 0.0));
        return MF_OK;
    }
    mf_row_args a = row_args(g, x, w, mean, rstd);
    a.g = ptr(gy);
    a.gx = ptr(gx);
    a.gw = ptr(gw);
    a.gb = ptr(gb);
    a.gw_st = st0(gw);
    a.gb_st = st0(gb);
    return mf_cuda_check(mf_cuda_launch_rownorm(s, (int)x->dtype, 1, &a), "norm backward kernel");
}

const struct mf_kern_norm mf_cuda_norm = {
    .batch_channels_last = true,
    .batch_forward = cuda_batch_forward,
    .batch_backward = cuda_batch_backward,
    .row_forward = cuda_row_forward,
    .row_backward = cuda_row_backward,
};
