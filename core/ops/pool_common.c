/* Shared pieces of the pool family's ops: the input check, the kernel
 * geometry, and the differentiable per-dim gather behind pad, roll and
 * nearest upsampling. */
#include <stdlib.h>
#include <string.h>

#include "core/ops/pool_internal.h"

mf_status mf__pool_input(const char *op, const mf_tensor *x, int *nsp) {
    MF_TRY(mf__need_float(op, x));
    if (x->ndim < 3 || x->ndim > 5)
        return MF_ERR(MF_ERR_SHAPE,
                      "%s: input must be (N, C, L), (N, C, H, W) or (N, C, D, H, W), got shape %s", op,
                      MF_SHAPE(x));
    *nsp = x->ndim - 2;
    return MF_OK;
}

void mf__pool_geom_init(const mf_tensor *x, int nsp, mf_pool_geom *g) {
    memset(g, 0, sizeof *g);
    g->planes = x->shape[0] * x->shape[1];
    g->channels = x->shape[1];
    for (int s = 0; s < 3; s++) {
        g->in[s] = g->out[s] = g->kernel[s] = g->stride[s] = g->dilation[s] = 1;
        g->pad[s] = 0;
    }
    for (int i = 0; i < nsp; i++)
        g->in[3 - nsp + i] = x->shape[2 + i];
}

mf_status mf__maps_new(const char *op, int ndim, const int64_t *shape, mf__index_maps **out) {
    int64_t total = 0;
    for (int d = 0; d < ndim; d++)
        total += shape[d];
    /* one block: the struct, then every map */
    mf__index_maps *m = calloc(1, sizeof *m + sizeof(int64_t) * (size_t)(total + 1));
    if (!m)
        return MF_ERR(MF_ERR_NOMEM, "%s: out of memory for index maps", op);
    m->ndim = ndim;
    int64_t *p = (int64_t *)(m + 1);
    for (int d = 0; d < ndim; d++) {
        m->shape[d] = shape[d];
        m->map[d] = p;
        p += shape[d];
    }
    *out = m;
    return MF_OK;
}

void mf__maps_free(void *maps) { free(maps); }

/* ctx: the maps */
static mf_status gather_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    mf__index_maps *m = n->ctx;
    const mf_backend *be;
    MF_TRY(mf_backend_of(g, &be));
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const int64_t *const *);
    MF_KERNEL(fn, be, pool, gather_backward, n->op);
    mf_tensor *gc = NULL, *gx = NULL;
    mf_status st;
    MF_CHECK(mf__contiguous_raw(g, &gc));
    MF_CHECK(mf__new_like_shape(g, n->in_ndim[0], n->in_shape[0], g->dtype, &gx));
    MF_CHECK(fn(gx, gc, (const int64_t *const *)m->map));
    gin[0] = gx;
    gx = NULL;
cleanup:
    mf_tensor_release(gc);
    mf_tensor_release(gx);
    return st;
}

mf_status mf__gather_maps(const char *op, const mf_tensor *x, mf__index_maps *maps, double fill, mf_tensor **out) {
    const mf_backend *be;
    mf_tensor *y = NULL;
    mf_node *node = NULL;
    mf_status (*fn)(mf_tensor *, const mf_tensor *, const int64_t *const *, double) = NULL;
    mf_status st = mf_backend_of(x, &be);
    if (st != MF_OK)
        goto cleanup;
    if (!be->pool || !be->pool->gather) {
        st = MF_ERR(MF_ERR_UNSUPPORTED, "%s: not supported on the %s backend", op, be->name);
        goto cleanup;
    }
    fn = be->pool->gather;
    MF_CHECK(mf__new_like_shape(x, maps->ndim, maps->shape, x->dtype, &y));
    MF_CHECK(fn(y, x, (const int64_t *const *)maps->map, fill));
    if (mf_dtype_is_float(x->dtype))
        MF_CHECK(mf_autograd_record(op, y, 1, (mf_tensor *const *)&x, gather_backward, &node));
    if (node) {
        node->ctx = maps;
        node->ctx_free = mf__maps_free;
        maps = NULL;
    }
    *out = y;
    y = NULL;
cleanup:
    mf__maps_free(maps);
    mf_tensor_release(y);
    return st;
}
