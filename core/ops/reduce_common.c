/* Shared reduction plumbing (see reduce_common.h). */
#include "core/ops/reduce_common.h"

mf_status mf__reduce_prepare(const char *op, const mf_tensor *x, int n_dims, const int *dims, bool need_nonempty,
                             uint32_t *mask) {
    if (x->dtype == MF_BOOL)
        return MF_ERR(MF_ERR_DTYPE, "%s: convert the bool tensor to a number type first", op);
    MF_TRY(mf__reduce_mask(op, x, n_dims, dims, mask));
    if (need_nonempty)
        for (int d = 0; d < x->ndim; d++)
            if ((*mask & (1u << d)) && x->shape[d] == 0)
                return MF_ERR(MF_ERR_SHAPE, "%s: cannot reduce over dim %d of size 0 in %s", op, d, MF_SHAPE(x));
    return MF_OK;
}

mf_status mf__reduce_alloc(const mf_tensor *x, uint32_t mask, mf_dtype dt, mf_tensor **out) {
    int64_t keep[MF_MAX_DIMS], sq[MF_MAX_DIMS];
    int nsq;
    mf__reduce_shapes(x, mask, keep, &nsq, sq);
    return mf__new_like_shape(x, x->ndim, keep, dt, out);
}

void mf__reduce_squeeze(mf_tensor *y, const mf_tensor *x, uint32_t mask) {
    int64_t keep[MF_MAX_DIMS], sq[MF_MAX_DIMS];
    int nsq;
    mf__reduce_shapes(x, mask, keep, &nsq, sq);
    y->ndim = nsq;
    int64_t s = 1;
    for (int i = nsq - 1; i >= 0; i--) {
        y->shape[i] = sq[i];
        y->stride[i] = s;
        s *= sq[i];
    }
}

int mf__mask_dims(uint32_t mask, int ndim, int *dims) {
    int n = 0;
    for (int d = 0; d < ndim; d++)
        if (mask & (1u << d))
            dims[n++] = d;
    return n;
}

mf_status mf__reduce_keep(const mf_node *n, uint32_t mask, const mf_tensor *t, mf_tensor **out) {
    int64_t keep[MF_MAX_DIMS];
    int ndim = n->in_ndim[0];
    for (int d = 0; d < ndim; d++)
        keep[d] = (mask & (1u << d)) ? 1 : n->in_shape[0][d];
    return mf_reshape(t, ndim, keep, out);
}

int64_t mf__reduce_count(const mf_tensor *x, uint32_t mask) {
    int64_t c = 1;
    for (int d = 0; d < x->ndim; d++)
        if (mask & (1u << d))
            c *= x->shape[d];
    return c;
}
