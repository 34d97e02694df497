/* CUDA sort family (kern_sort.h): cumsum, stable sort / topk and the
 * scatter_add of their backwards, plus reduce's arg_extreme, over
 * sort_kernels.cu. scatter_add is the index family's deterministic one. */
#include "core/backend/cuda/sort_internal.h"
#include "core/backend/kern_index.h"
#include "core/backend/kern_sort.h"

extern const struct mf_kern_index mf_cuda_index;

/* Layout over every dim but `dim` of up to three same-shaped tensors
 * (outside dim); a NULL tensor gets stride 0. */
static void lines_layout(mf_cuda_layout *L, const mf_tensor *shape_of, int dim, int n, const mf_tensor *const *t) {
    int64_t shape[MF_MAX_DIMS], st[3][MF_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < shape_of->ndim; d++) {
        if (d == dim)
            continue;
        shape[k] = shape_of->shape[d];
        for (int a = 0; a < n; a++)
            st[a][k] = t[a] ? t[a]->stride[d] : 0;
        k++;
    }
    const int64_t *sp[3] = {st[0], st[1], st[2]};
    mf_cuda_layout_build(L, k, shape, n, sp);
}

static mf_status cuda_cumsum(mf_tensor *out, const mf_tensor *x, int dim, bool reverse) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(out->storage->device.index, &s));
    mf_cuda_layout L;
    const mf_tensor *t[2] = {x, out};
    lines_layout(&L, x, dim, 2, t);
    return mf_cuda_check(mf_cuda_launch_cumsum(s, &L, (int)x->dtype, (int)out->dtype, mf_tensor_data(x),
                                               mf_tensor_data(out), x->shape[dim], x->stride[dim], out->stride[dim],
                                               reverse),
                         "cumsum kernel");
}

static mf_status cuda_sort(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, int64_t k,
                           bool descending) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    mf_cuda_layout L;
    const mf_tensor *t[3] = {x, values, indices};
    lines_layout(&L, x, dim, 3, t);
    return mf_cuda_check(
        mf_cuda_launch_sort(s, &L, (int)x->dtype, mf_tensor_data(x), values ? mf_tensor_data(values) : NULL,
                            indices ? mf_tensor_data(indices) : NULL, x->shape[dim], x->stride[dim],
                            values ? values->stride[dim] : 0, indices ? indices->stride[dim] : 0, k, descending),
        "sort kernel");
}

static mf_status cuda_scatter_add(mf_tensor *out, const mf_tensor *index, const mf_tensor *src, int dim) {
    return mf_cuda_index.scatter_add(out, dim, index, src);
}

mf_status mf_cuda_arg_extreme(mf_tensor *values, mf_tensor *indices, const mf_tensor *x, int dim, bool want_max) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(x->storage->device.index, &s));
    mf_cuda_layout L;
    const mf_tensor *t[3] = {x, values, indices};
    lines_layout(&L, x, dim, 3, t);
    return mf_cuda_check(
        mf_cuda_launch_arg_extreme(s, &L, (int)x->dtype, mf_tensor_data(x), values ? mf_tensor_data(values) : NULL,
                                   values ? (int)values->dtype : 0, indices ? mf_tensor_data(indices) : NULL,
                                   x->shape[dim], x->stride[dim], want_max),
        "arg_extreme kernel");
}

const struct mf_kern_sort mf_cuda_sort = {
    .cumsum = cuda_cumsum,
    .sort = cuda_sort,
    .scatter_add = cuda_scatter_add,
};
