/* Tensor and storage lifetime: creation, reference counting, views'
 * shared storage, detach, requires_grad. Element kernels live in backends. */
#include "medfm/autograd.h"
#include "medfm/tensor.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/backend/backend.h"

static mf_status storage_new(size_t nbytes, mf_device dev, mf_storage **out) {
    const mf_backend *be;
    MF_TRY(mf_backend_get(dev, &be));
    mf_storage *s = calloc(1, sizeof *s);
    if (!s)
        return MF_ERR(MF_ERR_NOMEM, "out of memory allocating a storage header");
    s->nbytes = nbytes;
    s->device = dev;
    s->refcount = 1;
    mf_status st = be->alloc(dev, nbytes, &s->data);
    if (st != MF_OK) {
        free(s);
        return st;
    }
    *out = s;
    return MF_OK;
}

static void storage_release(mf_storage *s) {
    if (!s)
        return;
    if (atomic_fetch_sub_explicit((_Atomic int *)&s->refcount, 1, memory_order_acq_rel) != 1)
        return;
    if (s->deleter) {
        s->deleter(s->deleter_ctx, s->data, s->nbytes);
    } else {
        const mf_backend *be;
        if (mf_backend_get(s->device, &be) == MF_OK)
            be->free(s->device, s->data, s->nbytes);
    }
    free(s);
}

static mf_status check_shape(int ndim, const int64_t *shape, mf_dtype dt, int64_t *numel) {
    if (ndim < 0 || ndim > MF_MAX_DIMS)
        return MF_ERR(MF_ERR_SHAPE, "tensor rank %d is outside 0..%d", ndim, MF_MAX_DIMS);
    if ((unsigned)dt >= MF_DTYPE_COUNT)
        return MF_ERR(MF_ERR_DTYPE, "unknown dtype %d", (int)dt);
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return MF_ERR(MF_ERR_SHAPE, "negative size in shape %s", mf_shape_str(ndim, shape));
        if (shape[i] != 0 && n > INT64_MAX / 16 / shape[i])
            return MF_ERR(MF_ERR_SHAPE, "shape %s has too many elements", mf_shape_str(ndim, shape));
        n *= shape[i];
    }
    *numel = n;
    return MF_OK;
}

static mf_tensor *tensor_header(int ndim, const int64_t *shape, mf_dtype dt) {
    mf_tensor *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->ndim = ndim;
    t->dtype = dt;
    t->refcount = 1;
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        t->shape[i] = shape[i];
        t->stride[i] = s;
        s *= shape[i] > 0 ? shape[i] : 1;
    }
    return t;
}

mf_status mf_tensor_empty(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, mf_tensor **out) {
    int64_t n;
    MF_TRY(check_shape(ndim, shape, dt, &n));
    mf_tensor *t = tensor_header(ndim, shape, dt);
    if (!t)
        return MF_ERR(MF_ERR_NOMEM, "out of memory allocating a tensor header");
    mf_status st = storage_new((size_t)n * mf_dtype_size(dt), dev, &t->storage);
    if (st != MF_OK) {
        free(t);
        return mf_error_context(st, "allocating tensor %s %s on %s", mf_shape_str(ndim, shape),
                                mf_dtype_name(dt), mf_device_name(dev));
    }
    *out = t;
    return MF_OK;
}

void mf_channels_last_strides(int ndim, const int64_t *shape, int64_t *stride) {
    /* memory order: N, then the spatial dims, then C */
    int64_t s = shape[1];
    stride[1] = 1;
    for (int d = ndim - 1; d >= 2; d--) {
        stride[d] = s;
        s *= shape[d];
    }
    stride[0] = s;
}

mf_status mf_tensor_empty_channels_last(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, mf_tensor **out) {
    if (ndim != 4 && ndim != 5)
        return MF_ERR(MF_ERR_SHAPE, "channels-last tensor %s: needs rank 4 (N, C, H, W) or 5 (N, C, D, H, W)",
                      mf_shape_str(ndim, shape));
    MF_TRY(mf_tensor_empty(ndim, shape, dt, dev, out));
    mf_channels_last_strides(ndim, shape, (*out)->stride);
    return MF_OK;
}

