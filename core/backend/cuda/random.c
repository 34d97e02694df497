/* CUDA random fill (kern_random.h): the Philox stream layout of the CPU
 * backend, one element per thread, so uniform and bernoulli draws are
 * bit-identical to the CPU ones; normal, gumbel and truncated normal use
 * the device's log/sqrt/sin/cos, which may differ from the host libm in
 * the last bit of an f64. */
#include "core/backend/cuda/index_internal.h"
#include "core/backend/kern_random.h"

static mf_status cuda_fill(mf_rand_kind kind, mf_tensor *t, uint64_t seed, uint64_t offset, const double p[4]) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "random fill: CUDA supports f32 and f64, got %s", mf_dtype_name(t->dtype));
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(t->storage->device.index, &s));
    if (mf_cuda_capturing(t->storage->device.index))
        return MF_ERR(MF_ERR_UNSUPPORTED,
                      "random fill on cuda:%d inside a CUDA graph capture: every replay would draw the same numbers "
                      "(dropout, noise); run this step without train.cuda_graph",
                      t->storage->device.index);
    mf_cuda_layout L;
    const int64_t *st[1] = {t->stride};
    mf_cuda_layout_build(&L, t->ndim, t->shape, 1, st);
    return mf_cuda_check(mf_cuda_launch_random(s, &L, (int)t->dtype, (int)kind, mf_tensor_data(t), seed, offset, p),
                         "random fill kernel");
}

const struct mf_kern_random mf_cuda_random = {
    .fill = cuda_fill,
};
