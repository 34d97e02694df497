/* Convolutions over N-C-spatial layouts: 1D (N,C,L), 2D (N,C,H,W) and 3D
 * (N,C,D,H,W), with PyTorch semantics and weight layouts:
 * conv weight (Cout, Cin/groups, k...), transposed-conv weight
 * (Cin, Cout/groups, k...). Arrays have one entry per spatial dim. */
#ifndef MEDFM_OPS_CONV_H
#define MEDFM_OPS_CONV_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_conv_params {
    int64_t stride[3];
    int64_t padding[3];
    int64_t dilation[3];
    int64_t output_padding[3]; /* transposed only */
    int64_t groups;
} mf_conv_params;

/* Stride 1, no padding, dilation 1, one group, in every spatial dim. */
mf_conv_params mf_conv_params_default(void);

/* Channels-last convolutions, a thread-local switch (off by default).
 * While on, 2-D and 3-D convolutions on a backend with channels-last
 * kernels (cuda; the cpu backend has none and ignores the switch) take
 * their input channels-last (converting one that is not) and give
 * channels-last outputs and input gradients; elementwise ops and batch norm
 * keep that layout, so a CNN runs in it end to end and cuDNN needs no
 * NCHW<->NHWC transposes. Values are the same either way; weights and their
 * gradients stay in their usual (Cout, Cin/groups, k...) layout. The
 * backward of a convolution uses the setting of its forward. Returns the
 * previous setting. */
bool mf_conv_set_channels_last(bool on);
bool mf_conv_channels_last(void);

/* Spatial rank is x->ndim - 2 (1, 2 or 3). bias (Cout) may be NULL. */
mf_status mf_conv(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                  mf_tensor **out);
mf_status mf_conv_transpose(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                            mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
