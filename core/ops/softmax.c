/* softmax and log_softmax along one dim: forward dispatch and the fused
 * backward (one kernel from the saved output). Kernels: the `loss` table. */
#include "core/backend/kern_loss.h"
#include "core/ops/internal.h"
#include "medfm/amp.h"

/* saved: y; iarg[0] = dim, iarg[1] = log */
static mf_status softmax_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_tensor *y = n->saved[0];
    const mf_backend *be;
    MF_TRY(mf_backend_of(y, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const mf_tensor *, int, bool);
    MF_KERNEL(fn, be, loss, softmax_backward, n->op);
    mf_tensor *gc = NULL, *gx = NULL;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    MF_CHECK(mf_tensor_empty_like(y, &gx));
    MF_CHECK(fn(gx, gc, y, (int)n->iarg[0], n->iarg[1] != 0));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gx);
    return st;
}

static mf_status softmax_raw_op(const char *op, const mf_tensor *x, int dim, bool log, mf_tensor **out) {
    MF_TRY(mf__need_float(op, x));
    int d = 0;
    if (x->ndim > 0)
        MF_TRY(mf_dim_normalize(op, dim, x->ndim, &d));
    else if (dim != 0 && dim != -1)
        return MF_ERR(MF_ERR_SHAPE, "%s: dim %d is out of range for a 0-d tensor", op, dim);
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, int, bool);
    MF_KERNEL(fn, be, loss, softmax_forward, op);
    mf_tensor *xc = NULL, *y = NULL;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(x, &xc));
    MF_CHECK(mf__new_like_shape(x, x->ndim, x->shape, x->dtype, &y));
    MF_CHECK(fn(y, xc, d, log));
    mf_node *n;
    MF_CHECK(mf_autograd_record(op, y, 1, (mf_tensor *const *)&x, softmax_backward, &n));
    if (n) {
        n->iarg[0] = d;
        n->iarg[1] = log;
        MF_CHECK(mf_node_save(n, y));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(xc);
    mf_tensor_release(y);
    return st;
}

/* Public entry: the autocast policy first. */
static mf_status softmax_op(const char *op, const mf_tensor *x, int dim, bool log, mf_tensor **out) {
    mf_tensor *c[1];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 1, (const mf_tensor *const[]){x}, c));
    mf_status st = softmax_raw_op(op, c[0], dim, log, out);
    mf_autocast_release(1, c);
    return st;
}

mf_status mf_softmax(const mf_tensor *x, int dim, mf_tensor **out) { return softmax_op("softmax", x, dim, false, out); }

mf_status mf_log_softmax(const mf_tensor *x, int dim, mf_tensor **out) {
    return softmax_op("log_softmax", x, dim, true, out);
}
