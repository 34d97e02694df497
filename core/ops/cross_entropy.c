/* cross_entropy with PyTorch semantics: class-index targets, ignore_index,
 * class weights, label smoothing and mean/sum/none reductions. One fused
 * kernel computes log-softmax, the per-position loss and the weight of each
 * counted target; the reduction happens here; the backward is one fused
 * kernel (softmax - onehot, smoothing and weights folded in). Gradients
 * flow to the logits only (class weights are constants, as in torch). */
#include <string.h>

#include "core/backend/kern_loss.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

#define OP "cross_entropy"

mf_ce_params mf_ce_params_default(void) {
    return (mf_ce_params){.ignore_index = -100, .weight = NULL, .label_smoothing = 0.0,
                          .reduction = MF_REDUCE_MEAN};
}

typedef struct {
    int64_t N, C, S;
} ce_dims;

static mf_status check_args(const mf_tensor *x, const mf_tensor *t, const mf_ce_params *p, ce_dims *d) {
    MF_TRY(mf__need_float(OP, x));
    if (x->ndim < 1)
        return MF_ERR(MF_ERR_SHAPE, OP ": logits must be (C), (N, C) or (N, C, d1, ...), got %s", MF_SHAPE(x));
    if (t->dtype != MF_I64)
        return MF_ERR(MF_ERR_DTYPE, OP ": target must hold int64 class indices, got %s (class probabilities are "
                                       "not supported)", mf_dtype_name(t->dtype));
    MF_TRY(mf__same_device(OP, x, t));
    /* Expected target shape: logits' shape without the class dim. */
    int cdim = x->ndim == 1 ? 0 : 1;
    bool ok = t->ndim == x->ndim - 1;
    for (int i = 0, k = 0; ok && i < x->ndim; i++) {
        if (i == cdim)
            continue;
        ok = t->shape[k++] == x->shape[i];
    }
    if (!ok)
        return MF_ERR(MF_ERR_SHAPE, OP ": target %s does not match logits %s (expected the logits' shape without "
                                       "the class dim %d)", MF_SHAPE(t), MF_SHAPE(x), cdim);
    d->C = x->shape[cdim];
    d->N = x->ndim == 1 ? 1 : x->shape[0];
    d->S = 1;
    for (int i = 2; i < x->ndim; i++)
        d->S *= x->shape[i];
    if (p->weight) {
        const mf_tensor *w = p->weight;
        MF_TRY(mf__same_device(OP, x, w));
        if (w->dtype != x->dtype)
            return MF_ERR(MF_ERR_DTYPE, OP ": weight dtype %s differs from logits dtype %s", mf_dtype_name(w->dtype),
                          mf_dtype_name(x->dtype));
        if (w->ndim != 1 || w->shape[0] != d->C)
            return MF_ERR(MF_ERR_SHAPE, OP ": weight must have shape [%lld] (one per class), got %s",
                          (long long)d->C, MF_SHAPE(w));
    }
    if (!(p->label_smoothing >= 0.0 && p->label_smoothing <= 1.0))
        return MF_ERR(MF_ERR_INVALID, OP ": label_smoothing must be in [0, 1], got %g", p->label_smoothing);
    if (p->reduction != MF_REDUCE_MEAN && p->reduction != MF_REDUCE_SUM && p->reduction != MF_REDUCE_NONE)
        return MF_ERR(MF_ERR_INVALID, OP ": unknown reduction %d", (int)p->reduction);
    return MF_OK;
}

static mf_status view3(const mf_tensor *c, const ce_dims *d, mf_tensor **out) {
    int64_t shape[3] = {d->N, d->C, d->S}, stride[3] = {d->C * d->S, d->S, 1};
    return mf__view_raw(c, 3, shape, stride, c->offset, out);
}

/* saved: logp (N,C,S), target (contiguous), weight (or empty), wsum (0-d,
 * mean only); iarg: reduction, ignore_index; farg[0]: smoothing */
