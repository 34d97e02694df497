/* Batch normalisation over (N, C, ...) with PyTorch's semantics: batch
 * statistics (biased variance) in training, running statistics blended in
 * place with the unbiased variance, running statistics in eval; and its
 * backward for x, weight and bias. bf16/f16 inputs take f32 parameters.
 * A channels-last x stays channels-last (y and gx too) on a backend whose
 * kernels take that layout (kern_norm.h). Kernels: core/backend/<dev>/norm. */
#include "core/backend/kern_norm.h"
#include "core/ops/internal.h"

/* The (N, C, S) view of x: contiguous (x copied when strided), or, when
 * `cl`, x brought into channels-last (copied unless it is) and viewed at
 * strides (S * C, 1, C). */
static mf_status as_ncs(const mf_tensor *x, bool cl, mf_tensor **out) {
    mf_tensor *c;
    MF_TRY(mf__layout_raw(cl, x, &c));
    int64_t s = 1;
    for (int d = 2; d < x->ndim; d++)
        s *= x->shape[d];
    int64_t C = x->shape[1], shape[3] = {x->shape[0], C, s};
    int64_t stride[3] = {C * s, cl ? 1 : s, cl ? C : 1};
    mf_status st = mf__view_raw(c, 3, shape, stride, c->offset, out);
    mf_tensor_release(c);
    return st;
}

/* Whether the kernels run on x in its channels-last layout (the backend
 * takes it, and it is not also contiguous): then y and the gradients are
 * channels-last too. Else everything goes through contiguous copies. */
static bool use_channels_last(const mf_backend *be, const mf_tensor *x) {
    return be->norm && be->norm->batch_channels_last && mf_tensor_is_channels_last(x) &&
           !mf_tensor_is_contiguous(x);
}

/* Parameters and statistics: x's dtype, or f32 for bf16/f16 x. */
static mf_dtype param_dtype(const mf_tensor *x) {
    return x->dtype == MF_BF16 || x->dtype == MF_F16 ? MF_F32 : x->dtype;
}

static mf_status check_vec(const char *what, const mf_tensor *v, const mf_tensor *x) {
    if (!v)
        return MF_OK;
    if (v->ndim != 1 || v->shape[0] != x->shape[1])
        return MF_ERR(MF_ERR_SHAPE, "batch_norm: %s of shape %s does not match the %lld channels of input %s", what,
                      MF_SHAPE(v), (long long)x->shape[1], MF_SHAPE(x));
    if (v->dtype != param_dtype(x))
        return MF_ERR(MF_ERR_DTYPE, "batch_norm: %s is %s but a %s input needs %s parameters and statistics", what,
                      mf_dtype_name(v->dtype), mf_dtype_name(x->dtype), mf_dtype_name(param_dtype(x)));
    return mf__same_device("batch_norm", v, x);
}

/* saved: x (its (N, C, S) view), weight (may be empty), mean, invstd, and
 * for batch_norm_relu its output y; iarg[0] = training, iarg[1] = the
 * channels-last path (x's view, y and gx channels-last) */
static mf_status batch_norm_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    const mf_tensor *, const mf_tensor *, bool, const mf_tensor *);
    MF_KERNEL(fn, be, norm, batch_backward, n->op);
    const mf_tensor *x3 = n->saved[0]; /* (N, C, S) */
    mf_tensor *g3 = NULL, *ry3 = NULL, *gx = NULL, *gx3 = NULL, *gw = NULL, *gb = NULL;
    mf_status st;
    bool cl = n->iarg[1] != 0;
    MF_CHECK(as_ncs(g, cl, &g3));
    if (n->n_saved > 4)
        MF_CHECK(as_ncs(n->saved[4], cl, &ry3));
    int64_t C = x3->shape[1];
    if (n->in[0]) {
        MF_CHECK(mf__new_layout(cl, x3, n->in_ndim[0], n->in_shape[0], x3->dtype, &gx));
        MF_CHECK(as_ncs(gx, cl, &gx3));
    }
    if (n->in[1])
        MF_CHECK(mf__new_like_shape(x3, 1, &C, param_dtype(x3), &gw));
    if (n->in[2])
        MF_CHECK(mf__new_like_shape(x3, 1, &C, param_dtype(x3), &gb));
    MF_CHECK(fn(gx3, gw, gb, g3, x3, n->saved[2], n->saved[3], n->saved[1], n->iarg[0] != 0, ry3));
    gin[0] = gx;
    gin[1] = gw;
    gin[2] = gb;
    gx = gw = gb = NULL;
cleanup:
    mf_tensor_release(g3);
    mf_tensor_release(ry3);
    mf_tensor_release(gx3);
    mf_tensor_release(gx);
    mf_tensor_release(gw);
    mf_tensor_release(gb);
    return st;
}

