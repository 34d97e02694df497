/* Helpers shared by the op files: argument checks with messages that name
 * the op, raw (non-recording) views, and output allocation. */
#ifndef MF_OPS_INTERNAL_H
#define MF_OPS_INTERNAL_H

#include "core/backend/backend.h"
#include "medfm/autograd.h"
#include "medfm/ops.h"

/* Error unless both tensors live on the same device. */
mf_status mf__same_device(const char *op, const mf_tensor *a, const mf_tensor *b);
/* Error unless both tensors have the same dtype. */
mf_status mf__same_dtype(const char *op, const mf_tensor *a, const mf_tensor *b);
/* Error unless x is a floating dtype (f32/f64; bf16/f16 only where a backend allows). */
mf_status mf__need_float(const char *op, const mf_tensor *x);
/* Error unless x->ndim == ndim. */
mf_status mf__need_rank(const char *op, const char *what, const mf_tensor *x, int ndim);
/* A detached view of x broadcast to `shape` (stride 0 in stretched dims). */
mf_status mf__expand_raw(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out);
/* A detached view with new shape/strides/offset over x's storage. */
mf_status mf__view_raw(const mf_tensor *x, int ndim, const int64_t *shape, const int64_t *stride, int64_t offset,
                       mf_tensor **out);
/* Contiguous version of x without autograd (x retained when already). */
mf_status mf__contiguous_raw(const mf_tensor *x, mf_tensor **out);
/* Channels-last version of a 4-D/5-D x without autograd (x retained when
 * already). */
mf_status mf__channels_last_raw(const mf_tensor *x, mf_tensor **out);
/* x channels-last (when `channels_last`) or contiguous, without autograd:
 * the layout a kernel asked for (x retained when already so). */
mf_status mf__layout_raw(bool channels_last, const mf_tensor *x, mf_tensor **out);
/* New uninitialised tensor on like's device, channels-last (ndim 4 or 5)
 * when `channels_last`, else contiguous. */
mf_status mf__new_layout(bool channels_last, const mf_tensor *like, int ndim, const int64_t *shape, mf_dtype dt,
                         mf_tensor **out);
/* New uninitialised tensor of like's shape and device in dtype dt, laid out
 * channels-last when `like` is (and is not also contiguous), else
 * contiguous: outputs of layout-agnostic ops keep their input's layout. */
mf_status mf__empty_layout_of(const mf_tensor *like, mf_dtype dt, mf_tensor **out);
/* New uninitialised output on x's device. */
mf_status mf__new_like_shape(const mf_tensor *x, int ndim, const int64_t *shape, mf_dtype dt, mf_tensor **out);

/* Reduction helpers (core/ops/reduce_sum.c): dims list -> bit mask
 * (n_dims == 0: all dims), and the keepdim / squeezed output shapes. */
mf_status mf__reduce_mask(const char *op, const mf_tensor *x, int n_dims, const int *dims, uint32_t *mask);
void mf__reduce_shapes(const mf_tensor *x, uint32_t mask, int64_t *keep, int *nsq, int64_t *sq);

#endif
