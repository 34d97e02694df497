/* Internal declarations shared by the CPU pool-family files: window
 * pooling (pool.c, which also defines the table), linear resampling
 * (pool_linear.c) and per-dim gathers (pool_gather.c). */
#ifndef MF_CPU_POOL_H
#define MF_CPU_POOL_H

#include "core/backend/kern_pool.h"

/* The window and linear kernels have typed loops for f32 and f64 only. */
static inline mf_status mf_cpu_pool_float(const char *op, const mf_tensor *t) {
    if (t->dtype != MF_F32 && t->dtype != MF_F64)
        return MF_ERR(MF_ERR_DTYPE, "%s: the CPU kernel needs f32 or f64, got %s", op, mf_dtype_name(t->dtype));
    return MF_OK;
}

mf_status mf_cpu_pool_linear_forward(const mf_pool_geom *g, bool align_corners, mf_tensor *y, const mf_tensor *x);
mf_status mf_cpu_pool_linear_backward(const mf_pool_geom *g, bool align_corners, mf_tensor *gx,
                                      const mf_tensor *gy);
mf_status mf_cpu_pool_gather(mf_tensor *y, const mf_tensor *x, const int64_t *const *maps, double fill);
mf_status mf_cpu_pool_gather_backward(mf_tensor *gx, const mf_tensor *gy, const int64_t *const *maps);

#endif
