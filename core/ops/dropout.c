/* Dropout and stochastic depth: draw a keep mask holding 0 or 1/(1-p) from
 * the generator, then multiply, so the backward is the mul's (grad * mask). */
#include <math.h>

#include "core/ops/internal.h"
#include "core/ops/random_internal.h"

/* x * mask, the mask of shape (mask_ndim, mask_shape) broadcast over x. */
static mf_status masked_scale(const char *op, const mf_tensor *x, double p, mf_rng *rng, int mask_ndim,
                              const int64_t *mask_shape, mf_tensor **out) {
    mf_tensor *mask, *m16 = NULL;
    /* bf16/f16: draw the mask in f32 (the generators fill f32/f64) and round it */
    bool lowp = x->dtype == MF_BF16 || x->dtype == MF_F16;
    MF_TRY(mf__new_like_shape(x, mask_ndim, mask_shape, lowp ? MF_F32 : x->dtype, &mask));
    double keep = p < 1.0 ? 1.0 / (1.0 - p) : 0.0;
    mf_status st = mf__rand_fill(op, MF_RAND_BERNOULLI, mask, rng, (double[4]){p, keep, 0, 0});
    if (st == MF_OK && lowp && (st = mf_to_dtype(mask, x->dtype, &m16)) == MF_OK) {
        mf_tensor_release(mask);
        mask = m16;
    }
    if (st == MF_OK)
        st = mf_mul(x, mask, out);
    mf_tensor_release(mask);
    return st;
}

static mf_status check_args(const char *op, const mf_tensor *x, double p, bool training, mf_rng *rng) {
    if (!(p >= 0.0 && p <= 1.0))
        return MF_ERR(MF_ERR_INVALID, "%s: probability must be in [0, 1], got %g", op, p);
    MF_TRY(mf__need_float(op, x));
    if (training && p > 0 && !rng)
        return MF_ERR(MF_ERR_INVALID, "%s: training with p = %g needs a generator, got NULL", op, p);
    return MF_OK;
}

mf_status mf_dropout(const mf_tensor *x, double p, bool training, mf_rng *rng, mf_tensor **out) {
    MF_TRY(check_args("dropout", x, p, training, rng));
    if (!training || p == 0.0) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    return masked_scale("dropout", x, p, rng, x->ndim, x->shape, out);
}

mf_status mf_drop_path(const mf_tensor *x, double p, bool training, mf_rng *rng, mf_tensor **out) {
    MF_TRY(check_args("drop_path", x, p, training, rng));
    if (x->ndim < 1)
        return MF_ERR(MF_ERR_SHAPE, "drop_path: needs a batch dim, got shape %s", MF_SHAPE(x));
    if (!training || p == 0.0) {
        *out = mf_tensor_retain((mf_tensor *)x);
        return MF_OK;
    }
    int64_t sh[MF_MAX_DIMS];
    sh[0] = x->shape[0];
    for (int i = 1; i < x->ndim; i++)
        sh[i] = 1;
    return masked_scale("drop_path", x, p, rng, x->ndim, sh, out);
}
