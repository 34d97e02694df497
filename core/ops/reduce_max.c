/* Max and min: along one dim with indices (max, min, argmax, argmin: the
 * first extreme wins, like torch, and takes the whole gradient), and over a
 * set of dims (amax, amin: the gradient is split evenly among ties). */
#include "core/backend/kern_reduce.h"
#include "core/backend/kern_sort.h"
#include "core/ops/reduce_common.h"

/* ------------------------------------------------ along one dim, indexed */

/* iarg[0] = dim; saved: indices (keepdim form) */
static mf_status max_dim_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    int dim = (int)n->iarg[0];
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*scatter)(mf_tensor *, const mf_tensor *, const mf_tensor *, int);
    MF_KERNEL(scatter, be, sort, scatter_add, n->op);
    mf_tensor *gk = NULL, *gx = NULL;
    mf_status st;
    MF_CHECK(mf__reduce_keep(n, 1u << dim, g, &gk));
    MF_CHECK(mf_tensor_zeros(n->in_ndim[0], n->in_shape[0], g->dtype, g->storage->device, &gx));
    MF_CHECK(scatter(gx, n->saved[0], gk, dim));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gk);
    mf_tensor_release(gx);
    return st;
}

static mf_status arg_extreme(const char *op, const mf_tensor *x, int dim, bool keepdim, bool want_max,
                             mf_tensor **values, mf_tensor **indices) {
    int d;
    MF_TRY(mf_dim_normalize(op, dim, x->ndim, &d));
    uint32_t mask = 1u << d;
    MF_TRY(mf__reduce_prepare(op, x, 1, &d, true, &mask));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, const mf_tensor *, int, bool);
    MF_KERNEL(fn, be, reduce, arg_extreme, op);
    mf_tensor *v = NULL, *i = NULL;
    mf_status st;
    mf_node *n = NULL;
    if (values)
        MF_CHECK(mf__reduce_alloc(x, mask, x->dtype, &v));
    MF_CHECK(mf__reduce_alloc(x, mask, MF_I64, &i));
    MF_CHECK(fn(v, i, x, d, want_max));
    if (v && !keepdim)
        mf__reduce_squeeze(v, x, mask);
    if (v && mf_dtype_is_float(x->dtype)) {
        MF_CHECK(mf_autograd_record(op, v, 1, (mf_tensor *const *)&x, max_dim_backward, &n));
        if (n) {
            n->iarg[0] = d;
            MF_CHECK(mf_node_save(n, i)); /* a separate alias: keeps the keepdim form */
        }
    }
    if (!keepdim)
        mf__reduce_squeeze(i, x, mask);
    if (values)
        *values = v;
    if (indices)
        *indices = i;
    else
        mf_tensor_release(i);
    return MF_OK;
cleanup:
    mf_tensor_release(v);
    mf_tensor_release(i);
    return st;
}

mf_status mf_max(const mf_tensor *x, int dim, bool keepdim, mf_tensor **values, mf_tensor **indices) {
    if (!values)
        return MF_ERR(MF_ERR_INVALID, "max: values must not be NULL (use mf_argmax for indices alone)");
    return arg_extreme("max", x, dim, keepdim, true, values, indices);
}

mf_status mf_min(const mf_tensor *x, int dim, bool keepdim, mf_tensor **values, mf_tensor **indices) {
    if (!values)
        return MF_ERR(MF_ERR_INVALID, "min: values must not be NULL (use mf_argmin for indices alone)");
    return arg_extreme("min", x, dim, keepdim, false, values, indices);
}

mf_status mf_argmax(const mf_tensor *x, int dim, bool keepdim, mf_tensor **out) {
    return arg_extreme("argmax", x, dim, keepdim, true, NULL, out);
}

mf_status mf_argmin(const mf_tensor *x, int dim, bool keepdim, mf_tensor **out) {
    return arg_extreme("argmin", x, dim, keepdim, false, NULL, out);
}

/* ---------------------------------------------------- over a set of dims */

/* iarg[0] = mask; saved: x, y. The gradient goes to every element equal to
 * the extreme, divided by how many there are. */
static mf_status amax_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    uint32_t mask = (uint32_t)n->iarg[0];
    const mf_tensor *x = n->saved[0];
    int dims[MF_MAX_DIMS];
    int nd = mf__mask_dims(mask, x->ndim, dims);
    mf_tensor *gk = NULL, *yk = NULL, *hit = NULL, *w = NULL, *cnt = NULL, *share = NULL;
    mf_status st;
    MF_CHECK(mf__reduce_keep(n, mask, g, &gk));
    MF_CHECK(mf__reduce_keep(n, mask, n->saved[1], &yk));
    MF_CHECK(mf_eq(x, yk, &hit));
    MF_CHECK(mf_to_dtype(hit, x->dtype, &w));
    MF_CHECK(mf_sum(w, nd, dims, true, &cnt));
    MF_CHECK(mf_div(gk, cnt, &share));
    MF_CHECK(mf_mul(w, share, &gin[0]));
cleanup:
    mf_tensor_release(gk);
    mf_tensor_release(yk);
    mf_tensor_release(hit);
    mf_tensor_release(w);
    mf_tensor_release(cnt);
    mf_tensor_release(share);
    return st;
}

static mf_status extreme(const char *op, const mf_tensor *x, int n_dims, const int *dims, bool keepdim,
                         bool want_max, mf_tensor **out) {
    uint32_t mask;
    MF_TRY(mf__reduce_prepare(op, x, n_dims, dims, true, &mask));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, uint32_t, bool);
    MF_KERNEL(fn, be, reduce, extreme, op);
    mf_tensor *y;
    MF_TRY(mf__reduce_alloc(x, mask, x->dtype, &y));
    mf_status st;
    mf_node *n = NULL;
    MF_CHECK(fn(y, x, mask, want_max));
    if (!keepdim)
        mf__reduce_squeeze(y, x, mask);
    if (mf_dtype_is_float(x->dtype)) {
        MF_CHECK(mf_autograd_record(op, y, 1, (mf_tensor *const *)&x, amax_backward, &n));
        if (n) {
            n->iarg[0] = mask;
            MF_CHECK(mf_node_save(n, x));
            MF_CHECK(mf_node_save(n, y));
        }
    }
    *out = y;
    return MF_OK;
cleanup:
    mf_tensor_release(y);
    return st;
}

mf_status mf_amax(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    return extreme("amax", x, n_dims, dims, keepdim, true, out);
}

mf_status mf_amin(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    return extreme("amin", x, n_dims, dims, keepdim, false, out);
}
