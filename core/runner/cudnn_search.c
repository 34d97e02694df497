/* train.cudnn_search: how CUDA convolutions choose their cuDNN algorithm
 * (medfm/conv_algo.h). The config's value is applied for every run on a
 * cuda device, so a run never inherits the previous one's policy. */
#include "core/runner/internal.h"
#include "medfm/conv_algo.h"

bool mf__cudnn_search_wanted(const mf_cfg *cfg) { return mf__train_flag(cfg, "train.cudnn_search"); }

void mf__cudnn_search_check(const mf_cfg *cfg, mf_diag *d) {
    const char *dev;
    if (mf__cudnn_search_wanted(cfg) && mf__device_not_cuda(cfg, &dev))
        mf_diag_add(d,
                    "%s: train.cudnn_search: the cuDNN algorithm search needs device: cuda (this experiment runs "
                    "on %s)",
                    mf_cfg_where(mf_cfg_find(cfg, "train.cudnn_search")), dev);
}

mf_status mf__cudnn_search_apply(const mf_cfg *cfg, mf_device dev) {
    if (dev.type != MF_CUDA)
        return MF_OK;
    bool on = mf__cudnn_search_wanted(cfg);
    mf_status st = mf_conv_algo_policy_set(dev, on ? MF_CONV_ALGO_SEARCH : MF_CONV_ALGO_HEURISTIC);
    /* without the key, a failure here is the device's own (no GPU, no module) */
    return st == MF_OK || !on ? st : mf_error_context(st, "train.cudnn_search");
}
