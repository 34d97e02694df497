/* Ordering ops along one dim: cumsum (backward: the reverse cumsum of the
 * gradient), sort and topk (backward: the gradient scattered back to where
 * each value came from). Kernels: core/backend/<dev>/sort. */
#include "core/backend/kern_sort.h"
#include "core/ops/internal.h"

static mf_status need_orderable(const char *op, const mf_tensor *x) {
    if (x->dtype == MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "%s: convert the bool tensor to a number type first", op);
    return MF_OK;
}

/* ---------------------------------------------------------------- cumsum */

/* iarg[0] = dim */
static mf_status cumsum_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, int, bool);
    MF_KERNEL(fn, be, sort, cumsum, "cumsum");
    mf_tensor *gx;
    MF_TRY(mf_tensor_empty_like(g, &gx));
    mf_status st = fn(gx, g, (int)n->iarg[0], true);
    if (st != MF_OK) {
        mf_tensor_release(gx);
        return st;
    }
    gin[0] = gx;
    return MF_OK;
}

mf_status mf_cumsum(const mf_tensor *x, int dim, mf_tensor **out) {
    MF_TRY(need_orderable("cumsum", x));
    int d;
    MF_TRY(mf_dim_normalize("cumsum", dim, x->ndim, &d));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, int, bool);
    MF_KERNEL(fn, be, sort, cumsum, "cumsum");
    mf_tensor *y;
    MF_TRY(mf__new_like_shape(x, x->ndim, x->shape, x->dtype, &y));
    mf_status st;
    mf_node *n = NULL;
    MF_CHECK(fn(y, x, d, false));
    if (mf_dtype_is_float(x->dtype)) {
        MF_CHECK(mf_autograd_record("cumsum", y, 1, (mf_tensor *const *)&x, cumsum_backward, &n));
        if (n)
            n->iarg[0] = d;
    }
    *out = y;
    return MF_OK;
cleanup:
    mf_tensor_release(y);
    return st;
}

/* ----------------------------------------------------------- sort / topk */

/* iarg[0] = dim; saved: indices */
static mf_status scatter_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*scatter)(mf_tensor *, const mf_tensor *, const mf_tensor *, int);
    MF_KERNEL(scatter, be, sort, scatter_add, n->op);
    mf_tensor *gx;
    MF_TRY(mf_tensor_zeros(n->in_ndim[0], n->in_shape[0], g->dtype, g->storage->device, &gx));
    mf_status st = scatter(gx, n->saved[0], g, (int)n->iarg[0]);
    if (st != MF_OK) {
        mf_tensor_release(gx);
        return st;
    }
    gin[0] = gx;
    return MF_OK;
}

static mf_status sort_k(const char *op, const mf_tensor *x, int dim, int64_t k, bool descending, mf_tensor **values,
                        mf_tensor **indices) {
    if (!values)
        return MF_ERR(MF_ERR_INVALID, "%s: values must not be NULL", op);
    MF_TRY(need_orderable(op, x));
    int d;
    MF_TRY(mf_dim_normalize(op, dim, x->ndim, &d));
    if (k < 0 || k > x->shape[d])
        return MF_ERR(MF_ERR_INVALID, "%s: k = %lld is out of range for dim %d of size %lld in %s", op, (long long)k,
                      d, (long long)x->shape[d], MF_SHAPE(x));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, const mf_tensor *, int, int64_t, bool);
    MF_KERNEL(fn, be, sort, sort, op);
    int64_t shape[MF_MAX_DIMS];
    for (int i = 0; i < x->ndim; i++)
        shape[i] = i == d ? k : x->shape[i];
    mf_tensor *v = NULL, *idx = NULL;
    mf_status st;
    mf_node *n = NULL;
    MF_CHECK(mf__new_like_shape(x, x->ndim, shape, x->dtype, &v));
    MF_CHECK(mf__new_like_shape(x, x->ndim, shape, MF_I64, &idx));
    MF_CHECK(fn(v, idx, x, d, k, descending));
    if (mf_dtype_is_float(x->dtype)) {
        MF_CHECK(mf_autograd_record(op, v, 1, (mf_tensor *const *)&x, scatter_backward, &n));
        if (n) {
            n->iarg[0] = d;
            MF_CHECK(mf_node_save(n, idx));
        }
    }
    *values = v;
    if (indices)
        *indices = idx;
    else
        mf_tensor_release(idx);
    return MF_OK;
cleanup:
    mf_tensor_release(v);
    mf_tensor_release(idx);
    return st;
}

mf_status mf_sort(const mf_tensor *x, int dim, bool descending, mf_tensor **values, mf_tensor **indices) {
    int d;
    MF_TRY(mf_dim_normalize("sort", dim, x->ndim, &d));
    return sort_k("sort", x, d, x->shape[d], descending, values, indices);
}

mf_status mf_topk(const mf_tensor *x, int64_t k, int dim, bool largest, mf_tensor **values, mf_tensor **indices) {
    return sort_k("topk", x, dim, k, largest, values, indices);
}
