/* Layer normalisation over the trailing n_norm dims (PyTorch semantics:
 * biased variance, eps inside the square root, elementwise affine of the
 * normalised shape). The work is the row norm in row_norm.c. */
#include "core/ops/norm_internal.h"
#include "medfm/amp.h"

static mf_status check_affine(const char *what, const mf_tensor *v, const mf_tensor *x, int n_norm) {
    if (!v)
        return MF_OK;
    bool ok = v->ndim == n_norm;
    for (int i = 0; ok && i < n_norm; i++)
        ok = v->shape[i] == x->shape[x->ndim - n_norm + i];
    if (!ok)
        return MF_ERR(MF_ERR_SHAPE, "layer_norm: %s of shape %s does not match the last %d dims of input %s", what,
                      MF_SHAPE(v), n_norm, MF_SHAPE(x));
    MF_TRY(mf__same_dtype("layer_norm", v, x));
    return mf__same_device("layer_norm", v, x);
}

static mf_status layer_norm_op(const mf_tensor *x, int n_norm, const mf_tensor *weight, const mf_tensor *bias,
                               double eps, mf_tensor **out) {
    MF_TRY(mf__need_float("layer_norm", x));
    if (n_norm < 1 || n_norm > x->ndim)
        return MF_ERR(MF_ERR_SHAPE, "layer_norm: n_norm %d must be in [1, %d] for input %s", n_norm, x->ndim,
                      MF_SHAPE(x));
    MF_TRY(check_affine("weight", weight, x, n_norm));
    MF_TRY(check_affine("bias", bias, x, n_norm));
    int64_t k = 1;
    for (int d = x->ndim - n_norm; d < x->ndim; d++)
        k *= x->shape[d];
    if (k < 1)
        return MF_ERR(MF_ERR_SHAPE, "layer_norm: normalised dims of input %s are empty", MF_SHAPE(x));
    mf_rownorm_geom g = {.rows = mf_tensor_numel(x) / k, .groups = 1, .cg = k, .s = 1};
    return mf__row_norm("layer_norm", x, &g, weight, bias, eps, out);
}

/* Public entry: the autocast policy first. */
mf_status mf_layer_norm(const mf_tensor *x, int n_norm, const mf_tensor *weight, const mf_tensor *bias, double eps,
                        mf_tensor **out) {
    mf_tensor *c[3];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 3, (const mf_tensor *const[]){x, weight, bias}, c));
    mf_status st = layer_norm_op(c[0], n_norm, c[1], c[2], eps, out);
    mf_autocast_release(3, c);
    return st;
}
