/* The differentiable row norm shared by layer_norm.c and group_norm.c
 * (core/ops/row_norm.c): statistics per row of a kernel geometry, then a
 * per-channel affine map. */
#ifndef MF_OPS_NORM_INTERNAL_H
#define MF_OPS_NORM_INTERNAL_H

#include "core/backend/kern_norm.h"
#include "core/ops/internal.h"

/* x, weight and bias are the caller's checked tensors (weight/bias may be
 * NULL, with G * Cg elements each, of any shape); records `op` for
 * autograd with gradients for all three. */
mf_status mf__row_norm(const char *op, const mf_tensor *x, const mf_rownorm_geom *g, const mf_tensor *weight,
                       const mf_tensor *bias, double eps, mf_tensor **out);

#endif
