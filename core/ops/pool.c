/* Window pooling ops (max, average, adaptive average) over 1-3 spatial
 * dims with PyTorch's output-size rules, and their backward: max routes the
 * gradient to each window's argmax, average spreads it over the window.
 * Kernels: core/backend/<dev>/pool. */
#include <stdlib.h>
#include <string.h>

#include "core/ops/pool_internal.h"

/* torch's pooling_output_shape: floor (or ceil) division, and in ceil mode
 * the last window must start inside the input or its left padding. */
static int64_t pool_out_size(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, bool ceil_mode) {
    int64_t num = in + 2 * p - d * (k - 1) - 1 + (ceil_mode ? s - 1 : 0);
    int64_t q = num >= 0 ? num / s : -((-num + s - 1) / s);
    int64_t out = q + 1;
    if (ceil_mode && (out - 1) * s >= in + p)
        out--;
    return out;
}

static mf_status pool_geom(const char *op, const mf_tensor *x, const mf_pool_params *p, bool is_max, int *nsp,
                           mf_pool_geom *g) {
    if (!p)
        return MF_ERR(MF_ERR_INVALID, "%s: params must not be NULL", op);
    MF_TRY(mf__pool_input(op, x, nsp));
    mf__pool_geom_init(x, *nsp, g);
    g->count_include_pad = p->count_include_pad;
    for (int i = 0; i < *nsp; i++) {
        int s = 3 - *nsp + i;
        int64_t k = p->kernel[i], st = p->stride[i] ? p->stride[i] : k, pad = p->padding[i];
        int64_t dil = is_max && p->dilation[i] ? p->dilation[i] : 1;
        if (k < 1 || st < 1 || pad < 0 || dil < 1)
            return MF_ERR(MF_ERR_INVALID,
                          "%s: spatial dim %d needs kernel >= 1, stride >= 1, padding >= 0, dilation >= 1; got "
                          "kernel %lld, stride %lld, padding %lld, dilation %lld",
                          op, i, (long long)k, (long long)st, (long long)pad, (long long)dil);
        if (pad > k / 2)
            return MF_ERR(MF_ERR_INVALID, "%s: padding %lld exceeds half the kernel %lld in spatial dim %d", op,
                          (long long)pad, (long long)k, i);
        int64_t out = pool_out_size(g->in[s], k, st, pad, dil, p->ceil_mode);
        if (out < 1)
            return MF_ERR(MF_ERR_SHAPE,
                          "%s: kernel %lld (dilation %lld, padding %lld) does not fit input %s in spatial dim %d",
                          op, (long long)k, (long long)dil, (long long)pad, MF_SHAPE(x), i);
        g->kernel[s] = k;
        g->stride[s] = st;
        g->pad[s] = pad;
        g->dilation[s] = dil;
        g->out[s] = out;
    }
    return MF_OK;
}

static void out_shape(const mf_tensor *x, int nsp, const mf_pool_geom *g, int64_t *shape) {
    shape[0] = x->shape[0];
    shape[1] = x->shape[1];
    for (int i = 0; i < nsp; i++)
        shape[2 + i] = g->out[3 - nsp + i];
}

static mf_status save_geom(mf_node *n, const mf_pool_geom *g) {
    mf_pool_geom *c = malloc(sizeof *c);
    if (!c)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory saving the pool geometry", n->op);
    *c = *g;
    n->ctx = c;
    n->ctx_free = free;
    return MF_OK;
}

/* A window kernel runs channels-last on a channels-last input when the
 * backend has such kernels; otherwise on contiguous planes. */
static void pick_layout(const mf_backend *be, const mf_tensor *x, mf_pool_geom *g) {
    g->channels_last = be->pool->channels_last && mf_tensor_is_channels_last(x) && !mf_tensor_is_contiguous(x);
}

/* ------------------------------------------------------------------ max */

/* saved: indices; ctx: geometry */
static mf_status max_pool_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(const mf_pool_geom *, mf_tensor *, const mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, pool, max_backward, n->op);
    mf_tensor *gc = NULL, *gx = NULL;
    mf_status st;
    bool cl = ((const mf_pool_geom *)n->ctx)->channels_last;
    MF_CHECK(mf__layout_raw(cl, g, &gc));
    MF_CHECK(mf__new_layout(cl, g, n->in_ndim[0], n->in_shape[0], g->dtype, &gx));
    MF_CHECK(fn(n->ctx, gx, gc, n->saved[0]));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gx);
    return st;
}

