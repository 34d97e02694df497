/* CUDA conv family on cuDNN (its convolution API): forward, backward data,
 * backward filter and bias for 1-D/2-D/3-D, grouped and dilated
 * convolutions. A 1-D conv runs as a 2-D one with a unit height; 2-D and
 * 1-D use 4-D descriptors, 3-D uses 5-D ones. Each call's algorithm comes
 * from conv_algo.c (cuDNN's heuristics, or a timed search, cached per
 * shape). f32 may use TF32 tensor cores unless mf_cuda_tf32_enabled()
 * says no, in which case only FMA algorithms run. Channels-last geometries
 * describe x and y with NHWC strides and the filter as CUDNN_TENSOR_NHWC
 * (the core hands the weight over in that layout). */
#include <cudnn.h>
#include <pthread.h>
#include <string.h>

#include "core/backend/cuda/conv_internal.h"
#include "core/backend/kern_reduce.h"
#include "medfm/ops/view.h"

extern const struct mf_kern_reduce mf_cuda_reduce;

static pthread_mutex_t handle_lock = PTHREAD_MUTEX_INITIALIZER;
static cudnnHandle_t handles[MF_CUDA_MAX_DEVICES];

mf_status mf_cuda_dnn_check(cudnnStatus_t s, const char *what) {
    if (s == CUDNN_STATUS_SUCCESS)
        return MF_OK;
    return MF_ERR(MF_ERR_DEVICE, "%s: cuDNN error %d (%s)", what, (int)s, cudnnGetErrorString(s));
}

static mf_status dnn_handle(int index, cudnnHandle_t *out) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(index, &s));
    pthread_mutex_lock(&handle_lock);
    cudnnStatus_t e = CUDNN_STATUS_SUCCESS;
    if (!handles[index])
        e = cudnnCreate(&handles[index]);
    if (e == CUDNN_STATUS_SUCCESS)
        e = cudnnSetStream(handles[index], s);
    *out = handles[index];
    pthread_mutex_unlock(&handle_lock);
    return mf_cuda_dnn_check(e, "conv: creating the cuDNN handle");
}

mf_status mf_cuda_dnn_init(int index) {
    cudnnHandle_t h;
    return dnn_handle(index, &h);
}

static void call_free(mf_conv_call *c) {
    if (c->x)
        cudnnDestroyTensorDescriptor(c->x);
    if (c->y)
        cudnnDestroyTensorDescriptor(c->y);
    if (c->w)
        cudnnDestroyFilterDescriptor(c->w);
    if (c->c)
        cudnnDestroyConvolutionDescriptor(c->c);
}

static const void *one(const mf_conv_call *c) {
    return c->dt == MF_F64 ? (const void *)&c->one_d : (const void *)&c->one_f;
}
static const void *zero(const mf_conv_call *c) {
    return c->dt == MF_F64 ? (const void *)&c->zero_d : (const void *)&c->zero_f;
}

/* dims (N, C, spatial...): contiguous strides, or channels-last ones
 * (memory order N, spatial..., C) when cl. */
static mf_status tensor_desc(cudnnTensorDescriptor_t d, cudnnDataType_t ty, int nd, const int *dims, bool cl) {
    int strides[5];
    if (cl) {
        int s = dims[1];
        strides[1] = 1;
        for (int i = nd - 1; i >= 2; i--) {
            strides[i] = s;
            s *= dims[i];
        }
        strides[0] = s;
    } else {
        strides[nd - 1] = 1;
        for (int i = nd - 2; i >= 0; i--)
            strides[i] = strides[i + 1] * dims[i + 1];
    }
    return mf_cuda_dnn_check(cudnnSetTensorNdDescriptor(d, ty, nd, dims, strides), "conv: tensor descriptor");
}

static bool fits_int(const mf_conv_geom *g) {
    int64_t big = (int64_t)1 << 31;
    int64_t xi = g->n * g->cin * g->in[0] * g->in[1] * g->in[2];
    int64_t yo = g->n * g->cout * g->out[0] * g->out[1] * g->out[2];
    return xi < big && yo < big;
}

