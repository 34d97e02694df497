/* Forward dispatch and backward of the row norm behind layer and group
 * norm: x is viewed as contiguous rows; weight and bias as flat vectors,
 * their gradients reshaped back to the caller's shapes. */
#include <stdlib.h>

#include "core/ops/norm_internal.h"

static mf_status flat(const mf_tensor *t, mf_tensor **out) {
    mf_tensor *c;
    MF_TRY(mf__contiguous_raw(t, &c));
    int64_t n = mf_tensor_numel(t), one = 1;
    mf_status st = mf__view_raw(c, 1, &n, &one, c->offset, out);
    mf_tensor_release(c);
    return st;
}

/* saved: x (contiguous), weight (flat, may be empty), mean, rstd; ctx: geometry */
static mf_status row_norm_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(const mf_rownorm_geom *, mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *,
                    const mf_tensor *, const mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, norm, row_backward, n->op);
    const mf_rownorm_geom *q = n->ctx;
    const mf_tensor *x = n->saved[0];
    int64_t ca = q->groups * q->cg;
    mf_tensor *gc = NULL, *gx = NULL, *gw = NULL, *gb = NULL;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    if (n->in[0])
        MF_CHECK(mf__new_like_shape(x, x->ndim, x->shape, x->dtype, &gx));
    if (n->in[1])
        MF_CHECK(mf__new_like_shape(x, 1, &ca, x->dtype, &gw));
    if (n->in[2])
        MF_CHECK(mf__new_like_shape(x, 1, &ca, x->dtype, &gb));
    MF_CHECK(fn(q, gx, gw, gb, gc, x, n->saved[2], n->saved[3], n->saved[1]));
    mf_tensor *gs[3] = {gx, gw, gb};
    for (int i = 0; i < 3; i++) {
        if (!gs[i])
            continue;
        /* back to the input's own shape (contiguous row-major strides) */
        int64_t stride[MF_MAX_DIMS];
        int nd = n->in_ndim[i];
        int64_t s = 1;
        for (int d = nd - 1; d >= 0; d--) {
            stride[d] = s;
            s *= n->in_shape[i][d];
        }
        MF_CHECK(mf__view_raw(gs[i], nd, n->in_shape[i], stride, gs[i]->offset, &gin[i]));
    }
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gx);
    mf_tensor_release(gw);
    mf_tensor_release(gb);
    return st;
}

mf_status mf__row_norm(const char *op, const mf_tensor *x, const mf_rownorm_geom *g, const mf_tensor *weight,
                       const mf_tensor *bias, double eps, mf_tensor **out) {
    if (!(eps >= 0))
        return MF_ERR(MF_ERR_INVALID, "%s: eps must be >= 0, got %g", op, eps);
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(const mf_rownorm_geom *, mf_tensor *, mf_tensor *, mf_tensor *, const mf_tensor *,
                    const mf_tensor *, const mf_tensor *, double);
    MF_KERNEL(fn, be, norm, row_forward, op);
    mf_tensor *xc = NULL, *y = NULL, *mean = NULL, *rstd = NULL, *wf = NULL, *bf = NULL;
    mf_node *node;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(x, &xc));
    MF_CHECK(mf__new_like_shape(x, x->ndim, x->shape, x->dtype, &y));
    MF_CHECK(mf__new_like_shape(x, 1, &g->rows, x->dtype, &mean));
    MF_CHECK(mf__new_like_shape(x, 1, &g->rows, x->dtype, &rstd));
    if (weight)
        MF_CHECK(flat(weight, &wf));
    if (bias)
        MF_CHECK(flat(bias, &bf));
    MF_CHECK(fn(g, y, mean, rstd, xc, wf, bf, eps));
    mf_tensor *ins[3] = {(mf_tensor *)x, (mf_tensor *)weight, (mf_tensor *)bias};
    MF_CHECK(mf_autograd_record(op, y, 3, ins, row_norm_backward, &node));
    if (node) {
        mf_rownorm_geom *c = malloc(sizeof *c);
        if (!c) {
            st = MF_ERR(MF_ERR_NOMEM, "%s: out of memory saving the geometry", op);
            goto cleanup;
        }
        *c = *g;
        node->ctx = c;
        node->ctx_free = free;
        MF_CHECK(mf_node_save(node, xc));
        MF_CHECK(mf_node_save(node, wf));
        MF_CHECK(mf_node_save(node, mean));
        MF_CHECK(mf_node_save(node, rstd));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(xc);
    mf_tensor_release(y);
    mf_tensor_release(mean);
    mf_tensor_release(rstd);
    mf_tensor_release(wf);
    mf_tensor_release(bf);
    return st;
}
