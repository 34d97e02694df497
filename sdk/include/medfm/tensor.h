/* Tensors: a typed, strided view over reference-counted storage, plus the
 * autograd fields the define-by-run tape needs. Up to MF_MAX_DIMS dims.
 *
 * Ownership: every function that hands back a tensor through an out-pointer
 * gives the caller one reference; release it with mf_tensor_release().
 * Views share storage with their base and keep it alive. */
#ifndef MEDFM_TENSOR_H
#define MEDFM_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "medfm/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MF_MAX_DIMS 8

typedef enum mf_dtype {
    MF_F32 = 0,
    MF_F64 = 1,
    MF_I32 = 2,
    MF_I64 = 3,
    MF_U8 = 4,
    MF_BOOL = 5,
    MF_BF16 = 6,
    MF_F16 = 7,
    MF_I8 = 8,
    MF_I16 = 9,
    MF_U16 = 10,
    MF_DTYPE_COUNT
} mf_dtype;

typedef enum mf_device_type { MF_CPU = 0, MF_CUDA = 1 } mf_device_type;

typedef struct mf_device {
    int32_t type;  /* mf_device_type */
    int32_t index; /* CUDA ordinal; 0 for CPU */
} mf_device;

#define MF_DEVICE_CPU ((mf_device){MF_CPU, 0})

typedef struct mf_storage mf_storage;
typedef struct mf_node mf_node;
typedef struct mf_tensor mf_tensor;

struct mf_storage {
    void *data;
    size_t nbytes;
    mf_device device;
    int refcount; /* atomic; use the functions below */
    /* How to free `data`; NULL means the backend allocator of `device`. */
    void (*deleter)(void *ctx, void *data, size_t nbytes);
    void *deleter_ctx;
};

struct mf_tensor {
    mf_storage *storage;
    int64_t offset; /* in elements of dtype */
    int32_t ndim;
    mf_dtype dtype;
    int64_t shape[MF_MAX_DIMS];
    int64_t stride[MF_MAX_DIMS]; /* in elements */
    int refcount;                /* atomic; use retain/release */
    /* autograd */
    bool requires_grad;
    mf_tensor *grad;  /* accumulated gradient of a leaf (owned) */
    mf_node *grad_fn; /* node that produced this tensor (owned ref) */
};

/* ---- dtypes and devices ---- */
size_t mf_dtype_size(mf_dtype dt);
const char *mf_dtype_name(mf_dtype dt);
bool mf_dtype_is_float(mf_dtype dt); /* f32, f64, bf16, f16 */
bool mf_device_equal(mf_device a, mf_device b);
/* "cpu", "cuda:0"; returns a pointer to thread-local storage. */
const char *mf_device_name(mf_device d);
/* Parses "cpu", "cuda", "cuda:N". */
mf_status mf_device_parse(const char *s, mf_device *out);
/* Waits until all work queued on `dev` has finished (a no-op on the CPU). */
mf_status mf_device_synchronize(mf_device dev);

/* ---- creation ---- */
mf_status mf_tensor_empty(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, mf_tensor **out);
mf_status mf_tensor_zeros(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, mf_tensor **out);
mf_status mf_tensor_full(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, double value,
                         mf_tensor **out);
/* Copies `data` (host memory, contiguous, dtype dt) into a new CPU tensor. */
mf_status mf_tensor_from_data(int ndim, const int64_t *shape, mf_dtype dt, const void *data, mf_tensor **out);
/* Wraps caller memory without copying; `deleter` (may be NULL) runs when the
 * last view is released. */
mf_status mf_tensor_wrap(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, void *data,
                         void (*deleter)(void *ctx, void *data, size_t nbytes), void *ctx, mf_tensor **out);
mf_status mf_tensor_scalar(double value, mf_dtype dt, mf_device dev, mf_tensor **out);
/* Same as mf_tensor_empty but laid out channels-last (ndim 4 or 5). */
mf_status mf_tensor_empty_channels_last(int ndim, const int64_t *shape, mf_dtype dt, mf_device dev, mf_tensor **out);
/* Same shape/dtype/device as `like`. */
mf_status mf_tensor_empty_like(const mf_tensor *like, mf_tensor **out);
mf_status mf_tensor_zeros_like(const mf_tensor *like, mf_tensor **out);

/* ---- references ---- */
mf_tensor *mf_tensor_retain(mf_tensor *t);
void mf_tensor_release(mf_tensor *t); /* NULL is fine */
/* Releases *t and sets it to NULL. */
void mf_tensor_clear(mf_tensor **t);

/* ---- queries ---- */
int64_t mf_tensor_numel(const mf_tensor *t);
size_t mf_tensor_nbytes(const mf_tensor *t); /* numel * dtype size */
bool mf_tensor_is_contiguous(const mf_tensor *t);
/* Whether a 4-D (N, C, H, W) or 5-D (N, C, D, H, W) tensor is laid out
 * channels-last: dense, with strides of a contiguous (N, spatial..., C)
 * array (C has stride 1). Size-1 dims are ignored, so a tensor can be both
 * contiguous and channels-last (C = 1, or a single position). */
bool mf_tensor_is_channels_last(const mf_tensor *t);
/* The strides of a channels-last tensor of `shape` (ndim 4 or 5). */
void mf_channels_last_strides(int ndim, const int64_t *shape, int64_t *stride);
bool mf_tensor_same_shape(const mf_tensor *a, const mf_tensor *b);
/* Pointer to element 0 of the view (storage data + offset). */
void *mf_tensor_data(const mf_tensor *t);
/* Normalises a possibly negative dim against t->ndim (or ndim+1 when
 * `allow_end`); error names `op` and the shape. */
mf_status mf_dim_normalize(const char *op, int dim, int ndim, int *out);
/* "[2, 3, 4]" in thread-local storage (up to 4 live strings rotate). */
const char *mf_shape_str(int ndim, const int64_t *shape);
#define MF_SHAPE(t) mf_shape_str((t)->ndim, (t)->shape)
/* Element read/write on CPU tensors of any dtype and layout, by flat index
 * in row-major order of the view. For tests and small host-side work. */
double mf_tensor_get_flat(const mf_tensor *t, int64_t i);
void mf_tensor_set_flat(mf_tensor *t, int64_t i, double v);
/* Value of a one-element tensor (any device), as double. */
mf_status mf_tensor_item(const mf_tensor *t, double *out);

/* Copies every element into a host buffer of dtype `dt` in row-major order. */
mf_status mf_tensor_to_host(const mf_tensor *t, mf_dtype dt, void *dst, size_t dst_bytes);

/* ---- copies (no autograd; see ops for differentiable versions) ---- */
/* dst[...] = src[...] elementwise, same shape, any strides, converting dtype.
 * Devices may differ (host<->device copies), also with a dtype conversion
 * (done on the source's device first). */
mf_status mf_tensor_copy_(mf_tensor *dst, const mf_tensor *src);
/* Fills every element of the view. */
mf_status mf_tensor_fill_(mf_tensor *t, double value);

/* A new tensor sharing storage, with no autograd history (requires_grad false). */
mf_status mf_tensor_detach(const mf_tensor *t, mf_tensor **out);
/* Marks a leaf as requiring gradients. Error if t has a grad_fn. */
mf_status mf_tensor_set_requires_grad(mf_tensor *t, bool on);
/* Drops the leaf's accumulated gradient. */
void mf_tensor_zero_grad(mf_tensor *t);

#ifdef __cplusplus
}
#endif
#endif