static mf_status batch_norm_op(const mf_tensor *x, mf_tensor *running_mean, mf_tensor *running_var,
                               const mf_tensor *weight, const mf_tensor *bias, bool training, double momentum,
                               double eps, bool relu, mf_tensor **out) {
    const char *op = relu ? "batch_norm_relu" : "batch_norm";
    MF_TRY(mf__need_float(op, x));
    if (x->ndim < 2)
        return MF_ERR(MF_ERR_SHAPE, "batch_norm: input must be (N, C, ...), got shape %s", MF_SHAPE(x));
    MF_TRY(check_vec("weight", weight, x));
    MF_TRY(check_vec("bias", bias, x));
    MF_TRY(check_vec("running_mean", running_mean, x));
    MF_TRY(check_vec("running_var", running_var, x));
    if (!(eps >= 0))
        return MF_ERR(MF_ERR_INVALID, "batch_norm: eps must be >= 0, got %g", eps);
    int64_t per_channel = mf_tensor_numel(x) / (x->shape[1] ? x->shape[1] : 1);
    if (training && per_channel < 2)
        return MF_ERR(MF_ERR_SHAPE, "batch_norm: training needs more than one value per channel, got input %s",
                      MF_SHAPE(x));
    if (!training && (!running_mean || !running_var))
        return MF_ERR(MF_ERR_INVALID, "batch_norm: eval mode needs running_mean and running_var");
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    mf_tensor *, mf_tensor *, bool, double, double, bool);
    MF_KERNEL(fn, be, norm, batch_forward, op);
    int64_t C = x->shape[1];
    mf_tensor *x3 = NULL, *y = NULL, *y3 = NULL, *mean = NULL, *invstd = NULL, *wc = NULL, *bc = NULL;
    mf_node *node;
    mf_status st;
    bool cl = use_channels_last(be, x);
    MF_CHECK(as_ncs(x, cl, &x3));
    MF_CHECK(mf__new_layout(cl, x, x->ndim, x->shape, x->dtype, &y));
    MF_CHECK(as_ncs(y, cl, &y3));
    MF_CHECK(mf__new_like_shape(x, 1, &C, param_dtype(x), &mean));
    MF_CHECK(mf__new_like_shape(x, 1, &C, param_dtype(x), &invstd));
    if (weight)
        MF_CHECK(mf__contiguous_raw(weight, &wc));
    if (bias)
        MF_CHECK(mf__contiguous_raw(bias, &bc));
    MF_CHECK(fn(y3, mean, invstd, x3, wc, bc, running_mean, running_var, training, momentum, eps, relu));
    mf_tensor *ins[3] = {(mf_tensor *)x, (mf_tensor *)weight, (mf_tensor *)bias};
    MF_CHECK(mf_autograd_record(op, y, 3, ins, batch_norm_backward, &node));
    if (node) {
        MF_CHECK(mf_node_save(node, x3));
        MF_CHECK(mf_node_save(node, wc));
        MF_CHECK(mf_node_save(node, mean));
        MF_CHECK(mf_node_save(node, invstd));
        if (relu)
            MF_CHECK(mf_node_save(node, y));
        node->iarg[0] = training;
        node->iarg[1] = cl;
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(x3);
    mf_tensor_release(y);
    mf_tensor_release(y3);
    mf_tensor_release(mean);
    mf_tensor_release(invstd);
    mf_tensor_release(wc);
    mf_tensor_release(bc);
    return st;
}

/* Public entry. No autocast cast: a bf16/f16 input (a low-precision conv's
 * output) is normalised as it is with the f32 parameters and statistics
 * (computed in double), and y keeps the input's dtype, as cuDNN's batch
 * norm does under PyTorch's autocast: activations stay half-size. */
mf_status mf_batch_norm(const mf_tensor *x, mf_tensor *running_mean, mf_tensor *running_var,
                        const mf_tensor *weight, const mf_tensor *bias, bool training, double momentum, double eps,
                        mf_tensor **out) {
    return batch_norm_op(x, running_mean, running_var, weight, bias, training, momentum, eps, false, out);
}

/* relu(batch_norm(x)) in one pass each way: the relu is applied as y is
 * written, and its gradient masks g inside the batch norm backward (it
 * saves its output, as relu does). */
mf_status mf_batch_norm_relu(const mf_tensor *x, mf_tensor *running_mean, mf_tensor *running_var,
                             const mf_tensor *weight, const mf_tensor *bias, bool training, double momentum,
                             double eps, mf_tensor **out) {
    return batch_norm_op(x, running_mean, running_var, weight, bias, training, momentum, eps, true, out);
}
