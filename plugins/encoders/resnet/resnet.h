/* Internal to the resnet plugin: torchvision's residual blocks as nn
 * modules (children named conv1, bn1, ..., downsample.0/1 so that state-dict
 * names match torchvision), shared by blocks.c and resnet.c. */
#ifndef MEDFM_PLUGIN_RESNET_H
#define MEDFM_PLUGIN_RESNET_H

#include "medfm/medfm.h"
#include "medfm/nn.h"

/* conv{k}x{k} without bias, padding k/2, kaiming_normal_(fan_out, relu). */
mf_status rn_conv(int64_t cin, int64_t cout, int64_t k, int64_t stride, mf_rng *rng, mf_module **out);
/* BatchNorm2d(c) with torch's defaults (weight 1, bias 0). */
mf_status rn_bn(int64_t c, mf_module **out);
/* relu(bn(x)), fused when bn is a BatchNorm (mf_nn_batch_norm_relu_forward). */
mf_status rn_bn_relu(mf_module *bn, const mf_tensor *x, mf_tensor **out);

/* BasicBlock (expansion 1) or Bottleneck (expansion 4, stride on the 3x3
 * conv as torchvision v1.5); a downsample (conv1x1 + BN) is added when the
 * stride or the width changes. zero_init_residual zeroes the last BN's
 * weight so each block starts as the identity. */
mf_status rn_block_new(bool bottleneck, int64_t inplanes, int64_t planes, int64_t stride, bool zero_init_residual,
                       mf_rng *rng, mf_module **out);

#endif