mf_status mf_max_pool(const mf_tensor *x, const mf_pool_params *p, mf_tensor **out) {
    int nsp;
    mf_pool_geom g;
    MF_TRY(pool_geom("max_pool", x, p, true, &nsp, &g));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(const mf_pool_geom *, mf_tensor *, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, pool, max_forward, "max_pool");
    int64_t shape[5];
    out_shape(x, nsp, &g, shape);
    mf_tensor *xc = NULL, *y = NULL, *idx = NULL;
    mf_node *node;
    mf_status st;
    pick_layout(be, x, &g);
    MF_CHECK(mf__layout_raw(g.channels_last, x, &xc));
    MF_CHECK(mf__new_layout(g.channels_last, x, x->ndim, shape, x->dtype, &y));
    MF_CHECK(mf__new_layout(g.channels_last, x, x->ndim, shape, MF_I64, &idx));
    MF_CHECK(fn(&g, y, idx, xc));
    MF_CHECK(mf_autograd_record("max_pool", y, 1, (mf_tensor *const *)&x, max_pool_backward, &node));
    if (node) {
        MF_CHECK(mf_node_save(node, idx));
        MF_CHECK(save_geom(node, &g));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(xc);
    mf_tensor_release(y);
    mf_tensor_release(idx);
    return st;
}

/* ------------------------------------------------------------ averages */

/* ctx: geometry */
static mf_status avg_pool_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(const mf_pool_geom *, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, pool, avg_backward, n->op);
    mf_tensor *gc = NULL, *gx = NULL;
    mf_status st;
    bool cl = ((const mf_pool_geom *)n->ctx)->channels_last;
    MF_CHECK(mf__layout_raw(cl, g, &gc));
    MF_CHECK(mf__new_layout(cl, g, n->in_ndim[0], n->in_shape[0], g->dtype, &gx));
    MF_CHECK(fn(n->ctx, gx, gc));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gx);
    return st;
}

static mf_status avg_common(const char *op, const mf_tensor *x, int nsp, mf_pool_geom *g, mf_tensor **out) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(const mf_pool_geom *, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, pool, avg_forward, op);
    int64_t shape[5];
    out_shape(x, nsp, g, shape);
    mf_tensor *xc = NULL, *y = NULL;
    mf_node *node;
    mf_status st;
    pick_layout(be, x, g);
    MF_CHECK(mf__layout_raw(g->channels_last, x, &xc));
    MF_CHECK(mf__new_layout(g->channels_last, x, x->ndim, shape, x->dtype, &y));
    MF_CHECK(fn(g, y, xc));
    MF_CHECK(mf_autograd_record(op, y, 1, (mf_tensor *const *)&x, avg_pool_backward, &node));
    if (node)
        MF_CHECK(save_geom(node, g));
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(xc);
    mf_tensor_release(y);
    return st;
}

mf_status mf_avg_pool(const mf_tensor *x, const mf_pool_params *p, mf_tensor **out) {
    int nsp;
    mf_pool_geom g;
    MF_TRY(pool_geom("avg_pool", x, p, false, &nsp, &g));
    return avg_common("avg_pool", x, nsp, &g, out);
}

mf_status mf_adaptive_avg_pool(const mf_tensor *x, const int64_t *out_size, mf_tensor **out) {
    int nsp;
    MF_TRY(mf__pool_input("adaptive_avg_pool", x, &nsp));
    if (!out_size)
        return MF_ERR(MF_ERR_INVALID, "adaptive_avg_pool: out_size must not be NULL");
    mf_pool_geom g;
    mf__pool_geom_init(x, nsp, &g);
    g.adaptive = true;
    for (int i = 0; i < nsp; i++) {
        if (out_size[i] < 1)
            return MF_ERR(MF_ERR_SHAPE, "adaptive_avg_pool: output size %lld in spatial dim %d must be >= 1",
                          (long long)out_size[i], i);
        if (x->shape[2 + i] < 1)
            return MF_ERR(MF_ERR_SHAPE, "adaptive_avg_pool: input %s has an empty spatial dim %d", MF_SHAPE(x), i);
        g.out[3 - nsp + i] = out_size[i];
    }
    return avg_common("adaptive_avg_pool", x, nsp, &g, out);
}
