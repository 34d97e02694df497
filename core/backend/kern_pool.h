/* Kernel table of the pool family: window pooling, linear resampling and
 * per-dim index gathers (pad, roll, nearest upsample). Window and linear
 * kernels see contiguous (planes, D, H, W) data: ops pad 1D and 2D inputs
 * to three spatial dims of size 1 (kernel 1, stride 1), so one kernel
 * serves every rank. Outputs are preallocated and contiguous. */
#ifndef MF_KERN_POOL_H
#define MF_KERN_POOL_H

#include "medfm/tensor.h"

typedef struct mf_pool_geom {
    int64_t planes; /* N * C */
    int64_t in[3], out[3];
    int64_t kernel[3], stride[3], pad[3], dilation[3]; /* all >= 1 except pad >= 0 */
    bool count_include_pad;
    bool adaptive; /* avg: torch's adaptive bins; kernel/stride/pad unused */
    /* Set only for a backend whose table has channels_last, on a
     * channels-last input: x, y, idx, gx and gy of the window kernels are
     * then channels-last ((N, spatial..., C) in memory) instead of
     * contiguous planes; idx still counts positions within a plane. */
    bool channels_last;
    int64_t channels; /* C */
} mf_pool_geom;

struct mf_kern_pool {
    /* y = max over each window (padding is -inf); idx (i64, y's shape) =
     * flat index of the winner within its input plane (first on ties,
     * NaN wins). */
    mf_status (*max_forward)(const mf_pool_geom *g, mf_tensor *y, mf_tensor *idx, const mf_tensor *x);
    /* gx = 0, then gx[plane][idx] += gy. */
    mf_status (*max_backward)(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy, const mf_tensor *idx);
    /* Window means (or adaptive bins when g->adaptive). */
    mf_status (*avg_forward)(const mf_pool_geom *g, mf_tensor *y, const mf_tensor *x);
    mf_status (*avg_backward)(const mf_pool_geom *g, mf_tensor *gx, const mf_tensor *gy);
    /* Linear interpolation per spatial dim (torch's source index formula). */
    mf_status (*linear_forward)(const mf_pool_geom *g, bool align_corners, mf_tensor *y, const mf_tensor *x);
    mf_status (*linear_backward)(const mf_pool_geom *g, bool align_corners, mf_tensor *gx, const mf_tensor *gy);
    /* y[o] = x[maps[0][o0], ..., maps[n-1][o(n-1)]], or `fill` where any
     * entry is -1. maps are host arrays, one per dim of y (length y's size
     * in that dim); x may be any strided view of y's rank. */
    mf_status (*gather)(mf_tensor *y, const mf_tensor *x, const int64_t *const *maps, double fill);
    /* gx (contiguous) = 0, then gx[map(o)] += gy[o] where the map is valid. */
    mf_status (*gather_backward)(mf_tensor *gx, const mf_tensor *gy, const int64_t *const *maps);
    bool channels_last; /* max and avg window kernels take channels-last geometries */
};

#endif