static mf_status call_init(mf_conv_call *c, const mf_conv_geom *g, const mf_tensor *any) {
    memset(c, 0, sizeof *c);
    c->one_d = 1.0;
    c->one_f = 1.0f;
    c->dev = any->storage->device.index;
    c->dt = (int)any->dtype;
    bool lowp = c->dt == MF_BF16 || c->dt == MF_F16;
    if (c->dt != MF_F32 && c->dt != MF_F64 && !lowp)
        return MF_ERR(MF_ERR_UNSUPPORTED, "conv: dtype %s not supported on the cuda backend",
                      mf_dtype_name(any->dtype));
    if (!fits_int(g))
        return MF_ERR(MF_ERR_UNSUPPORTED, "conv: tensors over 2^31 elements are not supported on the cuda backend");
    c->ty = c->dt == MF_F64    ? CUDNN_DATA_DOUBLE
            : c->dt == MF_BF16 ? CUDNN_DATA_BFLOAT16
            : c->dt == MF_F16  ? CUDNN_DATA_HALF
                               : CUDNN_DATA_FLOAT;
    /* bf16/f16 data compute in f32 (alpha/beta are floats, see one()) on
     * tensor cores: the inputs are already rounded, so "exact" means nothing */
    cudnnDataType_t compute = c->dt == MF_F64 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;
    c->exact = !lowp && (c->dt == MF_F64 || !mf_cuda_tf32_enabled());
    MF_TRY(dnn_handle(c->dev, &c->h));
    int sp = g->nsp == 3 ? 3 : 2, s0 = 3 - sp;
    int xd[5] = {(int)g->n, (int)g->cin}, yd[5] = {(int)g->n, (int)g->cout};
    int wd[5] = {(int)g->cout, (int)(g->cin / g->groups)};
    int pad[3], str[3], dil[3];
    for (int i = 0; i < sp; i++) {
        xd[2 + i] = (int)g->in[s0 + i];
        yd[2 + i] = (int)g->out[s0 + i];
        wd[2 + i] = (int)g->k[s0 + i];
        pad[i] = (int)g->pad[s0 + i];
        str[i] = (int)g->stride[s0 + i];
        dil[i] = (int)g->dil[s0 + i];
    }
    mf_status st = MF_OK;
    if (cudnnCreateTensorDescriptor(&c->x) != CUDNN_STATUS_SUCCESS ||
        cudnnCreateTensorDescriptor(&c->y) != CUDNN_STATUS_SUCCESS ||
        cudnnCreateFilterDescriptor(&c->w) != CUDNN_STATUS_SUCCESS ||
        cudnnCreateConvolutionDescriptor(&c->c) != CUDNN_STATUS_SUCCESS) {
        st = MF_ERR(MF_ERR_NOMEM, "conv: cannot create cuDNN descriptors");
        goto cleanup;
    }
    MF_CHECK(tensor_desc(c->x, c->ty, sp + 2, xd, g->channels_last));
    MF_CHECK(tensor_desc(c->y, c->ty, sp + 2, yd, g->channels_last));
    cudnnTensorFormat_t wf = g->channels_last ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    MF_CHECK(mf_cuda_dnn_check(cudnnSetFilterNdDescriptor(c->w, c->ty, wf, sp + 2, wd), "conv: filter descriptor"));
    MF_CHECK(mf_cuda_dnn_check(cudnnSetConvolutionNdDescriptor(c->c, sp, pad, str, dil, CUDNN_CROSS_CORRELATION, compute),
                       "conv: convolution descriptor"));
    MF_CHECK(mf_cuda_dnn_check(cudnnSetConvolutionGroupCount(c->c, (int)g->groups), "conv: group count"));
    return MF_OK;
cleanup:
    call_free(c);
    return st;
}

/* t = bias broadcast over channel dim of an (N, C, spatial...) tensor (t is
 * not read: beta 0). */
static mf_status set_bias(mf_conv_call *c, void *t, cudnnTensorDescriptor_t td, const mf_tensor *bias, int nd,
                          int64_t channels) {
    cudnnTensorDescriptor_t bd;
    MF_TRY(mf_cuda_dnn_check(cudnnCreateTensorDescriptor(&bd), "conv: bias descriptor"));
    int dims[5] = {1, (int)channels, 1, 1, 1};
    mf_status st = tensor_desc(bd, c->ty, nd, dims, false);
    if (st == MF_OK)
        st = mf_cuda_dnn_check(cudnnAddTensor(c->h, one(c), bd, mf_tensor_data(bias), zero(c), td, t), "conv: bias add");
    cudnnDestroyTensorDescriptor(bd);
    return st;
}

static int desc_rank(const mf_conv_geom *g) { return g->nsp == 3 ? 5 : 4; }

static mf_status run_dir(int dir, const mf_conv_geom *g, const mf_tensor *any, const void *in1, const void *in2,
                         void *out, const mf_tensor *bias) {
    mf_conv_call c;
    MF_TRY(call_init(&c, g, any));
    mf_status st = MF_OK;
    void *ws = NULL;
    size_t wsb = 0;
    int algo;
    mf_device dev = any->storage->device;
    MF_CHECK(mf_cuda_conv_pick(&c, dir, g, in1, in2, out, &algo, &wsb));
    if (wsb)
        MF_CHECK(mf_cuda_alloc(dev, wsb, &ws));
    /* The bias goes in first and the convolution blends onto it (beta 1),
     * so conv + bias rounds once, in the compute type, as on the CPU: a
     * bias added to a bf16/f16 output already rounded would inherit that
     * output's rounding error, large next to a sum that cancels. */
    if (bias)
        MF_CHECK(set_bias(&c, out, dir == MF_CONV_FWD ? c.y : c.x, bias, desc_rank(g), dir == MF_CONV_FWD ? g->cout : g->cin));
    const void *beta = bias ? one(&c) : zero(&c);
    cudnnStatus_t e;
    if (dir == MF_CONV_FWD)
        e = cudnnConvolutionForward(c.h, one(&c), c.x, in1, c.w, in2, c.c, (cudnnConvolutionFwdAlgo_t)algo, ws, wsb,
                                    beta, c.y, out);
    else if (dir == MF_CONV_BWD_DATA)
        e = cudnnConvolutionBackwardData(c.h, one(&c), c.w, in2, c.y, in1, c.c, (cudnnConvolutionBwdDataAlgo_t)algo, ws,
                                         wsb, beta, c.x, out);
    else
        e = cudnnConvolutionBackwardFilter(c.h, one(&c), c.x, in1, c.y, in2, c.c, (cudnnConvolutionBwdFilterAlgo_t)algo,
                                           ws, wsb, beta, c.w, out);
    MF_CHECK(mf_cuda_dnn_check(e, dir == MF_CONV_FWD        ? "conv forward"
                          : dir == MF_CONV_BWD_DATA ? "conv backward data"
                                                : "conv backward filter"));
cleanup:
    if (ws)
        mf_cuda_free(dev, ws, wsb);
    call_free(&c);
    return st;
}

