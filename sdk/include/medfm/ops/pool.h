/* Pooling, resampling and padding over N-C-spatial layouts (1, 2 or 3
 * spatial dims; arrays have one entry per spatial dim), PyTorch semantics. */
#ifndef MEDFM_OPS_POOL_H
#define MEDFM_OPS_POOL_H

#include "medfm/tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct mf_pool_params {
    int64_t kernel[3];
    int64_t stride[3];  /* 0 = same as kernel */
    int64_t padding[3];
    int64_t dilation[3]; /* max pool only; 0 = 1 */
    bool ceil_mode;
    bool count_include_pad; /* avg pool (PyTorch default true) */
} mf_pool_params;

/* x (N, C, L), (N, C, H, W) or (N, C, D, H, W); padding at most half the
 * kernel; the output size follows torch (ceil_mode drops a last window
 * that would start in the right padding). */
mf_status mf_max_pool(const mf_tensor *x, const mf_pool_params *p, mf_tensor **out);
mf_status mf_avg_pool(const mf_tensor *x, const mf_pool_params *p, mf_tensor **out);
/* Output spatial size given per dim (PyTorch adaptive bins). */
mf_status mf_adaptive_avg_pool(const mf_tensor *x, const int64_t *out_size, mf_tensor **out);

typedef enum { MF_UPSAMPLE_NEAREST, MF_UPSAMPLE_LINEAR } mf_upsample_mode;
/* Resizes the spatial dims to out_size. LINEAR is linear/bilinear/trilinear
 * by rank. NEAREST follows torch's 'nearest' (floor(dst * in / out)) and
 * ignores align_corners. */
mf_status mf_upsample(const mf_tensor *x, const int64_t *out_size, mf_upsample_mode mode, bool align_corners,
                      mf_tensor **out);

typedef enum { MF_PAD_CONSTANT, MF_PAD_REFLECT, MF_PAD_REPLICATE } mf_pad_mode;
/* torch.nn.functional.pad order: pads[0], pads[1] are (before, after) of
 * the LAST dim, pads[2], pads[3] of the one before, ...; n_pads even.
 * Negative pads crop. Reflect needs every pad smaller than its dim; value
 * is used by MF_PAD_CONSTANT only (which also accepts integer tensors). */
mf_status mf_pad(const mf_tensor *x, int n_pads, const int64_t *pads, mf_pad_mode mode, double value,
                 mf_tensor **out);
/* torch.roll along the listed dims; n_dims == 0 rolls the flattened
 * tensor by shifts[0] (dims may be NULL then). */
mf_status mf_roll(const mf_tensor *x, int n_dims, const int64_t *shifts, const int *dims, mf_tensor **out);

#ifdef __cplusplus
}
#endif
#endif
