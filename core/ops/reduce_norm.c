/* p-norms over dims (p = 1, 2, any p > 0, or INFINITY) and their backward:
 * sign(x) |x|^(p-1) / ||x||^(p-1); for INFINITY the gradient is split
 * evenly among the elements whose |x| reaches the max, like torch. */
#include <math.h>

#include "core/backend/kern_reduce.h"
#include "core/ops/reduce_common.h"

/* ||x|| with zero norms replaced by 1: every element of such a block is 0,
 * so dividing by 1 gives the zero gradient torch gives there. */
static mf_status safe_norm(const mf_tensor *yk, mf_tensor **out) {
    mf_tensor *zero = NULL, *one = NULL, *isz = NULL;
    mf_status st;
    MF_CHECK(mf_tensor_scalar(0.0, yk->dtype, yk->storage->device, &zero));
    MF_CHECK(mf_tensor_scalar(1.0, yk->dtype, yk->storage->device, &one));
    MF_CHECK(mf_eq(yk, zero, &isz));
    MF_CHECK(mf_where(isz, one, yk, out));
cleanup:
    mf_tensor_release(zero);
    mf_tensor_release(one);
    mf_tensor_release(isz);
    return st;
}

/* iarg[0] = mask; farg[0] = p; saved: x, y */
static mf_status norm_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    uint32_t mask = (uint32_t)n->iarg[0];
    double p = n->farg[0];
    const mf_tensor *x = n->saved[0];
    mf_tensor *gk = NULL, *yk = NULL, *w = NULL, *a = NULL, *b = NULL, *c = NULL;
    mf_status st;
    MF_CHECK(mf__reduce_keep(n, mask, g, &gk));
    MF_CHECK(mf__reduce_keep(n, mask, n->saved[1], &yk));
    if (isinf(p)) { /* sign(x) [|x| == max] / (number of ties) */
        int dims[MF_MAX_DIMS];
        int nd = mf__mask_dims(mask, x->ndim, dims);
        MF_CHECK(mf_abs(x, &a));
        MF_CHECK(mf_eq(a, yk, &b));
        mf_tensor_clear(&a);
        MF_CHECK(mf_to_dtype(b, x->dtype, &a));
        mf_tensor_clear(&b);
        MF_CHECK(mf_sum(a, nd, dims, true, &b));
        MF_CHECK(mf_div(a, b, &c));
        mf_tensor_clear(&a);
        mf_tensor_clear(&b);
        MF_CHECK(mf_sign(x, &a));
        MF_CHECK(mf_mul(a, c, &w));
    } else if (p == 1.0) {
        MF_CHECK(mf_sign(x, &w));
    } else if (p == 2.0) {
        MF_CHECK(safe_norm(yk, &a));
        MF_CHECK(mf_div(x, a, &w));
    } else {
        MF_CHECK(safe_norm(yk, &a));
        MF_CHECK(mf_pow_scalar(a, p - 1.0, &b));
        mf_tensor_clear(&a);
        MF_CHECK(mf_abs(x, &a));
        MF_CHECK(mf_pow_scalar(a, p - 1.0, &c));
        mf_tensor_clear(&a);
        MF_CHECK(mf_sign(x, &a));
        mf_tensor *t;
        MF_CHECK(mf_mul(a, c, &t));
        mf_tensor_clear(&c);
        c = t;
        MF_CHECK(mf_div(c, b, &w));
    }
    MF_CHECK(mf_mul(w, gk, &gin[0]));
cleanup:
    mf_tensor_release(gk);
    mf_tensor_release(yk);
    mf_tensor_release(w);
    mf_tensor_release(a);
    mf_tensor_release(b);
    mf_tensor_release(c);
    return st;
}

mf_status mf_norm(const mf_tensor *x, double p, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    MF_TRY(mf__need_float("norm", x));
    if (!(p > 0.0))
        return MF_ERR(MF_ERR_INVALID, "norm: p must be > 0 (or INFINITY), got %g", p);
    uint32_t mask;
    MF_TRY(mf__reduce_prepare("norm", x, n_dims, dims, false, &mask));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, uint32_t, double);
    MF_KERNEL(fn, be, reduce, norm, "norm");
    mf_tensor *y;
    MF_TRY(mf__reduce_alloc(x, mask, x->dtype, &y));
    mf_status st;
    mf_node *n = NULL;
    MF_CHECK(fn(y, x, mask, p));
    if (!keepdim)
        mf__reduce_squeeze(y, x, mask);
    MF_CHECK(mf_autograd_record("norm", y, 1, (mf_tensor *const *)&x, norm_backward, &n));
    if (n) {
        n->iarg[0] = mask;
        n->farg[0] = p;
        MF_CHECK(mf_node_save(n, x));
        MF_CHECK(mf_node_save(n, y));
    }
    *out = y;
    return MF_OK;
cleanup:
    mf_tensor_release(y);
    return st;
}
