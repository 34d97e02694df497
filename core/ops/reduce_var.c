/* Variance over dims with a correction (0 = population, 1 = unbiased), and
 * its backward: 2 (x - mean) / (count - correction) times the gradient. */
#include "core/backend/kern_reduce.h"
#include "core/ops/reduce_common.h"

/* iarg[0] = mask; farg[0] = divisor; saved: x */
static mf_status var_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    uint32_t mask = (uint32_t)n->iarg[0];
    const mf_tensor *x = n->saved[0];
    int dims[MF_MAX_DIMS];
    int nd = mf__mask_dims(mask, x->ndim, dims);
    mf_tensor *gk = NULL, *mean = NULL, *c = NULL, *t = NULL;
    mf_status st;
    MF_CHECK(mf__reduce_keep(n, mask, g, &gk));
    MF_CHECK(mf_mean(x, nd, dims, true, &mean));
    MF_CHECK(mf_sub(x, mean, &c));
    MF_CHECK(mf_mul(c, gk, &t));
    MF_CHECK(mf_mul_scalar(t, 2.0 / n->farg[0], &gin[0]));
cleanup:
    mf_tensor_release(gk);
    mf_tensor_release(mean);
    mf_tensor_release(c);
    mf_tensor_release(t);
    return st;
}

mf_status mf_var(const mf_tensor *x, int n_dims, const int *dims, int64_t correction, bool keepdim, mf_tensor **out) {
    MF_TRY(mf__need_float("var", x));
    if (correction < 0)
        return MF_ERR(MF_ERR_INVALID, "var: correction must be >= 0, got %lld", (long long)correction);
    uint32_t mask;
    MF_TRY(mf__reduce_prepare("var", x, n_dims, dims, false, &mask));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, uint32_t, double);
    MF_KERNEL(fn, be, reduce, var, "var");
    /* count <= correction gives inf or NaN, as in torch */
    double divisor = (double)(mf__reduce_count(x, mask) - correction);
    if (divisor < 0)
        divisor = 0;
    mf_tensor *y;
    MF_TRY(mf__reduce_alloc(x, mask, x->dtype, &y));
    mf_status st;
    mf_node *n = NULL;
    MF_CHECK(fn(y, x, mask, divisor));
    if (!keepdim)
        mf__reduce_squeeze(y, x, mask);
    MF_CHECK(mf_autograd_record("var", y, 1, (mf_tensor *const *)&x, var_backward, &n));
    if (n) {
        n->iarg[0] = mask;
        n->farg[0] = divisor;
        MF_CHECK(mf_node_save(n, x));
    }
    *out = y;
    return MF_OK;
cleanup:
    mf_tensor_release(y);
    return st;
}
