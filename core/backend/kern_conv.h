/* Kernel table of the conv family. Every kernel sees one convolution
 * geometry (conv input X -> conv output Y, weight (Cout, Cin/groups, k...));
 * a transposed convolution is the adjoint of the conv with the same
 * geometry, so its forward is backward_data and its backward-data is
 * forward. All tensors arrive contiguous in N-C-spatial layout, outputs
 * preallocated; every kernel overwrites its output. A backend whose table
 * sets `channels_last` also gets geometries with `channels_last` set: then
 * the X- and Y-side tensors (x, y, gx, gy) and the weight (w, gw) arrive
 * channels-last (dense (N, spatial..., C) memory, mf_tensor_is_channels_last;
 * a weight (Cout, k..., Cin/groups)), and backward_bias may get gy
 * channels-last. */
#ifndef MF_KERN_CONV_H
#define MF_KERN_CONV_H

#include "medfm/tensor.h"

/* Spatial quantities are right-aligned in 3 slots: a 2D conv leaves slot 0
 * at size 1, kernel 1, stride 1, padding 0, dilation 1. */
typedef struct mf_conv_geom {
    int nsp; /* spatial rank 1..3 */
    int64_t n, groups, cin, cout;
    int64_t in[3], out[3], k[3];
    int64_t stride[3], pad[3], dil[3];
    bool channels_last; /* 2-D/3-D only, on backends that take it */
} mf_conv_geom;

struct mf_kern_conv {
    /* y = conv(x, w) + bias (bias (Cout) or NULL) */
    mf_status (*forward)(mf_tensor *y, const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias,
                         const mf_conv_geom *g);
    /* gx = conv^T(gy, w) + bias (bias (Cin) or NULL: used by transposed conv) */
    mf_status (*backward_data)(mf_tensor *gx, const mf_tensor *gy, const mf_tensor *w, const mf_tensor *bias,
                               const mf_conv_geom *g);
    /* gw = sum over images of gy (x) im2col(x) */
    mf_status (*backward_weight)(mf_tensor *gw, const mf_tensor *x, const mf_tensor *gy, const mf_conv_geom *g);
    /* gb[c] = sum of gy over images and positions of channel c */
    mf_status (*backward_bias)(mf_tensor *gb, const mf_tensor *gy);
    bool channels_last; /* takes channels-last geometries (see above) */
};

#endif
