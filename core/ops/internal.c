/* Shared argument checks and raw views for op implementations. */
#include "core/ops/internal.h"

#include <stdlib.h>
#include <string.h>

mf_status mf__same_device(const char *op, const mf_tensor *a, const mf_tensor *b) {
    if (!mf_device_equal(a->storage->device, b->storage->device))
        return MF_ERR(MF_ERR_DEVICE, "%s: operands are on different devices (%s and %s); move one explicitly",
                      op, mf_device_name(a->storage->device), mf_device_name(b->storage->device));
    return MF_OK;
}

mf_status mf__same_dtype(const char *op, const mf_tensor *a, const mf_tensor *b) {
    if (a->dtype != b->dtype)
        return MF_ERR(MF_ERR_DTYPE, "%s: operands have different dtypes (%s and %s); cast one with mf_to_dtype",
                      op, mf_dtype_name(a->dtype), mf_dtype_name(b->dtype));
    return MF_OK;
}

mf_status mf__need_float(const char *op, const mf_tensor *x) {
    if (!mf_dtype_is_float(x->dtype))
        return MF_ERR(MF_ERR_DTYPE, "%s: needs a floating-point tensor, got %s", op, mf_dtype_name(x->dtype));
    return MF_OK;
}

mf_status mf__need_rank(const char *op, const char *what, const mf_tensor *x, int ndim) {
    if (x->ndim != ndim)
        return MF_ERR(MF_ERR_SHAPE, "%s: %s must have %d dims, got shape %s", op, what, ndim, MF_SHAPE(x));
    return MF_OK;
}

mf_status mf__view_raw(const mf_tensor *x, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset,
                       mf_tensor **out) {
    mf_tensor *v;
    MF_TRY(mf_tensor_detach(x, &v));
    v->ndim = ndim;
    for (int i = 0; i < ndim; i++) {
        v->shape[i] = shape[i];
        v->stride[i] = stride[i];
    }
    v->offset = offset;
    *out = v;
    return MF_OK;
}

mf_status mf__expand_raw(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out) {
    if (ndim < x->ndim)
        return MF_ERR(MF_ERR_SHAPE, "expand: cannot expand %s to fewer dims %s", MF_SHAPE(x),
                      mf_shape_str(ndim, shape));
    int64_t st[MF_MAX_DIMS];
    int lead = ndim - x->ndim;
    for (int i = 0; i < ndim; i++) {
        if (i < lead) {
            st[i] = 0;
            continue;
        }
        int64_t xs = x->shape[i - lead];
        if (xs == shape[i])
            st[i] = x->stride[i - lead];
        else if (xs == 1)
            st[i] = 0;
        else
            return MF_ERR(MF_ERR_SHAPE, "expand: shape %s cannot be broadcast to %s", MF_SHAPE(x),
                          mf_shape_str(ndim, shape));
    }
    return mf__view_raw(x, ndim, shape, st, x->offset, out);
}

mf_status mf__contiguous_raw(const mf_tensor *x, mf_tensor **out) {
    if (mf_tensor_is_contiguous(x))
        return mf_tensor_detach(x, out);
    mf_tensor *c;
    MF_TRY(mf_tensor_empty_like(x, &c));
    mf_status st = mf_tensor_copy_(c, x);
    if (st != MF_OK) {
        mf_tensor_release(c);
        return st;
    }
    *out = c;
    return MF_OK;
}

mf_status mf__channels_last_raw(const mf_tensor *x, mf_tensor **out) {
    if (mf_tensor_is_channels_last(x))
        return mf_tensor_detach(x, out);
    mf_tensor *c;
    MF_TRY(mf_tensor_empty_channels_last(x->ndim, x->shape, x->dtype, x->storage->device, &c));
    mf_status st = mf_tensor_copy_(c, x);
    if (st != MF_OK) {
        mf_tensor_release(c);
        return st;
    }
    *out = c;
    return MF_OK;
}

mf_status mf__layout_raw(bool channels_last, const mf_tensor *x, mf_tensor **out) {
    return channels_last ? mf__channels_last_raw(x, out) : mf__contiguous_raw(x, out);
}

mf_status mf__new_layout(bool channels_last, const mf_tensor *like, int ndim, const int64_t *shape, mf_dtype dt,
                         mf_tensor **out) {
    if (channels_last)
        return mf_tensor_empty_channels_last(ndim, shape, dt, like->storage->device, out);
    return mf__new_like_shape(like, ndim, shape, dt, out);
}

mf_status mf__empty_layout_of(const mf_tensor *like, mf_dtype dt, mf_tensor **out) {
    if (mf_tensor_is_channels_last(like) && !mf_tensor_is_contiguous(like))
        return mf_tensor_empty_channels_last(like->ndim, like->shape, dt, like->storage->device, out);
    return mf_tensor_empty(like->ndim, like->shape, dt, like->storage->device, out);
}

mf_status mf__new_like_shape(const mf_tensor *x, int ndim, const int64_t *shape, mf_dtype dt, mf_tensor **out) {
    return mf_tensor_empty(ndim, shape, dt, x->storage->device, out);
}
