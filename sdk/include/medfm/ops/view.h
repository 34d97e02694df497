/* Shape ops. Those that can share storage return views (no copy); all are
 * differentiable. */
#ifndef MEDFM_OPS_VIEW_H
#define MEDFM_OPS_VIEW_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* New shape with the same number of elements; one entry may be -1. A view
 * when the strides allow, otherwise a contiguous copy. */
mf_status mf_reshape(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out);
/* Like reshape but fails instead of copying. */
mf_status mf_view(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out);
mf_status mf_flatten(const mf_tensor *x, int start_dim, int end_dim, mf_tensor **out);
mf_status mf_permute(const mf_tensor *x, const int *perm, mf_tensor **out);
mf_status mf_transpose(const mf_tensor *x, int d0, int d1, mf_tensor **out);
/* Elements start, start+step, ... < end along dim (negative start/end count
 * from the end; they are clipped like Python slices; step >= 1). */
mf_status mf_slice(const mf_tensor *x, int dim, int64_t start, int64_t end, int64_t step, mf_tensor **out);
/* Size-1 dims (or -1 to keep) stretched to `shape`; leading dims may be added. */
mf_status mf_expand(const mf_tensor *x, int ndim, const int64_t *shape, mf_tensor **out);
mf_status mf_squeeze(const mf_tensor *x, int dim, mf_tensor **out);
mf_status mf_unsqueeze(const mf_tensor *x, int dim, mf_tensor **out);
/* A contiguous tensor with the same values (x itself, retained, if already). */
mf_status mf_contiguous(const mf_tensor *x, mf_tensor **out);
/* The same values laid out channels-last (see mf_tensor_is_channels_last):
 * x itself, retained, if already; x must be 4-D or 5-D. Convolutions and
 * batch norm on the cuda backend keep this layout (see mf_conv.h), which
 * spares cuDNN its NCHW<->NHWC transposes. */
mf_status mf_contiguous_channels_last(const mf_tensor *x, mf_tensor **out);
/* A contiguous copy that never aliases x. */
mf_status mf_clone(const mf_tensor *x, mf_tensor **out);
/* Moves to another device (differentiable); same device returns x retained. */
mf_status mf_to_device(const mf_tensor *x, mf_device dev, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
