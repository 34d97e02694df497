/* Joining tensors: concat along an existing dim and stack along a new one.
 * The backward hands each input its slice of the output gradient (a view,
 * no copy). Data moves through the backend's copy, so any device works. */
#include <stdlib.h>
#include <string.h>

#include "core/ops/internal.h"
#include "medfm/amp.h"

/* iarg[0] = dim; in_shape[i][dim] gives each input's extent. */
static mf_status concat_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    int d = (int)n->iarg[0];
    int64_t start = 0;
    for (int i = 0; i < n->n_in; i++) {
        int64_t len = n->in_shape[i][d];
        if (n->in[i]) {
            int64_t sh[MF_MAX_DIMS];
            memcpy(sh, g->shape, sizeof sh);
            sh[d] = len;
            MF_TRY(mf__view_raw(g, g->ndim, sh, g->stride, g->offset + start * g->stride[d], &gin[i]));
        }
        start += len;
    }
    return MF_OK;
}

static mf_status concat_op(int n, mf_tensor *const *xs, int dim, mf_tensor **out) {
    if (n < 1 || !xs)
        return MF_ERR(MF_ERR_INVALID, "concat: needs at least one tensor, got %d", n);
    const mf_tensor *x0 = xs[0];
    int d;
    MF_TRY(mf_dim_normalize("concat", dim, x0->ndim, &d));
    int64_t sh[MF_MAX_DIMS];
    memcpy(sh, x0->shape, sizeof sh);
    sh[d] = 0;
    for (int i = 0; i < n; i++) {
        const mf_tensor *x = xs[i];
        MF_TRY(mf__same_device("concat", x0, x));
        MF_TRY(mf__same_dtype("concat", x0, x));
        bool ok = x->ndim == x0->ndim;
        for (int k = 0; ok && k < x->ndim; k++)
            ok = k == d || x->shape[k] == x0->shape[k];
        if (!ok)
            return MF_ERR(MF_ERR_SHAPE, "concat: tensor %d has shape %s, tensor 0 has %s; they may differ only in dim %d",
                          i, MF_SHAPE(x), MF_SHAPE(x0), dim);
        sh[d] += x->shape[d];
    }
    mf_tensor *y, *v = NULL;
    MF_TRY(mf__new_like_shape(x0, x0->ndim, sh, x0->dtype, &y));
    mf_status st = MF_OK;
    int64_t start = 0;
    for (int i = 0; i < n; i++) {
        int64_t vs[MF_MAX_DIMS];
        memcpy(vs, y->shape, sizeof vs);
        vs[d] = xs[i]->shape[d];
        MF_CHECK(mf__view_raw(y, y->ndim, vs, y->stride, y->offset + start * y->stride[d], &v));
        if (mf_tensor_numel(v) > 0)
            MF_CHECK(mf_tensor_copy_(v, xs[i]));
        mf_tensor_clear(&v);
        start += vs[d];
    }
    mf_node *node;
    MF_CHECK(mf_autograd_record("concat", y, n, xs, concat_backward, &node));
    if (node)
        node->iarg[0] = d;
    *out = y;
    return MF_OK;
cleanup:
    mf_tensor_release(v);
    mf_tensor_release(y);
    return st;
}

/* Under autocast, mixed float inputs meet in the widest dtype. */
mf_status mf_concat(int n, mf_tensor *const *xs, int dim, mf_tensor **out) {
    bool mixed = false;
    for (int i = 1; n > 1 && xs && i < n; i++)
        mixed |= xs[i]->dtype != xs[0]->dtype;
    if (!mixed || !mf_autocast_active())
        return concat_op(n, xs, dim, out);
    mf_tensor **c = malloc((size_t)n * sizeof *c);
    if (!c)
        return MF_ERR(MF_ERR_NOMEM, "concat: out of memory");
    mf_status st = mf_autocast_args(MF_AMP_WIDEST, n, (const mf_tensor *const *)xs, c);
    if (st == MF_OK) {
        st = concat_op(n, c, dim, out);
        mf_autocast_release(n, c);
    }
    free(c);
    return st;
}

mf_status mf_stack(int n, mf_tensor *const *xs, int dim, mf_tensor **out) {
    if (n < 1 || !xs)
        return MF_ERR(MF_ERR_INVALID, "stack: needs at least one tensor, got %d", n);
    int d;
    MF_TRY(mf_dim_normalize("stack", dim, xs[0]->ndim + 1, &d));
    for (int i = 1; i < n; i++)
        if (!mf_tensor_same_shape(xs[i], xs[0]))
            return MF_ERR(MF_ERR_SHAPE, "stack: tensor %d has shape %s, tensor 0 has %s; all must match", i,
                          MF_SHAPE(xs[i]), MF_SHAPE(xs[0]));
    mf_tensor **u = calloc((size_t)n, sizeof *u);
    if (!u)
        return MF_ERR(MF_ERR_NOMEM, "stack: out of memory for %d tensors", n);
    mf_status st = MF_OK;
    for (int i = 0; i < n; i++)
        MF_CHECK(mf_unsqueeze(xs[i], d, &u[i]));
    st = mf_concat(n, u, d, out);
    if (st != MF_OK)
        mf_error_context(st, "stack");
cleanup:
    for (int i = 0; i < n; i++)
        mf_tensor_release(u[i]);
    free(u);
    return st;
}