mf_status mf_tensor_full(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, double value,
                         mf_tensor **out) {
    mf_tensor *t;
    MF_TRY(mf_tensor_empty(ndim, shape, dt, dev, &t));
    mf_status st = mf_tensor_fill_(t, value);
    if (st != MF_OK) {
        mf_tensor_release(t);
        return st;
    }
    *out = t;
    return MF_OK;
}

mf_status mf_tensor_zeros(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, mf_tensor **out) {
    return mf_tensor_full(ndim, shape, dt, dev, 0.0, out);
}

mf_status mf_tensor_from_data(int ndim, const int64_t *shape, mf_dtype dt, const void *data, mf_tensor **out) {
    mf_tensor *t;
    MF_TRY(mf_tensor_empty(ndim, shape, dt, MF_DEVICE_CPU, &t));
    if (t->storage->nbytes)
        memcpy(t->storage->data, data, t->storage->nbytes);
    *out = t;
    return MF_OK;
}

mf_status mf_tensor_wrap(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, void *data,
                         void (*deleter)(void *ctx, void *data, size_t nbytes), void *ctx, mf_tensor **out) {
    int64_t n;
    MF_TRY(check_shape(ndim, shape, dt, &n));
    mf_tensor *t = tensor_header(ndim, shape, dt);
    mf_storage *s = calloc(1, sizeof *s);
    if (!t || !s) {
        free(t);
        free(s);
        return MF_ERR(MF_ERR_NOMEM, "out of memory wrapping a buffer");
    }
    s->data = data;
    s->nbytes = (size_t)n * mf_dtype_size(dt);
    s->device = dev;
    s->refcount = 1;
    s->deleter = deleter ? deleter : NULL;
    s->deleter_ctx = ctx;
    if (!deleter) {
        /* Borrowed memory: a deleter that does nothing keeps the backend
         * allocator from freeing it. */
        extern void mf_storage_no_free(void *, void *, size_t);
        s->deleter = mf_storage_no_free;
    }
    t->storage = s;
    *out = t;
    return MF_OK;
}

void mf_storage_no_free(void *ctx, void *data, size_t nbytes) {
    (void)ctx;
    (void)data;
    (void)nbytes;
}

mf_status mf_tensor_scalar(double value, mf_dtype dt, mf_device dev, mf_tensor **out) {
    return mf_tensor_full(0, NULL, dt, dev, value, out);
}

mf_status mf_tensor_empty_like(const mf_tensor *like, mf_tensor **out) {
    return mf_tensor_empty(like->ndim, like->shape, like->dtype, like->storage->device, out);
}

mf_status mf_tensor_zeros_like(const mf_tensor *like, mf_tensor **out) {
    return mf_tensor_zeros(like->ndim, like->shape, like->dtype, like->storage->device, out);
}

mf_tensor *mf_tensor_retain(mf_tensor *t) {
    if (t)
        atomic_fetch_add_explicit((_Atomic int *)&t->refcount, 1, memory_order_relaxed);
    return t;
}

void mf_tensor_release(mf_tensor *t) {
    if (!t)
        return;
    if (atomic_fetch_sub_explicit((_Atomic int *)&t->refcount, 1, memory_order_acq_rel) != 1)
        return;
    mf_tensor_release(t->grad);
    if (t->grad_fn)
        mf_node_release(t->grad_fn);
    storage_release(t->storage);
    free(t);
}

void mf_tensor_clear(mf_tensor **t) {
    mf_tensor_release(*t);
    *t = NULL;
}

int64_t mf_tensor_numel(const mf_tensor *t) {
    int64_t n = 1;
    for (int i = 0; i < t->ndim; i++)
        n *= t->shape[i];
    return n;
}

size_t mf_tensor_nbytes(const mf_tensor *t) { return (size_t)mf_tensor_numel(t) * mf_dtype_size(t->dtype); }

bool mf_tensor_is_contiguous(const mf_tensor *t) {
    int64_t s = 1;
    for (int i = t->ndim - 1; i >= 0; i--) {
        if (t->shape[i] != 1 && t->stride[i] != s)
            return false;
        s *= t->shape[i];
    }
    return true;
}

