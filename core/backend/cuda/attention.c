/* CUDA attention (kern_attention.h) on cuBLAS: S = scale Q K^T, bias and
 * softmax in place (attention_kernels.cu), O = P V; backward
 * dV = P^T dO, dP = dO V^T, dS = P (dP - rowsum(dP P)), dQ = scale dS K,
 * dK = scale dS^T Q, dBias = dS. Every product is one strided-batched GEMM
 * over the B*H heads; f32 follows the TF32 switch of linalg.c. The
 * table's flash entries (fused, no Lq x Lk buffer) are attention_flash.c. */
#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/cuda/nn_internal.h"
#include "core/backend/kern_attention.h"

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: dtype %s not supported on the cuda backend", op,
                      mf_dtype_name(t->dtype));
    return MF_OK;
}

static mf_status cuda_forward(mf_tensor *out, mf_tensor *p, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                              const mf_tensor *bias, double scale) {
    MF_TRY(need_float("attention", q));
    int dev = q->storage->device.index, dt = (int)q->dtype;
    int64_t B = q->shape[0], H = q->shape[1], Lq = q->shape[2], D = q->shape[3], Lk = k->shape[2], Dv = v->shape[3];
    int64_t bh = B * H;
    if (bh == 0 || Lq == 0)
        return MF_OK;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev, &s));
    MF_TRY(mf_cuda_gemm(dev, dt, false, true, Lq, Lk, D, scale, mf_tensor_data(q), D, Lq * D, mf_tensor_data(k), D,
                        Lk * D, 0.0, mf_tensor_data(p), Lk, Lq * Lk, bh));
    int64_t bst[4] = {0, 0, 0, 0};
    if (bias)
        for (int d = 0; d < 4; d++)
            bst[d] = bias->stride[d];
    MF_TRY(mf_cuda_check(mf_cuda_launch_attn_softmax(s, dt, bh * Lq, H, Lq, Lk, mf_tensor_data(p),
                                                     bias ? mf_tensor_data(bias) : NULL, bst),
                         "attention softmax kernel"));
    return mf_cuda_gemm(dev, dt, false, false, Lq, Dv, Lk, 1.0, mf_tensor_data(p), Lk, Lq * Lk, mf_tensor_data(v), Dv,
                        Lk * Dv, 0.0, mf_tensor_data(out), Dv, Lq * Dv, bh);
}

static mf_status cuda_backward(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gs, const mf_tensor *gout,
                               const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *p,
                               double scale) {
    MF_TRY(need_float("attention backward", q));
    mf_device device = q->storage->device;
    int dev = device.index, dt = (int)q->dtype;
    int64_t B = q->shape[0], H = q->shape[1], Lq = q->shape[2], D = q->shape[3], Lk = k->shape[2], Dv = v->shape[3];
    int64_t bh = B * H;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev, &s));
    if (gv)
        MF_TRY(mf_cuda_gemm(dev, dt, true, false, Lk, Dv, Lq, 1.0, mf_tensor_data(p), Lk, Lq * Lk, mf_tensor_data(gout),
                            Dv, Lq * Dv, 0.0, mf_tensor_data(gv), Dv, Lk * Dv, bh));
    if (!gq && !gk && !gs)
        return MF_OK;
    size_t bytes = (size_t)(bh * Lq * Lk) * mf_dtype_size(q->dtype);
    void *ds = gs ? mf_tensor_data(gs) : NULL;
    if (!ds && bytes)
        MF_TRY(mf_cuda_alloc(device, bytes, &ds));
    mf_status st = MF_OK;
    if (!bytes)
        goto done;
    MF_CHECK(mf_cuda_gemm(dev, dt, false, true, Lq, Lk, Dv, 1.0, mf_tensor_data(gout), Dv, Lq * Dv, mf_tensor_data(v),
                          Dv, Lk * Dv, 0.0, ds, Lk, Lq * Lk, bh));
    MF_CHECK(mf_cuda_check(mf_cuda_launch_attn_dsoft(s, dt, bh * Lq, Lk, ds, mf_tensor_data(p)),
                           "attention backward kernel"));
