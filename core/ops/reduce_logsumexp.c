/* log sum exp over dims, shifted by the max so it never overflows; its
 * backward is the softmax over the same dims times the gradient. */
#include "core/backend/kern_reduce.h"
#include "core/ops/reduce_common.h"
#include "medfm/amp.h"

/* iarg[0] = mask; saved: x, y */
static mf_status lse_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    uint32_t mask = (uint32_t)n->iarg[0];
    mf_tensor *gk = NULL, *yk = NULL, *d = NULL, *e = NULL;
    mf_status st;
    MF_CHECK(mf__reduce_keep(n, mask, g, &gk));
    MF_CHECK(mf__reduce_keep(n, mask, n->saved[1], &yk));
    MF_CHECK(mf_sub(n->saved[0], yk, &d));
    MF_CHECK(mf_exp(d, &e));
    MF_CHECK(mf_mul(e, gk, &gin[0]));
cleanup:
    mf_tensor_release(gk);
    mf_tensor_release(yk);
    mf_tensor_release(d);
    mf_tensor_release(e);
    return st;
}

static mf_status logsumexp_op(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    MF_TRY(mf__need_float("logsumexp", x));
    uint32_t mask;
    MF_TRY(mf__reduce_prepare("logsumexp", x, n_dims, dims, false, &mask));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, uint32_t);
    MF_KERNEL(fn, be, reduce, logsumexp, "logsumexp");
    mf_tensor *y;
    MF_TRY(mf__reduce_alloc(x, mask, x->dtype, &y));
    mf_status st;
    mf_node *n = NULL;
    MF_CHECK(fn(y, x, mask));
    if (!keepdim)
        mf__reduce_squeeze(y, x, mask);
    MF_CHECK(mf_autograd_record("logsumexp", y, 1, (mf_tensor *const *)&x, lse_backward, &n));
    if (n) {
        n->iarg[0] = mask;
        MF_CHECK(mf_node_save(n, x));
        MF_CHECK(mf_node_save(n, y));
    }
    *out = y;
    return MF_OK;
cleanup:
    mf_tensor_release(y);
    return st;
}

/* Public entry: the autocast policy first. */
mf_status mf_logsumexp(const mf_tensor *x, int n_dims, const int *dims, bool keepdim, mf_tensor **out) {
    mf_tensor *c[1];
    MF_TRY(mf_autocast_args(MF_AMP_F32, 1, (const mf_tensor *const[]){x}, c));
    mf_status st = logsumexp_op(c[0], n_dims, dims, keepdim, out);
    mf_autocast_release(1, c);
    return st;
}