bool mf_tensor_is_channels_last(const mf_tensor *t) {
    if (t->ndim != 4 && t->ndim != 5)
        return false;
    int64_t want[5];
    mf_channels_last_strides(t->ndim, t->shape, want);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] != 1 && t->stride[i] != want[i])
            return false;
    return true;
}

bool mf_tensor_same_shape(const mf_tensor *a, const mf_tensor *b) {
    if (a->ndim != b->ndim)
        return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i])
            return false;
    return true;
}

void *mf_tensor_data(const mf_tensor *t) {
    return (char *)t->storage->data + t->offset * (int64_t)mf_dtype_size(t->dtype);
}

mf_status mf_dim_normalize(const char *op, int dim, int ndim, int *out) {
    int d = dim < 0 ? dim + ndim : dim;
    if (d < 0 || d >= ndim || ndim == 0)
        return MF_ERR(MF_ERR_SHAPE, "%s: dim %d is out of range for a tensor of rank %d", op, dim, ndim);
    *out = d;
    return MF_OK;
}

const char *mf_shape_str(int ndim, const int64_t *shape) {
    static _Thread_local char buf[4][160];
    static _Thread_local int slot;
    char *s = buf[slot++ & 3];
    int n = snprintf(s, 160, "[");
    for (int i = 0; i < ndim && n < 150; i++)
        n += snprintf(s + n, 160 - (size_t)n, i ? ", %lld" : "%lld", (long long)shape[i]);
    snprintf(s + n, 160 - (size_t)n, "]");
    return s;
}

mf_status mf_tensor_detach(const mf_tensor *t, mf_tensor **out) {
    mf_tensor *d = calloc(1, sizeof *d);
    if (!d)
        return MF_ERR(MF_ERR_NOMEM, "out of memory in detach");
    d->storage = t->storage;
    atomic_fetch_add_explicit((_Atomic int *)&t->storage->refcount, 1, memory_order_relaxed);
    d->offset = t->offset;
    d->ndim = t->ndim;
    d->dtype = t->dtype;
    memcpy(d->shape, t->shape, sizeof d->shape);
    memcpy(d->stride, t->stride, sizeof d->stride);
    d->refcount = 1;
    *out = d;
    return MF_OK;
}

mf_status mf_tensor_set_requires_grad(mf_tensor *t, bool on) {
    if (t->grad_fn)
        return MF_ERR(MF_ERR_STATE, "requires_grad can only be set on a leaf tensor (this one came from '%s')",
                      t->grad_fn->op);
    if (on && !mf_dtype_is_float(t->dtype))
        return MF_ERR(MF_ERR_DTYPE, "only floating-point tensors can require gradients (got %s)",
                      mf_dtype_name(t->dtype));
    t->requires_grad = on;
    return MF_OK;
}

void mf_tensor_zero_grad(mf_tensor *t) { mf_tensor_clear(&t->grad); }

mf_status mf_tensor_copy_(mf_tensor *dst, const mf_tensor *src) {
    if (!mf_tensor_same_shape(dst, src))
        return MF_ERR(MF_ERR_SHAPE, "copy: destination %s and source %s differ in shape", MF_SHAPE(dst),
                      MF_SHAPE(src));
    const mf_backend *be;
    /* Let the non-CPU side drive cross-device copies. */
    mf_device dd = dst->storage->device, sd = src->storage->device;
    MF_TRY(mf_backend_get(dd.type != MF_CPU ? dd : sd, &be));
    if (!mf_device_equal(dd, sd) && dst->dtype != src->dtype) {
        /* Backends copy between devices or convert, not both: convert on
         * the source's device, then move. */
        mf_tensor *staged;
        MF_TRY(mf_tensor_empty(src->ndim, src->shape, dst->dtype, sd, &staged));
        mf_status st = mf_tensor_copy_(staged, src);
        if (st == MF_OK)
            st = mf_tensor_copy_(dst, staged);
        mf_tensor_release(staged);
        return st;
    }
    return be->copy(dst, src);
}

mf_status mf_tensor_fill_(mf_tensor *t, double value) {
    const mf_backend *be;
    MF_TRY(mf_backend_of(t, &be));
    return be->fill(t, value);
}