done:
    if (gq)
        MF_CHECK(mf_cuda_gemm(dev, dt, false, false, Lq, D, Lk, scale, ds, Lk, Lq * Lk, mf_tensor_data(k), D, Lk * D,
                              0.0, mf_tensor_data(gq), D, Lq * D, bh));
    if (gk)
        MF_CHECK(mf_cuda_gemm(dev, dt, true, false, Lk, D, Lq, scale, ds, Lk, Lq * Lk, mf_tensor_data(q), D, Lq * D,
                              0.0, mf_tensor_data(gk), D, Lk * D, bh));
cleanup:
    if (!gs && ds)
        mf_cuda_free(device, ds, bytes);
    return st;
}

/* bf16/f16 (mixed precision): the f32 path on f32 copies, outputs rounded
 * back once. The softmax kernels are f32/f64 only, and the probabilities
 * are best kept in f32 inside the op anyway. */
static bool lowp(const mf_tensor *t) { return t->dtype == MF_BF16 || t->dtype == MF_F16; }

/* f32 copy of x on its device (contents when `load`); NULL stays NULL. */
static mf_status twin(const mf_tensor *x, bool load, mf_tensor **out) {
    *out = NULL;
    if (!x)
        return MF_OK;
    MF_TRY(mf_tensor_empty(x->ndim, x->shape, MF_F32, x->storage->device, out));
    mf_status st = load ? mf_cuda_copy(*out, x) : MF_OK;
    if (st != MF_OK)
        mf_tensor_clear(out);
    return st;
}

/* Rounds each f32 result back into its output (NULL outputs skipped). */
static mf_status round_back(int n, mf_tensor *const *dst, mf_tensor *const *src) {
    for (int i = 0; i < n; i++)
        if (dst[i])
            MF_TRY(mf_cuda_copy(dst[i], src[i]));
    return MF_OK;
}

static void release_all(int n, mf_tensor **t) {
    for (int i = 0; i < n; i++)
        mf_tensor_release(t[i]);
}

static mf_status any_forward(mf_tensor *out, mf_tensor *p, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                             const mf_tensor *bias, double scale) {
    if (!lowp(q))
        return cuda_forward(out, p, q, k, v, bias, scale);
    const mf_tensor *src[6] = {q, k, v, bias, out, p};
    mf_tensor *t[6] = {0};
    mf_status st = MF_OK;
    for (int i = 0; i < 6; i++)
        MF_CHECK(twin(src[i], i < 4, &t[i]));
    MF_CHECK(cuda_forward(t[4], t[5], t[0], t[1], t[2], t[3], scale));
    MF_CHECK(round_back(2, (mf_tensor *const[]){out, p}, t + 4));
cleanup:
    release_all(6, t);
    return st;
}

static mf_status any_backward(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gs, const mf_tensor *gout,
                              const mf_tensor *q, const mf_tensor *k, const mf_tensor *v, const mf_tensor *p,
                              double scale) {
    if (!lowp(q))
        return cuda_backward(gq, gk, gv, gs, gout, q, k, v, p, scale);
    const mf_tensor *src[9] = {gout, q, k, v, p, gq, gk, gv, gs};
    mf_tensor *t[9] = {0};
    mf_status st = MF_OK;
    for (int i = 0; i < 9; i++)
        MF_CHECK(twin(src[i], i < 5, &t[i]));
    MF_CHECK(cuda_backward(t[5], t[6], t[7], t[8], t[0], t[1], t[2], t[3], t[4], scale));
    MF_CHECK(round_back(4, (mf_tensor *const[]){gq, gk, gv, gs}, t + 5));
cleanup:
    release_all(9, t);
    return st;
}

const struct mf_kern_attention mf_cuda_attention = {
    .forward = any_forward,
    .backward = any_backward,
    .flash_forward = mf_cuda_flash_forward,
    .flash_backward = mf_cuda_flash_backward,
};
