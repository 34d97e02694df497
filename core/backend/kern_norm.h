/* Kernel table of the norm family: batch norm over (N, C, S) and a row
 * norm that serves layer norm and group norm. All tensors contiguous
 * (batch norm data may be channels-last, see batch_channels_last),
 * statistics tensors in x's dtype; outputs preallocated. */
#ifndef MF_KERN_NORM_H
#define MF_KERN_NORM_H

#include "medfm/tensor.h"

/* Row-norm layout: x is R rows of Cg * S elements; statistics per row;
 * element k of row r uses affine channel (r % G) * Cg + k / S.
 * Layer norm: G = 1, Cg = K, S = 1. Group norm: R = N * G, Cg = C / G. */
typedef struct mf_rownorm_geom {
    int64_t rows, groups, cg, s;
} mf_rownorm_geom;

struct mf_kern_norm {
    /* When true, batch_forward and batch_backward also accept the (N, C, S)
     * views in channels-last layout, strides (S * C, 1, C); x, y, gy, gx
     * and ry then all share that layout. Else all are contiguous. */
    bool batch_channels_last;
    /* x (N, C, S). training: per-channel batch mean and 1/sqrt(biased var
     * + eps) into mean/invstd (C), and running stats (may be NULL) blended
     * in place with the unbiased variance; eval: mean/invstd from the
     * running stats. y = (x - mean) * invstd * w + b (w, b may be NULL),
     * then relu(y) when `relu`. */
    mf_status (*batch_forward)(mf_tensor *y, mf_tensor *mean, mf_tensor *invstd, const mf_tensor *x,
                               const mf_tensor *w, const mf_tensor *b, mf_tensor *running_mean,
                               mf_tensor *running_var, bool training, double momentum, double eps, bool relu);
    /* Gradients of batch_forward; any of gx, gw, gb may be NULL. In eval
     * mode mean/invstd are constants. ry: the output of a forward with
     * relu (gy counts where ry > 0, as relu's gradient), else NULL. */
    mf_status (*batch_backward)(mf_tensor *gx, mf_tensor *gw, mf_tensor *gb, const mf_tensor *gy, const mf_tensor *x,
                                const mf_tensor *mean, const mf_tensor *invstd, const mf_tensor *w, bool training,
                                const mf_tensor *ry);
    /* Per-row mean and 1/sqrt(biased var + eps) (rows), then the affine
     * map per channel (w, b of G * Cg, may be NULL). */
    mf_status (*row_forward)(const mf_rownorm_geom *g, mf_tensor *y, mf_tensor *mean, mf_tensor *rstd,
                             const mf_tensor *x, const mf_tensor *w, const mf_tensor *b, double eps);
    mf_status (*row_backward)(const mf_rownorm_geom *g, mf_tensor *gx, mf_tensor *gw, mf_tensor *gb,
                              const mf_tensor *gy, const mf_tensor *x, const mf_tensor *mean, const mf_tensor *rstd,
                              const mf_tensor *w);
};

#endif
