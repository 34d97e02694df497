/* Group normalisation of (N, C, ...): statistics over each group of C /
 * groups channels and all spatial positions, per-channel affine (PyTorch
 * semantics). The work is the row norm in row_norm.c. */
#include "core/ops/norm_internal.h"
#include "medfm/amp.h"

static mf_status check_affine(const char *what, const mf_tensor *v, const mf_tensor *x) {
    if (!v)
        return MF_OK;
    if (v->ndim != 1 || v->shape[0] != x->shape[1])
        return MF_ERR(MF_ERR_SHAPE, "group_norm: %s of shape %s does not match the %lld channels of input %s", what,
                      MF_SHAPE(v), (long long)x->shape[1], MF_SHAPE(x));
    MF_TRY(mf__same_dtype("group_norm", v, x));
    return mf__same_device("group_norm", v, x);
}

static mf_status group_norm_op(const mf_tensor *x, int64_t groups, const mf_tensor *weight, const mf_tensor *bias,
                               double eps, mf_tensor **out) {
    MF_TRY(mf__need_float("group_norm", x));
    if (x->ndim < 2)
        return MF_ERR(MF_ERR_SHAPE, "group_norm: input must be (N, C, ...), got shape %s", MF_SHAPE(x));
    int64_t C = x->shape[1];
    if (groups < 1 || C % groups)
        return MF_ERR(MF_ERR_SHAPE, "group_norm: %lld groups do not divide the %lld channels of input %s",
                      (long long)groups, (long long)C, MF_SHAPE(x));
    MF_TRY(check_affine("weight", weight, x));
    MF_TRY(check_affine("bias", bias, x));
    int64_t s = 1;
    for (int d = 2; d < x->ndim; d++)
        s *= x->shape[d];
    if (s < 1 || x->shape[0] < 1)
        return MF_ERR(MF_ERR_SHAPE, "group_norm: input %s is empty", MF_SHAPE(x));
    mf_rownorm_geom g = {.rows = x->shape[0] * groups, .groups = groups, .cg = C / groups, .s = s};
    return mf__row_norm("group_norm", x, &g, weight, bias, eps, out);
}

/* Public entry: the autocast policy first. */
mf_status mf_group_norm(const mf_tensor *x, int64_t groups, const mf_tensor *weight, const mf_tensor *bias,
                        double eps, mf_tensor **out) {
    mf_tensor *c[3];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 3, (const mf_tensor *const[]){x, weight, bias}, c));
    mf_status st = group_norm_op(c[0], groups, c[1], c[2], eps, out);
    mf_autocast_release(3, c);
    return st;
}