static mf_status ce_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *logp = n->saved[0], *t = n->saved[1], *w = n->saved[2], *wsum = n->saved[3];
    const mf_backend *be;
    MF_TRY(mf_backend_of(logp, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    int64_t, double);
    MF_KERNEL(fn, be, loss, ce_backward, n->op);
    int64_t N = logp->shape[0], S = logp->shape[2];
    int64_t ns[2] = {N, S};
    mf_tensor *gc = NULL, *gs = NULL, *scaled = NULL, *gx = NULL;
    mf_status st;
    mf_reduction red = (mf_reduction)n->iarg[0];
    if (red == MF_REDUCE_NONE) {
        MF_CHECK(mf__contiguous_raw(g, &gc));
        MF_CHECK(mf__view_raw(gc, 2, ns, (int64_t[]){S, 1}, gc->offset, &gs));
    } else {
        if (red == MF_REDUCE_MEAN) {
            MF_CHECK(mf_div(g, wsum, &scaled));
            g = scaled;
        }
        MF_CHECK(mf__view_raw(g, 2, ns, (int64_t[]){0, 0}, g->offset, &gs));
    }
    MF_CHECK(mf__new_like_shape(logp, n->in_ndim[0], n->in_shape[0], logp->dtype, &gx));
    MF_CHECK(fn(gx, gs, logp, t, w, n->iarg[1], n->farg[0]));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gs);
    mf_tensor_release(scaled);
    mf_tensor_release(gx);
    return st;
}

static mf_status cross_entropy_op(const mf_tensor *logits, const mf_tensor *target, const mf_ce_params *params,
                                  mf_tensor **out) {
    mf_ce_params p = params ? *params : mf_ce_params_default();
    ce_dims d;
    MF_TRY(check_args(logits, target, &p, &d));
    const mf_backend *be;
    MF_TRY(mf_backend_of(logits, &be));
    mf_status (*fn)(mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *,
                    int64_t, double);
    MF_KERNEL(fn, be, loss, ce_forward, OP);
    mf_tensor *xc = NULL, *x3 = NULL, *tc = NULL, *wc = NULL, *logp = NULL, *loss = NULL, *wt = NULL;
    mf_tensor *lsum = NULL, *wsum = NULL, *y = NULL;
    mf_status st;
    bool prev = mf_grad_set_enabled(false);
    int64_t ns[2] = {d.N, d.S}, s3[3] = {d.N, d.C, d.S};
    MF_CHECK(mf__contiguous_raw(logits, &xc));
    MF_CHECK(view3(xc, &d, &x3));
    MF_CHECK(mf__contiguous_raw(target, &tc));
    if (p.weight)
        MF_CHECK(mf__contiguous_raw(p.weight, &wc));
    MF_CHECK(mf__new_like_shape(logits, 3, s3, logits->dtype, &logp));
    MF_CHECK(mf__new_like_shape(logits, 2, ns, logits->dtype, &loss));
    MF_CHECK(mf__new_like_shape(logits, 2, ns, logits->dtype, &wt));
    MF_CHECK(fn(loss, wt, logp, x3, tc, wc, p.ignore_index, p.label_smoothing));
    if (p.reduction == MF_REDUCE_NONE) {
        MF_CHECK(mf_reshape(loss, target->ndim, target->shape, &y));
    } else {
        MF_CHECK(mf_sum(loss, 0, NULL, false, &lsum));
        if (p.reduction == MF_REDUCE_MEAN) {
            MF_CHECK(mf_sum(wt, 0, NULL, false, &wsum));
            MF_CHECK(mf_div(lsum, wsum, &y)); /* 0/0 = NaN when every target is ignored, as torch */
        } else {
            y = mf_tensor_retain(lsum);
        }
    }
    mf_grad_set_enabled(prev);
    mf_node *n;
    MF_CHECK(mf_autograd_record(OP, y, 1, (mf_tensor *const *)&logits, ce_backward, &n));
    if (n) {
        n->iarg[0] = p.reduction;
        n->iarg[1] = p.ignore_index;
        n->farg[0] = p.label_smoothing;
        MF_CHECK(mf_node_save(n, logp));
        MF_CHECK(mf_node_save(n, tc));
        MF_CHECK(mf_node_save(n, wc));
        MF_CHECK(mf_node_save(n, wsum));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_grad_set_enabled(prev);
    mf_tensor_release(xc);
    mf_tensor_release(x3);
    mf_tensor_release(tc);
    mf_tensor_release(wc);
    mf_tensor_release(logp);
    mf_tensor_release(loss);
    mf_tensor_release(wt);
    mf_tensor_release(lsum);
    mf_tensor_release(wsum);
    mf_tensor_release(y);
    return st;
}

/* Public entry: the autocast policy first. */
mf_status mf_cross_entropy(const mf_tensor *logits, const mf_tensor *target, const mf_ce_params *params,
                           mf_tensor **out) {
    mf_tensor *c[2];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 2, (const mf_tensor *const[]){logits, target}, c));
    mf_status st = cross_entropy_op(c[0], c[1], params, out);
    mf_autocast_release(2, c);
    return st;
}
