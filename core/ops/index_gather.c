/* Indexing with int64 index tensors: index_select, gather and scatter_add,
 * with their backwards (gather <-> scatter_add are each other's adjoint).
 * index_select runs as a gather whose 1-D index is expanded with stride 0
 * over the output, so the backend needs only gather and scatter_add. */
#include <string.h>

#include "core/backend/kern_index.h"
#include "core/ops/internal.h"

typedef mf_status (*gather_fn)(mf_tensor *, const mf_tensor *, int, const mf_tensor *);
typedef mf_status (*scatter_fn)(mf_tensor *, int, const mf_tensor *, const mf_tensor *);

/* int64, same device as x, every value in [0, size). */
static mf_status check_index(const char *op, const mf_tensor *x, int d, const mf_tensor *index, int64_t size) {
    if (index->dtype != MF_I64)
        return MF_ERR(MF_ERR_DTYPE, "%s: index must be i64, got %s", op, mf_dtype_name(index->dtype));
    MF_TRY(mf__same_device(op, x, index));
    if (mf_tensor_numel(index) == 0)
        return MF_OK;
    const mf_backend *be;
    MF_TRY(mf_backend_of(index, &be));
    mf_status (*fn)(const mf_tensor *, int64_t, int64_t *, int64_t *, int64_t *);
    MF_KERNEL(fn, be, index, bounds, op);
    int64_t n_bad, pos, val;
    MF_TRY(fn(index, size, &n_bad, &pos, &val));
    if (n_bad)
        return MF_ERR(MF_ERR_INVALID,
                      "%s: index %lld (at flat position %lld of index %s) is out of range for dim %d of size %lld "
                      "in input %s (%lld bad indices)",
                      op, (long long)val, (long long)pos, MF_SHAPE(index), d, (long long)size, MF_SHAPE(x),
                      (long long)n_bad);
    return MF_OK;
}

/* A view of the 1-D (or 0-D) index stretched over `shape`, varying along d only. */
static mf_status expand_index(const mf_tensor *index, int ndim, const int64_t *shape, int d, mf_tensor **out) {
    int64_t st[MF_MAX_DIMS] = {0};
    st[d] = index->ndim ? index->stride[0] : 0;
    return mf__view_raw(index, ndim, shape, st, index->offset, out);
}

/* zeros(shape) with src added at index along d. */
static mf_status scatter_into_zeros(const char *op, const mf_tensor *like, int ndim, const int64_t *shape, int d,
                                    const mf_tensor *index, const mf_tensor *src, mf_tensor **out) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(like, &be));
    scatter_fn fn;
    MF_KERNEL(fn, be, index, scatter_add, op);
    mf_tensor *z;
    MF_TRY(mf_tensor_zeros(ndim, shape, src->dtype, like->storage->device, &z));
    mf_status st = mf_tensor_numel(index) ? fn(z, d, index, src) : MF_OK;
    if (st != MF_OK) {
        mf_tensor_release(z);
        return st;
    }
    *out = z;
    return MF_OK;
}

static mf_status run_gather(const char *op, mf_tensor *y, const mf_tensor *x, int d, const mf_tensor *index) {
    if (mf_tensor_numel(y) == 0)
        return MF_OK;
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    gather_fn fn;
    MF_KERNEL(fn, be, index, gather, op);
    return fn(y, x, d, index);
}

/* ---------------------------------------------------------- index_select */

/* saved: index; iarg[0] = dim */
static mf_status index_select_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    int d = (int)n->iarg[0];
    mf_tensor *ix;
    MF_TRY(expand_index(n->saved[0], g->ndim, g->shape, d, &ix));
    mf_status st = scatter_into_zeros("index_select backward", g, n->in_ndim[0], n->in_shape[0], d, ix, g, &gin[0]);
    mf_tensor_release(ix);
    return st;
}

mf_status mf_index_select(const mf_tensor *x, int dim, const mf_tensor *index, mf_tensor **out) {
    int d;
    MF_TRY(mf_dim_normalize("index_select", dim, x->ndim, &d));
    if (index->ndim > 1)
        return MF_ERR(MF_ERR_SHAPE, "index_select: index must be 1-D, got shape %s", MF_SHAPE(index));
    MF_TRY(check_index("index_select", x, d, index, x->shape[d]));
    int64_t sh[MF_MAX_DIMS];
    memcpy(sh, x->shape, sizeof sh);
    sh[d] = mf_tensor_numel(index);
    mf_tensor *y = NULL, *ix = NULL;
    mf_status st;
    MF_CHECK(mf__new_like_shape(x, x->ndim, sh, x->dtype, &y));
    MF_CHECK(expand_index(index, x->ndim, sh, d, &ix));
    MF_CHECK(run_gather("index_select", y, x, d, ix));
    mf_node *node;
    MF_CHECK(mf_autograd_record("index_select", y, 1, (mf_tensor *const *)&x, index_select_backward, &node));
    if (node) {
        node->iarg[0] = d;
        MF_CHECK(mf_node_save(node, index));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(ix);
    mf_tensor_release(y);
    return st;
}

/* ---------------------------------------------------------------- gather */

/* saved: index; iarg[0] = dim */
static mf_status gather_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    return scatter_into_zeros("gather backward", g, n->in_ndim[0], n->in_shape[0], (int)n->iarg[0], n->saved[0], g,
                              &gin[0]);
}

