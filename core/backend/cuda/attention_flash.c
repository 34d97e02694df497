/* Host side of the fused attention kernels (attention_flash_kernels.cu):
 * the flash entries of the CUDA attention table. Checks what the kernels
 * can do (f32, bf16, f16; head dims up to MF_FLASH_MAX_DIM), fills the
 * argument block and launches; the backward's delta = rowsum(dO O) lives
 * in a scratch block for the duration of its two kernels. */
#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/cuda/nn_internal.h"
#include "core/backend/kern_attention.h"

_Static_assert(MF_FLASH_MAX_DIM == MF_ATTENTION_FLASH_MAX_DIM, "flash head-dim limits of the table and kernels");

static mf_status flash_args(const char *op, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                            const mf_tensor *bias, double scale, mf_flash_args *a) {
    if (q->dtype != MF_F32 && q->dtype != MF_BF16 && q->dtype != MF_F16)
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: dtype %s not supported (f32, bf16, f16; MEDFM_CUDA_ATTENTION=gemm for f64)",
                      op, mf_dtype_name(q->dtype));
    if (q->shape[3] > MF_FLASH_MAX_DIM || v->shape[3] > MF_FLASH_MAX_DIM)
        return MF_ERR(MF_ERR_UNSUPPORTED,
                      "%s: head dims D %lld, Dv %lld over the fused kernels' %d (MEDFM_CUDA_ATTENTION=gemm has no limit)",
                      op, (long long)q->shape[3], (long long)v->shape[3], MF_FLASH_MAX_DIM);
    /* a 1-D grid of a block per 8 query rows or per 32 keys of a head */
    int64_t bh = q->shape[0] * q->shape[1];
    if (bh * ((q->shape[2] + 7) / 8) > INT32_MAX || bh * ((k->shape[2] + 31) / 32) > INT32_MAX)
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: q %s, k %s need more blocks than one grid holds (MEDFM_CUDA_ATTENTION=gemm)",
                      op, MF_SHAPE(q), MF_SHAPE(k));
    *a = (mf_flash_args){.B = q->shape[0],
                         .H = q->shape[1],
                         .Lq = q->shape[2],
                         .Lk = k->shape[2],
                         .D = q->shape[3],
                         .Dv = v->shape[3],
                         .scale = (float)scale,
                         .q = mf_tensor_data(q),
                         .k = mf_tensor_data(k),
                         .v = mf_tensor_data(v),
                         .bias = bias ? mf_tensor_data(bias) : NULL};
    if (bias)
        for (int d = 0; d < 4; d++)
            a->bst[d] = bias->stride[d];
    return MF_OK;
}

mf_status mf_cuda_flash_forward(mf_tensor *out, mf_tensor *lse, const mf_tensor *q, const mf_tensor *k,
                                const mf_tensor *v, const mf_tensor *bias, double scale) {
    mf_flash_args a;
    MF_TRY(flash_args("attention (flash)", q, k, v, bias, scale, &a));
    if (a.B * a.H * a.Lq == 0)
        return MF_OK;
    a.out = mf_tensor_data(out);
    a.lse = mf_tensor_data(lse);
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(q->storage->device.index, &s));
    return mf_cuda_check(mf_cuda_launch_flash(s, (int)q->dtype, 0, &a), "attention flash forward kernel");
}

mf_status mf_cuda_flash_backward(mf_tensor *gq, mf_tensor *gk, mf_tensor *gv, mf_tensor *gbias,
                                 const mf_tensor *gout, const mf_tensor *q, const mf_tensor *k, const mf_tensor *v,
                                 const mf_tensor *bias, const mf_tensor *out, const mf_tensor *lse, double scale) {
    mf_flash_args a;
    MF_TRY(flash_args("attention (flash) backward", q, k, v, bias, scale, &a));
    if (gbias && (!bias || gbias->dtype != MF_F32 || gbias->ndim != 4))
        return MF_ERR(MF_ERR_INVALID, "attention (flash) backward: gbias %s must be a 4-D f32 tensor beside a bias",
                      MF_SHAPE(gbias));
    mf_device device = q->storage->device;
    int64_t rows = a.B * a.H * a.Lq;
    if (a.B * a.H == 0)
        return MF_OK;
    a.gout = mf_tensor_data(gout);
    a.out = mf_tensor_data(out);
    a.lse = mf_tensor_data(lse);
    a.gq = gq ? mf_tensor_data(gq) : NULL;
    a.gk = gk ? mf_tensor_data(gk) : NULL;
    a.gv = gv ? mf_tensor_data(gv) : NULL;
    if (gbias) {
        a.gbias = mf_tensor_data(gbias);
        for (int d = 0; d < 4; d++)
            a.gbst[d] = gbias->shape[d] == 1 ? 0 : gbias->stride[d];
    }
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(device.index, &s));
    size_t bytes = (size_t)rows * sizeof(float);
    void *delta = NULL;
    if (bytes)
        MF_TRY(mf_cuda_alloc(device, bytes, &delta));
    a.delta = delta;
    mf_status st =
        mf_cuda_check(mf_cuda_launch_flash(s, (int)q->dtype, 1, &a), "attention flash backward kernels");
    if (delta)
        mf_cuda_free(device, delta, bytes);
    return st;
}
