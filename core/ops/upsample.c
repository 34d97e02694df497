/* Resizing the spatial dims: nearest (torch's floor(dst * in / out) in
 * float, as a differentiable index gather) and linear / bilinear /
 * trilinear (its own kernel, scatter-add backward). */
#include <math.h>
#include <stdlib.h>

#include "core/ops/pool_internal.h"

/* torch's nearest_idx: identity and exact 2x are special-cased; otherwise
 * the scale is a float and the product is floored in float. */
static int64_t nearest_src(int64_t o, int64_t in, int64_t out) {
    if (out == in)
        return o;
    if (out == 2 * in)
        return o >> 1;
    float scale = (float)in / (float)out;
    int64_t s = (int64_t)floorf((float)o * scale);
    return s < in - 1 ? s : in - 1;
}

static mf_status upsample_nearest(const mf_tensor *x, int nsp, const int64_t *out_size, mf_tensor **out) {
    int64_t shape[5] = {x->shape[0], x->shape[1]};
    for (int i = 0; i < nsp; i++)
        shape[2 + i] = out_size[i];
    mf__index_maps *m;
    MF_TRY(mf__maps_new("upsample", x->ndim, shape, &m));
    for (int d = 0; d < x->ndim; d++)
        for (int64_t o = 0; o < shape[d]; o++)
            m->map[d][o] = d < 2 ? o : nearest_src(o, x->shape[d], shape[d]);
    return mf__gather_maps("upsample", x, m, 0.0, out);
}

/* ctx: geometry; iarg[0] = align_corners */
static mf_status linear_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(const mf_pool_geom *, bool, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, pool, linear_backward, n->op);
    mf_tensor *gc = NULL, *gx = NULL;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    MF_CHECK(mf__new_like_shape(g, n->in_ndim[0], n->in_shape[0], g->dtype, &gx));
    MF_CHECK(fn(n->ctx, n->iarg[0] != 0, gx, gc));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gx);
    return st;
}

static mf_status upsample_linear(const mf_tensor *x, int nsp, const int64_t *out_size, bool align_corners,
                                 mf_tensor **out) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    mf_status (*fn)(const mf_pool_geom *, bool, mf_tensor *, const mf_tensor *);
    MF_KERNEL(fn, be, pool, linear_forward, "upsample");
    mf_pool_geom g;
    mf__pool_geom_init(x, nsp, &g);
    int64_t shape[5] = {x->shape[0], x->shape[1]};
    for (int i = 0; i < nsp; i++) {
        shape[2 + i] = out_size[i];
        g.out[3 - nsp + i] = out_size[i];
    }
    mf_tensor *xc = NULL, *y = NULL;
    mf_node *node;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(x, &xc));
    MF_CHECK(mf__new_like_shape(x, x->ndim, shape, x->dtype, &y));
    MF_CHECK(fn(&g, align_corners, y, xc));
    MF_CHECK(mf_autograd_record("upsample", y, 1, (mf_tensor *const *)&x, linear_backward, &node));
    if (node) {
        mf_pool_geom *c = malloc(sizeof *c);
        if (!c) {
            st = MF_ERR(MF_ERR_NOMEM, "upsample: out of memory saving the geometry");
            goto cleanup;
        }
        *c = g;
        node->ctx = c;
        node->ctx_free = free;
        node->iarg[0] = align_corners;
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(xc);
    mf_tensor_release(y);
    return st;
}

mf_status mf_upsample(const mf_tensor *x, const int64_t *out_size, mf_upsample_mode mode, bool align_corners,
                      mf_tensor **out) {
    int nsp;
    MF_TRY(mf__pool_input("upsample", x, &nsp));
    if (!out_size)
        return MF_ERR(MF_ERR_INVALID, "upsample: out_size must not be NULL");
    for (int i = 0; i < nsp; i++) {
        if (out_size[i] < 1)
            return MF_ERR(MF_ERR_SHAPE, "upsample: output size %lld in spatial dim %d must be >= 1",
                          (long long)out_size[i], i);
        if (x->shape[2 + i] < 1)
            return MF_ERR(MF_ERR_SHAPE, "upsample: input %s has an empty spatial dim %d", MF_SHAPE(x), i);
    }
    switch (mode) {
    case MF_UPSAMPLE_NEAREST: return upsample_nearest(x, nsp, out_size, out);
    case MF_UPSAMPLE_LINEAR: return upsample_linear(x, nsp, out_size, align_corners, out);
    }
    return MF_ERR(MF_ERR_INVALID, "upsample: unknown mode %d", (int)mode);
}
