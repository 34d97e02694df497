/* sum and mean over dims, and sum-to-shape (the inverse of broadcasting),
 * with their backward (the gradient broadcast back). */
#include <string.h>

#include "core/backend/kern_reduce.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

/* Turns a dims list into a bit mask; n_dims == 0 means all. */
mf_status mf__reduce_mask(const char *op, const mf_tensor *x, int n_dims, const int *dims, uint32_t *mask) {
    uint32_t m = 0;
    if (n_dims == 0) {
        m = x->ndim ? (1u << x->ndim) - 1 : 0;
    } else {
        for (int i = 0; i < n_dims; i++) {
            int d;
            MF_TRY(mf_dim_normalize(op, dims[i], x->ndim, &d));
            if (m & (1u << d))
                return MF_ERR(MF_ERR_SHAPE, "%s: dim %d listed twice", op, dims[i]);
            m |= 1u << d;
        }
    }
    *mask = m;
    return MF_OK;
}

/* Shape after reducing `mask`, keepdim form and squeezed form. */
void mf__reduce_shapes(const mf_tensor *x, uint32_t mask, int64_t *keep, int *nsq, int64_t *sq) {
    int n = 0;
    for (int d = 0; d < x->ndim; d++) {
        keep[d] = (mask & (1u << d)) ? 1 : x->shape[d];
        if (!(mask & (1u << d)))
            sq[n++] = x->shape[d];
    }
    *nsq = n;
}

static mf_status sum_raw(const mf_tensor *x, uint32_t mask, mf_tensor **out_keep) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, uint32_t);
    MF_KERNEL(fn, be, reduce, sum, "sum");
    int64_t keep[MF_MAX_DIMS], sq[MF_MAX_DIMS];
    int nsq;
    mf__reduce_shapes(x, mask, keep, &nsq, sq);
    mf_tensor *y;
    MF_TRY(mf__new_like_shape(x, x->ndim, keep, x->dtype, &y));
    mf_status st = fn(y, x, mask);
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out_keep = y;
    return MF_OK;
}

/* farg[0] = scale (1 for sum, 1/count for mean) */
static mf_status sum_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    /* Put the reduced dims back as size 1, then broadcast. */
    int64_t keep[MF_MAX_DIMS];
    int ndim = n->in_ndim[0];
    uint32_t mask = (uint32_t)n->iarg[0];
    for (int d = 0; d < ndim; d++)
        keep[d] = (mask & (1u << d)) ? 1 : n->in_shape[0][d];
    mf_tensor *r = NULL, *e = NULL;
    mf_status st;
    MF_CHECK(mf_reshape(g, ndim, keep, &r));
    if (n->farg[0] != 1.0) {
        mf_tensor *s;
        MF_CHECK(mf_mul_scalar(r, n->farg[0], &s));
        mf_tensor_release(r);
        r = s;
    }
    MF_CHECK(mf_expand(r, ndim, n->in_shape[0], &e));
    MF_CHECK(mf_contiguous(e, &gin[0]));
cleanup:
    mf_tensor_release(r);
    mf_tensor_release(e);
    return st;
}

static mf_status sum_mean_op(const char *op, const mf_tensor *x, int n_dims, const int *dims, bool keepdim, bool mean,
                             mf_tensor **out) {
    if (x->dtype == MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "%s: convert the bool tensor to a number type first", op);
    if (mean)
        MF_TRY(mf__need_float(op, x));
    uint32_t mask;
    MF_TRY(mf__reduce_mask(op, x, n_dims, dims, &mask));
    mf_tensor *y;
    MF_TRY(sum_raw(x, mask, &y));
    int64_t count = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask & (1u << d))
            count *= x->shape[d];
    double scale = mean ? 1.0 / (double)(count ? count : 1) : 1.0;
    mf_status st = MF_OK;
    if (mean && count != 1)
        st = mf_mul_scalar_(y, scale);
    if (st == MF_OK && !keepdim) {
        int64_t keep[MF_MAX_DIMS], sq[MF_MAX_DIMS];
        int nsq;
        mf__reduce_shapes(x, mask, keep, &nsq, sq);
        y->ndim = nsq;
        int64_t s = 1;
        for (int i = nsq - 1; i >= 0; i--) {
            y->shape[i] = sq[i];
            y->stride[i] = s;
            s *= sq[i];
        }
    }
    mf_node *n = NULL;
    if (st == MF_OK && mf_dtype_is_float(x->dtype))
        st = mf_autograd_record(op, y, 1, (mf_tensor *const *)&x, sum_backward, &n);
    if (st == MF_OK && n) {
        n->iarg[0] = mask;
        n->farg[0] = scale;
    }
    if (st != MF_OK) {
        mf_tensor_release(y);
        return st;
    }
    *out = y;
    return MF_OK;
}

/* Public entry: the autocast policy first. */
static mf_status sum_mean(const char *op, const mf_tensor *x, int n_dims, const int *dims, bool keepdim, bool mean,
                          mf_tensor **out) {
    mf_tensor *c[1];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 1, (const mf_tensor *const[]){x}, c));
    mf_status st = sum_mean_op(op, c[0], n_dims, dims, keepdim, mean, out);
    mf_autocast_release(1, c);
    return st;
}

mf_status mf_sum(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    return sum_mean("sum", x, n_dims, dims, keepdim, false, out);
}

mf_status mf_mean(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    return sum_mean("mean", x, n_dims, dims, keepdim, true, out);
}

mf_status mf_sum_to_shape(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out) {
    if (ndim > x->ndim)
        return MF_ERR(MF_ERR_SHAPE, "sum_to_shape: %s has fewer dims than %s", MF_SHAPE(x), mf_shape_str(ndim, shape));
    int lead = x->ndim - ndim;
    int dims[MF_MAX_DIMS], nd = 0;
    for (int d = 0; d < x->ndim; d++) {
        if (d < lead) {
            dims[nd++] = d;
        } else if (shape[d - lead] == 1 && x->shape[d] != 1) {
            dims[nd++] = d;
        } else if (shape[d - lead] != x->shape[d]) {
            return MF_ERR(MF_ERR_SHAPE, "sum_to_shape: %s does not broadcast from %s", MF_SHAPE(x),
                          mf_shape_str(ndim, shape));
        }
    }
    if (nd == 0) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    mf_tensor *s;
    MF_TRY(mf_sum(x, nd, dims, true, &s));
    mf_status st = mf_reshape(s, ndim, shape, out);
    mf_tensor_release(s);
    return st;
}
