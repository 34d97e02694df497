/* CUDA elementwise family: builds the coalesced strided layout of the
 * operands (broadcast inputs arrive as stride-0 views) and launches the
 * kernels in elementwise_kernels.cu on the device's stream. */
#include "core/backend/cuda/cuda_internal.h"
#include "core/backend/kern_elementwise.h"

static mf_status launch_prep(const mf_tensor *out, int nops, const mf_tensor *const *ops, mf_cuda_layout *L,
                             cudaStream_t *s) {
    const int64_t *st[MF_CUDA_MAX_OPS];
    for (int k = 0; k < nops; k++)
        st[k] = ops[k]->stride;
    mf_cuda_layout_build_memory_order(L, out->ndim, out->shape, nops, st);
    return mf_cuda_stream(out->storage->device.index, s);
}

static mf_status cuda_binary(mf_binary_op op, mf_tensor *out, const mf_tensor *a, const mf_tensor *b) {
    mf_cuda_layout L;
    cudaStream_t s;
    const mf_tensor *ops[3] = {out, a, b};
    MF_TRY(launch_prep(out, 3, ops, &L, &s));
    if (L.n == 0)
        return MF_OK;
    return mf_cuda_check(mf_cuda_launch_binary(s, &L, (int)op, (int)out->dtype, mf_tensor_data(out),
                                               mf_tensor_data(a), mf_tensor_data(b)),
                         "binary kernel");
}

static mf_status cuda_unary(mf_unary_op op, double p0, double p1, mf_tensor *out, const mf_tensor *x) {
    mf_cuda_layout L;
    cudaStream_t s;
    const mf_tensor *ops[2] = {out, x};
    MF_TRY(launch_prep(out, 2, ops, &L, &s));
    if (L.n == 0)
        return MF_OK;
    return mf_cuda_check(mf_cuda_launch_unary(s, &L, (int)op, (int)out->dtype, p0, p1, mf_tensor_data(out),
                                              mf_tensor_data(x)),
                         "unary kernel");
}

static mf_status cuda_unary_backward(mf_unary_op op, double p0, double p1, mf_tensor *gin, const mf_tensor *gout,
                                     const mf_tensor *x, const mf_tensor *y) {
    mf_cuda_layout L;
    cudaStream_t s;
    const mf_tensor *ops[4] = {gin, x, y ? y : x, gout};
    MF_TRY(launch_prep(gin, 4, ops, &L, &s));
    if (L.n == 0)
        return MF_OK;
    return mf_cuda_check(mf_cuda_launch_unary_backward(s, &L, (int)op, (int)gin->dtype, p0, p1, mf_tensor_data(gin),
                                                       mf_tensor_data(x), y ? mf_tensor_data(y) : NULL,
                                                       mf_tensor_data(gout)),
                         "unary backward kernel");
}

static mf_status cuda_compare(mf_compare_op op, mf_tensor *out, const mf_tensor *a, const mf_tensor *b) {
    mf_cuda_layout L;
    cudaStream_t s;
    const mf_tensor *ops[3] = {out, a, b};
    MF_TRY(launch_prep(out, 3, ops, &L, &s));
    if (L.n == 0)
        return MF_OK;
    return mf_cuda_check(mf_cuda_launch_compare(s, &L, (int)op, (int)a->dtype, mf_tensor_data(out),
                                                mf_tensor_data(a), mf_tensor_data(b)),
                         "compare kernel");
}

static mf_status cuda_where(mf_tensor *out, const mf_tensor *cond, const mf_tensor *a, const mf_tensor *b) {
    mf_cuda_layout L;
    cudaStream_t s;
    const mf_tensor *ops[4] = {out, cond, a, b};
    MF_TRY(launch_prep(out, 4, ops, &L, &s));
    if (L.n == 0)
        return MF_OK;
    return mf_cuda_check(mf_cuda_launch_where(s, &L, (int)mf_dtype_size(out->dtype), mf_tensor_data(out),
                                              mf_tensor_data(cond), mf_tensor_data(a), mf_tensor_data(b)),
                         "where kernel");
}

const struct mf_kern_elementwise mf_cuda_elementwise = {
    .binary = cuda_binary,
    .unary = cuda_unary,
    .unary_backward = cuda_unary_backward,
    .compare = cuda_compare,
    .where = cuda_where,
};
