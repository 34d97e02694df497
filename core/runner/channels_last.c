/* train.channels_last: CNN layers in the channels-last layout on CUDA
 * (mf_conv_set_channels_last), so cuDNN needs no NCHW<->NHWC transposes
 * around each convolution. A trial sets the switch for its own thread and
 * puts the previous setting back when it ends. */
#include "core/runner/internal.h"
#include "medfm/ops/conv.h"

bool mf__channels_last_wanted(const mf_cfg *cfg) {
    bool on = false;
    return mf_cfg_get_bool(cfg, "train.channels_last", false, &on) == MF_OK && on;
}

void mf__channels_last_check(const mf_cfg *cfg, mf_diag *d) {
    if (!mf__channels_last_wanted(cfg))
        return;
    const char *dev = "cpu";
    mf_device dv;
    if (mf_cfg_get_string(cfg, "device", "cpu", &dev) == MF_OK && mf_device_parse(dev, &dv) == MF_OK &&
        dv.type != MF_CUDA)
        mf_diag_add(d,
                    "%s: train.channels_last: the channels-last layout needs device: cuda (the cpu backend "
                    "runs its convolutions N-C-spatial; this experiment runs on %s)",
                    mf_cfg_where(mf_cfg_find(cfg, "train.channels_last")), dev);
}

bool mf__channels_last_enter(const mf_cfg *cfg, mf_device dev) {
    return mf_conv_set_channels_last(dev.type == MF_CUDA && mf__channels_last_wanted(cfg));
}