/* index has x's rank and fits inside `bound` (x or src) in the dims checked. */
static mf_status check_index_shape(const char *op, const char *what, const mf_tensor *index, const mf_tensor *bound,
                                   int skip_dim) {
    bool ok = index->ndim == bound->ndim;
    for (int k = 0; ok && k < index->ndim; k++)
        ok = k == skip_dim || index->shape[k] <= bound->shape[k];
    if (!ok)
        return MF_ERR(MF_ERR_SHAPE, "%s: index %s must have the rank of %s %s and be no larger in every dim%s", op,
                      MF_SHAPE(index), what, MF_SHAPE(bound), skip_dim >= 0 ? " but dim" : "");
    return MF_OK;
}

mf_status mf_gather(const mf_tensor *x, int dim, const mf_tensor *index, mf_tensor **out) {
    int d;
    MF_TRY(mf_dim_normalize("gather", dim, x->ndim, &d));
    MF_TRY(check_index_shape("gather", "input", index, x, d));
    MF_TRY(check_index("gather", x, d, index, x->shape[d]));
    mf_tensor *y = NULL;
    mf_status st;
    MF_CHECK(mf__new_like_shape(x, index->ndim, index->shape, x->dtype, &y));
    MF_CHECK(run_gather("gather", y, x, d, index));
    mf_node *node;
    MF_CHECK(mf_autograd_record("gather", y, 1, (mf_tensor *const *)&x, gather_backward, &node));
    if (node) {
        node->iarg[0] = d;
        MF_CHECK(mf_node_save(node, index));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(y);
    return st;
}

/* ----------------------------------------------------------- scatter_add */

/* saved: index; iarg[0] = dim. d out/d x = identity, d out/d src = gather. */
static mf_status scatter_add_backward(mf_node *n, const mf_tensor *g, mf_tensor **gin) {
    int d = (int)n->iarg[0];
    const mf_tensor *index = n->saved[0];
    if (n->in[0])
        MF_TRY(mf_tensor_detach(g, &gin[0]));
    if (!n->in[1])
        return MF_OK;
    /* src may be larger than index: only its index-shaped corner got added. */
    mf_tensor *z, *v = NULL;
    MF_TRY(mf_tensor_zeros(n->in_ndim[1], n->in_shape[1], g->dtype, g->storage->device, &z));
    mf_status st;
    MF_CHECK(mf__view_raw(z, index->ndim, index->shape, z->stride, z->offset, &v));
    MF_CHECK(run_gather("scatter_add backward", v, g, d, index));
    gin[1] = z;
    z = NULL;
cleanup:
    mf_tensor_release(v);
    mf_tensor_release(z);
    return st;
}

mf_status mf_scatter_add(const mf_tensor *x, int dim, const mf_tensor *index, const mf_tensor *src,
                         mf_tensor **out) {
    int d;
    MF_TRY(mf_dim_normalize("scatter_add", dim, x->ndim, &d));
    MF_TRY(mf__same_dtype("scatter_add", x, src));
    MF_TRY(mf__same_device("scatter_add", x, src));
    if (x->dtype == MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "scatter_add: addition on bool tensors is not defined");
    MF_TRY(check_index_shape("scatter_add", "src", index, src, -1));
    MF_TRY(check_index_shape("scatter_add", "input", index, x, d));
    MF_TRY(check_index("scatter_add", x, d, index, x->shape[d]));
    const mf_backend *be;
    MF_TRY(mf_backend_of(x, &be));
    scatter_fn fn;
    MF_KERNEL(fn, be, index, scatter_add, "scatter_add");
    mf_tensor *y = NULL;
    mf_status st;
    MF_CHECK(mf_tensor_empty_like(x, &y));
    MF_CHECK(mf_tensor_copy_(y, x));
    if (mf_tensor_numel(index))
        MF_CHECK(fn(y, d, index, src));
    mf_tensor *ins[2] = {(mf_tensor *)x, (mf_tensor *)src};
    mf_node *node;
    MF_CHECK(mf_autograd_record("scatter_add", y, 2, ins, scatter_add_backward, &node));
    if (node) {
        node->iarg[0] = d;
        MF_CHECK(mf_node_save(node, index));
    }
    *out = y;
    y = NULL;
cleanup:
    mf_tensor_release(y);
    return st;
}
