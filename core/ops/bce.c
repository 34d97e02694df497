/* binary_cross_entropy_with_logits, composed from differentiable
 * elementwise ops in torch's stable form
 *   loss = (1 - y) x + (1 + (pw - 1) y) softplus(-x),  times weight,
 * so gradients reach the logits, the target, weight and pos_weight alike. */
#include "core/ops/internal.h"
#include "medfm/amp.h"
#include "core/ops/loss_reduce.h"

#define OP "bce_with_logits"

/* Threshold past which softplus(z) is returned as z: exp(-40) is below
 * the f64 epsilon relative to 40, so the cut changes no digit. */
#define SOFTPLUS_THRESHOLD 40.0

static mf_status check_operand(const mf_tensor *x, const mf_tensor *o, const char *what) {
    MF_TRY(mf__same_device(OP, x, o));
    if (o->dtype != x->dtype)
        return MF_ERR(MF_ERR_DTYPE, OP ": %s dtype %s differs from logits dtype %s", what, mf_dtype_name(o->dtype),
                      mf_dtype_name(x->dtype));
    bool ok = o->ndim <= x->ndim;
    for (int i = 0; ok && i < o->ndim; i++) {
        int64_t b = o->shape[o->ndim - 1 - i];
        ok = b == 1 || b == x->shape[x->ndim - 1 - i];
    }
    if (!ok)
        return MF_ERR(MF_ERR_SHAPE, OP ": %s %s does not broadcast to the logits' shape %s", what, MF_SHAPE(o),
                      MF_SHAPE(x));
    return MF_OK;
}


mf_status mf__loss_reduce(mf_tensor *l, mf_reduction r, mf_tensor **out) {
    mf_status st = MF_OK;
    if (r == MF_REDUCE_NONE) {
        *out = l;
        return MF_OK;
    }
    st = r == MF_REDUCE_MEAN ? mf_mean(l, 0, NULL, false, out) : mf_sum(l, 0, NULL, false, out);
    mf_tensor_release(l);
    return st;
}

static mf_status bce_op(const mf_tensor *x, const mf_tensor *y, const mf_tensor *weight,
                        const mf_tensor *pos_weight, mf_reduction reduction, mf_tensor **out) {
    MF_TRY(mf__need_float(OP, x));
    if (reduction != MF_REDUCE_MEAN && reduction != MF_REDUCE_SUM && reduction != MF_REDUCE_NONE)
        return MF_ERR(MF_ERR_INVALID, OP ": unknown reduction %d", (int)reduction);
    MF_TRY(mf__same_device(OP, x, y));
    if (y->dtype != x->dtype)
        return MF_ERR(MF_ERR_DTYPE, OP ": target dtype %s differs from logits dtype %s", mf_dtype_name(y->dtype),
                      mf_dtype_name(x->dtype));
    if (!mf_tensor_same_shape(x, y))
        return MF_ERR(MF_ERR_SHAPE, OP ": target %s must have the logits' shape %s", MF_SHAPE(y), MF_SHAPE(x));
    if (weight)
        MF_TRY(check_operand(x, weight, "weight"));
    if (pos_weight)
        MF_TRY(check_operand(x, pos_weight, "pos_weight"));
    mf_tensor *nx = NULL, *sp = NULL, *yx = NULL, *a = NULL, *lw = NULL, *t = NULL, *l = NULL;
    mf_status st;
    MF_CHECK(mf_neg(x, &nx));
    MF_CHECK(mf_softplus(nx, 1.0, SOFTPLUS_THRESHOLD, &sp));
    MF_CHECK(mf_mul(y, x, &yx));
    MF_CHECK(mf_sub(x, yx, &a)); /* (1 - y) x */
    if (pos_weight) {
        MF_CHECK(mf_add_scalar(pos_weight, -1.0, &t));
        MF_CHECK(mf_mul(t, y, &lw));
        mf_tensor_clear(&t);
        MF_CHECK(mf_add_scalar(lw, 1.0, &t));
        mf_tensor_clear(&lw);
        MF_CHECK(mf_mul(t, sp, &lw));
        mf_tensor_clear(&t);
        MF_CHECK(mf_add(a, lw, &l));
    } else {
        MF_CHECK(mf_add(a, sp, &l));
    }
    if (weight) {
        MF_CHECK(mf_mul(l, weight, &t));
        mf_tensor_release(l);
        l = t;
        t = NULL;
    }
    st = mf__loss_reduce(l, reduction, out);
    l = NULL;
cleanup:
    mf_tensor_release(nx);
    mf_tensor_release(sp);
    mf_tensor_release(yx);
    mf_tensor_release(a);
    mf_tensor_release(lw);
    mf_tensor_release(t);
    mf_tensor_release(l);
    return st;
}

/* Public entry: the autocast policy first. */
mf_status mf_bce_with_logits(const mf_tensor *x, const mf_tensor *y, const mf_tensor *weight,
                             const mf_tensor *pos_weight, mf_reduction reduction, mf_tensor **out) {
    mf_tensor *c[4];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 4, (const mf_tensor *const[]){x, y, weight, pos_weight}, c));
    mf_status st = bce_op(c[0], c[1], c[2], c[3], reduction, out);
    mf_autocast_release(4, c);
    return st;
}
