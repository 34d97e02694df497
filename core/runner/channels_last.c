/* train.channels_last: CNN layers in the channels-last layout on CUDA
 * (mf_conv_set_channels_last), so cuDNN needs no NCHW<->NHWC transposes
 * around each convolution. A trial sets the switch for its own thread and
 * puts the previous setting back when it ends. */
#include "core/runner/internal.h"
#include "medfm/ops/conv.h"

bool mf__channels_last_wanted(const mf_cfg *cfg) { return mf__train_flag(cfg, "train.channels_last"); }

void mf__channels_last_check(const mf_cfg *cfg, mf_diag *d) {
    const char *dev;
    if (mf__channels_last_wanted(cfg) && mf__device_not_cuda(cfg, &dev))
        mf_diag_add(d,
                    "%s: train.channels_last: the channels-last layout needs device: cuda (the cpu backend "
                    "runs its convolutions N-C-spatial; this experiment runs on %s)",
                    mf_cfg_where(mf_cfg_find(cfg, "train.channels_last")), dev);
}

bool mf__channels_last_enter(const mf_cfg *cfg, mf_device dev) {
    return mf_conv_set_channels_last(dev.type == MF_CUDA && mf__channels_last_wanted(cfg));
}
