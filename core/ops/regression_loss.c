/* mse_loss and l1_loss, composed from differentiable elementwise ops.
 * Input and target broadcast as in torch; gradients reach both. */
#include "core/ops/internal.h"
#include "medfm/amp.h"
#include "core/ops/loss_reduce.h"


static mf_status regression_op(const char *op, const mf_tensor *x, const mf_tensor *y, mf_reduction r, bool square,
                               mf_tensor **out) {
    MF_TRY(mf__need_float(op, x));
    MF_TRY(mf__same_device(op, x, y));
    if (y->dtype != x->dtype)
        return MF_ERR(MF_ERR_DTYPE, "%s: target dtype %s differs from input dtype %s", op, mf_dtype_name(y->dtype),
                      mf_dtype_name(x->dtype));
    if (r != MF_REDUCE_MEAN && r != MF_REDUCE_SUM && r != MF_REDUCE_NONE)
        return MF_ERR(MF_ERR_INVALID, "%s: unknown reduction %d", op, (int)r);
    int n;
    int64_t shape[MF_MAX_DIMS];
    MF_TRY(mf_broadcast_shape(op, x->ndim, x->shape, y->ndim, y->shape, &n, shape));
    mf_tensor *d = NULL, *l = NULL;
    MF_TRY(mf_sub(x, y, &d));
    mf_status st = square ? mf_square(d, &l) : mf_abs(d, &l);
    mf_tensor_release(d);
    MF_TRY(st);
    return mf__loss_reduce(l, r, out);
}

/* Public entry: the autocast policy first. */
static mf_status regression(const char *op, const mf_tensor *x, const mf_tensor *y, mf_reduction r, bool square,
                            mf_tensor **out) {
    mf_tensor *c[2];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 2, (const mf_tensor *const[]){x, y}, c));
    mf_status st = regression_op(op, c[0], c[1], r, square, out);
    mf_autocast_release(2, c);
    return st;
}

mf_status mf_mse_loss(const mf_tensor *input, const mf_tensor *target, mf_reduction reduction, mf_tensor **out) {
    return regression("mse_loss", input, target, reduction, true, out);
}

mf_status mf_l1_loss(const mf_tensor *input, const mf_tensor *target, mf_reduction reduction, mf_tensor **out) {
    return regression("l1_loss", input, target, reduction, false, out);
}