static bool empty_geom(const mf_conv_geom *g) {
    return g->n == 0 || g->cin == 0 || g->cout == 0 || g->out[0] * g->out[1] * g->out[2] == 0;
}

/* out of an empty geometry: the bias alone, broadcast over channel dim 1
 * (a sum over no channels is zero), else zeros. */
static mf_status empty_out(mf_tensor *out, const mf_tensor *bias) {
    if (!bias || !mf_tensor_numel(out))
        return mf_tensor_numel(out) ? mf_cuda_fill(out, 0.0) : MF_OK;
    int64_t bs[MF_MAX_DIMS] = {0};
    bs[1] = bias->stride[0];
    const int64_t *st[2] = {out->stride, bs};
    mf_cuda_layout L;
    mf_cuda_layout_build(&L, out->ndim, out->shape, 2, st);
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(out->storage->device.index, &s));
    return mf_cuda_check(
        mf_cuda_launch_copy(s, &L, mf_tensor_data(out), (int)out->dtype, mf_tensor_data(bias), (int)bias->dtype),
        "conv: bias of an empty convolution");
}

static mf_status cuda_forward(mf_tensor *y, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                              const mf_conv_geom *g) {
    if (empty_geom(g))
        return empty_out(y, bias);
    return run_dir(MF_CONV_FWD, g, x, mf_tensor_data(x), mf_tensor_data(w), mf_tensor_data(y), bias);
}

static mf_status cuda_backward_data(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *w, const mf_tensor *bias,
                                    const mf_conv_geom *g) {
    if (empty_geom(g))
        return empty_out(gx, bias);
    return run_dir(MF_CONV_BWD_DATA, g, gy, mf_tensor_data(gy), mf_tensor_data(w), mf_tensor_data(gx), bias);
}

static mf_status cuda_backward_weight(mf_tensor *gw, const mf_tensor *x, const mf_tensor *gy, const mf_conv_geom *g) {
    if (empty_geom(g))
        return mf_tensor_numel(gw) ? mf_cuda_fill(gw, 0.0) : MF_OK;
    return run_dir(MF_CONV_BWD_FILTER, g, x, mf_tensor_data(x), mf_tensor_data(gy), mf_tensor_data(gw), NULL);
}

static mf_status cuda_backward_bias(mf_tensor *gb, const mf_tensor *gy) {
    int64_t N = gy->shape[0], C = gy->shape[1], S = 1;
    for (int d = 2; d < gy->ndim; d++)
        S *= gy->shape[d];
    if (N * S == 0 || C == 0)
        return C ? mf_cuda_fill(gb, 0.0) : MF_OK;
    /* the reduce kernels accumulate any float dtype in double */
    if (gy->dtype != MF_F32 && gy->dtype != MF_F64 && gy->dtype != MF_BF16 && gy->dtype != MF_F16)
        return MF_ERR(MF_ERR_UNSUPPORTED, "conv bias: dtype %s not supported on the cuda backend",
                      mf_dtype_name(gy->dtype));
    /* a sum over dims 0 and 2 of the (N, C, S) view (contiguous or
     * channels-last, strides (S * C, 1, C)): the reduce family does it */
    mf_tensor *v = NULL, *o = NULL;
    mf_status st = MF_OK;
    MF_CHECK(mf_view(gy, 3, (int64_t[]){N, C, S}, &v));
    MF_CHECK(mf_view(gb, 3, (int64_t[]){1, C, 1}, &o));
    MF_CHECK(mf_cuda_reduce.sum(o, v, 0x5u));
cleanup:
    mf_tensor_release(v);
    mf_tensor_release(o);
    return st;
}

const struct mf_kern_conv mf_cuda_conv = {
    .forward = cuda_forward,
    .backward_data = cuda_backward_data,
    .backward_weight = cuda_backward_weight,
    .backward_bias = cuda_backward_bias,
    .channels_last = true,
};
