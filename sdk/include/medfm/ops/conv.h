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

/* Spatial rank is x->ndim - 2 (1, 2 or 3). bias (Cout) may be NULL. */
mf_status mf_conv(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                  mf_tensor **out);
mf_status mf_conv_transpose(const mf_tensor *x, const mf_tensor *w, const mf_tensor *bias, const mf_conv_params *p,
                            mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
