/* CUDA index family (kern_index.h): bounds, gather, a deterministic
 * scatter_add (a thread per line along dim, adding in index order) and
 * cdist with its backward, over index_random_kernels.cu. */
#include <stdio.h>
#include <string.h>

#include "core/backend/cuda/index_internal.h"
#include "core/backend/kern_index.h"

/* Deferred (device_checks.c): the kernel records a failure, the next host
 * wait reports it, and the caller sees no bad index now. */
static mf_status cuda_bounds(const mf_tensor *index, int64_t size, int64_t *n_bad, int64_t *first_pos,
                             int64_t *first_val) {
    *n_bad = 0, *first_pos = -1, *first_val = 0;
    mf_device dev = index->storage->device;
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(dev.index, &s));
    char what[96];
    snprintf(what, sizeof what, "gather/scatter_add/index_select: index %s", MF_SHAPE(index));
    unsigned long long *rec;
    MF_TRY(mf_cuda_check_record(dev.index, MF_CUDA_CHECK_INDEX, what, &rec));
    mf_cuda_layout L;
    const int64_t *st[1] = {index->stride};
    mf_cuda_layout_build(&L, index->ndim, index->shape, 1, st);
    return mf_cuda_check(mf_cuda_launch_bounds(s, &L, mf_tensor_data(index), size, rec), "index bounds kernel");
}

static mf_status cuda_gather(mf_tensor *out, const mf_tensor *x, int dim, const mf_tensor *index) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(out->storage->device.index, &s));
    int64_t xs[MF_MAX_DIMS];
    memcpy(xs, x->stride, sizeof xs);
    xs[dim] = 0;
    const int64_t *st[3] = {out->stride, index->stride, xs};
    mf_cuda_layout L;
    mf_cuda_layout_build(&L, index->ndim, index->shape, 3, st);
    return mf_cuda_check(mf_cuda_launch_gather(s, &L, (int)mf_dtype_size(out->dtype), mf_tensor_data(out),
                                               mf_tensor_data(x), mf_tensor_data(index), x->shape[dim], x->stride[dim]),
                         "gather kernel");
}

static mf_status cuda_scatter_add(mf_tensor *out, int dim, const mf_tensor *index, const mf_tensor *src) {
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(out->storage->device.index, &s));
    int64_t shape[MF_MAX_DIMS], is[MF_MAX_DIMS], ss[MF_MAX_DIMS], os[MF_MAX_DIMS];
    int k = 0;
    for (int d = 0; d < index->ndim; d++) {
        if (d == dim)
            continue;
        shape[k] = index->shape[d];
        is[k] = index->stride[d];
        ss[k] = src->stride[d];
        os[k] = out->stride[d];
        k++;
    }
    const int64_t *st[3] = {is, ss, os};
    mf_cuda_layout L;
    mf_cuda_layout_build(&L, k, shape, 3, st);
    return mf_cuda_check(mf_cuda_launch_scatter_add(s, &L, (int)out->dtype, mf_tensor_data(out), mf_tensor_data(src),
                                                    mf_tensor_data(index), index->shape[dim], out->shape[dim], index->stride[dim],
                                                    src->stride[dim], out->stride[dim]),
                         "scatter_add kernel");
}

static mf_status need_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_UNSUPPORTED, "%s: dtype %s not supported on the cuda backend", op,
                      mf_dtype_name(t->dtype));
    return MF_OK;
}

/* Batch dims from `shape` (nb of them) with the strides of up to four tensors. */
static void cdist_args(mf_cdist_args *a, int nb, const int64_t *shape, const mf_tensor *const t[4]) {
    memset(a, 0, sizeof *a);
    a->nb = nb;
    a->batch = 1;
    for (int d = 0; d < nb; d++) {
        a->bshape[d] = shape[d];
        a->batch *= shape[d];
        for (int k = 0; k < 4; k++)
            a->bst[k][d] = t[k] ? t[k]->stride[d] : 0;
    }
    a->as0 = t[0]->stride[nb], a->as1 = t[0]->stride[nb + 1];
    a->bs0 = t[1]->stride[nb], a->bs1 = t[1]->stride[nb + 1];
    a->os0 = t[2]->stride[nb], a->os1 = t[2]->stride[nb + 1];
    if (t[3])
        a->ds0 = t[3]->stride[nb], a->ds1 = t[3]->stride[nb + 1];
}

static mf_status cuda_cdist(mf_tensor *out, const mf_tensor *a, const mf_tensor *b, double p) {
    MF_TRY(need_float("cdist", out));
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(out->storage->device.index, &s));
    int nb = out->ndim - 2;
    mf_cdist_args A;
    const mf_tensor *t[4] = {a, b, out, NULL};
    cdist_args(&A, nb, out->shape, t);
    A.l1 = p == 1.0;
    A.N = out->shape[nb], A.M = out->shape[nb + 1], A.D = a->shape[nb + 1];
    return mf_cuda_check(
        mf_cuda_launch_cdist(s, (int)out->dtype, &A, mf_tensor_data(out), mf_tensor_data(a), mf_tensor_data(b)),
        "cdist kernel");
}

static mf_status cuda_cdist_backward(mf_tensor *ga, mf_tensor *gb, const mf_tensor *g, const mf_tensor *a,
                                     const mf_tensor *b, const mf_tensor *d, double p) {
    MF_TRY(need_float("cdist backward", g));
    cudaStream_t s;
    MF_TRY(mf_cuda_stream(g->storage->device.index, &s));
    int nb = g->ndim - 2;
    mf_cdist_args A;
    const mf_tensor *t[4] = {a, b, g, d};
    cdist_args(&A, nb, g->shape, t);
    A.l1 = p == 1.0;
    A.N = g->shape[nb], A.M = g->shape[nb + 1], A.D = a->shape[nb + 1];
    mf_tensor *gr[2] = {ga, gb};
    for (int k = 0; k < 2; k++)
        if (gr[k])
            MF_TRY(mf_cuda_check(mf_cuda_launch_cdist_bwd(s, (int)g->dtype, &A, k == 0, mf_tensor_data(gr[k]),
                                                          mf_tensor_data(a), mf_tensor_data(b), mf_tensor_data(g),
                                                          mf_tensor_data(d)),
                                 "cdist backward kernel"));
    return MF_OK;
}

const struct mf_kern_index mf_cuda_index = {
    .bounds = cuda_bounds,
    .gather = cuda_gather,
    .scatter_add = cuda_scatter_add,
    .cdist = cuda_cdist,
    .cdist_backward = cuda_cdist_backward,
};
